"""GRU step maths (Cho et al. 2014), in Keras' convention and weight layout.

Gates z (update), r (reset) and candidate g, in the Keras column order
``z, r, h``::

    z = s(W_z x + U_z h' + b_z)
    r = s(W_r x + U_r h' + b_r)
    g = act(W_h x + U_h (r * h') + b_h)              # reset_after=False
    g = act(W_h x + b_h + r * (U_h h' + b'_h))        # reset_after=True (cuDNN)
    h = z * h' + (1 - z) * g

Weight layout (keys of ``params``), identical to `keras.layers.GRU`:

* ``kernel`` ``(input_dim, 3 * units)``, ``recurrent_kernel``
  ``(units, 3 * units)``, columns ``z, r, h``.
* ``bias`` ``(3 * units,)`` when ``reset_after=False``; ``(2, 3 * units)``
  when ``reset_after=True`` (row 0 the input bias, row 1 the recurrent bias).

Optional, added by the sequence engine: ``recurrent_kernel_blocks``, the
three column blocks z, r, h of ``recurrent_kernel`` (one matmul per block).

State: ``[h (units)]``.
"""

import dataclasses
from typing import Callable

from keras import activations
from keras import ops


@dataclasses.dataclass(frozen=True)
class GRUStructure:
    units: int
    activation: Callable = activations.tanh
    recurrent_activation: Callable = activations.sigmoid
    reset_after: bool = True

    @property
    def state_size(self):
        return [self.units]

    @property
    def output_size(self):
        return self.units

    noise_size = 0


def gru_input_projection(x, params, structure):
    """``x @ W + b_input`` for the three blocks z, r, h."""
    z = ops.matmul(x, params["kernel"])
    bias = params.get("bias")
    if bias is not None:
        z = z + (bias[0] if structure.reset_after else bias)
    return z


def gru_recurrence(z, states, params, structure, recurrent_mask=None, noise=None):
    """One GRU step given the projected input ``z`` ``(batch, 3 * units)``."""
    del noise  # The GRU has no per-step noise.
    s = structure
    h_prev = states[0]
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    x_z, x_r, x_h = ops.split(z, 3, axis=-1)
    sig, act = s.recurrent_activation, s.activation
    kernel = params["recurrent_kernel"]
    blocks = params.get("recurrent_kernel_blocks")
    if s.reset_after:
        if blocks is not None:
            r_z, r_r, r_h = [ops.matmul(h_in, block) for block in blocks]
            bias = params.get("bias")
            if bias is not None:
                b_z, b_r, b_h = ops.split(bias[1], 3, axis=-1)
                r_z, r_r, r_h = r_z + b_z, r_r + b_r, r_h + b_h
        else:
            inner = ops.matmul(h_in, kernel)
            bias = params.get("bias")
            if bias is not None:
                inner = inner + bias[1]
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
        update = sig(x_z + r_z)
        reset = sig(x_r + r_r)
        candidate = act(x_h + reset * r_h)
    else:
        u = s.units
        if blocks is not None:
            k_z, k_r, k_h = blocks
            update = sig(x_z + ops.matmul(h_in, k_z))
            reset = sig(x_r + ops.matmul(h_in, k_r))
        else:
            k_h = kernel[:, 2 * u :]
            r_z, r_r = ops.split(ops.matmul(h_in, kernel[:, : 2 * u]), 2, axis=-1)
            update = sig(x_z + r_z)
            reset = sig(x_r + r_r)
        candidate = act(x_h + ops.matmul(reset * h_in, k_h))
    h = update * h_prev + (1.0 - update) * candidate
    return h, [h]
