"""Character-level text: a fixed split, a saved vocabulary, the TFDS builder.

Any UTF-8 text file, or TFDS' own ``tiny_shakespeare`` (downloaded by TFDS),
becomes a character language-modelling task:

- the split is fixed: the first ``int(0.9 * n)`` characters train, the last
  10 % validate (the split of nanoGPT's ``shakespeare_char``, behind the
  published Tiny Shakespeare numbers; TFDS' own builder splits 90/5/5, so its
  validation and test texts are joined back into the last 10 %);
- the vocabulary is every distinct character of the whole text, sorted by code
  point (65 for Tiny Shakespeare), saved in the TFDS metadata and with
  `save_vocabulary`;
- each split is cut into non-overlapping chunks of ``timesteps + 1`` ids
  (consecutive chunks share one character): the input is the first
  ``timesteps``, the target the same shifted by one.

The trivial baseline is the unigram model: each character with its training
frequency (add-one smoothed over the vocabulary), scored in nats per character
on the validation targets.
"""

import dataclasses
import hashlib
import json
import math
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from keras_rnnx.datasets import _files

VALIDATION_FRACTION = 0.1
"""The last 10 % of the characters are the validation split."""

TINY_SHAKESPEARE_SHA256 = (
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
)
"""sha256 of ``input.txt`` of karpathy/char-rnn (TFDS ``tiny_shakespeare``)."""
TINY_SHAKESPEARE_FILENAME = "input.txt"

_EXPECTED_TEXT = "a UTF-8 text file of at least 2 characters"
_VOCABULARY_FORMAT = "keras_rnnx.char_vocabulary"


def check_text(text, source):
    """Raise ValueError naming ``source`` if ``text`` is too short to model."""
    if len(text) == 0:
        raise ValueError(f"{source} is empty: expected {_EXPECTED_TEXT}.")
    if len(text) == 1:
        raise ValueError(
            f"{source} holds a single character ({text!r}): expected "
            f"{_EXPECTED_TEXT} (a model predicts each character from the previous)."
        )
    return text


def read_text(path):
    """The text of a UTF-8 file, checked (`check_text`).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a directory, an unreadable or non-UTF-8 file, or fewer
            than 2 characters; the message names the path.
    """
    raw = _files.read_bytes(path, _EXPECTED_TEXT)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{os.fspath(path)!r} is not UTF-8 text ({error}): expected "
            f"{_EXPECTED_TEXT}."
        ) from error
    return check_text(text, repr(os.fspath(path)))


def split_text(text):
    """``(train, validation)``: the first 90 % and the last 10 % of ``text``.

    >>> from keras_rnnx.datasets.text import split_text
    >>> split_text("abcdefghij")
    ('abcdefghi', 'j')
    """
    cut = int(len(text) * (1.0 - VALIDATION_FRACTION))
    return text[:cut], text[cut:]


def build_vocabulary(text):
    """Every distinct character of ``text``, sorted by code point, as a tuple.

    >>> from keras_rnnx.datasets.text import build_vocabulary
    >>> build_vocabulary("hello")
    ('e', 'h', 'l', 'o')
    """
    return tuple(sorted(set(text)))


def encode(text, vocabulary):
    """int32 ids of the characters of ``text`` in ``vocabulary``."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = np.array([ord(c) for c in vocabulary], dtype=np.uint32)
    ids = np.searchsorted(table, codes)
    ids = np.minimum(ids, len(table) - 1)
    unknown = table[ids] != codes
    if unknown.any():
        raise ValueError(
            f"Character {chr(codes[np.argmax(unknown)])!r} is not in the vocabulary."
        )
    return ids.astype(np.int32)


def decode(ids, vocabulary):
    """The text of a sequence of ids."""
    return "".join(vocabulary[int(i)] for i in ids)


def chunk(ids, timesteps):
    """Non-overlapping ``(n, timesteps + 1)`` windows, ``n = (len - 1) // T``.

    Row ``i`` is ``ids[i*T : i*T + T + 1]``: the input is ``row[:-1]``, the
    target ``row[1:]``; the last ``(len - 1) % T`` targets are dropped.

    >>> import numpy as np
    >>> from keras_rnnx.datasets.text import chunk
    >>> chunk(np.arange(8), 3).tolist()
    [[0, 1, 2, 3], [3, 4, 5, 6]]
    """
    ids = np.asarray(ids)
    n = (len(ids) - 1) // timesteps
    index = np.arange(n)[:, None] * timesteps + np.arange(timesteps + 1)[None, :]
    return ids[index]


def unigram_nats_per_char(train_ids, target_ids, vocabulary_size):
    """Cross-entropy (nats/char) on ``target_ids`` of the training unigram model.

    ``p(c) = (count_train(c) + 1) / (n_train + V)``: add-one smoothing, so a
    character never seen in training is not infinitely unlikely.
    """
    counts = np.bincount(np.asarray(train_ids), minlength=vocabulary_size)
    p = (counts + 1.0) / (counts.sum() + vocabulary_size)
    return float(-np.log(p[np.asarray(target_ids)]).mean())


def save_vocabulary(vocabulary, path):
    """Write a character vocabulary as JSON (`load_vocabulary` reads it back).

    >>> import os, tempfile
    >>> from keras_rnnx.datasets.text import load_vocabulary, save_vocabulary
    >>> path = os.path.join(tempfile.mkdtemp(), "vocabulary.json")
    >>> save_vocabulary(("\\n", " ", "a"), path)
    >>> load_vocabulary(path)
    ('\\n', ' ', 'a')
    """
    vocabulary = _check_vocabulary(vocabulary, "the vocabulary argument")
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"format": _VOCABULARY_FORMAT, "characters": list(vocabulary)}, f)


def load_vocabulary(path):
    """Read a vocabulary written by `save_vocabulary`, as a tuple of characters.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a vocabulary file; the message names the path.
    """
    expected = (
        'a JSON vocabulary written by save_vocabulary: {"format": '
        f'"{_VOCABULARY_FORMAT}", "characters": [distinct single characters]}}'
    )
    raw = _files.read_bytes(path, expected)
    path = os.fspath(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path!r} is not valid JSON ({error}): expected {expected}.")
    if not isinstance(data, dict) or data.get("format") != _VOCABULARY_FORMAT:
        raise ValueError(f"{path!r} is not a vocabulary file: expected {expected}.")
    return _check_vocabulary(data.get("characters"), repr(path), expected)


def _check_vocabulary(vocabulary, source, expected="distinct single characters"):
    if isinstance(vocabulary, str) or vocabulary is None:
        raise ValueError(f"{source}: expected {expected}, got {vocabulary!r}.")
    vocabulary = tuple(vocabulary)
    if not vocabulary or any(
        not isinstance(c, str) or len(c) != 1 for c in vocabulary
    ):
        raise ValueError(f"{source}: expected {expected}, got {vocabulary!r:.200}.")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"{source}: repeated characters; expected {expected}.")
    return vocabulary


# --- the TFDS builder ----------------------------------------------------------


@dataclasses.dataclass
class CharTextConfig(tfds.core.BuilderConfig):
    """A text source and the chunk length.

    ``path=None`` means TFDS' ``tiny_shakespeare``; otherwise ``sha256`` is the
    file's, checked again when the data is generated.
    """

    path: str | None = None
    sha256: str | None = None
    timesteps: int = 100


DEFAULT_TIMESTEPS = 100


def _check_timesteps(timesteps):
    if (
        isinstance(timesteps, bool)
        or not isinstance(timesteps, (int, np.integer))
        or timesteps < 1
    ):
        raise ValueError(
            f"Option `timesteps` must be an int >= 1 (the chunk length). "
            f"Received: timesteps={timesteps!r}."
        )
    return int(timesteps)


_TINY_SHAKESPEARE = CharTextConfig(
    name="tiny_shakespeare",
    description=(
        f"TFDS tiny_shakespeare (downloaded by TFDS), chunks of {DEFAULT_TIMESTEPS}."
    ),
    timesteps=DEFAULT_TIMESTEPS,
)


def char_text_config(path=None, timesteps=DEFAULT_TIMESTEPS):
    """The `CharTextConfig` of a local file (or of TFDS' tiny_shakespeare).

    The config name carries the file's stem, the start of its sha256 and the
    chunk length, so a different file or length never reuses prepared data.

    Raises:
        FileNotFoundError / ValueError: as `read_text`, naming the path.
    """
    timesteps = _check_timesteps(timesteps)
    if path is None:
        if timesteps == DEFAULT_TIMESTEPS:
            return _TINY_SHAKESPEARE
        return CharTextConfig(
            name=f"tiny_shakespeare_t{timesteps}",
            description=f"TFDS tiny_shakespeare, chunks of {timesteps}.",
            timesteps=timesteps,
        )
    path = os.path.abspath(os.fspath(path))
    read_text(path)  # Fail here, naming the path, rather than inside TFDS.
    sha256 = _files.sha256_of(path)
    stem = re.sub(r"[^A-Za-z0-9]+", "_", os.path.splitext(os.path.basename(path))[0])
    return CharTextConfig(
        name=f"{stem.strip('_') or 'text'}_{sha256[:12]}_t{timesteps}",
        description=f"Characters of {path} (sha256 {sha256}), chunks of {timesteps}.",
        path=path,
        sha256=sha256,
        timesteps=timesteps,
    )


def _tfds_tiny_shakespeare_text(data_dir):
    """The whole Tiny Shakespeare text from TFDS' builder (which downloads it)."""
    builder = tfds.builder("tiny_shakespeare", data_dir=data_dir)
    builder.download_and_prepare()
    parts = []
    for split in ("train", "validation", "test"):
        (example,) = tfds.as_numpy(builder.as_dataset(split=split))
        parts.append(example["text"].decode("utf-8"))
    return "".join(parts)


class CharText(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of a character language-modelling task (``rnnx_char_text``).

    Splits ``train`` and ``validation`` (the last 10 % of the characters).
    Each example is ``{"ids": int32 (timesteps + 1,)}``, a window of
    `chunk`; order is kept. ``info.metadata`` holds the ``vocabulary``, the
    ``unigram_nats_per_char`` baseline, the character counts of each split
    and the source.

    Build it with `char_text_config`::

        builder = CharText(config=char_text_config("input.txt"), data_dir=...)
        builder.download_and_prepare()

    The default config, ``tiny_shakespeare``, reads TFDS' ``tiny_shakespeare``
    (TFDS downloads it); where that fails, the error suggests a local file.
    """

    name = "rnnx_char_text"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [_TINY_SHAKESPEARE]
    DEFAULT_CONFIG_NAME = "tiny_shakespeare"

    @tfds.core.utils.classproperty
    @classmethod
    def url_infos(cls):
        # Nothing downloaded by this builder itself (see SyntheticSequences).
        return None

    def _info(self):
        timesteps = self.builder_config.timesteps
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Character-level language modelling: non-overlapping windows of "
                f"{timesteps + 1} character ids, the last 10% of the text for "
                "validation. " + (self.builder_config.description or "")
            ),
            features=tfds.features.FeaturesDict(
                {"ids": tfds.features.Tensor(shape=(timesteps + 1,), dtype=np.int32)}
            ),
            metadata=tfds.core.MetadataDict(),
            disable_shuffling=True,
        )

    def _read_source(self):
        config = self.builder_config
        if config.path is None:
            try:
                return _tfds_tiny_shakespeare_text(self.data_dir_root), "tfds:tiny_shakespeare"
            except Exception as error:
                reason = f"{type(error).__name__}: {error}"
                if isinstance(error, ModuleNotFoundError):
                    # TFDS 4.9's own builders need `importlib_resources`
                    # (etils' epath extra), which TFDS does not install.
                    reason += f" (TFDS' builders need it: pip install {error.name})"
                raise RuntimeError(
                    "Could not get TFDS' tiny_shakespeare (TFDS downloads it from "
                    f"github.com/karpathy/char-rnn): {reason}. "
                    "Without network, use a local copy of the file: "
                    "get_task('text', path='.../tinyshakespeare/input.txt') or "
                    "char_text_config(path='.../input.txt') (sha256 "
                    f"{TINY_SHAKESPEARE_SHA256})."
                ) from error
        _files.verify_sha256(config.path, config.sha256, "the file this config was made for")
        return read_text(config.path), config.path

    def _split_generators(self, dl_manager):
        del dl_manager
        timesteps = self.builder_config.timesteps
        text, source = self._read_source()
        check_text(text, source)
        vocabulary = build_vocabulary(text)
        train_text, validation_text = split_text(text)
        ids = {"train": encode(train_text, vocabulary),
               "validation": encode(validation_text, vocabulary)}
        windows = {}
        for split, split_ids in ids.items():
            windows[split] = chunk(split_ids, timesteps)
            if len(windows[split]) == 0:
                raise ValueError(
                    f"{source}: its {split} split has {len(split_ids)} characters, "
                    f"too few for one chunk of timesteps={timesteps} (needs "
                    f"{timesteps + 1}); expected a text of at least "
                    f"{math.ceil((timesteps + 1) / VALIDATION_FRACTION)} characters, "
                    "or pass a smaller timesteps."
                )
        targets = windows["validation"][:, 1:].reshape(-1)
        self.info.metadata.update(
            vocabulary=list(vocabulary),
            unigram_nats_per_char=unigram_nats_per_char(
                ids["train"], targets, len(vocabulary)
            ),
            characters={split: int(len(v)) for split, v in ids.items()},
            source=source,
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            timesteps=timesteps,
        )
        return {
            split: self._generate_examples(rows) for split, rows in windows.items()
        }

    def _generate_examples(self, rows):
        for i, row in enumerate(rows):
            yield i, {"ids": row.astype(np.int32)}


def char_text_builder(path=None, timesteps=DEFAULT_TIMESTEPS, *, data_dir=None):
    """A prepared `CharText` for a local file, or TFDS' tiny_shakespeare."""
    builder = CharText(config=char_text_config(path, timesteps), data_dir=data_dir)
    builder.download_and_prepare()
    return builder
