"""The `>>>` examples in the docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "keras_rnnx.layers.lstm",
    "keras_rnnx.layers.gru",
    "keras_rnnx.layers.mut",
    "keras_rnnx.layers.depth_gated",
    "keras_rnnx.layers.grid",
    "keras_rnnx.layers.clockwork",
    "keras_rnnx.validation",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
