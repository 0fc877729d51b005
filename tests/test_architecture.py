"""The package's layering reads from its folders, and nothing imports upward.

ops, validation (bottom) <- layers <- datasets, zoo <- training, tuner <- cli, demo (top).
"""

import ast
import pathlib

import keras

import keras_rnnx
from keras_rnnx.ops import keras_internals

PACKAGE = pathlib.Path(keras_rnnx.__file__).parent

LEVELS = {
    "version": 0,
    "validation": 0,
    "ops": 0,
    "layers": 1,
    "datasets": 2,
    "zoo": 2,
    "training": 3,
    "tuner": 3,
    "export": 3,
    "cli": 4,
    "demo": 4,
}


def _level(module_parts):
    return LEVELS[module_parts[0]]


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name


def test_no_module_imports_a_higher_level():
    violations = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        own = _level(parts)
        for name in _imports(path):
            if not name.startswith("keras_rnnx."):
                continue
            target = name.split(".")[1:]
            if _level(target) > own:
                violations.append(f"{'/'.join(parts)} imports {name}")
    assert not violations, violations


def test_every_subpackage_has_a_level():
    for path in PACKAGE.iterdir():
        if path.name.startswith("_") or path.name == "__pycache__":
            continue
        assert path.stem in LEVELS, f"{path.name} has no level in LEVELS"


def test_keras_internals_still_match_keras():
    """The private Keras pieces we rely on are the ones Keras' RNN layers use."""
    from keras.src.layers.rnn import gru as keras_gru_module
    from keras.src.layers.rnn import lstm as keras_lstm_module
    from keras.src.layers.rnn import rnn as keras_rnn_module

    assert keras_rnn_module.DropoutRNNCell is keras_internals.DropoutRNNCell
    assert callable(keras_internals.backend_rnn)
    assert keras.layers.RNN.inner_loop is not None
    # The fused functions keras.layers.LSTM / GRU dispatch to (cuDNN on a GPU).
    assert keras_lstm_module.backend.lstm is keras_internals.backend_lstm
    assert keras_gru_module.backend.gru is keras_internals.backend_gru


def test_subpackages_load_on_first_use_from_the_package():
    # `import keras_rnnx; keras_rnnx.zoo.load(...)`, as the README writes it.
    import subprocess
    import sys

    code = (
        "import sys, keras_rnnx\n"
        "assert 'keras_rnnx.tuner' not in sys.modules\n"
        "assert keras_rnnx.zoo.load is not None and keras_rnnx.training.train is not None\n"
        "assert keras_rnnx.tuner.RNNHyperModel and keras_rnnx.datasets.get_task\n"
        "assert {'zoo', 'training', 'tuner', 'datasets'} <= set(dir(keras_rnnx))\n"
        "try:\n    keras_rnnx.nope\nexcept AttributeError as err:\n    assert 'nope' in str(err)\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
