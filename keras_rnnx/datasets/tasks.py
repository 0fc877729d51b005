"""Tasks: what a model needs to know about each data set, and its tf.data splits.

`get_task` describes a task (shapes, loss, metric, trivial baseline, resolved
options); `load_split` turns a split of its TFDS builder into batches for
``model.fit`` / ``model.evaluate``; `split_sizes` counts the examples.

========================  ==============  ================================
task                      builder         batches
========================  ==============  ================================
adding, copy, parity,     rnnx_synthetic  ``(x, y)``
temporal_order, waveform
jsb_chorales              rnnx_jsb_...    ``(x, y, sample_weight)``, padded
text                      rnnx_char_text  ``(x, y)`` int32 ids
========================  ==============  ================================
"""

import dataclasses
import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_rnnx.datasets import jsb
from keras_rnnx.datasets import synthetic
from keras_rnnx.datasets import synthetic_builder
from keras_rnnx.datasets import text as text_lib
from keras_rnnx.validation import check_bool

TASKS = (
    "adding",
    "copy",
    "parity",
    "temporal_order",
    "waveform",
    "jsb_chorales",
    "text",
)
"""Names accepted by `get_task`."""

PAD_VALUE = -1.0
"""Input value of the padded steps of variable-length float sequences (JSB):
models put ``keras.layers.Masking(PAD_VALUE)`` first. Real inputs are 0/1."""

KINDS = ("regression", "classification", "multilabel", "char_lm")
METRICS = ("mse", "accuracy", "nll_nats_per_step", "nats_per_char")


@dataclasses.dataclass(frozen=True)
class Task:
    """A task: its data, the head and loss a model needs, its metric and baseline.

    Attributes:
        name: one of `TASKS`.
        kind: ``"regression"``, ``"classification"``, ``"multilabel"`` (JSB:
            a sigmoid per note and step) or ``"char_lm"``.
        input_shape: shape of one input without the batch axis, e.g.
            ``(T, 2)`` for adding, ``(None, 88)`` for JSB, ``(T,)`` for text.
        input_dtype: ``"float32"`` or ``"int32"`` (text ids).
        output_units: units of the output layer (1, 2, 4, 10, 88, vocabulary).
        output_activation: ``"linear"``, ``"softmax"`` or ``"sigmoid"``.
        sequence_output: True if there is a target at every step.
        loss: a Keras loss name.
        metric: ``"mse"``, ``"accuracy"``, ``"nll_nats_per_step"`` (mean over
            the target steps of the per-step NLL: categorical cross-entropy
            for copy, summed over the 88 notes for JSB) or ``"nats_per_char"``.
        baseline: the metric's trivial baseline on the test split (validation
            for text); see ``docs/datasets.md``.
        masked: True if batches carry padding and a ``sample_weight``.
        vocabulary: the characters of the text task, else None.
        options: the resolved options (JSON-serialisable).
    """

    name: str
    kind: str
    input_shape: tuple
    input_dtype: str
    output_units: int
    output_activation: str
    sequence_output: bool
    loss: str
    metric: str
    baseline: float | None
    masked: bool
    vocabulary: tuple | None
    options: dict


def _unknown_task(name):
    return ValueError(f"Unknown task {name!r}: expected one of {TASKS}.")


def _check_options(name, options, allowed):
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for task {name!r}: expected some of "
            f"{sorted(allowed)}."
        )


def _data_dir(data_dir):
    return None if data_dir is None else os.fspath(data_dir)


def get_task(name, *, data_dir=None, **options):
    """Describe a task, with its options resolved.

    Args:
        name: one of `TASKS`.
        data_dir: TFDS data directory (default: TFDS' own, ``$TFDS_DATA_DIR``
            or ``~/tensorflow_datasets``); kept in ``options["data_dir"]`` for
            `load_split` and `split_sizes`.
        **options: per task (defaults in ``docs/datasets.md``):

            - synthetic tasks: ``timesteps``, ``seed``, ``train_size``,
              ``validation_size``, ``test_size``; adding: ``markers``;
              copy: ``memory_length``, ``one_hot`` (inputs as 10-way one-hot
              vectors instead of the digit values of Bai et al.); waveform:
              ``components``, ``min_period``, ``max_period``;
            - ``jsb_chorales``: ``path`` (the JSON file, or a directory
              holding it; default: download) and ``manual_dir``;
            - ``text``: ``path`` (a UTF-8 text file; default TFDS'
              ``tiny_shakespeare``, downloaded) and ``timesteps`` (100).

    Returns:
        A `Task`. For ``text`` the data is prepared first (the vocabulary and
        the baseline come from it); the other tasks are prepared by the first
        `load_split`.

    Raises:
        ValueError: an unknown task or option, or a bad value, named.
        FileNotFoundError: a ``path`` that does not exist, named.
    """
    data_dir = _data_dir(data_dir)
    if name in synthetic_builder.SYNTHETIC_TASKS:
        return _synthetic_task(name, data_dir, options)
    if name == "jsb_chorales":
        return _jsb_task(data_dir, options)
    if name == "text":
        return _text_task(data_dir, options)
    raise _unknown_task(name)


BOOLEAN_OPTIONS = {"copy": ("one_hot",)}
"""The task options that take a bool, by task (``rnnx train --task-option``
reads them with `keras_rnnx.validation.parse_bool`)."""


def _synthetic_task(name, data_dir, options):
    one_hot = options.pop("one_hot", False) if name == "copy" else None
    if name == "copy":
        one_hot = check_bool("one_hot", one_hot, fix="Pass one_hot=True or one_hot=False.")
    resolved = synthetic_builder.resolve_options(name, **options)
    t = resolved["timesteps"]
    common = dict(
        name=name, input_dtype="float32", masked=False, vocabulary=None
    )
    if name == "adding":
        spec = dict(kind="regression", input_shape=(t, 2), output_units=1,
                    output_activation="linear", sequence_output=False, loss="mse",
                    metric="mse", baseline=synthetic.ADDING_PROBLEM_BASELINE_MSE)
    elif name == "copy":
        resolved["one_hot"] = one_hot
        length = t + 2 * resolved["memory_length"]
        width = synthetic.COPY_MEMORY_NUM_CLASSES if one_hot else 1
        spec = dict(kind="classification", input_shape=(length, width),
                    output_units=synthetic.COPY_MEMORY_NUM_CLASSES,
                    output_activation="softmax", sequence_output=True,
                    loss="sparse_categorical_crossentropy",
                    metric="nll_nats_per_step",
                    baseline=synthetic.copy_memory_baseline(
                        t, resolved["memory_length"]))
    elif name == "parity":
        spec = dict(kind="classification", input_shape=(t, 1), output_units=2,
                    output_activation="softmax", sequence_output=False,
                    loss="sparse_categorical_crossentropy", metric="accuracy",
                    baseline=synthetic.PARITY_BASELINE_ACCURACY)
    elif name == "temporal_order":
        spec = dict(kind="classification",
                    input_shape=(t, len(synthetic.TEMPORAL_ORDER_SYMBOLS)),
                    output_units=len(synthetic.TEMPORAL_ORDER_CLASSES),
                    output_activation="softmax", sequence_output=False,
                    loss="sparse_categorical_crossentropy", metric="accuracy",
                    baseline=synthetic.TEMPORAL_ORDER_BASELINE_ACCURACY)
    else:  # waveform
        spec = dict(kind="regression", input_shape=(t, 1), output_units=1,
                    output_activation="linear", sequence_output=True, loss="mse",
                    metric="mse", baseline=synthetic.WAVEFORM_BASELINE_MSE)
    resolved["data_dir"] = data_dir
    return Task(**common, **spec, options=resolved)


def _optional_path(options, key):
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"Option `{key}` must be a path. Received: {value!r}.")
    value = os.path.abspath(os.fspath(value))
    if not os.path.exists(value):
        raise FileNotFoundError(f"Option `{key}`: nothing at {value!r}.")
    return value


MAX_TRANSPOSE = 12
"""The largest ``transpose`` of `jsb_chorales` (an octave either way)."""


def _jsb_task(data_dir, options):
    _check_options("jsb_chorales", options, ("path", "manual_dir", "transpose"))
    transpose = options.get("transpose", 0)
    if isinstance(transpose, bool) or not (
        isinstance(transpose, (int, np.integer)) and 0 <= transpose <= MAX_TRANSPOSE
    ):
        raise ValueError(
            f"Option `transpose` must be an int from 0 (off) to {MAX_TRANSPOSE} semitones. "
            f"Received: {transpose!r}."
        )
    path = _optional_path(options, "path")
    if path is not None and os.path.isdir(path):
        file = os.path.join(path, jsb.JSB_FILENAME)
        if not os.path.exists(file):
            raise FileNotFoundError(
                f"Option `path`: {path!r} is a directory without {jsb.JSB_FILENAME}; "
                f"expected the JSB Chorales JSON file or a directory holding it."
            )
    if path is not None:  # now: prepared data would be read without a look at it
        jsb.verify_jsb_file(path)
    resolved = {
        "path": path,
        "manual_dir": _optional_path(options, "manual_dir"),
        "data_dir": data_dir,
    }
    if transpose:  # absent when off, as in runs and presets recorded before the option
        resolved["transpose"] = int(transpose)
    return Task(
        name="jsb_chorales", kind="multilabel", input_shape=(None, jsb.NUM_NOTES),
        input_dtype="float32", output_units=jsb.NUM_NOTES,
        output_activation="sigmoid", sequence_output=True,
        loss="binary_crossentropy", metric="nll_nats_per_step",
        baseline=jsb.JSB_FREQUENCY_BASELINE_NLL, masked=True, vocabulary=None,
        options=resolved,
    )


def _text_task(data_dir, options):
    _check_options("text", options, ("path", "timesteps"))
    path = _optional_path(options, "path")
    timesteps = options.get("timesteps", text_lib.DEFAULT_TIMESTEPS)
    builder = text_lib.char_text_builder(path, timesteps, data_dir=data_dir)
    metadata = builder.info.metadata
    vocabulary = tuple(metadata["vocabulary"])
    resolved = {
        "path": path,
        "timesteps": builder.builder_config.timesteps,
        "sha256": metadata["sha256"],
        "validation_fraction": text_lib.VALIDATION_FRACTION,
        "data_dir": data_dir,
    }
    return Task(
        name="text", kind="char_lm", input_shape=(resolved["timesteps"],),
        input_dtype="int32", output_units=len(vocabulary),
        output_activation="softmax", sequence_output=True,
        loss="sparse_categorical_crossentropy", metric="nats_per_char",
        baseline=float(metadata["unigram_nats_per_char"]), masked=False,
        vocabulary=vocabulary, options=resolved,
    )


def _as_task(task, data_dir):
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        return get_task(task, data_dir=data_dir)
    raise ValueError(f"Expected a Task or a task name from {TASKS}, got {task!r}.")


def _splits(task):
    return ("train", "validation") if task.name == "text" else synthetic.SPLITS


def get_builder(task, data_dir=None):
    """The prepared TFDS builder of a task (generated or read on first use).

    ``data_dir`` defaults to ``task.options["data_dir"]``.
    """
    task = _as_task(task, data_dir)
    options = task.options
    if data_dir is None:
        data_dir = options.get("data_dir")
    data_dir = _data_dir(data_dir)
    if task.name in synthetic_builder.SYNTHETIC_TASKS:
        data_options = {
            k: v for k, v in options.items() if k not in ("data_dir", "one_hot")
        }
        builder = synthetic_builder.SyntheticSequences(
            config=synthetic_builder.synthetic_config(task.name, **data_options),
            data_dir=data_dir,
        )
        builder.download_and_prepare()
        return builder
    if task.name == "jsb_chorales":
        return jsb.jsb_builder(
            data_dir=data_dir, path=options.get("path"),
            manual_dir=options.get("manual_dir"),
        )
    if task.name == "text":
        return text_lib.char_text_builder(
            options.get("path"), options["timesteps"], data_dir=data_dir
        )
    raise _unknown_task(task.name)


def split_sizes(task, data_dir=None):
    """Examples per split: ``{"train": n, "validation": n, "test": n}``.

    Synthetic tasks: from the options (nothing is built). JSB (229/76/77) and
    text (chunks; no test split): from the prepared builder.
    """
    task = _as_task(task, data_dir)
    if task.name in synthetic_builder.SYNTHETIC_TASKS:
        return {s: task.options[f"{s}_size"] for s in synthetic.SPLITS}
    splits = get_builder(task, data_dir).info.splits
    return {s: splits[s].num_examples for s in _splits(task)}


def _to_model(task):
    """The map from a TFDS example to ``(x, y)`` or ``(x, y, sample_weight)``."""
    name = task.name
    if name in ("adding", "parity", "waveform"):
        return lambda ex: (ex["x"], ex["y"])
    if name == "copy":
        if task.options.get("one_hot"):
            def fn(ex):
                return (
                    tf.one_hot(tf.cast(ex["x"], tf.int32), synthetic.COPY_MEMORY_NUM_CLASSES),
                    tf.cast(ex["y"], tf.int32),
                )
        else:
            def fn(ex):
                return tf.cast(ex["x"], tf.float32)[:, None], tf.cast(ex["y"], tf.int32)
        return fn
    if name == "temporal_order":
        depth = len(synthetic.TEMPORAL_ORDER_SYMBOLS)
        return lambda ex: (tf.one_hot(tf.cast(ex["x"], tf.int32), depth), ex["y"])
    if name == "jsb_chorales":
        def fn(ex):
            roll = tf.cast(ex["roll"], tf.float32)
            # Step t sees frame t-1 (silence before the first) and predicts
            # frame t, so every frame of a chorale is a target.
            x = tf.concat([tf.zeros_like(roll[:1]), roll[:-1]], axis=0)
            return x, roll, tf.ones_like(roll[:, 0])
        return fn
    if name == "text":
        return lambda ex: (ex["ids"][:-1], ex["ids"][1:])
    raise _unknown_task(name)


def _check_batch_size(batch_size):
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(
            f"Argument `batch_size` must be an int >= 1. Received: {batch_size!r}."
        )
    return int(batch_size)


def load_split(
    task,
    split,
    *,
    batch_size,
    shuffle_seed=None,
    data_dir=None,
    repeat=False,
    shuffle_buffer=None,
    drop_remainder=False,
    augment=False,
):
    """A split of a task as a batched, prefetched ``tf.data.Dataset``.

    Args:
        task: a `Task` (from `get_task`) or a task name (default options).
        split: ``"train"``, ``"validation"`` or ``"test"`` (text: no test).
        batch_size: int >= 1.
        shuffle_seed: None keeps the stored order; an int shuffles with
            ``Dataset.shuffle(seed=shuffle_seed, reshuffle_each_iteration=
            True)``, a new order each epoch. TF combines this op seed with its
            global seed, so the orders are reproducible for a given
            ``shuffle_seed`` under a given global seed (unset, or set by
            ``keras.utils.set_random_seed`` / ``tf.random.set_seed``).
        data_dir: TFDS data directory; default ``task.options["data_dir"]``.
        repeat: True repeats forever (pass ``steps_per_epoch`` to fit).
        shuffle_buffer: shuffle buffer size (default: the whole split).
        drop_remainder: drop a last smaller batch.
        augment: True applies the task's training-time augmentation, if its
            options ask for one (the training stream of `train` and of the
            tuner): `jsb_chorales` with ``transpose=K > 0`` shifts each
            chorale, each time it is read, by a random whole number of
            semitones in ``[-K, K]`` (`transpose_roll`), drawn from
            ``Dataset.random(seed=shuffle_seed)``, new draws every pass.
            Other tasks and ``transpose=0``: no change.

    Returns:
        A dataset of ``(x, y)`` batches, or ``(x, y, sample_weight)`` for
        masked tasks (JSB): padded steps have ``x = PAD_VALUE``, ``y = 0`` and
        ``sample_weight = 0``, real steps ``sample_weight = 1``. Shapes per
        task in ``docs/datasets.md``. Prefetched with AUTOTUNE.
    """
    task = _as_task(task, data_dir)
    if split not in _splits(task):
        raise ValueError(
            f"Unknown split {split!r} for task {task.name!r}: expected one of "
            f"{_splits(task)}."
        )
    batch_size = _check_batch_size(batch_size)
    builder = get_builder(task, data_dir)
    dataset = builder.as_dataset(
        split=split,
        shuffle_files=False,
        read_config=tfds.ReadConfig(interleave_cycle_length=1),
    )
    if shuffle_seed is not None:
        if isinstance(shuffle_seed, bool) or not isinstance(shuffle_seed, (int, np.integer)):
            raise ValueError(
                f"Argument `shuffle_seed` must be an int or None. Received: {shuffle_seed!r}."
            )
        n = builder.info.splits[split].num_examples
        buffer = n if shuffle_buffer is None else min(int(shuffle_buffer), n)
        dataset = dataset.shuffle(
            max(buffer, 1), seed=int(shuffle_seed), reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    if augment and task.options.get("transpose"):
        dataset = _random_transpositions(dataset, task.options["transpose"], shuffle_seed)
    dataset = dataset.map(
        _to_model(task), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if task.masked:
        dataset = dataset.padded_batch(
            batch_size,
            padded_shapes=([None, jsb.NUM_NOTES], [None, jsb.NUM_NOTES], [None]),
            padding_values=(
                tf.constant(PAD_VALUE, tf.float32),
                tf.constant(0.0, tf.float32),
                tf.constant(0.0, tf.float32),
            ),
            drop_remainder=drop_remainder,
        )
    else:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def transpose_roll(roll, semitones, max_semitones=MAX_TRANSPOSE):
    """Shift a ``(steps, 88)`` piano roll up by ``semitones`` (down if negative).

    Column ``j`` of the result is column ``j - semitones`` of ``roll``; notes
    shifted past either end of the keyboard are dropped (JSB's notes, MIDI
    43..96, stay inside it for any shift up to an octave). ``|semitones|``
    must be at most ``max_semitones``.
    """
    notes = roll.shape[-1]
    padded = tf.pad(roll, [[0, 0], [max_semitones, max_semitones]])
    return tf.slice(padded, [0, max_semitones - semitones], [-1, notes])


def _random_transpositions(dataset, max_semitones, seed):
    shifts = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(
        lambda r: tf.cast(r % (2 * max_semitones + 1), tf.int32) - max_semitones
    )

    def shift(example, semitones):
        return {**example, "roll": transpose_roll(example["roll"], semitones, max_semitones)}

    return tf.data.Dataset.zip((dataset, shifts)).map(shift, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def steps_per_epoch(task, split, batch_size, data_dir=None, drop_remainder=False):
    """Batches in one pass over a split (for ``steps_per_epoch`` with repeat)."""
    n = split_sizes(task, data_dir)[split]
    batch_size = _check_batch_size(batch_size)
    return n // batch_size if drop_remainder else math.ceil(n / batch_size)
