"""cuDNN dispatch of `LSTM` / `GRU` (`keras_rnnx.layers.cudnn`).

No GPU here, so the tests cover the choice logic and the CPU path:

* `cudnn_incompatibilities` for every LSTM option and both GRU modes;
* ``use_cudnn`` values, the construction errors (every reason named) and the
  call-time error of ``use_cudnn=True`` where cuDNN cannot run;
* ``"auto"`` gives exactly the outputs of ``use_cudnn=False`` off-GPU;
* on TensorFlow, with the GPU check and Keras' fused function replaced by a
  fake (which computes cuDNN's output contract with Keras' own layer), an
  eligible layer calls the fused function with the right arguments and
  matches the keras-rnnx loop, masks included;
* ``use_cudnn`` survives config round-trips.
"""

import doctest
import inspect

import keras
import numpy as np
import pytest

from keras_rnnx import layers
from keras_rnnx.layers import cudnn
from keras_rnnx.layers.base import cell_argument_names
from keras_rnnx.ops import keras_internals

B, T, D, U = 3, 6, 4, 5

RIGHT_PADDED = np.array(
    [[True] * T, [True, True, True, True, False, False], [True, False, False, False, False, False]]
)
LEFT_PADDED = np.array(
    [[True] * T, [False, False, True, True, True, True], [True, True, True, True, True, True]]
)
FULLY_MASKED_ROW = np.array([[True] * T, [True] * 3 + [False] * 3, [False] * T])

tf_only = pytest.mark.tf_only
# Configuration logic, the same on every backend: run once, on TensorFlow.
backend_independent = pytest.mark.tf_only


def _np(value):
    return keras.ops.convert_to_numpy(value)


def _x(seed=0):
    return np.random.RandomState(seed).standard_normal((B, T, D)).astype("float32")


def _states(kind, seed=5):
    rng = np.random.RandomState(seed)
    return [
        (0.5 * rng.standard_normal((B, U))).astype("float32")
        for _ in range(2 if kind == "lstm" else 1)
    ]


def _pair(layer_class, **kwargs):
    """Two built layers with the same weights: ``use_cudnn="auto"`` and False."""
    auto = layer_class(U, use_cudnn=kwargs.pop("use_cudnn", "auto"), **kwargs)
    own = layer_class(U, use_cudnn=False, **kwargs)
    auto.build((None, T, D))
    own.build((None, T, D))
    rng = np.random.RandomState(1)
    weights = [(0.5 * rng.standard_normal(w.shape)).astype("float32") for w in auto.get_weights()]
    auto.set_weights(weights)
    own.set_weights(weights)
    return auto, own


def _outputs(layer, x, **call_kwargs):
    out = layer(x, **call_kwargs)
    return [_np(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


# ---------------------------------------------------------------------------
# Eligibility: one pure function.

LSTM_INELIGIBLE = [
    ({"peephole": True}, "peephole=True: cuDNN's LSTM has no peephole"),
    ({"input_gate": False}, "input_gate=False"),
    ({"forget_gate": False}, "forget_gate=False"),
    ({"output_gate": False}, "output_gate=False"),
    ({"input_activation": False}, "input_activation=False"),
    ({"output_activation": False}, "output_activation=False"),
    ({"coupled": True}, "coupled=True"),
    ({"full_gate_recurrence": True}, "full_gate_recurrence=True"),
    ({"cell_clip": 3.0}, "cell_clip=3.0"),
    ({"layer_norm": True}, "layer_norm=True"),
    ({"proj_units": 3}, "proj_units=3"),
    ({"zoneout_hidden": 0.1}, "zoneout_hidden=0.1"),
    ({"zoneout_cell": 0.2}, "zoneout_cell=0.2"),
    ({"activation": "relu"}, "activation='relu' (cuDNN uses tanh)"),
    ({"recurrent_activation": "hard_sigmoid"}, "recurrent_activation='hard_sigmoid'"),
    ({"use_bias": False}, "use_bias=False"),
    ({"recurrent_dropout": 0.2}, "recurrent_dropout=0.2 > 0"),
    ({"unroll": True}, "unroll=True"),
]

LSTM_ELIGIBLE = [
    {},
    {"unit_forget_bias": False},
    {"forget_bias": 2.0},
    {"chrono_init": 50},
    {"dropout": 0.3, "seed": 2},
    {"activation": "tanh", "recurrent_activation": "sigmoid"},
    {"kernel_initializer": "ones", "bias_regularizer": "l2"},
    {"go_backwards": True, "stateful": True, "return_state": True},
    {"zero_output_for_mask": True, "return_sequences": True},
]

GRU_CASES = [
    ({}, None),
    ({"reset_after": True}, None),
    ({"reset_after": False}, "reset_after=False: cuDNN's GRU applies the reset gate after"),
    ({"activation": "relu"}, "activation='relu'"),
    ({"use_bias": False}, "use_bias=False"),
    ({"recurrent_dropout": 0.1}, "recurrent_dropout=0.1 > 0"),
    ({"unroll": True}, "unroll=True"),
    ({"dropout": 0.4}, None),
]


def _ids(cases):
    return ["-".join(f"{k}={v}" for k, v in kw.items()) or "default" for kw, _ in cases]


@backend_independent
@pytest.mark.parametrize("kwargs, reason", LSTM_INELIGIBLE, ids=_ids(LSTM_INELIGIBLE))
def test_lstm_option_is_ineligible(kwargs, reason):
    reasons = cudnn.cudnn_incompatibilities("lstm", {"units": U, **kwargs})
    assert len(reasons) == 1, reasons
    assert reason in reasons[0]


@backend_independent
@pytest.mark.parametrize("kwargs", LSTM_ELIGIBLE, ids=[str(k) for k in LSTM_ELIGIBLE])
def test_lstm_option_is_eligible(kwargs):
    assert cudnn.cudnn_incompatibilities("lstm", kwargs) == []
    layer = layers.LSTM(U, use_cudnn=True, **kwargs)
    assert layer.cudnn_incompatibilities == ()


@backend_independent
@pytest.mark.parametrize("kwargs, reason", GRU_CASES, ids=_ids(GRU_CASES))
def test_gru_modes(kwargs, reason):
    reasons = cudnn.cudnn_incompatibilities("gru", kwargs)
    if reason is None:
        assert reasons == []
        assert layers.GRU(U, use_cudnn=True, **kwargs).cudnn_incompatibilities == ()
    else:
        assert len(reasons) == 1 and reason in reasons[0], reasons


@backend_independent
def test_activation_functions_count_like_their_names():
    config = {"activation": keras.ops.tanh, "recurrent_activation": keras.activations.sigmoid}
    assert cudnn.cudnn_incompatibilities("lstm", config) == []
    reasons = cudnn.cudnn_incompatibilities("gru", {"activation": keras.activations.relu})
    assert reasons == ["activation='relu' (cuDNN uses tanh)"]


@backend_independent
def test_layer_config_is_read_like_keyword_arguments():
    """`get_config` output (serialised activations, every key) works as input."""
    assert cudnn.cudnn_incompatibilities("lstm", layers.LSTM(U).get_config()) == []
    config = layers.LSTM(U, peephole=True, layer_norm=True).get_config()
    assert len(cudnn.cudnn_incompatibilities("lstm", config)) == 2
    config = layers.GRU(U, reset_after=False).get_config()
    assert len(cudnn.cudnn_incompatibilities("gru", config)) == 1


@backend_independent
@pytest.mark.parametrize("kind, cell_class", [("lstm", layers.LSTMCell), ("gru", layers.GRUCell)])
def test_every_argument_is_classified(kind, cell_class):
    """A new cell option must be declared maths-free or checked (no silent cuDNN)."""
    rnn_arguments = [
        name
        for name in inspect.signature(keras.layers.RNN.__init__).parameters
        if name not in ("self", "cell", "kwargs")
    ]
    known = cudnn.MATHS_FREE_ARGUMENTS | cudnn.checked_arguments(kind)
    missing = set(cell_argument_names(cell_class)) | set(rnn_arguments)
    assert missing - known == set()


@backend_independent
def test_unknown_kind():
    with pytest.raises(ValueError, match="`kind`"):
        cudnn.cudnn_incompatibilities("rnn", {})


@backend_independent
def test_module_docstring_example():
    result = doctest.testmod(cudnn)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------
# Construction.


@backend_independent
@pytest.mark.parametrize("kwargs, reason", LSTM_INELIGIBLE, ids=_ids(LSTM_INELIGIBLE))
def test_use_cudnn_true_on_ineligible_lstm_names_the_option(kwargs, reason):
    key = next(iter(kwargs))
    with pytest.raises(ValueError) as info:
        layers.LSTM(U, use_cudnn=True, **kwargs)
    message = str(info.value)
    assert f"{key}=" in message and reason in message
    assert "use_cudnn='auto'" in message and "use_cudnn=False" in message
    # "auto" accepts the option and records why it takes the keras-rnnx loop.
    layer = layers.LSTM(U, **kwargs)
    assert layer.use_cudnn == "auto"
    assert any(reason in r for r in layer.cudnn_incompatibilities)


@backend_independent
def test_use_cudnn_true_names_every_reason():
    with pytest.raises(ValueError) as info:
        layers.LSTM(U, use_cudnn=True, peephole=True, layer_norm=True, recurrent_dropout=0.1)
    message = str(info.value)
    for key in ("peephole=True", "layer_norm=True", "recurrent_dropout=0.1"):
        assert key in message


@pytest.mark.parametrize(
    "layer_class, key",
    [(layers.PeepholeLSTM, "peephole=True"), (layers.CIFGLSTM, "coupled=True")],
)
@backend_independent
def test_subclasses_are_checked_like_any_option(layer_class, key):
    with pytest.raises(ValueError, match=key):
        layer_class(U, use_cudnn=True)
    layer = layer_class(U)
    assert layer.use_cudnn == "auto"
    assert len(layer.cudnn_incompatibilities) == 1


@backend_independent
def test_gru_reset_before_with_use_cudnn_true():
    with pytest.raises(ValueError, match="reset_after=False.*use_cudnn='auto'"):
        layers.GRU(U, reset_after=False, use_cudnn=True)


@backend_independent
@pytest.mark.parametrize("value", ["yes", "AUTO", None, 1, 0, "true"])
@pytest.mark.parametrize("layer_class", [layers.LSTM, layers.GRU, layers.CIFGLSTM])
def test_bad_use_cudnn_values(layer_class, value):
    with pytest.raises(ValueError, match=r"`use_cudnn` must be one of 'auto', True or False"):
        layer_class(U, use_cudnn=value)


@backend_independent
def test_use_cudnn_is_a_layer_argument_not_a_cell_argument():
    assert "use_cudnn" not in cell_argument_names(layers.LSTMCell)
    assert "use_cudnn" not in layers.LSTM(U).cell.get_config()
    with pytest.raises((TypeError, ValueError), match="use_cudnn"):
        layers.LSTMCell(U, use_cudnn=True)
    # The cell alone still works in keras.layers.RNN.
    out = keras.layers.RNN(layers.LSTMCell(U))(_x())
    assert tuple(out.shape) == (B, U)


def test_no_jit_opt_out_off_gpu():
    """Without a GPU nothing changes for XLA."""
    assert layers.LSTM(U).supports_jit
    assert layers.GRU(U, use_cudnn=True).supports_jit


# ---------------------------------------------------------------------------
# Off-GPU: "auto" is the keras-rnnx loop, exactly.

AUTO_CALLS = [
    pytest.param({}, {}, id="plain"),
    pytest.param({"return_sequences": True, "return_state": True}, {}, id="sequences_states"),
    pytest.param({"return_sequences": True, "go_backwards": True}, {}, id="go_backwards"),
    pytest.param({"return_sequences": True}, {"mask": RIGHT_PADDED}, id="right_padded"),
    pytest.param({"return_sequences": True}, {"mask": LEFT_PADDED}, id="left_padded"),
    pytest.param({"return_state": True}, {"initial_state": True}, id="initial_state"),
    pytest.param(
        {"return_sequences": True, "dropout": 0.3, "seed": 4},
        {"training": True},
        id="dropout_training",
    ),
]


@pytest.mark.parametrize("layer_kwargs, call_kwargs", AUTO_CALLS)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_auto_equals_own_loop_off_gpu(kind, layer_kwargs, call_kwargs):
    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    auto, own = _pair(layer_class, **layer_kwargs)
    call_kwargs = dict(call_kwargs)
    if call_kwargs.pop("initial_state", False):
        call_kwargs["initial_state"] = _states(kind)
    x = _x()
    for a, b in zip(_outputs(auto, x, **call_kwargs), _outputs(own, x, **call_kwargs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_auto_equals_own_loop_in_a_compiled_model(kind):
    """The traced path (with a mask: the run-time choice) off-GPU."""
    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    auto, own = _pair(layer_class, return_sequences=True)
    x = _x()
    x[1, 4:] = 0.0
    x[2, :2] = 0.0
    results = []
    for layer in (auto, own):
        model = keras.Sequential([keras.Input((T, D)), keras.layers.Masking(), layer])
        results.append(model.predict(x, verbose=0))
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_use_cudnn_true_raises_at_call_off_gpu(kind):
    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    layer = layer_class(U, use_cudnn=True)
    backend = keras.backend.backend()
    expected = f"no GPU is visible to {backend}"
    if backend == "jax" and kind == "gru":
        expected = "cuDNN kernel for the LSTM only"
    with pytest.raises(ValueError) as info:
        layer(_x())
    message = str(info.value)
    assert "use_cudnn=True" in message and expected in message
    assert "use_cudnn='auto'" in message


# ---------------------------------------------------------------------------
# The dispatch, with a fake fused function (TensorFlow).


class FakeFused:
    """Stands for Keras' `backend.lstm` / `backend.gru` on a GPU.

    Records each call and returns cuDNN's output contract, computed by
    Keras' own layer from the weights it receives (differentiably, through
    `stateless_call`): outputs are zeros at
    padded steps (right-padded masks), the last output is the final state,
    and without ``return_sequences`` the outputs are the last output alone.
    """

    def __init__(self, kind, go_backwards=False):
        keras_class = keras.layers.LSTM if kind == "lstm" else keras.layers.GRU
        self.n_states = 2 if kind == "lstm" else 1
        self.reference = keras_class(
            U,
            return_sequences=True,
            return_state=True,
            go_backwards=go_backwards,
            zero_output_for_mask=True,
            use_cudnn=False,
        )
        self.reference.build((None, T, D))
        self.calls = []

    def __call__(self, inputs, *args, **kwargs):
        states, mask = list(args[: self.n_states]), args[self.n_states]
        self.calls.append({"inputs": inputs, "mask": mask, **kwargs})
        weights = [kwargs["kernel"], kwargs["recurrent_kernel"], kwargs["bias"]]
        seed_state = [v.value for v in self.reference.non_trainable_variables]
        (sequence, *final), _ = self.reference.stateless_call(
            weights, seed_state, inputs, initial_state=states, mask=mask
        )
        last = final[0]
        outputs = sequence if kwargs["return_sequences"] else keras.ops.expand_dims(last, 1)
        return last, outputs, final


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend a GPU is visible; ``install(kind)`` replaces the fused function."""
    monkeypatch.setattr(cudnn, "_gpu_available", lambda: True)

    def install(kind, **kwargs):
        fake = FakeFused(kind, **kwargs)
        monkeypatch.setattr(keras_internals, f"backend_{kind}", fake)
        return fake

    return install


DISPATCH_CALLS = [
    pytest.param({}, {}, id="last_output"),
    pytest.param({"return_sequences": True, "return_state": True}, {}, id="sequences_states"),
    pytest.param({"return_sequences": True, "go_backwards": True}, {}, id="go_backwards"),
    pytest.param({"return_state": True}, {"initial_state": True}, id="initial_state"),
    pytest.param({"return_sequences": True}, {"mask": RIGHT_PADDED}, id="mask_carried"),
    pytest.param(
        {"return_sequences": True, "zero_output_for_mask": True},
        {"mask": RIGHT_PADDED},
        id="mask_zero_output",
    ),
    pytest.param(
        {"zero_output_for_mask": True, "return_state": True},
        {"mask": RIGHT_PADDED},
        id="mask_zero_output_last",
    ),
    pytest.param(
        {"return_sequences": True, "go_backwards": True},
        {"mask": RIGHT_PADDED, "initial_state": True},
        id="mask_go_backwards",
    ),
]


@tf_only
@pytest.mark.parametrize("layer_kwargs, call_kwargs", DISPATCH_CALLS)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_eligible_layer_dispatches_to_the_fused_function(
    fake_gpu, kind, layer_kwargs, call_kwargs
):
    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    fake = fake_gpu(kind, go_backwards=layer_kwargs.get("go_backwards", False))
    auto, own = _pair(layer_class, **layer_kwargs)
    assert auto.supports_jit and own.supports_jit  # XLA stays on (see below)
    call_kwargs = dict(call_kwargs)
    if call_kwargs.pop("initial_state", False):
        call_kwargs["initial_state"] = _states(kind)
    x = _x()
    got = _outputs(auto, x, **call_kwargs)
    assert len(fake.calls) == 1
    call = fake.calls[0]
    np.testing.assert_array_equal(_np(call["inputs"]), x)
    np.testing.assert_array_equal(_np(call["kernel"]), _np(auto.cell.kernel))
    assert call["activation"] is keras.activations.tanh
    assert call["recurrent_activation"] is keras.activations.sigmoid
    assert call["return_sequences"] == layer_kwargs.get("return_sequences", False)
    assert call["go_backwards"] == layer_kwargs.get("go_backwards", False)
    assert call["unroll"] is False
    if kind == "gru":
        assert call["reset_after"] is True
    want = _outputs(own, x, **call_kwargs)
    assert len(fake.calls) == 1  # use_cudnn=False never calls it
    for k, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"output {k}")


@tf_only
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_dropout_is_applied_before_the_fused_call(fake_gpu, kind):
    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    fake = fake_gpu(kind)
    auto, own = _pair(layer_class, dropout=0.5, seed=7, return_sequences=True)
    x = _x() + 3.0  # no zeros, so the ratio shows the mask
    got = _outputs(auto, x, training=True)
    ratio = _np(fake.calls[0]["inputs"]) / x
    assert set(np.unique(np.round(ratio, 5))) <= {0.0, 2.0}
    np.testing.assert_array_equal(ratio, np.repeat(ratio[:, :1], T, axis=1))
    want = _outputs(own, x, training=True)  # same seed: same mask
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    # Inference: no mask on the inputs.
    _outputs(auto, x)
    np.testing.assert_array_equal(_np(fake.calls[-1]["inputs"]), x)


@tf_only
@pytest.mark.parametrize("mask", [LEFT_PADDED, FULLY_MASKED_ROW], ids=["left_padded", "empty_row"])
def test_unsupported_mask_runs_own_loop_or_raises(fake_gpu, mask):
    fake = fake_gpu("lstm")
    auto, own = _pair(layers.LSTM, return_sequences=True)
    x = _x()
    np.testing.assert_array_equal(_outputs(auto, x, mask=mask)[0], _outputs(own, x, mask=mask)[0])
    assert fake.calls == []
    forced = layers.LSTM(U, use_cudnn=True)
    with pytest.raises(ValueError, match="use_cudnn=True.*right-padded mask"):
        forced(x, mask=mask)


@tf_only
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_traced_mask_is_checked_at_run_time(fake_gpu, kind):
    """In a `tf.function` the mask decides per batch: cuDNN or the own loop."""
    import tensorflow as tf

    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    fake = fake_gpu(kind)
    auto, own = _pair(layer_class, return_sequences=True, return_state=True)
    run = tf.function(lambda x, mask: auto(x, mask=mask))
    x = _x()
    for mask in (RIGHT_PADDED, LEFT_PADDED, FULLY_MASKED_ROW):
        got = [_np(o) for o in run(x, tf.constant(mask))]
        want = _outputs(own, x, mask=mask)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert len(fake.calls) == 1  # traced once, inside the cuDNN branch


@tf_only
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fused_function_unavailable(monkeypatch, kind):
    """NotImplementedError from Keras: "auto" falls back, True raises like Keras."""
    monkeypatch.setattr(cudnn, "_gpu_available", lambda: True)

    def unavailable(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(keras_internals, f"backend_{kind}", unavailable)
    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    auto, own = _pair(layer_class)
    x = _x()
    np.testing.assert_array_equal(_outputs(auto, x)[0], _outputs(own, x)[0])
    with pytest.raises(ValueError, match="use_cudnn=True was specified.*no cuDNN kernel"):
        layer_class(U, use_cudnn=True)(x)


@tf_only
def test_ineligible_and_disabled_layers_never_call_it(fake_gpu):
    fake = fake_gpu("lstm")
    fake_gpu_gru = fake_gpu("gru")
    x = _x()
    for layer in (
        layers.LSTM(U, use_cudnn=False),
        layers.PeepholeLSTM(U),
        layers.LSTM(U, recurrent_dropout=0.2),
        layers.GRU(U, reset_after=False),
        layers.GRU(U, use_cudnn=False),
    ):
        layer(x, training=True)
        assert layer.supports_jit
    assert fake.calls == [] and fake_gpu_gru.calls == []


@tf_only
def test_bfloat16_runs_own_loop(fake_gpu):
    """cuDNN takes float16/32/64: a bfloat16 layer keeps the XLA loop."""
    fake = fake_gpu("lstm")
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = layers.LSTM(U)
    assert layer.supports_jit
    layer(_x())
    assert fake.calls == [] and layer.supports_jit
    with pytest.raises(ValueError, match="do not take bfloat16"):
        layers.LSTM(U, use_cudnn=True)(_x())


@tf_only
def test_fused_layer_trains(fake_gpu):
    """Gradients flow through the dispatch (here through the fake)."""
    fake = fake_gpu("lstm")
    lstm = layers.LSTM(U)
    model = keras.Sequential([keras.Input((T, D)), lstm, keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    before = [np.array(w) for w in model.get_weights()]
    model.fit(_x(), np.ones((B, 1), "float32"), epochs=1, verbose=0)
    assert fake.calls
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    assert lstm.supports_jit


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX dispatch rules")
@pytest.mark.parametrize("go_backwards", [False, True])
def test_jax_dispatches_the_unmasked_lstm_only(fake_gpu, monkeypatch, go_backwards):
    # Keras' JAX `backend.lstm` returns go_backwards sequences in input order;
    # the layer puts them back in processing order, as its own loop has them.
    fake = fake_gpu("lstm", go_backwards=go_backwards)
    original = fake.__call__

    def jax_contract(inputs, *args, **kwargs):
        last, outputs, final = original(inputs, *args, **kwargs)
        if kwargs["go_backwards"] and kwargs["return_sequences"]:
            outputs = keras.ops.flip(outputs, axis=1)
        return last, outputs, final

    monkeypatch.setattr(keras_internals, "backend_lstm", jax_contract)
    auto, own = _pair(layers.LSTM, return_sequences=True, go_backwards=go_backwards)
    x = _x()
    got, want = _outputs(auto, x), _outputs(own, x)
    assert len(fake.calls) == 1
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    masked = _outputs(auto, x, mask=RIGHT_PADDED)  # no mask on JAX's cuDNN LSTM
    assert len(fake.calls) == 1
    for a, b in zip(masked, _outputs(own, x, mask=RIGHT_PADDED)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    gru_fake = fake_gpu("gru")
    _outputs(layers.GRU(U), x)
    assert gru_fake.calls == []


@tf_only
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_xla_compiled_model_keeps_jit_and_takes_the_xla_path(fake_gpu, kind):
    """jit_compile=True stays on; the compiled call runs the keras-rnnx loop."""
    fake = fake_gpu(kind)
    layer_class = layers.LSTM if kind == "lstm" else layers.GRU
    model = keras.Sequential([keras.Input((T, D)), layer_class(U), keras.layers.Dense(1)])
    model.compile("sgd", "mse", jit_compile=True)
    model.fit(_x(), np.ones((B, 1), "float32"), epochs=1, verbose=0)
    assert model.jit_compile is True
    assert fake.calls == []
    forced = keras.Sequential(
        [keras.Input((T, D)), layer_class(U, use_cudnn=True), keras.layers.Dense(1)]
    )
    forced.compile("sgd", "mse", jit_compile=True)
    with pytest.raises(ValueError, match="XLA"):
        forced.fit(_x(), np.ones((B, 1), "float32"), epochs=1, verbose=0)


# ---------------------------------------------------------------------------
# Config.


@pytest.mark.parametrize("value", ["auto", True, False])
@pytest.mark.parametrize("layer_class", [layers.LSTM, layers.GRU])
def test_config_round_trip(layer_class, value):
    layer = layer_class(U, use_cudnn=value, return_sequences=True)
    config = layer.get_config()
    assert config["use_cudnn"] == value
    clone = layer_class.from_config(config)
    assert clone.use_cudnn == value
    assert clone.get_config() == {**config, "name": clone.name}
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_class and restored.use_cudnn == value


def test_config_round_trip_in_bidirectional():
    wrapper = keras.layers.Bidirectional(layers.LSTM(U, use_cudnn=False))
    clone = keras.layers.Bidirectional.from_config(wrapper.get_config())
    assert clone.forward_layer.use_cudnn is False
    assert clone.backward_layer.use_cudnn is False
    assert tuple(clone(_x()).shape) == (B, 2 * U)
