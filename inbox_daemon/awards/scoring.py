"""From jurors' scores to a ranking: pure functions over frozen data, so every number can be checked by hand.

Each juror gives each criterion points (0 to its maximum); an entry's result is the mean of its
jurors' totals, or with `trim_from` scores or more the mean after dropping one highest and one
lowest total (去掉一个最高分和一个最低分), as the rules choose. Equal results are ordered by the
first criterion (averaged over the same scores), then by the earlier receive time. An entry with
fewer scores than `min_scores` is flagged and left out of the ranking, never ranked silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

from .config import Jury

PRECISION = 6  # results equal to this many decimals are a tie (floating sums must not break ties)


@dataclass(frozen=True)
class Score:
    receipt: str
    juror: str
    points: tuple[float, ...]  # one per criterion, in the rules' order
    comment: str = ""

    @property
    def total(self) -> float:
        return sum(self.points)


@dataclass(frozen=True)
class Candidate:
    """An entry the jury judges: its receipt and when its first message arrived (UTC ISO)."""

    receipt: str
    received_at: str


@dataclass(frozen=True)
class Result:
    receipt: str
    rank: int | None  # None when flagged
    score: float | None  # the aggregated total
    first: float | None  # the first criterion, aggregated over the same scores
    totals: tuple[float, ...]  # every juror's total, ascending
    used: int  # how many totals the result is the mean of
    trimmed: bool
    flag: str = ""  # why the entry is not ranked (Chinese)


@dataclass(frozen=True)
class Progress:
    juror: str
    assigned: int  # entries to score: the contest's entries less the juror's conflicts
    scored: int
    conflicts: int
    missing: tuple[str, ...]  # receipts still without this juror's score

    @property
    def complete(self) -> bool:
        return not self.missing


def check_points(points, jury: Jury) -> list[str]:
    """What is wrong with one juror's points for one entry, in Chinese (empty when they are fine)."""
    if len(points) != len(jury.criteria):
        return [f"应给出 {len(jury.criteria)} 项评分（{'、'.join(c.name for c in jury.criteria)}），实际 {len(points)} 项"]
    problems = []
    for value, criterion in zip(points, jury.criteria, strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            problems.append(f"{criterion.name}的分数不是数字")
        elif not 0 <= value <= criterion.max:
            problems.append(f"{criterion.name}的分数应在 0 到 {criterion.max:g} 之间，实际为 {value:g}")
    return problems


def aggregate_one(scores: list[Score], jury: Jury) -> tuple[float, float, int, bool]:
    """(result, first criterion, how many scores used, trimmed) for one entry's scores (at least one)."""
    ordered = sorted(scores, key=lambda s: (s.total, s.points[0], s.juror))
    trimmed = jury.aggregate == "trimmed_mean" and len(ordered) >= jury.trim_from
    kept = ordered[1:-1] if trimmed else ordered
    return fmean(s.total for s in kept), fmean(s.points[0] for s in kept), len(kept), trimmed


def rank(jury: Jury, candidates: list[Candidate], scores: list[Score],
         conflicts: set[tuple[str, str]] = frozenset()) -> list[Result]:
    """Ranked results first (rank 1 = best), then the flagged entries. `conflicts` holds (receipt, juror)
    pairs whose scores never count, whatever was stored."""
    by_entry: dict[str, list[Score]] = {c.receipt: [] for c in candidates}
    for score in scores:
        if score.receipt in by_entry and (score.receipt, score.juror) not in conflicts:
            by_entry[score.receipt].append(score)
    received = {c.receipt: c.received_at for c in candidates}
    ranked, flagged = [], []
    for receipt, entry_scores in by_entry.items():
        totals = tuple(sorted(s.total for s in entry_scores))
        if len(entry_scores) < jury.min_scores:
            flagged.append(Result(receipt, None, None, None, totals, 0, False,
                                  f"只有 {len(entry_scores)} 份评分，少于规定的 {jury.min_scores} 份"))
            continue
        result, first, used, trimmed = aggregate_one(entry_scores, jury)
        ranked.append(Result(receipt, None, result, first, totals, used, trimmed))
    ranked.sort(key=lambda r: (-round(r.score, PRECISION), -round(r.first, PRECISION), received[r.receipt], r.receipt))
    flagged.sort(key=lambda r: (received[r.receipt], r.receipt))
    return [Result(r.receipt, i, r.score, r.first, r.totals, r.used, r.trimmed) for i, r in enumerate(ranked, 1)] + flagged


def progress(jurors: list[str], receipts: list[str], scores: list[Score],
             conflicts: set[tuple[str, str]] = frozenset()) -> list[Progress]:
    """Scored / assigned per juror: what the organizer watches before closing a round."""
    scored = {(s.receipt, s.juror) for s in scores}
    rows = []
    for juror in jurors:
        own = [r for r in receipts if (r, juror) not in conflicts]
        missing = tuple(r for r in own if (r, juror) not in scored)
        rows.append(Progress(juror, len(own), len(own) - len(missing), len(receipts) - len(own), missing))
    return rows
