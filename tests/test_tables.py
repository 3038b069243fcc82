"""Spreadsheets organizers hand on: read back with openpyxl (xlsx) and as text (csv).

Entries go through the real pipeline (parse, extract, forms, probes, judge) on a real store; the
media are real files (small JPEGs made with Pillow, a 3-second MP4 made once with ffmpeg and kept in
tests/data, a .docx application form), so these stay pure tests.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import RULES, write_config
from openpyxl import load_workbook

from inbox_daemon.cli import main
from inbox_daemon.demo import media
from inbox_daemon.demo.samples import CST, PUBLICITY, compose
from inbox_daemon.pipeline import Context, process
from inbox_daemon.rules import load_rules
from inbox_daemon.store import RawMessage, Store
from inbox_daemon.tables import FORMULA_START, header_row, layout, write_csv, xlsx_bytes

CLIP = (Path(__file__).parent / "data" / "clip-3s-320x240.mp4").read_bytes()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LONG_BIO = "本人在车间一线工作十年，作品记录了班组同事日夜坚守的平凡瞬间。" * 4
# A formula for every kind of text a spreadsheet cell gets: = + - @, a tab, a carriage return.
FORMULAS = ['=HYPERLINK("http://evil.example/","点此查看")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)",
            "\t=1+1", "\r=1+1"]

ANNEX3_FIELDS = ["申报单位", "职工书屋名称", "职工书屋详址", "职工书屋简介（包含所获荣誉）", "职工书屋管理人", "职务", "手机",
                 "场地面积", "藏书量", "开放对象", "有无电子阅读设备", "阅读挑战赛活动开展情况及实效",
                 "阅读推广人、团队风采展示情况", "职工读书活动开展情况及实效", "填表日期"]


class Desk:
    def __init__(self, root: Path):
        self.store = Store(root / "inbox.db", root / "files")
        self.rules = load_rules(RULES)
        self.context = Context(self.rules, {"all": tuple(self.rules.contests)}, ("robot@example.org",))
        self.uid = 0

    def submit(self, raw: bytes, received: datetime = datetime(2022, 8, 20, 10, 0, tzinfo=CST)) -> dict:
        self.uid += 1
        pk, _ = self.store.record_raw(RawMessage("all", "INBOX", 1, str(self.uid), raw, received))
        process(self.store, pk, self.context)
        return self.store.register.message(pk)


@pytest.fixture
def desk(tmp_path):
    return Desk(tmp_path)


def sheet_rows(data: bytes, title: str | None = None) -> tuple[object, list[str], list[dict]]:
    book = load_workbook(io.BytesIO(data))
    sheet = book[title] if title else book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == "序号")
    header = list(rows[start])
    return sheet, header, [dict(zip(header, row, strict=True)) for row in rows[start + 1:]]


def video_entry(n: int, title: str, **kw) -> bytes:
    lines = [f"作品名称：{title}", f"作者姓名：{kw.get('author', '李明')}", "性别：男",
             f"联系电话：{kw.get('phone', '13873851234')}", f"工作单位：{kw.get('unit', '涟源钢铁集团')}",
             "赛道：榜样奋斗者", f"作者及作品简介：{kw.get('bio', LONG_BIO)}"]
    return compose(sender=kw.get("sender", f"w{n}@qq.com"), subject="微视频比赛", body="\n".join(lines),
                   attachments=[(f"v{n}.mp4", CLIP + n.to_bytes(2, "big"), "video/mp4")])


def test_a_formula_in_every_exported_column_type_stays_text(desk, tmp_path):
    """Title, author, unit, bio, team, phone (as written when invalid), a date field, a number field, the
    sender and the form-read columns: nothing opens as a formula in Excel or WPS."""
    for n, formula in enumerate(FORMULAS):
        desk.submit(video_entry(n, formula, author=formula, unit=formula, bio=formula + LONG_BIO, phone=formula,
                                sender=f"={n}@qq.com"))
        desk.submit(compose(sender=f"t{n}@qq.com", subject="职工阅读团队风采展示", body="附件为申报表",
                            attachments=[("t.mp4", CLIP + b"t" + bytes([n]), "video/mp4"),
                                         ("附件2.xlsx", media.make_xlsx(
                                             ["团队名称", "所在单位", "团队人数", "成立时间", "负责人姓名、职务及联系电话",
                                              "联系电话", "活动开展频次"],
                                             [[formula, formula, formula, formula, formula, "13873851234", formula]]),
                                          XLSX)]))
    texts_seen = set()
    for contest in ("micro_video", "reading_team", None):
        data, count = xlsx_bytes(desk.store, desk.rules, contest)
        assert count == len(FORMULAS) * (1 if contest else 2)
        for sheet in load_workbook(io.BytesIO(data)).worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                    if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
                        assert cell.quotePrefix, cell.coordinate
                        texts_seen.add(cell.value)
        out = io.StringIO()
        write_csv(desk.store, desk.rules, contest, out)
        for row in csv.reader(io.StringIO(out.getvalue().lstrip("\ufeff"))):
            for value in row:
                assert not value.startswith(FORMULA_START), value
    assert {f for f in FORMULAS if f.strip() == f} <= texts_seen  # kept exactly, as text (the rest get trimmed)
    assert "=0@qq.com" in texts_seen  # the sender column too


def test_received_time_is_a_real_date_cell_on_the_contest_clock(desk):
    received = datetime(2022, 9, 30, 23, 30, tzinfo=CST)  # 15:30 UTC: the wrong clock would say 09-30 15:30
    desk.submit(video_entry(1, "守护"), received=received)
    data, _ = xlsx_bytes(desk.store, desk.rules, "micro_video")
    sheet, header, rows = sheet_rows(data)
    [row] = rows
    assert row["收到时间"] == datetime(2022, 9, 30, 23, 30)
    cell = sheet.cell(header_row(layout(desk.rules, "micro_video")) + 1, header.index("收到时间") + 1)
    assert cell.is_date and cell.number_format == "yyyy-mm-dd hh:mm"
    out = io.StringIO()
    write_csv(desk.store, desk.rules, "micro_video", out)
    assert "2022-09-30 23:30" in out.getvalue()


def test_video_and_photo_columns(desk):
    desk.submit(video_entry(1, "守护"))
    small = [media.make_jpeg(width=400, height=300, seed=s) for s in range(5)]
    desk.submit(compose(sender="a@163.com", to=PUBLICITY, subject="摄影比赛 单幅", body="作品名称：炉前工",
                        attachments=[("a.jpg", small[0], "image/jpeg")]))
    desk.submit(compose(sender="b@163.com", to=PUBLICITY, subject="摄影比赛 组照", body="作品名称：梯田",
                        attachments=[(f"b{i}.jpg", small[i], "image/jpeg") for i in range(1, 5)]))
    _, header, [video] = sheet_rows(xlsx_bytes(desk.store, desk.rules, "micro_video")[0])
    assert header[-7:-5] == ["视频时长", "分辨率"]
    assert (video["视频时长"], video["分辨率"]) == ("3秒", "320×240")
    _, header, photos = sheet_rows(xlsx_bytes(desk.store, desk.rules, "photo")[0])
    by_title = {row["作品名称"]: row for row in photos}
    assert (by_title["炉前工"]["单幅/组照"], by_title["炉前工"]["照片幅数"]) == ("单幅", 1)
    assert (by_title["梯田"]["单幅/组照"], by_title["梯田"]["照片幅数"]) == ("组照", 4)
    assert by_title["炉前工"]["审核结果"] == "未通过" and "照片文件太小" in by_title["炉前工"]["问题"]


def test_annex_headers_exactly(desk):
    data, _ = xlsx_bytes(desk.store, desk.rules, "reading_promoter")
    sheet, header, _ = sheet_rows(data)
    assert sheet["A1"].value == "附件1 阅读推广人风采展示作品申报表"
    assert header[:7] == ["序号", "姓名", "所在单位及职务", "湘工惠/风芒/新娄底 APP 账号", "作品上传时间", "联系电话", "备注"]
    data, _ = xlsx_bytes(desk.store, desk.rules, "reading_team")
    sheet, header, _ = sheet_rows(data)
    assert [sheet["A1"].value, sheet["A2"].value, sheet["A3"].value] == [
        "附件2 职工阅读团队风采展示作品申报表", "填报人姓名：", "联系电话："]
    assert header[:12] == ["序号", "团队名称", "所在单位", "团队人数", "成立时间", "湘工惠/风芒/新娄底 APP 账号", "作品上传时间",
                           "活动开展频次", "成立以来开展活动场次", "负责人姓名、职务及联系电话", "填报人姓名", "填报人联系电话"]
    assert header[12:] == ["回执号", "审核结果", "问题", "收到时间", "发件人"]
    assert sheet.freeze_panes == "A5"
    _, header, _ = sheet_rows(xlsx_bytes(desk.store, desk.rules, "bookhouse")[0])
    assert header[1:16] == ANNEX3_FIELDS


def test_the_bookhouse_sheet_holds_every_annex_3_field_of_the_form(desk):
    values = ["新化县总工会", "新化县总工会职工书屋", "新化县上梅镇天华南路 18 号", "2020 年获评全国职工书屋示范点", "罗芳",
              "办公室主任", "13974381234", "120平方米", "8000册", "全县职工及家属", "有", "组织 1260 名会员参加",
              "推荐阅读推广人 2 名", "开展读书分享会 8 场", "2022-09-25"]
    form = media.make_docx("最美职工书屋申报表", [[label, value] for label, value in zip(ANNEX3_FIELDS, values, strict=True)])
    desk.submit(compose(sender="xhgh@163.com", to=PUBLICITY, subject="最美职工书屋申报", body="附件为申报表",
                        attachments=[("附件3 最美职工书屋申报表.docx", form, DOCX)]))
    _, header, [row] = sheet_rows(xlsx_bytes(desk.store, desk.rules, "bookhouse")[0])
    expected = dict(zip(ANNEX3_FIELDS, values, strict=True))
    expected["填表日期"] = datetime(2022, 9, 25)  # a date cell (openpyxl reads dates back as datetimes)
    assert {k: row[k] for k in ANNEX3_FIELDS} == expected
    assert row["审核结果"] == "已登记"


def test_export_outcome_filter_in_chinese_and_english(desk, tmp_path):
    desk.submit(video_entry(1, "完整的作品"))
    desk.submit(video_entry(2, "缺电话", phone=""))
    config = write_config(tmp_path, [{"name": "all", "source": "maildir", "path": str(tmp_path / "md"),
                                      "contests": ["micro_video"]}])
    # the config's database is elsewhere: point it at the desk's store
    text = config.read_text(encoding="utf-8").replace(f"{tmp_path}/data/inbox.db", f"{tmp_path}/inbox.db")
    config.write_text(text.replace(f"{tmp_path}/data/files", f"{tmp_path}/files"), encoding="utf-8")
    runner = CliRunner()
    for word in ("已登记", "accepted", "通过"):
        out = tmp_path / f"{word}.csv"
        result = runner.invoke(main, ["--config", str(config), "export", "--format", "csv", "--outcome", word,
                                      "-o", str(out)])
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
        assert [r["作品名称"] for r in rows] == ["完整的作品"] and rows[0]["审核结果"] == "已登记"
    out = tmp_path / "both.xlsx"
    result = runner.invoke(main, ["--config", str(config), "export", "--format", "xlsx", "--outcome", "未通过",
                                  "--outcome", "已登记", "-o", str(out)])
    assert result.exit_code == 0 and "已导出 2 件作品" in result.output
    wrong = runner.invoke(main, ["--config", str(config), "export", "--format", "csv", "--outcome", "待审"])
    assert wrong.exit_code == 2 and "不认识的结果“待审”" in wrong.output and "待人工审核（needs_review）" in wrong.output
    unknown = runner.invoke(main, ["--config", str(config), "export", "--format", "csv", "--contest", "video"])
    assert unknown.exit_code == 1 and "未知的比赛 video" in unknown.output and "micro_video" in unknown.output


def test_every_value_of_an_entry_reads_back(desk):
    row = desk.submit(video_entry(1, "守护", unit="娄底市中心医院"))
    fields = json.loads(row["fields"])
    _, header, [record] = sheet_rows(xlsx_bytes(desk.store, desk.rules, "micro_video")[0])
    assert header[:9] == ["序号", "作品名称", "作者姓名", "团队名称", "性别", "联系电话", "工作单位或常住地址", "作者及作品简介", "赛道"]
    for label, name in (("作品名称", "title"), ("作者姓名", "author"), ("联系电话", "phone"),
                        ("工作单位或常住地址", "unit"), ("作者及作品简介", "bio"), ("赛道", "track")):
        assert record[label] == fields[name]
    assert record["回执号"] == row["receipt"] and record["发件人"] == "w1@qq.com" and record["序号"] == 1
    assert isinstance(record["收到时间"], datetime) and record["收到时间"].date() == date(2022, 8, 20)


def test_every_rule_id_has_words_for_organizers():
    from inbox_daemon.reply import finding_title, wording

    rules = load_rules(RULES)
    assert set(rules.common.severities) <= set(wording()["findings"])
    assert finding_title("field_missing:phone", rules.contests["micro_video"]) == "缺少“联系电话”"
