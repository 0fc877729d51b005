"""The LSTM family: `LSTM` (all of Greff et al.'s variants), `PeepholeLSTM`, `CIFGLSTM`."""

import keras
from keras import initializers
from keras import ops

from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.layers.base import check_units
from keras_rnnx.layers.base import get_keras_object
from keras_rnnx.layers.cudnn import CudnnDispatch
from keras_rnnx.ops import LSTMStructure
from keras_rnnx.ops import lstm_input_projection
from keras_rnnx.ops import lstm_recurrence
from keras_rnnx.ops.lstm import zoneout_keep_masks
from keras_rnnx.validation import check_bool
from keras_rnnx.validation import check_float
from keras_rnnx.validation import check_int
from keras_rnnx.validation import check_rate

_PACKAGE = "keras_rnnx"

MAX_FORGET_BIAS = 100.0
"""Largest ``|forget_bias|``: the sigmoid is exactly 0 or 1 in float32 from
about 17 on, so larger values change nothing but overflow float16."""
MAX_CHRONO_INIT = 2**31 - 1
"""Largest ``chrono_init`` (a sequence length): the largest int32 step count."""


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LSTMCell(RecurrentCell):
    """Cell of the LSTM family (Hochreiter & Schmidhuber 1997; Gers et al. 2000).

    One switch per variant of Greff et al. (2017), "LSTM: A Search Space
    Odyssey", plus the extras of later work. The defaults are exactly
    `keras.layers.LSTMCell` (same weights, same outputs).

    Equations (``s`` = ``recurrent_activation``, ``act`` = ``activation``)::

        i = s(W_i x + U_i h' + b_i + p_i * c')
        f = s(W_f x + U_f h' + b_f + p_f * c')
        g = act(W_c x + U_c h' + b_c)
        c = f * c' + i * g
        o = s(W_o x + U_o h' + b_o + p_o * c)
        h = o * act(c)

    Weight layout: ``kernel`` ``(input_dim, n * units)``, ``recurrent_kernel``
    ``(output_size, n * units)`` and ``bias`` ``(n * units,)`` hold one block
    of ``units`` columns per gate present, in the Keras order **i, f, c, o**
    (``n = 4`` for the plain LSTM, which has exactly `keras.layers.LSTM`'s
    weight list). Absent gates (``input_gate=False``, ``coupled=True``,
    ``forget_gate=False``, ``output_gate=False``) take no columns. Extra
    variables, created only when their option is on: ``input_peephole``,
    ``forget_peephole``, ``output_peephole`` ``(units,)``;
    ``gate_recurrent_kernel`` ``(k*units, k*units)``; ``input_norm_gamma``,
    ``input_norm_beta``, ``recurrent_norm_gamma``, ``recurrent_norm_beta``
    ``(n*units,)``, ``cell_norm_gamma``, ``cell_norm_beta`` ``(units,)``;
    ``projection_kernel`` ``(units, proj_units)``. The full equations of every
    option are in `keras_rnnx.ops.lstm`.

    Every argument is checked at construction (`ValueError` naming it): the
    switches must be bools (``coupled="false"`` is refused, not taken as
    True), the numbers finite and in the ranges below.

    Args:
        units: int in [1, 2**20], size of the memory cell (and the weights
            at most 2**31 - 1 parameters, see `RecurrentCell`).
        peephole: bool (default False). Peephole connections (Gers &
            Schmidhuber 2000): ``i`` and ``f`` see ``c'``, ``o`` sees ``c``.
        input_gate, forget_gate, output_gate: bool (default True). False
            fixes that gate to 1 (Greff's NIG, NFG, NOG).
        input_activation: bool (default True). False drops ``act`` from the
            candidate ``g`` (NIAF).
        output_activation: bool (default True). False gives ``h = o * c``
            (NOAF).
        coupled: bool (default False). ``i = 1 - f`` (CIFG); needs both
            ``input_gate`` and ``forget_gate``.
        full_gate_recurrence: bool (default False). The gates also receive the
            previous step's gate activations through a full matrix (FGR); adds
            a third state.
        unit_forget_bias: bool (default True). Add 1 to the forget-gate bias at
            initialisation (as Keras). Used only when neither ``forget_bias``
            nor ``chrono_init`` is given.
        forget_bias: float in [-100, 100] or None. Initial value of the
            forget-gate bias.
        chrono_init: int in [3, 2**31 - 1] or None. Chrono initialisation (Tallec & Ollivier
            2018) for dependencies up to ``chrono_init`` steps:
            ``b_f ~ log(U(1, chrono_init - 1))`` and ``b_i = -b_f``.
        cell_clip: finite float > 0 or None. Clip ``c`` to
            ``[-cell_clip, cell_clip]`` after each update.
        layer_norm: bool (default False). Layer normalisation (Ba et al. 2016).
        proj_units: int in [1, 2**20] or None. Output projection (Sak et al. 2014);
            ``h`` and the output have ``proj_units`` features.
        zoneout_hidden, zoneout_cell: float in [0, 1) (default 0). Zoneout
            rates (Krueger et al. 2016) of ``h`` and ``c``; fresh noise at every
            step in training, expectation at inference.
        peephole_initializer: initializer of the peephole vectors (default
            ``"zeros"``).
        projection_initializer: initializer of ``projection_kernel`` (default
            ``"glorot_uniform"``).
        **kwargs: the common arguments of `RecurrentCell` (activations,
            initializers, regularizers, constraints, dropout,
            recurrent_dropout, seed) and of `keras.layers.Layer`.

    Example:

    >>> import numpy as np, keras_rnnx
    >>> cell = keras_rnnx.layers.LSTMCell(4, peephole=True)
    >>> x = np.zeros((2, 3), "float32")
    >>> h, (h2, c) = cell(x, cell.get_initial_state(2))
    >>> tuple(h.shape)
    (2, 4)
    """

    def __init__(
        self,
        units,
        peephole=False,
        input_gate=True,
        forget_gate=True,
        output_gate=True,
        input_activation=True,
        output_activation=True,
        coupled=False,
        full_gate_recurrence=False,
        unit_forget_bias=True,
        forget_bias=None,
        chrono_init=None,
        cell_clip=None,
        layer_norm=False,
        proj_units=None,
        zoneout_hidden=0.0,
        zoneout_cell=0.0,
        peephole_initializer="zeros",
        projection_initializer="glorot_uniform",
        **kwargs,
    ):
        flags = {name: check_bool(name, value) for name, value in (
            ("peephole", peephole),
            ("input_gate", input_gate),
            ("forget_gate", forget_gate),
            ("output_gate", output_gate),
            ("input_activation", input_activation),
            ("output_activation", output_activation),
            ("coupled", coupled),
            ("full_gate_recurrence", full_gate_recurrence),
            ("unit_forget_bias", unit_forget_bias),
            ("layer_norm", layer_norm),
        )}
        input_gate, forget_gate = flags["input_gate"], flags["forget_gate"]
        coupled, output_gate = flags["coupled"], flags["output_gate"]
        forget_bias = check_float(
            "forget_bias", forget_bias, -MAX_FORGET_BIAS, MAX_FORGET_BIAS,
            allow_none=True, fix="Pass e.g. forget_bias=1.0, or None for the default.",
        )
        if chrono_init is not None:
            chrono_init = check_int(
                "chrono_init", chrono_init, 3, MAX_CHRONO_INIT,
                fix="It is the longest dependency length to expect, e.g. chrono_init=100.",
            )
        cell_clip = check_float(
            "cell_clip", cell_clip, 0.0, min_inclusive=False, allow_none=True,
            fix="Pass e.g. cell_clip=3.0, or None for no clipping.",
        )
        proj_units = check_units("proj_units", proj_units, allow_none=True)
        zoneout_hidden = check_rate("zoneout_hidden", zoneout_hidden)
        zoneout_cell = check_rate("zoneout_cell", zoneout_cell)
        if coupled and not (input_gate and forget_gate):
            raise ValueError(
                "Argument `coupled=True` (CIFG: i = 1 - f) needs both gates, but "
                f"received input_gate={input_gate}, forget_gate={forget_gate}. "
                "Set input_gate=True and forget_gate=True, or coupled=False."
            )
        if chrono_init is not None and forget_bias is not None:
            raise ValueError(
                "Arguments `chrono_init` and `forget_bias` both set the forget-gate "
                f"bias (received chrono_init={chrono_init}, forget_bias="
                f"{forget_bias}). Pass only one of them."
            )
        if (chrono_init is not None or forget_bias is not None) and not forget_gate:
            raise ValueError(
                "Arguments `chrono_init`/`forget_bias` initialise the forget gate, "
                "but forget_gate=False. Remove them or set forget_gate=True."
            )
        if flags["full_gate_recurrence"] and not (
            (input_gate and not coupled) or forget_gate or output_gate
        ):
            raise ValueError(
                "Argument `full_gate_recurrence=True` connects the sigmoid gates, "
                "but this configuration has none. Enable a gate or set "
                "full_gate_recurrence=False."
            )
        super().__init__(units, **kwargs)
        peephole_initializer = get_keras_object(
            "initializer", "peephole_initializer", peephole_initializer
        )
        projection_initializer = get_keras_object(
            "initializer", "projection_initializer", projection_initializer
        )
        for name, value in flags.items():
            setattr(self, name, value)
        self.forget_bias = forget_bias
        self.chrono_init = chrono_init
        self.cell_clip = cell_clip
        self.proj_units = proj_units
        self.zoneout_hidden = zoneout_hidden
        self.zoneout_cell = zoneout_cell
        self.peephole_initializer = peephole_initializer
        self.projection_initializer = projection_initializer
        self.structure = LSTMStructure(
            units=self.units,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            input_gate=self.input_gate,
            forget_gate=self.forget_gate,
            output_gate=self.output_gate,
            input_activation=self.input_activation,
            output_activation=self.output_activation,
            coupled=self.coupled,
            peephole=self.peephole,
            full_gate_recurrence=self.full_gate_recurrence,
            cell_clip=self.cell_clip,
            layer_norm=self.layer_norm,
            proj_units=self.proj_units,
            zoneout_hidden=self.zoneout_hidden,
            zoneout_cell=self.zoneout_cell,
        )
        self.check_param_count()

    size_arguments = ("units", "proj_units")

    def _bias_initializer(self, shape, dtype=None):
        gates = self.structure.gates
        u = self.units
        blocks = {g: self.bias_initializer((u,), dtype=dtype) for g in gates}
        if "f" in blocks:
            if self.chrono_init is not None:
                uniform = keras.random.uniform(
                    (u,),
                    minval=1.0,
                    maxval=float(self.chrono_init - 1),
                    dtype=dtype,
                    seed=self.seed_generator,
                )
                blocks["f"] = ops.log(uniform)
                if "i" in blocks:
                    blocks["i"] = -blocks["f"]
            elif self.forget_bias is not None:
                blocks["f"] = ops.full((u,), self.forget_bias, dtype=dtype)
            elif self.unit_forget_bias:
                blocks["f"] = blocks["f"] + 1.0
        return ops.concatenate([blocks[g] for g in gates], axis=0)

    def build_weights(self, input_dim):
        s = self.structure
        width = len(s.gates) * self.units
        self.add_kernel("kernel", (input_dim, width))
        self.add_recurrent_kernel("recurrent_kernel", (s.output_size, width))
        self.add_bias((width,), self._bias_initializer)
        if self.peephole:
            for gate, name in (
                ("i", "input_peephole"),
                ("f", "forget_peephole"),
                ("o", "output_peephole"),
            ):
                if gate in s.gates:
                    self.add_param(name, (self.units,), self.peephole_initializer)
        if self.full_gate_recurrence:
            k = len(s.sigmoid_gates) * self.units
            self.add_recurrent_kernel("gate_recurrent_kernel", (k, k))
        if self.layer_norm:
            for prefix, size in (("input", width), ("recurrent", width), ("cell", self.units)):
                self.add_param(f"{prefix}_norm_gamma", (size,), "ones")
                self.add_param(f"{prefix}_norm_beta", (size,), "zeros")
        if self.proj_units:
            self.add_param(
                "projection_kernel",
                (self.units, self.proj_units),
                self.projection_initializer,
            )

    def kernel_blocks(self):
        return {
            "recurrent_kernel": len(self.structure.gates),
            "gate_recurrent_kernel": len(self.structure.sigmoid_gates),
        }

    def noise_to_masks(self, noise):
        return zoneout_keep_masks(noise, self.structure)

    def input_projection(self, inputs, params):
        return lstm_input_projection(inputs, params, self.structure)

    def recurrence(self, projected, states, params, recurrent_mask=None, noise=None):
        return lstm_recurrence(
            projected, states, params, self.structure, recurrent_mask, noise
        )

    def get_config(self):
        config = {
            "peephole": self.peephole,
            "input_gate": self.input_gate,
            "forget_gate": self.forget_gate,
            "output_gate": self.output_gate,
            "input_activation": self.input_activation,
            "output_activation": self.output_activation,
            "coupled": self.coupled,
            "full_gate_recurrence": self.full_gate_recurrence,
            "unit_forget_bias": self.unit_forget_bias,
            "forget_bias": self.forget_bias,
            "chrono_init": self.chrono_init,
            "cell_clip": self.cell_clip,
            "layer_norm": self.layer_norm,
            "proj_units": self.proj_units,
            "zoneout_hidden": self.zoneout_hidden,
            "zoneout_cell": self.zoneout_cell,
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
            "projection_initializer": initializers.serialize(
                self.projection_initializer
            ),
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PeepholeLSTMCell(LSTMCell):
    """`LSTMCell` with ``peephole=True`` by default (Gers & Schmidhuber 2000).

    Greff et al.'s "vanilla" LSTM. Same arguments and weight layout as
    `LSTMCell`, plus ``input_peephole``, ``forget_peephole`` and
    ``output_peephole`` ``(units,)``.
    """

    def __init__(self, units, peephole=True, **kwargs):
        super().__init__(units, peephole=peephole, **kwargs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CIFGLSTMCell(LSTMCell):
    """`LSTMCell` with ``coupled=True`` by default: ``i = 1 - f`` (CIFG).

    The input gate has no weights: ``kernel`` has the three blocks f, c, o.
    Greff et al.'s CIFG variant of the vanilla LSTM is
    ``CIFGLSTMCell(units, peephole=True)``.
    """

    def __init__(self, units, coupled=True, **kwargs):
        super().__init__(units, coupled=coupled, **kwargs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LSTM(CudnnDispatch, RecurrentLayer):
    """Long Short-Term Memory layer with the whole Greff et al. family behind switches.

    A drop-in replacement of `keras.layers.LSTM`: with default arguments it
    has the same weight list (``kernel``, ``recurrent_kernel``, ``bias``, gate
    order i, f, c, o) and computes the same outputs. The options of
    `LSTMCell` (``peephole``, ``coupled``, ``input_gate``, ``forget_gate``,
    ``output_gate``, ``input_activation``, ``output_activation``,
    ``full_gate_recurrence``, ``forget_bias``, ``chrono_init``,
    ``cell_clip``, ``layer_norm``, ``proj_units``, ``zoneout_hidden``,
    ``zoneout_cell``) select the variant; its docstring has the equations and
    the weight layout.

    The input projections of all time steps are computed in one matmul before
    the time loop, so the loop carries only the recurrent matmul (with JAX on
    CPU, where that is slower, each step projects its own input).

    The plain LSTM (none of the variant options; tanh and sigmoid; a bias; no
    ``recurrent_dropout``, ``unroll``) is cuDNN's maths: on a TensorFlow GPU it
    runs on cuDNN, as `keras.layers.LSTM` does (see ``use_cudnn``). The
    initial forget-gate bias (``unit_forget_bias``, ``forget_bias``,
    ``chrono_init``) and ``dropout`` do not affect eligibility.

    Args:
        units: positive int.
        use_cudnn: ``"auto"`` (default), True or False. ``"auto"`` runs an
            eligible configuration on cuDNN when it can (TensorFlow backend, a
            visible GPU, no mask or a right-padded one without fully masked
            rows, float16/32/64) and the keras-rnnx loop otherwise; the model
            then cannot use ``jit_compile=True`` on a TensorFlow GPU, as with
            `keras.layers.LSTM`. True forces cuDNN: `ValueError` at
            construction naming every option that rules it out, or at call
            time where cuDNN cannot run. False always runs the keras-rnnx loop
            (XLA-compilable). See `keras_rnnx.layers.cudnn`.
        **kwargs: every argument of `LSTMCell`, and of `keras.layers.RNN`
            (``return_sequences``, ``return_state``, ``go_backwards``,
            ``stateful``, ``unroll``, ``zero_output_for_mask``), plus
            ``activity_regularizer``, ``name``, ``dtype``, ``trainable``.

    Example:

    >>> import numpy as np, keras_rnnx
    >>> layer = keras_rnnx.layers.LSTM(8, peephole=True, return_sequences=True)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 8)
    """

    cell_class = LSTMCell
    cudnn_kind = "lstm"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PeepholeLSTM(LSTM):
    """`LSTM` with peephole connections (``peephole=True`` by default).

    See `PeepholeLSTMCell`.

    >>> import numpy as np, keras_rnnx
    >>> tuple(keras_rnnx.layers.PeepholeLSTM(8)(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    """

    cell_class = PeepholeLSTMCell


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CIFGLSTM(LSTM):
    """`LSTM` with coupled input and forget gates (``coupled=True`` by default).

    See `CIFGLSTMCell`.

    >>> import numpy as np, keras_rnnx
    >>> tuple(keras_rnnx.layers.CIFGLSTM(8)(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    """

    cell_class = CIFGLSTMCell

