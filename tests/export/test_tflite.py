"""`keras_rnnx.export.to_tflite`: builtin ops only, checked in the interpreter."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_rnnx
from tests.export.conftest import right_padded
from tests.export.conftest import sequence_model

from keras_rnnx import export  # noqa: E402
from keras_rnnx.export.tflite_export import check_builtin_only  # noqa: E402
from keras_rnnx.export.tflite_export import interpreter  # noqa: E402
from keras_rnnx.export.tflite_export import run_tflite  # noqa: E402

pytestmark = pytest.mark.tf_only
L = keras_rnnx.layers
ATOL = 1e-5
FUSED_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"

LOOP_CASES = {
    "lstm": lambda: L.LSTM(8, return_sequences=True),
    "gru_bidirectional": lambda: keras.layers.Bidirectional(L.GRU(8, return_sequences=True)),
    "mut1": lambda: L.MUT1(6, return_sequences=True),
    "mut2": lambda: L.MUT2(6),
    "mut3": lambda: L.MUT3(8),
    "clockwork": lambda: L.ClockworkRNN(9, periods=[1, 2, 4], return_sequences=True),
    "grid2d": lambda: L.GridLSTM2D(8, return_sequences=True),
    "depth_gated": lambda: L.DepthGatedLSTM(8),
    "lstm_variants": lambda: L.LSTM(
        8, layer_norm=True, zoneout_cell=0.2, full_gate_recurrence=True, output_gate=False
    ),
    "keras_gru": lambda: keras.layers.GRU(8),
}


@pytest.mark.parametrize("case", sorted(LOOP_CASES))
def test_every_layer_is_a_builtin_loop_with_dynamic_batch(case):
    model = sequence_model(lambda x: LOOP_CASES[case]()(x), mask_value=-1.0)
    result = export.to_tflite(model)
    assert "WHILE" in result.ops
    assert not any(op.startswith("CUSTOM") or op.startswith("FLEX") for op in result.ops)
    assert result.fused == [] and result.loops
    for batch, steps, lengths in [(3, 7, (7, 5, 2)), (1, 4, (4,)), (5, 9, (9,) * 5)]:
        x = right_padded(batch, steps, lengths=lengths)
        got = run_tflite(result.content, [x])[0]
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=ATOL, rtol=0)


FUSED_CASES = {
    "lstm": (lambda: L.LSTM(8, return_sequences=True), 1),
    "last_output": (lambda: L.LSTM(8), 1),
    "peephole": (lambda: L.PeepholeLSTM(8, return_sequences=True), 1),
    "cifg": (lambda: L.CIFGLSTM(8, return_sequences=True), 1),
    "cifg_peephole": (lambda: L.CIFGLSTM(8, peephole=True, return_sequences=True), 1),
    "projection": (lambda: L.LSTM(8, proj_units=4, return_sequences=True), 1),
    "cell_clip": (lambda: L.LSTM(8, cell_clip=0.3, return_sequences=True), 1),
    "go_backwards": (lambda: L.LSTM(8, go_backwards=True, return_sequences=True), 1),
    "bidirectional": (lambda: keras.layers.Bidirectional(L.LSTM(8, return_sequences=True)), 2),
    "keras_lstm": (lambda: keras.layers.LSTM(8, return_sequences=True), 1),
}


@pytest.mark.parametrize("case", sorted(FUSED_CASES))
def test_lstm_family_is_one_fused_op(case):
    layer_fn, count = FUSED_CASES[case]
    model = sequence_model(lambda x: layer_fn()(x))
    result = export.to_tflite(model, batch_size=2, fused=True)
    assert FUSED_OP in result.ops and "WHILE" not in result.ops
    assert len(result.fused) == count
    x = np.random.default_rng(3).uniform(-3, 3, (2, 7, 6)).astype("float32")
    expected = model.predict(x, verbose=0)
    it = interpreter(result.content)
    it.resize_tensor_input(0, x.shape)
    it.allocate_tensors()
    for _ in range(2):  # the op's states must not carry over between calls
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


def test_stacked_fused_and_loop_layers():
    def layers(x):
        x = L.PeepholeLSTM(8, return_sequences=True)(x)
        x = L.GRU(6, return_sequences=True)(x)
        return L.CIFGLSTM(5)(x)

    model = sequence_model(layers)
    result = export.to_tflite(model, batch_size=1)
    assert len(result.fused) == 2
    assert list(result.loops) and "GRU" in next(iter(result.loops.values()))
    assert FUSED_OP in result.ops and "WHILE" in result.ops


@pytest.mark.parametrize("preset", ["jsb_lstm", "jsb_peephole_lstm", "jsb_cifg_lstm", "jsb_gru"])
def test_zoo_preset(preset, tmp_path):
    model = keras_rnnx.zoo.load(preset)
    path = tmp_path / f"{preset}.tflite"
    result = export.to_tflite(model, path, batch_size=1, masks="ignore")
    x = np.random.default_rng(0).uniform(0, 1, (1, 9, 88)).astype("float32")
    got = run_tflite(path.read_bytes(), [x])[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=ATOL, rtol=0)
    if "gru" in preset:
        assert "WHILE" in result.ops and "builtin GRU" in next(iter(result.loops.values()))
    else:
        assert FUSED_OP in result.ops and result.loops == {}


def test_masked_zoo_preset_loops_with_dynamic_batch():
    model = keras_rnnx.zoo.load("jsb_lstm")
    result = export.to_tflite(model)
    assert "sequence lengths" in result.loops["lstm_0"] or "batch_size" in result.loops["lstm_0"]
    x = np.random.default_rng(0).uniform(0, 1, (2, 9, 88)).astype("float32")
    x[1, 4:] = -1.0
    np.testing.assert_allclose(
        run_tflite(result.content, [x])[0], model.predict(x, verbose=0), atol=ATOL
    )


def test_fused_true_refuses_with_reasons():
    model = sequence_model(lambda x: L.LSTM(8, layer_norm=True, name="normed")(x))
    with pytest.raises(ValueError, match=r"'normed'.*layer_norm.*fused='auto'"):
        export.to_tflite(model, batch_size=1, fused=True)
    model = sequence_model(lambda x: L.LSTM(8, name="plain")(x))
    with pytest.raises(ValueError, match=r"'plain'.*batch_size=1"):
        export.to_tflite(model, fused=True)


def test_unfrozen_variables_are_refused_not_nan():
    """The trap of the issue: variables left in the graph read as NaN."""
    model = sequence_model(lambda x: L.CIFGLSTM(8)(x))
    fn = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec((1, 5, 6))])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [fn.get_concrete_function()], model
    )
    content = converter.convert()
    with pytest.raises(RuntimeError, match="NaN"):
        check_builtin_only(content, "test")
    # Our export of the same model: finite and equal to Keras.
    x = np.random.default_rng(0).uniform(-1, 1, (1, 5, 6)).astype("float32")
    for kwargs in ({}, {"batch_size": 1}):
        got = run_tflite(export.to_tflite(model, **kwargs).content, [x])[0]
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=ATOL)


def test_bad_arguments():
    model = sequence_model(lambda x: L.LSTM(4)(x))
    with pytest.raises(ValueError, match="batch_size"):
        export.to_tflite(model, batch_size=0)
    with pytest.raises(ValueError, match="masks"):
        export.to_tflite(model, masks="right_padded")
    with pytest.raises(ValueError, match="fused"):
        export.to_tflite(model, fused=None)
    with pytest.raises(ValueError, match="not built"):
        export.to_tflite(keras.Sequential([L.LSTM(4)]))


def test_layer_in_a_nested_model_is_a_loop():
    inner_inputs = keras.Input((None, 6))
    inner = keras.Model(inner_inputs, L.LSTM(8, return_sequences=True)(inner_inputs))
    inputs = keras.Input((None, 6))
    masked = keras.layers.Masking(-1.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(masked)))
    result = export.to_tflite(model, batch_size=3)
    assert result.fused == [] and "nested" in next(iter(result.loops.values()))
    x = right_padded()
    np.testing.assert_allclose(
        run_tflite(result.content, [x])[0], model.predict(x, verbose=0), atol=ATOL
    )
