"""Depth-gated LSTM (Yao et al. 2015): `DepthGatedLSTMCell`, `DepthGatedLSTM`."""

import keras
from keras import initializers
from keras import ops
from keras import tree

from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.layers.base import MAX_DEPTH
from keras_rnnx.layers.base import get_keras_object
from keras_rnnx.ops.depth_gated import DepthGatedStructure
from keras_rnnx.ops.depth_gated import depth_gated_input_projection
from keras_rnnx.ops.depth_gated import depth_gated_recurrence
from keras_rnnx.ops.depth_gated import inter_layer_keep_masks
from keras_rnnx.ops.engine import run_loop
from keras_rnnx.validation import check_bool
from keras_rnnx.validation import check_int
from keras_rnnx.validation import check_rate

_PACKAGE = "keras_rnnx"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthGatedLSTMCell(RecurrentCell):
    """A stack of peephole LSTM layers linked by depth gates (Yao et al. 2015).

    One cell holds all ``num_layers`` layers of the stack. At each step layer
    ``L`` takes the output ``h(L-1)`` of the layer below at the same step as
    its input, and a depth gate ``d`` adds the memory cell ``c(L-1)`` of the
    layer below (same step) into its own memory cell::

        x(1) = x,  x(L) = h(L-1)                                (L >= 2)
        i = s(W_i x(L) + U_i h'(L) + b_i + p_i * c'(L))
        f = s(W_f x(L) + U_f h'(L) + b_f + p_f * c'(L))
        g = act(W_c x(L) + U_c h'(L) + b_c)
        d = s(b_d + W_d x(L) + w_cd * c'(L) + w_ld * c(L-1))    (L >= 2)
        c(L) = f * c'(L) + i * g + d * c(L-1)
        o = s(W_o x(L) + U_o h'(L) + b_o + p_o * c(L))
        h(L) = o * act(c(L))

    The first layer has no layer below and therefore **no depth gate**: it is
    a plain peephole LSTM (`PeepholeLSTMCell`). With every depth gate shut
    (``d = 0``) the cell is ``num_layers`` stacked peephole LSTMs. As in the
    paper the depth gate has no recurrent matrix.

    Weight layout, for each layer ``L = 1 .. num_layers`` (gate order i, f, c,
    o as in Keras; ``in(1)`` is the input size, ``in(L) = units`` above):
    ``layer{L}_kernel`` ``(in(L), 4 * units)``, ``layer{L}_recurrent_kernel``
    ``(units, 4 * units)``, ``layer{L}_bias`` ``(4 * units,)``,
    ``layer{L}_input_peephole``, ``layer{L}_forget_peephole``,
    ``layer{L}_output_peephole`` ``(units,)`` (the weights of a
    `PeepholeLSTMCell`, in the same order), then for ``L >= 2``:
    ``layer{L}_depth_kernel`` ``(units, units)`` (``W_d``),
    ``layer{L}_depth_bias`` ``(units,)`` (``b_d``),
    ``layer{L}_depth_cell_peephole`` (``w_cd``) and
    ``layer{L}_depth_lower_peephole`` (``w_ld``) ``(units,)``.

    States: ``[h(1), c(1), ..., h(N), c(N)]``. Output: the top layer's
    ``h(N)`` ``(batch, units)``; with ``return_all_layers=True`` the outputs of
    all layers concatenated, ``[h(1), ..., h(N)]`` ``(batch, N * units)``
    (one tensor, so that `keras.layers.RNN` and `keras.layers.Bidirectional`
    work unchanged; split it with ``keras.ops.split(y, num_layers, axis=-1)``).

    Masks: `DepthGatedLSTM` handles them on every backend. The bare cell in
    ``keras.layers.RNN`` does too on TensorFlow, but on JAX Keras' loop takes
    the first state (here ``h(1)``) as the previous output at masked steps, so
    the outputs at masked steps (and the last output of right-padded rows) are
    wrong there: use `DepthGatedLSTM` for masked sequences.

    Every argument is checked at construction (`ValueError` naming it):
    bools must be bools, numbers finite and in range, and the weights at
    most 2**31 - 1 parameters (`keras_rnnx.layers.base.MAX_PARAMS`).

    Args:
        units: int in [1, 2**20], width of every layer.
        num_layers: int in [1, 1024] (default 2), depth of the stack
            (`keras_rnnx.layers.base.MAX_DEPTH`).
        return_all_layers: bool (default False). Output every layer's ``h``
            concatenated instead of the top layer's.
        layer_dropout: float in [0, 1) (default 0). Dropout of the
            connections between layers (``h(L-1)`` as the input of layer
            ``L``, feeding both its gates and its depth gate), a fresh mask at
            every step (Zaremba et al. 2014); training only.
        unit_forget_bias: bool (default True). Add 1 to every layer's
            forget-gate bias at initialisation (as Keras).
        peephole_initializer: initializer of all peephole vectors, the depth
            gate's ``w_cd`` and ``w_ld`` included (default ``"zeros"``).
        depth_bias_initializer: initializer of ``b_d`` (default ``"zeros"``:
            the depth gates start half open).
        **kwargs: the common arguments of `RecurrentCell`. ``dropout`` drops
            the stack's input ``x``; ``recurrent_dropout`` drops every layer's
            ``h'`` (one mask per sequence and layer); the kernel initializer,
            regularizer and constraint apply to the depth kernels too.

    Example:

    >>> import numpy as np, keras_rnnx
    >>> cell = keras_rnnx.layers.DepthGatedLSTMCell(4, num_layers=3)
    >>> x = np.zeros((2, 3), "float32")
    >>> h, states = cell(x, cell.get_initial_state(2))
    >>> tuple(h.shape), len(states)
    ((2, 4), 6)
    """

    size_arguments = ("units", "num_layers")

    def __init__(
        self,
        units,
        num_layers=2,
        return_all_layers=False,
        layer_dropout=0.0,
        unit_forget_bias=True,
        peephole_initializer="zeros",
        depth_bias_initializer="zeros",
        **kwargs,
    ):
        num_layers = check_int(
            "num_layers", num_layers, 1, MAX_DEPTH,
            fix="Pass e.g. num_layers=2; num_layers=1 is a plain peephole LSTM.",
        )
        return_all_layers = check_bool("return_all_layers", return_all_layers)
        layer_dropout = check_rate("layer_dropout", layer_dropout)
        unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)
        super().__init__(units, **kwargs)
        peephole_initializer = get_keras_object(
            "initializer", "peephole_initializer", peephole_initializer
        )
        depth_bias_initializer = get_keras_object(
            "initializer", "depth_bias_initializer", depth_bias_initializer
        )
        self.num_layers = num_layers
        self.return_all_layers = return_all_layers
        self.layer_dropout = layer_dropout
        self.unit_forget_bias = unit_forget_bias
        self.peephole_initializer = peephole_initializer
        self.depth_bias_initializer = depth_bias_initializer
        self.structure = DepthGatedStructure(
            units=self.units,
            num_layers=num_layers,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            return_all_layers=self.return_all_layers,
            layer_dropout=self.layer_dropout,
        )
        self.check_param_count()

    def output_from_states(self, states):
        """The top layer's ``h(N)``, or every ``h`` with ``return_all_layers``."""
        if self.return_all_layers:
            return ops.concatenate(list(states[0::2]), axis=-1)
        return states[2 * (self.num_layers - 1)]

    def _bias_initializer(self, shape, dtype=None):
        u = self.units
        blocks = [self.bias_initializer((u,), dtype=dtype) for _ in range(4)]
        if self.unit_forget_bias:
            blocks[1] = blocks[1] + 1.0
        return ops.concatenate(blocks, axis=0)

    def build_weights(self, input_dim):
        u = self.units
        for layer in range(1, self.num_layers + 1):
            p = f"layer{layer}_"
            self.add_param(
                p + "kernel",
                (input_dim if layer == 1 else u, 4 * u),
                self.kernel_initializer,
                self.kernel_regularizer,
                self.kernel_constraint,
            )
            self.add_param(
                p + "recurrent_kernel",
                (u, 4 * u),
                self.recurrent_initializer,
                self.recurrent_regularizer,
                self.recurrent_constraint,
            )
            if self.use_bias:
                self.add_param(
                    p + "bias",
                    (4 * u,),
                    self._bias_initializer,
                    self.bias_regularizer,
                    self.bias_constraint,
                    argument="bias_initializer",
                )
            for name in ("input_peephole", "forget_peephole", "output_peephole"):
                self.add_param(p + name, (u,), self.peephole_initializer)
            if layer == 1:
                continue
            self.add_param(
                p + "depth_kernel",
                (u, u),
                self.kernel_initializer,
                self.kernel_regularizer,
                self.kernel_constraint,
            )
            if self.use_bias:
                self.add_param(
                    p + "depth_bias",
                    (u,),
                    self.depth_bias_initializer,
                    self.bias_regularizer,
                    self.bias_constraint,
                )
            for name in ("depth_cell_peephole", "depth_lower_peephole"):
                self.add_param(p + name, (u,), self.peephole_initializer)

    def kernel_blocks(self):
        return {
            f"layer{layer}_recurrent_kernel": 4
            for layer in range(1, self.num_layers + 1)
        }

    def get_recurrent_dropout_mask(self, step_input):
        """One mask per layer, ``(batch, num_layers * units)``, once per sequence.

        The base classes ask with the first state ``h(1)``; the mask covers
        the ``h'`` of every layer.
        """
        if self.num_layers > 1 and getattr(self, "_recurrent_dropout_mask", None) is None:
            step_input = ops.tile(step_input, (1, self.num_layers))
        return super().get_recurrent_dropout_mask(step_input)

    def noise_to_masks(self, noise):
        return inter_layer_keep_masks(noise, self.layer_dropout)

    def input_projection(self, inputs, params):
        return depth_gated_input_projection(inputs, params, self.structure)

    def recurrence(self, projected, states, params, recurrent_mask=None, noise=None):
        return depth_gated_recurrence(
            projected, states, params, self.structure, recurrent_mask, noise
        )

    def get_config(self):
        config = {
            "num_layers": self.num_layers,
            "return_all_layers": self.return_all_layers,
            "layer_dropout": self.layer_dropout,
            "unit_forget_bias": self.unit_forget_bias,
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
            "depth_bias_initializer": initializers.serialize(
                self.depth_bias_initializer
            ),
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthGatedLSTM(RecurrentLayer):
    """Depth-gated LSTM stack (Yao et al. 2015) as one sequence layer.

    ``num_layers`` peephole LSTM layers of width ``units`` in one cell
    (`DepthGatedLSTMCell`, which has the equations and the weight layout):
    layer ``L`` reads layer ``L-1``'s output at the same step, and a depth gate
    adds layer ``L-1``'s memory cell into layer ``L``'s. The first layer has no
    depth gate.

    The input projection of the first layer is computed for all steps in one
    matmul before the time loop; the layers above depend on the current
    step's output of the layer below and are projected inside the loop.

    Outputs: ``return_sequences`` gives the top layer's output at every step;
    ``return_state`` appends the final states of **all** layers,
    ``[h(1), c(1), ..., h(N), c(N)]`` (and ``initial_state`` takes the same
    list). With ``return_all_layers=True`` the output is every layer's ``h``
    concatenated, ``(..., num_layers * units)``.

    Args:
        units: positive int, width of every layer.
        **kwargs: every argument of `DepthGatedLSTMCell` (``num_layers``,
            ``return_all_layers``, ``layer_dropout``, ...) and of
            `keras.layers.RNN` (``return_sequences``, ``return_state``,
            ``go_backwards``, ``stateful``, ``unroll``,
            ``zero_output_for_mask``), plus ``activity_regularizer``,
            ``name``, ``dtype``, ``trainable``.

    Example:

    >>> import numpy as np, keras_rnnx
    >>> layer = keras_rnnx.layers.DepthGatedLSTM(8, num_layers=3, return_sequences=True)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 8)
    >>> every = keras_rnnx.layers.DepthGatedLSTM(8, num_layers=3, return_all_layers=True)
    >>> tuple(every(np.zeros((2, 5, 3), "float32")).shape)
    (2, 24)
    """

    cell_class = DepthGatedLSTMCell

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """The fused loop of `RecurrentLayer`, with the output carried on masks.

        Keras' JAX loop takes the first state as the previous output at masked
        steps; here the first state is ``h(1)``, not the output. With a mask
        the loop therefore carries the previous output (zeros at the start, as
        on TensorFlow) as an extra first state, dropped afterwards.
        """
        if tree.is_nested(mask):
            mask = mask[0]
        cell = self.cell
        params, projected, recurrent_mask = self.prepare_loop(
            sequences, initial_state, training
        )
        with_noise = bool(training) and cell.noise_size > 0
        inputs = projected
        if with_noise:
            shape = ops.shape(projected)
            noise = cell.draw_noise(
                (shape[0], shape[1], cell.noise_size), projected.dtype
            )
            inputs = (projected, ops.stop_gradient(noise))
        carry_output = mask is not None

        def step(step_inputs, states):
            noise_t = None
            if with_noise:
                step_inputs, noise_t = step_inputs
            states = list(states)
            if carry_output:
                states = states[1:]
            output, new_states = cell.recurrence(
                step_inputs, states, params, recurrent_mask, noise_t
            )
            if carry_output:
                new_states = [output] + list(new_states)
            return output, new_states

        states = list(initial_state)
        if carry_output:
            batch = ops.shape(projected)[0]
            states = [ops.zeros((batch, cell.output_size), projected.dtype)] + states
        last, outputs, final_states = run_loop(
            step,
            inputs,
            states,
            mask=mask,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
        )
        if carry_output:
            final_states = list(final_states)[1:]
        return last, outputs, final_states
