"""The ``rnnx`` command line.

Commands:
    rnnx demo    train every keras-rnnx layer briefly on the adding problem and
                 print a table (test MSE, parameters, throughput, wall time).
    rnnx train   train a model on a task and write a preset directory
                 (resumable: the same command continues a killed run).
    rnnx eval    score a preset on its task with the task's standard metric.
    rnnx sample  generate text (character models) or music (JSB Chorales: a
                 MIDI file or a piano-roll PNG) from a preset.
    rnnx zoo     list, inspect, download, evaluate and sample the pretrained presets.
    rnnx search  architecture search with keras-tuner (resumable, distributed).

``rnnx --help`` and ``rnnx COMMAND --help`` list the options;
``docs/training.md`` describes train, eval and sample. Exit status: 0 on
success, 2 for a bad command line (argparse's message names the option), 1
for a file or data problem found while running (the message names the path),
3 when training stopped because the loss became NaN or infinite
(`keras_rnnx.training.NonFiniteLoss`: the message says which epoch and what
was kept).
"""

import argparse
import contextlib
import json
import math
import os
import pathlib
import shlex
import sys

from keras_rnnx import datasets
from keras_rnnx import demo
from keras_rnnx import training
from keras_rnnx import validation
from keras_rnnx import zoo
from keras_rnnx.training import distributed
from keras_rnnx.version import __version__


def _number(kind, check, what, hint=""):
    """An argparse type: the text read as ``kind`` (int or float), then kept
    only if ``check(value)`` (a `keras_rnnx.validation` check) accepts it.

    The message says what was expected, in the flag's terms; NaN and
    infinities fail every float check (``--clipnorm inf`` trained to NaN).
    """

    def parse(text):
        try:
            return check(kind(text))
        except (ValueError, OverflowError):  # not a number, or refused by the check
            raise argparse.ArgumentTypeError(f"expected {what}, received {text!r}.{hint}") from None

    parse.__name__ = what
    return parse


def _int_at_least(minimum, hint=""):
    return _number(int, lambda v: validation.check_int("value", v, minimum), f"an int >= {minimum}", hint)


_positive_float = _number(
    float, lambda v: validation.check_positive("value", v), "a finite positive float such as 0.01"
)
_non_negative_float = _number(float, lambda v: validation.check_float("value", v, 0), "a finite float >= 0")
_rate = _number(float, lambda v: validation.check_rate("value", v), "a finite float in [0, 1) such as 0.2")


def _variant_names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated variant names, e.g. lstm,gru; choose "
            f"among: {', '.join(demo.VARIANTS)}."
        )
    unknown = [name for name in names if name not in demo.VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {', '.join(unknown)}; choose among: "
            f"{', '.join(demo.VARIANTS)}."
        )
    return names


def _task_name(text):
    return _choice("task", datasets.TASKS)(text)


def _choice(kind, names):
    def parse(text):
        try:
            return validation.check_choice(kind, text, tuple(names))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {text!r}; choose among: {', '.join(names)}."
            ) from None

    parse.__name__ = kind
    return parse


class _NotFinite(ValueError):
    pass


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise _NotFinite(text)
    return value


def _refuse_constant(text):  # JSON's NaN, Infinity, -Infinity
    raise _NotFinite(text)


def _key_value(text):
    """``KEY=VALUE``: VALUE a JSON literal, else taken as a string (relu, a/path).

    A VALUE that starts like JSON (``[``, ``{``, ``"``) but does not parse is
    an error, as are Python's True/False/None (JSON: true/false/null).
    Numbers are finite: NaN, Infinity, 1e999 (anywhere in the value) and the
    words Python reads as such (nan, inf) are refused. A plain word Python
    reads as a finite number (.5, 1_000) is that number. Whether an option
    takes a bool is known only with the task or cell: `_checked_booleans`.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE such as peephole=true or forget_bias=1.0, "
            f"received {text!r}."
        )
    raw = raw.strip()
    python_words = {"True": "true", "False": "false", "None": "null"}
    if raw in python_words:
        raise argparse.ArgumentTypeError(
            f"{text!r}: values are JSON literals; write {key}={python_words[raw]}."
        )
    not_finite = argparse.ArgumentTypeError(
        f"{text!r}: numbers must be finite (no NaN or infinity); write e.g. {key}=1.0."
    )
    try:
        return key, json.loads(raw, parse_float=_finite_float, parse_constant=_refuse_constant)
    except _NotFinite:
        raise not_finite from None
    except json.JSONDecodeError as err:
        if not raw or raw[0] in '[{"':
            raise argparse.ArgumentTypeError(
                f"{text!r}: malformed JSON value ({err.msg}); expected a JSON "
                'literal such as true, 1.0, [1, 2], "text", or a plain word.'
            ) from None
    except ValueError as err:  # an int of more digits than Python converts
        raise argparse.ArgumentTypeError(f"{text!r}: not a usable number ({err}).") from None
    try:
        number = float(raw)
    except ValueError:
        return key, raw  # a plain word
    if not math.isfinite(number):
        raise not_finite
    return key, number


def _options(pairs, flag, parser):
    options = {}
    for key, value in pairs or ():
        if key in options:
            parser.error(f"argument {flag}: {key!r} is given twice.")
        options[key] = value
    return options


def _checked_booleans(options, names, flag, parser):
    """``options`` with the values of the bool options ``names`` read by
    `keras_rnnx.validation.parse_bool`: true or false, nothing else
    (``reset_after=no`` had made a GRU with reset_after=True)."""
    options = dict(options)
    for key in sorted(set(options) & set(names)):
        try:
            options[key] = validation.parse_bool(options[key], name=key)
        except ValueError as err:
            parser.error(f"argument {flag}: {err} Write {key}=true or {key}=false.")
    return options


def _add_train_parser(commands):
    train = commands.add_parser(
        "train",
        help="train a model on a task and write a preset directory",
        description="Train a model on a task (a data set of keras_rnnx.datasets) "
        "and write a preset directory (config.json, model.weights.h5, "
        "metadata.json with the metric on every split, loss_curves.png). The "
        "model comes from --cell and its options, or from a preset's --config. "
        "Working state (Keras BackupAndRestore backup, best weights, "
        "history.jsonl, TensorBoard logs) lives in OUTPUT.work: a run killed "
        "at any point continues from its last completed epoch when the same "
        "command is run again.",
        epilog="Example: rnnx train --task adding --cell lstm --cell-option "
        "peephole=true --units 32 --epochs 5 --output runs/adding_lstm",
    )
    data = train.add_argument_group("data")
    data.add_argument(
        "--task", type=_task_name, required=True, metavar="NAME",
        help=f"task or data set, among: {', '.join(datasets.TASKS)}",
    )  # fmt: skip
    data.add_argument(
        "--task-option", type=_key_value, action="append", metavar="KEY=VALUE",
        help="an option of the task (see keras_rnnx.datasets.get_task); repeatable",
    )  # fmt: skip
    data.add_argument("--data-dir", help="the data sets' directory (default: the loaders' own)")
    model = train.add_argument_group("model (from flags, or from --config)")
    model.add_argument(
        "--config", metavar="PATH",
        help="build the architecture of a preset: its directory or its "
        "config.json (fresh weights); excludes the flags below",
    )  # fmt: skip
    model.add_argument(
        "--cell", type=_choice("cell", training.CELLS), metavar="NAME",
        help=f"cell type, among: {', '.join(training.CELLS)} (default: lstm)",
    )  # fmt: skip
    model.add_argument(
        "--cell-option", type=_key_value, action="append", metavar="KEY=VALUE",
        help="an argument of the layer, VALUE a JSON literal, e.g. peephole=true, "
        "forget_bias=1.0, periods=[1,2,4]; repeatable",
    )  # fmt: skip
    model.add_argument("--units", type=_int_at_least(1), help="units per layer (default: 32)")
    model.add_argument("--layers", type=_int_at_least(1), help="stacked layers (default: 1)")
    model.add_argument("--dropout", type=_rate, help="input dropout of the cells (default: 0)")
    model.add_argument(
        "--recurrent-dropout", type=_rate, help="recurrent dropout of the cells (default: 0)"
    )
    model.add_argument(
        "--output-dropout", type=_rate,
        help="dropout between the last recurrent layer and the head (default: 0)",
    )  # fmt: skip
    model.add_argument(
        "--embedding-dim", type=_int_at_least(1),
        help="embedding size for character inputs (default: --units)",
    )  # fmt: skip
    fit = train.add_argument_group("optimisation")
    fit.add_argument(
        "--optimizer", type=_choice("optimizer", training.OPTIMIZERS), default="adam",
        metavar="NAME", help=f"among: {', '.join(training.OPTIMIZERS)} (default: %(default)s)",
    )  # fmt: skip
    fit.add_argument(
        "--lr", "--learning-rate", dest="learning_rate", type=_positive_float,
        default=1e-3, help="learning rate (default: %(default)s)",
    )  # fmt: skip
    fit.add_argument(
        "--lr-schedule", type=_choice("lr-schedule", training.LR_SCHEDULES), default="constant",
        metavar="NAME", help="constant, or cosine: decay to 5%% of --lr over the "
        "--epochs (default: %(default)s)",
    )  # fmt: skip
    fit.add_argument(
        "--clipnorm", type=_positive_float, default=None,
        help="clip each gradient to this norm (default: no clipping)",
    )  # fmt: skip
    fit.add_argument(
        "--weight-decay", type=_positive_float, default=None,
        help="decoupled weight decay of the matrices, as in AdamW (default: none)",
    )  # fmt: skip
    fit.add_argument(
        "--dtype-policy", type=_choice("dtype-policy", training.DTYPE_POLICIES),
        default="float32", metavar="NAME",
        help="train under this Keras dtype policy, among: "
        f"{', '.join(training.DTYPE_POLICIES)}; the preset is float32 either way "
        "(default: %(default)s)",
    )  # fmt: skip
    fit.add_argument("--epochs", type=_int_at_least(1), default=10, help="(default: %(default)s)")
    fit.add_argument("--batch-size", type=_int_at_least(1), default=32, help="(default: %(default)s)")
    fit.add_argument(
        "--patience", type=_int_at_least(1), default=None,
        help="early stopping: stop after this many epochs without a lower "
        "validation loss (default: no early stopping)",
    )  # fmt: skip
    fit.add_argument("--seed", type=_int_at_least(0), default=0, help="(default: %(default)s)")
    out = train.add_argument_group("output")
    out.add_argument("--output", required=True, metavar="DIR", help="preset directory to write")
    out.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    out.add_argument(
        "--work-dir", metavar="DIR", help="working directory (default: OUTPUT.work)"
    )
    out.add_argument(
        "--resume", action=argparse.BooleanOptionalAction, default=True,
        help="continue an interrupted run found in the working directory "
        "(default); --no-resume discards it and starts over",
    )  # fmt: skip
    out.add_argument(
        "--verbose", choices=("0", "1", "2", "auto"), default="auto",
        help="Keras fit verbosity: 1 progress bar, 2 one line per epoch (default: %(default)s)",
    )  # fmt: skip
    dist = train.add_argument_group("distribution")
    dist.add_argument(
        "--strategy", choices=distributed.STRATEGIES, default="none",
        help="none: one process (default); mirrored: tf.distribute."
        "MirroredStrategy over this machine's devices (model.fit); multiworker: "
        "tf.distribute.MultiWorkerMirroredStrategy configured from TF_CONFIG, "
        "one process per worker, a custom training loop, --batch-size per "
        "worker; the chief (worker 0) writes the preset (docs/training.md)",
    )  # fmt: skip
    # Test-only: write the final weights to PATH (.npz), on every worker.
    dist.add_argument("--dump-weights", metavar="PATH", help=argparse.SUPPRESS)
    train.set_defaults(handler=lambda args: _train(args, train), command_parser=train)


_MODEL_FLAGS = {
    "cell": "--cell", "cell_option": "--cell-option", "units": "--units",
    "layers": "--layers", "dropout": "--dropout",
    "recurrent_dropout": "--recurrent-dropout", "embedding_dim": "--embedding-dim",
    "output_dropout": "--output-dropout",
}  # fmt: skip


def _read_config_argument(path):
    path = pathlib.Path(path)
    if path.is_dir():  # a preset: verified against a manifest beside it, as rnnx eval does
        path = _local_preset(str(path)) / zoo.CONFIG_FILE
    if not path.is_file():
        raise zoo.PresetError(
            f"{path}: no such file; --config takes a preset directory or its "
            f"{zoo.CONFIG_FILE}."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise zoo.PresetError(f"{path}: malformed JSON ({err}); expected a Keras model config.") from err


def _is_within(path, directory):
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return os.path.commonpath([path, directory]) == directory


def _data_dir_problem(err, data_dir):
    """The ``--data-dir`` message for an OSError met while the data was read or
    prepared, or None when the error is not about the data directory."""
    filename = getattr(err, "filename", None)
    if not isinstance(filename, (str, os.PathLike)):
        return None
    if data_dir is None:
        import tensorflow_datasets as tfds

        default = tfds.core.constants.get_default_data_dir()
        if not _is_within(filename, default):
            return None
        return (
            f"cannot write the data sets in the default data directory {default} "
            f"({err.strerror or err}: {filename}); pass a writable --data-dir."
        )
    if not _is_within(filename, data_dir):
        return None
    return f"cannot write the data sets in {data_dir} ({err.strerror or err}: {filename}); pass a writable --data-dir."


@contextlib.contextmanager
def _reading_data(args, parser):
    """Map the errors of reading or preparing a task's data to the flag at fault."""
    try:
        yield
    except OSError as err:
        problem = _data_dir_problem(err, args.data_dir)
        if problem is not None:
            parser.error(f"argument --data-dir: {problem}")
        if isinstance(err, FileNotFoundError):
            parser.error(f"argument --task/--task-option: {err}")
        raise
    except (TypeError, ValueError) as err:
        parser.error(f"argument --task/--task-option: {err}")


def _check_directories(args, parser, chief=True):
    output = pathlib.Path(args.output)
    work = pathlib.Path(args.work_dir) if args.work_dir is not None else training.work_dir_for(output)
    checks = [("--data-dir", args.data_dir, False)]
    if chief:  # the chief writes the preset and the working directory
        checks = [("--output", output, False), ("--output", output.parent, True), ("--work-dir", work, True), *checks]
    for flag, path, writable in checks:
        problem = None if path is None else training.trainer.directory_problem(path, writable=writable)
        if problem:
            parser.error(f"argument {flag}: {problem}; choose another directory.")


def train_arguments(args, parser, *, chief=True, prepare_data=True):
    """Every check of ``rnnx train`` made before training, in order.

    The seam between the command line and `keras_rnnx.training.train`: the
    parsed ``args`` (flag values already checked by their argparse types)
    become ``train``'s keyword arguments (all but ``strategy``). Checked here:
    ``--output`` (exists without ``--overwrite``, a file, under a file, not
    writable), ``--work-dir`` and ``--data-dir`` (a file or under one), the
    task and its options (bool options take only true/false), ``--config``
    against the model flags, the cell's option names and bool options; with
    ``prepare_data``, the task's data is prepared (read, or generated into
    ``--data-dir``) so that an unwritable data directory is named now.

    Returns:
        dict of keyword arguments of `keras_rnnx.training.train`.

    Raises:
        SystemExit: status 2, after argparse's one-line message naming the flag.
    """
    output = pathlib.Path(args.output)
    if output.exists() and not args.overwrite:
        parser.error(
            f"argument --output: {output} already exists; pass --overwrite to "
            "replace it, or choose another directory."
        )
    _check_directories(args, parser, chief)
    task_options = _options(args.task_option, "--task-option", parser)
    task_options = _checked_booleans(
        task_options, datasets.BOOLEAN_OPTIONS.get(args.task, ()), "--task-option", parser
    )
    with _reading_data(args, parser):
        task = datasets.get_task(args.task, data_dir=args.data_dir, **task_options)
    given = [flag for dest, flag in _MODEL_FLAGS.items() if getattr(args, dest) is not None]
    model_config = None
    if args.config is not None:
        if given:
            parser.error(f"argument --config: not allowed with {', '.join(given)}.")
        if args.dtype_policy != "float32":
            parser.error(
                "argument --dtype-policy: not allowed with --config (the config "
                "keeps its own layers' dtypes); drop one of them."
            )
        model_config = _read_config_argument(args.config)
    cell = args.cell or "lstm"
    cell_options = _options(args.cell_option, "--cell-option", parser)
    try:
        training.check_cell_options(cell, cell_options)
    except ValueError as err:
        parser.error(f"argument --cell-option: {err}")
    cell_options = _checked_booleans(cell_options, training.boolean_cell_options(cell), "--cell-option", parser)
    if prepare_data:
        with _reading_data(args, parser):
            datasets.get_builder(task, args.data_dir)
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    return dict(
        task=task,
        output=output,
        model_config=model_config,
        cell=cell,
        units=args.units or 32,
        layers=args.layers or 1,
        dropout=args.dropout or 0.0,
        recurrent_dropout=args.recurrent_dropout or 0.0,
        embedding_dim=args.embedding_dim,
        output_dropout=args.output_dropout or 0.0,
        cell_options=cell_options,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        dtype_policy=args.dtype_policy,
        clipnorm=args.clipnorm,
        weight_decay=args.weight_decay,
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        seed=args.seed,
        data_dir=args.data_dir,
        work_dir=args.work_dir,
        overwrite=args.overwrite,
        resume=args.resume,
        verbose=verbose,
        command=args.command_line,
    )


def parse_train(argv, *, prepare_data=False):
    """``rnnx train ARGV`` parsed and checked as the command would, without
    training: `train_arguments` (by default without preparing the data).

    Raises:
        SystemExit: status 2 for a bad command line, as ``rnnx train``.
    """
    args = build_parser().parse_args(["train", *argv])
    args.command_line = shlex.join(["rnnx", "train", *argv])
    return train_arguments(args, args.command_parser, prepare_data=prepare_data)


def _train(args, parser):
    # First: a multi-worker strategy must exist before TensorFlow runs anything.
    strategy = distributed.make_strategy(args.strategy)
    arguments = train_arguments(args, parser, chief=training.trainer.is_chief(strategy))
    result = training.train(**arguments, strategy=strategy)
    metadata = result.metadata
    if args.dump_weights:
        distributed.dump_weights(result.model, args.dump_weights)
    if not result.chief:
        print(f"Worker done; the chief writes the preset {result.preset_dir}.")
        return 0
    print(f"Wrote preset {result.preset_dir} ({metadata['params']:,} parameters).")
    for line in _metric_lines(metadata["task"], metadata["metrics"]):
        print(line)
    return 0


def _format_metric(name, scores):
    text = f"{name} {scores[name]:.4f}"
    if "bits_per_char" in scores:
        text += f" ({scores['bits_per_char']:.4f} bits per char)"
    return text


def _metric_lines(task_info, scores_by_split):
    metric, baseline = task_info["metric"], task_info.get("baseline")
    lines = []
    unit = "steps" if task_info.get("sequence_output") else "examples"
    for split, scores in scores_by_split.items():
        lines.append(
            f"  {task_info['name']} {split:<10} {_format_metric(metric, scores)} "
            f"over {scores['count']:,} {unit}"
            + (f", state carried across windows in {scores['streams']} streams" if "streams" in scores else "")
        )
    if baseline is not None:
        lines.append(f"  trivial baseline: {metric} {baseline:.4f}")
    return lines


def _add_eval_parser(commands):
    parser = commands.add_parser(
        "eval",
        help="score a preset on its task with the task's standard metric",
        description="Load a preset directory and score it on a split of the "
        "task it was trained on (read from its metadata.json) with the task's "
        "standard metric: MSE (regression), accuracy (classification), NLL per "
        "time step in nats summed over the 88 notes (JSB Chorales), nats and "
        "bits per character (text). The task's trivial baseline is printed beside it.",
    )
    parser.add_argument(
        "preset", metavar="PRESET",
        help="a preset directory; its files are checked against a manifest.json beside it that lists it",
    )  # fmt: skip
    _add_eval_options(parser)
    parser.set_defaults(handler=lambda args: _eval(args, parser))


def _add_eval_options(parser):
    parser.add_argument(
        "--split", choices=("train", "validation", "test", "all"), default=None,
        help="(default: test; validation for text, which has no test split)",
    )  # fmt: skip
    parser.add_argument("--data-dir", help="the data sets' directory (default: the loaders' own)")
    parser.add_argument(
        "--data-root",
        help="where a preset's relative data paths point (default: "
        f"${training.trainer.DATA_ROOT_ENV} or {training.trainer.DEFAULT_DATA_ROOT})",
    )
    parser.add_argument("--batch-size", type=_int_at_least(1), default=64, help="(default: %(default)s)")
    parser.add_argument(
        "--carry-state", type=_int_at_least(1), nargs="?", const=8, default=None, metavar="STREAMS",
        help="character models: read the split as STREAMS long streams (default 8), carrying the "
        "state from each window into the next, instead of scoring each window from a zero state",
    )
    parser.add_argument(
        "--timesteps", type=_int_at_least(1), default=None, metavar="T",
        help="character models: score windows of T characters (each from a zero state) instead of "
        "the preset's own window length; the text and split stay the same",
    )
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")


def _local_preset(text):
    """The preset directory ``text``, verified as `rnnx zoo` verifies one.

    `keras_rnnx.zoo.fetch` checks every file against a manifest.json beside
    the directory when one lists it (a mismatch is a PresetError naming the
    file); which source and what vouches for it goes to stderr. A bare name
    is a directory here, never a zoo name.
    """
    path = text if os.path.isabs(text) or text.startswith((".", "~")) else os.path.join(".", text)
    preset = zoo.fetch(path)
    print(preset.describe(), file=sys.stderr)
    return preset.path


def _check_data_dir(args, parser):
    problem = None if args.data_dir is None else training.trainer.directory_problem(args.data_dir, writable=False)
    if problem:
        parser.error(f"argument --data-dir: {problem}; choose another directory.")


def _eval(args, parser):
    _check_data_dir(args, parser)
    return _evaluate_preset(_local_preset(args.preset), args)


def _evaluate_preset(directory, args):
    model, metadata = zoo.load_preset(directory)
    # TFDS prints its progress ("Downloading and preparing dataset ...") on
    # stdout the first time it builds a task's data; it goes to stderr here,
    # so that stdout holds the scores alone (one JSON document with --json).
    with contextlib.redirect_stdout(sys.stderr):
        scores, task = _scores(model, metadata, directory, args)
    if args.json:
        print(json.dumps({"task": task.name, "metric": task.metric, "baseline": task.baseline, "scores": scores}))
    else:
        print(f"{directory}: {model.name}, {model.count_params():,} parameters")
        info = {"name": task.name, "metric": task.metric, "baseline": task.baseline,
                "sequence_output": task.sequence_output}  # fmt: skip
        for line in _metric_lines(info, scores):
            print(line)
    return 0


def _scores(model, metadata, directory, args):
    """``rnnx eval``'s scores (a dict by split) and the task they were computed on."""
    source = str(pathlib.Path(directory) / zoo.METADATA_FILE)
    task = training.task_from_metadata(
        metadata, args.data_dir, source=source, root=args.data_root, timesteps=args.timesteps
    )
    available = [s for s, n in datasets.split_sizes(task, args.data_dir).items() if n]
    if args.split == "all":
        splits = available
    elif args.split is None:  # the test split, or validation for text (no test split)
        splits = ["test" if "test" in available else "validation"]
    elif args.split in available:
        splits = [args.split]
    else:
        raise ValueError(
            f"Task {task.name!r} has no {args.split!r} split; its splits: "
            f"{', '.join(available)}."
        )
    if args.carry_state is not None and task.metric != "nats_per_char":
        raise ValueError(
            f"--carry-state scores character models; task {task.name!r} is scored with "
            f"{task.metric!r}: leave --carry-state out."
        )
    scores = {
        split: (
            training.evaluate(model, task, split, batch_size=args.batch_size, data_dir=args.data_dir)
            if args.carry_state is None
            else training.evaluate_carried(model, task, split, streams=args.carry_state, data_dir=args.data_dir)
        )
        for split in splits
    }
    return scores, task


def _chords(text):
    """``60,64,67;62,65`` -> [[60, 64, 67], [62, 65]] (an empty chord is a rest)."""
    chords = []
    for chord in text.split(";"):
        try:
            chords.append([int(n) for n in chord.split(",") if n.strip()])
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected chords of MIDI note numbers such as '60,64,67;62,65,69', "
                f"received {text!r}."
            ) from None
    return chords


def _add_sample_parser(commands):
    parser = commands.add_parser(
        "sample",
        help="generate text or music from a preset",
        description="Sample from a preset: a character model prints (or writes "
        "to --output) its prompt followed by --length generated characters; a "
        "JSB Chorales model writes --length time steps (quarter notes) as a "
        "MIDI file (--output *.mid) or a piano-roll image (--output *.png).",
    )
    parser.add_argument(
        "preset", metavar="PRESET",
        help="a preset directory; its files are checked against a manifest.json beside it that lists it",
    )  # fmt: skip
    _add_sample_options(parser)
    parser.set_defaults(handler=lambda args: _sample(args, parser))


def _add_sample_options(parser):
    parser.add_argument("--length", type=_int_at_least(1), default=200, help="characters or time steps to generate (default: %(default)s)")
    parser.add_argument("--temperature", type=_non_negative_float, default=1.0, help="0: most probable choice; 1: the model's distribution (default: %(default)s)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0, help="(default: %(default)s)")
    parser.add_argument(
        "--prompt",
        help="text to start from (character models), or chords of MIDI note "
        "numbers such as '60,64,67;62,65,69' (JSB)",
    )
    parser.add_argument("--output", metavar="PATH", help="file to write: .txt for text; .mid/.midi or .png for music")


def _sample(args, parser):
    return _sample_preset(_local_preset(args.preset), args, parser)


def _sample_preset(directory, args, parser):
    suffix = pathlib.Path(args.output).suffix.lower() if args.output else None
    if args.output:
        problem = training.trainer.directory_problem(pathlib.Path(args.output).parent)
        if problem:
            parser.error(f"argument --output: {problem}; choose another file.")
    model, metadata = zoo.load_preset(directory)
    kind = (metadata.get("task") or {}).get("kind")
    if kind == "char_lm":
        path = pathlib.Path(directory) / training.trainer.VOCABULARY_FILE
        if not path.is_file():
            raise zoo.PresetError(f"{path}: file missing; a character model's preset holds its vocabulary.")
        vocabulary = datasets.load_vocabulary(path)
        text = training.sample_text(
            model, vocabulary, length=args.length, prompt=args.prompt,
            temperature=args.temperature, seed=args.seed,
        )  # fmt: skip
        if args.output:
            pathlib.Path(args.output).write_text(text, encoding="utf-8")
            print(f"Wrote {len(text)} characters to {args.output}.")
        else:
            print(text)
        return 0
    if kind == "multilabel":
        if suffix not in (".mid", ".midi", ".png"):
            parser.error("argument --output: a music model needs --output FILE.mid (MIDI) or FILE.png (piano roll).")
        try:
            prompt = _chords(args.prompt) if args.prompt else None
        except argparse.ArgumentTypeError as err:
            parser.error(f"argument --prompt: {err}")
        roll = training.sample_piano_roll(
            model, steps=args.length, prompt=prompt, temperature=args.temperature, seed=args.seed
        )
        if suffix == ".png":
            training.plot_piano_roll(roll, args.output, title=f"{model.name}, seed {args.seed}")
        else:
            training.write_midi(roll, args.output)
        print(f"Wrote {len(roll)} time steps to {args.output}.")
        return 0
    raise ValueError(
        f"{directory}: sampling needs a character model (task kind 'char_lm') or a "
        f"JSB Chorales model (kind 'multilabel'); this preset's task kind is {kind!r}."
    )


def _add_zoo_parser(commands):
    zoo_parser = commands.add_parser(
        "zoo",
        help="list, inspect, download, evaluate and sample the pretrained presets",
        description="The model zoo. A PRESET is a name from the manifest, a "
        "preset directory (./DIR), a hub URI hf://OWNER/REPO[@REVISION], or a URL "
        "http(s)://HOST/BASE/NAME. Names resolve to the user cache, then the zoo "
        "directory (the checkout's zoo/), then the installed keras-rnnx-zoo "
        f"package, then the remote zoo (--base-url or ${zoo.URL_ENV}) or else "
        "the preset's hub repository; every file is checked against the "
        "manifest's sha256 (a hub repository outside the manifest: against the "
        "hub's hashes) on every load. Which source was used is printed on stderr.",
    )
    zoo_commands = zoo_parser.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    zoo_commands.required = True

    def common(parser, preset=True):
        if preset:
            parser.add_argument("preset", metavar="PRESET", help="a preset name, directory, hf:// URI or URL")
        parser.add_argument("--cache-dir", help=f"the download cache (default: ${zoo.CACHE_ENV} or $KERAS_HOME/keras_rnnx/zoo)")
        parser.add_argument("--zoo-dir", help=f"the shipped zoo directory (default: the project's zoo/ or ${zoo.ZOO_DIR_ENV})")
        parser.add_argument("--base-url", help=f"the remote zoo's http(s) address (default: ${zoo.URL_ENV}; none)")
        parser.add_argument(
            "--offline", action="store_true", default=None,
            help=f"never use the network (also ${zoo.OFFLINE_ENV}=1)",
        )  # fmt: skip

    common(zoo_commands.add_parser("list", help="the presets and their headline metrics"), preset=False)
    common(zoo_commands.add_parser("info", help="a preset's manifest entry, metadata and files"))
    download = zoo_commands.add_parser("download", help="download a preset into the cache")
    common(download)
    download.add_argument("--force", action="store_true", help="download again even when cached")
    evaluate = zoo_commands.add_parser("eval", help="recompute a preset's metrics on its data")
    common(evaluate)
    _add_eval_options(evaluate)
    sample = zoo_commands.add_parser("sample", help="generate text or music from a preset")
    common(sample)
    _add_sample_options(sample)
    push = zoo_commands.add_parser(
        "push",
        help="publish a preset to the Hugging Face Hub",
        description="Upload a preset (a name, a directory or a URI) to a hub repository, "
        "its MODEL_CARD.md as the hub README under the hub's metadata header. The "
        "repository is created if needed; the token is the hub client's own (HF_TOKEN "
        "or `hf auth login`) and is never printed. HF_ENDPOINT selects another hub.",
    )
    common(push)
    push.add_argument("target", metavar="hf://OWNER/REPO[@BRANCH]", help="the hub repository (and branch)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--message", help="the commit message")
    zoo_parser.set_defaults(handler=lambda args: _zoo(args, sample, evaluate))


def _fetch(args, **kwargs):
    return zoo.fetch(
        args.preset, cache_dir=args.cache_dir, zoo_dir=args.zoo_dir,
        base_url=args.base_url, offline=args.offline, **kwargs,
    )  # fmt: skip


def _zoo(args, sample_parser, eval_parser=None):
    if args.zoo_command == "list":
        presets = zoo.list(zoo_dir=args.zoo_dir)
        if not presets:
            print("No presets: the manifest lists none.")
            return 0
        print(f"{'name':24s} {'task':13s} {'params':>10s}  headline (split metric = value; published)")
        for name, entry in presets.items():
            head = entry["headline"]
            published = "; ".join(
                f"{label} {value}" for label, value in head.get("published", {}).items() if value is not None
            )
            print(
                f"{name:24s} {entry['task'] or '-':13s} {entry['params'] or 0:>10,}  "
                f"{head['split']} {head['metric']} = {head['value']:.4f}"
                + (f" ({published})" if published else "")
            )
        return 0
    if args.zoo_command == "info":
        preset = _fetch(args, progress=True)
        print(preset.describe(), file=sys.stderr)
        print(json.dumps({
            "name": preset.name, "path": str(preset.path), "source": preset.source,
            "manifest": preset.entry, "metadata": {
                k: v for k, v in preset.metadata.items() if k != "training"
            },
        }, indent=2, sort_keys=True))  # fmt: skip
        return 0
    if args.zoo_command == "download":
        preset = _fetch(args, force_download=args.force)
        print(preset.describe(), file=sys.stderr)
        print(f"{preset.name}: {preset.path} ({preset.source}, verified)")
        return 0
    if args.zoo_command == "push":
        zoo.parse_uri(args.target)  # a malformed target fails before anything is read
        preset = _fetch(args)
        print(preset.describe(), file=sys.stderr)
        ref = zoo.hf.push(preset.path, args.target, private=args.private, message=args.message)
        print(f"Pushed {preset.name} to {ref.uri} (load it with keras_rnnx.zoo.load({ref.uri!r})).")
        return 0
    if args.zoo_command == "eval" and eval_parser is not None:
        _check_data_dir(args, eval_parser)
    preset = _fetch(args)
    print(preset.describe(), file=sys.stderr)
    if args.zoo_command == "eval":
        return _evaluate_preset(preset.path, args)
    return _sample_preset(preset.path, args, sample_parser)


def _oracle_address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 127.0.0.1:8000, received {text!r}.")
    return host, port


def _cell_list(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            "an empty list of cell types searches nothing; name at least one of "
            f"{', '.join(training.CELLS)}."
        )
    unknown = [n for n in names if n not in training.CELLS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown cell type(s) {', '.join(map(repr, unknown))}; choose from {', '.join(training.CELLS)}."
        )
    return names


def _add_search_parser(commands):
    parser = commands.add_parser(
        "search",
        help="architecture search with keras-tuner (cell types, gate structures, sizes)",
        description="Search the keras-rnnx hypermodels with keras-tuner on a task "
        "and write DIRECTORY/trials.csv, leaderboard.txt, plots and the best model "
        "as a preset (best_preset/). Running the same command again resumes "
        "without repeating completed trials. --chief / --worker ID with "
        "--oracle-address HOST:PORT run keras-tuner's distributed mode (one chief "
        "serving the oracle, any number of workers running trials).",
    )
    parser.add_argument("--task", type=_task_name, required=True, metavar="NAME",
                        help="task or data set (as for rnnx train)")
    parser.add_argument("--task-option", type=_key_value, action="append", metavar="KEY=VALUE",
                        help="an option of the task; repeatable")
    parser.add_argument("--data-dir", help="the data sets' directory (default: the loaders' own)")
    parser.add_argument("--hypermodel", choices=("rnn", "lstm_variants"), default="rnn",
                        help="rnn: cell type, sizes, dropout, optimiser; lstm_variants: the "
                        "Greff/Jozefowicz gate structures (default: %(default)s)")
    parser.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random",
                        help="(default: %(default)s)")
    parser.add_argument("--max-trials", type=_int_at_least(1, " A budget of zero searches nothing."),
                        default=10, help="trial budget (default: %(default)s)")
    parser.add_argument("--epochs", type=_int_at_least(1), default=3,
                        help="epochs per trial (Hyperband: the most; default: %(default)s)")
    parser.add_argument("--batch-size", type=_int_at_least(1), default=32, help="(default: %(default)s)")
    parser.add_argument("--cell-types", type=_cell_list, metavar="NAME[,NAME...]",
                        help="rnn hypermodel: the cells to search (default: every cell that fits the task)")
    parser.add_argument("--units", type=_int_at_least(1), default=64,
                        help="lstm_variants hypermodel: the fixed width (default: %(default)s)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0, help="(default: %(default)s)")
    parser.add_argument("--directory", required=True, metavar="DIR", help="the results directory")
    parser.add_argument("--overwrite", action="store_true", help="discard a search found in DIR")
    parser.add_argument("--top", type=_int_at_least(1), default=10, help="leaderboard rows (default: %(default)s)")
    parser.add_argument("--no-export", action="store_true", help="do not write the best model as a preset")
    parser.add_argument("--trial-processes", action=argparse.BooleanOptionalAction, default=None,
                        help="run each trial in a fresh process, so that memory stays flat over many "
                        "trials, at a few seconds of start-up per trial (default: on for random and "
                        "bayesian, off for hyperband, which cannot)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="(default: %(default)s)")
    dist = parser.add_argument_group("distributed (keras-tuner chief/worker)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true", help="serve the oracle at --oracle-address")
    role.add_argument("--worker", metavar="ID", help="run trials for the chief at --oracle-address")
    dist.add_argument("--oracle-address", type=_oracle_address, metavar="HOST:PORT",
                      help="the chief's address (required with --chief / --worker)")
    dist.add_argument("--lease-seconds", type=_positive_float, default=600.0,
                      help="chief: a worker silent this long loses its trial to a retry (default: %(default)s)")
    dist.add_argument("--oracle-timeout", type=_positive_float, default=60.0,
                      help="worker: seconds to wait for the chief to answer (default: %(default)s)")
    parser.set_defaults(handler=lambda args: _search(args, parser))


def _search(args, parser):
    for flag, path, writable in (("--directory", args.directory, args.worker is None), ("--data-dir", args.data_dir, False)):
        problem = None if path is None else training.trainer.directory_problem(path, writable=writable)
        if problem:
            parser.error(f"argument {flag}: {problem}; choose another directory.")
    if (args.chief or args.worker) and args.oracle_address is None:
        parser.error("argument --oracle-address: required with --chief or --worker.")
    if args.oracle_address is not None and not (args.chief or args.worker):
        parser.error("argument --oracle-address: give --chief or --worker ID with it.")
    if args.worker is not None and ("chief" in args.worker or not args.worker.strip()):
        parser.error(f"argument --worker: a worker ID must be non-empty and not contain 'chief'; received {args.worker!r}.")
    if args.oracle_address is not None:
        host, port = args.oracle_address
        os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port,
                          KERASTUNER_TUNER_ID="chief" if args.chief else args.worker)
    task_options = _options(args.task_option, "--task-option", parser)
    task_options = _checked_booleans(
        task_options, datasets.BOOLEAN_OPTIONS.get(args.task, ()), "--task-option", parser
    )
    with _reading_data(args, parser):
        task = datasets.get_task(args.task, data_dir=args.data_dir, **task_options)
        datasets.get_builder(task, args.data_dir)  # an unwritable --data-dir is named now
    from keras_rnnx.tuner import search

    result = search.search(
        task, directory=args.directory, hypermodel=args.hypermodel, tuner=args.tuner,
        max_trials=args.max_trials, epochs=args.epochs, batch_size=args.batch_size,
        cell_types=args.cell_types, units=args.units, seed=args.seed, overwrite=args.overwrite,
        data_dir=args.data_dir, lease_seconds=args.lease_seconds,
        oracle_timeout=args.oracle_timeout, export_preset=not args.no_export, top=args.top,
        trial_processes=args.trial_processes,
        verbose=args.verbose,
    )  # fmt: skip
    if result.role == "worker":
        print(f"Worker {args.worker} done.")
    return 0


def build_parser():
    """The ``argparse`` parser of ``rnnx`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="rnnx",
        description="keras-rnnx: recurrent layers for Keras 3 (LSTM variants, "
        "GRU, MUT1-3).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    d = demo.DEFAULTS
    demo_parser = commands.add_parser(
        "demo",
        help="shoot-out of the layers on the adding problem (~3-5 min on 2 CPU cores)",
        description="Train each keras-rnnx layer (LSTM variants, GRU, MUT1-3) as "
        "a small model (layer + Dense(1), Adam) on the adding problem, generated "
        "in process, and print its test MSE, parameter count, training "
        "throughput and wall time. The trivial baseline (always predict 1.0) "
        "scores an MSE of 1/6 ~= 0.1667.",
    )
    demo_parser.add_argument(
        "--timesteps",
        type=_int_at_least(2, " The two markers need one step in each half."),
        default=d["timesteps"],
        help="sequence length T (default: %(default)s)",
    )
    demo_parser.add_argument(
        "--epochs", type=_int_at_least(1), default=d["epochs"], help="training epochs (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--samples",
        type=_int_at_least(1),
        default=d["samples"],
        help="training sequences (the test set has "
        f"{d['test_samples']} more, drawn with seed + 1; default: %(default)s)",
    )
    demo_parser.add_argument(
        "--units", type=_int_at_least(1), default=d["units"], help="units of each layer (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--only",
        type=_variant_names,
        default=None,
        metavar="NAME[,NAME...]",
        help=f"run only these variants; among: {', '.join(demo.VARIANTS)} "
        "(default: all)",
    )
    demo_parser.add_argument(
        "--seed", type=_int_at_least(0), default=d["seed"], help="seed of data and Keras (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--batch-size", type=_int_at_least(1), default=d["batch_size"], help="batch size (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=d["learning_rate"],
        help="Adam learning rate (default: %(default)s)",
    )
    demo_parser.set_defaults(handler=demo.main)
    _add_train_parser(commands)
    _add_eval_parser(commands)
    _add_sample_parser(commands)
    _add_zoo_parser(commands)
    _add_search_parser(commands)
    return parser


def _quiet_data_logs():
    """Keep TFDS' per-example progress bars and config warnings off the output."""
    import absl.logging
    import tensorflow_datasets as tfds

    absl.logging.set_verbosity(absl.logging.ERROR)
    tfds.disable_progress_bar()


def main(argv=None):
    """Entry point of ``rnnx``; returns the exit status.

    Args:
        argv: list of arguments without the program name (default:
            ``sys.argv[1:]``).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["rnnx", *argv])
    if args.command in ("train", "eval", "sample", "zoo", "search"):
        _quiet_data_logs()
    try:
        return args.handler(args)
    except training.NonFiniteLoss as err:
        print(f"rnnx {args.command}: error: {err}", file=sys.stderr)
        return 3
    except (zoo.PresetError, FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"rnnx {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
