"""Fixtures of the dataset tests: the shared data files and prepared builders.

The real data sets are read from ``../shared/data`` (see its README); nothing
here touches the network. Builders are prepared once per session in a
temporary TFDS ``data_dir``.
"""

import os

import keras
import pytest

SHARED_DATA = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
)
JSB_DIR = os.path.join(SHARED_DATA, "jsb_chorales")
JSB_FILE = os.path.join(JSB_DIR, "jsb-chorales-quarter.json")
SHAKESPEARE_FILE = os.path.join(SHARED_DATA, "tinyshakespeare", "input.txt")


@pytest.fixture(autouse=True)
def _clean_keras_state():
    """Overrides the suite-wide fixture of ``tests/conftest.py`` for this folder.

    These tests build at most a tiny Keras model, so they keep the float32
    policy and the fixed seed but skip ``keras.backend.clear_session()``,
    whose full ``gc.collect()`` costs about 0.6 s per test once TensorFlow and
    TFDS are loaded.
    """
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


def _require(path):
    if not os.path.exists(path):
        pytest.skip(f"shared data file {path} is not on this machine")
    return path


@pytest.fixture(scope="session")
def jsb_file():
    return _require(JSB_FILE)


@pytest.fixture(scope="session")
def shakespeare_file():
    return _require(SHAKESPEARE_FILE)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """One TFDS data_dir for the session: each builder is prepared once."""
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def jsb_builder(data_dir, jsb_file):
    """JSB Chorales built the way the brief asks: through a manual_dir."""
    import tensorflow_datasets as tfds

    from keras_rnnx.datasets import JsbChorales

    builder = JsbChorales(data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.path.dirname(jsb_file))
    )
    return builder


@pytest.fixture(scope="session")
def jsb_task(data_dir, jsb_builder, jsb_file):
    from keras_rnnx.datasets import get_task

    return get_task("jsb_chorales", data_dir=data_dir, path=jsb_file)


@pytest.fixture(scope="session")
def text_task(data_dir, shakespeare_file):
    from keras_rnnx.datasets import get_task

    return get_task("text", data_dir=data_dir, path=shakespeare_file)
