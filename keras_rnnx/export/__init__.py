"""Deployment exports of Keras models containing keras-rnnx layers.

* `to_onnx(model, path)`: ONNX (opset 17); LSTM-family and GRU layers become
  the fused ONNX ``LSTM`` / ``GRU`` operators, the other layers ``Loop`` s.
* `to_tflite(model, path)`: TensorFlow Lite with builtin ops only (no Flex);
  every layer a ``WHILE`` loop with a dynamic batch, or, with a fixed
  ``batch_size``, the LSTM family as ``UNIDIRECTIONAL_SEQUENCE_LSTM``.
* `to_onnx_step`, `to_tflite_step`: one step of one layer, states in and out,
  for streaming one frame at a time.
* `fusion_blockers(layer, target)`: why a layer cannot be a fused op.

See ``docs/deployment.md``. The exporters need the TensorFlow backend (``KERAS_BACKEND=tensorflow``).
ONNX needs ``onnx``, ``onnxruntime`` and ``tf2onnx``, imported on first use.
"""

from keras_rnnx.export._common import ExportResult
from keras_rnnx.export.fusion import fusion_blockers
from keras_rnnx.export.streaming import initial_states
from keras_rnnx.export.streaming import to_onnx_step
from keras_rnnx.export.streaming import to_tflite_step
from keras_rnnx.export.tflite_export import to_tflite


def to_onnx(model, path=None, **kwargs):
    """`keras_rnnx.export.onnx_export.to_onnx` (imports onnx on first use)."""
    from keras_rnnx.export.onnx_export import to_onnx as _to_onnx

    return _to_onnx(model, path, **kwargs)


FORMATS = {"tflite": to_tflite, "onnx": to_onnx}
_SUFFIXES = {".tflite": "tflite", ".onnx": "onnx"}


def export(model, path, format=None, **kwargs):  # noqa: A002 - Keras' name
    """`to_tflite` or `to_onnx` by ``format``, or by ``path``'s suffix.

    ``format`` is ``"tflite"`` or ``"onnx"``; None reads it from ``path``
    (``.tflite``, ``.onnx``). Anything else raises `ValueError` listing them.
    """
    import os

    if format is None:
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        format = _SUFFIXES.get(suffix)
        if format is None:
            raise ValueError(
                f"Cannot tell the export format from the path {os.fspath(path)!r}: "
                f"name it *.tflite or *.onnx, or pass format= one of {sorted(FORMATS)}."
            )
    if not isinstance(format, str) or format.lower() not in FORMATS:
        raise ValueError(
            f"Unknown export format {format!r}; expected one of {sorted(FORMATS)}."
        )
    return FORMATS[format.lower()](model, path, **kwargs)
