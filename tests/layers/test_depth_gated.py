"""DepthGatedLSTM (Yao et al. 2015): reference maths, structure and the Keras RNN API.

* forward outputs and final states equal the NumPy reference of
  tests/reference_depth_gated.py (written from the paper's equations) at 1e-5,
  for 1-3 layers, ``return_all_layers``, a non-zero initial state and masks
  (right/left padding, holes, a fully masked row);
* backend gradients equal central finite differences of the float64 reference;
* with the depth gates forced shut the layer equals ``num_layers`` stacked
  `keras_rnnx.layers.PeepholeLSTM` layers with the same weights;
* the shared layer harness, save/load (safe_mode), masking, Bidirectional,
  stateful continuation, ``jit_compile=True``, mixed precision, dropout and bad
  arguments.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_rnnx.layers.depth_gated import DepthGatedLSTM
from keras_rnnx.layers.depth_gated import DepthGatedLSTMCell
from keras_rnnx.layers.lstm import PeepholeLSTM
from tests.gradients import assert_gradients_match
from tests.gradients import finite_differences
from tests import reference_depth_gated as ref
from tests.layers.harness import Case
from tests.layers.harness import run_layer_test
from tests.layers.harness import sequence_model
from tests.layers.harness import step_by_hand

np_ = keras.ops.convert_to_numpy
B, T, D, U = 4, 5, 3, 4

CASES = [
    Case("depth_gated_lstm", DepthGatedLSTM, {}),
    Case("depth_gated_lstm_all", DepthGatedLSTM, {"num_layers": 3, "return_all_layers": True}),
    Case(
        "depth_gated_lstm_dropout",
        DepthGatedLSTM,
        {"num_layers": 3, "dropout": 0.2, "recurrent_dropout": 0.2, "layer_dropout": 0.3, "seed": 2},
    ),
]
IDS = [case.id for case in CASES]

MASK = np.array(
    [
        [True, True, True, False, False],  # right padded
        [False, False, True, True, True],  # left padded
        [False, False, False, False, False],  # fully masked
        [True, False, True, False, True],  # holes
    ]
)


def random_params(shapes, seed, scale=0.5):
    rng = np.random.RandomState(seed)
    return {n: (scale * rng.standard_normal(s)).astype("float32") for n, s in shapes.items()}


def build(num_layers, params, input_dim=D, **kwargs):
    layer = DepthGatedLSTM(
        U, num_layers=num_layers, return_sequences=True, return_state=True, **kwargs
    )
    layer.build((None, T, input_dim))
    names = [w.name for w in layer.weights]
    assert {n: tuple(w.shape) for n, w in zip(names, layer.weights)} == {
        n: v.shape for n, v in params.items()
    }
    layer.set_weights([params[n] for n in names])
    return layer


# -- the paper's equations ------------------------------------------------------
@pytest.mark.parametrize(
    "num_layers, all_layers, use_bias",
    [(1, False, True), (3, False, True), (3, True, True), (2, True, False)],
)
def test_forward_equals_numpy_reference(num_layers, all_layers, use_bias):
    shapes = ref.param_shapes(D, U, num_layers, use_bias)
    params = random_params(shapes, seed=num_layers)
    layer = build(num_layers, params, return_all_layers=all_layers, use_bias=use_bias)
    rng = np.random.RandomState(7)
    x = rng.standard_normal((B, T, D)).astype("float32")
    init = [(0.5 * rng.standard_normal((B, U))).astype("float32") for _ in range(2 * num_layers)]
    p64 = {k: v.astype("float64") for k, v in params.items()}
    for initial_state, mask in [(None, None), (init, None), (None, MASK), (init, MASK)]:
        kwargs = {}
        if initial_state is not None:
            kwargs["initial_state"] = [ops.convert_to_tensor(s) for s in initial_state]
        if mask is not None:
            kwargs["mask"] = ops.convert_to_tensor(mask)
        got = layer(x, **kwargs)
        want_seq, want_states = ref.forward(
            p64, x.astype("float64"), U, num_layers, mask=mask,
            initial_state=initial_state, return_all_layers=all_layers,
        )
        np.testing.assert_allclose(np_(got[0]), want_seq, rtol=1e-5, atol=1e-5)
        assert len(got) - 1 == len(want_states) == 2 * num_layers
        for g, w in zip(got[1:], want_states):
            np.testing.assert_allclose(np_(g), w, rtol=1e-5, atol=1e-5)
        if mask is not None and initial_state is None:
            assert np.all(np_(got[0])[2] == 0)  # fully masked row


def test_depth_gate_matters():
    """The reference's depth term is not negligible at these weights."""
    shapes = ref.param_shapes(D, U, 3)
    p = {k: v.astype("float64") for k, v in random_params(shapes, 3).items()}
    x = np.random.RandomState(1).standard_normal((B, T, D))
    with_gate, _ = ref.forward(p, x, U, 3)
    for layer in (2, 3):
        p[f"layer{layer}_depth_bias"] = np.full(U, -1e4)
    shut, _ = ref.forward(p, x, U, 3)
    assert np.abs(with_gate - shut).max() > 1e-2


def _backend_gradients(layer, x, r_out, r_states, mask):
    kwargs = {"mask": ops.convert_to_tensor(mask)}

    def loss_of(result):
        loss = ops.sum(result[0] * r_out)
        for state, r in zip(result[1:], r_states):
            loss = loss + ops.sum(state * r)
        return loss

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(layer(x, **kwargs))
        grads = tape.gradient(loss, layer.trainable_variables)
    else:
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def f(tv):
            result, _ = layer.stateless_call(tv, non_trainable, x, **kwargs)
            return loss_of(result)

        grads = jax.jit(jax.grad(f))([v.value for v in layer.trainable_variables])
    return {v.name: np_(g) for v, g in zip(layer.trainable_variables, grads)}


def test_gradients_equal_finite_differences():
    num_layers, gb, gt = 3, 2, 4
    shapes = ref.param_shapes(D, U, num_layers)
    params = random_params(shapes, seed=11)
    layer = build(num_layers, params, return_all_layers=True)
    rng = np.random.RandomState(12)
    x = rng.standard_normal((gb, gt, D)).astype("float32")
    mask = np.array([[True, True, True, False], [False, True, True, True]])
    r_out = rng.standard_normal((gb, gt, num_layers * U))
    r_states = [rng.standard_normal((gb, U)) for _ in range(2 * num_layers)]
    got = _backend_gradients(
        layer, x, r_out.astype("float32"), [r.astype("float32") for r in r_states], mask
    )
    assert sorted(got) == sorted(shapes)
    x64 = x.astype("float64")
    p64 = {k: v.astype("float64") for k, v in params.items()}

    def loss(p):
        seq, states = ref.forward(p, x64, U, num_layers, mask=mask, return_all_layers=True)
        return np.sum(seq * r_out) + sum(np.sum(s * r) for s, r in zip(states, r_states))

    assert_gradients_match(got, finite_differences(loss, p64))


@pytest.mark.parametrize("num_layers", [2, 4])
def test_shut_depth_gates_equal_stacked_peephole_lstm(num_layers):
    shapes = ref.param_shapes(D, U, num_layers)
    params = random_params(shapes, seed=5)
    for layer in range(2, num_layers + 1):
        params[f"layer{layer}_depth_bias"][:] = -1e4
        params[f"layer{layer}_depth_kernel"][:] = 0.0
    depth_gated = build(num_layers, params)
    stack = [PeepholeLSTM(U, return_sequences=True) for _ in range(num_layers)]
    x = np.random.RandomState(6).standard_normal((B, T, D)).astype("float32")
    seq = x
    names = ["kernel", "recurrent_kernel", "bias", "input_peephole",
             "forget_peephole", "output_peephole"]
    for index, plain in enumerate(stack, start=1):
        plain.build((None, T, seq.shape[-1]))
        assert [w.name for w in plain.weights] == names
        plain.set_weights([params[f"layer{index}_{n}"] for n in names])
        seq = np_(plain(seq))
    np.testing.assert_allclose(np_(depth_gated(x)[0]), seq, rtol=1e-5, atol=1e-6)
    # ... and the depth gates were indeed the only difference.
    for layer in range(2, num_layers + 1):
        params[f"layer{layer}_depth_bias"][:] = 0.0
    open_gates = build(num_layers, params)
    assert np.abs(np_(open_gates(x)[0]) - seq).max() > 1e-3


# -- the Keras RNN API ----------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_harness(case):
    run_layer_test(case)


@pytest.mark.parametrize("case", CASES[1:2], ids=IDS[1:2])
def test_save_and_load_keras_file(case, tmp_path):
    model = sequence_model(case)
    x = case.inputs()
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    assert isinstance(loaded.layers[1], DepthGatedLSTM)


def test_cell_stepped_by_hand_and_in_keras_rnn_equal_layer():
    x = np.random.RandomState(0).standard_normal((3, 6, D)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    mask[1, :2] = False
    mask[2, :] = False
    layer = DepthGatedLSTM(U, num_layers=3, return_sequences=True, return_state=True)
    out, *states = layer(x, mask=mask)
    cell = layer.cell
    want_out, want_states = step_by_hand(cell, x, mask)
    np.testing.assert_allclose(np_(out), want_out, rtol=1e-5, atol=1e-6)
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(np_(got), want, rtol=1e-5, atol=1e-6)
    wrapped = keras.layers.RNN(cell, return_sequences=True)
    unmasked = layer(x)[0]
    np.testing.assert_allclose(np_(wrapped(x)), np_(unmasked), rtol=1e-5, atol=1e-6)
    if keras.backend.backend() == "tensorflow":
        # (JAX's loop takes states[0] = h(1) as the masked output: documented.)
        np.testing.assert_allclose(
            np_(wrapped(x, mask=mask)), np_(out), rtol=1e-5, atol=1e-6
        )


def test_masking_left_right_padding_and_fully_masked_row():
    rng = np.random.RandomState(1)
    layer = DepthGatedLSTM(U, num_layers=3, return_state=True)
    lengths = [5, 3, 1]
    rows = [rng.uniform(-1, 1, (n, D)).astype("float32") for n in lengths]
    right = np.zeros((3, 5, D), "float32")
    left = np.zeros((3, 5, D), "float32")
    for i, row in enumerate(rows):
        right[i, : len(row)] = row
        left[i, 5 - len(row):] = row
    mask_right = np.arange(5)[None, :] < np.array(lengths)[:, None]
    out_right = layer(right, mask=mask_right)
    out_left = layer(left, mask=mask_right[:, ::-1])
    for i, row in enumerate(rows):
        alone = layer(row[None])
        for a, b, c in zip(out_right, out_left, alone):
            np.testing.assert_allclose(np_(a)[i], np_(c)[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np_(b)[i], np_(c)[0], rtol=1e-5, atol=1e-6)
    init = [np.full((2, U), 0.1 * (k + 1), "float32") for k in range(6)]
    full_mask = np.array([[True] * 5, [False] * 5])
    _, *final = layer(right[:2], initial_state=init, mask=full_mask)
    for got, want in zip(final, init):
        np.testing.assert_allclose(np_(got)[1], want[1])


def test_bidirectional(tmp_path):
    case = CASES[0]
    inputs = keras.Input((5, D))
    bidi = keras.layers.Bidirectional(case.make(return_sequences=True))
    model = keras.Model(inputs, bidi(inputs))
    x = case.inputs()
    out = model.predict(x, verbose=0)
    assert out.shape == (2, 5, 2 * U)
    fwd = case.make(return_sequences=True)
    fwd(x)
    fwd.set_weights(bidi.backward_layer.get_weights())
    np.testing.assert_allclose(
        out[:, :, U:], np_(fwd(x[:, ::-1]))[:, ::-1], rtol=1e-5, atol=1e-6
    )
    path = os.path.join(tmp_path, "bidi.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), out)


def test_stateful_two_halves_equal_whole():
    case = CASES[1]
    x = case.inputs(batch=2, timesteps=6)
    full = case.make(return_sequences=True)
    full_out = np_(full(x))
    inputs = keras.Input(batch_shape=(2, 3, D))
    stateful = case.make(return_sequences=True, stateful=True)
    model = keras.Model(inputs, stateful(inputs))
    stateful.set_weights(full.get_weights())
    call = model.predict if keras.backend.backend() == "tensorflow" else model
    first = np_(call(x[:, :3]))
    second = np_(call(x[:, 3:]))
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1), full_out, rtol=1e-5, atol=1e-6
    )
    assert len(stateful.states) == 6
    stateful.reset_state()
    np.testing.assert_allclose(np_(call(x[:, :3])), first, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES[:1], ids=IDS[:1])
def test_jit_compile_stays_on_and_matches_uncompiled(case):
    x = case.inputs(batch=4)
    y = np.ones((4, 1), "float32")
    compiled = sequence_model(case, jit_compile=True)
    plain = sequence_model(case, jit_compile=False)
    plain.set_weights(compiled.get_weights())
    assert all(layer.supports_jit for layer in compiled._flatten_layers())
    np.testing.assert_allclose(
        compiled.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    compiled_loss = compiled.train_on_batch(x, y)
    plain_loss = plain.train_on_batch(x, y)
    assert compiled.jit_compile is True
    np.testing.assert_allclose(compiled_loss, plain_loss, rtol=1e-5)
    for a, b in zip(compiled.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.one_backend  # test_layer_api runs bfloat16 on the depth-gated cases on JAX
@pytest.mark.parametrize("policy", ["mixed_float16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    case = CASES[0]
    layer = case.make(return_sequences=True, return_state=True)
    for tensor in layer(case.inputs(), training=True):
        assert keras.backend.standardize_dtype(tensor.dtype) == policy.split("_")[1]
    for weight in layer.weights:
        assert weight.dtype == "float32", weight.path
    model = sequence_model(case)
    history = model.fit(case.inputs(), np.ones((2, 1)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Dropout masks and inter-layer noise follow the compute dtype too.
    dropped = CASES[2].make(return_sequences=True)(CASES[2].inputs(), training=True)
    assert keras.backend.standardize_dtype(dropped.dtype) == policy.split("_")[1]


def test_dropout_training_differs_and_masks_cover_every_layer():
    case = CASES[2]
    layer = case.make(return_sequences=True)
    x = case.inputs()
    a = np_(layer(x, training=True))
    b = np_(layer(x, training=True))
    c = np_(layer(x, training=False))
    assert not np.allclose(a, b) and not np.allclose(a, c)
    np.testing.assert_allclose(c, np_(layer(x)), rtol=1e-6)
    cell = layer.cell
    mask = cell.get_recurrent_dropout_mask(ops.zeros((2, U)))
    assert tuple(mask.shape) == (2, 3 * U)
    cell.reset_recurrent_dropout_mask()
    noise = cell.noise_to_masks(ops.convert_to_tensor(np.array([[0.1, 0.5]], "float32")))
    np.testing.assert_allclose(np_(noise), [[0.0, 1.0 / 0.7]], rtol=1e-6)


@pytest.mark.one_backend
@pytest.mark.parametrize("bad", [0, -1, 2.0, True, None])
def test_bad_num_layers(bad):
    with pytest.raises(ValueError, match="`num_layers`.*num_layers=2"):
        DepthGatedLSTM(4, num_layers=bad)
    with pytest.raises(ValueError, match="`num_layers`"):
        DepthGatedLSTMCell(4, num_layers=bad)


def test_bad_layer_dropout():
    with pytest.raises(ValueError, match="`layer_dropout`"):
        DepthGatedLSTM(4, layer_dropout=1.5)


def test_registered_and_properties():
    for cls in (DepthGatedLSTM, DepthGatedLSTMCell):
        name = f"keras_rnnx>{cls.__name__}"
        assert keras.saving.get_registered_name(cls) == name
        assert keras.saving.get_registered_object(name) is cls
    layer = DepthGatedLSTM(5, num_layers=3, return_all_layers=True, layer_dropout=0.1)
    assert (layer.num_layers, layer.return_all_layers, layer.layer_dropout) == (3, True, 0.1)
    assert layer.cell.state_size == [5] * 6 and layer.cell.output_size == 15


def test_unroll_and_go_backwards_with_mask():
    x = np.random.RandomState(3).standard_normal((3, 5, D)).astype("float32")
    mask = MASK[:3]
    looped = DepthGatedLSTM(U, num_layers=3, return_sequences=True, return_all_layers=True)
    unrolled = DepthGatedLSTM(
        U, num_layers=3, return_sequences=True, return_all_layers=True, unroll=True
    )
    backward = DepthGatedLSTM(
        U, num_layers=3, return_sequences=True, return_all_layers=True, go_backwards=True
    )
    want = np_(looped(x, mask=mask))
    for other in (unrolled, backward):
        other(x)
        other.set_weights(looped.get_weights())
    np.testing.assert_allclose(np_(unrolled(x, mask=mask)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np_(backward(x, mask=mask)),
        np_(looped(x[:, ::-1], mask=mask[:, ::-1])),
        rtol=1e-5,
        atol=1e-6,
    )
