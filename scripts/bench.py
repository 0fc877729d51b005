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
import dataclasses
import json
import logging
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

# -- naive cells -------------------------------------------------------------


class NaivePeepholeLSTMCell(keras.layers.Layer):
    """A peephole LSTM cell as a first implementation would write it.

    One kernel, recurrent kernel and bias per gate (i, f, c, o), eight matmuls
    per step, all inside the step; peepholes ``p_i * c'``, ``p_f * c'``,
    ``p_o * c``. For use in ``keras.layers.RNN``.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        for gate in "ifco":
            bias_init = "ones" if gate == "f" else "zeros"
            setattr(self, f"w_{gate}", self.add_weight((d, u), "glorot_uniform", name=f"w_{gate}"))
            setattr(self, f"u_{gate}", self.add_weight((u, u), "orthogonal", name=f"u_{gate}"))
            setattr(self, f"b_{gate}", self.add_weight((u,), bias_init, name=f"b_{gate}"))
        for gate in "ifo":
            setattr(self, f"p_{gate}", self.add_weight((u,), "zeros", name=f"p_{gate}"))

    def call(self, inputs, states):
        h, c = states
        i = ops.sigmoid(
            ops.matmul(inputs, self.w_i) + ops.matmul(h, self.u_i) + self.b_i + self.p_i * c
        )
        f = ops.sigmoid(
            ops.matmul(inputs, self.w_f) + ops.matmul(h, self.u_f) + self.b_f + self.p_f * c
        )
        g = ops.tanh(ops.matmul(inputs, self.w_c) + ops.matmul(h, self.u_c) + self.b_c)
        c = f * c + i * g
        o = ops.sigmoid(
            ops.matmul(inputs, self.w_o) + ops.matmul(h, self.u_o) + self.b_o + self.p_o * c
        )
        h = o * ops.tanh(c)
        return h, [h, c]


class NaiveGRUCell(keras.layers.Layer):
    """A GRU cell (Cho et al. 2014, reset before the matmul) written naively.

    One kernel, recurrent kernel and bias per gate (z, r, h), six matmuls per
    step, all inside the step. For use in ``keras.layers.RNN``.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        for gate in "zrh":
            setattr(self, f"w_{gate}", self.add_weight((d, u), "glorot_uniform", name=f"w_{gate}"))
            setattr(self, f"u_{gate}", self.add_weight((u, u), "orthogonal", name=f"u_{gate}"))
            setattr(self, f"b_{gate}", self.add_weight((u,), "zeros", name=f"b_{gate}"))

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        z = ops.sigmoid(ops.matmul(inputs, self.w_z) + ops.matmul(h, self.u_z) + self.b_z)
        r = ops.sigmoid(ops.matmul(inputs, self.w_r) + ops.matmul(h, self.u_r) + self.b_r)
        g = ops.tanh(ops.matmul(inputs, self.w_h) + ops.matmul(r * h, self.u_h) + self.b_h)
        h = z * h + (1.0 - z) * g
        return h, [h]


class NaiveFusedPeepholeLSTMCell(keras.layers.Layer):
    """A peephole LSTM cell with Keras' fused weights, written naively.

    One ``(D, 4U)`` kernel, one ``(U, 4U)`` recurrent kernel and one bias, as
    `keras.layers.LSTMCell` has them: per step ``x @ W + h @ U + b``, split
    into i, f, c, o, peepholes added. Nothing hoisted out of the time loop.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.kernel = self.add_weight((d, 4 * u), "glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((u, 4 * u), "orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight((4 * u,), "zeros", name="bias")
        self.peepholes = self.add_weight((3, u), "zeros", name="peepholes")

    def call(self, inputs, states):
        h, c = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(z_i + self.peepholes[0] * c)
        f = ops.sigmoid(z_f + self.peepholes[1] * c)
        c = f * c + i * ops.tanh(z_c)
        o = ops.sigmoid(z_o + self.peepholes[2] * c)
        h = o * ops.tanh(c)
        return h, [h, c]


class NaiveFusedGRUCell(keras.layers.Layer):
    """A GRU cell (reset before the matmul) with fused weights, written naively.

    One ``(D, 3U)`` kernel and one ``(U, 3U)`` recurrent kernel; per step
    ``x @ W`` and ``h @ U[:, :2U]`` then ``(r * h) @ U[:, 2U:]``.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.kernel = self.add_weight((d, 3 * u), "glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((u, 3 * u), "orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight((3 * u,), "zeros", name="bias")

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        x_z, x_r, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 3, axis=-1)
        r_z, r_r = ops.split(ops.matmul(h, self.recurrent_kernel[:, : 2 * u]), 2, axis=-1)
        z = ops.sigmoid(x_z + r_z)
        r = ops.sigmoid(x_r + r_r)
        g = ops.tanh(x_h + ops.matmul(r * h, self.recurrent_kernel[:, 2 * u :]))
        h = z * h + (1.0 - z) * g
        return h, [h]


class NaiveClockworkCell(keras.layers.Layer):
    """A Clockwork RNN cell (exponential periods) as a first implementation writes it.

    A dense ``(U, U)`` recurrent matrix multiplied by a constant
    block-triangular mask (slower modules feed faster ones), the full
    ``x @ W + h @ (U * mask)`` computed at every step, then the units of the
    modules that do not tick put back with a select. The step counter is the
    second state.
    """

    def __init__(self, units, num_modules, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.size = units // num_modules
        self.periods = np.repeat(2 ** np.arange(num_modules), self.size).astype("float32")
        module = np.arange(units) // self.size
        self.tri = (module[:, None] >= module[None, :]).astype("float32")
        self.state_size = [units, 1]
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.kernel = self.add_weight((d, u), "glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((u, u), "orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight((u,), "zeros", name="bias")

    def call(self, inputs, states):
        h, t = states
        pre = (
            ops.matmul(inputs, self.kernel)
            + ops.matmul(h, self.recurrent_kernel * self.tri)
            + self.bias
        )
        active = ops.equal(ops.mod(t, self.periods), 0.0)
        h = ops.where(active, ops.tanh(pre), h)
        return h, [h, t + 1.0]


# -- configurations ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmarked layer.

    Attributes:
        name: the key of ``--only``.
        make_layer: ``make_layer(units) -> keras.layers.Layer``.
        keras_ref: name of the Keras layer this row is compared with.
        naive_ref: name of the naive ``RNN(cell)`` this row is compared with.
        naive_fused_ref: name of the naive fused-weight ``RNN(cell)`` this row
            is also compared with.
        input_is_units: use ``D = units`` instead of ``--features`` (MUT1/2).
        units: a fixed width for this row (the Clockwork rows: 512, as the
            issue's target names it) instead of ``--units``.
    """

    name: str
    make_layer: object
    keras_ref: str
    naive_ref: str
    input_is_units: bool = False
    naive_fused_ref: str = None
    units: int = None


def _rnnx_lstm(**options):
    return lambda units: keras_rnnx.layers.LSTM(units, **options)


_L, _NL = "keras_lstm", "naive_peephole_lstm"
_G, _GB, _NG = "keras_gru", "keras_gru_reset_before", "naive_gru"
_NFL, _NFG = "naive_fused_peephole_lstm", "naive_fused_gru"
_S, _NC = "keras_simple_rnn", "naive_clockwork"
_L2, _NGR, _NDG = "keras_lstm_x2", "naive_grid2d", "naive_depth_gated"
_CW_UNITS, _CW_MODULES = 512, 8


def _stacked_keras_lstm(depth):
    return lambda u: [keras.layers.LSTM(u, return_sequences=True) for _ in range(depth - 1)] + [
        keras.layers.LSTM(u)
    ]

CONFIGS = {
    c.name: c
    for c in (
        Config(_L, lambda u: keras.layers.LSTM(u), _L, _NL),
        Config(_NL, lambda u: keras.layers.RNN(NaivePeepholeLSTMCell(u)), _L, _NL),
        Config(_NFL, lambda u: keras.layers.RNN(NaiveFusedPeepholeLSTMCell(u)), _L, _NL),
        Config("lstm", _rnnx_lstm(), _L, _NL),
        Config("peephole", _rnnx_lstm(peephole=True), _L, _NL),
        Config("cifg", _rnnx_lstm(coupled=True), _L, _NL),
        Config("nig", _rnnx_lstm(input_gate=False), _L, _NL),
        Config("nfg", _rnnx_lstm(forget_gate=False), _L, _NL),
        Config("nog", _rnnx_lstm(output_gate=False), _L, _NL),
        Config("niaf", _rnnx_lstm(input_activation=False), _L, _NL),
        Config("noaf", _rnnx_lstm(output_activation=False), _L, _NL),
        Config("fgr", _rnnx_lstm(full_gate_recurrence=True), _L, _NL),
        Config("layer_norm", _rnnx_lstm(layer_norm=True), _L, _NL),
        Config(
            "proj_units",
            lambda u: keras_rnnx.layers.LSTM(u, proj_units=max(1, u // 2)),
            _L,
            _NL,
        ),
        Config("cell_clip", _rnnx_lstm(cell_clip=3.0), _L, _NL),
        Config("zoneout", _rnnx_lstm(zoneout_hidden=0.1, zoneout_cell=0.1), _L, _NL),
        Config(_G, lambda u: keras.layers.GRU(u, reset_after=True), _G, _NG),
        Config(_GB, lambda u: keras.layers.GRU(u, reset_after=False), _GB, _NG),
        Config(_NG, lambda u: keras.layers.RNN(NaiveGRUCell(u)), _G, _NG),
        Config(_NFG, lambda u: keras.layers.RNN(NaiveFusedGRUCell(u)), _G, _NG),
        Config("gru", lambda u: keras_rnnx.layers.GRU(u, reset_after=True), _G, _NG),
        Config(
            "gru_reset_before",
            lambda u: keras_rnnx.layers.GRU(u, reset_after=False),
            _GB,
            _NG,
        ),
        Config("mut1", keras_rnnx.layers.MUT1, _G, _NG, input_is_units=True),
        Config("mut2", keras_rnnx.layers.MUT2, _G, _NG, input_is_units=True),
        Config("mut3", keras_rnnx.layers.MUT3, _G, _NG),
        Config(_S, keras.layers.SimpleRNN, _S, _NC, units=_CW_UNITS),
        Config(
            _NC,
            lambda u: keras.layers.RNN(NaiveClockworkCell(u, _CW_MODULES)),
            _S,
            _NC,
            units=_CW_UNITS,
        ),
        Config(
            "clockwork",
            lambda u: keras_rnnx.layers.ClockworkRNN(u, num_modules=_CW_MODULES),
            _S,
            _NC,
            units=_CW_UNITS,
        ),
        Config(_L2, _stacked_keras_lstm(2), _L2, _NGR),
        Config(
            _NGR,
            lambda u: keras.layers.RNN(keras_rnnx.layers.GridLSTM2DCell(u, depth=2)),
            _L2,
            _NGR,
        ),
        Config("grid2d", lambda u: keras_rnnx.layers.GridLSTM2D(u, depth=2), _L2, _NGR),
        Config(
            _NDG,
            lambda u: keras.layers.RNN(keras_rnnx.layers.DepthGatedLSTMCell(u, num_layers=2)),
            _L2,
            _NDG,
        ),
        Config(
            "depth_gated",
            lambda u: keras_rnnx.layers.DepthGatedLSTM(u, num_layers=2),
            _L2,
            _NDG,
        ),
    )
}
for _name, _config in list(CONFIGS.items()):
    _fused = {_NL: _NFL, _NG: _NFG}.get(_config.naive_ref)
    CONFIGS[_name] = dataclasses.replace(_config, naive_fused_ref=_fused)
del _name, _config, _fused

"""Every configuration, in table order. proj_units uses units // 2;
cell_clip 3.0; zoneout 0.1 on h and c. The Clockwork rows are 512 units in 8
exponential modules beside ``keras.layers.SimpleRNN(512)`` (target >= 2x);
``grid2d`` and ``depth_gated`` are depth 2 beside two stacked
``keras.layers.LSTM`` (grid target: <= 2.2x the time, a ratio >= 0.45)."""

MODES = {"off": False, "on": True}

# -- measurement -------------------------------------------------------------


def build_model(config, timesteps, features, units):
    """``Input((T, D)) -> layer(s) -> Dense(1)``, compiled later per jit mode."""
    layers = config.make_layer(config.units or units)
    if not isinstance(layers, list):
        layers = [layers]
    return keras.Sequential(
        [keras.Input((timesteps, features)), *layers, keras.layers.Dense(1)],
        name=config.name,
    )


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


def selected_configs(only):
    """The requested configurations plus their references, in table order."""
    if only is None:
        return list(CONFIGS)
    wanted = set(only)
    for name in only:
        wanted.update(
            (CONFIGS[name].keras_ref, CONFIGS[name].naive_ref, CONFIGS[name].naive_fused_ref)
        )
    return [name for name in CONFIGS if name in wanted]


class _DropRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning, only that.

    Every measurement compiles a new model whose ``tf.function``s come from
    the same Keras code, which TensorFlow counts as retracing one function.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


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


def measure_memory(names, modes, args):
    """Run `memory_child` per configuration and mode; print and return a table."""
    results = {}
    for name in names:
        for mode in modes:
            command = [
                sys.executable, os.path.abspath(__file__),
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
        memory = measure_memory(names, modes, args)
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
