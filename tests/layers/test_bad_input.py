"""Bad input gets a ValueError that names the argument and the fix."""

import keras
import numpy as np
import pytest

from keras_rnnx import layers

# Argument checks do not depend on the backend.
pytestmark = pytest.mark.one_backend


def _x(*shape):
    return np.zeros(shape, "float32")


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5)])
def test_wrong_rank(shape):
    layer = layers.LSTM(4)
    with pytest.raises(ValueError, match=r"rank 3 \(batch, timesteps, features\)"):
        layer(_x(*shape))


def test_wrong_rank_after_build():
    layer = layers.GRU(4)
    layer(_x(2, 3, 5))
    with pytest.raises(ValueError, match="rank 3"):
        layer(_x(2, 5))


def test_feature_size_differs_from_built():
    layer = layers.PeepholeLSTM(4)
    layer(_x(2, 3, 5))
    with pytest.raises(ValueError, match="built for inputs with 5 features.*Feed inputs with 5"):
        layer(_x(2, 3, 6))


def test_unknown_feature_size():
    layer = layers.LSTM(4)
    with pytest.raises(ValueError, match="known number of input features"):
        layer(keras.KerasTensor((None, 3, None)))


def test_wrong_number_of_initial_states():
    layer = layers.LSTM(4)
    with pytest.raises(ValueError, match=r"takes 2 initial state tensor\(s\).*received 1"):
        layer(_x(2, 3, 5), initial_state=[_x(2, 4)])


def test_fgr_needs_three_initial_states():
    layer = layers.LSTM(4, full_gate_recurrence=True)
    with pytest.raises(ValueError, match=r"takes 3 initial state.*\(batch, 12\)"):
        layer(_x(2, 3, 5), initial_state=[_x(2, 4), _x(2, 4)])


def test_initial_state_wrong_width():
    layer = layers.LSTM(4, proj_units=2)
    with pytest.raises(ValueError, match=r"initial_state\[0\] must have shape \(batch_size=2, 2\)"):
        layer(_x(2, 3, 5), initial_state=[_x(2, 4), _x(2, 4)])


def test_initial_state_wrong_batch():
    layer = layers.GRU(4)
    with pytest.raises(ValueError, match=r"initial_state\[0\] must have shape \(batch_size=2, 4\)"):
        layer(_x(2, 3, 5), initial_state=[_x(3, 4)])


@pytest.mark.parametrize("gate", ["input_gate", "forget_gate"])
def test_coupled_needs_both_gates(gate):
    with pytest.raises(ValueError, match=f"coupled=True.*{gate}=False.*Set input_gate=True"):
        layers.LSTM(4, coupled=True, **{gate: False})
    with pytest.raises(ValueError, match="coupled"):
        layers.CIFGLSTM(4, **{gate: False})


@pytest.mark.parametrize("layer_class", [layers.MUT1, layers.MUT2])
def test_mut1_mut2_need_input_size_equal_units(layer_class):
    layer = layer_class(4)
    with pytest.raises(ValueError, match="input size must equal `units`.*received input size 3 and units=4.*Dense"):
        layer(_x(2, 3, 3))


def test_mut3_accepts_any_input_size():
    assert layers.MUT3(4)(_x(2, 3, 3)).shape == (2, 4)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"units": 0}, "`units` must be an int >= 1.*Pass e.g. units=64"),
        ({"units": 2.5}, "`units` must be an int >= 1"),
        ({"units": 4, "dropout": 1.5},
         r"`dropout` must be a finite float >= 0.0 and < 1.0.*dropout=0.1"),
        ({"units": 4, "recurrent_dropout": -0.1}, "`recurrent_dropout`"),
        ({"units": 4, "zoneout_cell": 1.0}, "`zoneout_cell`"),
        ({"units": 4, "cell_clip": -1.0}, "`cell_clip` must be a finite float > 0"),
        ({"units": 4, "proj_units": 0}, "`proj_units` must be an int >= 1"),
        ({"units": 4, "chrono_init": 1}, "`chrono_init`.*int >= 3"),
        ({"units": 4, "chrono_init": 10, "forget_bias": 1.0}, "Pass only one"),
        ({"units": 4, "forget_gate": False, "forget_bias": 1.0}, "forget_gate=False"),
        (
            {"units": 4, "input_gate": False, "forget_gate": False, "output_gate": False,
             "full_gate_recurrence": True},
            "full_gate_recurrence=True.*has none",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs, pattern):
    units = kwargs.pop("units")
    with pytest.raises(ValueError, match=pattern):
        layers.LSTM(units, **kwargs)


def test_unknown_keyword_is_rejected():
    with pytest.raises((TypeError, ValueError), match="peepholes"):
        layers.LSTM(4, peepholes=True)


# ----------------------------------------------------------------------------
# Every constructor argument is checked: bools are bools, numbers are finite
# numbers of the right type in range, sizes are bounded (keras_rnnx.validation;
# bounds in keras_rnnx.layers.base).
# ----------------------------------------------------------------------------
# (class, the arguments it needs) for every public layer and cell.
PUBLIC_CLASSES = [
    (layers.LSTM, {}),
    (layers.PeepholeLSTM, {}),
    (layers.CIFGLSTM, {}),
    (layers.GRU, {}),
    (layers.MUT1, {}),
    (layers.MUT2, {}),
    (layers.MUT3, {}),
    (layers.ClockworkRNN, {"num_modules": 2}),
    (layers.GridLSTM2D, {}),
    (layers.DepthGatedLSTM, {}),
    (layers.GridLSTM1D, {"depth": 2}),
    (layers.LSTMCell, {}),
    (layers.PeepholeLSTMCell, {}),
    (layers.CIFGLSTMCell, {}),
    (layers.GRUCell, {}),
    (layers.MUT1Cell, {}),
    (layers.MUT2Cell, {}),
    (layers.MUT3Cell, {}),
    (layers.ClockworkRNNCell, {"num_modules": 2}),
    (layers.GridLSTM2DCell, {}),
    (layers.DepthGatedLSTMCell, {}),
]
_LSTM_FLAGS = {
    "peephole", "input_gate", "forget_gate", "output_gate", "input_activation",
    "output_activation", "coupled", "full_gate_recurrence", "unit_forget_bias",
    "layer_norm", "use_bias",
}
_RNN_FLAGS = {"return_sequences", "return_state", "go_backwards", "stateful", "unroll",
              "zero_output_for_mask"}
# Written out, so that an argument the introspection below misses is noticed.
BOOL_ARGUMENTS = {
    "LSTMCell": _LSTM_FLAGS,
    "PeepholeLSTMCell": _LSTM_FLAGS,
    "CIFGLSTMCell": _LSTM_FLAGS,
    "GRUCell": {"reset_after", "use_bias"},
    "MUT1Cell": {"use_bias"},
    "MUT2Cell": {"use_bias"},
    "MUT3Cell": {"use_bias"},
    "ClockworkRNNCell": {"use_bias"},
    "GridLSTM2DCell": {"unit_forget_bias", "use_bias"},
    "DepthGatedLSTMCell": {"return_all_layers", "unit_forget_bias", "use_bias"},
    "GridLSTM1D": {"tied", "project_input", "use_bias", "unit_forget_bias"},
}
for _layer, _cell in [("LSTM", "LSTMCell"), ("PeepholeLSTM", "PeepholeLSTMCell"),
                      ("CIFGLSTM", "CIFGLSTMCell"), ("GRU", "GRUCell"), ("MUT1", "MUT1Cell"),
                      ("MUT2", "MUT2Cell"), ("MUT3", "MUT3Cell"),
                      ("ClockworkRNN", "ClockworkRNNCell"), ("GridLSTM2D", "GridLSTM2DCell"),
                      ("DepthGatedLSTM", "DepthGatedLSTMCell")]:
    BOOL_ARGUMENTS[_layer] = BOOL_ARGUMENTS[_cell] | _RNN_FLAGS


def _constructor_defaults(cls):
    """Every named constructor argument of ``cls`` (and its cell) with its default."""
    import inspect

    from keras_rnnx.layers.base import RecurrentLayer

    defaults = {}
    classes = list(cls.__mro__)
    if issubclass(cls, RecurrentLayer):
        classes += list(cls.cell_class.__mro__)
        defaults["zero_output_for_mask"] = False  # keras.layers.RNN's, via **kwargs
    for klass in classes:
        if klass.__module__.startswith("keras_rnnx") and "__init__" in vars(klass):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.default is not p.empty:
                    defaults.setdefault(p.name, p.default)
    return defaults


@pytest.mark.parametrize(
    "cls, required", [pytest.param(c, r, id=c.__name__) for c, r in PUBLIC_CLASSES]
)
def test_boolean_arguments_refuse_non_bools(cls, required):
    defaults = _constructor_defaults(cls)
    found = {k for k, v in defaults.items() if isinstance(v, bool)}
    found.discard("use_cudnn")  # 'auto', True or False: checked by its own test
    assert found == BOOL_ARGUMENTS[cls.__name__]
    for name in sorted(found):
        # "false" is truthy: it used to build e.g. a coupled LSTM for coupled="false".
        for bad in ("false", "True", "yes", 1, 0, 1.5, None, [True], np.float32(1)):
            pattern = rf"Argument `{name}` must be a bool \(True or False\)"
            with pytest.raises(ValueError, match=pattern):
                cls(4, **{**required, name: bad})
        # Python and NumPy bools are taken, as Python bools.
        value = cls(4, **{**required, name: np.bool_(defaults[name])}).get_config()[name]
        assert value is defaults[name], (name, value)


def test_string_false_no_longer_builds_a_coupled_lstm():
    with pytest.raises(ValueError, match="`coupled`.*Received: coupled='false'"):
        layers.LSTM(4, coupled="false")
    with pytest.raises(ValueError, match="`peephole`"):
        layers.LSTM(4, peephole="yes")
    with pytest.raises(ValueError, match="`peephole`"):
        layers.LSTM(4, peephole=1.5)


_NAN, _INF = float("nan"), float("inf")
_RATE_BAD = [_NAN, _INF, -0.1, 1.0, "0.1", True, None, [0.1]]
_COUNT_BAD = [0, -1, 2.0, True, "2", None, _NAN]
_ALL_RECURRENT = [c for c, _ in PUBLIC_CLASSES if c.__name__ != "GridLSTM1D"]
_LSTM_CLASSES = [layers.LSTM, layers.PeepholeLSTM, layers.CIFGLSTM, layers.LSTMCell]
_NUMERIC_CASES = [
    (_ALL_RECURRENT + [layers.GridLSTM1D], "units", [0, -4, 2.5, "4", True, None, _NAN, 2**20 + 1]),
    (_ALL_RECURRENT, "dropout", _RATE_BAD),
    (_ALL_RECURRENT, "recurrent_dropout", _RATE_BAD),
    (_ALL_RECURRENT, "seed", [-1, 1.5, "1", True, 2**32, _NAN]),
    (_LSTM_CLASSES, "zoneout_hidden", _RATE_BAD),
    (_LSTM_CLASSES, "zoneout_cell", _RATE_BAD),
    (_LSTM_CLASSES, "forget_bias", [_NAN, _INF, -_INF, "abc", "1.0", True, 101.0, -1e9, [1.0]]),
    (_LSTM_CLASSES, "cell_clip", [_NAN, _INF, 0, 0.0, -1.0, "1", True, [1.0]]),
    (_LSTM_CLASSES, "chrono_init", [2, 100.0, True, "100", _NAN, 2**31, -5]),
    (_LSTM_CLASSES, "proj_units", [0, -2, 2.0, True, "2", _NAN, 2**20 + 1]),
    ([layers.DepthGatedLSTM, layers.DepthGatedLSTMCell], "layer_dropout", _RATE_BAD),
    ([layers.DepthGatedLSTM, layers.DepthGatedLSTMCell], "num_layers", _COUNT_BAD + [1025]),
    ([layers.GridLSTM2D, layers.GridLSTM2DCell, layers.GridLSTM1D], "depth", _COUNT_BAD + [1025]),
    ([layers.ClockworkRNN, layers.ClockworkRNNCell], "num_modules",
     [0, -1, 2.0, True, "2", _NAN, 1025]),
    ([layers.ClockworkRNN, layers.ClockworkRNNCell], "periods",
     [[1, 2.0], [1, True], [1, _NAN], "1,2", [1, "2"], [1, None], 4, list(range(1, 1026))]),
]


@pytest.mark.parametrize(
    "classes, name, values", [pytest.param(*case, id=case[1]) for case in _NUMERIC_CASES]
)
def test_numeric_arguments_refuse_bad_values(classes, name, values):
    for cls in classes:
        required = {} if name == "periods" else dict(dict(PUBLIC_CLASSES)[cls])
        for bad in values:
            kwargs = {"units": 4, **required, name: bad}
            units = kwargs.pop("units")
            with pytest.raises(ValueError, match=rf"Argument `{name}`.*Received: {name}="):
                cls(units, **kwargs)


def test_forget_bias_nan_no_longer_gives_nan_outputs():
    pattern = r"`forget_bias` must be a finite float >= -100.0 and <= 100.0"
    with pytest.raises(ValueError, match=pattern):
        layers.LSTM(4, forget_bias=float("nan"))
    # A string gave a bare "could not convert string to float".
    with pytest.raises(ValueError, match=r"`forget_bias`.*Received: forget_bias='abc'"):
        layers.LSTM(4, forget_bias="abc")


def test_numpy_numbers_are_taken_as_python_numbers():
    layer = layers.LSTM(
        np.int64(4), forget_bias=np.float32(1.5), cell_clip=np.float64(2.0),
        dropout=np.float32(0.25), proj_units=np.int32(3), seed=np.int64(7),
        peephole=np.bool_(True),
    )
    config = layer.get_config()
    for key, expected in [("units", 4), ("forget_bias", 1.5), ("cell_clip", 2.0),
                          ("dropout", 0.25), ("proj_units", 3), ("seed", 7), ("peephole", True)]:
        assert config[key] == expected and type(config[key]) is type(expected), key
    cw = layers.ClockworkRNN(np.int64(4), periods=[np.int64(1), np.int64(3)])
    assert cw.get_config()["periods"] == [1, 3]
    assert all(type(p) is int for p in cw.get_config()["periods"])


_OBJECT_ARGUMENTS = [
    ("activation", "activation"),
    ("recurrent_activation", "activation"),
    ("kernel_initializer", "initializer"),
    ("recurrent_initializer", "initializer"),
    ("bias_initializer", "initializer"),
    ("kernel_regularizer", "regularizer"),
    ("recurrent_regularizer", "regularizer"),
    ("bias_regularizer", "regularizer"),
    ("kernel_constraint", "constraint"),
    ("recurrent_constraint", "constraint"),
    ("bias_constraint", "constraint"),
]


@pytest.mark.parametrize(
    "cls",
    [layers.LSTM, layers.GRU, layers.ClockworkRNN, layers.DepthGatedLSTM, layers.GridLSTM1D],
)
def test_keras_object_arguments_name_themselves(cls):
    # Keras says "Could not interpret initializer identifier: 7", not which argument.
    required = dict(dict(PUBLIC_CLASSES)[cls])
    arguments = list(_OBJECT_ARGUMENTS)
    if cls is layers.LSTM:
        arguments += [("peephole_initializer", "initializer"),
                      ("projection_initializer", "initializer")]
    if cls is layers.DepthGatedLSTM:
        arguments += [("peephole_initializer", "initializer"),
                      ("depth_bias_initializer", "initializer")]
    for name, kind in arguments:
        for bad in ("no_such_thing", 7, 1.5, [1]):
            with pytest.raises(ValueError, match=rf"Argument `{name}` must be a Keras {kind}"):
                cls(4, **{**required, name: bad})
        if kind == "initializer":  # the layers call it
            with pytest.raises(ValueError, match=rf"`{name}`.*None is not an initializer"):
                cls(4, **{**required, name: None})


# ----------------------------------------------------------------------------
# Structural sizes are bounded (keras_rnnx.layers.base: MAX_UNITS, MAX_DEPTH,
# MAX_PARAMS): an untrusted config cannot make the process allocate unboundedly.
# ----------------------------------------------------------------------------
_HUGE = [
    ("grid2d_depth", lambda: layers.GridLSTM2D(4, depth=10**9),
     r"`depth` must be an int >= 1 and <= 1024"),
    ("grid2d_cell_depth", lambda: layers.GridLSTM2DCell(4, depth=10**9), r"`depth`.*<= 1024"),
    ("grid1d_depth", lambda: layers.GridLSTM1D(4, 10**9), r"`depth`.*<= 1024"),
    ("depth_gated_num_layers", lambda: layers.DepthGatedLSTM(4, num_layers=10**9),
     r"`num_layers` must be an int >= 1 and <= 1024"),
    ("clockwork_num_modules", lambda: layers.ClockworkRNN(8, num_modules=10**9),
     r"`num_modules` must be an int >= 1 and <= 1024"),
    ("clockwork_periods", lambda: layers.ClockworkRNN(8, periods=list(range(1, 10**5))),
     r"`periods`.*at most 1024 modules"),
    ("clockwork_exponential", lambda: layers.ClockworkRNN(1024, num_modules=1024),
     r"`num_modules` \(1024\) gives `periods` \[1, 2, 4, \.\.\., \d+\], whose least common "
     r"multiple is about 2\*\*1023"),
    ("lstm_units", lambda: layers.LSTM(10**9), r"`units` must be an int >= 1 and <= 1048576"),
    ("gru_units", lambda: layers.GRU(2**40), r"`units`.*<= 1048576"),
    ("lstm_proj_units", lambda: layers.LSTM(4, proj_units=10**9), r"`proj_units`.*<= 1048576"),
    ("lstm_params", lambda: layers.LSTM(2**15),
     r"LSTMCell would create 4,295,229,440 parameters.*2,147,483,647.*`units` \(units=32768\)"),
    ("grid2d_params", lambda: layers.GridLSTM2D(2**13, depth=1024),
     r"parameters.*2,147,483,647.*`units` \(units=8192\) or `depth` \(depth=1024\)"),
    ("depth_gated_params", lambda: layers.DepthGatedLSTM(2**12, num_layers=1024),
     r"parameters.*`units`.*or `num_layers` \(num_layers=1024\)"),
    ("grid1d_params", lambda: layers.GridLSTM1D(2**13, 1024, tied=False),
     r"parameters.*`units`.*or `depth`"),
    ("clockwork_params", lambda: layers.ClockworkRNN(2**17, num_modules=2), r"parameters.*`units`"),
]


def test_huge_structural_sizes_fail_fast():
    import time

    for case, make, pattern in _HUGE:
        start = time.perf_counter()
        with pytest.raises(ValueError, match=pattern):
            make()
        assert time.perf_counter() - start < 1.0, case


def test_sizes_at_the_bounds_construct():
    # The bounds are far above real use, and inclusive.
    assert layers.GridLSTM2D(4, depth=1024).cell.depth == 1024
    assert layers.DepthGatedLSTM(4, num_layers=1024).cell.num_layers == 1024
    assert layers.LSTM(2**14).units == 2**14  # 1.07e9 recurrent parameters: allowed
    assert layers.ClockworkRNN(25, num_modules=25).periods[-1] == 2**24  # float32's exact clock


def test_input_size_is_bounded_at_build():
    for layer, shape in [
        (layers.LSTM(8), (None, 3, 2**28)),
        (layers.DepthGatedLSTM(8), (None, 3, 2**28)),
        (layers.GridLSTM1D(8, 2), (None, 2**28)),
    ]:
        pattern = r"parameters for 268435456 input features.*fewer input features"
        with pytest.raises(ValueError, match=pattern):
            layer.build(shape)
        assert not layer.weights


def _rewrite_keras_file(path, update):
    """Rewrite ``config.json`` inside the ``.keras`` zip at ``path`` with ``update(config)``."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    update(config)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _set_key(config, key, value):
    """Set every ``key`` in the nested ``config``; return how many were set."""
    count = 0
    if isinstance(config, dict):
        for k, v in config.items():
            if k == key and not isinstance(v, (dict, list)):
                config[k] = value
                count += 1
            else:
                count += _set_key(v, key, value)
    elif isinstance(config, list):
        count += sum(_set_key(v, key, value) for v in config)
    return count


@pytest.mark.parametrize(
    "layer, key",
    [
        (lambda: layers.GridLSTM2D(4, depth=2), "depth"),
        (lambda: layers.DepthGatedLSTM(4, num_layers=2), "num_layers"),
    ],
)
def test_safe_mode_load_of_a_huge_config_fails_fast(tmp_path, layer, key):
    # Such a file made the process allocate until the kernel killed it at 20 GB.
    import time

    inputs = keras.Input((3, 5))
    model = keras.Model(inputs, layer()(inputs))
    path = str(tmp_path / "model.keras")
    model.save(path)

    def update(config):
        assert _set_key(config, key, 10**9) == 1

    _rewrite_keras_file(path, update)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"`{key}` must be an int >= 1 and <= 1024"):
        keras.saving.load_model(path, safe_mode=True)
    assert time.perf_counter() - start < 5.0


def test_an_initializer_that_cannot_take_a_weights_shape_is_named():
    # Keras' own message ("The tensor to initialize must be at least
    # two-dimensional") does not say which argument; found by test_properties.
    cases = [
        (layers.LSTM(4, bias_initializer="orthogonal"), "bias_initializer", "bias"),
        (layers.LSTM(4, peephole=True, peephole_initializer="identity"),
         "peephole_initializer", "input_peephole"),
        (layers.DepthGatedLSTM(4, bias_initializer="orthogonal"), "bias_initializer",
         "layer1_bias"),
        (layers.GridLSTM2D(4, bias_initializer="orthogonal"), "bias_initializer", "input_bias"),
    ]
    for layer, argument, weight in cases:
        pattern = rf"Argument `{argument}` of \w+ cannot initialise its weight `{weight}`"
        with pytest.raises(ValueError, match=pattern):
            layer(_x(2, 3, 5))
    with pytest.raises(ValueError, match="`bias_initializer` of GridLSTM1D"):
        layers.GridLSTM1D(4, 2, bias_initializer="orthogonal")(_x(2, 5))
