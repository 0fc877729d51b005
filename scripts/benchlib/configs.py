"""The benchmarked configurations: one `Config` a row, and the model it builds."""

import dataclasses

import keras

import keras_rnnx
from benchlib.naive import NaiveClockworkCell
from benchlib.naive import NaiveFusedGRUCell
from benchlib.naive import NaiveFusedPeepholeLSTMCell
from benchlib.naive import NaiveGRUCell
from benchlib.naive import NaivePeepholeLSTMCell

@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmarked layer.

    Attributes:
        name: the key of ``--only``.
        make_layer: ``make_layer(units) -> keras.layers.Layer``.
        keras_ref: name of the Keras layer this row is compared with.
        naive_ref: name of the naive ``RNN(cell)`` this row is compared with.
        naive_fused_ref: name of the naive fused-weight ``RNN(cell)`` this row
            is also compared with.
        input_is_units: use ``D = units`` instead of ``--features`` (MUT1/2).
        units: a fixed width for this row (the Clockwork rows: 512, as the
            issue's target names it) instead of ``--units``.
    """

    name: str
    make_layer: object
    keras_ref: str
    naive_ref: str
    input_is_units: bool = False
    naive_fused_ref: str = None
    units: int = None


def _rnnx_lstm(**options):
    return lambda units: keras_rnnx.layers.LSTM(units, **options)


_L, _NL = "keras_lstm", "naive_peephole_lstm"
_G, _GB, _NG = "keras_gru", "keras_gru_reset_before", "naive_gru"
_NFL, _NFG = "naive_fused_peephole_lstm", "naive_fused_gru"
_S, _NC = "keras_simple_rnn", "naive_clockwork"
_L2, _NGR, _NDG = "keras_lstm_x2", "naive_grid2d", "naive_depth_gated"
_CW_UNITS, _CW_MODULES = 512, 8


def _stacked_keras_lstm(depth):
    return lambda u: [keras.layers.LSTM(u, return_sequences=True) for _ in range(depth - 1)] + [
        keras.layers.LSTM(u)
    ]

CONFIGS = {
    c.name: c
    for c in (
        Config(_L, lambda u: keras.layers.LSTM(u), _L, _NL),
        Config(_NL, lambda u: keras.layers.RNN(NaivePeepholeLSTMCell(u)), _L, _NL),
        Config(_NFL, lambda u: keras.layers.RNN(NaiveFusedPeepholeLSTMCell(u)), _L, _NL),
        Config("lstm", _rnnx_lstm(), _L, _NL),
        Config("peephole", _rnnx_lstm(peephole=True), _L, _NL),
        Config("cifg", _rnnx_lstm(coupled=True), _L, _NL),
        Config("nig", _rnnx_lstm(input_gate=False), _L, _NL),
        Config("nfg", _rnnx_lstm(forget_gate=False), _L, _NL),
        Config("nog", _rnnx_lstm(output_gate=False), _L, _NL),
        Config("niaf", _rnnx_lstm(input_activation=False), _L, _NL),
        Config("noaf", _rnnx_lstm(output_activation=False), _L, _NL),
        Config("fgr", _rnnx_lstm(full_gate_recurrence=True), _L, _NL),
        Config("layer_norm", _rnnx_lstm(layer_norm=True), _L, _NL),
        Config(
            "proj_units",
            lambda u: keras_rnnx.layers.LSTM(u, proj_units=max(1, u // 2)),
            _L,
            _NL,
        ),
        Config("cell_clip", _rnnx_lstm(cell_clip=3.0), _L, _NL),
        Config("zoneout", _rnnx_lstm(zoneout_hidden=0.1, zoneout_cell=0.1), _L, _NL),
        Config(_G, lambda u: keras.layers.GRU(u, reset_after=True), _G, _NG),
        Config(_GB, lambda u: keras.layers.GRU(u, reset_after=False), _GB, _NG),
        Config(_NG, lambda u: keras.layers.RNN(NaiveGRUCell(u)), _G, _NG),
        Config(_NFG, lambda u: keras.layers.RNN(NaiveFusedGRUCell(u)), _G, _NG),
        Config("gru", lambda u: keras_rnnx.layers.GRU(u, reset_after=True), _G, _NG),
        Config(
            "gru_reset_before",
            lambda u: keras_rnnx.layers.GRU(u, reset_after=False),
            _GB,
            _NG,
        ),
        Config("mut1", keras_rnnx.layers.MUT1, _G, _NG, input_is_units=True),
        Config("mut2", keras_rnnx.layers.MUT2, _G, _NG, input_is_units=True),
        Config("mut3", keras_rnnx.layers.MUT3, _G, _NG),
        Config(_S, keras.layers.SimpleRNN, _S, _NC, units=_CW_UNITS),
        Config(
            _NC,
            lambda u: keras.layers.RNN(NaiveClockworkCell(u, _CW_MODULES)),
            _S,
            _NC,
            units=_CW_UNITS,
        ),
        Config(
            "clockwork",
            lambda u: keras_rnnx.layers.ClockworkRNN(u, num_modules=_CW_MODULES),
            _S,
            _NC,
            units=_CW_UNITS,
        ),
        Config(_L2, _stacked_keras_lstm(2), _L2, _NGR),
        Config(
            _NGR,
            lambda u: keras.layers.RNN(keras_rnnx.layers.GridLSTM2DCell(u, depth=2)),
            _L2,
            _NGR,
        ),
        Config("grid2d", lambda u: keras_rnnx.layers.GridLSTM2D(u, depth=2), _L2, _NGR),
        Config(
            _NDG,
            lambda u: keras.layers.RNN(keras_rnnx.layers.DepthGatedLSTMCell(u, num_layers=2)),
            _L2,
            _NDG,
        ),
        Config(
            "depth_gated",
            lambda u: keras_rnnx.layers.DepthGatedLSTM(u, num_layers=2),
            _L2,
            _NDG,
        ),
    )
}
for _name, _config in list(CONFIGS.items()):
    _fused = {_NL: _NFL, _NG: _NFG}.get(_config.naive_ref)
    CONFIGS[_name] = dataclasses.replace(_config, naive_fused_ref=_fused)
del _name, _config, _fused

"""Every configuration, in table order. proj_units uses units // 2;
cell_clip 3.0; zoneout 0.1 on h and c. The Clockwork rows are 512 units in 8
exponential modules beside ``keras.layers.SimpleRNN(512)`` (target >= 2x);
``grid2d`` and ``depth_gated`` are depth 2 beside two stacked
``keras.layers.LSTM`` (grid target: <= 2.2x the time, a ratio >= 0.45)."""

MODES = {"off": False, "on": True}


def build_model(config, timesteps, features, units):
    """``Input((T, D)) -> layer(s) -> Dense(1)``, compiled later per jit mode."""
    layers = config.make_layer(config.units or units)
    if not isinstance(layers, list):
        layers = [layers]
    return keras.Sequential(
        [keras.Input((timesteps, features)), *layers, keras.layers.Dense(1)],
        name=config.name,
    )


def selected_configs(only):
    """The requested configurations plus their references, in table order."""
    if only is None:
        return list(CONFIGS)
    wanted = set(only)
    for name in only:
        wanted.update(
            (CONFIGS[name].keras_ref, CONFIGS[name].naive_ref, CONFIGS[name].naive_fused_ref)
        )
    return [name for name in CONFIGS if name in wanted]
