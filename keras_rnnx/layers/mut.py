"""`MUT1`, `MUT2`, `MUT3`: the architectures of Jozefowicz, Zaremba & Sutskever (2015)."""

import keras

from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.ops import MUTStructure
from keras_rnnx.ops import mut_input_projection
from keras_rnnx.ops import mut_recurrence
from keras_rnnx.ops.mut import KERNEL_BLOCKS
from keras_rnnx.ops.mut import RECURRENT_BLOCKS


class MUTCell(RecurrentCell):
    """Base of the MUT cells; ``variant`` is fixed by the subclass.

    Equations (``s`` = ``recurrent_activation``, ``act`` = ``activation``)::

        MUT1: z = s(W_xz x + b_z)
              r = s(W_xr x + W_hr h' + b_r)
              h = act(W_hh (r * h') + act(x) + b_h) * z + h' * (1 - z)
        MUT2: z = s(W_xz x + W_hz h' + b_z)
              r = s(x + W_hr h' + b_r)
              h = act(W_hh (r * h') + W_xh x + b_h) * z + h' * (1 - z)
        MUT3: z = s(W_xz x + W_hz act(h') + b_z)
              r = s(W_xr x + W_hr h' + b_r)
              h = act(W_hh (r * h') + W_xh x + b_h) * z + h' * (1 - z)

    Weight layout: ``kernel`` ``(input_dim, b * units)`` with blocks
    MUT1 ``z, r`` / MUT2 ``z, h`` / MUT3 ``z, r, h``; ``recurrent_kernel``
    ``(units, b * units)`` with blocks MUT1 ``r`` / MUT2, MUT3 ``z, r``;
    ``candidate_kernel`` ``(units, units)`` (``W_hh``, initialised with
    ``recurrent_initializer``); ``bias`` ``(3 * units,)`` with blocks z, r, h.
    MUT1 and MUT2 add the input itself to a pre-activation and need
    ``input_dim == units``.

    Args: those of `RecurrentCell` (``units`` an int in [1, 2**20]; every
    argument checked at construction, `ValueError` naming it).
    """

    variant = None

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.structure = MUTStructure(
            units=self.units,
            variant=self.variant,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )
        self.check_param_count()

    def check_input_dim(self, input_dim):
        if self.variant in (1, 2) and input_dim != self.units:
            raise ValueError(
                f"MUT{self.variant} adds the input itself to a pre-activation, so "
                f"the input size must equal `units`; received input size "
                f"{input_dim} and units={self.units}. Project the inputs first "
                f"(e.g. keras.layers.Dense({self.units})) or use MUT3."
            )

    def build_weights(self, input_dim):
        u = self.units
        self.add_kernel("kernel", (input_dim, len(KERNEL_BLOCKS[self.variant]) * u))
        self.add_recurrent_kernel(
            "recurrent_kernel", (u, len(RECURRENT_BLOCKS[self.variant]) * u)
        )
        self.add_recurrent_kernel("candidate_kernel", (u, u))
        self.add_bias((3 * u,))

    def kernel_blocks(self):
        return {"recurrent_kernel": len(RECURRENT_BLOCKS[self.variant])}

    def input_projection(self, inputs, params):
        return mut_input_projection(inputs, params, self.structure)

    def recurrence(self, projected, states, params, recurrent_mask=None, noise=None):
        return mut_recurrence(projected, states, params, self.structure, recurrent_mask)


def _mut_pair(variant):
    cell_name = f"MUT{variant}Cell"
    cell_class = type(
        cell_name,
        (MUTCell,),
        {
            "variant": variant,
            "__doc__": f"MUT{variant} cell (Jozefowicz et al. 2015). See `MUTCell`.\n\n"
            f"    >>> import numpy as np, keras_rnnx\n"
            f"    >>> cell = keras_rnnx.layers.{cell_name}(3)\n"
            f"    >>> h, _ = cell(np.zeros((2, 3), 'float32'), cell.get_initial_state(2))\n"
            f"    >>> tuple(h.shape)\n    (2, 3)\n",
            "__module__": __name__,
        },
    )
    layer_class = type(
        f"MUT{variant}",
        (RecurrentLayer,),
        {
            "cell_class": cell_class,
            "__doc__": f"MUT{variant} layer (Jozefowicz et al. 2015).\n\n"
            f"    Equations and weight layout: see `MUTCell`. Takes every argument of\n"
            f"    `RecurrentCell` and of `keras.layers.RNN`.\n\n"
            f"    >>> import numpy as np, keras_rnnx\n"
            f"    >>> tuple(keras_rnnx.layers.MUT{variant}(3)(np.zeros((2, 5, 3), 'float32')).shape)\n"
            f"    (2, 3)\n",
            "__module__": __name__,
        },
    )
    register = keras.saving.register_keras_serializable(package="keras_rnnx")
    return register(cell_class), register(layer_class)


MUT1Cell, MUT1 = _mut_pair(1)
MUT2Cell, MUT2 = _mut_pair(2)
MUT3Cell, MUT3 = _mut_pair(3)
