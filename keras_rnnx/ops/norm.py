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


def layer_norm_blocks(blocks, gamma, beta, epsilon=LAYER_NORM_EPSILON):
    """`layer_norm` of ``concatenate(blocks, -1)``, returned as blocks.

    The statistics run over all blocks together (equal widths), without
    materialising the concatenation; ``gamma``/``beta`` cover the whole width.
    """
    count = len(blocks)
    dtype = blocks[0].dtype
    parts = [ops.cast(b, "float32") for b in blocks]
    mean = sum(ops.mean(p, axis=-1, keepdims=True) for p in parts) / count
    square = sum(ops.mean(ops.square(p), axis=-1, keepdims=True) for p in parts) / count
    var = ops.maximum(square - ops.square(mean), 0.0)
    scale = ops.rsqrt(var + epsilon)
    gammas = ops.split(ops.cast(gamma, dtype), count, axis=-1)
    betas = ops.split(ops.cast(beta, dtype), count, axis=-1)
    return [
        ops.cast((p - mean) * scale, dtype) * g + b
        for p, g, b in zip(parts, gammas, betas)
    ]
