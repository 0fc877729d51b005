"""Train the zoo's presets, one command each, and write their cards and the manifest.

    .venv/bin/python scripts/train_zoo.py --list
    .venv/bin/python scripts/train_zoo.py jsb_lstm            # train one preset into zoo/jsb_lstm
    .venv/bin/python scripts/train_zoo.py --all               # every preset, in the order listed
    .venv/bin/python scripts/train_zoo.py --finalize jsb_lstm # card + manifest only (no training)

Each recipe is fixed here (task, model, optimiser, epochs, seed); the preset
directory gets the model (`keras_rnnx.training.train`), ``MODEL_CARD.md``
(data, splits, metric per split beside the published numbers, parameter
count, command, wall time, machine, intended use and limits), its entry in
``keras_rnnx/zoo/manifest.json`` (sha256 and size of every file, headline metric) and
its row in the README's zoo table. A run
killed part-way continues from its last epoch when the same command is run
again (the working state is in ``build/zoo-work/NAME``).

Data paths are stored relative to the data root (``../shared/data`` here;
``$RNNX_DATA_ROOT`` or ``--data-root`` elsewhere) so that any checkout can
re-evaluate the presets (``rnnx zoo eval NAME``, ``tests/zoo``).
"""

import argparse
import inspect
import json
import os
import pathlib
import platform
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_rnnx import training  # noqa: E402
from keras_rnnx import zoo  # noqa: E402
from keras_rnnx.zoo.manifest import HUB_OWNER  # noqa: E402

DATA_ROOT = os.environ.get("RNNX_DATA_ROOT", str(ROOT.parent / "shared" / "data"))
JSB = {"path": "jsb_chorales"}
TEXT = {"path": "tinyshakespeare/input.txt"}
JSB_PUBLISHED = {
    "LSTM, Bai et al. 2018": 8.45,
    "GRU, Bai et al. 2018": 8.43,
    "LSTM, Chung et al. 2014": 8.67,
    "GRU, Chung et al. 2014": 8.54,
    "TCN, Bai et al. 2018": 8.10,
}
TEXT_PUBLISHED = {"nanoGPT character baseline": 1.47, "minGRU (Feng et al. 2024)": 1.548}
ADDING_PUBLISHED = {"LSTM at T=600, Bai et al. 2018 (failure)": 0.164, "target": 0.001}


def _jsb(cell, description, **model):
    return {
        "description": description,
        "task": "jsb_chorales",
        "task_options": JSB,
        "train": {"cell": cell, "clipnorm": 1.0, "epochs": 200, "patience": 20, "batch_size": 8, **model},
        "headline": ("test", "nll_nats_per_step"),
        "published": JSB_PUBLISHED,
        "use": "Polyphonic music modelling (Bach chorales, 88-note piano roll, quarter-note steps): "
        "scoring or sampling chorales, a baseline for JSB Chorales comparisons.",
    }


def _text(cell, description, timesteps=200, **model):
    # Recipe version 2; the history is in docs/zoo.md, "Recipe history".
    return {
        "description": description,
        "task": "text",
        "task_options": {**TEXT, "timesteps": timesteps},
        "train": {
            **dict(
                cell=cell, units=512, layers=2, dropout=0.5, embedding_dim=64, learning_rate=2e-3,
                lr_schedule="cosine", clipnorm=1.0, epochs=16, batch_size=32, seed=0,
            ),
            **model,
        },
        "headline": ("validation", "nats_per_char"),
        "published": TEXT_PUBLISHED,
        "use": "Character-level generation in the style of Tiny Shakespeare; a baseline for "
        "character language models. Trained on 1.1 MB of text: it imitates the form, not the sense.",
    }


# What each recipe version changed and scored, and what was tried and dropped:
# docs/zoo.md, "Recipe history".
RECIPES = {
    "jsb_lstm": _jsb(
        "lstm", "LSTM on JSB Chorales", units=256, dropout=0.3, learning_rate=2e-3, recurrent_dropout=0.3,
        epochs=300, patience=40, lr_schedule="cosine",
    ),
    "jsb_peephole_lstm": _jsb(
        "peephole_lstm", "Peephole LSTM on JSB Chorales", units=256, dropout=0.3, learning_rate=2e-3,
        recurrent_dropout=0.3,
    ),
    "jsb_cifg_lstm": _jsb(
        "cifg_lstm", "CIFG LSTM on JSB Chorales", units=256, dropout=0.3, learning_rate=2e-3, recurrent_dropout=0.3
    ),
    "jsb_gru": _jsb("gru", "GRU on JSB Chorales", units=256, dropout=0.3, learning_rate=2e-3, recurrent_dropout=0.3),
    "jsb_clockwork_rnn": _jsb(
        "clockwork_rnn", "Clockwork RNN on JSB Chorales", units=256, dropout=0.3, learning_rate=2e-3
    ),
    "jsb_grid_lstm": _jsb(
        "grid_lstm_2d", "2-D Grid LSTM on JSB Chorales", units=128, dropout=0.3, learning_rate=2e-3,
        recurrent_dropout=0.4,
    ),
    "jsb_depth_gated_lstm": _jsb(
        "depth_gated_lstm", "Depth-gated LSTM on JSB Chorales", units=128, dropout=0.3, learning_rate=2e-3,
        recurrent_dropout=0.2,
    ),
    "adding600_gru": {
        "description": "GRU on the adding problem, T=600",
        "task": "adding",
        "task_options": {"timesteps": 600, "train_size": 10000, "validation_size": 1000, "test_size": 1000},
        "train": dict(cell="gru", units=64, learning_rate=2e-3, clipnorm=1.0, epochs=30, patience=5, batch_size=50),
        "headline": ("test", "mse"),
        "published": ADDING_PUBLISHED,
        "use": "A long-memory sanity check (two marked numbers among 600 steps); reproduces "
        "that gated RNNs solve T=600, against the LSTM failure reported by Bai et al. 2018.",
    },
    "adding600_lstm": {
        "description": "LSTM (chrono initialisation) on the adding problem, T=600",
        "task": "adding",
        "task_options": {"timesteps": 600, "train_size": 10000, "validation_size": 1000, "test_size": 1000},
        "train": dict(
            cell="lstm", units=64, learning_rate=2e-3, clipnorm=1.0, epochs=30, patience=5, batch_size=50,
            cell_options={"chrono_init": 600},
        ),
        "headline": ("test", "mse"),
        "published": ADDING_PUBLISHED,
        "use": "A long-memory sanity check: chrono initialisation (Tallec & Ollivier 2018) lets "
        "an LSTM solve T=600, where Bai et al. 2018 report failure (0.164 MSE).",
    },
    "waveform_clockwork_rnn": {
        "description": "Clockwork RNN generating a 320-step sum of sines",
        "task": "waveform",
        "task_options": {"timesteps": 320},
        "train": dict(cell="clockwork_rnn", units=32, learning_rate=3e-3, clipnorm=1.0, epochs=60, patience=10,
                      batch_size=32),
        "headline": ("test", "mse"),
        "published": {
            "CW-RNN, ~500 params, one fixed waveform (reproduction in REFERENCES.md)": 0.0028,
            "LSTM, ~500 params, the same": 0.082,
        },
        "use": "The Clockwork RNN paper's waveform task at small scale, in a form that tests "
        "generalisation: every sequence is a new sum of 3 sines (periods 4-320 steps), predicted "
        "one step ahead from its past values, where the paper generates one fixed waveform from "
        "no input (docs/clockwork.md reproduces that). The published figures are for the paper's "
        "form and are quoted for scale only.",
    },
    "parity_grid_lstm": {
        "description": "Tied 1-D Grid LSTM (along depth) on 8-bit parity",
        "task": "parity",
        "task_options": {"timesteps": 8, "train_size": 20000, "validation_size": 2000, "test_size": 2000},
        "train": dict(cell="grid_lstm_1d", units=32, learning_rate=1e-2, clipnorm=1.0, epochs=15, patience=5,
                      batch_size=128, cell_options={"depth": 8, "tied": True}),
        "headline": ("test", "accuracy"),
        "published": {"Kalchbrenner et al. 2015 (k up to 250, far larger nets)": 1.0},
        "use": "The Grid LSTM paper's parity task at small scale (k=8; docs/grid_lstm.md has k=16..64).",
    },
    "shakespeare_lstm": _text(
        "lstm", "LSTM character model of Tiny Shakespeare (flagship)", timesteps=256,
        epochs=40, dtype_policy="mixed_bfloat16", output_dropout=0.3, weight_decay=0.1,
    ),
    "shakespeare_gru": _text("gru", "GRU character model of Tiny Shakespeare"),
    "shakespeare_cifg_lstm": _text("cifg_lstm", "CIFG LSTM character model of Tiny Shakespeare"),
}


RETRAINING = set()
"""Shipped presets whose recipe above has moved on while the new version
trains: `recipe_mismatches` must find a difference for each (the entry goes
when the new version is shipped)."""


def recipe_mismatches(name, metadata):
    """The settings where ``metadata`` (a shipped preset's) differs from its recipe.

    Compares every argument of `keras_rnnx.training.train` that the metadata
    records or the recipe sets (model and optimisation), then the task and its
    options. A setting the recipe leaves out takes ``train``'s default; one the
    metadata predates, its value then (`keras_rnnx.training.recorded_setting`).
    """
    recipe = RECIPES[name]
    found = {**metadata["model"], **metadata["training"]}
    out = []
    for key, parameter in inspect.signature(training.train).parameters.items():
        if key not in found and key not in recipe["train"]:
            continue
        want = recipe["train"].get(key, parameter.default)
        if key == "cell_options":  # `train` records None as {}
            want = want or {}
        got = training.recorded_setting(found, key)
        if got != want:
            out.append(f"{key}: {got!r} shipped, {want!r} in the recipe")
    options = metadata["task"]["options"]
    for key, want in recipe["task_options"].items():
        if options.get(key) != want:
            out.append(f"task option {key}: {options.get(key)!r} shipped, {want!r} in the recipe")
    if metadata["task"]["name"] != recipe["task"]:
        out.append(f"task: {metadata['task']['name']!r} shipped, {recipe['task']!r} in the recipe")
    return out


def _absolute_options(options, data_root):
    out = dict(options)
    if "path" in out:
        out["path"] = str(pathlib.Path(data_root) / out["path"])
    return out


def _machine():
    return f"{platform.machine()} {os.cpu_count()} CPU cores, {platform.system()} ({platform.node() or 'host'})"


def _card(name, recipe, metadata, entry_headline, wall, command):
    split, metric = recipe["headline"]
    metrics = metadata["metrics"]
    task = metadata["task"]
    lines = [
        f"# {name}: {recipe['description']}",
        "",
        f"Load: `keras_rnnx.zoo.load({name!r})`; evaluate: `rnnx zoo eval {name}`; "
        f"sample: `rnnx zoo sample {name}`.",
        "",
        "## Data",
        "",
        f"Task `{task['name']}` ({task['kind']}), options "
        f"`{json.dumps({k: v for k, v in task['options'].items() if v is not None}, sort_keys=True)}`; "
        f"split sizes {json.dumps(metadata['split_sizes'], sort_keys=True)}. "
        "Relative paths are under the data root (`../shared/data` in the project's layout).",
        "",
        "## Metric per split",
        "",
        f"| split | {metric} | count |",
        "|---|---|---|",
    ]
    for s in ("train", "validation", "test"):
        if s in metrics:
            lines.append(f"| {s} | {metrics[s][metric]:.4f} | {metrics[s]['count']:,} |")
    for s, scores in metadata.get("carried_state", {}).items():
        lines += [
            "",
            f"Each window above is read from a zero state. Read as {scores['streams']} long streams "
            f"with the state carried across windows (`rnnx zoo eval {name} --carry-state "
            f"{scores['streams']}`), the {s} split scores {metric} = {scores[metric]:.4f}.",
        ]
    lines += [
        "",
        f"Trivial baseline ({task['metric']}): {task['baseline']:.4f}. Headline: **{split} "
        f"{metric} = {entry_headline['value']:.4f}**.",
        "",
        "## Published numbers it compares with",
        "",
    ]
    for label, value in recipe["published"].items():
        lines.append(f"- {label}: {value if value is not None else 'n/a'}")
    training_info = metadata["training"]
    lines += [
        "",
        "## Model and training",
        "",
        f"- Parameters: {metadata['params']:,}; model: `{json.dumps(metadata['model'], sort_keys=True)}`.",
        f"- Optimiser: {training_info['optimizer']}, learning rate {training_info['learning_rate']} "
        f"({training.recorded_setting(training_info, 'lr_schedule')}), "
        f"clipnorm {training_info['clipnorm']}, "
        + (f"weight decay {decay}, " if (decay := training.recorded_setting(training_info, "weight_decay")) else "")
        + f"batch {training_info['batch_size']}, seed {training_info['seed']}; "
        f"{training_info['epochs_completed']} epochs run (at most {training_info['epochs']}, patience "
        f"{training_info['patience']}), best epoch {training_info['best_epoch']} (by {training_info['monitor']}).",
        f"- Command: `{command}`.",
        f"- Wall time: {wall:.0f} s for the run that finished it"
        + (f" (resumed from epoch {training_info['resumed_from_epoch']})" if training_info["resumed_from_epoch"] else "")
        + f", on {_machine()}, {metadata['date']}.",
        f"- Versions: {json.dumps(metadata.get('versions', {}), sort_keys=True)}.",
        "",
        "## Intended use and limits",
        "",
        recipe["use"],
        "",
        "Loss curves: `loss_curves.png`.",
        "",
    ]
    return "\n".join(lines)


CARRIED_STREAMS = 8
"""Streams of the character presets' second figure (`training.evaluate_carried`)."""


def _carried_state(directory, metadata, split, data_root):
    """``split`` scored with the state carried across windows (text presets)."""
    model, _ = zoo.load_preset(directory)
    task = training.task_from_metadata(metadata, root=data_root)
    return {split: training.evaluate_carried(model, task, split, streams=CARRIED_STREAMS)}


def finalize(name, zoo_dir, wall=None, command=None, data_root=DATA_ROOT):
    """Relativise data paths, write MODEL_CARD.md and the manifest entry.

    Character presets also get ``metadata["carried_state"]``, their headline
    split read as `CARRIED_STREAMS` streams with the state carried across
    windows (computed once; ``tests/zoo`` recomputes it).
    """
    recipe = RECIPES[name]
    directory = zoo_dir / name
    meta_path = directory / zoo.METADATA_FILE
    metadata = json.loads(meta_path.read_text())
    options = metadata["task"]["options"]
    if "path" in recipe["task_options"]:  # stored relative to the data root
        options["path"] = recipe["task_options"]["path"]
    split, metric = recipe["headline"]
    if recipe["task"] == "text" and "carried_state" not in metadata:
        metadata["carried_state"] = _carried_state(directory, metadata, split, data_root)
    command = command or metadata.get("training_command") or f"python scripts/train_zoo.py {name}"
    metadata["training_command"] = command
    if wall is None:
        wall = metadata.get("zoo_wall_s") or metadata["training"].get("wall_s_last_run") or 0.0
    metadata["zoo_wall_s"] = wall
    metadata["machine"] = metadata.get("machine") or _machine()
    headline = {
        "split": split,
        "metric": metric,
        "value": metadata["metrics"][split][metric],
        "published": recipe["published"],
    }
    metadata["headline"] = headline
    meta_path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    (directory / "MODEL_CARD.md").write_text(_card(name, recipe, metadata, headline, wall, command))
    manifest_path = manifest_path_of(zoo_dir)
    manifest = zoo.read_manifest(manifest_path) if manifest_path.exists() else {
        "format": "keras-rnnx-zoo", "format_version": 1, "presets": {}
    }
    old = manifest["presets"].get(name)
    entry = zoo.manifest_entry(directory, version=1, headline=headline, description=recipe["description"])
    # New files are not on the hub until scripts/release_zoo.py publishes them.
    entry["hub"] = {"repo": f"{HUB_OWNER}/{name}", "revision": None}
    if old is not None:
        changed = old["files"] != entry["files"]
        entry["version"] = old["version"] + changed
        if not changed and old.get("hub"):
            entry["hub"] = old["hub"]
    manifest["presets"][name] = entry
    zoo.write_manifest(manifest_path, manifest)
    if zoo_dir.resolve() == (ROOT / "zoo").resolve():
        update_readme(zoo_dir)
    print(f"{name}: {split} {metric} = {headline['value']:.4f} ({metadata['params']:,} parameters)")


def train_one(name, zoo_dir, data_root):
    recipe = RECIPES[name]
    command = f"python scripts/train_zoo.py {name}"
    start = time.perf_counter()
    training.train(
        recipe["task"],
        task_options=_absolute_options(recipe["task_options"], data_root),
        output=zoo_dir / name,
        work_dir=ROOT / "build" / "zoo-work" / name,
        overwrite=True,
        verbose=2,
        command=command,
        **recipe["train"],
    )
    finalize(name, zoo_dir, time.perf_counter() - start, command, data_root)


def manifest_path_of(zoo_dir):
    """The manifest of ``zoo_dir``: the packaged one for the project's zoo/, else its own."""
    if pathlib.Path(zoo_dir).resolve() == (ROOT / "zoo").resolve():
        return zoo.PACKAGED_MANIFEST
    return pathlib.Path(zoo_dir) / zoo.MANIFEST_FILE


def readme_table(zoo_dir):
    """The README's zoo table (markdown) from the manifest."""
    presets = zoo.read_manifest(manifest_path_of(zoo_dir))["presets"]
    lines = [
        "| preset | task | parameters | metric (split) | value | published |",
        "|---|---|---|---|---|---|",
    ]
    for name in sorted(presets):
        entry = presets[name]
        head = entry["headline"]
        published = "; ".join(
            f"{label} {value}" for label, value in head["published"].items() if value is not None
        ) or "-"
        lines.append(
            f"| `{name}` | {entry['task']} | {entry['params']:,} | {head['metric']} ({head['split']}) "
            f"| **{head['value']:.4f}** | {published} |"
        )
    return "\n".join(lines)


README_MARKER = "<!-- zoo table: python scripts/train_zoo.py --readme-table -->"


def update_readme(zoo_dir, readme=ROOT / "README.md"):
    """Replace the table after ``README_MARKER`` in the README with the manifest's."""
    text = readme.read_text()
    start = text.index(README_MARKER) + len(README_MARKER) + 1
    end = text.index("\n\n", start)
    readme.write_text(text[:start] + readme_table(zoo_dir) + text[end:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="presets to train (see --list)")
    parser.add_argument("--all", action="store_true", help="train every preset")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("--finalize", action="store_true", help="only rewrite cards and manifest entries")
    parser.add_argument("--readme-table", action="store_true", help="print the README's zoo table and exit")
    parser.add_argument("--zoo-dir", default=str(ROOT / "zoo"))
    parser.add_argument("--data-root", default=DATA_ROOT)
    args = parser.parse_args(argv)
    if args.readme_table:
        print(readme_table(pathlib.Path(args.zoo_dir)))
        return 0
    if args.list:
        for name, recipe in RECIPES.items():
            print(f"{name:24s} {recipe['description']}")
        return 0
    names = list(RECIPES) if args.all else args.names
    unknown = [n for n in names if n not in RECIPES]
    if unknown or not names:
        parser.error(f"unknown or no preset(s) {unknown}; choose from {', '.join(RECIPES)}")
    zoo_dir = pathlib.Path(args.zoo_dir)
    zoo_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if args.finalize:
            finalize(name, zoo_dir, data_root=args.data_root)
        else:
            train_one(name, zoo_dir, args.data_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
