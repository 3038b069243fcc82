"""Application forms (notice annexes 1-3) read from .xlsx (openpyxl) and .docx (python-docx).

Two table shapes occur: a header row of labels with the entry in the next row
(annexes 1 and 2), and label cells followed by value cells (annex 3). Both are
matched against the contest's field labels. Other formats count as present but
are not read.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile

from .extract import normalise
from .rules import FieldRule

log = logging.getLogger(__name__)
FORM_EXTENSIONS = ("xlsx", "xls", "docx", "doc", "wps", "et", "pdf")
MAX_CELLS = 20_000


def _key(text: str) -> str:
    return re.sub(r"\s+", "", normalise(str(text or ""))).lower()


def _label_map(fields: tuple[FieldRule, ...]) -> dict[str, str]:
    labels = {}
    for rule in fields:
        for label in rule.labels:
            labels.setdefault(_key(label), rule.name)
    return labels


def _match(cell: str, labels: dict[str, str]) -> str | None:
    key = _key(cell).rstrip(":")
    return labels.get(key)


def fields_from_rows(rows: list[list[str]], fields: tuple[FieldRule, ...]) -> dict[str, str]:
    labels = _label_map(fields)
    found: dict[str, str] = {}
    for r, row in enumerate(rows):
        header = [_match(cell, labels) for cell in row]
        if sum(1 for h in header if h) >= 2:  # a header row: the entry is in the next non-empty row
            for values in rows[r + 1:]:
                cells = [str(v).strip() for v in values]
                if not any(cells[1:] if len(cells) > 1 else cells):
                    continue
                for name, value in zip(header, cells, strict=False):  # rows may be ragged
                    if name and value and name not in found:
                        found[name] = value
                break
        for c, name in enumerate(header):  # a label cell, its value in the next non-empty, non-label cell
            if not name or name in found:
                continue
            for value in row[c + 1:]:
                value = str(value or "").strip()
                if value and not _match(value, labels):
                    found[name] = value
                    break
                if value:
                    break
    return found


def xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    rows, cells = [], 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells += len(row)
            if cells > MAX_CELLS:
                return rows
            rows.append(["" if v is None else (v.date().isoformat() if hasattr(v, "date") and callable(v.date)
                                               else str(v)) for v in row])
    return rows


def docx_rows(data: bytes) -> list[list[str]]:
    from docx import Document

    document = Document(io.BytesIO(data))
    rows = []
    for table in document.tables:
        for row in table.rows:
            rows.append([cell.text for cell in row.cells])
            if len(rows) * max(1, len(row.cells)) > MAX_CELLS:
                return rows
    for paragraph in document.paragraphs:  # "填报人姓名：…" lines above the table
        rows.append([part for part in re.split(r"[:：]", paragraph.text, maxsplit=1)])
    return rows


def read_form(filename: str, data: bytes, fields: tuple[FieldRule, ...]) -> dict[str, str]:
    """Fields of a .xlsx/.docx form; {} for other formats or unreadable files (still counted as a form)."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    try:
        if extension == "xlsx" or (extension != "docx" and data[:2] == b"PK" and b"xl/" in data[:4096]):
            return fields_from_rows(xlsx_rows(data), fields)
        if extension == "docx" or (data[:2] == b"PK" and b"word/" in data[:4096]):
            return fields_from_rows(docx_rows(data), fields)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as err:
        log.info("form %r unreadable: %s", filename, err)
    return {}


def is_form(filename: str, kind: str) -> bool:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return kind == "document" or (extension in FORM_EXTENSIONS and kind in ("other", "archive"))
