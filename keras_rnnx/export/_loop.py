"""A time loop that TensorFlow Lite converts to builtin ops, for any batch size.

Keras' TensorFlow loop (``keras.src.backend.tensorflow.rnn.rnn``, which every
keras-rnnx layer reaches through `keras_rnnx.ops.engine.run_loop`) reads the
inputs from and writes the outputs to ``TensorArray`` s. The TFLite converter
lowers those to builtin ops only when each element's shape is static; with an
unknown batch it fails ("'tf.TensorListReserve' op requires element_shape to
be static"). `export_rnn` has the same arguments and the same results, but
slices the time-major inputs with ``x[t]`` and grows the outputs with
``tf.concat`` inside a plain ``tf.while_loop``, which the converter turns into
``WHILE``, ``STRIDED_SLICE`` and ``CONCATENATION`` for any batch and sequence
length. (Measured on TF 2.21: ``tf.gather(x, t)`` in the body makes the
interpreter's WHILE fail to invoke, and so do loop variables whose feature
axes are unknown.)

`export_loops` installs it (and takes cuDNN out of the picture) while a model
is traced for export; nothing is changed outside the ``with`` block.
"""

import contextlib

import tensorflow as tf
from keras import tree


def export_rnn(
    step_function,
    inputs,
    initial_states,
    go_backwards=False,
    mask=None,
    constants=None,
    unroll=False,
    input_length=None,
    time_major=False,
    zero_output_for_mask=False,
    return_all_outputs=True,
):
    """`keras.src.backend.tensorflow.rnn.rnn` without TensorArrays.

    Same semantics: masked steps keep the states and repeat the previous
    output (zeros with ``zero_output_for_mask``), ``go_backwards`` reverses
    the time axis and returns the reversed sequence, ``return_all_outputs``
    False returns ``outputs`` of one step. ``unroll`` and ``input_length`` are
    accepted and ignored (the loop is the same maths).
    """
    del unroll, input_length
    constants = list(constants or [])

    def to_time_major(x):
        axes = list(range(len(x.shape)))
        axes[0], axes[1] = 1, 0
        return tf.transpose(x, axes)

    flat_inputs = tree.flatten(inputs)
    if not time_major:
        flat_inputs = [to_time_major(x) for x in flat_inputs]
    if go_backwards:
        flat_inputs = [tf.reverse(x, [0]) for x in flat_inputs]
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
        if len(mask.shape) == 2:
            mask = tf.expand_dims(mask, -1)
        if not time_major:
            mask = to_time_major(mask)
        if go_backwards:
            mask = tf.reverse(mask, [0])
    timesteps = tf.shape(flat_inputs[0])[0]

    def inputs_at(time):
        return tree.pack_sequence_as(inputs, [x[time] for x in flat_inputs])

    states = tuple(tree.flatten(initial_states))
    # The output's shape and dtype: one step traced outside the loop (its
    # value is unused, and the converter prunes it).
    first_output, _ = step_function(
        inputs_at(0), tuple(initial_states) + tuple(constants)
    )
    flat_first = tree.flatten(first_output)
    zero_outputs = tuple(tf.zeros(tf.shape(o), o.dtype) for o in flat_first)
    # The outputs of all steps: a buffer of fixed shape written in place, not
    # a tensor grown by ``tf.concat`` (whose shape invariant is lost when the
    # variables are frozen), nor a slice ``x[:0]`` (folded to one step by the
    # converter).
    buffers = tuple(
        tf.zeros(tf.concat([[timesteps if return_all_outputs else 1], tf.shape(o)], 0), o.dtype)
        for o in flat_first
    )

    def body(time, collected, previous, *flat_states):
        state_struct = tree.pack_sequence_as(initial_states, list(flat_states))
        output, new_states = step_function(
            inputs_at(time), tuple(state_struct) + tuple(constants)
        )
        flat_output = tuple(tree.flatten(output))
        flat_new = tuple(tree.flatten(new_states))
        if mask is not None:
            mask_t = mask[time]
            fill = zero_outputs if zero_output_for_mask else previous
            flat_output = tuple(
                tf.where(_broadcast(mask_t, o), o, f) for o, f in zip(flat_output, fill)
            )
            flat_new = tuple(
                tf.where(_broadcast(mask_t, n), n, s)
                for n, s in zip(flat_new, flat_states)
            )
        if return_all_outputs:
            collected = tuple(
                _write(c, time, o) for c, o in zip(collected, flat_output)
            )
        flat_new = tuple(tf.ensure_shape(n, s.shape) for n, s in zip(flat_new, flat_states))
        return (time + 1, collected, flat_output) + flat_new

    result = tf.while_loop(
        lambda time, *_: time < timesteps,
        body,
        (tf.constant(0, tf.int32), buffers, zero_outputs) + states,
    )
    outputs, last = result[1], result[2]
    new_states = list(result[3:])
    if not return_all_outputs:
        outputs = tuple(tf.expand_dims(o, 0) for o in last)
    if not time_major:
        outputs = tuple(to_time_major(o) for o in outputs)
    last_output = tree.pack_sequence_as(first_output, list(last))
    outputs = tree.pack_sequence_as(first_output, list(outputs))
    new_states = tree.pack_sequence_as(initial_states, new_states)
    return last_output, outputs, new_states


def _write(buffer, time, value):
    """``buffer[time] = value`` as a fixed-shape update (TFLite ``SCATTER_ND``)."""
    index = tf.reshape(time, [1, 1])
    return tf.tensor_scatter_nd_update(buffer, index, tf.expand_dims(value, 0))


def _broadcast(mask_t, value):
    """``mask_t`` ``(batch, 1)`` broadcast to ``value``'s shape."""
    for _ in range(len(value.shape) - len(mask_t.shape)):
        mask_t = tf.expand_dims(mask_t, -1)
    return tf.broadcast_to(mask_t, tf.shape(value))


def export_switch(index, branches, *operands):
    """`keras.ops.switch` as nested ``tf.cond`` (TFLite ``IF``, ONNX ``If``).

    TensorFlow's ``tf.switch_case`` (``Case``) has no TFLite builtin: the
    converter fails on it (the masked Clockwork step uses `keras.ops.switch`).
    """
    index = tf.clip_by_value(tf.cast(index, tf.int32), 0, len(branches) - 1)

    def pick(k):
        if k == len(branches) - 1:
            return branches[k](*operands)
        return tf.cond(
            tf.equal(index, k), lambda: branches[k](*operands), lambda: pick(k + 1)
        )

    return pick(0)


@contextlib.contextmanager
def export_loops(model=None, loops=True):
    """While active, every keras-rnnx and Keras RNN loop is `export_rnn`.

    `keras.ops.switch` is `export_switch` meanwhile.

    With ``loops=False`` only the switch is replaced. Also turns ``use_cudnn`` off on the layers of ``model`` that have it, so
    that a trace on a GPU machine does not pick the cuDNN kernel (which has no
    TFLite or ONNX equivalent). Everything is restored on exit.
    """
    from keras.src import backend as keras_backend

    from keras_rnnx.ops import engine

    saved = [(keras_backend.core, "switch", keras_backend.core.switch)]
    keras_backend.core.switch = export_switch
    if loops:
        saved.append((engine, "backend_rnn", engine.backend_rnn))
        saved.append((keras_backend, "rnn", keras_backend.rnn))
        engine.backend_rnn = export_rnn
        keras_backend.rnn = export_rnn
    cudnn_saved = []
    if model is not None:
        for layer in _all_layers(model):
            if getattr(layer, "use_cudnn", None) not in (None, False):
                cudnn_saved.append((layer, layer.use_cudnn))
                layer.use_cudnn = False
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
        for layer, value in cudnn_saved:
            layer.use_cudnn = value


def _all_layers(model):
    """Every layer of ``model``, nested ones included (Bidirectional's copies)."""
    seen = []
    stack = [model]
    while stack:
        layer = stack.pop()
        if any(layer is s for s in seen):
            continue
        seen.append(layer)
        stack.extend(getattr(layer, "_layers", []) or [])
        for attr in ("forward_layer", "backward_layer", "layer"):
            child = getattr(layer, attr, None)
            if child is not None and hasattr(child, "weights"):
                stack.append(child)
    return seen
