"""`keras_rnnx.export.to_onnx`: fused ONNX LSTM/GRU nodes, checked in onnxruntime."""

import keras
import numpy as np
import pytest

import keras_rnnx
from tests.export.conftest import right_padded
from tests.export.conftest import sequence_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

from keras_rnnx import export  # noqa: E402
from keras_rnnx.export.onnx_export import run_onnx  # noqa: E402

pytestmark = pytest.mark.tf_only
L = keras_rnnx.layers
ATOL = 1e-5

FUSED_CASES = {
    "lstm": lambda: L.LSTM(8, return_sequences=True),
    "lstm_last_state": lambda: L.LSTM(8),
    "peephole": lambda: L.PeepholeLSTM(8, return_sequences=True),
    "cifg": lambda: L.CIFGLSTM(8, return_sequences=True),
    "cifg_peephole": lambda: L.CIFGLSTM(8, peephole=True, return_sequences=True),
    "no_bias": lambda: L.LSTM(8, use_bias=False, return_sequences=True),
    "gru_reset_after": lambda: L.GRU(8, return_sequences=True),
    "gru_reset_before": lambda: L.GRU(8, reset_after=False, return_sequences=True),
    "go_backwards": lambda: L.LSTM(8, go_backwards=True, return_sequences=True),
    "keras_lstm": lambda: keras.layers.LSTM(8, return_sequences=True),
    "keras_gru": lambda: keras.layers.GRU(8, return_sequences=True),
}


def _check(model, x, result, fused_op):
    expected = model.predict(x, verbose=0)
    got = run_onnx(result.content, [x])[0]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    assert fused_op in result.ops
    assert "Loop" not in result.ops and "Scan" not in result.ops


@pytest.mark.parametrize("case", sorted(FUSED_CASES))
def test_fused_layer_matches_keras(case, sequences):
    model = sequence_model(lambda x: FUSED_CASES[case]()(x))
    result = export.to_onnx(model, fused=True)
    op = "GRU" if "gru" in case else "LSTM"
    _check(model, sequences, result, op)
    assert len(result.fused) == 1 and result.loops == {}


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
def test_bidirectional_is_one_node(merge_mode, sequences):
    model = sequence_model(
        lambda x: keras.layers.Bidirectional(
            L.LSTM(8, return_sequences=True), merge_mode=merge_mode
        )(x)
    )
    result = export.to_onnx(model, fused=True)
    _check(model, sequences, result, "LSTM")


def test_stacked_layers_with_embedding_and_dropout():
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 6)(inputs)
    x = L.LSTM(8, return_sequences=True, dropout=0.3, recurrent_dropout=0.2)(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Bidirectional(L.GRU(5))(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    result = export.to_onnx(model, fused=True)
    x = np.random.default_rng(0).integers(0, 20, (3, 9)).astype("int32")
    np.testing.assert_allclose(
        run_onnx(result.content, [x])[0], model.predict(x, verbose=0), atol=ATOL
    )
    assert {"LSTM", "GRU"} <= set(result.ops)


@pytest.mark.parametrize(
    "layer_fn",
    [
        lambda: L.LSTM(8, return_sequences=True),
        lambda: L.GRU(8),
        lambda: L.LSTM(8, go_backwards=True, return_sequences=True),
        lambda: keras.layers.Bidirectional(L.CIFGLSTM(8, return_sequences=True)),
        lambda: L.LSTM(8, return_sequences=True, zero_output_for_mask=True),
    ],
    ids=["sequence", "last", "backwards", "bidirectional", "zero_output"],
)
def test_right_padded_mask_is_sequence_lens(layer_fn):
    model = sequence_model(lambda x: layer_fn()(x), mask_value=-1.0)
    result = export.to_onnx(model, fused=True)
    _check(model, right_padded(), result, "GRU" if "GRU" in str(result.ops) else "LSTM")


def test_batch_and_time_are_dynamic(sequences):
    model = sequence_model(lambda x: L.LSTM(8, return_sequences=True)(x))
    result = export.to_onnx(model)
    for shape in [(1, 3, 6), (5, 11, 6)]:
        x = np.random.default_rng(1).uniform(-1, 1, shape).astype("float32")
        np.testing.assert_allclose(
            run_onnx(result.content, [x])[0], model.predict(x, verbose=0), atol=ATOL
        )


@pytest.mark.parametrize("preset", ["jsb_lstm", "jsb_gru", "jsb_peephole_lstm", "jsb_cifg_lstm"])
def test_zoo_preset(preset, tmp_path):
    model = keras_rnnx.zoo.load(preset)
    path = tmp_path / f"{preset}.onnx"
    result = export.to_onnx(model, path)
    assert path.stat().st_size == result.size_bytes
    x = np.random.default_rng(0).uniform(0, 1, (2, 9, 88)).astype("float32")
    x[1, 4:] = -1.0  # the presets' padding value: right padding
    expected = model.predict(x, verbose=0)
    got = run_onnx(path.read_bytes(), [x])[0]
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    assert ("GRU" if "gru" in preset else "LSTM") in result.ops
    assert result.loops == {}


@pytest.mark.parametrize(
    "layer_fn, reason",
    [
        (lambda: L.LSTM(8, layer_norm=True, return_sequences=True), "layer_norm"),
        (lambda: L.LSTM(8, cell_clip=0.5, return_sequences=True), "cell_clip"),
        (lambda: L.LSTM(8, proj_units=4, return_sequences=True), "proj_units"),
        (lambda: L.LSTM(8, zoneout_cell=0.3, return_sequences=True), "zoneout"),
        (lambda: L.MUT3(8, return_sequences=True), "MUT3"),
    ],
    ids=["layer_norm", "cell_clip", "projection", "zoneout", "mut3"],
)
def test_unfusable_layer_is_a_correct_loop(layer_fn, reason, sequences):
    model = sequence_model(lambda x: layer_fn()(x))
    result = export.to_onnx(model)
    assert result.fused == []
    (why,) = result.loops.values()
    assert reason in why
    assert "Loop" in result.ops
    got = run_onnx(result.content, [sequences])[0]
    np.testing.assert_allclose(got, model.predict(sequences, verbose=0), atol=ATOL)


def test_fused_true_names_the_layer_and_the_fallback():
    model = sequence_model(lambda x: L.LSTM(8, layer_norm=True, name="normed")(x))
    with pytest.raises(ValueError, match=r"'normed'.*layer_norm.*fused='auto'"):
        export.to_onnx(model, fused=True)


def test_exact_masks_loop_the_masked_layer():
    model = sequence_model(lambda x: L.LSTM(8, return_sequences=True)(x), mask_value=-1.0)
    x = right_padded()
    x[2, 0] = -1.0  # a hole at the start: not right padding
    result = export.to_onnx(model, masks="exact")
    assert "masks='exact'" in next(iter(result.loops.values()))
    np.testing.assert_allclose(
        run_onnx(result.content, [x])[0], model.predict(x, verbose=0), atol=ATOL
    )


def test_bad_arguments():
    model = sequence_model(lambda x: L.LSTM(4)(x))
    with pytest.raises(ValueError, match="fused"):
        export.to_onnx(model, fused="yes")
    with pytest.raises(ValueError, match="masks"):
        export.to_onnx(model, masks="left")
    with pytest.raises(ValueError, match="not built"):
        export.to_onnx(keras.Sequential([L.LSTM(4)]))
    with pytest.raises(ValueError, match="keras.Model"):
        export.to_onnx(L.LSTM(4))


@pytest.mark.parametrize(
    "layer_fn",
    [
        lambda: keras_rnnx.layers.GridLSTM2D(8, return_sequences=True),
        lambda: keras_rnnx.layers.DepthGatedLSTM(8),
        lambda: keras_rnnx.layers.MUT1(6, return_sequences=True),
        lambda: keras_rnnx.layers.MUT2(6),
    ],
    ids=["grid2d", "depth_gated", "mut1", "mut2"],
)
def test_other_layers_are_masked_loops(layer_fn):
    model = sequence_model(lambda x: layer_fn()(x), mask_value=-1.0)
    result = export.to_onnx(model)
    assert "Loop" in result.ops and len(result.loops) == 1
    x = right_padded()
    np.testing.assert_allclose(
        run_onnx(result.content, [x])[0], model.predict(x, verbose=0), atol=ATOL
    )


def test_clockwork_sequence_is_refused_with_the_alternatives():
    model = sequence_model(lambda x: keras_rnnx.layers.ClockworkRNN(9, periods=[1, 2, 4])(x))
    with pytest.raises(ValueError, match="ClockworkRNN.*to_onnx_step.*to_tflite"):
        export.to_onnx(model)
