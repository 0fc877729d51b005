"""The sequence engine: one time loop shared by every keras-rnnx layer.

A keras-rnnx layer splits each step into two parts:

1. an *input projection* that depends only on ``x_t`` (``x_t @ W + b`` for every
   gate at once, plus any per-step noise), which can be computed for **all time
   steps in one matmul** before the loop, and
2. a *recurrence* that depends on the previous state (one fused ``h @ U`` per
   step and the elementwise gate maths).

Part 1 runs before the loop except on the platforms in
`IN_LOOP_PROJECTION_PLATFORMS` (JAX on CPU), where the single-cell layers run
it inside the loop, step by step (Clockwork, Grid and depth-gated layers
always hoist theirs; JAX on a GPU keeps the hoisted form it was measured
with). Under ``lax.scan`` on CPU the hoisted projection measured slower (LSTM
train step 185 ms against 131 ms in the loop, Keras' 142 ms), and its
``(T, B, 4U)`` tensor, transposed copy and gradients doubled the step's XLA
temporary memory at T=1000 (1,578 MiB against 814 MiB,
`scripts/xla_profile.py`).

`run_loop` runs the step over the (pre-projected) sequence with the backend's own
recurrent loop (`tf.while_loop` on TensorFlow, `lax.scan` on JAX), which
implements masking (any padding side, fully masked rows), `go_backwards`,
`unroll` and `zero_output_for_mask` exactly as `keras.layers.RNN` does. The loop
is XLA-compilable and never synchronises with the host.

Inside the loop the recurrent kernels are used as per-gate column blocks
(`split_kernel_blocks`): one ``(units, units)`` matmul per gate instead of one
``(units, n * units)`` matmul. The maths is the same; on the 2-core CPU this
was measured on (TF 2.21, B=64, T=100, D=64, U=256, LSTM train step) it took
the step from 168 to 115 ms without XLA and from 137 to 110 ms with it, because
the per-gate blocks and their gradient accumulators (256 KiB each) stay in
cache where the fused 1 MiB kernel does not. That gain is TensorFlow's: under
JAX's ``lax.scan`` the blocks were no faster on this CPU and cost the
bfloat16 scan 8 % on an H200, so they are used only on the backends in
`PER_GATE_BLOCK_BACKENDS` (`docs/benchmarks.md`, "JAX backend").

Per-step noise (zoneout) is drawn for every step before the loop by
`uniform_noise`, which on TensorFlow uses the Philox generator: the default
generator of `keras.random.uniform` took 830 ms for a (64, 100, 512) draw
under XLA on CPU, Philox 57 ms.
"""

import keras
from keras import ops

from keras_rnnx.ops.keras_internals import backend_rnn


def run_loop(
    step_fn,
    projected,
    initial_state,
    *,
    mask=None,
    go_backwards=False,
    unroll=False,
    zero_output_for_mask=False,
    return_sequences=True,
):
    """Run ``step_fn`` over the time axis of ``projected``.

    Args:
        step_fn: ``step_fn(projected_t, states) -> (output_t, new_states)``,
            where ``states`` is a list of tensors.
        projected: tensor ``(batch, timesteps, features)`` of pre-projected
            inputs (batch-major), or a tuple of such tensors (the step then
            receives a tuple of per-step slices).
        initial_state: list of tensors ``(batch, state_size_k)``.
        mask: optional boolean tensor ``(batch, timesteps)``.
        go_backwards, unroll, zero_output_for_mask, return_sequences: as in
            `keras.layers.RNN`.

    Returns:
        ``(last_output, outputs, final_states)`` as `keras.layers.RNN` does.
    """
    sequences = keras.tree.flatten(projected)
    if len(sequences) > 1 and sequences[0].shape[1] is None:
        # Keras' TensorFlow loop reads ``inputs.shape`` when the number of
        # steps is unknown, which a tuple has not: feed one tensor, split in
        # the step (the features of each part are static).
        sizes = [p.shape[-1] for p in sequences]
        cuts = [sum(sizes[: k + 1]) for k in range(len(sizes) - 1)]
        structure, inner_step = projected, step_fn

        def step_fn(packed_t, states):
            parts = ops.split(packed_t, cuts, axis=-1)
            return inner_step(keras.tree.pack_sequence_as(structure, parts), states)

        projected = ops.concatenate(sequences, axis=-1)
    return backend_rnn(
        step_fn,
        projected,
        list(initial_state),
        go_backwards=go_backwards,
        mask=mask,
        unroll=unroll,
        input_length=keras.tree.flatten(projected)[0].shape[1],
        zero_output_for_mask=zero_output_for_mask,
        return_all_outputs=return_sequences,
    )


# ``(backend, platform)`` pairs (see `platform`) on which the single-cell
# layers project each step's input inside the loop; everywhere else the input
# projection of all steps runs as one matmul before the loop.
IN_LOOP_PROJECTION_PLATFORMS = (("jax", "cpu"),)


def platform():
    """``(backend name, JAX's default platform or None)`` of this process."""
    backend = keras.backend.backend()
    if backend != "jax":
        return backend, None
    import jax

    return backend, jax.default_backend()


def hoist_input_projection():
    """Whether the input projection of all steps runs before the loop."""
    return platform() not in IN_LOOP_PROJECTION_PLATFORMS


# Backends whose fused loop multiplies by per-gate kernel blocks; on the others
# the loop multiplies by the whole kernel (the same maths, one matmul).
PER_GATE_BLOCK_BACKENDS = ("tensorflow",)


def per_gate_blocks():
    """Whether the running backend's loop uses per-gate kernel blocks."""
    return keras.backend.backend() in PER_GATE_BLOCK_BACKENDS


def split_kernel_blocks(params, blocks):
    """Add ``{name}_blocks``: ``params[name]`` split into column blocks.

    On a backend outside `PER_GATE_BLOCK_BACKENDS` nothing is added, and the
    step maths multiplies by the whole kernel.

    Args:
        params: dict of weight tensors.
        blocks: dict ``{name: number_of_blocks}``; names absent from
            ``params`` are skipped.

    Returns:
        a new dict with the extra entries.
    """
    out = dict(params)
    if not per_gate_blocks():
        return out
    for name, count in blocks.items():
        if params.get(name) is not None and count > 1:
            out[f"{name}_blocks"] = tuple(ops.split(params[name], count, axis=1))
    return out


def sequence_matmul(x, kernel):
    """``x @ kernel`` for ``x`` ``(..., D)``, computed as one 2-D matmul.

    XLA on CPU lowers a matmul whose left operand has a batch *and* a time
    axis, and whose gradient contracts over both, to a slower kernel than
    the same product on ``(batch * time, D)``: for ``(64, 100, 64) @ (64, 512)``
    the gradient of ``sum((x @ k) ** 2)`` took 17.3 ms under JAX on the
    2-core CPU, 5.3 ms reshaped (a one-off timing, 20 calls, median).
    """
    if len(x.shape) == 2:
        return ops.matmul(x, kernel)
    lead = ops.shape(x)[:-1]
    out = ops.matmul(ops.reshape(x, (-1, x.shape[-1])), kernel)
    return ops.reshape(out, (*lead, kernel.shape[-1]))


def uniform_noise(shape, dtype, seed_generator):
    """Uniform noise in [0, 1), drawn from ``seed_generator``.

    On TensorFlow this is a stateless Philox draw (fast under XLA on CPU);
    elsewhere `keras.random.uniform`.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        seed = seed_generator.next()
        noise = tf.random.stateless_uniform(
            shape, seed=tf.cast(seed, "int32"), dtype="float32", alg="philox"
        )
        return ops.cast(noise, dtype)
    return keras.random.uniform(shape, dtype=dtype, seed=seed_generator)


def concrete_bool(tensor):
    """The value of a scalar bool tensor when it has one (eager), else None.

    Lets a layer run only the branch it needs when called eagerly; inside a
    traced function (``tf.function``, ``jax.jit``) it returns None and the
    caller uses `keras.ops.cond`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tensor) if tf.executing_eagerly() else None
    if backend == "jax":
        import jax

        return None if isinstance(tensor, jax.core.Tracer) else bool(tensor)
    return bool(ops.convert_to_numpy(tensor))


def in_xla_context():
    """Whether the code being traced will be compiled by XLA (TensorFlow).

    True inside ``tf.function(jit_compile=True)`` (Keras' ``jit_compile=True``
    on the TensorFlow backend); False elsewhere and on other backends.
    """
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())
