"""Depth-gated LSTM vs a plain stacked peephole LSTM of the same depth and width.

Yao et al. (2015) add a depth gate that links the memory cell of layer L-1 to
layer L at the same step, so that information (and gradients) can cross the
depth of a stack through the memory cells. This script trains, with the same
optimiser (Adam, clipnorm 1), data and seeds:

* ``depth-gated``: ``keras_rnnx.layers.DepthGatedLSTM(units, num_layers=L)``;
* ``stacked``: ``L`` ``keras_rnnx.layers.PeepholeLSTM(units)`` layers, i.e.
  the same network with the depth gates removed,

on one of two tasks:

* ``--task charlm`` (default): a character language model on Tiny
  Shakespeare (``../shared/data/tinyshakespeare/input.txt`` relative to the
  repository; random windows of ``timesteps + 1`` characters, the first 90 %
  of the text for training, the rest for validation), ``Embedding ->
  recurrent stack -> Dense(vocab)`` at every step; loss in nats/char;
* ``--task adding``: the adding problem (`keras_rnnx.datasets.adding_problem`),
  ``recurrent stack -> Dense(1)``; MSE (the trivial predictor gives 1/6).

It prints a Markdown table (training loss per epoch, mean over seeds; the
held-out metric; wall time) and writes the loss curves to
``docs/img/depth_gated_stack.png``.

Run (from the repository root; about 2 minutes on 2 busy CPU cores)::

    KERAS_BACKEND=jax python scripts/experiments/depth_gated_stack.py

    KERAS_BACKEND=jax python scripts/experiments/depth_gated_stack.py --task adding \\
        --units 16 --timesteps 20 --samples 2000 --epochs 15 --seeds 2 \\
        --out /tmp/adding.png
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from keras_rnnx.datasets import adding_problem  # noqa: E402
from keras_rnnx.datasets.synthetic import ADDING_PROBLEM_BASELINE_MSE  # noqa: E402
from keras_rnnx.layers.depth_gated import DepthGatedLSTM  # noqa: E402
from keras_rnnx.layers.lstm import PeepholeLSTM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(kind, args, vocab=None):
    """Adding problem: ``(T, 2) -> (1,)``; char-LM: ``(T,) ids -> (T, vocab)`` logits."""
    layers, units, seq = args.layers, args.units, vocab is not None
    if seq:
        inputs = keras.Input((args.timesteps,), dtype="int32")
        hidden = keras.layers.Embedding(vocab, args.embed)(inputs)
    else:
        inputs = keras.Input((args.timesteps, 2))
        hidden = inputs
    if kind == "depth-gated":
        hidden = DepthGatedLSTM(
            units,
            num_layers=layers,
            return_sequences=seq,
            depth_bias_initializer=keras.initializers.Constant(args.depth_bias),
        )(hidden)
    else:
        for index in range(layers):
            last = index == layers - 1
            hidden = PeepholeLSTM(units, return_sequences=seq or not last)(hidden)
    outputs = keras.layers.Dense(vocab if seq else 1)(hidden)
    return keras.Model(inputs, outputs)


def char_lm_data(args):
    """Windows of ``timesteps + 1`` characters of Tiny Shakespeare (90/10 split)."""
    with open(args.text, encoding="utf-8") as handle:
        text = handle.read()
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text], dtype="int32")
    split = int(0.9 * len(ids))
    rng = np.random.default_rng(0)

    def windows(part, count):
        starts = rng.integers(0, len(part) - args.timesteps - 1, count)
        block = np.stack([part[s : s + args.timesteps + 1] for s in starts])
        return block[:, :-1], block[:, 1:]

    return (
        windows(ids[:split], args.samples),
        windows(ids[split:], max(args.samples // 10, 100)),
        len(chars),
    )


def run(kind, args, seed, data):
    (x, y), (x_test, y_test) = data[:2]
    vocab = data[2] if len(data) > 2 else None
    keras.utils.set_random_seed(seed)
    model = build(kind, args, vocab)
    if vocab is None:
        loss = "mse"
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr, clipnorm=1.0),
        loss=loss,
        jit_compile=True,
    )
    start = time.perf_counter()
    history = model.fit(
        x, y, batch_size=args.batch, epochs=args.epochs, shuffle=True, verbose=0
    )
    wall = time.perf_counter() - start
    test = float(model.evaluate(x_test, y_test, verbose=0))
    return np.array(history.history["loss"]), test, wall, model.count_params()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=["adding", "charlm"], default="charlm")
    parser.add_argument(
        "--text",
        default=os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare", "input.txt"),
        help="char-LM corpus (default: ../shared/data/tinyshakespeare/input.txt)",
    )
    parser.add_argument("--embed", type=int, default=32, help="char-LM embedding size")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument(
        "--depth-bias", type=float, default=0.0,
        help="initial depth-gate bias b_d (0: gates start half open)",
    )
    parser.add_argument(
        "--out", default=os.path.join(ROOT, "docs", "img", "depth_gated_stack.png")
    )
    args = parser.parse_args(argv)
    if args.layers < 4:
        parser.error("--layers: the comparison is about deep stacks, use 4 or more")

    if args.task == "adding":
        data = (
            adding_problem(args.samples, args.timesteps, seed=0),
            adding_problem(500, args.timesteps, seed=1),
        )
    else:
        data = char_lm_data(args)
    results = {}
    for kind in ("depth-gated", "stacked"):
        losses, tests, walls = [], [], []
        for seed in range(args.seeds):
            loss, test, wall, params = run(kind, args, seed, data)
            losses.append(loss)
            tests.append(test)
            walls.append(wall)
        results[kind] = dict(
            losses=np.stack(losses), tests=np.array(tests), wall=np.mean(walls),
            params=params,
        )

    marks = sorted({0, args.epochs // 4, args.epochs // 2, args.epochs - 1})
    header = " | ".join(f"loss ep {m + 1}" for m in marks)
    task = (
        f"adding problem T={args.timesteps} (trivial MSE {ADDING_PROBLEM_BASELINE_MSE:.3f})"
        if args.task == "adding"
        else f"Tiny Shakespeare char-LM, windows of {args.timesteps}"
    )
    metric = "test MSE" if args.task == "adding" else "val nats/char"
    print(
        f"{task}, {args.samples} samples, {args.layers} layers x {args.units} units, "
        f"{args.seeds} seed(s), depth bias {args.depth_bias}, "
        f"{keras.backend.backend()} backend"
    )
    print(f"| model | params | {header} | {metric} (mean) | per seed | s/run |")
    print("|---|---|" + "---|" * len(marks) + "---|---|---|")
    for kind, r in results.items():
        mean = r["losses"].mean(axis=0)
        cells = " | ".join(f"{mean[m]:.4f}" for m in marks)
        per_seed = ", ".join(f"{t:.4f}" for t in r["tests"])
        print(
            f"| {kind} | {r['params']} | {cells} | {r['tests'].mean():.4f} | "
            f"{per_seed} | {r['wall']:.1f} |"
        )

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, args.epochs + 1)
    for kind, color in (("depth-gated", "C0"), ("stacked", "C3")):
        r = results[kind]
        for run_loss in r["losses"]:
            ax.plot(epochs, run_loss, color=color, alpha=0.3, linewidth=1)
        ax.plot(epochs, r["losses"].mean(axis=0), color=color, linewidth=2,
                label=f"{kind} ({args.layers}x{args.units})")
    if args.task == "adding":
        ax.axhline(ADDING_PROBLEM_BASELINE_MSE, color="gray", linestyle="--",
                   label="predict 1.0")
        ax.set_yscale("log")
        ax.set_ylabel("training MSE")
        ax.set_title(f"Adding problem T={args.timesteps}: depth-gated vs stacked")
    else:
        ax.set_ylabel("training loss (nats/char)")
        ax.set_title("Tiny Shakespeare char-LM: depth-gated vs stacked")
    ax.set_xlabel("epoch")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
