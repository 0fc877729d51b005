"""keras-rnnx layers against the independent NumPy reference (tests/reference_numpy.py).

For every LSTM variant, both GRU modes and MUT1/2/3:

* the weight list has the expected names and shapes (layout of the reference);
* forward outputs and final states (``return_sequences=True``,
  ``return_state=True``) equal the reference at 1e-5 in float32, with and
  without a non-zero initial state, and with masks (right/left padding, holes,
  a fully masked row);
* the gradient of a scalar loss w.r.t. every weight, computed by the backend
  (``tf.GradientTape`` or ``jax.grad`` over ``stateless_call``), equals central
  finite differences of the float64 reference, coordinate by coordinate.

Initialisation-only options (``forget_bias``, ``unit_forget_bias``,
``chrono_init``) are checked on the bias values directly.
"""

import keras
import numpy as np
import pytest

import keras_rnnx
from tests import gradients
from tests import reference_numpy as ref

RTOL = 1e-5
ATOL = 1e-5
B, T, D, U = 3, 5, 3, 4  # forward shapes
GB, GT, GD, GU = 2, 4, 3, 4  # gradient shapes
P = 3  # proj_units

# id -> options, given both to keras_rnnx.layers.LSTM and to the reference.
LSTM_VARIANTS = {
    "plain": {},
    "peephole": dict(peephole=True),
    "NIG": dict(peephole=True, input_gate=False),
    "NFG": dict(peephole=True, forget_gate=False),
    "NOG": dict(peephole=True, output_gate=False),
    "NIAF": dict(peephole=True, input_activation=False),
    "NOAF": dict(peephole=True, output_activation=False),
    "NIG_NFG_NOG": dict(input_gate=False, forget_gate=False, output_gate=False),
    "CIFG": dict(coupled=True),
    "CIFG_peephole": dict(coupled=True, peephole=True),
    "FGR": dict(full_gate_recurrence=True),
    "FGR_peephole": dict(full_gate_recurrence=True, peephole=True),
    "FGR_CIFG": dict(full_gate_recurrence=True, coupled=True),
    "FGR_NOG_peephole": dict(full_gate_recurrence=True, output_gate=False, peephole=True),
    "cell_clip": dict(cell_clip=0.5),
    "cell_clip_peephole": dict(cell_clip=0.5, peephole=True),
    "layer_norm": dict(layer_norm=True),
    "layer_norm_peephole": dict(layer_norm=True, peephole=True),
    "proj": dict(proj_units=P),
    "ln_proj_peephole": dict(layer_norm=True, proj_units=P, peephole=True),
    "zoneout": dict(zoneout_hidden=0.3, zoneout_cell=0.2),
    "zoneout_proj_peephole": dict(
        zoneout_hidden=0.25, zoneout_cell=0.4, proj_units=P, peephole=True
    ),
    "no_bias": dict(use_bias=False),
    "no_bias_layer_norm": dict(use_bias=False, layer_norm=True),
    "everything": dict(
        peephole=True,
        full_gate_recurrence=True,
        cell_clip=0.5,
        layer_norm=True,
        proj_units=P,
        zoneout_hidden=0.2,
        zoneout_cell=0.3,
    ),
}

# The convenience classes: id -> (class, layer options, reference options).
LSTM_CLASSES = {
    "PeepholeLSTM": (keras_rnnx.layers.PeepholeLSTM, {}, dict(peephole=True)),
    "CIFGLSTM": (keras_rnnx.layers.CIFGLSTM, {}, dict(coupled=True)),
    "CIFGLSTM_peephole": (
        keras_rnnx.layers.CIFGLSTM,
        dict(peephole=True),
        dict(coupled=True, peephole=True),
    ),
}


def _lstm_cases():
    cases = []
    for name, opts in LSTM_VARIANTS.items():
        cases.append(
            pytest.param(
                keras_rnnx.layers.LSTM, dict(opts), dict(opts), id=f"LSTM-{name}"
            )
        )
    for name, (cls, layer_opts, ref_opts) in LSTM_CLASSES.items():
        cases.append(pytest.param(cls, layer_opts, ref_opts, id=name))
    return cases


LSTM_CASES = _lstm_cases()


# ----------------------------------------------------------------------------
# Model abstraction: one "model" = how to build the layer and the reference.
# ----------------------------------------------------------------------------
class Model:
    def __init__(self, make_layer, shapes, forward, state_sizes, out_size):
        self.make_layer = make_layer  # () -> layer
        self.shapes = shapes  # {name: shape}
        self.forward = forward  # (params, x, mask, initial_state) -> (out, states)
        self.state_sizes = state_sizes
        self.out_size = out_size


def lstm_model(cls, layer_opts, ref_opts, input_dim, units):
    def make_layer():
        return cls(units, return_sequences=True, return_state=True, **layer_opts)

    def forward(params, x, mask=None, initial_state=None):
        return ref.lstm_forward(
            params, x, mask=mask, initial_state=initial_state, units=units, **ref_opts
        )

    sizes = ref.lstm_state_sizes(units=units, **ref_opts)
    return Model(
        make_layer,
        ref.lstm_param_shapes(input_dim, units=units, **ref_opts),
        forward,
        sizes,
        sizes[0],
    )


def gru_model(reset_after, input_dim, units, use_bias=True):
    def make_layer():
        return keras_rnnx.layers.GRU(
            units,
            reset_after=reset_after,
            use_bias=use_bias,
            return_sequences=True,
            return_state=True,
        )

    def forward(params, x, mask=None, initial_state=None):
        return ref.gru_forward(
            params, x, units, reset_after=reset_after, mask=mask,
            initial_state=initial_state,
        )

    return Model(
        make_layer,
        ref.gru_param_shapes(input_dim, units, reset_after, use_bias),
        forward,
        [units],
        units,
    )


MUT_LAYERS = {1: keras_rnnx.layers.MUT1, 2: keras_rnnx.layers.MUT2, 3: keras_rnnx.layers.MUT3}


def mut_model(variant, input_dim, units, use_bias=True):
    def make_layer():
        return MUT_LAYERS[variant](
            units, use_bias=use_bias, return_sequences=True, return_state=True
        )

    def forward(params, x, mask=None, initial_state=None):
        return ref.mut_forward(
            params, x, units, variant, mask=mask, initial_state=initial_state
        )

    return Model(
        make_layer,
        ref.mut_param_shapes(input_dim, units, variant, use_bias),
        forward,
        [units],
        units,
    )


def _other_cases():
    return [
        pytest.param("gru", True, True, id="GRU-reset_after"),
        pytest.param("gru", False, True, id="GRU-reset_before"),
        pytest.param("gru", True, False, id="GRU-reset_after-no_bias"),
        pytest.param("gru", False, False, id="GRU-reset_before-no_bias"),
        pytest.param("mut", 1, True, id="MUT1"),
        pytest.param("mut", 2, True, id="MUT2"),
        pytest.param("mut", 3, True, id="MUT3"),
        pytest.param("mut", 3, False, id="MUT3-no_bias"),
    ]


OTHER_CASES = _other_cases()


def other_model(kind, arg, use_bias, input_dim, units):
    if kind == "gru":
        return gru_model(arg, input_dim, units, use_bias)
    return mut_model(arg, input_dim, units, use_bias)


def other_input_dim(kind, arg, default, units):
    """MUT1 and MUT2 add x itself to a pre-activation: input_dim == units."""
    return units if kind == "mut" and arg in (1, 2) else default


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------
def random_params(shapes, seed):
    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in shapes.items():
        if name.endswith("_gamma"):
            value = 1.0 + 0.3 * rng.standard_normal(shape)
        else:
            value = 0.5 * rng.standard_normal(shape)
        params[name] = value.astype("float32")
    return params


def build_layer(model, input_dim, params):
    """Build the layer, check its weight list, load ``params``."""
    layer = model.make_layer()
    layer.build((None, T, input_dim))
    names = [w.name for w in layer.weights]
    assert len(names) == len(set(names)), names
    assert {n: tuple(w.shape) for n, w in zip(names, layer.weights)} == {
        n: tuple(s) for n, s in model.shapes.items()
    }
    assert sorted(layer.cell.get_params()) == sorted(model.shapes)
    layer.set_weights([params[n] for n in names])
    return layer


def as_numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


def random_states(sizes, batch, seed):
    rng = np.random.RandomState(seed)
    return [(0.5 * rng.standard_normal((batch, s))).astype("float32") for s in sizes]


def check_forward(
    model, input_dim, seed, initial_states=(False, True), mask=None, batch=B
):
    """Compare one built layer to the reference, for each initial-state mode.

    ``initial_states``: for each entry, False = default (zero) initial state,
    True = random non-zero initial state passed as ``initial_state``.
    Returns the reference of the last mode.
    """
    params = random_params(model.shapes, seed)
    layer = build_layer(model, input_dim, params)
    p64 = {k: v.astype("float64") for k, v in params.items()}
    rng = np.random.RandomState(seed + 1)
    x = rng.standard_normal((batch, T, input_dim)).astype("float32")
    for with_initial_state in initial_states:
        kwargs = {}
        init = None
        if with_initial_state:
            init = random_states(model.state_sizes, batch, seed + 2)
            # the FGR state holds gate activations: keep it in (0, 1)
            if len(init) > 2:
                init[2] = 1.0 / (1.0 + np.exp(-2.0 * init[2]))
            kwargs["initial_state"] = [keras.ops.convert_to_tensor(s) for s in init]
        if mask is not None:
            kwargs["mask"] = keras.ops.convert_to_tensor(mask)
        result = layer(x, **kwargs)
        got_seq = as_numpy(result[0])
        got_states = [as_numpy(s) for s in result[1:]]

        init64 = None if init is None else [s.astype("float64") for s in init]
        want_seq, want_states = model.forward(p64, x.astype("float64"), mask, init64)

        what = "initial_state" if with_initial_state else "zero state"
        assert got_seq.shape == want_seq.shape
        np.testing.assert_allclose(
            got_seq, want_seq, rtol=RTOL, atol=ATOL, err_msg=f"outputs ({what})"
        )
        assert len(got_states) == len(want_states)
        for k, (got, want) in enumerate(zip(got_states, want_states)):
            np.testing.assert_allclose(
                got, want, rtol=RTOL, atol=ATOL, err_msg=f"state {k} ({what})"
            )
    return want_seq, want_states


def backend_gradients(layer, x, weights_out, weights_states, mask=None):
    """d loss / d w for every trainable weight, ``loss = <out, R> + sum <s_k, R_k>``."""
    kwargs = {} if mask is None else {"mask": keras.ops.convert_to_tensor(mask)}

    def loss_of(result):
        loss = keras.ops.sum(result[0] * weights_out)
        for state, r in zip(result[1:], weights_states):
            loss = loss + keras.ops.sum(state * r)
        return loss

    return gradients.backend_gradients(layer, x, loss_of, **kwargs)


def check_gradients(model, input_dim, seed, mask=None):
    params = random_params(model.shapes, seed)
    layer = build_layer(model, input_dim, params)
    rng = np.random.RandomState(seed + 10)
    x = rng.standard_normal((GB, GT, input_dim)).astype("float32")
    r_out = rng.standard_normal((GB, GT, model.out_size))
    r_states = [rng.standard_normal((GB, s)) for s in model.state_sizes]

    got = backend_gradients(
        layer,
        x,
        r_out.astype("float32"),
        [r.astype("float32") for r in r_states],
        mask,
    )
    assert sorted(got) == sorted(model.shapes)

    x64 = x.astype("float64")
    p64 = {k: v.astype("float64") for k, v in params.items()}

    def loss(p):
        seq, states = model.forward(p, x64, mask, None)
        total = np.sum(seq * r_out)
        for s, r in zip(states, r_states):
            total += np.sum(s * r)
        return total

    eps = 1e-6
    for name, value in p64.items():
        fd = np.zeros(value.size)
        flat = value.reshape(-1)
        for k in range(value.size):
            saved = flat[k]
            flat[k] = saved + eps
            plus = loss(p64)
            flat[k] = saved - eps
            minus = loss(p64)
            flat[k] = saved
            fd[k] = (plus - minus) / (2 * eps)
        g = got[name].reshape(-1)
        assert np.abs(fd).max() > 1e-4, f"{name}: vanishing reference gradient"
        np.testing.assert_allclose(
            g, fd, rtol=1e-3, atol=1e-4, err_msg=f"gradient of {name}"
        )


MASK = np.array(
    [
        [True, True, True, False, False],  # right padded
        [False, False, True, True, True],  # left padded
        [False, False, False, False, False],  # fully masked
        [True, False, True, False, True],  # holes
    ]
)
GRAD_MASK = np.array([[True, True, True, False], [False, True, True, True]])


# ----------------------------------------------------------------------------
# LSTM family
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls, layer_opts, ref_opts", LSTM_CASES)
def test_lstm_forward(cls, layer_opts, ref_opts):
    model = lstm_model(cls, layer_opts, ref_opts, D, U)
    check_forward(model, D, seed=1)


@pytest.mark.parametrize("cls, layer_opts, ref_opts", LSTM_CASES)
def test_lstm_gradients(cls, layer_opts, ref_opts):
    model = lstm_model(cls, layer_opts, ref_opts, GD, GU)
    check_gradients(model, GD, seed=3)


MASKED_LSTM = [
    "plain",
    "peephole",
    "CIFG",
    "FGR_peephole",
    "ln_proj_peephole",
    "zoneout",
    "everything",
]


@pytest.mark.parametrize("variant", MASKED_LSTM)
def test_lstm_forward_masked(variant):
    opts = LSTM_VARIANTS[variant]
    model = lstm_model(keras_rnnx.layers.LSTM, opts, opts, D, U)
    seq, states = check_forward(
        model, D, seed=4, initial_states=(False,), mask=MASK, batch=MASK.shape[0]
    )
    # the fully masked row keeps its (zero) initial state and outputs zeros
    assert np.all(seq[2] == 0) and all(np.all(s[2] == 0) for s in states)


@pytest.mark.parametrize("variant", ["plain", "FGR_peephole", "everything"])
def test_lstm_forward_masked_right_padded_initial_state(variant):
    opts = LSTM_VARIANTS[variant]
    model = lstm_model(keras_rnnx.layers.LSTM, opts, opts, D, U)
    mask = np.array([[True] * 5, [True, True, True, False, False], [True] + [False] * 4])
    check_forward(model, D, seed=5, initial_states=(True,), mask=mask, batch=3)


@pytest.mark.parametrize("variant", ["plain", "FGR_peephole", "everything"])
def test_lstm_gradients_masked(variant):
    opts = LSTM_VARIANTS[variant]
    model = lstm_model(keras_rnnx.layers.LSTM, opts, opts, GD, GU)
    check_gradients(model, GD, seed=6, mask=GRAD_MASK)


@pytest.mark.parametrize("variant", ["cell_clip", "cell_clip_peephole"])
def test_cell_clip_is_active(variant):
    """The clip of the forward tests really bites (else they test nothing)."""
    opts = dict(LSTM_VARIANTS[variant])
    params = {
        k: v.astype("float64")
        for k, v in random_params(ref.lstm_param_shapes(D, units=U, **opts), 1).items()
    }
    x = np.random.RandomState(2).standard_normal((B, T, D))
    clipped, clipped_states = ref.lstm_forward(params, x, units=U, **opts)
    opts.pop("cell_clip")
    free, free_states = ref.lstm_forward(params, x, units=U, **opts)
    assert np.abs(clipped - free).max() > 1e-2
    assert np.abs(free_states[1]).max() > 0.5


def test_zoneout_is_active_at_inference():
    opts = LSTM_VARIANTS["zoneout"]
    params = {
        k: v.astype("float64")
        for k, v in random_params(ref.lstm_param_shapes(D, units=U, **opts), 1).items()
    }
    x = np.random.RandomState(2).standard_normal((B, T, D))
    with_zoneout, _ = ref.lstm_forward(params, x, units=U, **opts)
    without, _ = ref.lstm_forward(params, x, units=U)
    assert np.abs(with_zoneout - without).max() > 1e-2


def test_zoneout_training_differs_from_inference():
    """Training draws per-unit keep masks: h is either h' or the new h."""
    opts = dict(zoneout_hidden=0.5, zoneout_cell=0.5)
    model = lstm_model(keras_rnnx.layers.LSTM, opts, opts, D, U)
    params = random_params(model.shapes, 7)
    layer = build_layer(model, D, params)
    x = np.random.RandomState(8).standard_normal((B, 1, D)).astype("float32")
    h_train = as_numpy(layer(x, training=True)[1])
    # one step from zero state: kept units are exactly h' = 0, others the new h
    p64 = {k: v.astype("float64") for k, v in params.items()}
    _, new_states = ref.lstm_forward(p64, x.astype("float64"), units=U)
    h_new = new_states[0]
    kept = h_train == 0.0
    assert kept.any() and (~kept).any()
    np.testing.assert_allclose(h_train[~kept], h_new[~kept], rtol=RTOL, atol=ATOL)


# -- initialisation-only options ---------------------------------------------
def _bias_blocks(layer, gates, units):
    bias = as_numpy(layer.cell.bias)
    assert bias.shape == (len(gates) * units,)
    return {g: bias[k * units:(k + 1) * units] for k, g in enumerate(gates)}


def _build(layer):
    layer(np.zeros((1, 2, D), "float32"))
    return layer


@pytest.mark.parametrize(
    "opts, gates",
    [
        pytest.param({}, "ifco", id="plain"),
        pytest.param(dict(coupled=True), "fco", id="CIFG"),
        pytest.param(dict(input_gate=False), "fco", id="NIG"),
    ],
)
def test_chrono_init_bias(opts, gates):
    units, horizon = 256, 20
    layer = _build(keras_rnnx.layers.LSTM(units, chrono_init=horizon, **opts))
    blocks = _bias_blocks(layer, gates, units)
    b_f = blocks["f"]
    assert np.all(b_f >= -1e-6) and np.all(b_f <= np.log(horizon - 1) + 1e-6)
    # log of a uniform in [1, T-1]: spread over the range, not constant
    assert b_f.std() > 0.3 and b_f.max() > 0.8 * np.log(horizon - 1)
    u = np.exp(b_f)
    assert abs(u.mean() - horizon / 2) < 1.5  # E[U(1, 19)] = 10
    if "i" in blocks:
        np.testing.assert_allclose(blocks["i"], -b_f, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(blocks["c"], 0.0)
    np.testing.assert_array_equal(blocks["o"], 0.0)


@pytest.mark.parametrize(
    "opts, expected_f",
    [
        pytest.param({}, 1.0, id="unit_forget_bias_default"),
        pytest.param(dict(unit_forget_bias=False), 0.0, id="no_unit_forget_bias"),
        pytest.param(dict(forget_bias=2.5), 2.5, id="forget_bias_2.5"),
        pytest.param(dict(forget_bias=-1.0, unit_forget_bias=True), -1.0, id="forget_bias_wins"),
    ],
)
def test_forget_bias_init(opts, expected_f):
    units = 5
    layer = _build(keras_rnnx.layers.LSTM(units, **opts))
    blocks = _bias_blocks(layer, "ifco", units)
    np.testing.assert_array_equal(blocks["f"], np.float32(expected_f))
    for g in "ico":
        np.testing.assert_array_equal(blocks[g], 0.0)


def test_forget_bias_init_cifg_peephole():
    units = 5
    layer = _build(keras_rnnx.layers.LSTM(units, coupled=True, peephole=True, forget_bias=3.0))
    blocks = _bias_blocks(layer, "fco", units)
    np.testing.assert_array_equal(blocks["f"], 3.0)
    np.testing.assert_array_equal(blocks["c"], 0.0)
    np.testing.assert_array_equal(blocks["o"], 0.0)


# ----------------------------------------------------------------------------
# GRU and MUT
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind, arg, use_bias", OTHER_CASES)
def test_other_forward(kind, arg, use_bias):
    d = other_input_dim(kind, arg, D, U)
    model = other_model(kind, arg, use_bias, d, U)
    check_forward(model, d, seed=11)


@pytest.mark.parametrize("kind, arg, use_bias", OTHER_CASES)
def test_other_gradients(kind, arg, use_bias):
    d = other_input_dim(kind, arg, GD, GU)
    model = other_model(kind, arg, use_bias, d, GU)
    check_gradients(model, d, seed=13)


@pytest.mark.parametrize("kind, arg, use_bias", OTHER_CASES[:2] + OTHER_CASES[4:7])
def test_other_forward_masked(kind, arg, use_bias):
    d = other_input_dim(kind, arg, D, U)
    model = other_model(kind, arg, use_bias, d, U)
    seq, states = check_forward(
        model, d, seed=14, initial_states=(False,), mask=MASK, batch=MASK.shape[0]
    )
    assert np.all(seq[2] == 0) and np.all(states[0][2] == 0)


@pytest.mark.parametrize("kind, arg, use_bias", [OTHER_CASES[0], OTHER_CASES[6]])
def test_other_gradients_masked(kind, arg, use_bias):
    d = other_input_dim(kind, arg, GD, GU)
    model = other_model(kind, arg, use_bias, d, GU)
    check_gradients(model, d, seed=15, mask=GRAD_MASK)


def test_gru_reset_modes_differ():
    """The two reset modes are different functions (so both tests matter)."""
    params = {
        k: v.astype("float64")
        for k, v in random_params(ref.gru_param_shapes(D, U, True), 1).items()
    }
    before = dict(params, bias=params["bias"][0] + params["bias"][1])
    x = np.random.RandomState(2).standard_normal((B, T, D))
    after_seq, _ = ref.gru_forward(params, x, U, reset_after=True)
    before_seq, _ = ref.gru_forward(before, x, U, reset_after=False)
    assert np.abs(after_seq - before_seq).max() > 1e-3


def test_mut_input_dim_check():
    with pytest.raises(ValueError):
        keras_rnnx.layers.MUT1(4)(np.zeros((1, 2, 3), "float32"))
    with pytest.raises(ValueError):
        keras_rnnx.layers.MUT2(4)(np.zeros((1, 2, 3), "float32"))
    # MUT3 has no bare x term
    keras_rnnx.layers.MUT3(4)(np.zeros((1, 2, 3), "float32"))


def test_reference_is_independent_of_keras():
    """The reference shares no code with the package: it imports only NumPy."""
    import ast

    tree = ast.parse(open(ref.__file__).read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"numpy"}
