"""MUT1, MUT2, MUT3 step maths (Jozefowicz, Zaremba & Sutskever 2015).

The three architectures found by the paper's evolutionary search, written with
``s`` the recurrent activation (sigmoid) and ``act`` the activation (tanh)::

    MUT1: z = s(W_xz x + b_z)
          r = s(W_xr x + W_hr h' + b_r)
          h = act(W_hh (r * h') + act(x) + b_h) * z + h' * (1 - z)
    MUT2: z = s(W_xz x + W_hz h' + b_z)
          r = s(x + W_hr h' + b_r)
          h = act(W_hh (r * h') + W_xh x + b_h) * z + h' * (1 - z)
    MUT3: z = s(W_xz x + W_hz act(h') + b_z)
          r = s(W_xr x + W_hr h' + b_r)
          h = act(W_hh (r * h') + W_xh x + b_h) * z + h' * (1 - z)

The bare ``x`` terms (``act(x)`` in MUT1, ``x`` in MUT2) need
``input_dim == units``. Note the paper's blend: ``z`` weights the *new* value.

Weight layout (keys of ``params``):

=========  ====================  ======================  ==================
variant    ``kernel`` columns    ``recurrent_kernel``    ``candidate_kernel``
=========  ====================  ======================  ==================
MUT1       ``(D, 2U)``: z, r     ``(U, U)``: r           ``(U, U)``: W_hh
MUT2       ``(D, 2U)``: z, h     ``(U, 2U)``: z, r       ``(U, U)``: W_hh
MUT3       ``(D, 3U)``: z, r, h  ``(U, 2U)``: z, r       ``(U, U)``: W_hh
=========  ====================  ======================  ==================

``bias`` is ``(3U,)`` with blocks ``z, r, h`` for every variant.

The input projection returns ``(batch, 3U)`` with blocks ``z, r, h``: each
block holds every term of that pre-activation that depends on ``x`` only.

Optional, added by the sequence engine: ``recurrent_kernel_blocks``, the
column blocks of ``recurrent_kernel`` (one matmul per block).

State: ``[h (units)]``.
"""

import dataclasses
from typing import Callable

from keras import activations
from keras import ops

KERNEL_BLOCKS = {1: ("z", "r"), 2: ("z", "h"), 3: ("z", "r", "h")}
RECURRENT_BLOCKS = {1: ("r",), 2: ("z", "r"), 3: ("z", "r")}


@dataclasses.dataclass(frozen=True)
class MUTStructure:
    units: int
    variant: int = 1
    activation: Callable = activations.tanh
    recurrent_activation: Callable = activations.sigmoid

    @property
    def state_size(self):
        return [self.units]

    @property
    def output_size(self):
        return self.units

    noise_size = 0


def mut_input_projection(x, params, structure):
    """The ``x``-only part of the z, r, h pre-activations, ``(..., 3U)``."""
    v = structure.variant
    proj = ops.matmul(x, params["kernel"])
    blocks = dict(zip(KERNEL_BLOCKS[v], ops.split(proj, len(KERNEL_BLOCKS[v]), axis=-1)))
    if v == 1:
        blocks["h"] = structure.activation(x)
    elif v == 2:
        blocks["r"] = x
    z = ops.concatenate([blocks["z"], blocks["r"], blocks["h"]], axis=-1)
    if params.get("bias") is not None:
        z = z + params["bias"]
    return z


def mut_recurrence(z, states, params, structure, recurrent_mask=None, noise=None):
    """One MUT step given the projected input ``z`` ``(batch, 3U)``."""
    del noise
    s = structure
    h_prev = states[0]
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    x_z, x_r, x_h = ops.split(z, 3, axis=-1)
    sig, act = s.recurrent_activation, s.activation
    kernel = params["recurrent_kernel"]
    u = s.units
    blocks = params.get("recurrent_kernel_blocks")
    if blocks is None:
        blocks = [kernel[:, k * u : (k + 1) * u] for k in range(len(RECURRENT_BLOCKS[s.variant]))]
    if s.variant == 1:
        update = sig(x_z)
        reset = sig(x_r + ops.matmul(h_in, kernel))
    elif s.variant == 2:
        if params.get("recurrent_kernel_blocks") is None:
            r_z, r_r = ops.split(ops.matmul(h_in, kernel), 2, axis=-1)
        else:
            r_z, r_r = [ops.matmul(h_in, block) for block in blocks]
        update = sig(x_z + r_z)
        reset = sig(x_r + r_r)
    else:
        update = sig(x_z + ops.matmul(act(h_in), blocks[0]))
        reset = sig(x_r + ops.matmul(h_in, blocks[1]))
    candidate = act(ops.matmul(reset * h_in, params["candidate_kernel"]) + x_h)
    h = candidate * update + h_prev * (1.0 - update)
    return h, [h]
