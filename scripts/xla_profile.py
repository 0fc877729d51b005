"""XLA's own account of a train step's memory and work, per configuration.

A profile, not a timing: for each configuration of ``scripts/bench.py`` it
builds the same model, compiles the gradient of the training loss with
``jax.jit`` (nothing is run) and prints what XLA's compiled executable
reports:

- ``temp MiB``: the temporary buffers of the step (activations kept for the
  backward pass, their gradients, loop carries), XLA's
  ``memory_analysis().temp_size_in_bytes``. Deterministic, unlike the RSS
  that ``bench.py --memory`` measures, and without the allocator's slack;
- ``GFLOP`` and ``GiB accessed``: ``cost_analysis()``, where XLA counts
  them (it does not count inside every loop body, so compare rows of the same
  kind);
- the ratio of ``temp`` to the configuration's Keras reference.

JAX backend only (the compiled step is XLA's; on TensorFlow, ``bench.py
--memory`` measures the same models' peak RSS).

Usage:

    KERAS_BACKEND=jax python scripts/xla_profile.py --timesteps 1000 --only lstm,layer_norm
"""

import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402 - its command-line types
from benchlib import configs  # noqa: E402

MIB = 2**20


def profile(config, args):
    """Compile one configuration's loss gradient; return XLA's figures."""
    import jax
    import jax.numpy as jnp

    features = args.units if config.input_is_units else args.features
    model = configs.build_model(config, args.timesteps, features, args.units)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    x = jnp.zeros((args.batch, args.timesteps, features), "float32")
    y = jnp.zeros((args.batch, 1), "float32")

    def loss(weights):
        out, _ = model.stateless_call(weights, non_trainable, x, training=True)
        return jnp.mean(jnp.square(out - y))

    compiled = jax.jit(jax.grad(loss)).lower(trainable).compile()
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
    return {
        "temp_mib": memory.temp_size_in_bytes / MIB,
        "argument_mib": memory.argument_size_in_bytes / MIB,
        "gflop": cost.get("flops", float("nan")) / 1e9,
        "gib_accessed": cost.get("bytes accessed", float("nan")) / 2**30,
    }


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=bench._config_names, default=None,
                        help="comma-separated configurations of scripts/bench.py "
                        "(their Keras references are added)")  # fmt: skip
    parser.add_argument("--batch", type=bench._int_at_least(1), default=64)
    parser.add_argument("--timesteps", type=bench._int_at_least(1), default=100)
    parser.add_argument("--features", type=bench._int_at_least(1), default=64)
    parser.add_argument("--units", type=bench._int_at_least(1), default=256)
    parser.add_argument("--json", metavar="PATH", default=None)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        parser.error(
            f"KERAS_BACKEND is {keras.backend.backend()!r}: this profile reads "
            "XLA's compiled step through JAX; run it with KERAS_BACKEND=jax "
            "(on TensorFlow, use scripts/bench.py --memory)."
        )
    names = configs.selected_configs(args.only)
    results = {}
    for name in names:
        results[name] = profile(configs.CONFIGS[name], args)
    print(f"\nB={args.batch}, T={args.timesteps}, D={args.features}, U={args.units}; "
          f"gradient of the loss, jax.jit, XLA's compiled figures\n")  # fmt: skip
    print(f"{'config':<28}{'temp MiB':>10}{'/ keras ref':>13}{'GFLOP':>9}{'GiB accessed':>14}")
    for name, r in results.items():
        ref = results.get(configs.CONFIGS[name].keras_ref)
        ratio = "-" if ref is None else f"{r['temp_mib'] / ref['temp_mib']:.2f}"
        print(f"{name:<28}{r['temp_mib']:>10.1f}{ratio:>13}{r['gflop']:>9.2f}"
              f"{r['gib_accessed']:>14.2f}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"arguments": vars(args), "results": results}, f, indent=1)
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
