"""Measuring a train step: its time, its memory in a fresh process, the ratios
against the reference rows, the table and the environment it ran in."""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
from keras import ops

import keras_rnnx
from benchlib.configs import CONFIGS
from benchlib.configs import MODES
from benchlib.configs import build_model


def measure(config, mode, args):
    """Time the train step of ``config`` in jit ``mode`` ("off" or "on").

    Returns a dict with ``first_step_s`` (tracing + compilation + one step),
    ``median_ms``, ``mean_ms``, ``min_ms``, ``max_ms`` and ``steps_ms``.

    Raises:
        RuntimeError: if Keras refused ``jit_compile=True`` for this model
            (it would otherwise silently fall back to no jit).
    """
    features = args.units if config.input_is_units else args.features
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(
        rng.standard_normal((args.batch, args.timesteps, features), dtype=np.float32)
    )
    y = ops.convert_to_tensor(rng.standard_normal((args.batch, 1), dtype=np.float32))
    model = build_model(config, args.timesteps, features, args.units)
    model.compile(optimizer="adam", loss="mse", jit_compile=MODES[mode])
    if bool(model.jit_compile) != MODES[mode]:
        raise RuntimeError(
            f"Keras set jit_compile={model.jit_compile!r} for '{config.name}' "
            f"although {MODES[mode]} was requested (see the Keras warning above). "
            f"Run with --jit off, or leave '{config.name}' out with --only."
        )
    start = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - start
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    steps = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        steps.append((time.perf_counter() - start) * 1e3)
    return {
        "params": model.count_params(),
        "features": features,
        "units": config.units or args.units,
        "first_step_s": first,
        "median_ms": statistics.median(steps),
        "mean_ms": statistics.fmean(steps),
        "min_ms": min(steps),
        "max_ms": max(steps),
        "steps_ms": steps,
    }


def _ratio(reference, value):
    if reference is None or value is None:
        return None
    return reference / value


def add_ratios(results):
    """Add the speed-ups vs Keras (each mode) and vs the naive cell (jit off)."""
    for row in results.values():
        config = CONFIGS[row["name"]]
        keras_row = results.get(config.keras_ref)
        naive_row = results.get(config.naive_ref)
        row["speedup_vs_keras"] = {
            mode: _ratio(
                keras_row and keras_row["modes"].get(mode, {}).get("median_ms"),
                row["modes"].get(mode, {}).get("median_ms"),
            )
            for mode in MODES
        }
        row["speedup_vs_naive_off"] = _ratio(
            naive_row and naive_row["modes"].get("off", {}).get("median_ms"),
            row["modes"].get("off", {}).get("median_ms"),
        )
        fused_row = results.get(config.naive_fused_ref)
        row["speedup_vs_naive_fused_off"] = _ratio(
            fused_row and fused_row["modes"].get("off", {}).get("median_ms"),
            row["modes"].get("off", {}).get("median_ms"),
        )
        row["keras_ref"] = config.keras_ref
        row["naive_ref"] = config.naive_ref
        row["naive_fused_ref"] = config.naive_fused_ref


def format_table(results):
    """The results as a plain-text table, in `CONFIGS` order."""
    header = (
        "config",
        "D",
        "U",
        "params",
        "off ms/step",
        "on ms/step",
        "on 1st step s",
        "vs Keras off",
        "vs Keras on",
        "vs naive off",
        "vs naive fused off",
    )

    def num(value, fmt):
        return "-" if value is None else format(value, fmt)

    rows = []
    for row in results.values():
        off = row["modes"].get("off", {})
        on = row["modes"].get("on", {})
        rows.append(
            (
                row["name"],
                str(row["features"]),
                str(row["units"]),
                f"{row['params']:,}",
                num(off.get("median_ms"), ".1f"),
                num(on.get("median_ms"), ".1f"),
                num(on.get("first_step_s"), ".1f"),
                num(row["speedup_vs_keras"]["off"], ".2f"),
                num(row["speedup_vs_keras"]["on"], ".2f"),
                num(row["speedup_vs_naive_off"], ".2f"),
                num(row["speedup_vs_naive_fused_off"], ".2f"),
            )
        )
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        )

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _environment():
    env = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "keras_rnnx": keras_rnnx.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    if env["backend"] == "tensorflow":
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
        env["devices"] = [d.name for d in tf.config.list_physical_devices()]
    else:
        import jax

        env["jax"] = jax.__version__
        env["devices"] = [str(d) for d in jax.devices()]
    return env


def _rss_mib():
    """Current resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(args):
    """In a fresh process: RSS before and peak after two train steps (JSON)."""
    name, mode = args.memory_child.split(":")
    config = CONFIGS[name]
    features = args.units if config.input_is_units else args.features
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.timesteps, features), dtype=np.float32)
    y = rng.standard_normal((args.batch, 1), dtype=np.float32)
    model = build_model(config, args.timesteps, features, args.units)
    model.compile(optimizer="adam", loss="mse", jit_compile=MODES[mode])
    before = _rss_mib()
    for _ in range(2):
        model.train_on_batch(x, y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before_mib": before, "peak_mib": peak}))
    return 0


def measure_memory(names, modes, args, script):
    """Run `memory_child` per configuration and mode (``script --memory-child``); print and return a table."""
    results = {}
    for name in names:
        for mode in modes:
            command = [
                sys.executable, script,
                "--memory-child", f"{name}:{mode}",
                "--batch", str(args.batch), "--timesteps", str(args.timesteps),
                "--features", str(args.features), "--units", str(args.units),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise RuntimeError(f"{name} jit {mode} failed:\n{done.stderr[-2000:]}")
            m = json.loads(done.stdout.strip().splitlines()[-1])
            m["growth_mib"] = m["peak_mib"] - m["before_mib"]
            results[(name, mode)] = m
            print(
                f"{name} jit {mode}: RSS {m['before_mib']:.0f} MiB before the "
                f"first step, peak {m['peak_mib']:.0f} MiB, growth "
                f"{m['growth_mib']:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
    print(f"\n{'config':<28}{'jit':>4}{'before MiB':>12}{'peak MiB':>10}"
          f"{'growth MiB':>12}{'growth / keras ref':>20}")  # fmt: skip
    for (name, mode), m in results.items():
        ref = results.get((CONFIGS[name].keras_ref, mode))
        ratio = "-" if ref is None else f"{m['growth_mib'] / ref['growth_mib']:.2f}"
        print(f"{name:<28}{mode:>4}{m['before_mib']:>12.0f}{m['peak_mib']:>10.0f}"
              f"{m['growth_mib']:>12.0f}{ratio:>20}")  # fmt: skip
    return {f"{name}:{mode}": m for (name, mode), m in results.items()}
