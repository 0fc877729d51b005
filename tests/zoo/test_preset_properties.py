"""Property-based checks of preset metadata (issue 20): whatever a ``metadata.json``
holds — wrong types, NaN, huge sizes, deep nesting, strings for numbers — reading it
either gives a `PresetError` naming the file, or metadata that passes its schema and
reads back unchanged. Never another exception, never an unbounded allocation.
"""

import json
import math

import keras
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_rnnx import layers
from keras_rnnx import zoo
from keras_rnnx.zoo import preset as preset_lib

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=12)
task_options = st.dictionaries(
    st.sampled_from(["timesteps", "train_size", "test_size", "validation_size", "seed", "path", "markers"]),
    scalars,
    max_size=5,
)
metadata_strategy = st.fixed_dictionaries(
    {},
    optional={
        "format_version": st.one_of(scalars, st.just(1)),
        "params": st.one_of(scalars, st.integers(0, 10**6)),
        "metrics": st.one_of(values, st.dictionaries(st.sampled_from(["test", "validation"]), st.dictionaries(st.sampled_from(["mse", "accuracy"]), scalars, max_size=2), max_size=2)),
        "task": st.one_of(values, st.fixed_dictionaries({"name": st.sampled_from(["adding", "text"]), "options": task_options})),
        "description": values,
    },
)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    model = keras.Sequential([keras.Input((3, 2)), layers.GRU(2)])
    return zoo.save_preset(tmp_path_factory.mktemp("props") / "p", model, {"description": "x"})


def _is_finite_json(value):
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_is_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_finite_json(v) for v in value)
    return True


@SETTINGS
@given(metadata=metadata_strategy, keep_format=st.booleans())
def test_metadata_is_refused_clearly_or_read_back_unchanged(preset, metadata, keep_format):
    if keep_format:
        metadata = {"format": preset_lib.FORMAT, **metadata}
    text = json.dumps(metadata, allow_nan=True)
    (preset / zoo.METADATA_FILE).write_text(text)
    try:
        read = zoo.read_metadata(preset)
    except zoo.PresetError as err:
        assert zoo.METADATA_FILE in str(err)
        return
    assert read == json.loads(text)
    assert _is_finite_json(read)
    assert read["format"] == preset_lib.FORMAT and read["format_version"] == 1
    options = (read.get("task") or {}).get("options") or {}
    for key, value in options.items():
        if key != "seed" and isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) <= preset_lib.MAX_TASK_INT


@SETTINGS
@given(depth=st.integers(1, 5000), opener=st.sampled_from(["[", '{"a":']))
def test_nesting_is_bounded_before_parsing(preset, depth, opener):
    closer = "]" if opener == "[" else "}"
    (preset / zoo.CONFIG_FILE).write_text(opener * depth + "1" + closer * depth)
    with pytest.raises(zoo.PresetError) as caught:
        zoo.load_preset(preset)
    assert zoo.CONFIG_FILE in str(caught.value) or zoo.METADATA_FILE in str(caught.value)
