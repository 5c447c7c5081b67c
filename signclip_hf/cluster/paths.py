"""Paths that are local or on any fsspec filesystem (`s3://`, `gs://`, `hf://`, ...), as the Ray jobs see them.

A local path (or `file://` URL) is used as is, so local runs behave exactly as the single-machine
commands. On a remote filesystem a worker stages one input at a time in a local scratch folder and uploads
each output under a scratch name that is renamed when complete (no half-written output under a final name).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import uuid
from typing import Iterator

PARTIAL = ".partial"


def filesystem(path: str | os.PathLike):
    """(fsspec filesystem, path on it) of a local path or URL."""
    from fsspec.core import url_to_fs

    return url_to_fs(os.fspath(path))


def is_local(path: str | os.PathLike) -> bool:
    text = os.fspath(path)
    return "://" not in text or text.startswith("file://")


def local_path(path: str | os.PathLike) -> str:
    text = os.fspath(path)
    return text[len("file://"):] if text.startswith("file://") else text


def join(root: str, relative: str) -> str:
    return local_path(os.path.join(root, relative)) if is_local(root) else root.rstrip("/") + "/" + relative


@contextlib.contextmanager
def staged_input(path: str) -> Iterator[str]:
    """A local file with the content of `path` (the path itself when local)."""
    if is_local(path):
        yield local_path(path)
        return
    fs, remote = filesystem(path)
    with tempfile.TemporaryDirectory(prefix="signclip-stage-") as directory:
        local = os.path.join(directory, os.path.basename(remote) or "input")
        fs.get(remote, local)
        yield local


@contextlib.contextmanager
def staged_output(path: str) -> Iterator[str]:
    """A local file name to write; on success it lands at `path` (uploaded, then renamed into place)."""
    if is_local(path):
        yield local_path(path)
        return
    fs, remote = filesystem(path)
    with tempfile.TemporaryDirectory(prefix="signclip-stage-") as directory:
        local = os.path.join(directory, os.path.basename(remote) or "output")
        yield local
        if os.path.exists(local):
            scratch = f"{remote}.{uuid.uuid4().hex[:8]}{PARTIAL}"
            _make_parent(fs, remote)
            fs.put(local, scratch)
            fs.mv(scratch, remote)


def _make_parent(fs, remote: str) -> None:
    """The folder of `remote`: object stores need none (a no-op there); filesystems with real folders
    (a mount behind `local://`, HDFS, SFTP, ...) refuse to write into a missing one."""
    parent = posixpath.dirname(remote.rstrip("/"))
    if parent:
        fs.makedirs(parent, exist_ok=True)


def exists(path: str) -> bool:
    if is_local(path):
        return os.path.isfile(local_path(path))
    fs, remote = filesystem(path)
    return fs.isfile(remote)


def write_bytes(path: str, content: bytes) -> None:
    """Write `content` to `path` atomically (a scratch name renamed into place)."""
    if is_local(path):
        path = local_path(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        scratch = f"{path}.{uuid.uuid4().hex[:8]}{PARTIAL}"
        with open(scratch, "wb") as handle:
            handle.write(content)
        os.replace(scratch, path)
        return
    fs, remote = filesystem(path)
    scratch = f"{remote}.{uuid.uuid4().hex[:8]}{PARTIAL}"
    _make_parent(fs, remote)
    with fs.open(scratch, "wb") as handle:
        handle.write(content)
    fs.mv(scratch, remote)


def remove(path: str) -> None:
    if is_local(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(local_path(path))
        return
    fs, remote = filesystem(path)
    if fs.exists(remote):
        fs.rm(remote)


