"""Streaming exports: stepping one frame at a time reproduces the sequence."""

import keras
import numpy as np
import pytest

import keras_rnnx
from tests.export.conftest import randomize

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

from keras_rnnx import export  # noqa: E402
from keras_rnnx.export.onnx_export import run_onnx  # noqa: E402
from keras_rnnx.export.tflite_export import run_tflite  # noqa: E402

pytestmark = pytest.mark.tf_only
L = keras_rnnx.layers
ATOL = 1e-5

CASES = {
    "lstm": lambda: L.LSTM(8),
    "peephole": lambda: L.PeepholeLSTM(8),
    "cifg": lambda: L.CIFGLSTM(8, peephole=True),
    "gru": lambda: L.GRU(8),
    "gru_reset_before": lambda: L.GRU(8, reset_after=False),
    "lstm_variants": lambda: L.LSTM(8, layer_norm=True, proj_units=5, cell_clip=0.4),
    "mut1": lambda: L.MUT1(6),
    "mut3": lambda: L.MUT3(8),
    "clockwork": lambda: L.ClockworkRNN(9, periods=[1, 2, 4]),
    "grid2d": lambda: L.GridLSTM2D(8),
    "depth_gated": lambda: L.DepthGatedLSTM(8),
    "keras_lstm": lambda: keras.layers.LSTM(8),
}
FUSABLE = {"lstm", "peephole", "cifg", "gru", "gru_reset_before", "keras_lstm"}


def _layer_and_reference(case, batch=2, steps=6, features=6):
    layer = CASES[case]()
    layer.return_sequences = True
    layer.return_state = True
    inputs = keras.Input((None, features))
    model = randomize(keras.Model(inputs, layer(inputs)), seed=4)
    x = np.random.default_rng(5).uniform(-1, 1, (batch, steps, features)).astype("float32")
    sequence, *states = model.predict(x, verbose=0)
    return layer, x, sequence, states


def _stream(run, layer, x):
    states = export.initial_states(layer, x.shape[0])
    outputs = []
    for t in range(x.shape[1]):
        y, *states = run([x[:, t], *states])
        outputs.append(y)
    return np.stack(outputs, axis=1), states


@pytest.mark.parametrize("case", sorted(CASES))
def test_tflite_step_reproduces_the_sequence(case):
    layer, x, sequence, states = _layer_and_reference(case)
    result = export.to_tflite_step(layer, batch_size=x.shape[0])
    assert "WHILE" not in result.ops
    got, got_states = _stream(lambda a: run_tflite(result.content, a), layer, x)
    np.testing.assert_allclose(got, sequence, atol=ATOL, rtol=0)
    for g, e in zip(got_states, states):
        np.testing.assert_allclose(g, e, atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnx_step_reproduces_the_sequence(case):
    layer, x, sequence, states = _layer_and_reference(case)
    result = export.to_onnx_step(layer)
    if case in FUSABLE:
        assert result.fused == [layer.name]
        assert ("GRU" if "gru" in case else "LSTM") in result.ops
    else:
        assert result.loops and "Loop" not in result.ops
    got, got_states = _stream(lambda a: run_onnx(result.content, a), layer, x)
    np.testing.assert_allclose(got, sequence, atol=ATOL, rtol=0)
    for g, e in zip(got_states, states):
        np.testing.assert_allclose(g, e, atol=ATOL, rtol=0)


def test_step_of_a_zoo_preset_layer():
    model = keras_rnnx.zoo.load("jsb_cifg_lstm")
    layer = model.get_layer("cifg_lstm_0")
    result = export.to_onnx_step(layer, fused=True)
    x = np.random.default_rng(0).uniform(0, 1, (1, 5, 88)).astype("float32")
    states = export.initial_states(layer)
    for t in range(5):
        y, *states = run_onnx(result.content, [x[:, t], *states])
    full = keras.Model(model.input, model.get_layer("cifg_lstm_0").output)
    np.testing.assert_allclose(y, full.predict(x, verbose=0)[:, -1], atol=ATOL)


def test_bad_layers():
    bi = keras.layers.Bidirectional(L.LSTM(4))
    bi(np.zeros((1, 2, 3), "float32"))
    with pytest.raises(ValueError, match="Bidirectional"):
        export.to_tflite_step(bi)
    with pytest.raises(ValueError, match="not built"):
        export.to_onnx_step(L.GRU(4))
    with pytest.raises(ValueError, match="recurrent layer"):
        export.to_tflite_step(keras.layers.Dense(3))
    layer = L.LSTM(4, layer_norm=True)
    layer(np.zeros((1, 2, 3), "float32"))
    with pytest.raises(ValueError, match="layer_norm"):
        export.to_onnx_step(layer, fused=True)
