"""Checks and helpers shared by the TFLite and ONNX exporters."""

import dataclasses
import os

import keras
import numpy as np

FUSED_CHOICES = ("auto", True, False)


@dataclasses.dataclass
class ExportResult:
    """What an export wrote and how each recurrent layer was exported.

    Attributes:
        path: the file written (None when only bytes were asked for).
        format: ``"tflite"`` or ``"onnx"``.
        size_bytes: size of the exported model.
        fused: names of the layers exported as a fused op.
        loops: ``{layer name: reason}`` for the recurrent layers exported as
            a loop, with the reason they were not fused.
        ops: the op types in the exported graph (all subgraphs), sorted.
        content: the serialized model (bytes).
    """

    path: object
    format: str
    size_bytes: int
    fused: list
    loops: dict
    ops: list
    content: bytes = dataclasses.field(repr=False, default=b"")


def check_fused(fused):
    if not any(fused is c or (isinstance(fused, str) and fused == c) for c in FUSED_CHOICES):
        raise ValueError(
            "Argument `fused` must be 'auto' (fuse what can be fused, loop the "
            f"rest), True (fail unless every recurrent layer fuses) or False "
            f"(loop everywhere). Received: fused={fused!r}."
        )
    return fused


def check_backend(exporter):
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"{exporter} traces the model with TensorFlow, but the Keras backend "
            f"is {keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow before "
            "importing keras (the weights load the same on any backend)."
        )


def check_model(model, exporter):
    """A built `keras.Model` with known inputs, else a clear ValueError."""
    check_backend(exporter)
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"{exporter} exports a keras.Model; received {type(model).__name__}. "
            "Wrap a layer in a model first, e.g. keras.Sequential([keras.Input("
            "(None, features)), layer])."
        )
    if not model.built:
        raise ValueError(
            f"{exporter}: model '{model.name}' is not built, so its input shapes "
            "and weights are unknown. Call it once on data or build it with "
            "keras.Input (e.g. keras.Sequential([keras.Input((None, 16)), ...]))."
        )
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"{exporter}: model '{model.name}' has no symbolic inputs (a subclassed "
            "model, or a Sequential built without keras.Input). Build it as a "
            "functional or Sequential model that starts with keras.Input."
        )
    return list(inputs)


def write_bytes(path, content):
    if path is None:
        return None
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(content)
    return path


def sample_inputs(model_inputs, batch_size=2, timesteps=5, seed=0):
    """Random inputs for a verification run: normal floats, zeros for ints."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model_inputs:
        shape = [batch_size if i == 0 and d is None else (timesteps if d is None else d)
                 for i, d in enumerate(tensor.shape)]
        dtype = np.dtype(keras.backend.standardize_dtype(tensor.dtype))
        if np.issubdtype(dtype, np.floating):
            arrays.append(rng.standard_normal(shape).astype(dtype))
        else:
            arrays.append(np.zeros(shape, dtype))
    return arrays


def check_close(name, got, expected, atol):
    """Raise RuntimeError if ``got`` is not finite or differs from ``expected``."""
    for index, (g, e) in enumerate(zip(got, expected)):
        g = np.asarray(g)
        e = np.asarray(e)
        if g.shape != e.shape:
            raise RuntimeError(
                f"{name}: output {index} has shape {g.shape} in the exported model "
                f"but {e.shape} in Keras. Please report this with the model's config."
            )
        if not np.all(np.isfinite(g)) and np.all(np.isfinite(e)):
            raise RuntimeError(
                f"{name}: the exported model returns NaN/Inf (output {index}) where "
                "Keras returns finite values. The file was not written."
            )
        diff = float(np.max(np.abs(g - e))) if g.size else 0.0
        if diff > atol:
            raise RuntimeError(
                f"{name}: output {index} of the exported model differs from Keras by "
                f"{diff:.3g} (tolerance {atol:g}). The file was not written; "
                "pass verify=False to write it anyway."
            )
