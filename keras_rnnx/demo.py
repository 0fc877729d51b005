"""A short shoot-out of the keras-rnnx layers on the adding problem.

Each variant is the same small model, ``Input((T, 2)) -> recurrent layer ->
Dense(1)``, trained with Adam on the MSE for a few epochs on data generated in
process by `keras_rnnx.datasets.adding_problem`, then scored on a held-out set.
Every variant starts from the same seed. The table gives the test MSE, also
divided by the MSE of the trivial baseline on the same test set (always
predicting 1.0 scores 1/6 ~= 0.1667 in expectation, so a ratio near 1 means
nothing was learned), the number of parameters, the training throughput and
the wall time.

Run it as ``rnnx demo`` (see ``rnnx demo --help``) or from Python:

>>> from keras_rnnx.demo import run_demo, format_table
>>> results = run_demo(timesteps=10, samples=64, epochs=1, only=["gru"])  # doctest: +SKIP
>>> print(format_table(results))  # doctest: +SKIP
"""

import dataclasses
import logging
import sys
import time

import keras
import numpy as np

from keras_rnnx import layers
from keras_rnnx.datasets import adding_problem
from keras_rnnx.validation import check_float
from keras_rnnx.validation import check_int

DEFAULTS = {
    "timesteps": 100,
    "epochs": 5,
    "samples": 4000,
    "test_samples": 1000,
    "units": 32,
    "batch_size": 32,
    "learning_rate": 1e-2,
    "seed": 0,
}
"""Defaults of `run_demo` and of ``rnnx demo``: about 3-5 minutes on 2 CPU cores."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """One contestant: a name, a description and a layer factory.

    Attributes:
        name: the key used by ``--only``.
        description: what the variant is, for the table.
        make_layer: ``make_layer(units) -> keras.layers.Layer``.
        project_inputs: if True, a ``Dense(units)`` maps the 2 input features
            to ``units`` before the recurrent layer (MUT1 and MUT2 add the
            input itself to a pre-activation and need input size == units).
    """

    name: str
    description: str
    make_layer: object
    project_inputs: bool = False


def _lstm(**options):
    return lambda units: layers.LSTM(units, **options)


VARIANTS = {
    v.name: v
    for v in (
        Variant("lstm", "LSTM (plain, = keras.layers.LSTM)", _lstm()),
        Variant("peephole", "PeepholeLSTM (Greff's vanilla)", layers.PeepholeLSTM),
        Variant("cifg", "CIFGLSTM (i = 1 - f)", layers.CIFGLSTM),
        Variant("nig", "LSTM, no input gate", _lstm(input_gate=False)),
        Variant("nfg", "LSTM, no forget gate", _lstm(forget_gate=False)),
        Variant("nog", "LSTM, no output gate", _lstm(output_gate=False)),
        Variant("niaf", "LSTM, no input activation", _lstm(input_activation=False)),
        Variant("noaf", "LSTM, no output activation", _lstm(output_activation=False)),
        Variant("fgr", "LSTM, full gate recurrence", _lstm(full_gate_recurrence=True)),
        Variant("layer_norm", "LSTM, layer normalisation", _lstm(layer_norm=True)),
        Variant("chrono", "LSTM, chrono init (T_max=100)", _lstm(chrono_init=100)),
        Variant("gru", "GRU, reset_after=True", lambda u: layers.GRU(u, reset_after=True)),
        Variant(
            "gru_reset_before",
            "GRU, reset_after=False",
            lambda u: layers.GRU(u, reset_after=False),
        ),
        Variant("mut1", "Dense(units) -> MUT1", layers.MUT1, project_inputs=True),
        Variant("mut2", "Dense(units) -> MUT2", layers.MUT2, project_inputs=True),
        Variant("mut3", "MUT3", layers.MUT3),
    )
}
"""Every variant of the demo, in table order, keyed by its ``--only`` name."""


def build_model(variant, timesteps, units):
    """The demo model of ``variant``: ``(T, 2) -> [Dense] -> RNN -> Dense(1)``."""
    stack = [keras.Input((timesteps, 2))]
    if variant.project_inputs:
        stack.append(keras.layers.Dense(units, name="input_projection"))
    stack.append(variant.make_layer(units))
    stack.append(keras.layers.Dense(1, name="head"))
    return keras.Sequential(stack, name=variant.name)


class _ThroughputTimer(keras.callbacks.Callback):
    """Times training from the end of the first batch (compilation) to the end."""

    def __init__(self):
        super().__init__()
        self.first_batch_end = None
        self.train_end = None

    def on_train_batch_end(self, batch, logs=None):
        if self.first_batch_end is None:
            self.first_batch_end = time.perf_counter()

    def on_train_end(self, logs=None):
        self.train_end = time.perf_counter()


def _resolve_names(only):
    if only is None:
        return list(VARIANTS)
    names = []
    for name in only:
        if name not in VARIANTS:
            raise ValueError(
                f"Argument `only` contains the unknown variant {name!r}. Choose "
                f"among: {', '.join(VARIANTS)}."
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError(
            "Argument `only` is empty. Pass at least one variant name, e.g. "
            "only=['lstm', 'gru'], or None for all of them."
        )
    return names


def run_demo(
    timesteps=DEFAULTS["timesteps"],
    epochs=DEFAULTS["epochs"],
    samples=DEFAULTS["samples"],
    units=DEFAULTS["units"],
    only=None,
    seed=DEFAULTS["seed"],
    batch_size=DEFAULTS["batch_size"],
    learning_rate=DEFAULTS["learning_rate"],
    test_samples=DEFAULTS["test_samples"],
    log=None,
):
    """Train and score each variant on the adding problem.

    The training set is ``adding_problem(samples, timesteps, seed)`` and the
    test set ``adding_problem(test_samples, timesteps, seed + 1)``. Before each
    variant the Keras seed is reset to ``seed``, so every variant sees the
    same shuffling and draws its initial weights from the same stream.

    Args:
        timesteps: int >= 2, sequence length.
        epochs: int >= 1.
        samples: int >= 1, training sequences.
        units: int >= 1, units of the recurrent layer.
        only: list of variant names (keys of `VARIANTS`), or None for all.
        seed: int >= 0, seed of the data and of Keras.
        batch_size: int >= 1.
        learning_rate: float > 0, Adam's learning rate.
        test_samples: int >= 1, held-out sequences.
        log: a text stream for one progress line per variant, or None.

    Returns:
        A list of dicts, one per variant, with keys ``name``, ``description``,
        ``params`` (of the whole model), ``test_mse``, ``baseline_mse`` (MSE
        of always predicting 1.0 on the same test set), ``samples_per_s``
        (training throughput after the first batch, None when training had
        a single batch), ``wall_s`` (build, training and scoring).

    Raises:
        ValueError: for an unknown or empty ``only`` or an argument out of
            range; the message names the argument.
    """
    names = _resolve_names(only)
    for name, value in (
        ("epochs", epochs),
        ("samples", samples),
        ("units", units),
        ("batch_size", batch_size),
        ("test_samples", test_samples),
    ):
        check_int(name, value, 1)
    check_float("learning_rate", learning_rate, 0, min_inclusive=False, fix="Pass e.g. learning_rate=0.01.")
    x, y = adding_problem(samples, timesteps, seed)
    x_test, y_test = adding_problem(test_samples, timesteps, seed + 1)
    baseline_mse = float(np.mean((y_test.astype(np.float64) - 1.0) ** 2))
    results = []
    for index, name in enumerate(names, start=1):
        variant = VARIANTS[name]
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        model = build_model(variant, timesteps, units)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss="mse",
        )
        timer = _ThroughputTimer()
        model.fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer]
        )
        test_mse = float(model.evaluate(x_test, y_test, batch_size=250, verbose=0))
        wall = time.perf_counter() - start
        first_batch = min(batch_size, samples)
        timed_samples = samples * epochs - first_batch
        throughput = None
        if timed_samples > 0:
            throughput = timed_samples / (timer.train_end - timer.first_batch_end)
        results.append(
            {
                "name": name,
                "description": variant.description,
                "params": model.count_params(),
                "test_mse": test_mse,
                "baseline_mse": baseline_mse,
                "samples_per_s": throughput,
                "wall_s": wall,
            }
        )
        keras.backend.clear_session()
        if log is not None:
            print(
                f"[{index}/{len(names)}] {name}: test MSE {test_mse:.4f}, "
                f"{wall:.1f} s",
                file=log,
                flush=True,
            )
    return results


def format_table(results):
    """Format `run_demo` results as a plain-text table, best test MSE first."""
    header = ("name", "layer", "params", "test MSE", "/ baseline", "samples/s", "wall s")
    rows = []
    for r in sorted(results, key=lambda r: r["test_mse"]):
        speed = "-" if r["samples_per_s"] is None else f"{r['samples_per_s']:.0f}"
        rows.append(
            (
                r["name"],
                r["description"],
                f"{r['params']:,}",
                f"{r['test_mse']:.4f}",
                f"{r['test_mse'] / r['baseline_mse']:.3f}",
                speed,
                f"{r['wall_s']:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}

    def line(cells):
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    baselines = sorted({f"{r['baseline_mse']:.4f}" for r in results})
    out.append(
        "/ baseline: test MSE divided by the MSE of always predicting 1.0 on "
        f"the same test set ({', '.join(baselines)}; 1/6 in expectation). "
        "Near 1: nothing learned."
    )
    return "\n".join(out)


class _DropRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning, only that.

    Each variant is a new model with new ``tf.function``s built from the same
    Keras code, which TensorFlow counts as retracing the same function; the
    warning is expected here and says nothing about the layers.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def main(args, out=None):
    """Run the demo for the parsed ``rnnx demo`` arguments and print the table."""
    out = sys.stdout if out is None else out
    tf_logger = logging.getLogger("tensorflow")
    retracing_filter = _DropRetracingWarning()
    tf_logger.addFilter(retracing_filter)
    try:
        return _main(args, out)
    finally:
        tf_logger.removeFilter(retracing_filter)


def _main(args, out):
    names = _resolve_names(args.only)
    print(
        f"keras-rnnx demo: adding problem, T={args.timesteps}, "
        f"{args.samples} training / {DEFAULTS['test_samples']} test sequences, "
        f"{args.epochs} epochs, {args.units} units, batch {args.batch_size}, "
        f"Adam lr={args.learning_rate}, seed {args.seed}, "
        f"backend {keras.backend.backend()}.",
        file=out,
    )
    projected = [n for n in names if VARIANTS[n].project_inputs]
    if projected:
        print(
            f"Note: {', '.join(projected)} need input size == units, so a "
            f"Dense({args.units}) projects the 2 input features first.",
            file=out,
        )
    print(file=out, flush=True)
    start = time.perf_counter()
    results = run_demo(
        timesteps=args.timesteps,
        epochs=args.epochs,
        samples=args.samples,
        units=args.units,
        only=names,
        seed=args.seed,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        log=out,
    )
    print(file=out)
    print(format_table(results), file=out)
    print(f"Total wall time: {time.perf_counter() - start:.1f} s", file=out, flush=True)
    return 0
