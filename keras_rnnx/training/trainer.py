"""Train a model on a task and write it as a preset directory, resumably.

`train` writes two directories:

- ``OUTPUT`` (the preset, see `keras_rnnx.zoo.save_preset`): ``config.json``,
  ``model.weights.h5``, ``metadata.json``, ``loss_curves.png`` (and
  ``vocabulary.json`` for character models). It appears, complete, only at
  the end of a successful run (written elsewhere, then renamed).
- ``OUTPUT.work`` (or ``work_dir``): the run's working state.
  ``backup/`` is Keras' `BackupAndRestore` directory (weights, optimizer
  state and epoch number at the end of each epoch, with the previous pair
  kept as ``*.bkp``), ``history.jsonl`` one line per completed epoch,
  ``best.weights.h5`` the weights of the best epoch so far, ``logs/`` the
  TensorBoard logs, ``run.json`` the run's settings.

Resume: a run killed at any point (even by SIGKILL) and started again with
the same arguments continues from the end of its last completed epoch; no
completed epoch is trained again. The early-stopping counter and the best
value so far are restored from ``history.jsonl``. The batches of the resumed
epochs are shuffled as in the first epochs of a fresh run (the data
pipeline's shuffle order restarts), so a resumed run is not bit-identical to
an uninterrupted one. ``resume=False`` (``--no-resume``) discards the
working state and starts over.
"""

import contextlib
import dataclasses
import datetime
import json
import math
import os
import pathlib
import platform
import shlex
import shutil
import sys
import tempfile
import time

import keras
import numpy as np

from keras_rnnx import datasets
from keras_rnnx import zoo
from keras_rnnx.training import distributed
from keras_rnnx.training import metrics as metrics_lib
from keras_rnnx.training import models
from keras_rnnx.validation import check_int
from keras_rnnx.version import __version__

SPLITS = ("train", "validation", "test")
HISTORY_FILE = "history.jsonl"
RUN_FILE = "run.json"
BACKUP_DIR = "backup"
BEST_WEIGHTS_FILE = "best.weights.h5"
LOGS_DIR = "logs"
LOSS_CURVES_FILE = "loss_curves.png"
VOCABULARY_FILE = "vocabulary.json"
# run.json keys that may change between a run and its resumption.
_MAY_CHANGE_ON_RESUME = frozenset({"epochs", "patience", "stopped"})  # "stopped": NonFiniteLoss's record
LEGACY_DEFAULTS = {
    "lr_schedule": "constant", "dtype_policy": "float32", "output_dropout": 0.0, "weight_decay": None,
}  # fmt: skip
"""Settings added after runs and presets were first recorded: a ``run.json``
or ``metadata.json`` without the key had this value."""


def recorded_setting(settings, key):
    """``settings[key]`` from a ``run.json`` or metadata section, or the value
    a record written before the setting existed had (`LEGACY_DEFAULTS`)."""
    return settings.get(key, LEGACY_DEFAULTS.get(key))


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        preset_dir: `pathlib.Path` of the written preset directory.
        model: the trained `keras.Model` (with the weights saved in the preset).
        metadata: the dict written to ``metadata.json``.
        history: list of per-epoch dicts (``epoch``, ``loss``, ``val_loss``...),
            every epoch of the run including those before a resumption.
    """

    preset_dir: pathlib.Path
    model: object
    metadata: dict
    history: list
    chief: bool = True


def work_dir_for(output):
    """The default working directory of a run writing the preset ``output``."""
    output = pathlib.Path(output)
    return output.with_name(output.name + ".work")


def resolve_task(task, data_dir=None, **options):
    """A `Task` from a Task (returned as is) or a task name and its options."""
    if isinstance(task, str):
        return datasets.get_task(task, data_dir=data_dir, **options)
    if options:
        raise ValueError("Task options can only be given with a task name, not a Task.")
    return task


# Keys of `Task.options` that `get_task` derives (or takes as a separate
# argument) rather than accepts as options; the rest rebuild the task.
_DERIVED_OPTIONS = ("data_dir", "sha256", "validation_fraction")


def task_metadata(task):
    """The JSON description of ``task`` kept in a preset's ``metadata.json``."""
    return {
        "name": task.name, "kind": task.kind,
        "options": {k: v for k, v in task.options.items() if k != "data_dir"},
        "metric": task.metric, "baseline": task.baseline, "loss": task.loss,
        "sequence_output": task.sequence_output,
    }  # fmt: skip


DATA_ROOT_ENV = "RNNX_DATA_ROOT"
DEFAULT_DATA_ROOT = os.path.join("..", "shared", "data")


def data_root(root=None):
    """Where relative data paths of a preset point: ``root``, ``$RNNX_DATA_ROOT``
    or ``../shared/data`` (the project's layout), relative to the working directory."""
    return pathlib.Path(root or os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT)


def task_from_metadata(metadata, data_dir=None, *, source="metadata.json", root=None, timesteps=None):
    """Rebuild the task a preset was trained on from its ``metadata.json``.

    A relative ``path`` option (the zoo's presets store their data files
    relative to the data root, so that any checkout can re-evaluate them) is
    resolved against `data_root` (``root``, ``$RNNX_DATA_ROOT`` or
    ``../shared/data``).

    ``timesteps`` (character models only) rebuilds the task with windows of
    that many characters instead of the preset's: the same text and split,
    to score a model with a longer or shorter context from each window's
    zero state (the last partial window of each split is dropped, so the
    number of scored characters changes slightly).

    Raises:
        ValueError: no task description in the metadata, the data found now
            differs from the preset's (e.g. another text: its sha256), or
            ``timesteps`` for a task that is not a character model.
    """
    info = metadata.get("task")
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise ValueError(
            f"{source}: expected a 'task' object with the task's 'name' and "
            "'options' (as written by keras_rnnx.training.train)."
        )
    stored = dict(info.get("options") or {})
    path = stored.get("path")
    if isinstance(path, str) and not os.path.isabs(path):
        resolved = data_root(root) / path
        if not resolved.exists():
            raise FileNotFoundError(
                f"{source}: the task's data {path!r} is relative to the data root, "
                f"and {resolved} does not exist. Point {DATA_ROOT_ENV} (rnnx "
                "--data-root) at the directory holding it."
            )
        stored["path"] = os.path.abspath(resolved)
    arguments = {k: v for k, v in stored.items() if k not in _DERIVED_OPTIONS}
    if timesteps is not None:
        if info.get("kind") != "char_lm":  # e.g. the adding task's `timesteps` makes other data
            raise ValueError(
                f"`timesteps` re-windows character models; task {info['name']!r} (kind "
                f"{info.get('kind')!r}) keeps the sequences it was trained on: leave `timesteps` "
                "out (rnnx: --timesteps)."
            )
        arguments["timesteps"] = timesteps
        stored.pop("timesteps", None)
    task = datasets.get_task(info["name"], data_dir=data_dir, **arguments)
    differ = sorted(k for k in stored if task.options.get(k) != stored[k])
    if differ:
        details = "; ".join(f"{k}: {stored[k]!r} then, {task.options.get(k)!r} now" for k in differ)
        raise ValueError(
            f"{source}: the data of task {task.name!r} differs from the data the "
            f"preset was trained on ({details})."
        )
    return task


# -- directories --------------------------------------------------------------


def directory_problem(path, *, writable=True):
    """Why no directory can be used or made at ``path``: a sentence, or None.

    A decision without side effects but one: with ``writable`` the nearest
    existing directory at or above ``path`` must take a new entry, which is
    tried (a temporary directory made and removed there), since permission
    bits do not tell for root, read-only mounts or ``/proc``. Without it
    (a data directory, which may be a prepared read-only cache) only the
    shape is checked: ``path`` is not a file and is not under one.
    """
    path = pathlib.Path(path)
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            break
    else:  # pragma: no cover - "." or "/" exists
        return None
    if not candidate.is_dir():
        if candidate == path:
            return f"{path} is a file, not a directory"
        return f"{candidate} is a file, not a directory, so {path} cannot be made under it"
    if writable:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".rnnx-probe-", dir=candidate))
        except OSError as err:
            return f"cannot write in {candidate} ({err.strerror or err})"
    return None


def check_directories(*, output, work_dir, data_dir=None, chief=True):
    """Raise a ValueError naming the first of `train`'s directories that cannot
    be used: ``output`` (its parent takes the preset) and ``work_dir`` must be
    writable directories or makeable as such (on the chief, which writes them),
    ``data_dir`` must not be a file or under one."""
    output = pathlib.Path(output)
    checks = [("data_dir", data_dir, False)]
    if chief:
        checks = [("output", output, False), ("output", output.parent, True), ("work_dir", work_dir, True), *checks]
    for name, path, writable in checks:
        problem = None if path is None else directory_problem(path, writable=writable)
        if problem:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"`{name}`: {problem}. Choose another {name} (rnnx train {flag}).")


# -- history ----------------------------------------------------------------


def read_history(path):
    """Per-epoch records of ``history.jsonl``; the last record of an epoch wins."""
    path = pathlib.Path(path)
    if not path.exists():
        return []
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if isinstance(record, dict) and isinstance(record.get("epoch"), int):
            records[record["epoch"]] = record
    return [records[epoch] for epoch in sorted(records)]


def _write_lines(path, records):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)


class EpochLog(keras.callbacks.Callback):
    """Appends one JSON line per completed epoch (after the backup is saved).

    Each line holds ``epoch`` (0-based), the epoch's logs (``loss``,
    ``val_loss``, ...), ``pid`` and ``time`` (UTC); it is flushed and synced
    before training goes on.
    """

    def __init__(self, path):
        super().__init__()
        self.path = pathlib.Path(path)

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": int(epoch)}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        record["pid"] = os.getpid()
        record["time"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _best(history, monitor):
    values = [(r[monitor], r["epoch"]) for r in history if _finite(r.get(monitor))]
    return min(values) if values else (math.inf, None)


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def _early_stop_reached(history, monitor, patience):
    """True when the last ``patience`` epochs did not improve on the best before."""
    if not patience or not history:
        return False
    _, best_epoch = _best(history, monitor)
    last_epoch = history[-1]["epoch"]
    return best_epoch is not None and last_epoch - best_epoch >= patience


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest ``monitor`` in one file.

    Written to a temporary file, then renamed, so a kill never leaves a
    half-written file. ``best`` starts from the history of earlier runs.
    """

    def __init__(self, path, monitor, best=math.inf):
        super().__init__()
        self.path = pathlib.Path(path)
        self.monitor = monitor
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(value) and value < self.best:
            self.best = float(value)
            tmp = self.path.with_name("tmp-" + self.path.name)
            self.model.save_weights(str(tmp), overwrite=True)
            os.replace(tmp, self.path)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` whose counter and best value continue from ``history``."""

    def __init__(self, monitor, patience, history):
        super().__init__(monitor=monitor, patience=patience, mode="min")
        self._history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        best, best_epoch = _best(self._history, self.monitor)
        if best_epoch is not None:
            self.best = best
            self.best_epoch = best_epoch
            self.wait = self._history[-1]["epoch"] - best_epoch


class NonFiniteLoss(FloatingPointError):
    """Training stopped because the loss became NaN or infinite.

    Raised by `train` at the end of the batch whose loss was first NaN or
    infinite (the test of `keras.callbacks.TerminateOnNaN`), before any
    callback ends the epoch: the working directory keeps the last completed
    epoch (backup, best weights, history) and no preset is written.
    ``rnnx train`` prints the message and exits with status 3.

    Attributes:
        epoch: the 0-based epoch that was stopped (the epochs before it completed).
        batch: the 0-based batch of that epoch whose loss was not finite.
        loss: that loss (the epoch's running mean, as Keras logs it).
    """

    def __init__(self, message, *, epoch, batch, loss):
        super().__init__(message)
        self.epoch, self.batch, self.loss = epoch, batch, loss


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """`keras.callbacks.TerminateOnNaN` that raises `NonFiniteLoss` at once.

    Keras' graceful stop (``model.stop_training``) still ends the epoch, so
    `BackupAndRestore`, `EpochLog` and the TensorBoard log would record the
    NaN weights as a completed epoch; its ``raise_error=True`` raises a bare
    RuntimeError. This one raises with the epoch and batch, first among the
    callbacks, before any of them runs for the bad batch.
    """

    def __init__(self):
        super().__init__(raise_error=True)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            raise NonFiniteLoss(
                f"the loss became {float(loss)}", epoch=self.epoch, batch=int(batch), loss=float(loss)
            )


def _record_stop(work, error):
    """Add what stopped the run to ``run.json`` (kept for the next resumption)."""
    path = work / RUN_FILE
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError):
        run = {}
    run["stopped"] = {
        "reason": "non-finite loss", "epoch": error.epoch, "batch": error.batch, "loss": str(error.loss),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(run, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _stopped_message(error, *, epochs, output, work, chief):
    kept = (
        f"The last completed epoch ({error.epoch}) is kept in {work} (backup/, {BEST_WEIGHTS_FILE}, "
        f"{HISTORY_FILE})" if error.epoch else "No epoch had completed"
    )
    return (
        f"Training stopped in epoch {error.epoch + 1} of {epochs} (batch {error.batch + 1}): "
        f"{error.args[0]}. {kept}; {output} was not written"
        + (" (an existing preset there is unchanged)" if chief else "")
        + ". Lower the learning rate (rnnx train --lr) or clip the gradients (--clipnorm), "
        "then rerun (with --no-resume once a setting changes)."
    )


# -- the working directory ------------------------------------------------------


def _backup_epoch(backup_dir):
    """Epochs completed according to the backup, repairing a half-written pair.

    `BackupAndRestore` writes ``latest.weights.h5`` then
    ``training_metadata.json``, keeping the previous pair as ``*.bkp``. If a
    kill cut the metadata file, the previous pair is restored here (Keras
    falls back to it only when the weights file is unreadable).
    """
    meta = backup_dir / "training_metadata.json"
    if not meta.exists():
        return 0
    for attempt in (0, 1):
        try:
            return int(json.loads(meta.read_text())["epoch"])
        except (ValueError, KeyError, TypeError):
            previous = backup_dir / "training_metadata.json.bkp"
            weights = backup_dir / "latest.weights.h5.bkp"
            if attempt == 1 or not previous.exists() or not weights.exists():
                raise ValueError(
                    f"{meta}: the backup of the interrupted run is unreadable. "
                    "Pass resume=False (rnnx train --no-resume) to start over."
                ) from None
            shutil.copy(previous, meta)
            shutil.copy(weights, backup_dir / "latest.weights.h5")
    return 0  # not reached


def _prepare_work_dir(work, run, resume):
    """Create or reuse ``work``; returns (resumed epochs, history to keep)."""
    backup = work / BACKUP_DIR
    has_backup = (backup / "training_metadata.json").exists()
    if resume and has_backup:
        previous = {}
        if (work / RUN_FILE).exists():
            try:
                previous = json.loads((work / RUN_FILE).read_text())
            except json.JSONDecodeError:
                previous = {}
        changed = sorted(
            key
            for key in set(run) | set(previous)
            if key not in _MAY_CHANGE_ON_RESUME
            and recorded_setting(run, key) != recorded_setting(previous, key)
        )
        if changed:
            details = "; ".join(
                f"{k}: {recorded_setting(previous, k)!r} then, {recorded_setting(run, k)!r} now"
                for k in changed
            )
            raise ValueError(
                f"{work} holds an interrupted run with other settings ({details}). "
                "Rerun with the same settings to resume it, or pass resume=False "
                "(rnnx train --no-resume) to discard it and start over."
            )
        epochs_done = _backup_epoch(backup)
        history = [r for r in read_history(work / HISTORY_FILE) if r["epoch"] < epochs_done]
        _write_lines(work / HISTORY_FILE, history)
        return epochs_done, history
    if work.exists():
        if not work.is_dir() or (any(work.iterdir()) and not (work / RUN_FILE).exists()):
            raise ValueError(
                f"{work} exists and is not a keras-rnnx working directory (no "
                f"{RUN_FILE}); choose another work_dir (rnnx train --work-dir), "
                "it would be emptied."
            )
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / RUN_FILE).write_text(json.dumps(run, indent=2, sort_keys=True))
    return 0, []


# -- outputs ------------------------------------------------------------------


def plot_loss_curves(history, path, *, title="", best_epoch=None):
    """Write a PNG of the training (and validation) loss per epoch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    epochs = [r["epoch"] + 1 for r in history]
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        values = [r.get(key, math.nan) for r in history]
        if any(_finite(v) for v in values):
            axes.plot(epochs, values, marker="o", markersize=3, label=label)
    if best_epoch is not None:
        axes.axvline(best_epoch + 1, color="grey", linestyle=":", label="best epoch (kept)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def versions():
    """Versions of keras-rnnx, Keras, its backend and the interpreter."""
    result = {
        "keras_rnnx": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    try:
        import tensorflow as tf

        result["tensorflow"] = tf.__version__
    except ImportError:
        result["tensorflow"] = None
    return result


def is_chief(strategy):
    """Whether this worker writes the outputs (always, without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return True
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


# -- train --------------------------------------------------------------------


def train(
    task,
    *,
    output,
    task_options=None,
    model_config=None,
    cell="lstm",
    units=32,
    layers=1,
    dropout=0.0,
    recurrent_dropout=0.0,
    embedding_dim=None,
    output_dropout=0.0,
    cell_options=None,
    optimizer="adam",
    learning_rate=1e-3,
    clipnorm=None,
    lr_schedule="constant",
    weight_decay=None,
    dtype_policy="float32",
    epochs=10,
    batch_size=32,
    patience=None,
    seed=0,
    data_dir=None,
    work_dir=None,
    overwrite=False,
    resume=True,
    verbose="auto",
    strategy=None,
    command=None,
    callbacks=(),
):
    """Train a model on ``task`` and write it as a preset directory.

    The model comes from flags (`build_model` with ``cell``, ``units``,
    ``layers``, ``dropout``, ``recurrent_dropout``, ``embedding_dim``,
    ``output_dropout``, ``cell_options``) or, when ``model_config`` is given, from a preset's
    ``config.json`` (architecture only, freshly initialised). Training runs
    ``model.fit`` on the task's training split, validating on its validation
    split, with Keras' progress bar, TensorBoard logs, `BackupAndRestore`
    (resume, see the module docstring), the best epoch's weights kept (lowest
    ``val_loss``, or ``loss`` without a validation split) and optional early
    stopping. The preset gets the best epoch's weights and a ``metadata.json``
    with the metric measured on every split (`evaluate`).

    Args:
        task: a `keras_rnnx.datasets.Task`, or a task name (see ``TASKS``).
        output: path of the preset directory to write.
        task_options: dict of options for `keras_rnnx.datasets.get_task`
            (with a task name only).
        model_config: a model config dict (a preset's ``config.json``), or None
            to build the model from the flags below.
        cell, units, layers, dropout, recurrent_dropout, embedding_dim,
            output_dropout: see `build_model`.
        cell_options: dict of further layer options (see `cell_options`).
        optimizer: ``"adam"``, ``"sgd"`` or ``"rmsprop"``.
        learning_rate: float > 0.
        clipnorm: float > 0 or None, gradient clipping by norm.
        lr_schedule: ``"constant"`` or ``"cosine"``: cosine decay from
            ``learning_rate`` to 5 % of it over ``epochs`` epochs (see
            `keras_rnnx.training.make_optimizer`).
        weight_decay: float > 0 or None: decoupled weight decay of the
            model's matrices, as in AdamW (`keras_rnnx.training.compile_model`).
        dtype_policy: a name of `DTYPE_POLICIES`: ``"float32"``, or
            ``"mixed_bfloat16"`` to train in bfloat16 with float32 weights
            (1.69x faster train steps for a 2x512 GRU character model on a
            CPU with AVX512_BF16, `docs/training.md`). Either way the preset
            is a float32 model holding the trained weights, and its metrics
            are measured on it. Only with ``model_config=None``.
        epochs: int >= 1, total epochs (counting those of an interrupted run).
        batch_size: int >= 1.
        patience: int >= 1 or None: stop after this many epochs without a
            lower monitored loss.
        seed: int, seed of Keras (initial weights, dropout) and of shuffling.
        data_dir: the data sets' directory (default: the loaders' own).
        work_dir: the working directory (default: ``OUTPUT.work``).
        overwrite: replace an existing ``output`` preset.
        resume: continue an interrupted run found in the working directory
            (False: discard it and start over).
        verbose: `keras.Model.fit`'s ``verbose`` ("auto", 0, 1 or 2).
        strategy: a `tf.distribute.Strategy` or None. The model is built and
            compiled in its scope; only the chief writes the preset. Under a
            `tf.distribute.MultiWorkerMirroredStrategy` (which Keras 3's
            ``fit`` does not support) training runs the custom loop
            `keras_rnnx.training.distributed.fit_custom` instead of ``fit``,
            ``batch_size`` is per worker, and non-chief workers keep their
            working state in a temporary directory deleted at the end.
        command: the command line recorded in the metadata (default:
            ``sys.argv`` joined).
        callbacks: more Keras callbacks for ``fit``.

    Returns:
        A `TrainResult`.

    Raises:
        FileExistsError: ``output`` exists and ``overwrite`` is False.
        ValueError: a bad argument, an unknown task, cell or option, or an
            interrupted run with other settings in the working directory.
    """
    # Every argument, then every directory, before any data is read or made.
    for name, value, minimum in (("epochs", epochs, 1), ("batch_size", batch_size, 1)):
        check_int(name, value, minimum)
    check_int("patience", patience, 1, allow_none=True)
    check_int("seed", seed, 0)
    models.check_dtype_policy(dtype_policy)
    mixed = dtype_policy != "float32"
    if mixed and model_config is not None:
        raise ValueError(
            f"`dtype_policy={dtype_policy!r}` applies to a model built from the "
            "flags; a `model_config` keeps its own layers' dtypes. Pass "
            "dtype_policy='float32' (rnnx train: drop --dtype-policy or --config)."
        )
    if model_config is None:
        models.check_architecture(units, layers, dropout, recurrent_dropout, output_dropout, embedding_dim)
    models.check_optimizer(optimizer, learning_rate, clipnorm, lr_schedule, weight_decay)
    cell_options = dict(cell_options or {})
    output = pathlib.Path(output)
    work = pathlib.Path(work_dir) if work_dir is not None else work_dir_for(output)
    if output.exists() and not overwrite:
        raise FileExistsError(
            f"Output {output} already exists; pass overwrite=True (rnnx train "
            "--overwrite) to replace it, or choose another --output."
        )
    check_directories(output=output, work_dir=work, data_dir=data_dir, chief=is_chief(strategy))
    task = resolve_task(task, data_dir, **(task_options or {}))
    if model_config is None:
        architecture = {
            "cell": cell, "units": units, "layers": layers, "dropout": dropout,
            "recurrent_dropout": recurrent_dropout, "embedding_dim": embedding_dim,
            "output_dropout": output_dropout, "cell_options": cell_options,
        }  # fmt: skip
        def build(policy=None):
            return models.build_model(
                task, cell, units, layers, dropout, recurrent_dropout, embedding_dim,
                dtype_policy=policy, output_dropout=output_dropout, **cell_options,
            )  # fmt: skip
    else:
        architecture = {"model_config": model_config}
        build = lambda: zoo.model_from_config(model_config, source="model_config")  # noqa: E731
    optimization = {
        "optimizer": optimizer, "learning_rate": learning_rate, "lr_schedule": lr_schedule,
        "clipnorm": clipnorm, "weight_decay": weight_decay, "batch_size": batch_size, "epochs": epochs,
        "patience": patience, "seed": seed, "dtype_policy": dtype_policy,
    }  # fmt: skip
    sizes = datasets.split_sizes(task, data_dir=data_dir)
    custom_loop = distributed.needs_custom_loop(strategy)
    # The custom loop's datasets hold global batches (batch_size per worker).
    load_batch = batch_size * strategy.num_replicas_in_sync if custom_loop else batch_size
    steps = epochs * -(-sizes["train"] // load_batch)  # for a schedule over the whole run
    optimizer_args = (optimizer, learning_rate, clipnorm, lr_schedule, steps, weight_decay)
    models.make_optimizer(*optimizer_args)  # checks before any work
    run = json.loads(json.dumps({"task": task_metadata(task), **architecture, **optimization}))

    keras.utils.set_random_seed(seed)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build(dtype_policy) if mixed else build()
        _check_fits_task(model, task)
        models.compile_model(model, task, *optimizer_args)

    chief, chief_work = is_chief(strategy), work
    if custom_loop and not chief:  # the chief owns `work`; this worker a temporary one
        work = distributed.worker_work_dir(strategy)
        epochs_done, history = distributed.prepare_worker_dir(
            work, chief_work, run, resume,
            run_file=RUN_FILE, history_file=HISTORY_FILE, read_history=read_history,
        )  # fmt: skip
    else:
        epochs_done, history = _prepare_work_dir(work, run, resume)
    train_data = datasets.load_split(
        task, "train", batch_size=load_batch, shuffle_seed=seed, data_dir=data_dir, augment=True
    )
    validation_data = None
    if sizes.get("validation"):
        validation_data = datasets.load_split(
            task, "validation", batch_size=load_batch, data_dir=data_dir
        )
    monitor = "val_loss" if validation_data is not None else "loss"
    best_value, _ = _best(history, monitor)
    fit_callbacks = [
        StopOnNonFiniteLoss(),  # first: raises before any other callback sees the bad batch
        keras.callbacks.BackupAndRestore(
            str(work / BACKUP_DIR), double_checkpoint=True, delete_checkpoint=False
        ),
        BestWeights(work / BEST_WEIGHTS_FILE, monitor, best_value),
        EpochLog(work / HISTORY_FILE),
        keras.callbacks.TensorBoard(str(work / LOGS_DIR)),
    ]
    if patience:
        fit_callbacks.append(ResumableEarlyStopping(monitor, patience, history))
    fit_callbacks.extend(callbacks)

    start = time.perf_counter()
    try:
        if custom_loop and epochs_done < epochs and not _early_stop_reached(history, monitor, patience):
            distributed.fit_custom(
                model, strategy, train_data, validation_data, epochs=epochs,
                initial_epoch=epochs_done, backup_dir=work / BACKUP_DIR,
                restore_dir=chief_work / BACKUP_DIR, logs_dir=work / LOGS_DIR, chief=chief,
                callbacks=[c for c in fit_callbacks if not isinstance(
                    c, (keras.callbacks.BackupAndRestore, keras.callbacks.TensorBoard))],
                verbose=verbose,
            )  # fmt: skip
        elif epochs_done < epochs and not _early_stop_reached(history, monitor, patience):
            model.fit(
                train_data,
                validation_data=validation_data,
                epochs=epochs,
                callbacks=fit_callbacks,
                verbose=verbose,
                shuffle=False,  # the training split is shuffled by its pipeline
            )
    except NonFiniteLoss as error:
        if chief:
            _record_stop(chief_work, error)
        message = _stopped_message(error, epochs=epochs, output=output, work=chief_work, chief=chief)
        raise NonFiniteLoss(message, epoch=error.epoch, batch=error.batch, loss=error.loss) from None
    wall = time.perf_counter() - start
    history = read_history(work / HISTORY_FILE)
    if not history:
        raise ValueError(f"{work / HISTORY_FILE}: no completed epoch recorded.")
    best_value, best_epoch = _best(history, monitor)
    if custom_loop or mixed:
        # Evaluate and save a float32 copy, outside any multi-worker strategy.
        model = distributed.plain_copy(model, build)
        models.compile_model(model, task, *optimizer_args)
    if (work / BEST_WEIGHTS_FILE).exists():
        model.load_weights(str(work / BEST_WEIGHTS_FILE))
    else:
        best_epoch = history[-1]["epoch"]

    scores = {
        split: metrics_lib.evaluate(model, task, split, batch_size=batch_size, data_dir=data_dir)
        for split in SPLITS
        if sizes.get(split)
    }
    metadata = {
        "task": task_metadata(task),
        "dataset": task.name,
        "split_sizes": sizes,
        "metrics": scores,
        "params": int(model.count_params()),
        "model": architecture if model_config is None else {"from_config": True},
        "training": {
            **optimization,
            "epochs_completed": len(history),
            "best_epoch": best_epoch,
            "monitor": monitor,
            "best_value": best_value if math.isfinite(best_value) else None,
            "resumed_from_epoch": epochs_done or None,
            "wall_s_last_run": wall,
            "history": [{k: v for k, v in r.items() if k not in ("pid", "time")} for r in history],
        },
        "training_command": command if command is not None else shlex.join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }  # fmt: skip
    extra = {
        LOSS_CURVES_FILE: lambda path: plot_loss_curves(
            history, path, title=f"{model.name} on {task.name}", best_epoch=best_epoch
        )
    }
    if task.vocabulary is not None:
        extra[VOCABULARY_FILE] = lambda path: datasets.save_vocabulary(task.vocabulary, path)
    if chief:
        zoo.save_preset(output, model, metadata, extra_files=extra, overwrite=overwrite)
        shutil.rmtree(work / BACKUP_DIR, ignore_errors=True)
        (work / BEST_WEIGHTS_FILE).unlink(missing_ok=True)
    elif custom_loop:
        distributed.remove_worker_dir(work)
    return TrainResult(output, model, metadata, history, chief)


def _check_fits_task(model, task):
    """Raise if a model (e.g. from a preset's config) does not fit ``task``."""
    got_in, got_out = tuple(model.input_shape), tuple(model.output_shape)
    want_in = tuple(task.input_shape)
    if task.sequence_output:  # any length: compare the feature axes only
        got_in, want_in = got_in[2:], want_in[1:]
    else:
        got_in = got_in[1:]
    want_rank = 3 if task.sequence_output else 2
    if got_in != want_in or len(got_out) != want_rank or got_out[-1] != task.output_units:
        raise ValueError(
            f"The model (input shape {tuple(model.input_shape)}, output shape "
            f"{got_out}) does not fit task {task.name!r} (input shape "
            f"{tuple(task.input_shape)}, {task.output_units} output units"
            + (" per step)." if task.sequence_output else ").")
        )
