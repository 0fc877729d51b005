"""``rnnx train``, ``rnnx eval`` and ``rnnx sample`` end to end, and their bad inputs."""

import json

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
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status, _, err = run_cli(["eval", "adding_tiny", "--data-dir", str(data_dir)])
    finally:
        os.chdir(cwd)
    assert status == 1 and "does not match the manifest" in err
