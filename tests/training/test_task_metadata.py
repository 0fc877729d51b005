"""`task_metadata` / `task_from_metadata`: a preset's task rebuilt from its metadata."""

import pytest

from keras_rnnx import datasets
from keras_rnnx import training
from tests.training.conftest import TEXT


def test_round_trip_keeps_every_option(text_task, adding_task, data_dir):
    for task in (text_task, adding_task):
        rebuilt = training.task_from_metadata({"task": training.task_metadata(task)}, data_dir)
        assert rebuilt.name == task.name and rebuilt.options == task.options
        assert datasets.split_sizes(rebuilt, data_dir) == datasets.split_sizes(task, data_dir)


def test_relative_paths_resolve_against_the_data_root(text_task, text_path, data_dir, monkeypatch):
    metadata = {"task": training.task_metadata(text_task)}
    metadata["task"]["options"]["path"] = text_path.name
    rebuilt = training.task_from_metadata(metadata, data_dir, root=text_path.parent)
    assert rebuilt.options["sha256"] == text_task.options["sha256"]
    monkeypatch.setenv(training.trainer.DATA_ROOT_ENV, str(text_path.parent))
    assert training.task_from_metadata(metadata, data_dir).options == rebuilt.options
    with pytest.raises(FileNotFoundError, match=r"relative to the data root.*RNNX_DATA_ROOT"):
        training.task_from_metadata(metadata, data_dir, root=text_path.parent / "elsewhere")


def test_other_data_than_the_preset_was_trained_on_is_refused(text_task, tmp_path, data_dir):
    metadata = {"task": training.task_metadata(text_task)}
    other = tmp_path / "other.txt"
    other.write_text("another text, another checksum\n" * 40, encoding="utf-8")
    metadata["task"]["options"]["path"] = str(other)
    with pytest.raises(ValueError, match=r"differs from the data the preset was trained on \(sha256: '"):
        training.task_from_metadata(metadata, data_dir, source="p/metadata.json")
    with pytest.raises(ValueError, match="p/metadata.json: expected a 'task' object"):
        training.task_from_metadata({}, data_dir, source="p/metadata.json")


def test_timesteps_rewindows_the_same_text(text_task, data_dir):
    metadata = {"task": training.task_metadata(text_task)}
    longer = training.task_from_metadata(metadata, data_dir, timesteps=40)
    assert longer.input_shape[0] == 40 and longer.options["timesteps"] == 40
    assert {k: v for k, v in longer.options.items() if k != "timesteps"} == {
        k: v for k, v in text_task.options.items() if k != "timesteps"
    }
    assert longer.vocabulary == text_task.vocabulary
    # the validation split is the same characters, cut into fewer, longer windows
    validation = len(TEXT) - int(len(TEXT) * 0.9)
    assert datasets.split_sizes(longer, data_dir)["validation"] == (validation - 1) // 40
    assert datasets.split_sizes(text_task, data_dir)["validation"] == (validation - 1) // 16
    assert training.task_from_metadata(metadata, data_dir, timesteps=16).options == text_task.options


def test_timesteps_bad_input(text_task, adding_task, data_dir):
    with pytest.raises(ValueError, match="`timesteps` re-windows character models; task 'adding'"):
        training.task_from_metadata({"task": training.task_metadata(adding_task)}, data_dir, timesteps=20)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="`timesteps` must be an int >= 1"):
            training.task_from_metadata({"task": training.task_metadata(text_task)}, data_dir, timesteps=bad)
