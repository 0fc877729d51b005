"""`GRU` (Cho et al. 2014), weight-compatible with `keras.layers.GRU`."""

import keras

from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.layers.cudnn import CudnnDispatch
from keras_rnnx.ops import GRUStructure
from keras_rnnx.ops import gru_input_projection
from keras_rnnx.ops import gru_recurrence
from keras_rnnx.validation import check_bool


@keras.saving.register_keras_serializable(package="keras_rnnx")
class GRUCell(RecurrentCell):
    """Gated Recurrent Unit cell (Cho et al. 2014), Keras convention.

    Equations (``s`` = ``recurrent_activation``, ``act`` = ``activation``)::

        z = s(W_z x + U_z h' + b_z)
        r = s(W_r x + U_r h' + b_r)
        g = act(W_h x + U_h (r * h') + b_h)            # reset_after=False
        g = act(W_h x + b_h + r * (U_h h' + b'_h))      # reset_after=True
        h = z * h' + (1 - z) * g

    Weight layout, identical to `keras.layers.GRUCell`: ``kernel``
    ``(input_dim, 3 * units)`` and ``recurrent_kernel`` ``(units, 3 * units)``
    with column blocks **z, r, h**; ``bias`` ``(3 * units,)``, or
    ``(2, 3 * units)`` (input bias, recurrent bias) when ``reset_after=True``.

    Args:
        units: int in [1, 2**20].
        reset_after: bool (default True, the cuDNN form). Apply the reset gate
            after the recurrent matmul. A non-bool raises `ValueError`.
        **kwargs: the common arguments of `RecurrentCell` (checked there).

    >>> import numpy as np, keras_rnnx
    >>> cell = keras_rnnx.layers.GRUCell(4)
    >>> h, _ = cell(np.zeros((2, 3), "float32"), cell.get_initial_state(2))
    >>> tuple(h.shape)
    (2, 4)
    """

    def __init__(self, units, reset_after=True, **kwargs):
        reset_after = check_bool("reset_after", reset_after)
        super().__init__(units, **kwargs)
        self.reset_after = reset_after
        self.structure = GRUStructure(
            units=self.units,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            reset_after=self.reset_after,
        )
        self.check_param_count()

    def build_weights(self, input_dim):
        width = 3 * self.units
        self.add_kernel("kernel", (input_dim, width))
        self.add_recurrent_kernel("recurrent_kernel", (self.units, width))
        self.add_bias((2, width) if self.reset_after else (width,))

    def kernel_blocks(self):
        return {"recurrent_kernel": 3}

    def input_projection(self, inputs, params):
        return gru_input_projection(inputs, params, self.structure)

    def recurrence(self, projected, states, params, recurrent_mask=None, noise=None):
        return gru_recurrence(projected, states, params, self.structure, recurrent_mask)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="keras_rnnx")
class GRU(CudnnDispatch, RecurrentLayer):
    """Gated Recurrent Unit layer, a drop-in for `keras.layers.GRU`.

    Same weights, gate order (z, r, h) and outputs as `keras.layers.GRU` in
    both ``reset_after`` modes; see `GRUCell` for the equations. The input
    projections of all steps run in one matmul before the time loop (inside
    it with JAX on CPU, where that is faster).

    With ``reset_after=True`` (tanh and sigmoid, a bias, no
    ``recurrent_dropout``, no ``unroll``) the GRU is cuDNN's maths: on a
    TensorFlow GPU it runs on cuDNN, as `keras.layers.GRU` does (see
    ``use_cudnn``); ``reset_after=False`` always runs the keras-rnnx loop.

    Args:
        units: int in [1, 2**20].
        use_cudnn: ``"auto"`` (default), True or False, as for `LSTM`:
            ``"auto"`` uses cuDNN for an eligible configuration where it can
            (TensorFlow GPU) and the keras-rnnx loop otherwise; True forces
            cuDNN (`ValueError` at construction for an ineligible
            configuration, at call time where cuDNN cannot run); False always
            runs the keras-rnnx loop (XLA-compilable).
        **kwargs: every argument of `GRUCell` and of `keras.layers.RNN`.

    >>> import numpy as np, keras_rnnx
    >>> tuple(keras_rnnx.layers.GRU(8)(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    """

    cell_class = GRUCell
    cudnn_kind = "gru"
