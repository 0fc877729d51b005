"""LSTM step maths: the whole family of Greff et al. (2017) behind switches.

Notation: ``x`` input, ``h'`` previous output, ``c'`` previous memory cell,
``s`` the recurrent activation (sigmoid), ``act`` the activation (tanh).

Vanilla (peephole) LSTM, gates i, f, o and candidate g::

    i = s(W_i x + U_i h' + b_i + p_i * c')            # input gate
    f = s(W_f x + U_f h' + b_f + p_f * c')            # forget gate
    g = act(W_c x + U_c h' + b_c)                      # candidate
    c = f * c' + i * g                                 # memory cell
    o = s(W_o x + U_o h' + b_o + p_o * c)              # output gate (new c)
    h = o * act(c)

Switches (each one of Greff et al.'s variants of the vanilla LSTM):

* ``peephole=False`` (NP): no ``p_*`` terms (the Keras LSTM).
* ``input_gate=False`` (NIG): ``i = 1``.  ``forget_gate=False`` (NFG): ``f = 1``.
  ``output_gate=False`` (NOG): ``o = 1``.
* ``input_activation=False`` (NIAF): ``g = W_c x + U_c h' + b_c``.
* ``output_activation=False`` (NOAF): ``h = o * c``.
* ``coupled=True`` (CIFG): ``i = 1 - f``; the input gate has no weights.
* ``full_gate_recurrence=True`` (FGR): the pre-activations of the gates
  ``[i, f, o]`` present also receive ``[i', f', o'] @ R`` where ``i', f', o'``
  are the previous step's gate activations (a third state, zeros at t=0) and
  ``R`` a full ``(k*units, k*units)`` matrix, ``k`` the number of gates.

Extras: ``cell_clip`` clips ``c`` to ``[-cell_clip, cell_clip]`` right after
its update (the output peephole sees the clipped value, as in TensorFlow's
``BlockLSTM``); ``layer_norm`` (Ba et al. 2016) normalises ``W x`` and ``U h'``
separately over all gates and ``c`` before the output activation
(``h = o * act(LN(c))``, the stored cell stays unnormalised);
``proj_units`` (Sak et al. 2014, TF1's ``num_proj``) multiplies ``h`` by a
``(units, proj_units)`` matrix, and the projected ``h`` is what recurs;
zoneout (Krueger et al. 2016) keeps each unit of ``h`` / ``c`` at its previous
value with probability ``zoneout_hidden`` / ``zoneout_cell`` during training and
blends ``rate * prev + (1 - rate) * new`` at inference.

Weight layout (the keys of ``params``; gates appear in the Keras order
``i, f, c, o`` and only the gates present take columns, see
`LSTMStructure.gates`):

* ``kernel`` ``(input_dim, n * units)``, ``recurrent_kernel``
  ``(output_size, n * units)``, ``bias`` ``(n * units,)`` or absent.
* ``input_peephole``, ``forget_peephole``, ``output_peephole`` ``(units,)``.
* ``gate_recurrent_kernel`` ``(k * units, k * units)`` (FGR).
* ``input_norm_gamma/beta``, ``recurrent_norm_gamma/beta`` ``(n * units,)``,
  ``cell_norm_gamma/beta`` ``(units,)`` (layer norm).
* ``projection_kernel`` ``(units, proj_units)``.
* Optional, added by the sequence engine (`keras_rnnx.ops.engine`):
  ``recurrent_kernel_blocks`` / ``gate_recurrent_kernel_blocks``, the column
  blocks of ``recurrent_kernel`` / ``gate_recurrent_kernel`` one per gate; when
  present the recurrence runs one matmul per block (same maths).

States: ``[h (output_size), c (units)]`` plus ``[gates (k * units)]`` with FGR.
"""

import dataclasses
from typing import Callable
from typing import Optional

from keras import activations
from keras import ops

from keras_rnnx.ops.norm import layer_norm
from keras_rnnx.ops.norm import layer_norm_blocks

GATE_ORDER = ("i", "f", "c", "o")
PEEPHOLE_NAMES = {"i": "input_peephole", "f": "forget_peephole", "o": "output_peephole"}


@dataclasses.dataclass(frozen=True)
class LSTMStructure:
    """The variant of the LSTM family: which gates, activations and extras."""

    units: int
    activation: Callable = activations.tanh
    recurrent_activation: Callable = activations.sigmoid
    input_gate: bool = True
    forget_gate: bool = True
    output_gate: bool = True
    input_activation: bool = True
    output_activation: bool = True
    coupled: bool = False
    peephole: bool = False
    full_gate_recurrence: bool = False
    cell_clip: Optional[float] = None
    layer_norm: bool = False
    proj_units: Optional[int] = None
    zoneout_hidden: float = 0.0
    zoneout_cell: float = 0.0

    @property
    def gates(self):
        """Blocks of ``kernel``'s columns, in order (subset of i, f, c, o)."""
        present = {
            "i": self.input_gate and not self.coupled,
            "f": self.forget_gate,
            "c": True,
            "o": self.output_gate,
        }
        return tuple(g for g in GATE_ORDER if present[g])

    @property
    def sigmoid_gates(self):
        """Gates with a sigmoid activation and weights of their own."""
        return tuple(g for g in self.gates if g != "c")

    @property
    def output_size(self):
        return self.proj_units or self.units

    @property
    def state_size(self):
        sizes = [self.output_size, self.units]
        if self.full_gate_recurrence:
            sizes.append(len(self.sigmoid_gates) * self.units)
        return sizes

    @property
    def noise_size(self):
        """Width of the uniform noise one step consumes in training (zoneout)."""
        size = 0
        if self.zoneout_hidden > 0:
            size += self.output_size
        if self.zoneout_cell > 0:
            size += self.units
        return size


def lstm_input_projection(x, params, structure):
    """The part of the step that depends only on ``x``: ``[LN](x @ W) + b``.

    ``x`` may be ``(batch, input_dim)`` or ``(batch, time, input_dim)``.
    """
    z = ops.matmul(x, params["kernel"])
    if structure.layer_norm:
        z = layer_norm(z, params["input_norm_gamma"], params["input_norm_beta"])
    if params.get("bias") is not None:
        z = z + params["bias"]
    return z


def zoneout_keep_masks(uniform_noise, structure):
    """Turn uniform noise ``(..., noise_size)`` into zoneout keep masks.

    1.0 where the unit keeps its previous value (probability
    ``zoneout_hidden`` for the ``output_size`` columns of ``h``, then
    ``zoneout_cell`` for the ``units`` columns of ``c``), else 0.0. Works on one
    step or on all steps at once.
    """
    s = structure
    rates = []
    if s.zoneout_hidden > 0:
        rates.append(ops.full((s.output_size,), s.zoneout_hidden, uniform_noise.dtype))
    if s.zoneout_cell > 0:
        rates.append(ops.full((s.units,), s.zoneout_cell, uniform_noise.dtype))
    threshold = ops.concatenate(rates, axis=0)
    return ops.cast(ops.less(uniform_noise, threshold), uniform_noise.dtype)


def zoneout(previous, new, rate, keep):
    """Zoneout: ``previous`` where ``keep`` is 1 (training), else ``new``.

    ``keep`` is None at inference, where the expectation
    ``rate * previous + (1 - rate) * new`` is returned.
    """
    if rate <= 0:
        return new
    if keep is None:
        return rate * previous + (1.0 - rate) * new
    return new + keep * (previous - new)


def lstm_recurrence(
    z, states, params, structure, recurrent_mask=None, noise=None
):
    """One step of the recurrence, given the projected input ``z``.

    Args:
        z: ``(batch, n * units)``, from `lstm_input_projection`.
        states: ``[h', c']`` (plus ``[gates']`` with FGR).
        params: dict of weight tensors, see the module docstring.
        structure: `LSTMStructure`.
        recurrent_mask: optional dropout mask multiplied into ``h'`` before
            the recurrent matmul (one mask, shared by all gates).
        noise: optional zoneout keep masks ``(batch, structure.noise_size)``
            from `zoneout_keep_masks`, in training; None at inference.

    Returns:
        ``(h, new_states)``.
    """
    s = structure
    h_prev, c_prev = states[0], states[1]
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    blocks = params.get("recurrent_kernel_blocks")
    if blocks is not None:
        z_parts = ops.split(z, len(s.gates), axis=-1)
        r_parts = [ops.matmul(h_in, block) for block in blocks]
        if s.layer_norm:
            r_parts = layer_norm_blocks(
                r_parts, params["recurrent_norm_gamma"], params["recurrent_norm_beta"]
            )
        pre = {g: zp + rp for g, zp, rp in zip(s.gates, z_parts, r_parts)}
    else:
        r = ops.matmul(h_in, params["recurrent_kernel"])
        if s.layer_norm:
            r = layer_norm(
                r, params["recurrent_norm_gamma"], params["recurrent_norm_beta"]
            )
        pre = dict(zip(s.gates, ops.split(z + r, len(s.gates), axis=-1)))

    if s.full_gate_recurrence and s.sigmoid_gates:
        gate_blocks = params.get("gate_recurrent_kernel_blocks")
        if gate_blocks is not None:
            parts = [ops.matmul(states[2], block) for block in gate_blocks]
        else:
            gate_rec = ops.matmul(states[2], params["gate_recurrent_kernel"])
            parts = ops.split(gate_rec, len(s.sigmoid_gates), axis=-1)
        for name, part in zip(s.sigmoid_gates, parts):
            pre[name] = pre[name] + part

    if s.peephole:
        for name in ("i", "f"):
            if name in pre:
                pre[name] = pre[name] + params[PEEPHOLE_NAMES[name]] * c_prev

    sig = s.recurrent_activation
    act = s.activation
    f = sig(pre["f"]) if "f" in pre else None
    if "i" in pre:
        i = sig(pre["i"])
    elif s.coupled:
        i = 1.0 - f
    else:
        i = None
    g = act(pre["c"]) if s.input_activation else pre["c"]

    c = c_prev if f is None else f * c_prev
    c = c + (g if i is None else i * g)
    if s.cell_clip is not None:
        c = ops.clip(c, -s.cell_clip, s.cell_clip)

    if "o" in pre:
        o_pre = pre["o"]
        if s.peephole:
            o_pre = o_pre + params[PEEPHOLE_NAMES["o"]] * c
        o = sig(o_pre)
    else:
        o = None

    c_out = c
    if s.layer_norm:
        c_out = layer_norm(c, params["cell_norm_gamma"], params["cell_norm_beta"])
    y = act(c_out) if s.output_activation else c_out
    h = y if o is None else o * y
    if s.proj_units:
        h = ops.matmul(h, params["projection_kernel"])

    if noise is not None:
        offset = 0
        noise_h = noise_c = None
        if s.zoneout_hidden > 0:
            noise_h = noise[..., : s.output_size]
            offset = s.output_size
        if s.zoneout_cell > 0:
            noise_c = noise[..., offset : offset + s.units]
        h = zoneout(h_prev, h, s.zoneout_hidden, noise_h)
        c = zoneout(c_prev, c, s.zoneout_cell, noise_c)
    else:
        h = zoneout(h_prev, h, s.zoneout_hidden, None)
        c = zoneout(c_prev, c, s.zoneout_cell, None)

    new_states = [h, c]
    if s.full_gate_recurrence:
        values = {"i": i, "f": f, "o": o}
        gate_values = [values[name] for name in s.sigmoid_gates]
        if gate_values:
            new_states.append(ops.concatenate(gate_values, axis=-1))
        else:
            new_states.append(states[2])
    return h, new_states
