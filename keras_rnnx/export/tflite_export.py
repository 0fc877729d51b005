"""`to_tflite`: a Keras model with keras-rnnx layers as a TensorFlow Lite model.

Two ways out, both builtin ops only (``TFLITE_BUILTINS``: no Flex/Select-TF):

* **Loop** (any layer, dynamic batch and time): the model is traced with
  `keras_rnnx.export._loop.export_rnn` in place of Keras' TensorArray loop,
  which the converter turns into ``WHILE`` for any batch size. The weights
  are constants of the trace (``model.stateless_call``), never TFLite
  resource variables: converting a concrete function that reads variables
  leaves ``VAR_HANDLE`` / ``READ_VARIABLE`` ops that nobody initialises, and
  the interpreter silently returns NaN (issue 4 of the deployment issue).
* **Fused** (the LSTM family, with a fixed ``batch_size``): each fusable layer
  is traced as the composite function TFLite's converter recognises
  (``tf.function`` with ``api_implements="lstm_..."``, the signature of
  tf.keras' ``standard_lstm``; TensorFlow's "TensorFlow RNN conversion to
  TFLite" guide), which it replaces by one ``UNIDIRECTIONAL_SEQUENCE_LSTM``.
  The converter needs static state shapes, hence the fixed batch. Its op then
  is patched in the flatbuffer (`_patch_fused_lstm`) to compute exactly the
  layer: the converter hard-codes ``cell_clip=10`` (set to the layer's clip or
  none), knows no peepholes, CIFG or projection (their tensors are added, the
  input gate's removed), and its state tensors persist from one ``invoke`` to
  the next (a ``FILL`` of zeros is put before the op, so each call starts from
  zero states as Keras does).
"""

import uuid

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from keras_rnnx.export import fusion
from keras_rnnx.export._common import ExportResult
from keras_rnnx.export._common import check_close
from keras_rnnx.export._common import check_fused
from keras_rnnx.export._common import check_model
from keras_rnnx.export._common import sample_inputs
from keras_rnnx.export._common import write_bytes
from keras_rnnx.export._loop import _all_layers
from keras_rnnx.export._loop import export_loops
from keras_rnnx.export._loop import export_rnn

# Input indices of TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_shared.h).
_INPUT_TO = {"i": 1, "f": 2, "c": 3, "o": 4}
_RECURRENT_TO = {"i": 5, "f": 6, "c": 7, "o": 8}
_CELL_TO = {"i": 9, "f": 10, "o": 11}
_BIAS = {"i": 12, "f": 13, "c": 14, "o": 15}
_PROJECTION_WEIGHTS = 16
_OUTPUT_STATE = 18
_CELL_STATE = 19

_VARIABLE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")


def interpreter(content, num_threads=1):
    """A LiteRT interpreter (``ai_edge_litert``), else TF's deprecated one."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - LiteRT is a test dependency
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=content, num_threads=num_threads)


def _position(name):
    """Order of a signature input/output: ``x`` first, then by trailing index."""
    digits = "".join(ch for ch in reversed(name) if ch.isdigit())[::-1]
    return (name != "x", int(digits) if digits else -1, name)


def signature_runner(content, num_threads=1):
    """``(runner, input names, output names)``, names in call order."""
    it = interpreter(content, num_threads)
    (key, signature), = it.get_signature_list().items()
    runner = it.get_signature_runner(key)
    inputs = sorted(signature["inputs"], key=_position)
    outputs = sorted(signature["outputs"], key=_position)
    return runner, inputs, outputs


def run_tflite(content, arrays, num_threads=1):
    """Run a TFLite model (its one signature) on ``arrays``, in input order.

    The interpreter lists a model's inputs by name; the signature runner takes
    them by name (``input_0``, ... for `to_tflite`; ``x``, ``state_0``, ...
    for `to_tflite_step`) and resizes them to the arrays given.
    """
    runner, inputs, outputs = signature_runner(content, num_threads)
    result = runner(**dict(zip(inputs, arrays)))
    return [result[name] for name in outputs]


# -- flatbuffer helpers ------------------------------------------------------
def _schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def _read(content):
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.read_model_from_bytearray(bytearray(content))


def _write(model):
    from tensorflow.lite.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _op_name(model, operator):
    schema = _schema()
    code = model.operatorCodes[operator.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    name = names.get(builtin, str(builtin))
    if name == "CUSTOM":
        name = f"CUSTOM:{code.customCode.decode() if code.customCode else ''}"
    return name


def tflite_ops(content):
    """Every op of a TFLite model (all subgraphs), sorted and unique."""
    model = _read(content)
    return sorted({_op_name(model, op) for sg in model.subgraphs for op in sg.operators})


def _opcode_index(model, builtin):
    schema = _schema()
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _buffer_array(model, tensor):
    buffer = model.buffers[tensor.buffer]
    if buffer.data is None:
        return None
    return np.frombuffer(bytes(bytearray(buffer.data)), np.float32).reshape(tensor.shape)


def _add_constant(model, subgraph, array, name):
    schema = _schema()
    array = np.array(array, order="C")  # ascontiguousarray makes 0-d 1-d
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(array.tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape = np.array(array.shape, np.int32)
    tensor.type = {np.dtype(np.float32): schema.TensorType.FLOAT32,
                   np.dtype(np.int32): schema.TensorType.INT32}[array.dtype]
    tensor.buffer = len(model.buffers) - 1
    tensor.name = name.encode()
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _patch_fused_lstm(content, layers):
    """Make each UNIDIRECTIONAL_SEQUENCE_LSTM compute its keras-rnnx layer.

    ``layers`` are the layers traced as composites; each op is matched to its
    layer by its input-to-cell weights (present in every variant).
    """
    schema = _schema()
    model = _read(content)
    weights = {id(layer): fusion.lstm_gate_weights(layer) for layer in layers}
    matched = []
    fill = _opcode_index(model, schema.BuiltinOperator.FILL)
    for subgraph in model.subgraphs:
        dropped = []
        operators = []
        for op in subgraph.operators:
            if _op_name(model, op) != "UNIDIRECTIONAL_SEQUENCE_LSTM":
                operators.append(op)
                continue
            cell_in = _buffer_array(model, subgraph.tensors[op.inputs[_INPUT_TO["c"]]])
            owner = [
                layer for layer in layers
                if cell_in is not None
                and cell_in.shape == weights[id(layer)]["W"]["c"].T.shape
                and np.array_equal(cell_in, weights[id(layer)]["W"]["c"].T)
            ]
            if len(owner) != 1:
                raise RuntimeError(
                    "to_tflite: cannot tell which layer a fused LSTM op belongs to "
                    f"({len(owner)} candidates). Export with fused=False."
                )
            layer = owner[0]
            w = weights[id(layer)]
            inputs = list(op.inputs)
            name = layer.name
            if w["coupled"]:
                for index in (_INPUT_TO["i"], _RECURRENT_TO["i"], _BIAS["i"]):
                    dropped.append(inputs[index])
                    inputs[index] = -1
            if w["P"] is not None:
                for gate, index in _CELL_TO.items():
                    if gate == "i" and w["coupled"]:
                        continue
                    inputs[index] = _add_constant(
                        model, subgraph, w["P"][gate], f"{name}/peephole_{gate}"
                    )
            if w["projection"] is not None:
                inputs[_PROJECTION_WEIGHTS] = _add_constant(
                    model, subgraph, np.ascontiguousarray(w["projection"].T),
                    f"{name}/projection",
                )
            op.inputs = np.array(inputs, np.int32)
            options = op.builtinOptions
            options.cellClip = float(w["cell_clip"] or 0.0)
            options.projClip = 0.0
            # Zero states at every invoke: the op updates its state tensors in
            # place, and without this a call would start from the last one's.
            for index in (_OUTPUT_STATE, _CELL_STATE):
                state = subgraph.tensors[inputs[index]]
                dims = _add_constant(
                    model, subgraph, np.array(state.shape, np.int32), f"{name}/state_dims"
                )
                zero = _add_constant(model, subgraph, np.zeros((), np.float32), f"{name}/zero")
                op_fill = schema.OperatorT()
                op_fill.opcodeIndex = fill
                op_fill.inputs = np.array([dims, zero], np.int32)
                op_fill.outputs = np.array([inputs[index]], np.int32)
                op_fill.builtinOptionsType = schema.BuiltinOptions.FillOptions
                op_fill.builtinOptions = schema.FillOptionsT()
                operators.append(op_fill)
            operators.append(op)
            matched.append(layer)
        subgraph.operators = operators
        _clear_unused_buffers(model, subgraph, dropped)
    missing = [layer.name for layer in layers if not any(layer is m for m in matched)]
    if missing:
        raise RuntimeError(
            f"to_tflite: the converter did not fuse layer(s) {missing}. Export "
            "with fused=False (a WHILE loop) or report this."
        )
    return _write(model)


def _clear_unused_buffers(model, subgraph, tensor_indices):
    """Empty the data of constants no op reads any more (CIFG's input gate)."""
    used = {i for op in subgraph.operators for i in list(op.inputs) + list(op.outputs)}
    for index in tensor_indices:
        if index in used:
            continue
        buffer = subgraph.tensors[index].buffer
        shared = any(
            t.buffer == buffer for k, t in enumerate(subgraph.tensors) if k != index and k in used
        )
        if not shared:
            model.buffers[buffer].data = None


# -- the composite function --------------------------------------------------
def _standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
    """tf.keras' ``standard_lstm`` signature; the converter replaces the body.

    The body is a plain LSTM (gates i, f, c, o) for the TensorFlow side of
    the trace only: a peephole, CIFG or projection layer is exact only after
    `_patch_fused_lstm`, which is why an op that did not fuse is an error.
    """

    def step(x, states):
        h, c = states
        z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        if projected:
            # Shape only (the patch adds the real projection weights).
            h = tf.matmul(h, tf.zeros([units, outputs_size]))
        return h, [h, c]

    units = kernel.shape[1] // 4
    outputs_size = recurrent_kernel.shape[0]
    projected = units != outputs_size
    last, outputs, (h, c) = export_rnn(step, inputs, [init_h, init_c])
    return last, outputs, h, c, tf.constant(0.0)


def _composite(go_backwards):
    return tf.function(
        _standard_lstm,
        autograph=False,
        experimental_attributes={
            "api_implements": f"lstm_{uuid.uuid4().hex}",
            "time_major": False,
            "go_backwards": bool(go_backwards),
        },
    )


def _fused_inner_loop(layer):
    """An ``inner_loop`` for ``layer`` that calls the composite function."""

    # Read before the trace: inside it the weights are symbolic.
    w = fusion.lstm_gate_weights(layer)
    order = ("i", "f", "c", "o")
    kernel = np.concatenate([w["W"][g] for g in order], axis=1)
    recurrent = np.concatenate([w["R"][g] for g in order], axis=1)
    bias = np.concatenate([w["b"][g] for g in order])

    def inner_loop(sequences, initial_state, mask, training=False):
        result = _composite(layer.go_backwards)(
            sequences, initial_state[0], initial_state[1],
            tf.constant(kernel), tf.constant(recurrent), tf.constant(bias),
        )
        zeros = [tf.zeros_like(s) for s in initial_state]
        return result[0], result[1], zeros

    return inner_loop


MASK_CHOICES = ("exact", "ignore")


def _call_blockers(layer, node_kwargs, batch_size, masks):
    reasons = []
    if batch_size is None:
        reasons.append(
            "batch_size=None: TFLite's fused LSTM needs a static batch (pass "
            "batch_size=1)"
        )
    if node_kwargs.get("mask") is not None and masks == "exact":
        reasons.append(
            "a mask: TFLite's fused LSTM has no sequence lengths (masks='ignore' "
            "fuses it for inputs without padding)"
        )
    if node_kwargs.get("initial_state") is not None:
        reasons.append("an initial_state input")
    if getattr(layer, "return_state", False):
        reasons.append("return_state=True: the fused op returns no states")
    return reasons


def _plan(model, fused, batch_size, masks):
    """``(layers to fuse, {layer name: reason} for the loops)``."""
    from keras_rnnx.export._keras_graph import functional_graph
    from keras_rnnx.export._keras_graph import graph_nodes

    graph = functional_graph(model)
    calls = {}
    if graph is not None:
        for node in graph_nodes(graph):
            op = node.operation
            inner = [op]
            if isinstance(op, keras.layers.Bidirectional):
                inner = [op.forward_layer, op.backward_layer]
            for layer in inner:
                calls.setdefault(id(layer), []).append(node.arguments.kwargs)
    to_fuse, loops = [], {}
    for layer in _all_layers(model):
        if layer is model or not fusion.recurrent_kind(layer):
            continue
        if isinstance(layer, keras.layers.Bidirectional):
            continue
        reasons = list(fusion.fusion_blockers(layer, "tflite"))
        kwargs_list = calls.get(id(layer))
        if kwargs_list is None and graph is not None:
            # Bidirectional's copies are called from inside its call.
            parent = [
                p for p in _all_layers(model)
                if isinstance(p, keras.layers.Bidirectional)
                and (p.forward_layer is layer or p.backward_layer is layer)
            ]
            kwargs_list = calls.get(id(parent[0])) if parent else None
        if kwargs_list is None:
            reasons.append(
                "called inside a nested model or layer, where its mask and "
                "initial_state cannot be seen"
            )
        for kwargs in kwargs_list or [{}]:
            reasons += [r for r in _call_blockers(layer, kwargs, batch_size, masks) if r not in reasons]
        if fused is False:
            reasons = ["fused=False"]
        if reasons:
            loops[layer.name] = "; ".join(reasons)
        else:
            to_fuse.append(layer)
    if fused is True and loops:
        detail = "; ".join(f"'{name}': {why}" for name, why in loops.items())
        raise ValueError(
            f"to_tflite(fused=True): these layers cannot be TFLite's fused "
            f"UNIDIRECTIONAL_SEQUENCE_LSTM: {detail}. Pass fused='auto' to export "
            "them as a WHILE loop instead (builtin ops, any batch)."
        )
    return to_fuse, loops


def _input_specs(model_inputs, batch_size):
    specs = []
    for k, tensor in enumerate(model_inputs):
        shape = list(tensor.shape)
        if batch_size is not None:
            shape[0] = batch_size
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        specs.append(tf.TensorSpec(shape, dtype, name=f"input_{k}"))
    return specs


def convert_function(fn, specs):
    """Convert a traced ``tf.function`` to TFLite builtin ops (no Flex)."""
    concrete = fn.get_concrete_function(*specs)
    holder = tf.Module()
    holder.fn = fn
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def stateless_function(model, specs):
    """``model(x, training=False)`` with its weights as constants."""
    trainable = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    frozen = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]

    def call(*inputs):
        x = inputs[0] if len(inputs) == 1 else list(inputs)
        outputs, _ = model.stateless_call(
            [tf.constant(a) for a in trainable],
            [tf.constant(a) for a in frozen],
            x,
            training=False,
        )
        return tree.flatten(outputs)

    return tf.function(call, input_signature=specs, autograph=False)


def check_builtin_only(content, where):
    ops = tflite_ops(content)
    bad = [op for op in ops if op.startswith("CUSTOM") or op in _VARIABLE_OPS]
    if bad:
        raise RuntimeError(
            f"{where}: the TFLite model contains {bad}, which the stock interpreter "
            "cannot run (or would run on uninitialised variables and return NaN). "
            "Please report this with the model's config."
        )
    return ops


def to_tflite(
    model, path=None, *, fused="auto", batch_size=None, masks="exact", verify=True, atol=1e-5
):
    """Export a Keras model containing keras-rnnx layers to TensorFlow Lite.

    Args:
        model: a built functional or Sequential `keras.Model`.
        path: file to write, or None to only return the bytes.
        fused: ``"auto"`` (default): the LSTM-family layers that TFLite's
            ``UNIDIRECTIONAL_SEQUENCE_LSTM`` computes become that op when
            ``batch_size`` is set, every other recurrent layer a ``WHILE``
            loop; True: `ValueError` naming every layer that cannot be fused;
            False: loops only.
        batch_size: None (default) keeps the batch dynamic (the interpreter
            resizes the input; no fused op, whose states need a static batch);
            an int fixes it (e.g. 1 on a device) and allows fusing.
        masks: ``"exact"`` (default): a layer that receives a mask is a loop
            (exact for any mask); ``"ignore"``: fused layers ignore their mask,
            correct only for inputs without padded steps (one sequence on a
            device). Loops always apply masks.
        verify: run the export in the interpreter on random inputs and compare
            with ``model.predict``; `RuntimeError` (nothing written) on a NaN or
            a difference above ``atol``.
        atol: tolerance of that check.

    Returns:
        `ExportResult`. Only TFLite builtin ops are used (no Flex).
    """
    check_fused(fused)
    if masks not in MASK_CHOICES:
        raise ValueError(
            f"Argument `masks` must be one of {MASK_CHOICES}; received masks={masks!r}."
        )
    model_inputs = check_model(model, "to_tflite")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(
            f"Argument `batch_size` must be None (dynamic) or a positive int; "
            f"received batch_size={batch_size!r}."
        )
    to_fuse, loops = _plan(model, fused, batch_size, masks)
    specs = _input_specs(model_inputs, batch_size)
    for layer in to_fuse:
        layer.inner_loop = _fused_inner_loop(layer)
    try:
        with export_loops(model):
            fn = stateless_function(model, specs)
            content = convert_function(fn, specs)
    finally:
        for layer in to_fuse:
            del layer.inner_loop
    if to_fuse:
        content = _patch_fused_lstm(content, to_fuse)
    ops = check_builtin_only(content, "to_tflite")
    if verify:
        arrays = sample_inputs(model_inputs, batch_size=batch_size or 2)
        expected = tree.flatten(model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0))
        check_close("to_tflite", run_tflite(content, arrays), expected, atol)
    written = write_bytes(path, content)
    return ExportResult(
        path=written,
        format="tflite",
        size_bytes=len(content),
        fused=[layer.name for layer in to_fuse],
        loops=loops,
        ops=ops,
        content=content,
    )
