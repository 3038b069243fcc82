"""The evidence for 优秀组织奖: per unit, how many entries it sent, how many got in, which contests it
covered, and whether it sent its activity reports (活动信息、活动情况总结) on time.

The unions the notice addresses are listed in the rules with the words that put an entry's unit under
them (an entry from "新化县教育局" counts for 新化县总工会); every other unit an entry names gets a row
of its own. The organizer chooses the winners; this table is what they choose from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from ..store import Store
from ..times import local_text
from .config import Common

NO_UNIT = "（未填单位）"


@dataclass(frozen=True)
class EntryFacts:
    contest: str
    outcome: str
    unit: str
    received_at: str  # UTC ISO, the entry's first message


@dataclass
class UnitRow:
    unit: str
    listed: bool  # named in the notice (a row even with nothing sent)
    entries: int = 0
    accepted: int = 0
    contests: set[str] = field(default_factory=set)
    reports: int = 0
    on_time: int = 0
    first_report: str = ""

    @property
    def report_status(self) -> str:
        if not self.reports:
            return "未报送"
        return "按时" if self.on_time else "逾期"


def unit_of(unit: str, common: Common) -> tuple[str, bool]:
    text = re.sub(r"\s+", " ", unit or "").strip()
    for listed in common.units:
        if any(word in text for word in listed.match):
            return listed.name, True
    return text or NO_UNIT, False


def table(facts: list[EntryFacts], common: Common) -> list[UnitRow]:
    rows = {u.name: UnitRow(u.name, True) for u in common.units}
    due = common.activity_due
    for fact in facts:
        name, listed = unit_of(fact.unit, common)
        row = rows.setdefault(name, UnitRow(name, listed))
        if fact.contest == common.activity_contest:
            row.reports += 1
            if fact.received_at and datetime.fromisoformat(fact.received_at) <= due:
                row.on_time += 1
            if not row.first_report or fact.received_at < row.first_report:
                row.first_report = fact.received_at
            continue
        row.entries += 1
        row.accepted += fact.outcome == "accepted"
        if fact.contest:
            row.contests.add(fact.contest)
    return sorted(rows.values(), key=lambda r: (not r.listed, -r.accepted, -r.entries, r.unit))


def facts(store: Store) -> list[EntryFacts]:
    first = dict(store.db.execute("SELECT receipt, MIN(received_at) FROM messages WHERE receipt IS NOT NULL "
                                  "GROUP BY receipt").fetchall())
    found = []
    for entry in store.register.entries():
        fields = json.loads(entry["fields"] or "{}")
        unit = fields.get("unit") or fields.get("union") or entry["sender_name"] or ""
        found.append(EntryFacts(entry["contest"] or "", entry["outcome"], str(unit),
                                first.get(entry["receipt"]) or entry["received_at"]))
    return found


def sheet(rows: list[UnitRow], contest_names: dict[str, str]) -> tuple[list[str], list[list]]:
    headers = ["序号", "单位", "通知所列单位", "投稿件数", "登记通过件数", "涉及比赛数", "涉及比赛", "活动信息报送次数",
               "是否按时报送", "首次报送时间"]
    lines = [[i, r.unit, "是" if r.listed else "", r.entries, r.accepted, len(r.contests),
              "、".join(contest_names.get(c, c) for c in sorted(r.contests)), r.reports, r.report_status,
              local_text(r.first_report) if r.first_report else ""] for i, r in enumerate(rows, 1)]
    return headers, lines
