"""Layer normalisation's own gradient (`keras_rnnx.ops.norm`) against NumPy.

The LSTM reference tests check the layer-normalised LSTM end to end; these
check the normalisation alone: values against the textbook formula, the
custom gradient against central finite differences in float64, blocks
against one concatenated tensor, and the float16 path.
"""

import keras
import numpy as np
import pytest

from keras_rnnx.ops.norm import layer_norm
from keras_rnnx.ops.norm import layer_norm_blocks
from keras_rnnx.ops.norm import normalize_blocks
from tests.gradients import finite_differences

EPS = 1e-5


def numpy_layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * gamma + beta


def backend_grad(fn, *args):
    """Gradients of the scalar ``fn(*args)`` w.r.t. every argument."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = fn(*tensors)
        return [g.numpy() for g in tape.gradient(loss, tensors)]
    import jax

    grads = jax.grad(lambda *a: fn(*a), argnums=tuple(range(len(args))))(*args)
    return [np.asarray(g) for g in grads]


@pytest.fixture
def data(rng):
    x = rng.normal(0.3, 2.0, (3, 2, 12)).astype("float32")
    gamma = rng.uniform(0.5, 1.5, 12).astype("float32")
    beta = rng.uniform(-0.5, 0.5, 12).astype("float32")
    weights = rng.normal(size=(3, 2, 12)).astype("float32")
    return x, gamma, beta, weights


def test_values_match_numpy(data):
    x, gamma, beta, _ = data
    got = keras.ops.convert_to_numpy(layer_norm(x, gamma, beta))
    np.testing.assert_allclose(got, numpy_layer_norm(x, gamma, beta), rtol=1e-5, atol=1e-5)
    blocks = layer_norm_blocks(np.split(x, 4, axis=-1), gamma, beta)
    got_blocks = np.concatenate([keras.ops.convert_to_numpy(b) for b in blocks], -1)
    np.testing.assert_allclose(got_blocks, got, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("num_blocks", [1, 4])
def test_gradient_matches_finite_differences(data, num_blocks):
    x, gamma, beta, weights = data

    def loss(x_, gamma_, beta_):
        out = layer_norm_blocks(keras.ops.split(x_, num_blocks, axis=-1), gamma_, beta_)
        return keras.ops.sum(keras.ops.concatenate(out, axis=-1) * weights)

    got = dict(zip(("x", "gamma", "beta"), backend_grad(loss, x, gamma, beta)))

    def reference_loss(p):
        return float((numpy_layer_norm(p["x"], p["gamma"], p["beta"]) * weights).sum())

    expected = finite_differences(reference_loss, {"x": x, "gamma": gamma, "beta": beta})
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-3, atol=1e-4, err_msg=name)


def test_float16_blocks_normalise_in_float16_with_the_float32_gradient(data):
    x, _, _, weights = data

    def loss(x_):
        (out,) = normalize_blocks([keras.ops.cast(x_, "float16")])
        assert out.dtype == "float16"
        return keras.ops.sum(keras.ops.cast(out, "float32") * weights)

    (got,) = backend_grad(loss, x)
    (reference,) = backend_grad(
        lambda x_: keras.ops.sum(normalize_blocks([x_])[0] * weights), x
    )
    np.testing.assert_allclose(got, reference, rtol=2e-2, atol=2e-2)
