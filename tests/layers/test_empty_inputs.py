"""Empty inputs: an empty batch ``(0, T, F)`` and an empty sequence ``(B, 0, F)``.

`keras.layers.LSTM` fails on an empty sequence (it slices the first step).
keras-rnnx layers take no step: the output is the output read from the
initial state (``h`` of the zero or given ``initial_state``; zeros for the
Grid LSTM, whose output is not a state), ``(B, 0, units)`` with
``return_sequences``, and ``return_state`` returns the initial states.
"""

import keras
import numpy as np
import pytest
from keras import ops

from tests.layers.harness import case_by_id

np_ = ops.convert_to_numpy

EMPTY_CASE_IDS = [
    "lstm", "peephole_lstm", "cifg_lstm", "lstm_fgr", "lstm_proj", "gru", "gru_reset_before",
    "mut1", "mut2", "mut3", "clockwork", "clockwork_periods", "grid_lstm_2d",
    "grid_lstm_2d_tied_priority", "depth_gated_lstm", "depth_gated_lstm_all",
]  # fmt: skip
B = 2


def _initial_states(layer, seed=0):
    """Random initial states of ``layer`` (clock states: a whole step count)."""
    rng = np.random.RandomState(seed)
    states = []
    for size in layer.cell.state_size:
        if size == 1:  # the Clockwork clock
            states.append(np.full((B, 1), 3.0, "float32"))
        else:
            states.append(rng.uniform(-1, 1, (B, size)).astype("float32"))
    return states


def _expected_output(case, layer, states):
    """The output read from ``states``, written out per layer (not via the layer)."""
    if case.layer_class.__name__ == "GridLSTM2D":
        return np.zeros((B, layer.cell.output_size), "float32")
    if case.layer_class.__name__ == "DepthGatedLSTM":
        hs = states[0::2]
        return np.concatenate(hs, axis=-1) if layer.cell.return_all_layers else hs[-1]
    return states[0]


@pytest.mark.parametrize("case_id", EMPTY_CASE_IDS)
def test_empty_sequence_returns_the_initial_state(case_id):
    case = case_by_id(case_id)
    x = np.zeros((B, 0, case.input_dim), "float32")
    out_size = case.make().cell.output_size

    layer = case.make(return_state=True)
    output, *states = layer(x)
    zeros = [np.zeros((B, s), "float32") for s in layer.cell.state_size]
    np.testing.assert_array_equal(np_(output), _expected_output(case, layer, zeros))
    assert len(states) == len(zeros)
    for state, zero in zip(states, zeros):
        np.testing.assert_array_equal(np_(state), zero)

    given = _initial_states(layer)
    output, *states = layer(x, initial_state=given)
    np.testing.assert_array_equal(np_(output), _expected_output(case, layer, given))
    for state, expected in zip(states, given):
        np.testing.assert_array_equal(np_(state), expected)

    sequences = case.make(return_sequences=True)(x, initial_state=given)
    assert tuple(sequences.shape) == (B, 0, out_size)
    # A mask of the empty sequence changes nothing.
    masked = case.make()(x, mask=np.zeros((B, 0), bool))
    assert tuple(masked.shape) == (B, out_size)
    # After a non-empty call the layer still takes empty sequences.
    layer(np.ones((B, 3, case.input_dim), "float32"))
    output, *states = layer(x, initial_state=given)
    np.testing.assert_array_equal(np_(output), _expected_output(case, layer, given))


@pytest.mark.parametrize("case_id", ["lstm", "clockwork", "depth_gated_lstm_all"])
def test_empty_sequence_keeps_a_stateful_layers_states(case_id):
    case = case_by_id(case_id)
    layer = case.make(stateful=True, return_state=True)
    output, *states = layer(case.inputs(batch=B, timesteps=3))
    before = [np_(s) for s in states]
    empty_output, *empty_states = layer(np.zeros((B, 0, case.input_dim), "float32"))
    for state, expected in zip(empty_states, before):
        np.testing.assert_array_equal(np_(state), expected)
    for variable, expected in zip(layer.states, before):
        np.testing.assert_array_equal(np_(variable), expected)
    np.testing.assert_allclose(np_(empty_output), _expected_output(case, layer, before))


@pytest.mark.parametrize("case_id", EMPTY_CASE_IDS)
def test_empty_sequence_in_a_jit_compiled_model(case_id):
    # Static shapes: the time axis is 0 when the model is traced and compiled.
    case = case_by_id(case_id)
    layer = case.make(return_state=True)
    x = keras.Input((0, case.input_dim), batch_size=B)
    state_inputs = [keras.Input((size,), batch_size=B) for size in layer.cell.state_size]
    output, *states = layer(x, initial_state=state_inputs)
    sequences = case.make(return_sequences=True)(x, initial_state=state_inputs)
    model = keras.Model([x, *state_inputs], [output, sequences, *states])
    model.compile(jit_compile=True)
    given = _initial_states(layer, seed=1)
    results = model.predict(
        [np.zeros((B, 0, case.input_dim), "float32"), *given], batch_size=B, verbose=0
    )
    output, sequences, *states = results
    np.testing.assert_array_equal(output, _expected_output(case, layer, given))
    assert sequences.shape == (B, 0, layer.cell.output_size)
    for state, expected in zip(states, given):
        np.testing.assert_array_equal(state, expected)


@pytest.mark.parametrize("case_id", EMPTY_CASE_IDS)
def test_empty_batch(case_id):
    # ClockworkRNN read row 0's clock and failed ("slice index 0 of dimension 0
    # out of bounds"); every layer now returns (0, units).
    case = case_by_id(case_id)
    out_size = case.make().cell.output_size
    x = np.zeros((0, 3, case.input_dim), "float32")
    assert tuple(case.make()(x).shape) == (0, out_size)
    assert tuple(case.make(return_sequences=True)(x).shape) == (0, 3, out_size)
    assert tuple(case.make(go_backwards=True)(x).shape) == (0, out_size)
    assert tuple(case.make()(x, mask=np.ones((0, 3), bool)).shape) == (0, out_size)
    assert tuple(case.make()(np.zeros((0, 0, case.input_dim), "float32")).shape) == (0, out_size)
