"""Synthetic sequence tasks, generated deterministically with NumPy.

Five standard tests of how far back a recurrent layer can carry information,
each a pure function of ``(num_samples, timesteps, seed, ...)``:

- `adding_problem`: the adding problem (Hochreiter & Schmidhuber 1997) in the
  form used by Bai, Kolter & Koltun (2018), "An Empirical Evaluation of Generic
  Convolutional and Recurrent Networks for Sequence Modeling";
- `copy_memory`: the copy-memory task of Bai et al. (2018);
- `parity`: k-bit parity, one bit per step;
- `temporal_order`: the temporal-order task (Hochreiter & Schmidhuber 1997,
  experiment 6a);
- `sum_of_sines`: next-step generation of a random sum-of-sines waveform.

Each comes with its trivial baseline (the best score a model that ignores the
informative part of the input can reach), as a constant or a function of the
configuration. This module is NumPy only; the TFDS builders and `tf.data`
pipelines on top of it live in `keras_rnnx.datasets.synthetic_builder` and
`keras_rnnx.datasets.tasks`.
"""

import math
import numbers

import numpy as np

ADDING_PROBLEM_BASELINE_MSE = 1.0 / 6.0
"""Test MSE of the trivial model that always predicts 1.0 on `adding_problem`.

The target is the sum of two independent U(0, 1) values, so its mean is 1 and
its variance is ``2 * 1/12 = 1/6 ~= 0.1667``; predicting the constant 1 (the
best constant) therefore has an expected MSE of exactly 1/6. Bai et al. (2018)
quote 0.1767 for this baseline, a figure the data does not give: on 10**6
samples of `adding_problem` the measured MSE is 0.1667 (checked in
``tests/test_synthetic.py``). A model has learned something only below 1/6.
"""


def _check_int(name, value, minimum, fix):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(
            f"Argument `{name}` must be an int >= {minimum}. Received: "
            f"{name}={value!r}. {fix}"
        )
    return int(value)


ADDING_MARKERS = ("halves", "anywhere")
"""Choices of `adding_problem`'s ``markers`` argument."""


def adding_problem(num_samples, timesteps, seed, markers="halves"):
    """Generate the adding problem (Bai et al. 2018 layout), deterministically.

    Each sample is a sequence of ``timesteps`` steps with two features:

    - channel 0: values drawn uniformly in ``[0, 1)``;
    - channel 1: a marker, 1.0 at exactly two steps and 0.0 elsewhere. One
      marked step lies in the first half, ``[0, timesteps // 2)``, the other
      in the second half, ``[timesteps // 2, timesteps)``, each uniformly
      within its half (the form of Hochreiter & Schmidhuber and of Le et al.
      2015; the reference code of Bai et al. draws both positions anywhere).
      With ``markers="anywhere"``, the two marked steps are instead two
      distinct steps drawn uniformly from the whole sequence, exactly as in
      the reference code of Bai et al. (``adding_problem/utils.py``).

    The target is the sum of the two marked values, in ``[0, 2)``. The best
    constant prediction is 1.0, with an expected MSE of
    `ADDING_PROBLEM_BASELINE_MSE` = 1/6 ~= 0.1667.

    The same ``(num_samples, timesteps, seed)`` always give the same arrays
    (NumPy's ``default_rng``, independent of any global random state), so
    draw train and test sets with different seeds.

    Args:
        num_samples: int >= 1, number of sequences ``N``.
        timesteps: int >= 2, sequence length ``T`` (each half needs a step).
        seed: int >= 0, seed of the generator.
        markers: ``"halves"`` (default: one marker in each half) or
            ``"anywhere"`` (two distinct steps anywhere, Bai et al.'s code).
            The baseline is 1/6 either way.

    Returns:
        A tuple ``(x, y)``: ``x`` float32 of shape ``(N, T, 2)`` and ``y``
        float32 of shape ``(N, 1)``.

    Raises:
        ValueError: if an argument is not an int in its range; the message
            names the argument.

    Example:

    >>> from keras_rnnx.datasets import adding_problem
    >>> x, y = adding_problem(num_samples=4, timesteps=10, seed=0)
    >>> x.shape, y.shape
    ((4, 10, 2), (4, 1))
    >>> x[..., 1].sum(axis=1).tolist()
    [2.0, 2.0, 2.0, 2.0]
    """
    n = _check_int(
        "num_samples", num_samples, 1, "Pass the number of sequences, e.g. 1000."
    )
    t = _check_int(
        "timesteps",
        timesteps,
        2,
        "The two markers go one in each half of the sequence, so pass "
        "timesteps >= 2, e.g. 100.",
    )
    seed = _check_int(
        "seed",
        seed,
        0,
        "Pass a non-negative int such as seed=0 (the generator is deterministic "
        "by design; use different seeds for train and test sets).",
    )
    _check_choice("markers", markers, ADDING_MARKERS)
    rng = np.random.default_rng(seed)
    values = rng.random((n, t), dtype=np.float32)
    if markers == "halves":
        half = t // 2
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, t, size=n)
    else:
        # Two distinct steps, uniformly: the second skips over the first.
        first = rng.integers(0, t, size=n)
        second = rng.integers(0, t - 1, size=n)
        second = second + (second >= first)
    rows = np.arange(n)
    marker = np.zeros((n, t), dtype=np.float32)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    x = np.stack([values, marker], axis=-1)
    y = (values[rows, first] + values[rows, second]).reshape(n, 1)
    return x, y.astype(np.float32)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Argument `{name}` must be one of {sorted(choices)}. Received: "
            f"{name}={value!r}."
        )
    return value


def _check_number(name, value, minimum, fix):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ValueError(
            f"Argument `{name}` must be a finite number >= {minimum}. Received: "
            f"{name}={value!r}. {fix}"
        )
    return float(value)


def _check_common(num_samples, timesteps, seed, min_timesteps, fix):
    n = _check_int(
        "num_samples", num_samples, 1, "Pass the number of sequences, e.g. 1000."
    )
    t = _check_int("timesteps", timesteps, min_timesteps, fix)
    seed = _check_int(
        "seed",
        seed,
        0,
        "Pass a non-negative int such as seed=0 (the generator is deterministic "
        "by design; use different seeds for train and test sets).",
    )
    return n, t, seed


SPLITS = ("train", "validation", "test")
"""The splits of every synthetic task, in the order of `split_seed`."""


def split_seed(seed, split):
    """The generator seed of one split of a synthetic task.

    The three splits of a task drawn with the same ``seed`` must not share
    sequences, so each gets its own stream: the seed of split ``s`` is drawn
    from ``numpy.random.SeedSequence([seed, SPLITS.index(s)])``.

    Args:
        seed: int >= 0, the task's seed.
        split: one of `SPLITS`.

    Returns:
        An int in ``[0, 2**32)``, to pass as ``seed`` to a generator.

    Example:

    >>> from keras_rnnx.datasets.synthetic import split_seed
    >>> split_seed(0, "train") == split_seed(0, "train") != split_seed(0, "test")
    True
    """
    seed = _check_int("seed", seed, 0, "Pass a non-negative int such as seed=0.")
    if split not in SPLITS:
        raise ValueError(
            f"Unknown split {split!r}; the synthetic tasks have the splits {SPLITS}."
        )
    state = np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1)
    return int(state[0])


# --- copy memory -------------------------------------------------------------

COPY_MEMORY_BLANK = 0
"""Symbol of the blank steps of `copy_memory` (input and target)."""
COPY_MEMORY_MARKER = 9
"""Symbol of the delimiter steps of `copy_memory` (input only)."""
COPY_MEMORY_NUM_CLASSES = 10
"""Symbols 0 (blank), 1..8 (digits) and 9 (delimiter)."""


def copy_memory_baseline(timesteps, memory_length=10):
    """Cross-entropy per step (nats) of the memoryless strategy on `copy_memory`.

    A model that remembers nothing outputs the blank with certainty for the
    first ``T + M`` steps (loss 0) and a uniform guess over the 8 digits for
    the last ``M`` steps (loss ``ln 8`` each), so its mean categorical
    cross-entropy over the ``T + 2M`` steps is ``M ln 8 / (T + 2M)``: for the
    usual ``M = 10``, ``10 ln 8 / (T + 20)``, 0.0204 at ``T = 1000`` as quoted by
    Bai et al. (2018).

    Example:

    >>> from keras_rnnx.datasets.synthetic import copy_memory_baseline
    >>> round(copy_memory_baseline(1000), 4)
    0.0204
    """
    t = _check_int("timesteps", timesteps, 1, "Pass the delay T, e.g. 100.")
    m = _check_int("memory_length", memory_length, 1, "Pass e.g. 10.")
    return m * math.log(8.0) / (t + 2 * m)


def copy_memory(num_samples, timesteps, seed, memory_length=10):
    """Generate the copy-memory task (Bai et al. 2018 layout), deterministically.

    With delay ``T = timesteps`` and ``M = memory_length``, each sequence has
    ``T + 2M`` steps of integer symbols:

    - input: ``M`` digits drawn uniformly from 1..8, then ``T - 1`` blanks (0),
      then ``M + 1`` delimiters (9): the first delimiter asks for the digits;
    - target: ``T + M`` blanks, then the ``M`` digits of the input, in order.

    This is the sequence built by the reference code of Bai et al. (2018)
    (``copy_memory/utils.py``). The memoryless baseline is
    `copy_memory_baseline` = ``M ln 8 / (T + 2M)`` nats per step.

    Args:
        num_samples: int >= 1, number of sequences ``N``.
        timesteps: int >= 1, the delay ``T``.
        seed: int >= 0, seed of the generator.
        memory_length: int >= 1, number of digits to copy ``M`` (default 10).

    Returns:
        A tuple ``(x, y)`` of int32 arrays, both of shape ``(N, T + 2M)``.

    Example:

    >>> from keras_rnnx.datasets.synthetic import copy_memory
    >>> x, y = copy_memory(num_samples=1, timesteps=4, seed=0, memory_length=2)
    >>> x.shape, y.shape
    ((1, 8), (1, 8))
    >>> bool((y[0, -2:] == x[0, :2]).all()), x[0, 2:].tolist()
    (True, [0, 0, 0, 9, 9, 9])
    """
    n, t, seed = _check_common(
        num_samples, timesteps, seed, 1, "Pass the delay T >= 1, e.g. 100."
    )
    m = _check_int("memory_length", memory_length, 1, "Pass e.g. 10.")
    rng = np.random.default_rng(seed)
    digits = rng.integers(1, 9, size=(n, m), dtype=np.int32)
    length = t + 2 * m
    x = np.full((n, length), COPY_MEMORY_BLANK, dtype=np.int32)
    x[:, :m] = digits
    x[:, m + t - 1 :] = COPY_MEMORY_MARKER
    y = np.full((n, length), COPY_MEMORY_BLANK, dtype=np.int32)
    y[:, t + m :] = digits
    return x, y


# --- k-bit parity ------------------------------------------------------------

PARITY_BASELINE_ACCURACY = 0.5
"""Expected accuracy of the best constant guess on `parity`.

Parities of uniform random bits are fair coin flips, so always predicting the
majority class scores 0.5 in expectation (on a finite set, its measured class
frequency).
"""


def parity(num_samples, timesteps, seed):
    """Generate k-bit parity (``k = timesteps``), one bit per step.

    Each sequence is ``k`` independent uniform bits, fed as -1.0 (bit 0) or
    +1.0 (bit 1), the encoding of ``scripts/experiments/grid_parity.py``; the
    target is the parity of the number of ones (class 1 if odd). Every bit
    matters, so nothing short of counting all of them beats chance:
    `PARITY_BASELINE_ACCURACY` = 0.5.

    Args:
        num_samples: int >= 1, number of sequences ``N``.
        timesteps: int >= 1, number of bits ``k``.
        seed: int >= 0, seed of the generator.

    Returns:
        A tuple ``(x, y)``: ``x`` float32 of shape ``(N, k, 1)`` with values
        in {-1, +1}, ``y`` int32 of shape ``(N,)`` with values in {0, 1}.

    Example:

    >>> from keras_rnnx.datasets.synthetic import parity
    >>> x, y = parity(num_samples=3, timesteps=5, seed=0)
    >>> x.shape, y.shape
    ((3, 5, 1), (3,))
    >>> bool(((x[..., 0] > 0).sum(axis=1) % 2 == y).all())
    True
    """
    n, t, seed = _check_common(
        num_samples, timesteps, seed, 1, "Pass the number of bits k >= 1, e.g. 16."
    )
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n, t), dtype=np.int32)
    x = (2.0 * bits - 1.0).astype(np.float32)[..., None]
    y = (bits.sum(axis=1) % 2).astype(np.int32)
    return x, y


# --- temporal order ----------------------------------------------------------

TEMPORAL_ORDER_SYMBOLS = ("a", "b", "c", "d", "B", "E", "X", "Y")
"""Input symbols of `temporal_order`, by id: distractors a..d, start B, end E,
and the two relevant symbols X and Y."""
TEMPORAL_ORDER_CLASSES = ("XX", "XY", "YX", "YY")
"""Target classes of `temporal_order`, by id (the paper's Q, R, S, U)."""
TEMPORAL_ORDER_BASELINE_ACCURACY = 0.25
"""Expected accuracy of the best constant guess on `temporal_order`: the four
classes are equally likely."""


def temporal_order_positions(timesteps):
    """Ranges ``((lo1, hi1), (lo2, hi2))`` (inclusive) of the two relevant steps.

    The paper's ``[10, 20]`` and ``[50, 60]`` for ``T = 100``, scaled:
    ``[T//10, T//5]`` and ``[T//2, 3T//5]``, kept inside ``[1, T - 2]``.

    >>> from keras_rnnx.datasets.synthetic import temporal_order_positions
    >>> temporal_order_positions(100)
    ((10, 20), (50, 60))
    """
    t = _check_int("timesteps", timesteps, 4, "Pass e.g. 100.")
    lo1 = max(1, t // 10)
    hi1 = max(lo1, t // 5)
    lo2 = max(hi1 + 1, t // 2)
    hi2 = min(t - 2, max(lo2, (3 * t) // 5))
    return (lo1, hi1), (lo2, hi2)


def temporal_order(num_samples, timesteps, seed):
    """Generate the temporal-order task (Hochreiter & Schmidhuber 1997, 6a).

    Each sequence of ``T = timesteps`` symbols (ids into
    `TEMPORAL_ORDER_SYMBOLS`) starts with B, ends with E, carries X or Y at
    two steps ``t1`` and ``t2`` drawn uniformly from the ranges of
    `temporal_order_positions` (``[10, 20]`` and ``[50, 60]`` for ``T = 100``),
    and a uniform distractor a..d everywhere else. The class is the order of
    the two relevant symbols (`TEMPORAL_ORDER_CLASSES`): XX, XY, YX or YY, each
    with probability 1/4, so the best constant guess scores
    `TEMPORAL_ORDER_BASELINE_ACCURACY` = 0.25. (The paper draws the length
    uniformly in ``[100, 110]``; here every sequence has exactly ``T`` steps.)

    Args:
        num_samples: int >= 1, number of sequences ``N``.
        timesteps: int >= 4, sequence length ``T``.
        seed: int >= 0, seed of the generator.

    Returns:
        A tuple ``(x, y)``: ``x`` int32 symbol ids of shape ``(N, T)``, ``y``
        int32 class ids of shape ``(N,)``.

    Example:

    >>> from keras_rnnx.datasets.synthetic import temporal_order
    >>> x, y = temporal_order(num_samples=2, timesteps=100, seed=0)
    >>> x.shape, y.shape, x[:, 0].tolist(), x[:, -1].tolist()
    ((2, 100), (2,), [4, 4], [5, 5])
    """
    n, t, seed = _check_common(
        num_samples, timesteps, seed, 4, "Pass the sequence length T >= 4, e.g. 100."
    )
    (lo1, hi1), (lo2, hi2) = temporal_order_positions(t)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(n, t), dtype=np.int32)
    x[:, 0] = 4
    x[:, -1] = 5
    t1 = rng.integers(lo1, hi1 + 1, size=n)
    t2 = rng.integers(lo2, hi2 + 1, size=n)
    first = rng.integers(0, 2, size=n, dtype=np.int32)
    second = rng.integers(0, 2, size=n, dtype=np.int32)
    rows = np.arange(n)
    x[rows, t1] = 6 + first
    x[rows, t2] = 6 + second
    y = (2 * first + second).astype(np.int32)
    return x, y


# --- sum-of-sines waveform ---------------------------------------------------

WAVEFORM_BASELINE_MSE = 0.5
"""MSE of predicting the constant 0 on `sum_of_sines`.

Each of the ``K`` sines has a uniform random phase, so at every step
``E[sin^2] = 1/2`` and the cross terms vanish in expectation; scaled by
``1/sqrt(K)`` the waveform has mean 0 and variance exactly ``1/2``.
"""


def sum_of_sines(
    num_samples, timesteps, seed, components=3, min_period=4.0, max_period=None
):
    """Generate next-step prediction of random sum-of-sines waveforms.

    Each waveform is ``w_t = sum_k sin(2 pi t / P_k + phi_k) / sqrt(K)`` for
    ``t = 0..T-1``, with ``K = components`` periods ``P_k`` drawn uniformly in
    ``[min_period, max_period]`` (in steps; ``max_period`` defaults to ``T``)
    and phases ``phi_k`` uniform in ``[0, 2 pi)``. The model generates the
    waveform one step ahead: its input at step ``t`` is ``w_{t-1}`` (0 at
    ``t = 0``) and its target is ``w_t``. Predicting 0 everywhere scores
    `WAVEFORM_BASELINE_MSE` = 0.5 (the waveform's variance).

    Args:
        num_samples: int >= 1, number of sequences ``N``.
        timesteps: int >= 2, sequence length ``T``.
        seed: int >= 0, seed of the generator.
        components: int >= 1, number of sines ``K``.
        min_period: number >= 2 (the Nyquist limit), shortest period in steps.
        max_period: number >= ``min_period``, longest period; ``None`` for ``T``.

    Returns:
        A tuple ``(x, y)`` of float32 arrays of shape ``(N, T, 1)``, with
        ``x[:, 1:] == y[:, :-1]`` and ``x[:, 0] == 0``.

    Example:

    >>> from keras_rnnx.datasets.synthetic import sum_of_sines
    >>> x, y = sum_of_sines(num_samples=2, timesteps=50, seed=0)
    >>> x.shape, bool((x[:, 1:] == y[:, :-1]).all())
    ((2, 50, 1), True)
    """
    n, t, seed = _check_common(
        num_samples, timesteps, seed, 2, "Pass the sequence length T >= 2, e.g. 100."
    )
    k = _check_int("components", components, 1, "Pass the number of sines, e.g. 3.")
    lo = _check_number(
        "min_period", min_period, 2.0, "Periods are in steps; 2 is the shortest."
    )
    hi = float(t) if max_period is None else _check_number(
        "max_period", max_period, lo, "Pass a period >= min_period, or None for T."
    )
    if hi < lo:
        raise ValueError(
            f"Argument `max_period` (None: the number of timesteps, {t}) must be "
            f">= min_period={lo}. Pass a longer max_period or a shorter min_period."
        )
    rng = np.random.default_rng(seed)
    periods = rng.uniform(lo, hi, size=(n, k, 1))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(n, k, 1))
    steps = np.arange(t, dtype=np.float64)
    wave = np.sin(2.0 * np.pi * steps / periods + phases).sum(axis=1) / np.sqrt(k)
    y = wave.astype(np.float32)[..., None]
    x = np.zeros_like(y)
    x[:, 1:] = y[:, :-1]
    return x, y
