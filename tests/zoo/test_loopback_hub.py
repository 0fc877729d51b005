"""`loopback_hub.LoopbackHub` against the real ``huggingface_hub`` client.

Every in-process call passes ``endpoint=hub.endpoint``, ``cache_dir`` under ``tmp_path``
and an explicit ``token`` (``False`` for none), so no test reads the machine's
token, cache or ``HF_ENDPOINT``.
"""

import hashlib
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import HfApi, errors, hf_hub_download, snapshot_download

from tests.zoo.loopback_hub import OVERSIZE_BYTES, LoopbackHub, git_blob_sha1

REPO = "rnnx/tiny"
TOKEN = "hf_loopback_secret"
FILES = {
    "README.md": b"# tiny\n",
    "config.json": b'{"units": 4}',
    "weights/model.h5": bytes(range(256)) * 40,  # an LFS file by its suffix
}


pytestmark = pytest.mark.usefixtures("hf_client_env")


@pytest.fixture
def hub():
    with LoopbackHub() as served:
        yield served


def _download(hub, filename, tmp_path, **kwargs):
    kwargs.setdefault("token", False)
    return hf_hub_download(REPO, filename, cache_dir=tmp_path / "cache", endpoint=hub.endpoint, **kwargs)


def _snapshot(hub, tmp_path, **kwargs):
    kwargs.setdefault("token", False)
    return snapshot_download(REPO, cache_dir=tmp_path / "cache", endpoint=hub.endpoint, **kwargs)


def _read_tree(folder):
    files = (path for path in Path(folder).rglob("*") if path.is_file())
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in files}


# -- downloads ------------------------------------------------------------------


def test_snapshot_download_gives_the_commit(hub, tmp_path):
    sha = hub.add_repo(REPO, FILES)
    folder = _snapshot(hub, tmp_path)
    assert _read_tree(folder) == FILES
    assert os.path.basename(folder) == sha
    assert hub.requests[:2] == [
        ("GET", f"/api/models/{REPO}/revision/main"),
        ("GET", f"/api/models/{REPO}/tree/{sha}"),
    ]
    assert ("GET", f"/{REPO}/resolve/{sha}/weights/model.h5") in hub.requests


def test_pinned_revision_then_offline(hub, tmp_path):
    old = hub.add_repo(REPO, FILES)
    new = hub.commit(REPO, {"config.json": b'{"units": 8}'}, delete=["README.md"])
    assert hub.files(REPO, old) == FILES and hub.readme(REPO, old) == "# tiny\n"
    assert hub.readme(REPO) is None and hub.files(REPO)["config.json"] == b'{"units": 8}'

    assert _read_tree(_snapshot(hub, tmp_path, revision=old)) == FILES
    assert _read_tree(_snapshot(hub, tmp_path)) == hub.files(REPO, new)

    served = len(hub.requests)
    assert _read_tree(_snapshot(hub, tmp_path, revision=old, local_files_only=True)) == FILES
    assert os.path.basename(_snapshot(hub, tmp_path, local_files_only=True)) == new
    with open(_download(hub, "config.json", tmp_path, local_files_only=True), "rb") as file:
        assert file.read() == b'{"units": 8}'
    assert len(hub.requests) == served


def test_hf_hub_download_of_one_file(hub, tmp_path):
    sha = hub.add_repo(REPO, FILES)
    for name in ("config.json", "weights/model.h5"):
        with open(_download(hub, name, tmp_path), "rb") as file:
            assert file.read() == FILES[name]
    storage = tmp_path / "cache" / "models--rnnx--tiny"
    blobs = {git_blob_sha1(FILES["config.json"]), hashlib.sha256(FILES["weights/model.h5"]).hexdigest()}
    assert set(os.listdir(storage / "blobs")) == blobs
    assert hub.requests == [  # the client GETs the url it HEADed: no redirect
        ("HEAD", f"/{REPO}/resolve/main/config.json"),
        ("GET", f"/{REPO}/resolve/main/config.json"),
        ("HEAD", f"/{REPO}/resolve/main/weights/model.h5"),
        ("GET", f"/{REPO}/resolve/main/weights/model.h5"),
    ]
    assert (storage / "snapshots" / sha / "weights" / "model.h5").exists()


def test_range_requests(hub):
    hub.add_repo(REPO, FILES)
    url = f"{hub.endpoint}/{REPO}/resolve/main/weights/model.h5"
    size = len(FILES["weights/model.h5"])
    ranges = {"bytes=10-19": (10, 19), "bytes=10000-": (10000, size - 1), "bytes=-5": (size - 5, size - 1)}
    for header, (first, last) in ranges.items():
        response = huggingface_hub.get_session().get(url, headers={"Range": header})
        assert response.status_code == 206
        assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert response.content == FILES["weights/model.h5"][first : last + 1]
    assert huggingface_hub.get_session().get(url, headers={"Range": f"bytes={size}-"}).status_code == 416


def test_model_info_refs_and_files(hub):
    sha = hub.add_repo(REPO, FILES)
    api = HfApi(endpoint=hub.endpoint, token=False)
    info = api.model_info(REPO, files_metadata=True)
    assert info.sha == sha
    siblings = {sibling.rfilename: sibling for sibling in info.siblings}
    assert siblings.keys() == FILES.keys()
    weights = siblings["weights/model.h5"]
    assert weights.lfs.sha256 == hashlib.sha256(FILES["weights/model.h5"]).hexdigest()
    assert weights.lfs.size == weights.size == len(FILES["weights/model.h5"])
    assert siblings["config.json"].blob_id == git_blob_sha1(FILES["config.json"])
    assert siblings["config.json"].lfs is None

    refs = api.list_repo_refs(REPO)
    assert [(branch.name, branch.target_commit) for branch in refs.branches] == [("main", sha)]
    assert sorted(api.list_repo_files(REPO)) == sorted(FILES)
    top = {entry.path: type(entry).__name__ for entry in api.list_repo_tree(REPO)}
    assert top == {"README.md": "RepoFile", "config.json": "RepoFile", "weights": "RepoFolder"}


def test_unknown_repo_revision_and_file(hub, tmp_path):
    hub.add_repo(REPO, FILES)
    api = HfApi(endpoint=hub.endpoint, token=False)
    with pytest.raises(errors.RepositoryNotFoundError):
        hf_hub_download("rnnx/missing", "config.json", cache_dir=tmp_path, endpoint=hub.endpoint, token=False)
    with pytest.raises(errors.RepositoryNotFoundError):
        api.model_info("rnnx/missing")
    with pytest.raises(errors.RevisionNotFoundError):
        _download(hub, "config.json", tmp_path, revision="v9")
    with pytest.raises(errors.RevisionNotFoundError):
        _snapshot(hub, tmp_path, revision="0" * 40)
    with pytest.raises(errors.EntryNotFoundError):
        _download(hub, "missing.json", tmp_path)


# -- uploads --------------------------------------------------------------------


def test_create_repo_and_upload_folder_through_lfs(hub, tmp_path):
    folder = tmp_path / "upload"
    (folder / "weights").mkdir(parents=True)
    upload = {
        "README.md": b"---\nlicense: mit\n---\n# up\n",
        "config.json": b'{"units": 4}',
        "weights/model.h5": os.urandom(70_000),
    }
    for name, content in upload.items():
        (folder / name).write_bytes(content)
    api = HfApi(endpoint=hub.endpoint, token=False)
    url = api.create_repo(REPO, exist_ok=True)
    assert url.repo_id == REPO and api.create_repo(REPO, exist_ok=True) == url

    info = api.upload_folder(repo_id=REPO, folder_path=folder, commit_message="upload")
    assert hub.files(REPO) == upload
    assert info.oid == hub.repos[REPO]["refs"]["main"] and hub.repos[REPO]["messages"][info.oid] == "upload"
    oid = hashlib.sha256(upload["weights/model.h5"]).hexdigest()
    for request in [
        ("POST", f"/api/models/{REPO}/preupload/main"),
        ("POST", f"/{REPO}.git/info/lfs/objects/batch"),
        ("PUT", f"/_lfs-upload/{REPO}/{oid}"),
        ("POST", f"/{REPO}.git/info/lfs/objects/verify"),
        ("POST", f"/api/models/{REPO}/commit/main"),
    ]:
        assert request in hub.requests


def test_token_is_required_when_set(tmp_path):
    with LoopbackHub(token=TOKEN) as hub:
        hub.add_repo(REPO, FILES)
        with pytest.raises(errors.RepositoryNotFoundError) as missing:
            _download(hub, "config.json", tmp_path)
        assert missing.value.response.status_code == 401
        with pytest.raises(errors.HfHubHTTPError) as wrong:
            _download(hub, "config.json", tmp_path, token="hf_wrong")
        assert wrong.value.response.status_code == 401
        assert not isinstance(wrong.value, errors.RepositoryNotFoundError)

        assert _read_tree(_snapshot(hub, tmp_path, token=TOKEN)) == FILES
        api = HfApi(endpoint=hub.endpoint, token=TOKEN)
        # an LFS file: its PUT carries no token, only the presigned href
        api.upload_file(path_or_fileobj=b"\x00" * 5000, path_in_repo="more.h5", repo_id=REPO)
        assert hub.files(REPO)["more.h5"] == b"\x00" * 5000
        assert api.whoami()["name"]
        assert TOKEN not in repr(hub.requests)


def test_subprocess_with_hf_endpoint(hub, tmp_path):
    sha = hub.add_repo(REPO, FILES)
    script = textwrap.dedent(
        f"""
        from huggingface_hub import hf_hub_download
        print(hf_hub_download({REPO!r}, "config.json", cache_dir={str(tmp_path)!r}, token=False))
        """
    )
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"{sha}/config.json")


# -- faults ---------------------------------------------------------------------


def test_kill_once_is_resumed_with_a_range(hub, tmp_path):
    hub.add_repo(REPO, FILES)
    hub.faults[("GET", r"model\.h5$")] = ("once", "kill")
    with open(_download(hub, "weights/model.h5", tmp_path), "rb") as file:
        assert file.read() == FILES["weights/model.h5"]
    assert [method for method, path in hub.requests if path.endswith("model.h5")] == ["HEAD", "GET", "GET"]
    assert not hub.faults


def test_kill_makes_the_download_fail(hub, tmp_path):
    hub.add_repo(REPO, FILES)
    hub.faults[("GET", r"config\.json$")] = "kill"
    with pytest.raises(httpx2.RemoteProtocolError):  # after the client's 5 resumes, 1 s apart
        _download(hub, "config.json", tmp_path)
    hub.faults[("HEAD", r"config\.json$")] = "kill"
    with pytest.raises(httpx2.RemoteProtocolError):
        _download(hub, "config.json", tmp_path)


def test_oversize(hub, tmp_path):
    hub.add_repo(REPO, FILES)
    hub.faults[("GET", r"config\.json$")] = "oversize"
    with pytest.raises(OSError, match="Consistency check failed"):
        _download(hub, "config.json", tmp_path)
    url = f"{hub.endpoint}/{REPO}/resolve/main/config.json"
    with huggingface_hub.get_session().stream("GET", url) as response:  # reads a little and leaves
        assert int(response.headers["Content-Length"]) == OVERSIZE_BYTES
        next(response.iter_bytes(1024))
    del hub.faults[("GET", r"config\.json$")]
    with open(_download(hub, "config.json", tmp_path), "rb") as file:
        assert file.read() == FILES["config.json"]


@pytest.mark.parametrize(
    "status, error",
    [
        (401, errors.RepositoryNotFoundError),
        (404, errors.RepositoryNotFoundError),
        (403, errors.HfHubHTTPError),
    ],
)
def test_status_faults_raise_the_hub_errors(hub, status, error):
    hub.add_repo(REPO, FILES)
    hub.faults[("*", rf"^/api/models/{REPO}/tree/")] = status
    with pytest.raises(error) as raised:
        HfApi(endpoint=hub.endpoint, token=False).list_repo_files(REPO)
    assert raised.value.response.status_code == status


def test_404_fault_on_a_file_is_entry_not_found(hub):
    hub.add_repo(REPO, FILES)
    hub.faults[("HEAD", r"config\.json$")] = 404
    url = huggingface_hub.hf_hub_url(REPO, "config.json", endpoint=hub.endpoint)
    with pytest.raises(errors.RemoteEntryNotFoundError):
        huggingface_hub.get_hf_file_metadata(url, token=False)


def test_once_fault_fires_once(hub, tmp_path):
    hub.add_repo(REPO, FILES)
    hub.faults[("HEAD", r"config\.json$")] = ("once", 500)  # the client retries a 5xx HEAD at once
    with open(_download(hub, "config.json", tmp_path), "rb") as file:
        assert file.read() == FILES["config.json"]
    assert [method for method, _ in hub.requests] == ["HEAD", "HEAD", "GET"]


def test_stop_closes_the_port(tmp_path):
    hub = LoopbackHub().start()
    hub.add_repo(REPO, FILES)
    _download(hub, "config.json", tmp_path)  # leaves a keep-alive connection in the client's pool
    port = int(hub.endpoint.rsplit(":", 1)[1])
    hub.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
