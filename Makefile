# keras-rnnx: two commands for a fresh machine.
#   make demo   create .venv, install the package, run the main job
#   make test   create .venv, install the package with test extras, run the suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Keep TensorFlow's C++ start-up chatter off the demo's and tests' output.
export TF_CPP_MIN_LOG_LEVEL ?= 3
PYTEST_ARGS ?=

.PHONY: demo test test-quick test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# The tour, offline from the shipped zoo: list the presets, sample the
# Shakespeare flagship, score a JSB Chorales preset on its test split. Then the
# shoot-out of every layer on the adding problem, and one model through the
# training pipeline (train, write a preset directory, evaluate it).
DEMO_DIR := build/demo
demo: $(VENV)/.installed-run
	RNNX_OFFLINE=1 $(BIN)/rnnx zoo list
	RNNX_OFFLINE=1 $(BIN)/rnnx zoo sample shakespeare_lstm --prompt "ROMEO:" \
	    --length 300 --temperature 0.8 --seed 0
	RNNX_OFFLINE=1 $(BIN)/rnnx zoo eval jsb_lstm
	$(BIN)/rnnx demo
	$(BIN)/rnnx train --task adding --task-option timesteps=100 \
	    --task-option train_size=4000 --data-dir $(DEMO_DIR)/data --cell gru \
	    --units 32 --epochs 5 --lr 0.01 --verbose 2 \
	    --output $(DEMO_DIR)/adding_gru --overwrite
	$(BIN)/rnnx eval $(DEMO_DIR)/adding_gru --data-dir $(DEMO_DIR)/data

# The suite on the TensorFlow backend, then the layer tests again on JAX.
# Tests marked `slow` (real multi-process runs: SIGKILL and resume, the tuner's
# chief and workers, multi-worker training, the benchmark's memory mode, the
# GPU check's CPU smoke run) are left to `make test-slow`; CI runs both.
# JAX's compilation cache: the layer tests compile the same programs many
# times (a case's loop in its harness, save/load and masking tests).
JAX_CACHE := build/jax-cache
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest -n 2 -q --durations=15 -m "not slow" $(PYTEST_ARGS) tests
	KERAS_BACKEND=jax JAX_COMPILATION_CACHE_DIR=$(JAX_CACHE) JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
	    $(BIN)/python -m pytest -n 2 -q --durations=15 -m "not tf_only and not one_backend and not slow" $(PYTEST_ARGS) tests/layers

# Day-to-day: the NumPy references, the architecture rule, the engine and the
# docstring examples, on TensorFlow (a few minutes; the full suite before a commit).
QUICK_TESTS := tests/test_architecture.py tests/test_docstrings.py \
    tests/layers/test_reference_numpy.py tests/layers/test_engine.py
test-quick: $(VENV)/.installed-test
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest -n 2 -q --durations=5 -m "not slow" $(PYTEST_ARGS) $(QUICK_TESTS)

test-slow: $(VENV)/.installed-test
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest -n 2 -q --durations=15 -m slow $(PYTEST_ARGS) tests

bench: $(VENV)/.installed-run
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) build *.egg-info
