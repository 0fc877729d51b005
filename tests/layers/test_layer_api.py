"""The Keras RNN API on every keras-rnnx layer, via the shared harness."""

import os

import keras
import numpy as np
import pytest

import keras_rnnx
from keras_rnnx import layers
from tests.layers.harness import LAYER_CASES
from tests.layers.harness import LAYER_PARAMS
from tests.layers.harness import SECOND_BACKEND_CASES
from tests.layers.harness import case_by_id
from tests.layers.harness import run_layer_test
from tests.layers.harness import sequence_model
from tests.layers.harness import step_by_hand

np_ = keras.ops.convert_to_numpy


@pytest.mark.parametrize("case", LAYER_PARAMS)
def test_layer_harness(case):
    run_layer_test(case)


# float16 on every case, on the TensorFlow pass; bfloat16 on the cases of
# `SECOND_BACKEND_CASES`, on both passes (the dtype plumbing is the engine's,
# shared by every variant).
@pytest.mark.parametrize(
    "case, policy",
    [pytest.param(c, "mixed_float16", id=f"{c.id}-mixed_float16", marks=pytest.mark.one_backend) for c in LAYER_CASES]
    + [pytest.param(c, "mixed_bfloat16", id=f"{c.id}-mixed_bfloat16") for c in LAYER_CASES if c.id in SECOND_BACKEND_CASES],
)
def test_mixed_precision(case, policy):
    keras.config.set_dtype_policy(policy)
    compute = policy.split("_")[1]
    layer = case.make(return_sequences=True, return_state=True)
    outputs = layer(case.inputs())
    for tensor in outputs:
        assert keras.backend.standardize_dtype(tensor.dtype) == compute
    for weight in layer.weights:
        assert weight.dtype == "float32", weight.path
    model = sequence_model(case)
    history = model.fit(case.inputs(), np.ones((2, 1)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("case", LAYER_PARAMS)
def test_save_and_load_keras_file(case, tmp_path):
    model = sequence_model(case)
    x = case.inputs()
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    original = model.layers[1].get_config()
    restored = loaded.layers[1].get_config()
    assert restored == original


@pytest.mark.parametrize(
    "masked",
    [pytest.param(False, marks=pytest.mark.one_backend, id="no_mask"), pytest.param(True, id="mask")],
)
@pytest.mark.parametrize("case", LAYER_PARAMS)
def test_cell_stepped_by_hand_equals_layer(case, masked):
    x = case.inputs(batch=3, timesteps=6)
    mask = None
    if masked:
        mask = np.ones((3, 6), bool)
        mask[0, 4:] = False  # right padded
        mask[1, :2] = False  # left padded
        mask[2, :] = False  # fully masked
    layer = case.make(return_sequences=True, return_state=True)
    outputs, *states = layer(x, mask=mask)
    expected_out, expected_states = step_by_hand(layer.cell, x, mask)
    np.testing.assert_allclose(np_(outputs), expected_out, rtol=1e-5, atol=1e-6)
    for got, want in zip(states, expected_states):
        np.testing.assert_allclose(np_(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "case_id", ["lstm", "peephole_lstm", "lstm_fgr", "lstm_proj", "gru", "mut3"]
)
def test_masking_matches_unpadded_rows(case_id):
    case = case_by_id(case_id)
    rng = np.random.RandomState(1)
    layer = case.make(return_sequences=False, return_state=True)
    lengths = [5, 3, 1]
    x = np.zeros((3, 5, case.input_dim), "float32")
    rows = [rng.uniform(-1, 1, (n, case.input_dim)).astype("float32") for n in lengths]
    for i, row in enumerate(rows):
        x[i, : len(row)] = row
    right = x.copy()
    left = np.zeros_like(x)
    for i, row in enumerate(rows):
        left[i, 5 - len(row) :] = row
    mask_right = np.arange(5)[None, :] < np.array(lengths)[:, None]
    mask_left = mask_right[:, ::-1]
    out_right = layer(right, mask=mask_right)
    out_left = layer(left, mask=mask_left)
    for i, row in enumerate(rows):
        alone = layer(row[None])
        for a, b, c in zip(out_right, out_left, alone):
            np.testing.assert_allclose(np_(a)[i], np_(c)[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np_(b)[i], np_(c)[0], rtol=1e-5, atol=1e-6)


def test_fully_masked_row_keeps_initial_state():
    layer = layers.LSTM(4, return_state=True, return_sequences=True)
    x = np.random.RandomState(0).randn(2, 4, 3).astype("float32")
    mask = np.array([[True] * 4, [False] * 4])
    h0 = np.full((2, 4), 0.3, "float32")
    c0 = np.full((2, 4), -0.2, "float32")
    out, h, c = layer(x, initial_state=[h0, c0], mask=mask)
    np.testing.assert_allclose(np_(h)[1], h0[1])
    np.testing.assert_allclose(np_(c)[1], c0[1])
    assert np.all(np.isfinite(np_(out)))


def test_masking_layer_in_a_model():
    model = keras.Sequential(
        [keras.Input((5, 3)), keras.layers.Masking(0.0), layers.PeepholeLSTM(4)]
    )
    x = np.random.RandomState(0).randn(2, 5, 3).astype("float32")
    x[0, 3:] = 0.0
    np.testing.assert_allclose(
        model.predict(x, verbose=0)[0],
        np_(model.layers[-1](x[:1, :3]))[0],
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("case_id", ["lstm", "lstm_fgr", "gru", "mut3"])
def test_go_backwards_equals_reversed_input(case_id):
    case = case_by_id(case_id)
    x = case.inputs()
    forward = case.make(return_sequences=True)
    backward = case.make(return_sequences=True, go_backwards=True)
    forward(x)
    backward(x)
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(
        np_(backward(x)), np_(forward(x[:, ::-1])), rtol=1e-5, atol=1e-6
    )
    assert backward.get_config()["go_backwards"] is True


@pytest.mark.parametrize("case_id", ["lstm", "peephole_lstm", "gru", "mut3"])
def test_unroll_equals_loop(case_id):
    case = case_by_id(case_id)
    x = case.inputs()
    looped = case.make(return_sequences=True)
    unrolled = case.make(return_sequences=True, unroll=True)
    looped(x)
    unrolled(x)
    unrolled.set_weights(looped.get_weights())
    np.testing.assert_allclose(np_(unrolled(x)), np_(looped(x)), rtol=1e-5, atol=1e-6)


def test_initial_state_is_used():
    layer = layers.PeepholeLSTM(4, return_state=True)
    x = np.random.RandomState(0).randn(2, 3, 3).astype("float32")
    zero = layer(x)
    h0 = np.ones((2, 4), "float32")
    c0 = np.ones((2, 4), "float32")
    given = layer(x, initial_state=[h0, c0])
    assert not np.allclose(np_(zero[0]), np_(given[0]))
    explicit_zero = layer(x, initial_state=[np.zeros_like(h0), np.zeros_like(c0)])
    np.testing.assert_allclose(np_(explicit_zero[0]), np_(zero[0]))


def test_initial_state_in_functional_model():
    x_in = keras.Input((4, 3))
    h_in = keras.Input((4,))
    c_in = keras.Input((4,))
    out = layers.CIFGLSTM(4)(x_in, initial_state=[h_in, c_in])
    model = keras.Model([x_in, h_in, c_in], out)
    x = np.random.RandomState(0).randn(2, 4, 3).astype("float32")
    h = np.random.RandomState(1).randn(2, 4).astype("float32")
    got = model.predict([x, h, h], verbose=0)
    want = np_(model.layers[-1](x, initial_state=[h, h]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case_id", ["lstm", "lstm_fgr", "lstm_proj", "gru", "mut3"])
def test_stateful_continues_and_resets(case_id):
    case = case_by_id(case_id)
    x = case.inputs(batch=2, timesteps=6)
    full = case.make(return_sequences=True)
    full_out = np_(full(x))
    inputs = keras.Input(batch_shape=(2, 3, case.input_dim))
    stateful = case.make(return_sequences=True, stateful=True)
    model = keras.Model(inputs, stateful(inputs))
    stateful.set_weights(full.get_weights())
    # Direct calls carry the state on every backend. (`predict` does too on
    # TensorFlow; on JAX, Keras' own stateful layers lose it across `predict`
    # calls, and so do ours.)
    call = model.predict if keras.backend.backend() == "tensorflow" else model
    first = np_(call(x[:, :3]))
    second = np_(call(x[:, 3:]))
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1), full_out, rtol=1e-5, atol=1e-6
    )
    stateful.reset_state()
    again = np_(call(x[:, :3]))
    np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-6)
    for state in stateful.states:
        assert state.shape[0] == 2


@pytest.mark.parametrize(
    "policy", [pytest.param("mixed_float16", marks=pytest.mark.one_backend), "mixed_bfloat16"]
)
def test_stateful_mixed_precision_has_no_dtype_clash(policy):
    keras.config.set_dtype_policy(policy)
    inputs = keras.Input(batch_shape=(2, 3, 3))
    layer = layers.PeepholeLSTM(4, stateful=True, return_sequences=True)
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile("adam", "mse")
    x = np.random.RandomState(0).randn(2, 3, 3).astype("float32")
    model.fit(x, np.zeros((2, 3, 1)), epochs=2, batch_size=2, shuffle=False, verbose=0)
    model.predict(x, batch_size=2, verbose=0)
    layer.reset_state()
    for state in layer.states:
        assert np.all(np_(state) == 0)


@pytest.mark.parametrize("case_id", ["lstm", "peephole_lstm", "lstm_fgr", "gru", "mut3"])
def test_bidirectional(case_id, tmp_path):
    case = case_by_id(case_id)
    inputs = keras.Input((5, case.input_dim))
    bidi = keras.layers.Bidirectional(case.make(return_sequences=True))
    model = keras.Model(inputs, bidi(inputs))
    x = case.inputs()
    out = model.predict(x, verbose=0)
    assert out.shape == (2, 5, 2 * case.units)
    assert bidi.backward_layer.go_backwards is True
    # The backward half is the forward layer run on the reversed sequence.
    fwd = case.make(return_sequences=True)
    fwd(x)
    fwd.set_weights(bidi.backward_layer.get_weights())
    np.testing.assert_allclose(
        out[:, :, case.units :], np_(fwd(x[:, ::-1]))[:, ::-1], rtol=1e-5, atol=1e-6
    )
    path = os.path.join(tmp_path, "bidi.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), out)


@pytest.mark.parametrize("case_id", ["lstm", "peephole_lstm", "lstm_fgr", "gru", "mut1", "mut3"])
def test_cell_in_keras_rnn_equals_layer(case_id):
    case = case_by_id(case_id)
    x = case.inputs()
    layer = case.make(return_sequences=True)
    expected = np_(layer(x))
    wrapped = keras.layers.RNN(layer.cell, return_sequences=True)
    np.testing.assert_allclose(np_(wrapped(x)), expected, rtol=1e-5, atol=1e-6)


def test_stacked_rnn_cells_equals_two_layers():
    x = np.random.RandomState(0).randn(2, 5, 3).astype("float32")
    first = layers.PeepholeLSTM(4, return_sequences=True)
    second = layers.GRU(3, return_sequences=True)
    expected = np_(second(first(x)))
    stacked = keras.layers.RNN(
        keras.layers.StackedRNNCells([first.cell, second.cell]), return_sequences=True
    )
    np.testing.assert_allclose(np_(stacked(x)), expected, rtol=1e-5, atol=1e-6)
    cells = keras.layers.StackedRNNCells(
        [layers.LSTMCell(4, full_gate_recurrence=True), layers.MUT3Cell(4)]
    )
    out = keras.layers.RNN(cells, return_state=True)(x)
    assert [tuple(t.shape) for t in keras.tree.flatten(out)] == [
        (2, 4), (2, 4), (2, 4), (2, 12), (2, 4)
    ]


def test_dropout_masks_are_drawn_once_per_sequence():
    """The fused loop uses the same per-sequence masks as the cell in `RNN`."""
    x = np.random.RandomState(0).randn(2, 6, 3).astype("float32")
    kwargs = dict(dropout=0.5, recurrent_dropout=0.5, seed=7, return_sequences=True)
    fused = layers.PeepholeLSTM(4, **kwargs)
    fused(x)
    cell = layers.PeepholeLSTMCell(4, dropout=0.5, recurrent_dropout=0.5, seed=7)
    stepped = keras.layers.RNN(cell, return_sequences=True)
    stepped(x)
    stepped.set_weights(fused.get_weights())
    # Generators with the same seed and state draw the same masks.
    fused.cell.seed_generator.state.assign(cell.seed_generator.state.value)
    got = np_(fused(x, training=True))
    want = np_(stepped(x, training=True))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    inference = np_(fused(x, training=False))
    assert not np.allclose(got, inference)
    # Masks are cleared after the call: a second call draws new ones.
    assert fused.cell._dropout_mask is None


def test_dropout_mask_constant_over_time():
    """With dropout on inputs only, a dropped feature is dropped at every step."""
    layer = layers.LSTM(
        8, dropout=0.5, seed=3, return_sequences=True, kernel_initializer="ones",
        recurrent_initializer="zeros", bias_initializer="zeros", unit_forget_bias=False,
    )
    x = np.zeros((1, 6, 4), "float32")
    x[0, :, 0] = 1.0  # one feature, on at every step
    layer(x)
    out = np_(layer(x, training=True))
    active = out[0, :, 0] != 0
    assert active.all() or (~active).all()


def test_zoneout_training_differs_from_inference_and_trains():
    case = case_by_id("lstm_zoneout")
    layer = case.make(return_sequences=True)
    x = case.inputs()
    a = np_(layer(x, training=True))
    b = np_(layer(x, training=True))
    c = np_(layer(x, training=False))
    assert not np.allclose(a, b)
    assert not np.allclose(a, c)
    assert np.all(np.isfinite(a))


def test_zoneout_one_keeps_state():
    layer = layers.LSTM(4, zoneout_hidden=0.999999, zoneout_cell=0.999999, return_state=True)
    x = np.random.RandomState(0).randn(2, 5, 3).astype("float32")
    h0 = np.full((2, 4), 0.5, "float32")
    _, h, c = layer(x, initial_state=[h0, h0], training=True)
    np.testing.assert_allclose(np_(h), h0, atol=1e-4)
    np.testing.assert_allclose(np_(c), h0, atol=1e-4)


def test_layer_properties_mirror_cell_arguments():
    layer = layers.LSTM(5, peephole=True, dropout=0.25, cell_clip=3.0)
    assert layer.units == 5
    assert layer.peephole is True
    assert layer.dropout == 0.25
    assert layer.cell_clip == 3.0
    assert layer.activation is keras.activations.tanh
    assert layers.GRU(3, reset_after=False).reset_after is False


def test_serializable_names_are_registered():
    for name in [
        "LSTM", "LSTMCell", "PeepholeLSTM", "PeepholeLSTMCell", "CIFGLSTM",
        "CIFGLSTMCell", "GRU", "GRUCell", "MUT1", "MUT1Cell", "MUT2", "MUT2Cell",
        "MUT3", "MUT3Cell", "DepthGatedLSTM", "DepthGatedLSTMCell",
        "GridLSTM2D", "GridLSTM2DCell", "GridLSTM1D", "ClockworkRNN", "ClockworkRNNCell",
    ]:
        cls = getattr(layers, name)
        assert keras.saving.get_registered_name(cls) == f"keras_rnnx>{name}"
        assert keras.saving.get_registered_object(f"keras_rnnx>{name}") is cls


def test_package_version():
    assert keras_rnnx.__version__


def test_zoneout_cell_inside_keras_rnn():
    """TF: the bare cell trains in `keras.layers.RNN`; JAX: a clear error."""
    x = np.random.RandomState(0).randn(4, 6, 3).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((6, 3)),
            keras.layers.RNN(layers.LSTMCell(4, zoneout_hidden=0.3)),
            keras.layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="keras_rnnx.layers.LSTM"):
            model.fit(x, np.ones((4, 1)), epochs=1, verbose=0)
    else:
        history = model.fit(x, np.ones((4, 1)), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
