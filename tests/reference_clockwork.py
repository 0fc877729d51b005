"""Pure NumPy reference of the Clockwork RNN (Koutnik et al. 2014).

Written from the paper's equations, not from the package: imports only numpy.
Only the weight layout (names, shapes) follows the package's documentation so
that the same weight dict feeds both.

The paper, with column vectors, modules sorted by increasing period and
``W_H`` block upper-triangular (module ``i`` reads modules ``j >= i``)::

    y_H(t) = tanh(W_H y_H(t-1) + W_I x(t))      rows of the modules with t mod T_i == 0
    y_H(t) = y_H(t-1)                           rows of the other modules

Package layout: ``kernel`` ``(D, U)`` (``W_I`` transposed), ``bias``
``(U,)``, ``recurrent_kernel_i`` ``(U - offset_i, size_i)``: the transpose of
the non-zero part of block row ``i`` of ``W_H``.

The step counter ``t`` of each row starts at the given initial clock and
advances only at unmasked steps (a masked step leaves everything unchanged and
outputs the previous output, zeros before the first step).
"""

import math

import numpy as np


def module_offsets(sizes):
    return np.concatenate([[0], np.cumsum(sizes)]).astype(int)


def param_shapes(input_dim, units, sizes, use_bias=True):
    off = module_offsets(sizes)
    shapes = {"kernel": (input_dim, units)}
    for i, size in enumerate(sizes):
        shapes[f"recurrent_kernel_{i}"] = (units - off[i], size)
    if use_bias:
        shapes["bias"] = (units,)
    return shapes


def full_recurrent_matrix(params, units, sizes):
    """The paper's ``W_H`` ``(U, U)``, block upper-triangular."""
    off = module_offsets(sizes)
    first = params["recurrent_kernel_0"]
    w = np.zeros((units, units), dtype=first.dtype)
    for i in range(len(sizes)):
        w[off[i] : off[i + 1], off[i] :] = params[f"recurrent_kernel_{i}"].T
    return w


def forward(params, x, periods, sizes, mask=None, initial_state=None):
    """Returns ``(outputs (B, T, U), [h (B, U), clock (B, 1)])``."""
    batch, steps, _ = x.shape
    units = int(sum(sizes))
    off = module_offsets(sizes)
    lcm = 1
    for p in periods:
        lcm = lcm * p // math.gcd(lcm, p)
    w_h = full_recurrent_matrix(params, units, sizes)
    w_i = params["kernel"].T
    bias = params.get("bias")
    if initial_state is None:
        h = np.zeros((batch, units), x.dtype)
        clock = np.zeros(batch, int)
    else:
        h = np.array(initial_state[0], dtype=x.dtype)
        clock = np.rint(np.asarray(initial_state[1])[:, 0]).astype(int)
    outputs = np.zeros((batch, steps, units), x.dtype)
    previous = np.zeros((batch, units), x.dtype)
    for t in range(steps):
        for b in range(batch):
            if mask is not None and not mask[b, t]:
                outputs[b, t] = previous[b]
                continue
            pre = w_h @ h[b] + w_i @ x[b, t]
            if bias is not None:
                pre = pre + bias
            new = h[b].copy()
            for i, period in enumerate(periods):
                if clock[b] % period == 0:
                    rows = slice(off[i], off[i + 1])
                    new[rows] = np.tanh(pre[rows])
            h[b] = new
            clock[b] = (clock[b] + 1) % lcm
            outputs[b, t] = new
            previous[b] = new
    return outputs, [h, clock[:, None].astype(x.dtype)]
