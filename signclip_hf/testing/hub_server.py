"""A small Hugging Face Hub-compatible HTTP server for tests (loopback only).

`HubServer` serves the subset of the Hub HTTP API that the real `huggingface_hub` 2.4 client,
`transformers` (`push_to_hub` / `from_pretrained`, remote code included) and `datasets` (`push_to_hub` /
`load_dataset`, streaming included) call for model and dataset repos:

- ``GET  /api/whoami-v2``                                       dummy user ``test-user`` (any bearer token)
- ``POST /api/repos/create``, ``DELETE /api/repos/delete``      create answers 409 + url if it exists
- ``POST /api/validate-yaml``                                    always valid (README.md commits)
- ``GET  /api/{type}s/{ns}/{name}[/revision/{rev}]``             repo_info (siblings, sha, cardData)
- ``GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]``          list_repo_tree (recursive, expand)
- ``POST /api/{type}s/{ns}/{name}/paths-info/{rev}``             get_paths_info
- ``GET  /api/{type}s/{ns}/{name}/refs`` and ``/commits/{rev}``  list_repo_refs / list_repo_commits
- ``POST /api/{type}s/{ns}/{name}/preupload/{rev}``              "lfs" for binary/LFS-pattern files, else "regular"
- ``POST /[datasets/]{ns}/{name}.git/info/lfs/objects/batch``    git LFS batch API, basic transfer
- ``PUT  /lfs-objects/{sha256}``                                 the LFS upload target (content is verified)
- ``POST /api/{type}s/{ns}/{name}/commit/{rev}``                 ndjson: file, lfsFile, deletedFile, deletedFolder
- ``POST|DELETE /api/{type}s/{ns}/{name}/branch/{branch}``       create_branch / delete_branch
- ``POST /api/{type}s/{ns}/{name}/tag/{rev}``                    create_tag
- ``HEAD|GET /[datasets/]{ns}/{name}/resolve/{rev}/{path}``      ETag, X-Repo-Commit, X-Linked-*, Range (206/416)
- ``POST /api/telemetry/...``                                    accepted and dropped

Errors carry the ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) that
`huggingface_hub.utils.hf_raise_for_status` maps to its typed exceptions. Xet is never offered (the client
is told ``HF_HUB_DISABLE_XET=1``), so LFS uploads use plain HTTP PUTs. ``datasets`` needs the LFS path: it
deletes each parquet shard right after ``preupload_lfs_files``, so shards cannot be sent inline.

Blob contents live in a temporary directory keyed by sha256. Repo state (branches, tags, commits, trees) is
in memory behind a lock; a commit id is the sha1 of its parent, message, date and tree. ``preupload``
answers the oid the client compares with its local one (git sha1 for regular files, sha256 for LFS), so
re-uploading identical content creates no commit.

Client configuration. ``huggingface_hub`` reads ``HF_ENDPOINT`` once, at import, into
``huggingface_hub.constants``, and ``datasets.config`` copies it into ``HF_ENDPOINT`` / ``HUB_DATASETS_URL``;
setting the environment variable after import has no effect. `hub_environment` therefore does both, for the
duration of a ``with`` block, and restores everything on exit:

1. sets the environment (``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HUB_DISABLE_XET=1``, telemetry and download
   counts off, ``HF_HUB_OFFLINE=0`` ...) so subprocesses started inside the block (``accelerate launch``,
   a CLI) talk to the server too, and
2. patches the values already read in this process: ``huggingface_hub.constants`` (``ENDPOINT``,
   ``HUGGINGFACE_CO_URL_TEMPLATE``, ``HF_URL_HOSTS``, offline/xet/telemetry flags, ``HF_HUB_CACHE``) and
   ``datasets.config`` (``HF_ENDPOINT``, ``HUB_DATASETS_URL``, offline flags, caches,
   ``HF_UPDATE_DOWNLOAD_COUNTS = False`` -- else every ``load_dataset`` pings s3.amazonaws.com -- and
   ``USE_PARQUET_EXPORT = False`` -- else ``load_dataset`` asks ``datasets-server.<host>``). Cached
   ``HfFileSystem`` instances are cleared on entry and exit. transformers and the rest of huggingface_hub
   read ``constants.X`` at call time (checked in the installed sources), so nothing else holds a stale copy.

In a subprocess the environment alone is enough for huggingface_hub and transformers; ``datasets`` there
still tries ``datasets-server.127.0.0.1`` once per ``load_dataset`` (the lookup fails and datasets falls
back to the repo files) unless the child enters ``hub_environment(os.environ["HF_ENDPOINT"])`` itself.

With ``loopback_only=True`` (the default) the block makes ``socket.getaddrinfo`` refuse every host that is
not loopback and records it in ``HubSession.blocked_hosts``, so a test can assert nothing left the machine.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

DUMMY_TOKEN = "hf_loopback_dummy_token"
DUMMY_USER = "test-user"
REPO_TYPES = ("model", "dataset", "space")

# The patterns the Hub puts in a new repo's .gitattributes (abridged): matching files are uploaded with LFS.
_LFS_PATTERNS = (
    "*.safetensors *.bin *.pt *.pth *.ckpt *.h5 *.onnx *.msgpack *.npy *.npz *.pkl *.pickle *.arrow *.parquet *.zip "
    "*.gz *.tar *.pose"
).split()
_GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in _LFS_PATTERNS).encode()
_LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub refuses regular (non-LFS) files above 10 MB
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class HubError(Exception):
    """An HTTP error answered to the client, with the Hub's ``X-Error-Code``."""

    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


def git_blob_oid(data: bytes) -> str:
    """Git sha1 of a blob: what the client computes for regular files (`huggingface_hub.utils.sha.git_hash`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class FileEntry:
    """A file in a commit. LFS files are identified by the sha256 of their content, like on the Hub."""

    sha256: str
    size: int
    lfs: bool
    git_oid: str  # git blob oid: of the content (regular file) or of the LFS pointer file

    @classmethod
    def lfs_file(cls, sha256: str, size: int) -> FileEntry:
        return cls(sha256, size, True, git_blob_oid(_lfs_pointer(sha256, size)))

    @property
    def etag(self) -> str:
        """The Hub sends the sha256 as ETag for LFS files and the git oid for regular ones."""
        return self.sha256 if self.lfs else self.git_oid

    @property
    def preupload_oid(self) -> str:
        """What the client compares with its local oid to skip unchanged files (`CommitOperationAdd._local_oid`)."""
        return self.etag


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Commit:
    """One commit: the full file tree (path -> `FileEntry`) plus metadata."""

    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, FileEntry]


@dataclass
class Repo:
    """A repo: branches and tags point to commit oids."""

    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class HubStorage:
    """Thread-safe repo state; blob contents are files named by their sha256 under ``root/blobs``."""

    def __init__(self, root: Path):
        self.root = root
        self.blob_dir = root / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()

    # --- blobs (content addressed by sha256) ------------------------------------------------------
    def put_blob(self, data: bytes) -> FileEntry:
        """Store ``data`` and return it as a regular (non-LFS) file."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha256)
        if not path.exists():
            tmp = path.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_bytes(data)
            tmp.replace(path)
        return FileEntry(sha256, len(data), False, git_blob_oid(data))

    def blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).exists()

    # --- repos -------------------------------------------------------------------------------------
    def get_repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository Not Found for {repo_type} '{repo_id}'.", "RepoNotFound")
        return repo

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this repo", None)
            repo = Repo(repo_type, repo_id, private, _now())
            self.repos[(repo_type, repo_id)] = repo
            files = {".gitattributes": self.put_blob(_GITATTRIBUTES)}
            self._add_commit(repo, None, "initial commit", "", files, "main")
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            self.get_repo(repo_type, repo_id)
            del self.repos[(repo_type, repo_id)]

    def resolve(self, repo: Repo, revision: str) -> Commit:
        """Branch, tag or (prefix of a) commit oid -> commit; ``RevisionNotFound`` otherwise."""
        revision = revision.removeprefix("refs/heads/").removeprefix("refs/tags/")
        oid = repo.branches.get(revision) or repo.tags.get(revision)
        if oid is None and re.fullmatch(r"[0-9a-f]{7,40}", revision):
            matches = [c for c in repo.commits if c.startswith(revision)]
            oid = matches[0] if len(matches) == 1 else None
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[oid]

    def _add_commit(
        self, repo: Repo, parent: str | None, title: str, message: str, files: dict, branch: str
    ) -> Commit:
        date = _now()
        tree = sorted((path, entry.sha256, entry.lfs) for path, entry in files.items())
        payload = json.dumps([parent, title, message, date, tree]).encode()
        oid = hashlib.sha1(payload).hexdigest()
        commit = Commit(oid, parent, title, message, date, dict(files))
        repo.commits[oid] = commit
        repo.branches[branch] = oid
        return commit

    def commit(self, repo: Repo, branch: str, header: dict, operations: list[dict]) -> Commit:
        """Apply ndjson operations on top of ``branch`` (which must be a branch, not a tag or oid)."""
        with self.lock:
            if branch not in repo.branches:
                if branch in repo.tags or branch in repo.commits:
                    raise HubError(400, f"Can only commit to a branch, not '{branch}'.", None)
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            parent_commit = header.get("parentCommit")
            if parent_commit and parent_commit != head.oid:
                raise HubError(412, f"A commit has happened since. Parent {parent_commit} is not {head.oid}.")
            files = dict(head.files)
            for op in operations:
                key, value = op["key"], op["value"]
                path = value["path"].strip("/")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, f"Unsupported encoding {value.get('encoding')!r} for '{path}'.")
                    files[path] = self.put_blob(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    if value.get("algo", "sha256") != "sha256" or not self.has_blob(value["oid"]):
                        raise HubError(400, f"LFS object {value.get('oid')} for '{path}' was not uploaded.")
                    size = self.blob_path(value["oid"]).stat().st_size
                    files[path] = FileEntry.lfs_file(value["oid"], size)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    doomed = [p for p in files if p.startswith(path + "/")]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    raise HubError(400, f"Operation '{key}' is not supported by the loopback Hub.")
            summary = header.get("summary") or "Update"
            return self._add_commit(repo, head.oid, summary, header.get("description", ""), files, branch)

    def upload_mode(self, commit: Commit, path: str, size: int, sample: bytes) -> str:
        """"lfs" for big or binary files and for paths matched by an LFS filter in .gitattributes, else "regular"."""
        if size >= _LFS_MIN_SIZE or b"\0" in sample:
            return "lfs"
        attributes = commit.files.get(".gitattributes")
        lines = self.blob_path(attributes.sha256).read_text().splitlines() if attributes else []
        for line in lines:
            pattern, _, attrs = line.partition(" ")
            if "filter=lfs" in attrs and (fnmatch(path, pattern) or fnmatch(path.rsplit("/", 1)[-1], pattern)):
                return "lfs"
        return "regular"

    def put_lfs_object(self, sha256: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise HubError(400, f"LFS upload: content does not match sha256 {sha256}")
        self.put_blob(data)

    def last_commits(self, repo: Repo, commit: Commit) -> dict[str, Commit]:
        """Path -> the most recent commit (reachable from ``commit``) that changed it; used by ``expand``."""
        chain: list[Commit] = []
        current: Commit | None = commit
        while current is not None:
            chain.append(current)
            current = repo.commits.get(current.parent) if current.parent else None
        result: dict[str, Commit] = {}
        for newer, older in zip(chain, chain[1:] + [None]):
            for path, entry in newer.files.items():
                if path not in result and (older is None or older.files.get(path) != entry):
                    result[path] = newer
        return result


def _tree_oid(entries: list[str]) -> str:
    return hashlib.sha1("\n".join(sorted(entries)).encode()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to `HubStorage`; one instance per request (ThreadingHTTPServer)."""

    protocol_version = "HTTP/1.1"
    server: _HubHTTPServer

    # --- plumbing ----------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base class
        byte_range = self.headers.get("Range")
        self.server.request_log.append(f"{self.command} {self.path}" + (f" [{byte_range}]" if byte_range else ""))

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "").startswith("Bearer ")

    def _dispatch(self) -> None:
        self._request_body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
        try:
            self._route()
        except HubError as error:
            self._error(error)
        except Exception as error:  # a server bug: answer 500 instead of dropping the connection
            self.server.errors.append(traceback.format_exc())
            self._error(HubError(500, f"Loopback Hub internal error: {error!r}"))

    def _error(self, error: HubError) -> None:
        headers = {"X-Error-Message": error.message.encode("ascii", "backslashreplace").decode()}
        if error.code:
            headers["X-Error-Code"] = error.code
        if error.commit:
            headers["X-Repo-Commit"] = error.commit
        self._json({"error": error.message}, error.status, headers)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # --- routing -----------------------------------------------------------------------------------
    _API_REPO = re.compile(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(?:/([a-z-]+)(?:/(.*))?)?$")
    _LFS_BATCH = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)\.git/info/lfs/objects/batch$")
    _LFS_OBJECT = re.compile(r"^/lfs-objects/([0-9a-f]{64})$")
    _RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")

    def _route(self) -> None:
        path = urlsplit(self.path).path
        self._query = parse_qs(urlsplit(self.path).query)
        storage = self.server.storage
        if path == "/api/whoami-v2":
            if not self._authorized():
                raise HubError(401, "Invalid credentials in Authorization header")
            return self._json(
                {
                    "type": "user",
                    "id": "0" * 24,
                    "name": DUMMY_USER,
                    "fullname": "Test User",
                    "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "loopback", "role": "write"}},
                }
            )
        if path == "/api/repos/create" and self.command == "POST":
            return self._repos_create_or_delete(create=True)
        if path == "/api/repos/delete" and self.command in ("DELETE", "POST"):
            return self._repos_create_or_delete(create=False)
        if path == "/api/validate-yaml":
            return self._json({"errors": [], "warnings": []})
        if path.startswith("/api/telemetry"):
            return self._json({})
        match = self._API_REPO.match(path)
        if match:
            plural, namespace, name, action, rest = match.groups()
            repo_type = plural[:-1]
            repo = storage.get_repo(repo_type, f"{unquote(namespace)}/{unquote(name)}")
            if repo.private and not self._authorized():
                raise HubError(404, "Repository Not Found", "RepoNotFound")
            return self._api(repo, action, rest)
        match = self._LFS_BATCH.match(path)
        if match and self.command == "POST":
            plural, namespace, name = match.groups()
            repo = storage.get_repo(plural[:-1] if plural else "model", f"{unquote(namespace)}/{unquote(name)}")
            return self._lfs_batch(repo)
        match = self._LFS_OBJECT.match(path)
        if match and self.command == "PUT":
            storage.put_lfs_object(match.group(1), self._request_body)
            return self._json({})
        match = self._RESOLVE.match(path)
        if match and self.command in ("GET", "HEAD"):
            plural, namespace, name, revision, file_path = match.groups()
            repo_type = plural[:-1] if plural else "model"
            repo = storage.get_repo(repo_type, f"{unquote(namespace)}/{unquote(name)}")
            return self._resolve(repo, unquote(revision), unquote(file_path))
        if re.match(r"^/api/(models|datasets|spaces)/[^/]+/?$", path) or "/resolve/" in path:
            raise HubError(404, f"Repository Not Found: {path} (repo ids are 'namespace/name')", "RepoNotFound")
        raise HubError(404, f"Loopback Hub: no route for {self.command} {path}")

    def _repos_create_or_delete(self, create: bool) -> None:
        if not self._authorized():
            raise HubError(401, "You must be authenticated to create or delete a repo")
        payload = json.loads(self._request_body or b"{}")
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type {repo_type!r}, expected one of {REPO_TYPES}")
        repo_id = f"{payload.get('organization') or DUMMY_USER}/{payload['name']}"
        if not create:
            self.server.storage.delete_repo(repo_type, repo_id)
            return self._json({})
        private = payload.get("private") or payload.get("visibility") == "private"
        url = self._repo_url(repo_type, repo_id)
        try:
            self.server.storage.create_repo(repo_type, repo_id, bool(private))
        except HubError as error:  # the client reads "url" from the 409 body too (exist_ok=True)
            return self._json({"error": error.message, "url": url}, error.status, {"X-Error-Message": error.message})
        self._json({"url": url, "name": repo_id, "id": "0" * 24})

    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return f"{self.server.url}/{prefix}{repo_id}"

    def _api(self, repo: Repo, action: str | None, rest: str | None) -> None:
        storage = self.server.storage
        rev, _, sub_path = (rest or "").partition("/")
        rev, sub_path = unquote(rev) or "main", unquote(sub_path).strip("/")
        with storage.lock:
            if action is None and self.command == "GET":
                return self._json(self._repo_info(repo, storage.resolve(repo, "main")))
            if action == "revision" and self.command == "GET":
                # the revision is quoted with safe="" by the client, so it is one path segment
                return self._json(self._repo_info(repo, storage.resolve(repo, unquote(rest or ""))))
            if action == "tree" and self.command == "GET":
                return self._tree(repo, storage.resolve(repo, rev), sub_path)
            if action == "paths-info" and self.command == "POST":
                return self._paths_info(repo, storage.resolve(repo, rev))
            if action == "refs" and self.command == "GET":
                return self._refs(repo)
            if action == "commits" and self.command == "GET":
                return self._commits(repo, storage.resolve(repo, rev))
            if action == "preupload" and self.command == "POST":
                return self._preupload(repo, rev)
            if action == "commit" and self.command == "POST":
                return self._commit(repo, rev)
            if action == "branch" and self.command in ("POST", "DELETE"):
                return self._branch(repo, unquote(rest or ""))
            if action == "tag" and self.command == "POST":
                return self._tag(repo, unquote(rest or ""))
        raise HubError(404, f"Loopback Hub: no route for {self.command} {self.path}")

    # --- API handlers ------------------------------------------------------------------------------
    def _card_data(self, commit: Commit) -> dict | None:
        """The YAML header of README.md, which the Hub returns as ``cardData``."""
        readme = commit.files.get("README.md")
        if readme is None:
            return None
        text = self.server.storage.blob_path(readme.sha256).read_text(encoding="utf-8")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
        data = yaml.safe_load(match.group(1)) if match else None
        return data if isinstance(data, dict) else None

    def _repo_info(self, repo: Repo, commit: Commit) -> dict:
        namespace = repo.repo_id.split("/")[0]
        card_data = self._card_data(commit)
        return {
            "_id": "0" * 24,
            "id": repo.repo_id,
            "author": namespace,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": [
                {
                    "rfilename": path,
                    "size": entry.size,
                    "blobId": entry.git_oid,
                    **({"lfs": self._lfs_info(entry, "sha256")} if entry.lfs else {}),
                }
                for path, entry in sorted(commit.files.items())
            ],
            "usedStorage": sum(entry.size for entry in commit.files.values()),
            **({"cardData": card_data} if card_data is not None else {}),
        }

    def _entries(self, repo: Repo, commit: Commit, paths: list[str], expand: bool) -> list[dict]:
        """Tree entries (files and directories) for the given exact paths, skipping missing ones."""
        last = self.server.storage.last_commits(repo, commit) if expand else {}
        entries = []
        for path in paths:
            if path in commit.files:
                file = commit.files[path]
                entry: dict[str, Any] = {"type": "file", "oid": file.git_oid, "size": file.size, "path": path}
                if file.lfs:
                    entry["lfs"] = self._lfs_info(file, "oid")
                if expand:
                    c = last[path]
                    entry["lastCommit"] = {"id": c.oid, "title": c.title, "date": c.date}
                    entry["securityFileStatus"] = {"status": "safe", "avScan": {}, "pickleImportScan": {}}
                entries.append(entry)
                continue
            children = [p for p in commit.files if p.startswith(path + "/")]
            if children:
                entry = {"type": "directory", "oid": _tree_oid(children), "size": 0, "path": path}
                if expand:
                    c = max((last[p] for p in children), key=lambda c: c.date)
                    entry["lastCommit"] = {"id": c.oid, "title": c.title, "date": c.date}
                entries.append(entry)
        return entries

    @staticmethod
    def _lfs_info(entry: FileEntry, oid_key: str) -> dict:
        return {oid_key: entry.sha256, "size": entry.size, "pointerSize": len(_lfs_pointer(entry.sha256, entry.size))}

    def _tree(self, repo: Repo, commit: Commit, sub_path: str) -> None:
        recursive = self._query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self._query.get("expand", ["false"])[0].lower() in ("1", "true")
        prefix = f"{sub_path}/" if sub_path else ""
        if sub_path and sub_path in commit.files:
            raise HubError(404, f"'{sub_path}' is a file, not a folder", "EntryNotFound", commit.oid)
        below = [p[len(prefix) :] for p in commit.files if p.startswith(prefix)]
        if sub_path and not below:
            raise HubError(404, f"Folder '{sub_path}' does not exist at {commit.oid}", "EntryNotFound", commit.oid)
        names: set[str] = set()
        for rel in below:
            parts = rel.split("/")
            stop = len(parts) if recursive else 1
            names.update(prefix + "/".join(parts[: i + 1]) for i in range(stop))
        # directories first, then files, like the Hub
        ordered = sorted(names, key=lambda p: (p in commit.files, p))
        self._json(self._entries(repo, commit, ordered, expand))

    def _paths_info(self, repo: Repo, commit: Commit) -> None:
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            form = json.loads(self._request_body or b"{}")
            paths, expand = form.get("paths", []), bool(form.get("expand"))
        else:
            form = parse_qs(self._request_body.decode())
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        self._json(self._entries(repo, commit, [p.strip("/") for p in paths], expand))

    def _refs(self, repo: Repo) -> None:
        def ref(kind: str, name: str, oid: str) -> dict:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

        self._json(
            {
                "branches": [ref("heads", n, o) for n, o in sorted(repo.branches.items())],
                "tags": [ref("tags", n, o) for n, o in sorted(repo.tags.items())],
                "converts": [],
                "pullRequests": [],
            }
        )

    def _commits(self, repo: Repo, commit: Commit) -> None:
        items = []
        current: Commit | None = commit
        while current is not None:
            items.append(
                {
                    "id": current.oid,
                    "title": current.title,
                    "message": current.message,
                    "authors": [{"user": DUMMY_USER}],
                    "date": current.date,
                }
            )
            current = repo.commits.get(current.parent) if current.parent else None
        self._json(items)

    def _preupload(self, repo: Repo, rev: str) -> None:
        if not self._authorized():
            raise HubError(401, "You must be authenticated to upload")
        commit = self.server.storage.resolve(repo, rev)
        storage = self.server.storage
        answer = []
        for file in json.loads(self._request_body)["files"]:
            sample = base64.b64decode(file.get("sample", ""))
            existing = commit.files.get(file["path"])
            answer.append(
                {
                    "path": file["path"],
                    "uploadMode": storage.upload_mode(commit, file["path"], file["size"], sample),
                    "shouldIgnore": False,
                    "oid": existing.preupload_oid if existing else None,
                }
            )
        self._json({"files": answer, "commitOid": commit.oid})

    def _commit(self, repo: Repo, rev: str) -> None:
        if not self._authorized():
            raise HubError(401, "You must be authenticated to commit")
        if self._query.get("create_pr", ["0"])[0] in ("1", "true"):
            raise HubError(400, "Pull requests are not supported by the loopback Hub.")
        lines = [json.loads(line) for line in self._request_body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        operations = [line for line in lines if line["key"] != "header"]
        commit = self.server.storage.commit(repo, rev, header, operations)
        self._json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(repo.repo_type, repo.repo_id)}/commit/{commit.oid}",
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )

    def _branch(self, repo: Repo, branch: str) -> None:
        if not self._authorized():
            raise HubError(401, "You must be authenticated to change branches")
        storage = self.server.storage
        if self.command == "DELETE":
            if branch not in repo.branches:
                raise HubError(404, f"Branch '{branch}' not found", "RevisionNotFound")
            del repo.branches[branch]
            return self._json({})
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        payload = json.loads(self._request_body or b"{}")
        repo.branches[branch] = storage.resolve(repo, payload.get("startingPoint") or "main").oid
        self._json({})

    def _tag(self, repo: Repo, revision: str) -> None:
        if not self._authorized():
            raise HubError(401, "You must be authenticated to create tags")
        payload = json.loads(self._request_body or b"{}")
        tag = payload["tag"]
        if tag in repo.tags:
            raise HubError(409, f"Tag '{tag}' already exists")
        repo.tags[tag] = self.server.storage.resolve(repo, revision or "main").oid
        self._json({})

    def _lfs_batch(self, repo: Repo) -> None:
        """Git LFS batch API (basic transfer): upload to ``PUT /lfs-objects/{sha256}`` unless already stored."""
        if not self._authorized():
            raise HubError(401, "You must be authenticated to upload")
        payload = json.loads(self._request_body)
        if payload.get("operation") != "upload":
            raise HubError(400, "Only LFS uploads are supported (downloads go through /resolve).")
        objects = []
        for obj in payload["objects"]:
            item: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.server.storage.has_blob(obj["oid"]):
                item["actions"] = {"upload": {"href": f"{self.server.url}/lfs-objects/{obj['oid']}"}}
            objects.append(item)
        self._json({"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"})

    # --- downloads ---------------------------------------------------------------------------------
    def _resolve(self, repo: Repo, revision: str, file_path: str) -> None:
        storage = self.server.storage
        if repo.private and not self._authorized():
            raise HubError(404, "Repository Not Found", "RepoNotFound")
        with storage.lock:
            commit = storage.resolve(repo, revision)
            entry = commit.files.get(file_path)
        if entry is None:
            raise HubError(404, f"Entry not found: {file_path}", "EntryNotFound", commit.oid)
        size = entry.size
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{entry.etag}"',
            "X-Repo-Commit": commit.oid,
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(Path(file_path).name)}",
        }
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(size)})
        start, end, status = 0, size - 1, 200
        range_header = self.headers.get("Range")
        if range_header:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if not match or match.groups() == ("", ""):
                raise HubError(416, f"Unsupported Range header {range_header!r}")
            first, last = match.groups()
            if first == "":
                start = max(size - int(last), 0)
            else:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            if start >= size or start > end:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(416, b"", {**headers, "Content-Length": "0"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "GET":
            with open(storage.blob_path(entry.sha256), "rb") as f:
                f.seek(start)
                remaining = end - start + 1
                while remaining > 0:
                    chunk = f.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], storage: HubStorage):
        super().__init__(address, _Handler)
        self.storage = storage
        self.request_log: list[str] = []
        self.errors: list[str] = []  # tracebacks of requests that failed with a server bug (HTTP 500)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class HubServer:
    """A loopback Hub on ``127.0.0.1:<ephemeral port>``, served from a background thread.

    Usage::

        with HubServer() as server, hub_environment(server.url):
            model.push_to_hub("test-user/tiny")
    """

    def __init__(self, root: str | os.PathLike | None = None, host: str = "127.0.0.1", port: int = 0):
        if host not in _LOOPBACK_HOSTS:
            raise ValueError(f"HubServer binds loopback addresses only, got host={host!r}")
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="loopback-hub-")) if root is None else Path(root)
        self.storage = HubStorage(self.root)
        self._host, self._port = host, port
        self._httpd: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.blocked_hosts: list[str] = []

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started")
        return self._httpd.url

    @property
    def errors(self) -> list[str]:
        """Tracebacks of server bugs (answered with HTTP 500); a healthy run leaves this empty."""
        return self._httpd.errors if self._httpd else []

    @property
    def request_log(self) -> list[str]:
        """``"METHOD /path [Range]"`` of every request served, in order (useful to debug client behaviour)."""
        return self._httpd.request_log if self._httpd else []

    def start(self) -> HubServer:
        self._httpd = _HubHTTPServer((self._host, self._port), self.storage)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="loopback-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _client_environment(url: str, token: str, cache_dir: Path | None) -> dict[str, str]:
    env = {
        "HF_ENDPOINT": url,
        "HF_TOKEN": token,
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "0",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ENABLE_HF_TRANSFER": "0",
        "DO_NOT_TRACK": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # datasets pings s3.amazonaws.com on every load_dataset otherwise
    }
    if cache_dir is not None:
        env["HF_HUB_CACHE"] = str(cache_dir / "hub")
        env["HF_DATASETS_CACHE"] = str(cache_dir / "datasets")
    return env


def _client_constants(url: str, cache_dir: Path | None) -> list[tuple[object, str, Any]]:
    """(module, attribute, value) patches for the constants the clients read once, at import."""
    from huggingface_hub import constants

    patches: list[tuple[object, str, Any]] = []
    host = urlsplit(url).hostname
    patches += [
        (constants, "ENDPOINT", url),
        (constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"),
        (constants, "HF_URL_HOSTS", frozenset(constants.HF_URL_HOSTS | {host})),
        (constants, "HF_HUB_OFFLINE", False),
        (constants, "HF_HUB_DISABLE_XET", True),
        (constants, "HF_HUB_DISABLE_TELEMETRY", True),
    ]
    if cache_dir is not None:
        patches.append((constants, "HF_HUB_CACHE", str(cache_dir / "hub")))
    try:
        from datasets import config
    except ImportError:  # datasets is optional for model-only tests
        config = None
    if config is not None:
        patches += [
            (config, "HF_ENDPOINT", url),
            (config, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}"),
            (config, "HF_HUB_OFFLINE", False),
            (config, "HF_DATASETS_OFFLINE", False),
            (config, "USE_PARQUET_EXPORT", False),
            (config, "HF_UPDATE_DOWNLOAD_COUNTS", False),
        ]
        if cache_dir is not None:
            datasets_cache = cache_dir / "datasets"
            patches += [
                (config, "HF_DATASETS_CACHE", datasets_cache),
                (config, "DOWNLOADED_DATASETS_PATH", datasets_cache / config.DOWNLOADED_DATASETS_DIR),
                (
                    config,
                    "EXTRACTED_DATASETS_PATH",
                    datasets_cache / config.DOWNLOADED_DATASETS_DIR / config.EXTRACTED_DATASETS_DIR,
                ),
            ]
    return patches


def _clear_filesystem_cache() -> None:
    from huggingface_hub import HfFileSystem

    HfFileSystem.clear_instance_cache()


@contextlib.contextmanager
def _loopback_only(blocked: list[str]) -> Iterator[None]:
    """Make name resolution fail for every non-loopback host (recorded in ``blocked``)."""
    original = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in _LOOPBACK_HOSTS:
            blocked.append(str(name))
            raise socket.gaierror(socket.EAI_NONAME, f"loopback Hub test: refusing to resolve {name!r}")
        return original(host, *args, **kwargs)

    socket.getaddrinfo = guarded
    try:
        yield
    finally:
        socket.getaddrinfo = original


@dataclass
class HubSession:
    """What `hub_environment` yields: where the client points and what it tried to reach elsewhere."""

    url: str
    token: str
    cache_dir: Path | None
    env: dict[str, str]
    blocked_hosts: list[str]

    def new_repo_id(self, name: str) -> str:
        """A repo id under the dummy user never returned before in this process (tests share one server)."""
        return f"{DUMMY_USER}/{name}-{next(_REPO_COUNTER)}"


_REPO_COUNTER = itertools.count()


@contextlib.contextmanager
def hub_environment(
    url: str,
    token: str = DUMMY_TOKEN,
    cache_dir: str | os.PathLike | None = None,
    loopback_only: bool = True,
) -> Iterator[HubSession]:
    """Point huggingface_hub / transformers / datasets at ``url`` for the duration of the block.

    Sets the environment (inherited by subprocesses) and patches the constants that were already read at
    import (see the module docstring). ``cache_dir`` isolates the hub and datasets caches. With
    ``loopback_only`` non-loopback name lookups fail and are recorded in ``HubSession.blocked_hosts``.
    """
    url = url.rstrip("/")
    cache_path = Path(cache_dir) if cache_dir is not None else None
    env = _client_environment(url, token, cache_path)
    session = HubSession(url, token, cache_path, env, [])
    saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    patches = _client_constants(url, cache_path)
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    _clear_filesystem_cache()
    try:
        with _loopback_only(session.blocked_hosts) if loopback_only else contextlib.nullcontext():
            yield session
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _clear_filesystem_cache()
