"""The members of a .zip, .rar or .7z attachment, streamed into the attachment store within limits.

An archive is a stranger's promise about what it holds: every limit (member
count, total size, ratio, nesting, encryption) is checked on what the archive
declares before one byte is extracted, and the bytes that come out are held to
that declaration. Members go to the store by hash through `put`, a chunk at a
time; a sender's member name is only ever shown, never used as a path.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
Put = Callable[[Iterable[bytes]], tuple[str, int]]
MAGIC = ((b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"Rar!\x1a\x07", "rar"), (b"7z\xbc\xaf\x27\x1c", "7z"))


@dataclass(frozen=True)
class ArchiveLimits:
    """What one attachment may unpack to, nested archives included (shared by the whole tree)."""

    max_members: int = 200
    max_total_bytes: int = 2 * 1024**3
    max_ratio: int = 100  # unpacked bytes per packed byte
    max_depth: int = 2  # an archive inside an archive is opened, one more level is not
    max_directory_bytes: int = 1024 * 1024  # a zip's central directory, read whole by zipfile


@dataclass(frozen=True)
class Member:
    name: str  # the last part of the sender's path: display only
    sha256: str
    size: int


class Refused(Exception):
    """An archive that cannot be opened safely; the message is the Chinese reason."""


@dataclass(frozen=True)
class _Entry:
    key: object  # what the library needs to open the member
    name: str
    size: int
    encrypted: bool


class Budget:
    """Members and bytes left for one attachment and everything nested in it."""

    def __init__(self, limits: ArchiveLimits):
        self.limits = limits
        self.members = limits.max_members
        self.bytes = limits.max_total_bytes

    def admit(self, entries: list[_Entry], packed: int) -> None:
        total = sum(e.size for e in entries)
        if any(e.encrypted for e in entries):
            raise Refused("压缩包设有密码，无法打开")
        if len(entries) > self.members:
            raise Refused(f"压缩包内文件过多（{len(entries)} 个，上限 {self.limits.max_members} 个）")
        if total > self.bytes:
            raise Refused(f"压缩包解压后过大（{_mb(total)}，上限 {_mb(self.limits.max_total_bytes)}）")
        if total > self.limits.max_ratio * max(packed, 1):
            raise Refused(f"压缩包解压后与压缩前大小相差过大（{_mb(total)} 对 {_mb(packed)}），疑为压缩炸弹")
        self.members -= len(entries)
        self.bytes -= total


DEFAULT_LIMITS = ArchiveLimits()


def _mb(size: int) -> str:
    return f"{size / 1024**2:.1f} MB"


def archive_format(head: bytes) -> str | None:
    """zip, rar or 7z by the first bytes, whatever the name says."""
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


def display_name(path: str) -> str:
    """The last part of a member's path, without control characters, for people to read."""
    last = PurePosixPath(path.replace("\\", "/")).name
    cleaned = "".join(ch for ch in last if ch.isprintable()).strip()
    return cleaned or "未命名"


def zip_directory(handle) -> tuple[int, int]:
    """(entries, central directory bytes) from the end record, before zipfile reads the directory whole.

    A zip that does not end in an end record is refused (zipfile would search for it, but a stranger's file
    has no reason to hide it)."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - 22 - 65535))
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        raise Refused("压缩文件已损坏（找不到目录）")
    entries, directory = struct.unpack_from("<HI", tail, at + 10)
    locator = at - 20
    if (entries == 0xFFFF or directory == 0xFFFFFFFF) and locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
        (offset,) = struct.unpack_from("<Q", tail, locator + 8)
        handle.seek(offset)
        record = handle.read(56)
        if record[:4] != b"PK\x06\x06" or len(record) < 56:
            raise Refused("压缩文件已损坏（目录记录有误）")
        entries, directory = struct.unpack_from("<QQ", record, 32)
    return entries, directory


def _bounded(chunks: Iterable[bytes], declared: int) -> Iterator[bytes]:
    """The member's bytes, refused the moment they run past what the archive declared."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > declared:
            raise Refused("压缩包内文件比声明的更大，疑为压缩炸弹")
        yield chunk


def _store(put: Put, handle, declared: int) -> tuple[str, int]:
    return put(_bounded(iter(partial(handle.read, CHUNK), b""), declared))


# -- zip ---------------------------------------------------------------------

def _zip_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437")  # zipfile's reading of a name without the UTF-8 flag
    try:
        return raw.decode("utf-8")  # macOS and Linux tools write UTF-8 without saying so
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")  # Chinese Windows writes GBK


def _zip_members(path: Path, put: Put, budget: Budget) -> list[Member]:
    with open(path, "rb") as handle:
        entries, directory = zip_directory(handle)
        if entries > budget.members:
            raise Refused(f"压缩包内文件过多（{entries} 个，上限 {budget.limits.max_members} 个）")
        if directory > budget.limits.max_directory_bytes:
            raise Refused("压缩包目录过大")
        try:
            archive = zipfile.ZipFile(handle)
            infos = [i for i in archive.infolist()
                     if not i.is_dir() and not stat.S_ISLNK(i.external_attr >> 16)]
            budget.admit([_Entry(i, _zip_name(i), i.file_size, bool(i.flag_bits & 0x1)) for i in infos],
                         os.path.getsize(path))
            members = []
            for info in infos:
                with archive.open(info) as member:
                    members.append(Member(display_name(_zip_name(info)), *_store(put, member, info.file_size)))
            return members
        except NotImplementedError as err:
            raise Refused("压缩包使用了不支持的压缩方式") from err
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as err:
            raise Refused("压缩文件已损坏") from err


# -- rar ---------------------------------------------------------------------

def _rar_members(path: Path, put: Put, budget: Budget) -> list[Member]:
    """rarfile reads the headers (names, sizes, passwords, volumes); libarchive decodes the data front to back
    in one pass, which solid archives need (rarfile would run a tool per member, and Debian's unrar-free is not
    the unrar it drives)."""
    import rarfile

    try:
        with rarfile.RarFile(path) as archive:
            if archive.needs_password():
                raise Refused("压缩包设有密码，无法打开")
            infos = [i for i in archive.infolist() if i.is_file()]
            if archive.is_solid() and any(isinstance(i, rarfile.Rar3Info) for i in infos):
                raise Refused("无法解压旧版 RAR 的固实压缩包，请改用 zip 或新版 RAR 重新打包")
    except rarfile.PasswordRequired as err:
        raise Refused("压缩包设有密码，无法打开") from err
    except rarfile.NeedFirstVolume as err:
        raise Refused("这是分卷压缩包的一部分，请把各卷一起发送或重新打包为一个文件") from err
    except (rarfile.Error, EOFError, OSError, ValueError) as err:
        raise Refused("压缩文件已损坏") from err
    budget.admit([_Entry(i, i.filename, i.file_size, i.needs_password()) for i in infos], os.path.getsize(path))
    try:
        import libarchive
    except (ImportError, OSError, AttributeError) as err:  # libarchive-c without the C library
        log.error("cannot unpack RAR archives: %s (install libarchive13)", err)
        raise Refused("服务器暂时无法解压 RAR 压缩包") from err
    members, files = [], iter(infos)
    try:
        with libarchive.file_reader(str(path)) as reader:
            for entry in reader:
                if not entry.isfile:
                    continue
                info = next(files, None)
                if info is None:
                    raise Refused("压缩文件已损坏")
                sha256, size = put(_bounded(entry.get_blocks(CHUNK), info.file_size))
                members.append(Member(display_name(info.filename), sha256, size))
    except libarchive.ArchiveError as err:
        raise Refused("压缩文件已损坏") from err
    return members


# -- 7z ----------------------------------------------------------------------

class _SpoolWriter:
    """Where py7zr writes one member as it decodes it (py7zr pushes, `put` pulls): a spool file of ours."""

    def __init__(self, target: Path, factory: "_SpoolFactory"):
        self.handle, self.factory = open(target, "w+b"), factory

    def write(self, data) -> int:
        self.factory.left -= len(data)
        if self.factory.left < 0:
            raise Refused("压缩包内文件比声明的更大，疑为压缩炸弹")
        return self.handle.write(data)

    def read(self, size=None) -> bytes:
        return b""

    def seek(self, offset, whence=0) -> int:
        return self.handle.seek(offset, whence)

    def flush(self) -> None:
        self.handle.flush()

    def size(self) -> int:
        return self.handle.tell()

    def close(self) -> None:
        self.handle.close()


class _SpoolFactory:
    """py7zr's writer factory: members in numbered spool files, all together held to the declared total."""

    def __init__(self, spool: Path, declared: int):
        self.spool, self.left, self.written = spool, declared, []

    def create(self, filename: str) -> _SpoolWriter:
        target = self.spool / str(len(self.written))
        self.written.append((filename, target))
        return _SpoolWriter(target, self)


def _7z_members(path: Path, put: Put, budget: Budget) -> list[Member]:
    import py7zr
    from py7zr.exceptions import ArchiveError, PasswordRequired, UnsupportedCompressionMethodError

    try:
        # A file object, not a path: py7zr then decodes in this thread, so a refusal stops it at once.
        with open(path, "rb") as handle, py7zr.SevenZipFile(handle, mode="r") as archive:
            if archive.needs_password():
                raise Refused("压缩包设有密码，无法打开")
            infos = [i for i in archive.list() if not i.is_directory and not i.is_symlink]
            budget.admit([_Entry(i.filename, i.filename, i.uncompressed, False) for i in infos],
                         os.path.getsize(path))
            declared = sum(i.uncompressed for i in infos)
            with tempfile.TemporaryDirectory(prefix="inbox-daemon-7z-") as spool:
                factory = _SpoolFactory(Path(spool), declared)
                archive.extractall(factory=factory)
                members = []
                for filename, target in factory.written:
                    with open(target, "rb") as member:
                        members.append(Member(display_name(filename), *_store(put, member, declared)))
                    target.unlink()
                return members
    except PasswordRequired as err:
        raise Refused("压缩包设有密码，无法打开") from err
    except UnsupportedCompressionMethodError as err:
        raise Refused("压缩包使用了不支持的压缩方式") from err
    except (ArchiveError, py7zr.Bad7zFile, EOFError, OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise Refused("压缩文件已损坏") from err


READERS = {"zip": _zip_members, "rar": _rar_members, "7z": _7z_members}


def unpack(path: str | Path, put: Put, budget: Budget) -> list[Member]:
    """Every file in the archive at `path`, stored through `put`; raises Refused with the reason."""
    with open(path, "rb") as handle:
        kind = archive_format(handle.read(8))
    if kind is None:
        raise Refused("不支持的压缩格式（只接受 zip、rar、7z）")
    return READERS[kind](Path(path), put, budget)
