"""15-digit addition with a 2-D Grid LSTM over (time, depth) (Kalchbrenner et al. 2015, 4.3).

Two random ``n``-digit numbers ``a`` and ``b`` (``--digits``, default 15;
leading zeros allowed, so every digit is uniform) are read one digit per
time step, and the ``n + 1`` digits ``s_0 ... s_n`` of ``a + b`` are
predicted one per step. Every number is written least significant digit
first (the order in which carries propagate). Inputs are one-hot over 12
symbols: the digits 0-9, ``+`` and ``=``. Two layouts (``--layout``):

* ``interleaved`` (default, the one recorded in ``docs/grid_lstm.md``):
  the digits of ``a`` and ``b`` alternate, and ``s_i`` is predicted at the
  step that reads ``b_i``; the final carry ``s_n`` at a closing ``=``
  (``T = 2n + 1``). The network must keep ``a_i`` for one step and the carry
  across the whole number::

      input:   a_0 b_0 a_1 b_1 ... a_{n-1} b_{n-1}  =
      target:      s_0     s_1         s_{n-1}     s_n

* ``paper``: the paper's read-then-answer setup: all of ``a``, ``+``, all
  of ``b``, then ``n + 1`` answer steps that
  read ``=`` (``T = 3n + 2``). The network must hold ``n`` digits in memory
  for about ``2n`` steps (a queue), much harder at this scale::

      input:   a_0 ... a_{n-1}  +  b_0 ... b_{n-1}  =   =  ...  =
      target:                                     s_0 s_1 ... s_n

Only the answer steps enter the loss and the metrics.

Models, each followed by one ``Dense(10)`` softmax applied at the answer steps:

* ``grid2d``: ``GridLSTM2D(units, depth)`` with the weights tied along both
  time and depth, as in the paper (one block weight set; the parameter
  count does not grow with depth);
* ``lstm``: ``depth`` stacked ``keras.layers.LSTM`` (``--lstm-layers`` to
  change), the widest whose parameter count does not exceed the grid's.

Both train on the same data stream per seed (fresh random pairs every step,
Adam, gradient norm clipped to 1). Every ``--eval-every`` steps each is
scored on the same 1,000 held-out pairs (generated with their own seed):
per-digit accuracy (over the ``n + 1`` sum digits) and per-sequence accuracy
(all ``n + 1`` digits right). Prints the parameter counts and a Markdown
table (accuracies at a quarter, half and all of the steps; the first
evaluated step with per-sequence accuracy >= 0.99) and writes the accuracy
curves to ``docs/img/grid_addition.png``. ``KERAS_BACKEND`` picks the backend
(default ``tensorflow``).

Small default (15 digits, interleaved; about 2 minutes on 2 CPU cores)::

    python scripts/experiments/grid_addition.py

The comparison recorded in ``docs/grid_lstm.md`` (3 seeds, about 16 minutes
on 2 busy CPU cores)::

    python scripts/experiments/grid_addition.py --units 64 --depth 4 --steps 1500 --seeds 3

The paper's harder layout (about 12 minutes)::

    python scripts/experiments/grid_addition.py --layout paper --digits 15 \
        --units 64 --depth 4 --steps 1500 --eval-every 150
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_rnnx.layers.grid import GridLSTM2D  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PLOT = os.path.join(HERE, "..", "..", "docs", "img", "grid_addition.png")

PLUS = 10
EQUALS = 11
VOCAB = 12
TIED_DIMENSIONS = [
    {"name": "time", "kind": "lstm", "tied": True, "priority": False},
    {"name": "depth", "kind": "lstm", "tied": True, "priority": False},
]


LAYOUTS = ("paper", "interleaved")


def sequence_length(digits, layout="paper"):
    """``paper``: ``n`` digits of ``a``, ``+``, ``n`` of ``b``, ``n + 1`` answer
    steps; ``interleaved``: ``2n`` digits then one ``=`` step."""
    return 3 * digits + 2 if layout == "paper" else 2 * digits + 1


def answer_steps(digits, layout="paper"):
    """The time steps whose outputs are the sum digits ``s_0 ... s_n``."""
    if layout == "paper":
        return list(range(2 * digits + 1, 3 * digits + 2))
    return list(range(1, 2 * digits, 2)) + [2 * digits]


def addition_batch(rng, batch, digits, layout="paper"):
    """A batch of addition examples.

    Returns ``(x, y)``: ``x`` float32 ``(batch, T, 12)`` one-hot symbols
    (layouts in the module docstring), ``y`` int32 ``(batch, n + 1)``, the
    digits of ``a + b`` least significant first, the targets of the steps
    `answer_steps`. ``rng`` is a ``np.random.RandomState``; the global NumPy
    state is not touched.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    a = rng.randint(0, 10, size=(batch, digits))
    b = rng.randint(0, 10, size=(batch, digits))
    # Column-wise addition with carries (exact for any n, no int overflow).
    y = np.zeros((batch, digits + 1), dtype="int32")
    carry = np.zeros(batch, dtype="int64")
    for i in range(digits):
        total = a[:, i] + b[:, i] + carry
        y[:, i] = total % 10
        carry = total // 10
    y[:, digits] = carry
    if layout == "paper":
        symbols = np.concatenate(
            [a, np.full((batch, 1), PLUS), b, np.full((batch, digits + 1), EQUALS)],
            axis=1,
        )
    else:
        pairs = np.stack([a, b], axis=2).reshape(batch, 2 * digits)
        symbols = np.concatenate([pairs, np.full((batch, 1), EQUALS)], axis=1)
    x = np.eye(VOCAB, dtype="float32")[symbols]
    return x, y


def _answer(hidden, digits, layout):
    """The outputs of the answer steps through one ``Dense(10)`` softmax."""
    steps = answer_steps(digits, layout)
    answer = keras.layers.Lambda(
        lambda h: keras.ops.take(h, steps, axis=1), name="answer_steps"
    )(hidden)
    return keras.layers.Dense(10, activation="softmax")(answer)


def grid_model(digits, units, depth, layout="paper"):
    inputs = keras.Input((sequence_length(digits, layout), VOCAB))
    hidden = GridLSTM2D(
        units, depth=depth, dimensions=TIED_DIMENSIONS, return_sequences=True
    )(inputs)
    return keras.Model(inputs, _answer(hidden, digits, layout), name="grid2d")


def _lstm_count(width, layers):
    first = 4 * width * (VOCAB + width + 1)
    rest = (layers - 1) * 4 * width * (2 * width + 1)
    return first + rest + 10 * width + 10


def lstm_model(digits, layers, target, layout="paper"):
    """``layers`` stacked LSTMs, the widest whose count does not exceed ``target``."""
    width = 1
    while _lstm_count(width + 1, layers) <= target:
        width += 1
    inputs = keras.Input((sequence_length(digits, layout), VOCAB))
    hidden = inputs
    for _ in range(layers):
        hidden = keras.layers.LSTM(width, return_sequences=True)(hidden)
    return keras.Model(inputs, _answer(hidden, digits, layout), name="lstm")


def score(model, x, y):
    """``(per-digit accuracy, per-sequence accuracy)`` of ``model`` on ``(x, y)``."""
    pred = np.argmax(np.asarray(model.predict(x, batch_size=500, verbose=0)), axis=-1)
    right = pred == y
    return float(right.mean()), float(right.all(axis=1).mean())


def train(model, args, seed, test):
    """Train on fresh random batches; score every ``eval_every`` steps."""
    rng = np.random.RandomState(seed)
    model.compile(
        keras.optimizers.Adam(args.lr, clipnorm=1.0), "sparse_categorical_crossentropy"
    )
    curve = []
    start = time.perf_counter()
    loss = float("nan")
    for step in range(args.steps + 1):
        if step:
            x, y = addition_batch(rng, args.batch, args.digits, args.layout)
            loss = float(np.asarray(model.train_on_batch(x, y)))
        if step % args.eval_every == 0 or step == args.steps:
            curve.append((step,) + score(model, *test))
            print(
                f"  {model.name:6s} seed {seed} step {step:5d} loss {loss:.3f} "
                f"digit acc {curve[-1][1]:.3f} seq acc {curve[-1][2]:.3f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return np.array(curve), time.perf_counter() - start


def steps_to_solve(curve, threshold=0.99):
    """First evaluated step with per-sequence accuracy >= ``threshold``, or None."""
    hits = np.nonzero(curve[:, 2] >= threshold)[0]
    return int(curve[hits[0], 0]) if len(hits) else None


def plot(results, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    for color, (name, runs) in zip(("C0", "C3"), results.items()):
        for index, run in enumerate(runs):
            curve = run["curve"]
            label = f"{name}: {run['shape']}, {run['params']} params" if index == 0 else None
            axes[0].plot(curve[:, 0], curve[:, 2], color=color, marker=".", alpha=0.8,
                         label=label)
            axes[1].plot(curve[:, 0], curve[:, 1], color=color, marker=".", alpha=0.8)
    axes[0].set_title("per-sequence accuracy (all digits right)", fontsize=10)
    axes[1].set_title("per-digit accuracy", fontsize=10)
    # Guessing: 0.1 per digit, 0.5 for the final carry.
    guess = (0.1 * args.digits + 0.5) / (args.digits + 1)
    axes[1].axhline(guess, color="grey", linestyle=":", linewidth=1)
    for ax in axes:
        ax.set_xlabel(f"training step (batch {args.batch})")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    seeds = f"seed {args.seed}" if args.seeds == 1 else f"{args.seeds} seeds (one line each)"
    fig.suptitle(
        f"{args.digits}-digit addition, {args.layout} layout, {seeds}", fontsize=10
    )
    fig.legend(loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    plt.close(fig)
    print(f"wrote {os.path.relpath(args.plot)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=15)
    parser.add_argument("--layout", choices=LAYOUTS, default="interleaved")
    parser.add_argument("--units", type=int, default=48)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument(
        "--lstm-layers", type=int, default=None, help="stacked LSTM layers (default: --depth)"
    )
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1,
                        help="train each model with seeds seed, seed+1, ...")
    parser.add_argument("--test", type=int, default=1000, help="held-out pairs")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument(
        "--models", nargs="+", choices=["grid2d", "lstm"], default=["grid2d", "lstm"]
    )
    parser.add_argument("--plot", default=DEFAULT_PLOT)
    args = parser.parse_args(argv)
    layers = args.lstm_layers or args.depth

    # One held-out set for every model and seed.
    test = addition_batch(
        np.random.RandomState(args.seed + 1000), args.test, args.digits, args.layout
    )
    print(
        f"{args.digits}-digit addition, {args.layout} layout, "
        f"T={sequence_length(args.digits, args.layout)} steps, "
        f"{keras.backend.backend()} backend"
    )
    results = {}
    for name in args.models:
        results[name] = []
        for seed in range(args.seed, args.seed + args.seeds):
            keras.utils.set_random_seed(seed)
            grid = grid_model(args.digits, args.units, args.depth, args.layout)
            if name == "grid2d":
                model = grid
                shape = f"GridLSTM2D({args.units}, depth={args.depth}, tied)"
            else:
                keras.utils.set_random_seed(seed)
                model = lstm_model(args.digits, layers, grid.count_params(), args.layout)
                shape = f"{layers} x LSTM({model.layers[1].units})"
            print(f"{name}: {shape}, {model.count_params()} params", flush=True)
            curve, wall = train(model, args, seed, test)
            results[name].append(
                dict(curve=curve, wall=wall, params=model.count_params(), shape=shape,
                     seed=seed)
            )

    marks = sorted({max(1, args.steps // 4), max(1, args.steps // 2), args.steps})
    print()
    print(
        f"{args.digits}-digit addition ({args.layout} layout), {args.steps} steps x "
        f"batch {args.batch}, Adam lr {args.lr}, {args.test} held-out pairs"
    )
    header = " | ".join(f"seq / digit acc @{m}" for m in marks)
    print(f"| model | layers | params | seed | {header} | steps to seq acc 0.99 | time s |")
    print("|---|---|--:|--:|" + "--:|" * len(marks) + "--:|--:|")
    for name, runs in results.items():
        for run in runs:
            curve = run["curve"]
            cells = []
            for mark in marks:
                row = curve[np.searchsorted(curve[:, 0], mark, side="right") - 1]
                cells.append(f"{row[2]:.3f} / {row[1]:.3f}")
            solved = steps_to_solve(curve)
            print(
                f"| {name} | {run['shape']} | {run['params']} | {run['seed']} | "
                f"{' | '.join(cells)} | {'-' if solved is None else solved} | "
                f"{run['wall']:.0f} |"
            )
    plot(results, args)
    return results


if __name__ == "__main__":
    main()
