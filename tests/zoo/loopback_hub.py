"""A Hugging Face Hub stand-in on 127.0.0.1, for the real ``huggingface_hub`` client.

`LoopbackHub` is a ``http.server.ThreadingHTTPServer`` (port 0, daemon thread)
that answers the HTTP endpoints ``huggingface_hub==2.4.0`` calls to download
from and upload to *model* repos, so tests run the real, unmodified client
against it (``endpoint=hub.endpoint``, or ``HF_ENDPOINT`` in a subprocess).
Written from reading the 2.4.0 client source; the endpoints it calls:

- ``hf_hub_download``: ``HEAD`` then ``GET /{repo}/resolve/{rev}/{path}``
  (resumes a broken ``GET`` with ``Range: bytes=N-``).
- ``snapshot_download``: ``GET /api/models/{repo}/revision/{rev}`` (skipped
  when ``rev`` is a commit sha), ``GET /api/models/{repo}/tree/{sha}?recursive=true``,
  then ``hf_hub_download`` of each file at that sha.
- ``HfApi.model_info`` / ``repo_info``: ``GET /api/models/{repo}[/revision/{rev}]``
  (``?blobs=true`` for ``files_metadata=True``); ``list_repo_files`` and
  ``list_repo_tree``: the tree endpoint; ``list_repo_refs``: ``GET /api/models/{repo}/refs``.
- ``HfApi.create_branch``: ``POST /api/models/{repo}/branch/{branch}``.
- ``HfApi.create_repo``: ``POST /api/repos/create`` (409 if it exists, which
  ``exist_ok=True`` swallows); ``delete_repo``: ``DELETE /api/repos/delete``;
  ``whoami``: ``GET /api/whoami-v2``.
- ``create_commit`` / ``upload_folder`` / ``upload_file``: ``POST /api/validate-yaml``
  when a ``README.md`` is committed (twice from ``upload_folder``),
  ``POST /api/models/{repo}/preupload/{rev}``,
  for "lfs" files ``POST /{repo}.git/info/lfs/objects/batch`` (answered with
  the basic transfer), a ``PUT`` of the content to the returned href and a
  ``POST`` to the verify href, then the ndjson ``POST /api/models/{repo}/commit/{rev}``.

Storage: ``repos[repo_id]`` holds ``commits`` (sha -> {path: bytes}), ``refs``
({"main": sha}), ``messages`` (sha -> commit message) and ``lfs`` (sha256 ->
bytes uploaded through the LFS batch API). Paths ending in ``.h5`` and files
over 1 MiB are LFS files (ETag / X-Linked-Etag: sha256, tree ``lfs`` entry);
the others are git blobs (ETag: git blob sha1). ``create_repo`` makes a repo
whose first commit is empty (the real Hub's adds a ``.gitattributes``); repos
read as private (``model_info().private``) when the hub has a token.

Errors are answered as the Hub does, with a JSON ``{"error": ...}`` body and
the ``X-Error-Code`` / ``X-Error-Message`` headers the client maps to its
exceptions: an unknown repo gives ``RepoNotFound`` (401 without an
Authorization header, 404 with one) -> ``RepositoryNotFoundError``; an unknown
revision gives 404 ``RevisionNotFound`` -> ``RevisionNotFoundError``; a missing
file gives 404 ``EntryNotFound`` (with ``X-Repo-Commit``) ->
``RemoteEntryNotFoundError``. With ``LoopbackHub(token=...)`` a request without
the header is answered like a private repo (401 ``RepoNotFound``, so the
client raises ``RepositoryNotFoundError`` with status 401), a wrong token with
401 "Invalid credentials in Authorization header" (``HfHubHTTPError``). The one
request exempt from the token is the LFS ``PUT``: its href is presigned (an
HMAC in the query), because the client sends it without headers, as to S3.

Faults (``hub.faults[(METHOD_OR_STAR, path_regex)] = action``) are looked up on
every request, first match wins; ``path_regex`` is ``re.search``-ed against the
percent-decoded path without the query, the same string recorded in
``hub.requests``. Actions: an int status (answered as the Hub would for that
route: 401 as above, 404 as entry / repo not found); ``"kill"`` (the true
headers, half the body, then the socket is closed; a ``HEAD`` is closed
unanswered); ``"oversize"`` (50 MiB of junk with a matching Content-Length,
and X-Linked-Size when the real answer has one). ``("once", action)`` fires
once, then the key is removed.

Not emulated: dataset/space repos, pull requests (``create_pr``), tags and
branches other than those in ``refs``, Xet (no Xet header is ever sent),
multipart LFS, CDN redirects (LFS files are served at ``/resolve`` itself,
with their X-Linked-* headers), gitattributes/gitignore, README metadata
(``cardData``) and YAML validation (always accepted), pagination (one page),
``expand``, ``paths-info``, commit history, dates.

Client gotchas in 2.4.0 (``huggingface_hub.constants`` reads every env var at
import time): ``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET``, ``HF_HUB_DISABLE_TELEMETRY``,
``HF_HUB_DOWNLOAD_TIMEOUT``, ``HF_HUB_ETAG_TIMEOUT``, ``HF_HUB_OFFLINE``,
``HF_HOME`` / ``HF_TOKEN_PATH`` and ``HF_HUB_DISABLE_PROGRESS_BARS`` only take
effect when set before the first import (a subprocess); in-process, patch the
attributes of ``huggingface_hub.constants``, which the client reads at call
time (except ``HF_HUB_DISABLE_PROGRESS_BARS``, bound by name in
``huggingface_hub.utils.tqdm``: use ``disable_progress_bars()``; and the
``timeout`` default of ``get_hf_file_metadata``, bound at import). Do not patch
``constants.ENDPOINT`` in-process: the resolve URL template was built from it
at import, so pass ``endpoint=`` to every call instead. With ``hf_xet``
installed (a dependency of 2.4.0) the client uploads through Xet unless
``HF_HUB_DISABLE_XET`` is on. Unless telemetry is disabled, building the
request headers fetches ``{ENDPOINT}/api/agent-harnesses`` once per process
(3 s timeout) and caches it under ``HF_HOME``. The client sends a token from
``HF_TOKEN`` or the token file unless ``token=False`` is passed.
``http_backoff`` retries 429/5xx (1, 2, 4, 8, 8 s) on the tree, preupload, LFS
and PUT calls, and on the ``HEAD`` of ``hf_hub_download`` when the file is not
cached (a lasting 500 there costs 23 s; ``("once", 500)`` costs nothing);
``http_get`` retries a broken download 5 times, 1 s apart, resuming with
``Range`` (its retry count resets whenever bytes arrive, so a lasting
``"kill"`` costs about 5 s).
"""

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import re
import secrets
import socket
import socketserver
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_SUFFIXES = (".h5",)
LFS_MIN_SIZE = 1024 * 1024  # files larger than this are LFS files whatever their name
OVERSIZE_BYTES = 50 * 1024 * 1024
_OVERSIZE_CHUNK = b"oversize" * (128 * 1024)  # 1 MiB of junk
USER_NAME = "loopback-user"  # the user a token stands for (whoami, create_repo without namespace)
_INITIAL_COMMIT = "initial commit"

_REPO = r"(?P<repo>[^/]+/[^/]+)"
_REV = r"(?P<rev>[^/]+)"


def is_lfs(path, size):
    """Whether the hub stores a file of `size` bytes at `path` as an LFS file."""
    return path.endswith(LFS_SUFFIXES) or size > LFS_MIN_SIZE


def git_blob_sha1(content):
    """The git object id of a blob holding `content`."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _lfs_pointer(content):
    oid = hashlib.sha256(content).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n".encode()


class _HubError(Exception):
    """An error answer: status, JSON ``{"error": message, **fields}`` body, X-Error-* headers."""

    def __init__(self, status, message, code=None, headers=None, fields=None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers, self.fields = headers or {}, fields or {}

    def response(self):
        message = self.message.encode("ascii", "backslashreplace").decode()  # headers are latin-1
        headers = {"X-Error-Message": message, **self.headers}
        if self.code is not None:
            headers["X-Error-Code"] = self.code
        return _json_response({"error": self.message, **self.fields}, status=self.status, headers=headers)


class _Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body


def _json_response(data, status=200, headers=None, content_type="application/json"):
    return _Response(status, {"Content-Type": content_type, **(headers or {})}, json.dumps(data).encode())


class _Route:
    def __init__(self, methods, pattern, handler, kind):
        self.methods, self.regex, self.handler, self.kind = methods, re.compile(pattern), handler, kind


class LoopbackHub:
    """A Hugging Face Hub on 127.0.0.1 for model repos; see the module docstring."""

    def __init__(self, token=None):
        self.token = token
        self.endpoint = None
        self.repos = {}
        self.requests = []
        self.faults = {}
        self._lock = threading.RLock()
        self._commit_counter = itertools.count()
        self._upload_key = secrets.token_bytes(16)
        self._server = None
        self._thread = None
        self._routes = [
            _Route(("HEAD", "GET"), rf"/{_REPO}/resolve/{_REV}/(?P<path>.+)", self._resolve_file, "resolve"),
            _Route(("GET",), rf"/api/models/{_REPO}(?:/revision/{_REV})?", self._model_info, "repo"),
            _Route(("GET",), rf"/api/models/{_REPO}/tree/{_REV}(?:/(?P<path>.+))?", self._tree, "repo"),
            _Route(("GET",), rf"/api/models/{_REPO}/refs", self._refs, "repo"),
            _Route(("POST",), rf"/api/models/{_REPO}/branch/(?P<branch>[^/]+)", self._create_branch, "repo"),
            _Route(("POST",), rf"/api/models/{_REPO}/preupload/{_REV}", self._preupload, "repo"),
            _Route(("POST",), rf"/api/models/{_REPO}/commit/{_REV}", self._commit_endpoint, "repo"),
            _Route(("POST",), rf"/{_REPO}\.git/info/lfs/objects/batch", self._lfs_batch, "repo"),
            _Route(("POST",), rf"/{_REPO}\.git/info/lfs/objects/verify", self._lfs_verify, "repo"),
            _Route(("PUT",), rf"/_lfs-upload/{_REPO}/(?P<oid>[0-9a-f]{{64}})", self._lfs_put, "presigned"),
            _Route(("POST",), r"/api/repos/create", self._create_repo_endpoint, "global"),
            _Route(("DELETE",), r"/api/repos/delete", self._delete_repo_endpoint, "global"),
            _Route(("GET",), r"/api/whoami-v2", self._whoami, "global"),
            _Route(("POST",), r"/api/validate-yaml", self._validate_yaml, "global"),
        ]

    # -- lifecycle ------------------------------------------------------------

    def start(self):
        self._server = _Server(self)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll interval
            name="loopback-hub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # -- state, for tests -----------------------------------------------------

    def add_repo(self, repo_id, files, message="init"):
        """Create model repo OWNER/NAME with one commit of `files` on main; return its sha."""
        if not re.fullmatch(r"[^/]+/[^/]+", repo_id):
            raise ValueError(f"repo_id must be OWNER/NAME, got {repo_id!r}")
        with self._lock:
            if repo_id in self.repos:
                raise ValueError(f"repo {repo_id} already exists")
            self.repos[repo_id] = {"commits": {}, "refs": {}, "messages": {}, "lfs": {}}
            return self._commit_tree(repo_id, "main", dict(files), message)

    def commit(self, repo_id, files, message="update", delete=()):
        """Commit on main: `files` added or replaced, `delete` paths removed; return the sha."""
        with self._lock:
            tree = self.files(repo_id)
            for path in delete:
                del tree[path]
            tree.update(files)
            return self._commit_tree(repo_id, "main", tree, message)

    def files(self, repo_id, revision="main"):
        """The files at `revision` (a branch or a commit sha) as {path: bytes}."""
        with self._lock:
            repo = self.repos[repo_id]
            return dict(repo["commits"][repo["refs"].get(revision, revision)])

    def readme(self, repo_id, revision="main"):
        content = self.files(repo_id, revision).get("README.md")
        return None if content is None else content.decode()

    def _commit_tree(self, repo_id, branch, tree, message):
        repo = self.repos[repo_id]
        parent = repo["refs"].get(branch, "")
        digest = hashlib.sha1(f"{parent}\n{message}\n{next(self._commit_counter)}\n".encode())
        for path in sorted(tree):
            digest.update(f"{path}\0{git_blob_sha1(tree[path])}\n".encode())
            if is_lfs(path, len(tree[path])):
                repo["lfs"][hashlib.sha256(tree[path]).hexdigest()] = tree[path]
        sha = digest.hexdigest()
        repo["commits"][sha] = tree
        repo["messages"][sha] = message
        repo["refs"][branch] = sha
        return sha

    # -- serving --------------------------------------------------------------

    def _serve(self, handler):
        """Answer one request on `handler` (a `_Handler`)."""
        body = handler.read_body()
        raw_path, _, query = handler.path.partition("?")
        path = urllib.parse.unquote(raw_path)
        method = handler.command
        route, match = self._route(method, raw_path)
        with self._lock:
            self.requests.append((method, path))
            try:
                fault = self._take_fault(method, path)
            except ValueError as error:  # a malformed fault: say so to the client
                fault = _HubError(500, f"LoopbackHub: {error}")
        if isinstance(fault, int):
            fault = self._fault_error(fault, route)
        if isinstance(fault, _HubError):
            handler.send(fault.response(), method)
            return
        response = self._dispatch(route, match, query, handler.headers, body)
        send = {"kill": handler.send_killed, "oversize": handler.send_oversize}.get(fault, handler.send)
        send(response, method)

    def _take_fault(self, method, path):
        for key, action in list(self.faults.items()):
            fault_method, pattern = key
            if fault_method in ("*", method) and re.search(pattern, path):
                if isinstance(action, tuple) and action[0] == "once":
                    del self.faults[key]
                    action = action[1]
                if (isinstance(action, int) and 400 <= action < 600) or action in ("kill", "oversize"):
                    return action
                raise ValueError(f"unknown fault action {action!r} for {key}")
        return None

    def _route(self, method, raw_path):
        for route in self._routes:
            match = route.regex.fullmatch(raw_path)
            if match and method in route.methods:
                return route, match
        return None, None

    def _fault_error(self, status, route):
        """The error the Hub answers with `status` on `route`."""
        kind = route.kind if route else None
        if status == 401:
            return self._unauthenticated(kind)
        if status == 404 and kind == "resolve":
            return _HubError(404, "Entry not found", code="EntryNotFound")
        if status == 404 and kind == "repo":
            return _HubError(404, "Repository not found", code="RepoNotFound")
        return _HubError(status, http.client.responses.get(status, "Error"))

    def _dispatch(self, route, match, query, headers, body):
        if route is None:
            return _HubError(404, "Not Found").response()
        authorization = headers.get("Authorization")
        try:
            with self._lock:
                if route.kind != "presigned":
                    self._check_token(authorization, route.kind)
                groups = match.groupdict().items()
                args = {name: urllib.parse.unquote(value) for name, value in groups if value}
                request = _Request(
                    args, urllib.parse.parse_qs(query), body, authorization is not None, headers.get("Range")
                )
                return route.handler(request)
        except _HubError as error:
            return error.response()
        except Exception as error:  # a bad request body or a bug here: answer it, do not hang the client
            return _HubError(500, f"LoopbackHub: {type(error).__name__}: {error}").response()

    def _check_token(self, authorization, kind):
        if self.token is None:
            return
        if authorization is None:
            raise self._unauthenticated(kind)
        if not hmac.compare_digest(authorization.encode(), f"Bearer {self.token}".encode()):
            raise _HubError(401, "Invalid credentials in Authorization header")

    @staticmethod
    def _unauthenticated(kind):
        code = "RepoNotFound" if kind in ("repo", "resolve") else None
        return _HubError(401, "Invalid username or password.", code=code)

    def _repo(self, request):
        repo = self.repos.get(request.args["repo"])
        if repo is None:
            if request.authenticated:
                raise _HubError(404, "Repository not found", code="RepoNotFound")
            raise _HubError(401, "Invalid username or password.", code="RepoNotFound")
        return repo

    @staticmethod
    def _resolve_revision(repo, revision):
        sha = repo["refs"].get(revision, revision)
        if sha not in repo["commits"]:
            raise _HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return sha

    def _repo_at(self, request):
        repo = self._repo(request)
        sha = self._resolve_revision(repo, request.args.get("rev", "main"))
        return repo, sha

    # -- downloads ------------------------------------------------------------

    def _resolve_file(self, request):
        repo, sha = self._repo_at(request)
        path = request.args["path"]
        content = repo["commits"][sha].get(path)
        if content is None:
            raise _HubError(404, "Entry not found", code="EntryNotFound", headers={"X-Repo-Commit": sha})
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": sha,
            "ETag": f'"{git_blob_sha1(content)}"',
        }
        if is_lfs(path, len(content)):
            sha256 = hashlib.sha256(content).hexdigest()
            headers["ETag"] = headers["X-Linked-Etag"] = f'"{sha256}"'
            headers["X-Linked-Size"] = str(len(content))
        byte_range = _byte_range(request.range, len(content))
        if byte_range is None:
            return _Response(200, headers, content)
        start, end = byte_range
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        return _Response(206, headers, content[start : end + 1])

    def _model_info(self, request):
        repo, sha = self._repo_at(request)
        tree = repo["commits"][sha]
        with_blobs = _flag(request.query, "blobs")
        siblings = []
        for path in sorted(tree):
            sibling = {"rfilename": path}
            if with_blobs:
                entry = _file_entry(path, tree[path])
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if "lfs" in entry:
                    sibling["lfs"] = dict(entry["lfs"])
                    sibling["lfs"]["sha256"] = sibling["lfs"].pop("oid")  # tree entries say "oid"
            siblings.append(sibling)
        repo_id = request.args["repo"]
        return _json_response(
            {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": sha,
                "private": self.token is not None,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
            }
        )

    def _tree(self, request):
        repo, sha = self._repo_at(request)
        tree = repo["commits"][sha]
        base = request.args.get("path", "").strip("/")
        prefix = f"{base}/" if base else ""
        if base and not any(path.startswith(prefix) for path in tree):
            raise _HubError(404, f"{base} does not exist", code="EntryNotFound")
        recursive = _flag(request.query, "recursive")
        files, folders = {}, set()
        for path, content in tree.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            depth = len(parts) - 1 if recursive else min(len(parts) - 1, 1)
            folders.update(prefix + "/".join(parts[:i]) for i in range(1, depth + 1))
            if recursive or len(parts) == 1:
                files[path] = _file_entry(path, content)
        entries = [_folder_entry(folder, tree) for folder in folders] + list(files.values())
        return _json_response(sorted(entries, key=lambda entry: entry["path"]))

    def _refs(self, request):
        repo = self._repo(request)
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": sha}
            for name, sha in sorted(repo["refs"].items())
        ]
        return _json_response({"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _create_branch(self, request):
        """``create_branch``: a new branch at ``startingPoint`` (default: main's head); 409 if it exists."""
        repo = self._repo(request)
        branch = request.args["branch"]
        if branch in repo["refs"]:
            raise _HubError(409, f"Branch {branch} already exists")
        start = json.loads(request.body or b"{}").get("startingPoint") or "main"
        repo["refs"][branch] = repo["refs"].get(start, start)
        return _json_response({})

    # -- uploads --------------------------------------------------------------

    def _create_repo_endpoint(self, request):
        payload = json.loads(request.body)
        if payload.get("type", "model") not in (None, "model"):
            raise _HubError(400, "LoopbackHub only emulates model repos")
        repo_id = f"{payload.get('organization') or USER_NAME}/{payload['name']}"
        url = f"{self.endpoint}/{repo_id}"
        if repo_id in self.repos:
            # create_repo(exist_ok=True) reads the url from this answer
            raise _HubError(409, "You already created this model repo", fields={"url": url})
        self.add_repo(repo_id, {}, message=_INITIAL_COMMIT)
        return _json_response({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo_endpoint(self, request):
        payload = json.loads(request.body)
        repo_id = f"{payload.get('organization') or USER_NAME}/{payload['name']}"
        if self.repos.pop(repo_id, None) is None:
            raise _HubError(404, "Repository not found", code="RepoNotFound")
        return _json_response({})

    def _whoami(self, request):
        if not request.authenticated:
            raise _HubError(401, "Invalid username or password.")
        return _json_response(
            {
                "type": "user",
                "name": USER_NAME,
                "fullname": "Loopback User",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "loopback", "role": "write"}},
            }
        )

    @staticmethod
    def _validate_yaml(request):
        return _json_response({"errors": [], "warnings": []})

    def _preupload(self, request):
        repo, sha = self._repo_at(request)
        tree = repo["commits"][sha]
        answers = []
        for file in json.loads(request.body)["files"]:
            path = file["path"]
            lfs = is_lfs(path, file["size"])
            answer = {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if path in tree:  # lets the client drop unchanged files from the commit
                content = tree[path]
                answer["oid"] = hashlib.sha256(content).hexdigest() if lfs else git_blob_sha1(content)
            answers.append(answer)
        return _json_response({"files": answers, "commitOid": sha})

    def _lfs_batch(self, request):
        repo = self._repo(request)
        payload = json.loads(request.body)
        if payload.get("operation") != "upload":
            raise _HubError(400, "LoopbackHub only emulates the LFS upload operation")
        repo_id = request.args["repo"]
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in repo["lfs"]:
                query = urllib.parse.urlencode({"sig": self._upload_signature(repo_id, obj["oid"])})
                answer["actions"] = {
                    "upload": {"href": f"{self.endpoint}/_lfs-upload/{repo_id}/{obj['oid']}?{query}"},
                    "verify": {"href": f"{self.endpoint}/{repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        return _json_response(
            {"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json"
        )

    def _upload_signature(self, repo_id, oid):
        return hmac.new(self._upload_key, f"{repo_id}\0{oid}".encode(), hashlib.sha256).hexdigest()

    def _lfs_put(self, request):
        repo_id, oid = request.args["repo"], request.args["oid"]
        signature = request.query.get("sig", [""])[0]
        if not hmac.compare_digest(signature, self._upload_signature(repo_id, oid)):
            raise _HubError(403, "SignatureDoesNotMatch")
        if hashlib.sha256(request.body).hexdigest() != oid:
            raise _HubError(400, f"uploaded content does not hash to {oid}")
        repo = self._repo(request)
        repo["lfs"][oid] = request.body
        return _Response(200, {"ETag": f'"{hashlib.md5(request.body).hexdigest()}"'}, b"")

    def _lfs_verify(self, request):
        repo = self._repo(request)
        payload = json.loads(request.body)
        content = repo["lfs"].get(payload["oid"])
        if content is None or len(content) != payload["size"]:
            raise _HubError(404, f"LFS object {payload['oid']} (size {payload['size']}) was not uploaded")
        return _json_response({})

    def _commit_endpoint(self, request):
        repo = self._repo(request)
        if _flag(request.query, "create_pr"):
            raise _HubError(400, "LoopbackHub does not emulate pull requests")
        branch = request.args["rev"]
        if branch not in repo["refs"]:
            raise _HubError(404, f"Invalid rev id: {branch}", code="RevisionNotFound")
        head = repo["refs"][branch]
        header, *operations = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        if header["key"] != "header":
            raise _HubError(400, "the first ndjson line must be the commit header")
        parent = header["value"].get("parentCommit")
        if parent is not None and parent != head:
            raise _HubError(412, "A commit has happened since. Please refresh and try again.")
        tree = dict(repo["commits"][head])
        for operation in operations:
            _apply_operation(tree, repo["lfs"], operation["key"], operation["value"])
        repo_id = request.args["repo"]
        sha = self._commit_tree(repo_id, branch, tree, header["value"]["summary"])
        commit_url = f"{self.endpoint}/{repo_id}/commit/{sha}"
        return _json_response({"success": True, "commitOid": sha, "commitUrl": commit_url, "hookOutput": ""})


def _apply_operation(tree, lfs_store, key, value):
    path = value["path"]
    if key == "file":
        content = value["content"]
        tree[path] = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
    elif key == "lfsFile":
        if value["oid"] not in lfs_store:
            raise _HubError(400, f"LFS object {value['oid']} for {path} was never uploaded")
        tree[path] = lfs_store[value["oid"]]
    elif key == "deletedFile":
        if tree.pop(path, None) is None:
            raise _HubError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
    elif key == "deletedFolder":
        inside = [name for name in tree if name.startswith(path.rstrip("/") + "/")]
        if not inside:
            raise _HubError(404, f"A folder with this name doesn't exist: {path}", code="EntryNotFound")
        for name in inside:
            del tree[name]
    else:
        raise _HubError(400, f"unknown commit operation {key!r}")


class _Request:
    def __init__(self, args, query, body, authenticated, range_header):
        self.args, self.query, self.body, self.authenticated = args, query, body, authenticated
        self.range = range_header


def _flag(query, name):
    return query.get(name, ["false"])[0].lower() in ("1", "true")


def _file_entry(path, content):
    """A tree entry: a git blob, or an LFS pointer blob with its ``lfs`` object."""
    if not is_lfs(path, len(content)):
        return {"type": "file", "path": path, "size": len(content), "oid": git_blob_sha1(content)}
    pointer = _lfs_pointer(content)
    return {
        "type": "file",
        "path": path,
        "size": len(content),
        "oid": git_blob_sha1(pointer),
        "lfs": {
            "oid": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "pointerSize": len(pointer),
        },
    }


def _folder_entry(folder, tree):
    digest = hashlib.sha1(b"tree\0")
    for path in sorted(name for name in tree if name.startswith(folder + "/")):
        digest.update(f"{path}\0{git_blob_sha1(tree[path])}\n".encode())
    return {"type": "directory", "path": folder, "size": 0, "oid": digest.hexdigest()}


def _byte_range(header, size):
    """The inclusive (start, end) of a single ``bytes=`` range, or None to send the whole file."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(size - int(last), 0), size - 1
    if start >= size or start > end:
        raise _HubError(416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return start, end


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub):
        self.hub = hub
        self._connections = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self):
        # HTTPServer.server_bind would look up the host's FQDN, which may wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def track(self, connection, is_open):
        with self._connections_lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self):
        """End the keep-alive connections the client still holds, so their threads exit."""
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away is not an error
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is dropped after this many seconds

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format, *args):
        """Silent: tests read `LoopbackHub.requests`, and no header value is ever logged."""

    def _serve(self):
        self.server.hub._serve(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _send_head(self, status, headers, content_length):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(content_length))
        self.end_headers()

    def send(self, response, method):
        self._send_head(response.status, response.headers, len(response.body))
        if method != "HEAD":
            self.wfile.write(response.body)

    def send_killed(self, response, method):
        if method != "HEAD":
            self._send_head(response.status, response.headers, len(response.body))
            self.wfile.write(response.body[: len(response.body) // 2])
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def send_oversize(self, response, method):
        headers = {name: value for name, value in response.headers.items() if name != "Content-Range"}
        if "X-Linked-Size" in headers:
            headers["X-Linked-Size"] = str(OVERSIZE_BYTES)
        self._send_head(200 if response.status == 206 else response.status, headers, OVERSIZE_BYTES)
        if method == "HEAD":
            return
        try:
            for _ in range(OVERSIZE_BYTES // len(_OVERSIZE_CHUNK)):
                self.wfile.write(_OVERSIZE_CHUNK)
        except ConnectionError:
            self.close_connection = True
