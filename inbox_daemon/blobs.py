"""Files named by their SHA-256: raw messages and attachments, never by a sender's name.

Everything is written to `root/tmp` first, hashed while it is written, fsynced, then renamed into
place, so a file under its hash is always complete; an existing file is trusted only when its
content really has that hash.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import StoreError

CHUNK = 1 << 20


class BlobStore:
    """Files named by their SHA-256 under `root/<kind>/<2 hex>/<hash>`; never by a sender's name.

    Everything is written to `root/tmp` first, hashed while it is written, then renamed into
    place: a file under its hash is always complete."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, kind: str, sha256: str) -> Path:
        if kind not in ("raw", "att") or len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"bad blob address {kind}/{sha256!r}")
        return self.root / kind / sha256[:2] / sha256

    def put(self, kind: str, data: bytes, sha256: str | None = None) -> str:
        """`sha256`, when the caller has it already, spares hashing the data again."""
        if sha256 and self._present(kind, sha256, len(data)):
            return sha256
        return self.put_chunks(kind, (data,))[0]

    def put_chunks(self, kind: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Stream `chunks` into the store, hashing as they go; returns (sha256, size). Every file is
        fsynced, and its directory after the rename, before its hash is handed out.

        Errors of the store become StoreError; errors of whatever produces the chunks (a dropped
        IMAP connection) pass through unchanged."""
        spool = self.root / "tmp"
        digest, size = hashlib.sha256(), 0
        with _store_errors(spool):
            spool.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=spool, prefix=f"{kind}-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    with _store_errors(spool):
                        handle.write(chunk)
                with _store_errors(spool):
                    handle.flush()
                    os.fsync(handle.fileno())
            sha256 = digest.hexdigest()
            target = self.path(kind, sha256)
            with _store_errors(target):
                os.chmod(tmp, 0o640)
                fresh = not target.parent.is_dir()
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)  # the same name always holds the same bytes
                fsync_dir(target.parent)
                if fresh:  # a new "ab/" directory: its own name must reach the disk too
                    fsync_dir(target.parent.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256, size

    def _present(self, kind: str, sha256: str, size: int) -> bool:
        """A file already stored under this hash, of this size and really holding these bytes."""
        try:
            return self.path(kind, sha256).stat().st_size == size and self.verify(kind, sha256)
        except OSError:
            return False

    def get(self, kind: str, sha256: str) -> bytes:
        return self.path(kind, sha256).read_bytes()

    @contextmanager
    def mapped(self, kind: str, sha256: str) -> Iterator[bytes | mmap.mmap]:
        """The stored bytes without reading them into memory (a read-only map of the file)."""
        with open(self.path(kind, sha256), "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                yield view

    def verify(self, kind: str, sha256: str) -> bool:
        try:
            with open(self.path(kind, sha256), "rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
        except OSError:
            return False

    def clear_spool(self, older_than_s: float = 3600) -> None:
        """Drop temp files a killed process left behind (never one still being written)."""
        cutoff = time.time() - older_than_s
        for entry in (self.root / "tmp").glob("*"):
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                continue


def fsync_dir(path: Path) -> None:
    """Make the names in a directory durable (a file renamed or created there survives a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        raise StoreError(_describe_os_error(err, path)) from err


def _describe_os_error(err: OSError, path: Path) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"磁盘已满，无法写入 {path} / disk full writing {path}"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"存储目录不可写 {path} / store is not writable: {path} ({err.strerror})"
    return f"写入存储失败 {path} / cannot write store {path}: {err.strerror}"
