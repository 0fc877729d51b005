"""The model zoo: preset directories (``config.json``, ``model.weights.h5``,
``metadata.json``) written and read by `save_preset` and `load_preset`."""

from keras_rnnx.zoo.preset import CONFIG_FILE
from keras_rnnx.zoo.preset import METADATA_FILE
from keras_rnnx.zoo.preset import REQUIRED_FILES
from keras_rnnx.zoo.preset import WEIGHTS_FILE
from keras_rnnx.zoo.preset import PresetError
from keras_rnnx.zoo.preset import load_preset
from keras_rnnx.zoo.preset import model_config
from keras_rnnx.zoo.preset import model_from_config
from keras_rnnx.zoo.preset import read_metadata
from keras_rnnx.zoo.preset import save_preset
