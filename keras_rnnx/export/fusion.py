"""Which recurrent layers become a fused op, and why the others cannot.

`fusion_blockers(layer, target)` returns the *reasons* a layer's
configuration cannot be one fused op of ``target`` (``"onnx"``: the ONNX
``LSTM`` / ``GRU`` operators; ``"tflite"``: TFLite's
``UNIDIRECTIONAL_SEQUENCE_LSTM``); an empty tuple means it can. Those layers
are exported as a loop that computes the same maths instead (`to_onnx`,
`to_tflite` with ``fused="auto"``). The reasons are the rows of the table in
``docs/deployment.md``.

`lstm_gate_weights` / `gru_gate_weights` read a layer's weights into per-gate
NumPy blocks, from keras-rnnx's layout (`keras_rnnx.ops.lstm`, gates i, f, c, o
with absent gates taking no columns; `keras_rnnx.ops.gru`, gates z, r, h) or
from `keras.layers.LSTM` / `keras.layers.GRU` (the same layout).
"""

import keras
import numpy as np

from keras_rnnx import layers as rnnx_layers

TARGETS = ("onnx", "tflite")


def recurrent_kind(layer):
    """``"lstm"``, ``"gru"``, ``"other"`` (another RNN layer) or None."""
    if isinstance(layer, (rnnx_layers.LSTM, keras.layers.LSTM)):
        return "lstm"
    if isinstance(layer, (rnnx_layers.GRU, keras.layers.GRU)):
        return "gru"
    if isinstance(layer, (keras.layers.RNN, rnnx_layers.GridLSTM1D)):
        return "other"
    return None


def _activation_name(fn):
    try:
        return keras.activations.serialize(fn)
    except (TypeError, ValueError):
        return repr(fn)


def fusion_blockers(layer, target):
    """Reasons ``layer`` cannot be one fused op of ``target``; () if it can."""
    if target not in TARGETS:
        raise ValueError(f"Unknown target {target!r}; expected one of {TARGETS}.")
    kind = recurrent_kind(layer)
    name = type(layer).__name__
    if kind is None:
        return (f"{name} is not a recurrent layer",)
    if kind == "other":
        return (f"{name}: neither ONNX nor TFLite has a fused op for this cell",)
    cell = layer.cell
    reasons = []
    if kind == "gru" and target == "tflite":
        reasons.append("TFLite has no builtin GRU op")
    if _activation_name(cell.activation) != "tanh":
        reasons.append(f"activation={_activation_name(cell.activation)!r} (fused: tanh)")
    if _activation_name(cell.recurrent_activation) != "sigmoid":
        reasons.append(
            f"recurrent_activation={_activation_name(cell.recurrent_activation)!r} "
            "(fused: sigmoid)"
        )
    if layer.stateful:
        reasons.append(
            "stateful=True (the state lives across calls: use the streaming "
            "export, to_tflite_step / to_onnx_step)"
        )
    if keras.backend.standardize_dtype(layer.compute_dtype) != "float32":
        reasons.append(f"compute dtype {layer.compute_dtype} (fused: float32)")
    if kind == "lstm" and isinstance(layer, rnnx_layers.LSTM):
        s = cell.structure
        for flag, label in (
            (s.input_gate, "input_gate=False (NIG)"),
            (s.forget_gate, "forget_gate=False (NFG)"),
            (s.output_gate, "output_gate=False (NOG)"),
            (s.input_activation, "input_activation=False (NIAF)"),
            (s.output_activation, "output_activation=False (NOAF)"),
        ):
            if not flag:
                reasons.append(f"{label}: the fused ops have every gate and activation")
        if s.full_gate_recurrence:
            reasons.append("full_gate_recurrence=True: no fused op feeds gates back")
        if s.layer_norm:
            reasons.append(
                "layer_norm=True: keras-rnnx normalises W x and U h separately with "
                "a gain and a shift (and c); TFLite's layer norm normalises their "
                "sum per gate without a shift, ONNX LSTM has none"
            )
        if s.zoneout_hidden or s.zoneout_cell:
            reasons.append(
                "zoneout: at inference the states are blended "
                "rate * previous + (1 - rate) * new, which no fused op computes"
            )
        if target == "onnx" and s.proj_units:
            reasons.append("proj_units: ONNX LSTM has no projection")
        if target == "onnx" and s.cell_clip is not None:
            reasons.append(
                "cell_clip: ONNX LSTM's `clip` bounds the gate pre-activations, "
                "not the cell state"
            )
    return tuple(reasons)


def _numpy(value):
    return None if value is None else np.asarray(keras.ops.convert_to_numpy(value), np.float32)


def lstm_gate_weights(layer):
    """Per-gate weights of an LSTM-family layer, Keras orientation.

    Returns a dict with ``W``, ``R``, ``b`` (dicts gate -> array for gates
    ``i, f, c, o``: ``(input_dim, units)``, ``(output_size, units)``,
    ``(units,)``; the input gate of a coupled (CIFG) layer is all zeros and
    ``coupled`` is True), ``P`` (gate -> ``(units,)`` peepholes for ``i, f, o``
    or None), ``projection`` (``(units, proj_units)`` or None),
    ``cell_clip`` (float or None), ``units``, ``output_size``.
    """
    cell = layer.cell
    units = cell.units
    if isinstance(layer, rnnx_layers.LSTM):
        params = {k: _numpy(v) for k, v in cell.get_params().items()}
        gates = cell.structure.gates
        s = cell.structure
        coupled = s.coupled
        peephole = s.peephole
        projection = params.get("projection_kernel")
        cell_clip = s.cell_clip
        output_size = s.output_size
    else:
        params = {
            "kernel": _numpy(cell.kernel),
            "recurrent_kernel": _numpy(cell.recurrent_kernel),
            "bias": _numpy(cell.bias) if cell.use_bias else None,
        }
        gates = ("i", "f", "c", "o")
        coupled = peephole = False
        projection = cell_clip = None
        output_size = units

    def blocks(array):
        if array is None:
            return {g: np.zeros((units,), np.float32) for g in "ifco"}
        split = dict(zip(gates, np.split(array, len(gates), axis=-1)))
        for g in "ifco":
            if g not in split:
                split[g] = np.zeros(array.shape[:-1] + (units,), np.float32)
        return split

    peepholes = None
    if peephole:
        peepholes = {
            g: params.get(f"{name}_peephole", np.zeros((units,), np.float32))
            for g, name in (("i", "input"), ("f", "forget"), ("o", "output"))
        }
    return {
        "W": blocks(params["kernel"]),
        "R": blocks(params["recurrent_kernel"]),
        "b": blocks(params.get("bias")),
        "P": peepholes,
        "coupled": coupled,
        "projection": projection,
        "cell_clip": cell_clip,
        "units": units,
        "output_size": output_size,
    }


def gru_gate_weights(layer):
    """Per-gate weights of a GRU layer (gates z, r, h, Keras orientation).

    Returns ``W``, ``R`` (dicts gate -> ``(input_dim, units)`` /
    ``(units, units)``), ``b_input``, ``b_recurrent`` (gate -> ``(units,)``;
    zeros when absent), ``reset_after``, ``units``.
    """
    cell = layer.cell
    units = cell.units
    kernel = _numpy(cell.kernel)
    recurrent = _numpy(cell.recurrent_kernel)
    bias = _numpy(cell.bias) if cell.use_bias else None
    zeros = np.zeros((3 * units,), np.float32)
    if bias is None:
        b_in, b_rec = zeros, zeros
    elif cell.reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, zeros

    def blocks(array):
        return dict(zip("zrh", np.split(array, 3, axis=-1)))

    return {
        "W": blocks(kernel),
        "R": blocks(recurrent),
        "b_input": blocks(b_in),
        "b_recurrent": blocks(b_rec),
        "reset_after": bool(cell.reset_after),
        "units": units,
    }
