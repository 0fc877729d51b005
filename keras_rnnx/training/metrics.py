"""Each task's standard metric, accumulated in float64 NumPy over a split.

The metric a task is scored with is its ``task.metric``:

- ``"mse"`` (regression): squared error averaged over output units, then
  over examples (or, for one output per step, over unpadded steps);
- ``"accuracy"`` (classification): fraction of examples (or unpadded steps)
  whose most probable class (probability > 0.5 for one sigmoid unit) is the
  label;
- ``"nll_nats_per_step"``: negative log-likelihood in nats of each step's
  target, **averaged over all unpadded time steps** of the split (not per
  sequence first). For a multilabel task (JSB Chorales) a step's NLL is the
  binary cross-entropy **summed over the notes** (88), the figure of
  Boulanger-Lewandowski et al. 2012, Chung et al. 2014 and Bai et al. 2018;
  for a classification task (copy memory) it is the categorical
  cross-entropy of the step's class;
- ``"nats_per_char"`` (character models): cross-entropy of the next
  character in nats, averaged over all predicted characters; reported with
  ``bits_per_char`` = nats / ln 2.

`evaluate` scores the split's windows independently (each starts from a zero
state), the figure training validates on. `evaluate_carried` scores a
character model's split as a few long streams instead, carrying the state
from each window into the next (the usual figure for recurrent language
models, whose state is never reset while reading a text).

Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` before the log, as
Keras' cross-entropy losses do, so a confident mistake costs at most
``-log(EPSILON)`` ~= 16.1 nats per note or character.
"""

import math

import numpy as np

from keras_rnnx import datasets
from keras_rnnx.training.sampling import stateful_stepper

EPSILON = 1e-7
METRICS = ("mse", "accuracy", "nll_nats_per_step", "nats_per_char")


def _cross_entropy(y, p):
    """Categorical cross-entropy of sparse (``y.ndim == p.ndim - 1``) or one-hot labels."""
    if y.ndim == p.ndim - 1:
        chosen = np.take_along_axis(p, y.astype(np.int64)[..., None], axis=-1)
        return -np.log(chosen[..., 0])
    return -np.sum(y * np.log(p), axis=-1)


def _per_position(metric, y, p, multilabel):
    """The metric's summand at every scored position: shape ``p.shape[:-1]``."""
    if metric == "mse":
        if y.ndim == p.ndim - 1:
            y = y[..., None]
        return np.mean((y - p) ** 2, axis=-1)
    if metric == "accuracy":
        if y.ndim == p.ndim - 1:
            return (np.argmax(p, axis=-1) == y.astype(np.int64)).astype(np.float64)
        if p.shape[-1] == 1:
            return ((p[..., 0] > 0.5) == (y[..., 0] > 0.5)).astype(np.float64)
        return (np.argmax(p, axis=-1) == np.argmax(y, axis=-1)).astype(np.float64)
    p = np.clip(p, EPSILON, 1.0 - EPSILON)
    if metric == "nll_nats_per_step" and multilabel:
        return -np.sum(y * np.log(p) + (1.0 - y) * np.log1p(-p), axis=-1)
    if metric in ("nll_nats_per_step", "nats_per_char"):
        return _cross_entropy(y, p)
    raise ValueError(f"Unknown metric {metric!r}; known: {', '.join(METRICS)}.")


class MetricAccumulator:
    """Weighted running mean of a task metric over batches of (y, p[, w]).

    Args:
        metric: one of `METRICS`.
        multilabel: True for independent sigmoid outputs (JSB): the NLL of a
            step sums the binary cross-entropies of its outputs.
    """

    def __init__(self, metric, multilabel=False):
        if metric not in METRICS:
            raise ValueError(f"Unknown metric {metric!r}; known: {', '.join(METRICS)}.")
        self.metric = metric
        self.multilabel = bool(multilabel)
        self.total = 0.0
        self.weight = 0.0

    def update(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred, np.float64)
        values = _per_position(self.metric, np.asarray(y_true, np.float64), p, self.multilabel)
        if sample_weight is None:
            w = np.ones_like(values)
        else:
            w = np.broadcast_to(np.asarray(sample_weight, np.float64), values.shape)
        self.total += float(np.sum(values * w))
        self.weight += float(np.sum(w))

    def result(self):
        """``{metric: value, "count": scored positions}`` (plus ``bits_per_char``)."""
        if self.weight <= 0:
            raise ValueError(f"No scored positions: cannot compute {self.metric} of an empty split.")
        value = self.total / self.weight
        count = int(self.weight) if self.weight.is_integer() else self.weight
        result = {self.metric: value, "count": count}
        if self.metric == "nats_per_char":
            result["bits_per_char"] = value / math.log(2.0)
        return result


def evaluate(model, task, split="test", *, batch_size=64, data_dir=None):
    """Score ``model`` on one split of ``task`` with the task's standard metric.

    Args:
        model: a `keras.Model` for ``task`` (see `build_model`).
        task: a `keras_rnnx.datasets.Task`.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: int >= 1.
        data_dir: the data sets' directory (default: the loaders' own).

    Returns:
        A dict: ``{task.metric: value, "count": number of scored examples or
        steps}``, plus ``"bits_per_char"`` for character models.
    """
    dataset = datasets.load_split(task, split, batch_size=batch_size, data_dir=data_dir)
    accumulator = MetricAccumulator(task.metric, multilabel=task.kind == "multilabel")
    for batch in dataset.as_numpy_iterator():
        x, y = batch[0], batch[1]
        weights = batch[2] if len(batch) > 2 else None
        accumulator.update(y, model.predict_on_batch(x), weights)
    return accumulator.result()


def evaluate_carried(model, task, split="validation", *, streams=8, data_dir=None):
    """Score a character model over long streams, carrying its state across windows.

    The split's consecutive windows (each ``T`` characters predicted from the
    ``T`` before, in text order) are dealt into ``streams`` contiguous runs
    of ``ceil(n / streams)`` windows; a stateful copy of ``model``
    (`stateful_stepper`, batch ``streams``) reads each run window after
    window without resetting its state. Every character scored by `evaluate`
    is scored once here, but predicted from everything before it in its
    stream rather than from the start of its window only: the figure of a
    recurrent language model reading the whole text. ``streams=1`` reads the
    split as one sequence.

    Args:
        model: a character model for ``task`` (one output per step, integer
            inputs, see `build_model`).
        task: a `keras_rnnx.datasets.Task` of kind text (``task.vocabulary``).
        split: ``"train"`` or ``"validation"``.
        streams: int >= 1, at most the number of windows of the split.
        data_dir: the data sets' directory (default: the loaders' own).

    Returns:
        `evaluate`'s dict (``nats_per_char``, ``bits_per_char``, ``count``)
        plus ``"streams"``.

    Raises:
        ValueError: a task that is not a character model's, or a bad
            ``streams``, named.
    """
    if task.metric != "nats_per_char" or not task.vocabulary:
        raise ValueError(
            f"evaluate_carried scores character models (metric nats_per_char); task "
            f"{task.name!r} is scored with {task.metric!r}: use evaluate()."
        )
    batches = list(datasets.load_split(task, split, batch_size=1024, data_dir=data_dir).as_numpy_iterator())
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    if isinstance(streams, bool) or not (isinstance(streams, int) and 1 <= streams <= len(x)):
        raise ValueError(
            f"`streams` must be an int from 1 to the {len(x)} windows of the {split!r} "
            f"split; received {streams!r}."
        )
    per_stream = -(-len(x) // streams)
    pad = streams * per_stream - len(x)  # empty windows after the last stream's end
    weights = np.concatenate([np.ones(len(x)), np.zeros(pad)])
    x, y = (np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)]) for a in (x, y))
    layout = (streams, per_stream) + x.shape[1:]
    x, y = x.reshape(layout), y.reshape(layout)
    weights = weights.reshape(streams, per_stream)
    stepper = stateful_stepper(model, batch_size=streams)
    accumulator = MetricAccumulator(task.metric)
    for window in range(per_stream):
        probabilities = stepper.predict_on_batch(x[:, window])
        accumulator.update(y[:, window], probabilities, weights[:, window, None])
    return {**accumulator.result(), "streams": streams}
