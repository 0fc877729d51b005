"""`to_onnx`: a Keras model with keras-rnnx layers as an ONNX graph.

The model's functional graph is walked node by node (`_keras_graph`):

* keras-rnnx and Keras LSTM-family and GRU layers whose configuration the ONNX
  operators compute (`keras_rnnx.export.fusion.fusion_blockers`) become one
  ``LSTM`` / ``GRU`` node built from the layer's weights with
  ``onnx.helper`` (``Bidirectional`` around them: one node with
  ``direction="bidirectional"``). Gate order: Keras i, f, c, o becomes ONNX
  i, o, f, c; GRU z, r, h stays z, r, h; ``reset_after=True`` is
  ``linear_before_reset=1``; peepholes go to ``P`` (i, o, f); CIFG
  (``i = 1 - f``) is an input gate with the forget gate's parameters negated,
  ``sigmoid(-a) = 1 - sigmoid(a)`` (onnxruntime ignores ``input_forget``).
* ``Dense``, ``Embedding``, ``Masking``, the identity-at-inference layers
  (``Dropout``, ``SpatialDropout1D``, ``GaussianNoise``, ``GaussianDropout``,
  ``AlphaDropout``, ``ActivityRegularization``) and the mask ops Keras
  records (``NotEqual``, ``Any``) are written directly.
* Every other node (the other keras-rnnx layers, any other Keras layer) is
  converted by tf2onnx on its own, from a ``tf.function`` of that node, and
  spliced in: recurrent layers become an ONNX ``Loop``.

Masks: the ONNX operators take ``sequence_lens``, so a mask reaching a fused
layer is read as right padding (its count of True steps per row), exactly as
Keras' own cuDNN path requires. ``masks="exact"`` loops such layers instead,
which is exact for any mask.
"""

import keras
import numpy as np
import onnx
from keras import tree
from onnx import TensorProto
from onnx import helper
from onnx import numpy_helper

from keras_rnnx import layers as rnnx_layers
from keras_rnnx.export import fusion
from keras_rnnx.export._common import ExportResult
from keras_rnnx.export._common import check_close
from keras_rnnx.export._common import check_fused
from keras_rnnx.export._common import check_model
from keras_rnnx.export._common import sample_inputs
from keras_rnnx.export._common import write_bytes
from keras_rnnx.export._keras_graph import functional_graph
from keras_rnnx.export._keras_graph import graph_nodes
from keras_rnnx.export._loop import export_loops

OPSET = 17
MASK_CHOICES = ("right_padded", "exact")

_IDENTITY_LAYERS = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
)

_ACTIVATIONS = {
    "linear": None,
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "softplus": "Softplus",
    "softsign": "Softsign",
    "softmax": "Softmax",
    "exponential": "Exp",
}


class Value:
    """A tensor of the ONNX graph standing for a `keras.KerasTensor`."""

    def __init__(self, name, shape, dtype):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def __repr__(self):
        return f"Value({self.name!r}, {self.shape}, {self.dtype})"


class Graph:
    """Nodes and initializers under construction, with unique names."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self.names = set()
        self.opsets = {"": OPSET}

    def unique(self, hint):
        hint = "".join(ch if ch.isalnum() or ch in "_/." else "_" for ch in hint)
        name, k = hint, 1
        while name in self.names:
            k += 1
            name = f"{hint}_{k}"
        self.names.add(name)
        return name

    def const(self, array, hint):
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint, outputs=1, **attrs):
        names = [self.unique(f"{hint}_{op_type}{'' if k == 0 else k}") for k in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), names, name=self.unique(hint), **attrs)
        )
        return names[0] if outputs == 1 else names


def _values(structure):
    return [v for v in tree.flatten(structure) if isinstance(v, Value)]


def _onnx_dtype(dtype):
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


# -- plain layers ----------------------------------------------------------
def _activation(g, name, fn, hint):
    key = fusion._activation_name(fn)
    if key not in _ACTIVATIONS:
        return None
    op = _ACTIVATIONS[key]
    if op is None:
        return name
    if op == "Softmax":
        return g.op(op, [name], hint, axis=-1)
    return g.op(op, [name], hint)


def _dense(g, layer, x):
    key = fusion._activation_name(layer.activation)
    if key not in _ACTIVATIONS or getattr(layer, "quantization_mode", None):
        return None
    kernel = fusion._numpy(layer.kernel)
    y = g.op("MatMul", [x.name, g.const(kernel, f"{layer.name}/kernel")], layer.name)
    if layer.use_bias:
        y = g.op("Add", [y, g.const(fusion._numpy(layer.bias), f"{layer.name}/bias")], layer.name)
    return [_activation(g, y, layer.activation, layer.name)]


def _embedding(g, layer, x):
    if getattr(layer, "quantization_mode", None):
        return None
    table = g.const(fusion._numpy(layer.embeddings), f"{layer.name}/embeddings")
    indices = g.op("Cast", [x.name], layer.name, to=TensorProto.INT64)
    return [g.op("Gather", [table, indices], layer.name, axis=0)]


def _any_last_axis(g, boolean, hint, keepdims):
    as_float = g.op("Cast", [boolean], hint, to=TensorProto.FLOAT)
    reduced = g.op("ReduceMax", [as_float], hint, axes=[-1], keepdims=int(keepdims))
    return g.op("Cast", [reduced], hint, to=TensorProto.BOOL)


def _masking(g, layer, x):
    value = g.const(np.asarray(layer.mask_value, x.dtype), f"{layer.name}/mask_value")
    keep = g.op("Not", [g.op("Equal", [x.name, value], layer.name)], layer.name)
    keep = _any_last_axis(g, keep, layer.name, keepdims=True)
    keep = g.op("Cast", [keep], layer.name, to=_onnx_dtype(x.dtype))
    return [g.op("Mul", [x.name, keep], layer.name)]


def _operand(g, value, like, hint):
    if isinstance(value, Value):
        return value.name
    return g.const(np.asarray(value, like.dtype), hint)


def _not_equal(g, op, args):
    a, b = args[0], args[1]
    like = a if isinstance(a, Value) else b
    equal = g.op(
        "Equal", [_operand(g, a, like, op.name), _operand(g, b, like, op.name)], op.name
    )
    return [g.op("Not", [equal], op.name)]


def _any(g, op, args):
    x = args[0]
    axis = op.axis
    if axis is None or (isinstance(axis, (list, tuple)) and len(axis) != 1):
        return None
    axis = axis[0] if isinstance(axis, (list, tuple)) else axis
    as_float = g.op("Cast", [x.name], op.name, to=TensorProto.FLOAT)
    reduced = g.op("ReduceMax", [as_float], op.name, axes=[int(axis)], keepdims=int(op.keepdims))
    return [g.op("Cast", [reduced], op.name, to=TensorProto.BOOL)]


# -- fused recurrent layers -----------------------------------------------
def _reverse_time(g, name, hint, axis=0):
    """``name`` reversed along ``axis`` (the time axis)."""
    starts = g.const(np.array([-1], np.int64), f"{hint}/rev_start")
    ends = g.const(np.array([np.iinfo(np.int64).min], np.int64), f"{hint}/rev_end")
    axes = g.const(np.array([axis], np.int64), f"{hint}/rev_axes")
    steps = g.const(np.array([-1], np.int64), f"{hint}/rev_steps")
    return g.op("Slice", [name, starts, ends, axes, steps], hint)


def _carry_forward(g, seq, lengths, hint):
    """``seq[min(t, len - 1)]`` per row (Keras repeats the last valid output)."""
    shape = g.op("Shape", [seq], hint)
    steps = g.op("Gather", [shape, g.const(np.array(0, np.int64), f"{hint}/zero")], hint, axis=0)
    t = g.op(
        "Range",
        [g.const(np.array(0, np.int64), f"{hint}/t0"), steps,
         g.const(np.array(1, np.int64), f"{hint}/t1")],
        hint,
    )
    t = g.op("Unsqueeze", [t, g.const(np.array([1], np.int64), f"{hint}/ax1")], hint)
    last = g.op(
        "Sub",
        [g.op("Cast", [lengths], hint, to=TensorProto.INT64),
         g.const(np.array(1, np.int64), f"{hint}/one")],
        hint,
    )
    last = g.op("Unsqueeze", [last, g.const(np.array([0], np.int64), f"{hint}/ax0")], hint)
    index = g.op("Max", [g.op("Min", [t, last], hint), g.const(np.array(0, np.int64), f"{hint}/z")], hint)
    index = g.op("Unsqueeze", [index, g.const(np.array([2], np.int64), f"{hint}/ax2")], hint)
    index = g.op("Expand", [index, shape], hint)
    return g.op("GatherElements", [seq, index], hint, axis=0)


def _couple(w):
    """CIFG (``i = 1 - f``) as an input gate: ``sigmoid(-a) = 1 - sigmoid(a)``.

    onnxruntime 1.32 does not compute ``input_forget=1`` as ``i = 1 - f``
    (measured 2.5e-2 off Keras on a random CIFG layer), so the input gate gets
    the forget gate's weights, bias and peephole, negated.
    """
    if not w["coupled"]:
        return w
    w = dict(w)
    for key in ("W", "R", "b"):
        w[key] = {**w[key], "i": -w[key]["f"]}
    if w["P"] is not None:
        w["P"] = {**w["P"], "i": -w["P"]["f"]}
    return w


def _lstm_tensors(weights_per_dir):
    """W, R, B, P (or None) for the ONNX LSTM (gates i, o, f, c)."""
    weights_per_dir = [_couple(w) for w in weights_per_dir]
    order = ("i", "o", "f", "c")
    W = np.stack([np.concatenate([w["W"][k].T for k in order], 0) for w in weights_per_dir])
    R = np.stack([np.concatenate([w["R"][k].T for k in order], 0) for w in weights_per_dir])
    B = np.stack([
        np.concatenate([w["b"][k] for k in order] + [np.zeros(4 * w["units"], np.float32)])
        for w in weights_per_dir
    ])
    P = None
    if any(w["P"] is not None for w in weights_per_dir):
        P = np.stack([
            np.concatenate([
                (w["P"] or {}).get(k, np.zeros(w["units"], np.float32)) for k in ("i", "o", "f")
            ])
            for w in weights_per_dir
        ])
    return W, R, B, P


def _gru_tensors(weights_per_dir):
    order = ("z", "r", "h")
    W = np.stack([np.concatenate([w["W"][k].T for k in order], 0) for w in weights_per_dir])
    R = np.stack([np.concatenate([w["R"][k].T for k in order], 0) for w in weights_per_dir])
    B = np.stack([
        np.concatenate([w["b_input"][k] for k in order] + [w["b_recurrent"][k] for k in order])
        for w in weights_per_dir
    ])
    return W, R, B, {w["reset_after"] for w in weights_per_dir}


def _emit_recurrent(g, layers, x, mask, initial_states, hint):
    """One ONNX LSTM/GRU node for ``layers`` (one per direction).

    Returns, per layer, ``(sequence, last, states)``: the Keras outputs of
    that layer as it would return them (batch-major sequence in the layer's
    own time order, last output, final states).
    """
    kind = fusion.recurrent_kind(layers[0])
    directions = ["reverse" if layer.go_backwards else "forward" for layer in layers]
    direction = "bidirectional" if len(layers) == 2 else directions[0]
    xt = g.op("Transpose", [x.name], hint, perm=[1, 0, 2])
    units = layers[0].cell.units
    lengths = ""
    if mask is not None:
        as_int = g.op("Cast", [mask.name], hint, to=TensorProto.INT32)
        lengths = g.op(
            "ReduceSum", [as_int, g.const(np.array([1], np.int64), f"{hint}/len_axis")], hint,
            keepdims=0,
        )
    if kind == "lstm":
        weights = [fusion.lstm_gate_weights(layer) for layer in layers]
        W, R, B, P = _lstm_tensors(weights)
        state_count = 2
        op_type = "LSTM"
        attrs = {}
    else:
        weights = [fusion.gru_gate_weights(layer) for layer in layers]
        W, R, B, reset_after = _gru_tensors(weights)
        if len(reset_after) != 1:
            return None
        P = None
        state_count = 1
        op_type = "GRU"
        attrs = {"linear_before_reset": int(reset_after.pop())}
    inputs = [
        xt,
        g.const(W, f"{hint}/W"),
        g.const(R, f"{hint}/R"),
        g.const(B, f"{hint}/B"),
        lengths,
    ]
    initial = ["", ""] if kind == "lstm" else [""]
    if initial_states is not None:
        per_state = []
        for k in range(state_count):
            parts = [
                g.op("Unsqueeze", [states[k].name, g.const(np.array([0], np.int64), f"{hint}/ax0")], hint)
                for states in initial_states
            ]
            per_state.append(parts[0] if len(parts) == 1 else g.op("Concat", parts, hint, axis=0))
        initial = per_state
    inputs += initial
    if P is not None:
        inputs.append(g.const(P, f"{hint}/P"))
    while inputs and inputs[-1] == "":
        inputs.pop()
    outs = g.op(
        op_type, inputs, hint, outputs=1 + state_count,
        hidden_size=units, direction=direction, **attrs,
    )
    y, finals = outs[0], outs[1:]
    results = []
    for d, layer in enumerate(layers):
        dname = f"{hint}/dir{d}"
        index = g.const(np.array(d, np.int64), f"{dname}/index")
        seq = g.op("Gather", [y, index], dname, axis=1)  # (T, B, U)
        states = [g.op("Gather", [f, index], dname, axis=0) for f in finals]
        last = states[0]
        if layer.go_backwards:
            seq = _reverse_time(g, seq, dname)
        elif mask is not None:
            if not layer.zero_output_for_mask:
                seq = _carry_forward(g, seq, lengths, dname)
            else:
                tail = g.op("Gather", [mask.name, g.const(np.array(-1, np.int64), f"{dname}/m1")], dname, axis=1)
                tail = g.op("Unsqueeze", [tail, g.const(np.array([1], np.int64), f"{dname}/ax1")], dname)
                last = g.op("Where", [tail, last, g.const(np.zeros((), np.float32), f"{dname}/zf")], dname)
        seq = g.op("Transpose", [seq], dname, perm=[1, 0, 2])
        results.append((seq, last, states))
    return results


def _rnn_outputs(layer, seq, last, states):
    out = seq if layer.return_sequences else last
    return [out, *states] if layer.return_state else [out]


def _fused_rnn(g, layer, args, kwargs, masks_mode, blockers):
    x = args[0]
    mask = kwargs.get("mask")
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    initial = kwargs.get("initial_state")
    if len(args) > 1 and initial is None:
        initial = args[1]
    if mask is not None and masks_mode == "exact":
        blockers.append("a mask, with masks='exact' (ONNX's sequence_lens is right padding)")
    if blockers:
        return None
    if initial is not None:
        initial = [list(tree.flatten(initial))]
        if not all(isinstance(v, Value) for v in initial[0]):
            return None
    results = _emit_recurrent(g, [layer], x, mask, initial, layer.name)
    if results is None:
        return None
    return _rnn_outputs(layer, *results[0])


def _fused_bidirectional(g, layer, args, kwargs, masks_mode, blockers):
    x = args[0]
    mask = kwargs.get("mask")
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    if kwargs.get("initial_state") is not None or len(args) > 1:
        blockers.append("Bidirectional with initial_state")
    if mask is not None and masks_mode == "exact":
        blockers.append("a mask, with masks='exact' (ONNX's sequence_lens is right padding)")
    forward, backward = layer.forward_layer, layer.backward_layer
    if type(forward) is not type(backward) or forward.cell.units != backward.cell.units:
        blockers.append("Bidirectional with different forward and backward layers")
    if layer.merge_mode not in ("concat", "sum", "mul", "ave", None):
        blockers.append(f"merge_mode={layer.merge_mode!r}")
    if blockers:
        return None
    results = _emit_recurrent(g, [forward, backward], x, mask, None, layer.name)
    if results is None:
        return None
    (f_seq, f_last, f_states), (b_seq, b_last, b_states) = results
    if layer.return_sequences:
        # Keras flips the backward layer's (reversed) sequence back.
        fwd = f_seq
        bwd = _reverse_time(g, b_seq, layer.name, axis=1)
    else:
        fwd, bwd = f_last, b_last
    hint = layer.name
    mode = layer.merge_mode
    if mode == "concat":
        merged = [g.op("Concat", [fwd, bwd], hint, axis=-1)]
    elif mode == "sum":
        merged = [g.op("Add", [fwd, bwd], hint)]
    elif mode == "mul":
        merged = [g.op("Mul", [fwd, bwd], hint)]
    elif mode == "ave":
        half = g.const(np.array(0.5, np.float32), f"{hint}/half")
        merged = [g.op("Mul", [g.op("Add", [fwd, bwd], hint), half], hint)]
    else:
        merged = [fwd, bwd]
    if layer.return_state:
        return merged + list(f_states) + list(b_states)
    return merged


# -- tf2onnx fallback ------------------------------------------------------
def _substitute(structure, mapping):
    if isinstance(structure, Value):
        return mapping[id(structure)]
    if isinstance(structure, (list, tuple)):
        return type(structure)(_substitute(s, mapping) for s in structure)
    if isinstance(structure, dict):
        return {k: _substitute(v, mapping) for k, v in structure.items()}
    return structure


def _tf2onnx_node(g, node, args, kwargs, hint):
    """Convert one node with tf2onnx and splice its graph in."""
    import tensorflow as tf
    import tf2onnx

    leaves = _values((args, kwargs))
    specs = [
        tf.TensorSpec(v.shape, tf.as_dtype(v.dtype), name=f"in{k}") for k, v in enumerate(leaves)
    ]
    operation = node.operation
    call_kwargs = dict(kwargs)
    if isinstance(operation, keras.layers.Layer) and operation._call_has_training_arg:
        call_kwargs["training"] = False

    def fn(*tensors):
        mapping = {id(v): t for v, t in zip(leaves, tensors)}
        out = operation(*_substitute(tuple(args), mapping), **_substitute(call_kwargs, mapping))
        return [tf.identity(o) for o in tree.flatten(out)]

    tf_fn = tf.function(fn, input_signature=specs)
    # The export loop and keras.ops.switch as tf.cond, as for TFLite:
    # tf2onnx cannot convert the Clockwork step's Case.
    with export_loops(operation if isinstance(operation, keras.layers.Layer) else None):
        proto, _ = tf2onnx.convert.from_function(tf_fn, input_signature=specs, opset=OPSET)
    prefix = g.unique(f"{hint}__") + "/"
    proto = onnx.compose.add_prefix(proto, prefix)
    for opset in proto.opset_import:
        g.opsets[opset.domain] = max(g.opsets.get(opset.domain, 0), opset.version)
    for value, graph_input in zip(leaves, proto.graph.input):
        g.nodes.append(helper.make_node("Identity", [value.name], [graph_input.name]))
    g.nodes.extend(proto.graph.node)
    g.initializers.extend(proto.graph.initializer)
    for item in list(proto.graph.node) + list(proto.graph.initializer):
        g.names.add(item.name)
    outputs = []
    for graph_output in proto.graph.output:
        g.names.add(graph_output.name)
        outputs.append(graph_output.name)
    return outputs


# -- the walk ----------------------------------------------------------------
def _convert_node(g, node, args, kwargs, fused, masks_mode, report):
    op = node.operation
    name = getattr(op, "name", type(op).__name__)
    first = args[0] if args else None
    if isinstance(op, _IDENTITY_LAYERS):
        return [first.name]
    if isinstance(op, keras.layers.Dense):
        out = _dense(g, op, first)
        if out is not None:
            return out
    elif isinstance(op, keras.layers.Embedding):
        out = _embedding(g, op, first)
        if out is not None:
            return out
    elif isinstance(op, keras.layers.Masking):
        return _masking(g, op, first)
    elif type(op).__name__ == "NotEqual" and len(args) == 2:
        return _not_equal(g, op, args)
    elif type(op).__name__ == "Any" and isinstance(first, Value):
        out = _any(g, op, args)
        if out is not None:
            return out
    elif isinstance(op, keras.layers.Bidirectional) or fusion.recurrent_kind(op):
        inner = op.forward_layer if isinstance(op, keras.layers.Bidirectional) else op
        blockers = list(fusion.fusion_blockers(inner, "onnx")) if fused is not False else [
            "fused=False"
        ]
        out = None
        if fused is not False:
            if isinstance(op, keras.layers.Bidirectional):
                out = _fused_bidirectional(g, op, args, kwargs, masks_mode, blockers)
            else:
                out = _fused_rnn(g, op, args, kwargs, masks_mode, blockers)
        if out is not None:
            report["fused"].append(name)
            return out
        reason = "; ".join(blockers) or "not expressible as one ONNX node"
        if fused is True:
            raise ValueError(
                f"to_onnx(fused=True): layer '{name}' ({type(op).__name__}) cannot be "
                f"one fused ONNX LSTM/GRU node: {reason}. Pass fused='auto' to export "
                "it as an ONNX Loop (tf2onnx) instead, or change the layer."
            )
        report["loops"][name] = reason
        if isinstance(inner, rnnx_layers.ClockworkRNN):
            raise ValueError(
                f"to_onnx: layer '{name}' (ClockworkRNN) cannot be exported as a "
                "whole sequence to ONNX: tf2onnx 1.17 writes an invalid graph for "
                "its per-module conditionals (masked: a branch reads a value defined "
                "outside it; unmasked: a Squeeze fails in onnxruntime). Use "
                "to_onnx_step (one step, exact) or to_tflite."
            )
    return _tf2onnx_node(g, node, args, kwargs, name)


def build_onnx(model, fused="auto", masks="right_padded"):
    """The ONNX ModelProto of ``model`` and a report ``{fused, loops}``."""
    check_fused(fused)
    if masks not in MASK_CHOICES:
        raise ValueError(
            f"Argument `masks` must be one of {MASK_CHOICES}; received masks={masks!r}."
        )
    model_inputs = check_model(model, "to_onnx")
    graph = functional_graph(model)
    if graph is None:
        raise ValueError(
            f"to_onnx: model '{model.name}' is not a functional or Sequential model, "
            "so its layers cannot be walked. Rebuild it with the functional API "
            "(keras.Input -> layers -> keras.Model)."
        )
    g = Graph()
    tensors = {}
    graph_inputs = []
    for kt in graph.inputs:
        dtype = keras.backend.standardize_dtype(kt.dtype)
        name = g.unique(kt.name or "input")
        tensors[id(kt)] = Value(name, kt.shape, dtype)
        dims = ["batch" if i == 0 and d is None else (f"time{i}" if d is None else d)
                for i, d in enumerate(kt.shape)]
        graph_inputs.append(helper.make_tensor_value_info(name, _onnx_dtype(dtype), dims))
    report = {"fused": [], "loops": {}}
    for node in graph_nodes(graph):
        if any(id(x) not in tensors for x in node.input_tensors):
            continue
        args, kwargs = node.arguments.fill_in(tensors)
        names = _convert_node(g, node, args, kwargs, fused, masks, report)
        outputs = tree.flatten(node.outputs)
        if len(names) != len(outputs):
            raise RuntimeError(
                f"to_onnx: node '{node.operation.name}' gave {len(names)} outputs, "
                f"Keras expects {len(outputs)}. Please report this."
            )
        for kt, name in zip(outputs, names):
            tensors[id(kt)] = Value(name, kt.shape, keras.backend.standardize_dtype(kt.dtype))
    graph_outputs = []
    for k, kt in enumerate(graph.outputs):
        value = tensors[id(kt)]
        out_name = g.unique(f"output_{k}")
        g.nodes.append(helper.make_node("Identity", [value.name], [out_name]))
        dims = ["batch" if i == 0 and d is None else (f"out{k}_dim{i}" if d is None else d)
                for i, d in enumerate(kt.shape)]
        graph_outputs.append(helper.make_tensor_value_info(out_name, _onnx_dtype(value.dtype), dims))
    onnx_graph = helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, g.initializers)
    proto = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in g.opsets.items()],
        producer_name="keras_rnnx.export",
    )
    proto.ir_version = min(proto.ir_version, 9)
    onnx.checker.check_model(proto)
    del model_inputs
    return proto, report


def onnx_ops(proto):
    """Every op type in ``proto``, subgraphs included, sorted."""
    found = set()

    def walk(graph):
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(proto.graph)
    return sorted(found)


def run_onnx(content, arrays):
    """Run a serialized ONNX model in onnxruntime (one thread) on ``arrays``."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        content, options, providers=["CPUExecutionProvider"]
    )
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
    return session.run(None, feeds)


def to_onnx(model, path=None, *, fused="auto", masks="right_padded", verify=True, atol=1e-5):
    """Export a Keras model containing keras-rnnx layers to ONNX (opset 17).

    Args:
        model: a built functional or Sequential `keras.Model`.
        path: file to write, or None to only return the bytes.
        fused: ``"auto"`` (default): LSTM-family and GRU layers whose options
            the ONNX ``LSTM`` / ``GRU`` operators compute become one such node,
            every other recurrent layer an ONNX ``Loop``; True: `ValueError`
            naming any recurrent layer that cannot be fused; False: loops only.
        masks: ``"right_padded"`` (default): a mask reaching a fused layer is
            taken as right padding (ONNX ``sequence_lens``); ``"exact"``:
            masked layers are exported as loops, exact for any mask.
        verify: run the export in onnxruntime on random inputs and compare with
            ``model.predict``; `RuntimeError` (nothing written) on a NaN or a
            difference above ``atol``.
        atol: tolerance of that check.

    Returns:
        `ExportResult` (``fused`` and ``loops`` name the recurrent layers and
        why each loop is not fused). The batch and time axes stay dynamic.
    """
    proto, report = build_onnx(model, fused=fused, masks=masks)
    content = proto.SerializeToString()
    if verify:
        arrays = sample_inputs(model.inputs)
        expected = tree.flatten(model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0))
        check_close("to_onnx", run_onnx(content, arrays), expected, atol)
    written = write_bytes(path, content)
    return ExportResult(
        path=written,
        format="onnx",
        size_bytes=len(content),
        fused=report["fused"],
        loops=report["loops"],
        ops=onnx_ops(proto),
        content=content,
    )
