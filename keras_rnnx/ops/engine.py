"""The sequence engine: one time loop shared by every keras-rnnx layer.

A keras-rnnx layer splits each step into two parts:

1. an *input projection* that depends only on ``x_t`` (``x_t @ W + b`` for every
   gate at once, plus any per-step noise); it is computed for **all time steps in
   one matmul** before the loop, and
2. a *recurrence* that depends on the previous state (one fused ``h @ U`` per
   step and the elementwise gate maths).

`run_loop` runs part 2 over the pre-projected sequence with the backend's own
recurrent loop (`tf.while_loop` on TensorFlow, `lax.scan` on JAX), which
implements masking (any padding side, fully masked rows), `go_backwards`,
`unroll` and `zero_output_for_mask` exactly as `keras.layers.RNN` does. The loop
is XLA-compilable and never synchronises with the host.
"""

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
            inputs (batch-major).
        initial_state: list of tensors ``(batch, state_size_k)``.
        mask: optional boolean tensor ``(batch, timesteps)``.
        go_backwards, unroll, zero_output_for_mask, return_sequences: as in
            `keras.layers.RNN`.

    Returns:
        ``(last_output, outputs, final_states)`` as `keras.layers.RNN` does.
    """
    return backend_rnn(
        step_fn,
        projected,
        list(initial_state),
        go_backwards=go_backwards,
        mask=mask,
        unroll=unroll,
        input_length=projected.shape[1],
        zero_output_for_mask=zero_output_for_mask,
        return_all_outputs=return_sequences,
    )
