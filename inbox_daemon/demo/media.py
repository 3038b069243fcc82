"""Real media for the demo and the tests: JPEGs with camera EXIF, MP4s pymediainfo can read, forms.

Nothing here is faked: the JPEGs are decodable images with real EXIF blocks,
the videos are H.264 encoded by ffmpeg (from Debian or the imageio-ffmpeg wheel).
"""

from __future__ import annotations

import functools
import io
import os
import random
import shutil
import subprocess
import tempfile
from datetime import datetime

from PIL import Image

EXIF_MAKE, EXIF_MODEL, EXIF_SOFTWARE, EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0131, 0x8769, 0x9003


@functools.cache
def ffmpeg_exe() -> str:
    """A working ffmpeg: the one the imageio-ffmpeg wheel ships (a declared dependency, the same on every
    machine) first, else Debian's on PATH. Each is tried (`-version`) before it is trusted, so a broken
    binary is passed over; when none works the error says, in Chinese, what to install."""
    candidates = []
    try:
        import imageio_ffmpeg
        candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):  # RuntimeError: the wheel has no binary for this platform
        pass
    if shutil.which("ffmpeg"):
        candidates.append(shutil.which("ffmpeg"))
    for candidate in candidates:
        try:
            subprocess.run([candidate, "-hide_banner", "-version"], check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        return candidate
    from ..errors import InboxError
    tried = "、".join(candidates) or "无"
    raise InboxError(f"找不到能用的 ffmpeg（试过：{tried}），无法生成示例视频。请安装：pip install imageio-ffmpeg，"
                     "或 apt-get install ffmpeg")


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """A gradient 'scene' with sensor-like noise, so JPEG sizes behave like real photos."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", (width, height), (rng.randrange(60, 200), rng.randrange(60, 200), rng.randrange(60, 200)))
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    return Image.blend(Image.blend(base, tint, 0.5), noise, 0.35)


def make_jpeg(*, width: int = 1600, height: int = 1200, size: int | None = None, make: str | None = "Canon",
              model: str | None = "EOS 80D", software: str | None = None,
              taken: datetime | None = datetime(2022, 8, 20, 9, 30), seed: int = 1, quality: int = 92) -> bytes:
    """A JPEG; with `size`, exactly that many bytes (the image is sized below it, a COM segment fills the rest)."""
    exif = Image.Exif()
    if make:
        exif[EXIF_MAKE] = make
    if model:
        exif[EXIF_MODEL] = model
    if software:
        exif[EXIF_SOFTWARE] = software
    if taken:
        exif.get_ifd(EXIF_IFD)[EXIF_DATETIME_ORIGINAL] = taken.strftime("%Y:%m:%d %H:%M:%S")

    def encode(w: int, h: int, comment: bytes = b"") -> bytes:
        out = io.BytesIO()
        _photo(w, h, seed).save(out, "JPEG", quality=quality, exif=exif.tobytes(), comment=comment)
        return out.getvalue()

    data = encode(width, height)
    if size is None:
        return data
    scale = 1.0
    while len(data) > size - 600 or len(data) < size - 60000:  # aim a little under, then pad exactly
        scale *= ((size - 20000) / len(data)) ** 0.5
        data = encode(max(16, int(width * scale)), max(16, int(height * scale)))
    w, h = max(16, int(width * scale)), max(16, int(height * scale))
    padding = size - len(data)
    # A COM segment holds at most 65,533 bytes; its 4-byte marker+length counts too.
    comment = b"x" * max(0, padding - 4)
    data = encode(w, h, comment)
    if len(data) != size:
        data = encode(w, h, b"x" * (len(comment) + size - len(data)))
    assert len(data) == size, (len(data), size)
    return data


def make_png(width: int = 800, height: int = 600, seed: int = 2) -> bytes:
    out = io.BytesIO()
    _photo(width, height, seed).save(out, "PNG")
    return out.getvalue()


def make_video(seconds: float, width: int = 1280, height: int = 720, fps: int = 5) -> bytes:
    """An H.264 MP4 of the given length (~0.5 MB a minute at these settings)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "clip.mp4")
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                        target], check=True, timeout=120)
        with open(target, "rb") as handle:
            return handle.read()


def make_xlsx(headers: list[str], rows: list[list], title: str | None = None) -> bytes:
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_docx(title: str, table: list[list[str]], paragraphs: list[str] = ()) -> bytes:
    from docx import Document
    document = Document()
    document.add_heading(title, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=max(len(r) for r in table))
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            grid.cell(r, c).text = str(value)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
