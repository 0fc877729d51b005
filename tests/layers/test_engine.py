"""The sequence engine: a compiled train step is traced once and reused."""

import numpy as np
import pytest

from tests.layers.harness import LAYER_CASES
from tests.layers.harness import sequence_model

CASES = [c for c in LAYER_CASES if c.id in ("lstm", "gru", "clockwork", "grid_lstm_2d", "depth_gated_lstm")]


@pytest.mark.tf_only
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_train_step_is_traced_once(case, jit_compile):
    # Gradients through the loop come from the one traced step: the layer's
    # Python (which runs only while tracing) is not run again for later
    # batches of the same shape, with and without XLA.
    model = sequence_model(case, jit_compile=jit_compile)
    layer = model.layers[1]
    traces = []
    inner_loop = layer.inner_loop

    def counting_inner_loop(*args, **kwargs):
        traces.append(1)
        return inner_loop(*args, **kwargs)

    layer.inner_loop = counting_inner_loop
    x = case.inputs(batch=4, timesteps=5)
    y = np.ones((4, 1), "float32")
    model.train_on_batch(x, y)
    first = len(traces)
    assert first >= 1
    for _ in range(3):
        model.train_on_batch(x, y)
    assert len(traces) == first
    assert model.jit_compile is jit_compile
