"""Spreadsheets in and out: the platforms' and the app's exports read by their header labels, award
lists written with cells that stay text.

Exports come as .xlsx or .csv (UTF-8 or GBK, as Chinese office software writes them), often with a
title row above the header. The header row is the first of the top rows that holds every required
label; columns are then found by label, never by position. Size and row limits apply before
anything is parsed.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from ..errors import InboxError

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
HEADER_SEARCH_ROWS = 10
EXCEL_EPOCH = datetime(1899, 12, 30)


class SheetError(InboxError):
    """The file cannot be read as a table, or its header lacks a required column."""


@dataclass(frozen=True)
class Row:
    number: int  # the row number a person sees in Excel (1-based, header included)
    values: dict[str, object]  # column key -> cell value (None when empty)


def _label(text) -> str:
    text = unicodedata.normalize("NFKC", str(text or ""))
    return re.sub(r"\s+", "", text).lower()


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetError("CSV 文件既不是 UTF-8 也不是 GBK 编码 / the CSV is neither UTF-8 nor GBK")


def read_grid(path: Path) -> list[list]:
    """Every row of the first sheet (xlsx) or of the CSV, as lists of cell values."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SheetError(f"无法读取文件 {path} / cannot read {path}: {err.strerror}") from err
    if size > MAX_BYTES:
        raise SheetError(f"文件太大（{size // 1048576} MB，上限 {MAX_BYTES // 1048576} MB）/ file too large")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = _decode(path.read_bytes())
        try:
            sample = text[:4096]
            dialect = csv.Sniffer().sniff(sample, delimiters=",\t;") if sample else csv.excel
        except csv.Error:
            dialect = csv.excel
        grid = []
        for row in csv.reader(io.StringIO(text), dialect):
            grid.append([cell if cell.strip() else None for cell in row])
            if len(grid) > MAX_ROWS:
                raise SheetError(f"行数超过 {MAX_ROWS} / more than {MAX_ROWS} rows")
        return grid
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as err:  # openpyxl raises many kinds for a broken file
            raise SheetError(f"无法打开 Excel 文件 {path.name} / cannot open the workbook: {err}") from err
        try:
            sheet = book.worksheets[0]
            if (sheet.max_row or 0) > MAX_ROWS + HEADER_SEARCH_ROWS:
                raise SheetError(f"行数超过 {MAX_ROWS} / more than {MAX_ROWS} rows")
            return [list(row) for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    raise SheetError(f"只支持 .xlsx 和 .csv 文件，收到 {path.suffix or '无扩展名'} / only .xlsx and .csv are read")


def find_columns(grid: list[list], columns: dict[str, tuple[str, ...]], required: tuple[str, ...]
                 ) -> tuple[int, dict[str, int]]:
    """(index of the header row, column key -> column index). Exact labels win over prefixes."""
    best: tuple[int, dict[str, int]] | None = None
    for index, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        headers = [_label(cell) for cell in row]
        found: dict[str, int] = {}
        used: set[int] = set()
        for exact in (True, False):
            for key, labels in columns.items():
                if key in found:
                    continue
                for label in map(_label, labels):
                    hit = next((i for i, h in enumerate(headers) if i not in used and h and
                                (h == label if exact else h.startswith(label))), None)
                    if hit is not None:
                        found[key] = hit
                        used.add(hit)
                        break
        if all(key in found for key in required):
            return index, found
        if best is None or len(found) > len(best[1]):
            best = (index, found)
    missing = [k for k in required if k not in (best[1] if best else {})]
    wanted = "；".join(f"{k}：{'/'.join(columns[k])}" for k in missing)
    raise SheetError(f"找不到表头中的必需列（{wanted}）/ required columns not found in the header: {', '.join(missing)}")


def read_rows(path: Path, columns: dict[str, tuple[str, ...]], required: tuple[str, ...]) -> list[Row]:
    """The data rows under the header, each with its Excel row number; wholly empty rows are skipped."""
    grid = read_grid(path)
    header, found = find_columns(grid, columns, required)
    rows = []
    for offset, cells in enumerate(grid[header + 1:], start=header + 2):
        values = {key: (cells[i] if i < len(cells) else None) for key, i in found.items()}
        values = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in values.items()}
        if any(v is not None for v in values.values()):
            rows.append(Row(offset, values))
    return rows


# -- values -----------------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                   r"(?:[\sT]+(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2}))?秒?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def when(value) -> datetime | None:
    """A date or date-time cell as a naive local datetime (a bare date is midnight); None if unreadable."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 20000 < value < 80000:
        return EXCEL_EPOCH + timedelta(days=float(value))  # an Excel serial date left unformatted
    text = unicodedata.normalize("NFKC", str(value or "")).strip()
    match = _DATE.match(text) or _COMPACT.match(text)
    if not match:
        return None
    parts = [int(p) if p else 0 for p in match.groups()]
    parts += [0] * (6 - len(parts))
    try:
        return datetime(*parts[:6])
    except ValueError:
        return None


def number(value) -> float | None:
    """A count or a number of minutes: 1234, "1,234", "45分钟", "1.2万" (None if unreadable)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = unicodedata.normalize("NFKC", str(value or "")).strip().replace(",", "")
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(万|w|W)?\s*(分钟|分|次|min)?", text)
    if not match:
        return None
    return float(match.group(1)) * (10000 if match.group(2) else 1)


# -- writing ----------------------------------------------------------------------------------------

def workbook_bytes(sheets: list[tuple[str, list[str], list[list]]]) -> bytes:
    """An .xlsx of (sheet title, headers, rows). Every text cell is stored as text, so a title such as
    "=HYPERLINK(…)" sent by a stranger is shown, never evaluated."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    for title, headers, rows in sheets:
        sheet = book.create_sheet(title=_sheet_title(title))
        for r, values in enumerate([headers, *rows], start=1):
            for c, value in enumerate(values, start=1):
                cell = sheet.cell(row=r, column=c)
                cell.value = _cell(value)
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never "f": openpyxl would write a formula for "=…"
        sheet.freeze_panes = "A2"
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for c, header in enumerate(headers, start=1):
            longest = max([_width(header), *(_width(row[c - 1]) for row in rows if c - 1 < len(row))])
            sheet.column_dimensions[sheet.cell(1, c).column_letter].width = min(50, max(6, longest + 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value):
    if value is None or isinstance(value, (int, float, datetime, date)):
        return value
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", str(value))  # control characters break the file


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "", title)[:31] or "Sheet"


def _width(value) -> int:
    text = str(value if value is not None else "")
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
