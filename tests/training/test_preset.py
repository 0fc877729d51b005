"""Preset directories: round trip, atomic writes, and clear errors on bad files."""

import json
import os

import keras
import numpy as np
import pytest

from keras_rnnx import layers
from keras_rnnx import zoo


def _model(units=3):
    inputs = keras.Input((5, 2))
    x = layers.LSTM(units, peephole=True)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


@pytest.fixture
def preset(tmp_path):
    model = _model()
    path = zoo.save_preset(tmp_path / "p", model, {"note": "hello"}, extra_files={"MODEL_CARD.md": "# card\n"})
    return path, model


def test_round_trip_gives_identical_predictions(preset):
    path, model = preset
    assert sorted(os.listdir(path)) == ["MODEL_CARD.md", "config.json", "metadata.json", "model.weights.h5"]
    restored, metadata = zoo.load_preset(path)
    x = np.random.RandomState(0).rand(4, 5, 2).astype("float32")
    np.testing.assert_array_equal(restored.predict_on_batch(x), model.predict_on_batch(x))
    assert metadata["note"] == "hello"
    assert metadata["format"] == "keras-rnnx-preset" and metadata["format_version"] == 1
    config = json.loads((path / "config.json").read_text())
    assert config["class_name"] == "Functional" and "compile_config" not in config
    assert (path / "MODEL_CARD.md").read_text() == "# card\n"


def test_no_temporary_directory_is_left_behind(preset):
    path, _ = preset
    assert os.listdir(path.parent) == ["p"]


def test_existing_directory_needs_overwrite(preset):
    path, _ = preset
    with pytest.raises(FileExistsError, match="already exists.*overwrite"):
        zoo.save_preset(path, _model(), {})
    other = _model(units=5)
    zoo.save_preset(path, other, {"note": "second"}, overwrite=True)
    restored, metadata = zoo.load_preset(path)
    assert metadata["note"] == "second"
    assert restored.count_params() == other.count_params()
    assert sorted(os.listdir(path)) == ["config.json", "metadata.json", "model.weights.h5"]
    assert os.listdir(path.parent) == ["p"]


def test_a_failure_while_writing_leaves_no_directory(tmp_path):
    def broken_writer(_):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        zoo.save_preset(tmp_path / "p", _model(), {}, extra_files={"plot.png": broken_writer})
    assert os.listdir(tmp_path) == []


def test_a_failure_while_overwriting_keeps_the_old_preset(preset):
    path, model = preset
    with pytest.raises(ValueError, match="JSON-serialisable"):
        zoo.save_preset(path, _model(), {"bad": object()}, overwrite=True)
    with pytest.raises(ValueError, match="extra_files"):
        zoo.save_preset(path, _model(), {}, extra_files={"config.json": "{}"}, overwrite=True)
    assert zoo.load_preset(path)[1]["note"] == "hello"
    assert os.listdir(path.parent) == ["p"]


@pytest.mark.parametrize("name", ["config.json", "model.weights.h5", "metadata.json"])
def test_a_missing_file_is_named(preset, name):
    path, _ = preset
    (path / name).unlink()
    with pytest.raises(zoo.PresetError, match=f"{path / name}: file missing.*config.json"):
        zoo.load_preset(path)


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(zoo.PresetError, match=f"{tmp_path / 'nope'} does not exist"):
        zoo.load_preset(tmp_path / "nope")


@pytest.mark.parametrize("name", ["config.json", "metadata.json"])
def test_malformed_json_is_named_with_its_position(preset, name):
    path, _ = preset
    (path / name).write_text('{"class_name": "Functional",\n  oops}')
    with pytest.raises(zoo.PresetError, match=f"{path / name}: malformed JSON at line 2, column 3"):
        zoo.load_preset(path)


def test_non_utf8_json_is_named(preset):
    path, _ = preset
    (path / "metadata.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(zoo.PresetError, match=f"{path / 'metadata.json'}: not UTF-8"):
        zoo.load_preset(path)


def test_metadata_of_another_format_is_refused(preset):
    path, _ = preset
    (path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(zoo.PresetError, match="expected a JSON object"):
        zoo.load_preset(path)
    (path / "metadata.json").write_text('{"format": "keras-rnnx-preset", "format_version": 99}')
    with pytest.raises(zoo.PresetError, match="format_version 99 is newer"):
        zoo.load_preset(path)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "Unable to synchronously open"), (b"not an hdf5 file" * 10, "file signature not found")],
)
def test_corrupted_weights_are_named(preset, content, message):
    path, _ = preset
    (path / "model.weights.h5").write_bytes(content)
    with pytest.raises(zoo.PresetError, match=f"{path / 'model.weights.h5'}: the weights could not be loaded") as info:
        zoo.load_preset(path)
    assert message in str(info.value)


def test_truncated_weights_are_named(preset):
    path, _ = preset
    weights = path / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:600])
    with pytest.raises(zoo.PresetError, match="model.weights.h5: the weights could not be loaded"):
        zoo.load_preset(path)


def test_weights_of_another_model_are_refused(preset, tmp_path):
    path, _ = preset
    other = zoo.save_preset(tmp_path / "other", _model(units=4), {})
    (path / "model.weights.h5").write_bytes((other / "model.weights.h5").read_bytes())
    with pytest.raises(zoo.PresetError, match="model.weights.h5: the weights could not be loaded.*ValueError"):
        zoo.load_preset(path)


def test_a_config_that_is_not_a_model_config_is_refused(preset):
    path, _ = preset
    (path / "config.json").write_text('{"layers": []}')
    with pytest.raises(zoo.PresetError, match="config.json: expected a Keras model config"):
        zoo.load_preset(path)
    (path / "config.json").write_text('{"class_name": "NoSuchModel", "config": {}}')
    with pytest.raises(zoo.PresetError, match="config.json: Keras could not rebuild the model"):
        zoo.load_preset(path)


def test_safe_mode_refuses_a_lambda_layer(tmp_path, preset):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    with pytest.raises(zoo.PresetError, match="Keras could not rebuild.*safe"):
        zoo.save_preset(tmp_path / "lambda", model, {})  # refused on save already
    assert not (tmp_path / "lambda").exists()
    path, _ = preset
    (path / "config.json").write_text(json.dumps(zoo.model_config(model)))
    with pytest.raises(zoo.PresetError, match="config.json: Keras could not rebuild.*safe"):
        zoo.load_preset(path)


def test_the_weights_file_holds_no_optimizer_state(tmp_path):
    import h5py

    model = _model()
    model.compile("adam", "mse")
    model.fit(np.zeros((4, 5, 2)), np.zeros((4, 1)), verbose=0)
    path = zoo.save_preset(tmp_path / "p", model, {})
    with h5py.File(path / "model.weights.h5") as weights:
        assert "optimizer" not in weights and "layers" in weights
    np.testing.assert_array_equal(zoo.load_preset(path)[0].get_weights()[0], model.get_weights()[0])


def test_save_preset_rejects_unbuilt_models_and_bad_metadata(tmp_path):
    with pytest.raises(ValueError, match="built keras.Model"):
        zoo.save_preset(tmp_path / "p", keras.Sequential([keras.layers.Dense(1)]), {})
    with pytest.raises(ValueError, match="`metadata` must be a dict"):
        zoo.save_preset(tmp_path / "p", _model(), [1])
    with pytest.raises(ValueError, match="finite"):
        zoo.save_preset(tmp_path / "p", _model(), {"x": float("nan")})
    with pytest.raises(ValueError, match="plain file names"):
        zoo.save_preset(tmp_path / "p", _model(), {}, extra_files={"../x": b""})
    assert os.listdir(tmp_path) == []


def test_docstring_example_runs():
    import doctest

    from keras_rnnx.zoo import preset as preset_module

    result = doctest.testmod(preset_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
