"""Spreadsheets of the entries: one row per entry, in the layout of the notice's annex tables.

Reading contests follow annex 1 (promoters) and annex 2 (teams) column for
column; the other contests list the fields of their rules file. Receipt,
outcome and receive time follow. xlsx via openpyxl (frozen header, widths);
csv as UTF-8 with BOM so that Excel opens it.
"""

from __future__ import annotations

import csv
import io
import json

from .reply import OUTCOME_LABELS
from .rules import RuleSet
from .store import Store
from .times import local_text

# Annex columns: (header as in the notice, field name or None for a column we cannot know).
ANNEX = {
    "reading_promoter": [("姓名", "author"), ("所在单位及职务", "unit"), ("湘工惠/风芒/新娄底 APP 账号", "app_account"),
                         ("作品上传时间", "upload_time"), ("联系电话", "phone"), ("备注", None)],
    "reading_team": [("团队名称", "team"), ("所在单位", "unit"), ("团队人数", "members"), ("成立时间", "founded"),
                     ("湘工惠/风芒/新娄底 APP 账号", "app_account"), ("作品上传时间", "upload_time"),
                     ("活动开展频次", "frequency"), ("成立以来开展活动场次", "sessions"),
                     ("负责人姓名、职务及联系电话", "leader")],
}
TAIL = [("回执号", "receipt"), ("审核结果", "outcome"), ("收到时间", "received_at"), ("发件人", "sender")]
GENERIC = [("比赛", "contest"), ("作品名称", "title"), ("作者/团队", "author"), ("单位", "unit"), ("联系电话", "phone")]


def columns(rules: RuleSet, contest: str | None) -> list[tuple[str, str | None]]:
    if contest in ANNEX:
        return [("序号", "#"), *ANNEX[contest], *TAIL]
    if contest in rules.contests:
        return [("序号", "#"), *((f.labels[0], f.name) for f in rules.contests[contest].fields), *TAIL]
    return [("序号", "#"), *GENERIC, *TAIL]


def rows(store: Store, rules: RuleSet, contest: str | None) -> tuple[list[str], list[list]]:
    spec = columns(rules, contest)
    table = []
    for number, entry in enumerate(store.register.entries(contest), start=1):
        fields = json.loads(entry["fields"] or "{}")
        values = []
        for _, key in spec:
            if key == "#":
                values.append(number)
            elif key == "outcome":
                values.append(OUTCOME_LABELS.get(entry["outcome"], entry["outcome"]))
            elif key == "contest":
                values.append(rules.contests[entry["contest"]].name if entry["contest"] in rules.contests else "待确认")
            elif key == "author" and contest is None:
                values.append(fields.get("author") or fields.get("team") or "")
            elif key in ("receipt", "received_at", "sender"):
                values.append(local_text(entry[key]) if key == "received_at" else entry[key])
            else:
                values.append("" if key is None else fields.get(key, ""))
        table.append(values)
    return [header for header, _ in spec], table


def write_csv(store: Store, rules: RuleSet, contest: str | None, out) -> int:
    headers, table = rows(store, rules, contest)
    out.write("\ufeff")  # Excel needs the BOM to read UTF-8
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(table)
    return len(table)


def xlsx_bytes(store: Store, rules: RuleSet, contest: str | None) -> tuple[bytes, int]:
    """One sheet for the contest, or one per contest (and one for unrouted entries) without --contest."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    wanted = [contest] if contest else [*rules.contests, None]
    total = 0
    for cid in wanted:
        if contest is None and cid is None:
            entries = [e for e in store.register.entries() if not e["contest"]]
            if not entries:
                continue
        headers, table = rows(store, rules, cid) if cid else _unrouted(store, rules)
        sheet = book.create_sheet(title=(rules.contests[cid].name if cid in rules.contests else "待确认比赛")[:31])
        sheet.append(headers)
        for row in table:
            sheet.append(row)
        total += len(table)
        sheet.freeze_panes = "A2"
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for index, header in enumerate(headers, start=1):
            longest = max([_width(header), *(_width(row[index - 1]) for row in table)])
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(60, max(6, longest + 2))
    if not book.worksheets:
        book.create_sheet("登记表").append([h for h, _ in columns(rules, contest)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), total


def _unrouted(store: Store, rules: RuleSet) -> tuple[list[str], list[list]]:
    headers, table = rows(store, rules, None)
    return headers, [row for row in table if row[1] == "待确认"]


def _width(value) -> int:
    """Display width: CJK characters count double."""
    text = str(value if value is not None else "")
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
