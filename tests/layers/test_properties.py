"""Property-based checks of every public layer's and cell's constructor arguments.

`hypothesis` draws a class and a few of its constructor arguments with values
of every kind (bools, small and huge ints, floats incl. NaN, inf, negative and
huge ones, strings, None, lists), the other arguments keeping their defaults.
Each draw must end in one of two ways:

* a `ValueError` whose message names one of the drawn arguments (as
  ```name``` or ``name=``), at construction or at the first call (e.g.
  ``use_cudnn=True`` where cuDNN cannot run); no `TypeError`: Keras raises one
  only for an unknown keyword argument, which is never drawn here;
* a working object: its config round-trips through ``from_config`` and it
  runs on a tiny input (batch 2, 3 steps; one step for a cell), in inference
  or training, with finite outputs.

The arguments of the base `keras.layers.Layer` (``name``, ``dtype``,
``trainable``, ``activity_regularizer``) are Keras' and not drawn.

The runs are reproducible (``derandomize=True``, no example database) and
bounded (``max_examples``) so that the file takes well under a minute with
TensorFlow on a 2-core CPU.
"""

import inspect
import re

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from keras import ops
from keras import tree

from keras_rnnx import layers
from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer

# Argument checks do not depend on the backend (the runs are covered per backend
# by tests/layers/harness.py).
pytestmark = pytest.mark.one_backend

# Every public layer and cell, with the arguments it needs besides ``units``.
CLASSES = {
    layers.LSTM: {},
    layers.PeepholeLSTM: {},
    layers.CIFGLSTM: {},
    layers.GRU: {},
    layers.MUT1: {},
    layers.MUT2: {},
    layers.MUT3: {},
    layers.ClockworkRNN: {"num_modules": 2},
    layers.GridLSTM2D: {},
    layers.DepthGatedLSTM: {},
    layers.GridLSTM1D: {"depth": 2},
    layers.LSTMCell: {},
    layers.GRUCell: {},
    layers.MUT2Cell: {},
    layers.ClockworkRNNCell: {"num_modules": 2},
    layers.GridLSTM2DCell: {},
    layers.DepthGatedLSTMCell: {},
}
_KERAS_LAYER_ARGUMENTS = {"name", "dtype", "trainable", "activity_regularizer", "self"}
_RNN_ARGUMENTS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                  "zero_output_for_mask")  # fmt: skip


def argument_defaults(cls):
    """``{name: default}`` of every named constructor argument of ``cls``.

    A layer's include its cell's and those of `keras.layers.RNN`; ``units``
    has no default (None here).
    """
    defaults = {}
    classes = list(cls.__mro__)
    if issubclass(cls, RecurrentLayer):
        classes += list(cls.cell_class.__mro__)
        defaults.update({name: False for name in _RNN_ARGUMENTS})
    for klass in classes:
        if klass.__module__.startswith("keras_rnnx") and "__init__" in vars(klass):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                if p.name not in _KERAS_LAYER_ARGUMENTS:
                    default = None if p.default is p.empty else p.default
                    defaults.setdefault(p.name, default)
    return defaults


def argument_names(cls):
    """Every named constructor argument of ``cls`` (its cell's too, for a layer)."""
    return sorted(argument_defaults(cls))


VALUES = st.one_of(
    st.booleans(),
    st.integers(-3, 6),
    # Huge and boundary sizes: refused, never built (the bounds of layers.base).
    st.sampled_from([0, 1025, 2**20 + 1, 10**9, 2**31, 2**64, -(2**63)]),
    st.floats(),  # NaN, inf, negative, huge, subnormal
    st.floats(0.0, 1.0),
    st.text(max_size=5),
    st.sampled_from(["true", "false", "auto", "tanh", "relu", "zeros", "ones", "l2"]),
    st.none(),
    st.lists(st.integers(-2, 9), max_size=4),
    st.lists(st.floats(), max_size=2),
)


_RATES = ("dropout", "recurrent_dropout", "zoneout_hidden", "zoneout_cell", "layer_dropout")
_ACTIVATIONS = ["tanh", "sigmoid", "relu", "linear", "softsign", "hard_sigmoid", None]
_INITIALIZERS = ["zeros", "ones", "glorot_uniform", "orthogonal", "random_normal"]
_PLAUSIBLE = {
    "units": st.integers(1, 6),
    "forget_bias": st.none() | st.floats(-5, 5),
    "cell_clip": st.none() | st.floats(0.1, 10),
    "chrono_init": st.none() | st.integers(3, 1000),
    "proj_units": st.none() | st.integers(1, 5),
    "seed": st.none() | st.integers(0, 2**32 - 1),
    "num_layers": st.integers(1, 3),
    "depth": st.integers(1, 3),
    "num_modules": st.sampled_from([1, 2, 4]),
    "periods": st.sampled_from([None, [1, 2], [1, 3], [2, 5, 7, 11]]),
    "module_sizes": st.sampled_from([None, [1, 3], [3, 1]]),
    "dimensions": st.sampled_from([
        None,
        [{"name": "time"}, {"name": "depth", "kind": "plain", "tied": True}],
        [{"name": "t"}, {"name": "d", "kind": "identity", "priority": True}],
    ]),
    "use_cudnn": st.sampled_from(["auto", False, True]),
}  # fmt: skip


def plausible(name, default):
    """Values of ``name`` of the right type and mostly in range."""
    if name in _PLAUSIBLE:
        return _PLAUSIBLE[name]
    if name in _RATES:
        return st.floats(0.0, 0.9)
    if isinstance(default, bool):
        return st.booleans()
    if name.endswith("activation"):
        return st.sampled_from(_ACTIVATIONS)
    if name.endswith("initializer"):
        return st.sampled_from(_INITIALIZERS)
    if name.endswith("regularizer"):
        return st.sampled_from([None, "l2", "l1"])
    if name.endswith("constraint"):
        return st.sampled_from([None, "non_neg", "unit_norm"])
    raise AssertionError(f"no plausible values for argument {name!r}")


def names_argument(message, names):
    """Whether ``message`` names one of ``names`` as ```name```, ``name=`` or ``name[``."""
    return any(re.search(rf"(^|\W){re.escape(n)}(`|=|\[)", message) for n in names)


def _input_features(obj):
    if type(obj).__name__ in ("MUT1", "MUT2", "MUT1Cell", "MUT2Cell"):
        return obj.units
    if isinstance(obj, layers.GridLSTM1D) and not obj.project_input:
        return obj.units
    return 3


def _run(obj, training):
    rng = np.random.RandomState(0)
    features = _input_features(obj)
    if isinstance(obj, RecurrentCell):
        x = rng.uniform(-1, 1, (2, features)).astype("float32")
        return obj(x, obj.get_initial_state(2), training=training)
    if isinstance(obj, layers.GridLSTM1D):
        return obj(rng.uniform(-1, 1, (2, features)).astype("float32"))
    return obj(rng.uniform(-1, 1, (2, 3, features)).astype("float32"), training=training)


@st.composite
def draws(draw):
    cls = draw(st.sampled_from(list(CLASSES)))
    defaults = argument_defaults(cls)
    count = draw(st.integers(1, 4), label="count")
    names = draw(st.permutations(sorted(defaults)), label="names")[:count]
    # One argument (or none) takes a value of any kind, the others values of
    # their kind, mostly in range: so that working layers are drawn too.
    wild = draw(st.sampled_from([None, *names]), label="wild")
    drawn = {
        name: draw(VALUES if name == wild else plausible(name, defaults[name]), label=name)
        for name in names
    }
    training = draw(st.booleans(), label="training")
    return cls, drawn, training


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(draws())
def test_any_arguments_give_a_named_value_error_or_a_working_layer(draw):
    cls, drawn, training = draw
    required = dict(CLASSES[cls])
    if "periods" in drawn:  # num_modules=2 would contradict most periods
        required.pop("num_modules", None)
    kwargs = {"units": 4, **required, **drawn}
    try:
        obj = cls(**kwargs)
    except ValueError as error:
        assert names_argument(str(error), drawn), (cls.__name__, drawn, str(error))
        event("refused at construction")
        return
    config = obj.get_config()
    assert cls.from_config(config).get_config() == config
    for key, value in drawn.items():
        if key in config and isinstance(value, bool):
            assert config[key] is value, key  # a bool stays the bool it was
    try:
        outputs = _run(obj, training)
    except ValueError as error:
        assert names_argument(str(error), drawn), (cls.__name__, drawn, str(error))
        event("refused at the call")
        return
    event("ran")
    for output in tree.flatten(outputs):
        value = ops.convert_to_numpy(output)
        assert value.shape[0] == 2
        assert np.all(np.isfinite(value)), (cls.__name__, drawn)


@pytest.mark.parametrize("cls", list(CLASSES), ids=lambda c: c.__name__)
def test_every_argument_is_drawn_and_serialised(cls):
    # The draws above cover every constructor argument, and each is in get_config.
    names = argument_names(cls)
    assert "units" in names
    for name, default in argument_defaults(cls).items():
        plausible(name, default)  # every argument has plausible values
    config = cls(4, **CLASSES[cls]).get_config()
    missing = [n for n in names if n not in config]
    assert not missing, missing
