"""Small data sets for the training tests, prepared once per test session."""

import pathlib

import pytest

from keras_rnnx import datasets

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
JSB_DIR = (SHARED_DATA / "jsb_chorales").resolve()
ADDING = {"timesteps": 8, "train_size": 64, "validation_size": 32, "test_size": 32}
"""Options of the tiny adding task most tests train on."""
TEXT = "to be, or not to be, that is the question.\nwhether tis nobler in the mind\n" * 20


def adding_flags(data_dir):
    """``rnnx train`` flags selecting the tiny adding task."""
    flags = ["--task", "adding", "--data-dir", str(data_dir)]
    for key, value in ADDING.items():
        flags += ["--task-option", f"{key}={value}"]
    return flags


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="session")
def adding_task(data_dir):
    return datasets.get_task("adding", data_dir=data_dir, **ADDING)


@pytest.fixture(scope="session")
def jsb_task(data_dir):
    if not (JSB_DIR / "jsb-chorales-quarter.json").exists():
        pytest.skip(f"JSB Chorales not found in {JSB_DIR}")
    return datasets.get_task("jsb_chorales", data_dir=data_dir, path=str(JSB_DIR))


@pytest.fixture(scope="session")
def text_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "hamlet.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def text_task(data_dir, text_path):
    return datasets.get_task("text", data_dir=data_dir, path=str(text_path), timesteps=16)
