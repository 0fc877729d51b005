"""The shipped zoo: every preset in the packaged manifest loads, verifies and
reproduces its headline metric on its evaluation data.

The figures in the model cards are recomputed here, not typed in: each preset
is loaded through `keras_rnnx.zoo.fetch` (sha256 of every file checked against
the manifest) and scored with `keras_rnnx.training.evaluate` on the split of
its headline, from ``../shared/data`` or the synthetic data regenerated from
the seed in its metadata, and must match ``metadata.json`` within 1e-3.
"""

import importlib.util
import json
import os
import pathlib

import pytest

from keras_rnnx import training
from keras_rnnx import zoo

ROOT = pathlib.Path(__file__).resolve().parents[2]
ZOO = ROOT / "zoo"
DATA_ROOT = ROOT.parent / "shared" / "data"
MAX_ZOO_BYTES = 60 * 2**20


def _manifest():
    return zoo.packaged_manifest()["presets"]


PRESETS = sorted(_manifest())


def _train_zoo():
    spec = importlib.util.spec_from_file_location("train_zoo", ROOT / "scripts" / "train_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recipes():
    return _train_zoo().RECIPES

pytestmark = pytest.mark.usefixtures("shipped_zoo_only")


def test_zoo_is_listed_and_small():
    listed = zoo.list()
    assert sorted(listed) == PRESETS
    total = sum(f["size"] for entry in listed.values() for f in entry["files"].values())
    assert total <= MAX_ZOO_BYTES, f"the zoo holds {total / 2**20:.1f} MiB, over 60 MiB"
    # build/ and *.egg-info are what `pip wheel zoo/` leaves (git-ignored).
    on_disk = {
        p.name
        for p in ZOO.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name != "build" and not p.name.endswith(".egg-info")
    }
    assert on_disk == set(PRESETS), "every preset directory is in the manifest and back"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_has_a_recipe_and_a_card(name):
    recipes = _recipes()
    assert name in recipes, f"{name}: no recipe in scripts/train_zoo.py"
    entry = zoo.list()[name]
    assert "MODEL_CARD.md" in entry["files"]
    card = (ZOO / name / "MODEL_CARD.md").read_text()
    head = entry["headline"]
    assert f"{head['value']:.4f}" in card
    assert f"python scripts/train_zoo.py {name}" in card
    metadata = json.loads((ZOO / name / zoo.METADATA_FILE).read_text())
    assert metadata["headline"] == head
    assert metadata["metrics"][head["split"]][head["metric"]] == head["value"]


@pytest.mark.parametrize("name", PRESETS)
def test_preset_was_trained_by_its_recipe(name):
    script = _train_zoo()
    metadata = json.loads((ZOO / name / zoo.METADATA_FILE).read_text())
    mismatches = script.recipe_mismatches(name, metadata)
    if name in script.RETRAINING:  # declared: the recipe has moved on, and it must differ
        assert mismatches, f"{name} matches its recipe: drop it from RETRAINING"
    else:
        assert mismatches == [], f"{name} differs from its recipe in scripts/train_zoo.py"


def test_recipe_mismatches_names_each_setting():
    script = _train_zoo()
    metadata = json.loads((ZOO / "jsb_lstm" / zoo.METADATA_FILE).read_text())
    metadata["model"]["units"] = 128
    del metadata["training"]["patience"]
    metadata["task"]["options"]["path"] = "elsewhere"
    patience = script.RECIPES["jsb_lstm"]["train"]["patience"]
    assert script.recipe_mismatches("jsb_lstm", metadata) == [
        "units: 128 shipped, 256 in the recipe",
        f"patience: None shipped, {patience} in the recipe",
        "task option path: 'elsewhere' shipped, 'jsb_chorales' in the recipe",
    ]


@pytest.mark.parametrize("name", PRESETS)
def test_preset_reproduces_its_headline_metric(name, tmp_path):
    preset = zoo.fetch(name)
    assert preset.source == "zoo"
    model = preset.load_model()
    head = preset.entry["headline"]
    if not os.path.isdir(DATA_ROOT) and "path" in preset.metadata["task"]["options"]:
        pytest.fail(f"{DATA_ROOT} is missing: the zoo's data sets are read from ../shared/data")
    task = training.task_from_metadata(preset.metadata, root=DATA_ROOT)
    data_dir = None
    if task.name not in ("jsb_chorales", "text"):
        # Synthetic data is regenerated from the seed in the metadata.
        data_dir = str(tmp_path / "data")
    scores = training.evaluate(model, task, head["split"], data_dir=data_dir)
    assert scores[head["metric"]] == pytest.approx(head["value"], abs=1e-3)
    assert scores["count"] == preset.metadata["metrics"][head["split"]]["count"]
    if task.name == "text":  # and its second figure, with the state carried across windows
        carried = preset.metadata["carried_state"][head["split"]]
        again = training.evaluate_carried(model, task, head["split"], streams=carried["streams"])
        assert again[head["metric"]] == pytest.approx(carried[head["metric"]], abs=1e-3)
        assert again["count"] == carried["count"] == scores["count"]


@pytest.fixture
def served_zoo(tmp_path):
    """The project's presets served over HTTP on 127.0.0.1 (a real server), laid out as an
    http zoo: the packaged manifest beside links to the preset directories of zoo/."""
    import functools
    import http.server
    import shutil
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(zoo.PACKAGED_MANIFEST, root / zoo.MANIFEST_FILE)
    for name in PRESETS:
        (root / name).symlink_to(ZOO / name)
    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(not PRESETS, reason="no presets in zoo/manifest.json yet")
def test_shipped_preset_downloads_over_http_and_loads_the_same(served_zoo, tmp_path, monkeypatch):
    monkeypatch.delenv(zoo.OFFLINE_ENV)
    entries = zoo.list()
    name = min(entries, key=lambda n: sum(f["size"] for f in entries[n]["files"].values()))
    cache = tmp_path / "cache"
    preset = zoo.fetch(f"{served_zoo}/{name}", cache_dir=cache, progress=False)
    assert preset.source == "download"
    assert preset.path == zoo.cache_slot(cache, name, entries[name])
    for file_name, expected in entries[name]["files"].items():
        assert zoo.sha256_file(preset.path / file_name) == expected["sha256"]
    import numpy as np

    shipped = zoo.fetch(name).load_model()
    downloaded = preset.load_model()
    for a, b in zip(shipped.get_weights(), downloaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_readme_table_lists_every_preset_from_the_manifest():
    table = _train_zoo().readme_table(ZOO)
    readme = (ROOT / "README.md").read_text()
    assert table in readme, (
        "README.md's zoo table is out of date; regenerate it with "
        "`python scripts/train_zoo.py --readme-table`"
    )
