"""What an attachment really is: video duration and frame size, JPEG size and EXIF, zip members.

Judged by content, never by the name. Hostile input is bounded: Pillow's
decompression-bomb check is an error here, zips have size, ratio and member
limits, and member names are never used as paths.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import warnings
import zipfile
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError
from pymediainfo import MediaInfo

from .parse import attachment_kind

log = logging.getLogger(__name__)

ZIP_MAX_MEMBERS = 200
ZIP_MAX_TOTAL = 2 * 1024**3
ZIP_MAX_RATIO = 200
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".flv", ".wmv", ".3gp", ".mpg", ".mpeg")
EXIF_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software"}
EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003


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
    inside: str | None = None  # the zip it came from

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


def probe_image(data: bytes, path: str | None = None) -> dict:
    """Format by content, pixel size and EXIF, without decoding the pixels; bombs are refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(_readable(data, path)) as image:
                exif = image.getexif()
                tags = {name: str(exif.get(tag)).strip("\x00 ").strip() for tag, name in EXIF_TAGS.items()
                        if exif.get(tag)}
                taken = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL)
                if taken:
                    tags["datetime_original"] = str(taken).strip("\x00 ")
                return {"image_format": image.format, "width": image.width, "height": image.height, "exif": tags}
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


def zip_members(data: bytes, path: str | None = None) -> tuple[list[tuple[str, bytes]], str]:
    """(name, bytes) of each file in a zip (`data`, or the file at `path`), within limits; a note says
    what was refused."""
    try:
        archive = zipfile.ZipFile(_readable(data, path))
        infos = [i for i in archive.infolist() if not i.is_dir()]
        packed = os.path.getsize(path) if path else len(data)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        return [], f"bad zip: {err}"
    if len(infos) > ZIP_MAX_MEMBERS:
        return [], f"zip has {len(infos)} members (limit {ZIP_MAX_MEMBERS})"
    total = sum(i.file_size for i in infos)
    if total > ZIP_MAX_TOTAL or total > ZIP_MAX_RATIO * max(1, packed):
        return [], f"zip would expand to {total} bytes (bomb?)"
    members = []
    for info in infos:
        try:
            with archive.open(info) as handle:
                content = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as err:
            return members, f"zip member unreadable: {err}"
        if len(content) > info.file_size:
            return members, "zip member larger than declared"
        name = info.filename
        if info.flag_bits & 0x800 == 0:  # not flagged UTF-8: Chinese Windows zips use GBK
            try:
                name = info.filename.encode("cp437").decode("gb18030")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
        members.append((name.rsplit("/", 1)[-1], content))
    return members, ""


def probe_attachments(attachments, path_of=None) -> list[Probe]:
    """Probes for parsed attachments, zip members expanded after their zip.

    `path_of(sha256)` names a stored copy, so mediainfo reads videos from disk instead of memory, and
    attachments decoded straight into the store (no `.data`) are read from there."""
    probes = []
    for a in attachments:
        path = str(path_of(a.sha256)) if path_of else None
        probes.append(probe_bytes(a.filename, a.sha256, a.data, a.kind, a.mime, declared_type=a.declared_type,
                                  path=path, size=a.size))
        if a.kind == "archive" and (a.mime == "application/zip" or a.filename.lower().endswith(".zip")):
            members, note = zip_members(a.data, path)
            if note:
                probes[-1] = Probe(**{**probes[-1].__dict__, "note": note, "readable": False})
            for name, content in members:
                kind, mime = attachment_kind(content, name, "application/octet-stream")
                probes.append(probe_bytes(name, hashlib.sha256(content).hexdigest(), content, kind, mime,
                                          inside=a.filename))
    return probes
