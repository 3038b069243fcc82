"""Spreadsheets of the entries that organizers hand on: one row per entry, in the notice's annex layouts.

The reading contests and the bookhouse follow annexes 1, 2 and 3 column for column (the layouts are
data, in `templates/wording.toml`); the other contests list the fields of their rules file plus what
matters about their works (单幅/组照 and the photo count; video length and resolution). The register's
own columns follow: receipt, outcome, the findings in plain words, the receive time, the sender.

Receive times are real date cells on the contest's clock. No cell can become a formula: a text that
starts like one (=, +, -, @, a tab or a carriage return) is written as text in xlsx, and with a
leading apostrophe in csv, which Excel and WPS show as text and never evaluate.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import IO, Iterable

from .forms import is_form
from .judge import minutes
from .reply import OUTCOME_LABELS, finding_title, wording
from .rules import Contest, RuleSet
from .store import Store
from .times import SHANGHAI, local

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"


@dataclass(frozen=True)
class Sheet:
    """What one sheet shows: a title, rows above the table (annex 2's 填报人 block), the columns."""

    title: str
    columns: tuple[tuple[str, str], ...]  # (header, source): a field name, "#", "" or "@register value"
    above: tuple[str, ...] = ()

    @property
    def headers(self) -> list[str]:
        return [header for header, _ in self.columns]


def _register_columns(*names: str) -> list[tuple[str, str]]:
    words = wording()["sheets"]["register"]
    return [(words[name], f"@{name}") for name in names]


def layout(rules: RuleSet, contest_id: str | None) -> Sheet:
    """The sheet of one contest (an annex layout where the notice has one), or of every entry (None)."""
    sheets = wording()["sheets"]
    tail = _register_columns("receipt", "outcome", "findings", "received_at", "sender")
    contest = rules.contests.get(contest_id or "")
    if contest is None:
        head = [("序号", "#"), *_register_columns("contest"), ("作品名称", "title"), ("作者/团队", "@author"),
                ("单位", "unit"), ("联系电话", "phone")]
        return Sheet("投稿登记表", tuple(head + tail))
    if contest.id in sheets:
        annex = sheets[contest.id]
        return Sheet(annex["title"], tuple((h, s) for h, s in annex["columns"]) + tuple(tail),
                     tuple(annex.get("above", ())))
    media = sheets["media"]
    extra = []
    if contest.photos:
        extra += [(media["photo_kind"], "@photo_kind"), (media["photo_count"], "@photo_count")]
    if contest.video:
        extra += [(media["video_duration"], "@video_duration"), (media["video_resolution"], "@video_resolution")]
    head = [("序号", "#"), *((f.labels[0], f.name) for f in contest.fields), *extra]
    return Sheet(f"{contest.name}登记表", tuple(head + tail))


def select_entries(store: Store, contest: str | None = None, outcomes: Iterable[str] = ()) -> list[dict]:
    """Entries in their current state, of one contest or all, with one of `outcomes` (all when empty)."""
    wanted = set(outcomes)
    return [e for e in store.register.entries(contest) if not wanted or e["outcome"] in wanted]


def _works(store: Store, entry: dict) -> list[dict]:
    return [a for a in store.register.attachments(entry["id"]) if not is_form(a["filename"] or "", a["kind"])]


def _cell(source: str, entry: dict, fields: dict, contest: Contest | None, rules: RuleSet, store: Store,
          tz: tzinfo):
    """One value: text, a number, or a date/time on the contest's clock (naive: Excel has no zones)."""
    if source == "":
        return ""
    if not source.startswith("@"):
        value = fields.get(source, "")
        if isinstance(value, str) and ISO_DAY.fullmatch(value):
            return date.fromisoformat(value)
        return value if isinstance(value, (int, float, str)) else json.dumps(value, ensure_ascii=False)
    name = source[1:]
    if name == "received_at":
        when = local(entry["received_at"], tz)
        return when.replace(tzinfo=None) if when else ""
    if name == "outcome":
        return OUTCOME_LABELS.get(entry["outcome"], entry["outcome"])
    if name == "findings":
        findings = json.loads(entry["rules"] or "[]")
        return "；".join(finding_title(f["id"], contest) for f in findings if f["severity"] != "info")
    if name == "contest":
        return contest.name if contest else "待确认比赛"
    if name == "author":
        return fields.get("author") or fields.get("team") or ""
    if name in ("receipt", "sender"):
        return entry[name] or ""
    works = _works(store, entry)
    if name in ("photo_kind", "photo_count"):
        photos = [a for a in works if a["kind"] == "image"]
        if name == "photo_count":
            return len(photos)
        media = wording()["sheets"]["media"]
        set_min = contest.photos.set_min if contest and contest.photos else 4
        return media["single"] if len(photos) == 1 else media["group"] if len(photos) >= set_min else ""
    videos = [a for a in works if a["kind"] == "video"]
    if name == "video_duration":
        return "、".join(minutes(v["duration_s"]) for v in videos if v["duration_s"])
    if name == "video_resolution":
        return "、".join(f"{v['width']}×{v['height']}" for v in videos if v["width"])
    raise ValueError(f"unknown column source {source}")


def rows(store: Store, rules: RuleSet, contest: str | None, entries: list[dict] | None = None,
         tz: tzinfo = SHANGHAI) -> tuple[Sheet, list[list]]:
    """The sheet and its rows for `entries` (default: every entry of the contest, or all)."""
    sheet = layout(rules, contest)
    entries = select_entries(store, contest) if entries is None else entries
    table = []
    for number, entry in enumerate(entries, start=1):
        fields = json.loads(entry["fields"] or "{}")
        entry_contest = rules.contests.get(entry["contest"] or "")
        table.append([number if source == "#" else _cell(source, entry, fields, entry_contest, rules, store, tz)
                      for _, source in sheet.columns])
    return sheet, table


def formula_safe(text: str) -> str:
    """A csv cell Excel and WPS will show as text: a leading apostrophe where it would start a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_value(value) -> str | int | float:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return formula_safe(value) if isinstance(value, str) else value


def write_csv(store: Store, rules: RuleSet, contest: str | None, out: IO[str], outcomes: Iterable[str] = (),
              entries: list[dict] | None = None) -> int:
    """UTF-8 with a BOM (Excel needs it to read UTF-8), one header row, one row per entry."""
    if entries is None:
        entries = select_entries(store, contest, outcomes)
    sheet, table = rows(store, rules, contest, entries)
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([formula_safe(h) for h in sheet.headers])
    writer.writerows([[_csv_value(v) for v in row] for row in table])
    return len(table)


def _put(sheet, row: int, column: int, value):
    """Write one cell; text always stays text (never a formula, never an error code)."""
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_START):
            cell.quotePrefix = True  # and stays text when someone edits it in Excel or WPS
    elif isinstance(value, datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT
    return cell


def _fill(book, sheet: Sheet, table: list[list], name: str) -> None:
    from openpyxl.styles import Alignment, Font

    ws = book.create_sheet(title=name[:31])
    _put(ws, 1, 1, sheet.title).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(sheet.columns))
    for offset, text in enumerate(sheet.above, start=2):
        _put(ws, offset, 1, text)
    header_row = 2 + len(sheet.above)
    for column, header in enumerate(sheet.headers, start=1):
        cell = _put(ws, header_row, column, header)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for r, values in enumerate(table, start=header_row + 1):
        for column, value in enumerate(values, start=1):
            _put(ws, r, column, value)
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    for column, header in enumerate(sheet.headers, start=1):
        longest = max([_width(header), *(_width(row[column - 1]) for row in table)])
        ws.column_dimensions[ws.cell(header_row, column).column_letter].width = min(50, max(6, longest + 2))


def header_row(sheet: Sheet) -> int:
    """Where the column headers stand in an exported xlsx (after the title and any rows above)."""
    return 2 + len(sheet.above)


def xlsx_bytes(store: Store, rules: RuleSet, contest: str | None, outcomes: Iterable[str] = (),
               entries: list[dict] | None = None) -> tuple[bytes, int]:
    """One sheet for the contest, or one per contest (and one for unrouted entries) without one."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    chosen = select_entries(store, contest, outcomes) if entries is None else entries
    if contest:
        groups = [(contest, chosen)]
    else:
        groups = [(cid, [e for e in chosen if e["contest"] == cid]) for cid in rules.contests]
        groups.append((None, [e for e in chosen if e["contest"] not in rules.contests]))
        groups = [(cid, group) for cid, group in groups if group] or [(None, [])]
    for cid, group in groups:
        sheet, table = rows(store, rules, cid, group)
        _fill(book, sheet, table, rules.contests[cid].name if cid in rules.contests else "待确认比赛")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), len(chosen)


def _width(value) -> int:
    """Display width: CJK characters count double; dates as they show."""
    if isinstance(value, datetime):
        return 16
    text = str(value if value is not None else "")
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
