"""k-bit parity with a 1-D Grid LSTM along depth (Kalchbrenner et al. 2015, section 4.1).

The input is k random bits given all at once (a vector of +-1, no sequence);
the target is their parity. Models at about the same parameter count:

* ``grid1d``: `GridLSTM1D(units, depth, tied=True)` -> Dense(1, sigmoid), the
  paper's network (tied weights: the depth costs no parameters);
* ``mlp``: a tanh MLP of the same depth, width chosen to match the count;
* ``lstm``: a stacked `keras.layers.LSTM` (two layers) reading the bits one
  per step, width chosen to match the count.

Each model trains on fresh random batches (Adam) and is scored on 2,000
held-out strings of uniform random bits. Prints a table and writes
``docs/img/grid_parity.png``.

Options for larger k (off by default): ``--curriculum F`` trains the first
``F * steps`` steps on sparse strings, each with ``c`` ones at random
positions, ``c`` uniform in ``[0, m]``, ``m`` growing linearly from 2 to k
(then uniform bits; the test strings are always uniform);
``--lr-schedule cosine`` decays the learning rate to 5 % of ``--lr``;
``--models`` picks a subset; ``--log-every N`` prints the held-out accuracy
during training.

Small default (about a minute on 2 CPU cores)::

    python scripts/experiments/grid_parity.py

Larger k (as in the issue: k up to at least 50; the run recorded in
``docs/grid_lstm.md``, about 15 minutes on 2 busy CPU cores)::

    python scripts/experiments/grid_parity.py --bits 16 32 50 64 --units 64 --depth 8 \
        --steps 3000 --lr 3e-3 --lr-schedule cosine --curriculum 0.75
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_rnnx.layers.grid import GridLSTM1D  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PLOT = os.path.join(HERE, "..", "..", "docs", "img", "grid_parity.png")


def parity_batch(rng, batch, bits, max_ones=None):
    """``(x, y)``: bits as +-1 ``(batch, bits)``, parity ``(batch, 1)``.

    ``max_ones=None``: i.i.d. uniform bits. Otherwise each string has ``c``
    ones at random positions, ``c`` uniform in ``[0, max_ones]`` (the
    curriculum's sparse strings).
    """
    if max_ones is None:
        x = rng.randint(0, 2, size=(batch, bits))
    else:
        ones = rng.randint(0, max_ones + 1, size=(batch, 1))
        x = (rng.rand(batch, bits).argsort(axis=1) < ones).astype("int64")
    y = (x.sum(axis=1) % 2).astype("float32")[:, None]
    return (2.0 * x - 1.0).astype("float32"), y


def curriculum_max_ones(step, steps, bits, curriculum):
    """Most ones allowed at ``step``: 2 growing linearly to ``bits`` over the
    first ``curriculum * steps`` steps, then ``None`` (uniform bits)."""
    ramp = curriculum * steps
    if step >= ramp:
        return None
    return min(bits, 2 + int((bits - 1) * step / ramp))


def grid_model(bits, units, depth):
    inputs = keras.Input((bits,))
    h = GridLSTM1D(units, depth, tied=True)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h), name="grid1d")


def _solve_width(count_of, target):
    width = 1
    while count_of(width + 1) <= target:
        width += 1
    return width


def mlp_model(bits, depth, target):
    def count(w):
        return bits * w + w + (depth - 1) * (w * w + w) + w + 1

    width = _solve_width(count, target)
    inputs = keras.Input((bits,))
    h = inputs
    for _ in range(depth):
        h = keras.layers.Dense(width, activation="tanh")(h)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h), name="mlp")


def lstm_model(bits, target):
    def count(v):
        return 4 * v * (1 + v + 1) + 4 * v * (2 * v + 1) + v + 1

    width = _solve_width(count, target)
    inputs = keras.Input((bits,))
    h = keras.layers.Reshape((bits, 1))(inputs)
    h = keras.layers.LSTM(width, return_sequences=True)(h)
    h = keras.layers.LSTM(width)(h)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h), name="lstm")


def train(model, bits, steps, batch, lr, seed, curriculum=0.0, schedule="constant",
          log_every=0):
    rng = np.random.RandomState(seed)
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.05)
    model.compile(keras.optimizers.Adam(lr), "binary_crossentropy", metrics=["accuracy"])
    test = parity_batch(np.random.RandomState(seed + 1000), 2000, bits)
    for step in range(steps):
        max_ones = curriculum_max_ones(step, steps, bits, curriculum) if curriculum else None
        x, y = parity_batch(rng, batch, bits, max_ones)
        model.train_on_batch(x, y)
        if log_every and (step + 1) % log_every == 0:
            acc = float(model.evaluate(*test, verbose=0, batch_size=500)[1])
            batch_acc = float(model.evaluate(x, y, verbose=0, batch_size=batch)[1])
            print(f"    {model.name:7s} step {step + 1:6d} max ones {max_ones} "
                  f"last batch acc {batch_acc:.3f} test acc {acc:.3f}", flush=True)
    return float(model.evaluate(*test, verbose=0, batch_size=500)[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 12])
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--curriculum", type=float, default=0.0,
        help="fraction of the steps trained on sparse strings (at most 2 ones, "
        "growing linearly to k); 0 (default): uniform bits throughout",
    )
    parser.add_argument(
        "--lr-schedule", choices=["constant", "cosine"], default="constant",
        help="cosine: decay the learning rate to 5%% of --lr over the steps",
    )
    parser.add_argument(
        "--models", nargs="+", choices=["grid1d", "mlp", "lstm"],
        default=["grid1d", "mlp", "lstm"],
    )
    parser.add_argument("--log-every", type=int, default=0,
                        help="print the held-out accuracy every N steps (0: never)")
    parser.add_argument("--plot", default=DEFAULT_PLOT)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    rows = []
    for bits in args.bits:
        grid = grid_model(bits, args.units, args.depth)
        target = grid.count_params()
        models = [grid, mlp_model(bits, args.depth, target), lstm_model(bits, target)]
        for model in models:
            if model.name not in args.models:
                continue
            start = time.perf_counter()
            acc = train(model, bits, args.steps, args.batch, args.lr, args.seed,
                        args.curriculum, args.lr_schedule, args.log_every)
            rows.append((bits, model.name, model.count_params(), acc, time.perf_counter() - start))
            print(f"  k={bits:3d} {model.name:7s} params={model.count_params():6d} "
                  f"acc={acc:.3f} ({rows[-1][-1]:.0f} s)", flush=True)

    print()
    print(f"k-bit parity, {args.steps} steps x batch {args.batch}, grid units={args.units} "
          f"depth={args.depth} (tied), lr {args.lr} {args.lr_schedule}, "
          f"curriculum {args.curriculum}")
    print(f"{'k':>4} | {'model':7} | {'params':>6} | {'test acc':>8} | {'time s':>6}")
    print("-" * 46)
    for bits, name, params, acc, secs in rows:
        print(f"{bits:4d} | {name:7} | {params:6d} | {acc:8.3f} | {secs:6.1f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ["grid1d", "mlp", "lstm"] if n in args.models]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        accs = [acc for bits, n, _, acc, _ in rows if n == name]
        ax.bar(np.arange(len(args.bits)) + j * width, accs, width, label=name)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(np.arange(len(args.bits)) + width * (len(names) - 1) / 2)
    ax.set_xticklabels([f"k={b}" for b in args.bits])
    ax.set_ylim(0.4, 1.02)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"k-bit parity, ~{rows[0][2]} params, {args.steps} steps")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print(f"wrote {os.path.relpath(args.plot)}")
    return rows


if __name__ == "__main__":
    main()
