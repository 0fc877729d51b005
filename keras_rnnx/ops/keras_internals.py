"""The pieces of Keras that keras-rnnx needs but Keras does not export.

Kept in one place, the only module of the package that imports private Keras
code, so that a Keras upgrade that moves them breaks here, loudly, and is
covered by ``tests/test_architecture.py``.

* ``backend_rnn``: the backend's recurrent loop (`tf.while_loop` / `lax.scan`)
  behind `keras.layers.RNN`, with Keras' masking semantics.
* ``backend_lstm``, ``backend_gru``: the backend's fused LSTM / GRU functions
  that `keras.layers.LSTM` / `keras.layers.GRU` call (cuDNN on a TensorFlow
  GPU); they raise ``NotImplementedError`` where they cannot run.
* ``DropoutRNNCell``: the mixin `keras.layers.RNN` looks for (``isinstance``) to
  draw dropout masks once per sequence, before the loop (needed on JAX).
"""

from keras.src.backend import gru as backend_gru  # noqa: F401
from keras.src.backend import lstm as backend_lstm  # noqa: F401
from keras.src.backend import rnn as backend_rnn  # noqa: F401
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # noqa: F401
