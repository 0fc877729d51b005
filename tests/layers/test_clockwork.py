"""ClockworkRNN: NumPy reference, structure of the schedule, Keras RNN API."""

import os

import keras
import numpy as np
import pytest

from keras_rnnx.layers.clockwork import ClockworkRNN
from keras_rnnx.layers.clockwork import ClockworkRNNCell
from keras_rnnx.ops.clockwork import clockwork_input_projection
from keras_rnnx.ops.clockwork import clockwork_recurrence
from keras_rnnx.ops.clockwork import clockwork_sequence
from tests.gradients import assert_gradients_match
from tests.gradients import finite_differences
from tests import reference_clockwork as ref
from tests.layers.harness import Case
from tests.layers.harness import run_layer_test
from tests.layers.harness import sequence_model

np_ = keras.ops.convert_to_numpy

# id -> (units, layer options, periods, module sizes)
CONFIGS = {
    "exp4": (8, dict(num_modules=4), [1, 2, 4, 8], [2, 2, 2, 2]),
    "periods_1_3_5_sizes": (6, dict(periods=[1, 3, 5], module_sizes=[3, 2, 1]), [1, 3, 5], [3, 2, 1]),
    "periods_2_4_no_bias": (4, dict(periods=[2, 4], use_bias=False), [2, 4], [2, 2]),
}
# Module groupings `clockwork_sequence` accepts for each config: one loop per
# module, two groups, one group.
GROUPINGS = {
    "exp4": {"single": [(0, 1), (1, 2), (2, 3), (3, 4)], "pairs": [(0, 2), (2, 4)], "all": [(0, 4)]},
    "periods_1_3_5_sizes": {"single": [(0, 1), (1, 2), (2, 3)], "pairs": [(0, 2), (2, 3)], "all": [(0, 3)]},
    "periods_2_4_no_bias": {"single": [(0, 1), (1, 2)], "pairs": [(0, 1), (1, 2)], "all": [(0, 2)]},
}
CASES = [
    Case("clockwork", ClockworkRNN, {"num_modules": 2}),
    Case("clockwork_periods", ClockworkRNN, {"periods": [1, 3, 5], "module_sizes": [2, 1, 1]}),
]


def random_params(shapes, seed):
    rng = np.random.RandomState(seed)
    return {n: (0.6 * rng.standard_normal(s)).astype("float32") for n, s in shapes.items()}


def build(config_id, input_dim, seed, **extra):
    units, opts, periods, sizes = CONFIGS[config_id]
    layer = ClockworkRNN(units, return_sequences=True, return_state=True, **opts, **extra)
    layer.build((None, None, input_dim))
    shapes = ref.param_shapes(input_dim, units, sizes, use_bias=opts.get("use_bias", True))
    assert {w.name: tuple(w.shape) for w in layer.weights} == shapes
    params = random_params(shapes, seed)
    layer.set_weights([params[w.name] for w in layer.weights])
    return layer, params, periods, sizes


MASK = np.array(
    [
        [True] * 7 + [False] * 3,
        [False] * 4 + [True] * 6,
        [False] * 10,
        [True, False, True, True, False, True, False, True, True, True],
    ]
)


@pytest.mark.parametrize("config_id", list(CONFIGS))
@pytest.mark.parametrize("mode", ["zero_state", "initial_state", "shared_clock", "mask"])
def test_forward_matches_numpy_reference(config_id, mode):
    # Without a mask the layer takes the module-wise path
    # (`clockwork_sequence`): with slices for zero_state, with per-row
    # gathers for initial_state (rows at different clocks) and shared_clock
    # (every row at clock 3). With a mask, the schedule path.
    layer, params, periods, sizes = build(config_id, 3, seed=1)
    rng = np.random.RandomState(2)
    x = rng.standard_normal((4, 10, 3)).astype("float32")
    kwargs, init, mask = {}, None, None
    if mode == "initial_state":
        lcm = int(np.lcm.reduce(periods))
        init = [
            (0.5 * rng.standard_normal((4, layer.units))).astype("float32"),
            np.array([[0], [1], [lcm - 1], [3 % lcm]], "float32"),
        ]
        kwargs["initial_state"] = init
    if mode == "shared_clock":
        init = [
            (0.5 * rng.standard_normal((4, layer.units))).astype("float32"),
            np.full((4, 1), 3, "float32"),
        ]
        kwargs["initial_state"] = init
    if mode == "mask":
        mask = MASK
        kwargs["mask"] = mask
    out, h, clock = layer(x, **kwargs)
    p64 = {k: v.astype("float64") for k, v in params.items()}
    init64 = None if init is None else [s.astype("float64") for s in init]
    want_out, (want_h, want_clock) = ref.forward(
        p64, x.astype("float64"), periods, sizes, mask=mask, initial_state=init64
    )
    np.testing.assert_allclose(np_(out), want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np_(h), want_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np_(clock), want_clock)


def backend_gradients(layer, x, r_out, r_h, targets=None):
    """d <out, r_out> + <h, r_h> / d every trainable weight, on the backend."""

    def loss_of(result):
        return keras.ops.sum(result[0] * r_out) + keras.ops.sum(result[1] * r_h)

    variables = layer.trainable_variables
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(layer(x))
        grads = tape.gradient(loss, variables)
    else:
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def f(tv):
            result, _ = layer.stateless_call(tv, non_trainable, x)
            return loss_of(result)

        grads = jax.jit(jax.grad(f))([v.value for v in variables])
    return {v.name: np_(g) for v, g in zip(variables, grads)}


@pytest.mark.parametrize("config_id", ["exp4", "periods_1_3_5_sizes"])
def test_gradients_match_finite_differences(config_id):
    layer, params, periods, sizes = build(config_id, 2, seed=3)
    rng = np.random.RandomState(4)
    x = rng.standard_normal((2, 10, 2)).astype("float32")  # every module ticks twice
    r_out = rng.standard_normal((2, 10, layer.units))
    r_h = rng.standard_normal((2, layer.units))
    got = backend_gradients(layer, x, r_out.astype("float32"), r_h.astype("float32"))
    assert sorted(got) == sorted(params)
    p64 = {k: v.astype("float64") for k, v in params.items()}
    x64 = x.astype("float64")

    def loss(p):
        out, (h, _) = ref.forward(p, x64, periods, sizes)
        return np.sum(out * r_out) + np.sum(h * r_h)

    assert_gradients_match(got, finite_differences(loss, p64))


def test_module_state_constant_between_ticks():
    periods = [1, 2, 4, 8]
    layer = ClockworkRNN(8, periods=periods, return_sequences=True)
    x = np.random.RandomState(0).standard_normal((2, 20, 3)).astype("float32")
    out = np_(layer(x)).reshape(2, 20, 4, 2)
    for k, period in enumerate(periods):
        for t in range(1, 20):
            same = np.array_equal(out[:, t, k], out[:, t - 1, k])
            assert same == (t % period != 0), (k, t)


def test_slow_modules_get_exactly_zero_gradient_from_fast_parameters():
    """d(slow module's state) / d(fast module's parameters) == 0, exactly."""
    layer = ClockworkRNN(8, num_modules=4, return_sequences=True, return_state=True)
    x = np.random.RandomState(1).standard_normal((2, 12, 3)).astype("float32")
    layer(x)
    rng = np.random.RandomState(5)
    r_out = np.zeros((2, 12, 8), "float32")
    r_out[:, :, 4:] = rng.standard_normal((2, 12, 4))  # modules 2 and 3 only
    r_h = np.zeros((2, 8), "float32")
    r_h[:, 4:] = 1.0
    grads = backend_gradients(layer, x, r_out, r_h)
    # Parameters of the fast modules 0 and 1: their recurrent kernels and
    # their columns of the input kernel and bias.
    assert np.all(grads["recurrent_kernel_0"] == 0)
    assert np.all(grads["recurrent_kernel_1"] == 0)
    assert np.all(grads["kernel"][:, :4] == 0)
    assert np.all(grads["bias"][:4] == 0)
    # ... while the slow modules' own parameters do get a gradient.
    assert np.abs(grads["recurrent_kernel_2"]).max() > 0
    assert np.abs(grads["kernel"][:, 4:]).max() > 0
    # No weight connects a faster module to a slower one at all.
    assert [tuple(w.shape) for w in layer.weights if "recurrent" in w.name] == [
        (8, 2), (6, 2), (4, 2), (2, 2)
    ]


def test_stateful_two_halves_equal_one_whole():
    x = np.random.RandomState(0).standard_normal((2, 10, 3)).astype("float32")
    whole = ClockworkRNN(8, num_modules=4, return_sequences=True)
    want = np_(whole(x))
    inputs = keras.Input(batch_shape=(2, 5, 3))
    stateful = ClockworkRNN(8, num_modules=4, return_sequences=True, stateful=True)
    model = keras.Model(inputs, stateful(inputs))
    stateful.set_weights(whole.get_weights())
    first = np_(model(x[:, :5]))
    np.testing.assert_array_equal(np_(stateful.states[1]), np.full((2, 1), 5.0))
    second = np_(model(x[:, 5:]))
    np.testing.assert_allclose(np.concatenate([first, second], 1), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np_(stateful.states[1]), np.full((2, 1), 2.0))  # 10 mod 8
    stateful.reset_state()
    np.testing.assert_allclose(np_(model(x[:, :5])), first, rtol=1e-5, atol=1e-6)


def test_initial_state_continues_the_schedule():
    x = np.random.RandomState(0).standard_normal((2, 11, 3)).astype("float32")
    layer = ClockworkRNN(8, periods=[1, 2, 4, 8], return_sequences=True, return_state=True)
    want, want_h, want_clock = layer(x)
    first, h, clock = layer(x[:, :6])
    assert np.all(np_(clock) == 6)
    second, h2, clock2 = layer(x[:, 6:], initial_state=[h, clock])
    np.testing.assert_allclose(
        np.concatenate([np_(first), np_(second)], 1), np_(want), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(np_(clock2), np_(want_clock))
    assert np.all(np_(want_clock) == 3)  # 11 mod 8


def test_masked_steps_do_not_advance_the_clock():
    rng = np.random.RandomState(0)
    layer = ClockworkRNN(8, num_modules=4, return_state=True)
    rows = [rng.standard_normal((n, 3)).astype("float32") for n in (9, 5, 2)]
    right = np.zeros((3, 9, 3), "float32")
    left = np.zeros((3, 9, 3), "float32")
    for i, row in enumerate(rows):
        right[i, : len(row)] = row
        left[i, 9 - len(row) :] = row
    lengths = np.array([len(r) for r in rows])
    mask_right = np.arange(9)[None] < lengths[:, None]
    alone = [np_(layer(row[None])[1])[0] for row in rows]
    for x, mask in ((right, mask_right), (left, mask_right[:, ::-1])):
        _, h, clock = layer(x, mask=mask)
        np.testing.assert_array_equal(np_(clock)[:, 0], lengths % 8)
        for i in range(len(rows)):
            np.testing.assert_allclose(np_(h)[i], alone[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_harness(case):
    run_layer_test(case)


def test_save_and_load_keras_file(tmp_path):
    case = CASES[1]
    model = sequence_model(case)
    x = case.inputs()
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    assert loaded.layers[1].periods == [1, 3, 5]


def test_bidirectional(tmp_path):
    x = np.random.RandomState(0).standard_normal((2, 7, 3)).astype("float32")
    inputs = keras.Input((7, 3))
    bidi = keras.layers.Bidirectional(ClockworkRNN(4, num_modules=2, return_sequences=True))
    model = keras.Model(inputs, bidi(inputs))
    out = model.predict(x, verbose=0)
    fwd = ClockworkRNN(4, num_modules=2, return_sequences=True)
    fwd(x)
    fwd.set_weights(bidi.backward_layer.get_weights())
    np.testing.assert_allclose(out[:, :, 4:], np_(fwd(x[:, ::-1]))[:, ::-1], rtol=1e-5, atol=1e-6)
    path = os.path.join(tmp_path, "bidi.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), out)


# The ops against each other (backend-independent maths, 27 cases stepped
# eagerly): run on TensorFlow; on JAX the layer tests against the NumPy
# reference go through the same module-wise path.
@pytest.mark.tf_only
@pytest.mark.parametrize("config_id", list(CONFIGS))
@pytest.mark.parametrize("clock", [0, 4, "per_row"])
@pytest.mark.parametrize("timesteps", [1, 7, 12])
@pytest.mark.parametrize("grouping", ["single", "pairs", "all"])
@pytest.mark.parametrize("per_iteration", [1, 3])
def test_module_path_equals_schedule_path_with_recurrent_dropout(
    config_id, clock, timesteps, grouping, per_iteration
):
    # `clockwork_sequence` (one loop per group of modules, `per_iteration`
    # ticks per loop iteration) against stepping `clockwork_recurrence` (the
    # cell's step), with a recurrent dropout mask.
    layer, params, _, _ = build(config_id, 3, seed=5)
    cell = layer.cell
    rng = np.random.RandomState(6)
    x = rng.standard_normal((3, timesteps, 3)).astype("float32")
    h0 = rng.standard_normal((3, layer.units)).astype("float32")
    if clock == "per_row":
        clock0 = np.array([[0], [3], [5]], "float32")
    else:
        clock0 = np.full((3, 1), clock, "float32")
    drop = (rng.uniform(size=(3, layer.units)) > 0.3).astype("float32") / 0.7
    tensors = cell.get_params()
    z = clockwork_input_projection(x, tensors, cell.structure)
    last, outputs, (h, c) = clockwork_sequence(
        z, [h0, clock0], tensors, cell.structure, recurrent_mask=drop,
        shared_clock=clock != "per_row",
        groups=GROUPINGS[config_id][grouping], steps_per_iteration=per_iteration,
    )
    states = [h0, clock0]
    for t in range(timesteps):
        out_t, states = clockwork_recurrence(
            z[:, t], states, tensors, cell.structure, recurrent_mask=drop
        )
        np.testing.assert_allclose(np_(outputs)[:, t], np_(out_t), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_(last), np_(states[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_(h), np_(states[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np_(c), np_(states[1]))


def test_go_backwards_unroll_and_keras_rnn_cell():
    x = np.random.RandomState(0).standard_normal((2, 6, 3)).astype("float32")
    base = ClockworkRNN(8, num_modules=4, return_sequences=True)
    want = np_(base(x))
    backward = ClockworkRNN(8, num_modules=4, return_sequences=True, go_backwards=True)
    unrolled = ClockworkRNN(8, num_modules=4, return_sequences=True, unroll=True)
    for other in (backward, unrolled):
        other(x)
        other.set_weights(base.get_weights())
    np.testing.assert_allclose(np_(backward(x)), np_(base(x[:, ::-1])), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_(unrolled(x)), want, rtol=1e-5, atol=1e-6)
    wrapped = keras.layers.RNN(base.cell, return_sequences=True)
    np.testing.assert_allclose(np_(wrapped(x)), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_on_batches_of_unknown_length(masked, jit_compile):
    # A tf.data pipeline of padded batches (JSB-like) traces the layer with an
    # unknown number of steps; Keras' `fit` runs it through its iterator loop.
    if keras.backend.backend() != "tensorflow":
        pytest.skip("unknown static lengths arise on TensorFlow graphs")
    import tensorflow as tf

    rng = np.random.RandomState(0)
    batches = [(rng.rand(2, n, 3).astype("float32"), rng.rand(2, 1).astype("float32")) for n in (5, 9)]
    spec = (tf.TensorSpec((None, None, 3)), tf.TensorSpec((None, 1)))
    data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec)
    layers = [keras.Input((None, 3))]
    if masked:
        layers.append(keras.layers.Masking(0.0))
    layers += [ClockworkRNN(6, num_modules=3), keras.layers.Dense(1)]
    model = keras.Sequential(layers)
    model.compile("adam", "mse", jit_compile=jit_compile)
    history = model.fit(data, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.jit_compile is jit_compile


def test_jit_compile_model_matches_uncompiled():
    case = CASES[0]
    x = case.inputs(batch=4, timesteps=5)
    y = np.ones((4, 1), "float32")
    compiled = sequence_model(case, jit_compile=True)
    plain = sequence_model(case, jit_compile=False)
    plain.set_weights(compiled.get_weights())
    assert compiled.jit_compile is True
    np.testing.assert_allclose(
        compiled.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(compiled.train_on_batch(x, y), plain.train_on_batch(x, y), rtol=1e-5)
    assert compiled.jit_compile is True
    for a, b in zip(compiled.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("policy", [pytest.param("mixed_float16", marks=pytest.mark.one_backend), "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    layer = ClockworkRNN(8, num_modules=8, module_sizes=[1] * 8, return_sequences=True, return_state=True)
    x = np.random.RandomState(0).standard_normal((2, 130, 3)).astype("float32")
    out, h, clock = layer(x)
    compute = policy.split("_")[1]
    for tensor in (out, h, clock):
        assert keras.backend.standardize_dtype(tensor.dtype) == compute
    assert all(w.dtype == "float32" for w in layer.weights)
    assert np.all(np_(clock).astype("float32") == 130 % 128)  # the clock stays exact
    model = sequence_model(Case("cw", ClockworkRNN, {"num_modules": 2}))
    history = model.fit(x[:, :5], np.ones((2, 1)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_clock_must_be_exact_in_the_compute_dtype():
    keras.config.set_dtype_policy("mixed_bfloat16")
    ClockworkRNN(9, num_modules=9).build((None, 2, 3))  # lcm 256: fine in bfloat16
    with pytest.raises(ValueError, match="`periods`.*bfloat16"):
        ClockworkRNN(10, num_modules=10).build((None, 2, 3))  # lcm 512
    keras.config.set_dtype_policy("mixed_float16")
    ClockworkRNN(10, num_modules=10).build((None, 2, 3))
    with pytest.raises(ValueError, match="`periods`.*float16"):
        ClockworkRNN(4, periods=[1, 4096]).build((None, 2, 3))


@pytest.mark.one_backend
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(units=8), "periods"),
        (dict(units=8, periods=[1, 0, 4]), "periods"),
        (dict(units=8, periods=[1, 2.5]), "periods"),
        (dict(units=8, periods=[1, True]), "periods"),
        (dict(units=8, periods=[4, 2]), "periods"),
        (dict(units=8, periods=[]), "periods"),
        (dict(units=8, periods=[1, 2], num_modules=3), "num_modules"),
        (dict(units=8, num_modules=0), "num_modules"),
        (dict(units=8, num_modules=3), "units"),
        (dict(units=8, num_modules=2, module_sizes=[3, 4]), "module_sizes"),
        (dict(units=8, num_modules=2, module_sizes=[8, 0]), "module_sizes"),
        (dict(units=8, periods=[1, 2**25]), "periods"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        ClockworkRNN(**kwargs)
    with pytest.raises(ValueError, match=f"`{argument}`"):
        ClockworkRNNCell(**kwargs)


@pytest.mark.one_backend
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(groups=[(0, 1), (2, 4)]), "`groups`"),
        (dict(groups=[(0, 4), (4, 5)]), "`groups`"),
        (dict(groups=[]), "`groups`"),
        (dict(groups=[(0, 4)], steps_per_iteration=0), "`steps_per_iteration`"),
    ],
)
def test_bad_module_groups_raise_value_error(kwargs, argument):
    layer, _, _, _ = build("exp4", 3, seed=1)
    tensors = layer.cell.get_params()
    z = clockwork_input_projection(np.zeros((2, 5, 3), "float32"), tensors, layer.cell.structure)
    state = [np.zeros((2, 8), "float32"), np.zeros((2, 1), "float32")]
    with pytest.raises(ValueError, match=argument):
        clockwork_sequence(z, state, tensors, layer.cell.structure, **kwargs)


def test_default_module_groups():
    # One loop per module, whatever the periods.
    from keras_rnnx.ops.clockwork import ClockworkStructure, module_groups

    exp8 = ClockworkStructure(512, tuple(2**k for k in range(8)), (64,) * 8)
    assert module_groups(exp8) == tuple((k, k + 1) for k in range(8))
    assert module_groups(ClockworkStructure(6, (1, 3, 5), (3, 2, 1))) == ((0, 1), (1, 2), (2, 3))
