"""train(): a complete preset with measured metadata; resume in process; bad settings."""

import datetime
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_rnnx
from keras_rnnx import datasets
from keras_rnnx import training
from keras_rnnx import zoo
from keras_rnnx.training import trainer

SIZES = {"train": 64, "validation": 32, "test": 32}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, adding_task):
    output = tmp_path_factory.mktemp("runs") / "adding_lstm"
    started = datetime.datetime.now(datetime.timezone.utc)
    result = training.train(
        adding_task, output=output, cell="lstm", units=4, cell_options={"peephole": True},
        epochs=3, batch_size=16, learning_rate=0.05, verbose=0, command="rnnx train (test)",
    )  # fmt: skip
    return result, started


def _test_inputs(task):
    return next(datasets.load_split(task, "test", batch_size=32).as_numpy_iterator())[0]


def test_the_preset_directory_is_complete(trained):
    result, _ = trained
    assert sorted(os.listdir(result.preset_dir)) == [
        "config.json", "loss_curves.png", "metadata.json", "model.weights.h5",
    ]  # fmt: skip
    assert (result.preset_dir / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in result.preset_dir.parent.iterdir() if p.name.startswith(".")] == []


def test_the_preset_loads_back_with_identical_predictions(trained, adding_task):
    result, _ = trained
    model, metadata = zoo.load_preset(result.preset_dir)
    for restored, original in zip(model.weights, result.model.weights):
        assert restored.path == original.path
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
    # Called directly (a traced predict function may reorder float sums by 1 ulp).
    x = _test_inputs(adding_task)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(result.model(x)))
    assert metadata == json.loads((result.preset_dir / "metadata.json").read_text())
    assert model.get_layer("lstm_0").peephole


def test_metadata_holds_measured_values(trained, adding_task):
    result, started = trained
    model, metadata = zoo.load_preset(result.preset_dir)
    # The metric on every split, recomputed on the loaded model and by Keras.
    assert set(metadata["metrics"]) == set(SIZES)
    training.compile_model(model, adding_task)
    for split, scores in metadata["metrics"].items():
        again = training.evaluate(model, adding_task, split)
        assert scores["mse"] == pytest.approx(again["mse"], rel=1e-6)
        keras_mse = model.evaluate(datasets.load_split(adding_task, split, batch_size=16), verbose=0)
        assert scores["mse"] == pytest.approx(keras_mse, rel=1e-5)
        assert scores["count"] == SIZES[split]
    assert metadata["params"] == model.count_params() == sum(int(np.prod(w.shape)) for w in model.weights)
    assert metadata["dataset"] == "adding"
    assert metadata["split_sizes"] == SIZES
    assert metadata["task"]["name"] == "adding" and metadata["task"]["metric"] == "mse"
    assert metadata["task"]["options"]["timesteps"] == 8 and "data_dir" not in metadata["task"]["options"]
    assert metadata["task"]["baseline"] == pytest.approx(1 / 6)
    assert metadata["training_command"] == "rnnx train (test)"
    date = datetime.datetime.fromisoformat(metadata["date"])
    assert started - datetime.timedelta(seconds=2) <= date <= datetime.datetime.now(datetime.timezone.utc)
    assert metadata["versions"]["keras"] == keras.__version__
    assert metadata["versions"]["tensorflow"] == tf.__version__
    assert metadata["versions"]["keras_rnnx"] == keras_rnnx.__version__
    assert metadata["model"]["cell"] == "lstm" and metadata["model"]["cell_options"] == {"peephole": True}


def test_the_preset_keeps_the_best_epoch(trained):
    result, _ = trained
    run = result.metadata["training"]
    val_losses = [r["val_loss"] for r in run["history"]]
    assert [r["epoch"] for r in run["history"]] == [0, 1, 2]
    assert run["epochs_completed"] == 3 and run["monitor"] == "val_loss"
    assert run["best_epoch"] == int(np.argmin(val_losses))
    # The loss is the MSE: the kept weights score the best epoch's validation loss.
    assert result.metadata["metrics"]["validation"]["mse"] == pytest.approx(min(val_losses), rel=1e-5)


def test_the_working_directory(trained):
    result, _ = trained
    work = trainer.work_dir_for(result.preset_dir)
    assert sorted(os.listdir(work)) == ["history.jsonl", "logs", "run.json"]  # backup gone
    lines = [json.loads(line) for line in (work / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2] and {r["pid"] for r in lines} == {os.getpid()}
    events = [f for _, _, files in os.walk(work / "logs") for f in files if "tfevents" in f]
    assert len(events) >= 2  # TensorBoard: train and validation


def test_an_existing_output_needs_overwrite(trained, adding_task):
    result, _ = trained
    before = (result.preset_dir / "model.weights.h5").read_bytes()
    with pytest.raises(FileExistsError, match=f"{result.preset_dir} already exists.*--overwrite"):
        training.train(adding_task, output=result.preset_dir, units=4, epochs=1)
    assert (result.preset_dir / "model.weights.h5").read_bytes() == before


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("interrupted in epoch 1")


def test_an_interrupted_run_resumes_and_refuses_other_settings(tmp_path, adding_task):
    output = tmp_path / "run"
    settings = dict(output=output, units=3, epochs=3, batch_size=16, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.train(adding_task, callbacks=[_Interrupt()], **settings)
    work = trainer.work_dir_for(output)
    assert not output.exists()
    first = training.read_history(work / "history.jsonl")
    assert [r["epoch"] for r in first] == [0]

    with pytest.raises(ValueError, match=r"other settings \(units: 3 then, 4 now\).*--no-resume"):
        training.train(adding_task, **{**settings, "units": 4})
    result = training.train(adding_task, **settings)
    history = result.metadata["training"]["history"]
    assert [r["epoch"] for r in history] == [0, 1, 2]
    assert history[0]["loss"] == first[0]["loss"]  # epoch 0 was not trained again
    assert result.metadata["training"]["resumed_from_epoch"] == 1
    assert zoo.load_preset(output)[1]["training"]["epochs_completed"] == 3

    # resume=False starts over (the finished run left no backup anyway).
    fresh = training.train(adding_task, **{**settings, "epochs": 1, "overwrite": True, "resume": False})
    assert [r["epoch"] for r in fresh.history] == [0]


def test_a_directory_that_is_not_a_working_directory_is_never_emptied(tmp_path, adding_task):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("...")
    with pytest.raises(ValueError, match="precious exists and is not a keras-rnnx working directory"):
        training.train(adding_task, output=tmp_path / "out", work_dir=tmp_path / "precious", epochs=1)
    assert (tmp_path / "precious" / "thesis.tex").exists()


def test_a_model_from_a_preset_config(trained, adding_task, tmp_path):
    result, _ = trained
    config = json.loads((result.preset_dir / "config.json").read_text())
    again = training.train(adding_task, output=tmp_path / "again", model_config=config, epochs=1, verbose=0)
    assert again.model.count_params() == result.model.count_params()
    assert again.metadata["model"] == {"from_config": True}
    wrong = training.build_model(datasets.get_task("parity", timesteps=8), "gru", units=2)
    with pytest.raises(ValueError, match="does not fit task 'adding'"):
        training.train(adding_task, output=tmp_path / "wrong", model_config=zoo.model_config(wrong))


def test_bad_arguments_fail_before_training(adding_task, tmp_path):
    for kwargs, message in [
        ({"epochs": 0}, "`epochs`"),
        ({"batch_size": 1.5}, "`batch_size`"),
        ({"patience": 0}, "`patience`"),
        ({"optimizer": "adamw"}, "Unknown optimizer"),
        ({"lr_schedule": "linear"}, "Unknown `lr_schedule` 'linear'. Choose among: constant, cosine"),
        ({"cell": "nope"}, "Unknown cell"),
        ({"cell_options": {"peepholes": True}}, "Unknown option"),
        ({"dtype_policy": "mixed_float16"}, "Unknown `dtype_policy` 'mixed_float16'. Choose among: float32, mixed_bfloat16"),
    ]:
        with pytest.raises(ValueError, match=message):
            training.train(adding_task, output=tmp_path / "x", **kwargs)
    with pytest.raises(ValueError, match="Unknown task 'nope'"):
        training.train("nope", output=tmp_path / "x")
    config = zoo.model_config(training.build_model(adding_task, "gru", units=2))
    with pytest.raises(ValueError, match="`dtype_policy='mixed_bfloat16'` applies to a model built from the flags"):
        training.train(adding_task, output=tmp_path / "x", model_config=config, dtype_policy="mixed_bfloat16")
    assert os.listdir(tmp_path) == []


def test_mixed_bfloat16_trains_in_bfloat16_and_writes_a_float32_preset(tmp_path, adding_task):
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append({layer.name: layer.dtype_policy.name for layer in self.model.layers})

    result = training.train(
        adding_task, output=tmp_path / "bf16", cell="gru", units=4, epochs=2, batch_size=16,
        dtype_policy="mixed_bfloat16", verbose=0, callbacks=[Record()],
    )  # fmt: skip
    # Trained: every layer but the input and the head computes in bfloat16.
    assert seen[0]["gru_0"] == "mixed_bfloat16" and seen[0]["head"] == "float32"
    # Written and measured: a float32 model.
    model, metadata = zoo.load_preset(result.preset_dir)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert metadata["training"]["dtype_policy"] == "mixed_bfloat16"
    assert [w.dtype for w in model.weights] == ["float32"] * len(model.weights)
    again = training.evaluate(model, adding_task, "test", batch_size=16)
    assert again == metadata["metrics"]["test"]
    # The float32 preset holds the trained weights.
    for restored, trained in zip(model.weights, result.model.weights):
        np.testing.assert_array_equal(restored.numpy(), trained.numpy())


def test_jsb_transposition_reaches_the_training_stream_only(tmp_path, jsb_task, data_dir, monkeypatch):
    calls = []
    load_split = datasets.load_split

    def spy(task, split, **kwargs):
        calls.append((split, kwargs.get("augment", False), task.options.get("transpose")))
        return load_split(task, split, **kwargs)

    monkeypatch.setattr(datasets, "load_split", spy)
    result = training.train(
        "jsb_chorales", task_options={"path": jsb_task.options["path"], "transpose": 2}, data_dir=data_dir,
        output=tmp_path / "jsb", units=4, epochs=1, batch_size=64, verbose=0,
    )  # fmt: skip
    assert ("train", True, 2) in calls and ("validation", False, 2) in calls
    assert not [c for c in calls if c[0] != "train" and c[1]]  # evaluation reads the plain splits
    metadata = zoo.read_metadata(result.preset_dir)
    assert metadata["task"]["options"]["transpose"] == 2
    monkeypatch.setattr(datasets, "load_split", load_split)
    assert training.evaluate(result.model, jsb_task, "test") == metadata["metrics"]["test"]


def test_the_cosine_schedule_decays_over_the_whole_run_and_resumes_on_its_curve(tmp_path, adding_task):
    # 64 training examples in batches of 16: 4 steps per epoch, 12 in 3 epochs.
    settings = dict(output=tmp_path / "run", units=3, epochs=3, batch_size=16, learning_rate=0.1,
                    lr_schedule="cosine", verbose=0)  # fmt: skip

    def expected(step):  # CosineDecay from 0.1 to 5 % of it over 12 steps, by hand
        return 0.1 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, 12) / 12)))

    with pytest.raises(KeyboardInterrupt):
        training.train(adding_task, callbacks=[_Interrupt()], **settings)
    with pytest.raises(ValueError, match="lr_schedule: 'cosine' then, 'constant' now"):
        training.train(adding_task, **{**settings, "lr_schedule": "constant"})
    result = training.train(adding_task, **settings)
    assert result.metadata["training"]["resumed_from_epoch"] == 1
    assert result.metadata["training"]["lr_schedule"] == "cosine"
    optimizer = result.model.optimizer
    assert int(optimizer.iterations.numpy()) == 12  # 4 restored + 8 trained
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(expected(12), rel=1e-5)
    assert expected(12) == pytest.approx(0.005)
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert {k: schedule["config"][k] for k in ("initial_learning_rate", "decay_steps", "alpha")} == {
        "initial_learning_rate": 0.1, "decay_steps": 12, "alpha": 0.05,
    }  # fmt: skip


def test_a_run_file_written_before_lr_schedule_output_dropout_and_weight_decay_resumes_with_their_old_values(tmp_path, adding_task):
    settings = dict(output=tmp_path / "run", units=3, epochs=2, batch_size=16, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.train(adding_task, callbacks=[_Interrupt()], **settings)
    run_file = trainer.work_dir_for(tmp_path / "run") / "run.json"
    old = json.loads(run_file.read_text())
    del old["lr_schedule"], old["dtype_policy"], old["output_dropout"], old["weight_decay"]
    run_file.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="output_dropout: 0.0 then, 0.5 now"):
        training.train(adding_task, **settings, output_dropout=0.5)
    with pytest.raises(ValueError, match="weight_decay: None then, 0.1 now"):
        training.train(adding_task, **settings, weight_decay=0.1)
    result = training.train(adding_task, **settings)
    assert result.metadata["training"]["resumed_from_epoch"] == 1
    assert result.metadata["model"]["output_dropout"] == 0.0


def test_make_optimizer_names_the_argument_at_fault():
    with pytest.raises(ValueError, match="`decay_steps` must be an int >= 1 with lr_schedule='cosine'"):
        training.make_optimizer("adam", 0.1, None, "cosine")
    assert training.LR_SCHEDULES == ("constant", "cosine")
    assert float(training.make_optimizer("adam", 0.1).learning_rate.numpy()) == pytest.approx(0.1)


def test_early_stopping_continues_its_count_across_runs():
    history = [{"epoch": e, "val_loss": v} for e, v in enumerate([1.0, 0.5, 0.6, 0.7])]
    assert trainer._early_stop_reached(history, "val_loss", 2)
    assert not trainer._early_stop_reached(history, "val_loss", 3)
    assert not trainer._early_stop_reached(history, "val_loss", None)
    stopper = trainer.ResumableEarlyStopping("val_loss", 3, history)
    stopper.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stopper.on_train_begin()
    assert (stopper.best, stopper.best_epoch, stopper.wait) == (0.5, 1, 2)
    stopper.on_epoch_end(4, {"val_loss": 0.9})
    assert stopper.model.stop_training


def test_read_history_skips_a_cut_line_and_keeps_the_last_record(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"epoch": 0, "loss": 2}\n{"epoch": 1, "loss": 1}\n{"epoch": 1, "loss": 0.5}\n{"epo')
    assert training.read_history(path) == [{"epoch": 0, "loss": 2}, {"epoch": 1, "loss": 0.5}]
    assert training.read_history(tmp_path / "none.jsonl") == []
    assert math.isinf(trainer._best([], "val_loss")[0])


def test_weight_decay_shrinks_the_matrices_by_rate_times_decay_and_spares_the_vectors(tmp_path, adding_task):
    # One SGD step from the same weights and batch, with and without decay:
    # Keras decays before the update, so w_decayed - w_plain = -lr * wd * w0
    # for every matrix and 0 for every vector (bias).
    def one_step(weight_decay):
        keras.utils.set_random_seed(3)
        model = training.build_model(adding_task, "lstm", units=4)
        training.compile_model(model, adding_task, "sgd", 0.1, weight_decay=weight_decay)
        start = [v.numpy().copy() for v in model.trainable_variables]
        x, y = next(iter(datasets.load_split(adding_task, "train", batch_size=8)))
        model.train_on_batch(x, y)
        return model, start, [v.numpy() for v in model.trainable_variables]

    model, start, plain = one_step(None)
    _, start_again, decayed = one_step(0.5)
    for variable, w0, w0_again, a, b in zip(model.trainable_variables, start, start_again, plain, decayed):
        np.testing.assert_array_equal(w0, w0_again)
        expected = -0.1 * 0.5 * w0 if w0.ndim >= 2 else np.zeros_like(w0)
        np.testing.assert_allclose(b - a, expected, atol=1e-6, err_msg=variable.path)
    assert any(w.ndim >= 2 and np.abs(w).max() > 0.1 for w in start)  # the check has teeth

    result = training.train(
        adding_task, output=tmp_path / "run", units=3, epochs=1, batch_size=16, weight_decay=0.01, verbose=0
    )
    assert result.metadata["training"]["weight_decay"] == 0.01
    assert result.model.optimizer.weight_decay == 0.01


def test_weight_decay_is_checked_and_needs_a_built_model(adding_task):
    assert training.make_optimizer("adam", 0.1, weight_decay=0.1).weight_decay == 0.1
    assert training.make_optimizer("adam", 0.1).weight_decay is None
    for bad in (0, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="`weight_decay` must be a finite float > 0.*Pass None for no decay"):
            training.make_optimizer("adam", 0.1, weight_decay=bad)
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="`weight_decay` needs a built model"):
        training.compile_model(unbuilt, adding_task, weight_decay=0.1)
    training.compile_model(unbuilt, adding_task)  # no decay: nothing to tell apart


class _PoisonAt(keras.callbacks.Callback):
    """Makes the loss NaN from batch 1 of ``epoch`` on (a NaN in the head's bias)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self._epoch == self.epoch and batch == 1:
            bias = self.model.get_layer("head").bias
            bias.assign(np.full(bias.shape, np.nan, "float32"))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def test_a_nan_loss_stops_the_run_at_once_and_keeps_the_last_good_epoch(adding_task, tmp_path):
    # Regression: a run whose loss became NaN trained on to the end (and failed only
    # when the NaN metrics met the JSON of the metadata).
    output = tmp_path / "adding"
    kwargs = dict(cell="gru", units=4, batch_size=16, learning_rate=0.01, verbose=0)
    training.train(adding_task, output=output, epochs=1, **kwargs)
    preset_files = {p.name: p.read_bytes() for p in output.iterdir()}
    work = trainer.work_dir_for(output)
    with pytest.raises(training.NonFiniteLoss, match=r"stopped in epoch 2 of 3 \(batch 2\): the loss became nan") as info:
        training.train(adding_task, output=output, epochs=3, overwrite=True, resume=False,
                       callbacks=[_PoisonAt(1)], **kwargs)  # fmt: skip
    error = info.value
    assert (error.epoch, error.batch) == (1, 1) and math.isnan(error.loss)
    assert f"The last completed epoch (1) is kept in {work}" in str(error)
    assert f"{output} was not written" in str(error) and "--lr" in str(error)
    # The previous preset is intact; the working directory holds epoch 1 and only it.
    assert {p.name: p.read_bytes() for p in output.iterdir()} == preset_files
    assert [r["epoch"] for r in trainer.read_history(work / trainer.HISTORY_FILE)] == [0]
    assert trainer._backup_epoch(work / trainer.BACKUP_DIR) == 1
    restored = training.build_model(adding_task, "gru", units=4)
    restored.load_weights(str(work / trainer.BACKUP_DIR / "latest.weights.h5"))
    assert all(np.isfinite(w).all() for w in restored.get_weights())
    restored.load_weights(str(work / trainer.BEST_WEIGHTS_FILE))
    assert all(np.isfinite(w).all() for w in restored.get_weights())
    run = json.loads((work / trainer.RUN_FILE).read_text())
    assert run["stopped"]["reason"] == "non-finite loss"
    assert (run["stopped"]["epoch"], run["stopped"]["batch"], run["stopped"]["loss"]) == (1, 1, "nan")
    # The same command resumes from the last good epoch (the stop record is no setting).
    result = training.train(adding_task, output=output, epochs=3, overwrite=True, **kwargs)
    assert result.metadata["training"]["resumed_from_epoch"] == 1
    assert [r["epoch"] for r in result.history] == [0, 1, 2]
