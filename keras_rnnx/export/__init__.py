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
