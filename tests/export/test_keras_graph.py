"""The private Keras API of `keras_rnnx.export._keras_graph` still exists."""

import keras
import pytest

from keras_rnnx.export._keras_graph import functional_graph
from keras_rnnx.export._keras_graph import graph_nodes

pytestmark = pytest.mark.tf_only


def test_nodes_in_execution_order_with_fill_in():
    inputs = keras.Input((None, 4))
    x = keras.layers.Masking(-1.0)(inputs)
    x = keras.layers.LSTM(3, return_sequences=True)(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    nodes = graph_nodes(functional_graph(model))
    names = [type(node.operation).__name__ for node in nodes]
    assert names.index("Masking") < names.index("LSTM") < names.index("Dense")
    lstm = nodes[names.index("LSTM")]
    assert lstm.arguments.kwargs.get("mask") is not None  # the mask is a node input
    args, _ = lstm.arguments.fill_in({id(t): "value" for t in lstm.input_tensors})
    assert "value" in args


def test_sequential_and_subclassed():
    model = keras.Sequential([keras.Input((None, 4)), keras.layers.GRU(3)])
    assert functional_graph(model) is not None

    class Sub(keras.Model):
        def call(self, x):
            return x

    assert functional_graph(Sub()) is None
