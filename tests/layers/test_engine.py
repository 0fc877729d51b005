"""The sequence engine: a compiled train step is traced once and reused."""

import keras
import numpy as np
import pytest

import keras_rnnx.layers
from keras_rnnx.ops import engine
from tests.gradients import backend_gradients
from tests.layers.harness import LAYER_CASES
from tests.layers.harness import sequence_model

CASES = [c for c in LAYER_CASES if c.id in ("lstm", "gru", "clockwork", "grid_lstm_2d", "depth_gated_lstm")]


@pytest.mark.tf_only
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_train_step_is_traced_once(case, jit_compile):
    # Gradients through the loop come from the one traced step: the layer's
    # Python (which runs only while tracing) is not run again for later
    # batches of the same shape, with and without XLA.
    model = sequence_model(case, jit_compile=jit_compile)
    layer = model.layers[1]
    traces = []
    inner_loop = layer.inner_loop

    def counting_inner_loop(*args, **kwargs):
        traces.append(1)
        return inner_loop(*args, **kwargs)

    layer.inner_loop = counting_inner_loop
    x = case.inputs(batch=4, timesteps=5)
    y = np.ones((4, 1), "float32")
    model.train_on_batch(x, y)
    first = len(traces)
    assert first >= 1
    for _ in range(3):
        model.train_on_batch(x, y)
    assert len(traces) == first
    assert model.jit_compile is jit_compile


BLOCK_CASES = [
    c
    for c in LAYER_CASES
    if c.id in ("lstm_fgr", "lstm_layer_norm", "gru", "mut2", "depth_gated_lstm", "grid_lstm_2d")
]


def test_loop_form_follows_the_backend():
    cell = keras_rnnx.layers.LSTMCell(4)
    cell.build((None, 3))
    on_tensorflow = keras.backend.backend() == "tensorflow"
    assert ("recurrent_kernel_blocks" in cell.loop_params()) is on_tensorflow
    assert engine.per_gate_blocks() is on_tensorflow
    # Only JAX on CPU projects inside the loop (these tests run on CPU).
    assert engine.platform() == (("tensorflow", None) if on_tensorflow else ("jax", "cpu"))
    assert engine.hoist_input_projection() is on_tensorflow


FORMS = {
    "hoisted, blocks": (True, True),
    "hoisted, whole kernel": (True, False),
    "in the loop, blocks": (False, True),
    "in the loop, whole kernel": (False, False),
}


@pytest.mark.parametrize("case", BLOCK_CASES, ids=[c.id for c in BLOCK_CASES])
def test_every_loop_form_agrees(case, monkeypatch):
    # The fused loop projects the inputs before the loop and multiplies by
    # per-gate blocks on TensorFlow, and does neither on JAX on CPU: every
    # combination gives the same outputs and gradients on the running backend.
    layer = case.make(return_sequences=True)
    x = case.inputs(batch=3, timesteps=6)
    layer(x)

    def loss_of(outputs):
        return keras.ops.sum(keras.ops.square(outputs))

    backend = (keras.backend.backend(),)
    results = {}
    for form, (hoist, blocks) in FORMS.items():
        in_loop = () if hoist else (engine.platform(),)
        monkeypatch.setattr(engine, "IN_LOOP_PROJECTION_PLATFORMS", in_loop)
        monkeypatch.setattr(engine, "PER_GATE_BLOCK_BACKENDS", backend if blocks else ())
        assert engine.hoist_input_projection() is hoist
        assert engine.per_gate_blocks() is blocks
        results[form] = {
            "output": keras.ops.convert_to_numpy(layer(x)),
            **backend_gradients(layer, x, loss_of),
        }
    first, *others = FORMS
    for form in others:
        assert results[form].keys() == results[first].keys()
        for name, value in results[form].items():
            np.testing.assert_allclose(
                value, results[first][name], rtol=1e-4, atol=1e-5, err_msg=f"{form}: {name}"
            )
