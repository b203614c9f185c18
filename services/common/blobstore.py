"""Content-addressed store for raw messages: the bytes live at their SHA-256, written durably once."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from schemas.events import BlobRef


class BlobCorrupt(OSError):
    """The stored bytes no longer match their address: they will never become right by retrying."""


class BlobStore(Protocol):
    def put(self, data: bytes) -> BlobRef: ...
    def get(self, ref: BlobRef) -> bytes: ...


class StreamingBlobStore(BlobStore, Protocol):
    def writer(self) -> BlobWriter: ...


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_temp_counter = itertools.count()


def open_temp(folder: Path) -> tuple[int, Path]:
    """A new, exclusively created file in `folder` (`.tmp-<pid>-<n>-<random>`); cheaper than tempfile.mkstemp,
    which draws names through a generator and a lock on every call (this is on ingress's per-message path)."""
    while True:
        path = folder / f".tmp-{os.getpid()}-{next(_temp_counter)}-{os.urandom(4).hex()}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:  # left by an earlier process with the same pid
            continue


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_durably(path: Path, data: bytes, sync: bool = True) -> None:
    """Write to a temporary file beside `path`, fsync, rename into place and fsync the folder.

    With sync=False only the rename is atomic; the caller makes it durable (GroupSync)."""
    try:
        fd, tmp = open_temp(path.parent)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = open_temp(path.parent)
    try:
        try:
            write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(path.parent)


class FileBlobStore:
    """Blobs as files under `root/ab/cd/<sha256>`; identical messages share one file."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._folders: set[Path] = set()  # fan-out folders known to exist: no mkdir per message

    def folder_of(self, path: Path) -> Path:
        """The blob's folder, created on first use."""
        folder = path.parent
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)
        return folder

    @classmethod
    def from_uri(cls, uri: str) -> FileBlobStore:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ValueError(f"unsupported blob store {uri!r}: only file:// is built in")
        return cls(Path(parsed.path))

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            write_durably(path, data)
        return BlobRef(sha256=digest, size=len(data), uri=path.as_uri())

    def get(self, ref: BlobRef) -> bytes:
        data = self.path_of(ref.sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BlobCorrupt(f"blob {ref.sha256} is corrupt")
        return data

    def writer(self) -> BlobWriter:
        return BlobWriter(self)


class BlobWriter:
    """One blob written piece by piece: hashed as it grows, under its address only once complete and synced.

    The temporary file (`root/.tmp-*`) is created at the first write, so a small message costs one open.
    """

    def __init__(self, store: FileBlobStore):
        self.store = store
        self.size = 0
        self.temp: Path | None = None
        self._hash = hashlib.sha256()
        self._fd: int | None = None

    def write(self, data: bytes) -> None:
        if self._fd is None:
            self._fd, self.temp = open_temp(self.store.root)
        write_all(self._fd, data)
        self._hash.update(data)
        self.size += len(data)

    def commit(self, sync: bool = True) -> BlobRef:
        """Sync and rename the bytes to their content address; an identical blob already there is kept.

        With sync=False the caller makes it durable itself (services.common.durable.GroupSync)."""
        self.write(b"")
        assert self._fd is not None and self.temp is not None
        digest = self._hash.hexdigest()
        path = self.store.path_of(digest)
        try:
            if path.exists():
                self.discard()
            else:
                if sync:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
                self.store.folder_of(path)
                os.replace(self.temp, path)
                self.temp = None
                if sync:
                    fsync_dir(path.parent)
        except BaseException:
            self.discard()
            raise
        return BlobRef(sha256=digest, size=self.size, uri=path.as_uri())

    def discard(self) -> None:
        """Forget what was written; safe to call twice and after commit."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None
