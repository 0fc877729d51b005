"""Architecture searches: ``rnnx search``, and the "search space odyssey" experiment.

    .venv/bin/python scripts/search.py search --task adding --max-trials 20 --directory runs/s
    .venv/bin/python scripts/search.py odyssey --task adding --trials 6 --epochs 4 --directory runs/odyssey_adding

``search`` is ``rnnx search`` (same flags). ``odyssey`` reproduces, at small
scale, Greff et al. 2017 ("LSTM: A Search Space Odyssey"): for the vanilla
peephole LSTM and each of its eight variants, a random search of learning
rate and size (`LSTMVariantHyperModel` with ``units`` a list), then the
median and best validation loss per variant as a table (Markdown, printed and
written to ``DIRECTORY/odyssey.md``) and a box plot (``odyssey.png``). Each
variant's search is resumable like any ``rnnx search``.
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_rnnx import cli  # noqa: E402
from keras_rnnx import datasets  # noqa: E402
from keras_rnnx.tuner import hypermodels  # noqa: E402
from keras_rnnx.tuner import search as search_lib  # noqa: E402

GREFF = list(hypermodels.GREFF_VARIANTS)  # vanilla and the eight variants
TASKS = {
    "adding": dict(name="adding", options=dict(timesteps=50, train_size=2000, validation_size=500, test_size=500)),
    "jsb": dict(name="jsb_chorales", options=dict(path=str(ROOT.parent / "shared" / "data" / "jsb_chorales"))),
}


def odyssey(args):
    spec = TASKS[args.task]
    task = datasets.get_task(spec["name"], data_dir=args.data_dir, **spec["options"])
    directory = pathlib.Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    results = {}
    started = time.perf_counter()
    for variant in args.variants or GREFF:
        result = search_lib.search(
            task, directory=directory / variant, hypermodel="lstm_variants", tuner="random",
            max_trials=args.trials, epochs=args.epochs, batch_size=args.batch_size,
            units=args.units, variants=[variant], seed=args.seed, data_dir=args.data_dir,
            export_preset=False, verbose=0,
        )  # fmt: skip
        scores = [r["score"] for r in result.trials if r["score"] is not None]
        results[variant] = scores
        print(f"{variant:8s} {len(scores)} trials, median {statistics.median(scores):.4f}, best {min(scores):.4f}",
              flush=True)  # fmt: skip
    wall = time.perf_counter() - started
    table = _table(results, args, wall)
    (directory / "odyssey.md").write_text(table + "\n")
    (directory / "odyssey.json").write_text(json.dumps(results, indent=2) + "\n")
    _plot(results, directory / "odyssey.png", f"{spec['name']}: validation loss per variant")
    print(table)
    return 0


def _table(results, args, wall):
    ranked = sorted(results, key=lambda v: statistics.median(results[v]))
    lines = [
        f"Task {args.task}; {args.trials} random trials per variant (learning rate 1e-4..1e-2 log, "
        f"units {args.units}), {args.epochs} epochs each; wall time {wall / 60:.1f} min.",
        "",
        "| variant | median val_loss | best val_loss | trials |",
        "|---|---|---|---|",
    ]
    for v in ranked:
        lines.append(f"| {v} | {statistics.median(results[v]):.4f} | {min(results[v]):.4f} | {len(results[v])} |")
    return "\n".join(lines)


def _plot(results, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(results, key=lambda v: statistics.median(results[v]))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.boxplot([results[v] for v in order], showfliers=True)
    ax.set_xticks(range(1, len(order) + 1), order)
    ax.set_yscale("log")  # a diverged trial (e.g. NFG with relu) would flatten the rest
    ax.set_ylabel("validation loss (log scale)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "search":
        return cli.main(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("search", help="rnnx search (same flags)")
    run = commands.add_parser("odyssey", help="Greff et al.'s variants, random search each")
    run.add_argument("--task", choices=sorted(TASKS), required=True)
    run.add_argument("--trials", type=int, default=6, help="random trials per variant (default: %(default)s)")
    run.add_argument("--epochs", type=int, default=4, help="epochs per trial (default: %(default)s)")
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--units", type=int, nargs="+", default=[32, 64, 128], help="sizes searched")
    run.add_argument("--variants", nargs="+", choices=GREFF, help="default: all nine")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--data-dir")
    run.add_argument("--directory", required=True)
    args = parser.parse_args(argv)
    if args.trials < 1 or args.epochs < 1:
        parser.error("--trials and --epochs must be >= 1")
    return odyssey(args)


if __name__ == "__main__":
    sys.exit(main())
