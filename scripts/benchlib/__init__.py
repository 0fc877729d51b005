"""The pieces of scripts/bench.py, by concern.

- `naive`: the naive ``keras.layers.RNN`` cells the layers are compared with
  (nothing hoisted out of the time loop);
- `configs`: the benchmarked configurations (`Config`, `CONFIGS`) and the
  model each row builds;
- `timing`: measuring a train step (time, and memory in a fresh process),
  the ratios, the table and the environment record.

`scripts/bench.py` is the command line on top of them.
"""
