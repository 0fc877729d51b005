"""Clockwork RNN on the sequence-generation task of Koutnik et al. (2014).

The network receives no information but the clock: its input is zero at every
step (one feature of zeros, so the three models have the same input), and it
must output a fixed 320-step waveform, a sum of sines generated here (the paper
used 320 samples of real audio). Loss: MSE over the 320 outputs, one sequence,
full batch. Contestants at matched parameter counts (about 500 and about 800,
output ``Dense(1)`` included):

* ``keras_rnnx.layers.ClockworkRNN`` with 7 modules of periods 1, 2, ..., 64;
* ``keras.layers.SimpleRNN`` (tanh);
* ``keras.layers.LSTM``.

Prints a table of the final MSE (median over seeds) and writes
``docs/img/clockwork_waveform.png`` (target and the generated waveforms).

Usage:

    python scripts/experiments/clockwork_waveform.py                   # 2000 epochs
    python scripts/experiments/clockwork_waveform.py --epochs 200 --seeds 1
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_rnnx.layers.clockwork import ClockworkRNN  # noqa: E402

STEPS = 320
NUM_MODULES = 7
# size -> {model: units}; parameter counts are printed by the script.
SIZES = {
    "~500": {"ClockworkRNN": 4 * NUM_MODULES, "SimpleRNN": 21, "LSTM": 10},
    "~800": {"ClockworkRNN": 5 * NUM_MODULES, "SimpleRNN": 27, "LSTM": 13},
}
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PNG = os.path.join(HERE, "..", "..", "docs", "img", "clockwork_waveform.png")


def waveform(steps=STEPS, seed=0):
    """A sum of five sines of random frequency, phase and amplitude, in [-1, 1]."""
    rng = np.random.RandomState(seed)
    t = np.arange(steps)
    freqs = rng.uniform(1.0, 24.0, 5)  # cycles per 320 steps
    phases = rng.uniform(0, 2 * np.pi, 5)
    amps = rng.uniform(0.3, 1.0, 5)
    y = sum(a * np.sin(2 * np.pi * f * t / steps + p) for a, f, p in zip(amps, freqs, phases))
    return (y / np.abs(y).max()).astype("float32")


def make_model(kind, units):
    inputs = keras.Input((STEPS, 1))
    if kind == "ClockworkRNN":
        layer = ClockworkRNN(units, num_modules=NUM_MODULES, return_sequences=True)
    elif kind == "SimpleRNN":
        layer = keras.layers.SimpleRNN(units, return_sequences=True)
    else:
        layer = keras.layers.LSTM(units, return_sequences=True)
    outputs = keras.layers.Dense(1)(layer(inputs))
    return keras.Model(inputs, outputs)


def train(kind, units, target, epochs, seed, lr, jit):
    keras.utils.set_random_seed(seed)
    model = make_model(kind, units)
    model.compile(
        optimizer=keras.optimizers.Adam(lr, clipnorm=1.0), loss="mse", jit_compile=jit
    )
    x = np.zeros((1, STEPS, 1), "float32")
    y = target[None, :, None]
    history = model.fit(x, y, epochs=epochs, batch_size=1, verbose=0)
    prediction = model.predict(x, verbose=0)[0, :, 0]
    mse = float(np.mean((prediction - target) ** 2))
    return model.count_params(), mse, prediction, history.history["loss"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--jit", choices=["on", "off"], default="on")
    parser.add_argument("--png", default=DEFAULT_PNG)
    args = parser.parse_args()

    target = waveform()
    rows = []
    curves = {}
    start = time.perf_counter()
    for size, models in SIZES.items():
        for kind, units in models.items():
            results = [
                train(kind, units, target, args.epochs, seed, args.lr, args.jit == "on")
                for seed in range(args.seeds)
            ]
            mses = [r[1] for r in results]
            best = int(np.argmin(mses))
            curves[(size, kind)] = (results[best][2], mses[best])
            rows.append((size, kind, units, results[0][0], float(np.median(mses)), min(mses)))
            print(f"  done {size} {kind} ({time.perf_counter() - start:.0f} s)", flush=True)

    print(
        f"\nWaveform generation, {STEPS} steps, {args.epochs} epochs of Adam "
        f"(lr {args.lr}), {args.seeds} seed(s), backend {keras.backend.backend()}"
    )
    print(f"{'size':>5}  {'model':<13} {'units':>5} {'params':>6} {'median MSE':>11} {'best MSE':>10}")
    for size, kind, units, params, median, best in rows:
        print(f"{size:>5}  {kind:<13} {units:>5} {params:>6} {median:>11.2e} {best:>10.2e}")
    print(f"wall time {time.perf_counter() - start:.0f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(SIZES), 1, figsize=(10, 3.2 * len(SIZES)), sharex=True)
    for ax, size in zip(np.atleast_1d(axes), SIZES):
        ax.plot(target, color="black", lw=2.5, alpha=0.35, label="target")
        for kind in SIZES[size]:
            prediction, mse = curves[(size, kind)]
            ax.plot(prediction, lw=1.2, label=f"{kind} (MSE {mse:.1e})")
        ax.set_title(f"{size} parameters")
        ax.legend(loc="upper right", fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("step")
    fig.suptitle(f"Clockwork RNN waveform generation ({args.epochs} epochs, best of {args.seeds} seeds)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.png)), exist_ok=True)
    fig.savefig(args.png, dpi=110)
    print(f"wrote {os.path.relpath(args.png)}")


if __name__ == "__main__":
    main()
