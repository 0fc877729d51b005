"""Keras Tuner integration: hypermodels over the keras-rnnx cells.

- `RNNHyperModel`: cell type, the cell's own options, size, dropout and
  optimizer, for any `keras_rnnx.datasets.Task`;
- `LSTMVariantHyperModel`: the gate structures of Greff et al. (2017)
  (`GREFF_VARIANTS`), the GRU and MUT1-3 (Jozefowicz et al. 2015) at a fixed
  size.

Both build the models of ``rnnx train`` (`keras_rnnx.training.build_model`,
`keras_rnnx.training.compile_model`); their docstrings tabulate the search
spaces.
"""

from keras_rnnx.tuner.hypermodels import CELL_TYPES
from keras_rnnx.tuner.hypermodels import GREFF_VARIANTS
from keras_rnnx.tuner.hypermodels import VARIANTS
from keras_rnnx.tuner.hypermodels import LSTMVariantHyperModel
from keras_rnnx.tuner.hypermodels import RNNHyperModel
