"""Normalisation helpers shared by the cells."""

from keras import ops

LAYER_NORM_EPSILON = 1e-5


def layer_norm(x, gamma, beta, epsilon=LAYER_NORM_EPSILON):
    """Layer normalisation over the last axis (Ba et al. 2016).

    ``gamma * (x - mean) / sqrt(var + epsilon) + beta``. Statistics are computed
    in float32 even when ``x`` is float16/bfloat16, and the result is cast back
    to ``x``'s dtype (as `keras.layers.LayerNormalization` does).
    """
    dtype = x.dtype
    x32 = ops.cast(x, "float32")
    mean = ops.mean(x32, axis=-1, keepdims=True)
    var = ops.mean(ops.square(x32 - mean), axis=-1, keepdims=True)
    y = (x32 - mean) * ops.rsqrt(var + epsilon)
    y = ops.cast(y, dtype)
    return y * ops.cast(gamma, dtype) + ops.cast(beta, dtype)
