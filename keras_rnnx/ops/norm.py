"""Normalisation helpers shared by the cells.

Layer normalisation (Ba et al. 2016) runs at every step of a layer-normalised
LSTM, so what its backward pass keeps per step is multiplied by the sequence
length. `normalize_blocks` therefore has its own gradient: it keeps only the
normalised values and ``1 / sqrt(var + epsilon)`` (the same memory as its
output), where automatic differentiation of the forward formula keeps the
input, the centred input and the normalised values. The gradient is the
standard one, ``dx = r * (g - mean(g) - x_hat * mean(g * x_hat))`` with
``r = 1 / sqrt(var + epsilon)``, and is tested against float64 central
finite differences of a NumPy layer norm (``tests/layers/test_layer_norm.py``).
"""

from keras import ops

LAYER_NORM_EPSILON = 1e-5


def normalize_blocks(blocks, epsilon=LAYER_NORM_EPSILON):
    """``(x - mean) / sqrt(var + epsilon)`` of ``concatenate(blocks, -1)``.

    Statistics run over all blocks together (the concatenation is never
    materialised) and are computed in float32 even when the blocks are
    float16/bfloat16; the result, one block per input block, is cast back to
    the blocks' dtype (as `keras.layers.LayerNormalization` does).

    Args:
        blocks: a list of tensors ``(..., width_k)`` of one dtype.
        epsilon: added to the variance.

    Returns:
        a list of tensors shaped as ``blocks``.
    """
    dtype = blocks[0].dtype
    width = sum(b.shape[-1] for b in blocks)

    def mean_over_blocks(parts):
        total = sum(ops.sum(p, axis=-1, keepdims=True) for p in parts)
        return total / width

    @ops.custom_gradient
    def normalize(*xs):
        parts = [ops.cast(x, "float32") for x in xs]
        mean = mean_over_blocks(parts)
        centred = [p - mean for p in parts]
        var = mean_over_blocks([ops.square(c) for c in centred])
        scale = ops.rsqrt(var + epsilon)
        normed = [c * scale for c in centred]

        def grad(*args, upstream=None):
            if upstream is None:
                upstream = args[0] if len(args) == 1 else args
            if not isinstance(upstream, (list, tuple)):
                upstream = (upstream,)
            g = [ops.cast(u, "float32") for u in upstream]
            g_mean = mean_over_blocks(g)
            gn_mean = mean_over_blocks([gk * nk for gk, nk in zip(g, normed)])
            return tuple(
                ops.cast(scale * (gk - g_mean - nk * gn_mean), dtype)
                for gk, nk in zip(g, normed)
            )

        return tuple(ops.cast(n, dtype) for n in normed), grad

    return list(normalize(*blocks))


def layer_norm_blocks(blocks, gamma, beta, epsilon=LAYER_NORM_EPSILON):
    """`layer_norm` of ``concatenate(blocks, -1)``, returned as blocks.

    ``gamma``/``beta`` cover the whole width and are split like the blocks
    (equal widths).
    """
    count = len(blocks)
    dtype = blocks[0].dtype
    gammas = ops.split(ops.cast(gamma, dtype), count, axis=-1)
    betas = ops.split(ops.cast(beta, dtype), count, axis=-1)
    return [
        n * g + b
        for n, g, b in zip(normalize_blocks(blocks, epsilon), gammas, betas)
    ]


def layer_norm(x, gamma, beta, epsilon=LAYER_NORM_EPSILON):
    """Layer normalisation over the last axis (Ba et al. 2016).

    ``gamma * (x - mean) / sqrt(var + epsilon) + beta``, statistics in float32
    (see `normalize_blocks`), the result in ``x``'s dtype.
    """
    return layer_norm_blocks([x], gamma, beta, epsilon)[0]
