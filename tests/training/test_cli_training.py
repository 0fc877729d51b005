"""``rnnx train``, ``rnnx eval`` and ``rnnx sample`` end to end, and their bad inputs."""

import json
import os
import pathlib

import mido
import numpy as np
import pytest

from keras_rnnx import training
from keras_rnnx import zoo
from tests.training.conftest import adding_flags
from tests.cli_runner import run_cli



@pytest.fixture(scope="module")
def adding_preset(tmp_path_factory, data_dir, adding_task):
    output = tmp_path_factory.mktemp("cli") / "adding_gru"
    argv = ["train", *adding_flags(data_dir), "--cell", "gru", "--cell-option", "reset_after=false",
            "--units", "4", "--epochs", "2", "--lr", "0.02", "--clipnorm", "1.0", "--weight-decay", "0.01",
            "--optimizer", "rmsprop", "--lr-schedule", "cosine", "--verbose", "0",
            "--output", str(output)]  # fmt: skip
    status, out, err = run_cli(argv)
    assert status == 0, err
    return output, out, argv


def test_train_prints_the_preset_and_its_metrics(adding_preset):
    output, out, argv = adding_preset
    metadata = zoo.read_metadata(output)
    assert f"Wrote preset {output} ({metadata['params']:,} parameters)." in out
    line = next(line for line in out.splitlines() if line.strip().startswith("adding test"))
    assert line.split() == ["adding", "test", "mse", f"{metadata['metrics']['test']['mse']:.4f}", "over", "32", "examples"]
    assert "trivial baseline: mse 0.1667" in out
    assert metadata["training_command"] == "rnnx " + " ".join(argv)
    assert metadata["training"]["optimizer"] == "rmsprop" and metadata["training"]["clipnorm"] == 1.0
    assert metadata["training"]["lr_schedule"] == "cosine"
    assert metadata["training"]["weight_decay"] == 0.01
    assert metadata["training"]["dtype_policy"] == "float32"
    assert metadata["model"]["cell_options"] == {"reset_after": False}


def test_eval_prints_the_metric_beside_the_baseline(adding_preset, data_dir):
    output, _, _ = adding_preset
    metadata = zoo.read_metadata(output)
    status, out, err = run_cli(["eval", str(output), "--data-dir", str(data_dir)])
    assert status == 0, err
    assert "adding_gru" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("adding test"))
    assert line.split()[2:3] == ["mse"] and line.endswith("over 32 examples")
    assert float(line.split()[3]) == pytest.approx(metadata["metrics"]["test"]["mse"], abs=1e-4)
    assert "trivial baseline: mse 0.1667" in out
    status, _, err = run_cli(["eval", str(output), "--carry-state"])
    assert status == 1 and "--carry-state scores character models; task 'adding'" in err
    status, _, err = run_cli(["eval", str(output), "--carry-state", "0"])
    assert status == 2 and "--carry-state" in err
    status, _, err = run_cli(["eval", str(output), "--timesteps", "50"])
    assert status == 1 and "`timesteps` re-windows character models; task 'adding'" in err
    status, out, _ = run_cli(["eval", str(output), "--split", "all", "--json", "--batch-size", "5"])
    scores = json.loads(out)
    assert scores["metric"] == "mse" and scores["baseline"] == pytest.approx(1 / 6)
    for split in ("train", "validation", "test"):
        assert scores["scores"][split]["mse"] == pytest.approx(metadata["metrics"][split]["mse"], rel=1e-5)


def test_text_model_train_eval_and_sample(tmp_path, data_dir, text_path):
    output = tmp_path / "char"
    argv = ["train", "--task", "text", "--task-option", f"path={text_path}", "--task-option", "timesteps=16",
            "--data-dir", str(data_dir), "--units", "8", "--epochs", "1", "--verbose", "0",
            "--output-dropout", "0.25", "--output", str(output)]  # fmt: skip
    status, out, err = run_cli(argv)
    assert status == 0, err
    assert "bits per char" in out and "vocabulary.json" in {p.name for p in output.iterdir()}
    model, metadata = zoo.load_preset(output)
    assert model.get_layer("output_dropout").rate == 0.25
    assert metadata["model"]["output_dropout"] == 0.25
    status, out, _ = run_cli(["eval", str(output), "--data-dir", str(data_dir)])
    assert status == 0 and "text validation nats_per_char" in out  # no test split
    status, out, err = run_cli(["eval", str(output), "--data-dir", str(data_dir), "--carry-state", "2", "--json"])
    assert status == 0, err
    model, metadata = zoo.load_preset(output)
    task = training.task_from_metadata(metadata, str(data_dir))
    expected = training.evaluate_carried(model, task, "validation", streams=2)
    assert json.loads(out)["scores"]["validation"] == pytest.approx(expected)
    status, out, _ = run_cli(["eval", str(output), "--data-dir", str(data_dir), "--carry-state"])
    assert status == 0 and "state carried across windows in 8 streams" in out
    # --timesteps 24: the same validation text in 24-character windows, each from a zero
    # state. Reference: the raw text cut by hand and scored in NumPy. This is the first
    # build of 24-character windows: TFDS's progress must stay off stdout (pure JSON).
    status, out, err = run_cli(["eval", str(output), "--data-dir", str(data_dir), "--timesteps", "24", "--json"])
    assert status == 0, err
    vocabulary = list(task.vocabulary)
    text = text_path.read_text(encoding="utf-8")
    ids = np.array([vocabulary.index(c) for c in text[int(len(text) * 0.9):]])
    windows = np.stack([ids[i * 24 : i * 24 + 25] for i in range((len(ids) - 1) // 24)])
    p = np.asarray(model(windows[:, :-1]), np.float64)
    nats = -np.log(np.take_along_axis(p, windows[:, 1:, None], axis=-1))
    score = json.loads(out)["scores"]["validation"]
    assert score["count"] == nats.size and score["nats_per_char"] == pytest.approx(nats.mean(), rel=1e-5)
    windowed = training.evaluate(model, task, "validation")  # the preset's own 16-character windows
    assert score["nats_per_char"] != pytest.approx(windowed["nats_per_char"], rel=1e-6)
    status, _, err = run_cli(["eval", str(output), "--timesteps", "0"])
    assert status == 2 and "--timesteps" in err
    status, _, err = run_cli(["eval", str(output), "--split", "test"])
    assert status == 1 and "has no 'test' split; its splits: train, validation" in err
    sample = ["sample", str(output), "--prompt", "to be", "--length", "25", "--seed", "4"]
    first, second = run_cli(sample), run_cli(sample)
    assert first[0] == 0 and first == second
    assert first[1].startswith("to be") and len(first[1]) == len("to be") + 25 + 1
    status, out, _ = run_cli([*sample, "--output", str(tmp_path / "sample.txt")])
    assert (tmp_path / "sample.txt").read_text() == first[1][:-1]
    status, _, err = run_cli(["sample", str(output), "--prompt", "TO BE"])
    assert status == 1 and "outside the model's vocabulary: 'BEOT'" in err


@pytest.fixture
def jsb_preset(tmp_path, jsb_task):
    model = training.build_model(jsb_task, "lstm", units=4)
    return zoo.save_preset(tmp_path / "jsb", model, {"task": training.task_metadata(jsb_task)})


def test_jsb_sample_writes_midi_and_png(jsb_preset, tmp_path):
    status, out, err = run_cli(["sample", str(jsb_preset), "--length", "16", "--prompt", "60,64,67;62,65", "--output", str(tmp_path / "a.mid")])
    assert status == 0, err
    assert "Wrote 18 time steps" in out
    midi = mido.MidiFile(str(tmp_path / "a.mid"))
    notes = [m.note for m in midi.tracks[0] if m.type == "note_on"]
    assert notes[:3] == [60, 64, 67]
    status, _, _ = run_cli(["sample", str(jsb_preset), "--length", "8", "--output", str(tmp_path / "roll.png")])
    assert status == 0 and (tmp_path / "roll.png").read_bytes()[:4] == b"\x89PNG"
    status, _, err = run_cli(["sample", str(jsb_preset), "--output", str(tmp_path / "a.wav")])
    assert status == 2 and "--output" in err and ".mid" in err
    status, _, err = run_cli(["sample", str(jsb_preset), "--prompt", "C,E,G", "--output", str(tmp_path / "b.mid")])
    assert status == 2 and "--prompt" in err and "MIDI note numbers" in err


def test_sample_refuses_a_model_that_does_not_generate(adding_preset):
    status, _, err = run_cli(["sample", str(adding_preset[0])])
    assert status == 1 and "task kind is 'regression'" in err


@pytest.mark.parametrize(
    "extra, flag, message",
    [
        (["--task", "nope"], "--task", "unknown task 'nope'; choose among: adding, copy"),
        (["--task-option", "colour=1"], "--task/--task-option", "colour"),
        (["--task-option", "markers=sideways"], "--task/--task-option", "markers"),
        (["--cell", "lstmm"], "--cell", "unknown cell 'lstmm'; choose among: lstm,"),
        (["--cell-option", "peepholes=true"], "--cell-option", "Valid options: "),
        (["--cell-option", "peephole"], "--cell-option", "expected KEY=VALUE"),
        (["--cell-option", "peephole=True"], "--cell-option", "write peephole=true"),
        (["--cell-option", "periods=[1,2"], "--cell-option", "malformed JSON"),
        (["--cell-option", "peephole=true", "--cell-option", "peephole=false"], "--cell-option", "given twice"),
        (["--lr", "0"], "--lr", "positive float"),
        (["--dropout", "1.0"], "--dropout", "[0, 1)"),
        (["--output-dropout", "-0.5"], "--output-dropout", "[0, 1)"),
        (["--optimizer", "adamw"], "--optimizer", "choose among: adam, sgd, rmsprop"),
        (["--lr-schedule", "step"], "--lr-schedule", "unknown lr-schedule 'step'; choose among: constant, cosine"),
        (["--epochs", "0"], "--epochs", "int >= 1"),
        (["--dtype-policy", "mixed_float16"], "--dtype-policy", "unknown dtype-policy 'mixed_float16'; choose among: float32, mixed_bfloat16"),
        (["--config", "x", "--dtype-policy", "mixed_bfloat16"], "--dtype-policy", "not allowed with --config"),
        (["--config", "x", "--cell", "gru"], "--config", "not allowed with --cell"),
    ],
)
def test_bad_train_arguments_exit_2_naming_the_option(extra, flag, message, data_dir, tmp_path):
    argv = ["train", *adding_flags(data_dir), "--output", str(tmp_path / "out"), *extra]
    status, _, err = run_cli(argv)
    assert status == 2
    assert f"argument {flag}" in err and message in err
    assert not (tmp_path / "out").exists()


def test_an_existing_output_exits_2_without_overwrite(adding_preset, data_dir):
    status, _, err = run_cli(["train", *adding_flags(data_dir), "--output", str(adding_preset[0])])
    assert status == 2 and "argument --output" in err and "--overwrite" in err


@pytest.mark.parametrize(
    "text, message", [("", "is empty"), ("a", "holds a single character")]
)
def test_an_empty_or_one_character_text_is_named(text, message, tmp_path, data_dir):
    path = tmp_path / "tiny.txt"
    path.write_text(text)
    status, _, err = run_cli(["train", "--task", "text", "--task-option", f"path={path}",
                           "--data-dir", str(data_dir), "--output", str(tmp_path / "o")])  # fmt: skip
    assert status == 2 and str(path) in err and message in err


def test_a_missing_text_file_is_named(tmp_path, data_dir):
    path = tmp_path / "missing.txt"
    status, _, err = run_cli(["train", "--task", "text", "--task-option", f"path={path}", "--output", str(tmp_path / "o")])
    assert status == 2 and str(path) in err


def test_broken_presets_exit_1_naming_the_path(adding_preset, tmp_path):
    import shutil

    status, _, err = run_cli(["eval", str(tmp_path / "nowhere")])
    assert status == 1 and f"{str(tmp_path / 'nowhere')!r} is not a preset directory" in err
    broken = tmp_path / "broken"
    shutil.copytree(adding_preset[0], broken)
    (broken / "model.weights.h5").write_bytes(b"\0" * 100)
    status, _, err = run_cli(["eval", str(broken)])
    assert status == 1 and f"{broken / 'model.weights.h5'}: the weights could not be loaded" in err
    (broken / "model.weights.h5").unlink()
    status, _, err = run_cli(["sample", str(broken)])
    assert status == 1 and f"{broken / 'model.weights.h5'}: file missing" in err
    shutil.copy(adding_preset[0] / "model.weights.h5", broken)
    (broken / "config.json").write_text("{\n  'single quotes': 1}")
    status, _, err = run_cli(["eval", str(broken)])
    assert status == 1 and f"{broken / 'config.json'}: malformed JSON at line 2" in err
    status, _, err = run_cli(["train", "--task", "adding", "--config", str(broken), "--output", str(tmp_path / "o")])
    assert status == 1 and f"{broken / 'config.json'}: malformed JSON" in err
    status, _, err = run_cli(["train", "--task", "adding", "--config", str(tmp_path / "none.json"), "--output", str(tmp_path / "o")])
    assert status == 1 and f"{tmp_path / 'none.json'}: no such file" in err


def _zoo_beside(preset, directory):
    """A copy of ``preset`` in ``directory`` with a manifest.json listing it beside it."""
    import shutil

    copy = directory / "adding_tiny"
    shutil.copytree(preset, copy)
    manifest = zoo.manifest.empty_manifest()
    headline = {"split": "test", "metric": "mse", "value": 0.1, "published": {}}
    manifest["presets"]["adding_tiny"] = zoo.manifest_entry(copy, version=1, headline=headline, description="x")
    zoo.write_manifest(directory / zoo.MANIFEST_FILE, manifest)
    return copy


def test_eval_and_sample_verify_a_preset_against_the_manifest_beside_it(adding_preset, tmp_path, data_dir):
    # Regression: `rnnx eval DIR` scored a preset whose weights failed the manifest
    # beside it (exit 0), where `rnnx zoo eval DIR` refused it (sha256 mismatch).
    preset = _zoo_beside(adding_preset[0], tmp_path)
    weights = preset / zoo.WEIGHTS_FILE
    good = weights.read_bytes()
    data = bytearray(good)
    data[-1] ^= 0xFF  # same size, one byte off: only the sha256 tells
    weights.write_bytes(bytes(data))
    for argv in (["eval", str(preset), "--data-dir", str(data_dir)], ["sample", str(preset)]):
        status, out, err = run_cli(argv)
        assert status == 1, (argv, out, err)
        assert f"{weights} does not match the manifest" in err and "sha256" in err
        assert "mse" not in out
    weights.write_bytes(good)
    status, out, err = run_cli(["eval", str(preset), "--data-dir", str(data_dir)])
    assert status == 0, err
    assert "adding_tiny: from a preset directory" in err and "verified against the manifest" in err
    weights.write_bytes(bytes(data))
    # A bare directory name (no slash) is a path for eval, not a zoo name.
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status, _, err = run_cli(["eval", "adding_tiny", "--data-dir", str(data_dir)])
    finally:
        os.chdir(cwd)
    assert status == 1 and "does not match the manifest" in err


def _error_line(err, command="train"):
    """The one ``rnnx COMMAND: error: ...`` line of argparse's output (no traceback)."""
    lines = [line for line in err.splitlines() if line.startswith(f"rnnx {command}: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


@pytest.mark.parametrize(
    "extra, flag, named",
    [
        (["--cell", "gru", "--cell-option", "reset_after=no"], "--cell-option", "reset_after"),
        (["--cell-option", "peephole=yes"], "--cell-option", "peephole"),
        (["--cell-option", "peephole=1.5"], "--cell-option", "peephole"),
        (["--cell-option", "peephole=1"], "--cell-option", "peephole"),
        (["--cell-option", "peephole=null"], "--cell-option", "peephole"),
    ],
)
def test_boolean_options_take_only_true_or_false(extra, flag, named, data_dir, tmp_path):
    # Regression: reset_after=no wrote `reset_after: true` (a non-empty string is truthy);
    # peephole=yes and peephole=1.5 passed.
    output = tmp_path / "out"
    status, _, err = run_cli(["train", *adding_flags(data_dir), "--epochs", "1", "--verbose", "0",
                              "--output", str(output), *extra])  # fmt: skip
    assert status == 2, err[-2000:]
    line = _error_line(err)
    assert f"argument {flag}:" in line and f"`{named}` must be true or false" in line
    assert f"{named}=true or {named}=false" in line
    assert not output.exists() and not training.work_dir_for(output).exists()


def test_a_boolean_task_option_takes_only_true_or_false(data_dir, tmp_path):
    base = ["train", "--task", "copy", "--data-dir", str(data_dir), "--task-option", "timesteps=4",
            "--task-option", "memory_length=2", "--output", str(tmp_path / "out")]  # fmt: skip
    for word in ("yes", "1", "0.5"):
        status, _, err = run_cli([*base, "--task-option", f"one_hot={word}"])
        assert status == 2, err[-2000:]
        line = _error_line(err)
        assert "argument --task-option:" in line and "`one_hot` must be true or false" in line


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--clipnorm", "inf"], "--clipnorm"),
        (["--clipnorm", "nan"], "--clipnorm"),
        (["--lr", "inf"], "--lr/--learning-rate"),
        (["--lr", "1e999"], "--lr/--learning-rate"),
        (["--weight-decay", "Infinity"], "--weight-decay"),
        (["--dropout", "nan"], "--dropout"),
        (["--cell-option", "forget_bias=NaN"], "--cell-option"),
        (["--cell-option", "forget_bias=Infinity"], "--cell-option"),
        (["--cell-option", "forget_bias=-1e999"], "--cell-option"),
        (["--cell-option", "forget_bias=inf"], "--cell-option"),
        (["--cell-option", "periods=[1, NaN]"], "--cell-option"),
    ],
)
def test_non_finite_numbers_are_refused_before_training(extra, flag, data_dir, tmp_path):
    # Regression: --clipnorm inf trained to NaN and failed only when the preset was
    # saved (metadata: "Out of range float values are not JSON compliant").
    output = tmp_path / "out"
    status, _, err = run_cli(["train", *adding_flags(data_dir), "--output", str(output), *extra])
    assert status == 2, err[-2000:]
    line = _error_line(err)
    assert f"argument {flag}:" in line and "finite" in line
    assert not training.work_dir_for(output).exists()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(clipnorm=float("inf")), "clipnorm"),
        (dict(learning_rate=float("nan")), "learning_rate"),
        (dict(weight_decay=float("inf")), "weight_decay"),
        (dict(dropout=float("nan")), "dropout"),
        (dict(recurrent_dropout=float("inf")), "recurrent_dropout"),
        (dict(output_dropout=float("-inf")), "output_dropout"),
        (dict(units=float("inf")), "units"),
    ],
)
def test_train_refuses_non_finite_arguments_before_any_work(kwargs, name, adding_task, tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the arguments were checked")

    monkeypatch.setattr(training.trainer.datasets, "split_sizes", no_data)
    with pytest.raises(ValueError, match=f"Argument `{name}` must be"):
        training.train(adding_task, output=tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("not a directory\n")
    return path


@pytest.mark.parametrize(
    "flags, flag, words",
    [
        (lambda f, t: ["--data-dir", str(f)], "--data-dir", "is a file, not a directory"),
        (lambda f, t: ["--data-dir", str(f / "sub")], "--data-dir", "is a file, not a directory"),
        (lambda f, t: ["--output", str(f / "sub")], "--output", "is a file, not a directory"),
        (lambda f, t: ["--output", str(f), "--overwrite"], "--output", "is a file, not a directory"),
        (lambda f, t: ["--output", str(t / "o"), "--work-dir", str(f / "w")], "--work-dir", "is a file, not a directory"),
        (lambda f, t: ["--output", str(t / "o"), "--work-dir", str(f)], "--work-dir", "is a file, not a directory"),
    ],
)
def test_unusable_directories_exit_2_before_training(flags, flag, words, a_file, tmp_path, data_dir):
    # Regression: NotADirectoryError tracebacks; --output FILE --overwrite trained the
    # whole run before save_preset refused the file.
    argv = ["train", "--task", "adding", "--task-option", "timesteps=8", "--task-option", "train_size=16",
            "--task-option", "validation_size=8", "--task-option", "test_size=8", "--epochs", "1",
            "--verbose", "0", "--units", "4", *flags(a_file, tmp_path)]  # fmt: skip
    if "--data-dir" not in argv:
        argv += ["--data-dir", str(data_dir)]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "out")]
    status, _, err = run_cli(argv)
    assert status == 2, err[-3000:]
    line = _error_line(err)
    assert f"argument {flag}:" in line and words in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing trained, nothing written
    assert a_file.read_text() == "not a directory\n"


def test_an_unwritable_data_dir_exits_2_naming_it(tmp_path, data_dir, monkeypatch):
    # Root ignores permissions, so: a directory under /sys (EPERM even for root), and
    # EROFS raised where the data is prepared.
    probe = pathlib.Path("/sys/rnnx-probe")
    argv = ["train", "--task", "adding", "--task-option", "timesteps=8", "--task-option", "train_size=16",
            "--task-option", "validation_size=8", "--task-option", "test_size=8", "--epochs", "1",
            "--output", str(tmp_path / "out")]  # fmt: skip
    if _cannot_mkdir(probe):
        status, _, err = run_cli([*argv, "--data-dir", str(probe)])
        assert status == 2, err[-3000:]
        line = _error_line(err)
        assert "argument --data-dir:" in line and str(probe) in line
    import errno

    from keras_rnnx import datasets

    def read_only(task, data_dir=None):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "ro" / "rnnx_synthetic"))

    monkeypatch.setattr(datasets, "get_builder", read_only)
    status, _, err = run_cli([*argv, "--data-dir", str(tmp_path / "ro")])
    assert status == 2, err[-3000:]
    line = _error_line(err)
    assert "argument --data-dir:" in line and "Read-only file system" in line and "writable" in line
    assert not (tmp_path / "out").exists()


def _cannot_mkdir(path):
    try:
        path.mkdir()
    except OSError:
        return True
    path.rmdir()
    return False


@pytest.mark.parametrize("where", ["output", "work_dir", "data_dir"])
def test_train_checks_its_directories_before_any_work(where, a_file, adding_task, tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the directories were checked")

    monkeypatch.setattr(training.trainer.datasets, "split_sizes", no_data)
    kwargs = {"output": tmp_path / "out", where: a_file / "sub"}
    with pytest.raises(ValueError, match=f"`{where}`: {a_file} is a file, not a directory"):
        training.train(adding_task, **kwargs)
    with pytest.raises(ValueError, match=f"`output`: {a_file} is a file, not a directory"):
        training.train(adding_task, output=a_file, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_rnnx_train_stops_when_the_loss_becomes_nan(adding_preset, data_dir, tmp_path):
    import shutil

    output = tmp_path / "kept"
    shutil.copytree(adding_preset[0], output)
    before = {p.name: p.read_bytes() for p in output.iterdir()}
    argv = ["train", *adding_flags(data_dir), "--cell", "gru", "--units", "4", "--optimizer", "sgd",
            "--lr", "1e30", "--epochs", "3", "--verbose", "0", "--output", str(output), "--overwrite"]  # fmt: skip
    status, out, err = run_cli(argv)
    assert status == 3, err[-3000:]
    line = _error_line(err)
    assert "stopped in epoch 1 of 3" in line and "the loss became" in line and "was not written" in line
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before
    run = json.loads((training.work_dir_for(output) / "run.json").read_text())
    assert run["stopped"]["epoch"] == 0 and run["stopped"]["reason"] == "non-finite loss"


def test_eval_names_a_file_where_a_directory_is_needed(adding_preset, a_file, tmp_path):
    # Regression: a NotADirectoryError traceback.
    status, _, err = run_cli(["eval", str(adding_preset[0]), "--data-dir", str(a_file / "sub")])
    assert status == 2, err[-3000:]
    line = _error_line(err, "eval")
    assert "argument --data-dir:" in line and "is a file, not a directory" in line


def test_sample_names_an_output_under_a_file(text_path, data_dir, a_file, tmp_path):
    output = tmp_path / "char"
    status, _, err = run_cli(["train", "--task", "text", "--task-option", f"path={text_path}", "--task-option",
                              "timesteps=16", "--data-dir", str(data_dir), "--units", "4", "--epochs", "1",
                              "--verbose", "0", "--output", str(output)])  # fmt: skip
    assert status == 0, err[-3000:]
    status, _, err = run_cli(["sample", str(output), "--length", "5", "--output", str(a_file / "s.txt")])
    assert status == 2, err[-3000:]
    line = _error_line(err, "sample")
    assert "argument --output:" in line and f"{a_file} is a file, not a directory" in line
