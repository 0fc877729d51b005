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
        ({"units": 0}, "`units` must be a positive int"),
        ({"units": 2.5}, "`units` must be a positive int"),
        ({"units": 4, "dropout": 1.5}, r"`dropout` must be a float in \[0, 1\)"),
        ({"units": 4, "recurrent_dropout": -0.1}, "`recurrent_dropout`"),
        ({"units": 4, "zoneout_cell": 1.0}, "`zoneout_cell`"),
        ({"units": 4, "cell_clip": -1.0}, "`cell_clip` must be a positive float"),
        ({"units": 4, "proj_units": 0}, "`proj_units` must be a positive int"),
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
