"""XLA (`jit_compile=True`) and SavedModel export for every layer."""

import os

import numpy as np
import pytest

from tests.layers.harness import LAYER_PARAMS
from tests.layers.harness import sequence_model


@pytest.mark.parametrize("case", LAYER_PARAMS)
def test_jit_compile_stays_on_and_matches_uncompiled(case):
    x = case.inputs(batch=4)
    y = np.ones((4, 1), "float32")
    compiled = sequence_model(case, jit_compile=True)
    plain = sequence_model(case, jit_compile=False)
    plain.set_weights(compiled.get_weights())
    # Every keras-rnnx layer declares XLA support: the model keeps XLA on.
    assert all(layer.supports_jit for layer in compiled._flatten_layers())
    assert compiled.jit_compile is True
    np.testing.assert_allclose(
        compiled.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    compiled_loss = compiled.train_on_batch(x, y)
    plain_loss = plain.train_on_batch(x, y)
    assert compiled.jit_compile is True
    if any(key.startswith(("dropout", "recurrent_dropout", "zoneout")) for key in case.kwargs):
        return  # Training draws random masks: the two runs cannot agree.
    np.testing.assert_allclose(compiled_loss, plain_loss, rtol=1e-5)
    for a, b in zip(compiled.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.tf_only
@pytest.mark.parametrize("case", LAYER_PARAMS)
def test_jit_compile_xla_graph_on_tensorflow(case):
    """The layer compiles under `tf.function(jit_compile=True)` directly."""
    import tensorflow as tf

    layer = case.make(return_sequences=True)
    x = tf.constant(case.inputs())
    expected = layer(x)
    compiled = tf.function(lambda t: layer(t), jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    hlo = compiled.experimental_get_compiler_ir(x)(stage="hlo")
    assert "while" in hlo  # one XLA loop, no host round trips


@pytest.mark.tf_only
@pytest.mark.parametrize(
    "case_id", ["lstm", "peephole_lstm", "lstm_fgr", "lstm_proj", "gru", "mut3"]
)
def test_saved_model_export_serves_same_outputs(case_id, tmp_path):
    import tensorflow as tf

    from tests.layers.harness import case_by_id

    case = case_by_id(case_id)
    model = sequence_model(case)
    x = case.inputs()
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, "exported")
    model.export(path, verbose=False)
    served = tf.saved_model.load(path)
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
