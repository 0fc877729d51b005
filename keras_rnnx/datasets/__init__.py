"""Data sets for training and evaluating recurrent layers, as TFDS builders.

- `synthetic`: NumPy generators of the synthetic tasks (adding problem, copy
  memory, k-bit parity, temporal order, sum-of-sines waveform) and their
  trivial baselines; NumPy only.
- `synthetic_builder`, `jsb`, `text`: the TFDS dataset builders
  (``rnnx_synthetic``, ``rnnx_jsb_chorales``, ``rnnx_char_text``).
- `tasks`: the `Task` description of each task and its ``tf.data`` splits
  (`get_task`, `load_split`, `split_sizes`).

This package depends on nothing else in keras-rnnx (in particular not on
`keras_rnnx.layers`). Tasks, options and baselines: ``docs/datasets.md``.
"""

from keras_rnnx.datasets.jsb import JSB_FREQUENCY_BASELINE_NLL
from keras_rnnx.datasets.jsb import JsbChorales
from keras_rnnx.datasets.jsb import jsb_frequency_baseline
from keras_rnnx.datasets.jsb import multilabel_nll_nats_per_step
from keras_rnnx.datasets.synthetic import ADDING_PROBLEM_BASELINE_MSE
from keras_rnnx.datasets.synthetic import adding_problem
from keras_rnnx.datasets.synthetic import copy_memory
from keras_rnnx.datasets.synthetic import parity
from keras_rnnx.datasets.synthetic import sum_of_sines
from keras_rnnx.datasets.synthetic import temporal_order
from keras_rnnx.datasets.synthetic_builder import SyntheticSequences
from keras_rnnx.datasets.tasks import BOOLEAN_OPTIONS
from keras_rnnx.datasets.tasks import MAX_TRANSPOSE
from keras_rnnx.datasets.tasks import PAD_VALUE
from keras_rnnx.datasets.tasks import TASKS
from keras_rnnx.datasets.tasks import Task
from keras_rnnx.datasets.tasks import get_builder
from keras_rnnx.datasets.tasks import get_task
from keras_rnnx.datasets.tasks import load_split
from keras_rnnx.datasets.tasks import split_sizes
from keras_rnnx.datasets.tasks import steps_per_epoch
from keras_rnnx.datasets.tasks import transpose_roll
from keras_rnnx.datasets.text import CharText
from keras_rnnx.datasets.text import load_vocabulary
from keras_rnnx.datasets.text import save_vocabulary
