"""The two pieces of Keras that keras-rnnx needs but Keras does not export.

Kept in one place so that a Keras upgrade that moves them breaks here, loudly,
and is covered by ``tests/test_keras_internals.py``.

* ``backend_rnn``: the backend's recurrent loop (`tf.while_loop` / `lax.scan`)
  behind `keras.layers.RNN`, with Keras' masking semantics.
* ``DropoutRNNCell``: the mixin `keras.layers.RNN` looks for (``isinstance``) to
  draw dropout masks once per sequence, before the loop (needed on JAX).
"""

from keras.src.backend import rnn as backend_rnn  # noqa: F401
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # noqa: F401
