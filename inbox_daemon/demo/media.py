"""Real media for the demo and the tests: JPEGs with camera EXIF, videos, forms, PDFs and archives.

Nothing here is faked: the JPEGs are decodable images with real EXIF blocks,
the videos are H.264, H.265 or WMV encoded by ffmpeg (from Debian or the
imageio-ffmpeg wheel), forms are written by openpyxl and python-docx, PDFs by
reportlab and Pillow, archives by zipfile, py7zr and the RAR 5 format description.
"""

from __future__ import annotations

import functools
import io
import os
import random
import shutil
import struct
import subprocess
import tempfile
import zipfile
import zlib
from datetime import datetime

from PIL import Image

EXIF_MAKE, EXIF_MODEL, EXIF_SOFTWARE, EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0131, 0x8769, 0x9003
EXIF_XP_COMMENT = 0x9C9C
VIDEO_CODECS = {  # codec: ffmpeg encoder arguments and container
    "h264": (["-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", "-movflags", "+faststart"], "mp4"),
    "hevc": (["-c:v", "libx265", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", "-tag:v", "hvc1",
              "-x265-params", "log-level=error", "-movflags", "+faststart"], "mp4"),
    "wmv": (["-c:v", "wmv2", "-b:v", "300k"], "wmv"),
}


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


def make_jpeg(*, width: int = 1600, height: int = 1200, size: int | None = None, make: str | bytes | None = "Canon",
              model: str | bytes | None = "EOS 80D", software: str | bytes | None = None,
              taken: datetime | None = datetime(2022, 8, 20, 9, 30), seed: int = 1, quality: int = 92,
              xp_comment: str | None = None) -> bytes:
    """A JPEG; with `size`, exactly that many bytes (the image is sized below it, a COM segment fills the rest).

    EXIF strings are written as the apps write them: text as UTF-8 bytes (Meitu's 美图秀秀), bytes as given
    (a GBK Make from a Chinese phone), XPComment as Windows writes it (UTF-16LE)."""
    exif = Image.Exif()
    for tag, value in ((EXIF_MAKE, make), (EXIF_MODEL, model), (EXIF_SOFTWARE, software)):
        if value:
            exif[tag] = value.encode("utf-8") if isinstance(value, str) else value
    if xp_comment:
        exif[EXIF_XP_COMMENT] = xp_comment.encode("utf-16-le") + b"\x00\x00"
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


def make_video(seconds: float, width: int = 1280, height: int = 720, fps: int = 5, codec: str = "h264") -> bytes:
    """A video of the given length: an H.264 MP4 (~0.5 MB a minute at these settings), an H.265/HEVC MP4 as
    recent phones record, or a WMV (Windows Media Video 8 in ASF) as old Windows tools export."""
    arguments, container = VIDEO_CODECS[codec]
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, f"clip.{container}")
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}", *arguments, target],
                       check=True, timeout=120)
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


def make_sheet(rows: list[list], merges: list[tuple[int, int, int, int]] = ()) -> bytes:
    """An .xlsx laid out like a filled-in annex: `rows` from A1 (None for an empty cell), `merges` as
    (first row, first column, last row, last column), 0-based and inclusive; texts wrap as in Excel."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    book = Workbook()
    sheet = book.active
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                cell = sheet.cell(r, c, value)
                cell.alignment = Alignment(wrap_text=True)
    for top, left, bottom, right in merges:
        sheet.merge_cells(start_row=top + 1, start_column=left + 1, end_row=bottom + 1, end_column=right + 1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_docx(title: str, table: list[list[str]], paragraphs: list[str] = (),
              merges: list[tuple[int, int, int, int]] = (), after: list[str] = ()) -> bytes:
    """A .docx as Word writes a filled-in form: a title, lines (填报人姓名：…), one table, lines after it.
    `merges` as in make_sheet; a merged range keeps the text of its first cell."""
    from docx import Document
    document = Document()
    document.add_heading(title, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=max(len(r) for r in table))
    grid.style = "Table Grid"
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            if value is not None:
                grid.cell(r, c).text = str(value)
    for top, left, bottom, right in merges:
        text = grid.cell(top, left).text
        merged = grid.cell(top, left).merge(grid.cell(bottom, right))
        merged.text = text
    for text in after:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pdf_text(lines: list[str]) -> bytes:
    """A PDF with a text layer, as Word or WPS export a form (Chinese in Adobe's STSong-Light, no font file)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, invariant=True)
    page.setFont("STSong-Light", 14)
    for number, line in enumerate(lines):
        page.drawString(72, A4[1] - 72 - 24 * number, line)
    page.save()
    return out.getvalue()


def make_pdf_scan(width: int = 1240, height: int = 1754, seed: int = 3) -> bytes:
    """An image-only PDF, as a phone's scanner app saves a photographed paper form: one page, no text."""
    out = io.BytesIO()
    _photo(width, height, seed).convert("L").save(out, "PDF", resolution=150)
    return out.getvalue()


# -- archives ----------------------------------------------------------------

def make_zip(files: list[tuple[str, bytes]], *, utf8_names: bool = True) -> bytes:
    """A zip as Windows' own zipper writes it: names flagged UTF-8, or (Chinese Windows) GBK without the flag.

    zipfile writes any name it cannot encode in ASCII as flagged UTF-8, so GBK names go in as ASCII stand-ins
    of the same length and are swapped for their GBK bytes afterwards (names are not under any checksum)."""
    out = io.BytesIO()
    swaps = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (name, data) in enumerate(files):
            if not utf8_names:
                encoded = name.encode("gbk")
                stand_in = str(number).rjust(len(encoded), "~")
                swaps.append((stand_in.encode(), encoded))
                name = stand_in
            archive.writestr(name, data)
    data = out.getvalue()
    for stand_in, encoded in swaps:
        assert data.count(stand_in) == 2, "a stand-in name must occur in the local and the central header only"
        data = data.replace(stand_in, encoded)
    return data


def make_7z(files: list[tuple[str, bytes]], password: str | None = None) -> bytes:
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password=password, header_encryption=bool(password)) as archive:
        for name, data in files:
            archive.writestr(data, name)
    return out.getvalue()


def _vint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _rar5_block(kind: int, body: bytes, data: bytes | None = None) -> bytes:
    """One RAR5 block: CRC32, size, type, flags (data area present or not), the body, then the data."""
    fields = _vint(kind) + (_vint(0x0002) + _vint(len(data)) if data is not None else _vint(0)) + body
    header = _vint(len(fields)) + fields
    return struct.pack("<I", zlib.crc32(header)) + header + (data or b"")


def make_rar(files: list[tuple[str, bytes]]) -> bytes:
    """A RAR 5 archive with the files stored (RAR's "-m0", as phones and most zippers leave JPEGs).

    No free program writes RAR, so this follows RARLAB's published RAR 5.0 format description (technote.htm):
    signature, main archive header, one file header per file (CRC32 and size, store method, Unix host,
    UTF-8 name), end of archive. unrar, libarchive (bsdtar) and rarfile read it like one made by WinRAR."""
    blocks = [b"Rar!\x1a\x07\x01\x00", _rar5_block(1, _vint(0))]
    for name, data in files:
        encoded = name.encode("utf-8")
        body = (_vint(0x0004) + _vint(len(data)) + _vint(0o100644) + struct.pack("<I", zlib.crc32(data))
                + _vint(0) + _vint(1) + _vint(len(encoded)) + encoded)
        blocks.append(_rar5_block(2, body, data))
    blocks.append(_rar5_block(5, _vint(0)))
    return b"".join(blocks)
