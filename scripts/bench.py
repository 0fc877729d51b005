"""Train-step throughput of the keras-rnnx layers beside Keras and a naive cell.

A benchmark, not a test. For each layer configuration it builds the model
``Input((T, D)) -> layer -> Dense(1)`` (Adam, MSE), runs one training step
(tracing and compilation, timed apart as "first step"), a few warm-up steps,
then times ``--steps`` calls of ``model.train_on_batch`` on one fixed random
batch and reports the median. It does so with ``jit_compile=False`` and
``jit_compile=True`` (``--jit``), each time on a fresh model.

The contestants:

- every keras-rnnx configuration: `LSTM` plain and with each option of
  Greff et al. (peephole, CIFG, NIG, NFG, NOG, NIAF, NOAF, FGR), layer_norm,
  proj_units, cell_clip, zoneout; `GRU` in both reset modes; MUT1, MUT2, MUT3;
- the Keras layers they replace: ``keras.layers.LSTM``, ``keras.layers.GRU``
  (both ``reset_after`` modes);
- the exotic cells: `ClockworkRNN(512, num_modules=8)` beside
  ``keras.layers.SimpleRNN(512)`` and a naive masked dense Clockwork cell;
  `GridLSTM2D(U, depth=2)` and `DepthGatedLSTM(U, num_layers=2)` beside two
  stacked ``keras.layers.LSTM(U)`` and their own cells stepped by
  ``keras.layers.RNN`` (nothing hoisted: the "naive" rows);
- ``keras.layers.RNN(cell)`` around naive cells written below, nothing hoisted
  out of the time loop: one with a separate weight matrix per gate (one matmul
  per gate and per input), and one with Keras-style fused weights (one
  ``x @ W + h @ U`` per step, then split), for a peephole LSTM and a GRU: the
  two first implementations a reasonable person writes.

Ratios are speed-ups, ``reference ms / config ms``: above 1 the configuration
is faster than the reference. LSTM-family rows are compared with
``keras.layers.LSTM`` and the naive peephole LSTM; GRU rows with the
``keras.layers.GRU`` of the same ``reset_after`` and the naive GRU; MUT rows
with ``keras.layers.GRU`` (reset_after=True) and the naive GRU (MUTs are
two-gate cells like the GRU). MUT1 and MUT2 add the input to a pre-activation
and need input size == units, so their rows use ``D = units`` (shown in the
``D`` column); every other row uses ``--features``.

The script runs on the backend of ``KERAS_BACKEND`` (TensorFlow or JAX). On
TensorFlow, jit off is a ``tf.function`` graph and jit on adds XLA; on JAX,
jit on is ``jax.jit`` and jit off runs the train step op by op.

Usage:

    KERAS_BACKEND=tensorflow python scripts/bench.py               # all, ~defaults
    python scripts/bench.py --steps 2 --timesteps 10 --only lstm,gru  # smoke run
    python scripts/bench.py --jit on --json bench.json
    python scripts/bench.py --list
    python scripts/bench.py --memory --timesteps 1000 --only lstm,peephole

``--memory`` measures memory instead of time: each configuration and jit mode
runs in a fresh subprocess that builds the model, records its resident set
size (RSS), runs two train steps and records the peak RSS (``ru_maxrss``).
The figure compared is the growth, peak minus the RSS before the first step
(what the train step itself needs: activations kept for the backward pass,
gradients, compilation), beside the Keras reference's growth.
"""

import argparse
import json
import logging
import os
import sys
import time

import keras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib.configs import CONFIGS  # noqa: E402
from benchlib.configs import selected_configs  # noqa: E402
from benchlib.timing import _environment  # noqa: E402
from benchlib.timing import add_ratios  # noqa: E402
from benchlib.timing import format_table  # noqa: E402
from benchlib.timing import measure  # noqa: E402
from benchlib.timing import measure_memory  # noqa: E402
from benchlib.timing import memory_child  # noqa: E402

# -- command line ------------------------------------------------------------


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an int >= {minimum}, received {text!r}."
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an int >= {minimum}, received {value}."
            )
        return value

    return parse


def _config_names(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown or missing configuration(s) {', '.join(unknown) or text!r}; "
            f"choose among: {', '.join(CONFIGS)} (see --list)."
        )
    return names


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0]
        + " Runs on the backend of KERAS_BACKEND (tensorflow or jax).",
        epilog="Ratios are reference ms / config ms: > 1 means faster than the "
        "reference. --only adds the Keras and naive references of the chosen "
        "configurations.",
    )
    parser.add_argument("--steps", type=_int_at_least(1), default=10,
                        help="timed train steps per configuration and mode "
                        "(default: %(default)s)")
    parser.add_argument("--warmup", type=_int_at_least(0), default=2,
                        help="untimed steps after the first (compiling) one "
                        "(default: %(default)s)")
    parser.add_argument("--only", type=_config_names, default=None,
                        metavar="NAME[,NAME...]",
                        help="benchmark only these configurations (and their "
                        "references); default: all")
    parser.add_argument("--batch", type=_int_at_least(1), default=64,
                        help="batch size B (default: %(default)s)")
    parser.add_argument("--timesteps", type=_int_at_least(1), default=100,
                        help="sequence length T (default: %(default)s)")
    parser.add_argument("--features", type=_int_at_least(1), default=64,
                        help="input features D, except MUT1/MUT2 which use "
                        "D = units (default: %(default)s)")
    parser.add_argument("--units", type=_int_at_least(1), default=256,
                        help="units U (default: %(default)s)")
    parser.add_argument("--jit", choices=("off", "on", "both"), default="both",
                        help="jit_compile modes to run (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write every measurement to this JSON file")
    parser.add_argument("--memory", action="store_true",
                        help="measure peak memory (RSS) of a train step in a "
                        "fresh process per configuration, instead of time")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--list", action="store_true",
                        help="print the configuration names and exit")
    return parser  # fmt: skip


class _DropRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning, only that.

    Every measurement compiles a new model whose ``tf.function``s come from
    the same Keras code, which TensorFlow counts as retracing one function.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def main(argv=None):
    logging.getLogger("tensorflow").addFilter(_DropRetracingWarning())
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(CONFIGS))
        return 0
    if args.memory_child:
        return memory_child(args)
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        parser.error(
            f"the {backend!r} backend is not supported; set KERAS_BACKEND to "
            "tensorflow or jax."
        )
    if args.json:
        json_dir = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(json_dir):
            parser.error(f"argument --json: directory {json_dir!r} does not exist.")
    modes = ["off", "on"] if args.jit == "both" else [args.jit]
    names = selected_configs(args.only)
    env = _environment()
    if args.memory:
        print(
            f"keras-rnnx bench --memory: backend {env['backend']}; B={args.batch}, "
            f"T={args.timesteps}, D={args.features}, U={args.units}; "
            f"{env['cpu_count']} CPUs.",
            flush=True,
        )
        memory = measure_memory(names, modes, args, os.path.abspath(__file__))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"environment": env, "arguments": vars(args), "memory": memory}, f, indent=2)
            print(f"Wrote {args.json}")
        return 0
    meaning = {
        "tensorflow": "off = tf.function graph, on = tf.function + XLA",
        "jax": "off = op by op (no jax.jit), on = jax.jit",
    }[backend]
    print(
        f"keras-rnnx bench: backend {backend} ({meaning}); B={args.batch}, "
        f"T={args.timesteps}, D={args.features} (MUT1/MUT2: D={args.units}), "
        f"U={args.units}; {args.steps} timed steps after 1 + {args.warmup} "
        f"warm-up; {env['cpu_count']} CPUs, devices {env['devices']}.",
        flush=True,
    )
    results = {}
    total_start = time.perf_counter()
    for index, name in enumerate(names, start=1):
        row = {"name": name, "modes": {}}
        for mode in modes:
            m = measure(CONFIGS[name], mode, args)
            row["params"], row["features"] = m.pop("params"), m.pop("features")
            row["units"] = m.pop("units")
            row["modes"][mode] = m
            print(
                f"[{index}/{len(names)}] {name} jit {mode}: first step "
                f"{m['first_step_s']:.2f} s, median {m['median_ms']:.1f} ms/step",
                file=sys.stderr,
                flush=True,
            )
        results[name] = row
    add_ratios(results)
    print()
    print(format_table(results))
    print(
        "\nRatios: reference ms / config ms (> 1 = faster than the reference). "
        "LSTM rows vs keras_lstm, naive_peephole_lstm (per-gate weights) and "
        "naive_fused_peephole_lstm (Keras-style fused weights); GRU rows vs the "
        "keras GRU of the same reset_after, naive_gru and naive_fused_gru; MUT "
        "rows vs keras_gru, naive_gru and naive_fused_gru; clockwork vs keras_simple_rnn and naive_clockwork; grid2d and depth_gated vs keras_lstm_x2 and their cells in keras.layers.RNN. 'on 1st step s' = trace + compile + one step with jit "
        f"on. Total wall time {time.perf_counter() - total_start:.0f} s."
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"environment": env, "arguments": vars(args), "results": results},
                f,
                indent=2,
            )
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
