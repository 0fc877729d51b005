"""Fixtures of the zoo tests."""

import pytest

from keras_rnnx import zoo


@pytest.fixture
def shipped_zoo_only(monkeypatch, tmp_path):
    """Names resolve to the project's zoo/ only: an empty cache, offline, no remote."""
    monkeypatch.setenv(zoo.CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setenv(zoo.OFFLINE_ENV, "1")
    monkeypatch.delenv(zoo.ZOO_DIR_ENV, raising=False)
    monkeypatch.delenv(zoo.URL_ENV, raising=False)
