"""Grid LSTM (Kalchbrenner, Danihelka & Graves 2015): `GridLSTM2D` and `GridLSTM1D`.

The block maths (N dimensions, LSTM / plain / identity dimensions, priority
dimensions, tied weights) is in `keras_rnnx.ops.grid`.
"""

import keras
from keras import initializers
from keras import ops
from keras import tree

from keras_rnnx.layers.base import MAX_DEPTH
from keras_rnnx.layers.base import ParamOwner
from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.layers.base import check_units
from keras_rnnx.layers.base import get_keras_objects
from keras_rnnx.ops import run_loop
from keras_rnnx.ops.grid import GridStructure
from keras_rnnx.ops.grid import grid1d_forward
from keras_rnnx.ops.grid import grid2d_input_projection
from keras_rnnx.ops.grid import grid2d_recurrence
from keras_rnnx.ops.grid import grid_input_projection
from keras_rnnx.ops.grid import level_prefix
from keras_rnnx.ops.grid import parse_dimensions
from keras_rnnx.ops.grid import split_block_kernels
from keras_rnnx.validation import check_bool
from keras_rnnx.validation import check_int

_PACKAGE = "keras_rnnx"

DEFAULT_2D_DIMENSIONS = (
    {"name": "time", "kind": "lstm", "tied": True, "priority": False},
    {"name": "depth", "kind": "lstm", "tied": False, "priority": False},
)


def _check_depth(depth):
    return check_int(
        "depth", depth, 1, MAX_DEPTH,
        fix="It is the number of Grid LSTM blocks along the depth dimension; "
        "pass e.g. depth=2.",
    )


def _forget_bias_initializer(base, units, kinds_and_widths, unit_forget_bias):
    """Bias initializer adding 1 to the forget block of an LSTM dimension."""

    def initializer(shape, dtype=None):
        value = base(shape, dtype=dtype)
        if unit_forget_bias and kinds_and_widths == "lstm":
            value = ops.concatenate(
                [value[:units], value[units : 2 * units] + 1.0, value[2 * units :]],
                axis=0,
            )
        return value

    return initializer


def _add_input_projection(owner, input_dim):
    """``input_kernel`` ``(input_dim, units)`` and, with ``use_bias``, ``input_bias``."""
    owner.add_param(
        "input_kernel",
        (input_dim, owner.units),
        owner.kernel_initializer,
        owner.kernel_regularizer,
        owner.kernel_constraint,
    )
    if owner.use_bias:
        owner.add_param(
            "input_bias",
            (owner.units,),
            owner.bias_initializer,
            owner.bias_regularizer,
            owner.bias_constraint,
        )


def _add_block_weights(owner, structure, prefix):
    """Create the weights of one Grid LSTM block on ``owner`` (a cell or layer)."""
    for dim in structure.dimensions:
        if dim.kind == "identity":
            continue
        width = 4 * structure.units if dim.kind == "lstm" else structure.units
        owner.add_param(
            f"{prefix}{dim.name}_kernel",
            (structure.num_dimensions * structure.units, width),
            owner.recurrent_initializer,
            owner.recurrent_regularizer,
            owner.recurrent_constraint,
        )
        if owner.use_bias:
            owner.add_param(
                f"{prefix}{dim.name}_bias",
                (width,),
                _forget_bias_initializer(
                    owner.bias_initializer,
                    structure.units,
                    dim.kind,
                    owner.unit_forget_bias,
                ),
                owner.bias_regularizer,
                owner.bias_constraint,
                argument="bias_initializer",
            )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GridLSTM2DCell(RecurrentCell):
    """Cell of a 2-D (time, depth) Grid LSTM (Kalchbrenner et al. 2015).

    One call is one time step: a column of ``depth`` two-dimensional Grid
    LSTM blocks. Block ``(t, d)`` receives the time dimension's ``(h, m)``
    from ``(t-1, d)`` and the depth dimension's ``(h, m)`` from ``(t, d-1)``;
    with ``H = [h_time; h_depth]`` each dimension computes
    ``(h', m') = LSTM(H, m, W_dim)``::

        [z_i, z_f, z_c, z_o] = H @ W_dim + b_dim
        m' = s(z_f) * m + s(z_i) * act(z_c)
        h' = s(z_o) * act(m')

    At ``d = 0`` the depth input is ``h = x_t @ input_kernel + input_bias``
    and ``m = 0``. The output is the depth ``h`` of the top block
    ``(t, depth-1)``. The states are the time dimension's ``(h, m)`` of every
    level: ``[h_0, m_0, h_1, m_1, ...]``, each ``(batch, units)``.

    Weight layout: ``input_kernel`` ``(input_dim, units)``, ``input_bias``
    ``(units,)``; per block ``{dim}_kernel`` ``(2 * units, 4 * units)`` (rows:
    time ``h`` then depth ``h``; columns: gates i, f, c, o) and ``{dim}_bias``
    ``(4 * units,)`` for each LSTM dimension (``(2 * units, units)`` and
    ``(units,)`` for a ``"plain"`` one, nothing for ``"identity"``). With the
    depth dimension tied there is one block weight set (the parameter count
    does not grow with ``depth``); untied, level ``d``'s weights are named
    ``level{d}_{dim}_kernel`` / ``level{d}_{dim}_bias``.

    Every argument is checked at construction (`ValueError` naming it),
    before any weight exists; the weights may hold at most 2**31 - 1
    parameters (`keras_rnnx.layers.base.MAX_PARAMS`).

    Args:
        units: int in [1, 2**20], size of every hidden and memory vector.
        depth: int in [1, 1024] (default 2; `keras_rnnx.layers.base.
            MAX_DEPTH`), number of blocks along depth.
        dimensions: list of two dimension specs, the time dimension first,
            the depth dimension second; each a dict with keys ``name``,
            ``kind`` (``"lstm"``, ``"plain"``, ``"identity"``), ``tied``
            and ``priority`` (see `keras_rnnx.ops.grid`). Default: two LSTM
            dimensions ``"time"`` (tied, as a recurrence must be) and
            ``"depth"`` (untied, like a stack of LSTM layers). ``{"name":
            "depth", "priority": True}`` computes the depth LSTM after the
            time LSTM, from the new time ``h``.
        unit_forget_bias: bool (default True), add 1 to the forget-gate bias
            of every LSTM dimension at initialisation.
        **kwargs: the common arguments of `RecurrentCell`: ``activation``,
            ``recurrent_activation``, ``use_bias``; ``kernel_*`` apply to
            ``input_kernel``, ``recurrent_*`` to the block kernels, ``bias_*``
            to every bias; ``dropout`` (on ``x``), ``recurrent_dropout`` (one
            mask on every level's incoming time ``h``), ``seed``.

    Output of an empty sequence (no step, so no block has computed one):
    zeros ``(batch, units)``.

    Masking: use `GridLSTM2D`, which carries the output of masked steps
    itself. A bare cell in `keras.layers.RNN` on the JAX backend with a mask
    gets Keras' loop, which takes ``states[0]`` (here level 0's time ``h``)
    as the output of a masked step.

    Example:

    >>> import numpy as np
    >>> from keras_rnnx.layers.grid import GridLSTM2DCell
    >>> cell = GridLSTM2DCell(4, depth=3)
    >>> h, states = cell(np.zeros((2, 5), "float32"), cell.get_initial_state(2))
    >>> tuple(h.shape), len(states)
    ((2, 4), 6)
    """

    size_arguments = ("units", "depth")

    def __init__(
        self, units, depth=2, dimensions=None, unit_forget_bias=True, **kwargs
    ):
        depth = _check_depth(depth)
        unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)
        super().__init__(units, **kwargs)
        self.depth = depth
        spec = DEFAULT_2D_DIMENSIONS if dimensions is None else dimensions
        dims = parse_dimensions(list(spec) if isinstance(spec, tuple) else spec)
        if len(dims) != 2:
            raise ValueError(
                "Argument `dimensions` of GridLSTM2D must list exactly two "
                "dimensions, the time dimension then the depth dimension. "
                f"Received {len(dims)}: {[d.name for d in dims]}. For other grids "
                "use keras_rnnx.ops.grid.grid_block."
            )
        if not dims[0].tied:
            raise ValueError(
                "Argument `dimensions[0]` is the time dimension, whose blocks "
                "must share weights (tied=True) so that sequences of any length "
                "can be processed. Received tied=False; set it to True."
            )
        self.dimensions = [d.to_config() for d in dims]
        self.unit_forget_bias = unit_forget_bias
        self.tied = dims[1].tied
        self.structure = GridStructure(
            units=self.units,
            dimensions=dims,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )
        self.check_param_count()

    @property
    def state_size(self):
        return [self.units] * (2 * self.depth)

    @property
    def output_size(self):
        return self.units

    @property
    def noise_size(self):
        return 0

    def output_from_states(self, states):
        """Zeros: the output is the top block's depth ``h``, not a state."""
        return ops.zeros_like(states[0])

    def build_weights(self, input_dim):
        _add_input_projection(self, input_dim)
        for level in range(1 if self.tied else self.depth):
            _add_block_weights(self, self.structure, level_prefix(self.tied, level))

    def loop_params(self):
        params = self.get_params()
        for level in range(1 if self.tied else self.depth):
            params = split_block_kernels(
                params, self.structure, level_prefix(self.tied, level)
            )
        return params

    def input_projection(self, inputs, params):
        return grid2d_input_projection(inputs, params, self.structure, self.tied)

    def recurrence(self, projected, states, params, recurrent_mask=None, noise=None):
        return grid2d_recurrence(
            projected,
            list(states),
            params,
            self.structure,
            self.depth,
            self.tied,
            recurrent_mask,
        )

    def get_config(self):
        config = {
            "depth": self.depth,
            "dimensions": [dict(d) for d in self.dimensions],
            "unit_forget_bias": self.unit_forget_bias,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GridLSTM2D(RecurrentLayer):
    """2-D Grid LSTM over (time, depth) (Kalchbrenner et al. 2015).

    A deep sequence model with LSTM cells along depth as well as along time:
    at each step a column of ``depth`` Grid LSTM blocks (see
    `GridLSTM2DCell` for the equations, weight layout and options). The
    output at step ``t`` is the top block's depth hidden vector; the states
    are the time ``(h, m)`` of every level (``2 * depth`` tensors).

    The input projection of all steps is one matmul before the time loop.

    Args:
        units: positive int.
        **kwargs: every argument of `GridLSTM2DCell` (``depth``,
            ``dimensions``, ...), and of `keras.layers.RNN`
            (``return_sequences``, ``return_state``, ``go_backwards``,
            ``stateful``, ``unroll``, ``zero_output_for_mask``), plus
            ``activity_regularizer``, ``name``, ``dtype``, ``trainable``.

    Example:

    >>> import numpy as np
    >>> from keras_rnnx.layers.grid import GridLSTM2D
    >>> layer = GridLSTM2D(8, depth=3, return_sequences=True)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 8)
    """

    cell_class = GridLSTM2DCell

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """The base fused loop, with masking done in the step.

        The backends' loops mask the *output* of a skipped step by assuming
        that the first state is the previous output (JAX does); here it is
        not (the output is the top block's depth ``h``), so the layer carries
        the previous output as an extra loop state and applies the mask
        itself, the same way on every backend.
        """
        if tree.is_nested(mask):
            mask = mask[0]
        if mask is None:
            return super().inner_loop(sequences, initial_state, None, training)
        cell = self.cell
        params = cell.loop_params()
        if training and cell.dropout > 0:
            dp_mask = cell.get_dropout_mask(sequences[:, 0, :])
            sequences = sequences * ops.expand_dims(dp_mask, 1)
        projected = cell.input_projection(sequences, params)
        recurrent_mask = None
        if training and cell.recurrent_dropout > 0:
            recurrent_mask = cell.get_recurrent_dropout_mask(initial_state[0])
        keep_sequence = ops.expand_dims(ops.cast(mask, projected.dtype), -1)
        zero_output = self.zero_output_for_mask

        def step(inputs, states):
            projected_t, keep_t = inputs
            previous_output, grid_states = states[0], list(states[1:])
            output, new_states = cell.recurrence(
                projected_t, grid_states, params, recurrent_mask
            )
            keep = ops.greater(keep_t, 0.5)
            new_states = [ops.where(keep, n, o) for n, o in zip(new_states, grid_states)]
            carried = ops.where(keep, output, previous_output)
            if zero_output:
                output = ops.where(keep, output, ops.zeros_like(output))
            else:
                output = carried
            return output, [carried] + new_states

        last_output, outputs, states = run_loop(
            step,
            (projected, keep_sequence),
            [ops.zeros_like(initial_state[0])] + list(initial_state),
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            return_sequences=self.return_sequences,
        )
        return last_output, outputs, list(states[1:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GridLSTM1D(ParamOwner, keras.layers.Layer):
    """1-D Grid LSTM along depth, for non-sequential inputs (Kalchbrenner et al. 2015).

    The paper's parity network: the input is projected to the first hidden
    vector, ``h_0 = x @ input_kernel + input_bias``, ``m_0 = 0``, and one
    1-D Grid LSTM block is applied ``depth`` times::

        [z_i, z_f, z_c, z_o] = h_d @ W + b
        m_{d+1} = s(z_f) * m_d + s(z_i) * act(z_c)
        h_{d+1} = s(z_o) * act(m_{d+1})

    The output is ``h_depth``. With ``tied=True`` every level shares ``W, b``
    (weights ``depth_kernel`` ``(units, 4 * units)``, ``depth_bias``), so the
    parameter count does not grow with ``depth``; with ``tied=False`` level
    ``d`` has ``level{d}_depth_kernel`` / ``level{d}_depth_bias``.

    Every argument is checked at construction (`ValueError` naming it): the
    flags must be bools, the sizes ints in range, and the weights may hold
    at most 2**31 - 1 parameters (`keras_rnnx.layers.base.MAX_PARAMS`;
    checked again at build with the real input size).

    Args:
        units: int in [1, 2**20], size of ``h`` and ``m``.
        depth: int in [1, 1024] (`keras_rnnx.layers.base.MAX_DEPTH`), number
            of blocks.
        tied: bool (default True), share the block weights across depth.
        project_input: bool (default True). False feeds ``x`` itself as
            ``h_0`` (no ``input_kernel``); the input must then have ``units``
            features.
        activation, recurrent_activation: default ``"tanh"``, ``"sigmoid"``.
        use_bias: bool (default True).
        unit_forget_bias: bool (default True), forget-gate bias starts at 1.
        kernel_initializer, kernel_regularizer, kernel_constraint: of
            ``input_kernel`` (default ``"glorot_uniform"``).
        recurrent_initializer, recurrent_regularizer, recurrent_constraint:
            of the block kernels (default ``"orthogonal"``).
        bias_initializer, bias_regularizer, bias_constraint: of every bias
            (default ``"zeros"``).
        **kwargs: of `keras.layers.Layer`.

    Call arguments:
        inputs: ``(batch, features)``; once built, always the same number of
            features (`ValueError` naming it otherwise).

    Example:

    >>> import numpy as np
    >>> from keras_rnnx.layers.grid import GridLSTM1D
    >>> layer = GridLSTM1D(8, depth=4)
    >>> tuple(layer(np.zeros((2, 10), "float32")).shape)
    (2, 8)
    """

    def __init__(
        self,
        units,
        depth,
        tied=True,
        project_input=True,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        units = check_units("units", units)
        depth = _check_depth(depth)
        tied = check_bool("tied", tied)
        project_input = check_bool("project_input", project_input)
        use_bias = check_bool("use_bias", use_bias)
        unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)
        objects = get_keras_objects(
            {
                "activation": activation,
                "recurrent_activation": recurrent_activation,
                "kernel_initializer": kernel_initializer,
                "recurrent_initializer": recurrent_initializer,
                "bias_initializer": bias_initializer,
                "kernel_regularizer": kernel_regularizer,
                "recurrent_regularizer": recurrent_regularizer,
                "bias_regularizer": bias_regularizer,
                "kernel_constraint": kernel_constraint,
                "recurrent_constraint": recurrent_constraint,
                "bias_constraint": bias_constraint,
            }
        )
        super().__init__(**kwargs)
        self.units = units
        self.depth = depth
        self.tied = tied
        self.project_input = project_input
        self.use_bias = use_bias
        self.unit_forget_bias = unit_forget_bias
        for name, value in objects.items():
            setattr(self, name, value)
        self.structure = GridStructure(
            units=units,
            dimensions=tuple(
                parse_dimensions([{"name": "depth", "kind": "lstm", "tied": tied}])
            ),
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )
        self._param_names = []
        self.input_dim = None
        self.input_spec = keras.layers.InputSpec(min_ndim=2, max_ndim=2)
        self.check_param_count()

    size_arguments = ("units", "depth")

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"GridLSTM1D needs a known number of input features. Received input "
                f"shape {tuple(input_shape)}; give keras.Input a shape (features,)."
            )
        if not self.project_input and features != self.units:
            raise ValueError(
                f"GridLSTM1D with project_input=False feeds the input itself into "
                f"the tied block as h_0, so it needs {self.units} features (= units), "
                f"but received {features}. Set project_input=True, or units={features}."
            )
        self.check_param_count(int(features))
        self.input_dim = int(features)
        self.build_weights(self.input_dim)
        self.built = True

    def build_weights(self, input_dim):
        if self.project_input:
            _add_input_projection(self, input_dim)
        for level in range(1 if self.tied else self.depth):
            _add_block_weights(self, self.structure, level_prefix(self.tied, level))

    def _check_features(self, shape):
        """ValueError naming the built feature size if ``shape`` has another."""
        features = shape[-1]
        if self.input_dim is not None and features is not None and features != self.input_dim:
            raise ValueError(
                f"GridLSTM1D '{self.name}' was built for inputs with "
                f"{self.input_dim} features (last axis) but received shape "
                f"{tuple(shape)}. Feed inputs with {self.input_dim} "
                f"features, or create a new layer for {features} features."
            )

    def call(self, inputs):
        self._check_features(inputs.shape)
        params = self.get_params()
        projected = grid_input_projection(inputs, params)
        return grid1d_forward(projected, params, self.structure, self.depth, self.tied)

    def compute_output_shape(self, input_shape):
        self._check_features(input_shape)
        return (input_shape[0], self.units)

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        config = {
            "units": self.units,
            "depth": self.depth,
            "tied": self.tied,
            "project_input": self.project_input,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": ser(self.kernel_regularizer),
            "recurrent_regularizer": ser(self.recurrent_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "kernel_constraint": ser(self.kernel_constraint),
            "recurrent_constraint": ser(self.recurrent_constraint),
            "bias_constraint": ser(self.bias_constraint),
        }
        return {**super().get_config(), **config}
