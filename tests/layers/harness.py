"""The layer-test helper run on every keras-rnnx layer and option set.

`LAYER_CASES` lists every layer class with the option sets worth testing.
`run_layer_test` checks, for one case: config round-trip (layer and cell),
build, a symbolic call, an eager call, one `fit` step, and that the weights
and outputs survive `from_config` + `set_weights`.
"""

import dataclasses

import keras
import numpy as np
import pytest

from keras_rnnx import layers


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    layer_class: type
    kwargs: dict
    input_dim: int = 3
    units: int = 4

    def make(self, **extra):
        return self.layer_class(self.units, **{**self.kwargs, **extra})

    def inputs(self, batch=2, timesteps=5, seed=0):
        rng = np.random.RandomState(seed)
        return rng.uniform(-1, 1, (batch, timesteps, self.input_dim)).astype("float32")


LAYER_CASES = [
    Case("lstm", layers.LSTM, {}),
    Case("peephole_lstm", layers.PeepholeLSTM, {}),
    Case("cifg_lstm", layers.CIFGLSTM, {}),
    Case("lstm_nig", layers.LSTM, {"peephole": True, "input_gate": False}),
    Case("lstm_nfg", layers.LSTM, {"peephole": True, "forget_gate": False}),
    Case("lstm_nog", layers.LSTM, {"peephole": True, "output_gate": False}),
    Case("lstm_niaf", layers.LSTM, {"peephole": True, "input_activation": False}),
    Case("lstm_noaf", layers.LSTM, {"peephole": True, "output_activation": False}),
    Case("lstm_fgr", layers.LSTM, {"peephole": True, "full_gate_recurrence": True}),
    Case("lstm_clip", layers.LSTM, {"cell_clip": 0.5, "peephole": True}),
    Case("lstm_layer_norm", layers.LSTM, {"layer_norm": True}),
    Case("lstm_proj", layers.LSTM, {"proj_units": 3}),
    Case("lstm_zoneout", layers.LSTM, {"zoneout_hidden": 0.2, "zoneout_cell": 0.1}),
    Case("lstm_chrono", layers.LSTM, {"chrono_init": 50}),
    Case("lstm_forget_bias", layers.LSTM, {"forget_bias": 2.0}),
    Case(
        "lstm_dropout",
        layers.LSTM,
        {"dropout": 0.3, "recurrent_dropout": 0.2, "seed": 3},
    ),
    Case("gru", layers.GRU, {}),
    Case("gru_reset_before", layers.GRU, {"reset_after": False}),
    Case("mut1", layers.MUT1, {}, input_dim=4),
    Case("mut2", layers.MUT2, {}, input_dim=4),
    Case("mut3", layers.MUT3, {}),
    Case("depth_gated_lstm", layers.DepthGatedLSTM, {}),
    Case(
        "depth_gated_lstm_all",
        layers.DepthGatedLSTM,
        {"num_layers": 3, "return_all_layers": True},
    ),
    Case(
        "depth_gated_lstm_dropout",
        layers.DepthGatedLSTM,
        {
            "num_layers": 3,
            "dropout": 0.2,
            "recurrent_dropout": 0.2,
            "layer_dropout": 0.3,
            "seed": 2,
        },
    ),
    Case("clockwork", layers.ClockworkRNN, {"num_modules": 2}),
    Case(
        "clockwork_periods",
        layers.ClockworkRNN,
        {"periods": [1, 3, 5], "module_sizes": [2, 1, 1]},
    ),
    Case("grid_lstm_2d", layers.GridLSTM2D, {"depth": 2}),
    Case(
        "grid_lstm_2d_tied_priority",
        layers.GridLSTM2D,
        {
            "depth": 2,
            "dimensions": [
                {"name": "time", "kind": "lstm", "tied": True, "priority": False},
                {"name": "depth", "kind": "lstm", "tied": True, "priority": True},
            ],
        },
    ),
]

CASE_IDS = [case.id for case in LAYER_CASES]

SECOND_BACKEND_CASES = frozenset(
    {"lstm", "peephole_lstm", "cifg_lstm", "lstm_fgr", "lstm_layer_norm", "lstm_proj",
     "lstm_zoneout", "lstm_dropout", "gru", "gru_reset_before", "mut1", "mut3",
     "depth_gated_lstm_all", "depth_gated_lstm_dropout", "clockwork_periods",
     "grid_lstm_2d_tied_priority"}
)  # fmt: skip
"""The cases the JAX pass repeats: one per code path of the sequence engine
(each layer class, and each option that adds ops: full gate recurrence, layer
norm, projection, zoneout, dropout). The others differ from one of these only
by flags of the step maths (Greff's variants, clipping, initialisers), which
`test_reference_numpy` checks against NumPy on every backend."""

LAYER_PARAMS = [
    pytest.param(case, id=case.id, marks=() if case.id in SECOND_BACKEND_CASES else pytest.mark.one_backend)
    for case in LAYER_CASES
]
"""`LAYER_CASES` for ``parametrize``, marked ``one_backend`` outside `SECOND_BACKEND_CASES`."""


def case_by_id(case_id):
    return next(case for case in LAYER_CASES if case.id == case_id)


def step_by_hand(cell, x, mask=None):
    """Loop ``cell`` over time in Python with Keras' masking semantics.

    Masked steps keep every state and repeat the previous output (zeros
    before the first step). Returns ``(outputs, states)`` as NumPy arrays.
    """
    ops = keras.ops
    batch, timesteps = x.shape[0], x.shape[1]
    states = cell.get_initial_state(batch)
    previous_output = ops.zeros((batch, cell.output_size))
    outputs = []
    for t in range(timesteps):
        output, new_states = cell(x[:, t], states)
        if mask is not None:
            keep = ops.expand_dims(ops.convert_to_tensor(mask[:, t]), -1)
            output = ops.where(keep, output, previous_output)
            new_states = [ops.where(keep, n, o) for n, o in zip(new_states, states)]
        outputs.append(output)
        previous_output = output
        states = new_states
    to_numpy = ops.convert_to_numpy
    return to_numpy(ops.stack(outputs, axis=1)), [to_numpy(s) for s in states]


def _strip_names(config):
    return {k: v for k, v in config.items() if k != "name"}


def sequence_model(case, timesteps=5, jit_compile=False, **layer_kwargs):
    """``Input -> layer -> Dense(1)``, compiled with MSE and SGD."""
    inputs = keras.Input((timesteps, case.input_dim))
    hidden = case.make(**layer_kwargs)(inputs)
    outputs = keras.layers.Dense(1)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    return model


def run_layer_test(case):
    x = case.inputs()
    layer = case.make(return_sequences=True)

    # Config round-trip, before build.
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert _strip_names(clone.get_config()) == _strip_names(config)
    cell_config = layer.cell.get_config()
    cell_clone = type(layer.cell).from_config(cell_config)
    assert _strip_names(cell_clone.get_config()) == _strip_names(cell_config)
    # Every constructor argument is serialised.
    for key, value in case.kwargs.items():
        assert config[key] == value, (key, config[key], value)

    # Symbolic call.
    symbolic = layer(keras.KerasTensor((None, 5, case.input_dim)))
    assert tuple(symbolic.shape) == (None, 5, layer.cell.output_size)

    # Eager call, and the same output from a config clone with copied weights.
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (2, 5, layer.cell.output_size)
    assert np.all(np.isfinite(out))
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), out, rtol=1e-6, atol=1e-6)

    # compute_output_shape agrees with the call.
    assert tuple(layer.compute_output_shape(x.shape)) == out.shape

    # One fit step changes the weights and gives a finite loss.
    model = sequence_model(case)
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, np.ones((2, 1), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
