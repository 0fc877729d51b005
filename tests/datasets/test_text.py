"""Character-level text: split, chunks, vocabulary, baseline, bad files."""

import json

import numpy as np
import pytest

from keras_rnnx import datasets
from keras_rnnx.datasets import text as text_lib


@pytest.fixture(scope="module")
def shakespeare(shakespeare_file):
    with open(shakespeare_file, encoding="utf-8") as f:
        return f.read()


def test_fixed_split_last_ten_percent(text_task, shakespeare):
    assert len(shakespeare) == 1_115_394
    train, validation = text_lib.split_text(shakespeare)
    assert len(train) == int(0.9 * len(shakespeare)) == 1_003_854
    assert train + validation == shakespeare
    metadata = datasets.get_builder(text_task).info.metadata
    assert metadata["characters"] == {"train": 1_003_854, "validation": 111_540}
    # Non-overlapping chunks of 100 targets: (n - 1) // 100 of them.
    assert datasets.split_sizes(text_task) == {"train": 10_038, "validation": 1_115}


def test_chunks_decode_to_the_text_with_targets_shifted(text_task, shakespeare):
    vocabulary = text_task.vocabulary
    _, validation = text_lib.split_text(shakespeare)
    x, y = (t.numpy() for t in next(iter(datasets.load_split(text_task, "validation", batch_size=3))))
    assert x.shape == y.shape == (3, 100) and x.dtype == y.dtype == np.int32
    for i in range(3):
        assert text_lib.decode(x[i], vocabulary) == validation[100 * i : 100 * i + 100]
        assert text_lib.decode(y[i], vocabulary) == validation[100 * i + 1 : 100 * i + 101]
    first_train = next(iter(datasets.load_split(text_task, "train", batch_size=1)))[0].numpy()[0]
    assert text_lib.decode(first_train, vocabulary) == shakespeare[:100]


def test_task_description(text_task, shakespeare_file):
    task = text_task
    assert (task.kind, task.input_shape, task.input_dtype) == ("char_lm", (100,), "int32")
    assert task.output_units == len(task.vocabulary) == 65
    assert task.vocabulary == tuple(sorted(set(open(shakespeare_file).read())))
    assert (task.loss, task.metric) == ("sparse_categorical_crossentropy", "nats_per_char")
    assert task.options["sha256"] == text_lib.TINY_SHAKESPEARE_SHA256
    json.dumps(task.options)
    with pytest.raises(ValueError, match="'test'.*'train', 'validation'"):
        datasets.load_split(task, "test", batch_size=2)


def test_unigram_baseline(text_task, shakespeare):
    train, validation = text_lib.split_text(shakespeare)
    vocabulary = text_task.vocabulary
    counts = {c: train.count(c) for c in vocabulary}
    targets = validation[1 : 1 + 100 * 1_115]
    nats = -np.mean([
        np.log((counts[c] + 1) / (len(train) + len(vocabulary))) for c in targets])
    assert text_task.baseline == pytest.approx(nats, rel=1e-9)
    assert text_task.baseline == pytest.approx(3.3473, abs=1e-4)


def test_vocabulary_saved_with_the_data_and_round_trips(text_task, tmp_path):
    metadata = datasets.get_builder(text_task).info.metadata
    assert tuple(metadata["vocabulary"]) == text_task.vocabulary
    path = tmp_path / "vocabulary.json"
    datasets.save_vocabulary(text_task.vocabulary, path)
    assert datasets.load_vocabulary(path) == text_task.vocabulary
    assert datasets.load_vocabulary(str(path))[0] == "\n"


def test_bad_vocabulary_files_are_named(tmp_path):
    path = tmp_path / "v.json"
    with pytest.raises(FileNotFoundError, match=str(path)):
        datasets.load_vocabulary(path)
    path.write_text("[")
    with pytest.raises(ValueError, match=f"{path}.*not valid JSON"):
        datasets.load_vocabulary(path)
    path.write_text('["a", "b"]')
    with pytest.raises(ValueError, match=f"{path}.*not a vocabulary file"):
        datasets.load_vocabulary(path)
    path.write_text('{"format": "keras_rnnx.char_vocabulary", "characters": ["a", "a"]}')
    with pytest.raises(ValueError, match="repeated"):
        datasets.load_vocabulary(path)
    with pytest.raises(ValueError, match="single characters"):
        datasets.save_vocabulary(["ab"], tmp_path / "w.json")


def test_any_local_text_file(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("the cat sat on the mat. " * 40, encoding="utf-8")  # 960 chars
    task = datasets.get_task("text", data_dir=str(tmp_path / "tfds"), path=path, timesteps=10)
    assert task.vocabulary == tuple(sorted(set("the cat sat on the mat. ")))
    assert datasets.split_sizes(task) == {"train": (864 - 1) // 10, "validation": (96 - 1) // 10}
    x, y = next(iter(datasets.load_split(task, "train", batch_size=4, shuffle_seed=3)))
    assert x.shape == (4, 10)
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    # Another file (or length) never reuses the prepared data.
    other = tmp_path / "other.txt"
    other.write_text("a different text! " * 60, encoding="utf-8")
    task2 = datasets.get_task("text", data_dir=str(tmp_path / "tfds"), path=other, timesteps=10)
    assert task2.vocabulary != task.vocabulary
    assert datasets.get_builder(task2).data_dir != datasets.get_builder(task).data_dir


@pytest.mark.parametrize(
    "content, complaint",
    [(b"", "is empty"), (b"x", "single character"), (b"\xff\xfe\x00bad", "not UTF-8")],
)
def test_empty_one_character_and_binary_texts_are_rejected(tmp_path, content, complaint):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=complaint) as info:
        datasets.get_task("text", data_dir=str(tmp_path), path=path)
    assert str(path) in str(info.value)


def test_missing_file_directory_and_too_short_text(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        datasets.get_task("text", path=missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        text_lib.char_text_config(missing)
    with pytest.raises(ValueError, match=f"{tmp_path}.*is a directory"):
        text_lib.read_text(tmp_path)
    short = tmp_path / "short.txt"
    short.write_text("hello world, twice over", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{short}.*train split has 20 characters.*timesteps=100.*at least 1010"):
        datasets.get_task("text", data_dir=str(tmp_path / "tfds"), path=short)
    with pytest.raises(ValueError, match="timesteps"):
        datasets.get_task("text", path=short, timesteps=0)


def test_tiny_shakespeare_from_tfds_fails_clearly_offline(tmp_path, monkeypatch):
    # TFDS' own builder needs the network; here its download is made to fail
    # (tests never try the network) and the error must point to the local file.
    class Offline:
        def download_and_prepare(self):
            raise ConnectionError("Could not resolve host: raw.githubusercontent.com")

    monkeypatch.setattr(text_lib.tfds, "builder", lambda name, data_dir=None: Offline())
    with pytest.raises(RuntimeError, match="tiny_shakespeare.*resolve host.*path=.*input.txt"):
        datasets.get_task("text", data_dir=str(tmp_path))
