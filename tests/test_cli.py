"""Tests of the ``rnnx`` command line and of `keras_rnnx.demo`."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_rnnx import cli
from keras_rnnx import demo


def test_rnnx_help_in_a_subprocess():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "keras_rnnx.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: rnnx")
    for command in ("demo", "train", "eval", "sample"):
        assert command in result.stdout


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "train", "eval", "sample"):
        assert command in out


@pytest.mark.parametrize(
    "command, flags",
    [
        ("train", ["--task", "--task-option", "--data-dir", "--config", "--cell",
                   "--cell-option", "--units", "--layers", "--dropout",
                   "--recurrent-dropout", "--optimizer", "--lr", "--clipnorm",
                   "--weight-decay", "--epochs", "--batch-size", "--patience", "--seed", "--output",
                   "--overwrite", "--work-dir", "--resume", "--no-resume"]),
        ("eval", ["PRESET", "--split", "--data-dir", "--batch-size", "--json"]),
        ("sample", ["PRESET", "--length", "--temperature", "--seed", "--prompt", "--output"]),
    ],
)  # fmt: skip
def test_training_commands_list_their_options(command, flags, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in flags:
        assert flag in out
    if command == "train":
        for name in ("adding", "jsb_chorales", "text", "peephole_lstm", "grid_lstm_2d", "rmsprop"):
            assert name in out


def test_demo_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--timesteps",
        "--epochs",
        "--samples",
        "--units",
        "--only",
        "--seed",
        "--batch-size",
        "--learning-rate",
    ):
        assert flag in out
    for name in demo.VARIANTS:
        assert name in out


def test_tiny_demo_prints_the_table(capsys):
    status = cli.main(
        [
            "demo",
            "--timesteps", "10",
            "--samples", "64",
            "--epochs", "1",
            "--only", "lstm,gru",
        ]
    )  # fmt: skip
    assert status == 0
    out = capsys.readouterr().out
    assert "T=10" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("name "))
    for column in ("params", "test MSE", "/ baseline", "samples/s", "wall s"):
        assert column in lines[header]
    rows = {line.split()[0]: line for line in lines[header + 2 : header + 4]}
    assert set(rows) == {"lstm", "gru"}
    assert "peephole" not in out
    # keras-rnnx LSTM(32) on 2 features + Dense(1): 4*32*(2+32+1) + 33 = 4513.
    assert "4,513" in rows["lstm"]
    for line in rows.values():
        mse, ratio = (float(v) for v in line.split()[-4:-2])
        assert math.isfinite(mse) and mse >= 0.0
        assert ratio == pytest.approx(mse / 0.1667, rel=0.1)
    assert "always predicting 1.0" in out
    assert "Total wall time" in out


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["demo", "--epochs", "0"], "--epochs"),
        (["demo", "--timesteps", "1"], "--timesteps"),
        (["demo", "--samples", "many"], "--samples"),
        (["demo", "--units", "-3"], "--units"),
        (["demo", "--seed", "-1"], "--seed"),
        (["demo", "--batch-size", "0"], "--batch-size"),
        (["demo", "--learning-rate", "0"], "--learning-rate"),
        (["demo", "--only", "lstm,nope"], "--only"),
        (["demo", "--only", ","], "--only"),
        (["demo", "--no-such-flag"], "--no-such-flag"),
        ([], "COMMAND"),
        (["train"], "--task, --output"),
        (["train", "--task", "adding"], "--output"),
        (["train", "--task", "nope", "--output", "x"], "--task"),
        (["train", "--task", "adding", "--output", "x", "--cell", "nope"], "--cell"),
        (["train", "--task", "adding", "--output", "x", "--cell-option", "x"], "--cell-option"),
        (["train", "--task", "adding", "--output", "x", "--patience", "0"], "--patience"),
        (["train", "--task", "adding", "--output", "x", "--clipnorm", "-1"], "--clipnorm"),
        (["train", "--task", "adding", "--output", "x", "--weight-decay", "0"], "--weight-decay"),
        (["train", "--task", "adding", "--output", "x", "--verbose", "3"], "--verbose"),
        (["eval"], "PRESET"),
        (["eval", "p", "--split", "dev"], "--split"),
        (["sample"], "PRESET"),
        (["sample", "p", "--temperature", "-0.5"], "--temperature"),
        (["sample", "p", "--length", "0"], "--length"),
    ],
)
def test_bad_arguments_exit_2_and_name_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("name", list(demo.VARIANTS))
def test_every_variant_builds_and_predicts(name):
    model = demo.build_model(demo.VARIANTS[name], timesteps=6, units=4)
    out = model.predict(np.zeros((3, 6, 2), "float32"), verbose=0)
    assert out.shape == (3, 1)
    assert model.count_params() > 0


def test_mut1_and_mut2_get_an_input_projection():
    for name in ("mut1", "mut2"):
        model = demo.build_model(demo.VARIANTS[name], timesteps=6, units=4)
        assert model.layers[0].name == "input_projection"
    model = demo.build_model(demo.VARIANTS["mut3"], timesteps=6, units=4)
    assert all(layer.name != "input_projection" for layer in model.layers)


def test_run_demo_rejects_unknown_and_empty_only():
    with pytest.raises(ValueError, match="`only`.*'nope'"):
        demo.run_demo(only=["nope"])
    with pytest.raises(ValueError, match="`only` is empty"):
        demo.run_demo(only=[])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(epochs=0), "epochs"),
        (dict(units=2.5), "units"),
        (dict(batch_size=True), "batch_size"),
        (dict(test_samples=0), "test_samples"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(timesteps=1), "timesteps"),
        (dict(samples=0), "samples"),
    ],
)
def test_run_demo_rejects_bad_arguments_before_training(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        demo.run_demo(only=["lstm"], **kwargs)


def test_format_table_sorts_and_divides_by_the_baseline():
    results = [
        {"name": "slow", "description": "a b", "params": 1234, "test_mse": 0.5,
         "baseline_mse": 0.25, "samples_per_s": None, "wall_s": 2.0},
        {"name": "good", "description": "c", "params": 10, "test_mse": 0.01,
         "baseline_mse": 0.25, "samples_per_s": 1500.4, "wall_s": 1.24},
    ]  # fmt: skip
    table = demo.format_table(results).splitlines()
    assert table[0].split()[:2] == ["name", "layer"]
    assert table[2].split() == ["good", "c", "10", "0.0100", "0.040", "1500", "1.2"]
    assert table[3].split() == ["slow", "a", "b", "1,234", "0.5000", "2.000", "-", "2.0"]
    assert "(0.2500; 1/6 in expectation)" in table[-1]
