"""Hostile and broken mail: every message reaches an outcome, quickly, and nothing escapes the store."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import time
import zipfile
from datetime import datetime
from pathlib import Path

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


@pytest.mark.slow
def test_fifty_megabyte_header(run):
    raw = b"From: a@qq.com\r\nSubject: big\r\nX-Junk: " + b"A" * (50 * 1024 * 1024) + b"\r\n\r\nbody\r\n"
    row = run(raw, limit_s=30)  # the raw bytes alone are 50 MB; stored, hashed, parsed
    assert row["outcome"] in OUTCOMES


@pytest.mark.slow
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
    assert any("decompression bomb" in n for n in notes) and any("疑为压缩炸弹" in n for n in notes)


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


# -- hostile forms and archives (issue 10) -------------------------------------

PROMOTER = load_rules(RULES).contests["reading_promoter"].fields
GOOD_FORM = [["姓名", "所在单位及职务", "联系电话"], ["唐丽华", "图书馆 馆员", "13873851234"]]


def rewrite_zip(data: bytes, target, replace: dict) -> None:
    """Copy an office zip to `target` (a path or a file), member by member; `replace[name](handle)` writes that
    member's new content (or adds it) in pieces, so a 300 MB member never sits in memory."""
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        names = source.namelist()
        for name in [*names, *(n for n in replace if n not in names)]:
            if name in replace:
                with out.open(name, "w", force_zip64=True) as handle:
                    replace[name](handle)
            else:
                out.writestr(source.getinfo(name), source.read(name))


def huge_cell_xlsx(target, megabytes: int) -> None:
    """An .xlsx whose only cell is one inline string of `megabytes` MB (it packs to about 1 KB a MB)."""
    def sheet(handle):
        handle.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                     b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
        for _ in range(megabytes):
            handle.write(b"A" * 1024 * 1024)
        handle.write(b"</t></is></c></row></sheetData></worksheet>")
    rewrite_zip(media.make_sheet([["x"]]), target, {"xl/worksheets/sheet1.xml": sheet})


def truncated_docx() -> bytes:
    data = media.make_docx("阅读推广人风采展示作品申报表", GOOD_FORM)
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        document = source.read("word/document.xml")
    out = io.BytesIO()
    rewrite_zip(data, out, {"word/document.xml": lambda handle: handle.write(document[:len(document) // 2])})
    return out.getvalue()


def one_xlsx_member(xml: bytes, name: str) -> bytes:
    out = io.BytesIO()
    rewrite_zip(media.make_xlsx(["姓名", "联系电话"], [["唐丽华", "13873851234"]]), out,
                {name: lambda handle: handle.write(xml)})
    return out.getvalue()


def one_docx_member(xml: bytes, name: str) -> bytes:
    out = io.BytesIO()
    rewrite_zip(media.make_docx("申报表", GOOD_FORM), out, {name: lambda handle: handle.write(xml)})
    return out.getvalue()


def test_forms_that_cannot_be_read_say_why_in_chinese(tmp_path):
    from inbox_daemon.forms import FormLimits, read_form
    huge = tmp_path / "huge.xlsx"
    huge_cell_xlsx(huge, 12)
    billion_laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
                      b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol2;</t></si></sst>')
    many = media.make_sheet([[f"{r}-{c}" for c in range(10)] for r in range(20)])
    empty_rels = b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>'
    strings = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               + b"".join(b"<si><t>%d</t></si>" % i for i in range(51)) + b"</sst>")
    no_workbook = io.BytesIO()
    with zipfile.ZipFile(no_workbook, "w") as z:
        z.writestr("content.xml", "<a/>")
    cases = [
        ("申报表.docx", truncated_docx(), {}, "表格无法读取：文件内容不完整或已损坏"),
        ("申报表.xlsx", huge, {}, "表格无法读取：文件内容过大（单项超过 10 MB）"),
        ("申报表.xlsx", one_xlsx_member(billion_laughs, "xl/worksheets/sheet1.xml"), {}, "表格无法读取：文件含有不允许的 XML 定义"),
        ("申报表.xlsx", many, {"max_cells": 150}, "表格无法读取：单元格过多（超过 150 个）"),
        ("申报表.docx", media.make_docx("表", [["a"] * 10] * 20), {"max_cells": 150}, "表格无法读取：单元格过多（超过 150 个）"),
        ("申报表.xlsx", one_xlsx_member(strings, "xl/sharedStrings.xml"), {"max_shared_strings": 50},
         "表格无法读取：文字条目过多（超过 50 条）"),
        ("申报表.docx", os.urandom(3000), {}, "表格无法读取：文件已损坏，或扩展名与内容不符"),
        # well-formed XML that the libraries still cannot use: their own errors become the same problem
        ("申报表.xlsx", one_xlsx_member(empty_rels, "xl/_rels/workbook.xml.rels"), {}, "表格无法读取：文件已损坏"),
        ("申报表.docx", one_docx_member(b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
                                        "[Content_Types].xml"), {}, "表格无法读取：文件已损坏"),
        ("申报表.xlsx", b"PK\x03\x04" + os.urandom(3000), {}, "表格无法读取：文件已损坏"),
        ("申报表.xlsx", no_workbook.getvalue(), {}, "表格无法读取：不是 Excel 或 Word 文件"),
        ("申报表.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(3000), {}, "表格无法读取：不是有效的 .xls 文件"),
        ("申报表.xls", (Path(__file__).parent / "data" / "annex1.xls").read_bytes(), {"max_xls_bytes": 1000},
         "表格无法读取：文件过大（超过 0 MB）"),
    ]
    for name, source, limits, problem in cases:
        start = time.monotonic()
        result = read_form(name, source, PROMOTER, FormLimits(**limits))
        assert (result.values, result.problem) == ({}, problem), (name, limits)
        assert time.monotonic() - start < 2


def test_a_form_whose_zip_understates_a_member_is_cut_off_at_the_statement():
    """sheet1.xml declared as 1 KB while it holds 200 MB: zipfile stops at 1 KB and its CRC fails."""
    from inbox_daemon.forms import read_form
    out = io.BytesIO()
    huge_cell_xlsx(out, 200)
    data = bytearray(out.getvalue())
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(signature, at + 1)) != -1:
            if name in data[at:at + 120]:
                extra_at = at + (30 if signature == b"PK\x03\x04" else 46) + len(name)
                if data[at + size_at:at + size_at + 4] == b"\xff\xff\xff\xff":  # zip64: the size is in the extra
                    data[extra_at + 4:extra_at + 12] = (1024).to_bytes(8, "little")
                else:
                    data[at + size_at:at + size_at + 4] = (1024).to_bytes(4, "little")
    start = time.monotonic()
    result = read_form("申报表.xlsx", bytes(data), PROMOTER)
    assert result.values == {} and result.problem in ("表格无法读取：文件已损坏", "表格无法读取：文件内容不完整或已损坏")
    assert time.monotonic() - start < 2


def test_openpyxl_parses_with_defusedxml():
    import openpyxl
    assert openpyxl.DEFUSEDXML is True


def test_every_form_in_the_corpus_gives_a_result():
    """Real office files from other projects' mail: a macro workbook, an encrypted Word file, Chinese docx."""
    from test_archives import corpus_attachments

    from inbox_daemon.forms import FormResult, read_form
    results = {}
    for _, documents in corpus_attachments("document"):
        for document in documents:
            result = read_form(document.filename, document.data, PROMOTER)
            assert isinstance(result, FormResult)
            results[document.filename] = result.problem
    assert results["encrypted_word_doc.docx"] == "表格无法读取：文件设有密码，或不是 .xlsx/.docx 格式"
    assert results["2023年个人劳动补贴.docx"] is None and results["nomacro.xlsx"] is None
    assert len(results) > 15


def test_a_truncated_form_no_longer_turns_the_entry_into_an_error(run, clips):
    row = run(compose(sender="a@qq.com", subject="阅读推广人风采展示", body="姓名：唐丽华\n所在单位及职务：图书馆 馆员\n"
                      "联系电话：13873851234", attachments=[("v.mp4", clips["170"], "video/mp4"),
                                                       ("附件1.docx", truncated_docx(), "application/octet-stream")]))
    assert row["outcome"] == "accepted", row["error"]
    from inbox_daemon.analyse import analyse
    [form] = analyse(run.store.blobs, row["raw_sha256"], load_rules(RULES)).forms.values()
    assert (form.grids, form.problem) == ((), "表格无法读取：文件内容不完整或已损坏")  # for the finding to come


def test_archive_members_of_a_judged_entry_are_in_the_store(run):
    photos = [media.make_jpeg(width=64, height=48, seed=i) for i in range(4)]
    row = run(compose(sender="a@163.com", subject="摄影比赛 组照", body="作品名称：工地",
                      attachments=[("组照.zip", media.make_zip([(f"{i}.jpg", p) for i, p in enumerate(photos)]),
                                    "application/zip")]))
    members = [a for a in row["attachments_"] if a["kind"] == "image"]
    assert [m["sha256"] for m in members] == [hashlib.sha256(p).hexdigest() for p in photos]
    assert all(run.store.blobs.path("att", m["sha256"]).read_bytes() == p for m, p in zip(members, photos, strict=True))


# -- the issue-10 trio, measured in a fresh process ------------------------------

MEASURE = r"""
import gc, json, sys, time
from pathlib import Path
from inbox_daemon.demo import media
from inbox_daemon.forms import read_form
from inbox_daemon.parse import Attachment
from inbox_daemon.probe import probe_attachments
from inbox_daemon.rules import load_rules
from inbox_daemon.blobs import BlobStore

kind, path, rules, files = sys.argv[1:]
fields = load_rules(rules).contests["reading_promoter"].fields
blobs = BlobStore(Path(files))

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

def work(kind, path):
    if kind == "form":
        result = read_form(Path(path).name, path, fields)
        return {"problem": result.problem, "values": result.values}
    sha, size = blobs.put_chunks("att", iter(lambda handle=open(path, "rb"): handle.read(1 << 20), b""))
    attachment = Attachment("a.zip", "application/zip", "application/zip", "archive", size, sha, stored=True)
    probes = probe_attachments([attachment], lambda s: blobs.path("att", s),
                               put=lambda chunks: blobs.put_chunks("att", chunks))
    return {"probes": len(probes), "note": probes[0].note}

# Idle: the daemon with its libraries loaded (each reader run once on a small good file).
good = Path(files) / "good"
good.mkdir(parents=True)
(good / "a.xlsx").write_bytes(media.make_sheet([["姓名"], ["x"]]))
(good / "a.docx").write_bytes(media.make_docx("t", [["姓名", "x"]]))
(good / "a.zip").write_bytes(media.make_zip([("a.jpg", media.make_jpeg(width=16, height=16))]))
for name in ("a.xlsx", "a.docx"):
    work("form", good / name)
work("archive", good / "a.zip")
gc.collect()
idle = status("VmRSS:")
try:
    Path("/proc/self/clear_refs").write_text("5")  # start the peak (VmHWM) from here
except OSError:
    pass
start = time.monotonic()
result = work(kind, path)
seconds = time.monotonic() - start
print(json.dumps({"seconds": round(seconds, 2), "above_idle_mb": round((status("VmHWM:") - idle) / 2**20, 1),
                  **result}, ensure_ascii=False))
"""


def measure(kind: str, path, tmp_path) -> dict:
    import json
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path), str(RULES), str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.integration  # child processes and 300 MB of XML
def test_the_issue_10_trio_within_seconds_and_100_mb(tmp_path, capsys):
    huge = tmp_path / "huge-cell.xlsx"
    huge_cell_xlsx(huge, 300)
    truncated = tmp_path / "truncated.docx"
    truncated.write_bytes(truncated_docx())
    thousand = tmp_path / "thousand.zip"
    thumbnail = media.make_jpeg(width=16, height=16)
    thousand.write_bytes(media.make_zip([(f"{i:04d}.jpg", thumbnail) for i in range(1000)]))
    big = tmp_path / "big-member.zip"  # one incompressible 200 MB member, stored: it must stream, not sit in memory
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive, archive.open("video.mp4", "w", force_zip64=True) as handle:
        for _ in range(200):
            handle.write(os.urandom(1024 * 1024))
    cases = [("form", huge, {"problem": "表格无法读取：文件解压后过大（超过 64 MB）", "values": {}}),
             ("form", truncated, {"problem": "表格无法读取：文件内容不完整或已损坏", "values": {}}),
             ("archive", thousand, {"probes": 1, "note": "压缩包内文件过多（1000 个，上限 200 个）"}),
             ("archive", big, {"probes": 2, "note": ""})]
    for number, (kind, path, expected) in enumerate(cases):
        found = measure(kind, path, tmp_path / str(number))
        with capsys.disabled():
            print(f"\n{path.name} ({path.stat().st_size / 1024:.0f} KB): {found['seconds']} s, "
                  f"{found['above_idle_mb']} MB above idle")
        assert {k: found[k] for k in expected} == expected
        assert found["seconds"] < 5 and found["above_idle_mb"] < 100, (path.name, found)
