"""`fusion_blockers` and `export`: decisions and argument checks, no conversion."""

import keras
import numpy as np
import pytest

import keras_rnnx
from keras_rnnx import export
from keras_rnnx.export import fusion_blockers
from tests.export.conftest import sequence_model

pytestmark = pytest.mark.tf_only
L = keras_rnnx.layers


def _built(layer):
    layer(np.zeros((1, 2, 3), "float32"))
    return layer


@pytest.mark.parametrize(
    "layer_fn, onnx_ok, tflite_ok",
    [
        (lambda: L.LSTM(4), True, True),
        (lambda: L.PeepholeLSTM(4), True, True),
        (lambda: L.CIFGLSTM(4, peephole=True), True, True),
        (lambda: L.LSTM(4, proj_units=2), False, True),
        (lambda: L.LSTM(4, cell_clip=1.0), False, True),
        (lambda: L.LSTM(4, layer_norm=True), False, False),
        (lambda: L.LSTM(4, zoneout_hidden=0.1), False, False),
        (lambda: L.LSTM(4, output_gate=False), False, False),
        (lambda: L.LSTM(4, activation="relu"), False, False),
        (lambda: L.GRU(4), True, False),
        (lambda: L.GRU(4, reset_after=False), True, False),
        (lambda: L.MUT3(4), False, False),
        (lambda: keras.layers.LSTM(4), True, True),
    ],
)
def test_fusion_decisions(layer_fn, onnx_ok, tflite_ok):
    layer = _built(layer_fn())
    assert (fusion_blockers(layer, "onnx") == ()) is onnx_ok
    assert (fusion_blockers(layer, "tflite") == ()) is tflite_ok


def test_reasons_name_the_option():
    layer = _built(L.LSTM(4, layer_norm=True, zoneout_cell=0.2))
    reasons = " ".join(fusion_blockers(layer, "tflite"))
    assert "layer_norm" in reasons and "zoneout" in reasons
    with pytest.raises(ValueError, match="target"):
        fusion_blockers(layer, "coreml")


def test_export_picks_the_format(tmp_path):
    model = keras.Sequential([keras.Input((None, 6)), L.GRU(4), keras.layers.Dense(2)])
    result = export.export(model, tmp_path / "m.onnx")
    assert result.format == "onnx" and "GRU" in result.ops
    with pytest.raises(ValueError, match=r"\*.tflite or \*.onnx"):
        export.export(model, tmp_path / "m.bin")
    with pytest.raises(ValueError, match="Unknown export format 'coreml'"):
        export.export(model, tmp_path / "m.onnx", format="coreml")


def test_unknown_layer_between_is_converted_alone(sequences):
    pytest.importorskip("tf2onnx")
    from keras_rnnx.export.onnx_export import run_onnx

    model = sequence_model(
        lambda x: keras.layers.LayerNormalization()(L.LSTM(8, return_sequences=True)(x))
    )
    result = export.to_onnx(model, fused=True)
    assert "LSTM" in result.ops
    np.testing.assert_allclose(
        run_onnx(result.content, [sequences])[0], model.predict(sequences, verbose=0), atol=1e-5
    )


def test_grid_lstm_1d_exports_to_both_formats():
    pytest.importorskip("tf2onnx")
    from keras_rnnx.export.onnx_export import run_onnx
    from keras_rnnx.export.tflite_export import run_tflite

    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3)(L.GridLSTM1D(6, depth=3)(inputs)))
    x = np.random.default_rng(0).uniform(-1, 1, (4, 6)).astype("float32")
    expected = model.predict(x, verbose=0)
    for result, run in ((export.to_tflite(model), run_tflite), (export.to_onnx(model), run_onnx)):
        np.testing.assert_allclose(run(result.content, [x])[0], expected, atol=1e-5)
