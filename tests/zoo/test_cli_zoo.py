"""``rnnx zoo list | info | download | eval | sample`` on the shipped zoo and over HTTP."""

import functools
import http.server
import json
import pathlib
import threading

import pytest

from keras_rnnx import zoo
from tests.cli_runner import run_cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA_ROOT = ROOT.parent / "shared" / "data"
PRESETS = zoo.packaged_manifest()["presets"]
JSB = sorted(n for n, e in PRESETS.items() if e["task"] == "jsb_chorales")
TEXT = sorted(n for n, e in PRESETS.items() if e["task"] == "text")
needs_jsb = pytest.mark.skipif(not JSB, reason="no JSB Chorales preset in zoo/ yet")

pytestmark = pytest.mark.usefixtures("shipped_zoo_only")


def test_list_prints_every_preset_with_its_headline():
    status, out, _ = run_cli(["zoo", "list"])
    assert status == 0
    for name, entry in PRESETS.items():
        line = next(l for l in out.splitlines() if l.startswith(name + " "))
        assert f"{entry['headline']['value']:.4f}" in line


@needs_jsb
def test_info_prints_the_manifest_entry_and_metadata():
    status, out, _ = run_cli(["zoo", "info", JSB[0]])
    assert status == 0
    info = json.loads(out)
    assert info["source"] == "zoo" and info["manifest"] == PRESETS[JSB[0]]
    assert info["metadata"]["task"]["name"] == "jsb_chorales"


@needs_jsb
def test_eval_recomputes_the_headline_offline():
    name = JSB[0]
    status, out, err = run_cli(["zoo", "eval", name, "--data-root", str(DATA_ROOT), "--json"])
    assert status == 0, err
    scores = json.loads(out)["scores"]["test"]
    assert scores["nll_nats_per_step"] == pytest.approx(PRESETS[name]["headline"]["value"], abs=1e-3)


@needs_jsb
def test_sample_writes_a_midi_file(tmp_path):
    path = tmp_path / "chorale.mid"
    status, out, err = run_cli(["zoo", "sample", JSB[0], "--length", "16", "--output", str(path)])
    assert status == 0, err
    assert path.read_bytes()[:4] == b"MThd"


@pytest.mark.skipif(not TEXT, reason="no character preset in zoo/ yet")
def test_sample_prints_text_after_the_prompt():
    status, out, err = run_cli(["zoo", "sample", TEXT[0], "--prompt", "ROMEO:", "--length", "60", "--seed", "1"])
    assert status == 0, err
    assert out.startswith("ROMEO:") and len(out) == len("ROMEO:") + 60 + 1  # print adds one newline


def test_unknown_name_lists_the_known_ones():
    status, _, err = run_cli(["zoo", "info", "no_such_preset"])
    assert status == 1
    assert "Unknown preset 'no_such_preset'" in err
    for name in PRESETS:
        assert name in err


def test_a_directory_that_is_not_a_preset(tmp_path):
    status, _, err = run_cli(["zoo", "eval", str(tmp_path)])
    assert status == 1 and ("metadata.json" in err or "not a preset" in err)


def test_offline_refuses_a_url():
    status, _, err = run_cli(["zoo", "download", "http://127.0.0.1:9/zoo/jsb_lstm"])
    assert status == 1 and "Offline mode" in err


@needs_jsb
def test_download_over_http_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(zoo.OFFLINE_ENV)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "zoo"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        cache = tmp_path / "cache"
        argv = ["zoo", "download", JSB[0], "--base-url", url, "--cache-dir", str(cache), "--force"]
        status, out, err = run_cli(argv)
        assert status == 0, err
        assert "(download, verified)" in out
        assert (zoo.cache_slot(cache, JSB[0], PRESETS[JSB[0]]) / zoo.WEIGHTS_FILE).is_file()
        status, out, _ = run_cli(["zoo", "download", JSB[0], "--cache-dir", str(cache), "--offline"])
        assert status == 0 and "(cache, verified)" in out
    finally:
        server.shutdown()
        server.server_close()
