"""Smoke test of scripts/gpu_check.py on the CPU (the GPU run needs a lent machine).

Runs ``gpu_check.py --device cpu --quick`` with ``KERAS_BACKEND=jax`` in a
subprocess: every layer class of `keras_rnnx.layers` gets a correctness entry
(the CPU against itself here, so the plumbing, not the GPU, is what is
tested) and the throughput table gets its JAX rows in both dtypes. XLA's
optimisations are turned off in the subprocess (``JAX_DISABLE_MOST_OPTIMIZATIONS``)
to keep the compilations short; the timings mean nothing here.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

import keras_rnnx

REPO = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "gpu_check.py"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="gpu_check.py runs on JAX"
)


def _layer_class_names():
    import keras

    from keras_rnnx.layers.base import RecurrentCell
    from keras_rnnx.layers.base import RecurrentLayer

    names = []
    for name in dir(keras_rnnx.layers):
        obj = getattr(keras_rnnx.layers, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, keras.layers.Layer)
            and obj is not RecurrentLayer
            and not issubclass(obj, RecurrentCell)
            and not name.endswith("Cell")
        ):
            names.append(name)
    return names


@pytest.mark.slow
def test_gpu_check_cpu_smoke(tmp_path):
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "jax"
    env["JAX_PLATFORMS"] = "cpu"
    env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    out = tmp_path / "gpu_check"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "gpu_check.json").read_text())
    assert (out / "gpu_check.txt").exists()
    assert result["ok"] is True

    cases = {c["layer"]: c for c in result["correctness"]}
    expected = set(_layer_class_names())
    assert {"LSTM", "PeepholeLSTM", "GRU", "ClockworkRNN", "GridLSTM1D"} <= expected
    assert expected <= set(cases), f"no correctness entry for {expected - set(cases)}"
    for case in result["correctness"]:
        assert "error" not in case, case
        assert case["ok"] and case["max_rel_err"] < 1e-4, case
        assert case["grads"], f"{case['case']}: no weight gradients compared"

    rows = {(r["name"], r["dtype"]): r for r in result["throughput"]}
    for name in ("keras_lstm", "rnnx_lstm"):
        for dtype in ("float32", "bfloat16"):
            assert rows[(name, dtype)]["median_ms"] > 0
    for name in ("keras_lstm_scan", "rnnx_peephole", "rnnx_gru", "rnnx_clockwork"):
        assert rows[(name, "float32")]["median_ms"] > 0
    assert rows[("rnnx_lstm", "float32")]["vs_keras_lstm"] > 0
    assert {t["dtype"] for t in result["targets"]} == {"float32", "bfloat16"}
    if importlib.util.find_spec("torch") is None:
        assert any("torch" in note for note in result["notes"])
