"""build_model: every cell type on every kind of task; options checked by name."""

import keras
import numpy as np
import pytest

from keras_rnnx import datasets
from keras_rnnx import training

# Every sequence cell, including ClockworkRNN and GridLSTM2D on masked
# sequences of unknown length (as Keras traces padded batches of varying
# length; both failed there before, see tests/layers/test_clockwork.py).
SEQUENCE_CELLS = [c for c in training.CELLS if c != "grid_lstm_1d"]


def _batch(task, batch=2, steps=5):
    shape = tuple(steps if d is None else d for d in task.input_shape)
    if "int" in task.input_dtype:
        return np.random.RandomState(0).randint(0, task.output_units, (batch,) + shape).astype("int32")
    return np.random.RandomState(0).rand(batch, *shape).astype("float32")


def _check_output(model, task, x):
    out = model.predict_on_batch(x)
    if task.sequence_output:
        assert out.shape == x.shape[:2] + (task.output_units,)
    else:
        assert out.shape == (x.shape[0], task.output_units)
    if task.output_activation == "softmax":
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    if task.output_activation == "sigmoid":
        assert ((out > 0) & (out < 1)).all()


@pytest.mark.parametrize("cell", list(training.CELLS))
def test_every_cell_on_a_task_with_one_output_per_sequence(cell, adding_task):
    model = training.build_model(adding_task, cell, units=4)
    _check_output(model, adding_task, _batch(adding_task, steps=8))
    assert model.name == f"adding_{cell}"


@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
def test_every_sequence_cell_on_a_padded_multilabel_task(cell, jsb_task):
    model = training.build_model(jsb_task, cell, units=4)
    assert model.layers[1].name == "masking"
    x = _batch(jsb_task, steps=6)
    _check_output(model, jsb_task, x)
    # Padded steps (PAD_VALUE) carry the state: the real steps' outputs do not change.
    padded = np.concatenate([x, np.full((2, 3, 88), datasets.PAD_VALUE, "float32")], axis=1)
    np.testing.assert_allclose(model.predict_on_batch(padded)[:, :6], model.predict_on_batch(x), atol=1e-5)


@pytest.mark.parametrize(
    "name, options",
    [
        ("parity", {"timesteps": 6}),
        ("temporal_order", {"timesteps": 10}),
        ("copy", {"timesteps": 6, "memory_length": 3}),
        ("copy", {"timesteps": 6, "memory_length": 3, "one_hot": True}),
        ("waveform", {"timesteps": 12}),
    ],
)
def test_every_task_kind_builds(name, options, data_dir):
    task = datasets.get_task(name, data_dir=data_dir, **options)
    model = training.build_model(task, "gru", units=4)
    _check_output(model, task, _batch(task, steps=task.input_shape[0]))


def test_character_models_embed_ids(text_task):
    model = training.build_model(text_task, "lstm", units=6, embedding_dim=3)
    assert model.get_layer("embedding").output.shape[-1] == 3
    assert model.input_shape == (None, None)  # any length, for sampling
    _check_output(model, text_task, _batch(text_task, steps=7))


def test_mut1_and_mut2_get_an_input_projection_only_when_needed(adding_task):
    for cell in ("mut1", "mut2"):
        names = [layer.name for layer in training.build_model(adding_task, cell, units=4).layers]
        assert "input_projection" in names
    names = [layer.name for layer in training.build_model(adding_task, "mut3", units=4).layers]
    assert "input_projection" not in names


def test_cell_options_reach_the_layer(adding_task):
    model = training.build_model(
        adding_task, "lstm", units=4, layers=2, dropout=0.1, recurrent_dropout=0.2,
        peephole=True, forget_bias=1.0,
    )  # fmt: skip
    for index in range(2):
        layer = model.get_layer(f"lstm_{index}")
        assert layer.peephole and layer.forget_bias == 1.0
        assert layer.dropout == 0.1 and layer.recurrent_dropout == 0.2
    assert model.get_layer("lstm_0").return_sequences
    assert not model.get_layer("lstm_1").return_sequences


@pytest.mark.parametrize("cell, task", [("lstm", "text_task"), ("grid_lstm_1d", "adding_task")])
def test_output_dropout_sits_before_the_head_and_drops_only_in_training(cell, task, request):
    task = request.getfixturevalue(task)
    model = training.build_model(task, cell, units=64, output_dropout=0.25)
    names = [layer.name for layer in model.layers]
    assert names[-2:] == ["output_dropout", "head"]
    assert model.get_layer("output_dropout").rate == 0.25
    x = _batch(task, batch=8, steps=6)
    features = keras.Model(model.input, model.get_layer("output_dropout").input)(x)
    dropped = model.get_layer("output_dropout")(features, training=True)
    dropped, features = np.asarray(dropped), np.asarray(features)
    zeroed = (dropped == 0) & (features != 0)
    assert 0.15 < zeroed.mean() < 0.35  # a fresh mask per entry, about a quarter
    kept = ~zeroed & (features != 0)
    np.testing.assert_allclose(dropped[kept], features[kept] / 0.75, rtol=1e-5)
    # Inference: no dropout, the same outputs as the model without the layer.
    plain = training.build_model(task, cell, units=64)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict_on_batch(x), plain.predict_on_batch(x), rtol=1e-6)
    assert "output_dropout" not in [layer.name for layer in plain.layers]


@pytest.mark.parametrize("value", [-0.1, 1.0, True, "0.5"])
def test_a_bad_output_dropout_is_named(value, adding_task):
    with pytest.raises(ValueError, match=r"`output_dropout` must be a finite float >= 0.0 and < 1.0.*Pass e.g. output_dropout=0.1"):
        training.build_model(adding_task, "lstm", output_dropout=value)


def test_clockwork_gets_modules_by_default(adding_task):
    layer = training.build_model(adding_task, "clockwork_rnn", units=12).get_layer("clockwork_rnn_0")
    assert layer.cell.periods == [1, 2, 4, 8, 16, 32]
    layer = training.build_model(adding_task, "clockwork_rnn", units=8, periods=[1, 4]).get_layer("clockwork_rnn_0")
    assert layer.cell.periods == [1, 4]


def test_unknown_cell_lists_the_cells(adding_task):
    with pytest.raises(ValueError, match="Unknown cell 'lstmm'. Choose among: lstm, peephole_lstm"):
        training.build_model(adding_task, "lstmm")


def test_unknown_option_lists_the_valid_ones(adding_task):
    with pytest.raises(ValueError, match=r"Unknown option\(s\) 'peepholes' for cell 'lstm' \(LSTM\). Valid options: .*peephole") as info:
        training.build_model(adding_task, "lstm", peepholes=True)
    assert "forget_bias" in str(info.value)
    assert "units" not in training.cell_options("lstm")
    assert {"reset_after", "use_cudnn"} <= set(training.cell_options("gru"))
    assert {"depth", "tied"} <= set(training.cell_options("grid_lstm_1d"))


def test_bad_values_get_the_layers_own_message(adding_task):
    with pytest.raises(ValueError, match="dropout"):
        training.build_model(adding_task, "lstm", dropout=1.5)
    with pytest.raises(ValueError, match="`units`"):
        training.build_model(adding_task, "lstm", units=0)
    with pytest.raises(ValueError, match="coupled"):
        training.build_model(adding_task, "lstm", coupled=True, input_gate=False)


def test_grid_lstm_1d_refuses_sequence_outputs(jsb_task, adding_task):
    with pytest.raises(ValueError, match="'grid_lstm_1d' reads one fixed-length.*one output per step"):
        training.build_model(jsb_task, "grid_lstm_1d")
    with pytest.raises(ValueError, match="recurrent_dropout"):
        training.build_model(adding_task, "grid_lstm_1d", recurrent_dropout=0.1)


def test_optimizers_and_their_checks():
    optimizer = training.make_optimizer("rmsprop", 0.01, clipnorm=1.0)
    assert optimizer.__class__.__name__ == "RMSprop" and optimizer.clipnorm == 1.0
    with pytest.raises(ValueError, match="Unknown optimizer 'adamw'.*AdamW is 'adam' with `weight_decay`"):
        training.make_optimizer("adamw")
    with pytest.raises(ValueError, match="`learning_rate`"):
        training.make_optimizer("adam", 0)
    with pytest.raises(ValueError, match="`clipnorm` must be a finite float > 0. Received: clipnorm=-1. Pass None for no clipping."):
        training.make_optimizer("adam", 0.1, clipnorm=-1)
    for bad in (True, None, "0.1"):
        with pytest.raises(ValueError, match=r"`learning_rate` must be a finite float > 0. Received: learning_rate="):
            training.make_optimizer("adam", bad)


def test_boolean_cell_options_are_those_with_a_bool_default():
    assert "reset_after" in training.boolean_cell_options("gru")
    assert {"peephole", "coupled", "use_bias"} <= set(training.boolean_cell_options("lstm"))
    for cell in training.CELLS:
        booleans = training.boolean_cell_options(cell)
        assert set(booleans) <= set(training.cell_options(cell))
        assert not {"units", "activation", "forget_bias", "dropout"} & set(booleans)
