"""What a pip user gets: the keras-rnnx wheel knows the zoo, the keras-rnnx-zoo wheel
holds it, and a hub serves it (issue 19).

The slow test builds both wheels for real, installs them into a fresh virtual
environment outside the repository (its dependencies — TensorFlow, Keras, the hub
client — borrowed from the project's ``.venv`` by a ``.pth`` line, so nothing is
downloaded), and runs the installed ``rnnx`` from a directory that is not the
checkout: first with the keras-rnnx wheel alone, the presets coming from a
`LoopbackHub` on 127.0.0.1; then with the zoo wheel too, offline.
"""

import configparser
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

import keras_rnnx
from keras_rnnx import zoo
from tests.zoo.loopback_hub import LoopbackHub

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA_ROOT = ROOT.parent / "shared" / "data"


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_the_zoo_distribution_has_keras_rnnxs_version_and_the_extra_pins_it():
    version = keras_rnnx.__version__
    pyproject = (ROOT / "zoo" / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(version)}"$', pyproject, re.M)
    assert f'__version__ = "{version}"' in (ROOT / "zoo" / "__init__.py").read_text()
    extra = _setup_cfg()["options.extras_require"]["zoo"].split()
    assert extra == [f"keras-rnnx-zoo=={version}"]


def test_the_manifest_is_package_data_and_lists_every_zoo_file():
    assert _setup_cfg()["options.package_data"]["keras_rnnx.zoo"].split() == [zoo.MANIFEST_FILE]
    assert zoo.PACKAGED_MANIFEST.parent == pathlib.Path(zoo.manifest.__file__).parent
    patterns = re.findall(r'"\*/([^"]+)"', (ROOT / "zoo" / "pyproject.toml").read_text())
    for name, entry in zoo.packaged_manifest()["presets"].items():
        for file_name in entry["files"]:
            assert any(pathlib.PurePath(file_name).match(p) for p in patterns), (
                f"{name}/{file_name} is in the manifest but zoo/pyproject.toml's package-data would leave it out"
            )


def _run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, f"{argv}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _build_wheels(out):
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    source = out / "src"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".venv", "dist", "runs")
    shutil.copytree(ROOT, source, ignore=ignore)  # a clean copy: the checkout keeps no build output
    _run([*pip, str(source)])
    _run([*pip, str(source / "zoo")])
    (main,) = out.glob("keras_rnnx-*.whl")
    (data,) = out.glob("keras_rnnx_zoo-*.whl")
    return main, data


def _fresh_env(path):
    """A virtual environment with pip, seeing the project's dependencies but not the checkout."""
    _run([sys.executable, "-m", "venv", str(path)])
    python = path / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    (pathlib.Path(site) / "_rnnx_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


@pytest.mark.slow
def test_wheels_installed_outside_the_repository_list_load_and_score_every_way(tmp_path, hf_client_env, monkeypatch):
    main_wheel, zoo_wheel = _build_wheels(tmp_path / "dist")
    with zipfile.ZipFile(main_wheel) as wheel:
        assert "keras_rnnx/zoo/manifest.json" in wheel.namelist()
        metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith("METADATA"))).decode()
        assert f'Requires-Dist: keras-rnnx-zoo=={keras_rnnx.__version__}; extra == "zoo"' in metadata
    with zipfile.ZipFile(zoo_wheel) as wheel:
        shipped = {n for n in wheel.namelist() if n.startswith("keras_rnnx_zoo/") and n.count("/") == 2}
    expected = {f"keras_rnnx_zoo/{name}/{f}" for name, e in zoo.packaged_manifest()["presets"].items() for f in e["files"]}
    assert shipped == expected

    python = _fresh_env(tmp_path / "env")
    bin_dir = python.parent
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(main_wheel)])
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RNNX_", "PYTHON")) and key not in ("HF_ENDPOINT", "HF_TOKEN")
    }
    env.update(
        KERAS_BACKEND="tensorflow",
        KERAS_HOME=str(tmp_path / "keras_home"),
        HF_HOME=str(tmp_path / "hf_home"),
        RNNX_DATA_ROOT=str(DATA_ROOT),
        TF_CPP_MIN_LOG_LEVEL="3",
    )

    def rnnx(*argv, **extra):
        return _run([str(bin_dir / "rnnx"), *argv], cwd=work, env={**env, **extra})

    def python_code(code, **extra):
        return _run([str(python), "-c", code], cwd=work, env={**env, **extra})

    where = python_code("import keras_rnnx; print(keras_rnnx.__file__)").stdout
    assert where.startswith(str(tmp_path / "env")), where

    # Only the keras-rnnx wheel: the manifest is there, the weights come from the hub.
    listed = rnnx("zoo", "list", RNNX_OFFLINE="1").stdout
    for name in zoo.packaged_manifest()["presets"]:
        assert re.search(rf"^{name} ", listed, re.M), listed
    headline = zoo.packaged_manifest()["presets"]["jsb_lstm"]["headline"]
    with LoopbackHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        zoo.hf.push(ROOT / "zoo" / "jsb_lstm", "hf://keras-rnnx/jsb_lstm")
        tiny = ROOT / "zoo" / "adding600_gru"
        zoo.hf.push(tiny, "hf://someone/my_gru")
        result = rnnx("zoo", "eval", "jsb_lstm", "--json", HF_ENDPOINT=hub.endpoint)
        assert "from the hub (hf://keras-rnnx/jsb_lstm@" in result.stderr
        score = json.loads(result.stdout)["scores"][headline["split"]][headline["metric"]]
        assert score == pytest.approx(headline["value"], abs=1e-3)
        code = (
            "import keras, keras_rnnx, numpy as np; x = np.ones((2, 600, 2), 'float32'); "
            "a = keras_rnnx.zoo.load('hf://someone/my_gru').predict_on_batch(x); "
            "b = keras.saving.load_model('hf://someone/my_gru').predict_on_batch(x); "
            "print(float(np.abs(a - b).max()))"
        )
        assert float(python_code(code, HF_ENDPOINT=hub.endpoint).stdout.split()[-1]) == 0.0
    # Offline now: the hub preset is in the cache.
    rnnx("zoo", "eval", "jsb_lstm", "--json", RNNX_OFFLINE="1")

    # With the zoo wheel: every official preset offline, from the package.
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(zoo_wheel)])
    env["KERAS_HOME"] = str(tmp_path / "fresh_keras_home")  # an empty cache
    loaded = python_code(
        "import keras_rnnx; p = keras_rnnx.zoo.fetch('jsb_lstm'); p.load_model(); print(p.source, p.path)",
        RNNX_OFFLINE="1",
    ).stdout.split()
    assert loaded[0] == "zoo-package" and "site-packages/keras_rnnx_zoo/jsb_lstm" in loaded[1]
    result = rnnx("zoo", "eval", "jsb_lstm", "--json", RNNX_OFFLINE="1")
    assert "from the installed keras-rnnx-zoo package" in result.stderr
    score = json.loads(result.stdout)["scores"][headline["split"]][headline["metric"]]
    assert score == pytest.approx(headline["value"], abs=1e-3)
    sample = rnnx("zoo", "sample", "shakespeare_lstm", "--prompt", "ROMEO:", "--length", "40", RNNX_OFFLINE="1")
    assert sample.stdout.startswith("ROMEO:")
