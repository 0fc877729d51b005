"""The private Keras API the exporters rely on, in one place.

* `functional_graph`: the functional graph of a model (`keras.Sequential`
  keeps one in ``_functional`` once built).
* `graph_nodes`: its nodes in execution order, from ``_nodes_by_depth`` (the
  order `keras.src.ops.function.Function._run_through_graph` uses), each with
  ``operation``, ``arguments`` (``fill_in(tensor_dict)`` substitutes values
  for the `keras.KerasTensor` s, keyed by ``id``), ``input_tensors`` and
  ``outputs``.

``tests/export/test_keras_graph.py`` checks these against the installed Keras.
"""

import keras
from keras.src.models.functional import Functional


def functional_graph(model):
    """The `Functional` graph behind ``model``, or None (a subclassed model)."""
    if isinstance(model, keras.Sequential):
        model = getattr(model, "_functional", None)
    return model if isinstance(model, Functional) else None


def graph_nodes(graph):
    """The nodes of ``graph`` that compute something, in execution order."""
    nodes = []
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            nodes.append(node)
    return nodes
