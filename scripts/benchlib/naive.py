"""Naive cells: the first implementations a reasonable person writes, stepped by
``keras.layers.RNN`` with nothing hoisted out of the time loop (bench reference rows)."""

import keras
import numpy as np
from keras import ops

class NaivePeepholeLSTMCell(keras.layers.Layer):
    """A peephole LSTM cell as a first implementation would write it.

    One kernel, recurrent kernel and bias per gate (i, f, c, o), eight matmuls
    per step, all inside the step; peepholes ``p_i * c'``, ``p_f * c'``,
    ``p_o * c``. For use in ``keras.layers.RNN``.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        for gate in "ifco":
            bias_init = "ones" if gate == "f" else "zeros"
            setattr(self, f"w_{gate}", self.add_weight((d, u), "glorot_uniform", name=f"w_{gate}"))
            setattr(self, f"u_{gate}", self.add_weight((u, u), "orthogonal", name=f"u_{gate}"))
            setattr(self, f"b_{gate}", self.add_weight((u,), bias_init, name=f"b_{gate}"))
        for gate in "ifo":
            setattr(self, f"p_{gate}", self.add_weight((u,), "zeros", name=f"p_{gate}"))

    def call(self, inputs, states):
        h, c = states
        i = ops.sigmoid(
            ops.matmul(inputs, self.w_i) + ops.matmul(h, self.u_i) + self.b_i + self.p_i * c
        )
        f = ops.sigmoid(
            ops.matmul(inputs, self.w_f) + ops.matmul(h, self.u_f) + self.b_f + self.p_f * c
        )
        g = ops.tanh(ops.matmul(inputs, self.w_c) + ops.matmul(h, self.u_c) + self.b_c)
        c = f * c + i * g
        o = ops.sigmoid(
            ops.matmul(inputs, self.w_o) + ops.matmul(h, self.u_o) + self.b_o + self.p_o * c
        )
        h = o * ops.tanh(c)
        return h, [h, c]


class NaiveGRUCell(keras.layers.Layer):
    """A GRU cell (Cho et al. 2014, reset before the matmul) written naively.

    One kernel, recurrent kernel and bias per gate (z, r, h), six matmuls per
    step, all inside the step. For use in ``keras.layers.RNN``.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        for gate in "zrh":
            setattr(self, f"w_{gate}", self.add_weight((d, u), "glorot_uniform", name=f"w_{gate}"))
            setattr(self, f"u_{gate}", self.add_weight((u, u), "orthogonal", name=f"u_{gate}"))
            setattr(self, f"b_{gate}", self.add_weight((u,), "zeros", name=f"b_{gate}"))

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        z = ops.sigmoid(ops.matmul(inputs, self.w_z) + ops.matmul(h, self.u_z) + self.b_z)
        r = ops.sigmoid(ops.matmul(inputs, self.w_r) + ops.matmul(h, self.u_r) + self.b_r)
        g = ops.tanh(ops.matmul(inputs, self.w_h) + ops.matmul(r * h, self.u_h) + self.b_h)
        h = z * h + (1.0 - z) * g
        return h, [h]


class NaiveFusedPeepholeLSTMCell(keras.layers.Layer):
    """A peephole LSTM cell with Keras' fused weights, written naively.

    One ``(D, 4U)`` kernel, one ``(U, 4U)`` recurrent kernel and one bias, as
    `keras.layers.LSTMCell` has them: per step ``x @ W + h @ U + b``, split
    into i, f, c, o, peepholes added. Nothing hoisted out of the time loop.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.kernel = self.add_weight((d, 4 * u), "glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((u, 4 * u), "orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight((4 * u,), "zeros", name="bias")
        self.peepholes = self.add_weight((3, u), "zeros", name="peepholes")

    def call(self, inputs, states):
        h, c = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(z_i + self.peepholes[0] * c)
        f = ops.sigmoid(z_f + self.peepholes[1] * c)
        c = f * c + i * ops.tanh(z_c)
        o = ops.sigmoid(z_o + self.peepholes[2] * c)
        h = o * ops.tanh(c)
        return h, [h, c]


class NaiveFusedGRUCell(keras.layers.Layer):
    """A GRU cell (reset before the matmul) with fused weights, written naively.

    One ``(D, 3U)`` kernel and one ``(U, 3U)`` recurrent kernel; per step
    ``x @ W`` and ``h @ U[:, :2U]`` then ``(r * h) @ U[:, 2U:]``.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.kernel = self.add_weight((d, 3 * u), "glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((u, 3 * u), "orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight((3 * u,), "zeros", name="bias")

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        x_z, x_r, x_h = ops.split(ops.matmul(inputs, self.kernel) + self.bias, 3, axis=-1)
        r_z, r_r = ops.split(ops.matmul(h, self.recurrent_kernel[:, : 2 * u]), 2, axis=-1)
        z = ops.sigmoid(x_z + r_z)
        r = ops.sigmoid(x_r + r_r)
        g = ops.tanh(x_h + ops.matmul(r * h, self.recurrent_kernel[:, 2 * u :]))
        h = z * h + (1.0 - z) * g
        return h, [h]


class NaiveClockworkCell(keras.layers.Layer):
    """A Clockwork RNN cell (exponential periods) as a first implementation writes it.

    A dense ``(U, U)`` recurrent matrix multiplied by a constant
    block-triangular mask (slower modules feed faster ones), the full
    ``x @ W + h @ (U * mask)`` computed at every step, then the units of the
    modules that do not tick put back with a select. The step counter is the
    second state.
    """

    def __init__(self, units, num_modules, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.size = units // num_modules
        self.periods = np.repeat(2 ** np.arange(num_modules), self.size).astype("float32")
        module = np.arange(units) // self.size
        self.tri = (module[:, None] >= module[None, :]).astype("float32")
        self.state_size = [units, 1]
        self.output_size = units

    def build(self, input_shape):
        d, u = input_shape[-1], self.units
        self.kernel = self.add_weight((d, u), "glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight((u, u), "orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight((u,), "zeros", name="bias")

    def call(self, inputs, states):
        h, t = states
        pre = (
            ops.matmul(inputs, self.kernel)
            + ops.matmul(h, self.recurrent_kernel * self.tri)
            + self.bias
        )
        active = ops.equal(ops.mod(t, self.periods), 0.0)
        h = ops.where(active, ops.tanh(pre), h)
        return h, [h, t + 1.0]
