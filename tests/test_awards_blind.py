"""What a juror sees: the work, never the author's name, unit, phone, sender or receipt."""

from __future__ import annotations

import json
from pathlib import Path

from inbox_daemon.awards.blind import MASK, blind_entry
from inbox_daemon.awards.organization import EntryFacts, table
from inbox_daemon.awards.config import load_awards

RULES = Path(__file__).resolve().parents[1] / "rules"


def test_names_units_phones_and_receipts_are_masked_everywhere():
    entry = {"receipt": "WSP-2022-0007", "sender": "zhurong88@qq.com", "sender_name": "朱镕",
             "fields": json.dumps({"title": "朱镕的护理日记", "author": "朱镕", "unit": "娄底市第一人民医院 心内科",
                                   "phone": "13873881234", "track": "榜样奋斗者",
                                   "bio": "我是娄底市第一人民医院心内科护士朱镕，电话 138-7388-1234，邮箱 zhurong88@qq.com，"
                                          "回执号 WSP-2022-0007。"}, ensure_ascii=False)}
    files = [{"sha256": "a" * 64, "kind": "video", "filename": "朱镕-娄底市第一人民医院.mp4", "duration_s": 170.0,
              "width": 1280, "height": 720},
             {"sha256": "b" * 64, "kind": "form", "filename": "申报表-朱镕.docx"}]
    view = blind_entry(12, entry, files)
    text = json.dumps([view.fields, [f.name for f in view.files]], ensure_ascii=False)
    for secret in ("朱镕", "娄底市第一人民医院", "13873881234", "138-7388-1234", "zhurong88", "WSP-2022-0007"):
        assert secret not in text
    assert view.fields["title"] == f"{MASK}的护理日记"
    assert view.fields["track"] == "榜样奋斗者" and view.fields["bio"].startswith(f"我是{MASK}{MASK}护士{MASK}")
    assert [f.kind for f in view.files] == ["video"] and view.files[0].name == f"{MASK}-{MASK}.mp4"
    assert "author" not in view.fields and "unit" not in view.fields and "phone" not in view.fields


def test_organization_table_counts_units_reports_and_punctuality():
    common = load_awards(RULES).common
    facts = [EntryFacts("micro_video", "accepted", "新化县教育局", "2022-08-10T02:00:00+00:00"),
             EntryFacts("photo", "rejected", "新化县人民医院", "2022-08-11T02:00:00+00:00"),
             EntryFacts("photo", "accepted", "娄底市图书馆", "2022-08-11T02:00:00+00:00"),
             EntryFacts("activity_report", "accepted", "新化县总工会", "2022-09-30T15:00:00+00:00"),  # 23:00 in Loudi
             EntryFacts("activity_report", "accepted", "双峰县总工会", "2022-10-01T01:00:00+00:00")]
    rows = {r.unit: r for r in table(facts, common)}
    xinhua = rows["新化县总工会"]
    assert (xinhua.entries, xinhua.accepted, xinhua.contests, xinhua.reports, xinhua.report_status) == (
        2, 1, {"micro_video", "photo"}, 1, "按时")
    assert rows["双峰县总工会"].report_status == "逾期" and rows["娄星区总工会"].report_status == "未报送"
    assert rows["娄底市图书馆"].listed is False and rows["娄底市图书馆"].accepted == 1


def _photo_with_a_comment(tmp_path: Path, fmt: str) -> Path:
    from PIL import Image
    source = tmp_path / f"src.{fmt.lower()}"
    Image.new("RGB", (64, 48), "red").save(source, fmt, comment="张三 娄底市一中".encode())
    assert Image.open(source).info.get("comment")  # the test photo does carry the name
    return source


def test_juror_copies_and_thumbnails_drop_the_jpeg_and_gif_comment(tmp_path):
    import io
    from PIL import Image
    from inbox_daemon.awards.panel import _clean_image
    from inbox_daemon.web.pages import _thumbnail
    secret = "张三 娄底市一中".encode()
    for fmt in ("JPEG", "GIF"):
        source = _photo_with_a_comment(tmp_path, fmt)
        for suffix in (".jpg", ".png"):
            target = tmp_path / f"juror-{fmt}{suffix}"
            assert _clean_image(source, target)
            assert not Image.open(target).info.get("comment") and secret not in target.read_bytes()
        thumb = _thumbnail(str(source))
        assert thumb and not Image.open(io.BytesIO(thumb)).info.get("comment") and secret not in thumb


def test_the_reporter_and_the_contact_are_masked_too():
    # reading_team's 填报人 (reporter) and activity_report's 联系人 (contact) name a person as well
    for key, value, person in (("reporter", "欧阳晓雯 工会干事", "欧阳晓雯"), ("contact", "贺志刚", "贺志刚")):
        entry = {"receipt": "DS-2022-0003", "sender": "x@qq.com", "sender_name": "",
                 "fields": json.dumps({"title": "书香班组", key: value, "bio": f"本材料由{person}整理并报送。"},
                                      ensure_ascii=False)}
        view = blind_entry(3, entry, [])
        assert person not in json.dumps(view.fields, ensure_ascii=False), (key, view.fields)
        assert view.fields == {"title": "书香班组", "bio": f"本材料由{MASK}整理并报送。"}
