"""The synthetic tasks as one TFDS dataset builder, a config per task.

`SyntheticSequences` (TFDS name ``rnnx_synthetic``) writes the sequences of
the NumPy generators in `keras_rnnx.datasets.synthetic` to TFDS records: no
download, the data is a pure function of the config (task, length, sizes,
seed). Each split draws from its own seed (`synthetic.split_seed`), so train,
validation and test never share a stream.

A config with the default options of a task is registered under the task's
name (``rnnx_synthetic/adding``); any other options make a custom config named
``<task>_<hash of the options>``, so that different data never share a
directory.
"""

import dataclasses
import hashlib
import json

import numpy as np
import tensorflow_datasets as tfds

from keras_rnnx.datasets import synthetic
from keras_rnnx.validation import check_int

SYNTHETIC_TASKS = ("adding", "copy", "parity", "temporal_order", "waveform")
"""Names of the synthetic tasks, as in `keras_rnnx.datasets.TASKS`."""

COMMON_DEFAULTS = {
    "seed": 0,
    "train_size": 10_000,
    "validation_size": 1_000,
    "test_size": 1_000,
}
"""Options every synthetic task takes, with their defaults."""

DATA_DEFAULTS = {
    "adding": {"timesteps": 100, "markers": "halves"},
    "copy": {"timesteps": 100, "memory_length": 10},
    "parity": {"timesteps": 16},
    "temporal_order": {"timesteps": 100},
    "waveform": {
        "timesteps": 100,
        "components": 3,
        "min_period": 4.0,
        "max_period": None,
    },
}
"""Task-specific options that shape the data, with their defaults."""

_GENERATORS = {
    "adding": synthetic.adding_problem,
    "copy": synthetic.copy_memory,
    "parity": synthetic.parity,
    "temporal_order": synthetic.temporal_order,
    "waveform": synthetic.sum_of_sines,
}

_SIZE_KEYS = {
    "train": "train_size",
    "validation": "validation_size",
    "test": "test_size",
}


def _unknown_task(task):
    return ValueError(
        f"Unknown synthetic task {task!r}: expected one of {SYNTHETIC_TASKS}."
    )


def resolve_options(task, **options):
    """Validate the data options of a synthetic task and fill in the defaults.

    Args:
        task: one of `SYNTHETIC_TASKS`.
        **options: any of `COMMON_DEFAULTS` and ``DATA_DEFAULTS[task]``.

    Returns:
        A dict of every option, JSON-serialisable (for ``waveform``,
        ``max_period=None`` is resolved to the number of timesteps).

    Raises:
        ValueError: an unknown task or option, or a value out of range; the
            message names it and what was expected.
    """
    if task not in DATA_DEFAULTS:
        raise _unknown_task(task)
    known = {**COMMON_DEFAULTS, **DATA_DEFAULTS[task]}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for synthetic task {task!r}: expected "
            f"some of {sorted(known)}."
        )
    resolved = {**known, **options}
    for key in _SIZE_KEYS.values():
        check_int(key, resolved[key], 1, fix="Pass a number of sequences.")
        resolved[key] = int(resolved[key])
    extra = {k: resolved[k] for k in DATA_DEFAULTS[task] if k != "timesteps"}
    # The generator checks every remaining argument and names the bad one.
    _GENERATORS[task](1, resolved["timesteps"], resolved["seed"], **extra)
    resolved["timesteps"] = int(resolved["timesteps"])
    resolved["seed"] = int(resolved["seed"])
    if task == "waveform":
        resolved["components"] = int(resolved["components"])
        resolved["min_period"] = float(resolved["min_period"])
        if resolved["max_period"] is None:
            resolved["max_period"] = float(resolved["timesteps"])
        resolved["max_period"] = float(resolved["max_period"])
    if task == "copy":
        resolved["memory_length"] = int(resolved["memory_length"])
    return resolved


def _default_options(task):
    return resolve_options(task)


@dataclasses.dataclass
class SyntheticConfig(tfds.core.BuilderConfig):
    """A synthetic task and its resolved data options (see `resolve_options`)."""

    task: str = "adding"
    options: dict = dataclasses.field(default_factory=dict)


def _config_for_defaults(task):
    return SyntheticConfig(
        name=task,
        description=f"{task} with the default options "
        f"{json.dumps(_default_options(task), sort_keys=True)}",
        task=task,
        options=_default_options(task),
    )


_REGISTERED = {task: _config_for_defaults(task) for task in SYNTHETIC_TASKS}


def synthetic_config(task, **options):
    """The `SyntheticConfig` of a task with the given options.

    The defaults give the registered config (``name == task``); other options
    a custom config whose name carries a hash of the resolved options.

    >>> from keras_rnnx.datasets.synthetic_builder import synthetic_config
    >>> synthetic_config("adding").name
    'adding'
    >>> synthetic_config("adding", timesteps=600).name
    'adding_...'
    """
    resolved = resolve_options(task, **options)
    if resolved == _REGISTERED[task].options:
        return _REGISTERED[task]
    text = json.dumps(resolved, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return SyntheticConfig(
        name=f"{task}_{digest}",
        description=f"{task} with the options {text}",
        task=task,
        options=resolved,
    )


def generate(task, options, split):
    """``(x, y)`` NumPy arrays of one split, exactly as the builder stores them.

    Args:
        task: one of `SYNTHETIC_TASKS`.
        options: resolved options (`resolve_options`).
        split: ``"train"``, ``"validation"`` or ``"test"``.
    """
    if task not in _GENERATORS:
        raise _unknown_task(task)
    extra = {k: options[k] for k in DATA_DEFAULTS[task] if k != "timesteps"}
    return _GENERATORS[task](
        options[_SIZE_KEYS[split]],
        options["timesteps"],
        synthetic.split_seed(options["seed"], split),
        **extra,
    )


def _features(task, options):
    t = options["timesteps"]
    Tensor = tfds.features.Tensor
    if task == "adding":
        return {"x": Tensor(shape=(t, 2), dtype=np.float32),
                "y": Tensor(shape=(1,), dtype=np.float32)}
    if task == "copy":
        length = t + 2 * options["memory_length"]
        return {"x": Tensor(shape=(length,), dtype=np.uint8),
                "y": Tensor(shape=(length,), dtype=np.uint8)}
    if task == "parity":
        return {"x": Tensor(shape=(t, 1), dtype=np.float32),
                "y": Tensor(shape=(), dtype=np.int32)}
    if task == "temporal_order":
        return {"x": Tensor(shape=(t,), dtype=np.uint8),
                "y": Tensor(shape=(), dtype=np.int32)}
    if task == "waveform":
        return {"x": Tensor(shape=(t, 1), dtype=np.float32),
                "y": Tensor(shape=(t, 1), dtype=np.float32)}
    raise _unknown_task(task)


class SyntheticSequences(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of the synthetic tasks (adding, copy, parity, ...).

    Every example is ``{"x": ..., "y": ...}`` as returned by the task's
    generator in `keras_rnnx.datasets.synthetic`; symbol sequences (copy,
    temporal order) are stored as uint8 ids. Order is kept
    (``disable_shuffling``): example ``i`` of a split is row ``i`` of
    ``generate(task, options, split)``.

    Build one with `synthetic_config`::

        builder = SyntheticSequences(
            config=synthetic_config("copy", timesteps=1000), data_dir=...)
        builder.download_and_prepare()
    """

    name = "rnnx_synthetic"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = list(_REGISTERED.values())
    DEFAULT_CONFIG_NAME = "adding"

    @tfds.core.utils.classproperty
    @classmethod
    def url_infos(cls):
        # Nothing is downloaded. (Overridden so that TFDS does not look for a
        # checksums file beside this module, which needs the package
        # `importlib_resources`, not installed with TFDS 4.9.)
        return None

    def _info(self):
        config = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Synthetic sequence tasks of keras-rnnx, generated "
                "deterministically from a seed: " + config.description
            ),
            features=tfds.features.FeaturesDict(
                _features(config.task, config.options)
            ),
            supervised_keys=("x", "y"),
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(
                task=config.task, options=dict(config.options)
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        return {split: self._generate_examples(split) for split in _SIZE_KEYS}

    def _generate_examples(self, split):
        config = self.builder_config
        x, y = generate(config.task, config.options, split)
        if config.task in ("copy", "temporal_order"):
            x = x.astype(np.uint8)
            y = y.astype(np.uint8) if config.task == "copy" else y
        for i in range(len(x)):
            yield i, {"x": x[i], "y": y[i]}
