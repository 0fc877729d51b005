"""The zoo's manifest: which presets exist, their files' sha256 and sizes.

``zoo/manifest.json``::

    {
      "format": "keras-rnnx-zoo",
      "format_version": 1,
      "presets": {
        "jsb_lstm": {
          "version": 1,
          "description": "LSTM on JSB Chorales",
          "task": "jsb_chorales",
          "params": 123456,
          "headline": {"split": "test", "metric": "nll_nats_per_step",
                       "value": 8.31, "published": {"LSTM, Bai et al. 2018": 8.45}},
          "files": {"config.json": {"sha256": "…", "size": 1234}, …},
          "hub": {"repo": "keras-rnnx/jsb_lstm", "revision": "<40-hex commit>"}
        }
      }
    }

The official manifest ships inside the package (``keras_rnnx/zoo/manifest.json``,
`packaged_manifest`), so an installed keras-rnnx knows every official preset
wherever it runs. It is the trust anchor: every file of a preset is checked
against its sha256 and size whenever the preset is loaded, whether it comes
from the checkout's ``zoo/``, the installed ``keras-rnnx-zoo`` package, the
user cache, a download or the hub. ``hub`` says where the preset is hosted:
the hub repository and the commit that `scripts/release_zoo.py` published
(``revision`` None before the first release: the default branch, still checked
file by file against the manifest).
"""

import hashlib
import json
import os
import pathlib
import re

from keras_rnnx.zoo.preset import REQUIRED_FILES
from keras_rnnx.zoo.preset import PresetError
from keras_rnnx.zoo.preset import read_metadata

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "keras-rnnx-zoo"
MANIFEST_VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")
PACKAGED_MANIFEST = pathlib.Path(__file__).with_name(MANIFEST_FILE)
HUB_OWNER = "keras-rnnx"  # the hub organisation of the official presets
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_CHUNK = 1 << 20


def sha256_file(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_name(name):
    """``name`` if it is a valid preset name (lowercase letters, digits, ``_``)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(
            f"A preset name is lowercase letters, digits and underscores "
            f"(e.g. 'jsb_lstm'); received {name!r}."
        )
    return name


def preset_files(directory):
    """The files of a preset directory that the manifest lists (sorted).

    Every regular file directly inside it: the required three and the extras
    (model card, vocabulary, plots). Hidden files and directories are skipped.
    """
    directory = pathlib.Path(directory)
    return sorted(
        p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
    )


def manifest_entry(directory, *, version, headline, description):
    """The manifest entry of a preset directory: hashes and sizes of its files.

    Args:
        directory: the preset directory (written by `save_preset`).
        version: int >= 1, bumped whenever the files change.
        headline: dict ``{"split", "metric", "value", "published"}``.
        description: one line.
    """
    directory = pathlib.Path(directory)
    metadata = read_metadata(directory)
    files = {}
    for name in preset_files(directory):
        path = directory / name
        files[name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return {
        "version": int(version),
        "description": description,
        "task": (metadata.get("task") or {}).get("name"),
        "params": metadata.get("params"),
        "headline": headline,
        "files": files,
    }


def entry_digest(entry):
    """A short digest of a manifest entry's files (names, sizes, sha256).

    Two entries with the same digest describe the same bytes: the cache keys
    its slots by it, so presets of one name from different zoos never share one.
    """
    digest = hashlib.sha256()
    for file_name, expected in sorted(entry["files"].items()):
        digest.update(f"{file_name}\0{expected['size']}\0{expected['sha256']}\n".encode())
    return digest.hexdigest()[:16]


def empty_manifest():
    return {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "presets": {}}


def parse_manifest(data, source):
    """Validate a manifest object read from ``source``; returns it."""
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise PresetError(
            f"{source}: not a keras-rnnx zoo manifest (expected a JSON object "
            f"with 'format': {MANIFEST_FORMAT!r})."
        )
    if not isinstance(data.get("format_version"), int) or data["format_version"] > MANIFEST_VERSION:
        raise PresetError(
            f"{source}: manifest format_version {data.get('format_version')!r} is "
            f"not one this keras-rnnx reads (<= {MANIFEST_VERSION}); upgrade keras-rnnx."
        )
    presets = data.get("presets")
    if not isinstance(presets, dict):
        raise PresetError(f"{source}: expected a 'presets' object.")
    for name, entry in presets.items():
        files = entry.get("files") if isinstance(entry, dict) else None
        ok = (
            isinstance(files, dict)
            and isinstance(entry.get("version"), int)
            and all(
                isinstance(f, dict) and isinstance(f.get("sha256"), str) and isinstance(f.get("size"), int)
                for f in files.values()
            )
            and all(required in files for required in REQUIRED_FILES)
        )
        if not ok or not NAME_PATTERN.match(name):
            raise PresetError(
                f"{source}: preset {name!r} needs an integer 'version' and 'files' "
                f"listing at least {', '.join(REQUIRED_FILES)}, each with 'sha256' and 'size'."
            )
        hub = entry.get("hub")
        if hub is not None and not (
            isinstance(hub, dict)
            and isinstance(hub.get("repo"), str)
            and _REPO_ID.match(hub["repo"])
            and (hub.get("revision") is None or (isinstance(hub["revision"], str) and _COMMIT.match(hub["revision"])))
        ):
            raise PresetError(
                f"{source}: preset {name!r} has a bad 'hub' entry {hub!r}; expected "
                '{"repo": "OWNER/REPO", "revision": a 40-hex commit or null}.'
            )
        for file_name in files:
            if "/" in file_name or "\\" in file_name or file_name.startswith("."):
                raise PresetError(f"{source}: preset {name!r} lists a bad file name {file_name!r}.")
    return data


def read_manifest(path):
    """Read and validate ``manifest.json``."""
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise PresetError(f"{path}: cannot be read ({err.strerror or err}).") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PresetError(f"{path}: malformed manifest ({err}).") from err
    return parse_manifest(data, str(path))


def packaged_manifest():
    """The official manifest shipped inside the package."""
    return read_manifest(PACKAGED_MANIFEST)


def write_manifest(path, manifest):
    """Write ``manifest`` (sorted keys) atomically."""
    path = pathlib.Path(path)
    parse_manifest(manifest, str(path))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def verify_files(directory, entry, name):
    """Check every file the manifest ``entry`` lists against its size and sha256.

    Raises:
        PresetError: a file missing or differing, naming it and the fix.
    """
    directory = pathlib.Path(directory)
    for file_name, expected in sorted(entry["files"].items()):
        path = directory / file_name
        if not path.is_file():
            raise PresetError(
                f"Preset {name!r}: {path} is missing (the manifest lists it). "
                "Delete the directory and download the preset again."
            )
        size = path.stat().st_size
        digest = sha256_file(path) if size == expected["size"] else None
        if digest != expected["sha256"]:
            found = f"size {size}" if digest is None else f"sha256 {digest}"
            raise PresetError(
                f"Preset {name!r}: {path} does not match the manifest (expected "
                f"size {expected['size']}, sha256 {expected['sha256']}; found "
                f"{found}). The file is corrupted or from another version: delete "
                "it and download the preset again (rnnx zoo download "
                f"{name} --force)."
            )
