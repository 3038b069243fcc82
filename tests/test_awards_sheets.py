"""Exports read by their header labels (title rows, GBK CSV, label variants); lists written with text cells only."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook, load_workbook

from inbox_daemon.awards.sheets import SheetError, number, read_rows, when, workbook_bytes

COLUMNS = {"title": ("作品名称", "视频标题"), "plays": ("播放量",), "likes": ("点赞",)}


def test_header_found_below_a_title_row_in_a_gbk_csv(tmp_path):
    path = tmp_path / "导出.csv"
    path.write_bytes("风芒数据导出\r\n视频标题,播放量 ,点赞数\r\n《钢花》,\"1,234\",5\r\n,,\r\n守护,1.2万,\r\n".encode("gb18030"))
    rows = read_rows(path, COLUMNS, ("title", "plays"))
    assert [(r.number, r.values) for r in rows] == [
        (3, {"title": "《钢花》", "plays": "1,234", "likes": "5"}), (5, {"title": "守护", "plays": "1.2万", "likes": None})]
    assert number("1,234") == 1234 and number("1.2万") == 12000 and number("四十") is None and number("45分钟") == 45


def test_a_missing_required_column_is_named(tmp_path):
    book = Workbook()
    book.active.append(["标题", "点赞"])
    book.save(tmp_path / "x.xlsx")
    with pytest.raises(SheetError, match="找不到表头中的必需列（title：作品名称/视频标题；plays：播放量）"):
        read_rows(tmp_path / "x.xlsx", COLUMNS, ("title", "plays"))
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(SheetError, match="只支持 .xlsx 和 .csv"):
        read_rows(tmp_path / "x.pdf", COLUMNS, ("title",))


def test_dates_in_the_ways_exports_write_them():
    assert when("2022-08-03") == datetime(2022, 8, 3)
    assert when("2022/8/3 21:05") == datetime(2022, 8, 3, 21, 5)
    assert when("2022年8月3日") == datetime(2022, 8, 3)
    assert when("20220803") == datetime(2022, 8, 3)
    assert when(44776) == datetime(2022, 8, 3)  # an Excel serial date
    assert when("2022-02-30") is None and when("昨天") is None


def test_text_that_looks_like_a_formula_stays_text():
    data = workbook_bytes([("名单", ["作品名称", "作者"], [["=HYPERLINK(\"http://x\",\"点我\")", "+1-2"], ["@SUM(A1)", "朱镕"]])])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    cells = load_workbook(io.BytesIO(data)).worksheets[0]
    assert cells["A2"].value == "=HYPERLINK(\"http://x\",\"点我\")" and cells["A2"].data_type == "s"
