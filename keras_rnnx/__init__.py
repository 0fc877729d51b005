"""keras-rnnx: recurrent layers for Keras 3 (LSTM variants, GRU, MUT1-3, ...)."""

from keras_rnnx import layers
from keras_rnnx import ops
from keras_rnnx.version import __version__
