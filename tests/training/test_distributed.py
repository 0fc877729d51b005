"""``rnnx train --strategy``: two real workers on 127.0.0.1, and TF_CONFIG errors.

The two-worker test starts two ``python -m keras_rnnx.cli train --strategy
multiworker`` processes (worker 0 is the chief) on a tiny adding task and checks
that both finish with identical weights (``--dump-weights``, a hidden test-only
flag) and that only the chief wrote the checkpoint, the logs and the preset.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_rnnx import cli
from keras_rnnx import datasets
from keras_rnnx import zoo
from keras_rnnx.training import distributed
from tests.cli_runner import run_cli

REPO = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 300
ADDING = {"timesteps": 10, "train_size": 256, "validation_size": 64, "test_size": 64}


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _env(tf_config=None, tmp=None):
    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow", PYTHONPATH=str(REPO))
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _train_argv(tmp_path, epochs=1):
    argv = [sys.executable, "-m", "keras_rnnx.cli", "train", "--strategy", "multiworker",
            "--task", "adding", "--data-dir", str(tmp_path / "data"), "--cell", "gru",
            "--units", "8", "--batch-size", "32", "--epochs", str(epochs), "--lr", "0.01",
            "--output", str(tmp_path / "preset")]  # fmt: skip
    for key, value in ADDING.items():
        argv += ["--task-option", f"{key}={value}"]
    return argv


def _run_workers(tmp_path, epochs=1):
    """Start both workers, wait for both; returns [(returncode, stdout, stderr)]."""
    # Prepare the data first: two processes preparing one TFDS directory at once collide.
    task = datasets.get_task("adding", data_dir=tmp_path / "data", **ADDING)
    datasets.split_sizes(task)
    datasets.load_split(task, "train", batch_size=1)
    (tmp_path / "tmp").mkdir()
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        argv = _train_argv(tmp_path, epochs) + ["--dump-weights", str(tmp_path / f"weights{index}.npz")]
        processes.append(
            subprocess.Popen(
                argv, cwd=REPO, env=_env(config, tmp_path / "tmp"), text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
        )
    deadline = time.monotonic() + TIMEOUT_S
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=max(deadline - time.monotonic(), 1))
            results.append((process.returncode, out, err))
    except subprocess.TimeoutExpired:
        details = []
        for index, process in enumerate(processes):
            process.kill()
            out, err = process.communicate()
            details.append(f"--- worker {index} (rc {process.returncode}) stdout:\n{out}\nstderr:\n{err[-4000:]}")
        pytest.fail(f"the workers did not finish in {TIMEOUT_S} s\n" + "\n".join(details))
    return results


@pytest.mark.slow
@pytest.mark.tf_only
def test_two_workers_train_identical_weights_and_the_chief_writes(tmp_path):
    results = _run_workers(tmp_path)
    failed = [f"worker {i} failed (rc {code}):\n{out}\n{err[-5000:]}"
              for i, (code, out, err) in enumerate(results) if code != 0]  # fmt: skip
    assert not failed, "\n".join(reversed(failed))  # the first crash is usually worker 1's
    chief_out, worker_out = results[0][1], results[1][1]
    # Progress on the chief only.
    assert "Epoch 1/1" in chief_out and "Epoch 1/1" not in worker_out
    assert "Wrote preset" in chief_out and "the chief writes the preset" in worker_out

    weights = [np.load(tmp_path / f"weights{index}.npz") for index in range(2)]
    assert len(weights[0].files) == len(weights[1].files) > 0
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name])

    preset, work = tmp_path / "preset", tmp_path / "preset.work"
    model, metadata = zoo.load_preset(preset)
    for a, b in zip(model.get_weights(), [weights[0][n] for n in weights[0].files]):
        np.testing.assert_array_equal(a, b)
    assert metadata["training"]["epochs_completed"] == 1
    assert set(metadata["metrics"]) == {"train", "validation", "test"}
    assert (work / "history.jsonl").exists() and (work / "logs" / "train").is_dir()
    # The chief's checkpoint: written each epoch, removed once the preset is written.
    # The non-chief's temporary directory is gone.
    assert not (work / "backup").exists()
    assert not list((tmp_path / "tmp").glob("rnnx-worker1-*"))


def test_checkpoint_then_resume_on_one_worker(tmp_path, data_dir):
    """The custom loop's checkpoint and resume, with a one-worker cluster in process."""
    pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("needs the TensorFlow backend")
    import tensorflow as tf

    from keras_rnnx.training import models

    task = datasets.get_task("adding", data_dir=data_dir, **ADDING)
    strategy = tf.distribute.MirroredStrategy()  # the loop itself is strategy-agnostic
    train_data = datasets.load_split(task, "train", batch_size=64, shuffle_seed=0)

    def built():
        with strategy.scope():
            model = models.build_model(task, "gru", 4)
            models.compile_model(model, task, learning_rate=0.01)
        return model

    first = built()
    backup = tmp_path / "backup"
    distributed.fit_custom(first, strategy, train_data, epochs=2, backup_dir=backup,
                           logs_dir=tmp_path / "logs", verbose=0)  # fmt: skip
    assert distributed.backup_epoch(backup) == 2
    assert {p.name.split(".")[0] for p in backup.glob("ckpt-*")} == {"ckpt-1", "ckpt-2"}
    resumed = built()
    distributed.fit_custom(resumed, strategy, train_data, epochs=2, initial_epoch=2,
                           backup_dir=backup, verbose=0)  # fmt: skip
    for a, b in zip(first.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(resumed.optimizer.iterations.numpy()) == int(first.optimizer.iterations.numpy()) == 8



def test_the_custom_loop_stops_on_a_nan_loss_before_checkpointing_the_epoch(tmp_path, data_dir):
    """The custom loop tells the callbacks every batch's loss, so a NaN stops it
    inside the epoch, before that epoch's checkpoint is written."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("needs the TensorFlow backend")
    import tensorflow as tf

    from keras_rnnx.training import models
    from keras_rnnx.training import trainer

    task = datasets.get_task("adding", data_dir=data_dir, **ADDING)
    strategy = tf.distribute.MirroredStrategy()
    train_data = datasets.load_split(task, "train", batch_size=16, shuffle_seed=0)
    with strategy.scope():
        model = models.build_model(task, "gru", 4)
        models.compile_model(model, task, learning_rate=0.01)

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 2:
                model.get_layer("head").bias.assign(np.full((1,), np.nan, "float32"))

    backup = tmp_path / "backup"
    with pytest.raises(trainer.NonFiniteLoss) as info:
        distributed.fit_custom(model, strategy, train_data, epochs=3, backup_dir=backup, verbose=0,
                               callbacks=[trainer.StopOnNonFiniteLoss(), Poison()])  # fmt: skip
    assert (info.value.epoch, info.value.batch) == (1, 2)
    assert distributed.backup_epoch(backup) == 1


def test_multiworker_without_tf_config_errors_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    argv = ["train", "--strategy", "multiworker", "--task", "adding", "--output", str(tmp_path / "p")]
    status, out, err = run_cli(argv)
    assert status == 1
    assert "TF_CONFIG" in err and "--strategy multiworker" in err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "value, why",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
        ('{"cluster": {"worker": "127.0.0.1:1"}, "task": {"type": "worker"}}', "not a list"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "no 'task'"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}', "'ps'"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}', "index 1"),
    ],
)
def test_malformed_tf_config_is_named(value, why):
    with pytest.raises(ValueError, match="TF_CONFIG is malformed") as info:
        distributed.make_strategy("multiworker", environ={"TF_CONFIG": value})
    assert why in str(info.value)


def test_tf_config_is_read():
    config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
    cluster, task_type, index = distributed.read_tf_config({"TF_CONFIG": json.dumps(config)})
    assert (cluster, task_type, index) == (config["cluster"], "worker", 1)


def test_strategy_flag_choices_and_default():
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--task", "adding", "--output", "x"])
    assert args.strategy == "none" and args.dump_weights is None
    assert distributed.make_strategy("none") is None
    status, _, err = run_cli(["train", "--task", "adding", "--output", "x", "--strategy", "ps"])
    assert status == 2 and "--strategy" in err


@pytest.mark.tf_only
def test_mirrored_strategy_trains_with_fit(tmp_path, data_dir):
    from tests.training.conftest import adding_flags

    output = tmp_path / "mirrored"
    argv = ["train", *adding_flags(data_dir), "--strategy", "mirrored", "--cell", "gru",
            "--units", "4", "--epochs", "1", "--verbose", "0", "--output", str(output),
            "--dump-weights", str(tmp_path / "w.npz")]  # fmt: skip
    status, out, err = run_cli(argv)
    assert status == 0, err
    assert "Wrote preset" in out
    model, metadata = zoo.load_preset(output)
    dumped = np.load(tmp_path / "w.npz")
    for a, name in zip(model.get_weights(), dumped.files):
        np.testing.assert_array_equal(a, dumped[name])
    assert metadata["training"]["epochs_completed"] == 1


def test_non_chief_worker_resumes_from_the_chiefs_state(tmp_path):
    from keras_rnnx.training import trainer

    chief = tmp_path / "chief.work"
    (chief / "backup").mkdir(parents=True)
    (chief / "backup" / distributed.BACKUP_METADATA).write_text('{"epoch": 2}')
    lines = [{"epoch": e, "loss": 1.0 - e / 10} for e in range(3)]  # epoch 2 not checkpointed
    (chief / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    kwargs = dict(run_file=trainer.RUN_FILE, history_file=trainer.HISTORY_FILE,
                  read_history=trainer.read_history)  # fmt: skip
    done, history = distributed.prepare_worker_dir(tmp_path / "w", chief, {"a": 1}, True, **kwargs)
    assert done == 2 and [r["epoch"] for r in history] == [0, 1]
    assert trainer.read_history(tmp_path / "w" / "history.jsonl") == history
    assert json.loads((tmp_path / "w" / "run.json").read_text()) == {"a": 1}
    done, history = distributed.prepare_worker_dir(tmp_path / "v", chief, {"a": 1}, False, **kwargs)
    assert (done, history) == (0, [])
