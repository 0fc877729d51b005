"""Finding, downloading and verifying zoo presets: `list`, `fetch`, `load`.

A preset is named by

- a **path** to a preset directory (anything containing a path separator, or
  an existing directory): loaded as is. When the directory sits in a zoo (a
  ``manifest.json`` beside it listing its name), its files are verified
  against that manifest; otherwise nothing vouches for it, and only Keras'
  ``safe_mode`` guards the load;
- a **URL** ``http(s)://HOST/BASE/NAME``: the preset ``NAME`` of the zoo
  served at ``http(s)://HOST/BASE`` (its ``manifest.json`` beside the preset
  directories, the layout of the project's ``zoo/``);
- a **name** (``"jsb_lstm"``), looked up in order in
  1. the user cache: ``$RNNX_CACHE_DIR``, default
     ``$KERAS_HOME/keras_rnnx/zoo`` (``KERAS_HOME`` defaults to ``~/.keras``),
     as ``NAME/vVERSION/``;
  2. the project's shipped ``zoo/`` directory (what ``make demo`` uses,
     offline), or ``$RNNX_ZOO_DIR``;
  3. the remote zoo at ``base_url`` / ``$RNNX_ZOO_URL``, downloaded into the
     cache.

The manifest (the shipped one for names it lists, else the remote one) is the
trust anchor: **every load** checks each file's size and sha256 against it,
whether the files come from the cache, the shipped zoo or a download. A
download streams each file into a hidden temporary directory of the cache
with a progress bar, checks its length against ``Content-Length`` and its
size and sha256 against the manifest, and renames the directory into place
only when every file matches; on any failure the temporary directory is
removed, so the cache never holds a partial or corrupted preset.

Offline mode (``offline=True`` or ``RNNX_OFFLINE=1``) never opens a network
connection; a read-only cache is read normally, and a download into it is
refused up front with the fix. Loading reads JSON and HDF5 only, the model
rebuilt with Keras ``safe_mode``.
"""

import dataclasses
import hashlib
import http.client
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import keras

from keras_rnnx.zoo import manifest as manifest_lib
from keras_rnnx.zoo.preset import PresetError
from keras_rnnx.zoo.preset import load_preset
from keras_rnnx.zoo.preset import read_metadata

CACHE_ENV = "RNNX_CACHE_DIR"
ZOO_DIR_ENV = "RNNX_ZOO_DIR"
URL_ENV = "RNNX_ZOO_URL"
OFFLINE_ENV = "RNNX_OFFLINE"
VOCABULARY_FILE = "vocabulary.json"
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_FORMS = (
    "a preset name from the manifest, a path to a preset directory, or a URL "
    "http(s)://HOST/BASE/NAME of a zoo served over HTTP"
)


@dataclasses.dataclass(frozen=True)
class ZooPreset:
    """A resolved preset: where its verified files are and what they say.

    Attributes:
        name: the preset's name (the directory name for a bare path).
        path: `pathlib.Path` of the preset directory.
        metadata: its ``metadata.json``.
        entry: its manifest entry, or None for an unlisted local directory.
        source: ``"path"``, ``"cache"``, ``"zoo"`` or ``"download"``.
        vocabulary: tuple of characters for a character model, else None.
    """

    name: str
    path: pathlib.Path
    metadata: dict
    entry: dict
    source: str
    vocabulary: tuple = None

    def load_model(self):
        """The Keras model (safe mode, weights loaded, not compiled)."""
        model, _ = load_preset(self.path)
        return model


# -- locations ----------------------------------------------------------------


def cache_root(cache_dir=None):
    """The user cache of downloaded presets (``$RNNX_CACHE_DIR`` or under ``KERAS_HOME``)."""
    if cache_dir is not None:
        return pathlib.Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV])
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(keras_home) / "keras_rnnx" / "zoo"


def shipped_zoo_dir(zoo_dir=None):
    """The project's ``zoo/`` directory (or ``$RNNX_ZOO_DIR``), None if absent."""
    if zoo_dir is not None:
        return pathlib.Path(zoo_dir)
    if os.environ.get(ZOO_DIR_ENV):
        return pathlib.Path(os.environ[ZOO_DIR_ENV])
    candidate = pathlib.Path(__file__).resolve().parents[2] / "zoo"
    return candidate if (candidate / manifest_lib.MANIFEST_FILE).is_file() else None


def _offline(offline):
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _base_url(base_url):
    url = base_url if base_url is not None else os.environ.get(URL_ENV)
    if not url:
        return None
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"The zoo's base URL must be http(s)://HOST/PATH; received {url!r} "
            f"(from {'base_url' if base_url is not None else URL_ENV})."
        )
    return url.rstrip("/")


# -- manifests ----------------------------------------------------------------


def shipped_manifest(zoo_dir=None):
    """The shipped zoo's manifest, or an empty one when there is no ``zoo/``."""
    directory = shipped_zoo_dir(zoo_dir)
    if directory is None:
        return manifest_lib.empty_manifest()
    path = directory / manifest_lib.MANIFEST_FILE
    if not path.is_file():
        raise PresetError(
            f"{path}: missing; the zoo directory {directory} (from "
            f"{ZOO_DIR_ENV} or zoo_dir) holds one directory per preset and manifest.json."
        )
    return manifest_lib.read_manifest(path)


def _http_get(url, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "keras-rnnx"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise PresetError(f"{url}: HTTP {err.code} {err.reason}.") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise PresetError(
            f"{url}: cannot connect ({reason}). Check the URL and the network, "
            f"or use the shipped zoo / the cache (offline mode: {OFFLINE_ENV}=1)."
        ) from err


def remote_manifest(base_url, timeout=DEFAULT_TIMEOUT):
    """The manifest of the zoo served at ``base_url``."""
    url = f"{base_url}/{manifest_lib.MANIFEST_FILE}"
    with _http_get(url, timeout) as response:
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException) as err:  # IncompleteRead: a short body
            raise PresetError(f"{url}: transfer interrupted ({err}). Try again.") from err
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PresetError(f"{url}: malformed manifest ({err}).") from err
    return manifest_lib.parse_manifest(data, url)


# -- listing ------------------------------------------------------------------


def list(zoo_dir=None):  # noqa: A001 - the zoo's public name, like keras_hub's
    """The presets of the shipped manifest: ``{name: entry}`` sorted by name.

    Each entry has ``version``, ``description``, ``task``, ``params``,
    ``headline`` (split, metric, value, published numbers) and ``files``.
    """
    presets = shipped_manifest(zoo_dir)["presets"]
    return {name: presets[name] for name in sorted(presets)}


def _unknown(name, known):
    listed = ", ".join(sorted(known)) or "(none: no manifest found)"
    return PresetError(
        f"Unknown preset {name!r}. Known presets: {listed}. A preset is {_FORMS}."
    )


# -- download -----------------------------------------------------------------


class _Progress:
    """A byte-count progress bar on stderr (`keras.utils.Progbar` when sized)."""

    def __init__(self, label, total, enabled):
        self.enabled = enabled
        self.done = 0
        self.bar = None
        if enabled:
            print(f"Downloading {label}", file=sys.stderr)
            if total:
                self.bar = keras.utils.Progbar(total, unit_name="byte")

    def update(self, count):
        self.done += count
        if self.bar is not None:
            self.bar.update(self.done)


def _download_file(url, target, expected, timeout, progress):
    """Stream ``url`` into ``target``; check length, size and sha256."""
    digest = hashlib.sha256()
    with _http_get(url, timeout) as response, open(target, "wb") as out:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        bar = _Progress(url, length or expected["size"], progress)
        while True:
            # A body cut short raises http.client.IncompleteRead (an HTTPException,
            # not an OSError) or reads as b"" (caught by the length check below).
            try:
                chunk = response.read(_CHUNK)
            except (OSError, ValueError, http.client.HTTPException) as err:
                raise PresetError(f"{url}: transfer interrupted ({err}).") from err
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    size = target.stat().st_size
    if length is not None and size != length:
        raise PresetError(
            f"{url}: truncated transfer ({size} of {length} bytes). Try again."
        )
    if size != expected["size"] or digest.hexdigest() != expected["sha256"]:
        raise PresetError(
            f"{url}: the downloaded file does not match the manifest (expected "
            f"size {expected['size']}, sha256 {expected['sha256']}; received "
            f"size {size}, sha256 {digest.hexdigest()}). Nothing was written to "
            "the cache."
        )


def _check_writable(root):
    """Create the cache root if needed and check that files can be made in it."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".probe-", delete=True)
        probe.close()
    except OSError as err:
        raise PresetError(
            f"The preset cache {root} is not writable ({err.strerror or err}). "
            f"Set {CACHE_ENV} (or pass cache_dir / --cache-dir) to a writable "
            "directory; presets already in a read-only cache still load."
        ) from err


def _download(name, entry, base_url, root, timeout, progress):
    """Download preset ``name`` into ``root/NAME/vVERSION`` atomically."""
    _check_writable(root)
    final = root / name / f"v{entry['version']}"
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".v{entry['version']}-", suffix=".tmp", dir=final.parent))
    try:
        for file_name, expected in sorted(entry["files"].items()):
            url = f"{base_url}/{urllib.parse.quote(name)}/{urllib.parse.quote(file_name)}"
            _download_file(url, staging / file_name, expected, timeout, progress)
        # A preset this keras-rnnx cannot build (e.g. its config names a class
        # that is not registered) is not cached either: load it once first.
        load_preset(staging)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            final.parent.rmdir()  # only if empty: no other version cached
        except OSError:
            pass
        raise
    return final


# -- resolution ---------------------------------------------------------------


def _is_url(text):
    return text.startswith(("http://", "https://"))


def _is_path(text):
    return os.sep in text or "/" in text or text.startswith(".") or os.path.isdir(text)


def _finish(name, path, entry, source):
    if entry is not None:
        manifest_lib.verify_files(path, entry, name)
    metadata = read_metadata(path)
    vocabulary = None
    if (path / VOCABULARY_FILE).is_file():
        # Written by keras_rnnx.datasets.save_vocabulary ({"format": ..., "characters": [...]});
        # imported here as keras_rnnx.datasets imports tensorflow_datasets.
        from keras_rnnx.datasets.text import load_vocabulary

        try:
            vocabulary = load_vocabulary(path / VOCABULARY_FILE)
        except (OSError, ValueError) as err:
            raise PresetError(f"{path / VOCABULARY_FILE}: not a character vocabulary ({err}).") from err
    return ZooPreset(name, path, metadata, entry, source, vocabulary)


def _from_path(text):
    path = pathlib.Path(text)
    if not path.is_dir():
        raise PresetError(
            f"{text!r} is not a preset directory (nothing there, or not a "
            f"directory). A preset is {_FORMS}."
        )
    entry = None
    beside = path.resolve().parent / manifest_lib.MANIFEST_FILE
    if beside.is_file():
        entry = manifest_lib.read_manifest(beside)["presets"].get(path.resolve().name)
    return _finish(path.resolve().name, path, entry, "path")


def fetch(
    name_or_path_or_url,
    *,
    cache_dir=None,
    zoo_dir=None,
    base_url=None,
    offline=None,
    force_download=False,
    progress=True,
    timeout=DEFAULT_TIMEOUT,
):
    """Resolve a preset to a verified local directory (downloading if needed).

    Args:
        name_or_path_or_url: a preset name, a preset directory or a URL (see
            the module docstring).
        cache_dir: the user cache (default ``$RNNX_CACHE_DIR`` or under
            ``KERAS_HOME``).
        zoo_dir: the shipped zoo (default: the project's ``zoo/`` or
            ``$RNNX_ZOO_DIR``).
        base_url: the remote zoo (default ``$RNNX_ZOO_URL``; none by default).
        offline: never use the network (default ``$RNNX_OFFLINE``).
        force_download: download again even when the cache holds the preset.
        progress: show a progress bar while downloading.
        timeout: seconds to wait on the network per request.

    Returns:
        `ZooPreset`.

    Raises:
        PresetError: unknown name (the message lists the known ones and the
            accepted forms), a path that is not a preset, a file that does not
            match the manifest, a failed or corrupted download, a read-only
            cache when a download is needed, or offline mode with nothing
            local.
    """
    text = os.fspath(name_or_path_or_url)
    if not isinstance(text, str) or not text:
        raise PresetError(f"Expected {_FORMS}; received {name_or_path_or_url!r}.")
    offline = _offline(offline)
    root = cache_root(cache_dir)
    if _is_url(text):
        base, _, name = text.rstrip("/").rpartition("/")
        manifest_lib.check_name(name)
        if offline:
            raise PresetError(
                f"Offline mode ({OFFLINE_ENV}) is on: not downloading {text}. "
                "Unset it, or load the preset by name from the cache or the shipped zoo."
            )
        manifest = remote_manifest(base, timeout)
        if name not in manifest["presets"]:
            raise _unknown(name, manifest["presets"])
        return _resolve_remote(name, manifest["presets"][name], base, root, force_download, progress, timeout)
    if _is_path(text):
        return _from_path(text)
    name = text
    shipped = shipped_manifest(zoo_dir)
    zoo_root = shipped_zoo_dir(zoo_dir)
    base = _base_url(base_url)
    entry = shipped["presets"].get(name)
    if entry is None and base is not None and not offline:
        remote = remote_manifest(base, timeout)["presets"]
        if name not in remote:
            raise _unknown(name, set(shipped["presets"]) | set(remote))
        entry = remote[name]
    if entry is None:
        raise _unknown(name, shipped["presets"])
    cached = root / name / f"v{entry['version']}"
    if cached.is_dir() and not force_download:
        return _finish(name, cached, entry, "cache")
    if zoo_root is not None and (zoo_root / name).is_dir() and not force_download and name in shipped["presets"]:
        return _finish(name, zoo_root / name, entry, "zoo")
    if offline:
        raise PresetError(
            f"Preset {name!r} is neither in the cache ({cached}) nor in the shipped "
            f"zoo, and offline mode ({OFFLINE_ENV}) is on. Unset it to download, "
            "or copy the preset directory into the cache."
        )
    if base is None:
        raise PresetError(
            f"Preset {name!r} is neither in the cache ({cached}) nor in the shipped "
            f"zoo, and no remote zoo is configured: pass base_url (rnnx zoo "
            f"--base-url) or set {URL_ENV} to the zoo's http(s) address."
        )
    return _resolve_remote(name, entry, base, root, force_download, progress, timeout)


def _resolve_remote(name, entry, base, root, force_download, progress, timeout):
    cached = root / name / f"v{entry['version']}"
    if cached.is_dir() and not force_download:
        return _finish(name, cached, entry, "cache")
    started = time.time()
    path = _download(name, entry, base, root, timeout, progress)
    if progress:
        print(f"Downloaded {name} to {path} in {time.time() - started:.1f} s.", file=sys.stderr)
    return _finish(name, path, entry, "download")


def load(name_or_path_or_url, **kwargs):
    """Load a zoo preset as a ready Keras model (one line), in the style of KerasHub.

    >>> model = keras_rnnx.zoo.load("jsb_lstm")                    # doctest: +SKIP
    >>> preset = keras_rnnx.zoo.fetch("shakespeare_lstm")         # doctest: +SKIP
    >>> preset.vocabulary[:5], preset.metadata["metrics"]         # doctest: +SKIP

    Resolution, verification and download as in `fetch` (same keyword
    arguments). The model is rebuilt with Keras ``safe_mode`` and not
    compiled; a character model's vocabulary is ``fetch(...).vocabulary``.
    """
    return fetch(name_or_path_or_url, **kwargs).load_model()
