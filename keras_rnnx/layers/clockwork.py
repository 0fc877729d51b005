"""`ClockworkRNN` (Koutnik, Greff, Gomez & Schmidhuber 2014)."""

import numbers

import keras
import numpy as np
from keras import ops
from keras import tree

from keras_rnnx.layers.base import MAX_DEPTH
from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.ops import run_loop
from keras_rnnx.ops.clockwork import ClockworkStructure
from keras_rnnx.ops.clockwork import clockwork_input_projection
from keras_rnnx.ops.clockwork import clockwork_padded_kernels
from keras_rnnx.ops.clockwork import clockwork_recurrence
from keras_rnnx.ops.clockwork import clockwork_schedule
from keras_rnnx.ops.clockwork import clockwork_sequence
from keras_rnnx.ops.clockwork import max_exact_counter
from keras_rnnx.validation import check_int

_PACKAGE = "keras_rnnx"


def _is_positive_int(value):
    """An int > 0 (NumPy's too), not a bool."""
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    return is_int and value > 0


def _resolve_periods(periods, num_modules):
    num_modules = check_int(
        "num_modules", num_modules, 1, MAX_DEPTH, allow_none=True,
        fix="The modules then get periods 1, 2, 4, ..., 2**(num_modules-1).",
    )
    if periods is None:
        if num_modules is None:
            raise ValueError(
                "ClockworkRNN needs its modules: pass `periods` (e.g. "
                "periods=[1, 2, 4, 8]) or `num_modules` (e.g. num_modules=4 for "
                "periods 1, 2, 4, 8). Received neither."
            )
        return tuple(2**k for k in range(num_modules))
    if not isinstance(periods, (list, tuple)) or not 0 < len(periods) <= MAX_DEPTH:
        raise ValueError(
            "Argument `periods` must be a non-empty list of positive ints, one per "
            f"module (at most {MAX_DEPTH} modules), e.g. periods=[1, 2, 4, 8]. "
            f"Received: periods={periods!r}."
        )
    if not all(_is_positive_int(p) for p in periods):
        raise ValueError(
            "Argument `periods` must hold positive ints (a module with period T "
            f"updates at steps 0, T, 2T, ...). Received: periods={list(periods)!r}. "
            "Use e.g. periods=[1, 2, 4, 8]."
        )
    if any(a >= b for a, b in zip(periods, periods[1:])):
        raise ValueError(
            "Argument `periods` must be strictly increasing (module k+1 is slower "
            f"than module k). Received: periods={list(periods)!r}. Sort them and "
            "merge repeated periods into one module (sizes via `module_sizes`)."
        )
    if num_modules is not None and num_modules != len(periods):
        raise ValueError(
            f"Arguments `periods` ({len(periods)} periods: {list(periods)!r}) and "
            f"`num_modules` ({num_modules}) disagree on the number of modules. "
            "Pass only one of them, or make num_modules == len(periods)."
        )
    return tuple(int(p) for p in periods)


def _resolve_sizes(units, count, module_sizes):
    if module_sizes is None:
        if units % count:
            raise ValueError(
                f"Argument `units` ({units}) is not divisible by the number of "
                f"modules ({count}). Choose units as a multiple of {count} (e.g. "
                f"units={count * max(1, round(units / count))}), or give the size "
                "of each module with `module_sizes` (a list summing to units)."
            )
        return (units // count,) * count
    if (
        not isinstance(module_sizes, (list, tuple))
        or len(module_sizes) != count
        or not all(_is_positive_int(m) for m in module_sizes)
        or sum(module_sizes) != units
    ):
        raise ValueError(
            "Argument `module_sizes` must be a list of positive ints, one per "
            f"module ({count}), summing to units={units}. Received: "
            f"module_sizes={module_sizes!r}."
        )
    return tuple(int(m) for m in module_sizes)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ClockworkRNNCell(RecurrentCell):
    """Cell of the Clockwork RNN (Koutnik et al. 2014, "A Clockwork RNN").

    The hidden units are split into modules; module ``k`` has period ``T_k``
    and is updated only at the steps ``t`` with ``t mod T_k == 0`` (``t``
    counted from 0); otherwise it keeps its state. Slower modules feed faster
    ones, never the reverse.

    Equations (``act`` = ``activation``, ``h'[k:]`` the previous state of
    module ``k`` and of every slower module)::

        h_k = act(W_k x + U_k h'[k:] + b_k)   if t mod T_k == 0
        h_k = h'_k                            otherwise

    Weight layout: ``kernel`` ``(input_dim, units)`` (column block ``k`` is
    ``W_k``), ``bias`` ``(units,)``, and one recurrent kernel per module,
    ``recurrent_kernel_k`` ``(units - offset_k, size_k)``, whose rows are the
    units of modules ``k..n-1``. The block upper-triangular recurrent matrix
    of the paper is stored block by block: there is no weight from a faster
    module into a slower one (enforced by the shapes, not by a mask).

    States: ``[h (units), clock (1)]``. ``clock`` holds ``t mod L`` (``L``
    the least common multiple of the periods) as a float, so a stateful layer
    or a call given the states of a previous call (``initial_state``)
    continues the schedule where it stopped. ``L`` must be exactly
    representable in the compute dtype: at most 2**24 in float32, 2048 in
    float16, 256 in bfloat16 (8 exponential modules: ``L = 128``). Under
    masking, `keras.layers.RNN` keeps every state at a masked step, the clock
    included: **masked steps do not advance the clock**, so a padded sequence
    sees the same schedule as the unpadded one.

    Each step computes only the modules that tick (see
    `keras_rnnx.ops.clockwork`): with periods ``2**k`` fewer than two
    modules are updated per step on average.

    Every argument is checked at construction (`ValueError` naming it),
    before any weight exists; the weights may hold at most 2**31 - 1
    parameters (`keras_rnnx.layers.base.MAX_PARAMS`).

    Args:
        units: int in [1, 2**20], total number of hidden units.
        periods: list of at most 1024 strictly increasing positive ints, one
            period per module, e.g. ``[1, 2, 4, 8]``, whose least common
            multiple the clock dtype holds exactly (see above). Default None:
            use ``num_modules``.
        num_modules: int in [1, 1024] (`keras_rnnx.layers.base.MAX_DEPTH`);
            without ``periods``, ``num_modules=n`` gives the exponential
            periods ``1, 2, ..., 2**(n-1)`` of the paper (at most 25 modules
            in float32, whose clock is exact up to 2**24). With ``periods``,
            it must equal ``len(periods)``.
        module_sizes: list of positive ints summing to ``units``, the size of
            each module. Default None: equal modules (``units`` must then be
            divisible by the number of modules).
        activation: activation of the modules (default ``"tanh"``).
        **kwargs: the common arguments of `RecurrentCell` (initializers,
            regularizers and constraints of ``kernel``, ``recurrent_kernel_k``
            and ``bias``, ``use_bias``, ``dropout``, ``recurrent_dropout``,
            ``seed``) and of `keras.layers.Layer`. ``recurrent_activation`` is
            accepted for uniformity with the other cells and not used.

    Example:

    >>> import numpy as np, keras_rnnx
    >>> cell = keras_rnnx.layers.ClockworkRNNCell(8, num_modules=4)
    >>> h, (h2, clock) = cell(np.zeros((2, 3), "float32"), cell.get_initial_state(2))
    >>> tuple(h.shape), tuple(clock.shape)
    ((2, 8), (2, 1))
    """

    def __init__(
        self,
        units,
        periods=None,
        num_modules=None,
        module_sizes=None,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        units = self.units
        resolved = _resolve_periods(periods, num_modules)
        sizes = _resolve_sizes(units, len(resolved), module_sizes)
        self._periods_from_num_modules = periods is None
        self.periods = list(resolved)
        self.num_modules = len(resolved)
        self.module_sizes = None if module_sizes is None else list(sizes)
        self.structure = ClockworkStructure(
            units=units,
            periods=resolved,
            module_sizes=sizes,
            activation=self.activation,
        )
        self._check_clock_dtype("float32")
        self.check_param_count()

    def _check_clock_dtype(self, dtype):
        lcm = self.structure.period_lcm
        limit = max_exact_counter(dtype)
        if lcm > limit:
            periods = self.periods
            shown = repr(periods) if len(periods) <= 8 else (
                f"[{', '.join(map(str, periods[:3]))}, ..., {periods[-1]}]"
            )
            shown_lcm = lcm if lcm < 10**12 else f"about 2**{lcm.bit_length() - 1}"
            source = (
                f"Argument `num_modules` ({self.num_modules}) gives `periods` {shown}"
                if self._periods_from_num_modules else f"Argument `periods` ({shown})"
            )
            raise ValueError(
                f"{source}, whose least common multiple is {shown_lcm}, but the "
                f"step counter is a {dtype} state, exact only up to {limit}. Use "
                f"periods whose least common multiple is at most {limit} (e.g. "
                "fewer modules, or periods that divide each other: periods 2**k "
                "allow 25 modules in float32), or compute in float32 "
                "(mixed_float16 allows 2048, float32 2**24)."
            )

    def build_weights(self, input_dim):
        self._check_clock_dtype(keras.backend.standardize_dtype(self.compute_dtype))
        s = self.structure
        self.add_param(
            "kernel",
            (input_dim, self.units),
            self.kernel_initializer,
            self.kernel_regularizer,
            self.kernel_constraint,
        )
        for k, shape in enumerate(s.recurrent_shapes):
            self.add_param(
                f"recurrent_kernel_{k}",
                shape,
                self.recurrent_initializer,
                self.recurrent_regularizer,
                self.recurrent_constraint,
            )
        if self.use_bias:
            self.add_param(
                "bias",
                (self.units,),
                self.bias_initializer,
                self.bias_regularizer,
                self.bias_constraint,
            )

    def input_projection(self, inputs, params):
        return clockwork_input_projection(inputs, params, self.structure)

    def recurrence(self, projected, states, params, recurrent_mask=None, noise=None):
        return clockwork_recurrence(
            projected, states, params, self.structure, recurrent_mask, noise
        )

    def get_config(self):
        config = {
            "periods": list(self.periods),
            "num_modules": self.num_modules,
            "module_sizes": self.module_sizes,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ClockworkRNN(RecurrentLayer):
    """Clockwork RNN layer (Koutnik et al. 2014): modules ticking at their own periods.

    A `keras.layers.RNN` of `ClockworkRNNCell`; its docstring has the
    equations, the weight layout and the states ``[h, clock]``. The output is
    ``h`` (``units`` features). The input projection of every step is one
    matmul before the time loop. Without a mask each module then runs its own
    loop over its ticks only, slowest first (`keras_rnnx.ops.clockwork.
    clockwork_sequence`); with a mask one loop steps all modules and multiplies
    only those that tick.

    Masked steps keep every state, so they do not advance the clock. With
    ``return_state=True`` the layer also returns ``h`` and ``clock``; passing
    both back as ``initial_state`` (or ``stateful=True``) continues the
    schedule.

    Args:
        units: positive int.
        **kwargs: every argument of `ClockworkRNNCell` (``periods``,
            ``num_modules``, ``module_sizes``, ...) and of `keras.layers.RNN`
            (``return_sequences``, ``return_state``, ``go_backwards``,
            ``stateful``, ``unroll``, ``zero_output_for_mask``), plus
            ``activity_regularizer``, ``name``, ``dtype``, ``trainable``.

    Example:

    >>> import numpy as np, keras_rnnx
    >>> layer = keras_rnnx.layers.ClockworkRNN(8, periods=[1, 2, 4, 8])
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    """

    cell_class = ClockworkRNNCell

    def call(self, sequences, initial_state=None, mask=None, training=False):
        # Zero initial states put every row at clock 0: the module-wise path
        # can then use slices instead of gathers.
        self._clock_is_shared = initial_state is None and not self.stateful
        try:
            return super().call(
                sequences, initial_state=initial_state, mask=mask, training=training
            )
        finally:
            self._clock_is_shared = False

    def inner_loop(self, sequences, initial_state, mask, training=False):
        # Without a mask: one loop per module over its own ticks
        # (`clockwork_sequence`). With a mask (each row's clock then advances
        # on its own unmasked steps): the base loop over every step, with the
        # clock of every step computed before the loop (`clockwork_schedule`)
        # and the update branching on the widest ticking prefix of modules.
        if tree.is_nested(mask):
            mask = mask[0]
        params, projected, recurrent_mask = self.prepare_loop(
            sequences, initial_state, training
        )
        if mask is not None:
            return self._schedule_loop(
                params, projected, recurrent_mask, initial_state, mask
            )
        z = ops.flip(projected, axis=1) if self.go_backwards else projected
        last, outputs, states = clockwork_sequence(
            z,
            initial_state,
            params,
            self.cell.structure,
            recurrent_mask=recurrent_mask,
            unroll=self.unroll,
            shared_clock=getattr(self, "_clock_is_shared", False),
            return_sequences=self.return_sequences,
        )
        if not self.return_sequences:
            outputs = ops.expand_dims(last, 1)
        return last, outputs, states

    def _schedule_loop(self, params, projected, recurrent_mask, initial_state, mask):
        cell = self.cell
        # The zero-padded module blocks, built once per sequence (the module-wise
        # path does not use them).
        params = {
            **params,
            "recurrent_blocks": clockwork_padded_kernels(params, cell.structure),
        }
        schedule = clockwork_schedule(
            initial_state[1],
            mask,
            ops.shape(projected)[1],
            cell.structure,
            go_backwards=self.go_backwards,
            dtype=projected.dtype,
        )

        def step(inputs, states):
            z_t, schedule_t = inputs
            return clockwork_recurrence(
                z_t, list(states), params, cell.structure, recurrent_mask,
                schedule=schedule_t,
            )

        return run_loop(
            step,
            (projected, ops.stop_gradient(schedule)),
            initial_state,
            mask=mask,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
        )
