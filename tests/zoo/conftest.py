"""Fixtures of the zoo tests."""

import pytest

from keras_rnnx import zoo
from tests.zoo.loopback_hub import LoopbackHub


@pytest.fixture
def shipped_zoo_only(monkeypatch, tmp_path):
    """Names resolve to the project's zoo/ only: an empty cache, offline, no remote."""
    monkeypatch.setenv(zoo.CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setenv(zoo.OFFLINE_ENV, "1")
    monkeypatch.delenv(zoo.ZOO_DIR_ENV, raising=False)
    monkeypatch.delenv(zoo.URL_ENV, raising=False)


@pytest.fixture
def hf_client_env(monkeypatch, tmp_path):
    """The hub client kept off the real Hub: no Xet, no telemetry, no token, no progress bars.

    `huggingface_hub.constants` read the environment when it was imported, so the
    in-process client is configured through its attributes; the environment
    variables are set too, for subprocesses. ``HF_HOME`` is private to the test.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars

    settings = {"HF_HUB_DISABLE_XET": True, "HF_HUB_DISABLE_TELEMETRY": True, "HF_HUB_OFFLINE": False}
    for name, value in settings.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    for name in ("HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with disable_progress_bars():
        yield


@pytest.fixture
def loopback_hub(hf_client_env, monkeypatch):
    """A `LoopbackHub` that ``HF_ENDPOINT`` points at, as keras-rnnx reads it per call."""
    with LoopbackHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub
