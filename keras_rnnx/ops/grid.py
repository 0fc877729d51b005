"""Grid LSTM step maths (Kalchbrenner, Danihelka & Graves 2015).

An N-dimensional Grid LSTM *block* receives one hidden vector ``h_i`` and one
memory vector ``m_i`` per dimension ``i = 1..N`` and returns new ones. All the
hidden vectors are concatenated, ``H = [h_1; ...; h_N]``, and each dimension
applies its own transform to ``H``:

* ``kind="lstm"`` (the default), an LSTM transform with weights ``W_i``
  (Keras gate order i, f, c, o; ``s`` = ``recurrent_activation``, ``act`` =
  ``activation``)::

      [z_i, z_f, z_c, z_o] = H @ W_i + b_i
      m'_i = s(z_f) * m_i + s(z_i) * act(z_c)
      h'_i = s(z_o) * act(m'_i)

  (The paper prints ``h' = tanh(g_o * m')``; we use the usual LSTM output
  ``o * tanh(m')``, which is also what its TensorFlow implementations did.)
* ``kind="plain"``, a non-LSTM dimension with a plain transform:
  ``h'_i = act(H @ W_i + b_i)``; its memory ``m_i`` is passed through
  unchanged (it has none of its own).
* ``kind="identity"``, a non-LSTM dimension with no weights: ``h'_i = h_i``,
  ``m'_i = m_i`` (the block only *reads* ``h_i`` as part of ``H``).

**Priority dimensions.** Dimensions without ``priority`` are computed first,
all from the same ``H`` of the block's inputs. Then each priority dimension,
in the order of the spec, is computed from an ``H`` in which every dimension
already computed contributes its *new* hidden vector (the paper: the priority
dimension's block sees the other dimensions' outputs). With no priority
dimension every transform reads the inputs' ``H``.

**Tied weights.** ``tied`` is a property of the grid, not of a single block:
blocks at different positions along a tied dimension share *all* their
weights. The layers in `keras_rnnx.layers.grid` read it from the depth
dimension (the time dimension of a sequence is always tied).

Weight layout (the keys of ``params``, with an optional prefix such as
``"level2_"`` for untied grids): ``{name}_kernel`` ``(N * units, 4 * units)``
for an LSTM dimension or ``(N * units, units)`` for a plain one, the rows in
the order of the dimensions in ``H``; ``{name}_bias`` of the matching width
(absent when the cell has no bias). Identity dimensions have no weights.
``input_kernel`` ``(features, units)`` / ``input_bias`` project the input to
the first depth ``h`` (`grid_input_projection`).

Layers built on the block: `grid2d_recurrence` (one time step of a
(time, depth) grid: a column of blocks) with `grid2d_input_projection`, which
also hoists level 0's depth-row terms out of the time loop; `grid1d_forward`
(``depth`` blocks along depth). `split_block_kernels` cuts the kernels into
``(units, units)`` blocks for the fused loop (same maths).
"""

import dataclasses
from typing import Callable

from keras import activations
from keras import ops

from keras_rnnx.ops.engine import per_gate_blocks

DIMENSION_KINDS = ("lstm", "plain", "identity")
DIMENSION_OPTIONS = ("name", "kind", "tied", "priority")


@dataclasses.dataclass(frozen=True)
class GridDimension:
    """One dimension of a Grid LSTM block.

    Attributes:
        name: str, unique within the block; prefixes its weight names.
        kind: ``"lstm"`` (LSTM transform), ``"plain"`` (``act(H W + b)``,
            memory passed through) or ``"identity"`` (``h`` and ``m`` passed
            through, no weights).
        tied: bool, blocks at different positions along this dimension share
            their weights.
        priority: bool, computed after the non-priority dimensions, from
            their new hidden vectors.
    """

    name: str
    kind: str = "lstm"
    tied: bool = True
    priority: bool = False

    def to_config(self):
        return dataclasses.asdict(self)


def parse_dimensions(spec, argument="dimensions"):
    """Validate a dimension spec and return a tuple of `GridDimension`.

    ``spec`` is a list whose items are `GridDimension` or dicts with the keys
    ``name`` (required), ``kind``, ``tied`` and ``priority``. Raises
    ValueError naming ``argument`` and the fix for anything else.
    """
    if isinstance(spec, (str, dict)) or not isinstance(spec, (list, tuple)) or not spec:
        raise ValueError(
            f"Argument `{argument}` must be a non-empty list of dimension specs "
            f"such as [{{'name': 'time', 'kind': 'lstm'}}, {{'name': 'depth', "
            f"'kind': 'lstm', 'tied': True}}]. Received: {argument}={spec!r}."
        )
    dims = []
    for index, item in enumerate(spec):
        where = f"{argument}[{index}]"
        if isinstance(item, GridDimension):
            item = item.to_config()
        if not isinstance(item, dict):
            raise ValueError(
                f"Argument `{where}` must be a dict with keys "
                f"{list(DIMENSION_OPTIONS)}. Received: {item!r}."
            )
        unknown = sorted(set(item) - set(DIMENSION_OPTIONS))
        if unknown:
            raise ValueError(
                f"Argument `{where}` names unknown option(s) {unknown}. The "
                f"options of a Grid LSTM dimension are {list(DIMENSION_OPTIONS)}; "
                "remove or rename the others."
            )
        name = item.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"Argument `{where}['name']` must be a non-empty identifier string "
                f"(it prefixes weight names), e.g. 'time'. Received: {name!r}."
            )
        kind = item.get("kind", "lstm")
        if kind not in DIMENSION_KINDS:
            raise ValueError(
                f"Argument `{where}['kind']` must be one of {list(DIMENSION_KINDS)}. "
                f"Received: {kind!r}."
            )
        flags = {}
        for flag, default in (("tied", True), ("priority", False)):
            value = item.get(flag, default)
            if not isinstance(value, bool):
                raise ValueError(
                    f"Argument `{where}['{flag}']` must be True or False. "
                    f"Received: {value!r}."
                )
            flags[flag] = value
        dims.append(GridDimension(name=name, kind=kind, **flags))
    names = [d.name for d in dims]
    if len(set(names)) != len(names):
        raise ValueError(
            f"Argument `{argument}` has repeated dimension names {names}. Give "
            "every dimension its own name."
        )
    return tuple(dims)


@dataclasses.dataclass(frozen=True)
class GridStructure:
    """An N-D Grid LSTM block: hidden size and the dimensions, in ``H`` order."""

    units: int
    dimensions: tuple
    activation: Callable = activations.tanh
    recurrent_activation: Callable = activations.sigmoid

    @property
    def num_dimensions(self):
        return len(self.dimensions)

    def kernel_shapes(self):
        """``{weight name: shape}`` of one block (no prefix), bias included."""
        n, u = self.num_dimensions, self.units
        shapes = {}
        for dim in self.dimensions:
            if dim.kind == "identity":
                continue
            width = 4 * u if dim.kind == "lstm" else u
            shapes[f"{dim.name}_kernel"] = (n * u, width)
            shapes[f"{dim.name}_bias"] = (width,)
        return shapes

    @property
    def order(self):
        """Indices of the dimensions in computation order (priority last)."""
        first = [i for i, d in enumerate(self.dimensions) if not d.priority]
        last = [i for i, d in enumerate(self.dimensions) if d.priority]
        return first + last


def split_block_kernels(params, structure, prefix=""):
    """Add ``{prefix}{dim}_kernel_blocks`` for the fused loop (same maths).

    Each kernel is cut into ``N`` row blocks (one per incoming hidden vector,
    so ``H`` need not be concatenated) times one column block per gate
    (``4`` for an LSTM dimension, ``1`` for a plain one): ``blocks[r][g]``
    is ``(units, units)``. Small blocks and their gradient accumulators stay
    in the CPU cache where a ``(N * units, 4 * units)`` kernel does not.
    On a backend outside `PER_GATE_BLOCK_BACKENDS` nothing is added.
    """
    out = dict(params)
    if not per_gate_blocks():
        return out
    n = structure.num_dimensions
    for dim in structure.dimensions:
        if dim.kind == "identity":
            continue
        kernel = params[f"{prefix}{dim.name}_kernel"]
        gates = 4 if dim.kind == "lstm" else 1
        rows = ops.split(kernel, n, axis=0) if n > 1 else [kernel]
        out[f"{prefix}{dim.name}_kernel_blocks"] = tuple(
            tuple(ops.split(row, gates, axis=1)) if gates > 1 else (row,)
            for row in rows
        )
    return out


def _pre_activations(dim, hs, params, prefix, gates, precomputed=None, skip_row=None):
    """``H @ W + b`` as a list of ``gates`` column blocks.

    ``precomputed`` (with ``skip_row``): ``h_skip_row @ W[skip_row rows] + b``
    already computed (hoisted out of the time loop); only the other rows are
    added.
    """
    bias = params.get(f"{prefix}{dim.name}_bias")
    blocks = params.get(f"{prefix}{dim.name}_kernel_blocks")
    rows = [r for r in range(len(hs)) if r != skip_row]
    if blocks is None:
        kernel = params[f"{prefix}{dim.name}_kernel"]
        if precomputed is None:
            big_h = ops.concatenate(list(hs), axis=-1) if len(hs) > 1 else hs[0]
            z = ops.matmul(big_h, kernel)
            if bias is not None:
                z = z + bias
        else:
            units = hs[0].shape[-1]
            z = precomputed
            for r in rows:
                z = z + ops.matmul(hs[r], kernel[r * units : (r + 1) * units])
        return ops.split(z, gates, axis=-1) if gates > 1 else [z]
    if precomputed is not None:
        parts = ops.split(precomputed, gates, axis=-1) if gates > 1 else [precomputed]
    else:
        parts = [None] * gates
        if bias is not None:
            parts = ops.split(bias, gates, axis=0) if gates > 1 else [bias]
    out = []
    for g in range(gates):
        z = parts[g]
        for r in rows:
            term = ops.matmul(hs[r], blocks[r][g])
            z = term if z is None else z + term
        out.append(z)
    return out


def _transform(dim, hs, m, params, structure, prefix, precomputed=None, skip_row=None):
    act = structure.activation
    if dim.kind == "plain":
        (z,) = _pre_activations(dim, hs, params, prefix, 1, precomputed, skip_row)
        return act(z), m
    sig = structure.recurrent_activation
    z_i, z_f, z_c, z_o = _pre_activations(
        dim, hs, params, prefix, 4, precomputed, skip_row
    )
    m_new = sig(z_f) * m + sig(z_i) * act(z_c)
    return sig(z_o) * act(m_new), m_new


def hoistable_dimensions(structure, source):
    """Dimensions whose ``H`` holds dimension ``source``'s *incoming* ``h``.

    For these, the ``source`` rows of ``H @ W`` depend only on the block's
    input along ``source`` and can be computed ahead (for the first block of
    a depth column, for all time steps at once). A priority dimension reads
    ``source``'s new ``h`` if ``source`` was computed before it.
    """
    updated = set()
    out = []
    for index in structure.order:
        dim = structure.dimensions[index]
        if dim.kind == "identity":
            continue
        if not dim.priority or source not in updated:
            out.append(index)
        updated.add(index)
    return tuple(out)


def grid_block(hs, ms, params, structure, prefix="", precomputed=None, source=None):
    """One N-D Grid LSTM block.

    Args:
        hs, ms: lists of N tensors ``(batch, units)``, the hidden and memory
            vectors arriving along each dimension (in ``structure.dimensions``
            order).
        params: dict of weight tensors (see the module docstring), optionally
            with the blocks of `split_block_kernels`.
        structure: `GridStructure`.
        prefix: prefix of the weight names (untied grids).
        precomputed: optional ``{dimension index: hs[source] @ W[source rows]
            + b}`` for dimensions of `hoistable_dimensions`.
        source: the dimension index ``precomputed`` was computed from.

    Returns:
        ``(new_hs, new_ms)``, lists of N tensors.
    """
    dims = structure.dimensions
    precomputed = precomputed or {}
    new_hs, new_ms = list(hs), list(ms)
    for index in structure.order:
        dim = dims[index]
        if dim.kind == "identity":
            continue
        source_hs = list(new_hs) if dim.priority else list(hs)
        pre = precomputed.get(index)
        new_hs[index], new_ms[index] = _transform(
            dim,
            source_hs,
            ms[index],
            params,
            structure,
            prefix,
            pre,
            source if pre is not None else None,
        )
    return new_hs, new_ms


def level_prefix(structure_tied, level):
    """Weight-name prefix of depth level ``level``: '' when tied."""
    return "" if structure_tied else f"level{level}_"


def grid_input_projection(x, params):
    """``x @ input_kernel + input_bias``: the hidden vector entering depth 0.

    ``x`` may be ``(batch, features)`` or ``(batch, time, features)``; without
    ``input_kernel`` in ``params`` (no projection) ``x`` is returned as is.
    """
    kernel = params.get("input_kernel")
    if kernel is None:
        return x
    z = ops.matmul(x, kernel)
    if params.get("input_bias") is not None:
        z = z + params["input_bias"]
    return z


DEPTH = 1  # index of the depth dimension in a 2-D (time, depth) grid


def grid2d_input_projection(x, params, structure, tied):
    """Everything of a 2-D grid step that depends only on ``x_t``.

    ``p = x @ input_kernel + input_bias`` (the depth ``h`` entering level 0)
    followed, for each dimension of ``hoistable_dimensions(structure, 1)``,
    by ``p @ W[depth rows] + b`` of level 0, concatenated on the last axis.
    ``x`` may be one step ``(batch, features)`` or all steps.
    """
    proj = grid_input_projection(x, params)
    units = structure.units
    prefix = level_prefix(tied, 0)
    parts = [proj]
    for index in hoistable_dimensions(structure, DEPTH):
        name = structure.dimensions[index].name
        kernel = params[f"{prefix}{name}_kernel"]
        z = ops.matmul(proj, kernel[DEPTH * units : (DEPTH + 1) * units])
        bias = params.get(f"{prefix}{name}_bias")
        if bias is not None:
            z = z + bias
        parts.append(z)
    return ops.concatenate(parts, axis=-1) if len(parts) > 1 else proj


def grid2d_recurrence(
    projected, states, params, structure, depth, tied, recurrent_mask=None
):
    """One time step of a 2-D (time, depth) Grid LSTM: a column of blocks.

    Block ``(t, d)`` receives the time dimension's ``(h, m)`` from
    ``(t-1, d)`` (the states) and the depth dimension's ``(h, m)`` from
    ``(t, d-1)``; at ``d = 0`` these are ``(p, 0)``, ``p`` the projected input.

    Args:
        projected: from `grid2d_input_projection`.
        states: ``[h_0, m_0, h_1, m_1, ...]``, the time dimension's hidden and
            memory vectors of each depth level.
        params: weights; level ``d`` uses the prefix `level_prefix`.
        structure: `GridStructure` with two dimensions, time first.
        depth: number of levels.
        tied: whether all levels share one weight set.
        recurrent_mask: optional dropout mask multiplied into every level's
            incoming time hidden vector.

    Returns:
        ``(output, new_states)``, ``output`` the top block's depth ``h``.
    """
    units = structure.units
    hoisted = hoistable_dimensions(structure, DEPTH)
    widths = [units]
    for index in hoisted:
        widths.append(4 * units if structure.dimensions[index].kind == "lstm" else units)
    if len(widths) > 1:
        cuts = [sum(widths[: k + 1]) for k in range(len(widths) - 1)]
        pieces = ops.split(projected, cuts, axis=-1)
    else:
        pieces = [projected]
    h_depth = pieces[0]
    precomputed = dict(zip(hoisted, pieces[1:]))
    m_depth = ops.zeros_like(h_depth)
    new_states = []
    for level in range(depth):
        h_time, m_time = states[2 * level], states[2 * level + 1]
        if recurrent_mask is not None:
            h_time = h_time * recurrent_mask
        (h_time, h_depth), (m_time, m_depth) = grid_block(
            [h_time, h_depth],
            [m_time, m_depth],
            params,
            structure,
            level_prefix(tied, level),
            precomputed if level == 0 else None,
            DEPTH,
        )
        new_states.extend([h_time, m_time])
    return h_depth, new_states


def grid1d_forward(projected, params, structure, depth, tied):
    """A 1-D Grid LSTM along depth: ``depth`` blocks, ``(h, m)`` passed up.

    ``h`` starts at ``projected``, ``m`` at zeros. Returns the top ``h``.
    """
    h = projected
    m = ops.zeros_like(projected)
    for level in range(depth):
        (h,), (m,) = grid_block([h], [m], params, structure, level_prefix(tied, level))
    return h
