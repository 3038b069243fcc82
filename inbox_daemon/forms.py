"""Application forms (notice annexes 1-3 and the 报名表 of every contest) read from .xlsx, .xls and .docx.

A form is matched by its labels, never by position: the labels are the
contest's field labels from the rules. Three layouts occur, often together:
a header row of labels with the entry in the first filled row below it (annexes
1 and 2, under a title row), label cells each followed by their value (annex 3,
several pairs on a row), and `label：value` lines (填报人姓名：… above a table).
Merged cells keep one value and one identity over their whole span.

A form is a stranger's zip of XML: before any library parses it, every member is
held to size limits and every XML member is read once by defusedxml, refusing
DTDs and entities and counting cells and shared strings. A broken or oversized
form is a result with a Chinese `problem`, never an exception.
"""

from __future__ import annotations

import io
import logging
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from .archives import Refused, zip_directory
from .extract import labelled_values
from .rules import FieldRule

log = logging.getLogger(__name__)

FORM_EXTENSIONS = ("xlsx", "xls", "docx", "doc", "wps", "et", "pdf")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
XML_START = re.compile(rb"^(\xef\xbb\xbf)?\s*<")
BRACKETED = re.compile(r"[(（【\[][^)）】\]]*[)）】\]]")
CHUNK = 256 * 1024


@dataclass(frozen=True)
class FormLimits:
    """What a form may hold; a real annex form is a few hundred cells in a few hundred KB."""

    max_members: int = 500
    max_member_packed: int = 10 * 1024**2  # compressed size of any one member
    max_member_bytes: int = 10 * 1024**2  # uncompressed size of any one member (an XML sheet, a picture)
    max_total_bytes: int = 64 * 1024**2  # all members together, uncompressed
    max_elements: int = 500_000  # XML elements in one member
    max_cells: int = 50_000  # table cells in the whole form
    max_shared_strings: int = 50_000
    max_xls_bytes: int = 8 * 1024**2


@dataclass(frozen=True)
class FormResult:
    """The fields a form gave, and what kept it from being read (Chinese, for the finding) when it could not be."""

    values: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


DEFAULT_LIMITS = FormLimits()


class Unreadable(Exception):
    """Why a form cannot be read, in Chinese (after "表格无法读取：")."""


@dataclass(frozen=True)
class Cell:
    text: str
    origin: tuple[int, int]  # the top-left cell of its merged range (itself when not merged)


Grid = list[list[Cell]]


@dataclass(frozen=True)
class FormTable:
    """A form's cells as read, before anyone knows which contest's labels to look for: loading is I/O on a
    stranger's file (it may run in a worker under a time limit), matching the labels is pure."""

    grids: tuple[tuple[tuple[Cell, ...], ...], ...] = ()
    problem: str | None = None  # why it could not be read (it still counts as a form)


# -- matching by label -------------------------------------------------------

def _key(text: str) -> str:
    """A label as compared: NFKC, no spaces or line breaks (作品上传\\n时 间), no required-marks or colons."""
    key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "")).lower()
    return key.strip("*＊").rstrip(":：")


class Labels:
    """The contest's field labels, found in a cell exactly, or once remarks in brackets are set aside
    (职工书屋简介（包含所获荣誉）, 作者姓名(团队名称)). A label's place in the rule's list is its rank: where
    a form gives one field under two labels (负责人 in the table, 填报人姓名 above it), the earlier label wins."""

    LINE_RANK = 1000  # a `label：value` line ranks after every labelled cell

    def __init__(self, fields: tuple[FieldRule, ...]):
        self.fields = fields
        self.by_key: dict[str, tuple[str, int]] = {}
        for rule in fields:
            for rank, label in enumerate(rule.labels):
                self.by_key.setdefault(_key(label), (rule.name, rank))

    def match(self, text: str) -> tuple[str, int] | None:
        key = _key(text)
        if not key or len(key) > 40:
            return None
        return self.by_key.get(key) or self.by_key.get(_key(BRACKETED.sub("", text)))

    def field(self, text: str) -> str | None:
        found = self.match(text)
        return found[0] if found else None


class Found:
    """Values by field, each with the rank of the label it was found under."""

    def __init__(self):
        self.ranked: dict[str, tuple[int, str]] = {}

    def offer(self, name: str, rank: int, value: str) -> None:
        if value and (name not in self.ranked or rank < self.ranked[name][0]):
            self.ranked[name] = (rank, value)

    def values(self) -> dict[str, str]:
        return {name: value for name, (_, value) in self.ranked.items()}


def _distinct(row: list[Cell]) -> list[tuple[int, Cell]]:
    """Each merged range once, at its first column."""
    seen, cells = set(), []
    for c, cell in enumerate(row):
        if cell.origin not in seen:
            seen.add(cell.origin)
            cells.append((c, cell))
    return cells


def _is_header(row: list[Cell], labels: Labels) -> bool:
    """A header row names two fields side by side; a label/value row (作者姓名 | 张三 | 性别 | 男) never does."""
    names = [labels.field(cell.text) for _, cell in _distinct(row)]
    return sum(1 for n in names if n) >= 2 and any(a and b for a, b in zip(names, names[1:], strict=False))


def _value(cell: Cell, labels: Labels) -> str:
    text = cell.text.strip()
    return "" if labels.field(text) else text


def _read_table(grid: Grid, r: int, labels: Labels, found: Found) -> None:
    """The first row under a header row with a value in a labelled column: template rows with only a 序号 are
    passed over, and so is a second header row (its own labels are read as a header in their turn)."""
    columns = {c: match for c, cell in enumerate(grid[r]) if (match := labels.match(cell.text))}
    for row in grid[r + 1:]:
        values = [(*columns[c], value) for c, cell in enumerate(row) if c in columns and (value := _value(cell, labels))]
        if values:
            for name, rank, value in values:
                found.offer(name, rank, value)
            return


def _read_pairs(grid: Grid, r: int, labels: Labels, found: Found) -> None:
    """Each label cell's value is the next cell to its right; a label with nothing to its right (a full-width
    作者及作品简介 row) has its value in the cell below. An empty value cell stays empty: never the next one over."""
    cells = _distinct(grid[r])
    for i, (c, cell) in enumerate(cells):
        match = labels.match(cell.text)
        if not match:
            continue
        if i + 1 < len(cells):
            value = _value(cells[i + 1][1], labels)
        elif r + 1 < len(grid) and c < len(grid[r + 1]) and grid[r + 1][c].origin != cell.origin:
            value = _value(grid[r + 1][c], labels)
        else:
            value = ""
        found.offer(*match, value)


def _read_lines(grid: Grid, labels: Labels, found: Found) -> None:
    """`label：value` inside one cell or paragraph (填报人姓名：张三    联系电话：138…)."""
    for row in grid:
        for _, cell in _distinct(row):
            if ("：" in cell.text or ":" in cell.text) and not labels.field(cell.text):
                for name, value in labelled_values(cell.text, labels.fields).items():
                    found.offer(name, Labels.LINE_RANK, value)


def fields_from_grids(grids: Iterable[Grid], fields: tuple[FieldRule, ...]) -> dict[str, str]:
    """Field values from the tables and lines of a form: by label rank, then in document order."""
    labels = Labels(fields)
    found = Found()
    for grid in grids:
        for r, row in enumerate(grid):
            if _is_header(row, labels):
                _read_table(grid, r, labels, found)
            else:
                _read_pairs(grid, r, labels, found)
        _read_lines(grid, labels, found)
    return found.values()


def grid_of(rows: list[list[str]], merged: Iterable[tuple[int, int, int, int]] = ()) -> Grid:
    """Rows of text as a grid; `merged` ranges (first row, last row, first column, last column, inclusive)
    carry their top-left text and identity over their span."""
    width = max((len(row) for row in rows), default=0)
    grid = [[Cell(row[c] if c < len(row) else "", (r, c)) for c in range(width)] for r, row in enumerate(rows)]
    for top, bottom, left, right in merged:
        if top >= len(grid) or left >= width:
            continue
        origin = grid[top][left]
        for r in range(top, min(bottom, len(grid) - 1) + 1):
            for c in range(left, min(right, width - 1) + 1):
                grid[r][c] = origin
    return grid


# -- the office zip: limits and a defused read of every XML member ------------

class _Counter:
    """An XML parser target that keeps nothing: it counts elements, cells and shared strings."""

    def __init__(self, limits: FormLimits, totals: dict[str, int]):
        self.limits, self.totals, self.elements = limits, totals, 0

    def start(self, tag: str, attrib: dict) -> None:
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise Unreadable("文件结构过于庞大")
        namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        if local == "c" and "spreadsheetml" in namespace or local == "tc" and "wordprocessingml" in namespace:
            self.totals["cells"] += 1
            if self.totals["cells"] > self.limits.max_cells:
                raise Unreadable(f"单元格过多（超过 {self.limits.max_cells} 个）")
        elif local == "si" and "spreadsheetml" in namespace:
            self.totals["strings"] += 1
            if self.totals["strings"] > self.limits.max_shared_strings:
                raise Unreadable(f"文字条目过多（超过 {self.limits.max_shared_strings} 条）")

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _check_xml(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: FormLimits, totals: dict[str, int]) -> None:
    parser = DefusedXMLParser(target=_Counter(limits, totals), forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    with archive.open(info) as member:
        while chunk := member.read(CHUNK):
            parser.feed(chunk)
    parser.close()


def _opened(source):
    return open(source, "rb") if isinstance(source, (str, Path)) else io.BytesIO(source)


def _office_kind(source, limits: FormLimits) -> str:
    """"xlsx" or "docx" once every member is within the limits and every XML member has parsed safely."""
    with _opened(source) as handle:
        try:
            entries, directory = zip_directory(handle)
        except Refused as err:
            raise Unreadable("文件已损坏") from err
        if entries > limits.max_members or directory > limits.max_members * 1024:
            raise Unreadable("文件内部条目过多")
        try:
            archive = zipfile.ZipFile(handle)
            infos = archive.infolist()
            names = {info.filename for info in infos}
            if sum(i.file_size for i in infos) > limits.max_total_bytes:
                raise Unreadable(f"文件解压后过大（超过 {limits.max_total_bytes // 1024**2} MB）")
            totals = {"cells": 0, "strings": 0}
            for info in infos:
                if info.flag_bits & 0x1:
                    raise Unreadable("文件设有密码")
                if info.file_size > limits.max_member_bytes or info.compress_size > limits.max_member_packed:
                    raise Unreadable(f"文件内容过大（单项超过 {limits.max_member_bytes // 1024**2} MB）")
            for info in infos:
                with archive.open(info) as member:
                    head = member.read(64)
                if XML_START.match(head):
                    _check_xml(archive, info, limits, totals)
        except (zipfile.BadZipFile, EOFError, NotImplementedError, OSError) as err:
            raise Unreadable("文件已损坏") from err
        except (ParseError, UnicodeDecodeError) as err:
            raise Unreadable("文件内容不完整或已损坏") from err
        except DefusedXmlException as err:
            raise Unreadable("文件含有不允许的 XML 定义") from err
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "word/document.xml" in names:
        return "docx"
    raise Unreadable("不是 Excel 或 Word 文件")


# -- the three formats ---------------------------------------------------------

def _text(value) -> str:
    """A cell value as a person would have typed it: dates as ISO dates, 13873851234.0 as 13873851234."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_grids(source) -> list[Grid]:
    from openpyxl import load_workbook

    with _opened(source) as handle:  # a file object: openpyxl refuses a stored path for its lack of extension
        book = load_workbook(handle, data_only=True, keep_links=False, rich_text=False)
    grids = []
    for sheet in book.worksheets:
        rows = [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]  # from A1
        merged = [(m.min_row - 1, m.max_row - 1, m.min_col - 1, m.max_col - 1) for m in sheet.merged_cells.ranges]
        grids.append(grid_of(rows, merged))
    book.close()
    return grids


def _xls_grids(source, limits: FormLimits) -> list[Grid]:
    import xlrd
    from xlrd.compdoc import CompDocError

    size = os.path.getsize(source) if isinstance(source, (str, Path)) else len(source)
    if size > limits.max_xls_bytes:
        raise Unreadable(f"文件过大（超过 {limits.max_xls_bytes // 1024**2} MB）")
    contents = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    try:
        book = xlrd.open_workbook(file_contents=contents, formatting_info=True, on_demand=True, ragged_rows=True)
    except (xlrd.XLRDError, CompDocError) as err:
        raise Unreadable("文件设有密码" if "ncrypt" in str(err) else "不是有效的 .xls 文件") from err
    grids, cells = [], 0
    for index in range(book.nsheets):
        sheet = book.sheet_by_index(index)
        rows = []
        for r in range(sheet.nrows):
            row = sheet.row(r)
            cells += len(row)
            if cells > limits.max_cells:
                raise Unreadable(f"单元格过多（超过 {limits.max_cells} 个）")
            rows.append([_xls_text(cell, book.datemode) for cell in row])
        grids.append(grid_of(rows, [(t, b - 1, lo, hi - 1) for t, b, lo, hi in sheet.merged_cells]))
        book.unload_sheet(index)
    return grids


def _xls_text(cell, datemode: int) -> str:
    import xlrd

    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return _text(xlrd.xldate_as_datetime(cell.value, datemode))
        except (ValueError, OverflowError):
            return _text(cell.value)
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return ""
    return _text(cell.value)


def _docx_grids(source) -> list[Grid]:
    """Tables and paragraphs in document order; consecutive paragraphs form one grid of one-cell rows."""
    from docx import Document
    from docx.table import Table

    with _opened(source) as handle:
        document = Document(handle)
    grids: list[Grid] = []
    lines: list[list[str]] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            if lines:
                grids.append(grid_of(lines))
                lines = []
            grids.append(_docx_table(block))
        elif block.text.strip():
            lines.append([block.text])
    if lines:
        grids.append(grid_of(lines))
    return grids


def _docx_table(table) -> Grid:
    """python-docx gives a merged cell once per grid column it spans and once per row it spans downwards:
    the same underlying element, which becomes the cell's identity."""
    origins: dict[object, tuple[int, int]] = {}
    grid = []
    for r, row in enumerate(table.rows):
        cells = []
        for c, cell in enumerate(row.cells):
            origin = origins.setdefault(cell._tc, (r, c))
            cells.append(Cell(cell.text, origin))
        grid.append(cells)
    return grid


def _kind_of(filename: str, head: bytes) -> str | None:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if head.startswith(b"PK"):
        return "zip"
    if head.startswith(OLE_MAGIC):
        return "xls" if extension == "xls" else ("encrypted" if extension in ("xlsx", "docx") else None)
    return "broken" if extension in ("xlsx", "docx", "xls") else None


def load_form(filename: str, source: str | Path | bytes, limits: FormLimits = DEFAULT_LIMITS) -> FormTable:
    """The tables and lines of a .xlsx, .xls or .docx form (`source` is its stored path or its bytes). Other
    formats (.doc, .wps, .et, .pdf, images) count as present but are not read."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            head = handle.read(8)
    else:
        head = bytes(source[:8])
    kind = _kind_of(filename, head)
    try:
        if kind is None:
            return FormTable()
        if kind == "encrypted":
            raise Unreadable("文件设有密码，或不是 .xlsx/.docx 格式")
        if kind == "broken":
            raise Unreadable("文件已损坏，或扩展名与内容不符")
        if kind == "xls":
            grids = _xls_grids(source, limits)
        elif _office_kind(source, limits) == "xlsx":
            grids = _xlsx_grids(source)
        else:
            grids = _docx_grids(source)
        return FormTable(tuple(tuple(map(tuple, grid)) for grid in grids))
    except Unreadable as err:
        problem = f"表格无法读取：{err}"
    except Exception:  # noqa: BLE001 - the edge where a stranger's file meets three libraries' own errors
        log.warning("form %r could not be parsed", filename, exc_info=True)
        problem = "表格无法读取：文件已损坏"
    log.info("form %r unreadable: %s", filename, problem)
    return FormTable(problem=problem)


def read_form(filename: str, source: str | Path | bytes, fields: tuple[FieldRule, ...],
              limits: FormLimits = DEFAULT_LIMITS) -> FormResult:
    """The fields of a form, matched by the contest's labels; a form that cannot be read says why."""
    table = load_form(filename, source, limits)
    return FormResult(fields_from_grids(table.grids, fields), table.problem)


def is_form(filename: str, kind: str) -> bool:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return kind == "document" or (extension in FORM_EXTENSIONS and kind in ("other", "archive"))
