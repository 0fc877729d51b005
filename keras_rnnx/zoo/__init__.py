"""The model zoo.

- `list`, `fetch`, `load`: find a preset by name, path, ``hf://`` URI or URL,
  download it into the cache with verified checksums, and load it as a Keras
  model (`keras_rnnx.zoo.hub`); `push`: publish a preset to the Hugging Face
  Hub (`keras_rnnx.zoo.hf`).
- `save_preset`, `load_preset`: the preset directory format
  (``config.json``, ``model.weights.h5``, ``metadata.json``;
  `keras_rnnx.zoo.preset`).
- `manifest_entry`, `read_manifest`, `write_manifest`, `packaged_manifest`:
  the manifest, shipped as ``keras_rnnx/zoo/manifest.json``
  (`keras_rnnx.zoo.manifest`).
"""

from keras_rnnx.zoo.hub import CACHE_ENV
from keras_rnnx.zoo.hub import OFFLINE_ENV
from keras_rnnx.zoo.hub import URL_ENV
from keras_rnnx.zoo.hub import ZOO_DIR_ENV
from keras_rnnx.zoo.hub import ZooPreset
from keras_rnnx.zoo.hub import cache_root
from keras_rnnx.zoo.hub import fetch
from keras_rnnx.zoo.hub import list  # noqa: A004
from keras_rnnx.zoo.hub import load
from keras_rnnx.zoo.hub import push
from keras_rnnx.zoo.hub import shipped_zoo_dir
from keras_rnnx.zoo.hf import HubRef
from keras_rnnx.zoo.hf import parse_uri
from keras_rnnx.zoo.hub import cache_slot
from keras_rnnx.zoo.hub import zoo_package_dir
from keras_rnnx.zoo.manifest import MANIFEST_FILE
from keras_rnnx.zoo.manifest import PACKAGED_MANIFEST
from keras_rnnx.zoo.manifest import packaged_manifest
from keras_rnnx.zoo.manifest import manifest_entry
from keras_rnnx.zoo.manifest import read_manifest
from keras_rnnx.zoo.manifest import sha256_file
from keras_rnnx.zoo.manifest import write_manifest
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
