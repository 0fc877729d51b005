"""The public contract of `keras_rnnx.datasets` that training code relies on."""

import ast
import dataclasses
import doctest
import importlib
import json
import pathlib

import pytest

from keras_rnnx import datasets
from keras_rnnx.datasets import tasks

PACKAGE = pathlib.Path(datasets.__file__).parent


def test_exports():
    assert datasets.TASKS == (
        "adding", "copy", "parity", "temporal_order", "waveform", "jsb_chorales", "text")
    assert datasets.PAD_VALUE == -1.0
    for name in ("Task", "get_task", "load_split", "split_sizes", "save_vocabulary",
                 "load_vocabulary", "adding_problem", "ADDING_PROBLEM_BASELINE_MSE"):
        assert hasattr(datasets, name), name


def test_task_fields_and_frozen():
    fields = [f.name for f in dataclasses.fields(datasets.Task)]
    assert fields == [
        "name", "kind", "input_shape", "input_dtype", "output_units",
        "output_activation", "sequence_output", "loss", "metric", "baseline",
        "masked", "vocabulary", "options"]
    task = datasets.get_task("adding")
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.name = "copy"


@pytest.mark.parametrize("name", datasets.TASKS[:5])
def test_synthetic_tasks_follow_the_contract(name, tmp_path):
    task = datasets.get_task(name, data_dir=tmp_path)
    assert task.name == name
    assert task.kind in tasks.KINDS and task.metric in tasks.METRICS
    assert task.output_activation in ("linear", "softmax", "sigmoid")
    assert task.input_dtype in ("float32", "int32")
    assert isinstance(task.baseline, float)
    assert task.options["data_dir"] == str(tmp_path)
    assert json.loads(json.dumps(dataclasses.asdict(task)))["name"] == name
    # Describing a synthetic task builds nothing.
    assert not list(tmp_path.iterdir())


def test_jsb_and_text_follow_the_contract(jsb_task, text_task):
    for task in (jsb_task, text_task):
        assert task.kind in tasks.KINDS and task.metric in tasks.METRICS
        json.dumps(dataclasses.asdict(task))


MODULES = [
    "keras_rnnx.datasets.synthetic",
    "keras_rnnx.datasets.synthetic_builder",
    "keras_rnnx.datasets.jsb",
    "keras_rnnx.datasets.text",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_imports_stay_inside_the_datasets_level():
    # tests/test_architecture.py: datasets (level 2) may use ops and layers,
    # never training, tuner, cli or demo. These modules use only the bottom
    # level's argument checks (keras_rnnx.validation), never ops or layers.
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for module in names:
                if module.startswith("keras_rnnx"):
                    assert module.startswith(("keras_rnnx.datasets", "keras_rnnx.validation")), (path.name, module)
