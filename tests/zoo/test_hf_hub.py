"""Presets on a hub: ``hf://`` URIs, official names through the hub, ``rnnx zoo push``
and the release script, against `LoopbackHub` on 127.0.0.1 with the real, unmodified
``huggingface_hub`` client (issue 19, items 2-6).

Every test gets its own hub, cache (``cache_dir``), ``HF_HOME`` and ``KERAS_HOME``;
the client never reaches the real Hub (``hf_client_env``).
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_rnnx import layers
from keras_rnnx import zoo
from keras_rnnx.zoo import hf
from tests.cli_runner import run_cli
from tests.zoo.loopback_hub import LoopbackHub

ROOT = pathlib.Path(__file__).resolve().parents[2]
X = np.random.RandomState(1).rand(3, 5, 2).astype("float32")
REPO = "someone/tiny_gru"


def _predict(model):
    return keras.ops.convert_to_numpy(model.predict_on_batch(X))


def _preset(directory, seed=0, card="# A tiny GRU\n\nUntrained.\n"):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((5, 2)), layers.GRU(3), keras.layers.Dense(1)])
    metadata = {
        "description": "a tiny GRU",
        "task": {"name": "adding", "options": {"timesteps": 5}},
        "model": {"cell": "gru"},
        "params": model.count_params(),
        "metrics": {"test": {"mse": 0.25}, "validation": {"mse": 0.5}},
    }
    zoo.save_preset(directory, model, metadata, extra_files={"MODEL_CARD.md": card})
    return _predict(model)


@pytest.fixture
def tiny(tmp_path):
    """A preset directory and its predictions on X."""
    path = tmp_path / "presets" / "tiny_gru"
    return path, _preset(path)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.chdir(tmp_path)
    for name in (zoo.CACHE_ENV, zoo.ZOO_DIR_ENV, zoo.URL_ENV, zoo.OFFLINE_ENV):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


def _official_zoo(tmp_path, preset_dir, hub_entry):
    """A zoo directory whose own manifest lists ``tiny_gru`` with ``hub_entry``, holding no files."""
    entry = zoo.manifest_entry(
        preset_dir,
        version=1,
        headline={"split": "test", "metric": "mse", "value": 0.25, "published": {}},
        description="a tiny GRU",
    )
    entry["hub"] = hub_entry
    directory = tmp_path / "manifest_only"
    directory.mkdir(exist_ok=True)
    zoo.write_manifest(directory / zoo.MANIFEST_FILE, {**zoo.manifest.empty_manifest(), "presets": {"tiny_gru": entry}})
    return directory


# -- URIs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri, ref",
    [
        ("hf://keras-rnnx/jsb_lstm", hf.HubRef("keras-rnnx/jsb_lstm")),
        ("hf://Some.One/my-model_2@v1.0", hf.HubRef("Some.One/my-model_2", "v1.0")),
        ("hf://a/b@" + "0" * 40, hf.HubRef("a/b", "0" * 40)),
    ],
)
def test_hub_uris_parse(uri, ref):
    assert zoo.parse_uri(uri) == ref and ref.uri == uri


@pytest.mark.parametrize(
    "uri, match",
    [
        ("hf://no-owner", "malformed hub repository id"),
        ("hf://a/b/c", "malformed hub repository id"),
        ("hf://-a/b", "malformed hub repository id"),
        ("hf://a--x/b", "malformed hub repository id"),
        ("hf://a/b@", "nothing after '@'"),
        ("hf://a/b@..", "not a branch, tag or commit"),
    ],
)
def test_malformed_hub_uris_are_named_with_the_fix(uri, match, cache):
    with pytest.raises(zoo.PresetError, match=match) as caught:
        zoo.fetch(uri, cache_dir=cache)
    assert uri in str(caught.value)
    assert not cache.exists()


# -- load by URI ----------------------------------------------------------------


def test_a_pushed_preset_loads_by_uri_verified_by_the_hubs_hashes(loopback_hub, tiny, cache):
    path, expected = tiny
    ref = zoo.push(str(path), f"hf://{REPO}")

    files = loopback_hub.files(REPO)
    assert ref.revision == loopback_hub.repos[REPO]["refs"]["main"]
    assert set(files) == set(os.listdir(path)) | {"README.md"}
    for name in os.listdir(path):
        assert files[name] == (path / name).read_bytes()

    preset = zoo.fetch(f"hf://{REPO}", cache_dir=cache)
    assert preset.source == "hub" and preset.entry is None and preset.name == f"hf://{REPO}"
    assert preset.origin == f"hf://{REPO}@{ref.revision}"
    assert "verified against the hub's hashes (not in the manifest)" in preset.describe()
    np.testing.assert_allclose(_predict(preset.load_model()), expected, rtol=1e-6)
    assert str(preset.path).startswith(str(cache / "hub"))


def test_the_hub_readme_carries_the_hubs_metadata_header_and_the_card(loopback_hub, tiny):
    path, _ = tiny
    zoo.push(str(path), f"hf://{REPO}")
    readme = loopback_hub.readme(REPO)
    header, card = readme.split("---\n", 2)[1:]
    assert "library_name: keras-rnnx" in header and '- "keras"' in header and '- "gru"' in header
    assert 'datasets:\n- "adding"' in header and 'metrics:\n- "mse"' in header
    assert "model-index:" in header and "value: 0.25" in header and 'split: "test"' in header
    assert card.strip() == "# A tiny GRU\n\nUntrained."


def test_a_pinned_revision_loads_the_old_files_after_a_new_push(loopback_hub, tiny, cache, tmp_path):
    path, first = tiny
    old = zoo.push(str(path), f"hf://{REPO}")
    second = _preset(tmp_path / "v2" / "tiny_gru", seed=7)
    new = zoo.push(str(tmp_path / "v2" / "tiny_gru"), f"hf://{REPO}")
    assert old.revision != new.revision

    np.testing.assert_allclose(_predict(zoo.load(f"hf://{REPO}@{old.revision}", cache_dir=cache)), first, rtol=1e-6)
    np.testing.assert_allclose(_predict(zoo.load(f"hf://{REPO}", cache_dir=cache)), second, rtol=1e-6)
    assert not np.allclose(first, second)


def test_a_hub_preset_once_cached_loads_offline_by_the_same_uri(loopback_hub, tiny, cache, monkeypatch):
    path, expected = tiny
    zoo.push(str(path), f"hf://{REPO}")
    zoo.fetch(f"hf://{REPO}", cache_dir=cache)
    served = len(loopback_hub.requests)

    for how in ({"offline": True}, {}):
        if not how:
            monkeypatch.setenv(zoo.OFFLINE_ENV, "1")
        preset = zoo.fetch(f"hf://{REPO}", cache_dir=cache, **how)
        np.testing.assert_allclose(_predict(preset.load_model()), expected, rtol=1e-6)
    assert len(loopback_hub.requests) == served, "offline made a request"


def test_a_hub_file_altered_in_the_cache_is_refused(loopback_hub, tiny, cache):
    path, _ = tiny
    zoo.push(str(path), f"hf://{REPO}")
    preset = zoo.fetch(f"hf://{REPO}", cache_dir=cache)
    blob = (preset.path / zoo.WEIGHTS_FILE).resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(zoo.PresetError, match="does not match the hash the hub published"):
        zoo.fetch(f"hf://{REPO}", cache_dir=cache, offline=True)


def test_keras_load_model_of_the_uri_gives_the_same_model(loopback_hub, tiny, tmp_path):
    path, expected = tiny
    zoo.push(str(path), f"hf://{REPO}")
    np.save(tmp_path / "x.npy", X)
    code = (
        "import sys, keras, numpy as np, keras_rnnx; "
        f"m = keras.saving.load_model('hf://{REPO}'); "
        f"np.save(sys.argv[1], keras.ops.convert_to_numpy(m.predict_on_batch(np.load({str(tmp_path / 'x.npy')!r}))))"
    )
    env = {**os.environ, "HF_ENDPOINT": loopback_hub.endpoint, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "y.npy")], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6)


# -- official names through the hub -----------------------------------------------


def test_an_official_name_not_found_locally_comes_from_its_pinned_hub_revision(loopback_hub, tiny, cache, tmp_path):
    path, expected = tiny
    pinned = zoo.push(str(path), "hf://keras-rnnx/tiny_gru")
    zoo_dir = _official_zoo(tmp_path, path, {"repo": "keras-rnnx/tiny_gru", "revision": pinned.revision})
    _preset(tmp_path / "later" / "tiny_gru", seed=3)
    zoo.push(str(tmp_path / "later" / "tiny_gru"), "hf://keras-rnnx/tiny_gru")  # main moves on

    preset = zoo.fetch("tiny_gru", cache_dir=cache, zoo_dir=zoo_dir)
    assert preset.source == "hub" and preset.entry is not None
    assert preset.origin == f"hf://keras-rnnx/tiny_gru@{pinned.revision}"
    assert "verified against the manifest" in preset.describe()
    np.testing.assert_allclose(_predict(preset.load_model()), expected, rtol=1e-6)
    # Cached now: offline by name too.
    assert zoo.fetch("tiny_gru", cache_dir=cache, zoo_dir=zoo_dir, offline=True).source == "hub"


def test_an_official_preset_whose_hub_files_differ_from_the_manifest_is_refused(loopback_hub, tiny, cache, tmp_path):
    path, _ = tiny
    zoo_dir = _official_zoo(tmp_path, path, {"repo": "keras-rnnx/tiny_gru", "revision": None})
    _preset(tmp_path / "other" / "tiny_gru", seed=5)
    zoo.push(str(tmp_path / "other" / "tiny_gru"), "hf://keras-rnnx/tiny_gru")
    with pytest.raises(zoo.PresetError, match="does not match the manifest"):
        zoo.fetch("tiny_gru", cache_dir=cache, zoo_dir=zoo_dir)


def test_the_release_script_publishes_every_preset_and_pins_its_revision(loopback_hub, tiny, cache, tmp_path):
    path, expected = tiny
    zoo_dir = _official_zoo(tmp_path, path, {"repo": "keras-rnnx/tiny_gru", "revision": None})
    presets = tmp_path / "presets"
    spec = importlib.util.spec_from_file_location("release_zoo", ROOT / "scripts" / "release_zoo.py")
    release_zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(release_zoo)

    assert release_zoo.main(["--manifest", str(zoo_dir / zoo.MANIFEST_FILE), "--zoo-dir", str(presets)]) == 0

    entry = zoo.read_manifest(zoo_dir / zoo.MANIFEST_FILE)["presets"]["tiny_gru"]
    assert entry["hub"] == {"repo": "keras-rnnx/tiny_gru", "revision": loopback_hub.repos["keras-rnnx/tiny_gru"]["refs"]["main"]}
    preset = zoo.fetch("tiny_gru", cache_dir=cache, zoo_dir=zoo_dir)
    assert preset.source == "hub"
    np.testing.assert_allclose(_predict(preset.load_model()), expected, rtol=1e-6)
    # Run again: nothing to publish with --skip-published.
    requests = len(loopback_hub.requests)
    release_zoo.main(["--manifest", str(zoo_dir / zoo.MANIFEST_FILE), "--zoo-dir", str(presets), "--skip-published"])
    assert len(loopback_hub.requests) == requests


def test_every_official_preset_names_its_hub_repository():
    for name, entry in zoo.packaged_manifest()["presets"].items():
        assert entry["hub"]["repo"] == f"{zoo.manifest.HUB_OWNER}/{name}"


# -- bad input and refusals ------------------------------------------------------------


def test_an_unknown_repository_is_named_with_the_fix(loopback_hub, cache):
    with pytest.raises(zoo.PresetError, match=r"hf://someone/missing: no such repository.*HF_TOKEN"):
        zoo.fetch("hf://someone/missing", cache_dir=cache)


def test_an_unknown_revision_is_named_with_the_fix(loopback_hub, tiny, cache):
    zoo.push(str(tiny[0]), f"hf://{REPO}")
    with pytest.raises(zoo.PresetError, match=r"revision 'v9' does not exist in someone/tiny_gru.*leave '@v9' out"):
        zoo.fetch(f"hf://{REPO}@v9", cache_dir=cache)


def test_a_repository_without_a_preset_layout_is_named(loopback_hub, cache):
    loopback_hub.add_repo("someone/not_a_preset", {"README.md": b"# hi\n", "model.safetensors": b"x" * 10})
    with pytest.raises(zoo.PresetError, match=r"does not hold a keras-rnnx preset: config.json, model.weights.h5, metadata.json missing"):
        zoo.fetch("hf://someone/not_a_preset", cache_dir=cache)


@pytest.mark.parametrize("status, match", [(401, "it is private.*HF_TOKEN"), (403, "refused access \\(HTTP 403\\).*HF_TOKEN"), (500, "answered HTTP 500")])
def test_refusals_are_named_with_the_fix(loopback_hub, tiny, cache, status, match):
    zoo.push(str(tiny[0]), f"hf://{REPO}")
    loopback_hub.faults[("*", "/api/models/")] = status
    with pytest.raises(zoo.PresetError, match=match):
        zoo.fetch(f"hf://{REPO}", cache_dir=cache)


def test_a_private_repository_needs_the_token_and_the_token_is_never_printed(hf_client_env, tiny, cache, monkeypatch):
    secret = "hf_never_print_this_7f3a"
    with LoopbackHub(token=secret) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_TOKEN", secret)
        status, out, err = run_cli(["zoo", "push", str(tiny[0]), f"hf://{REPO}", "--private"])
        assert status == 0, err
        assert f"Pushed tiny_gru to hf://{REPO}@" in out and secret not in out + err
        monkeypatch.delenv("HF_TOKEN")
        status, out, err = run_cli(["zoo", "download", f"hf://{REPO}", "--cache-dir", str(cache)])
        assert status == 1 and "private" in err and "HF_TOKEN" in err and secret not in out + err
        monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_9d1")
        status, out, err = run_cli(["zoo", "download", f"hf://{REPO}", "--cache-dir", str(cache)])
        assert status == 1 and "hf_wrong_token_9d1" not in out + err
        monkeypatch.setenv("HF_TOKEN", secret)
        status, out, err = run_cli(["zoo", "info", f"hf://{REPO}", "--cache-dir", str(cache)])
        assert status == 0 and json.loads(out)["source"] == "hub" and secret not in out + err


def test_a_killed_connection_is_a_preset_error_and_nothing_partial_loads(loopback_hub, tiny, cache):
    zoo.push(str(tiny[0]), f"hf://{REPO}")
    loopback_hub.faults[("GET", r"/resolve/.*model\.weights\.h5")] = "kill"
    with pytest.raises(zoo.PresetError, match=f"hf://{REPO}"):
        zoo.fetch(f"hf://{REPO}", cache_dir=cache)
    with pytest.raises(zoo.PresetError, match="not in the hub cache, and offline mode is on"):
        zoo.fetch(f"hf://{REPO}", cache_dir=cache, offline=True)
    loopback_hub.faults.clear()
    assert zoo.fetch(f"hf://{REPO}", cache_dir=cache).source == "hub"


def test_an_unreachable_hub_is_named(hf_client_env, cache, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")
    with pytest.raises(zoo.PresetError, match=r"cannot reach http://127.0.0.1:1"):
        zoo.fetch(f"hf://{REPO}", cache_dir=cache)


def test_push_refuses_a_commit_and_a_malformed_target(loopback_hub, tiny):
    with pytest.raises(zoo.PresetError, match="not to a commit"):
        zoo.push(str(tiny[0]), f"hf://{REPO}@{'a' * 40}")
    status, _, err = run_cli(["zoo", "push", str(tiny[0]), "hf://bad"])
    assert status == 1 and "malformed hub repository id" in err
    assert loopback_hub.requests == []


def test_push_to_a_branch(loopback_hub, tiny, cache):
    ref = zoo.push(str(tiny[0]), f"hf://{REPO}@experiment")
    assert loopback_hub.repos[REPO]["refs"]["experiment"] == ref.revision
    assert zoo.fetch(f"hf://{REPO}@experiment", cache_dir=cache).origin == f"hf://{REPO}@{ref.revision}"


def test_the_cli_says_which_source_was_used(loopback_hub, tiny, cache):
    zoo.push(str(tiny[0]), f"hf://{REPO}")
    status, out, err = run_cli(["zoo", "download", f"hf://{REPO}", "--cache-dir", str(cache)])
    assert status == 0 and "(hub, verified)" in out
    assert f"hf://{REPO}: from the hub (hf://{REPO}@" in err and "hub's hashes" in err


# -- the order of sources, and every command on hub URIs ---------------------------------


def test_an_installed_zoo_package_comes_after_the_cache_and_before_the_hub(loopback_hub, tiny, cache, tmp_path, monkeypatch):
    path, expected = tiny
    zoo.push(str(path), "hf://keras-rnnx/tiny_gru")
    zoo_dir = _official_zoo(tmp_path, path, {"repo": "keras-rnnx/tiny_gru", "revision": None})
    site = tmp_path / "site"
    (site / "keras_rnnx_zoo").mkdir(parents=True)
    (site / "keras_rnnx_zoo" / "__init__.py").write_text("")
    import shutil

    shutil.copytree(path, site / "keras_rnnx_zoo" / "tiny_gru")
    monkeypatch.syspath_prepend(str(site))
    served = len(loopback_hub.requests)

    preset = zoo.fetch("tiny_gru", cache_dir=cache, zoo_dir=zoo_dir)
    assert preset.source == "zoo-package" and preset.path == site / "keras_rnnx_zoo" / "tiny_gru"
    assert len(loopback_hub.requests) == served, "the hub was asked although the package holds the preset"
    assert zoo.zoo_package_dir() == site / "keras_rnnx_zoo"
    # A copy in the cache slot comes first.
    slot = zoo.cache_slot(cache, "tiny_gru", zoo.read_manifest(zoo_dir / zoo.MANIFEST_FILE)["presets"]["tiny_gru"])
    shutil.copytree(path, slot)
    assert zoo.fetch("tiny_gru", cache_dir=cache, zoo_dir=zoo_dir).source == "cache"
    # A damaged package copy is refused, never skipped silently.
    shutil.rmtree(slot)
    (site / "keras_rnnx_zoo" / "tiny_gru" / zoo.CONFIG_FILE).write_text("{}")
    with pytest.raises(zoo.PresetError, match="does not match the manifest"):
        zoo.fetch("tiny_gru", cache_dir=cache, zoo_dir=zoo_dir)


def test_rnnx_zoo_eval_and_sample_take_a_hub_uri(loopback_hub, cache, tmp_path):
    zoo.push(str(ROOT / "zoo" / "adding600_gru"), "hf://someone/adding600_gru")
    zoo.push(str(ROOT / "zoo" / "jsb_gru"), "hf://someone/jsb_gru")
    status, out, err = run_cli(
        ["zoo", "eval", "hf://someone/adding600_gru", "--cache-dir", str(cache), "--data-dir", str(tmp_path / "data"), "--json"]
    )
    assert status == 0, err
    headline = zoo.packaged_manifest()["presets"]["adding600_gru"]["headline"]
    assert json.loads(out)["scores"]["test"]["mse"] == pytest.approx(headline["value"], abs=1e-3)
    # Not the official repository (keras-rnnx/adding600_gru): vouched for by the hub's hashes only.
    assert "hf://someone/adding600_gru: from the hub (hf://someone/adding600_gru@" in err and "hub's hashes" in err
    midi = tmp_path / "chorale.mid"
    status, out, err = run_cli(["zoo", "sample", "hf://someone/jsb_gru", "--cache-dir", str(cache), "--length", "8", "--output", str(midi)])
    assert status == 0, err
    assert midi.read_bytes()[:4] == b"MThd"
