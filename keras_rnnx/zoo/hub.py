"""Finding, downloading and verifying zoo presets: `list`, `fetch`, `load`.

A preset is named by

- a **name** (``"jsb_lstm"``): a preset of the manifest (the official one
  shipped inside the package, or the ``manifest.json`` of a zoo directory
  that carries its own), looked up in order in
  1. the user cache: ``$RNNX_CACHE_DIR``, default
     ``$KERAS_HOME/keras_rnnx/zoo`` (``KERAS_HOME`` defaults to ``~/.keras``),
     as ``NAME/vVERSION-DIGEST/`` (``DIGEST`` of the entry's files, so presets
     of one name from different zoos never share a slot);
  2. the zoo directory: ``zoo_dir`` / ``$RNNX_ZOO_DIR``, or the checkout's
     ``zoo/`` (what ``make demo`` uses, offline);
  3. the installed zoo package, ``keras-rnnx-zoo`` (``pip install
     keras-rnnx[zoo]``), offline;
  4. a remote: the http(s) zoo at ``base_url`` / ``$RNNX_ZOO_URL`` when one is
     set, else the preset's hub repository (``hf://``, the manifest's ``hub``
     entry at its pinned revision), through the hub cache ``CACHE/hub``.
  A bare name is always a name, even when a directory of that name exists
  in the working directory (write ``./NAME`` for the directory);
- a **hub URI** ``hf://OWNER/REPO[@REVISION]``: any preset repository on the
  Hugging Face Hub (`keras_rnnx.zoo.hf`), official or a user's own;
- a **URL** ``http(s)://HOST/BASE/NAME``: the preset ``NAME`` of the zoo
  served at ``http(s)://HOST/BASE`` (its ``manifest.json`` beside the preset
  directories);
- a **path** to a preset directory (anything with a path separator, or
  starting with ``.`` or ``~``): loaded as is. When the directory sits in a
  zoo (a ``manifest.json`` beside it listing its name), its files are verified
  against that manifest; otherwise nothing vouches for it, and only Keras'
  ``safe_mode`` guards the load.

The manifest is the trust anchor: **every load** of a listed preset checks
each file's size and sha256 against it, wherever the files come from. A hub
repository the manifest does not list is checked against the hub's own hashes
of its files (`keras_rnnx.zoo.hf.verify_snapshot`); `ZooPreset.entry` is then
None. An http download streams each file into a hidden temporary directory of
the cache with a progress bar, stops as soon as a file outgrows its manifest
size, checks its size and sha256, and renames the directory into place only
when every file matches, under a lock, so concurrent fetches (threads or
processes) of one preset all succeed and the cache never holds a partial or
corrupted preset. The remote manifest is kept beside the cache, so a preset
fetched by URL loads offline by the same URL.

Offline mode (``offline=True``, ``RNNX_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)
never opens a network connection; a read-only cache is read normally, and a
download into it is refused up front with the fix. Loading reads JSON and
HDF5 only, the model rebuilt with Keras ``safe_mode``.
"""

import dataclasses
import hashlib
import http.client
import importlib.util
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

import filelock
import keras

from keras_rnnx.zoo import hf
from keras_rnnx.zoo import manifest as manifest_lib
from keras_rnnx.zoo.preset import PresetError
from keras_rnnx.zoo.preset import current_umask
from keras_rnnx.zoo.preset import load_preset
from keras_rnnx.zoo.preset import read_metadata

CACHE_ENV = "RNNX_CACHE_DIR"
ZOO_DIR_ENV = "RNNX_ZOO_DIR"
URL_ENV = "RNNX_ZOO_URL"
OFFLINE_ENV = "RNNX_OFFLINE"
ZOO_PACKAGE = "keras_rnnx_zoo"
ZOO_DISTRIBUTION = "keras-rnnx-zoo"
VOCABULARY_FILE = "vocabulary.json"
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_REMOTES = "_remotes"  # remote manifests seen online, for offline use (not a preset name)
_LOCKS = "_locks"
_FORMS = (
    "a preset name from the manifest, a path to a preset directory (./NAME), a "
    "hub URI hf://OWNER/REPO[@REVISION], or a URL http(s)://HOST/BASE/NAME of a "
    "zoo served over HTTP"
)
_SOURCES = {
    "path": "a preset directory",
    "cache": "the cache",
    "zoo": "the zoo directory",
    "zoo-package": f"the installed {ZOO_DISTRIBUTION} package",
    "download": "a download",
    "hub": "the hub",
}


@dataclasses.dataclass(frozen=True)
class ZooPreset:
    """A resolved preset: where its verified files are and what they say.

    Attributes:
        name: the preset's name (the directory name for a bare path, the URI
            for a hub repository).
        path: `pathlib.Path` of the preset directory.
        metadata: its ``metadata.json``.
        entry: its manifest entry, or None when no manifest lists it (a local
            directory, or a hub repository checked against the hub's hashes).
        source: ``"cache"``, ``"zoo"``, ``"zoo-package"``, ``"download"``,
            ``"hub"`` or ``"path"``.
        vocabulary: tuple of characters for a character model, else None.
        origin: where the files came from (a path, URL or ``hf://`` URI with
            its commit).
    """

    name: str
    path: pathlib.Path
    metadata: dict
    entry: dict
    source: str
    vocabulary: tuple = None
    origin: str = None

    def load_model(self):
        """The Keras model (safe mode, weights loaded, not compiled)."""
        model, _ = load_preset(self.path)
        return model

    def describe(self):
        """One line: which source was used and what vouches for the files."""
        if self.entry is not None:
            trust = "verified against the manifest"
        elif self.source == "hub":
            trust = "verified against the hub's hashes (not in the manifest)"
        else:
            trust = "not in a manifest: unverified, loaded with Keras safe_mode"
        return f"{self.name}: from {_SOURCES[self.source]} ({self.origin or self.path}), {trust}"


# -- locations ----------------------------------------------------------------


def cache_root(cache_dir=None):
    """The user cache of downloaded presets (``$RNNX_CACHE_DIR`` or under ``KERAS_HOME``)."""
    if cache_dir is not None:
        return pathlib.Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV])
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(keras_home) / "keras_rnnx" / "zoo"


def cache_slot(root, name, entry):
    """The cache directory of the preset ``name`` whose manifest entry is ``entry``."""
    return pathlib.Path(root) / name / f"v{entry['version']}-{manifest_lib.entry_digest(entry)}"


def _is_checkout_zoo(directory):
    project = directory / "pyproject.toml"
    return project.is_file() and f'name = "{ZOO_DISTRIBUTION}"' in project.read_text(encoding="utf-8")


def shipped_zoo_dir(zoo_dir=None):
    """The zoo directory: ``zoo_dir``, ``$RNNX_ZOO_DIR`` or the checkout's ``zoo/``; None if none."""
    if zoo_dir is not None:
        return pathlib.Path(zoo_dir)
    if os.environ.get(ZOO_DIR_ENV):
        return pathlib.Path(os.environ[ZOO_DIR_ENV])
    candidate = pathlib.Path(__file__).resolve().parents[2] / "zoo"
    return candidate if _is_checkout_zoo(candidate) else None


def zoo_package_dir():
    """The presets directory of the installed ``keras-rnnx-zoo`` package, None if not installed."""
    try:
        spec = importlib.util.find_spec(ZOO_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def _offline(offline):
    if offline is not None:
        return bool(offline)
    return any(
        os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
        for var in (OFFLINE_ENV, "HF_HUB_OFFLINE")
    )


def _base_url(base_url):
    url = base_url if base_url is not None else os.environ.get(URL_ENV)
    if not url:
        return None
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise PresetError(
            f"The zoo's base URL must be http(s)://HOST/PATH; received {url!r} "
            f"(from {'base_url' if base_url is not None else URL_ENV})."
        )
    return url.rstrip("/")


# -- manifests ----------------------------------------------------------------


def shipped_manifest(zoo_dir=None):
    """The manifest names resolve against.

    The zoo directory's own ``manifest.json`` when it has one (a user's own
    zoo), else the official manifest shipped inside the package.
    """
    directory = shipped_zoo_dir(zoo_dir)
    if directory is not None and (directory / manifest_lib.MANIFEST_FILE).exists():
        return manifest_lib.read_manifest(directory / manifest_lib.MANIFEST_FILE)
    return manifest_lib.packaged_manifest()


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


def _remote_record(root, base_url):
    key = hashlib.sha256(base_url.encode("utf-8")).hexdigest()[:16]
    return pathlib.Path(root) / _REMOTES / f"{key}.json"


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


def _recorded_manifest(root, base_url):
    """The manifest of ``base_url`` as last seen online, or None."""
    path = _remote_record(root, base_url)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("base_url") != base_url:
        return None
    return manifest_lib.parse_manifest(record.get("manifest"), str(path))


def _record_manifest(root, base_url, manifest):
    path = _remote_record(root, base_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"base_url": base_url, "manifest": manifest}, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


# -- listing ------------------------------------------------------------------


def list(zoo_dir=None):  # noqa: A001 - the zoo's public name, like keras_hub's
    """The presets of the manifest: ``{name: entry}`` sorted by name.

    Each entry has ``version``, ``description``, ``task``, ``params``,
    ``headline`` (split, metric, value, published numbers), ``files`` and,
    for hosted presets, ``hub`` (repository and revision).
    """
    presets = shipped_manifest(zoo_dir)["presets"]
    return {name: presets[name] for name in sorted(presets)}


def _unknown(name, known):
    listed = ", ".join(sorted(known)) or "(none)"
    hint = ""
    if os.path.isdir(name):
        hint = f" A directory {name!r} exists here: to load it, write it as a path ('./{name}')."
    return PresetError(f"Unknown preset {name!r}. Known presets: {listed}. A preset is {_FORMS}.{hint}")


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
    """Stream ``url`` into ``target``; check length, size and sha256.

    The transfer stops as soon as more bytes arrive than the manifest's size
    (or a Content-Length larger than it is announced), so a server cannot fill
    the disk.
    """
    digest = hashlib.sha256()
    limit = expected["size"]
    with _http_get(url, timeout) as response, open(target, "wb") as out:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if length is not None and length > limit:
            raise PresetError(
                f"{url}: the server announces {length} bytes, but the manifest lists "
                f"{limit}; not downloading. The zoo at this address is not the one "
                "its manifest describes."
            )
        bar = _Progress(url, length or limit, progress)
        size = 0
        while True:
            # A body cut short raises http.client.IncompleteRead (an HTTPException,
            # not an OSError) or reads as b"" (caught by the length check below).
            try:
                chunk = response.read(_CHUNK)
            except (OSError, ValueError, http.client.HTTPException) as err:
                raise PresetError(f"{url}: transfer interrupted ({err}).") from err
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise PresetError(
                    f"{url}: more than the manifest's {limit} bytes received; download "
                    "stopped. Nothing was written to the cache."
                )
            out.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    if length is not None and size != length:
        raise PresetError(f"{url}: truncated transfer ({size} of {length} bytes). Try again.")
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


def _verified(path, entry, name):
    """True when ``path`` holds every file of ``entry`` intact."""
    try:
        manifest_lib.verify_files(path, entry, name)
    except PresetError:
        return False
    return True


def _download(name, entry, base_url, root, timeout, progress, force):
    """Download preset ``name`` into its cache slot, atomically and under a lock.

    Concurrent callers (threads or processes) wait on one lock per slot; the
    first downloads, the others find the verified slot and return it.
    """
    _check_writable(root)
    final = cache_slot(root, name, entry)
    locks = root / _LOCKS
    locks.mkdir(exist_ok=True)
    with filelock.FileLock(os.fspath(locks / f"{name}-{final.name}.lock")):
        if final.is_dir() and not force and _verified(final, entry, name):
            return final
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}-", suffix=".tmp", dir=final.parent))
        except OSError as err:
            raise PresetError(
                f"Cannot write the preset into {final.parent} ({err.strerror or err}). Make it a "
                f"writable directory (or remove it), or set {CACHE_ENV} / --cache-dir to another cache."
            ) from err
        staging.chmod(0o777 & ~current_umask())
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
    return os.sep in text or "/" in text or text.startswith((".", "~"))


def _finish(name, path, entry, source, origin=None):
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
    return ZooPreset(name, path, metadata, entry, source, vocabulary, origin)


def _from_path(text):
    path = pathlib.Path(text).expanduser()
    if not path.is_dir():
        raise PresetError(
            f"{text!r} is not a preset directory (nothing there, or not a "
            f"directory). A preset is {_FORMS}."
        )
    entry = None
    beside = path.resolve().parent / manifest_lib.MANIFEST_FILE
    if beside.is_file():
        entry = manifest_lib.read_manifest(beside)["presets"].get(path.resolve().name)
    return _finish(path.resolve().name, path, entry, "path", str(path))


def _from_hub_uri(text, root, offline, timeout):
    ref = hf.parse_uri(text)
    path, commit = hf.download(ref, root, offline=offline, timeout=timeout)
    origin = f"{hf.SCHEME}{ref.repo_id}@{commit}"
    # An official preset fetched by its URI is vouched for by the manifest too
    # when its files are the manifest's.
    for name, entry in manifest_lib.packaged_manifest()["presets"].items():
        if (entry.get("hub") or {}).get("repo") == ref.repo_id and _verified(path, entry, name):
            return _finish(name, path, entry, "hub", origin)
    return _finish(ref.uri, path, None, "hub", origin)


def _from_url(text, root, offline, force_download, progress, timeout):
    base, _, name = text.rstrip("/").rpartition("/")
    try:
        manifest_lib.check_name(name)
    except ValueError as err:
        raise PresetError(f"{text}: the URL's last part must be a preset name. {err}") from err
    manifest = _recorded_manifest(root, base) if offline else None
    if offline:
        entry = (manifest or {}).get("presets", {}).get(name)
        slot = cache_slot(root, name, entry) if entry else None
        if slot is not None and slot.is_dir():
            return _finish(name, slot, entry, "cache", text)
        raise PresetError(
            f"Offline mode ({OFFLINE_ENV}) is on and {text} is not in the cache: not "
            "downloading. Fetch it once online (rnnx zoo download URL), then it loads offline."
        )
    manifest = remote_manifest(base, timeout)
    if name not in manifest["presets"]:
        raise _unknown(name, manifest["presets"])
    return _resolve_remote(name, manifest["presets"][name], base, root, force_download, progress, timeout, manifest)


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
        name_or_path_or_url: a preset name, a preset directory, a hub URI
            ``hf://OWNER/REPO[@REVISION]`` or a URL (see the module docstring).
        cache_dir: the user cache (default ``$RNNX_CACHE_DIR`` or under
            ``KERAS_HOME``); hub snapshots are kept in its ``hub/``.
        zoo_dir: a zoo directory (default: ``$RNNX_ZOO_DIR`` or the
            checkout's ``zoo/``); its ``manifest.json``, if any, replaces the
            official manifest.
        base_url: an http(s) zoo for names not found locally (default
            ``$RNNX_ZOO_URL``; when unset, names come from the hub).
        offline: never use the network (default ``$RNNX_OFFLINE`` or
            ``$HF_HUB_OFFLINE``).
        force_download: download again even when the cache holds the preset.
        progress: show a progress bar while downloading.
        timeout: seconds to wait on the network per request.

    Returns:
        `ZooPreset` (its ``describe()`` says which source was used).

    Raises:
        PresetError: unknown name (the message lists the known ones and the
            accepted forms), a malformed URI or an unknown scheme, a path that
            is not a preset, a file that does not match the manifest or the
            hub's hashes, a failed or refused download, a read-only cache when
            a download is needed, or offline mode with nothing local.
    """
    text = os.fspath(name_or_path_or_url) if isinstance(name_or_path_or_url, (str, os.PathLike)) else None
    if not isinstance(text, str) or not text:
        raise PresetError(f"Expected {_FORMS}; received {name_or_path_or_url!r}.")
    offline = _offline(offline)
    root = cache_root(cache_dir)
    if hf.is_hub_uri(text):
        return _from_hub_uri(text, root, offline, timeout)
    if _is_url(text):
        return _from_url(text, root, offline, force_download, progress, timeout)
    scheme = urllib.parse.urlparse(text).scheme
    if "://" in text and scheme:
        raise PresetError(
            f"{text!r}: unknown scheme {scheme + '://'!r}. A preset is {_FORMS}."
        )
    if _is_path(text):
        return _from_path(text)
    return _from_name(text, root, zoo_dir, base_url, offline, force_download, progress, timeout)


def _from_name(name, root, zoo_dir, base_url, offline, force_download, progress, timeout):
    try:
        manifest_lib.check_name(name)
    except ValueError as err:
        raise PresetError(f"{err} A preset is {_FORMS}.") from err
    shipped = shipped_manifest(zoo_dir)
    base = _base_url(base_url)
    entry = shipped["presets"].get(name)
    remote = None
    if entry is None and base is not None:
        remote = _recorded_manifest(root, base) if offline else remote_manifest(base, timeout)
        remote_presets = (remote or {"presets": {}})["presets"]
        if name not in remote_presets:
            raise _unknown(name, set(shipped["presets"]) | set(remote_presets))
        entry = remote_presets[name]
    if entry is None:
        raise _unknown(name, shipped["presets"])
    if not force_download:
        slot = cache_slot(root, name, entry)
        if slot.is_dir():
            return _finish(name, slot, entry, "cache")
        for source, directory in (("zoo", shipped_zoo_dir(zoo_dir)), ("zoo-package", zoo_package_dir())):
            if directory is not None and (directory / name).is_dir():
                return _finish(name, directory / name, entry, source)
    hub_entry = entry.get("hub")
    if base is None and hub_entry is not None:
        ref = hf.HubRef(hub_entry["repo"], hub_entry.get("revision"))
        try:
            path, commit = hf.download(ref, root, offline=offline, timeout=timeout)
        except PresetError as err:
            if offline:
                raise _offline_error(name, root) from err
            raise
        return _finish(name, path, entry, "hub", f"{hf.SCHEME}{ref.repo_id}@{commit}")
    if offline:
        raise _offline_error(name, root)
    if base is None:
        raise PresetError(
            f"Preset {name!r} is neither in the cache ({root}) nor in a zoo directory "
            f"or the installed {ZOO_DISTRIBUTION} package, and has no hub repository: "
            f"pass base_url (rnnx zoo --base-url) or set {URL_ENV} to its zoo's http(s) address."
        )
    return _resolve_remote(name, entry, base, root, force_download, progress, timeout, remote)


def _offline_error(name, root):
    return PresetError(
        f"Preset {name!r} is not in the cache ({root}), a zoo directory or an installed "
        f"{ZOO_DISTRIBUTION} package, and offline mode is on ({OFFLINE_ENV} / HF_HUB_OFFLINE). "
        f"Fetch it once online (rnnx zoo download {name}), or pip install 'keras-rnnx[zoo]' "
        "for every official preset offline."
    )


def _resolve_remote(name, entry, base, root, force_download, progress, timeout, manifest=None):
    """Preset ``name`` of the http(s) zoo at ``base``; ``manifest``: that zoo's, recorded for offline use."""
    cached = cache_slot(root, name, entry)
    if cached.is_dir() and not force_download:
        return _finish(name, cached, entry, "cache", f"{base}/{name}")
    started = time.time()
    path = _download(name, entry, base, root, timeout, progress, force_download)
    if manifest is not None:
        _record_manifest(root, base, manifest)
    if progress:
        print(f"Downloaded {name} to {path} in {time.time() - started:.1f} s.", file=sys.stderr)
    return _finish(name, path, entry, "download", f"{base}/{name}")


def load(name_or_path_or_url, **kwargs):
    """Load a zoo preset as a ready Keras model (one line), in the style of KerasHub.

    >>> model = keras_rnnx.zoo.load("jsb_lstm")                    # doctest: +SKIP
    >>> model = keras_rnnx.zoo.load("hf://keras-rnnx/jsb_lstm")    # doctest: +SKIP
    >>> preset = keras_rnnx.zoo.fetch("shakespeare_lstm")         # doctest: +SKIP
    >>> preset.vocabulary[:5], preset.metadata["metrics"]         # doctest: +SKIP

    Resolution, verification and download as in `fetch` (same keyword
    arguments). The model is rebuilt with Keras ``safe_mode`` and not
    compiled; a character model's vocabulary is ``fetch(...).vocabulary``.
    """
    return fetch(name_or_path_or_url, **kwargs).load_model()


def push(preset, uri, *, private=False, message=None, token=None, **fetch_kwargs):
    """Publish a preset (a name, directory or URI) to the hub repository ``uri``.

    The preset is resolved and verified as by `fetch`, then uploaded with its
    model card as the hub README (`keras_rnnx.zoo.hf.push`).

    Returns:
        `keras_rnnx.zoo.hf.HubRef` of the new commit.
    """
    resolved = fetch(preset, **fetch_kwargs)
    return hf.push(resolved.path, uri, private=private, message=message, token=token)
