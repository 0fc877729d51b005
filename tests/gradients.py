"""Gradient checks shared by the reference tests.

`backend_gradients` differentiates a layer with the backend's own autodiff
(`tf.GradientTape`, or `jax.grad` over `stateless_call`); `finite_differences`
differentiates a NumPy reference by central differences in float64.
"""

import keras
import numpy as np
import pytest

np_ = keras.ops.convert_to_numpy


def backend_gradients(layer, x, loss_of, **kwargs):
    backend = keras.backend.backend()
    names = [v.name for v in layer.trainable_variables]
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(layer(x, **kwargs))
        grads = tape.gradient(loss, layer.trainable_variables)
    elif backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def f(tv):
            result, _ = layer.stateless_call(tv, non_trainable, x, **kwargs)
            return loss_of(result)

        grads = jax.jit(jax.grad(f))(trainable)
    else:
        pytest.skip(f"no gradient helper for backend {backend}")
    out = {}
    for name, g in zip(names, grads):
        assert g is not None, f"no gradient for {name}"
        out[name] = np_(g)
    return out


def finite_differences(loss, params):
    p64 = {k: v.astype("float64") for k, v in params.items()}
    eps = 1e-6
    result = {}
    for name, value in p64.items():
        flat = value.reshape(-1)
        fd = np.zeros(flat.size)
        for k in range(flat.size):
            saved = flat[k]
            flat[k] = saved + eps
            plus = loss(p64)
            flat[k] = saved - eps
            minus = loss(p64)
            flat[k] = saved
            fd[k] = (plus - minus) / (2 * eps)
        result[name] = fd.reshape(value.shape)
    return result


def assert_gradients_match(got, fd, rtol=1e-3, atol=1e-4):
    """``got`` (backend) equals ``fd`` (finite differences), weight by weight."""
    assert sorted(got) == sorted(fd)
    for name, expected in fd.items():
        expected = np.asarray(expected).reshape(-1)
        assert np.abs(expected).max() > 1e-4, f"{name}: vanishing reference gradient"
        np.testing.assert_allclose(
            np.asarray(got[name]).reshape(-1), expected, rtol=rtol, atol=atol,
            err_msg=f"gradient of {name}",
        )
