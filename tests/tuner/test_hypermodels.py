"""keras_rnnx.tuner: the search spaces, their defaults, every branch built and fitted."""

import doctest

import keras
import keras_tuner
import numpy as np
import pytest

from keras_rnnx import datasets
from keras_rnnx import training
from keras_rnnx import tuner
from keras_rnnx.tuner import hypermodels

TINY_ADDING = {"timesteps": 8, "train_size": 16, "validation_size": 8, "test_size": 8}

RNN_SHARED = {"cell_type", "units", "dropout", "optimizer", "learning_rate", "clipnorm"}
RNN_OWN = {
    "lstm": {"recurrent_dropout", "layers", "peephole", "coupled", "forget_bias"},
    "peephole_lstm": {"recurrent_dropout", "layers", "forget_bias"},
    "cifg_lstm": {"recurrent_dropout", "layers", "forget_bias"},
    "gru": {"recurrent_dropout", "layers", "reset_after"},
    "mut1": {"recurrent_dropout", "layers"},
    "mut2": {"recurrent_dropout", "layers"},
    "mut3": {"recurrent_dropout", "layers"},
    "clockwork_rnn": {"recurrent_dropout", "layers", "num_modules"},
    "grid_lstm_2d": {"recurrent_dropout", "depth", "tied"},
    "grid_lstm_1d": {"depth", "tied"},
    "depth_gated_lstm": {"recurrent_dropout", "num_layers", "layer_dropout"},
}
"""The documented search space of RNNHyperModel: who owns which hyperparameter."""
RNN_CONDITIONAL = set().union(*RNN_OWN.values())
RNN_DEFAULTS = {
    "cell_type": "lstm", "units": 64, "dropout": 0.0, "recurrent_dropout": 0.0,
    "layers": 1, "peephole": False, "coupled": False, "forget_bias": 1.0,
    "optimizer": "adam", "learning_rate": 1e-3, "clipnorm": 1.0,
}  # fmt: skip
VARIANT_DEFAULTS = {
    "variant": "vanilla", "units": 64, "activation": "tanh", "forget_bias": 1.0,
    "learning_rate": 1e-3,
}  # fmt: skip
LSTM_SWITCHES = (
    "peephole", "input_gate", "forget_gate", "output_gate", "input_activation",
    "output_activation", "coupled", "full_gate_recurrence",
)  # fmt: skip
LSTM_PLAIN = dict.fromkeys(LSTM_SWITCHES, True) | {
    "peephole": False, "coupled": False, "full_gate_recurrence": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return datasets.get_task(
        "adding", data_dir=str(tmp_path_factory.mktemp("tfds")), **TINY_ADDING
    )


@pytest.fixture(scope="module")
def one_batch(task):
    """The first train batch of 8, as arrays (one fit step)."""
    x, y = next(iter(datasets.load_split(task, "train", batch_size=8)))
    return x.numpy(), y.numpy()


@pytest.fixture(scope="module")
def waveform_task(tmp_path_factory):
    """A task with one output per step (its data is never generated here)."""
    return datasets.get_task(
        "waveform", data_dir=str(tmp_path_factory.mktemp("unused")), timesteps=8
    )


def _pinned(**values):
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def _fit_one_step(model, batch):
    # Eagerly: tracing each branch's train step would take most of the test
    # time; test_random_search_runs_a_trial fits through the compiled step.
    model.run_eagerly = True
    history = model.fit(*batch, batch_size=len(batch[0]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def _layer_config(model, name):
    return model.get_layer(name).get_config()


# -- RNNHyperModel ---------------------------------------------------------------


def test_exports():
    assert tuner.CELL_TYPES == tuple(training.CELLS)
    assert tuner.VARIANTS == (*tuner.GREFF_VARIANTS, "gru", "mut1", "mut2", "mut3")
    assert issubclass(tuner.RNNHyperModel, keras_tuner.HyperModel)
    assert issubclass(tuner.LSTMVariantHyperModel, keras_tuner.HyperModel)


def test_rnn_defaults_are_rnnx_trains_model(task):
    hp = keras_tuner.HyperParameters()
    model = tuner.RNNHyperModel(task).build(hp)
    assert hp.values == RNN_DEFAULTS
    expected = training.build_model(
        task, "lstm", units=64, peephole=False, coupled=False, forget_bias=1.0
    )
    assert model.get_config() == expected.get_config()
    config = _layer_config(model, "lstm_0")
    assert (config["units"], config["dropout"], config["recurrent_dropout"]) == (64, 0.0, 0.0)
    assert {k: config[k] for k in LSTM_SWITCHES} == LSTM_PLAIN
    assert config["forget_bias"] == 1.0
    assert type(model.optimizer) is keras.optimizers.Adam
    assert model.optimizer.clipnorm == 1.0
    assert np.isclose(float(model.optimizer.learning_rate), 1e-3)
    assert model.loss == "mse"


@pytest.mark.parametrize("cell", hypermodels.CELL_TYPES)
def test_every_cell_type_builds_and_fits(cell, task, one_batch):
    hp = _pinned(cell_type=cell, units=8)
    model = tuner.RNNHyperModel(task).build(hp)
    assert isinstance(model.get_layer(f"{cell}_0"), training.CELLS[cell])
    assert set(hp.values) == RNN_SHARED | RNN_OWN[cell]
    for name in RNN_CONDITIONAL - RNN_OWN[cell]:
        assert not hp.is_active(name), name
    for name in RNN_OWN[cell]:
        assert hp.is_active(name), name
    _fit_one_step(model, one_batch)


@pytest.mark.parametrize(
    "cell, values, layer, expected",
    [
        ("lstm", {"peephole": True, "coupled": True, "forget_bias": 2.0,
                  "recurrent_dropout": 0.25, "dropout": 0.1},
         "lstm_0", {"peephole": True, "coupled": True, "forget_bias": 2.0,
                    "recurrent_dropout": 0.25, "dropout": 0.1}),
        ("cifg_lstm", {"forget_bias": 0.5}, "cifg_lstm_0",
         {"coupled": True, "forget_bias": 0.5}),
        ("gru", {"reset_after": False}, "gru_0", {"reset_after": False}),
        ("clockwork_rnn", {"num_modules": 2}, "clockwork_rnn_0",
         {"num_modules": 2, "periods": [1, 2], "module_sizes": None}),
        ("grid_lstm_2d", {"depth": 3, "tied": True}, "grid_lstm_2d_0", {"depth": 3}),
        ("grid_lstm_1d", {"depth": 3, "tied": False, "dropout": 0.2},
         "grid_lstm_1d_0", {"depth": 3, "tied": False}),
        ("depth_gated_lstm", {"num_layers": 3, "layer_dropout": 0.2},
         "depth_gated_lstm_0", {"num_layers": 3, "layer_dropout": 0.2}),
    ],
)  # fmt: skip
def test_cell_hyperparameters_reach_the_layer(cell, values, layer, expected, task):
    model = tuner.RNNHyperModel(task).build(_pinned(cell_type=cell, units=8, **values))
    config = _layer_config(model, layer)
    assert {k: config[k] for k in expected} == expected
    if cell == "grid_lstm_2d":
        time, depth = config["dimensions"]
        assert (time["name"], time["tied"], depth["name"], depth["tied"]) == (
            "time", True, "depth", True
        )
    if cell == "grid_lstm_1d":
        assert _layer_config(model, "dropout_0")["rate"] == 0.2


def test_layers_stack_and_optimizer_settings(task):
    hp = _pinned(cell_type="gru", units=8, layers=3, optimizer="rmsprop", clipnorm=0.0,
                 learning_rate=0.005)  # fmt: skip
    model = tuner.RNNHyperModel(task).build(hp)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith("gru_")] == ["gru_0", "gru_1", "gru_2"]
    assert _layer_config(model, "gru_1")["return_sequences"]
    assert not _layer_config(model, "gru_2")["return_sequences"]
    assert type(model.optimizer) is keras.optimizers.RMSprop
    assert model.optimizer.clipnorm is None  # 0.0 = no clipping
    assert np.isclose(float(model.optimizer.learning_rate), 0.005)


def test_clockwork_units_that_num_modules_does_not_divide(task):
    model = tuner.RNNHyperModel(task).build(_pinned(cell_type="clockwork_rnn", units=12))
    config = _layer_config(model, "clockwork_rnn_0")
    assert config["num_modules"] == 8
    assert config["module_sizes"] == [2, 2, 2, 2, 1, 1, 1, 1]


def test_cell_types_subset(task):
    hypermodel = tuner.RNNHyperModel(task, cell_types=["mut3", "gru", "mut3"])
    assert hypermodel.cell_types == ("mut3", "gru")
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    # Default: the first cell type when lstm is not offered.
    assert hp.values["cell_type"] == "mut3" and model.name == "adding_mut3"
    # Scopes of cells outside the subset are not declared at all (a tuner
    # could never activate them).
    declared = {h.name for h in hp.space}
    assert declared == RNN_SHARED | RNN_OWN["gru"] | RNN_OWN["mut3"]
    assert not hp.is_active("reset_after")


def test_pinned_cell_type_outside_cell_types(task):
    hypermodel = tuner.RNNHyperModel(task, cell_types=["gru"])
    with pytest.raises(ValueError, match="`cell_type` is 'lstm'.*Choose among: gru"):
        hypermodel.build(_pinned(cell_type="lstm"))


def test_grid_lstm_1d_only_for_tasks_it_can_serve(waveform_task):
    default = tuner.RNNHyperModel(waveform_task).cell_types
    assert default == tuple(c for c in hypermodels.CELL_TYPES if c != "grid_lstm_1d")
    message = r"`cell_types`: 'grid_lstm_1d' cannot serve task 'waveform'.*Valid names: lstm"
    with pytest.raises(ValueError, match=message):
        tuner.RNNHyperModel(waveform_task, cell_types=["gru", "grid_lstm_1d"])


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"task": "adding"}, r"`task` must be a keras_rnnx.datasets.Task.*adding, copy"),
        ({"task": None}, r"`task` must be a keras_rnnx.datasets.Task"),
        ({"cell_types": []}, r"`cell_types` is empty.*Valid names: lstm, peephole_lstm"),
        ({"cell_types": ["lstm", "lstmm"]},
         r"`cell_types` has unknown name\(s\) 'lstmm'. Valid names: lstm,.*depth_gated_lstm"),
        ({"cell_types": "gru"}, r"`cell_types` must be a list of names"),
        ({"cell_types": 3}, r"`cell_types` must be a list of names"),
    ],
)  # fmt: skip
def test_rnn_bad_arguments(arguments, message, task):
    arguments = {"task": task, **arguments}
    with pytest.raises(ValueError, match=message):
        tuner.RNNHyperModel(**arguments)


# -- LSTMVariantHyperModel ---------------------------------------------------------


def test_greff_variants():
    expected = {
        "vanilla": {}, "nig": {"input_gate": False}, "nfg": {"forget_gate": False},
        "nog": {"output_gate": False}, "niaf": {"input_activation": False},
        "noaf": {"output_activation": False}, "np": {"peephole": False},
        "cifg": {"coupled": True}, "fgr": {"full_gate_recurrence": True},
    }  # fmt: skip
    assert list(tuner.GREFF_VARIANTS) == list(expected)
    for variant, change in expected.items():
        switches = LSTM_PLAIN | {"peephole": True} | change
        assert LSTM_PLAIN | tuner.GREFF_VARIANTS[variant] == switches, variant


def test_variant_defaults(task):
    hp = keras_tuner.HyperParameters()
    model = tuner.LSTMVariantHyperModel(task).build(hp)
    assert hp.values == VARIANT_DEFAULTS
    config = _layer_config(model, "lstm_0")
    assert {k: config[k] for k in LSTM_SWITCHES} == LSTM_PLAIN | {"peephole": True}
    assert (config["units"], config["activation"], config["forget_bias"]) == (64, "tanh", 1.0)
    assert type(model.optimizer) is keras.optimizers.Adam
    assert model.optimizer.clipnorm == 1.0
    assert np.isclose(float(model.optimizer.learning_rate), 1e-3)


@pytest.mark.parametrize("variant", hypermodels.VARIANTS)
def test_every_variant_builds_and_fits(variant, task, one_batch):
    hp = _pinned(variant=variant, activation="softsign")
    model = tuner.LSTMVariantHyperModel(task, units=8).build(hp)
    has_forget_gate = variant in tuner.GREFF_VARIANTS and variant != "nfg"
    assert hp.is_active("forget_bias") == has_forget_gate
    assert set(hp.values) == {"variant", "units", "activation", "learning_rate"} | (
        {"forget_bias"} if has_forget_gate else set()
    )
    cell = "lstm" if variant in tuner.GREFF_VARIANTS else variant
    config = _layer_config(model, f"{cell}_0")
    assert (config["units"], config["activation"]) == (8, "softsign")
    if cell == "lstm":
        switches = {k: config[k] for k in LSTM_SWITCHES}
        assert switches == LSTM_PLAIN | tuner.GREFF_VARIANTS[variant]
        assert config["forget_bias"] == (1.0 if has_forget_gate else None)
    _fit_one_step(model, one_batch)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"task": "adding"}, r"`task` must be a keras_rnnx.datasets.Task"),
        ({"variants": []}, r"`variants` is empty.*Valid names: vanilla, nig"),
        ({"variants": ["cifg", "lstm"]},
         r"`variants` has unknown name\(s\) 'lstm'. Valid names: vanilla,.*mut3"),
        ({"units": 0}, r"`units` must be an int >= 1"),
        ({"units": 8.0}, r"`units` must be an int >= 1"),
        ({"units": []}, r"`units` must be an int >= 1 or a non-empty list"),
        ({"units": [8, 0]}, r"`units` must be an int >= 1 or a non-empty list"),
    ],
)  # fmt: skip
def test_variant_bad_arguments(arguments, message, task):
    arguments = {"task": task, **arguments}
    with pytest.raises(ValueError, match=message):
        tuner.LSTMVariantHyperModel(**arguments)


def test_variants_subset_without_forget_gate(task):
    hp = keras_tuner.HyperParameters()
    tuner.LSTMVariantHyperModel(task, units=8, variants=["nfg", "gru"]).build(hp)
    assert hp.values["variant"] == "nfg"
    assert "forget_bias" not in {h.name for h in hp.space}


# -- With a tuner ------------------------------------------------------------------


def test_tuner_collects_the_documented_space(task, tmp_path):
    hypermodel = tuner.RNNHyperModel(task)
    random_search = keras_tuner.RandomSearch(
        hypermodel, objective="val_loss", max_trials=6, seed=3,
        directory=str(tmp_path), project_name="space", overwrite=True,
    )  # fmt: skip
    space = {h.name for h in random_search.oracle.get_space().space}
    assert space == RNN_SHARED | RNN_CONDITIONAL
    for name in space:
        assert f"``{name}``" in tuner.RNNHyperModel.__doc__, name
    # Random trials hold the active values only, and build.
    for index in range(6):
        trial = random_search.oracle.create_trial(f"tuner{index}")
        values = trial.hyperparameters.values
        assert set(values) == RNN_SHARED | RNN_OWN[values["cell_type"]]
        keras.backend.clear_session()
        hypermodel.build(trial.hyperparameters)


def test_variant_tuner_space_is_documented(task, tmp_path):
    random_search = keras_tuner.RandomSearch(
        tuner.LSTMVariantHyperModel(task, units=8), objective="val_loss",
        max_trials=1, directory=str(tmp_path), project_name="variants", overwrite=True,
    )  # fmt: skip
    space = {h.name for h in random_search.oracle.get_space().space}
    assert space == set(VARIANT_DEFAULTS)
    for name in space:
        assert f"``{name}``" in tuner.LSTMVariantHyperModel.__doc__, name


def test_random_search_runs_a_trial(task, one_batch, tmp_path):
    hp = _pinned(cell_type="gru", units=8)
    random_search = keras_tuner.RandomSearch(
        tuner.RNNHyperModel(task), hyperparameters=hp, objective="val_loss",
        max_trials=1, directory=str(tmp_path), project_name="search", overwrite=True,
    )  # fmt: skip
    x, y = one_batch
    random_search.search(x, y, validation_data=(x, y), epochs=1, batch_size=8, verbose=0)
    best = random_search.get_best_hyperparameters(1)[0].values
    assert best["cell_type"] == "gru" and best["units"] == 8
    assert set(best) == RNN_SHARED | RNN_OWN["gru"]


def test_docstring_examples():
    result = doctest.testmod(hypermodels, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_variant_units_list_searches_the_size(task):
    hp = keras_tuner.HyperParameters()
    model = tuner.LSTMVariantHyperModel(task, units=[16, 8, 32]).build(hp)
    assert hp.values["units"] == 16  # the middle of the sorted sizes
    (units,) = [h for h in hp.space if h.name == "units"]
    assert type(units).__name__ == "Choice" and list(units.values) == [8, 16, 32]
    assert any(getattr(layer, "units", None) == 16 for layer in model.layers)
