"""scripts/bench.py runs end to end at a tiny size (a smoke test, not a timing)."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_bench():
    spec = importlib.util.spec_from_file_location(
        "rnnx_bench", os.path.join(ROOT, "scripts", "bench.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--steps", "1", "--warmup", "0", "--batch", "2", "--timesteps", "4",
        "--features", "3", "--units", "8"]  # fmt: skip


def test_clockwork_rows_use_the_issue_width():
    bench = load_bench()
    for name in ("clockwork", "naive_clockwork", "keras_simple_rnn"):
        assert bench.CONFIGS[name].units == 512
    assert bench.CONFIGS["clockwork"].keras_ref == "keras_simple_rnn"
    assert bench.CONFIGS["grid2d"].keras_ref == "keras_lstm_x2"


@pytest.mark.slow
@pytest.mark.parametrize("only", ["grid2d,depth_gated", "lstm"])
def test_time_table_has_every_row_and_ratios(only, tmp_path, capsys):
    bench = load_bench()
    out = tmp_path / "bench.json"
    assert bench.main(TINY + ["--only", only, "--jit", "off", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    expected = bench.selected_configs(only.split(","))
    assert list(results) == expected
    for name in only.split(","):
        row = results[name]
        assert row["modes"]["off"]["median_ms"] > 0
        assert row["speedup_vs_keras"]["off"] > 0
        assert row["speedup_vs_naive_off"] > 0
    table = capsys.readouterr().out
    assert all(name in table for name in expected)


@pytest.mark.slow
def test_memory_mode_reports_growth_for_config_and_reference(tmp_path):
    bench = load_bench()
    out = tmp_path / "memory.json"
    argv = TINY + ["--memory", "--only", "lstm", "--jit", "off", "--json", str(out)]
    assert bench.main(argv) == 0
    memory = json.loads(out.read_text())["memory"]
    assert {"lstm:off", "keras_lstm:off"} <= set(memory)
    for m in memory.values():
        assert m["peak_mib"] >= m["before_mib"] > 0


def test_unknown_configuration_is_refused_with_the_choices(capsys):
    bench = load_bench()
    with pytest.raises(SystemExit):
        bench.main(["--only", "lstmm"])
    assert "choose among" in capsys.readouterr().err


def _run_xla_profile(tmp_path, backend, *extra):
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, os.path.join(ROOT, "scripts", "xla_profile.py"),
               "--batch", "2", "--timesteps", "4", "--features", "3", "--units", "8", *extra]  # fmt: skip
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)


@pytest.mark.slow
def test_xla_profile_reports_temp_memory_against_the_reference(tmp_path):
    out = tmp_path / "xla.json"
    done = _run_xla_profile(tmp_path, "jax", "--only", "gru", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert {"gru", "keras_gru", "naive_gru"} <= set(results)
    assert all(r["temp_mib"] > 0 for r in results.values())
    assert "/ keras ref" in done.stdout


@pytest.mark.slow
def test_xla_profile_refuses_tensorflow_naming_the_fix(tmp_path):
    done = _run_xla_profile(tmp_path, "tensorflow", "--only", "gru")
    assert done.returncode == 2
    assert "KERAS_BACKEND=jax" in done.stderr
