"""Real media probed right: video duration, codec and frame; photo EXIF strings whatever their bytes; what a
PDF or an .xls is by content."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from inbox_daemon.demo import media
from inbox_daemon.forms import is_form
from inbox_daemon.parse import Attachment, attachment_kind
from inbox_daemon.probe import exif_text, probe_attachments, probe_image

DATA = Path(__file__).parent / "data"


def probe(name: str, data: bytes, declared: str = "application/octet-stream"):
    kind, mime = attachment_kind(data, name, declared)
    attachment = Attachment(name, declared, mime, kind, len(data), hashlib.sha256(data).hexdigest(), data)
    [found] = probe_attachments([attachment])
    return found


@pytest.mark.integration  # ffmpeg-made media
@pytest.mark.parametrize("codec, name, format_", [("hevc", "手机拍摄.mp4", "HEVC"), ("wmv", "作品.wmv", "WMV2"),
                                                  ("h264", "作品.mp4", "AVC")])
def test_videos_of_each_codec(codec, name, format_):
    found = probe(name, media.make_video(7.4, 1920, 1080, codec=codec))
    assert (found.kind, found.readable, found.duration_s, found.width, found.height, found.codec) == (
        "video", True, 7.4, 1920, 1080, format_)


def test_exif_strings_whatever_their_bytes():
    photo = media.make_jpeg(width=64, height=48, make="华为".encode("gbk"), model="HUAWEI P40", software="美图秀秀",
                            xp_comment="车间一角")
    assert probe_image(photo)["exif"] == {"make": "华为", "model": "HUAWEI P40", "software": "美图秀秀",
                                          "xp_comment": "车间一角", "datetime_original": "2022:08:20 09:30:00"}


def test_the_software_tag_is_the_bytes_meitu_writes():
    """The maker writes 美图秀秀 as UTF-8 bytes in an ASCII-typed tag, as the app does; Pillow alone misreads it."""
    photo = media.make_jpeg(width=64, height=48, software="美图秀秀")
    with Image.open(io.BytesIO(photo)) as image:
        raw = image.getexif()[0x0131]
    assert raw.encode("latin-1") == "美图秀秀".encode("utf-8")
    assert exif_text(raw) == "美图秀秀"


@pytest.mark.parametrize("value, text", [
    ("Canon\x00", "Canon"), ("  NIKON CORPORATION ", "NIKON CORPORATION"),
    ("醒图".encode("utf-8").decode("latin-1"), "醒图"),  # as Pillow hands over UTF-8
    ("小米手机".encode("gb18030").decode("latin-1"), "小米手机"),  # as Pillow hands over GBK
    (b"Snapseed 2.0\x00junk", "Snapseed 2.0"), ((77, 101, 105, 116, 117), "Meitu"),
    ("\xff\xfe\xfd", "\xff\xfe\xfd"),  # neither UTF-8 nor GB18030: kept as Latin-1, never an error
])
def test_exif_text(value, text):
    assert exif_text(value) == text


def test_pdfs_are_documents_and_count_as_forms():
    text = media.make_pdf_text(["阅读推广人风采展示作品申报表", "姓名：唐丽华", "联系电话：13873851234"])
    scan = media.make_pdf_scan(620, 877)
    assert b"/STSong-Light" in text and b"/Subtype /Image" not in text  # a text layer
    assert b"/Subtype /Image" in scan and b"/Font" not in scan  # a picture of the paper form, nothing else
    for name, data in (("附件1.pdf", text), ("扫描.pdf", scan)):
        found = probe(name, data)
        assert (found.kind, found.mime, found.readable) == ("document", "application/pdf", True)
        assert is_form(found.filename, found.kind)


def test_an_xls_form_is_a_document_by_content():
    found = probe("附件2.xls", (DATA / "annex2.xls").read_bytes(), "application/vnd.ms-excel")
    assert (found.kind, is_form(found.filename, found.kind)) == ("document", True)


def test_a_jpeg_of_a_paper_form_is_an_image():
    found = probe("申报表.jpg", media.make_jpeg(width=120, height=160))
    assert (found.kind, found.width, found.height, found.exif["make"]) == ("image", 120, 160, "Canon")
