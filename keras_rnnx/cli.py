"""The ``rnnx`` command line.

Commands:
    rnnx demo   train every keras-rnnx layer briefly on the adding problem and
                print a table (test MSE, parameters, throughput, wall time).

``rnnx --help`` and ``rnnx demo --help`` list the options. Bad option values
are reported by argparse, naming the option, with exit status 2.
"""

import argparse
import sys

from keras_rnnx import demo
from keras_rnnx.version import __version__


def _int_at_least(minimum, hint=""):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an int >= {minimum}, received {text!r}.{hint}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an int >= {minimum}, received {value}.{hint}"
            )
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive float such as 0.01, received {text!r}."
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive float such as 0.01, received {text!r}."
        )
    return value


def _variant_names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated variant names, e.g. lstm,gru; choose "
            f"among: {', '.join(demo.VARIANTS)}."
        )
    unknown = [name for name in names if name not in demo.VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {', '.join(unknown)}; choose among: "
            f"{', '.join(demo.VARIANTS)}."
        )
    return names


def build_parser():
    """The ``argparse`` parser of ``rnnx`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="rnnx",
        description="keras-rnnx: recurrent layers for Keras 3 (LSTM variants, "
        "GRU, MUT1-3).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    d = demo.DEFAULTS
    demo_parser = commands.add_parser(
        "demo",
        help="shoot-out of the layers on the adding problem (~3-5 min on 2 CPU cores)",
        description="Train each keras-rnnx layer (LSTM variants, GRU, MUT1-3) as "
        "a small model (layer + Dense(1), Adam) on the adding problem, generated "
        "in process, and print its test MSE, parameter count, training "
        "throughput and wall time. The trivial baseline (always predict 1.0) "
        "scores an MSE of 1/6 ~= 0.1667.",
    )
    demo_parser.add_argument(
        "--timesteps",
        type=_int_at_least(2, " The two markers need one step in each half."),
        default=d["timesteps"],
        help="sequence length T (default: %(default)s)",
    )
    demo_parser.add_argument(
        "--epochs", type=_int_at_least(1), default=d["epochs"], help="training epochs (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--samples",
        type=_int_at_least(1),
        default=d["samples"],
        help="training sequences (the test set has "
        f"{d['test_samples']} more, drawn with seed + 1; default: %(default)s)",
    )
    demo_parser.add_argument(
        "--units", type=_int_at_least(1), default=d["units"], help="units of each layer (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--only",
        type=_variant_names,
        default=None,
        metavar="NAME[,NAME...]",
        help=f"run only these variants; among: {', '.join(demo.VARIANTS)} "
        "(default: all)",
    )
    demo_parser.add_argument(
        "--seed", type=_int_at_least(0), default=d["seed"], help="seed of data and Keras (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--batch-size", type=_int_at_least(1), default=d["batch_size"], help="batch size (default: %(default)s)"
    )
    demo_parser.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=d["learning_rate"],
        help="Adam learning rate (default: %(default)s)",
    )
    demo_parser.set_defaults(handler=demo.main)
    return parser


def main(argv=None):
    """Entry point of ``rnnx``; returns the exit status.

    Args:
        argv: list of arguments without the program name (default:
            ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
