"""JSB Chorales as 88-note piano rolls: reading, the TFDS builder, the baseline.

The data is the Boulanger-Lewandowski et al. (2012) split of 382 Bach chorales
(229 train / 76 validation / 77 test) at quarter-note resolution, as published
in ``jsb-chorales-quarter.json`` by github.com/czhuang/JSB-Chorales-dataset:
a JSON object ``{"train": [...], "valid": [...], "test": [...]}``, each a list
of chorales, each a list of time steps, each the list of MIDI note numbers
sounding at that step. Each step becomes a binary vector over the 88 piano
keys, MIDI 21 (A0) to 108 (C8).

The standard metric is the negative log-likelihood per time step in nats,
summed over the 88 notes and averaged over all the time steps of the split
(`multilabel_nll_nats_per_step`). A model that ignores time and gives each
note its frequency in the training frames scores `JSB_FREQUENCY_BASELINE_NLL`
= 11.06 on the 4,725 test steps (`jsb_frequency_baseline`).
"""

import json
import os

import numpy as np
import tensorflow_datasets as tfds

from keras_rnnx.datasets import _files

JSB_URL = (
    "https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/master/"
    "jsb-chorales-quarter.json"
)
"""Where the builder downloads the data when given no local file."""
JSB_FILENAME = "jsb-chorales-quarter.json"
"""Name of the file looked for in a ``manual_dir`` or a directory ``path``."""
JSB_SHA256 = "2db9329f1881a1d3f49703ec556bf1d6f84b4f6c1d702c156536e93cf31e1c91"
"""sha256 of `JSB_FILENAME`; checked on every file the builder reads."""
JSB_SIZE = 407_200
"""Size of `JSB_FILENAME` in bytes."""

LOWEST_NOTE = 21
"""MIDI number of the lowest piano key (A0), column 0 of a piano roll."""
HIGHEST_NOTE = 108
"""MIDI number of the highest piano key (C8), column 87 of a piano roll."""
NUM_NOTES = HIGHEST_NOTE - LOWEST_NOTE + 1

JSB_SPLIT_SIZES = {"train": 229, "validation": 76, "test": 77}
"""Chorales per split (Boulanger-Lewandowski et al. 2012)."""
_JSON_KEYS = {"train": "train", "validation": "valid", "test": "test"}

KERAS_EPSILON = 1e-7
"""Probabilities are clipped to ``[eps, 1 - eps]`` before the log, as Keras'
``binary_crossentropy`` does (``keras.config.epsilon()``)."""

JSB_FREQUENCY_BASELINE_NLL = 11.06
"""Test NLL (nats per time step, summed over the 88 notes) of the per-note
frequency model: each note is on with its frequency over all 13,807 training
frames, independently of time and of the other notes, and the NLL is averaged
over all 4,725 test frames, probabilities clipped to ``[1e-7, 1 - 1e-7]``.
Exactly 11.0600 (see `jsb_frequency_baseline` and ``docs/datasets.md``)."""

_EXPECTED = (
    f"the JSB Chorales file {JSB_FILENAME} (sha256 {JSB_SHA256}): a JSON object "
    "with keys 'train', 'valid' and 'test', each a list of chorales, each a "
    f"list of time steps, each a list of MIDI note numbers in "
    f"{LOWEST_NOTE}..{HIGHEST_NOTE}"
)


def verify_jsb_file(path):
    """The JSB Chorales file at ``path`` (or in the directory ``path``), checked:
    it exists, is readable and has the sha256 of `JSB_FILENAME`.

    The builder makes its data only from a file with `JSB_SHA256` and TFDS
    reads prepared data without looking at the source again, so a file given
    beside prepared data must hold exactly those bytes: otherwise the data
    read would not be the file recorded (a run's ``path`` would lie).

    Returns:
        The file's path, as a str.

    Raises:
        FileNotFoundError: no file there.
        ValueError: a directory without the file, an unreadable file, or
            another sha256 (the message names the file, both digests and the fix).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, JSB_FILENAME)
    path = _files.check_readable_file(path, _EXPECTED)
    _files.verify_sha256(
        path, JSB_SHA256,
        f"the JSB Chorales file {JSB_FILENAME}, which all prepared JSB data is built from",
    )  # fmt: skip
    return path


def read_jsb_json(path):
    """Read and check a JSB Chorales JSON file (no checksum: see the builder).

    Args:
        path: path of a file laid out like `JSB_FILENAME`.

    Returns:
        A dict ``{"train": chorales, "validation": ..., "test": ...}``; each
        chorale is a list of time steps, each a list of int MIDI numbers.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a directory or unreadable file, invalid JSON, or not the
            expected layout. Every message names ``path`` and what was
            expected (and where the first bad value is).
    """
    raw = _files.read_bytes(path, _EXPECTED)
    path = os.fspath(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path!r} is not valid JSON ({error}): expected {_EXPECTED}."
        ) from error

    def bad(where, what):
        return ValueError(f"{path!r}: {where} {what}; expected {_EXPECTED}.")

    if not isinstance(data, dict):
        raise bad("the top level is", f"a {type(data).__name__}, not an object")
    missing = [key for key in _JSON_KEYS.values() if key not in data]
    if missing:
        raise bad("the object", f"lacks the key(s) {missing} (has {sorted(data)})")
    result = {}
    for split, key in _JSON_KEYS.items():
        chorales = data[key]
        if not isinstance(chorales, list) or not chorales:
            raise bad(f"[{key!r}]", "is not a non-empty list of chorales")
        for c, chorale in enumerate(chorales):
            if not isinstance(chorale, list) or not chorale:
                raise bad(f"[{key!r}][{c}]", "is not a non-empty list of time steps")
            for t, step in enumerate(chorale):
                if not isinstance(step, list):
                    raise bad(f"[{key!r}][{c}][{t}]", "is not a list of notes")
                for note in step:
                    if (
                        isinstance(note, bool)
                        or not isinstance(note, (int, float))
                        or note != int(note)
                        or not LOWEST_NOTE <= note <= HIGHEST_NOTE
                    ):
                        raise bad(
                            f"[{key!r}][{c}][{t}]",
                            f"holds {note!r}, not a MIDI note number",
                        )
        result[split] = [[[int(n) for n in step] for step in ch] for ch in chorales]
    return result


def piano_roll(chorale):
    """Binary ``(steps, 88)`` uint8 roll of a chorale (lists of MIDI numbers).

    >>> from keras_rnnx.datasets.jsb import piano_roll
    >>> roll = piano_roll([[60, 64, 67], [], [21, 108]])
    >>> roll.shape, roll.sum(axis=1).tolist(), roll[2, [0, 87]].tolist()
    ((3, 88), [3, 0, 2], [1, 1])
    """
    roll = np.zeros((len(chorale), NUM_NOTES), dtype=np.uint8)
    for t, step in enumerate(chorale):
        for note in step:
            roll[t, int(note) - LOWEST_NOTE] = 1
    return roll


def multilabel_nll_nats_per_step(
    y_true, probabilities, sample_weight=None, epsilon=KERAS_EPSILON
):
    """NLL per time step in nats, summed over the notes, averaged over steps.

    Args:
        y_true: binary array ``(..., steps, notes)``.
        probabilities: predicted on-probabilities, same shape.
        sample_weight: optional ``(..., steps)`` weights (0 at padded steps,
            as in the batches of `keras_rnnx.datasets.load_split`); the mean
            is over the weighted steps.
        epsilon: probabilities are clipped to ``[epsilon, 1 - epsilon]``.

    Returns:
        A float: ``sum_steps w * sum_notes -log p(y) / sum_steps w``.

    >>> import numpy as np
    >>> from keras_rnnx.datasets.jsb import multilabel_nll_nats_per_step
    >>> y = np.array([[1, 0], [0, 0]])
    >>> round(multilabel_nll_nats_per_step(y, np.full((2, 2), 0.5)), 4)  # 2 ln 2
    1.3863
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), epsilon, 1.0 - epsilon)
    p = np.broadcast_to(p, y.shape)
    per_step = -(y * np.log(p) + (1.0 - y) * np.log1p(-p)).sum(axis=-1)
    if sample_weight is None:
        return float(per_step.mean())
    w = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), per_step.shape)
    return float((per_step * w).sum() / w.sum())


def note_frequencies(rolls):
    """Per-note frequency over all the frames of a list of piano rolls."""
    frames = np.concatenate([np.asarray(r, dtype=np.float64) for r in rolls])
    return frames.mean(axis=0)


def frequency_model_nll(train_rolls, eval_rolls, epsilon=KERAS_EPSILON):
    """NLL per step of the per-note frequency model fitted on ``train_rolls``.

    Every frame of ``eval_rolls`` is scored (a time-independent model can
    score the first frame of a chorale too), with the probabilities clipped
    as in `multilabel_nll_nats_per_step`.
    """
    p = note_frequencies(train_rolls)
    frames = np.concatenate([np.asarray(r) for r in eval_rolls])
    return multilabel_nll_nats_per_step(frames, p, epsilon=epsilon)


class JsbChorales(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of JSB Chorales (TFDS name ``rnnx_jsb_chorales``).

    Splits ``train`` / ``validation`` / ``test`` of 229 / 76 / 77 chorales, in
    the order of the JSON file. Each example: ``roll`` uint8 ``(steps, 88)``
    (column ``n - 21`` for MIDI note ``n``), ``index`` (position in the
    file's split) and ``length`` (steps).

    Where the file comes from, first found wins:

    1. ``path=`` given to the constructor: the file itself, or a directory
       holding `JSB_FILENAME`; a missing one is an error;
    2. ``download_config=tfds.download.DownloadConfig(manual_dir=DIR)`` with
       ``DIR/jsb-chorales-quarter.json``;
    3. a download of `JSB_URL`, checked by TFDS' download manager against the
       registered size and sha256.

    Whatever the source, the file's sha256 must be `JSB_SHA256`: a mismatch
    is a ValueError naming the file.
    """

    name = "rnnx_jsb_chorales"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Optional (for offline use): put {JSB_FILENAME}, from {JSB_URL}, in "
        "the manual_dir, or pass path= to the builder."
    )

    def __init__(self, *, path=None, **kwargs):
        self._local_path = None if path is None else os.fspath(path)
        super().__init__(**kwargs)

    def download_and_prepare(self, *, download_config=None, **kwargs):
        """As TFDS', but a given file (``path=``, or the manual_dir's) is
        checked against `JSB_SHA256` even when the data is already prepared,
        which TFDS would read without looking at the file (`verify_jsb_file`)."""
        if self._local_path is not None:
            verify_jsb_file(self._local_path)
        else:
            manual = getattr(download_config, "manual_dir", None)
            if manual and os.path.exists(os.path.join(os.fspath(manual), JSB_FILENAME)):
                verify_jsb_file(os.path.join(os.fspath(manual), JSB_FILENAME))
        return super().download_and_prepare(download_config=download_config, **kwargs)

    @tfds.core.utils.classproperty
    @classmethod
    def url_infos(cls):
        # Registered here rather than in a checksums.tsv beside the module
        # (which TFDS 4.9 finds only with `importlib_resources` installed).
        return {
            JSB_URL: tfds.download.checksums.UrlInfo(
                size=JSB_SIZE, checksum=JSB_SHA256, filename=JSB_FILENAME
            )
        }

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "JSB Chorales (Boulanger-Lewandowski et al. 2012 split, quarter "
                "notes) as 88-note piano rolls, MIDI 21..108."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "roll": tfds.features.Tensor(
                        shape=(None, NUM_NOTES), dtype=np.uint8
                    ),
                    "index": tfds.features.Tensor(shape=(), dtype=np.int32),
                    "length": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            homepage="https://github.com/czhuang/JSB-Chorales-dataset",
            citation=(
                "@inproceedings{boulanger2012modeling, title={Modeling temporal "
                "dependencies in high-dimensional sequences: application to "
                "polyphonic music generation and transcription}, author="
                "{Boulanger-Lewandowski, Nicolas and Bengio, Yoshua and Vincent, "
                "Pascal}, booktitle={ICML}, year={2012}}"
            ),
            disable_shuffling=True,
        )

    def _locate(self, dl_manager):
        if self._local_path is not None:
            path = self._local_path
            if os.path.isdir(path):
                path = os.path.join(path, JSB_FILENAME)
            return _files.check_readable_file(path, _EXPECTED)
        try:
            manual = os.fspath(dl_manager.manual_dir)
        except (AssertionError, ValueError):  # No manual dir, or an empty one.
            manual = None
        if manual is not None and os.path.exists(os.path.join(manual, JSB_FILENAME)):
            return _files.check_readable_file(
                os.path.join(manual, JSB_FILENAME), _EXPECTED
            )
        try:
            return os.fspath(dl_manager.download(JSB_URL))
        except Exception as error:
            raise RuntimeError(
                f"Could not download JSB Chorales from {JSB_URL} ({error}). "
                f"For offline use, pass path='.../{JSB_FILENAME}' or "
                "download_config=tfds.download.DownloadConfig(manual_dir=DIR) "
                f"with DIR/{JSB_FILENAME} (the manual_dir looked in: "
                f"{manual or 'none given'})."
            ) from error

    def _split_generators(self, dl_manager):
        path = self._locate(dl_manager)
        _files.verify_sha256(path, JSB_SHA256, f"the JSB Chorales file {JSB_FILENAME}")
        data = read_jsb_json(path)
        return {
            split: self._generate_examples(data[split]) for split in JSB_SPLIT_SIZES
        }

    def _generate_examples(self, chorales):
        for i, chorale in enumerate(chorales):
            yield i, {
                "roll": piano_roll(chorale),
                "index": np.int32(i),
                "length": np.int32(len(chorale)),
            }


def read_rolls(builder, split):
    """The piano rolls of a split of a prepared `JsbChorales`, in file order."""
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    return [example["roll"] for example in tfds.as_numpy(dataset)]


def jsb_builder(*, data_dir=None, path=None, manual_dir=None):
    """A prepared `JsbChorales` (built on first use, then read from disk)."""
    builder = JsbChorales(path=path, data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )
    return builder


def jsb_frequency_baseline(
    split="test", *, data_dir=None, path=None, manual_dir=None, epsilon=KERAS_EPSILON
):
    """NLL per step of the per-note frequency model on a JSB split, in nats.

    Each note's probability is its frequency over all training frames; the
    NLL is summed over the 88 notes and averaged over every frame of
    ``split`` (4,725 on test), with probabilities clipped to
    ``[epsilon, 1 - epsilon]``: 11.0600 on ``"test"`` (one test note, never
    played in training, costs ``-ln(1e-7)`` once; without clipping that
    frame would be infinitely unlikely). The data comes from the TFDS builder
    (`jsb_builder`: ``data_dir``, ``path``, ``manual_dir``).
    """
    builder = jsb_builder(data_dir=data_dir, path=path, manual_dir=manual_dir)
    return frequency_model_nll(
        read_rolls(builder, "train"), read_rolls(builder, split), epsilon=epsilon
    )
