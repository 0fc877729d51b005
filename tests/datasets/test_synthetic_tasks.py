"""The synthetic tasks: generators, their TFDS builder, pipelines and baselines."""

import math

import keras
import numpy as np
import pytest

from keras_rnnx import datasets
from keras_rnnx.datasets import synthetic
from keras_rnnx.datasets import synthetic_builder

SYNTHETIC = synthetic_builder.SYNTHETIC_TASKS
SMALL = dict(train_size=40, validation_size=12, test_size=10)


def _batches(dataset):
    return [tuple(t.numpy() for t in batch) for batch in dataset]


def _all(dataset):
    batches = _batches(dataset)
    return tuple(np.concatenate(part) for part in zip(*batches))


@pytest.fixture(scope="module")
def small_tasks(data_dir):
    return {
        name: datasets.get_task(name, data_dir=data_dir, timesteps=12, **SMALL)
        for name in SYNTHETIC
    }


# --- determinism ---------------------------------------------------------------


@pytest.mark.parametrize("name", SYNTHETIC)
def test_builder_stores_exactly_the_generator_output(name, small_tasks):
    task = small_tasks[name]
    builder = datasets.get_builder(task)
    options = {k: v for k, v in task.options.items() if k != "data_dir"}
    for split in ("train", "test"):
        x, y = synthetic_builder.generate(name, options, split)
        stored = list(builder.as_dataset(split=split, shuffle_files=False))
        assert len(stored) == len(x) == task.options[f"{split}_size"]
        np.testing.assert_array_equal(np.stack([e["x"].numpy() for e in stored]), x)
        np.testing.assert_array_equal(np.stack([e["y"].numpy() for e in stored]), y)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_same_seed_same_data_other_seed_other_data(name):
    options = synthetic_builder.resolve_options(name, timesteps=12, **SMALL)
    x1, y1 = synthetic_builder.generate(name, options, "train")
    x2, y2 = synthetic_builder.generate(name, dict(options), "train")
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = synthetic_builder.generate(name, {**options, "seed": 1}, "train")
    assert not np.array_equal(x1, x3)
    # Each split has its own stream.
    x_test, _ = synthetic_builder.generate(name, {**options, "train_size": 10}, "test")
    assert not np.array_equal(x1[:10], x_test)


def test_split_seeds_are_distinct_and_stable():
    seeds = {(s, split): synthetic.split_seed(s, split) for s in range(5) for split in synthetic.SPLITS}
    assert len(set(seeds.values())) == len(seeds)
    assert synthetic.split_seed(3, "validation") == seeds[(3, "validation")]
    with pytest.raises(ValueError, match="'dev'"):
        synthetic.split_seed(0, "dev")


def test_same_options_rebuild_to_the_same_directory(data_dir, small_tasks):
    task = small_tasks["adding"]
    again = datasets.get_task("adding", data_dir=data_dir, timesteps=12, **SMALL)
    assert datasets.get_builder(again).data_dir == datasets.get_builder(task).data_dir
    other = datasets.get_task("adding", data_dir=data_dir, timesteps=12, seed=5, **SMALL)
    assert synthetic_builder.synthetic_config("adding", **{
        k: v for k, v in other.options.items() if k != "data_dir"}).name != "adding"
    assert datasets.get_builder(other).data_dir != datasets.get_builder(task).data_dir
    assert synthetic_builder.synthetic_config("adding").name == "adding"


# --- shapes and dtypes -------------------------------------------------------------

EXPECTED = {
    # name: (x shape, x dtype, y shape, y dtype) for timesteps=12, batch of 4
    "adding": ((4, 12, 2), np.float32, (4, 1), np.float32),
    "copy": ((4, 32, 1), np.float32, (4, 32), np.int32),
    "parity": ((4, 12, 1), np.float32, (4,), np.int32),
    "temporal_order": ((4, 12, 8), np.float32, (4,), np.int32),
    "waveform": ((4, 12, 1), np.float32, (4, 12, 1), np.float32),
}


@pytest.mark.parametrize("name", SYNTHETIC)
def test_batch_shapes_and_dtypes_match_the_task(name, small_tasks):
    task = small_tasks[name]
    x, y = next(iter(datasets.load_split(task, "validation", batch_size=4)))
    x_shape, x_dtype, y_shape, y_dtype = EXPECTED[name]
    assert x.shape == x_shape and x.dtype == x_dtype
    assert y.shape == y_shape and y.dtype == y_dtype
    assert tuple(x.shape[1:]) == task.input_shape
    assert task.input_dtype == "float32"
    assert not task.masked
    sizes = datasets.split_sizes(task)
    assert sizes == {"train": 40, "validation": 12, "test": 10}
    total = sum(len(b[0]) for b in _batches(datasets.load_split(task, "validation", batch_size=5)))
    assert total == 12


def test_copy_one_hot_inputs(data_dir):
    task = datasets.get_task("copy", data_dir=data_dir, timesteps=12, one_hot=True, **SMALL)
    assert task.input_shape == (32, 10)
    x, y = next(iter(datasets.load_split(task, "test", batch_size=3)))
    assert x.shape == (3, 32, 10)
    np.testing.assert_array_equal(x.numpy().sum(-1), 1.0)
    # Digits first, then blanks, then delimiters; the targets end with the digits.
    symbols = x.numpy().argmax(-1)
    np.testing.assert_array_equal(symbols[:, -11:], 9)
    np.testing.assert_array_equal(y.numpy()[:, -10:], symbols[:, :10])


def test_task_heads_are_consistent():
    for name in SYNTHETIC:
        task = datasets.get_task(name, timesteps=20)
        assert task.kind in ("regression", "classification")
        if task.kind == "regression":
            assert (task.loss, task.metric, task.output_activation) == ("mse", "mse", "linear")
        else:
            assert task.loss == "sparse_categorical_crossentropy"
            assert task.output_activation == "softmax"
    assert datasets.get_task("copy", timesteps=1000).baseline == pytest.approx(0.0204, abs=5e-5)
    assert datasets.get_task("adding").baseline == pytest.approx(1 / 6)
    assert datasets.get_task("parity").output_units == 2
    assert datasets.get_task("temporal_order").output_units == 4


# --- structure of each task ---------------------------------------------------------


def test_copy_memory_layout():
    x, y = synthetic.copy_memory(200, timesteps=30, seed=3, memory_length=10)
    assert x.shape == y.shape == (200, 50)
    digits = x[:, :10]
    assert digits.min() == 1 and digits.max() == 8
    np.testing.assert_array_equal(x[:, 10:39], 0)  # T - 1 blanks
    np.testing.assert_array_equal(x[:, 39:], 9)  # M + 1 delimiters
    np.testing.assert_array_equal(y[:, :40], 0)
    np.testing.assert_array_equal(y[:, 40:], digits)


def test_parity_targets():
    x, y = synthetic.parity(500, timesteps=9, seed=0)
    assert set(np.unique(x).tolist()) == {-1.0, 1.0}
    np.testing.assert_array_equal((x[..., 0] > 0).sum(axis=1) % 2, y)


@pytest.mark.parametrize("timesteps", [4, 8, 100, 257])
def test_temporal_order_layout(timesteps):
    x, y = synthetic.temporal_order(400, timesteps, seed=1)
    np.testing.assert_array_equal(x[:, 0], 4)
    np.testing.assert_array_equal(x[:, -1], 5)
    relevant = x >= 6
    np.testing.assert_array_equal(relevant.sum(axis=1), 2)
    (lo1, hi1), (lo2, hi2) = synthetic.temporal_order_positions(timesteps)
    steps = np.nonzero(relevant)[1].reshape(-1, 2)
    assert steps[:, 0].min() >= lo1 and steps[:, 0].max() <= hi1
    assert steps[:, 1].min() >= lo2 and steps[:, 1].max() <= hi2 <= timesteps - 2
    symbols = x[relevant].reshape(-1, 2) - 6
    np.testing.assert_array_equal(2 * symbols[:, 0] + symbols[:, 1], y)
    assert set(x[~relevant][:, None].ravel().tolist()) <= {0, 1, 2, 3, 4, 5}


def test_sum_of_sines_layout():
    x, y = synthetic.sum_of_sines(50, timesteps=40, seed=0, components=2, min_period=5, max_period=20)
    np.testing.assert_array_equal(x[:, 0], 0.0)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    assert np.abs(y).max() <= math.sqrt(2) + 1e-6


def test_adding_markers_anywhere_is_bai_et_al_layout():
    x, y = synthetic.adding_problem(3000, 10, seed=0, markers="anywhere")
    marker = x[..., 1]
    np.testing.assert_array_equal(marker.sum(axis=1), 2.0)
    first_half = marker[:, :5].sum(axis=1)
    assert {0.0, 1.0, 2.0} <= set(first_half.tolist())  # Both may land in one half.
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * marker).sum(axis=1), rtol=1e-6)


# --- baselines, measured on generated data --------------------------------------


def test_adding_baseline_measured():
    _, y = synthetic.adding_problem(400_000, 4, seed=11, markers="anywhere")
    mse = float(np.mean((y.astype(np.float64) - 1.0) ** 2))
    assert mse == pytest.approx(synthetic.ADDING_PROBLEM_BASELINE_MSE, abs=0.002)
    assert abs(mse - 0.1767) > 0.008  # Bai et al.'s figure is not what the data gives.


@pytest.mark.parametrize("timesteps, memory_length", [(10, 10), (100, 10), (50, 3)])
def test_copy_baseline_is_the_memoryless_cross_entropy(timesteps, memory_length):
    x, y = synthetic.copy_memory(2000, timesteps, seed=2, memory_length=memory_length)
    length = timesteps + 2 * memory_length
    # Memoryless: the blank until the copy starts, then uniform over the digits.
    probabilities = np.zeros((length, 10))
    probabilities[: timesteps + memory_length, 0] = 1.0
    probabilities[timesteps + memory_length :, 1:9] = 1.0 / 8
    loss = keras.losses.sparse_categorical_crossentropy(
        y, np.broadcast_to(probabilities, (len(y), length, 10))
    )
    measured = float(np.mean(keras.ops.convert_to_numpy(loss)))
    expected = synthetic.copy_memory_baseline(timesteps, memory_length)
    assert expected == pytest.approx(memory_length * math.log(8) / (timesteps + 2 * memory_length))
    assert measured == pytest.approx(expected, rel=1e-5)
    # The digits are uniform over 1..8, so no memoryless guess does better.
    frequencies = np.bincount(x[:, :memory_length].ravel(), minlength=9)[1:] / x[:, :memory_length].size
    np.testing.assert_allclose(frequencies, 1 / 8, atol=0.01)


def test_copy_baseline_quoted_by_bai_et_al():
    assert round(synthetic.copy_memory_baseline(1000), 4) == 0.0204


def test_parity_baseline_measured():
    _, y = synthetic.parity(200_000, 12, seed=4)
    assert max(y.mean(), 1 - y.mean()) == pytest.approx(synthetic.PARITY_BASELINE_ACCURACY, abs=0.005)


def test_temporal_order_baseline_measured():
    _, y = synthetic.temporal_order(200_000, 20, seed=4)
    frequencies = np.bincount(y, minlength=4) / len(y)
    np.testing.assert_allclose(frequencies, synthetic.TEMPORAL_ORDER_BASELINE_ACCURACY, atol=0.005)


def test_waveform_baseline_measured():
    _, y = synthetic.sum_of_sines(20_000, 64, seed=4)
    mse_of_zero = float(np.mean(y.astype(np.float64) ** 2))
    assert mse_of_zero == pytest.approx(synthetic.WAVEFORM_BASELINE_MSE, abs=0.01)
    assert abs(float(y.mean())) < 0.01  # So 0 is the best constant.


def test_baseline_measured_through_the_pipeline(small_tasks):
    task = datasets.get_task(
        "adding", data_dir=small_tasks["adding"].options["data_dir"], timesteps=4,
        train_size=10, validation_size=10, test_size=4000)
    _, y = _all(datasets.load_split(task, "test", batch_size=1000))
    assert float(np.mean((y - 1.0) ** 2)) == pytest.approx(task.baseline, abs=0.01)


# --- shuffling, repeat ------------------------------------------------------------


def test_unshuffled_order_is_the_stored_order(small_tasks):
    task = small_tasks["parity"]
    options = {k: v for k, v in task.options.items() if k != "data_dir"}
    x, y = synthetic_builder.generate("parity", options, "train")
    bx, by = _all(datasets.load_split(task, "train", batch_size=7))
    np.testing.assert_array_equal(bx, x)
    np.testing.assert_array_equal(by, y)


def test_shuffle_with_a_seed_is_reproducible(small_tasks):
    task = small_tasks["waveform"]
    first = _all(datasets.load_split(task, "train", batch_size=8, shuffle_seed=7))
    again = _all(datasets.load_split(task, "train", batch_size=8, shuffle_seed=7))
    other = _all(datasets.load_split(task, "train", batch_size=8, shuffle_seed=8))
    plain = _all(datasets.load_split(task, "train", batch_size=8))
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], plain[0])
    # A permutation of the same examples.
    key = lambda a: np.sort(a[:, :, 0], axis=0)  # noqa: E731
    np.testing.assert_array_equal(key(first[0]), key(plain[0]))


def test_reshuffled_each_epoch_and_repeat(small_tasks):
    task = small_tasks["adding"]
    dataset = datasets.load_split(task, "train", batch_size=40, shuffle_seed=1)
    epoch1, epoch2 = (next(iter(dataset))[1].numpy() for _ in range(2))
    assert not np.array_equal(epoch1, epoch2)
    np.testing.assert_array_equal(np.sort(epoch1, axis=0), np.sort(epoch2, axis=0))
    repeated = datasets.load_split(task, "validation", batch_size=5, repeat=True)
    assert len(list(repeated.take(7))) == 7  # 12 examples, yet 7 batches.
    assert datasets.steps_per_epoch(task, "validation", 5) == 3


# --- bad input ---------------------------------------------------------------------


def test_unknown_task_lists_the_tasks():
    with pytest.raises(ValueError, match="'addition'.*'adding'.*'text'"):
        datasets.get_task("addition")
    with pytest.raises(ValueError, match="Unknown task"):
        datasets.load_split("nope", "train", batch_size=2)


@pytest.mark.parametrize(
    "name, options, named",
    [
        ("adding", dict(timesteps=1), "timesteps"),
        ("adding", dict(lenght=100), "lenght"),
        ("adding", dict(markers="middle"), "markers"),
        ("copy", dict(memory_length=0), "memory_length"),
        ("copy", dict(one_hot="yes"), "one_hot"),
        ("parity", dict(seed=-1), "seed"),
        ("parity", dict(one_hot=True), "one_hot"),
        ("temporal_order", dict(timesteps=3), "timesteps"),
        ("waveform", dict(min_period=1), "min_period"),
        ("waveform", dict(timesteps=10, min_period=20), "max_period"),
        ("waveform", dict(train_size=0), "train_size"),
    ],
)
def test_bad_options_are_named(name, options, named):
    with pytest.raises(ValueError, match=named):
        datasets.get_task(name, **options)


def test_bad_split_and_batch_size(small_tasks):
    task = small_tasks["adding"]
    with pytest.raises(ValueError, match="'dev'.*'train'"):
        datasets.load_split(task, "dev", batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        datasets.load_split(task, "train", batch_size=0)
    with pytest.raises(ValueError, match="shuffle_seed"):
        datasets.load_split(task, "train", batch_size=2, shuffle_seed=1.5)
