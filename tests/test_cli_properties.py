"""Property tests of ``rnnx train``'s command line: any flag value is either
accepted, or refused with exit status 2 and one line naming the flag.

Nothing trains: `keras_rnnx.cli.parse_train` runs the parser and every check
``rnnx train`` makes before training (`keras_rnnx.cli.train_arguments`), but
for preparing the data. Each example varies one flag of a valid command line
for the tiny adding task; the values mix numbers (NaN, infinities, negative,
huge, written every way Python and JSON read them), words, booleans spelled
many ways and arbitrary text.
"""

import contextlib
import io
import math

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_rnnx import cli
from keras_rnnx import training

SETTINGS = settings(max_examples=120, deadline=None, database=None, derandomize=True)
TASK = ["--task", "adding", "--task-option", "timesteps=8", "--task-option", "train_size=16",
        "--task-option", "validation_size=8", "--task-option", "test_size=8"]  # fmt: skip

FLOAT_FLAGS = ["--lr", "--clipnorm", "--weight-decay", "--dropout", "--recurrent-dropout", "--output-dropout"]
INT_FLAGS = ["--units", "--layers", "--embedding-dim", "--epochs", "--batch-size", "--patience", "--seed"]
CHOICE_FLAGS = ["--cell", "--optimizer", "--lr-schedule", "--dtype-policy", "--task", "--verbose", "--strategy"]
BOOL_WORDS = ["true", "false", "TRUE", "False", "True", "yes", "no", "on", "0", "1", "1.5", "null", "None", '"true"', ""]
SPECIAL_NUMBERS = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "-Infinity", "1e999", "-1e999", "1e308",
                   "0", "-0", "0.0", "-1", "1e-320", ".5", "1_000", "0x10", "1e3", " 2 ", "", "abc", "9" * 5000]  # fmt: skip

numbers = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.text(max_size=12),
)
words = st.one_of(st.sampled_from(BOOL_WORDS), st.text(max_size=12))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_properties")
    return [*TASK, "--data-dir", str(root / "data"), "--output", str(root / "out")]


def parse(argv):
    """``(kwargs or None, status, stderr)`` of `cli.parse_train` on ``argv``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return cli.parse_train(argv), 0, err.getvalue()
        except SystemExit as exit_:
            return None, exit_.code, err.getvalue()


def check(argv, flag):
    """Accepted with finite numbers, or exit 2 with one error line naming ``flag``."""
    kwargs, status, err = parse(argv)
    if kwargs is None:
        assert status == 2, (argv, status, err)
        lines = [line for line in err.splitlines() if line.startswith("rnnx train: error:")]
        assert len(lines) == 1 and "Traceback" not in err, (argv, err)
        named = lines[0].split("error: ", 1)[1].split(": ", 1)[0]  # "argument --lr/--learning-rate"
        assert named.startswith("argument ") and flag in named.split()[1].split("/"), (argv, lines[0])
        return None
    for name, value in kwargs.items():
        if isinstance(value, float):
            assert math.isfinite(value), (argv, name, value)
    for name, value in kwargs["cell_options"].items():
        if isinstance(value, float):
            assert math.isfinite(value), (argv, name, value)
    return kwargs


@SETTINGS
@given(flag=st.sampled_from(FLOAT_FLAGS + INT_FLAGS), value=numbers)
def test_number_flags_are_accepted_finite_or_refused_naming_the_flag(base, flag, value):
    kwargs = check([*base, f"{flag}={value}"], flag)
    if kwargs is not None:
        dest = {"--lr": "learning_rate"}.get(flag, flag[2:].replace("-", "_"))
        number = kwargs[dest]
        assert not isinstance(number, bool) and isinstance(number, (int, float))
        if flag in ("--dropout", "--recurrent-dropout", "--output-dropout"):
            assert 0 <= number < 1
        elif flag in FLOAT_FLAGS:
            assert number > 0
        else:
            assert number >= (0 if flag == "--seed" else 1)


@SETTINGS
@given(flag=st.sampled_from(CHOICE_FLAGS), value=st.one_of(words, st.sampled_from(
    ["gru", "lstm", "sgd", "cosine", "mixed_bfloat16", "adding", "copy", "2", "none"])))
def test_choice_flags_are_accepted_or_refused_naming_the_flag(base, flag, value):
    check([*base, f"{flag}={value}"], flag)


@SETTINGS
@given(
    cell=st.sampled_from(["lstm", "gru", "mut1", "clockwork_rnn"]),
    key=st.sampled_from(["peephole", "reset_after", "use_bias", "unit_forget_bias", "forget_bias",
                         "activation", "periods", "nope", "9x", ""]),  # fmt: skip
    value=st.one_of(words, numbers, st.sampled_from(["[1, 2]", "[1, NaN]", "[1,2", '{"a": 1}', "relu"])),
)
def test_cell_options_are_typed_or_refused_naming_the_flag(base, cell, key, value):
    kwargs = check([*base, "--cell", cell, f"--cell-option={key}={value}"], "--cell-option")
    if kwargs is not None:
        for name in training.boolean_cell_options(cell):
            if name in kwargs["cell_options"]:
                assert isinstance(kwargs["cell_options"][name], bool)
                assert value.strip().strip('"').lower() in ("true", "false")


@SETTINGS
@given(
    task=st.sampled_from(["adding", "copy"]),
    key=st.sampled_from(["timesteps", "train_size", "seed", "markers", "one_hot", "memory_length", "colour"]),
    value=st.one_of(words, numbers, st.sampled_from(["halves", "anywhere"])),
)
def test_task_options_are_accepted_or_refused_naming_the_flag(base, task, key, value):
    argv = ["--task", task, *base[len(TASK):], f"--task-option={key}={value}"]  # no other task option
    kwargs = check(argv, "--task-option")
    if kwargs is not None and key == "one_hot":
        assert isinstance(kwargs["task"].options["one_hot"], bool)
