"""Hostile and broken mail: every message reaches an outcome, quickly, and nothing escapes the store."""

from __future__ import annotations

import base64
import io
import os
import struct
import time
import zipfile
from datetime import datetime

import pytest
from conftest import RULES

from inbox_daemon.demo import media
from inbox_daemon.pipeline import Context, process
from inbox_daemon.rules import load_rules
from inbox_daemon.demo.samples import CST, compose
from inbox_daemon.store import RawMessage, Store

OUTCOMES = {"accepted", "rejected", "needs_review", "ignored", "error"}


@pytest.fixture
def run(tmp_path):
    store = Store(tmp_path / "db.sqlite", tmp_path / "files")
    rules = load_rules(RULES)
    context = Context(rules, {"box": tuple(rules.contests)})
    counter = iter(range(1, 10_000))

    def submit(raw: bytes, limit_s: float = 5.0) -> dict:
        pk, _ = store.record_raw(RawMessage("box", "INBOX", 1, str(next(counter)), raw,
                                            datetime(2022, 8, 20, tzinfo=CST)))
        start = time.monotonic()
        outcome = process(store, pk, context)
        elapsed = time.monotonic() - start
        assert outcome in OUTCOMES and elapsed < limit_s, (outcome, elapsed)
        row = store.register.message(pk)
        row["attachments_"] = store.register.attachments(pk)
        row["elapsed"] = elapsed
        return row

    submit.store = store
    submit.root = tmp_path
    return submit


def multipart(parts: list[bytes], boundary: str = "b") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return (b"From: a@qq.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\""
            + boundary.encode() + b"\"\r\n\r\n" + body + b"--" + boundary.encode() + b"--\r\n")


def test_attachment_names_never_become_paths(run):
    names = ["../../../../etc/cron.d/evil", "/etc/passwd", "C:\\Windows\\system32\\x.dll", "a\x00b.mp4", "名" * 1000]
    parts = [(f'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="{n}"\r\n'
              "Content-Transfer-Encoding: base64\r\n\r\n").encode("utf-8", "surrogateescape") + base64.b64encode(b"x" * 10)
             for n in names]
    row = run(multipart([b"Content-Type: text/plain\r\n\r\nhello"] + parts))
    stored = sorted(p for p in run.root.joinpath("files").rglob("*") if p.is_file())
    assert all(len(p.name) == 64 and p.is_relative_to(run.root / "files") for p in stored)
    assert not os.path.exists("/etc/cron.d/evil")
    assert len(row["attachments_"]) == len(names)


def test_ten_thousand_parts(run):
    parts = [b"Content-Type: text/plain\r\n\r\npart %d" % i for i in range(10_000)]
    row = run(multipart(parts))
    assert row["outcome"] in OUTCOMES


def test_hundred_deep_nesting(run):
    raw = "Content-Type: text/plain; charset=utf-8\r\n\r\n作品名称：深".encode("utf-8")
    for depth in range(100):
        raw = (f'Content-Type: multipart/mixed; boundary="d{depth}"\r\n\r\n--d{depth}\r\n'.encode() + raw
               + f"\r\n--d{depth}--".encode())
    row = run(b"From: a@qq.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + raw + b"\r\n")
    assert row["outcome"] in OUTCOMES


def test_fifty_megabyte_header(run):
    raw = b"From: a@qq.com\r\nSubject: big\r\nX-Junk: " + b"A" * (50 * 1024 * 1024) + b"\r\n\r\nbody\r\n"
    row = run(raw, limit_s=30)  # the raw bytes alone are 50 MB; stored, hashed, parsed
    assert row["outcome"] in OUTCOMES


def test_decompression_bomb_image_and_zip_bomb(run):
    from PIL import Image
    bomb = io.BytesIO()
    Image.new("1", (30000, 30000)).save(bomb, "PNG")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("0.jpg", bytes(400_000_000))
    row = run(compose(sender="a@163.com", subject="摄影比赛", body="作品名称：炸弹",
                      attachments=[("bomb.png", bomb.getvalue(), "image/png"),
                                   ("bomb.zip", zipped.getvalue(), "application/zip")]))
    assert row["outcome"] == "rejected"
    notes = [a["meta"] for a in row["attachments_"]]
    assert any("decompression bomb" in n for n in notes) and any("bomb" in n for n in notes if "zip" in n)


def test_video_header_claiming_ten_hours(run, clips):
    data = bytearray(clips["170"])
    for box in (b"mvhd", b"mdhd", b"tkhd"):  # patch every duration the file states
        at = 0
        while (at := data.find(box, at + 1)) != -1:
            version = data[at + 4]
            if version != 0:
                continue
            if box == b"tkhd":
                struct.pack_into(">I", data, at + 4 + 4 + 16, 36000 * 1000)
            else:
                scale = struct.unpack_from(">I", data, at + 4 + 4 + 8)[0]
                struct.pack_into(">I", data, at + 4 + 4 + 12, 36000 * scale)
    row = run(compose(sender="a@qq.com", subject="微视频比赛", body="作品名称：长",
                      attachments=[("long.mp4", bytes(data), "video/mp4")]))
    [video] = row["attachments_"]
    assert video["duration_s"] == 36000.0  # read from the header in milliseconds, without decoding 10 hours
    assert row["outcome"] == "rejected" and "video_too_long" in row["rules"] and "600分00秒" in row["rules"]


def test_invalid_base64_and_not_mail_at_all(run):
    broken = (b"From: a@qq.com\r\nSubject: b64\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n"
              b"--q\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename=v.mp4\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64***=\r\n--q--\r\n")
    assert run(broken)["outcome"] in OUTCOMES
    for junk in (media.make_png(20, 20), os.urandom(5000), b"", b"\x00" * 100, "纯文本，没有任何邮件头".encode("gbk")):
        row = run(junk)
        assert row["outcome"] in OUTCOMES
