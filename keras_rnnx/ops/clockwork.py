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
together: `clockwork_sequence` runs one loop per module (or per *group* of
consecutive modules, `module_groups`), slowest first, over the ticks of that
module only. A module reads the previous state of the slower ones, which the
earlier loops have already produced at their own ticks, so their contribution
``h'[slower] @ U[slower rows]`` is one matmul per slower module at *its* rate
(``(batch, ticks + 1, size)`` rows, not one per step), held and repeated to
the faster module's ticks before its loop; the loop itself multiplies only
the module's own ``(size, size)`` block (a group's block upper-triangular
matrix, with a ``where`` keeping the modules that do not tick). Each loop
iteration takes ``steps_per_iteration`` ticks (default 2), paying the loop's
fixed cost once for them. There is no conditional in any loop (a conditional
inside an XLA loop made its backward pass slower than the dense RNN), and no
``(batch, timesteps, units)`` tensor unless the layer returns sequences.

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
from keras_rnnx.ops.engine import sequence_matmul

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
    z = sequence_matmul(x, params["kernel"])
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
        # The same in every row; row 0's by a slice and a sum, which is 0 for
        # an empty batch (schedule[0, u] would be out of bounds).
        width = ops.cast(ops.sum(schedule[:1, u]), "int32")
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


def _group_tick_step(kernel, mask, activation, width, substeps):
    """Step of a group's loop: ``substeps`` ticks of the group per iteration.

    The step input is ``(z, keep)``, each ``(batch, substeps * width)``: for
    each tick, the projected input and 1.0 on the units of the modules that
    tick then (0.0 on the others and on padding past the end). Per tick::

        h = where(keep, act(z + (h' * mask) @ U_group), h')
    """

    def step(inputs, states):
        z, keep = inputs
        if substeps > 1:
            z = ops.split(z, substeps, axis=-1)
            keep = ops.split(keep, substeps, axis=-1)
        else:
            z, keep = [z], [keep]
        h = states[0]
        outputs = []
        for z_j, keep_j in zip(z, keep):
            h_in = h if mask is None else h * mask
            h = ops.where(keep_j > 0.5, activation(z_j + ops.matmul(h_in, kernel)), h)
            outputs.append(h)
        return (outputs[0] if substeps == 1 else ops.concatenate(outputs, -1)), [h]

    return step


def _group_kernels(params, structure, groups):
    """The recurrent weights, cut for `clockwork_sequence`'s groups.

    Returns ``(squares, faster)``, one entry per group. ``squares[g]``
    ``(w, w)``, ``w`` the group's units, is its block upper-triangular
    recurrent matrix: column block ``k`` holds the rows of
    ``recurrent_kernel_k`` that read modules ``k..stop-1``, below constant
    zeros (no weight from a faster module into a slower one). ``faster[g]``
    ``(w, offsets[start])`` holds the weights from group ``g`` into every
    faster module (rows of group ``g`` in each faster ``recurrent_kernel_k``;
    None for the fastest group).
    """
    s = structure
    off = s.offsets
    squares, faster = [], [[] for _ in groups]
    for g, (start, stop) in enumerate(groups):
        own_blocks = []
        for k in range(start, stop):
            kernel = params[f"recurrent_kernel_{k}"]
            # Rows of module k's kernel: its own group, then each slower group.
            cuts = [off[b] - off[k] for _, b in groups[g:-1]]
            rows = ops.split(kernel, cuts, axis=0) if cuts else [kernel]
            own = rows[0]
            if off[k] > off[start]:
                zeros = ops.zeros((off[k] - off[start], s.module_sizes[k]), dtype=kernel.dtype)
                own = ops.concatenate([zeros, own], axis=0)
            own_blocks.append(own)
            for j, block in zip(range(g + 1, len(groups)), rows[1:]):
                faster[j].append(block)
        squares.append(_join(own_blocks))
    return squares, [_join(blocks) if blocks else None for blocks in faster]


def _join(blocks):
    return blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=-1)


def module_groups(structure):
    """How `clockwork_sequence` groups the modules into loops (default plan).

    One loop per module, over that module's ticks only: exactly the work the
    schedule implies. Grouping modules (one loop over the ticks of the
    group's fastest module, a ``where`` keeping the others) pays off only if a
    loop's fixed cost exceeds a module's matmul; since the slower modules'
    contributions are computed at their own rate (`clockwork_sequence`), it
    does not here: 8 modules of 64 units, periods ``2**k``, TF 2.21 with XLA,
    train step 33-35 ms one loop per module against 52-53 ms for modules
    0-2 and 3-7 together (docs/clockwork.md, "Speed").

    Returns:
        tuple of ``(start, stop)`` module ranges, fastest first.
    """
    return tuple((k, k + 1) for k in range(structure.num_modules))


def _check_groups(groups, structure):
    s = structure
    bounds = [g[0] for g in groups] + [groups[-1][1]] if groups else []
    ok = (
        bool(groups)
        and bounds[0] == 0
        and bounds[-1] == s.num_modules
        and all(a < b for a, b in zip(bounds, bounds[1:]))
        and all(g[1] == h[0] for g, h in zip(groups, groups[1:]))
        and all(
            s.periods[k] % s.periods[a] == 0 for a, b in groups for k in range(a, b)
        )
    )
    if not ok:
        raise ValueError(
            "`groups` must be consecutive (start, stop) module ranges covering "
            f"0..{s.num_modules}, each module's period a multiple of its group's "
            f"first period (periods {s.periods}); got {groups}."
        )


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


def _slower_at_ticks(contribution, slow_first, slow_period, first, period, ticks):
    """A slower group's contribution, held, at each tick of a faster group.

    ``contribution`` ``(B, slow_ticks + 1, w)`` is ``held @ W`` for the slower
    group's held states (initial state, then the state after each of its
    ticks). The faster group's tick ``m`` is at step ``first + m * period``;
    it reads the slower state from before that step, the one after the slower
    group's last tick strictly before it: index
    ``ceil((first + m * period - slow_first) / slow_period)`` (0 before the
    first). With a shared clock and ``slow_period = r * period`` that is a
    repeat by ``r`` and a slice; otherwise a gather.
    """
    per_row = len(ops.shape(first)) == 2
    if not per_row and slow_period % period == 0:
        r = slow_period // period
        q = (slow_first - first) // period  # in [0, r)
        return _held_states(contribution, r - 1 - q, r, ticks)
    m = ops.arange(ticks, dtype="int32")
    if per_row:
        m = ops.expand_dims(m, 0)
    index = -((slow_first - first - m * period) // slow_period)
    if per_row:
        return _gather_steps(contribution, index)
    return ops.take(contribution, index, axis=1)


def _last_held(held, first, period, timesteps):
    """``held`` at the group's tick count after ``timesteps`` steps: ``(B, w)``."""
    index = (timesteps - 1 - first + period) // period
    if len(ops.shape(first)) == 2:
        return ops.squeeze(_gather_steps(held, index), axis=1)
    batch, _, width = ops.shape(held)
    return ops.squeeze(ops.slice(held, (0, index, 0), (batch, 1, width)), axis=1)


def clockwork_sequence(
    z, initial_state, params, structure, recurrent_mask=None, unroll=False,
    shared_clock=False, groups=None, steps_per_iteration=2, return_sequences=True,
):
    """The whole unmasked sequence, one loop per group of modules over its ticks.

    Each row may be at its own clock. With ``shared_clock=True`` (the caller
    knows every row is at the clock of row 0, e.g. zero initial states) the
    tick steps are picked with slices and reshapes instead of gathers, which
    is faster under XLA on CPU. The result equals stepping
    `clockwork_recurrence` over every step (tested), for any periods and
    grouping, and each group costs only the ticks of its fastest module (see
    "Module-wise sequence path" in the module docstring).

    Groups run slowest first. Group ``g`` (base period ``P``, first tick at
    step ``f``) produces ``held_g`` ``(batch, ticks + 1, width)``: its initial
    state, then its state after each of its ticks. Its contribution to every
    faster module is one matmul on ``held_g`` (at the slow group's own rate,
    not per step), which each faster group then reads at its ticks
    (`_slower_at_ticks`: a repeat and a slice with a shared clock, per row a
    gather). Nothing of size ``(batch, timesteps, units)`` is built unless
    ``return_sequences``: the state after step ``t`` is
    ``held_g[(t - f + P) // P]``. Modules are split and joined with
    `ops.split` / `ops.concatenate`: on TensorFlow the gradient of a strided
    slice of a ``(B, T, F)`` tensor cost 10-25 ms each here, more than the loops.

    Args:
        z: ``(batch, timesteps, units)``, from `clockwork_input_projection`,
            in processing order (reverse it first for ``go_backwards``).
        initial_state: ``[h0 (batch, units), clock0 (batch, 1)]``.
        params: dict of weight tensors (``recurrent_kernel_k``).
        structure: `ClockworkStructure`.
        recurrent_mask: optional ``(batch, units)`` dropout mask on ``h'``.
        unroll: unroll each loop.
        shared_clock: whether every row of ``clock0`` is known to be equal.
        groups: ``(start, stop)`` module ranges, one loop each (default
            `module_groups`).
        steps_per_iteration: ticks a loop takes per iteration (the loop
            overhead is paid once for them); a loop with fewer ticks takes one.
        return_sequences: whether to build ``outputs``; if False it is None.

    Returns:
        ``(last_output, outputs, [h, clock])`` like `run_loop`, with
        ``outputs`` ``(batch, timesteps, units)`` or None.
    """
    s = structure
    groups = module_groups(s) if groups is None else tuple(tuple(g) for g in groups)
    _check_groups(groups, s)
    if not isinstance(steps_per_iteration, int) or steps_per_iteration < 1:
        raise ValueError(
            "`steps_per_iteration` must be a positive integer; "
            f"got {steps_per_iteration!r}."
        )
    off = s.offsets
    h0, clock0 = initial_state[0], initial_state[1]
    timesteps = z.shape[1] if z.shape[1] is not None else ops.shape(z)[1]
    clocks = ops.cast(ops.round(clock0), "int32")  # (B, 1)
    # Row 0's clock; a slice and a sum, not clocks[0, 0], so that an empty
    # batch (no row 0) gives 0 instead of an out-of-bounds slice.
    c0 = ops.sum(clocks[:1, 0]) if shared_clock else clocks

    def split_groups(tensor, count=len(groups)):
        """``tensor``'s last axis cut into the first ``count`` groups' units."""
        cuts = [off[a] for a, _ in groups[1:count]]
        return ops.split(tensor, cuts, axis=-1) if cuts else [tensor]

    z_g, h0_g = split_groups(z), split_groups(h0)
    mask_g = [None] * len(groups) if recurrent_mask is None else split_groups(recurrent_mask)
    squares, faster = _group_kernels(params, s, groups)
    # incoming[g]: (slower group's first tick, period, contribution to g).
    incoming = [[] for _ in groups]
    after, last = [None] * len(groups), [None] * len(groups)
    for g in reversed(range(len(groups))):
        start, stop = groups[g]
        period = s.periods[start]
        ticks = -(-timesteps // period)  # the most ticks that fit in the sequence
        first = ops.mod(-c0, period)  # (c0 + first) mod period == 0
        z_ticks = _every_period(z_g[g], first, period, ticks)
        for slow_first, slow_period, contribution in incoming[g]:
            z_ticks = z_ticks + _slower_at_ticks(
                contribution, slow_first, slow_period, first, period, ticks
            )
        tick_states = _run_group(
            s, start, stop, z_ticks, h0_g[g], squares[g], mask_g[g], c0, first, ticks,
            steps_per_iteration, unroll,
        )
        held = ops.concatenate([ops.expand_dims(h0_g[g], 1), tick_states], axis=1)
        if faster[g] is not None:
            h_in = held if mask_g[g] is None else held * ops.expand_dims(mask_g[g], 1)
            parts = split_groups(sequence_matmul(h_in, faster[g]), g)
            for k in range(g):
                incoming[k].append((first, period, parts[k]))
        last[g] = _last_held(held, first, period, timesteps)
        if return_sequences:
            if period == 1:
                after[g] = tick_states
            else:
                after[g] = _held_states(held, period - first, period, timesteps)
    last = _join(last)
    outputs = _join(after) if return_sequences else None
    clock = ops.mod(clocks + timesteps, s.period_lcm)
    clock = ops.cast(clock, clock0.dtype)
    return last, outputs, [last, clock]


def _run_group(structure, start, stop, z_ticks, h0, square, mask, c0, first, ticks,
               steps_per_iteration, unroll):
    """The group's states after each of its ``ticks`` ticks, ``(B, ticks, w)``.

    ``z_ticks`` ``(B, ticks, w)`` holds the projected input plus the slower
    groups' contribution at each tick. With ``r = steps_per_iteration > 1``
    the ticks are padded to a multiple of ``r`` (padding keeps the state) and
    reshaped so that one loop iteration takes ``r`` ticks.
    """
    s = structure
    period = s.periods[start]
    width = s.offsets[stop] - s.offsets[start]
    static_ticks = ticks if isinstance(ticks, int) else None
    r = steps_per_iteration
    if static_ticks is not None:
        r = max(1, min(r, static_ticks))
    # Which units tick at each of the group's ticks (the first module always).
    j = ops.expand_dims(ops.arange(ticks, dtype="int32"), 0)  # (1, ticks)
    t = ops.reshape(c0, (-1, 1)) + ops.reshape(first, (-1, 1)) + j * period
    unit_periods = ops.convert_to_tensor(
        [s.periods[k] for k in range(start, stop) for _ in range(s.module_sizes[k])],
        "int32",
    )
    keep = ops.equal(ops.mod(ops.expand_dims(t, -1), unit_periods), 0)
    keep = ops.broadcast_to(ops.cast(keep, z_ticks.dtype), ops.shape(z_ticks))
    if r > 1:
        # Pad with r steps (keep = 0: the state holds), cut to a multiple of r.
        batch = ops.shape(z_ticks)[0]
        length = -(-ticks // r) * r
        pad = [(0, 0), (0, r), (0, 0)]
        z_ticks = ops.slice(ops.pad(z_ticks, pad), (0, 0, 0), (batch, length, width))
        keep = ops.slice(ops.pad(keep, pad), (0, 0, 0), (batch, length, width))
        # The iteration count written out when static: JAX cannot infer a -1
        # for an empty batch.
        iterations = length // r if isinstance(length, int) else -1
        z_ticks = ops.reshape(z_ticks, (batch, iterations, r * width))
        keep = ops.reshape(keep, (batch, iterations, r * width))
    _, states, _ = run_loop(
        _group_tick_step(square, mask, s.activation, width, r),
        (z_ticks, keep),
        [h0],
        unroll=unroll,
    )
    if r > 1:
        batch = ops.shape(states)[0]
        states = ops.reshape(states, (batch, length if isinstance(length, int) else -1, width))
        states = ops.slice(states, (0, 0, 0), (batch, ticks, width))
    return states
