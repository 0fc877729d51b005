"""keras-rnnx against Keras' own layers: same weights, same outputs.

* `keras_rnnx.layers.LSTM` with default options has exactly the weight list of
  `keras.layers.LSTM` (names, shapes, order); weights moved either way with
  ``get_weights``/``set_weights`` give the same outputs and states (with masks,
  ``initial_state`` and ``go_backwards`` too);
* the same for `keras_rnnx.layers.GRU` and `keras.layers.GRU` in both
  ``reset_after`` modes;
* the cells `keras_rnnx.layers.LSTMCell` / `GRUCell` inside
  `keras.layers.RNN` equal Keras' fused layers.
"""

import keras
import numpy as np
import pytest

import keras_rnnx

B, T, D, U = 4, 6, 3, 5
RTOL = ATOL = 1e-5

MASK = np.array(
    [
        [True] * T,
        [True, True, True, True, False, False],  # right padded
        [False, False, True, True, True, True],  # left padded
        [True, False, True, True, False, True],  # holes
    ]
)


def _x(seed=0):
    return np.random.RandomState(seed).standard_normal((B, T, D)).astype("float32")


def _randomize(layer, seed):
    rng = np.random.RandomState(seed)
    layer.set_weights(
        [(0.5 * rng.standard_normal(w.shape)).astype("float32") for w in layer.get_weights()]
    )


def _weight_list(layer):
    return [(w.name, tuple(w.shape)) for w in layer.weights]


def _np(values):
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]


def _assert_same_outputs(a, b, x, **call_kwargs):
    out_a = _np(a(x, **call_kwargs))
    out_b = _np(b(x, **call_kwargs))
    assert len(out_a) == len(out_b)
    for k, (u, v) in enumerate(zip(out_a, out_b)):
        assert u.shape == v.shape, k
        np.testing.assert_allclose(u, v, rtol=RTOL, atol=ATOL, err_msg=f"output {k}")
    return out_a


CALLS = [
    pytest.param({}, id="plain"),
    pytest.param({"mask": MASK}, id="mask"),
    pytest.param({"initial_state": True}, id="initial_state"),
    pytest.param({"mask": MASK, "initial_state": True}, id="mask_initial_state"),
]


def _call_kwargs(spec, n_states, seed=7):
    kwargs = dict(spec)
    if kwargs.pop("initial_state", False):
        rng = np.random.RandomState(seed)
        kwargs["initial_state"] = [
            (0.5 * rng.standard_normal((B, U))).astype("float32") for _ in range(n_states)
        ]
    return kwargs


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------
def test_lstm_default_weight_list_equals_keras():
    ours = keras_rnnx.layers.LSTM(U)
    theirs = keras.layers.LSTM(U)
    ours.build((None, T, D))
    theirs.build((None, T, D))
    assert _weight_list(ours) == _weight_list(theirs)
    assert _weight_list(ours) == [
        ("kernel", (D, 4 * U)),
        ("recurrent_kernel", (U, 4 * U)),
        ("bias", (4 * U,)),
    ]
    assert len(ours.trainable_weights) == 3 and not ours.non_trainable_weights


def test_lstm_default_initial_bias_equals_keras():
    """Same unit forget bias: b = [0, 1, 0, 0] blocks."""
    ours = keras_rnnx.layers.LSTM(U)
    theirs = keras.layers.LSTM(U)
    ours.build((None, T, D))
    theirs.build((None, T, D))
    np.testing.assert_array_equal(ours.get_weights()[2], theirs.get_weights()[2])
    assert ours.get_weights()[2].sum() == U


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("spec", CALLS)
@pytest.mark.parametrize("direction", ["keras_to_rnnx", "rnnx_to_keras"])
def test_lstm_weights_transfer(direction, spec, go_backwards):
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    ours = keras_rnnx.layers.LSTM(U, **kw)
    theirs = keras.layers.LSTM(U, **kw)
    ours.build((None, T, D))
    theirs.build((None, T, D))
    src, dst = (theirs, ours) if direction == "keras_to_rnnx" else (ours, theirs)
    _randomize(src, seed=1)
    dst.set_weights(src.get_weights())
    for a, b in zip(src.get_weights(), dst.get_weights()):
        np.testing.assert_array_equal(a, b)
    out = _assert_same_outputs(ours, theirs, _x(), **_call_kwargs(spec, 2))
    assert len(out) == 3 and np.abs(out[0]).max() > 1e-2


def test_lstm_last_output_only_equals_keras():
    ours = keras_rnnx.layers.LSTM(U)
    theirs = keras.layers.LSTM(U)
    ours.build((None, T, D))
    theirs.build((None, T, D))
    _randomize(theirs, seed=2)
    ours.set_weights(theirs.get_weights())
    _assert_same_outputs(ours, theirs, _x(3), mask=MASK)


def test_lstm_cell_in_keras_rnn_equals_keras_lstm():
    kw = dict(return_sequences=True, return_state=True)
    wrapped = keras.layers.RNN(keras_rnnx.layers.LSTMCell(U), **kw)
    theirs = keras.layers.LSTM(U, **kw)
    wrapped.build((None, T, D))
    theirs.build((None, T, D))
    assert _weight_list(wrapped) == _weight_list(theirs)
    _randomize(theirs, seed=4)
    wrapped.set_weights(theirs.get_weights())
    _assert_same_outputs(wrapped, theirs, _x(5))
    _assert_same_outputs(wrapped, theirs, _x(5), mask=MASK)


def test_keras_lstm_cell_in_keras_rnn_equals_rnnx_lstm():
    kw = dict(return_sequences=True, return_state=True)
    wrapped = keras.layers.RNN(keras.layers.LSTMCell(U), **kw)
    ours = keras_rnnx.layers.LSTM(U, **kw)
    wrapped.build((None, T, D))
    ours.build((None, T, D))
    _randomize(ours, seed=6)
    wrapped.set_weights(ours.get_weights())
    _assert_same_outputs(wrapped, ours, _x(7), mask=MASK)


def test_lstm_bidirectional_equals_keras():
    ours = keras.layers.Bidirectional(keras_rnnx.layers.LSTM(U, return_sequences=True))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True))
    ours.build((None, T, D))
    theirs.build((None, T, D))
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    _randomize(theirs, seed=8)
    ours.set_weights(theirs.get_weights())
    _assert_same_outputs(ours, theirs, _x(9))


# ----------------------------------------------------------------------------
# GRU
# ----------------------------------------------------------------------------
RESET = [pytest.param(True, id="reset_after"), pytest.param(False, id="reset_before")]


@pytest.mark.parametrize("reset_after", RESET)
def test_gru_weight_list_equals_keras(reset_after):
    ours = keras_rnnx.layers.GRU(U, reset_after=reset_after)
    theirs = keras.layers.GRU(U, reset_after=reset_after)
    ours.build((None, T, D))
    theirs.build((None, T, D))
    assert _weight_list(ours) == _weight_list(theirs)
    bias_shape = (2, 3 * U) if reset_after else (3 * U,)
    assert _weight_list(ours) == [
        ("kernel", (D, 3 * U)),
        ("recurrent_kernel", (U, 3 * U)),
        ("bias", bias_shape),
    ]


@pytest.mark.parametrize("spec", CALLS)
@pytest.mark.parametrize("direction", ["keras_to_rnnx", "rnnx_to_keras"])
@pytest.mark.parametrize("reset_after", RESET)
def test_gru_weights_transfer(reset_after, direction, spec):
    kw = dict(return_sequences=True, return_state=True, reset_after=reset_after)
    ours = keras_rnnx.layers.GRU(U, **kw)
    theirs = keras.layers.GRU(U, **kw)
    ours.build((None, T, D))
    theirs.build((None, T, D))
    src, dst = (theirs, ours) if direction == "keras_to_rnnx" else (ours, theirs)
    _randomize(src, seed=11)
    dst.set_weights(src.get_weights())
    out = _assert_same_outputs(ours, theirs, _x(12), **_call_kwargs(spec, 1))
    assert len(out) == 2 and np.abs(out[0]).max() > 1e-2


@pytest.mark.parametrize("reset_after", RESET)
def test_gru_cell_in_keras_rnn_equals_keras_gru(reset_after):
    kw = dict(return_sequences=True, return_state=True)
    wrapped = keras.layers.RNN(keras_rnnx.layers.GRUCell(U, reset_after=reset_after), **kw)
    theirs = keras.layers.GRU(U, reset_after=reset_after, **kw)
    wrapped.build((None, T, D))
    theirs.build((None, T, D))
    assert _weight_list(wrapped) == _weight_list(theirs)
    _randomize(theirs, seed=13)
    wrapped.set_weights(theirs.get_weights())
    _assert_same_outputs(wrapped, theirs, _x(14), mask=MASK)
