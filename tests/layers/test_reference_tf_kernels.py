"""Peephole LSTM and cell clipping against TensorFlow's fused kernel BlockLSTMV2.

``tf.raw_ops.BlockLSTMV2(seq_len_max, x (T, B, D), cs_prev, h_prev,
w (D + U, 4U), wci, wcf, wco, b, cell_clip, use_peephole)`` is TensorFlow's own
implementation of the (peephole, clipped) LSTM, written independently of
keras-rnnx. Its fused weight ``w`` stacks the input rows over the recurrent
rows; its gate order (columns) is checked empirically below and found to be
i, f, c, o (as REFERENCES.md says, and as Keras) -- unlike BlockLSTM v1 (i, c,
f, o). A ``cell_clip`` <= 0 disables clipping.
"""

import numpy as np
import pytest

import keras_rnnx

pytestmark = pytest.mark.tf_only

T, B, D, U = 5, 2, 3, 4
OUTPUT_NAMES = ("i", "cs", "f", "o", "ci", "co", "h")


def _tf():
    import tensorflow as tf

    return tf


def block_lstm_v2(x_btd, h0, c0, kernel, recurrent_kernel, bias, peepholes, cell_clip):
    """Run BlockLSTMV2 on batch-major ``x``; returns a dict of (B, T, U) arrays."""
    tf = _tf()
    x_tbd = np.transpose(x_btd, (1, 0, 2))
    w = np.concatenate([kernel, recurrent_kernel], axis=0)
    units = recurrent_kernel.shape[0]
    use_peephole = peepholes is not None
    if peepholes is None:
        peepholes = [np.zeros(units, "float32")] * 3
    outs = tf.raw_ops.BlockLSTMV2(
        seq_len_max=np.int64(x_tbd.shape[0]),
        x=x_tbd,
        cs_prev=c0,
        h_prev=h0,
        w=w,
        wci=peepholes[0],
        wcf=peepholes[1],
        wco=peepholes[2],
        b=bias,
        cell_clip=float(cell_clip),
        use_peephole=use_peephole,
    )
    return {
        name: np.transpose(value.numpy(), (1, 0, 2))
        for name, value in zip(OUTPUT_NAMES, outs)
    }


def test_block_lstm_v2_gate_order_is_ifco():
    """Bias block k moves exactly one gate: find which one, per block."""
    units, dim = 2, 2
    x = np.zeros((2, 1, dim), "float32")
    zeros = np.zeros((2, units), "float32")
    c0 = np.full((2, units), 0.5, "float32")
    kernel = np.zeros((dim, 4 * units), "float32")
    rec = np.zeros((units, 4 * units), "float32")
    found = []
    for block in range(4):
        bias = np.zeros(4 * units, "float32")
        bias[block * units:(block + 1) * units] = 2.0
        out = block_lstm_v2(x, zeros, c0, kernel, rec, bias, None, -1.0)
        moved = [
            name
            for name, neutral in (("i", 0.5), ("f", 0.5), ("o", 0.5), ("ci", 0.0))
            if not np.allclose(out[name], neutral)
        ]
        assert len(moved) == 1, (block, moved)
        found.append({"ci": "c"}.get(moved[0], moved[0]))
    assert found == ["i", "f", "c", "o"]


def test_block_lstm_v2_input_rows_come_first():
    """``w``'s first D rows multiply x, the last U rows multiply h'."""
    units, dim = 2, 3
    x = np.ones((2, 1, dim), "float32")
    zeros = np.zeros((2, units), "float32")
    kernel = np.zeros((dim, 4 * units), "float32")
    kernel[:, 3 * units:] = 1.0  # output gate sees x only
    rec = np.zeros((units, 4 * units), "float32")
    out = block_lstm_v2(x, zeros, zeros, kernel, rec, np.zeros(4 * units, "float32"), None, -1.0)
    np.testing.assert_allclose(out["o"], 1.0 / (1.0 + np.exp(-dim)), rtol=1e-6)


def _random_layer(opts, seed):
    rng = np.random.RandomState(seed)
    layer = keras_rnnx.layers.LSTM(U, return_sequences=True, return_state=True, **opts)
    layer.build((None, T, D))
    values = {
        w.name: (0.5 * rng.standard_normal(tuple(w.shape))).astype("float32")
        for w in layer.weights
    }
    layer.set_weights([values[w.name] for w in layer.weights])
    return layer, values


CASES = [
    pytest.param(dict(), id="plain"),
    pytest.param(dict(peephole=True), id="peephole"),
    pytest.param(dict(cell_clip=0.5), id="cell_clip"),
    pytest.param(dict(peephole=True, cell_clip=0.5), id="peephole_cell_clip"),
    pytest.param(dict(peephole=True, cell_clip=0.2), id="peephole_cell_clip_0.2"),
]


@pytest.mark.parametrize("opts", CASES)
@pytest.mark.parametrize("with_initial_state", [False, True], ids=["zero_state", "initial_state"])
def test_lstm_matches_block_lstm_v2(opts, with_initial_state):
    layer, w = _random_layer(opts, seed=3)
    rng = np.random.RandomState(4)
    x = (1.5 * rng.standard_normal((B, T, D))).astype("float32")
    if with_initial_state:
        h0 = (0.5 * rng.standard_normal((B, U))).astype("float32")
        c0 = rng.standard_normal((B, U)).astype("float32")
        seq, h, c = layer(x, initial_state=[h0, c0])
    else:
        h0 = c0 = np.zeros((B, U), "float32")
        seq, h, c = layer(x)
    peepholes = None
    if opts.get("peephole"):
        peepholes = [w["input_peephole"], w["forget_peephole"], w["output_peephole"]]
    clip = opts.get("cell_clip", -1.0)  # <= 0: no clipping
    want = block_lstm_v2(
        x, h0, c0, w["kernel"], w["recurrent_kernel"], w["bias"], peepholes, clip
    )
    if "cell_clip" in opts:
        # the clip is active (otherwise this case would test nothing)
        assert np.isclose(np.abs(want["cs"]).max(), clip)
        free = block_lstm_v2(
            x, h0, c0, w["kernel"], w["recurrent_kernel"], w["bias"], peepholes, -1.0
        )
        assert np.abs(free["h"] - want["h"]).max() > 1e-2
    np.testing.assert_allclose(np.asarray(seq), want["h"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(h), want["h"][:, -1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(c), want["cs"][:, -1], rtol=1e-5, atol=1e-5)


def test_peephole_lstm_gradients_match_block_lstm_v2_forward():
    """Directional derivatives of BlockLSTMV2's forward equal the layer's gradient.

    Note: TensorFlow's *registered gradient* of BlockLSTMV2 (BlockLSTMGradV2,
    TF 2.21 CPU) does not match finite differences of its own forward pass
    (the f and c blocks of d/db come out swapped, and the i block differs),
    so the layer's gradient is compared to central differences of the
    kernel's forward pass instead, along random directions in weight space.
    """
    tf = _tf()
    layer, w = _random_layer(dict(peephole=True), seed=5)
    rng = np.random.RandomState(6)
    x = rng.standard_normal((B, T, D)).astype("float32")
    r = rng.standard_normal((B, T, U)).astype("float32")
    r_c = rng.standard_normal((B, U)).astype("float32")

    with tf.GradientTape() as tape:
        seq, _, c = layer(x)
        loss = tf.reduce_sum(seq * r) + tf.reduce_sum(c * r_c)
    got = dict(
        zip(
            [v.name for v in layer.trainable_variables],
            [g.numpy() for g in tape.gradient(loss, layer.trainable_variables)],
        )
    )
    names = ["kernel", "recurrent_kernel", "bias", "input_peephole",
             "forget_peephole", "output_peephole"]
    assert sorted(got) == sorted(names)
    zeros = np.zeros((B, U), "float32")

    def kernel_loss(p):
        out = block_lstm_v2(
            x, zeros, zeros, p["kernel"], p["recurrent_kernel"], p["bias"],
            [p["input_peephole"], p["forget_peephole"], p["output_peephole"]], -1.0,
        )
        return np.sum(out["h"].astype("float64") * r) + np.sum(
            out["cs"][:, -1].astype("float64") * r_c
        )

    eps = 1e-2
    for name in names:
        fds, dots = [], []
        for _ in range(3):
            v = rng.standard_normal(w[name].shape).astype("float32")
            plus = dict(w, **{name: w[name] + eps * v})
            minus = dict(w, **{name: w[name] - eps * v})
            fds.append((kernel_loss(plus) - kernel_loss(minus)) / (2 * eps))
            dots.append(float(np.sum(got[name].astype("float64") * v)))
        assert np.abs(fds).max() > 1e-2, name
        np.testing.assert_allclose(dots, fds, rtol=5e-3, atol=1e-3, err_msg=name)
