"""cuDNN dispatch for the layers whose maths is exactly cuDNN's.

The plain LSTM (`keras_rnnx.layers.LSTM` with none of its variant options) and
the GRU with ``reset_after=True`` compute what cuDNN's fused kernels compute,
with the weight layout Keras' ``backend.lstm`` / ``backend.gru`` expect
(``kernel`` / ``recurrent_kernel`` column blocks i, f, c, o and ``bias``
``(4 * units,)`` for the LSTM; z, r, h and ``bias`` ``(2, 3 * units)`` for the
GRU). On a GPU those layers hand their sequence to that fused function, as
`keras.layers.LSTM` / `keras.layers.GRU` do: on TensorFlow both (cuDNN), on
JAX the LSTM without a mask (``jax.experimental.rnn``; JAX has no cuDNN GRU
and its `backend.gru` is a scan, so the GRU runs the keras-rnnx loop). Every
other configuration, backend or device runs the keras-rnnx loop (the
XLA-compilable path). So does a call compiled by XLA (``jit_compile=True``):
cuDNN kernels do not compile with XLA, and rather than declaring itself
non-jittable (which makes Keras turn XLA off for the whole model, as
`keras.layers.LSTM` does on a GPU) the layer takes its XLA path there.

`cudnn_incompatibilities` is the single decision: a pure function from a
layer configuration to the list of reasons it cannot run on cuDNN (empty when
it can). `CudnnDispatch` is the layer mixin that adds the ``use_cudnn``
argument and the dispatch.

Example:

>>> from keras_rnnx.layers.cudnn import cudnn_incompatibilities
>>> cudnn_incompatibilities("lstm", {"units": 8})
[]
>>> cudnn_incompatibilities("gru", {"units": 8, "reset_after": False})
["reset_after=False: cuDNN's GRU applies the reset gate after the recurrent matmul (reset_after=True)"]
"""

import keras
from keras import ops
from keras import tree

from keras_rnnx.ops import keras_internals
from keras_rnnx.ops.engine import concrete_bool
from keras_rnnx.ops.engine import in_xla_context

# Constructor arguments (cell and layer) that do not change the maths of a
# step: initialisers, regularisers, constraints, input dropout (applied to the
# sequence before the fused call), seeds, and how the sequence is fed and
# returned. `tests/layers/test_cudnn.py` checks that every argument of the
# LSTM and GRU cells is either here or checked by `cudnn_incompatibilities`.
MATHS_FREE_ARGUMENTS = frozenset(
    {
        "units",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "recurrent_regularizer",
        "bias_regularizer",
        "kernel_constraint",
        "recurrent_constraint",
        "bias_constraint",
        "dropout",
        "seed",
        # Initial values of the forget-gate bias only (nothing is added at
        # call time): the bias is an ordinary trained bias afterwards.
        "unit_forget_bias",
        "forget_bias",
        "chrono_init",
        # Initialisers of weights that exist only with ineligible options.
        "peephole_initializer",
        "projection_initializer",
        # Layer arguments that Keras' fused functions take as they are.
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "zero_output_for_mask",
        "use_cudnn",
    }
)

_COMMON_CHECKS = {
    "activation": "tanh",
    "recurrent_activation": "sigmoid",
    "use_bias": True,
    "recurrent_dropout": 0.0,
    "unroll": False,
}

# Option: (value cuDNN computes, why another value is not cuDNN's maths).
_LSTM_OPTIONS = {
    "peephole": (False, "cuDNN's LSTM has no peephole connections"),
    "input_gate": (True, "cuDNN's LSTM always has an input gate"),
    "forget_gate": (True, "cuDNN's LSTM always has a forget gate"),
    "output_gate": (True, "cuDNN's LSTM always has an output gate"),
    "input_activation": (True, "cuDNN applies tanh to the candidate"),
    "output_activation": (True, "cuDNN applies tanh to the cell state before the output gate"),
    "coupled": (False, "cuDNN's LSTM has an input gate of its own, not i = 1 - f"),
    "full_gate_recurrence": (False, "cuDNN's gates see only x and h, not the previous gates"),
    "cell_clip": (None, "cuDNN does not clip the cell state"),
    "layer_norm": (False, "cuDNN has no layer normalisation"),
    "proj_units": (None, "Keras' cuDNN LSTM has no output projection"),
    "zoneout_hidden": (0.0, "cuDNN has no zoneout"),
    "zoneout_cell": (0.0, "cuDNN has no zoneout"),
}
_GRU_OPTIONS = {
    "reset_after": (
        True,
        "cuDNN's GRU applies the reset gate after the recurrent matmul "
        "(reset_after=True)",
    ),
}
_KIND_OPTIONS = {"lstm": _LSTM_OPTIONS, "gru": _GRU_OPTIONS}


def checked_arguments(kind):
    """The configuration keys `cudnn_incompatibilities` checks for ``kind``."""
    return frozenset(_COMMON_CHECKS) | frozenset(_KIND_OPTIONS[kind])


def _activation_name(value):
    if isinstance(value, str):
        return value
    if callable(value):
        value = keras.activations.serialize(value)
    if isinstance(value, dict):  # a registered or custom function
        return value.get("config", value.get("class_name"))
    return value


def cudnn_incompatibilities(kind, config):
    """Why a layer configuration cannot run on cuDNN's fused kernel.

    Args:
        kind: ``"lstm"`` (the `LSTM` family) or ``"gru"``.
        config: the layer configuration, as `get_config` returns it or as
            constructor keyword arguments; absent keys take the defaults of
            `keras_rnnx.layers.LSTM` / `GRU`. Activations may be names or
            functions.

    Returns:
        A list of reasons, one string per option that makes the maths differ
        from cuDNN's (e.g. ``"peephole=True: cuDNN's LSTM has no peephole
        connections"``); empty when the configuration is eligible.
    """
    if kind not in _KIND_OPTIONS:
        raise ValueError(
            f"Argument `kind` must be one of {sorted(_KIND_OPTIONS)}. "
            f"Received: kind={kind!r}."
        )
    reasons = []
    for key, expected in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        name = _activation_name(config.get(key, expected))
        if name != expected:
            reasons.append(f"{key}={name!r} (cuDNN uses {expected})")
    if not config.get("use_bias", True):
        reasons.append("use_bias=False: cuDNN's kernel always adds a bias")
    rate = config.get("recurrent_dropout", 0.0)
    if rate:
        reasons.append(f"recurrent_dropout={rate} > 0: cuDNN has no recurrent dropout")
    if config.get("unroll", False):
        reasons.append("unroll=True: cuDNN runs its own loop and cannot be unrolled")
    for key, (expected, why) in _KIND_OPTIONS[kind].items():
        value = config.get(key, expected)
        if value != expected:
            reasons.append(f"{key}={value!r}: {why}")
    return reasons


_CUDNN_DTYPES = ("float16", "float32", "float64")


def _gpu_available():
    """Whether the backend computes on a GPU (TensorFlow: one is visible)."""
    if keras.backend.backend() == "jax":
        import jax

        # `jax.default_device(...)` (e.g. a CPU reference computed on a GPU
        # machine) wins over the default backend.
        device = jax.config.jax_default_device
        if device is not None:
            return getattr(device, "platform", str(device)) == "gpu"
        return jax.default_backend() == "gpu"
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _right_padded_without_empty_rows(mask):
    """Scalar bool: every row is ``[True]*n + [False]*(T - n)`` with ``n > 0``.

    The masks cuDNN handles (as sequence lengths); Keras' fused functions
    assert the same condition.
    """
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    steps = ops.arange(ops.shape(mask)[1], dtype="int32")
    right_padded = ops.less(ops.expand_dims(steps, 0), ops.expand_dims(lengths, 1))
    return ops.logical_and(
        ops.all(ops.equal(mask, right_padded)), ops.all(ops.greater(lengths, 0))
    )


class CudnnDispatch:
    """Mixin of a `RecurrentLayer` whose eligible configurations can run on cuDNN.

    Subclasses set ``cudnn_kind`` (``"lstm"`` or ``"gru"``). Adds the
    constructor argument ``use_cudnn``:

    * ``"auto"`` (default): an eligible configuration (see
      `cudnn_incompatibilities`) calls Keras' fused backend function, which
      runs cuDNN on a TensorFlow GPU; when that is not possible (no GPU, the
      JAX backend, a call compiled by XLA, a mask that is not right-padded or
      has a fully masked row, a bfloat16 compute dtype) the layer runs its
      own loop. Ineligible
      configurations always run their own loop.
    * ``True``: cuDNN or an error: `ValueError` at construction naming every
      option that rules it out, or at call time when it cannot run.
    * ``False``: always the layer's own loop (XLA-compilable).
    """

    cudnn_kind = None

    def __init__(self, units, use_cudnn="auto", **kwargs):
        if not (
            use_cudnn is True
            or use_cudnn is False
            or (isinstance(use_cudnn, str) and use_cudnn == "auto")
        ):
            raise ValueError(
                "Argument `use_cudnn` must be one of 'auto', True or False. "
                f"Received: use_cudnn={use_cudnn!r}."
            )
        super().__init__(units, **kwargs)
        self.use_cudnn = use_cudnn
        self.cudnn_incompatibilities = tuple(
            cudnn_incompatibilities(
                self.cudnn_kind, {**self.cell.get_config(), "unroll": self.unroll}
            )
        )
        if use_cudnn is True and self.cudnn_incompatibilities:
            name = type(self).__name__
            reasons = "; ".join(self.cudnn_incompatibilities)
            raise ValueError(
                f"{name} with use_cudnn=True cannot run on cuDNN, whose maths "
                f"differs from this configuration: {reasons}. Pass "
                "use_cudnn='auto' (cuDNN when possible, else the keras-rnnx "
                "loop) or use_cudnn=False, or drop these options."
            )
        # The layer stays XLA-compilable (`supports_jit` is left True, unlike
        # `keras.layers.LSTM` on a GPU, which turns XLA off for the whole
        # model): a call traced for XLA takes the keras-rnnx loop.

    def fused_kernel_call(self, sequences, initial_state, mask, params):
        """Call Keras' fused ``backend.lstm`` / ``backend.gru``; ``(last, outputs, states)``."""
        fused = getattr(keras_internals, f"backend_{self.cudnn_kind}")
        extra = {"reset_after": self.cell.reset_after} if self.cudnn_kind == "gru" else {}
        return fused(
            sequences,
            *initial_state,
            mask,
            kernel=params["kernel"],
            recurrent_kernel=params["recurrent_kernel"],
            bias=params["bias"],
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            **extra,
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if tree.is_nested(mask):
            mask = mask[0]
        if self.use_cudnn is not False and not self.cudnn_incompatibilities:
            try:
                result = self._cudnn_loop(sequences, initial_state, mask, training)
            except NotImplementedError as error:
                if self.use_cudnn is True:
                    why = str(error) or (
                        "Keras' fused backend function has no cuDNN kernel here"
                    )
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}': use_cudnn=True was "
                        f"specified, but cuDNN cannot run this call ({why}). Pass "
                        "use_cudnn='auto' to fall back to the keras-rnnx loop when "
                        "cuDNN is not available, or use_cudnn=False."
                    ) from error
            else:
                return result
        return super().inner_loop(sequences, initial_state, mask, training=training)

    def _cudnn_loop(self, sequences, initial_state, mask, training):
        """The fused path; raises NotImplementedError when it cannot run."""
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "jax"):
            raise NotImplementedError(
                f"keras-rnnx dispatches to cuDNN on TensorFlow and JAX, not {backend}"
            )
        if backend == "jax" and self.cudnn_kind != "lstm":
            raise NotImplementedError(
                "JAX has a cuDNN kernel for the LSTM only (jax.experimental.rnn)"
            )
        if not _gpu_available():
            raise NotImplementedError(f"no GPU is visible to {backend}")
        if backend == "jax" and mask is not None:
            raise NotImplementedError("JAX's cuDNN LSTM takes no mask")
        if in_xla_context():
            raise NotImplementedError(
                "the call is compiled by XLA (jit_compile=True), which cannot "
                "run cuDNN kernels"
            )
        dtype = keras.backend.standardize_dtype(sequences.dtype)
        if dtype not in _CUDNN_DTYPES:
            raise NotImplementedError(f"cuDNN's kernels do not take {dtype} inputs")
        cell = self.cell
        xla_sequences = sequences
        if training and cell.dropout > 0:
            # The per-sequence input dropout mask of the keras-rnnx loop (and of
            # Keras' layers), applied before the fused call.
            dp_mask = cell.get_dropout_mask(sequences[:, 0, :])
            sequences = sequences * ops.expand_dims(dp_mask, 1)
        params = cell.get_params()

        def fused():
            result = self.fused_kernel_call(sequences, initial_state, mask, params)
            return self._as_loop_result(result, mask)

        if mask is None:
            return fused()
        mask = ops.cast(mask, "bool")
        supported = _right_padded_without_empty_rows(mask)
        concrete = concrete_bool(supported)
        if concrete is False:
            raise NotImplementedError(
                "cuDNN needs a right-padded mask without fully masked rows"
            )
        if concrete or self.use_cudnn is True:
            # use_cudnn=True in a traced function: Keras' fused function
            # asserts the mask at run time.
            return fused()
        own_loop = super().inner_loop

        def xla():
            last, outputs, states = own_loop(
                xla_sequences, initial_state, mask, training=training
            )
            return last, outputs, list(states)

        return ops.cond(supported, fused, xla)

    def _as_loop_result(self, result, mask):
        """Keras' fused outputs with the masking semantics of the keras-rnnx loop.

        With a right-padded mask cuDNN writes zeros at the padded steps and
        returns the final state as the last output. The keras-rnnx loop (like
        `keras.layers.RNN`) repeats the previous output there unless
        ``zero_output_for_mask``; going backwards the padded steps come first
        and are zeros either way.
        """
        last, outputs, states = result
        if keras.backend.backend() == "jax" and self.go_backwards and self.return_sequences:
            # Keras' JAX function returns them in input order; the loop (and
            # Keras' TensorFlow function) in processing order.
            outputs = ops.flip(outputs, axis=1)
        if mask is not None and not self.go_backwards:
            if self.zero_output_for_mask:
                last = ops.where(mask[:, -1:], last, ops.zeros_like(last))
                if not self.return_sequences:
                    outputs = ops.expand_dims(last, 1)
            elif self.return_sequences:
                outputs = ops.where(
                    ops.expand_dims(mask, -1), outputs, ops.expand_dims(last, 1)
                )
        return last, outputs, list(states)

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}
