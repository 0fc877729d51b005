"""File helpers shared by the dataset builders: checked reads and sha256."""

import hashlib
import os


def sha256_of(path):
    """Hex sha256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_readable_file(path, expected):
    """Return ``path`` as a str if it names a readable regular file.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: ``path`` is a directory or cannot be opened.
        The message names the path and ``expected`` (what should be there).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No file at {path!r}: expected {expected}.")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory: expected {expected}.")
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise ValueError(
            f"Cannot read {path!r} ({error.strerror or error}): expected {expected}."
        ) from error
    return path


def read_bytes(path, expected):
    """The bytes of a file, with the checks of `check_readable_file`."""
    path = check_readable_file(path, expected)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:  # pragma: no cover - races with the check above
        raise ValueError(
            f"Cannot read {path!r} ({error.strerror or error}): expected {expected}."
        ) from error


def verify_sha256(path, expected_sha256, what):
    """Raise ValueError naming ``path`` if its sha256 is not the expected one."""
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ValueError(
            f"{path!r} does not have the sha256 of {what}: got {actual}, "
            f"expected {expected_sha256}. The file is corrupted, truncated or "
            "another version; replace it with the original."
        )
    return actual
