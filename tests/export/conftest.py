"""Shared helpers of the export tests: small models with random weights."""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.tf_only


def randomize(model, seed=0, scale=0.5):
    """Every weight uniform in [-scale, scale] (peepholes, biases included)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.uniform(-scale, scale, weight.shape).astype("float32"))
    return model


def sequence_model(layer_fn, features=6, mask_value=None, head=3, seed=0):
    """Input -> [Masking] -> layer_fn -> Dense(head), random weights."""
    inputs = keras.Input((None, features))
    x = inputs
    if mask_value is not None:
        x = keras.layers.Masking(mask_value)(x)
    x = layer_fn(x)
    if head:
        x = keras.layers.Dense(head)(x)
    return randomize(keras.Model(inputs, x), seed=seed)


def right_padded(batch=3, timesteps=7, features=6, lengths=(7, 5, 2), pad=-1.0, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch, timesteps, features)).astype("float32")
    for row, length in enumerate(lengths[:batch]):
        x[row, length:] = pad
    return x


@pytest.fixture
def sequences():
    return np.random.default_rng(2).uniform(-1, 1, (3, 7, 6)).astype("float32")
