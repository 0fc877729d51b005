"""keras-rnnx-zoo: the official keras-rnnx presets as package data.

One directory per preset (``config.json``, ``model.weights.h5``,
``metadata.json``, model card, plots). keras-rnnx finds this package without
importing it and verifies every file against the manifest that ships inside
keras-rnnx (``keras_rnnx/zoo/manifest.json``); nothing here is code to run.
"""

import pathlib

__version__ = "0.1.0"
PRESETS_DIR = pathlib.Path(__file__).resolve().parent
