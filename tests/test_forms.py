"""Forms read by label in every layout the notice and contestants use: .xlsx, .xls and .docx.

The layouts follow the notice's annexes (a title row, a header row, data rows;
填报人 lines above the table; header cells with line breaks; annex 3's label and
value cells, merged) and the 报名表 contestants make for the other contests.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from conftest import RULES

from inbox_daemon.demo import media
from inbox_daemon.forms import FormResult, read_form
from inbox_daemon.rules import load_rules

DATA = Path(__file__).parent / "data"
CONTESTS = load_rules(RULES).contests


def fields(contest: str):
    return CONTESTS[contest].fields


# Each layout: rows from the top-left cell (None is an empty cell) and merged ranges
# (first row, first column, last row, last column), as people fill the notice's forms in.

ANNEX1 = ([
    ["附件1"],
    ["阅读推广人风采展示作品申报表"],
    ["序号", "姓名", "所在单位及职务", "湘工惠/风芒/新娄底 APP 账号", "作品上传\n时 间", "联系电话", "备 注"],
    [1, None, None, None, None, None, None],  # a template row left empty
    [2, "唐丽华", "娄底市图书馆 馆员", "xgh13873851234", "2022-09-01", "13873851234", None],
    [3], [4], [5],
], [(1, 0, 1, 6)])
ANNEX1_VALUES = {"author": "唐丽华", "unit": "娄底市图书馆 馆员", "app_account": "xgh13873851234",
                 "upload_time": "2022-09-01", "phone": "13873851234"}

ANNEX2 = ([
    ["附件2"],
    ["职工阅读团队风采展示作品申报表"],
    ["填报人姓名：王芳"],
    ["联系电话：0738-8313015"],
    ["序号", "团队名称", "所在单位", "团队人数", "成立时间", "湘工惠/ 风芒/新娄底 APP 账号", "作品\n上传\n时间",
     "活动\n开展\n频次", "成立以来\n开展活动\n场 次", "负责人姓名、\n职务及联系\n电 话"],
    [1, "书香涟源读书会", "涟源市总工会", 12, datetime(2019, 3, 1), "xgh001", "2022-09-10", "每月两次", 60,
     "刘洋 会长 13973812345"],
    [2], [3], [4],
], [(1, 0, 1, 9), (2, 0, 2, 9), (3, 0, 3, 9)])
ANNEX2_VALUES = {"team": "书香涟源读书会", "unit": "涟源市总工会", "members": "12", "founded": "2019-03-01",
                 "app_account": "xgh001", "upload_time": "2022-09-10", "frequency": "每月两次", "sessions": "60",
                 "leader": "刘洋 会长 13973812345",  # the table's 负责人, the 填报人 line above it its own field
                 "reporter": "王芳", "phone": "0738-8313015"}

ANNEX3_TABLE = [
    ["职工书屋名称", "娄底市总工会职工书屋", None, None],
    ["职工书屋详址", "娄底市娄星区长青中街 8 号", None, None],
    ["职工书屋简介 (包含所获荣誉)", "2019 年获评全国职工书屋示范点", None, None],
    ["职工书屋管理人", "张三", "职 务", "馆长"],
    [None, None, "手 机", "13873851234"],
    ["场地面积", "120 平方米", "藏书量", "5000 册"],
    ["开放对象", "全体职工", "有无电子\n阅读设备", "有"],
    ["“湘悦读·工力量”活动\n参与情况及实效(可加\n附件报告包括活动照\n片及媒体报道链接)", "阅读挑战赛活动\n开展情况及实效",
     "参加 300 人", None],
    [None, "阅读推广人、团队\n风采展示情况", "推荐 2 人", None],
    [None, "职工读书活动\n开展情况及实效", "开展 8 场", None],
]
ANNEX3_MERGES = [(0, 1, 0, 3), (1, 1, 1, 3), (2, 1, 2, 3), (3, 0, 4, 0), (3, 1, 4, 1), (7, 0, 9, 0), (7, 2, 7, 3),
                 (8, 2, 8, 3), (9, 2, 9, 3)]
ANNEX3 = ([["附件3"], ["“湘悦读·工力量”主题阅读活动 2022 全市最美职工书屋申报表"], ["申报单位：娄底市总工会"],
           *ANNEX3_TABLE, ["推荐单位负责人签字："]],
          [(1, 0, 1, 3), (2, 0, 2, 3), *[(a + 3, b, c + 3, d) for a, b, c, d in ANNEX3_MERGES]])
ANNEX3_VALUES = {"unit": "娄底市总工会", "title": "娄底市总工会职工书屋", "address": "娄底市娄星区长青中街 8 号",
                 "intro": "2019 年获评全国职工书屋示范点", "manager": "张三", "manager_title": "馆长", "phone": "13873851234",
                 "area": "120 平方米", "books": "5000 册", "open_to": "全体职工", "ereader": "有", "challenge": "参加 300 人",
                 "showcase": "推荐 2 人", "activities": "开展 8 场"}  # every field of annex 3 (bookhouse.toml)

# The 报名表.docx of issue 12: label and value cells, two pairs on a row, the title and bio merged across.
MICRO_VIDEO_FORM = [
    ["作品名称", "我的工地我的家", None, None],
    ["作者姓名", "李明", "性别", "男"],
    ["联系电话", "13873851234", "参赛赛道", "初入职场的奋斗者"],
    ["工作单位或常住地址", "娄底市建设工程公司", None, None],
    ["作者及作品简介（200 字左右）", None, None, None],
    ["李明，娄底市建设工程公司施工员。" + "作品记录了工地上一天的劳动与坚守。" * 6, None, None, None],
]
MICRO_VIDEO_MERGES = [(0, 1, 0, 3), (3, 1, 3, 3), (4, 0, 4, 3), (5, 0, 5, 3)]
MICRO_VIDEO_VALUES = {"title": "我的工地我的家", "author": "李明", "gender": "男", "phone": "13873851234",
                      "track": "初入职场的奋斗者", "unit": "娄底市建设工程公司", "bio": MICRO_VIDEO_FORM[5][0]}

# A photo 报名表 with a two-level header: 作者信息 over 姓名 / 单位 / 联系方式, the other headers merged down.
PHOTO = ([
    ["“好工人·向未来”摄影比赛报名表"],
    ["序号", "作品名称", "作者信息", None, None, "拍摄时间", "拍摄地点", "作品简介"],
    [None, None, "姓 名", "单 位", "联系方式", None, None, None],
    [1, "钢花", "王强", "湖南华菱涟源钢铁有限公司", "139 7381 2345", datetime(2022, 7, 2), "涟钢炼钢厂",
     "炼钢工人在炉前测温取样。"],
], [(0, 0, 0, 7), (1, 2, 1, 4), (1, 0, 2, 0), (1, 1, 2, 1), (1, 5, 2, 5), (1, 6, 2, 6), (1, 7, 2, 7)])
PHOTO_VALUES = {"title": "钢花", "author": "王强", "unit": "湖南华菱涟源钢铁有限公司", "phone": "139 7381 2345",
                "shot_time": "2022-07-02", "shot_place": "涟钢炼钢厂", "description": "炼钢工人在炉前测温取样。"}


def as_docx(layout) -> bytes:
    """A layout as Word holds it: the leading one-cell rows as paragraphs, the rest as one table."""
    rows, merges = layout
    lead = next(i for i, row in enumerate(rows) if len(row) > 1)
    table = [[f"{v.year}年{v.month}月{v.day}日" if isinstance(v, datetime) else v for v in row] for row in rows[lead:]]
    width = max(len(row) for row in table)
    table = [row + [None] * (width - len(row)) for row in table]
    inner = [(a - lead, b, c - lead, d) for a, b, c, d in merges if a >= lead]
    return media.make_docx(str(rows[0][0]), table, [str(r[0]) for r in rows[1:lead]], inner)


CASES = {
    "annex1.xlsx": ("reading_promoter", lambda: media.make_sheet(*ANNEX1), ANNEX1_VALUES),
    "annex1.docx": ("reading_promoter", lambda: as_docx(ANNEX1), ANNEX1_VALUES),
    "annex1.xls": ("reading_promoter", lambda: (DATA / "annex1.xls").read_bytes(), ANNEX1_VALUES),
    "annex2.xlsx": ("reading_team", lambda: media.make_sheet(*ANNEX2), ANNEX2_VALUES),
    "annex2.docx": ("reading_team", lambda: as_docx(ANNEX2), {**ANNEX2_VALUES, "founded": "2019年3月1日"}),
    "annex2.xls": ("reading_team", lambda: (DATA / "annex2.xls").read_bytes(), ANNEX2_VALUES),
    "annex3.docx": ("bookhouse", lambda: media.make_docx("附件3", ANNEX3_TABLE, ["申报单位：娄底市总工会"], ANNEX3_MERGES,
                                                          ["推荐单位负责人签字："]), ANNEX3_VALUES),
    "annex3.xlsx": ("bookhouse", lambda: media.make_sheet(*ANNEX3), ANNEX3_VALUES),
    "annex3.xls": ("bookhouse", lambda: (DATA / "annex3.xls").read_bytes(), ANNEX3_VALUES),
    "micro_video.docx": ("micro_video", lambda: media.make_docx("微视频比赛报名表", MICRO_VIDEO_FORM, (),
                                                                MICRO_VIDEO_MERGES), MICRO_VIDEO_VALUES),
    "micro_video.xlsx": ("micro_video", lambda: media.make_sheet(MICRO_VIDEO_FORM, MICRO_VIDEO_MERGES),
                         MICRO_VIDEO_VALUES),
    "photo.xlsx": ("photo", lambda: media.make_sheet(*PHOTO), PHOTO_VALUES),
    "photo.docx": ("photo", lambda: as_docx(PHOTO), {**PHOTO_VALUES, "shot_time": "2022年7月2日"}),
    "photo.xls": ("photo", lambda: (DATA / "photo.xls").read_bytes(), PHOTO_VALUES),
}


@pytest.mark.parametrize("name", CASES)
def test_every_layout_reads_by_label(name, tmp_path):
    contest, make, expected = CASES[name]
    data = make()
    stored = tmp_path / "stored"
    stored.write_bytes(data)
    for source in (data, stored):  # the bytes, or the file in the attachment store
        result = read_form(name, source, fields(contest))
        assert result == FormResult(expected), name


def test_issue_12_micro_video_form_is_not_read_one_column_off():
    """Two label/value pairs on a row looked like a header row: 作者 became 联系电话, 性别 became 参赛赛道."""
    result = read_form("报名表.docx", media.make_docx("微视频比赛报名表", MICRO_VIDEO_FORM[:3]), fields("micro_video"))
    assert result.values["author"] == "李明" and result.values["gender"] == "男"
    assert result.values["phone"] == "13873851234" and result.values["track"] == "初入职场的奋斗者"


@pytest.mark.parametrize("make", [media.make_sheet, lambda rows, merges: media.make_docx("报名表", rows, (), merges)])
def test_a_label_merged_over_two_columns_is_one_label(make):
    """Word and Excel forms often widen a label over two grid columns: still one label, its value beside it."""
    rows = [["作者姓名", None, "李明", "性别", None, "男"], ["联系电话", None, "13873851234", "参赛赛道", None, "榜样奋斗者"]]
    merges = [(0, 0, 0, 1), (0, 3, 0, 4), (1, 0, 1, 1), (1, 3, 1, 4)]
    assert read_form("报名表", make(rows, merges), fields("micro_video")).values == {
        "author": "李明", "gender": "男", "phone": "13873851234", "track": "榜样奋斗者"}


def test_an_empty_value_cell_is_never_filled_from_the_next_cell():
    table = [row[:] for row in ANNEX3_TABLE]
    table[3][1] = ""  # 管理人 left blank: its neighbour 职 务 is not the manager
    table[4][3] = ""  # 手 机 left blank: nothing to its right at all
    result = read_form("附件3.docx", media.make_docx("附件3", table, (), ANNEX3_MERGES), fields("bookhouse"))
    assert result == FormResult({k: v for k, v in ANNEX3_VALUES.items() if k not in ("unit", "manager", "phone")})


def test_labels_come_from_the_rules_not_from_code():
    renamed = tuple(replace(rule, labels=("参赛者名字",)) if rule.name == "author" else rule
                    for rule in fields("micro_video"))
    form = media.make_sheet([["作品名称", "参赛者名字", "联系电话"], ["夜班", "周敏", "13973812345"]])
    assert read_form("报名表.xlsx", form, renamed).values["author"] == "周敏"
    assert "author" not in read_form("报名表.xlsx", form, fields("micro_video")).values


def test_labels_with_remarks_marks_and_colons_still_match():
    form = media.make_sheet([["*作品名称：", "作者姓名（团队名称）", "联系电话(手机)"], ["夜班", "周敏", "13973812345"]])
    assert read_form("x.xlsx", form, fields("micro_video")).values == {
        "title": "夜班", "author": "周敏", "phone": "13973812345"}


def test_several_lines_in_one_cell_and_a_form_without_fields():
    form = media.make_sheet([["填报人姓名：王芳    联系电话：0738-8313015"], ["团队名称", "书香读书会"]])
    assert read_form("附件2.xlsx", form, fields("reading_team")).values == {
        "reporter": "王芳", "phone": "0738-8313015", "team": "书香读书会"}
    assert read_form("空表.xlsx", media.make_sheet([["备注"], ["无"]]), fields("photo")) == FormResult()


def test_formats_that_are_forms_but_not_read():
    """A .doc, a .wps, a PDF (text or scanned) or a photo of the paper form is present, not read: no problem."""
    for name, data in (("申报表.pdf", media.make_pdf_text(["阅读推广人风采展示作品申报表", "姓名：唐丽华"])),
                       ("扫描件.pdf", media.make_pdf_scan(300, 400)), ("报名表.jpg", media.make_jpeg(width=60, height=80)),
                       ("申报表.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)), ("申报表.wps", b"")):
        assert read_form(name, data, fields("reading_promoter")) == FormResult(), name


def test_the_committed_xls_files_are_real_biff8():
    """Made by Gnumeric from the layouts above (tests/data/README.md); xlrd reads them, merges included."""
    import xlrd
    book = xlrd.open_workbook(DATA / "annex3.xls", formatting_info=True)
    assert book.biff_version == 80
    assert (6, 8, 0, 1) in book.sheet_by_index(0).merged_cells  # 职工书屋管理人 over two rows
