"""Argument checks shared by every layer, dataset, trainer and command.

Each check returns the value normalised (``int``, ``float``, ``bool``) or
raises `ValueError` whose message names the argument, what it must be, what
was received and, where given, the fix, in Keras' wording::

    Argument `dropout` must be a float in [0, 1). Received: dropout=1.5. Pass e.g. dropout=0.1.

Booleans are booleans: ``"false"``, ``0`` and ``1.5`` are refused where a
bool is expected (a non-empty string is truthy in Python, so accepting
strings silently turned ``coupled="false"`` into a coupled LSTM). Numbers are
finite and of a number type, never a bool or a string. `parse_bool` is the
one place where text becomes a bool (``true``/``false``, any case), for the
command line and key=value options.

>>> check_float("forget_bias", 1)
1.0
>>> check_bool("peephole", "yes")
Traceback (most recent call last):
...
ValueError: Argument `peephole` must be a bool (True or False). Received: peephole='yes'.
"""

import math
import numbers

import numpy as np

_TRUE = ("true",)
_FALSE = ("false",)


def _fail(name, what, value, fix=None):
    message = f"Argument `{name}` must be {what}. Received: {name}={value!r}."
    raise ValueError(message + (f" {fix}" if fix else ""))


def check_bool(name, value, fix=None):
    """``value`` if it is a bool (Python or NumPy), else ValueError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    _fail(name, "a bool (True or False)", value, fix)


def parse_bool(text, name="value"):
    """``"true"`` / ``"false"`` (any case, surrounding spaces ignored) as a bool."""
    if isinstance(text, (bool, np.bool_)):
        return bool(text)
    word = text.strip().lower() if isinstance(text, str) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    _fail(name, "true or false", text)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _range(minimum, maximum, min_inclusive=True, max_inclusive=True):
    parts = []
    if minimum is not None:
        parts.append(f"{'>=' if min_inclusive else '>'} {minimum}")
    if maximum is not None:
        parts.append(f"{'<=' if max_inclusive else '<'} {maximum}")
    return " and ".join(parts)


def check_int(name, value, minimum=None, maximum=None, fix=None, allow_none=False):
    """``value`` as an int in [minimum, maximum] (either bound None: open); not a bool."""
    if value is None and allow_none:
        return None
    within = _is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not within:
        bounds = _range(minimum, maximum)
        _fail(name, "an int" + (f" {bounds}" if bounds else "") + (", or None" if allow_none else ""), value, fix)
    return int(value)


def check_float(
    name,
    value,
    minimum=None,
    maximum=None,
    *,
    min_inclusive=True,
    max_inclusive=True,
    allow_none=False,
    fix=None,
):
    """``value`` as a finite float in the given range; not a bool, a string or NaN/inf."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value >= minimum if min_inclusive else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum if max_inclusive else value < maximum
    if not ok:
        bounds = _range(minimum, maximum, min_inclusive, max_inclusive)
        what = "a finite float" + (f" {bounds}" if bounds else "") + (", or None" if allow_none else "")
        _fail(name, what, value, fix)
    return float(value)


def check_positive(name, value, none_means=None):
    """A finite float > 0; None allowed where ``none_means`` says what None is."""
    if value is None and none_means is not None:
        return None
    fix = f"Pass None for {none_means}." if none_means is not None else None
    return check_float(name, value, 0, min_inclusive=False, fix=fix)


def check_rate(name, value):
    """A dropout-like rate: a float in [0, 1)."""
    return check_float(
        name, value, 0.0, 1.0, max_inclusive=False, fix=f"Pass e.g. {name}=0.1, or 0.0 to disable it."
    )


def check_choice(name, value, choices):
    """``value`` if it is one of ``choices``."""
    if isinstance(value, (bool, np.bool_)) or value not in choices:
        _fail(name, f"one of {', '.join(map(repr, choices))}", value)
    return value
