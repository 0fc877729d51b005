"""keras-rnnx: recurrent layers for Keras 3 (LSTM variants, GRU, MUT1-3, ...).

``keras_rnnx.layers`` and ``keras_rnnx.ops`` load with the package; the
subpackages that pull in heavier dependencies (TensorFlow Datasets,
keras-tuner) load on first use: ``keras_rnnx.datasets``, ``.training``,
``.zoo`` and ``.tuner``.
"""

import importlib

from keras_rnnx import layers
from keras_rnnx import ops
from keras_rnnx.version import __version__

_ON_FIRST_USE = ("datasets", "export", "training", "tuner", "zoo")


def __getattr__(name):
    if name in _ON_FIRST_USE:
        return importlib.import_module(f"keras_rnnx.{name}")
    raise AttributeError(f"module 'keras_rnnx' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_ON_FIRST_USE])
