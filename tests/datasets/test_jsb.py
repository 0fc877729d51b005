"""JSB Chorales: the builder, the checks on its file, padded batches, 11.06."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_rnnx import datasets
from keras_rnnx.datasets import jsb


@pytest.fixture(scope="module")
def raw(jsb_file):
    with open(jsb_file) as f:
        return json.load(f)


def test_split_sizes_are_229_76_77(jsb_builder, jsb_task):
    splits = jsb_builder.info.splits
    assert {s: splits[s].num_examples for s in ("train", "validation", "test")} == {
        "train": 229, "validation": 76, "test": 77}
    assert datasets.split_sizes(jsb_task) == jsb.JSB_SPLIT_SIZES


def test_rolls_are_88_notes_from_midi_21_to_108(jsb_builder, raw):
    rolls = jsb.read_rolls(jsb_builder, "validation")
    assert len(rolls) == 76
    for roll, chorale in zip(rolls, raw["valid"]):
        assert roll.shape == (len(chorale), 88) and roll.dtype == np.uint8
        for step, notes in zip(roll, chorale):
            assert set((np.nonzero(step)[0] + 21).tolist()) == set(notes)
    assert (jsb.LOWEST_NOTE, jsb.HIGHEST_NOTE, jsb.NUM_NOTES) == (21, 108, 88)
    frames = sum(len(r) for r in jsb.read_rolls(jsb_builder, "test"))
    assert frames == 4725


def test_frequency_baseline_is_11_06(jsb_builder, data_dir, raw):
    # Frequencies over all 13,807 training frames; NLL summed over the 88
    # notes, averaged over all 4,725 test frames; p clipped to [1e-7, 1-1e-7].
    nll = datasets.jsb_frequency_baseline("test", data_dir=data_dir)
    assert round(nll, 2) == 11.06 == datasets.JSB_FREQUENCY_BASELINE_NLL
    assert nll == pytest.approx(11.0600, abs=5e-5)
    # The same figure straight from the JSON file, without TFDS.
    from_json = jsb.frequency_model_nll(
        [jsb.piano_roll(c) for c in raw["train"]], [jsb.piano_roll(c) for c in raw["test"]])
    assert from_json == pytest.approx(nll, abs=1e-9)
    # Averaging over the 4,648 frames after each chorale's first (the
    # x = roll[:-1], y = roll[1:] convention) gives 11.09 instead.
    skip_first = jsb.frequency_model_nll(
        [jsb.piano_roll(c) for c in raw["train"]], [jsb.piano_roll(c)[1:] for c in raw["test"]])
    assert round(skip_first, 2) == 11.09


def test_frequency_baseline_over_the_padded_test_batches(jsb_task, jsb_builder):
    # The pipeline's targets are exactly the frames the baseline averages.
    p = jsb.note_frequencies(jsb.read_rolls(jsb_builder, "train"))
    total, steps = 0.0, 0.0
    for x, y, w in datasets.load_split(jsb_task, "test", batch_size=16):
        nll = jsb.multilabel_nll_nats_per_step(y.numpy(), p, sample_weight=w.numpy())
        total += nll * w.numpy().sum()
        steps += w.numpy().sum()
    assert steps == 4725
    assert total / steps == pytest.approx(11.0600, abs=5e-5)


def test_padded_batches_mask_and_sample_weight(jsb_task, jsb_builder):
    rolls = jsb.read_rolls(jsb_builder, "train")
    x, y, w = (t.numpy() for t in next(iter(datasets.load_split(jsb_task, "train", batch_size=8))))
    lengths = [len(r) for r in rolls[:8]]
    assert x.shape == y.shape == (8, max(lengths), 88) and w.shape == (8, max(lengths))
    assert x.dtype == y.dtype == w.dtype == np.float32
    for i, (roll, length) in enumerate(zip(rolls, lengths)):
        np.testing.assert_array_equal(y[i, :length], roll)
        np.testing.assert_array_equal(x[i, 0], 0.0)  # Silence before the first frame.
        np.testing.assert_array_equal(x[i, 1:length], roll[:-1])
        np.testing.assert_array_equal(w[i, :length], 1.0)
        np.testing.assert_array_equal(x[i, length:], datasets.PAD_VALUE)
        np.testing.assert_array_equal(y[i, length:], 0.0)
        np.testing.assert_array_equal(w[i, length:], 0.0)
    mask = keras.layers.Masking(datasets.PAD_VALUE).compute_mask(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), w > 0)


def test_task_description(jsb_task, jsb_file):
    task = jsb_task
    assert (task.kind, task.input_shape, task.output_units) == ("multilabel", (None, 88), 88)
    assert (task.loss, task.metric, task.output_activation) == (
        "binary_crossentropy", "nll_nats_per_step", "sigmoid")
    assert task.masked and task.sequence_output and task.baseline == 11.06
    assert task.options["path"] == os.path.abspath(jsb_file)
    json.dumps(task.options)


def test_a_masked_model_fits_the_batches(jsb_task):
    # The batches as Keras takes them: (x, y, sample_weight), a mask from x.
    model = keras.Sequential([
        keras.Input(jsb_task.input_shape),
        keras.layers.Masking(datasets.PAD_VALUE),
        keras.layers.Dense(jsb_task.output_units, activation=jsb_task.output_activation),
    ])
    model.compile("adam", jsb_task.loss, run_eagerly=True)  # Two steps: skip tracing.
    dataset = datasets.load_split(jsb_task, "train", batch_size=4, shuffle_seed=0, repeat=True)
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


def test_local_path_directory_and_manual_dir_agree(jsb_file, tmp_path, jsb_builder):
    by_dir = datasets.get_task("jsb_chorales", data_dir=str(tmp_path), path=os.path.dirname(jsb_file))
    assert datasets.split_sizes(by_dir) == jsb.JSB_SPLIT_SIZES
    np.testing.assert_array_equal(
        jsb.read_rolls(datasets.get_builder(by_dir), "test")[5],
        jsb.read_rolls(jsb_builder, "test")[5])


# --- bad input ---------------------------------------------------------------------


def test_corrupted_file_fails_the_sha256_check(jsb_file, tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    corrupted = manual / jsb.JSB_FILENAME
    data = open(jsb_file, "rb").read()
    corrupted.write_bytes(data.replace(b"72", b"73", 1))  # Valid JSON, one note off.
    jsb.read_jsb_json(corrupted)  # The layout checks alone would let it through.
    builder = datasets.JsbChorales(data_dir=str(tmp_path / "tfds"))
    with pytest.raises(ValueError, match=f"{corrupted}.*sha256.*{jsb.JSB_SHA256}"):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    with pytest.raises(ValueError, match=f"{corrupted}.*sha256"):
        datasets.JsbChorales(data_dir=str(tmp_path / "tfds"), path=str(corrupted)).download_and_prepare()
    assert not (tmp_path / "tfds" / "rnnx_jsb_chorales" / "1.0.0").exists()


@pytest.mark.parametrize(
    "content, complaint",
    [
        ("{", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "top level is a list"),
        ('{"train": [], "valid": [], "test": []}', "non-empty list of chorales"),
        ('{"train": [[[60]]], "valid": [[[60]]]}', "lacks the key"),
        ('{"train": [[[60]]], "valid": [[[60]]], "test": [[[130]]]}', r"\['test'\]\[0\]\[0\] holds 130"),
        ('{"train": [[[60]]], "valid": [[[60]]], "test": [[["C4"]]]}', "holds 'C4'"),
        ('{"train": [[60]], "valid": [[[60]]], "test": [[[60]]]}', r"\['train'\]\[0\]\[0\] is not a list"),
    ],
)
def test_malformed_json_is_rejected_with_its_path(tmp_path, content, complaint):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=complaint) as info:
        jsb.read_jsb_json(path)
    assert str(path) in str(info.value)
    assert "expected the JSB Chorales file" in str(info.value)


def test_missing_or_unreadable_files_are_named(tmp_path):
    missing = tmp_path / "nowhere.json"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        datasets.get_task("jsb_chorales", path=missing)
    with pytest.raises(FileNotFoundError, match="without jsb-chorales-quarter.json"):
        datasets.get_task("jsb_chorales", path=tmp_path)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        datasets.JsbChorales(data_dir=str(tmp_path / "tfds"), path=missing).download_and_prepare()
    with pytest.raises(ValueError, match=f"{tmp_path}.*is a directory"):
        jsb.read_jsb_json(tmp_path)
    with pytest.raises(ValueError, match="Unknown option"):
        datasets.get_task("jsb_chorales", file="x.json")


def test_failed_download_says_how_to_work_offline(tmp_path, monkeypatch):
    # No network in tests: the download itself is replaced by a failure.
    def no_network(self, url):
        raise ConnectionError(f"cannot reach {url}")

    monkeypatch.setattr(tfds.download.DownloadManager, "download", no_network)
    builder = datasets.JsbChorales(data_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="raw.githubusercontent.com.*cannot reach.*path=.*manual_dir"):
        builder.download_and_prepare()


def test_download_checksum_is_registered():
    info = datasets.JsbChorales.url_infos[jsb.JSB_URL]
    assert info.checksum == jsb.JSB_SHA256 and int(info.size) == jsb.JSB_SIZE


def _shift_numpy(roll, semitones):
    """Reference: note n sounds at n + semitones; notes off the keyboard vanish."""
    out = np.zeros_like(roll)
    for step, column in zip(*np.nonzero(roll)):
        if 0 <= column + semitones < roll.shape[1]:
            out[step, column + semitones] = roll[step, column]
    return out


@pytest.mark.parametrize("semitones", [-12, -5, 0, 3, 12])
def test_transpose_roll_moves_every_note_and_drops_those_off_the_keyboard(semitones):
    roll = (np.random.RandomState(semitones + 20).rand(7, 88) < 0.2).astype(np.uint8)
    roll[0, 0] = roll[1, 87] = 1  # an edge note each way
    shifted = datasets.transpose_roll(roll, semitones).numpy()
    np.testing.assert_array_equal(shifted, _shift_numpy(roll, semitones))
    assert shifted.dtype == np.uint8


def _transpositions(augmented, originals):
    """The shift of each augmented target roll, found by trying every shift."""
    found = []
    for y, roll in zip(augmented, originals):
        matches = [k for k in range(-12, 13) if np.array_equal(y[: len(roll)], _shift_numpy(roll, k))]
        assert len(matches) == 1, "not a transposition of its chorale"
        found.append(matches[0])
    return found


def test_transpose_option_shifts_each_training_chorale_by_a_new_random_interval(data_dir, jsb_builder, jsb_file):
    task = datasets.get_task("jsb_chorales", data_dir=data_dir, path=jsb_file, transpose=3)
    assert task.options["transpose"] == 3
    # Off by default, and then absent from the options (and from older runs' records).
    assert "transpose" not in datasets.get_task("jsb_chorales", data_dir=data_dir, path=jsb_file).options
    rolls = jsb.read_rolls(jsb_builder, "train")[:40]

    data = datasets.load_split(task, "train", batch_size=40, augment=True)
    first_pass, second_pass = (next(iter(data)) for _ in range(2))
    for x, y, w in (first_pass, second_pass):
        x, y = x.numpy(), y.numpy()
        shifts = _transpositions(y, rolls)
        for i, (roll, k) in enumerate(zip(rolls, shifts)):  # the input is the same shifted roll, one step late
            np.testing.assert_array_equal(x[i, 1 : len(roll)], _shift_numpy(roll, k)[:-1])
        assert set(shifts) <= set(range(-3, 4)) and len(set(shifts)) >= 5
    assert _transpositions(first_pass[1].numpy(), rolls) != _transpositions(second_pass[1].numpy(), rolls)
    # Without augment (evaluation), and on the other splits, the data is unchanged.
    plain = next(iter(datasets.load_split(task, "train", batch_size=40)))[1].numpy()
    assert _transpositions(plain, rolls) == [0] * 40
    assert datasets.split_sizes(task) == jsb.JSB_SPLIT_SIZES


def test_transpose_draws_repeat_with_the_seed(data_dir, jsb_file):
    task = datasets.get_task("jsb_chorales", data_dir=data_dir, path=jsb_file, transpose=2)

    def targets(seed):
        return [b[1].numpy() for b in datasets.load_split(task, "train", batch_size=64, shuffle_seed=seed, augment=True)]

    for a, b in zip(targets(5), targets(5)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(targets(5), targets(6)))


@pytest.mark.parametrize("value", [-1, 13, 1.5, True, "3"])
def test_bad_transpose_is_named(data_dir, jsb_file, value):
    with pytest.raises(ValueError, match=r"Option `transpose` must be an int from 0 \(off\) to 12 semitones"):
        datasets.get_task("jsb_chorales", data_dir=data_dir, path=jsb_file, transpose=value)


def test_a_path_whose_file_differs_from_the_prepared_data_is_refused(data_dir, jsb_builder, jsb_file, tmp_path):
    # Regression: once the TFDS data was prepared, `path` was never read again: a
    # run recorded path=/some/file while training on the cache built from another.
    other = tmp_path / "other"
    other.mkdir()
    changed = other / jsb.JSB_FILENAME
    changed.write_bytes(open(jsb_file, "rb").read().replace(b"72", b"73", 1))  # valid JSON, one note off
    expected = f"{changed}.*sha256 of the JSB Chorales file.*got .*expected {jsb.JSB_SHA256}"
    with pytest.raises(ValueError, match=expected):
        task = datasets.get_task("jsb_chorales", data_dir=data_dir, path=changed)
        datasets.split_sizes(task)  # the prepared data, read without a look at `path`
    with pytest.raises(ValueError, match=expected):
        datasets.get_task("jsb_chorales", data_dir=data_dir, path=other)  # a directory holding it
    with pytest.raises(ValueError, match=expected):
        datasets.JsbChorales(data_dir=data_dir, path=changed).download_and_prepare()
    with pytest.raises(ValueError, match=expected):
        datasets.JsbChorales(data_dir=data_dir).download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(other)))
    # The same bytes anywhere are the data read: accepted, and recorded as given.
    same = tmp_path / "copy.json"
    shutil.copy(jsb_file, same)
    task = datasets.get_task("jsb_chorales", data_dir=data_dir, path=same)
    assert task.options["path"] == str(same) and datasets.split_sizes(task) == jsb.JSB_SPLIT_SIZES
