"""Keras Tuner hypermodels over the keras-rnnx cells.

`RNNHyperModel` searches over cell types and sizes, `LSTMVariantHyperModel`
over the gate structures of Greff et al. (2017) and Jozefowicz et al. (2015).
Both build with `keras_rnnx.training.build_model` and compile with
`keras_rnnx.training.compile_model`, so a trial's model is the model
``rnnx train`` builds from the same values.

Every tuned value has a name and an explicit default: building with a fresh
``keras_tuner.HyperParameters()`` gives the documented default model. A
hyperparameter that belongs to some cell types (variants) only is declared
inside ``hp.conditional_scope("cell_type", those cells)`` (``"variant"``), so
it is active, in ``hp.values`` and in trial summaries, only when one of them
is chosen. Pin any value before `build` with ``hp.Fixed(name, value)``.
"""

import dataclasses
from collections.abc import Callable

import keras_tuner

from keras_rnnx import datasets
from keras_rnnx.layers.grid import DEFAULT_2D_DIMENSIONS
from keras_rnnx.training import models

CELL_TYPES = tuple(models.CELLS)
"""Every cell type `RNNHyperModel` can search over (the cells of ``rnnx train``)."""

GREFF_VARIANTS = {
    "vanilla": {"peephole": True},
    "nig": {"peephole": True, "input_gate": False},
    "nfg": {"peephole": True, "forget_gate": False},
    "nog": {"peephole": True, "output_gate": False},
    "niaf": {"peephole": True, "input_activation": False},
    "noaf": {"peephole": True, "output_activation": False},
    "np": {"peephole": False},
    "cifg": {"peephole": True, "coupled": True},
    "fgr": {"peephole": True, "full_gate_recurrence": True},
}
"""Greff et al.'s vanilla LSTM and its eight variants, as `keras_rnnx.layers.LSTM`
arguments: vanilla has peepholes and every gate; NIG, NFG, NOG drop the input,
forget, output gate; NIAF, NOAF the input, output activation; NP the
peepholes; CIFG couples the input and forget gates; FGR adds full gate
recurrence."""

VARIANTS = (*GREFF_VARIANTS, "gru", "mut1", "mut2", "mut3")
"""Every variant `LSTMVariantHyperModel` can search over: `GREFF_VARIANTS`,
then the GRU and Jozefowicz et al.'s MUT1-3 (cells of ``rnnx train``)."""

UNITS = (32, 64, 128, 256)
ACTIVATIONS = ("tanh", "softsign", "hard_tanh", "relu")
_LSTM_FAMILY = ("lstm", "peephole_lstm", "cifg_lstm")
_STACKABLE = (*_LSTM_FAMILY, "gru", "mut1", "mut2", "mut3", "clockwork_rnn")
_GRID = ("grid_lstm_2d", "grid_lstm_1d")


def _forget_bias(hp):
    return hp.Float("forget_bias", 0.0, 3.0, default=1.0)


def _compile(hp, model, task, optimizer, clipnorm):
    """Declare ``learning_rate`` and compile ``model`` as ``rnnx train`` does."""
    learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3)
    return models.compile_model(
        model, task, optimizer=optimizer, learning_rate=learning_rate,
        clipnorm=clipnorm or None,
    )


def _clockwork_modules(num_modules, cell, units):
    # The UNITS are multiples of 8, so every NUM_MODULES divides them; a units
    # value pinned by the caller that does not gets near-equal module sizes.
    if units % num_modules == 0:
        return {"num_modules": num_modules}
    size, extra = divmod(units, num_modules)
    return {
        "num_modules": num_modules,
        "module_sizes": [size + (k < extra) for k in range(num_modules)],
    }


def _grid_tying(tied, cell, units):
    if cell == "grid_lstm_1d":
        return {"tied": tied}
    time, depth = DEFAULT_2D_DIMENSIONS
    return {"dimensions": [dict(time), {**depth, "tied": tied}]}


@dataclasses.dataclass(frozen=True)
class _Conditional:
    """A hyperparameter of `RNNHyperModel` active for some cell types only.

    ``declare(hp, name)`` declares it and returns its value;
    ``to_options(value, cell, units)`` turns the value into keyword arguments
    of `build_model` (default ``{name: value}``).
    """

    name: str
    cells: tuple
    declare: Callable
    to_options: Callable | None = None

    def options(self, value, cell, units):
        if self.to_options is None:
            return {self.name: value}
        return self.to_options(value, cell, units)


_CONDITIONALS = (
    _Conditional(
        "recurrent_dropout",
        tuple(c for c in CELL_TYPES if c != "grid_lstm_1d"),
        lambda hp, name: hp.Float(name, 0.0, 0.5, default=0.0),
    ),
    _Conditional("layers", _STACKABLE, lambda hp, name: hp.Int(name, 1, 3, default=1)),
    _Conditional("peephole", ("lstm",), lambda hp, name: hp.Boolean(name, default=False)),
    _Conditional("coupled", ("lstm",), lambda hp, name: hp.Boolean(name, default=False)),
    _Conditional("forget_bias", _LSTM_FAMILY, lambda hp, name: _forget_bias(hp)),
    _Conditional("reset_after", ("gru",), lambda hp, name: hp.Boolean(name, default=True)),
    _Conditional(
        "num_modules",
        ("clockwork_rnn",),
        lambda hp, name: hp.Choice(name, [1, 2, 4, 8], default=8),
        _clockwork_modules,
    ),
    _Conditional("depth", _GRID, lambda hp, name: hp.Int(name, 1, 4, default=2)),
    _Conditional(
        "tied", _GRID, lambda hp, name: hp.Boolean(name, default=False), _grid_tying
    ),
    _Conditional(
        "num_layers", ("depth_gated_lstm",), lambda hp, name: hp.Int(name, 1, 4, default=2)
    ),
    _Conditional(
        "layer_dropout",
        ("depth_gated_lstm",),
        lambda hp, name: hp.Float(name, 0.0, 0.5, default=0.0),
    ),
)


def _fits(cell, task):
    """Whether `build_model` can build ``cell`` for ``task``.

    Only ``grid_lstm_1d`` is restricted: it reads the flattened input, so it
    needs one output per sequence and fixed-length, unpadded inputs.
    """
    if cell != "grid_lstm_1d":
        return True
    return not (task.sequence_output or task.masked or None in tuple(task.input_shape))


def _check_task(task):
    if not isinstance(task, datasets.Task):
        raise ValueError(
            "Argument `task` must be a keras_rnnx.datasets.Task, e.g. "
            "keras_rnnx.datasets.get_task('adding'); task names: "
            f"{', '.join(datasets.TASKS)}. Received: task={task!r}."
        )
    return task


def _check_names(argument, names, valid, known, why_invalid=""):
    """``names`` (None: all of ``valid``) as a tuple without repeats.

    Raises `ValueError` naming ``argument`` and listing ``valid`` for a string
    or non-iterable, an empty selection, a name not in ``known``, or a known
    name not in ``valid`` (``why_invalid`` says why).
    """
    listing = f"Valid names: {', '.join(valid)}."
    if names is None:
        return tuple(valid)
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise ValueError(
            f"Argument `{argument}` must be a list of names, e.g. "
            f"[{valid[0]!r}]. Received: {argument}={names!r}. {listing}"
        )
    names = tuple(names)
    if not names:
        raise ValueError(
            f"Argument `{argument}` is empty: select at least one name, or pass "
            f"None for all of them. {listing}"
        )
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"Argument `{argument}` has unknown name(s) "
            f"{', '.join(map(repr, unknown))}. {listing}"
        )
    invalid = [n for n in names if n not in valid]
    if invalid:
        raise ValueError(
            f"Argument `{argument}`: {', '.join(map(repr, invalid))} {why_invalid}. "
            f"{listing}"
        )
    return tuple(dict.fromkeys(names))


def _choose(hp, name, values, preferred):
    """Declare the Choice ``name`` (default ``preferred`` when offered) and
    check that its value, possibly pinned by the caller, is one of ``values``."""
    default = preferred if preferred in values else values[0]
    value = hp.Choice(name, list(values), default=default)
    if value not in values:
        raise ValueError(
            f"Hyperparameter `{name}` is {value!r}, which this hypermodel does not "
            f"build. Choose among: {', '.join(values)}."
        )
    return value


class RNNHyperModel(keras_tuner.HyperModel):
    """Search over the keras-rnnx cell types, their options, sizes and optimizer.

    A trial's model is ``build_model(task, cell_type, units, ...)`` compiled
    with ``compile_model``: the same as ``rnnx train`` with these values.

    Search space (hyperparameter names as in ``hp.values``; *active for*
    lists the ``cell_type`` values for which a hyperparameter is active):

    =====================  ===========================  ==========  ==========================
    hyperparameter         values                       default     active for
    =====================  ===========================  ==========  ==========================
    ``cell_type``          Choice of ``cell_types``     ``lstm``    always
    ``units``              Choice 32, 64, 128, 256      64          always
    ``dropout``            Float 0 .. 0.5               0.0         always
    ``recurrent_dropout``  Float 0 .. 0.5               0.0         every cell but grid_lstm_1d
    ``layers``             Int 1 .. 3                   1           lstm, peephole_lstm,
                                                                    cifg_lstm, gru, mut1,
                                                                    mut2, mut3, clockwork_rnn
    ``peephole``           Boolean                      False       lstm
    ``coupled``            Boolean                      False       lstm
    ``forget_bias``        Float 0 .. 3                 1.0         lstm, peephole_lstm,
                                                                    cifg_lstm
    ``reset_after``        Boolean                      True        gru
    ``num_modules``        Choice 1, 2, 4, 8            8           clockwork_rnn
    ``depth``              Int 1 .. 4                   2           grid_lstm_2d, grid_lstm_1d
    ``tied``               Boolean                      False       grid_lstm_2d, grid_lstm_1d
    ``num_layers``         Int 1 .. 4                   2           depth_gated_lstm
    ``layer_dropout``      Float 0 .. 0.5               0.0         depth_gated_lstm
    ``optimizer``          Choice adam, rmsprop, sgd    adam        always
    ``learning_rate``      Float 1e-4 .. 1e-2, log      1e-3        always
    ``clipnorm``           Choice 0.0, 1.0, 5.0         1.0         always
    =====================  ===========================  ==========  ==========================

    Notes on the cells:

    - ``cell_type`` defaults to ``lstm``, or to the first of ``cell_types``
      when ``lstm`` is not among them. mut1, mut2 and mut3 have no options
      of their own. ``peephole_lstm`` and ``cifg_lstm`` are ``lstm`` with
      ``peephole`` / ``coupled`` on (only ``forget_bias`` is tuned for them).
    - ``layers`` stacks layers of the cell; the grid cells get depth from
      ``depth``, ``depth_gated_lstm`` from ``num_layers`` (1: a peephole LSTM
      without depth gates), so for them ``layers`` stays 1.
    - ``num_modules``: equal modules with periods 1, 2, 4, ... Every
      ``units`` value is a multiple of 8, so every ``num_modules`` divides it;
      a ``units`` value pinned by the caller that ``num_modules`` does not
      divide gets near-equal ``module_sizes`` (``units`` must be at least
      ``num_modules``).
    - ``tied``: grid_lstm_2d shares the depth dimension's weights across
      levels (the time dimension is always tied); grid_lstm_1d shares its
      block's weights.
    - ``clipnorm`` 0.0 means no clipping. ``layer_dropout`` drops the
      connections between the layers of ``depth_gated_lstm``.

    Args:
        task: a `keras_rnnx.datasets.Task` (from `keras_rnnx.datasets.get_task`):
            input shape and dtype, masking, output head, loss and metric.
        cell_types: list of names from `CELL_TYPES` to search over (default:
            every cell type that can serve ``task``: all of them, but
            ``grid_lstm_1d`` only for tasks with one output per sequence and
            fixed-length, unpadded inputs). Repeats are dropped.
        name: optional name of the hypermodel (`keras_tuner.HyperModel`).
        tunable: bool (default True), whether the tuner adds the
            hyperparameters declared here to its search space; with False they
            take their defaults unless declared beforehand
            (`keras_tuner.HyperModel`).

    Raises:
        ValueError: ``task`` not a `Task`; ``cell_types`` empty, not a list,
            with an unknown name or a cell type that cannot serve ``task``. The
            message names the argument and lists the valid names.

    Example:

    >>> import keras_tuner
    >>> from keras_rnnx import datasets
    >>> from keras_rnnx.tuner import RNNHyperModel
    >>> task = datasets.get_task("adding", timesteps=10)
    >>> hypermodel = RNNHyperModel(task, cell_types=["gru", "mut3"])
    >>> hp = keras_tuner.HyperParameters()
    >>> model = hypermodel.build(hp)
    >>> model.name, hp.values["cell_type"], "peephole" in hp.values
    ('adding_gru', 'gru', False)
    """

    def __init__(self, task, cell_types=None, name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        self.task = _check_task(task)
        self.cell_types = _check_names(
            "cell_types",
            cell_types,
            valid=tuple(c for c in CELL_TYPES if _fits(c, task)),
            known=CELL_TYPES,
            why_invalid=(
                f"cannot serve task {task.name!r} (grid_lstm_1d needs one output "
                "per sequence and fixed-length, unpadded inputs)"
            ),
        )

    def build(self, hp):
        """A compiled model for the values of ``hp`` (declaring the space)."""
        cell = _choose(hp, "cell_type", self.cell_types, "lstm")
        units = hp.Choice("units", list(UNITS), default=64)
        arguments = {"dropout": hp.Float("dropout", 0.0, 0.5, default=0.0)}
        for conditional in _CONDITIONALS:
            cells = [c for c in self.cell_types if c in conditional.cells]
            if not cells:  # a scope no cell_type value can activate
                continue
            with hp.conditional_scope("cell_type", cells):
                value = conditional.declare(hp, conditional.name)
            if cell in cells:
                arguments.update(conditional.options(value, cell, units))
        model = models.build_model(self.task, cell, units=units, **arguments)
        optimizer = hp.Choice("optimizer", ["adam", "rmsprop", "sgd"], default="adam")
        clipnorm = hp.Choice("clipnorm", [0.0, 1.0, 5.0], default=1.0)
        return _compile(hp, model, self.task, optimizer, clipnorm)


class LSTMVariantHyperModel(keras_tuner.HyperModel):
    """Search over gate structures: Greff et al.'s LSTM variants, the GRU, MUT1-3.

    Architecture search at a fixed size (Greff et al. 2017, "LSTM: A Search
    Space Odyssey"; Jozefowicz et al. 2015, "An Empirical Exploration of
    Recurrent Network Architectures"): one recurrent layer of ``units``
    units, Adam with ``clipnorm=1.0``, no dropout.

    Search space:

    =================  ===================================  ===========  ====================
    hyperparameter     values                               default      active for
    =================  ===================================  ===========  ====================
    ``variant``        Choice of ``variants``               ``vanilla``  always
    ``units``          Fixed: the ``units`` argument        64           always
                       (a list: Choice of it, default the
                       middle value)
    ``activation``     Choice tanh, softsign, hard_tanh,    tanh         always
                       relu
    ``forget_bias``    Float 0 .. 3                         1.0          the variants with a
                                                                         forget gate: vanilla,
                                                                         nig, nog, niaf, noaf,
                                                                         np, cifg, fgr
    ``learning_rate``  Float 1e-4 .. 1e-2, log              1e-3         always
    =================  ===================================  ===========  ====================

    ``variant`` defaults to ``vanilla``, or to the first of ``variants`` when
    ``vanilla`` is not among them. ``activation`` is the cell's
    ``activation`` (the LSTM's candidate and output activation, the GRU's and
    MUTs' candidate activation); the gates keep the sigmoid.

    The variants (`GREFF_VARIANTS` gives the `keras_rnnx.layers.LSTM`
    arguments; the LSTM variants are cell ``lstm`` of `build_model`):

    ===========  ==============================  ===========================================
    variant      model                           arguments
    ===========  ==============================  ===========================================
    ``vanilla``  Greff's vanilla LSTM            ``peephole=True``
    ``nig``      no input gate                   ``peephole=True, input_gate=False``
    ``nfg``      no forget gate                  ``peephole=True, forget_gate=False``
    ``nog``      no output gate                  ``peephole=True, output_gate=False``
    ``niaf``     no input activation function    ``peephole=True, input_activation=False``
    ``noaf``     no output activation function   ``peephole=True, output_activation=False``
    ``np``       no peepholes                    ``peephole=False``
    ``cifg``     coupled input and forget gate   ``peephole=True, coupled=True``
    ``fgr``      full gate recurrence            ``peephole=True, full_gate_recurrence=True``
    ``gru``      GRU (Cho et al. 2014)           cell ``gru``
    ``mut1``     MUT1 (Jozefowicz et al. 2015)   cell ``mut1``
    ``mut2``     MUT2                            cell ``mut2``
    ``mut3``     MUT3                            cell ``mut3``
    ===========  ==============================  ===========================================

    Args:
        task: a `keras_rnnx.datasets.Task` (from `keras_rnnx.datasets.get_task`).
        units: int >= 1 (default 64), units of the recurrent layer, declared
            as ``hp.Fixed("units", units)``; or a list of them, declared as
            ``hp.Choice("units", sorted(units))`` (searching size as well).
        variants: list of names from `VARIANTS` to search over (default: all
            of them). Repeats are dropped.
        name: optional name of the hypermodel (`keras_tuner.HyperModel`).
        tunable: bool (default True), whether the tuner adds the
            hyperparameters declared here to its search space
            (`keras_tuner.HyperModel`).

    Raises:
        ValueError: ``task`` not a `Task`, ``units`` not an int >= 1 nor a
            non-empty list of them,
            ``variants`` empty, not a list or with an unknown name (the
            message names the argument and lists the valid names).
    """

    def __init__(self, task, units=64, variants=None, name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        self.task = _check_task(task)
        sizes = list(units) if isinstance(units, (list, tuple)) else [units]
        if not sizes or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in sizes):
            raise ValueError(
                "Argument `units` must be an int >= 1 or a non-empty list of them. "
                f"Received: units={units!r}."
            )
        self.units = units if isinstance(units, int) else sorted(set(sizes))
        self.variants = _check_names("variants", variants, valid=VARIANTS, known=VARIANTS)

    def build(self, hp):
        """A compiled model for the values of ``hp`` (declaring the space)."""
        variant = _choose(hp, "variant", self.variants, "vanilla")
        if isinstance(self.units, int):
            units = hp.Fixed("units", self.units)
        else:  # a size search too (the odyssey's random search of size and rate)
            default = self.units[len(self.units) // 2]
            units = hp.Choice("units", self.units, default=default)
        options = {"activation": hp.Choice("activation", list(ACTIVATIONS), default="tanh")}
        with_forget_gate = [
            v for v in self.variants
            if v in GREFF_VARIANTS and GREFF_VARIANTS[v].get("forget_gate", True)
        ]
        if with_forget_gate:
            with hp.conditional_scope("variant", with_forget_gate):
                forget_bias = _forget_bias(hp)
            if variant in with_forget_gate:
                options["forget_bias"] = forget_bias
        if variant in GREFF_VARIANTS:
            cell = "lstm"
            options.update(GREFF_VARIANTS[variant])
        else:
            cell = variant
        model = models.build_model(self.task, cell, units=units, **options)
        return _compile(hp, model, self.task, "adam", 1.0)
