"""Running the ``rnnx`` command line in-process, for the tests."""

import contextlib
import io

from keras_rnnx import cli


def run_cli(argv):
    """``cli.main(argv)`` -> ``(status, stdout, stderr)``, argparse's exits included."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()
