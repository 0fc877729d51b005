"""keras-rnnx layers: each a cell (one step) and a sequence layer."""

from keras_rnnx.layers.base import RecurrentCell
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.layers.clockwork import ClockworkRNN
from keras_rnnx.layers.clockwork import ClockworkRNNCell
from keras_rnnx.layers.depth_gated import DepthGatedLSTM
from keras_rnnx.layers.depth_gated import DepthGatedLSTMCell
from keras_rnnx.layers.grid import GridLSTM1D
from keras_rnnx.layers.grid import GridLSTM2D
from keras_rnnx.layers.grid import GridLSTM2DCell
from keras_rnnx.layers.gru import GRU
from keras_rnnx.layers.gru import GRUCell
from keras_rnnx.layers.lstm import CIFGLSTM
from keras_rnnx.layers.lstm import LSTM
from keras_rnnx.layers.lstm import CIFGLSTMCell
from keras_rnnx.layers.lstm import LSTMCell
from keras_rnnx.layers.lstm import PeepholeLSTM
from keras_rnnx.layers.lstm import PeepholeLSTMCell
from keras_rnnx.layers.mut import MUT1
from keras_rnnx.layers.mut import MUT2
from keras_rnnx.layers.mut import MUT3
from keras_rnnx.layers.mut import MUT1Cell
from keras_rnnx.layers.mut import MUT2Cell
from keras_rnnx.layers.mut import MUT3Cell
from keras_rnnx.layers.mut import MUTCell
