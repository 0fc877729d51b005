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

_LAYER_ONLY_CONFIG = ("name", "trainable", "dtype")


def _check_rate(name, value):
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Argument `{name}` must be a float in [0, 1). Received: "
            f"{name}={value!r}. Pass e.g. {name}=0.1, or 0.0 to disable it."
        )
    return float(value)


class RecurrentCell(DropoutRNNCell, keras.layers.Layer):
    """Base class of keras-rnnx cells (one time step).

    Subclasses set ``self.structure`` (a frozen structure object of
    `keras_rnnx.ops`) in ``__init__``, create their weights in ``build`` with
    `add_param`, and implement `input_projection` and `recurrence` by calling
    the pure functions of `keras_rnnx.ops`.

    Args (common to every cell, with the meaning and defaults of
    `keras.layers.LSTMCell`):
        units: positive int, dimensionality of the hidden state.
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
        seed: int, random seed for dropout and noise.
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
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"Argument `units` must be a positive int. Received: units={units!r}."
            )
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
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
        self.input_dim = int(input_dim)
        self.build_weights(self.input_dim)
        self.built = True

    def build_weights(self, input_dim):
        raise NotImplementedError

    def add_param(
        self, name, shape, initializer, regularizer=None, constraint=None
    ):
        """`add_weight` that also records ``name`` as a key of `get_params`."""
        weight = self.add_weight(
            shape=shape,
            name=name,
            initializer=initializer,
            regularizer=regularizer,
            constraint=constraint,
        )
        setattr(self, name, weight)
        self._param_names.append(name)
        return weight

    def add_kernel(self, name, shape):
        """A weight with the ``kernel_*`` initializer, regularizer and constraint."""
        return self.add_param(
            name, shape, self.kernel_initializer, self.kernel_regularizer,
            self.kernel_constraint,
        )

    def add_recurrent_kernel(self, name, shape):
        """A weight with the ``recurrent_*`` initializer, regularizer, constraint."""
        return self.add_param(
            name, shape, self.recurrent_initializer, self.recurrent_regularizer,
            self.recurrent_constraint,
        )

    def add_bias(self, shape, initializer=None):
        """``bias`` with the ``bias_*`` settings, if ``use_bias``; else None."""
        if not self.use_bias:
            return None
        return self.add_param(
            "bias", shape, initializer or self.bias_initializer,
            self.bias_regularizer, self.bias_constraint,
        )

    def get_params(self):
        """The weights as a ``{name: tensor}`` dict (autocast applied)."""
        return {name: getattr(self, name).value for name in self._param_names}

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
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

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
