"""Untrusted preset files: each damage gets a PresetError naming the file, never a
raw traceback, an unbounded allocation or a silently wrong figure (issue 20, items
6-8 and 15 on the preset side; the layers' own bounds are tested in tests/layers)."""

import json
import os

import keras
import numpy as np
import pytest

from keras_rnnx import layers
from keras_rnnx import zoo
from keras_rnnx.zoo import preset as preset_lib


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = keras.Sequential([keras.Input((5, 2)), layers.GRU(3), keras.layers.Dense(1)])
    metadata = {"description": "x", "params": model.count_params(), "task": {"name": "adding", "options": {"timesteps": 5, "test_size": 10, "seed": 2**40}}}
    return zoo.save_preset(tmp_path_factory.mktemp("p") / "tiny", model, metadata)


@pytest.fixture
def copy(saved, tmp_path):
    import shutil

    return shutil.copytree(saved, tmp_path / "tiny")


def _edit_metadata(path, change):
    metadata = json.loads((path / zoo.METADATA_FILE).read_text())
    change(metadata)
    (path / zoo.METADATA_FILE).write_text(json.dumps(metadata))


def test_a_weights_file_with_a_flipped_byte_is_a_preset_error(copy):
    weights = copy / zoo.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[2000] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(zoo.PresetError, match=zoo.WEIGHTS_FILE):
        zoo.load_preset(copy)
    with pytest.raises(zoo.PresetError, match=zoo.WEIGHTS_FILE):
        zoo.load(f"{copy}")


@pytest.mark.parametrize("name", [zoo.METADATA_FILE, zoo.CONFIG_FILE])
def test_deeply_nested_json_is_refused_before_parsing(copy, name):
    (copy / name).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(zoo.PresetError, match="nested 100000 levels"):
        zoo.load_preset(copy)


def test_an_oversized_json_file_is_refused_unread(copy):
    with open(copy / zoo.CONFIG_FILE, "wb") as file:
        file.truncate(preset_lib.MAX_JSON_BYTES + 1)
    with pytest.raises(zoo.PresetError, match="over the"):
        zoo.load_preset(copy)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: m.update(format_version=True), "format_version"),
        (lambda m: m.update(format_version=-5), "format_version"),
        (lambda m: m.update(format_version=0), "format_version"),
        (lambda m: m.update(params=-1), "params"),
        (lambda m: m.update(params="3"), "params"),
        (lambda m: m.update(metrics={"test": {"mse": "low"}}), "metrics"),
        (lambda m: m.update(task=["adding"]), "task"),
        (lambda m: m["task"]["options"].update(test_size=10**12), "test_size"),
        (lambda m: m["task"]["options"].update(timesteps=10**6, test_size=10**6), "test_size"),
    ],
)
def test_metadata_is_checked_against_its_schema(copy, change, match):
    _edit_metadata(copy, change)
    with pytest.raises(zoo.PresetError, match=match):
        zoo.read_metadata(copy)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_metadata_are_refused(copy, constant):
    text = (copy / zoo.METADATA_FILE).read_text().replace('"params": ', f'"params": {constant}, "was": ')
    (copy / zoo.METADATA_FILE).write_text(text)
    with pytest.raises(zoo.PresetError, match="finite numbers"):
        zoo.read_metadata(copy)


def test_a_large_seed_is_not_a_size(saved):
    assert zoo.read_metadata(saved)["task"]["options"]["seed"] == 2**40


def test_preset_directories_follow_the_umask(tmp_path):
    model = keras.Sequential([keras.Input((5, 2)), layers.GRU(3)])
    old = os.umask(0o022)
    try:
        path = zoo.save_preset(tmp_path / "shared", model, {"description": "x"})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o755
    assert (path / zoo.WEIGHTS_FILE).stat().st_mode & 0o777 == 0o644


def test_a_file_where_the_cache_wants_a_folder_is_a_preset_error(tmp_path, monkeypatch):
    # A read-only cache slot (as root, a regular file in the folder's place does the same).
    import http.server
    import threading
    import functools

    model = keras.Sequential([keras.Input((5, 2)), layers.GRU(3)])
    served = tmp_path / "served"
    zoo.save_preset(served / "tiny", model, {"description": "x"})
    entry = zoo.manifest_entry(served / "tiny", version=1, headline={"split": "test", "metric": "mse", "value": 0.0, "published": {}}, description="x")
    zoo.write_manifest(served / zoo.MANIFEST_FILE, {"format": "keras-rnnx-zoo", "format_version": 1, "presets": {"tiny": entry}})
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny").write_text("in the way")
    try:
        with pytest.raises(zoo.PresetError, match=r"Cannot write the preset into .*cache/tiny"):
            zoo.fetch(f"http://127.0.0.1:{server.server_address[1]}/tiny", cache_dir=cache, progress=False, force_download=True)
    finally:
        server.shutdown()
        server.server_close()
    np.testing.assert_equal((cache / "tiny").read_text(), "in the way")
