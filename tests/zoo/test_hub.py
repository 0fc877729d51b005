"""The zoo hub (`list`, `fetch`, `load`) and its manifest, against a real local HTTP server.

A tiny untrained model is saved once per module as a zoo (two presets and a
``manifest.json``); each test serves it from its own ``http.server`` on
127.0.0.1 and may inject faults (a corrupted body, a truncated transfer, a
404) per file. Every call passes an explicit cache and shipped zoo, so no test
touches ``~/.keras`` or the project's ``zoo/``.
"""

import dataclasses
import functools
import hashlib
import http.server
import json
import os
import shutil
import threading
import time

import keras
import numpy as np
import pytest

from keras_rnnx import layers
from keras_rnnx import zoo
from keras_rnnx.datasets import save_vocabulary
from keras_rnnx.zoo import hub
from keras_rnnx.zoo import manifest as manifest_lib

NAME = "tiny_gru"
CHAR_NAME = "tiny_char"
VOCABULARY = ("\n", " ", "a", "b")
VERSION = 3
X = np.random.RandomState(0).rand(4, 5, 2).astype("float32")
ENV_VARS = (zoo.CACHE_ENV, zoo.ZOO_DIR_ENV, zoo.URL_ENV, zoo.OFFLINE_ENV)


# -- the zoo ------------------------------------------------------------------


def _entry(directory, version=VERSION):
    return zoo.manifest_entry(
        directory,
        version=version,
        headline={"split": "test", "metric": "mse", "value": 0.5, "published": {}},
        description=f"{directory.name}, untrained",
    )


def _write_manifest(zoo_dir, presets):
    manifest = {**manifest_lib.empty_manifest(), "presets": presets}
    zoo.write_manifest(zoo_dir / zoo.MANIFEST_FILE, manifest)
    return manifest


@dataclasses.dataclass
class Zoo:
    path: object  # the zoo directory: one directory per preset and manifest.json
    manifest: dict
    expected: np.ndarray  # the tiny_gru model's predictions on X

    @property
    def entry(self):
        return self.manifest["presets"][NAME]


@pytest.fixture(scope="module")
def source_zoo(tmp_path_factory):
    """The zoo every test serves (never modified: tests that tamper copy it)."""
    path = tmp_path_factory.mktemp("source") / "zoo"
    model = keras.Sequential([keras.Input((5, 2)), layers.GRU(3), keras.layers.Dense(1)])
    expected = keras.ops.convert_to_numpy(model.predict_on_batch(X))
    params = model.count_params()
    zoo.save_preset(path / NAME, model, {"description": "x", "task": {"name": "adding"}, "params": params})
    zoo.save_preset(
        path / CHAR_NAME,
        model,
        {"description": "a character model", "task": {"name": "text"}, "params": params},
        extra_files={hub.VOCABULARY_FILE: functools.partial(save_vocabulary, VOCABULARY)},
    )
    manifest = _write_manifest(path, {name: _entry(path / name) for name in (NAME, CHAR_NAME)})
    return Zoo(path, manifest, expected)


@pytest.fixture
def zoo_copy(source_zoo, tmp_path):
    """A modifiable copy of the source zoo."""
    return shutil.copytree(source_zoo.path, tmp_path / "zoo_copy")


@pytest.fixture
def manifest_only_zoo(source_zoo, tmp_path):
    """A shipped zoo listing the presets without holding them: names resolve, files download."""
    path = tmp_path / "manifest_only"
    path.mkdir()
    shutil.copy(source_zoo.path / zoo.MANIFEST_FILE, path)
    return path


@pytest.fixture
def empty_zoo(tmp_path):
    """A shipped zoo listing nothing: names resolve through the remote manifest."""
    path = tmp_path / "empty_zoo"
    path.mkdir()
    _write_manifest(path, {})
    return path


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.chdir(tmp_path)  # a bare name is never an existing directory by accident
    yield
    assert not (tmp_path / "keras_home").exists(), "a test used the default cache"


# -- the server ---------------------------------------------------------------


def _flip_byte(data):
    """``data`` with its middle byte changed: same size, different sha256."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _tamper(path):
    path.write_bytes(_flip_byte(path.read_bytes()))


class _ZooHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the zoo directory; records each request; injects ``server.faults``.

    ``server.faults`` maps a URL path (``"tiny_gru/config.json"``) to
    ``"corrupt"`` (same length, one byte changed), ``"truncate"`` (the full
    Content-Length, half the bytes, then the connection closes), ``"404"``,
    ``"oversize"`` (50 MB announced and sent) or ``"oversize_unsized"`` (50 MB
    without a Content-Length); ``server.sent`` counts the oversize bytes sent.
    """

    def do_GET(self):
        self.server.requests.append(self.path)
        fault = self.server.faults.get(self.path.lstrip("/"))
        if fault is None:
            return super().do_GET()
        if fault == "404":
            return self.send_error(404, "Not Found")
        if fault.startswith("oversize"):
            return self._send_oversize(sized=fault == "oversize")
        body = (self.server.root / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault == "corrupt":
            self.wfile.write(_flip_byte(body))
        elif fault == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            raise AssertionError(f"unknown fault {fault!r}")

    def _send_oversize(self, sized):
        """50 MB of junk, announced (``sized``) or delimited by closing; counts what was sent."""
        self.send_response(200)
        if sized:
            self.send_header("Content-Length", str(OVERSIZE))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"\0" * (1 << 16)
        try:
            for _ in range(OVERSIZE // len(chunk)):
                self.wfile.write(chunk)
                self.server.sent += len(chunk)
        except OSError:  # the client hung up: what the test wants
            pass

    def log_message(self, *args):
        pass


OVERSIZE = 50 * 10**6


@dataclasses.dataclass
class Server:
    url: str
    requests: list  # the paths requested, in order
    faults: dict
    httpd: object

    @property
    def sent(self):
        return self.httpd.sent

    def file_requests(self, name=NAME):
        return [path for path in self.requests if path.startswith(f"/{name}/")]


@pytest.fixture
def serve():
    """``serve(directory) -> Server``: an HTTP server on 127.0.0.1, stopped after the test."""
    running = []

    def start(directory):
        httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_ZooHandler, directory=str(directory))
        )
        httpd.daemon_threads = True
        httpd.root, httpd.requests, httpd.faults, httpd.sent = directory, [], {}, 0
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((httpd, thread))
        return Server(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests, httpd.faults, httpd)

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def server(serve, source_zoo):
    return serve(source_zoo.path)


@pytest.fixture
def remote(server, cache, manifest_only_zoo):
    """Keyword arguments that make a name resolve to a download from ``server``."""
    return dict(cache_dir=cache, zoo_dir=manifest_only_zoo, base_url=server.url, progress=False, timeout=10)


# -- helpers ------------------------------------------------------------------


def _slot(cache, source_zoo, name=NAME):
    return zoo.cache_slot(cache, name, source_zoo.manifest["presets"][name])


def _assert_predicts_like_the_original(model, source_zoo):
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.predict_on_batch(X)), source_zoo.expected)


def _assert_nothing_cached(cache):
    """No preset, no file, no hidden temporary directory anywhere under the cache."""
    if not cache.exists():
        return
    leftovers = [
        p for p in cache.rglob("*") if (p.is_file() or p.name.startswith(".")) and p.parent.name != hub._LOCKS
    ]
    assert sorted(str(p.relative_to(cache)) for p in leftovers) == []
    assert not list(cache.glob(f"{NAME}/v{VERSION}*"))


@pytest.fixture
def read_only():
    """``read_only(directory)``: chmod a tree read-only; restored after the test."""
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    changed = []

    def make(directory):
        for path in [directory, *directory.rglob("*")]:
            changed.append((path, path.stat().st_mode))
            path.chmod(0o555 if path.is_dir() else 0o444)

    yield make
    for path, mode in reversed(changed):
        path.chmod(mode)


# -- download -----------------------------------------------------------------


def test_download_by_name_verifies_every_file_and_loads(remote, cache, source_zoo, server):
    preset = zoo.fetch(NAME, **remote)

    target = _slot(cache, source_zoo)
    assert preset.source == "download" and preset.path == target and preset.name == NAME
    assert preset.entry == source_zoo.entry and preset.metadata["description"] == "x"
    assert sorted(os.listdir(target)) == sorted(source_zoo.entry["files"])
    for file_name, expected in source_zoo.entry["files"].items():
        assert zoo.sha256_file(target / file_name) == expected["sha256"]
        assert (target / file_name).stat().st_size == expected["size"]
    assert sorted(server.file_requests()) == sorted(f"/{NAME}/{f}" for f in source_zoo.entry["files"])
    assert [p.name for p in (cache / NAME).iterdir()] == [target.name]  # no staging left beside it
    _assert_predicts_like_the_original(preset.load_model(), source_zoo)


def test_second_fetch_is_a_cache_hit_without_any_request(remote, server):
    assert zoo.fetch(NAME, **remote).source == "download"
    before = len(server.requests)

    preset = zoo.fetch(NAME, **remote)

    assert preset.source == "cache"
    assert len(server.requests) == before


def test_load_downloads_and_returns_the_model(remote, source_zoo, cache):
    _assert_predicts_like_the_original(zoo.load(NAME, **remote), source_zoo)
    assert (_slot(cache, source_zoo) / zoo.WEIGHTS_FILE).is_file()


def test_a_character_preset_comes_with_its_vocabulary(remote):
    preset = zoo.fetch(CHAR_NAME, **remote)
    assert preset.vocabulary == VOCABULARY
    assert zoo.fetch(NAME, **remote).vocabulary is None


def test_a_name_only_the_remote_manifest_lists_downloads(server, cache, empty_zoo, source_zoo):
    preset = zoo.fetch(NAME, cache_dir=cache, zoo_dir=empty_zoo, base_url=server.url, progress=False)
    assert preset.source == "download" and preset.entry == source_zoo.entry
    assert f"/{zoo.MANIFEST_FILE}" in server.requests


def test_the_url_form_reads_the_remote_manifest_and_loads(server, cache, tmp_path, source_zoo):
    options = dict(cache_dir=cache, zoo_dir=tmp_path / "no_zoo", progress=False, timeout=10)

    model = zoo.load(f"{server.url}/{NAME}", **options)

    _assert_predicts_like_the_original(model, source_zoo)
    assert server.requests[0] == f"/{zoo.MANIFEST_FILE}"
    assert _slot(cache, source_zoo).is_dir()
    assert zoo.fetch(f"{server.url}/{NAME}/", **options).source == "cache"


def test_force_download_downloads_again_and_repairs_the_cache(remote, cache, server, source_zoo):
    weights = _slot(cache, source_zoo) / zoo.WEIGHTS_FILE
    zoo.fetch(NAME, **remote)
    _tamper(weights)
    before = len(server.file_requests())

    preset = zoo.fetch(NAME, force_download=True, **remote)

    assert preset.source == "download"
    assert len(server.file_requests()) == 2 * before
    assert zoo.sha256_file(weights) == source_zoo.entry["files"][zoo.WEIGHTS_FILE]["sha256"]


def test_the_environment_variables_set_the_cache_zoo_and_url(monkeypatch, server, cache, manifest_only_zoo, source_zoo):
    monkeypatch.setenv(zoo.CACHE_ENV, str(cache))
    monkeypatch.setenv(zoo.ZOO_DIR_ENV, str(manifest_only_zoo))
    monkeypatch.setenv(zoo.URL_ENV, server.url + "/")

    preset = zoo.fetch(NAME, progress=False)

    assert preset.source == "download" and preset.path == _slot(cache, source_zoo)
    assert zoo.cache_root() == cache and zoo.shipped_zoo_dir() == manifest_only_zoo


# -- failed downloads leave nothing in the cache ------------------------------


def test_a_corrupted_file_is_refused(remote, cache, server):
    server.faults[f"{NAME}/{zoo.WEIGHTS_FILE}"] = "corrupt"
    with pytest.raises(zoo.PresetError, match=r"does not match the manifest.*sha256"):
        zoo.fetch(NAME, **remote)
    _assert_nothing_cached(cache)


def test_a_truncated_transfer_is_refused(remote, cache, server):
    server.faults[f"{NAME}/{zoo.WEIGHTS_FILE}"] = "truncate"
    with pytest.raises(zoo.PresetError, match="truncated|interrupted"):
        zoo.fetch(NAME, **remote)
    _assert_nothing_cached(cache)


def test_a_missing_file_is_refused(remote, cache, server):
    server.faults[f"{NAME}/{zoo.METADATA_FILE}"] = "404"
    with pytest.raises(zoo.PresetError, match=rf"{zoo.METADATA_FILE}: HTTP 404"):
        zoo.fetch(NAME, **remote)
    _assert_nothing_cached(cache)


@pytest.mark.parametrize("fault", ["truncate", "corrupt", "404"])
def test_a_bad_remote_manifest_is_refused(server, cache, empty_zoo, fault):
    server.faults[zoo.MANIFEST_FILE] = fault
    with pytest.raises(zoo.PresetError, match=zoo.MANIFEST_FILE):
        zoo.fetch(NAME, cache_dir=cache, zoo_dir=empty_zoo, base_url=server.url, progress=False, timeout=10)
    _assert_nothing_cached(cache)


# -- offline mode -------------------------------------------------------------


def _offline(how, monkeypatch):
    """Keyword arguments turning offline mode on, by argument or environment."""
    if how == "env":
        monkeypatch.setenv(zoo.OFFLINE_ENV, "1")
        return {}
    return {"offline": True}


@pytest.mark.parametrize("how", ["argument", "env"])
def test_offline_with_nothing_cached_refuses_without_a_request(how, monkeypatch, remote, server, cache):
    offline = _offline(how, monkeypatch)
    with pytest.raises(zoo.PresetError, match="offline"):
        zoo.fetch(NAME, **remote, **offline)
    with pytest.raises(zoo.PresetError, match="Offline"):
        zoo.fetch(f"{server.url}/{NAME}", cache_dir=cache, progress=False, **offline)
    assert server.requests == []
    _assert_nothing_cached(cache)


@pytest.mark.parametrize("how", ["argument", "env"])
def test_offline_loads_a_cached_preset_without_a_request(how, monkeypatch, remote, server, source_zoo):
    zoo.fetch(NAME, **remote)
    server.requests.clear()
    offline = _offline(how, monkeypatch)

    assert zoo.fetch(NAME, **remote, **offline).source == "cache"
    _assert_predicts_like_the_original(zoo.load(NAME, **remote, **offline), source_zoo)
    assert server.requests == []


# -- a read-only cache --------------------------------------------------------


def test_a_read_only_cache_refuses_a_download_with_the_fix(remote, cache, server, read_only):
    cache.mkdir()
    read_only(cache)
    with pytest.raises(zoo.PresetError, match=rf"not writable.*{zoo.CACHE_ENV}"):
        zoo.fetch(NAME, **remote)
    assert server.requests == []
    assert list(cache.iterdir()) == []


def test_a_preset_in_a_read_only_cache_still_loads(remote, cache, server, source_zoo, read_only):
    zoo.fetch(NAME, **remote)
    read_only(cache)
    server.requests.clear()

    preset = zoo.fetch(NAME, **remote)

    assert preset.source == "cache"
    _assert_predicts_like_the_original(preset.load_model(), source_zoo)
    assert server.requests == []


# -- names and paths that are not presets -------------------------------------


def test_an_unknown_name_lists_the_known_ones_and_the_forms(remote, server, source_zoo, empty_zoo, cache):
    with pytest.raises(zoo.PresetError) as shipped:
        zoo.fetch("no_such_preset", cache_dir=cache, zoo_dir=source_zoo.path, progress=False)
    with pytest.raises(zoo.PresetError) as remote_only:
        zoo.fetch("no_such_preset", cache_dir=cache, zoo_dir=empty_zoo, base_url=server.url, progress=False)
    with pytest.raises(zoo.PresetError) as by_url:
        zoo.fetch(f"{server.url}/no_such_preset", cache_dir=cache, progress=False)
    for error in (shipped, remote_only, by_url):
        message = str(error.value)
        assert "'no_such_preset'" in message and f"Known presets: {CHAR_NAME}, {NAME}." in message
        assert "a preset name" in message and "a path to a preset directory" in message
        assert "http(s)://HOST/BASE/NAME" in message
    _assert_nothing_cached(cache)


@pytest.mark.parametrize("kind", ["empty_directory", "nonexistent"])
def test_a_path_that_is_not_a_preset_is_refused(tmp_path, cache, kind):
    path = tmp_path / kind
    if kind == "empty_directory":
        path.mkdir()
    with pytest.raises(zoo.PresetError, match=str(path)):
        zoo.fetch(str(path), cache_dir=cache, progress=False)
    _assert_nothing_cached(cache)


def test_an_empty_name_is_refused(cache):
    with pytest.raises(zoo.PresetError, match="Expected a preset name"):
        zoo.fetch("", cache_dir=cache)


def test_a_url_with_a_bad_preset_name_is_refused_before_any_request(server, cache):
    with pytest.raises(ValueError, match="lowercase letters"):
        zoo.fetch(f"{server.url}/Bad-Name", cache_dir=cache, progress=False)
    assert server.requests == []


# -- verification on every load -----------------------------------------------


def test_the_shipped_zoo_loads_by_name_without_the_cache(source_zoo, cache):
    preset = zoo.fetch(NAME, cache_dir=cache, zoo_dir=source_zoo.path, progress=False)
    assert preset.source == "zoo" and preset.path == source_zoo.path / NAME
    _assert_predicts_like_the_original(preset.load_model(), source_zoo)
    _assert_nothing_cached(cache)


def test_weights_that_differ_from_the_shipped_manifest_are_refused(zoo_copy, cache):
    _tamper(zoo_copy / NAME / zoo.WEIGHTS_FILE)
    with pytest.raises(zoo.PresetError, match=rf"{zoo.WEIGHTS_FILE} does not match the manifest"):
        zoo.load(NAME, cache_dir=cache, zoo_dir=zoo_copy, progress=False)
    _assert_nothing_cached(cache)


def test_a_file_missing_from_a_shipped_preset_is_refused(zoo_copy, cache):
    (zoo_copy / NAME / zoo.METADATA_FILE).unlink()
    with pytest.raises(zoo.PresetError, match=rf"{zoo.METADATA_FILE} is missing"):
        zoo.fetch(NAME, cache_dir=cache, zoo_dir=zoo_copy, progress=False)


def test_a_file_tampered_in_the_cache_is_refused_on_the_next_load(remote, cache, source_zoo):
    zoo.fetch(NAME, **remote)
    _tamper(_slot(cache, source_zoo) / zoo.CONFIG_FILE)
    with pytest.raises(zoo.PresetError, match=rf"{zoo.CONFIG_FILE} does not match the manifest"):
        zoo.load(NAME, **remote)


def _name_an_unregistered_class(zoo_dir):
    """Make the GRU of ``zoo_dir/NAME`` an unknown class; the manifest's hashes still match."""
    config_path = zoo_dir / NAME / zoo.CONFIG_FILE
    config = json.loads(config_path.read_text())
    gru = next(layer for layer in config["config"]["layers"] if "GRU" in layer["class_name"])
    gru["class_name"], gru["registered_name"] = "NoSuchRecurrentLayer", "keras_rnnx>NoSuchRecurrentLayer"
    config_path.write_text(json.dumps(config))
    manifest = zoo.read_manifest(zoo_dir / zoo.MANIFEST_FILE)
    manifest["presets"][NAME] = _entry(zoo_dir / NAME)
    zoo.write_manifest(zoo_dir / zoo.MANIFEST_FILE, manifest)


UNREGISTERED = r"(?s)could not rebuild the model.*NoSuchRecurrentLayer"


def test_a_config_naming_an_unregistered_class_is_refused(zoo_copy, cache):
    _name_an_unregistered_class(zoo_copy)
    with pytest.raises(zoo.PresetError, match=UNREGISTERED):
        zoo.load(NAME, cache_dir=cache, zoo_dir=zoo_copy, progress=False)
    _assert_nothing_cached(cache)


def test_a_download_naming_an_unregistered_class_is_not_cached(zoo_copy, serve, cache, tmp_path):
    _name_an_unregistered_class(zoo_copy)
    server = serve(zoo_copy)
    with pytest.raises(zoo.PresetError, match=UNREGISTERED):
        zoo.fetch(f"{server.url}/{NAME}", cache_dir=cache, zoo_dir=tmp_path / "no_zoo", progress=False)
    _assert_nothing_cached(cache)
    assert not (cache / NAME).exists()


def test_a_path_inside_a_zoo_is_verified_against_its_manifest(zoo_copy, cache, source_zoo):
    path = zoo_copy / NAME
    preset = zoo.fetch(str(path), cache_dir=cache)
    assert preset.source == "path" and preset.entry == source_zoo.entry

    _tamper(path / zoo.WEIGHTS_FILE)
    with pytest.raises(zoo.PresetError, match="does not match the manifest"):
        zoo.fetch(str(path), cache_dir=cache)
    _assert_nothing_cached(cache)


def test_a_path_with_no_manifest_beside_it_loads_unverified(source_zoo, tmp_path, cache):
    path = shutil.copytree(source_zoo.path / NAME, tmp_path / "loose" / NAME)

    preset = zoo.fetch(str(path), cache_dir=cache)

    assert preset.source == "path" and preset.entry is None and preset.name == NAME
    _assert_predicts_like_the_original(zoo.load(str(path), cache_dir=cache), source_zoo)
    _assert_nothing_cached(cache)


# -- base URLs ----------------------------------------------------------------


def test_an_invalid_base_url_is_named(empty_zoo, cache, monkeypatch):
    with pytest.raises(ValueError, match=r"'ftp://x' \(from base_url\)"):
        zoo.fetch(NAME, cache_dir=cache, zoo_dir=empty_zoo, base_url="ftp://x")
    monkeypatch.setenv(zoo.URL_ENV, "not a url")
    with pytest.raises(ValueError, match=rf"'not a url' \(from {zoo.URL_ENV}\)"):
        zoo.fetch(NAME, cache_dir=cache, zoo_dir=empty_zoo)


def test_no_base_url_nor_hub_repository_says_how_to_configure_one(cache, manifest_only_zoo):
    with pytest.raises(zoo.PresetError, match=rf"has no hub repository.*{zoo.URL_ENV}"):
        zoo.fetch(NAME, cache_dir=cache, zoo_dir=manifest_only_zoo, progress=False)
    _assert_nothing_cached(cache)


def test_an_unreachable_base_url_fails_quickly(cache, empty_zoo, manifest_only_zoo):
    options = dict(cache_dir=cache, base_url="http://127.0.0.1:1", timeout=2, progress=False)
    started = time.monotonic()
    for zoo_dir in (empty_zoo, manifest_only_zoo):  # the manifest's request, then a file's
        with pytest.raises(zoo.PresetError, match="127.0.0.1:1.*cannot connect"):
            zoo.fetch(NAME, zoo_dir=zoo_dir, **options)
    assert time.monotonic() - started < 10
    _assert_nothing_cached(cache)


# -- list and the manifest ----------------------------------------------------


def test_list_returns_the_manifest_entries_sorted_by_name(source_zoo, zoo_copy):
    manifest = zoo.read_manifest(zoo_copy / zoo.MANIFEST_FILE)
    manifest["presets"] = {name: manifest["presets"][name] for name in (NAME, CHAR_NAME)}  # unsorted
    (zoo_copy / zoo.MANIFEST_FILE).write_text(json.dumps(manifest))  # order kept, unlike write_manifest

    listed = zoo.list(zoo_dir=zoo_copy)

    assert list(listed) == [CHAR_NAME, NAME]
    assert listed == source_zoo.manifest["presets"]
    entry = listed[NAME]
    assert entry["version"] == VERSION and entry["task"] == "adding" and entry["params"] > 0
    assert entry["headline"]["metric"] == "mse" and entry["description"] == "tiny_gru, untrained"


def _without_files(manifest):
    del manifest["presets"][NAME]["files"]


def _without_weights(manifest):
    del manifest["presets"][NAME]["files"][zoo.WEIGHTS_FILE]


def _bad_file_name(manifest):
    manifest["presets"][NAME]["files"]["../escape"] = {"sha256": "0" * 64, "size": 1}


def _bad_preset_name(manifest):
    manifest["presets"]["Bad-Name"] = manifest["presets"][NAME]


BAD_MANIFESTS = {
    "wrong_format": lambda m: m.update(format="something-else"),
    "newer_format_version": lambda m: m.update(format_version=manifest_lib.MANIFEST_VERSION + 1),
    "presets_not_an_object": lambda m: m.update(presets=[]),
    "missing_files_key": _without_files,
    "missing_a_required_file": _without_weights,
    "string_version": lambda m: m["presets"][NAME].update(version="1"),
    "bad_file_name": _bad_file_name,
    "bad_preset_name": _bad_preset_name,
}


@pytest.mark.parametrize("change", sorted(BAD_MANIFESTS))
def test_list_refuses_a_bad_manifest(source_zoo, tmp_path, change):
    manifest = json.loads(json.dumps(source_zoo.manifest))
    BAD_MANIFESTS[change](manifest)
    (tmp_path / zoo.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(zoo.PresetError, match=zoo.MANIFEST_FILE):
        zoo.list(zoo_dir=tmp_path)
    with pytest.raises(zoo.PresetError):
        zoo.write_manifest(tmp_path / "out.json", manifest)
    assert not (tmp_path / "out.json").exists()


def test_list_refuses_a_malformed_manifest(tmp_path):
    (tmp_path / zoo.MANIFEST_FILE).write_text("{not json")
    with pytest.raises(zoo.PresetError, match=zoo.MANIFEST_FILE):
        zoo.list(zoo_dir=tmp_path)


def test_a_zoo_directory_without_a_manifest_uses_the_packaged_one(tmp_path):
    assert zoo.list(zoo_dir=tmp_path) == zoo.list() == dict(sorted(zoo.packaged_manifest()["presets"].items()))
    assert "jsb_lstm" in zoo.list(zoo_dir=tmp_path)


def test_manifest_entry_lists_every_visible_file_with_its_hash(source_zoo, zoo_copy):
    preset = zoo_copy / CHAR_NAME
    (preset / ".hidden").write_text("not listed")
    entry = _entry(preset, version=7)

    assert sorted(entry["files"]) == sorted([*zoo.REQUIRED_FILES, hub.VOCABULARY_FILE])
    assert entry == {**source_zoo.manifest["presets"][CHAR_NAME], "version": 7}
    for file_name, listed in entry["files"].items():
        data = (preset / file_name).read_bytes()
        assert listed == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert entry["task"] == "text" and entry["params"] == zoo.read_metadata(preset).get("params")


def test_write_manifest_round_trips_and_leaves_no_temporary_file(source_zoo, tmp_path):
    path = tmp_path / zoo.MANIFEST_FILE
    zoo.write_manifest(path, source_zoo.manifest)
    assert zoo.read_manifest(path) == source_zoo.manifest
    assert os.listdir(tmp_path) == [zoo.MANIFEST_FILE]


@pytest.mark.parametrize("name", ["", "Upper", "with-dash", "_leading", "a/b", 3])
def test_check_name_refuses_bad_names(name):
    with pytest.raises(ValueError, match="lowercase letters"):
        manifest_lib.check_name(name)


# -- issue 19, item 5: offline and cache behaviour a user can trust -------------


def test_a_preset_fetched_by_url_loads_offline_by_the_same_url(server, cache, tmp_path, source_zoo):
    options = dict(cache_dir=cache, zoo_dir=tmp_path / "no_zoo", progress=False, timeout=10)
    url = f"{server.url}/{NAME}"
    assert zoo.fetch(url, **options).source == "download"
    requests = len(server.requests)

    preset = zoo.fetch(url, offline=True, **options)

    assert preset.source == "cache" and preset.path == _slot(cache, source_zoo)
    assert len(server.requests) == requests, "offline made a request"
    _assert_predicts_like_the_original(preset.load_model(), source_zoo)


def test_a_remote_only_name_loads_offline_once_cached(server, cache, empty_zoo, source_zoo):
    options = dict(cache_dir=cache, zoo_dir=empty_zoo, base_url=server.url, progress=False)
    zoo.fetch(NAME, **options)
    requests = len(server.requests)

    assert zoo.fetch(NAME, offline=True, **options).source == "cache"
    assert len(server.requests) == requests


def test_offline_with_an_uncached_official_name_says_it_is_offline_and_how_to_fetch(cache, tmp_path):
    with pytest.raises(zoo.PresetError) as caught:
        zoo.fetch("jsb_lstm", cache_dir=cache, zoo_dir=tmp_path, offline=True)
    message = str(caught.value)
    assert "offline mode is on" in message and "rnnx zoo download jsb_lstm" in message
    assert "keras-rnnx[zoo]" in message and "Unknown preset" not in message


def test_a_url_preset_never_takes_the_slot_of_another_preset_of_the_same_name(serve, zoo_copy, source_zoo, cache, tmp_path):
    # A remote zoo whose tiny_gru has other weights than the shipped zoo's.
    other = tmp_path / "other_zoo"
    model = keras.Sequential([keras.Input((5, 2)), layers.GRU(3), keras.layers.Dense(1)])
    zoo.save_preset(other / NAME, model, {"description": "other", "task": {"name": "adding"}})
    _write_manifest(other, {NAME: _entry(other / NAME)})
    remote = serve(other)

    from_url = zoo.fetch(f"{remote.url}/{NAME}", cache_dir=cache, progress=False)
    shipped = zoo.fetch(NAME, cache_dir=cache, zoo_dir=source_zoo.path, progress=False)

    assert from_url.path != _slot(cache, source_zoo)
    assert shipped.source == "zoo" and shipped.entry == source_zoo.entry
    _assert_predicts_like_the_original(shipped.load_model(), source_zoo)
    # The shipped preset also downloads into its own slot beside the other one.
    downloaded = zoo.fetch(NAME, cache_dir=cache, zoo_dir=source_zoo.path, base_url=serve(source_zoo.path).url,
                           force_download=True, progress=False)  # fmt: skip
    assert downloaded.path == _slot(cache, source_zoo) != from_url.path
    assert zoo.fetch(f"{remote.url}/{NAME}", cache_dir=cache, offline=True).path == from_url.path


def test_concurrent_fetches_of_one_preset_in_threads_all_succeed(remote, cache, source_zoo):
    errors = []

    def fetch():
        try:
            assert zoo.fetch(NAME, force_download=True, **remote).path == _slot(cache, source_zoo)
        except BaseException as err:  # noqa: BLE001 - collected for the assertion below
            errors.append(err)

    for _ in range(6):
        threads = [threading.Thread(target=fetch) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert sorted(p.name for p in (cache / NAME).iterdir()) == [_slot(cache, source_zoo).name]


def test_concurrent_fetches_of_one_preset_in_processes_all_succeed(remote, cache, source_zoo, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from keras_rnnx import zoo; "
        "p = zoo.fetch(sys.argv[1], cache_dir=sys.argv[2], zoo_dir=sys.argv[3], base_url=sys.argv[4], "
        "progress=False, force_download=True); print(p.path)"
    )
    argv = [sys.executable, "-c", code, NAME, str(cache), str(remote["zoo_dir"]), remote["base_url"]]
    env = {**os.environ, "KERAS_BACKEND": "numpy", "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_HOME": str(tmp_path / "child_home")}
    processes = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(3)]
    results = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, results):
        assert process.returncode == 0, err.decode()[-2000:]
        assert out.decode().strip() == str(_slot(cache, source_zoo))


@pytest.mark.parametrize("fault", ["oversize", "oversize_unsized"])
def test_a_download_stops_as_soon_as_a_file_outgrows_its_manifest_size(remote, cache, server, fault):
    server.faults[f"{NAME}/{zoo.CONFIG_FILE}"] = fault
    with pytest.raises(zoo.PresetError, match="manifest"):
        zoo.fetch(NAME, **remote)
    assert server.sent < OVERSIZE / 5, f"{server.sent} bytes were sent before the download stopped"
    _assert_nothing_cached(cache)


def test_a_bare_name_is_a_name_even_when_a_directory_of_that_name_is_here(source_zoo, zoo_copy, cache, tmp_path):
    # tmp_path is the working directory: a tampered tiny_gru folder sits in it.
    local = shutil.copytree(zoo_copy / NAME, tmp_path / NAME)
    _tamper(local / zoo.WEIGHTS_FILE)

    preset = zoo.fetch(NAME, cache_dir=cache, zoo_dir=source_zoo.path, progress=False)
    assert preset.source == "zoo" and preset.path == source_zoo.path / NAME
    assert "from the zoo directory" in preset.describe() and "verified against the manifest" in preset.describe()
    # The folder itself loads only as a path, said so.
    assert zoo.fetch(f"./{NAME}", cache_dir=cache).source == "path"
    shutil.copytree(zoo_copy / NAME, tmp_path / "not_listed")
    with pytest.raises(zoo.PresetError, match=r"Unknown preset 'not_listed'.*\./not_listed"):
        zoo.fetch("not_listed", cache_dir=cache, zoo_dir=source_zoo.path)


@pytest.mark.parametrize("text", ["s3://bucket/preset", "kaggle://owner/model", "ftp://host/zoo/x", "gs://b/p"])
def test_an_unknown_scheme_is_named(text, cache):
    with pytest.raises(zoo.PresetError, match=r"unknown scheme"):
        zoo.fetch(text, cache_dir=cache)
    _assert_nothing_cached(cache)


def test_downloaded_presets_are_readable_by_others_as_the_umask_says(remote, cache, source_zoo):
    old = os.umask(0o022)
    try:
        path = zoo.fetch(NAME, **remote).path
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o755
