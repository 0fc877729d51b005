"""Grid LSTM (`keras_rnnx.layers.grid`, `keras_rnnx.ops.grid`).

* The N-D block, the 2-D (time, depth) layer and the 1-D (depth) layer against
  the independent NumPy reference (tests/reference_grid.py), forward at 1e-5
  and gradients against central finite differences of the float64 reference.
* Tied weights: the parameter count does not grow with depth.
* The Keras RNN API on `GridLSTM2D`: harness, masking, Bidirectional,
  stateful continuation, `jit_compile=True`, mixed precision, `.keras`
  save/load with ``safe_mode=True``; and bad input.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_rnnx.layers.grid import GridLSTM1D
from keras_rnnx.layers.grid import GridLSTM2D
from keras_rnnx.layers.grid import GridLSTM2DCell
from keras_rnnx.ops.grid import GridStructure
from keras_rnnx.ops.grid import grid_block
from keras_rnnx.ops.grid import parse_dimensions
from tests.gradients import assert_gradients_match
from tests.gradients import backend_gradients
from tests.gradients import finite_differences
from tests import reference_grid as ref
from tests.layers.harness import Case
from tests.layers.harness import run_layer_test
from tests.layers.harness import step_by_hand

np_ = keras.ops.convert_to_numpy
RTOL = ATOL = 1e-5


def dims(time=None, depth=None):
    """Full two-dimension spec (every key, so configs compare equal)."""
    base = [
        {"name": "time", "kind": "lstm", "tied": True, "priority": False},
        {"name": "depth", "kind": "lstm", "tied": False, "priority": False},
    ]
    base[0].update(time or {})
    base[1].update(depth or {})
    return base


CONFIGS_2D = {
    "untied": dict(depth=3, dimensions=dims()),
    "tied": dict(depth=2, dimensions=dims(depth={"tied": True})),
    "depth_priority": dict(depth=2, dimensions=dims(depth={"priority": True})),
    "time_priority_tied": dict(
        depth=2, dimensions=dims(time={"priority": True}, depth={"tied": True})
    ),
    "plain_time": dict(depth=2, dimensions=dims(time={"kind": "plain"})),
    "identity_time": dict(depth=2, dimensions=dims(time={"kind": "identity"})),
}

CASES = [
    Case("grid_untied", GridLSTM2D, {"depth": 2}),
    Case("grid_tied", GridLSTM2D, {"depth": 2, "dimensions": dims(depth={"tied": True})}),
    Case(
        "grid_priority_dropout",
        GridLSTM2D,
        {
            "depth": 2,
            "dimensions": dims(depth={"priority": True}),
            "dropout": 0.2,
            "recurrent_dropout": 0.2,
            "seed": 1,
        },
    ),
]
CASE_IDS = [c.id for c in CASES]


def random_params(shapes, seed):
    rng = np.random.RandomState(seed)
    return {n: (0.5 * rng.standard_normal(s)).astype("float32") for n, s in shapes.items()}


def load(layer, shapes, params):
    names = [w.name for w in layer.weights]
    assert {n: tuple(w.shape) for n, w in zip(names, layer.weights)} == {
        n: tuple(s) for n, s in shapes.items()
    }
    layer.set_weights([params[n] for n in names])


def build_2d(config, input_dim, units, params_seed):
    layer = GridLSTM2D(units, return_sequences=True, return_state=True, **config)
    layer.build((None, None, input_dim))
    tied = config["dimensions"][1]["tied"]
    shapes = ref.grid2d_param_shapes(
        input_dim, units, config["depth"], tied, config["dimensions"]
    )
    params = random_params(shapes, params_seed)
    load(layer, shapes, params)
    return layer, params


def ref_2d(config, params, x, units, mask=None, initial_state=None):
    return ref.grid2d_forward(
        {k: v.astype("float64") for k, v in params.items()},
        x.astype("float64"),
        units,
        config["depth"],
        config["dimensions"][1]["tied"],
        config["dimensions"],
        mask=mask,
        initial_state=initial_state,
    )


# ----------------------------------------------------------------------------
# The N-D block
# ----------------------------------------------------------------------------
BLOCK_SPECS = {
    "2d": [{"name": "a"}, {"name": "b"}],
    "3d_priority_identity": [
        {"name": "a"},
        {"name": "b", "priority": True},
        {"name": "c", "kind": "identity"},
    ],
    "3d_plain_two_priorities": [
        {"name": "a", "priority": True},
        {"name": "b", "kind": "plain"},
        {"name": "c", "priority": True},
    ],
}


@pytest.mark.parametrize("spec_id", list(BLOCK_SPECS))
def test_block_matches_reference(spec_id):
    spec = BLOCK_SPECS[spec_id]
    units, batch = 3, 4
    structure = GridStructure(units=units, dimensions=parse_dimensions(spec))
    shapes = ref.block_param_shapes(spec, units)
    assert structure.kernel_shapes() == shapes
    params = random_params(shapes, 0)
    rng = np.random.RandomState(1)
    hs = [rng.standard_normal((batch, units)).astype("float32") for _ in spec]
    ms = [rng.standard_normal((batch, units)).astype("float32") for _ in spec]
    got_h, got_m = grid_block(
        [ops.convert_to_tensor(h) for h in hs],
        [ops.convert_to_tensor(m) for m in ms],
        {k: ops.convert_to_tensor(v) for k, v in params.items()},
        structure,
    )
    want_h, want_m = ref.block(
        [h.astype("float64") for h in hs],
        [m.astype("float64") for m in ms],
        {k: v.astype("float64") for k, v in params.items()},
        spec,
        units,
    )
    for got, want in zip(got_h + got_m, want_h + want_m):
        np.testing.assert_allclose(np_(got), want, rtol=RTOL, atol=ATOL)
    for k, d in enumerate(spec):  # identity dimensions pass h and m through
        if d.get("kind") == "identity":
            np.testing.assert_array_equal(np_(got_h[k]), hs[k])
            np.testing.assert_array_equal(np_(got_m[k]), ms[k])


def test_priority_changes_the_result():
    """A priority dimension reads the others' new h: not the same as none."""
    spec = [{"name": "a"}, {"name": "b"}]
    params = random_params(ref.block_param_shapes(spec, 3), 0)
    rng = np.random.RandomState(2)
    hs = [rng.standard_normal((2, 3)) for _ in spec]
    ms = [rng.standard_normal((2, 3)) for _ in spec]
    plain = ref.block(hs, ms, params, spec, 3)[0][1]
    prio = ref.block(hs, ms, params, [spec[0], {"name": "b", "priority": True}], 3)[0][1]
    assert not np.allclose(plain, prio)


# ----------------------------------------------------------------------------
# 2-D layer: forward, masks, initial state, gradients
# ----------------------------------------------------------------------------
MASK = np.array(
    [
        [True, True, True, False, False],
        [False, False, True, True, True],
        [False, False, False, False, False],
        [True, False, True, False, True],
    ]
)


@pytest.mark.parametrize("config_id", list(CONFIGS_2D))
def test_2d_forward_matches_reference(config_id):
    config = CONFIGS_2D[config_id]
    units, input_dim = 4, 3
    layer, params = build_2d(config, input_dim, units, 3)
    rng = np.random.RandomState(4)
    x = rng.standard_normal((4, 5, input_dim)).astype("float32")
    init = [
        (0.5 * rng.standard_normal((4, units))).astype("float32")
        for _ in range(2 * config["depth"])
    ]
    for mask, initial_state in ((None, None), (MASK, init)):
        kwargs = {}
        if mask is not None:
            kwargs["mask"] = ops.convert_to_tensor(mask)
        if initial_state is not None:
            kwargs["initial_state"] = [ops.convert_to_tensor(s) for s in initial_state]
        out, *states = layer(x, **kwargs)
        init64 = None if initial_state is None else [s.astype("float64") for s in init]
        want_out, want_states = ref_2d(config, params, x, units, mask, init64)
        np.testing.assert_allclose(np_(out), want_out, rtol=RTOL, atol=ATOL)
        assert len(states) == 2 * config["depth"]
        for got, want in zip(states, want_states):
            np.testing.assert_allclose(np_(got), want, rtol=RTOL, atol=ATOL)


def test_2d_gradients_matchfinite_differences():
    config = dict(depth=2, dimensions=dims(depth={"priority": True}))
    units, input_dim = 3, 2
    layer, params = build_2d(config, input_dim, units, 5)
    rng = np.random.RandomState(6)
    x = rng.standard_normal((2, 4, input_dim)).astype("float32")
    mask = np.array([[True, True, False, True], [False, True, True, True]])
    r_out = rng.standard_normal((2, 4, units))
    r_states = [rng.standard_normal((2, units)) for _ in range(4)]

    def loss_of(result):
        total = ops.sum(result[0] * r_out.astype("float32"))
        for s, r in zip(result[1:], r_states):
            total = total + ops.sum(s * r.astype("float32"))
        return total

    got = backend_gradients(layer, x, loss_of, mask=ops.convert_to_tensor(mask))

    def loss(p):
        out, states = ref.grid2d_forward(
            p, x.astype("float64"), units, 2, False, config["dimensions"], mask=mask
        )
        return np.sum(out * r_out) + sum(np.sum(s * r) for s, r in zip(states, r_states))

    assert_gradients_match(got, finite_differences(loss, params))


# ----------------------------------------------------------------------------
# 1-D layer
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tied, project_input", [(True, True), (False, True), (True, False)]
)
def test_1d_forward_matches_reference(tied, project_input):
    units, depth = 4, 3
    input_dim = 5 if project_input else units
    layer = GridLSTM1D(units, depth, tied=tied, project_input=project_input)
    layer.build((None, input_dim))
    shapes = ref.grid1d_param_shapes(input_dim, units, depth, tied, project_input)
    params = random_params(shapes, 7)
    load(layer, shapes, params)
    x = np.random.RandomState(8).standard_normal((3, input_dim)).astype("float32")
    want = ref.grid1d_forward(
        {k: v.astype("float64") for k, v in params.items()},
        x.astype("float64"),
        units,
        depth,
        tied,
        project_input,
    )
    np.testing.assert_allclose(np_(layer(x)), want, rtol=RTOL, atol=ATOL)


def test_1d_gradients_matchfinite_differences():
    units, depth, input_dim = 3, 3, 4
    layer = GridLSTM1D(units, depth, tied=True)
    layer.build((None, input_dim))
    shapes = ref.grid1d_param_shapes(input_dim, units, depth, True)
    params = random_params(shapes, 9)
    load(layer, shapes, params)
    rng = np.random.RandomState(10)
    x = rng.standard_normal((3, input_dim)).astype("float32")
    r = rng.standard_normal((3, units))
    got = backend_gradients(layer, x, lambda out: ops.sum(out * r.astype("float32")))

    def loss(p):
        return np.sum(ref.grid1d_forward(p, x.astype("float64"), units, depth, True) * r)

    assert_gradients_match(got, finite_differences(loss, params))


def test_tied_parameter_count_does_not_grow_with_depth():
    counts_1d = []
    for depth in (1, 4, 16):
        layer = GridLSTM1D(8, depth, tied=True)
        layer.build((None, 5))
        counts_1d.append(layer.count_params())
    assert counts_1d[0] == counts_1d[1] == counts_1d[2] == 5 * 8 + 8 + 8 * 32 + 32
    untied = GridLSTM1D(8, 4, tied=False)
    untied.build((None, 5))
    assert untied.count_params() == 5 * 8 + 8 + 4 * (8 * 32 + 32)

    counts_2d = []
    for depth in (1, 3, 6):
        layer = GridLSTM2D(8, depth=depth, dimensions=dims(depth={"tied": True}))
        layer.build((None, 4, 5))
        counts_2d.append(layer.count_params())
    assert counts_2d[0] == counts_2d[1] == counts_2d[2] == 5 * 8 + 8 + 2 * (16 * 32 + 32)
    untied = GridLSTM2D(8, depth=3)
    untied.build((None, 4, 5))
    assert untied.count_params() == 5 * 8 + 8 + 3 * 2 * (16 * 32 + 32)


def test_1d_save_load_jit_and_mixed_precision(tmp_path):
    x = np.random.RandomState(0).standard_normal((4, 6)).astype("float32")
    y = np.ones((4, 1), "float32")

    def model(jit):
        inputs = keras.Input((6,))
        out = keras.layers.Dense(1)(GridLSTM1D(5, 3, tied=True)(inputs))
        m = keras.Model(inputs, out)
        m.compile("sgd", "mse", jit_compile=jit)
        return m

    compiled, plain = model(True), model(False)
    plain.set_weights(compiled.get_weights())
    np.testing.assert_allclose(
        compiled.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        compiled.train_on_batch(x, y), plain.train_on_batch(x, y), rtol=1e-5
    )
    assert compiled.jit_compile is True
    path = os.path.join(tmp_path, "grid1d.keras")
    plain.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert loaded.layers[1].get_config() == plain.layers[1].get_config()

    keras.config.set_dtype_policy("mixed_float16")
    layer = GridLSTM1D(5, 3)
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert all(w.dtype == "float32" for w in layer.weights)
    m = model(False)
    assert np.isfinite(m.fit(x, y, epochs=1, verbose=0).history["loss"][0])


# ----------------------------------------------------------------------------
# The Keras RNN API on GridLSTM2D
# ----------------------------------------------------------------------------
def sequence_model(case, timesteps=5, jit_compile=False, **kwargs):
    inputs = keras.Input((timesteps, case.input_dim))
    out = keras.layers.Dense(1)(case.make(**kwargs)(inputs))
    model = keras.Model(inputs, out)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    return model


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_harness(case):
    run_layer_test(case)


@pytest.mark.parametrize("case", CASES[1:], ids=CASE_IDS[1:])
def test_save_and_load_keras_file(case, tmp_path):
    model = sequence_model(case)
    x = case.inputs()
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()


def test_cell_stepped_by_hand_and_in_keras_rnn_equal_layer_with_mask():
    case = CASES[1]
    x = case.inputs(batch=4, timesteps=5)
    layer = case.make(return_sequences=True, return_state=True)
    out, *states = layer(x, mask=MASK)
    cell = layer.cell
    want_out, want_states = step_by_hand(cell, x, MASK)
    np.testing.assert_allclose(np_(out), want_out, rtol=1e-5, atol=1e-6)
    for a, b in zip(states, want_states):
        np.testing.assert_allclose(np_(a), b, rtol=1e-5, atol=1e-6)
    # Fully masked row keeps the initial (zero) state.
    assert np.all(np_(states[0])[2] == 0)
    wrapped = keras.layers.RNN(cell, return_sequences=True)
    np.testing.assert_allclose(
        np_(wrapped(x)), np_(layer(x)[0]), rtol=1e-5, atol=1e-6
    )
    if keras.backend.backend() == "tensorflow":
        # (JAX's loop takes states[0] as a masked step's output: see the cell.)
        np.testing.assert_allclose(
            np_(wrapped(x, mask=MASK)), np_(out), rtol=1e-5, atol=1e-6
        )


def test_masking_matches_unpadded_rows():
    case = CASES[0]
    layer = case.make(return_state=True)
    rng = np.random.RandomState(1)
    lengths = [5, 2, 2]
    rows = [rng.uniform(-1, 1, (n, 3)).astype("float32") for n in lengths]
    left = np.zeros((3, 5, 3), "float32")
    for i, row in enumerate(rows):
        left[i, 5 - len(row) :] = row
    mask_left = (np.arange(5)[None, :] >= 5 - np.array(lengths)[:, None])
    got = layer(left, mask=mask_left)
    for i, row in enumerate(rows):
        for a, b in zip(got, layer(row[None])):
            np.testing.assert_allclose(np_(a)[i], np_(b)[0], rtol=1e-5, atol=1e-6)
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(0.0), case.make()])
    right = np.zeros_like(left)
    right[0] = left[0]
    right[1, : len(rows[1])] = rows[1]
    np.testing.assert_allclose(
        model.predict(right, verbose=0)[1],
        np_(model.layers[-1](rows[1][None]))[0],
        rtol=1e-5,
        atol=1e-6,
    )


def test_bidirectional(tmp_path):
    case = CASES[0]
    inputs = keras.Input((5, 3))
    bidi = keras.layers.Bidirectional(case.make(return_sequences=True))
    model = keras.Model(inputs, bidi(inputs))
    x = case.inputs()
    out = model.predict(x, verbose=0)
    assert out.shape == (2, 5, 2 * case.units)
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


def test_stateful_continues_and_resets():
    case = CASES[0]
    x = case.inputs(batch=2, timesteps=6)
    full = case.make(return_sequences=True)
    full_out = np_(full(x))
    inputs = keras.Input(batch_shape=(2, 3, 3))
    stateful = case.make(return_sequences=True, stateful=True)
    model = keras.Model(inputs, stateful(inputs))
    stateful.set_weights(full.get_weights())
    call = model.predict if keras.backend.backend() == "tensorflow" else model
    first = np_(call(x[:, :3]))
    second = np_(call(x[:, 3:]))
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1), full_out, rtol=1e-5, atol=1e-6
    )
    stateful.reset_state()
    np.testing.assert_allclose(np_(call(x[:, :3])), first, rtol=1e-5, atol=1e-6)
    assert len(stateful.states) == 2 * stateful.depth


def test_jit_compile_stays_on_and_matches_uncompiled():
    case = CASES[1]
    x = case.inputs(batch=4)
    y = np.ones((4, 1), "float32")
    compiled = sequence_model(case, jit_compile=True)
    plain = sequence_model(case, jit_compile=False)
    plain.set_weights(compiled.get_weights())
    assert all(layer.supports_jit for layer in compiled._flatten_layers())
    np.testing.assert_allclose(
        compiled.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        compiled.train_on_batch(x, y), plain.train_on_batch(x, y), rtol=1e-5
    )
    assert compiled.jit_compile is True
    for a, b in zip(compiled.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.one_backend  # test_layer_api runs bfloat16 on a 2-D grid case on JAX
def test_mixed_float16():
    keras.config.set_dtype_policy("mixed_float16")
    case = CASES[0]
    layer = case.make(return_sequences=True, return_state=True)
    for tensor in layer(case.inputs()):
        assert keras.backend.standardize_dtype(tensor.dtype) == "float16"
    assert all(w.dtype == "float32" for w in layer.weights)
    model = sequence_model(case)
    assert np.isfinite(model.fit(case.inputs(), np.ones((2, 1)), epochs=1, verbose=0).history["loss"][0])


def test_layer_properties_and_registered_names():
    layer = GridLSTM2D(4, depth=3, dimensions=dims(depth={"tied": True}))
    assert layer.depth == 3
    assert layer.dimensions[1]["tied"] is True
    assert layer.cell.state_size == [4] * 6
    for cls in (GridLSTM2D, GridLSTM2DCell, GridLSTM1D):
        name = f"keras_rnnx>{cls.__name__}"
        assert keras.saving.get_registered_name(cls) == name
        assert keras.saving.get_registered_object(name) is cls


# ----------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------
@pytest.mark.one_backend
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=0), r"`depth`.*int >= 1"),
        (dict(depth=2.0), r"`depth`"),
        (dict(dimensions=[{"name": "time", "tide": True}, {"name": "depth"}]),
         r"`dimensions\[0\]` names unknown option\(s\) \['tide'\].*remove or rename"),
        (dict(dimensions=[{"name": "time"}, {"name": "depth", "kind": "gru"}]),
         r"`dimensions\[1\]\['kind'\]` must be one of"),
        (dict(dimensions=[{"name": "time"}]), r"exactly two dimensions"),
        (dict(dimensions=[{"name": "t"}, {"name": "t"}]), r"repeated dimension names"),
        (dict(dimensions=[{"name": "time", "tied": False}, {"name": "depth"}]),
         r"time dimension.*tied=True"),
        (dict(dimensions=[{"name": "time", "priority": "yes"}, {"name": "depth"}]),
         r"\['priority'\]` must be True or False"),
        (dict(dimensions="time,depth"), r"`dimensions` must be a non-empty list"),
        (dict(dimensions=[{"kind": "lstm"}, {"name": "depth"}]), r"\['name'\]"),
    ],
)
def test_bad_2d_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GridLSTM2D(4, **kwargs)


def test_bad_1d_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"`depth`.*int >= 1"):
        GridLSTM1D(4, 0)
    with pytest.raises(ValueError, match=r"`tied` must be a bool \(True or False\)"):
        GridLSTM1D(4, 2, tied="yes")
    layer = GridLSTM1D(4, 3, tied=True, project_input=False)
    with pytest.raises(ValueError, match=r"needs 4 features \(= units\).*project_input=True"):
        layer(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError):
        GridLSTM1D(4, 2)(np.zeros((2, 3, 4), "float32"))


@pytest.mark.one_backend
@pytest.mark.parametrize("project_input", [True, False])
def test_1d_wrong_feature_size_after_build_names_the_expected_size(project_input):
    # It used to fail inside the matmul ("Matrix size-incompatible: In[0]: [2,6],
    # In[1]: [5,4]"); it now says what the sequence layers say.
    layer = GridLSTM1D(5, 2, project_input=project_input)
    assert tuple(layer(np.zeros((2, 5), "float32")).shape) == (2, 5)
    def pattern(batch):
        return (
            rf"built for inputs with 5 features \(last axis\) but received shape "
            rf"\({batch}, 6\).*Feed inputs with 5 features"
        )

    with pytest.raises(ValueError, match=pattern(2)):
        layer(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match=pattern(None)):
        layer(keras.KerasTensor((None, 6)))
    # The check survives saving: a loaded layer is built by its build config.
    inputs = keras.Input((5,))
    model = keras.Model(inputs, layer(inputs))
    clone = keras.Model.from_config(model.get_config()).layers[-1]
    with pytest.raises(ValueError, match="built for inputs with 5 features"):
        clone(np.zeros((2, 4), "float32"))


def test_bad_2d_inputs():
    layer = GridLSTM2D(4, depth=2)
    with pytest.raises(ValueError, match="rank 3"):
        layer(np.zeros((2, 3), "float32"))
    layer(np.zeros((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="initial state"):
        layer(np.zeros((2, 3, 5), "float32"), initial_state=[np.zeros((2, 4), "float32")] * 2)


def test_go_backwards_and_unroll_equal_the_loop():
    case = CASES[0]
    x = case.inputs()
    forward = case.make(return_sequences=True)
    backward = case.make(return_sequences=True, go_backwards=True)
    unrolled = case.make(return_sequences=True, unroll=True)
    expected = np_(forward(x))
    for other in (backward, unrolled):
        other(x)
        other.set_weights(forward.get_weights())
    np.testing.assert_allclose(np_(backward(x)), np_(forward(x[:, ::-1])), rtol=1e-5, atol=1e-6)
    mask = MASK[:2]
    np.testing.assert_allclose(np_(unrolled(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np_(unrolled(x, mask=mask)), np_(forward(x, mask=mask)), rtol=1e-5, atol=1e-6
    )
