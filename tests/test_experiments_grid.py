"""Smoke tests of the Grid LSTM experiment scripts (``scripts/experiments``).

The scripts are not a package; they are loaded from their paths. The data
generators are checked by decoding their one-hot inputs and targets with
NumPy; the models are built and trained for one step at a tiny size.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "experiments"


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f"_experiment_{name}", EXPERIMENTS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def addition():
    return _load("grid_addition")


@pytest.fixture(scope="module")
def parity():
    return _load("grid_parity")


def _number(digits_lsb_first):
    return sum(int(d) * 10**i for i, d in enumerate(digits_lsb_first))


def _decode(addition, x, digits, layout):
    """The digits of ``a`` and ``b`` (least significant first) from one-hot ``x``."""
    symbols = x.argmax(axis=-1)
    if layout == "paper":
        np.testing.assert_array_equal(symbols[:, digits], addition.PLUS)
        np.testing.assert_array_equal(symbols[:, 2 * digits + 1 :], addition.EQUALS)
        return symbols[:, :digits], symbols[:, digits + 1 : 2 * digits + 1]
    np.testing.assert_array_equal(symbols[:, 2 * digits], addition.EQUALS)
    return symbols[:, 0 : 2 * digits : 2], symbols[:, 1 : 2 * digits : 2]


@pytest.mark.parametrize("layout", ["paper", "interleaved"])
@pytest.mark.parametrize("digits", [1, 3, 15])
def test_addition_examples_are_correct_sums(addition, digits, layout):
    x, y = addition.addition_batch(np.random.RandomState(7), 64, digits, layout)
    steps = addition.sequence_length(digits, layout)
    assert x.shape == (64, steps, addition.VOCAB) and x.dtype == np.float32
    assert y.shape == (64, digits + 1) and y.dtype == np.int32
    # Exactly one-hot at every step.
    np.testing.assert_array_equal(x.sum(axis=-1), 1.0)
    a_digits, b_digits = _decode(addition, x, digits, layout)
    assert a_digits.max() <= 9 and b_digits.max() <= 9
    assert y.min() >= 0 and y.max() <= 9
    for row in range(64):
        a = _number(a_digits[row])
        b = _number(b_digits[row])
        # Python ints: exact even for 15 digits.
        assert _number(y[row]) == a + b, (a, b, y[row])
    answer = addition.answer_steps(digits, layout)
    assert len(answer) == digits + 1 and max(answer) == steps - 1
    if layout == "interleaved":
        # s_i is predicted at the step that reads b_i: both inputs seen.
        assert answer[:digits] == [2 * i + 1 for i in range(digits)]
    else:
        # Answers come after both numbers have been read.
        assert min(answer) == 2 * digits + 1


def test_addition_data_is_seeded_and_leaves_global_state(addition):
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    x1, y1 = addition.addition_batch(np.random.RandomState(3), 8, 4)
    assert np.random.rand() == expected
    x2, y2 = addition.addition_batch(np.random.RandomState(3), 8, 4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    with pytest.raises(ValueError, match="layout"):
        addition.addition_batch(np.random.RandomState(3), 8, 4, "aligned")


@pytest.mark.parametrize("layout", ["paper", "interleaved"])
def test_addition_models_build_match_and_train_one_step(addition, layout):
    digits = 2
    grid = addition.grid_model(digits, units=8, depth=2, layout=layout)
    lstm = addition.lstm_model(digits, 2, grid.count_params(), layout)
    # Same parameter budget: the LSTM is the widest that does not exceed it.
    assert lstm.count_params() <= grid.count_params()
    assert addition._lstm_count(lstm.layers[1].units + 1, 2) > grid.count_params()
    x, y = addition.addition_batch(np.random.RandomState(0), 4, digits, layout)
    for model in (grid, lstm):
        assert model.input_shape[1] == addition.sequence_length(digits, layout)
        # Eager: no graph tracing or XLA compilation, so the test stays fast.
        model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=True)
        loss = float(np.asarray(model.train_on_batch(x, y)))
        assert np.isfinite(loss)
        assert tuple(model(x).shape) == (4, digits + 1, 10)
        digit_acc, seq_acc = addition.score(model, x, y)
        assert 0.0 <= seq_acc <= digit_acc <= 1.0


def test_parity_batches_and_curriculum(parity):
    rng = np.random.RandomState(0)
    x, y = parity.parity_batch(rng, 200, 20)
    bits = (x > 0).astype(int)
    np.testing.assert_array_equal(np.abs(x), 1.0)
    np.testing.assert_array_equal(y[:, 0], bits.sum(axis=1) % 2)
    x, y = parity.parity_batch(rng, 200, 20, max_ones=3)
    bits = (x > 0).astype(int)
    assert bits.sum(axis=1).max() <= 3
    np.testing.assert_array_equal(y[:, 0], bits.sum(axis=1) % 2)
    assert parity.curriculum_max_ones(0, 100, 20, 0.5) == 2
    assert parity.curriculum_max_ones(49, 100, 20, 0.5) <= 20
    assert parity.curriculum_max_ones(50, 100, 20, 0.5) is None
