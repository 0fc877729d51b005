"""Base classes shared by every keras-rnnx cell and sequence layer.

`RecurrentCell` is a Keras RNN cell (usable in `keras.layers.RNN`,
`keras.layers.StackedRNNCells`, ...) whose step is split into the two pure
functions of `keras_rnnx.ops`: an input projection and a recurrence.

`RecurrentLayer` is a `keras.layers.RNN` around one such cell. It keeps the whole
Keras RNN API (masking, stateful, `initial_state`, `go_backwards`, `unroll`,
`Bidirectional`, dropout masks drawn once per sequence) and replaces the loop
body with the fused path of `keras_rnnx.ops.run_loop`: the input projection of
every time step in one matmul before the loop, then only the recurrence inside
(with JAX on CPU, where that measured slower, the projection runs inside the
loop; `keras_rnnx.ops.engine.hoist_input_projection`).
Both paths call the same functions, so a cell stepped by hand and the layer give
the same result.
"""

import functools
import inspect
import math

import keras
from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers
from keras import tree

from keras_rnnx.ops import hoist_input_projection
from keras_rnnx.ops import run_loop
from keras_rnnx.ops import split_kernel_blocks
from keras_rnnx.ops import uniform_noise
from keras_rnnx.ops.keras_internals import DropoutRNNCell
from keras_rnnx.validation import check_bool
from keras_rnnx.validation import check_int
from keras_rnnx.validation import check_rate

_LAYER_ONLY_CONFIG = ("name", "trainable", "dtype")

# Upper bounds on the structural sizes of every layer, checked at
# construction, before any weight exists, so that a configuration read from an
# untrusted file (`keras.saving.load_model`, even with ``safe_mode=True``)
# cannot make the process allocate without bound. Each is far above any real
# use.
MAX_UNITS = 2**20
"""Largest ``units`` (and ``proj_units``): 1,048,576."""
MAX_DEPTH = 1024
"""Largest number of stacked blocks: Grid LSTM ``depth``, depth-gated
``num_layers``, Clockwork modules (``num_modules``, ``len(periods)``)."""
MAX_PARAMS = 2**31 - 1
"""Largest number of parameters one layer may create: the largest count a
4-byte signed int holds (2,147,483,647; 8 GiB of float32 weights; many of
TensorFlow's GPU kernels index tensors with 32-bit ints). With
``units`` alone bounded, an LSTM of ``units=2**20`` would still ask for
``4 * 2**40`` recurrent weights; this bound is checked on the weight shapes
the layer would create (`ParamOwner.planned_param_count`), at construction
for every weight but the input kernel and again at build with the real
input size."""
MAX_SEED = 2**32 - 1
"""Largest ``seed``: JAX stores seeds as uint32."""


def check_units(name, value, allow_none=False):
    """A layer size: an int in [1, `MAX_UNITS`] (None too with ``allow_none``)."""
    return check_int(
        name, value, 1, MAX_UNITS, allow_none=allow_none,
        fix=f"Pass e.g. {name}=64 (at most 2**20 = {MAX_UNITS:,}).",
    )


def check_seed(value):
    """A random seed: None or an int in [0, `MAX_SEED`]."""
    return check_int(
        "seed", value, 0, MAX_SEED, allow_none=True,
        fix="Pass e.g. seed=42, or None for a random seed.",
    )


_KERAS_OBJECTS = {
    "activation": (keras.activations, "'tanh'"),
    "initializer": (initializers, "'zeros'"),
    "regularizer": (regularizers, "'l2'"),
    "constraint": (constraints, "'non_neg'"),
}


def get_keras_objects(arguments):
    """`get_keras_object` of each ``{name: value}``, the kind read from the name.

    A name ending in ``activation``, ``initializer``, ``regularizer`` or
    ``constraint`` is of that kind.
    """
    kinds = tuple(_KERAS_OBJECTS)
    return {
        name: get_keras_object(next(k for k in kinds if name.endswith(k)), name, value)
        for name, value in arguments.items()
    }


def get_keras_object(kind, name, value):
    """``keras.{kind}s.get(value)``, whose refusal names the argument.

    Keras' own message ("Could not interpret initializer identifier: 7")
    does not say which argument was wrong. An initializer may not be None
    (the layers call it); None is the identity activation and "none" for a
    regularizer or a constraint, as in Keras.
    """
    module, example = _KERAS_OBJECTS[kind]
    error = None
    if value is None and kind == "initializer":
        error = "None is not an initializer"
    else:
        try:
            return module.get(value)
        except (TypeError, ValueError) as exc:
            error = str(exc)
    raise ValueError(
        f"Argument `{name}` must be a Keras {kind}: a name such as {example}, "
        f"a config dict or an instance. Received: {name}={value!r} ({error})."
    )


class ParamOwner:
    """Weights named in `get_params`, and a size check before any is created.

    Mixed into `RecurrentCell` and `keras_rnnx.layers.GridLSTM1D` (a
    `keras.layers.Layer`). ``build_weights(input_dim)`` creates every weight
    through `add_param`; `planned_param_count` runs it without creating
    anything, to refuse (`check_param_count`) a configuration whose weights
    would exceed `MAX_PARAMS`. ``size_arguments`` names the constructor
    arguments the message suggests reducing.
    """

    size_arguments = ("units",)
    _planned_shapes = None

    def add_param(
        self, name, shape, initializer, regularizer=None, constraint=None, argument=None
    ):
        """`add_weight` that also records ``name`` as a key of `get_params`.

        ``argument`` names the constructor argument ``initializer`` comes
        from, for the message when it cannot initialise ``shape`` (e.g.
        ``bias_initializer="orthogonal"``: a bias is not a matrix).
        """
        if self._planned_shapes is not None:
            self._planned_shapes.append(tuple(shape))
            return None
        try:
            weight = self.add_weight(
                shape=shape,
                name=name,
                initializer=initializer,
                regularizer=regularizer,
                constraint=constraint,
            )
        except ValueError as error:
            raise ValueError(
                self._initializer_error(name, shape, initializer, argument, error)
            ) from error
        setattr(self, name, weight)
        self._param_names.append(name)
        return weight

    def _initializer_error(self, name, shape, initializer, argument, error):
        candidates = [k for k in vars(self) if k.endswith("_initializer")]
        if argument is None:
            argument = next((k for k in candidates if getattr(self, k) is initializer), None)
        arguments = [argument] if argument else candidates
        received = ", ".join(f"{k}={type(getattr(self, k)).__name__}" for k in arguments)
        which = "Argument " + " or ".join(f"`{k}`" for k in arguments)
        return (
            f"{which} of {type(self).__name__} cannot initialise its weight "
            f"`{name}` of shape {tuple(shape)} ({error}). Received: {received}. "
            "Pass an initializer that takes this shape ('orthogonal' and "
            "'identity' need a matrix; e.g. 'zeros' for a bias)."
        )

    def get_params(self):
        """The weights as a ``{name: tensor}`` dict (autocast applied)."""
        return {name: getattr(self, name).value for name in self._param_names}

    def build_weights(self, input_dim):
        raise NotImplementedError

    def planned_param_count(self, input_dim):
        """Parameters ``build_weights(input_dim)`` would create (none is created)."""
        shapes = []
        object.__setattr__(self, "_planned_shapes", shapes)
        try:
            self.build_weights(input_dim)
        finally:
            object.__setattr__(self, "_planned_shapes", None)
        return sum(math.prod(shape) for shape in shapes)

    def check_param_count(self, input_dim=None):
        """ValueError if the weights would hold more than `MAX_PARAMS` parameters.

        Called at the end of the constructor (``input_dim=None``: every
        weight but the input kernel, counted for one input feature) and in
        ``build`` with the real number of input features.
        """
        count = self.planned_param_count(1 if input_dim is None else input_dim)
        if count <= MAX_PARAMS:
            return
        arguments = " or ".join(
            f"`{name}` ({name}={getattr(self, name)!r})"
            for name in self.size_arguments
            if getattr(self, name) is not None
        )
        where = (
            "even for one input feature" if input_dim is None
            else f"for {input_dim} input features"
        )
        raise ValueError(
            f"{type(self).__name__} would create {count:,} parameters {where}, "
            f"above the bound of 2**31 - 1 = {MAX_PARAMS:,} per layer (the "
            "largest count a 4-byte int holds, 8 GiB of float32 weights; "
            f"keras_rnnx.layers.base.MAX_PARAMS). Reduce {arguments}"
            + ("." if input_dim is None else ", or feed fewer input features.")
        )


class RecurrentCell(ParamOwner, DropoutRNNCell, keras.layers.Layer):
    """Base class of keras-rnnx cells (one time step).

    Subclasses set ``self.structure`` (a frozen structure object of
    `keras_rnnx.ops`) in ``__init__``, create their weights in ``build`` with
    `add_param`, and implement `input_projection` and `recurrence` by calling
    the pure functions of `keras_rnnx.ops`.

    Every argument is checked at construction: a bool must be a bool (not
    ``"false"`` or ``1``), a number a finite number of the right type in its
    range, and the weights the cell would create must hold at most
    `MAX_PARAMS` (2**31 - 1) parameters; anything else raises `ValueError`
    naming the argument. Subclasses call `check_param_count` at the end of
    their constructor.

    Args (common to every cell, with the meaning and defaults of
    `keras.layers.LSTMCell`):
        units: int in [1, 2**20], dimensionality of the hidden state.
        activation, recurrent_activation: activations (default ``"tanh"``,
            ``"sigmoid"``).
        use_bias: bool, default True.
        kernel_initializer, recurrent_initializer, bias_initializer:
            default ``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: default None.
        dropout: float in [0, 1), fraction of the inputs dropped (one mask per
            sequence, shared by all gates).
        recurrent_dropout: float in [0, 1), fraction of the recurrent state
            dropped before the recurrent matmul (one mask per sequence, shared
            by all gates).
        seed: int in [0, 2**32 - 1] or None, random seed for dropout and
            noise.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        units = check_units("units", units)
        use_bias = check_bool("use_bias", use_bias)
        dropout = check_rate("dropout", dropout)
        recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        seed = check_seed(seed)
        super().__init__(**kwargs)
        # Resolved after Layer.__init__, as keras.layers.LSTMCell does: a seedless
        # initializer draws its seed from Python's random stream when made, so
        # the order keeps seeded experiments' initial weights unchanged.
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
        self.units = units
        self.use_bias = use_bias
        for name, value in objects.items():
            setattr(self, name, value)
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self._param_names = []
        self.input_dim = None

    # -- structure -------------------------------------------------------
    @property
    def state_size(self):
        return list(self.structure.state_size)

    @property
    def output_size(self):
        return self.structure.output_size

    @property
    def noise_size(self):
        """Width of the uniform noise one training step consumes (zoneout)."""
        return self.structure.noise_size

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, size), dtype=self.compute_dtype)
            for size in self.state_size
        ]

    def output_from_states(self, states):
        """The output that goes with ``states``: ``(batch, output_size)``.

        A sequence layer returns it for an empty sequence (no step taken):
        the output part of the initial state. Default: ``states[0]`` (``h``).
        """
        return states[0]

    # -- weights ---------------------------------------------------------
    def check_input_dim(self, input_dim):
        """Hook for subclasses: raise ValueError if ``input_dim`` cannot work."""

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs a known number of input features "
                f"(last axis). Received input shape {tuple(input_shape)}. Give "
                "`keras.Input` a shape such as (timesteps, features)."
            )
        self.check_input_dim(int(input_dim))
        self.check_param_count(int(input_dim))
        self.input_dim = int(input_dim)
        self.build_weights(self.input_dim)
        self.built = True

    def add_kernel(self, name, shape):
        """A weight with the ``kernel_*`` initializer, regularizer and constraint."""
        return self.add_param(
            name, shape, self.kernel_initializer, self.kernel_regularizer,
            self.kernel_constraint, argument="kernel_initializer",
        )

    def add_recurrent_kernel(self, name, shape):
        """A weight with the ``recurrent_*`` initializer, regularizer, constraint."""
        return self.add_param(
            name, shape, self.recurrent_initializer, self.recurrent_regularizer,
            self.recurrent_constraint, argument="recurrent_initializer",
        )

    def add_bias(self, shape, initializer=None):
        """``bias`` with the ``bias_*`` settings, if ``use_bias``; else None."""
        if not self.use_bias:
            return None
        return self.add_param(
            "bias", shape, initializer or self.bias_initializer,
            self.bias_regularizer, self.bias_constraint, argument="bias_initializer",
        )

    # -- step ------------------------------------------------------------
    def input_projection(self, inputs, params):
        """The ``x``-only part of one or all steps (``(..., features)``)."""
        raise NotImplementedError

    def recurrence(self, projected, states, params, recurrent_mask=None, noise=None):
        """One step of the recurrence given the projected input."""
        raise NotImplementedError

    def draw_noise(self, shape, dtype):
        """The per-step noise the recurrence consumes in training.

        Uniform noise in [0, 1) passed through `noise_to_masks`; ``shape``
        ends with ``noise_size`` and may cover one step or all steps.
        """
        return self.noise_to_masks(uniform_noise(shape, dtype, self.seed_generator))

    def noise_to_masks(self, noise):
        """Hook: turn uniform noise into what `recurrence` takes as ``noise``."""
        return noise

    def kernel_blocks(self):
        """``{weight name: number of column blocks}`` for the fused loop."""
        return {}

    def loop_params(self):
        """`get_params` plus the per-gate blocks the fused loop multiplies by."""
        return split_kernel_blocks(self.get_params(), self.kernel_blocks())

    def call(self, inputs, states, training=False):
        states = list(states) if tree.is_nested(states) else [states]
        params = self.get_params()
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self.get_recurrent_dropout_mask(states[0])
        noise = None
        if training and self.noise_size:
            _check_noise_outside_jax_loop(self, inputs)
            noise = self.draw_noise(
                (ops.shape(inputs)[0], self.noise_size), inputs.dtype
            )
        projected = self.input_projection(inputs, params)
        return self.recurrence(projected, states, params, recurrent_mask, noise)

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": ser(self.kernel_regularizer),
            "recurrent_regularizer": ser(self.recurrent_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "kernel_constraint": ser(self.kernel_constraint),
            "recurrent_constraint": ser(self.recurrent_constraint),
            "bias_constraint": ser(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


def _check_noise_outside_jax_loop(cell, inputs):
    """Per-step noise cannot be drawn inside a traced JAX loop: say so clearly.

    Zoneout needs fresh noise at every step. keras-rnnx layers draw it for all
    steps before their loop; a bare cell inside `keras.layers.RNN` would have to
    draw it inside `lax.scan`, where a stateful seed generator cannot advance.
    """
    if keras.backend.backend() != "jax":
        return
    import jax

    if isinstance(inputs, jax.core.Tracer):
        raise ValueError(
            f"{type(cell).__name__} with zoneout cannot draw its per-step noise "
            "inside a traced JAX loop (keras.layers.RNN on the JAX backend). Use "
            "the keras-rnnx sequence layer (e.g. keras_rnnx.layers.LSTM(..., "
            "zoneout_hidden=...)), which draws the noise for all steps before "
            "its loop, or the TensorFlow backend, or zoneout_hidden=zoneout_cell=0."
        )


@functools.lru_cache(maxsize=None)
def cell_argument_names(cell_class):
    """Names of every constructor argument of ``cell_class`` and its bases."""
    names = []
    for klass in cell_class.__mro__:
        if "__init__" not in vars(klass) or klass in (keras.layers.Layer, object):
            continue
        for param in inspect.signature(klass.__init__).parameters.values():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            if param.name not in ("self",) and param.name not in names:
                names.append(param.name)
        if klass is RecurrentCell:
            break
    return tuple(names)


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


class RecurrentLayer(keras.layers.RNN):
    """Base class of keras-rnnx sequence layers (a `keras.layers.RNN` of one cell).

    Subclasses set ``cell_class``. The constructor takes ``units``, every
    argument of the cell (see the cell's docstring) and the arguments of
    `keras.layers.RNN`: ``return_sequences``, ``return_state``,
    ``go_backwards``, ``stateful``, ``unroll``, ``zero_output_for_mask``, plus
    ``activity_regularizer`` and the base layer arguments (``name``, ``dtype``,
    ``trainable``). Each cell argument is also readable as a property of the
    layer (``layer.units``, ``layer.dropout``, ...), as on `keras.layers.LSTM`.

    The `keras.layers.RNN` arguments must be bools (``return_sequences``,
    ``return_state``, ``go_backwards``, ``stateful``, ``unroll``,
    ``zero_output_for_mask``): ``"false"`` or ``0`` raise `ValueError`.

    An empty sequence (``timesteps == 0``, known when the layer is called:
    eagerly, or traced with a static time axis) takes no step: the output is
    the cell's output read from the initial state (`RecurrentCell.
    output_from_states`: ``h`` of the zero or given ``initial_state``),
    ``(batch, 0, output_size)`` with ``return_sequences``, and
    ``return_state`` returns the initial states unchanged (`keras.layers.LSTM`
    fails on it). A time axis that is unknown when traced and empty at run
    time is not supported.

    Call arguments:
        sequences: ``(batch, timesteps, features)``.
        initial_state: list of the cell's state tensors (see ``state_size``).
        mask: boolean ``(batch, timesteps)``; True marks steps to process.
            Masked steps carry the state forward; any padding side works and
            fully masked rows keep their initial state.
        training: bool, enables dropout and zoneout.
    """

    cell_class = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.cell_class is None:
            return
        for name in cell_argument_names(cls.cell_class):
            if not hasattr(cls, name):
                setattr(cls, name, _cell_property(name))

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        **kwargs,
    ):
        return_sequences = check_bool("return_sequences", return_sequences)
        return_state = check_bool("return_state", return_state)
        go_backwards = check_bool("go_backwards", go_backwards)
        stateful = check_bool("stateful", stateful)
        unroll = check_bool("unroll", unroll)
        if "zero_output_for_mask" in kwargs:
            kwargs["zero_output_for_mask"] = check_bool(
                "zero_output_for_mask", kwargs["zero_output_for_mask"]
            )
        names = cell_argument_names(self.cell_class)
        cell_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        cell = self.cell_class(
            units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=f"{_snake(self.cell_class.__name__)}",
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **kwargs,
        )

    # -- input checks ------------------------------------------------------
    def _check_sequences(self, shape):
        name = type(self).__name__
        if len(shape) != 3:
            raise ValueError(
                f"{name} '{self.name}' expects inputs of rank 3 "
                f"(batch, timesteps, features); received shape {tuple(shape)}. "
                "Add the missing axis (e.g. `x[:, None, :]` for one step or "
                "`x[None]` for one sequence), or call the cell for a single step."
            )
        built_dim = self.cell.input_dim
        if built_dim is not None and shape[-1] is not None and shape[-1] != built_dim:
            raise ValueError(
                f"{name} '{self.name}' was built for inputs with {built_dim} "
                f"features (last axis) but received shape {tuple(shape)}. Feed "
                f"inputs with {built_dim} features, or create a new layer for "
                f"{shape[-1]} features."
            )

    def _check_initial_state(self, initial_state, batch_size):
        states = list(initial_state) if tree.is_nested(initial_state) else [initial_state]
        expected = self.state_size
        name = type(self).__name__
        if len(states) != len(expected):
            raise ValueError(
                f"{name} '{self.name}' takes {len(expected)} initial state "
                f"tensor(s) {self._state_description()}; received "
                f"{len(states)}. Pass `initial_state` as a list of "
                f"{len(expected)} tensors."
            )
        for index, (state, size) in enumerate(zip(states, expected)):
            shape = tuple(state.shape)
            ok = len(shape) == 2 and shape[-1] in (None, size)
            if ok and batch_size is not None and shape[0] is not None:
                ok = shape[0] == batch_size
            if not ok:
                raise ValueError(
                    f"{name} '{self.name}': initial_state[{index}] must have "
                    f"shape (batch_size={batch_size}, {size}) "
                    f"{self._state_description()}; received shape {shape}."
                )

    def _state_description(self):
        sizes = ", ".join(f"(batch, {s})" for s in self.state_size)
        return f"of shapes [{sizes}]"

    def build(self, sequences_shape, initial_state_shape=None):
        self._check_sequences(sequences_shape)
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._check_sequences(sequences.shape)
        if initial_state is not None:
            self._check_initial_state(initial_state, sequences.shape[0])
        if sequences.shape[1] == 0:
            return self._empty_sequence_call(sequences, initial_state)
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

    def _empty_sequence_call(self, sequences, initial_state):
        """`call` for ``timesteps == 0``: no step, the initial state unchanged.

        `keras.layers.RNN.call` would slice the first step (for the dropout
        masks) and fail; the backends' loops need one step too.
        """
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                initial_state = self.get_initial_state(ops.shape(sequences)[0])
        states = list(initial_state) if tree.is_nested(initial_state) else [initial_state]
        states = [ops.convert_to_tensor(s, dtype=self.compute_dtype) for s in states]
        last = ops.cast(self.cell.output_from_states(states), self.compute_dtype)
        if self.return_sequences:
            output = ops.zeros(
                (ops.shape(sequences)[0], 0, self.cell.output_size), self.compute_dtype
            )
        else:
            output = last
        if self.return_state:
            return output, *states
        return output

    # -- the fused loop ----------------------------------------------------
    def prepare_loop(self, sequences, initial_state, training, project=True):
        """What every `inner_loop` computes before its time loop.

        Returns ``(params, projected, recurrent_mask)``: the cell's loop
        parameters (`RecurrentCell.loop_params`), the input projection of all
        steps at once (after the per-sequence input dropout mask; with
        ``project=False`` the masked inputs themselves, for a loop that
        projects each step, see `keras_rnnx.ops.engine.hoist_input_projection`)
        and the per-sequence recurrent dropout mask (None when unused).
        """
        cell = self.cell
        params = cell.loop_params()
        if training and cell.dropout > 0:
            dp_mask = cell.get_dropout_mask(sequences[:, 0, :])
            sequences = sequences * ops.expand_dims(dp_mask, 1)
        projected = cell.input_projection(sequences, params) if project else sequences
        recurrent_mask = None
        if training and cell.recurrent_dropout > 0:
            recurrent_mask = cell.get_recurrent_dropout_mask(initial_state[0])
        return params, projected, recurrent_mask

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if tree.is_nested(mask):
            mask = mask[0]
        cell = self.cell
        hoist = hoist_input_projection()
        params, projected, recurrent_mask = self.prepare_loop(
            sequences, initial_state, training, project=hoist
        )
        sequences = projected
        with_noise = bool(training) and cell.noise_size > 0
        if with_noise:
            # A second input sequence, not concatenated: slicing it back out
            # inside the loop would cost a full-width gradient per step.
            shape = ops.shape(projected)
            noise = cell.draw_noise(
                (shape[0], shape[1], cell.noise_size), projected.dtype
            )
            sequences = (projected, ops.stop_gradient(noise))

        def step(inputs, states):
            noise_t = None
            if with_noise:
                inputs, noise_t = inputs
            if not hoist:
                inputs = cell.input_projection(inputs, params)
            return cell.recurrence(
                inputs, list(states), params, recurrent_mask, noise_t
            )

        return run_loop(
            step,
            sequences,
            initial_state,
            mask=mask,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
        )

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in _LAYER_ONLY_CONFIG:
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _snake(name):
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)
