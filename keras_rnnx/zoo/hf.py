"""Presets on the Hugging Face Hub: ``hf://OWNER/REPO[@REVISION]``.

The hub side of the zoo, on the ``huggingface_hub`` client (its cache, its
resumed downloads, its login and tokens, its upload protocol), as Keras 3's
own ``keras.saving.load_model("hf://...")`` and KerasHub's presets use it:

- `parse_uri`: ``hf://OWNER/REPO`` or ``hf://OWNER/REPO@REVISION`` (a branch,
  a tag or a 40-hex commit) to a `HubRef`, with the hub's naming rules;
- `download`: the repository's snapshot at that revision into the hub cache
  under the zoo cache (``CACHE/hub``, the hub client's layout), its files then
  checked against the hashes the hub itself published for them (`verify_snapshot`);
  offline it reads the same cache, by branch or commit;
- `push`: upload a preset directory, its model card as the hub README with the
  hub's metadata header (`hub_readme`).

The endpoint is ``$HF_ENDPOINT`` (read on every call, so a test's loopback hub
or a mirror takes effect without re-importing), the token the client's own
(``$HF_TOKEN`` or ``hf auth login``); no token is ever printed or logged.

What is vouched for: a preset the zoo's manifest lists is checked against the
manifest's sha256 of every file, whichever route brought it. Any other hub
repository is checked only against the hub's own hashes of its files (the
sha256 of large files, the git blob sha1 of small ones, as the hub reported
them at download): that proves the files are the ones the repository holds,
not that the repository's owner is trustworthy. Such a model is always built
with Keras ``safe_mode`` (no code runs from its config), and reading its HDF5
weights runs no code either.
"""

import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import tempfile

from keras_rnnx.zoo.preset import REQUIRED_FILES
from keras_rnnx.zoo.preset import PresetError
from keras_rnnx.zoo.preset import read_metadata

SCHEME = "hf://"
ENDPOINT_ENV = "HF_ENDPOINT"
README_FILE = "README.md"
MODEL_CARD_FILE = "MODEL_CARD.md"
LIBRARY_NAME = "keras-rnnx"
# The hub's rules for a repository id: OWNER/NAME, each of letters, digits,
# '-', '_', '.', not starting or ending with '-' or '.', no '--' or '..', at
# most 96 characters in all.
_PART = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_URI_FORM = "hf://OWNER/REPO or hf://OWNER/REPO@REVISION (a branch, a tag or a commit)"


@dataclasses.dataclass(frozen=True)
class HubRef:
    """A preset repository on the hub, at a revision (None: the default branch)."""

    repo_id: str
    revision: str = None

    @property
    def uri(self):
        return f"{SCHEME}{self.repo_id}" + (f"@{self.revision}" if self.revision else "")


def is_hub_uri(text):
    return isinstance(text, str) and text.startswith(SCHEME)


def parse_uri(text):
    """``hf://OWNER/REPO[@REVISION]`` as a `HubRef`; PresetError naming the fix if malformed."""
    if not is_hub_uri(text):
        raise PresetError(f"{text!r} is not a hub address; expected {_URI_FORM}.")
    body = text[len(SCHEME) :]
    repo_id, at, revision = body.partition("@")
    repo_id = repo_id.rstrip("/")
    parts = repo_id.split("/")
    if (
        len(parts) != 2
        or not all(_PART.match(part) for part in parts)
        or "--" in repo_id
        or ".." in repo_id
        or len(repo_id) > 96
    ):
        raise PresetError(
            f"{text!r}: malformed hub repository id {repo_id!r}. Expected {_URI_FORM}, "
            "OWNER and REPO each of letters, digits, '-', '_' and '.' "
            "(e.g. hf://keras-rnnx/jsb_lstm)."
        )
    if at and not revision:
        raise PresetError(
            f"{text!r}: nothing after '@'. Name a branch, a tag or a commit "
            f"(hf://{repo_id}@main), or leave '@' out for the default branch."
        )
    if revision and (not _REVISION.match(revision) or ".." in revision):
        raise PresetError(f"{text!r}: {revision!r} is not a branch, tag or commit name.")
    return HubRef(repo_id, revision or None)


def endpoint():
    """The hub's address: ``$HF_ENDPOINT`` or the client's default."""
    value = os.environ.get(ENDPOINT_ENV)
    return value.rstrip("/") if value else None


def hub_cache(cache_root):
    """Where hub snapshots are kept: ``CACHE/hub`` in the hub client's layout."""
    return pathlib.Path(cache_root) / "hub"


# -- download -----------------------------------------------------------------


def _explain(ref, err, offline):
    """A PresetError naming the URI and the fix for a hub client exception."""
    from huggingface_hub import errors

    uri = ref.uri
    where = endpoint() or "the Hugging Face Hub"
    if isinstance(err, errors.GatedRepoError):
        return PresetError(
            f"{uri}: the repository is gated; request access on its hub page, then log "
            "in (hf auth login) or set HF_TOKEN."
        )
    if isinstance(err, errors.RevisionNotFoundError):
        return PresetError(
            f"{uri}: revision {ref.revision!r} does not exist in {ref.repo_id}. Name an "
            f"existing branch, tag or commit, or leave '@{ref.revision}' out for the default branch."
        )
    if isinstance(err, errors.RepositoryNotFoundError):
        return PresetError(
            f"{uri}: no such repository on {where}, or it is private and no valid token "
            "was sent. Check the name; for a private repository log in (hf auth login) "
            "or set HF_TOKEN."
        )
    if isinstance(err, errors.HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in (401, 403):
            return PresetError(
                f"{uri}: the hub refused access (HTTP {status}). Log in (hf auth login) "
                "or set HF_TOKEN to a token that can read this repository."
            )
        return PresetError(f"{uri}: the hub answered HTTP {status}. Try again later.")
    if isinstance(err, errors.LocalEntryNotFoundError):
        # The client falls back to its cache on any HTTP error and reports the
        # miss; the hub's answer (a refusal, a 5xx) is the cause to explain.
        if isinstance(err.__cause__, errors.HfHubHTTPError):
            return _explain(ref, err.__cause__, offline)
        if offline:
            return PresetError(
                f"{uri}: not in the hub cache, and offline mode is on (RNNX_OFFLINE / "
                "HF_HUB_OFFLINE). Fetch it once online: rnnx zoo download " + uri
            )
        return PresetError(
            f"{uri}: cannot reach {where}, and it is not in the hub cache. Check the "
            f"network (and {ENDPOINT_ENV}), then try again."
        )
    return PresetError(
        f"{uri}: the transfer from {where} failed ({type(err).__name__}: {err}). Nothing "
        "incomplete is used: try again (the hub client resumes the download)."
    )


def download(ref, cache_root, *, offline=False, timeout=None):
    """The snapshot of ``ref`` in the hub cache, downloaded if needed and verified.

    Returns:
        ``(path, commit)``: the snapshot directory and its commit sha.

    Raises:
        PresetError: a repository, revision or file the hub does not have, a
            refusal (401/403), no network and nothing cached, a file that does
            not match the hub's hash, or a repository without a preset layout.
    """
    import huggingface_hub

    kwargs = dict(
        repo_id=ref.repo_id,
        revision=ref.revision,
        cache_dir=os.fspath(hub_cache(cache_root)),
        local_files_only=bool(offline),
        library_name=LIBRARY_NAME,
        endpoint=endpoint(),
    )
    if timeout is not None:
        kwargs["etag_timeout"] = timeout
    try:
        path = pathlib.Path(huggingface_hub.snapshot_download(**kwargs))
    except Exception as err:  # noqa: BLE001 - the client's HTTP, transport and consistency errors
        raise _explain(ref, err, offline) from err
    check_layout(path, ref.uri)
    verify_snapshot(path, ref.uri)
    return path, path.name


def check_layout(path, uri):
    """The snapshot must hold a keras-rnnx preset (its three required files)."""
    found = sorted(p.name for p in pathlib.Path(path).iterdir() if not p.name.startswith("."))
    missing = [name for name in REQUIRED_FILES if name not in found]
    if missing:
        raise PresetError(
            f"{uri}: the repository does not hold a keras-rnnx preset: "
            f"{', '.join(missing)} missing (found: {', '.join(found) or 'nothing'}). A preset "
            f"repository holds {', '.join(REQUIRED_FILES)}, as `rnnx zoo push` uploads them."
        )
    read_metadata(path)  # a keras-rnnx preset's metadata, not another library's


def _digest(path, algorithm):
    digest = hashlib.new(algorithm)
    if algorithm == "sha1":  # git's blob id: sha1 of "blob SIZE\0" + content
        digest.update(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_snapshot(path, uri):
    """Check each file of a hub snapshot against the hash the hub gave it.

    The hub client stores every file once, as ``blobs/ETAG``, and links the
    snapshot's names to them; the hub's ETag of a file is its sha256 (large,
    LFS files) or its git blob sha1 (small files). A file whose content no
    longer matches its blob name was changed after the download.
    """
    for item in sorted(pathlib.Path(path).iterdir()):
        if item.name.startswith(".") or not item.is_file():
            continue
        if not item.is_symlink():
            # A cache without symbolic links (some Windows set-ups) keeps no
            # hub hash beside the file: nothing to check it against.
            continue
        expected = pathlib.Path(os.readlink(item)).name
        if _SHA256.match(expected):
            found = _digest(item, "sha256")
        elif _COMMIT.match(expected):
            found = _digest(item, "sha1")
        else:
            continue
        if found != expected:
            raise PresetError(
                f"{uri}: {item.name} does not match the hash the hub published for it "
                f"(expected {expected}, found {found}); the cached copy was altered. "
                f"Delete {item.resolve()} and fetch again."
            )


# -- upload -------------------------------------------------------------------


def _yaml_string(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


_DATASETS = {"jsb_chorales": "jsb_chorales", "text": "tiny_shakespeare"}


def hub_readme(metadata, card=None):
    """The hub README of a preset: the hub's YAML metadata header, then its model card.

    The header carries what the hub indexes: ``library_name``, ``tags``,
    ``datasets``, ``metrics`` and a ``model-index`` with the preset's metrics
    on each split.
    """
    task = (metadata.get("task") or {}).get("name") or "unknown"
    cell = ((metadata.get("model") or {}).get("cell")) or None
    tags = ["keras", LIBRARY_NAME, "recurrent-neural-network", task] + ([cell] if cell else [])
    metrics = metadata.get("metrics") or {}
    dataset = _DATASETS.get(task, task)
    lines = ["---", f"library_name: {LIBRARY_NAME}", "license: apache-2.0", "tags:"]
    lines += [f"- {_yaml_string(tag)}" for tag in dict.fromkeys(tags)]
    lines += ["datasets:", f"- {_yaml_string(dataset)}"]
    names = sorted({name for split in metrics.values() if isinstance(split, dict) for name in split})
    if names:
        lines += ["metrics:"] + [f"- {_yaml_string(name)}" for name in names]
        lines += [
            "model-index:",
            f"- name: {_yaml_string(metadata.get('name') or metadata.get('description') or 'preset')}",
            "  results:",
        ]
        for split, values in sorted(metrics.items()):
            if not isinstance(values, dict):
                continue
            lines += [
                f"  - task: {{type: {_yaml_string(task)}}}",
                f"    dataset: {{name: {_yaml_string(dataset)}, type: {_yaml_string(dataset)}, split: {_yaml_string(split)}}}",
                "    metrics:",
            ]
            lines += [
                f"    - {{type: {_yaml_string(name)}, value: {float(value)!r}}}"
                for name, value in sorted(values.items())
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            ]
    lines.append("---")
    body = card or f"# {metadata.get('description') or 'A keras-rnnx preset'}\n"
    return "\n".join(lines) + "\n\n" + body


def push(directory, uri, *, private=False, message=None, token=None):
    """Upload the preset directory ``directory`` to the hub repository ``uri``.

    The repository is created if it does not exist; its README becomes the
    preset's model card (``MODEL_CARD.md``, else a title) under the hub's
    metadata header. ``uri`` may name a branch (``@BRANCH``) to commit to.

    Returns:
        `HubRef` of the new commit (``revision`` = the commit sha).
    """
    import huggingface_hub

    ref = parse_uri(uri)
    if ref.revision is not None and _COMMIT.match(ref.revision):
        raise PresetError(f"{uri}: push to a branch (or the default one), not to a commit.")
    directory = pathlib.Path(directory)
    metadata = read_metadata(directory)
    card_path = directory / MODEL_CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else None
    api = huggingface_hub.HfApi(endpoint=endpoint(), token=token, library_name=LIBRARY_NAME)
    with tempfile.TemporaryDirectory(prefix="rnnx-push-") as staging:
        staging = pathlib.Path(staging)
        for item in directory.iterdir():
            if item.is_file() and not item.name.startswith(".") and item.name != README_FILE:
                shutil.copy2(item, staging / item.name)
        (staging / README_FILE).write_text(hub_readme(metadata, card), encoding="utf-8")
        try:
            api.create_repo(ref.repo_id, private=private, exist_ok=True)
            if ref.revision is not None:
                api.create_branch(ref.repo_id, branch=ref.revision, exist_ok=True)
            info = api.upload_folder(
                repo_id=ref.repo_id,
                folder_path=os.fspath(staging),
                revision=ref.revision,
                commit_message=message or f"Upload keras-rnnx preset {directory.name}",
            )
        except Exception as err:  # noqa: BLE001 - the client's HTTP and transport errors
            raise _explain(ref, err, offline=False) from err
    return HubRef(ref.repo_id, info.oid)

