"""Pure NumPy reference implementations of the keras-rnnx cells.

Written from the papers' equations (REFERENCES.md section 1), NOT from the
package's code: this module imports neither ``keras`` nor ``keras_rnnx``. Only
the weight *layout* (names and column blocks) follows the package's documented
conventions, so that the same weight dict can feed both.

Every ``*_forward`` function takes

* ``params``: dict name -> ndarray, the package's variable names;
* ``x``: ``(batch, time, features)``;
* ``mask``: optional bool ``(batch, time)``; a masked step leaves every state
  unchanged and outputs the previous output (zeros before the first step,
  the Keras convention; with a zero initial state this is also ``h0``);
* ``initial_state``: optional list of ``(batch, size)`` arrays (zeros if None);

and returns ``(outputs (batch, time, out), final_states list)``. The dtype of
the computation is the dtype of ``x`` (use float64 for finite differences).

LSTM (Hochreiter & Schmidhuber 1997, forget gate Gers et al. 2000, peepholes
Gers & Schmidhuber 2000, the variants of Greff et al. 2017)::

    i = s(W_i x + U_i h' + b_i + p_i c')        (NIG: i = 1; CIFG: i = 1 - f)
    f = s(W_f x + U_f h' + b_f + p_f c')        (NFG: f = 1)
    g = tanh(W_c x + U_c h' + b_c)              (NIAF: no tanh)
    c = f c' + i g                              (then clip to +-cell_clip)
    o = s(W_o x + U_o h' + b_o + p_o c)         (NOG: o = 1)
    h = o tanh(c)                               (NOAF: h = o c)

FGR adds ``[i', f', o'] @ R`` (previous gate activations) to the gate
pre-activations; layer norm (Ba et al. 2016) normalises ``W x`` and ``U h'``
separately (bias after the input one) and ``c`` before the output tanh;
projection (Sak et al. 2014) ``h <- h @ P``; zoneout (Krueger et al. 2016) at
inference ``h <- r_h h' + (1 - r_h) h`` and ``c <- r_c c' + (1 - r_c) c``.
"""

import numpy as np

LN_EPSILON = 1e-5

# Gate order of the fused weight matrices (Keras): input, forget, cell, output.
LSTM_GATE_ORDER = ("i", "f", "c", "o")


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def tanh(v):
    return np.tanh(v)


def layer_norm(v, gamma, beta, eps=LN_EPSILON):
    mu = v.mean(axis=-1, keepdims=True)
    var = ((v - mu) ** 2).mean(axis=-1, keepdims=True)
    return (v - mu) / np.sqrt(var + eps) * gamma + beta


def _zeros_states(sizes, batch, dtype):
    return [np.zeros((batch, s), dtype) for s in sizes]


def _apply_mask(mask_t, new, old):
    """Where ``mask_t`` (batch,) is False keep ``old``."""
    if mask_t is None:
        return new
    return np.where(mask_t[:, None], new, old)


def _run(step, x, states, out_size, mask):
    """Generic loop: ``step(x_t, states) -> (out_t, new_states)``."""
    batch, steps, _ = x.shape
    dtype = x.dtype
    outputs = np.zeros((batch, steps, out_size), dtype)
    prev_out = np.zeros((batch, out_size), dtype)
    states = [np.asarray(s, dtype) for s in states]
    for t in range(steps):
        out, new_states = step(x[:, t], states)
        m = None if mask is None else np.asarray(mask[:, t], bool)
        out = _apply_mask(m, out, prev_out)
        states = [_apply_mask(m, n, o) for n, o in zip(new_states, states)]
        outputs[:, t] = out
        prev_out = out
    return outputs, states


# ----------------------------------------------------------------------------
# LSTM family
# ----------------------------------------------------------------------------
class LSTMConfig:
    """The switches of the LSTM family, with the package's option names."""

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
        cell_clip=None,
        layer_norm=False,
        proj_units=None,
        zoneout_hidden=0.0,
        zoneout_cell=0.0,
        use_bias=True,
    ):
        self.units = units
        self.peephole = peephole
        self.has_i = input_gate and not coupled
        self.has_f = forget_gate
        self.has_o = output_gate
        self.input_gate = input_gate
        self.coupled = coupled
        self.input_activation = input_activation
        self.output_activation = output_activation
        self.fgr = full_gate_recurrence
        self.cell_clip = cell_clip
        self.layer_norm = layer_norm
        self.proj_units = proj_units
        self.zoneout_hidden = zoneout_hidden
        self.zoneout_cell = zoneout_cell
        self.use_bias = use_bias

    @property
    def blocks(self):
        present = {"i": self.has_i, "f": self.has_f, "c": True, "o": self.has_o}
        return [g for g in LSTM_GATE_ORDER if present[g]]

    @property
    def sigmoid_blocks(self):
        return [g for g in ("i", "f", "o") if g in self.blocks]

    @property
    def output_size(self):
        return self.proj_units or self.units

    @property
    def state_sizes(self):
        sizes = [self.output_size, self.units]
        if self.fgr:
            sizes.append(len(self.sigmoid_blocks) * self.units)
        return sizes


def lstm_param_shapes(input_dim, **options):
    """The expected ``{name: shape}`` of the weights of an LSTM variant."""
    cfg = LSTMConfig(**options)
    u = cfg.units
    n = len(cfg.blocks) * u
    shapes = {
        "kernel": (input_dim, n),
        "recurrent_kernel": (cfg.output_size, n),
    }
    if cfg.use_bias:
        shapes["bias"] = (n,)
    if cfg.peephole:
        if cfg.has_i:
            shapes["input_peephole"] = (u,)
        if cfg.has_f:
            shapes["forget_peephole"] = (u,)
        if cfg.has_o:
            shapes["output_peephole"] = (u,)
    if cfg.fgr:
        k = len(cfg.sigmoid_blocks) * u
        shapes["gate_recurrent_kernel"] = (k, k)
    if cfg.layer_norm:
        shapes["input_norm_gamma"] = (n,)
        shapes["input_norm_beta"] = (n,)
        shapes["recurrent_norm_gamma"] = (n,)
        shapes["recurrent_norm_beta"] = (n,)
        shapes["cell_norm_gamma"] = (u,)
        shapes["cell_norm_beta"] = (u,)
    if cfg.proj_units:
        shapes["projection_kernel"] = (u, cfg.proj_units)
    return shapes


def lstm_state_sizes(**options):
    return LSTMConfig(**options).state_sizes


def _lstm_step(cfg, p, x_t, states):
    u = cfg.units
    h_prev, c_prev = states[0], states[1]

    def split(mat):
        return {g: mat[..., k * u:(k + 1) * u] for k, g in enumerate(cfg.blocks)}

    wx = x_t @ p["kernel"]
    uh = h_prev @ p["recurrent_kernel"]
    if cfg.layer_norm:
        wx = layer_norm(wx, p["input_norm_gamma"], p["input_norm_beta"])
        uh = layer_norm(uh, p["recurrent_norm_gamma"], p["recurrent_norm_beta"])
    if cfg.use_bias:
        wx = wx + p["bias"]
    a_x, a_h = split(wx), split(uh)
    pre = {g: a_x[g] + a_h[g] for g in cfg.blocks}

    if cfg.fgr:
        prev_gates = states[2] @ p["gate_recurrent_kernel"]
        for k, g in enumerate(cfg.sigmoid_blocks):
            pre[g] = pre[g] + prev_gates[:, k * u:(k + 1) * u]

    one = np.ones_like(c_prev)
    # forget gate
    if cfg.has_f:
        a_f = pre["f"]
        if cfg.peephole:
            a_f = a_f + p["forget_peephole"] * c_prev
        f = sigmoid(a_f)
    else:
        f = one
    # input gate
    if cfg.has_i:
        a_i = pre["i"]
        if cfg.peephole:
            a_i = a_i + p["input_peephole"] * c_prev
        i = sigmoid(a_i)
    elif cfg.coupled:
        i = one - f
    else:
        i = one
    # candidate
    g = tanh(pre["c"]) if cfg.input_activation else pre["c"]
    # memory cell
    c = f * c_prev + i * g
    if cfg.cell_clip is not None:
        c = np.minimum(np.maximum(c, -cfg.cell_clip), cfg.cell_clip)
    # output gate (peephole looks at the new cell)
    if cfg.has_o:
        a_o = pre["o"]
        if cfg.peephole:
            a_o = a_o + p["output_peephole"] * c
        o = sigmoid(a_o)
    else:
        o = one
    c_read = c
    if cfg.layer_norm:
        c_read = layer_norm(c, p["cell_norm_gamma"], p["cell_norm_beta"])
    h = o * (tanh(c_read) if cfg.output_activation else c_read)
    if cfg.proj_units:
        h = h @ p["projection_kernel"]
    # zoneout, inference (expectation)
    zh, zc = cfg.zoneout_hidden, cfg.zoneout_cell
    h = zh * h_prev + (1.0 - zh) * h
    c = zc * c_prev + (1.0 - zc) * c
    new = [h, c]
    if cfg.fgr:
        values = {"i": i, "f": f, "o": o}
        new.append(np.concatenate([values[gn] for gn in cfg.sigmoid_blocks], -1))
    return h, new


def lstm_forward(params, x, mask=None, initial_state=None, **options):
    """LSTM family forward pass; ``options`` are the package's LSTM options."""
    cfg = LSTMConfig(**options)
    x = np.asarray(x)
    p = {k: np.asarray(v, x.dtype) for k, v in params.items()}
    if initial_state is None:
        initial_state = _zeros_states(cfg.state_sizes, x.shape[0], x.dtype)
    return _run(
        lambda xt, s: _lstm_step(cfg, p, xt, s),
        x,
        initial_state,
        cfg.output_size,
        mask,
    )


# ----------------------------------------------------------------------------
# GRU (Cho et al. 2014), Keras convention h = z h' + (1 - z) g
# ----------------------------------------------------------------------------
def gru_param_shapes(input_dim, units, reset_after=True, use_bias=True):
    shapes = {
        "kernel": (input_dim, 3 * units),
        "recurrent_kernel": (units, 3 * units),
    }
    if use_bias:
        shapes["bias"] = (2, 3 * units) if reset_after else (3 * units,)
    return shapes


def gru_forward(params, x, units, reset_after=True, mask=None, initial_state=None):
    x = np.asarray(x)
    dtype = x.dtype
    u = units
    W = np.asarray(params["kernel"], dtype)
    U = np.asarray(params["recurrent_kernel"], dtype)
    bias = params.get("bias")
    if bias is None:
        b_in = np.zeros(3 * u, dtype)
        b_rec = np.zeros(3 * u, dtype)
    elif reset_after:
        b_in, b_rec = np.asarray(bias[0], dtype), np.asarray(bias[1], dtype)
    else:
        b_in, b_rec = np.asarray(bias, dtype), np.zeros(3 * u, dtype)
    Wz, Wr, Wh = W[:, :u], W[:, u:2 * u], W[:, 2 * u:]
    Uz, Ur, Uh = U[:, :u], U[:, u:2 * u], U[:, 2 * u:]
    bz, br, bh = b_in[:u], b_in[u:2 * u], b_in[2 * u:]
    rbz, rbr, rbh = b_rec[:u], b_rec[u:2 * u], b_rec[2 * u:]

    def step(xt, states):
        hp = states[0]
        z = sigmoid(xt @ Wz + hp @ Uz + bz + rbz)
        r = sigmoid(xt @ Wr + hp @ Ur + br + rbr)
        if reset_after:
            g = tanh(xt @ Wh + bh + r * (hp @ Uh + rbh))
        else:
            g = tanh(xt @ Wh + (r * hp) @ Uh + bh)
        h = z * hp + (1.0 - z) * g
        return h, [h]

    if initial_state is None:
        initial_state = _zeros_states([u], x.shape[0], dtype)
    return _run(step, x, initial_state, u, mask)


# ----------------------------------------------------------------------------
# MUT1/2/3 (Jozefowicz, Zaremba & Sutskever 2015), h = cand z + h' (1 - z)
# ----------------------------------------------------------------------------
# Column blocks of ``kernel`` and ``recurrent_kernel`` (package's layout).
MUT_KERNEL_BLOCKS = {1: ("z", "r"), 2: ("z", "h"), 3: ("z", "r", "h")}
MUT_RECURRENT_BLOCKS = {1: ("r",), 2: ("z", "r"), 3: ("z", "r")}


def mut_param_shapes(input_dim, units, variant, use_bias=True):
    shapes = {
        "kernel": (input_dim, len(MUT_KERNEL_BLOCKS[variant]) * units),
        "recurrent_kernel": (units, len(MUT_RECURRENT_BLOCKS[variant]) * units),
        "candidate_kernel": (units, units),
    }
    if use_bias:
        shapes["bias"] = (3 * units,)
    return shapes


def mut_forward(params, x, units, variant, mask=None, initial_state=None):
    x = np.asarray(x)
    dtype = x.dtype
    u = units
    W = np.asarray(params["kernel"], dtype)
    U = np.asarray(params["recurrent_kernel"], dtype)
    Whh = np.asarray(params["candidate_kernel"], dtype)
    b = params.get("bias")
    b = np.zeros(3 * u, dtype) if b is None else np.asarray(b, dtype)
    bz, br, bh = b[:u], b[u:2 * u], b[2 * u:]
    Wx = {n: W[:, k * u:(k + 1) * u] for k, n in enumerate(MUT_KERNEL_BLOCKS[variant])}
    Wh = {n: U[:, k * u:(k + 1) * u] for k, n in enumerate(MUT_RECURRENT_BLOCKS[variant])}

    def step(xt, states):
        hp = states[0]
        if variant == 1:
            z = sigmoid(xt @ Wx["z"] + bz)
            r = sigmoid(xt @ Wx["r"] + hp @ Wh["r"] + br)
            cand = tanh((r * hp) @ Whh + tanh(xt) + bh)
        elif variant == 2:
            z = sigmoid(xt @ Wx["z"] + hp @ Wh["z"] + bz)
            r = sigmoid(xt + hp @ Wh["r"] + br)
            cand = tanh((r * hp) @ Whh + xt @ Wx["h"] + bh)
        elif variant == 3:
            z = sigmoid(xt @ Wx["z"] + tanh(hp) @ Wh["z"] + bz)
            r = sigmoid(xt @ Wx["r"] + hp @ Wh["r"] + br)
            cand = tanh((r * hp) @ Whh + xt @ Wx["h"] + bh)
        else:
            raise ValueError(f"unknown MUT variant {variant}")
        h = cand * z + hp * (1.0 - z)
        return h, [h]

    if initial_state is None:
        initial_state = _zeros_states([u], x.shape[0], dtype)
    return _run(step, x, initial_state, u, mask)
