"""Bottom layer of keras-rnnx: pure `keras.ops` step maths and the sequence engine.

Nothing here creates variables or layers. Every function takes tensors (the
cell's weights gathered in a ``params`` dict) and a frozen *structure* object
describing the variant, so the same maths runs inside a cell called by
`keras.layers.RNN`, inside the fused sequence path of the keras-rnnx layers,
and in the tests.
"""

from keras_rnnx.ops.engine import hoist_input_projection
from keras_rnnx.ops.engine import run_loop
from keras_rnnx.ops.engine import split_kernel_blocks
from keras_rnnx.ops.engine import uniform_noise
from keras_rnnx.ops.gru import GRUStructure
from keras_rnnx.ops.gru import gru_input_projection
from keras_rnnx.ops.gru import gru_recurrence
from keras_rnnx.ops.lstm import LSTMStructure
from keras_rnnx.ops.lstm import lstm_input_projection
from keras_rnnx.ops.lstm import lstm_recurrence
from keras_rnnx.ops.mut import MUTStructure
from keras_rnnx.ops.mut import mut_input_projection
from keras_rnnx.ops.mut import mut_recurrence
from keras_rnnx.ops.norm import layer_norm
