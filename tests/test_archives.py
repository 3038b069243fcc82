"""Archives of each kind opened within limits, members streamed into the real attachment store by hash.

Members are probed like direct attachments (a 组照 of four JPEGs in one archive is four photos); an
encrypted, broken or over-limit archive is a probe with readable=False and a Chinese note.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from conftest import CORPUS

from inbox_daemon.archives import ArchiveLimits
from inbox_daemon.demo import media
from inbox_daemon.parse import Attachment, attachment_kind, parse_message
from inbox_daemon.probe import probe_attachments
from inbox_daemon.blobs import BlobStore

DATA = Path(__file__).parent / "data"
CAMERA = [(f"DSC_00{i}.JPG", media.make_jpeg(width=320, height=240, seed=40 + i, make="NIKON CORPORATION",
                                             model="NIKON D750")) for i in range(4)]


class Store:
    """The real attachment store, counting what goes into it."""

    def __init__(self, root: Path):
        self.blobs = BlobStore(root)
        self.puts = 0

    def put(self, chunks):
        self.puts += 1
        return self.blobs.put_chunks("att", chunks)

    def path_of(self, sha256: str) -> Path:
        return self.blobs.path("att", sha256)

    def attach(self, name: str, data: bytes) -> Attachment:
        """An attachment as the pipeline has it: already in the store."""
        sha256, size = self.blobs.put_chunks("att", (data,))
        kind, mime = attachment_kind(data, name, "application/octet-stream")
        return Attachment(name, "application/octet-stream", mime, kind, size, sha256, stored=True)

    def probe(self, name: str, data: bytes, **limits):
        extra = {"archive_limits": ArchiveLimits(**limits)} if limits else {}
        return probe_attachments([self.attach(name, data)], self.path_of, put=self.put, **extra)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "files")


def photos_in(probes) -> list[tuple]:
    return [(p.filename, p.kind, p.width, p.height, p.exif.get("model"), p.inside) for p in probes[1:]]


@pytest.mark.parametrize("name, make", [
    ("组照.zip", lambda files: media.make_zip(files)),
    ("组照.zip", lambda files: media.make_zip(files, utf8_names=False)),  # Chinese Windows: GBK names, no flag
    ("组照.7z", media.make_7z),
    ("组照.rar", media.make_rar),
])
def test_a_set_of_four_camera_jpegs_in_any_archive_is_four_photos(store, name, make):
    files = [(f"好工人/第{i + 1}张 {n}", data) for i, (n, data) in enumerate(CAMERA)]
    probes = store.probe(name, make(files))
    assert probes[0].kind == "archive" and probes[0].readable and probes[0].note == ""
    assert photos_in(probes) == [(f"第{i + 1}张 DSC_00{i}.JPG", "image", 320, 240, "NIKON D750", name)
                                 for i in range(4)]
    for probe, (_, data) in zip(probes[1:], files, strict=True):  # in the store by hash, byte for byte
        assert probe.sha256 == hashlib.sha256(data).hexdigest() == hashlib.sha256(
            store.path_of(probe.sha256).read_bytes()).hexdigest()
    names = [p.name for p in store.blobs.root.rglob("*") if p.is_file()]
    assert all(len(n) == 64 for n in names)  # no file anywhere under a sender's name


def test_the_stored_rar_is_a_real_rar(tmp_path):
    """The RAR writer follows RARLAB's format description: rarfile checks every CRC of it."""
    import rarfile
    path = tmp_path / "x.rar"
    path.write_bytes(media.make_rar(CAMERA))
    with rarfile.RarFile(path) as archive:
        archive.testrar()
        assert [(i.filename, i.file_size) for i in archive.infolist()] == [(n, len(d)) for n, d in CAMERA]


@pytest.mark.parametrize("name", ["rar5-crc.rar", "rar5-solid.rar", "seektest.rar"])
def test_compressed_and_solid_rar_made_by_rar_itself(store, name):
    probes = store.probe(name, (DATA / name).read_bytes())
    assert probes[0].readable, probes[0].note
    assert [(p.filename, p.size, p.inside) for p in probes[1:]] == [("stest1.txt", 2048, name), ("stest2.txt", 2048, name)]
    assert len({p.sha256 for p in probes[1:]}) == 1  # both members hold the same text, compressed or stored


@pytest.mark.parametrize("name, data, note", [
    ("rar5-psw.rar", (DATA / "rar5-psw.rar").read_bytes(), "压缩包设有密码，无法打开"),
    ("rar5-hpsw.rar", (DATA / "rar5-hpsw.rar").read_bytes(), "压缩包设有密码，无法打开"),  # even the names
    ("密.7z", media.make_7z(CAMERA, password="123456"), "压缩包设有密码，无法打开"),
    ("rar3-solid.rar", (DATA / "rar3-solid.rar").read_bytes(), "无法解压旧版 RAR 的固实压缩包，请改用 zip 或新版 RAR 重新打包"),
    ("半截.zip", media.make_zip(CAMERA)[:6000], "压缩文件已损坏（找不到目录）"),
    ("半截.7z", media.make_7z(CAMERA)[:-40], "压缩文件已损坏"),
    ("半截.rar", media.make_rar(CAMERA)[:5000], "压缩文件已损坏"),
    ("x.tar.gz", b"\x1f\x8b\x08\x00" + bytes(100), "不支持的压缩格式（只接受 zip、rar、7z）"),
])
def test_archives_that_cannot_be_opened_say_why(store, name, data, note):
    probes = store.probe(name, data)
    assert [(p.kind, p.readable, p.note) for p in probes] == [("archive", False, note)]


def test_limits_are_checked_on_what_the_archive_declares_before_extracting(store):
    many = media.make_zip([(f"{i}.jpg", b"x") for i in range(201)])
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.jpg", bytes(300_000_000))
    big = media.make_7z(CAMERA)
    for name, data, limits, note in [
        ("多.zip", many, {}, "压缩包内文件过多（201 个，上限 200 个）"),
        ("炸弹.zip", bomb.getvalue(), {}, "疑为压缩炸弹"),
        ("大.7z", big, {"max_total_bytes": 10_000}, "压缩包解压后过大"),
        ("多.rar", media.make_rar(CAMERA), {"max_members": 3}, "压缩包内文件过多（4 个，上限 3 个）"),
    ]:
        [probe] = store.probe(name, data, **limits)
        assert not probe.readable and note in probe.note, (name, probe.note)
    assert store.puts == 0  # nothing was extracted from any of them


def test_a_member_larger_than_declared_is_cut_off(store):
    """A zip whose headers declare 1,000 bytes for a 5 MB member: extraction stops at the declaration."""
    honest = io.BytesIO()
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.jpg", os.urandom(1000) + bytes(5_000_000))
    data = bytearray(honest.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size, local and central
        at = data.find(signature)
        data[at + offset:at + offset + 4] = (1000).to_bytes(4, "little")
    [probe] = store.probe("谎.zip", bytes(data))
    assert not probe.readable and probe.note == "压缩文件已损坏"
    assert [p.name for p in store.blobs.root.rglob("*") if p.is_file()] == [probe.sha256]  # the zip, no member


def test_nesting_is_opened_one_level_deep_and_shares_the_limits(store):
    inner = media.make_zip(CAMERA[:2])
    middle = media.make_zip([("内层.zip", inner), CAMERA[2]])
    outer = media.make_zip([("中层.zip", middle), CAMERA[3]])
    probes = store.probe("外层.zip", middle)
    assert [(p.filename, p.kind, p.inside, p.readable) for p in probes] == [
        ("外层.zip", "archive", None, True), ("内层.zip", "archive", "外层.zip", True),
        ("DSC_000.JPG", "image", "内层.zip", True), ("DSC_001.JPG", "image", "内层.zip", True),
        ("DSC_002.JPG", "image", "外层.zip", True)]
    probes = store.probe("外层.zip", outer)
    assert [(p.filename, p.readable, p.note) for p in probes if p.kind == "archive"] == [
        ("外层.zip", True, ""), ("中层.zip", True, ""), ("内层.zip", False, "压缩包嵌套层数过多")]
    # the outer zip's 2 members leave room for 1 of the inner zip's 2
    assert [(p.filename, p.readable) for p in store.probe("外层.zip", middle, max_members=3) if p.kind == "archive"] == [
        ("外层.zip", True), ("内层.zip", False)]


def test_without_a_store_members_are_probed_from_a_temporary_spool():
    """probe_attachments(attachments) as callers use it today: bytes in memory, no store."""
    data = media.make_zip(CAMERA)
    attachment = Attachment("组照.zip", "application/zip", "application/zip", "archive", len(data),
                            hashlib.sha256(data).hexdigest(), data)
    probes = probe_attachments([attachment])
    assert [(p.kind, p.width, p.inside) for p in probes[1:]] == [("image", 320, "组照.zip")] * 4


OFFICE_OR_ARCHIVE = re.compile(rb"(?i)application/(zip|x-zip|x-rar|vnd\.rar|x-7z|msword|vnd\.ms-|vnd\.openxml|"
                               rb"octet-stream|x-gzip|gzip|x-bzip)")


def corpus_attachments(kind: str):
    """(message path, attachments of `kind`) over ../shared/corpus, skipping the messages that declare no
    archive or office part at all (a byte search: parsing all 1,444 would take seconds)."""
    if not (CORPUS / "MANIFEST.tsv").exists():
        if os.environ.get("CI"):
            pytest.fail("../shared/corpus is absent")
        pytest.skip("../shared/corpus is absent")
    for path in sorted(CORPUS.rglob("*.eml")):
        raw = path.read_bytes()
        if not OFFICE_OR_ARCHIVE.search(raw):
            continue
        try:
            attachments = parse_message(raw).attachments
        except Exception:  # noqa: BLE001 - parsing is another module's business
            continue
        found = [a for a in attachments if a.kind == kind]
        if found:
            yield str(path.relative_to(CORPUS)), found


def test_every_archive_in_the_corpus_gets_a_probe_and_the_known_ones_read_right():
    seen = {path: [(p.filename, p.readable, p.note, p.inside) for p in probe_attachments(archives)]
            for path, archives in corpus_attachments("archive")}
    assert seen["rspamd/rar4.eml"] == [("f.rar", True, "", None), ("fake.exe", True, "", "f.rar")]
    assert seen["spamassassin/t__data__spam__olevbmacro__zippwmacro.eml"] == [
        ("macro.zip", False, "压缩包设有密码，无法打开", None)]
    assert seen["rspamd/f.zip.gz.eml"] == [("f.zip.gz", False, "不支持的压缩格式（只接受 zip、rar、7z）", None)]
    assert len(seen) >= 15


def test_a_zip_end_record_is_read_before_its_directory(store):
    """Counts and directory size come from the end record: a zip claiming 201 entries is refused even when
    the directory itself is garbage zipfile would choke on (or, in a real attack, a million entries)."""
    data = bytearray(media.make_zip([(f"{i}.jpg", b"x") for i in range(201)]))
    end = data.rfind(b"PK\x05\x06")
    directory = int.from_bytes(data[end + 16:end + 20], "little")
    data[directory:directory + 200] = bytes(200)
    [probe] = store.probe("多.zip", bytes(data))
    assert probe.note == "压缩包内文件过多（201 个，上限 200 个）"
    data[end + 12:end + 16] = (2 * 1024 * 1024).to_bytes(4, "little")  # a 2 MB directory
    data[end + 10:end + 12] = (3).to_bytes(2, "little")
    [probe] = store.probe("大目录.zip", bytes(data))
    assert probe.note == "压缩包目录过大"


def test_members_are_held_to_their_declared_size():
    """The guard every format's bytes pass through (zipfile, libarchive and py7zr keep to the headers as well)."""
    from inbox_daemon.archives import Refused, _bounded
    assert b"".join(_bounded([b"a" * 10, b"b" * 5], 15)) == b"a" * 10 + b"b" * 5
    with pytest.raises(Refused, match="疑为压缩炸弹"):
        list(_bounded([b"a" * 10, b"b" * 6], 15))


def test_7z_members_together_are_held_to_the_declared_total(tmp_path):
    from inbox_daemon.archives import Refused, _SpoolFactory
    factory = _SpoolFactory(tmp_path, declared=15)
    first, second = factory.create("a.jpg"), factory.create("b.jpg")
    first.write(b"a" * 10)
    with pytest.raises(Refused, match="疑为压缩炸弹"):
        second.write(b"b" * 6)
    first.close()
    second.close()
