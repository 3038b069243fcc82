"""The reading challenge (阅读挑战赛): the app's reading log to points, a ranking and the top tiers.

Rows of one member on one day are added up first; the day then earns the points of its bracket
(rules/reading_challenge.toml), but only inside the challenge window. Equal totals are
ordered by the moment the member reached that total (若积分相同则以达成时间排序, the earlier the
higher): the moment, on the last day that earned points, when that day's minutes reached its
bracket. Rows that cannot be read are listed with their row number and reason and left out;
nothing else is dropped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .config import ReadingChallenge
from .sheets import Row, number, read_rows, when, workbook_bytes


@dataclass(frozen=True)
class Reading:
    row: int
    member_id: str
    name: str
    unit: str
    at: datetime
    minutes: float


@dataclass(frozen=True)
class BadRow:
    row: int
    reason: str
    values: tuple[str, ...]  # the row as read, for the organizer to find it


@dataclass(frozen=True)
class Member:
    member_id: str
    name: str
    unit: str
    points: int
    days: int  # days that earned points
    reached_at: datetime | None  # when the total was reached
    minutes: float  # in the window


@dataclass(frozen=True)
class Placed:
    place: int
    member: Member
    prize: str  # "" below the tiers
    tied: bool  # same points and the same moment as a neighbour: the organizer decides


@dataclass(frozen=True)
class ChallengeResult:
    ranking: tuple[Placed, ...]  # the top of the rules, with tiers
    members: int  # members with at least one good row
    scored: int  # members with points
    bad_rows: tuple[BadRow, ...]
    outside_days: int  # member-days outside the window (read, not counted)
    rows: int


def read_log(rows: list[Row]) -> tuple[list[Reading], list[BadRow]]:
    """Good readings and bad rows, each bad row with every reason it has."""
    readings, bad = [], []
    for row in rows:
        v = row.values
        member = str(v.get("member_id") or "").strip()
        name = str(v.get("name") or "").strip()
        at = when(v.get("date"))
        minutes = number(v.get("minutes"))
        reasons = []
        if not member:
            reasons.append("缺少会员ID")
        elif not name:
            reasons.append("会员ID没有姓名")
        if v.get("date") is None:
            reasons.append("缺少日期")
        elif at is None:
            reasons.append(f"无法识别的日期“{v.get('date')}”")
        if v.get("minutes") is None:
            reasons.append("缺少阅读时长")
        elif minutes is None:
            reasons.append(f"阅读时长不是数字“{v.get('minutes')}”")
        elif minutes < 0:
            reasons.append(f"阅读时长为负数（{v.get('minutes')}）")
        elif minutes > 1440:
            reasons.append(f"一天的阅读时长超过 24 小时（{v.get('minutes')}）")
        if reasons:
            bad.append(BadRow(row.number, "；".join(reasons),
                              tuple("" if v.get(k) is None else str(v.get(k)) for k in
                                    ("member_id", "name", "unit", "date", "minutes"))))
            continue
        readings.append(Reading(row.number, member, name, str(v.get("unit") or "").strip(), at, minutes))
    return readings, bad


def _day_points(readings: list[Reading], rules: ReadingChallenge) -> tuple[int, datetime]:
    """A member's day: its points and the moment its minutes reached the bracket that earns them."""
    ordered = sorted(readings, key=lambda r: (r.at, r.row))
    points = rules.points(sum(r.minutes for r in ordered))
    if points == 0:
        return 0, ordered[-1].at
    needed = next(b.min_minutes for b in rules.brackets if b.points == points)
    running = 0.0
    for reading in ordered:
        running += reading.minutes
        if running >= needed:
            return points, reading.at
    return points, ordered[-1].at


def score(readings: list[Reading], rules: ReadingChallenge) -> tuple[list[Member], int]:
    """Every member's total in the window; also how many member-days fell outside it."""
    days: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    outside: set[tuple[str, object]] = set()
    identity: dict[str, tuple[str, str]] = {}
    for r in sorted(readings, key=lambda r: r.row):
        identity.setdefault(r.member_id, (r.name, r.unit))
        if rules.opens <= r.at.date() <= rules.closes:
            days[r.member_id][r.at.date()].append(r)
        else:
            outside.add((r.member_id, r.at.date()))
    members = []
    for member_id, (name, unit) in identity.items():
        total, reached, earning, minutes = 0, None, 0, 0.0
        for day in sorted(days.get(member_id, {})):
            points, moment = _day_points(days[member_id][day], rules)
            minutes += sum(r.minutes for r in days[member_id][day])
            if points:
                total += points
                earning += 1
                reached = moment
        members.append(Member(member_id, name, unit, total, earning, reached, minutes))
    return members, len(outside)


def rank(members: list[Member], rules: ReadingChallenge) -> tuple[Placed, ...]:
    """The top `rules.top` by points, then by when the total was reached; tiers in order of the rules."""
    scored = sorted((m for m in members if m.points > 0), key=lambda m: (-m.points, m.reached_at, m.member_id))
    top = scored[:rules.top]
    prizes = [t.name for t in rules.tiers for _ in range(t.count)]
    key = [(m.points, m.reached_at) for m in scored]
    placed = []
    for i, member in enumerate(top):
        tied = (i > 0 and key[i - 1] == key[i]) or (i + 1 < len(key) and key[i + 1] == key[i])
        placed.append(Placed(i + 1, member, prizes[i] if i < len(prizes) else "", tied))
    return tuple(placed)


def run(path: Path, rules: ReadingChallenge) -> ChallengeResult:
    rows = read_rows(path, rules.columns, ("member_id", "date", "minutes"))
    readings, bad = read_log(rows)
    members, outside = score(readings, rules)
    return ChallengeResult(rank(members, rules), len(members), sum(m.points > 0 for m in members), tuple(bad),
                           outside, len(rows))


def result_workbook(result: ChallengeResult, rules: ReadingChallenge) -> bytes:
    ranking = [[p.place, p.prize or "—", p.member.member_id, p.member.name, p.member.unit, p.member.points,
                p.member.days, p.member.reached_at.strftime("%Y-%m-%d %H:%M") if p.member.reached_at else "",
                round(p.member.minutes), "并列，请组委会确定" if p.tied else ""] for p in result.ranking]
    bad = [[b.row, b.reason, *b.values] for b in result.bad_rows]
    brackets = "；".join(f"{b.min_minutes} 分钟及以上 {b.points} 分" for b in rules.brackets)
    notes = [["活动", rules.title], ["统计时段", f"{rules.opens:%Y-%m-%d} 至 {rules.closes:%Y-%m-%d}"],
             ["积分规则", f"每天阅读时长（同一天多条记录先相加）：{brackets}；不足 {rules.brackets[-1].min_minutes} 分钟不积分"],
             ["排名规则", "积分高者在前；积分相同以达成时间排序，早者在前"],
             ["读取行数", result.rows], ["问题行（未计入）", len(result.bad_rows)],
             ["参与会员", result.members], ["有积分会员", result.scored], ["时段外的阅读天次（未计入）", result.outside_days]]
    return workbook_bytes([
        (f"前{rules.top}名", ["名次", "奖项", "会员ID", "姓名", "所属工会/单位", "积分", "积分天数", "达成时间", "时段内阅读分钟", "备注"],
         ranking),
        ("问题行", ["行号", "原因", "会员ID", "姓名", "所属工会/单位", "日期", "阅读时长"], bad),
        ("说明", ["项目", "内容"], notes),
    ])
