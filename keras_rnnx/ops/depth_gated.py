"""Depth-gated LSTM step maths (Yao et al. 2015, "Depth-Gated LSTM").

A stack of ``num_layers`` peephole LSTM layers run as ONE cell: at each step
layer ``L`` reads the output ``h(L-1)`` of the layer below at the same step as
its input ``x(L)``, and a depth gate ``d(L)`` links the memory cell of the layer
below (same step) into its own memory cell. Notation as in `keras_rnnx.ops.lstm`
(``s`` the recurrent activation, ``act`` the activation, primes for the
previous step of the same layer)::

    x(1) = x,  x(L) = h(L-1)                                (L >= 2)
    i = s(W_i x(L) + U_i h'(L) + b_i + p_i * c'(L))
    f = s(W_f x(L) + U_f h'(L) + b_f + p_f * c'(L))
    g = act(W_c x(L) + U_c h'(L) + b_c)
    d = s(b_d + W_d x(L) + w_cd * c'(L) + w_ld * c(L-1))    (L >= 2)
    c(L) = f * c'(L) + i * g + d * c(L-1)                   (no d term for L = 1)
    o = s(W_o x(L) + U_o h'(L) + b_o + p_o * c(L))
    h(L) = o * act(c(L))

The first layer has no layer below, hence no depth gate: it is exactly a
peephole LSTM (`keras_rnnx.ops.lstm_recurrence` with ``peephole=True``), and the
other layers reuse `lstm_input_projection` for their ``W x + b``. As in the
paper the depth gate has no recurrent matrix (no ``U_d h'``).

Weight layout (keys of ``params``, ``L`` = 1 .. num_layers, gate order
i, f, c, o as in Keras; ``in(1) = input_dim``, ``in(L) = units`` for L >= 2):

* ``layer{L}_kernel`` ``(in(L), 4 * units)``,
  ``layer{L}_recurrent_kernel`` ``(units, 4 * units)``,
  ``layer{L}_bias`` ``(4 * units,)`` (absent without bias),
* ``layer{L}_input_peephole``, ``layer{L}_forget_peephole``,
  ``layer{L}_output_peephole`` ``(units,)``,
* for L >= 2 only: ``layer{L}_depth_kernel`` ``(units, units)`` (``W_d``),
  ``layer{L}_depth_bias`` ``(units,)`` (``b_d``, absent without bias),
  ``layer{L}_depth_cell_peephole`` ``(units,)`` (``w_cd``),
  ``layer{L}_depth_lower_peephole`` ``(units,)`` (``w_ld``).
* Optional, added by the sequence engine: ``layer{L}_recurrent_kernel_blocks``,
  the four per-gate column blocks of ``layer{L}_recurrent_kernel``.

States: ``[h(1), c(1), h(2), c(2), ..., h(N), c(N)]``, each ``(batch, units)``.
Output: ``h(N)``, or with ``return_all_layers`` the concatenation
``[h(1), ..., h(N)]`` ``(batch, N * units)``.

Regularisation: ``recurrent_mask`` ``(batch, N * units)`` drops ``h'(L)`` before
each layer's recurrent matmul (one mask per sequence, its ``L``-th block for
layer ``L``); ``noise`` ``(batch, (N - 1) * units)`` holds the inverted-dropout
keep masks of the connections between layers (``x(L) = h(L-1) * mask``, fresh
at each step as in Zaremba et al. 2014), None at inference.
"""

import dataclasses
from typing import Callable

from keras import activations
from keras import ops

from keras_rnnx.ops.lstm import LSTMStructure
from keras_rnnx.ops.lstm import lstm_input_projection
from keras_rnnx.ops.lstm import lstm_recurrence

LAYER_PARAM_NAMES = (
    "kernel",
    "recurrent_kernel",
    "bias",
    "input_peephole",
    "forget_peephole",
    "output_peephole",
    "recurrent_kernel_blocks",
    "depth_kernel",
    "depth_bias",
    "depth_cell_peephole",
    "depth_lower_peephole",
)


@dataclasses.dataclass(frozen=True)
class DepthGatedStructure:
    """A depth-gated stack: width, depth, activations and the output kind."""

    units: int
    num_layers: int
    activation: Callable = activations.tanh
    recurrent_activation: Callable = activations.sigmoid
    return_all_layers: bool = False
    layer_dropout: float = 0.0

    @property
    def layer_structure(self):
        """The `LSTMStructure` of one layer (a peephole LSTM)."""
        return LSTMStructure(
            units=self.units,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            peephole=True,
        )

    @property
    def output_size(self):
        return self.units * (self.num_layers if self.return_all_layers else 1)

    @property
    def state_size(self):
        return [self.units] * (2 * self.num_layers)

    @property
    def noise_size(self):
        """Width of the per-step inter-layer dropout masks (0 when off)."""
        if self.layer_dropout <= 0:
            return 0
        return (self.num_layers - 1) * self.units


def layer_params(params, layer):
    """The weights of layer ``layer`` (1-based) under their `lstm` names."""
    prefix = f"layer{layer}_"
    return {
        name: params[prefix + name]
        for name in LAYER_PARAM_NAMES
        if params.get(prefix + name) is not None
    }


def depth_gated_input_projection(x, params, structure):
    """``W x + b`` of the first layer, for one step or all steps at once."""
    return lstm_input_projection(x, layer_params(params, 1), structure.layer_structure)


def inter_layer_keep_masks(uniform_noise, rate):
    """Uniform noise in [0, 1) -> inverted-dropout masks (0 or ``1/(1-rate)``)."""
    keep = ops.cast(ops.greater_equal(uniform_noise, rate), uniform_noise.dtype)
    return keep / (1.0 - rate)


def depth_gated_layer_step(z, x, states, c_lower, params, structure, recurrent_mask=None):
    """One step of a layer with a depth gate (layers ``L >= 2``).

    Args:
        z: ``(batch, 4 * units)``, `lstm_input_projection` of ``x``.
        x: ``(batch, units)``, the layer's input ``h(L-1)`` (after dropout).
        states: ``[h'(L), c'(L)]``.
        c_lower: ``(batch, units)``, the new memory cell ``c(L-1)`` below.
        params: `layer_params` of this layer.
        structure: `DepthGatedStructure`.
        recurrent_mask: optional ``(batch, units)`` dropout mask of ``h'(L)``.

    Returns:
        ``(h, [h, c])``.
    """
    h_prev, c_prev = states
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    blocks = params.get("recurrent_kernel_blocks")
    z_parts = ops.split(z, 4, axis=-1)
    if blocks is not None:
        r_parts = [ops.matmul(h_in, block) for block in blocks]
    else:
        r_parts = ops.split(ops.matmul(h_in, params["recurrent_kernel"]), 4, axis=-1)
    pre_i, pre_f, pre_c, pre_o = (zp + rp for zp, rp in zip(z_parts, r_parts))
    sig = structure.recurrent_activation
    act = structure.activation
    i = sig(pre_i + params["input_peephole"] * c_prev)
    f = sig(pre_f + params["forget_peephole"] * c_prev)
    g = act(pre_c)
    pre_d = (
        ops.matmul(x, params["depth_kernel"])
        + params["depth_cell_peephole"] * c_prev
        + params["depth_lower_peephole"] * c_lower
    )
    if params.get("depth_bias") is not None:
        pre_d = pre_d + params["depth_bias"]
    d = sig(pre_d)
    c = f * c_prev + i * g + d * c_lower
    o = sig(pre_o + params["output_peephole"] * c)
    h = o * act(c)
    return h, [h, c]


def depth_gated_recurrence(z1, states, params, structure, recurrent_mask=None, noise=None):
    """One step of the whole stack, given the first layer's projected input.

    Args:
        z1: ``(batch, 4 * units)``, from `depth_gated_input_projection`.
        states: ``[h'(1), c'(1), ..., h'(N), c'(N)]``.
        params: dict of weight tensors, see the module docstring.
        structure: `DepthGatedStructure`.
        recurrent_mask: optional ``(batch, N * units)`` dropout mask of the
            ``h'(L)``, one block of ``units`` per layer.
        noise: optional ``(batch, (N - 1) * units)`` keep masks of the
            connections between layers, from `inter_layer_keep_masks`.

    Returns:
        ``(output, new_states)``.
    """
    s = structure
    n = s.num_layers
    rec_masks = [None] * n
    if recurrent_mask is not None:
        rec_masks = ops.split(recurrent_mask, n, axis=-1) if n > 1 else [recurrent_mask]
    between = [None] * (n - 1)
    if noise is not None and n > 1:
        between = ops.split(noise, n - 1, axis=-1) if n > 2 else [noise]
    lstm = s.layer_structure
    h, (_, c) = lstm_recurrence(
        z1, states[0:2], layer_params(params, 1), lstm, rec_masks[0]
    )
    outputs = [h]
    new_states = [h, c]
    for layer in range(2, n + 1):
        p = layer_params(params, layer)
        x = h if between[layer - 2] is None else h * between[layer - 2]
        z = lstm_input_projection(x, p, lstm)
        h, (_, c) = depth_gated_layer_step(
            z, x, states[2 * layer - 2 : 2 * layer], c, p, s, rec_masks[layer - 1]
        )
        outputs.append(h)
        new_states += [h, c]
    output = ops.concatenate(outputs, axis=-1) if s.return_all_layers and n > 1 else h
    return output, new_states
