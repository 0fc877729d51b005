"""Datasets for exercising recurrent layers.

Pure NumPy generators: this package depends on nothing else in keras-rnnx (in
particular not on `keras_rnnx.layers`), so any backend or framework can use it.
"""

from keras_rnnx.datasets.synthetic import ADDING_PROBLEM_BASELINE_MSE
from keras_rnnx.datasets.synthetic import adding_problem
