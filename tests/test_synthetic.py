"""Tests of `keras_rnnx.datasets.synthetic` (pure NumPy, no training)."""

import ast
import doctest
import pathlib

import numpy as np
import pytest

from keras_rnnx.datasets import ADDING_PROBLEM_BASELINE_MSE
from keras_rnnx.datasets import adding_problem

DATASETS_DIR = pathlib.Path(__file__).resolve().parents[1] / "keras_rnnx" / "datasets"


def test_shapes_and_dtypes():
    x, y = adding_problem(num_samples=7, timesteps=11, seed=0)
    assert x.shape == (7, 11, 2)
    assert y.shape == (7, 1)
    assert x.dtype == np.float32
    assert y.dtype == np.float32


def test_same_seed_same_data_other_seed_other_data():
    x1, y1 = adding_problem(50, 20, seed=3)
    x2, y2 = adding_problem(50, 20, seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, y3 = adding_problem(50, 20, seed=4)
    assert not np.array_equal(x1[..., 0], x3[..., 0])
    assert not np.array_equal(y1, y3)


def test_does_not_touch_global_numpy_state():
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    adding_problem(10, 10, seed=1)
    assert np.random.rand() == expected


@pytest.mark.parametrize("timesteps", [2, 3, 10, 101])
def test_one_marker_in_each_half(timesteps):
    x, _ = adding_problem(500, timesteps, seed=1)
    marker = x[..., 1]
    assert set(np.unique(marker).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(marker.sum(axis=1), 2.0)
    half = timesteps // 2
    np.testing.assert_array_equal(marker[:, :half].sum(axis=1), 1.0)
    np.testing.assert_array_equal(marker[:, half:].sum(axis=1), 1.0)


def test_marker_positions_cover_each_half():
    timesteps = 10
    x, _ = adding_problem(2000, timesteps, seed=2)
    positions = np.nonzero(x[..., 1])[1]
    assert set(positions.tolist()) == set(range(timesteps))


def test_values_are_uniform_in_unit_interval():
    x, _ = adding_problem(2000, 50, seed=5)
    values = x[..., 0]
    assert values.min() >= 0.0
    assert values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.01


def test_target_is_sum_of_marked_values():
    x, y = adding_problem(300, 17, seed=6)
    expected = (x[..., 0] * x[..., 1]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert y.min() >= 0.0
    assert y.max() < 2.0


def test_trivial_baseline_mse_is_one_sixth():
    # Predicting 1.0 scores Var(U1 + U2) = 1/6 ~= 0.1667, not the 0.1767 quoted
    # by Bai et al. (2018). With 10**6 samples the standard error of the MSE is
    # about 2e-4, so 0.002 is ~10 sigma of slack and 0.1767 is ruled out.
    _, y = adding_problem(1_000_000, 2, seed=0)
    mse = float(np.mean((y.astype(np.float64) - 1.0) ** 2))
    assert ADDING_PROBLEM_BASELINE_MSE == pytest.approx(1.0 / 6.0)
    assert mse == pytest.approx(ADDING_PROBLEM_BASELINE_MSE, abs=0.002)
    assert abs(mse - 0.1767) > 0.008


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_samples=0, timesteps=10, seed=0), "num_samples"),
        (dict(num_samples=2.0, timesteps=10, seed=0), "num_samples"),
        (dict(num_samples=True, timesteps=10, seed=0), "num_samples"),
        (dict(num_samples=4, timesteps=1, seed=0), "timesteps"),
        (dict(num_samples=4, timesteps="10", seed=0), "timesteps"),
        (dict(num_samples=4, timesteps=10, seed=-1), "seed"),
        (dict(num_samples=4, timesteps=10, seed=None), "seed"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        adding_problem(**kwargs)


def test_accepts_numpy_integers():
    x, y = adding_problem(np.int64(3), np.int32(4), np.int64(0))
    assert x.shape == (3, 4, 2)


def _imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


def test_datasets_do_not_import_the_layers():
    # Architecture rule: datasets sit beside the layers, not above them.
    for path in DATASETS_DIR.glob("*.py"):
        for module in _imported_modules(path):
            assert not module.startswith("keras_rnnx.layers"), (
                f"{path.name} imports {module}"
            )


def test_synthetic_is_numpy_only():
    for module in _imported_modules(DATASETS_DIR / "synthetic.py"):
        assert module.split(".")[0] not in ("keras", "tensorflow", "jax", "keras_rnnx"), (
            f"synthetic.py imports {module}; it is meant to be NumPy only"
        )


def test_docstring_examples():
    from keras_rnnx.datasets import synthetic

    result = doctest.testmod(synthetic, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
