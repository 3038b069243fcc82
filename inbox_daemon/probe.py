"""What an attachment really is: video duration and frame size, JPEG size and EXIF, archive members.

Judged by content, never by the name. Hostile input is bounded: Pillow's
decompression-bomb check is an error here, archives are opened within limits
(see archives.py), and member names are never used as paths.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from pymediainfo import MediaInfo

from .archives import DEFAULT_LIMITS, ArchiveLimits, Budget, Member, Put, Refused, archive_format, unpack
from .parse import attachment_kind

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".flv", ".wmv", ".3gp", ".mpg", ".mpeg")
EXIF_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software"}
XP_TAGS = {0x9C9C: "xp_comment"}  # Windows writes these as UTF-16LE bytes
EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Probe:
    """One file as the judge sees it (a direct attachment or a zip member)."""

    filename: str
    sha256: str
    size: int
    kind: str  # video | image | document | archive | message | other
    mime: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    image_format: str | None = None
    exif: dict = field(default_factory=dict)
    readable: bool = True
    note: str = ""
    inside: str | None = None  # the archive it came from

    def as_meta(self) -> dict:
        return {k: v for k, v in {"codec": self.codec, "image_format": self.image_format, "exif": self.exif,
                                  "readable": self.readable, "note": self.note, "inside": self.inside}.items()
                if v not in (None, {}, "")}


def _readable(data: bytes, path: str | None):
    """The stored file when there is one (large attachments have no bytes in memory), else the bytes."""
    return path if path else io.BytesIO(data)


def probe_video(data: bytes | None, path: str | None = None) -> dict:
    """Duration (s), width, height, codec; `readable` False when there is no video track."""
    try:
        info = MediaInfo.parse(_readable(data, path))
    except (OSError, RuntimeError, ValueError) as err:
        return {"readable": False, "note": f"mediainfo: {err}"}
    video = next((t for t in info.tracks if t.track_type == "Video"), None)
    general = next((t for t in info.tracks if t.track_type == "General"), None)
    if video is None:
        return {"readable": False, "note": "no video track"}
    duration_ms = video.duration or (general.duration if general else None)
    try:
        duration = round(float(duration_ms) / 1000, 3) if duration_ms else None
    except (TypeError, ValueError):
        duration = None
    return {"readable": bool(duration and video.width and video.height), "duration_s": duration,
            "width": int(video.width) if video.width else None, "height": int(video.height) if video.height else None,
            "codec": video.format, "note": "" if duration else "no duration"}


def exif_text(value) -> str:
    """An EXIF string whatever its bytes: UTF-8 (Meitu writes 美图秀秀 so), GB18030 (Chinese phones), else Latin-1.

    Pillow reads ASCII-typed tags as Latin-1, which turns UTF-8 and GBK into mojibake: those are undone here."""
    if isinstance(value, str):
        raw = value.encode("latin-1", "replace")
    elif isinstance(value, tuple):  # BYTE-typed tags come as numbers
        raw = bytes(v for v in value if isinstance(v, int) and 0 <= v < 256)
    else:
        raw = bytes(value)
    raw = raw.split(b"\x00", 1)[0]
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding).strip()
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1").strip()


def xp_text(value) -> str:
    """A Windows XP* tag (XPComment, XPTitle …): UTF-16LE ending in a null."""
    raw = bytes(value) if isinstance(value, (bytes, tuple, list)) else str(value).encode("latin-1", "replace")
    return raw.decode("utf-16-le", "replace").split("\x00", 1)[0].strip()


def exif_strings(exif: Image.Exif) -> dict[str, str]:
    tags = {name: exif_text(exif[tag]) for tag, name in EXIF_TAGS.items() if exif.get(tag)}
    tags.update({name: xp_text(exif[tag]) for tag, name in XP_TAGS.items() if exif.get(tag)})
    taken = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL)
    if taken:
        tags["datetime_original"] = exif_text(taken)
    return {name: text for name, text in tags.items() if text}


def probe_image(data: bytes, path: str | None = None) -> dict:
    """Format by content, pixel size and EXIF, without decoding the pixels; bombs are refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(_readable(data, path)) as image:
                return {"image_format": image.format, "width": image.width, "height": image.height,
                        "exif": exif_strings(image.getexif())}
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        return {"readable": False, "note": f"decompression bomb: {err}"}
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return {"readable": False, "note": f"image: {err}"}


def probe_bytes(filename: str, sha256: str, data: bytes, kind: str, mime: str | None,
                inside: str | None = None, declared_type: str = "", path: str | None = None,
                size: int | None = None) -> Probe:
    """`data`, or `path` alone for a file too large to hold in memory (then `size` too)."""
    base = Probe(filename=filename, sha256=sha256, size=len(data) if size is None else size, kind=kind, mime=mime,
                 inside=inside)
    claims_video = declared_type.startswith("video/") or filename.lower().endswith(VIDEO_SUFFIXES)
    if kind == "video" or (kind == "other" and claims_video):
        # Content decides; a file that only claims to be a video is an unreadable video.
        return Probe(**{**base.__dict__, "kind": "video", **probe_video(data, path)})
    if kind == "image":
        return Probe(**{**base.__dict__, **probe_image(data, path)})
    return base


class _Spool:
    """A temporary attachment store for callers that give none: members live only while they are probed."""

    def __init__(self, root: str):
        self.root = Path(root)

    def put(self, chunks) -> tuple[str, int]:
        digest, size = hashlib.sha256(), 0
        with tempfile.NamedTemporaryFile(dir=self.root, delete=False) as handle:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
        Path(handle.name).replace(self.root / digest.hexdigest())
        return digest.hexdigest(), size

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256


def _head(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def _with_members(archive: Probe, path: str | None, put: Put, path_of: Callable[[str], object],
                  budget: Budget, depth: int) -> list[Probe]:
    """The archive's probe, then a probe for each member (nested archives opened to the depth limit)."""
    if path is None or archive_format(_head(path)) is None:
        return [replace(archive, readable=False, note="不支持的压缩格式（只接受 zip、rar、7z）")]
    if depth > budget.limits.max_depth:
        return [replace(archive, readable=False, note="压缩包嵌套层数过多")]
    try:
        members: list[Member] = unpack(path, put, budget)
    except Refused as err:
        log.info("archive %r refused: %s", archive.filename, err)
        return [replace(archive, readable=False, note=str(err))]
    probes = [archive]
    for member in members:
        member_path = str(path_of(member.sha256))
        kind, mime = attachment_kind(_head(member_path), member.name, "application/octet-stream")
        probe = probe_bytes(member.name, member.sha256, b"", kind, mime, inside=archive.filename,
                            path=member_path, size=member.size)
        if kind == "archive":
            probes += _with_members(probe, member_path, put, path_of, budget, depth + 1)
        else:
            probes.append(probe)
    return probes


def probe_attachments(attachments, path_of=None, *, put: Put | None = None,
                      archive_limits: ArchiveLimits = DEFAULT_LIMITS) -> list[Probe]:
    """Probes for parsed attachments, each archive followed by its members.

    `path_of(sha256)` names a stored copy, so mediainfo reads videos from disk instead of memory, and
    attachments decoded straight into the store (no `.data`) are read from there. `put(chunks)` streams archive
    members into that store; without it they go to a temporary directory, removed once they are probed."""
    with tempfile.TemporaryDirectory(prefix="inbox-daemon-members-") as spool_dir:
        spool = _Spool(spool_dir)
        member_put, member_path = (put, path_of) if put and path_of else (spool.put, spool.path_of)
        probes = []
        for a in attachments:
            path = str(path_of(a.sha256)) if path_of else None
            if path is None and a.kind == "archive":  # bytes alone: the archive is read from the spool
                sha, _ = spool.put((a.data,))
                path = str(spool.path_of(sha))
            probe = probe_bytes(a.filename, a.sha256, a.data, a.kind, a.mime, declared_type=a.declared_type,
                                path=path, size=a.size)
            if a.kind == "archive":
                probes += _with_members(probe, path, member_put, member_path, Budget(archive_limits), depth=1)
            else:
                probes.append(probe)
        return probes
