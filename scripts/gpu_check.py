"""GPU check of keras-rnnx on the JAX backend: correctness against the CPU, and speed.

The one program behind ``scripts/gpu_check.sh`` (the command given to the lent
GPU machine, which has JAX and PyTorch but no TensorFlow). Two parts:

1. Correctness. For every layer class of `keras_rnnx.layers` (found by
   listing the module, so a new layer without a case here is reported as an
   error, not skipped) at small sizes (B=4, T=7, D=5, U=8; GridLSTM2D and
   DepthGatedLSTM depth 2; ClockworkRNN 4 modules; MUT1/MUT2 with D=U;
   GridLSTM1D on ``(B, D)`` inputs), plus masked cases for LSTM, GRU and
   ClockworkRNN (which take another path under a mask), one jitted function
   computes the output and the gradient of a scalar loss ``sum(out * w)``
   (``w`` a fixed random cotangent) w.r.t. every trainable weight and the
   input. It runs with the same weights (the initial ones plus noise, so zero
   initialisers such as peepholes are exercised) once on the CPU
   (``jax.devices("cpu")``, the reference) and once on the GPU, both with
   ``jax.default_matmul_precision("highest")`` (true float32: JAX otherwise
   uses TF32 for float32 matmuls on recent GPUs, about 1e-3 relative). The
   error of each tensor is ``||gpu - cpu|| / max(||cpu||, 1e-6)`` (the floor
   keeps tensors near zero from dividing by ~0); a case fails if its largest
   error exceeds 1e-4, or anything is not finite. The error of the GPU run at
   JAX's default precision (TF32) is printed beside it for information only.

2. Throughput. The train step of ``Input((T, D)) -> layer -> Dense(1)``
   (Adam, MSE) for rnnx `LSTM`, `PeepholeLSTM`, `GRU`,
   `ClockworkRNN(512, num_modules=8)` and ``keras.layers.LSTM`` on JAX, both
   as a user gets it (on a GPU Keras 3.15 runs it through cuDNN,
   ``jax.experimental.rnn``) and with ``use_cudnn=False`` (a ``lax.scan``
   loop like rnnx's), and of ``torch.nn.LSTM`` + ``nn.Linear`` (cuDNN;
   forward, backward and ``torch.optim.Adam`` step) at B=64, T=100,
   D=U=512, in float32 and bfloat16. The JAX step is what ``model.fit``
   runs: one ``jax.jit`` of ``model.stateless_call`` + ``jax.value_and_grad``
   + the Keras optimizer's ``stateless_apply``, the state donated; each timed
   step blocks until the new weights are ready. bfloat16 is the Keras
   ``mixed_bfloat16`` policy (float32 weights, bfloat16 compute) and
   ``torch.autocast(dtype=bfloat16)`` (falling back to ``.bfloat16()``
   weights if autocast fails or leaves the LSTM in float32; the JSON says
   which). Each framework runs at its defaults for float32 (TF32 matmuls on
   both, recorded in the JSON). The figure is the median of ``--steps``
   steps after warm-up; torch runs in a subprocess, so a failure there
   cannot take the JAX rows with it. A Keras reference row that Keras itself
   cannot run (its cuDNN LSTM on JAX rejects bfloat16) is reported as
   "unsupported", not as an error. Ratios are speed-ups, ``reference ms /
   row ms``. Targets (printed PASS / MISS, never failing the run): rnnx
   `LSTM` >= 0.5x torch cuDNN and >= 1.0x ``keras.layers.LSTM`` on JAX, in
   each dtype; the ratio to the ``use_cudnn=False`` scan is printed beside
   them for information.

Everything is written to ``--out``: ``gpu_check.json`` (rewritten after each
case and row, so a run cut short keeps what it measured) and
``gpu_check.txt`` (the tables). Exit status: 0 when every correctness case
passes and no row errored (a target MISS included), 1 otherwise.

Usage:

    KERAS_BACKEND=jax python3 scripts/gpu_check.py --out /tmp/gpu_check   # on a GPU
    KERAS_BACKEND=jax python scripts/gpu_check.py --device cpu --quick --out /tmp/x  # smoke

``--device cpu`` runs everything on the CPU (the correctness part then compares
the CPU with itself; torch is skipped with a message if not installed);
``--quick`` (the smoke test's mode) uses tiny throughput sizes (B=4, T=8,
D=U=16, Clockwork 4 modules), 3 timed steps, bfloat16 for the two target rows
only, and leaves out the masked correctness cases. ``--budget-s`` (default 400) is the wall time after which
the remaining throughput rows are skipped (recorded as such), so the run ends
inside ``gpu_check.sh``'s ``timeout 450``.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

START = time.perf_counter()
TOLERANCE = 1e-4
NORM_FLOOR = 1e-6

# -- torch worker (runs in its own process, imports no JAX) -------------------


def torch_rows(args):
    """Time ``torch.nn.LSTM`` train steps; returns a list of row dicts."""
    import torch

    cuda = args.device == "gpu"
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("torch sees no CUDA device")
    dev = torch.device("cuda" if cuda else "cpu")
    info = {
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cudnn_available": bool(torch.backends.cudnn.is_available()),
        "cudnn_enabled": bool(torch.backends.cudnn.enabled),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor(),
    }
    if cuda:
        torch.backends.cudnn.benchmark = True
    rows = []
    for dtype in args.dtypes:
        label = "torch.nn.LSTM (cuDNN)" if cuda else "torch.nn.LSTM (CPU)"
        try:
            row = _torch_row(torch, dev, dtype, args)
        except Exception as exc:  # one dtype failing leaves the other
            traceback.print_exc()
            row = {"error": f"{type(exc).__name__}: {exc}"}
        row.update(name="torch_lstm", label=label, dtype=dtype, **info)
        rows.append(row)
    return rows


def _torch_row(torch, dev, dtype, args):
    cuda = dev.type == "cuda"
    b, t, d, u = args.batch, args.timesteps, args.features, args.units
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(d, u, batch_first=True).to(dev)
    head = torch.nn.Linear(u, 1).to(dev)
    x = torch.randn(b, t, d, device=dev)
    y = torch.randn(b, 1, device=dev)
    mode = "float32"
    autocast = contextlib.nullcontext
    if dtype == "bfloat16":
        mode = "autocast"

        def autocast():
            return torch.autocast(dev.type, dtype=torch.bfloat16)

        try:
            with autocast():
                probe, _ = lstm(x)
                probe.float().sum().backward()
            failure = None if probe.dtype == torch.bfloat16 else f"output {probe.dtype}"
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if failure:
            mode = f"bfloat16 weights (autocast: {failure})"
            lstm, head, x = lstm.bfloat16(), head.bfloat16(), x.bfloat16()
            autocast = contextlib.nullcontext
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            out, _ = lstm(x)
            pred = head(out[:, -1])
        loss = torch.nn.functional.mse_loss(pred.float(), y)
        loss.backward()
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        return loss

    row = time_steps(step, args)
    row.update(torch_mode=mode, params=sum(p.numel() for p in params))
    return row


def time_steps(step, args, extra=None):
    """First step (compilation), warm-up, then the median of ``args.steps``."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return {
        "first_step_s": first,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "steps_ms": times,
        **(extra or {}),
    }


# -- argument parsing -----------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="/tmp/gpu_check", help="output folder")
    p.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--quick", action="store_true", help="tiny throughput sizes")
    p.add_argument("--steps", type=int, default=None, help="timed steps (50; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (5; quick 1)")
    p.add_argument("--budget-s", type=float, default=400.0,
                   help="skip throughput rows that would start after this wall time")
    p.add_argument("--skip-correctness", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.timesteps, args.features, args.units = 4, 8, 16, 16
        args.cw_units, args.cw_modules = 16, 4
    else:
        args.batch, args.timesteps, args.features, args.units = 64, 100, 512, 512
        args.cw_units, args.cw_modules = 512, 8
    if args.steps is None:
        args.steps = 3 if args.quick else 50
    if args.warmup is None:
        args.warmup = 1 if args.quick else 5
    args.dtypes = ("float32", "bfloat16")
    return args


def sizes(args):
    return {k: getattr(args, k) for k in ("batch", "timesteps", "features", "units")}


if __name__ == "__main__" and "--torch-worker" in sys.argv:
    _args = parse_args()
    try:
        _result = {"rows": torch_rows(_args)}
    except Exception as exc:  # reported by the parent
        _result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print("TORCH_RESULT " + json.dumps(_result))
    sys.exit(0)

# -- JAX side --------------------------------------------------------------------

if os.environ.setdefault("KERAS_BACKEND", "jax") != "jax":
    sys.exit(f"gpu_check.py runs on the JAX backend; KERAS_BACKEND={os.environ['KERAS_BACKEND']}")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_rnnx  # noqa: E402
from keras_rnnx.layers.base import RecurrentCell  # noqa: E402
from keras_rnnx.layers.base import RecurrentLayer  # noqa: E402

if keras.backend.backend() != "jax":
    sys.exit(f"Keras runs on {keras.backend.backend()}, not jax: set KERAS_BACKEND=jax")

B, T, D, U = 4, 7, 5, 8


def layer_classes():
    """Every public layer class of `keras_rnnx.layers` (cells and bases excluded)."""
    found = []
    for name in sorted(dir(keras_rnnx.layers)):
        obj = getattr(keras_rnnx.layers, name)
        if not (isinstance(obj, type) and issubclass(obj, keras.layers.Layer)):
            continue
        if obj is RecurrentLayer or issubclass(obj, RecurrentCell) or name.endswith("Cell"):
            continue
        found.append(name)
    return found


def _mask():
    mask = np.ones((B, T), dtype=bool)
    mask[1, 5:] = False  # a short row
    mask[2, 2:4] = False  # a gap inside
    mask[3, 0] = False  # a masked first step
    return mask


def correctness_cases(masks=True):
    """``name -> (layer factory, input shape, mask or None)``; one per class, plus masks."""
    L = keras_rnnx.layers
    seq = (B, T, D)
    cases = {
        "LSTM": (lambda: L.LSTM(U, return_sequences=True), seq, None),
        "LSTM[mask]": (lambda: L.LSTM(U, return_sequences=True), seq, _mask()),
        "PeepholeLSTM": (lambda: L.PeepholeLSTM(U, return_sequences=True), seq, None),
        "CIFGLSTM": (lambda: L.CIFGLSTM(U, return_sequences=True), seq, None),
        "GRU": (lambda: L.GRU(U, return_sequences=True), seq, None),
        "GRU[mask]": (lambda: L.GRU(U, return_sequences=True), seq, _mask()),
        "MUT1": (lambda: L.MUT1(U, return_sequences=True), (B, T, U), None),
        "MUT2": (lambda: L.MUT2(U, return_sequences=True), (B, T, U), None),
        "MUT3": (lambda: L.MUT3(U, return_sequences=True), seq, None),
        "ClockworkRNN": (
            lambda: L.ClockworkRNN(U, num_modules=4, return_sequences=True), seq, None
        ),
        "ClockworkRNN[mask]": (
            lambda: L.ClockworkRNN(U, num_modules=4, return_sequences=True), seq, _mask()
        ),
        "GridLSTM2D": (lambda: L.GridLSTM2D(U, depth=2, return_sequences=True), seq, None),
        "GridLSTM1D": (lambda: L.GridLSTM1D(U, depth=2), (B, D), None),
        "DepthGatedLSTM": (
            lambda: L.DepthGatedLSTM(U, num_layers=2, return_sequences=True), seq, None
        ),
    }
    if not masks:
        cases = {k: v for k, v in cases.items() if v[2] is None}
    for name in layer_classes():
        if name in cases:
            continue
        cls = getattr(L, name)
        if issubclass(cls, RecurrentLayer):  # a new recurrent layer: its defaults
            cases[name] = (lambda cls=cls: cls(U, return_sequences=True), seq, None)
        else:
            cases[name] = (None, None, None)  # reported as an error
    return cases


def rel_err(a, b):
    """``||a - b|| / max(||b||, 1e-6)`` in float64; inf if either is not finite."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), NORM_FLOOR))


def _random_weight(rng, variable):
    """Biases and vectors (peepholes) ~ N(0, 0.3^2); matrices ~ N(0, 1 / rows)."""
    shape = tuple(variable.shape)
    if len(shape) < 2 or "bias" in variable.name:
        scale = 0.3
    else:
        scale = 1.0 / np.sqrt(shape[0])
    return (scale * rng.standard_normal(shape)).astype(variable.dtype)


def _precision(name):
    return contextlib.nullcontext() if name is None else jax.default_matmul_precision(name)


def check_case(name, factory, shape, mask, target, cpu):
    """Output and gradients on ``cpu`` and ``target``; returns the case record."""
    rng = np.random.default_rng(0)
    # Built in a stateless scope the weights get shapes but no values (their
    # initialisers, one eager compilation per shape, would cost more than the
    # check): the values are drawn here instead, the same for both devices.
    with jax.default_device(cpu), keras.StatelessScope(initialize_variables=False):
        layer = factory()
        layer.build(shape)
    trainable = [_random_weight(rng, v) for v in layer.trainable_variables]
    non_trainable = [
        np.zeros(v.shape, v.dtype) if v._value is None else np.asarray(v.value)
        for v in layer.non_trainable_variables
    ]
    names = [v.path for v in layer.trainable_variables]
    x = rng.standard_normal(shape).astype("float32")
    out_shape = tuple(layer.compute_output_shape(shape))
    cotangent = rng.standard_normal(out_shape).astype("float32")

    def loss(tv, x, ntv, mask, cot):
        kw = {} if mask is None else {"mask": mask}
        out, _ = layer.stateless_call(tv, ntv, x, **kw)
        return jnp.sum(out.astype("float32") * cot), out

    def forward_and_grads(tv, x, ntv, mask, cot):
        (_, out), (g_tv, g_x) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
            tv, x, ntv, mask, cot
        )
        return out, g_tv, g_x

    inputs = (trainable, x, non_trainable, mask, cotangent)

    def run(device, precision):
        # Traced under `jax.default_device(device)`: a layer that picks a
        # device-specific kernel (the LSTM's cuDNN dispatch) sees where it runs.
        with _precision(precision), jax.default_device(device):
            result = jax.jit(forward_and_grads)(*jax.device_put(inputs, device))
            return jax.tree.map(np.asarray, result)

    ref = run(cpu, "highest")
    got = run(target, "highest")
    record = {
        "case": name,
        "layer": name.split("[")[0],
        "input_shape": list(shape),
        "masked": mask is not None,
        "forward": rel_err(got[0], ref[0]),
        "input_grad": rel_err(got[2], ref[2]),
        "grads": {n: rel_err(g, r) for n, g, r in zip(names, got[1], ref[1])},
    }
    record["max_rel_err"] = max(
        [record["forward"], record["input_grad"], *record["grads"].values()]
    )
    if target.platform != "cpu":  # informational: JAX's default (TF32) precision
        fast = run(target, None)
        record["default_precision_max_rel_err"] = max(
            [rel_err(fast[0], ref[0]), rel_err(fast[2], ref[2])]
            + [rel_err(g, r) for g, r in zip(fast[1], ref[1])]
        )
    record["ok"] = bool(record["max_rel_err"] <= TOLERANCE)
    return record


# -- JAX throughput ---------------------------------------------------------------


def jax_contestants(args):
    """``name -> (label, factory)`` of the JAX rows, in table order."""
    L = keras_rnnx.layers
    return {
        "keras_lstm": ("keras.layers.LSTM (JAX)", lambda: keras.layers.LSTM(args.units)),
        "keras_lstm_scan": (
            "keras.layers.LSTM(use_cudnn=False) (JAX)",
            lambda: keras.layers.LSTM(args.units, use_cudnn=False),
        ),
        "rnnx_lstm": ("rnnx LSTM", lambda: L.LSTM(args.units)),
        "rnnx_peephole": ("rnnx PeepholeLSTM", lambda: L.PeepholeLSTM(args.units)),
        "rnnx_gru": ("rnnx GRU", lambda: L.GRU(args.units)),
        "rnnx_clockwork": (
            f"rnnx ClockworkRNN({args.cw_units}, num_modules={args.cw_modules})",
            lambda: L.ClockworkRNN(args.cw_units, num_modules=args.cw_modules),
        ),
    }


def jax_row(name, label, factory, dtype, args, device):
    policy = "mixed_bfloat16" if dtype == "bfloat16" else "float32"
    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)
    try:
        with jax.default_device(device):
            model = keras.Sequential(
                [
                    keras.Input((args.timesteps, args.features)),
                    factory(),
                    keras.layers.Dense(1),
                ]
            )
            optimizer = keras.optimizers.Adam(1e-3)
            optimizer.build(model.trainable_variables)
    finally:
        keras.config.set_dtype_policy("float32")
    rng = np.random.default_rng(0)
    x = jax.device_put(
        rng.standard_normal((args.batch, args.timesteps, args.features), dtype=np.float32),
        device,
    )
    y = jax.device_put(rng.standard_normal((args.batch, 1), dtype=np.float32), device)
    state = jax.device_put(
        (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables],
        ),
        device,
    )

    def train_step(state, x, y):
        tv, ntv, ov = state

        def loss_fn(tv):
            pred, new_ntv = model.stateless_call(tv, ntv, x, training=True)
            return jnp.mean(jnp.square(pred.astype("float32") - y)), new_ntv

        (loss, new_ntv), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv)
        new_tv, new_ov = optimizer.stateless_apply(ov, grads, tv)
        return (new_tv, new_ntv, new_ov), loss

    jitted = jax.jit(train_step, donate_argnums=0)
    holder = {"state": state}

    def step():
        holder["state"], loss = jitted(holder["state"], x, y)
        jax.block_until_ready((holder["state"], loss))

    row = time_steps(step, args)
    row.update(
        name=name,
        label=label,
        dtype=dtype,
        policy=policy,
        params=model.count_params(),
        compute_dtype=str(model.layers[0].compute_dtype),
    )
    return row


def run_torch(args, timeout):
    """torch rows from a subprocess, or a list of error rows."""
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--device", args.device,
           "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.quick:
        cmd.append("--quick")
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return [], "torch is not installed: torch rows skipped"
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], f"torch worker timed out after {timeout:.0f} s"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("TORCH_RESULT ")]
    if not lines:
        tail = (proc.stdout + proc.stderr)[-3000:]
        return [_error_row("torch_lstm", "torch.nn.LSTM", d, f"rc={proc.returncode}: {tail}")
                for d in args.dtypes], None
    result = json.loads(lines[-1][len("TORCH_RESULT "):])
    if "error" in result:
        print(result["traceback"], file=sys.stderr)
        return [_error_row("torch_lstm", "torch.nn.LSTM", d, result["error"])
                for d in args.dtypes], None
    return result["rows"], None


def _error_row(name, label, dtype, error):
    return {"name": name, "label": label, "dtype": dtype, "error": error}


# The Keras reference rows: their failure (Keras' own limits, e.g. its cuDNN
# path on JAX rejecting bfloat16) is reported as "unsupported", not an error
# of this check.
KERAS_REFERENCES = ("keras_lstm", "keras_lstm_scan")
RATIOS = (
    ("vs_keras_lstm", "keras_lstm"),
    ("vs_keras_lstm_scan", "keras_lstm_scan"),
    ("vs_torch_cudnn", "torch_lstm"),
)


def add_ratios(rows):
    """Speed-ups ``reference ms / row ms`` vs the Keras LSTMs (JAX) and torch, per dtype."""
    by = {(r["name"], r["dtype"]): r for r in rows}
    for r in rows:
        for key, ref in RATIOS:
            other = by.get((ref, r["dtype"]), {})
            r[key] = (
                other["median_ms"] / r["median_ms"]
                if "median_ms" in other and "median_ms" in r
                else None
            )


def targets(rows, dtypes):
    """The issue's targets for rnnx LSTM, per dtype: PASS / MISS / n/a.

    "keras.layers.LSTM on JAX" is the layer as a user gets it (on a GPU Keras
    runs it through cuDNN, ``jax.experimental.rnn``, where it can); its
    ``use_cudnn=False`` scan, the same kind of loop as rnnx's, is given beside
    it for information.
    """
    by = {(r["name"], r["dtype"]): r for r in rows}
    out = []
    for dtype in dtypes:
        row = by.get(("rnnx_lstm", dtype), {})
        for key, ref, goal, info in (
            ("vs_torch_cudnn", "torch.nn.LSTM (cuDNN)", 0.5, False),
            ("vs_keras_lstm", "keras.layers.LSTM (JAX)", 1.0, False),
            ("vs_keras_lstm_scan", "keras.layers.LSTM(use_cudnn=False) (JAX)", 1.0, True),
        ):
            value = row.get(key)
            if value is None and key == "vs_keras_lstm" and "unsupported" in by.get(
                ("keras_lstm", dtype), {}
            ):  # what a user of this dtype must run instead
                value = row.get("vs_keras_lstm_scan")
                ref += f" (unsupported in {dtype}: against use_cudnn=False)"
            status = "n/a" if value is None else ("PASS" if value >= goal else "MISS")
            out.append({
                "dtype": dtype,
                "target": f"rnnx LSTM >= {goal}x {ref}" + (" (info)" if info else ""),
                "value": value,
                "status": status,
                "info_only": info,
            })
    return out


# -- report ------------------------------------------------------------------------


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def _note(row):
    for key in ("error", "unsupported", "skipped"):
        if key in row:
            return f"{key}: {row[key]}" if key != "skipped" else row[key]
    return row.get("torch_mode", "") if row.get("torch_mode", "").startswith("bfloat16") else ""


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def report_text(result):
    parts = [f"keras-rnnx GPU check ({result['device']}: {result['device_name']})"]
    if result.get("correctness"):
        rows = [
            (c["case"], "ERROR" if "error" in c else ("ok" if c["ok"] else "FAIL"),
             _fmt(c.get("forward"), ".1e"),
             _fmt(max(c["grads"].values()) if c.get("grads") else None, ".1e"),
             _fmt(c.get("input_grad"), ".1e"), _fmt(c.get("max_rel_err"), ".1e"),
             _fmt(c.get("default_precision_max_rel_err"), ".1e"))
            for c in result["correctness"]
        ]
        parts += ["", f"Correctness vs CPU (tolerance {TOLERANCE:g}, matmul precision highest)",
                  _table(("case", "status", "forward", "max weight grad", "input grad",
                          "max", "TF32 max (info)"), rows)]
    if result.get("throughput"):
        rows = [
            (r["label"], r["dtype"], _fmt(r.get("median_ms"), ".2f"),
             _fmt(result["sizes"]["batch"] / r["median_ms"] * 1e3 if r.get("median_ms") else None,
                  ".0f"),
             _fmt(r.get("first_step_s"), ".1f"), _fmt(r.get("vs_keras_lstm"), ".2f"),
             _fmt(r.get("vs_keras_lstm_scan"), ".2f"), _fmt(r.get("vs_torch_cudnn"), ".2f"),
             _note(r)[:60])
            for r in result["throughput"]
        ]
        s = result["sizes"]
        parts += ["", f"Train-step throughput, B={s['batch']} T={s['timesteps']} "
                  f"D={s['features']} U={s['units']} (median of {result['steps']} steps)",
                  _table(("row", "dtype", "ms/step", "seq/s", "1st step s",
                          "vs keras LSTM", "vs keras scan", "vs torch", "note"), rows)]
        parts += ["", "Targets"] + [
            f"  {t['status']:4}  {t['dtype']:8}  {t['target']}: {_fmt(t['value'], '.2f')}x"
            for t in result["targets"]
        ]
    for note in result.get("notes", []):
        parts.append(f"note: {note}")
    parts.append(f"\nresult: {'OK' if result['ok'] else 'FAILED'} in {result['wall_s']:.0f} s")
    return "\n".join(parts)


def write(result, out):
    result["wall_s"] = time.perf_counter() - START
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gpu_check.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    with open(os.path.join(out, "gpu_check.txt"), "w") as f:
        f.write(report_text(result) + "\n")


def main():
    args = parse_args()
    cpu = jax.devices("cpu")[0]
    target = cpu
    if args.device == "gpu":
        errors = []
        for backend in ("gpu", "cuda"):
            try:
                target = jax.devices(backend)[0]
                break
            except RuntimeError as exc:
                errors.append(str(exc))
        else:
            sys.exit(f"no JAX GPU device ({errors}); use --device cpu for a CPU smoke run")
    result = {
        "device": args.device,
        "device_name": getattr(target, "device_kind", str(target)),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "keras_rnnx": keras_rnnx.__version__,
        },
        "jax_default_matmul_precision": str(
            getattr(jax.config, "jax_default_matmul_precision", "?")
        ),
        "sizes": sizes(args),
        "steps": args.steps,
        "warmup": args.warmup,
        "tolerance": TOLERANCE,
        "correctness": [],
        "throughput": [],
        "targets": [],
        "notes": [],
        "ok": True,
    }
    print(f"JAX {jax.__version__} devices: {jax.devices()}; target {target}", flush=True)

    if not args.skip_correctness:
        for name, (factory, shape, mask) in correctness_cases(not args.quick).items():
            start = time.perf_counter()
            if factory is None:
                record = {"case": name, "layer": name, "ok": False,
                          "error": "no correctness case for this layer class in gpu_check.py"}
            else:
                try:
                    record = check_case(name, factory, shape, mask, target, cpu)
                except Exception as exc:
                    traceback.print_exc()
                    record = {"case": name, "layer": name.split("[")[0], "ok": False,
                              "error": f"{type(exc).__name__}: {exc}"}
            record["seconds"] = time.perf_counter() - start
            result["correctness"].append(record)
            result["ok"] &= record["ok"]
            print(f"correctness {name:20} {'ok  ' if record['ok'] else 'FAIL'} "
                  f"max rel err {_fmt(record.get('max_rel_err'), '.1e')} "
                  f"(TF32: {_fmt(record.get('default_precision_max_rel_err'), '.1e')}) "
                  f"{record.get('error', '')} [{record['seconds']:.1f} s]", flush=True)
            write(result, args.out)

    if not args.skip_throughput:
        contestants = jax_contestants(args)
        rows = result["throughput"]
        elapsed = time.perf_counter() - START
        torch_rows_, note = run_torch(args, timeout=max(30.0, args.budget_s - elapsed))
        if note:
            result["notes"].append(note)
            print(note, flush=True)
        rows += torch_rows_
        for r in torch_rows_:
            print(f"throughput {r['label']:40} {r['dtype']:8} "
                  f"{_fmt(r.get('median_ms'), '.2f')} ms {_note(r)}", flush=True)
        # The target rows first (both dtypes), then the others (--quick: in
        # float32 only, to keep the smoke test short).
        other_dtypes = args.dtypes[:1] if args.quick else args.dtypes
        order = [(n, d) for d in args.dtypes for n in ("keras_lstm", "rnnx_lstm")]
        order += [(n, d) for d in other_dtypes
                  for n in ("keras_lstm_scan", "rnnx_peephole", "rnnx_gru", "rnnx_clockwork")]
        for name, dtype in order:
            label, factory = contestants[name]
            if time.perf_counter() - START > args.budget_s:
                row = {"name": name, "label": label, "dtype": dtype,
                       "skipped": f"skipped: past the {args.budget_s:.0f} s budget"}
            else:
                try:
                    row = jax_row(name, label, factory, dtype, args, target)
                except Exception as exc:
                    message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    if name in KERAS_REFERENCES:
                        row = {"name": name, "label": label, "dtype": dtype,
                               "unsupported": message}
                    else:
                        traceback.print_exc()
                        row = _error_row(name, label, dtype, message)
            rows.append(row)
            print(f"throughput {label:40} {dtype:8} {_fmt(row.get('median_ms'), '.2f')} ms "
                  f"(1st step {_fmt(row.get('first_step_s'), '.1f')} s) {_note(row)}",
                  flush=True)
            write(result, args.out)
        rank = {n: i for i, n in enumerate(["torch_lstm", *contestants])}
        rows.sort(key=lambda r: (args.dtypes.index(r["dtype"]), rank[r["name"]]))
        add_ratios(rows)
        result["targets"] = targets(rows, args.dtypes)
        result["ok"] &= not any("error" in r for r in rows)
        if args.device == "cpu" or args.quick:
            result["notes"].append(
                "the targets are for the GPU at B=64 T=100 D=U=512; this run only "
                "exercises the code"
            )
    write(result, args.out)
    print()
    print(report_text(result))
    print(f"\nwritten: {os.path.join(args.out, 'gpu_check.json')}, gpu_check.txt")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
