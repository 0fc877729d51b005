"""Each task's standard metric against an independent NumPy computation."""

import json
import math

import keras
import numpy as np
import pytest

from keras_rnnx import datasets
from keras_rnnx import training
from tests.training.conftest import JSB_DIR
from tests.training.conftest import TEXT


def test_mse_is_weighted_over_steps_and_averaged_over_units():
    rng = np.random.RandomState(0)
    y, p = rng.rand(3, 4, 2), rng.rand(3, 4, 2)
    w = (rng.rand(3, 4) > 0.3).astype("float32")
    acc = training.MetricAccumulator("mse")
    acc.update(y[:2], p[:2], w[:2])
    acc.update(y[2:], p[2:], w[2:])
    expected = np.sum(np.mean((y - p) ** 2, -1) * w) / w.sum()
    assert acc.result() == {"mse": pytest.approx(expected, rel=1e-12), "count": int(w.sum())}


def test_mse_of_one_output_with_flat_targets():
    acc = training.MetricAccumulator("mse")
    acc.update(np.array([1.0, 2.0]), np.array([[0.5], [2.5]]))
    assert acc.result()["mse"] == pytest.approx(0.25)


def test_accuracy_of_sparse_one_hot_and_binary_labels():
    p = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    for y in (np.array([1, 1, 1]), np.eye(2)[[1, 1, 1]]):
        acc = training.MetricAccumulator("accuracy")
        acc.update(y, p)
        assert acc.result()["accuracy"] == pytest.approx(2 / 3)
    acc = training.MetricAccumulator("accuracy")
    acc.update(np.array([[1.0], [0.0]]), np.array([[0.7], [0.6]]))
    assert acc.result()["accuracy"] == 0.5


def test_categorical_nll_per_step_and_bits_per_char():
    p = np.array([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]])
    y = np.array([[1, 2]])
    expected = (-math.log(0.25) - math.log(0.8)) / 2
    for metric in ("nll_nats_per_step", "nats_per_char"):
        acc = training.MetricAccumulator(metric)
        acc.update(y, p)
        assert acc.result()[metric] == pytest.approx(expected)
    assert acc.result()["bits_per_char"] == pytest.approx(expected / math.log(2))


def test_multilabel_nll_sums_the_notes_and_skips_padded_steps():
    p = np.array([[[0.9, 0.2], [0.5, 0.5]]])
    y = np.array([[[1.0, 0.0], [1.0, 1.0]]])
    acc = training.MetricAccumulator("nll_nats_per_step", multilabel=True)
    acc.update(y, p, np.array([[1.0, 0.0]]))
    assert acc.result()["nll_nats_per_step"] == pytest.approx(-math.log(0.9) - math.log(0.8))


def test_empty_split_and_unknown_metric_are_errors():
    with pytest.raises(ValueError, match="empty split"):
        training.MetricAccumulator("mse").result()
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        training.MetricAccumulator("auc")


def test_evaluate_mse_equals_keras_evaluate(adding_task):
    model = training.build_model(adding_task, "gru", units=4)
    training.compile_model(model, adding_task)
    ours = training.evaluate(model, adding_task, "test", batch_size=7)
    keras_mse = model.evaluate(datasets.load_split(adding_task, "test", batch_size=32), verbose=0)
    assert ours["mse"] == pytest.approx(keras_mse, rel=1e-5)
    assert ours["count"] == adding_task.options["test_size"]


def _silence_then(roll):
    return np.concatenate([np.zeros((1, 88), "float32"), roll[:-1]])


def test_jsb_nll_equals_numpy_over_the_raw_chorales(jsb_task):
    """Sum of binary cross-entropies over the 88 notes, averaged over all test steps,
    recomputed from the JSON file one chorale at a time (no padding)."""
    import tensorflow as tf

    model = training.build_model(jsb_task, "lstm", units=3)
    ours = training.evaluate(model, jsb_task, "test", batch_size=16)
    run = tf.function(model, input_signature=[tf.TensorSpec((1, None, 88))])  # one trace
    chorales = json.loads((JSB_DIR / "jsb-chorales-quarter.json").read_text())["test"]
    total, steps = 0.0, 0
    for chorale in chorales:
        roll = np.zeros((len(chorale), 88), "float32")
        for t, chord in enumerate(chorale):
            roll[t, [n - 21 for n in chord]] = 1.0
        p = np.clip(np.asarray(run(_silence_then(roll)[None]), np.float64)[0], 1e-7, 1 - 1e-7)
        total += -np.sum(roll * np.log(p) + (1 - roll) * np.log(1 - p))
        steps += len(chorale)
    assert ours["count"] == steps == 4725
    assert ours["nll_nats_per_step"] == pytest.approx(total / steps, rel=1e-5)
    # The Keras loss (mean over notes) times 88 is the same figure.
    training.compile_model(model, jsb_task)
    loss = model.evaluate(datasets.load_split(jsb_task, "test", batch_size=16), verbose=0)
    assert 88 * loss == pytest.approx(total / steps, rel=1e-4)


def test_text_nats_and_bits_per_char_equal_numpy(text_task):
    model = training.build_model(text_task, "lstm", units=5)
    ours = training.evaluate(model, text_task, "validation", batch_size=8)
    vocabulary = list(text_task.vocabulary)
    assert set(vocabulary) == set(TEXT)
    x, y = [np.concatenate(a) for a in zip(*datasets.load_split(text_task, "validation", batch_size=64).as_numpy_iterator())]
    p = np.clip(np.asarray(model(x), np.float64), 1e-7, 1 - 1e-7)
    nats = -np.mean(np.log(np.take_along_axis(p, y[..., None], -1)))
    assert ours["count"] == y.size
    assert ours["nats_per_char"] == pytest.approx(nats, rel=1e-6)
    assert ours["bits_per_char"] == pytest.approx(nats / math.log(2), rel=1e-6)


def test_keras_model_from_elsewhere_is_scored_too(adding_task):
    """Any model with the task's input and output shapes can be evaluated."""
    model = keras.Sequential([keras.Input((8, 2)), keras.layers.Flatten(), keras.layers.Dense(1)])
    assert training.evaluate(model, adding_task, "validation")["count"] == 32


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_carried_state_scores_each_stream_as_one_long_sequence(text_task, streams):
    """Reference: the raw validation text, cut into the streams, each read in one call."""
    model = training.build_model(text_task, "lstm", units=5)
    ours = training.evaluate_carried(model, text_task, "validation", streams=streams)
    vocabulary = list(text_task.vocabulary)
    ids = np.array([vocabulary.index(c) for c in TEXT[int(len(TEXT) * 0.9):]])
    steps = text_task.input_shape[0]
    windows = (len(ids) - 1) // steps
    per_stream = -(-windows // streams)
    nats = []
    for first in range(0, windows, per_stream):
        stream = ids[first * steps : min(first + per_stream, windows) * steps + 1]
        p = np.clip(np.asarray(model(stream[None, :-1]), np.float64)[0], 1e-7, 1 - 1e-7)
        nats.append(-np.log(p[np.arange(len(stream) - 1), stream[1:]]))
    nats = np.concatenate(nats)
    assert ours["count"] == nats.size == windows * steps
    assert ours["streams"] == streams
    assert ours["nats_per_char"] == pytest.approx(nats.mean(), rel=1e-5)
    assert ours["bits_per_char"] == pytest.approx(nats.mean() / math.log(2), rel=1e-5)
    if streams < windows:  # carrying the state changes the figure from the windowed one
        assert ours["nats_per_char"] != pytest.approx(training.evaluate(model, text_task, "validation")["nats_per_char"], rel=1e-6)


def test_carried_state_bad_input(text_task, adding_task):
    model = training.build_model(text_task, "gru", units=4)
    windows = datasets.split_sizes(text_task)["validation"]
    for streams in (0, windows + 1, 2.0, True):
        with pytest.raises(ValueError, match=r"`streams` must be an int from 1 to the \d+ windows"):
            training.evaluate_carried(model, text_task, streams=streams)
    with pytest.raises(ValueError, match="scores character models.*'adding'.*use evaluate"):
        training.evaluate_carried(model, adding_task)
    with pytest.raises(ValueError, match="`batch_size` must be an int >= 1"):
        training.stateful_stepper(model, batch_size=0)
