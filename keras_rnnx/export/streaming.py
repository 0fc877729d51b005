"""Streaming exports: one time step of one recurrent layer, states in and out.

A device feeds one frame at a time: ``y_t, states = step(x_t, states)``,
starting from zero states (`initial_states`). Stepping the export over a
sequence reproduces the layer's full-sequence output (``return_sequences``)
and final states.

The graph is the layer's cell, ``cell(x_t, states, training=False)``, with
the weights as constants (no loop). In ONNX an LSTM-family or GRU layer
that `fusion_blockers` accepts is one fused ``LSTM`` / ``GRU`` node of one
step (``initial_h`` / ``initial_c`` are the state inputs, ``Y_h`` / ``Y_c``
the state outputs); every other layer is converted by tf2onnx.

Inputs, in order: ``x`` ``(batch, features)``, then ``state_0``,
``state_1``, ... (the cell's ``state_size``: ``[h, c]`` for an LSTM, ``[h]``
for a GRU, ``[h, clock]`` for a Clockwork RNN, ...). Outputs: ``y``, then
``state_0_out``, ``state_1_out``, ...
"""

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from keras_rnnx.export import fusion
from keras_rnnx.export._common import ExportResult
from keras_rnnx.export._common import check_close
from keras_rnnx.export._common import check_fused
from keras_rnnx.export._common import write_bytes
from keras_rnnx.export._loop import export_loops


def _check_layer(layer, exporter):
    from keras_rnnx.export._common import check_backend

    check_backend(exporter)
    if isinstance(layer, keras.layers.Bidirectional):
        raise ValueError(
            f"{exporter}: a Bidirectional layer reads the whole sequence (its "
            "backward half starts at the end), so it cannot be streamed step by "
            "step. Export its forward_layer, or the whole model with to_tflite/to_onnx."
        )
    if not isinstance(layer, keras.layers.RNN):
        raise ValueError(
            f"{exporter} exports one step of a recurrent layer (a keras-rnnx layer "
            f"or keras.layers.RNN); received {type(layer).__name__}. For a model, "
            "pass the layer, e.g. model.get_layer('lstm_0')."
        )
    if not layer.built or getattr(layer.cell, "built", False) is False:
        raise ValueError(
            f"{exporter}: layer '{layer.name}' is not built, so its input size and "
            "weights are unknown. Call it on data (or build its model) first."
        )


def state_sizes(layer):
    sizes = layer.cell.state_size
    return list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]


def input_size(layer):
    cell = layer.cell
    size = getattr(cell, "input_dim", None)
    if size is None and getattr(cell, "kernel", None) is not None:
        size = cell.kernel.shape[0]
    if size is None:
        raise ValueError(f"Cannot tell the input size of layer '{layer.name}'.")
    return int(size)


def initial_states(layer, batch_size=1):
    """Zero states ``[(batch_size, size), ...]`` to start a stream from."""
    return [np.zeros((batch_size, size), np.float32) for size in state_sizes(layer)]


def step_specs(layer, batch_size):
    specs = [tf.TensorSpec((batch_size, input_size(layer)), tf.float32, name="x")]
    specs += [
        tf.TensorSpec((batch_size, size), tf.float32, name=f"state_{k}")
        for k, size in enumerate(state_sizes(layer))
    ]
    return specs


def step_function(layer, batch_size):
    """``tf.function(x, *states) -> [y, *new_states]`` with constant weights."""
    cell = layer.cell
    trainable = [keras.ops.convert_to_numpy(v) for v in cell.trainable_variables]
    frozen = [keras.ops.convert_to_numpy(v) for v in cell.non_trainable_variables]
    specs = step_specs(layer, batch_size)

    def step(x, *states):
        # Constants made inside the trace: captured tensors would become
        # graph inputs in tf2onnx.
        trainable_t = [tf.constant(a) for a in trainable]
        frozen_t = [tf.constant(a) for a in frozen]
        (y, new_states), _ = cell.stateless_call(
            trainable_t, frozen_t, x, list(states), training=False
        )
        new_states = tree.flatten(new_states)
        return [tf.identity(y, name="y")] + [
            tf.identity(s, name=f"state_{k}_out") for k, s in enumerate(new_states)
        ]

    return tf.function(step, input_signature=specs, autograph=False), specs


def keras_step(layer, x, states):
    """One step of ``layer``'s cell in Keras (NumPy in and out)."""
    y, new_states = layer.cell(x, [keras.ops.convert_to_tensor(s) for s in states], training=False)
    return [keras.ops.convert_to_numpy(y)] + [
        keras.ops.convert_to_numpy(s) for s in tree.flatten(new_states)
    ]


def _verify(name, run, layer, batch_size, atol):
    rng = np.random.default_rng(0)
    states = initial_states(layer, batch_size)
    for _ in range(3):
        x = rng.standard_normal((batch_size, input_size(layer))).astype(np.float32)
        expected = keras_step(layer, x, states)
        got = run([x, *states])
        check_close(name, got, expected, atol)
        states = [np.asarray(s) for s in expected[1:]]


def to_tflite_step(layer, path=None, *, batch_size=1, verify=True, atol=1e-5):
    """One step of ``layer`` as a TFLite model (builtin ops, no loop).

    Args:
        layer: a built keras-rnnx (or Keras) recurrent layer.
        path: file to write, or None.
        batch_size: the static batch of ``x`` and the states (default 1).
        verify: compare three chained steps with the Keras cell (1e-5).

    Returns:
        `ExportResult`. Run it with `run_tflite(content, [x, *states])`, which
        returns ``[y, *new_states]``.
    """
    from keras_rnnx.export.tflite_export import check_builtin_only
    from keras_rnnx.export.tflite_export import convert_function
    from keras_rnnx.export.tflite_export import run_tflite

    _check_layer(layer, "to_tflite_step")
    fn, specs = step_function(layer, batch_size)
    with export_loops():
        content = convert_function(fn, specs)
    ops = check_builtin_only(content, "to_tflite_step")
    if verify:
        _verify("to_tflite_step", lambda a: run_tflite(content, a), layer, batch_size, atol)
    return ExportResult(
        path=write_bytes(path, content), format="tflite", size_bytes=len(content),
        fused=[], loops={}, ops=ops, content=content,
    )


def _onnx_fused_step(layer):
    """A ModelProto of one fused ONNX LSTM/GRU step of ``layer``."""
    from onnx import helper

    from keras_rnnx.export import onnx_export as ox

    g = ox.Graph()
    d = input_size(layer)
    sizes = state_sizes(layer)
    x = ox.Value("x", (None, d), np.float32)
    states = [ox.Value(f"state_{k}", (None, s), np.float32) for k, s in enumerate(sizes)]
    for value in [x, *states]:
        g.names.add(value.name)
    x3 = ox.Value(
        g.op("Unsqueeze", ["x", g.const(np.array([1], np.int64), "ax1")], "x_seq"),
        (None, 1, d), np.float32,
    )
    ((seq, last, finals),) = ox._emit_recurrent(g, [layer], x3, None, [states], layer.name)
    outputs = [last, *finals]
    names = ["y"] + [f"state_{k}_out" for k in range(len(sizes))]
    for source, name in zip(outputs, names):
        g.nodes.append(helper.make_node("Identity", [source], [name]))
    del seq
    info = [helper.make_tensor_value_info(v.name, 1, ["batch", v.shape[1]]) for v in [x, *states]]
    out_info = [
        helper.make_tensor_value_info(n, 1, ["batch", s])
        for n, s in zip(names, [layer.cell.units if not hasattr(layer.cell, "structure")
                                else layer.cell.structure.output_size, *sizes])
    ]
    graph = helper.make_graph(g.nodes, f"{layer.name}_step", info, out_info, g.initializers)
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ox.OPSET)],
        producer_name="keras_rnnx.export",
    )
    proto.ir_version = min(proto.ir_version, 9)
    return proto


def _rename_io(proto, inputs, outputs):
    """Name a tf2onnx graph's inputs and outputs (``x:0`` -> ``x``, ...)."""
    from onnx import helper

    graph = proto.graph
    constants = {t.name for t in graph.initializer}
    real = [v for v in graph.input if v.name not in constants]
    rest = [v for v in graph.input if v.name in constants]
    renames = {}
    for value in real:
        new = value.name.split(":")[0]
        renames[value.name] = new
        value.name = new
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    real.sort(key=lambda v: inputs.index(v.name))
    reordered = [type(v)() for v in real + rest]
    for copy, value in zip(reordered, real + rest):
        copy.CopyFrom(value)
    del graph.input[:]
    graph.input.extend(reordered)
    for value, new in zip(graph.output, outputs):
        graph.node.append(helper.make_node("Identity", [value.name], [new]))
        value.name = new
    return proto


def to_onnx_step(layer, path=None, *, fused="auto", verify=True, atol=1e-5):
    """One step of ``layer`` as an ONNX model (opset 17), dynamic batch.

    Args:
        layer: a built keras-rnnx (or Keras) recurrent layer.
        path: file to write, or None.
        fused: ``"auto"``: one fused ONNX ``LSTM`` / ``GRU`` node when the layer
            allows it (`fusion_blockers`), else the cell's ops (tf2onnx);
            True: `ValueError` if it cannot be fused; False: the cell's ops.
        verify: compare three chained steps with the Keras cell (1e-5).

    Returns:
        `ExportResult`; run with ``run_onnx(content, [x, *states])``.
    """
    import onnx
    import tf2onnx

    from keras_rnnx.export.onnx_export import OPSET
    from keras_rnnx.export.onnx_export import onnx_ops
    from keras_rnnx.export.onnx_export import run_onnx

    check_fused(fused)
    _check_layer(layer, "to_onnx_step")
    blockers = list(fusion.fusion_blockers(layer, "onnx"))
    blockers = [b for b in blockers if not b.startswith("stateful")]
    if fused is False:
        blockers = ["fused=False"]
    if fused is True and blockers:
        raise ValueError(
            f"to_onnx_step(fused=True): layer '{layer.name}' cannot be one fused "
            f"ONNX node: {'; '.join(blockers)}. Pass fused='auto' to export its "
            "cell's ops instead."
        )
    if blockers:
        fn, specs = step_function(layer, None)
        with export_loops():
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=OPSET)
        proto = _rename_io(
            proto,
            ["x"] + [f"state_{k}" for k in range(len(state_sizes(layer)))],
            ["y"] + [f"state_{k}_out" for k in range(len(state_sizes(layer)))],
        )
        report = ([], {layer.name: "; ".join(blockers)})
    else:
        proto = _onnx_fused_step(layer)
        report = ([layer.name], {})
    onnx.checker.check_model(proto)
    content = proto.SerializeToString()
    if verify:
        _verify("to_onnx_step", lambda a: run_onnx(content, a), layer, 2, atol)
    return ExportResult(
        path=write_bytes(path, content), format="onnx", size_bytes=len(content),
        fused=report[0], loops=report[1], ops=onnx_ops(proto), content=content,
    )
