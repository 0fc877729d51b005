"""Models for the data sets' tasks: a stack of keras-rnnx layers and a head.

`build_model` reads everything task-specific (input shape and dtype, masking,
vocabulary, output units and activation, one output per step or per
sequence) from a `keras_rnnx.datasets.Task`, so one call builds a model for
any task with any cell.
"""

import inspect

import keras

from keras_rnnx import datasets
from keras_rnnx import layers as rnnx_layers
from keras_rnnx.layers.base import RecurrentLayer
from keras_rnnx.layers.base import cell_argument_names
from keras_rnnx.validation import check_int
from keras_rnnx.validation import check_positive
from keras_rnnx.validation import check_rate

CELLS = {
    "lstm": rnnx_layers.LSTM,
    "peephole_lstm": rnnx_layers.PeepholeLSTM,
    "cifg_lstm": rnnx_layers.CIFGLSTM,
    "gru": rnnx_layers.GRU,
    "mut1": rnnx_layers.MUT1,
    "mut2": rnnx_layers.MUT2,
    "mut3": rnnx_layers.MUT3,
    "clockwork_rnn": rnnx_layers.ClockworkRNN,
    "grid_lstm_2d": rnnx_layers.GridLSTM2D,
    "grid_lstm_1d": rnnx_layers.GridLSTM1D,
    "depth_gated_lstm": rnnx_layers.DepthGatedLSTM,
}
"""The cell types of `build_model` (``rnnx train --cell``), by name."""

# Set by `build_model` itself from the task and the stacking: not cell options.
_STRUCTURAL = frozenset(
    {"self", "units", "dropout", "recurrent_dropout", "return_sequences",
     "return_state", "stateful", "name", "dtype", "trainable"}
)  # fmt: skip
# Cells whose input size must equal `units` (the bare x terms of MUT1/MUT2).
_NEEDS_UNITS_INPUT = frozenset({"mut1", "mut2"})
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
"""The optimizers of `compile_model` (``rnnx train --optimizer``), by name."""
LR_SCHEDULES = ("constant", "cosine")
"""Learning-rate schedules of `compile_model` (``rnnx train --lr-schedule``):
``"constant"``, or ``"cosine"`` (`keras.optimizers.schedules.CosineDecay`
from ``learning_rate`` down to ``COSINE_FINAL_FRACTION * learning_rate`` over
``decay_steps`` optimizer steps)."""
COSINE_FINAL_FRACTION = 0.05
DTYPE_POLICIES = ("float32", "mixed_bfloat16")
"""Dtype policies `keras_rnnx.training.train` trains under (``rnnx train
--dtype-policy``): ``"float32"``, or ``"mixed_bfloat16"`` (bfloat16
computations, float32 weights; no loss scaling needed). The preset is always
written and evaluated as a float32 model. ``"mixed_float16"`` is not offered:
it needs loss scaling, and on CPUs float16 matmuls are not faster."""


def _default_options(cell, units, options):
    """Values for arguments a cell needs that its constructor does not default."""
    if cell == "grid_lstm_1d" and "depth" not in options:
        return {"depth": 2}
    if cell == "clockwork_rnn" and not {"periods", "num_modules"} & set(options):
        if options.get("module_sizes"):
            return {"num_modules": len(options["module_sizes"])}
        # Equal modules with the exponential periods 1, 2, 4, ... of the paper.
        return {"num_modules": max(n for n in range(1, 9) if units % n == 0)}
    return {}


def _cell_class(cell):
    if cell not in CELLS:
        raise ValueError(
            f"Unknown cell {cell!r}. Choose among: {', '.join(CELLS)}."
        )
    return CELLS[cell]


def cell_options(cell):
    """The options ``cell`` accepts (the layer's and its cell's constructor
    arguments that `build_model` does not set itself), sorted."""
    layer_class = _cell_class(cell)
    names = set()
    for klass in layer_class.__mro__:
        if klass in (keras.layers.RNN, keras.layers.Layer, object):
            break
        if "__init__" in vars(klass):
            for param in inspect.signature(klass.__init__).parameters.values():
                if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                    names.add(param.name)
    if issubclass(layer_class, RecurrentLayer):
        names.update(cell_argument_names(layer_class.cell_class))
    return tuple(sorted(names - _STRUCTURAL))


def boolean_cell_options(cell):
    """The options of ``cell`` that take a bool (their default is True or
    False), sorted: ``rnnx train --cell-option`` reads them with
    `keras_rnnx.validation.parse_bool`, so ``reset_after=no`` is refused."""
    layer_class = _cell_class(cell)
    classes = []
    for klass in layer_class.__mro__:
        if klass in (keras.layers.RNN, keras.layers.Layer, object):
            break
        classes.append(klass)
    if issubclass(layer_class, RecurrentLayer):
        classes += [k for k in layer_class.cell_class.__mro__ if k not in (keras.layers.Layer, object)]
    names = {
        param.name
        for klass in classes
        if "__init__" in vars(klass)
        for param in inspect.signature(klass.__init__).parameters.values()
        if isinstance(param.default, bool)
    }
    return tuple(sorted(names & set(cell_options(cell))))


def check_cell_options(cell, options):
    """Raise `ValueError` naming any option ``cell`` does not accept.

    Only the names are checked here; the layer's constructor checks the values.
    """
    valid = cell_options(cell)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(map(repr, unknown))} for cell "
            f"{cell!r} ({CELLS[cell].__name__}). Valid options: {', '.join(valid)}."
        )


def check_architecture(units=32, layers=1, dropout=0.0, recurrent_dropout=0.0, output_dropout=0.0, embedding_dim=None):
    """Raise a ValueError naming the first bad size or rate of `build_model`.

    Sizes are ints >= 1 (``embedding_dim`` may be None), rates floats in
    [0, 1): finite, never a bool or a string (`keras_rnnx.validation`).
    """
    check_int("units", units, 1)
    check_int("layers", layers, 1)
    for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout),
                       ("output_dropout", output_dropout)):  # fmt: skip
        check_rate(name, rate)
    check_int("embedding_dim", embedding_dim, 1, allow_none=True)


def build_model(
    task,
    cell="lstm",
    units=32,
    layers=1,
    dropout=0.0,
    recurrent_dropout=0.0,
    embedding_dim=None,
    dtype_policy=None,
    output_dropout=0.0,
    **cell_options,
):
    """A model for ``task``: input, recurrent layers, ``Dense`` head.

    The model is ``Input -> [Masking(PAD_VALUE)] -> [Embedding] ->
    [Dense(units)] -> layers x cell(units) -> [Dropout(output_dropout)] ->
    Dense(output_units, output_activation)``:

    - ``Masking`` when the task pads variable-length float sequences
      (``task.masked``), so padded steps carry the state and are not scored;
    - ``Embedding(len(vocabulary), embedding_dim)`` for integer inputs
      (character models);
    - ``Dense(units)`` (``input_projection``) before MUT1 and MUT2 when the
      input size differs from ``units`` (their update adds the input itself);
    - each recurrent layer returns sequences except the last one of a task
      with one output per sequence. Tasks with one output per step get a
      time axis of length None, so the model runs on any length (sampling).

    Defaults a cell's constructor lacks: ``grid_lstm_1d`` gets ``depth=2``;
    ``clockwork_rnn`` without ``periods`` or ``num_modules`` gets equal modules
    with periods 1, 2, 4, ...: as many as the largest divisor of ``units`` up
    to 8 (``len(module_sizes)`` when those are given).

    ``grid_lstm_1d`` is not a sequence layer: it reads the flattened
    fixed-length input, so it suits only tasks with one output per sequence
    and no padding; ``dropout`` becomes a ``Dropout`` layer before it.

    Args:
        task: a `keras_rnnx.datasets.Task`.
        cell: a key of `CELLS`.
        units: int >= 1, units of each recurrent layer.
        layers: int >= 1, number of stacked recurrent layers.
        dropout: float in [0, 1), the cells' input dropout.
        recurrent_dropout: float in [0, 1), the cells' recurrent dropout.
        embedding_dim: int >= 1, for integer inputs (default: ``units``).
        dtype_policy: None (Keras' global policy) or a name of
            `DTYPE_POLICIES`, given to every layer but the head, which stays
            float32 (its softmax and the loss in full precision).
        output_dropout: float in [0, 1): a ``Dropout`` layer (named
            ``output_dropout``, a new mask at every step) between the last
            recurrent layer and the head, as in Zaremba et al. (2014), who
            drop every non-recurrent connection. 0 adds no layer.
        **cell_options: further arguments of the layer (see `cell_options`),
            e.g. ``peephole=True, forget_bias=1.0`` for ``lstm``.

    Returns:
        An uncompiled functional `keras.Model` named ``{task.name}_{cell}``.

    Raises:
        ValueError: an unknown cell or option, a bad value (the layer's own
            message), or a cell that cannot serve the task.
    """
    layer_class = _cell_class(cell)
    check_cell_options(cell, cell_options)
    check_architecture(units, layers, dropout, recurrent_dropout, output_dropout, embedding_dim)
    check_dtype_policy(dtype_policy)
    body = {} if dtype_policy is None else {"dtype": dtype_policy}
    options = {**_default_options(cell, units, cell_options), **cell_options, **body}
    integer_input = "int" in str(task.input_dtype)

    shape = tuple(task.input_shape)
    if task.sequence_output:
        shape = (None,) + shape[1:]
    inputs = keras.Input(shape, dtype=task.input_dtype, name="inputs")
    x = inputs
    if task.masked:
        if integer_input:
            raise ValueError(
                f"Task {task.name!r} pads integer inputs; build_model masks only "
                f"float inputs padded with PAD_VALUE={datasets.PAD_VALUE}."
            )
        x = keras.layers.Masking(datasets.PAD_VALUE, name="masking")(x)
    if integer_input:
        vocabulary_size = len(task.vocabulary) if task.vocabulary else task.output_units
        x = keras.layers.Embedding(
            vocabulary_size, embedding_dim or units, name="embedding", **body
        )(x)

    if cell == "grid_lstm_1d":
        if recurrent_dropout:
            raise ValueError(
                "Cell 'grid_lstm_1d' has no recurrence in time, so no "
                "`recurrent_dropout`; pass 0."
            )
        if task.sequence_output or task.masked or None in shape:
            raise ValueError(
                f"Cell 'grid_lstm_1d' reads one fixed-length, unpadded input "
                f"vector, but task {task.name!r} has "
                + ("one output per step" if task.sequence_output else "variable-length input")
                + ". Use a sequence cell such as 'grid_lstm_2d' or 'lstm'."
            )
        x = keras.layers.Flatten(name="flatten")(x)
        for index in range(layers):
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"dropout_{index}", **body)(x)
            x = layer_class(units, name=f"{cell}_{index}", **options)(x)
    else:
        if cell in _NEEDS_UNITS_INPUT and x.shape[-1] != units:
            x = keras.layers.Dense(units, name="input_projection", **body)(x)
        for index in range(layers):
            last = index == layers - 1
            x = layer_class(
                units,
                return_sequences=task.sequence_output or not last,
                dropout=dropout,
                recurrent_dropout=recurrent_dropout,
                name=f"{cell}_{index}",
                **options,
            )(x)
    if output_dropout:
        x = keras.layers.Dropout(output_dropout, name="output_dropout", **body)(x)
    outputs = keras.layers.Dense(
        task.output_units,
        activation=task.output_activation,
        name="head",
        **({} if dtype_policy is None else {"dtype": "float32"}),
    )(x)
    return keras.Model(inputs, outputs, name=f"{task.name}_{cell}")


def check_dtype_policy(dtype_policy):
    """Raise a ValueError unless ``dtype_policy`` is None or in `DTYPE_POLICIES`."""
    if dtype_policy is not None and dtype_policy not in DTYPE_POLICIES:
        raise ValueError(
            f"Unknown `dtype_policy` {dtype_policy!r}. Choose among: "
            f"{', '.join(DTYPE_POLICIES)} (mixed_float16 needs loss scaling "
            "and is not offered)."
        )


def check_optimizer(optimizer="adam", learning_rate=1e-3, clipnorm=None, lr_schedule="constant", weight_decay=None):
    """Raise a ValueError naming the first bad argument of `make_optimizer`
    (rates and norms are finite floats > 0, or None where None means none)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"Unknown optimizer {optimizer!r}. Choose among: {', '.join(OPTIMIZERS)}."
            + (" AdamW is 'adam' with `weight_decay` (rnnx train: --weight-decay)."
               if str(optimizer).lower() == "adamw" else "")
        )  # fmt: skip
    check_positive("learning_rate", learning_rate)
    check_positive("clipnorm", clipnorm, none_means="no clipping")
    check_positive("weight_decay", weight_decay, none_means="no decay")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"Unknown `lr_schedule` {lr_schedule!r}. Choose among: {', '.join(LR_SCHEDULES)}."
        )


def make_optimizer(
    optimizer="adam", learning_rate=1e-3, clipnorm=None, lr_schedule="constant", decay_steps=None,
    weight_decay=None,
):  # fmt: skip
    """A Keras optimizer by name (a key of `OPTIMIZERS`).

    ``weight_decay`` (float > 0, or None for none) is Keras' decoupled weight
    decay, as in AdamW (Loshchilov & Hutter, 2019): after each update every
    decayed variable ``w`` becomes ``w - learning_rate * weight_decay * w``,
    with the scheduled rate. `compile_model` keeps vectors (biases,
    peepholes) out of it.

    ``lr_schedule`` is one of `LR_SCHEDULES`; ``"cosine"`` needs
    ``decay_steps``, the number of optimizer steps of the whole run (`train`
    computes it from the epochs and the training split). The schedule is a
    function of the optimizer's step count, which `keras.callbacks.
    BackupAndRestore` restores, so a resumed run continues on the same curve.
    """
    check_optimizer(optimizer, learning_rate, clipnorm, lr_schedule, weight_decay)
    rate = learning_rate
    if lr_schedule == "cosine":
        if isinstance(decay_steps, bool) or not (isinstance(decay_steps, int) and decay_steps >= 1):
            raise ValueError(
                "`decay_steps` must be an int >= 1 with lr_schedule='cosine' (the "
                f"optimizer steps of the whole run); received {decay_steps!r}."
            )
        rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps, alpha=COSINE_FINAL_FRACTION
        )
    return OPTIMIZERS[optimizer](learning_rate=rate, clipnorm=clipnorm, weight_decay=weight_decay)


def compile_model(
    model, task, optimizer="adam", learning_rate=1e-3, clipnorm=None, lr_schedule="constant", decay_steps=None,
    weight_decay=None,
):  # fmt: skip
    """Compile ``model`` with the task's loss (and accuracy for accuracy tasks).

    With ``weight_decay`` (see `make_optimizer`) only the model's matrices
    (kernels, recurrent kernels, embeddings) decay; its vectors (biases,
    whose forget-gate or chrono initialisation decay would undo, peepholes)
    do not, as in nanoGPT. The model must be built to tell them apart.
    """
    metrics = ["accuracy"] if task.metric == "accuracy" else None
    instance = make_optimizer(optimizer, learning_rate, clipnorm, lr_schedule, decay_steps, weight_decay)
    if weight_decay is not None:
        if not model.built:
            raise ValueError(
                "`weight_decay` needs a built model (its vectors are kept out of the "
                "decay); build it first, e.g. by calling it on a batch."
            )
        instance.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) < 2])
    model.compile(
        optimizer=instance,
        loss=task.loss,
        weighted_metrics=metrics,
    )
    return model
