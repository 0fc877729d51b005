"""Preset directories: a trained model as plain files, read back without pickle.

A preset is a directory holding

- ``config.json``: the model's Keras config (`keras.saving.serialize_keras_object`
  of the model, without its compile config), rebuilt with
  `keras.saving.deserialize_keras_object(..., safe_mode=True)`, so a config
  holding a ``Lambda`` or other arbitrary code is refused;
- ``model.weights.h5``: the weights (`keras.Model.save_weights` of the model
  rebuilt from ``config.json``, HDF5; no optimizer state);
- ``metadata.json``: a JSON object describing the preset (for presets written
  by `keras_rnnx.training`: versions, parameter count, data set, split sizes,
  the metric on each split, training command, date), with the keys ``format``
  and ``format_version`` added by `save_preset`;
- any extra files (a loss-curve PNG, a vocabulary, ``MODEL_CARD.md``).

Only JSON and HDF5 are read: nothing is unpickled and no code from the
directory runs. `save_preset` writes into a hidden temporary directory beside
the target and renames it into place when every file is written, so a crash
or a kill while saving leaves no half-written preset (at most a hidden
``.NAME.*.tmp`` directory beside it).

>>> import keras, tempfile, os
>>> from keras_rnnx import layers
>>> from keras_rnnx.zoo import save_preset, load_preset
>>> model = keras.Sequential([keras.Input((5, 2)), layers.GRU(3), keras.layers.Dense(1)])
>>> path = os.path.join(tempfile.mkdtemp(), "tiny_gru")
>>> _ = save_preset(path, model, {"description": "an untrained GRU"})
>>> sorted(os.listdir(path))
['config.json', 'metadata.json', 'model.weights.h5']
>>> restored, metadata = load_preset(path)
>>> metadata["description"], restored.output_shape
('an untrained GRU', (None, 1))
"""

import json
import os
import pathlib
import shutil
import tempfile

import keras

# Importing the layers registers them with Keras, so configs naming them load.
from keras_rnnx import layers as _layers  # noqa: F401

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
FORMAT = "keras-rnnx-preset"
FORMAT_VERSION = 1
# Bounds on what a preset's JSON may hold, far above any real preset (the
# largest config here is 40 kB, 12 levels deep): an untrusted file is refused
# before it can exhaust memory or the interpreter's stack.
MAX_JSON_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 64
MAX_TASK_INT = 10**7
MAX_TASK_ELEMENTS = 10**9

_LAYOUT = (
    f"A preset directory holds {CONFIG_FILE} (the model's Keras config), "
    f"{WEIGHTS_FILE} (its weights) and {METADATA_FILE} (a JSON object), as "
    "written by keras_rnnx.zoo.save_preset."
)


class PresetError(ValueError):
    """A preset directory or file that is missing, unreadable or malformed.

    The message names the path and what was expected there.
    """


def model_config(model):
    """The JSON-ready Keras config of ``model``, without its compile config."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    return config


def model_from_config(config, *, source="config"):
    """Rebuild a model from `model_config` output, with Keras safe mode on.

    Args:
        config: dict, as returned by `model_config` (or read from a preset's
            ``config.json``).
        source: where the config came from, for error messages.

    Raises:
        PresetError: the config is not a Keras model config, or Keras cannot
            rebuild it (unknown class, code refused by safe mode, bad arguments).
    """
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise PresetError(
            f"{source}: expected a Keras model config, a JSON object with the "
            "keys 'class_name' and 'config' (keras.saving.serialize_keras_object "
            f"of a model); received {_describe(config)}."
        )
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError, KeyError, AttributeError, ImportError) as err:
        raise PresetError(
            f"{source}: Keras could not rebuild the model from this config "
            f"(safe mode on): {err}"
        ) from err
    if not isinstance(model, keras.Model):
        raise PresetError(
            f"{source}: expected the config of a keras.Model; it describes a "
            f"{type(model).__name__}."
        )
    return model


def _describe(value):
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)[:8]}"
    return f"a JSON {type(value).__name__}"


def _check_extra_name(name):
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or os.sep in name
        or (os.altsep and os.altsep in name)
        or name in REQUIRED_FILES
    ):
        raise ValueError(
            f"extra_files: {name!r} is not allowed; give plain file names (no "
            f"directories), other than {', '.join(REQUIRED_FILES)}."
        )


def _write_extra(path, content):
    if callable(content):
        content(str(path))
        if not path.is_file():
            raise ValueError(
                f"extra_files: the writer for {path.name!r} did not create the "
                f"file {path}."
            )
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        raise ValueError(
            f"extra_files[{path.name!r}] must be bytes, a str (text) or a "
            f"callable that writes the file at the path it is given; received "
            f"{type(content).__name__}."
        )


def save_preset(directory, model, metadata, *, extra_files=None, overwrite=False):
    """Write ``model`` and ``metadata`` as a preset directory, atomically.

    Every file is written into a temporary directory beside ``directory``,
    which is then renamed to ``directory``: readers see either no preset or a
    complete one, and a failure removes the temporary directory.

    Args:
        directory: path of the preset directory to create.
        model: a built `keras.Model`.
        metadata: dict, JSON-serialisable; written to ``metadata.json`` with
            ``format`` and ``format_version`` added.
        extra_files: optional mapping of file name to content: ``bytes``, a
            ``str`` (written as UTF-8 text) or a callable ``write(path)`` that
            creates the file (e.g. a figure's ``savefig``).
        overwrite: replace an existing ``directory`` (the old one is removed
            only after the new one is in place).

    Returns:
        The `pathlib.Path` of the preset directory.

    Raises:
        FileExistsError: ``directory`` exists and ``overwrite`` is False.
        ValueError: the model is not built, the metadata is not a
            JSON-serialisable dict, or an extra file name or content is bad.
        PresetError: the model's config does not rebuild with Keras safe
            mode (e.g. a ``Lambda`` layer): such a preset could not be loaded.
    """
    directory = pathlib.Path(directory)
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(
            "save_preset needs a built keras.Model (call it once or give it an "
            f"Input); received {model!r}."
        )
    if not isinstance(metadata, dict):
        raise ValueError(f"`metadata` must be a dict; received {type(metadata).__name__}.")
    metadata = {**metadata, "format": FORMAT, "format_version": FORMAT_VERSION}
    try:
        metadata_text = json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`metadata` must be JSON-serialisable (finite numbers): {err}") from err
    config = model_config(model)
    config_text = json.dumps(config, indent=2)
    # Save from the model rebuilt from its config: checks now that the preset
    # will load (safe mode), and keeps only the model's weights (a compiled
    # model's save_weights would add its optimizer state).
    inference_model = model_from_config(json.loads(config_text), source="the model's config")
    inference_model.set_weights(model.get_weights())
    extra_files = dict(extra_files or {})
    for name in extra_files:
        _check_extra_name(name)
    if directory.exists() and not overwrite:
        raise FileExistsError(
            f"Preset directory {directory} already exists; pass overwrite=True "
            "(rnnx: --overwrite) to replace it, or choose another path."
        )
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a directory.")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent)
    )
    try:
        # mkdtemp makes 0700 directories; a preset is read by others as any file is.
        staging.chmod(0o777 & ~current_umask())
        (staging / CONFIG_FILE).write_text(config_text, encoding="utf-8")
        inference_model.save_weights(str(staging / WEIGHTS_FILE))
        for name, content in extra_files.items():
            _write_extra(staging / name, content)
        (staging / METADATA_FILE).write_text(metadata_text, encoding="utf-8")
        for path in staging.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        if directory.exists():
            retired = pathlib.Path(
                tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".old", dir=directory.parent)
            )
            os.rename(directory, retired / directory.name)
            os.rename(staging, directory)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _json_depth(text):
    """The deepest nesting of objects and arrays in JSON ``text`` (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def current_umask():
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def _read_json(path):
    """A preset's JSON file, bounded: size, nesting depth, finite numbers only."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise PresetError(
                f"{path}: {size} bytes, over the {MAX_JSON_BYTES} a preset's JSON file may hold; "
                "this is not a keras-rnnx preset file."
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise PresetError(f"{path}: not UTF-8 text ({err}); expected JSON.") from err
    except OSError as err:
        raise PresetError(f"{path}: cannot be read ({err.strerror or err}).") from err
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise PresetError(
            f"{path}: JSON nested {depth} levels deep, over the {MAX_JSON_DEPTH} a preset "
            "needs; refusing to parse it."
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise PresetError(
            f"{path}: malformed JSON at line {err.lineno}, column {err.colno} "
            f"({err.msg}). {_LAYOUT}"
        ) from err
    except (ValueError, RecursionError) as err:
        raise PresetError(f"{path}: {err}; a preset's JSON holds finite numbers only. {_LAYOUT}") from err


def _check_directory(directory):
    directory = pathlib.Path(directory)
    if not directory.exists():
        raise PresetError(f"Preset directory {directory} does not exist. {_LAYOUT}")
    if not directory.is_dir():
        raise PresetError(f"{directory} is not a directory. {_LAYOUT}")
    for name in REQUIRED_FILES:
        path = directory / name
        if not path.is_file():
            raise PresetError(f"{path}: file missing. {_LAYOUT}")
    return directory


def read_metadata(directory):
    """The ``metadata.json`` object of a preset directory (the model is not loaded).

    Raises:
        PresetError: the directory or one of its required files is missing,
            or ``metadata.json`` is not a JSON object of a supported format.
    """
    directory = _check_directory(directory)
    path = directory / METADATA_FILE
    metadata = _read_json(path)
    if not isinstance(metadata, dict):
        raise PresetError(f"{path}: expected a JSON object; received {_describe(metadata)}.")
    check_metadata(metadata, path)
    return metadata


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_metadata(metadata, source="metadata.json"):
    """Validate a preset's metadata against its schema; PresetError naming the key.

    ``format`` / ``format_version`` (an int in [1, FORMAT_VERSION]); when
    present: ``params`` an int >= 0; ``metrics`` ``{split: {name: number}}``;
    ``task`` ``{"name": str, "options": {...}}`` whose integer options are at
    most `MAX_TASK_INT` (a seed: 2**64) and whose data (``*_size`` samples of ``timesteps``
    steps) at most `MAX_TASK_ELEMENTS` steps, so that evaluating an untrusted
    preset cannot ask for unbounded memory. JSON's NaN and infinities are
    refused when the file is read.
    """
    def fail(key, what):
        raise PresetError(f"{source}: {key!r} must be {what}; received {_short(metadata.get(key.split('.')[0]))}.")

    version = metadata.get("format_version")
    if metadata.get("format") != FORMAT or not _is_int(version) or version < 1:
        raise PresetError(
            f"{source}: expected 'format': {FORMAT!r} and an integer "
            "'format_version' >= 1 (as written by keras_rnnx.zoo.save_preset)."
        )
    if version > FORMAT_VERSION:
        raise PresetError(
            f"{source}: format_version {version} is newer than this keras-rnnx "
            f"reads ({FORMAT_VERSION}); upgrade keras-rnnx."
        )
    if "params" in metadata and metadata["params"] is not None:
        if not _is_int(metadata["params"]) or metadata["params"] < 0:
            fail("params", "an int >= 0 (the parameter count)")
    metrics = metadata.get("metrics")
    if metrics is not None:
        ok = isinstance(metrics, dict) and all(
            isinstance(values, dict)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values())
            for values in metrics.values()
        )
        if not ok:
            fail("metrics", "an object {split: {metric: number}}")
    task = metadata.get("task")
    if task is None:
        return
    if not isinstance(task, dict) or not isinstance(task.get("name"), str):
        fail("task", "an object with a string 'name'")
    options = task.get("options") or {}
    if not isinstance(options, dict):
        fail("task", "an object whose 'options' is an object")
    for key, value in options.items():
        bound = 2**64 if key == "seed" else MAX_TASK_INT
        if _is_int(value) and not -bound <= value <= bound:
            raise PresetError(
                f"{source}: task option {key!r} = {value} is beyond {bound:,}; "
                "no keras-rnnx task is that large (an untrusted or damaged preset)."
            )
    timesteps = options.get("timesteps")
    for key, value in options.items():
        if key.endswith("_size") and _is_int(value) and _is_int(timesteps) and value * timesteps > MAX_TASK_ELEMENTS:
            raise PresetError(
                f"{source}: task option {key!r} = {value} of {timesteps} steps is "
                f"{value * timesteps:,} steps, over the {MAX_TASK_ELEMENTS:,} an evaluation may "
                "generate (an untrusted or damaged preset)."
            )


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_preset(directory):
    """Load a preset directory written by `save_preset`.

    Checks that every required file exists and parses before building
    anything; the model is rebuilt from ``config.json`` with Keras safe mode
    and its weights read from ``model.weights.h5``. The model is not compiled.

    Returns:
        ``(model, metadata)``.

    Raises:
        PresetError: a missing directory or file, malformed JSON, a config
            Keras cannot rebuild, or weights that do not load; the message
            names the path.
    """
    metadata = read_metadata(directory)
    directory = pathlib.Path(directory)
    config_path = directory / CONFIG_FILE
    model = model_from_config(_read_json(config_path), source=str(config_path))
    weights_path = directory / WEIGHTS_FILE
    try:
        model.load_weights(str(weights_path))
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as err:
        # h5py reports a damaged file as OSError or RuntimeError ("bad local
        # heap signature"), a file of another model as KeyError / ValueError.
        raise PresetError(
            f"{weights_path}: the weights could not be loaded into the model of "
            f"{CONFIG_FILE} ({type(err).__name__}: {err}). Expected the HDF5 "
            "file written by keras.Model.save_weights for that model."
        ) from err
    return model, metadata
