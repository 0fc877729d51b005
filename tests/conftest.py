"""Test configuration shared by the whole suite.

The layer tests (``tests/layers``) run twice in ``make test``: on the
TensorFlow backend and again with ``KERAS_BACKEND=jax``. Tests that need
TensorFlow itself (its kernels, SavedModel export, ``jit_compile`` through
``tf.function``) carry the ``tf_only`` marker and are skipped on other backends.
Tests whose subject does not depend on the backend (argument checks, the
float16 policy, the unmasked cell-by-hand comparison, which the NumPy
reference tests cover on JAX) carry ``one_backend``: they run on the
TensorFlow pass only, which keeps ``make test`` short. The per-case layer
tests repeat on JAX for `tests.layers.harness.SECOND_BACKEND_CASES` (one case
per code path of the engine). Real multi-process tests carry ``slow`` and run
in ``make test-slow`` (CI runs both).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def pytest_configure(config):
    config.addinivalue_line("markers", "tf_only: needs the TensorFlow backend")
    config.addinivalue_line(
        "markers", "one_backend: backend-independent; runs on the TensorFlow pass only"
    )


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason="needs the TensorFlow backend")
    once = pytest.mark.skip(reason="backend-independent: run on the TensorFlow pass")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)
        elif "one_backend" in item.keywords:
            item.add_marker(once)


@pytest.fixture(autouse=True)
def _clean_keras_state():
    """Each test starts from float32, a fixed seed and a fresh name scope."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    keras.backend.clear_session()
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.RandomState(0)
