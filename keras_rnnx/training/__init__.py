"""Training, evaluation and sampling of keras-rnnx models on the data sets' tasks.

- `build_model` / `compile_model`: a model for a task from a cell name and options;
- `train`: fit with resume (Keras `BackupAndRestore`), TensorBoard, early
  stopping, and write a preset directory (`keras_rnnx.zoo`);
- `evaluate`: a task's standard metric on one split; `evaluate_carried`: a
  character model's, reading the split as long streams with carried state;
- `sample`, `sample_text`, `sample_piano_roll`, `write_midi`, `plot_piano_roll`.

The command line is ``rnnx train``, ``rnnx eval`` and ``rnnx sample``;
``docs/training.md`` describes the commands, the preset format and the metrics.
"""

from keras_rnnx.training.metrics import METRICS
from keras_rnnx.training.metrics import MetricAccumulator
from keras_rnnx.training.metrics import evaluate
from keras_rnnx.training.metrics import evaluate_carried
from keras_rnnx.training.models import CELLS
from keras_rnnx.training.models import DTYPE_POLICIES
from keras_rnnx.training.models import OPTIMIZERS
from keras_rnnx.training.models import LR_SCHEDULES
from keras_rnnx.training.models import boolean_cell_options
from keras_rnnx.training.models import build_model
from keras_rnnx.training.models import check_architecture
from keras_rnnx.training.models import cell_options
from keras_rnnx.training.models import check_cell_options
from keras_rnnx.training.models import compile_model
from keras_rnnx.training.models import make_optimizer
from keras_rnnx.training.sampling import chords_to_roll
from keras_rnnx.training.sampling import plot_piano_roll
from keras_rnnx.training.sampling import sample
from keras_rnnx.training.sampling import sample_piano_roll
from keras_rnnx.training.sampling import sample_text
from keras_rnnx.training.sampling import stateful_stepper
from keras_rnnx.training.sampling import write_midi
from keras_rnnx.training.trainer import LEGACY_DEFAULTS
from keras_rnnx.training.trainer import NonFiniteLoss
from keras_rnnx.training.trainer import TrainResult
from keras_rnnx.training.trainer import read_history
from keras_rnnx.training.trainer import recorded_setting
from keras_rnnx.training.trainer import resolve_task
from keras_rnnx.training.trainer import task_from_metadata
from keras_rnnx.training.trainer import task_metadata
from keras_rnnx.training.trainer import train
from keras_rnnx.training.trainer import work_dir_for
