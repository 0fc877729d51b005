"""NumPy reference of the depth-gated LSTM (Yao et al. 2015), from the paper's equations.

Shares no code with keras_rnnx (imports only numpy). For layer L of the stack,
with x(1) = x and x(L) = h(L-1) at the same time step:

    i = sigmoid(W_i x + U_i h' + b_i + p_i c')
    f = sigmoid(W_f x + U_f h' + b_f + p_f c')
    g = tanh(W_c x + U_c h' + b_c)
    d = sigmoid(b_d + W_d x + w_cd c' + w_ld c(L-1))        (L >= 2 only)
    c = f c' + i g + d c(L-1)
    o = sigmoid(W_o x + U_o h' + b_o + p_o c)
    h = o tanh(c)

Parameter names follow the layer's weight names (``layer{L}_kernel`` with
the gate blocks in the order i, f, c, o, ...). Masked steps keep the state
and repeat the previous output (zeros before the first unmasked step), as
`keras.layers.RNN` does.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def param_shapes(input_dim, units, num_layers, use_bias=True):
    shapes = {}
    for layer in range(1, num_layers + 1):
        p = f"layer{layer}_"
        shapes[p + "kernel"] = (input_dim if layer == 1 else units, 4 * units)
        shapes[p + "recurrent_kernel"] = (units, 4 * units)
        if use_bias:
            shapes[p + "bias"] = (4 * units,)
        shapes[p + "input_peephole"] = (units,)
        shapes[p + "forget_peephole"] = (units,)
        shapes[p + "output_peephole"] = (units,)
        if layer > 1:
            shapes[p + "depth_kernel"] = (units, units)
            if use_bias:
                shapes[p + "depth_bias"] = (units,)
            shapes[p + "depth_cell_peephole"] = (units,)
            shapes[p + "depth_lower_peephole"] = (units,)
    return shapes


def _layer_step(p, prefix, x, h_prev, c_prev, c_lower, units):
    W = p[prefix + "kernel"]
    U = p[prefix + "recurrent_kernel"]
    b = p.get(prefix + "bias", np.zeros(4 * units))
    gates = {}
    for k, name in enumerate("ifco"):
        cols = slice(k * units, (k + 1) * units)
        gates[name] = x @ W[:, cols] + h_prev @ U[:, cols] + b[cols]
    i = sigmoid(gates["i"] + p[prefix + "input_peephole"] * c_prev)
    f = sigmoid(gates["f"] + p[prefix + "forget_peephole"] * c_prev)
    g = np.tanh(gates["c"])
    c = f * c_prev + i * g
    if c_lower is not None:
        d = sigmoid(
            p.get(prefix + "depth_bias", np.zeros(units))
            + x @ p[prefix + "depth_kernel"]
            + p[prefix + "depth_cell_peephole"] * c_prev
            + p[prefix + "depth_lower_peephole"] * c_lower
        )
        c = c + d * c_lower
    o = sigmoid(gates["o"] + p[prefix + "output_peephole"] * c)
    h = o * np.tanh(c)
    return h, c


def forward(
    params, x, units, num_layers, mask=None, initial_state=None, return_all_layers=False
):
    """Run the stack over ``x`` ``(batch, time, features)``.

    Returns ``(outputs (batch, time, out), [h1, c1, ..., hN, cN])`` where
    ``out`` is ``units`` (top layer) or ``num_layers * units``.
    """
    batch, steps, _ = x.shape
    if initial_state is None:
        states = [np.zeros((batch, units)) for _ in range(2 * num_layers)]
    else:
        states = [np.array(s, dtype=np.float64) for s in initial_state]
    out_size = units * (num_layers if return_all_layers else 1)
    previous = np.zeros((batch, out_size))
    outputs = []
    for t in range(steps):
        new_states = []
        layer_outputs = []
        inp = x[:, t]
        c_lower = None
        for layer in range(1, num_layers + 1):
            h_prev, c_prev = states[2 * layer - 2], states[2 * layer - 1]
            h, c = _layer_step(
                params, f"layer{layer}_", inp, h_prev, c_prev, c_lower, units
            )
            new_states += [h, c]
            layer_outputs.append(h)
            inp, c_lower = h, c
        out = np.concatenate(layer_outputs, axis=-1) if return_all_layers else layer_outputs[-1]
        if mask is not None:
            keep = np.asarray(mask)[:, t][:, None]
            out = np.where(keep, out, previous)
            new_states = [np.where(keep, n, o) for n, o in zip(new_states, states)]
        outputs.append(out)
        previous = out
        states = new_states
    return np.stack(outputs, axis=1), states


def stacked_peephole_forward(layer_params, x):
    """``len(layer_params)`` plain peephole LSTM layers, one after the other.

    ``layer_params``: list of dicts with keys kernel, recurrent_kernel, bias,
    input_peephole, forget_peephole, output_peephole.
    """
    seq = x
    for p in layer_params:
        units = p["recurrent_kernel"].shape[0]
        named = {"l_" + k: v for k, v in p.items()}
        h = np.zeros((x.shape[0], units))
        c = np.zeros((x.shape[0], units))
        outs = []
        for t in range(seq.shape[1]):
            h, c = _layer_step(named, "l_", seq[:, t], h, c, None, units)
            outs.append(h)
        seq = np.stack(outs, axis=1)
    return seq
