"""Pure NumPy reference of the Grid LSTM (Kalchbrenner, Danihelka & Graves 2015).

Written from the paper's equations (REFERENCES.md section 1), not from the
package: imports only numpy. Only the weight names and layout follow the
package's documented convention (``{dim}_kernel`` rows in the order of the
dimensions, columns gates i, f, c, o; ``level{d}_`` prefix when untied;
``input_kernel`` / ``input_bias`` project the input to the first depth h).

A block with dimensions ``1..N``: ``H = [h_1; ...; h_N]``; an LSTM dimension
computes ``m' = s(f) m + s(i) tanh(c)``, ``h' = s(o) tanh(m')`` from
``H W + b``; a plain one ``h' = tanh(H W + b)`` (memory kept); an identity one
keeps ``h`` and ``m``. Non-priority dimensions read the block's input ``H``;
priority dimensions come after, in order, and read the newest hidden vectors.
"""

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def block(hs, ms, params, dims, units, prefix=""):
    """One N-D block. ``dims``: list of dicts with name, kind, priority."""
    out_h = [h.copy() for h in hs]
    out_m = [m.copy() for m in ms]
    stacked_in = np.concatenate(hs, axis=1)
    ordinary = [k for k, d in enumerate(dims) if not d.get("priority", False)]
    prior = [k for k, d in enumerate(dims) if d.get("priority", False)]
    for k in ordinary + prior:
        d = dims[k]
        kind = d.get("kind", "lstm")
        if kind == "identity":
            continue
        if d.get("priority", False):
            inp = np.concatenate(out_h, axis=1)
        else:
            inp = stacked_in
        w = params[prefix + d["name"] + "_kernel"]
        pre = inp @ w
        bname = prefix + d["name"] + "_bias"
        if bname in params:
            pre = pre + params[bname]
        if kind == "plain":
            out_h[k] = np.tanh(pre)
            continue
        u = units
        gi = _sigmoid(pre[:, 0:u])
        gf = _sigmoid(pre[:, u : 2 * u])
        gc = np.tanh(pre[:, 2 * u : 3 * u])
        go = _sigmoid(pre[:, 3 * u : 4 * u])
        mem = gf * ms[k] + gi * gc
        out_m[k] = mem
        out_h[k] = go * np.tanh(mem)
    return out_h, out_m


def block_param_shapes(dims, units, prefix=""):
    n = len(dims)
    shapes = {}
    for d in dims:
        kind = d.get("kind", "lstm")
        if kind == "identity":
            continue
        width = 4 * units if kind == "lstm" else units
        shapes[prefix + d["name"] + "_kernel"] = (n * units, width)
        shapes[prefix + d["name"] + "_bias"] = (width,)
    return shapes


def grid2d_param_shapes(input_dim, units, depth, tied, dims):
    shapes = {"input_kernel": (input_dim, units), "input_bias": (units,)}
    for level in range(1 if tied else depth):
        shapes.update(block_param_shapes(dims, units, "" if tied else f"level{level}_"))
    return shapes


def grid2d_forward(params, x, units, depth, tied, dims, mask=None, initial_state=None):
    """2-D (time, depth) grid. Returns (outputs (B, T, U), [h_0, m_0, h_1, ...])."""
    batch, steps, _ = x.shape
    if initial_state is None:
        states = [np.zeros((batch, units), x.dtype) for _ in range(2 * depth)]
    else:
        states = [s.copy() for s in initial_state]
    prev_out = np.zeros((batch, units), x.dtype)
    outs = []
    for t in range(steps):
        h_d = x[:, t] @ params["input_kernel"] + params["input_bias"]
        m_d = np.zeros_like(h_d)
        new_states = []
        for level in range(depth):
            prefix = "" if tied else f"level{level}_"
            (h_t, h_d), (m_t, m_d) = block(
                [states[2 * level], h_d],
                [states[2 * level + 1], m_d],
                params,
                dims,
                units,
                prefix,
            )
            new_states += [h_t, m_t]
        out = h_d
        if mask is not None:
            keep = mask[:, t][:, None]
            out = np.where(keep, out, prev_out)
            new_states = [np.where(keep, n, o) for n, o in zip(new_states, states)]
        states = new_states
        prev_out = out
        outs.append(out)
    return np.stack(outs, axis=1), states


def grid1d_param_shapes(input_dim, units, depth, tied, project_input=True):
    shapes = {}
    if project_input:
        shapes = {"input_kernel": (input_dim, units), "input_bias": (units,)}
    dims = [{"name": "depth"}]
    for level in range(1 if tied else depth):
        shapes.update(block_param_shapes(dims, units, "" if tied else f"level{level}_"))
    return shapes


def grid1d_forward(params, x, units, depth, tied, project_input=True):
    h = x @ params["input_kernel"] + params["input_bias"] if project_input else x
    m = np.zeros_like(h)
    for level in range(depth):
        prefix = "" if tied else f"level{level}_"
        (h,), (m,) = block([h], [m], params, [{"name": "depth"}], units, prefix)
    return h
