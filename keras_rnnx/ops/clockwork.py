"""Clockwork RNN step maths (Koutnik, Greff, Gomez & Schmidhuber 2014).

The ``units`` hidden units are split into ``n`` modules, module ``k`` holding
``size_k`` units and running with period ``T_k`` (strictly increasing, so a
module of larger index is slower). At step ``t`` (counted from 0)::

    active_k = (t mod T_k == 0)
    h_k = act(W_k x + U_k h'[k:] + b_k)   if active_k
    h_k = h'_k                            otherwise

where ``h'[k:]`` is the previous state of modules ``k, k+1, ..., n-1`` (the
module itself and every slower one). Slower modules feed faster ones, never the
reverse: the recurrent matrix of the paper is block upper-triangular. Here that
structure is *stored*, not masked: ``U_k`` has shape
``(size_k + ... + size_{n-1}, size_k)`` and there is no weight at all from a
faster module into a slower one, so no gradient can reach one.

The step counter is the second state, ``t mod L`` with ``L`` the least common
multiple of the periods, kept as a float ``(batch, 1)`` column because
`keras.layers.RNN` casts every state to the compute dtype. Integers are exact
in float32 up to 2**24, in float16 up to 2048 and in bfloat16 up to 256;
`max_exact_counter` gives the bound and the cell checks ``L`` against it.

Cost. With each period dividing the next (e.g. ``2**k``) the modules active at
step ``t`` are a prefix of the module list. The recurrence computes only the
widest prefix any row of the batch needs, with `keras.ops.switch` over the
prefix length (branch ``m`` computes modules ``0..m-1`` with static shapes),
then selects per row, so rows whose clocks differ (masking, initial states)
stay exact. With other periods the prefix reaches the slowest active module
and the inactive modules inside it are computed and discarded.

Weight layout (the keys of ``params``):

* ``kernel`` ``(input_dim, units)``: column block ``k`` is ``W_k``;
* ``bias`` ``(units,)`` or absent;
* ``recurrent_kernel_k`` for ``k = 0..n-1``:
  ``(units - offset_k, size_k)``, rows in module order from module ``k``.
* Optional, added by the layer once per sequence: ``recurrent_blocks``, the
  tuple of `clockwork_padded_kernels` (recomputed per step when absent).

The layer also computes the clock of every step before its loop
(`clockwork_schedule`) and passes each step's slice as ``schedule``; the cell,
stepped by `keras.layers.RNN`, reads its clock state instead. Both give the
same result.

Module-wise sequence path. Without a mask the layer does not step all modules
together: `clockwork_sequence` runs one loop per module, slowest first, over
that module's ticks only. Module ``k`` reads the previous state of the slower
modules, which the earlier loops have already produced for every step, so
their contribution ``h'[k+1:] @ U_k[size_k:]`` is one matmul before module
``k``'s loop, and the loop itself multiplies only ``h'_k @ U_k[:size_k]``
(``size_k x size_k``) per tick. There is no conditional in any loop (a
conditional inside an XLA loop made its backward pass slower than the dense
RNN) and the work is exactly what the schedule implies.

States: ``[h (units), clock (1)]``.
"""

import dataclasses
import functools
import math
from typing import Callable

from keras import activations
from keras import ops

from keras_rnnx.ops.engine import in_xla_context
from keras_rnnx.ops.engine import run_loop

# Largest N such that every integer in [0, N] is exactly representable.
_EXACT_INTEGERS = {"float64": 2**53, "float32": 2**24, "float16": 2**11, "bfloat16": 2**8}


def max_exact_counter(dtype):
    """The largest ``L`` a clock stored in ``dtype`` supports (``t`` in [0, L])."""
    return _EXACT_INTEGERS.get(str(dtype), 2**24)


@dataclasses.dataclass(frozen=True)
class ClockworkStructure:
    """Modules of a Clockwork RNN: periods and sizes, in module order."""

    units: int
    periods: tuple
    module_sizes: tuple
    activation: Callable = activations.tanh

    @property
    def num_modules(self):
        return len(self.periods)

    @property
    def offsets(self):
        """First unit of each module, plus ``units`` at the end."""
        out = [0]
        for size in self.module_sizes:
            out.append(out[-1] + size)
        return tuple(out)

    @property
    def period_lcm(self):
        return functools.reduce(math.lcm, self.periods, 1)

    @property
    def recurrent_shapes(self):
        """Shape of ``recurrent_kernel_k`` for each module ``k``."""
        off = self.offsets
        return tuple(
            (self.units - off[k], self.module_sizes[k]) for k in range(self.num_modules)
        )

    @property
    def output_size(self):
        return self.units

    @property
    def state_size(self):
        return [self.units, 1]

    @property
    def noise_size(self):
        return 0


def clockwork_input_projection(x, params, structure):
    """``x @ kernel + bias`` for one step ``(batch, D)`` or all ``(batch, T, D)``."""
    z = ops.matmul(x, params["kernel"])
    if params.get("bias") is not None:
        z = z + params["bias"]
    return z


def _unit_module(structure):
    """The module of each unit."""
    return tuple(k for k, size in enumerate(structure.module_sizes) for _ in range(size))


def clockwork_active(clock, structure):
    """``(batch, n)`` bool: which modules tick at the step held in ``clock``."""
    t = ops.cast(ops.round(clock[:, 0]), "int32")
    periods = ops.convert_to_tensor(structure.periods, "int32")
    return ops.equal(ops.mod(ops.expand_dims(t, -1), periods), 0)


def clockwork_padded_kernels(params, structure):
    """``recurrent_kernel_k`` below ``offset_k`` rows of constant zeros, for each ``k``.

    Each is ``(units, size_k)``: the column block ``k`` of the paper's block
    upper-triangular recurrent matrix. The zeros are constants, not weights:
    nothing (no update, no gradient) connects a faster module to a slower one.
    """
    s = structure
    off = s.offsets
    blocks = []
    for k in range(s.num_modules):
        block = params[f"recurrent_kernel_{k}"]
        if off[k]:
            zeros = ops.zeros((off[k], s.module_sizes[k]), dtype=block.dtype)
            block = ops.concatenate([zeros, block], axis=0)
        blocks.append(block)
    return tuple(blocks)


def _prefix_preactivation(width, structure, h_in, blocks):
    """``h_in @ U`` for the first ``width`` modules' columns, zeros after."""
    s = structure
    end = s.offsets[width]
    batch = ops.shape(h_in)[0]
    parts = [ops.matmul(h_in, blocks[k]) for k in range(width)]
    if end < s.units:
        parts.append(ops.zeros((batch, s.units - end), dtype=h_in.dtype))
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


def clockwork_schedule(initial_clock, mask, timesteps, structure, go_backwards=False, dtype="float32"):
    """The clock of a whole sequence, computed before the loop.

    Row ``b`` at its ``p``-th processed step is at ``t = clock_0 + (number of
    unmasked steps processed before)``: masked steps do not advance it.

    Args:
        initial_clock: ``(batch, 1)``, the clock state before the sequence.
        mask: optional bool ``(batch, timesteps)``.
        timesteps: int.
        structure: `ClockworkStructure`.
        go_backwards: whether the loop processes the sequence from the end.
        dtype: dtype of the result.

    Returns:
        ``(batch, timesteps, units + 2)`` in time order: for each step, per
        unit, 1.0 where its module ticks (``t mod T_k == 0``, unmasked) else
        0.0; the widest prefix of ticking modules over the batch; the next
        clock ``(t + 1) mod L``.
    """
    s = structure
    clock0 = ops.cast(ops.round(initial_clock[:, :1]), "int32")
    if mask is None:
        unmasked = ops.ones((ops.shape(initial_clock)[0], timesteps), dtype="int32")
    else:
        unmasked = ops.cast(mask, "int32")
    if go_backwards:
        unmasked = ops.flip(unmasked, axis=1)
    t = clock0 + ops.cumsum(unmasked, axis=1) - unmasked
    periods = ops.convert_to_tensor(s.periods, "int32")
    ticks = ops.equal(ops.mod(ops.expand_dims(t, -1), periods), 0)
    # A masked step changes nothing (the loop keeps its states): no work.
    ticks = ops.logical_and(ticks, ops.expand_dims(ops.cast(unmasked, "bool"), -1))
    rank = ops.arange(1, s.num_modules + 1, dtype="int32")
    width = ops.max(ops.where(ticks, rank, ops.zeros_like(rank)), axis=(0, 2), initial=0)
    batch = ops.shape(t)[0]
    width = ops.broadcast_to(
        ops.expand_dims(ops.expand_dims(width, 0), -1), (batch, timesteps, 1)
    )
    keep = ops.take(ticks, list(_unit_module(s)), axis=2)
    next_clock = ops.expand_dims(ops.mod(t + 1, s.period_lcm), -1)
    schedule = ops.concatenate(
        [ops.cast(keep, dtype), ops.cast(width, dtype), ops.cast(next_clock, dtype)],
        axis=-1,
    )
    return ops.flip(schedule, axis=1) if go_backwards else schedule


def clockwork_recurrence(
    z, states, params, structure, recurrent_mask=None, noise=None, schedule=None
):
    """One step of the recurrence, given the projected input ``z``.

    Args:
        z: ``(batch, units)``, from `clockwork_input_projection`.
        states: ``[h', clock]``, ``clock`` ``(batch, 1)`` holding ``t mod L``.
        params: dict of weight tensors, see the module docstring; may hold
            ``recurrent_blocks`` from `clockwork_padded_kernels` (the fused
            loop builds them once per sequence).
        structure: `ClockworkStructure`.
        recurrent_mask: optional dropout mask multiplied into ``h'`` before the
            recurrent matmul (the copied modules keep the unmasked ``h'``).
        noise: unused (the cell draws no per-step noise).
        schedule: optional ``(batch, units + 2)`` slice of `clockwork_schedule`
            for this step (the fused loop precomputes it); when given, the
            clock state is not read.

    Returns:
        ``(h, [h, next_clock])``.
    """
    del noise
    s = structure
    h_prev, clock = states[0], states[1]
    blocks = params.get("recurrent_blocks")
    if blocks is None:
        blocks = clockwork_padded_kernels(params, s)
    u = s.units
    if schedule is None:
        active = clockwork_active(clock, s)
        rank = ops.arange(1, s.num_modules + 1, dtype="int32")
        # Widest prefix of modules any row needs (0 when none ticks).
        width = ops.max(ops.where(active, rank, ops.zeros_like(rank)), initial=0)
        keep = ops.take(active, list(_unit_module(s)), axis=1)
        t = ops.cast(ops.round(clock), "int32")
        next_clock = ops.cast(ops.mod(t + 1, s.period_lcm), clock.dtype)
    else:
        keep = ops.greater(schedule[:, :u], 0.5)
        width = ops.cast(schedule[0, u], "int32")
        next_clock = ops.cast(schedule[:, u + 1 :], clock.dtype)
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    if in_xla_context():
        # TensorFlow's XLA bridge fails on the switch's gradient inside a loop
        # of unknown batch and length (and the switch made the backward pass
        # slower than the dense update there): every module, then the select.
        pre = _prefix_preactivation(s.num_modules, s, h_in, blocks)
    else:
        branches = [
            functools.partial(_prefix_preactivation, m, s)
            for m in range(s.num_modules + 1)
        ]
        pre = ops.switch(width, branches, h_in, blocks)
    h = ops.where(keep, s.activation(z + pre), h_prev)
    return h, [h, next_clock]


def _module_tick_step(kernel, mask, activation):
    """Step of one module's loop: ``h_k = act(z + (h_k * mask_k) @ U_k[:size_k])``."""

    def step(z, states):
        h_in = states[0] if mask is None else states[0] * mask
        h = activation(z + ops.matmul(h_in, kernel))
        return h, [h]

    return step


def _gather_steps(sequence, index):
    """``sequence[b, index[b, j]]`` for ``sequence`` ``(B, T, F)``, ``index`` ``(B, J)``.

    A `keras.ops.take` on the flattened ``(B * T, F)`` rows: on TensorFlow its
    gradient is a sparse segment sum, 4x faster than `take_along_axis`'s here.
    """
    batch, steps, features = ops.shape(sequence)
    rows = ops.expand_dims(ops.arange(batch, dtype="int32") * steps, -1)
    return ops.take(ops.reshape(sequence, (-1, features)), index + rows, axis=0)


def _every_period(sequence, start, period, count):
    """``sequence[:, start + j * period]`` for ``j < count`` (past the end: unused).

    ``start`` is a scalar (every row at the same clock): a dynamic slice and a
    reshape, no gather, so the gradients are a pad and a reshape (a gather's
    is a scatter, slow under XLA on CPU). Or ``(batch, 1)``, one start per
    row: a gather.
    """
    steps = ops.shape(sequence)[1]
    if len(ops.shape(start)) == 2:
        j = ops.expand_dims(ops.arange(count, dtype="int32"), 0)
        return _gather_steps(sequence, ops.minimum(start + j * period, steps - 1))
    if period == 1 and isinstance(count, int) and count == sequence.shape[1]:
        return sequence
    batch, _, features = ops.shape(sequence)
    padded = ops.pad(sequence, [(0, 0), (0, 2 * period), (0, 0)])
    window = ops.slice(padded, (0, start, 0), (batch, count * period, features))
    window = ops.reshape(window, (batch, count, period * features))
    return window if period == 1 else ops.split(window, [features], axis=-1)[0]


def _held_states(held, start, period, timesteps):
    """``held[:, (start + t) // period]`` for ``t < timesteps``: each tick's state held.

    ``start`` a scalar: a repeat (broadcast and reshape) and a slice; or
    ``(batch, 1)``: a gather.
    """
    batch, ticks, features = ops.shape(held)
    if len(ops.shape(start)) == 2:
        steps = ops.expand_dims(ops.arange(timesteps, dtype="int32"), 0)
        return _gather_steps(held, (start + steps) // period)
    repeated = ops.broadcast_to(
        ops.expand_dims(held, 2), (batch, ticks, period, features)
    )
    repeated = ops.reshape(repeated, (batch, ticks * period, features))
    return ops.slice(repeated, (0, start, 0), (batch, timesteps, features))


def clockwork_sequence(
    z, initial_state, params, structure, recurrent_mask=None, unroll=False,
    shared_clock=False,
):
    """The whole unmasked sequence, one loop per module over its own ticks.

    Each row may be at its own clock. With ``shared_clock=True`` (the caller
    knows every row is at the clock of row 0, e.g. zero initial states) the
    tick steps are picked with slices and reshapes instead of gathers, which
    is faster under XLA on CPU. The result equals stepping
    `clockwork_recurrence` over every step (tested), for any periods, but each
    module costs only its ticks (see "Module-wise sequence path" in the module
    docstring).

    Module ``k``'s loop produces ``held_k`` ``(batch, ticks + 1, size_k)``: its
    initial state, then its state after each of its ticks. With ``f_k`` the
    first step at which it ticks, the state after step ``t`` is
    ``held_k[(t - f_k + T_k) // T_k]``: with a shared clock, ``held_k``
    repeated ``T_k`` times along time, then sliced, and the tick steps a slice
    and a reshape; per row, gathers. Modules are split and joined with `ops.split` / `ops.concatenate`: on
    TensorFlow the gradient of a strided slice of a ``(B, T, F)`` tensor cost
    10-25 ms each here, more than the loops themselves.

    Args:
        z: ``(batch, timesteps, units)``, from `clockwork_input_projection`,
            in processing order (reverse it first for ``go_backwards``).
        initial_state: ``[h0 (batch, units), clock0 (batch, 1)]``.
        params: dict of weight tensors (``recurrent_kernel_k``).
        structure: `ClockworkStructure`.
        recurrent_mask: optional ``(batch, units)`` dropout mask on ``h'``.
        unroll: unroll each module's loop.
        shared_clock: whether every row of ``clock0`` is known to be equal.

    Returns:
        ``(last_output, outputs, [h, clock])`` like `run_loop`, with
        ``outputs`` ``(batch, timesteps, units)``.
    """
    s = structure
    n = s.num_modules
    h0, clock0 = initial_state[0], initial_state[1]
    timesteps = z.shape[1] if z.shape[1] is not None else ops.shape(z)[1]
    clocks = ops.cast(ops.round(clock0), "int32")  # (B, 1)
    c0 = clocks[0, 0] if shared_clock else clocks

    def modules(tensor):
        return ops.split(tensor, list(s.offsets[1:-1]), axis=-1) if n > 1 else [tensor]

    z_mod, h0_mod = modules(z), modules(h0)
    mask_mod = [None] * n if recurrent_mask is None else modules(recurrent_mask)
    after = [None] * n  # state of module k after each step, (B, T, size_k)
    before = [None] * n  # state of module k before each step, (B, T, size_k)
    for k in reversed(range(n)):
        period, size = s.periods[k], s.module_sizes[k]
        ticks = -(-timesteps // period)  # the most ticks that fit in the sequence
        first = ops.mod(-c0, period)  # (c0 + first) mod period == 0
        kernel = params[f"recurrent_kernel_{k}"]
        z_k = _every_period(z_mod[k], first, period, ticks)
        if k + 1 < n:
            own_kernel, slow_kernel = ops.split(kernel, [size], axis=0)
            # The slower modules' state before each tick: one matmul for all.
            slow = before[k + 1] if k + 2 == n else ops.concatenate(before[k + 1 :], -1)
            if recurrent_mask is not None:
                slow = slow * ops.expand_dims(ops.concatenate(mask_mod[k + 1 :], -1), 1)
            slow = _every_period(slow, first, period, ticks)
            z_k = z_k + ops.matmul(slow, slow_kernel)
        else:
            own_kernel = kernel
        _, tick_states, _ = run_loop(
            _module_tick_step(own_kernel, mask_mod[k], s.activation),
            z_k,
            [h0_mod[k]],
            unroll=unroll,
        )
        held = ops.concatenate([ops.expand_dims(h0_mod[k], 1), tick_states], axis=1)
        if period == 1:
            after[k] = tick_states
        else:
            after[k] = _held_states(held, period - first, period, timesteps)
        if k > 0:
            before[k] = _held_states(held, period - 1 - first, period, timesteps)
    outputs = after[0] if n == 1 else ops.concatenate(after, axis=-1)
    if isinstance(timesteps, int):
        last = ops.squeeze(ops.split(outputs, [timesteps - 1], axis=1)[1], axis=1)
    else:
        last = ops.take(outputs, timesteps - 1, axis=1)
    clock = ops.mod(clocks + timesteps, s.period_lcm)
    clock = ops.cast(clock, clock0.dtype)
    return last, outputs, [last, clock]
