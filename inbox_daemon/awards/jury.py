"""The jury in the database: jurors assigned to contests, rounds an organizer opens and closes, neutral
numbers, scores and conflict declarations. Every change is one write transaction and one event.

Jurors are console accounts named by their username. A juror scores only the accepted entries of the
contests assigned, only while a round is open, never an entry with a declared conflict, and never
after the contest's awards are published (the database refuses that too).
"""

from __future__ import annotations

import json
import random

from ..store import Store, now_iso
from . import AwardsError
from .config import ContestAwards
from .scoring import Candidate, Progress, Result, Score, check_points, progress, rank

_shuffle = random.SystemRandom().shuffle


def log(store: Store, actor: str, action: str, detail: dict, receipt: str | None = None) -> None:
    """An audit event; tied to the entry's message when it concerns one entry."""
    entry = store.register.entry(receipt) if receipt else None
    store.register.log_event(entry["id"] if entry else None, actor, f"awards.{action}", detail)


def is_published(store: Store, contest: str) -> bool:
    return store.db.execute("SELECT 1 FROM award_publications WHERE contest=?", [contest]).fetchone() is not None


def refuse_if_published(store: Store, contest: str) -> None:
    if is_published(store, contest):
        raise AwardsError(f"{contest} 的获奖名单已公布，评分和奖项已冻结")


# -- entries and jurors ------------------------------------------------------------------------------

def candidates(store: Store, contest: str) -> list[Candidate]:
    """The contest's accepted entries with the time their first message arrived, oldest first."""
    receipts = [e["receipt"] for e in store.register.entries(contest) if e["outcome"] == "accepted"]
    if not receipts:
        return []
    marks = ",".join("?" * len(receipts))
    first = dict(store.db.execute(f"SELECT receipt, MIN(received_at) FROM messages WHERE receipt IN ({marks}) "
                                  "GROUP BY receipt", receipts).fetchall())
    return sorted((Candidate(r, first[r]) for r in receipts), key=lambda c: (c.received_at, c.receipt))


def _accepted(store: Store, contest: str, receipt: str) -> None:
    entry = store.register.entry(receipt)
    if entry is None or entry["contest"] != contest or entry["outcome"] != "accepted":
        raise AwardsError(f"{receipt} 不是 {contest} 已登记（通过）的作品")


def assign(store: Store, contest: str, juror: str, actor: str) -> None:
    with store.write():
        store.db["award_jurors"].upsert({"contest": contest, "juror": juror, "actor": actor, "at": now_iso()},
                                        pk=("contest", "juror"))
        log(store, actor, "juror_assigned", {"contest": contest, "juror": juror})


def unassign(store: Store, contest: str, juror: str, actor: str) -> None:
    with store.write():
        store.db.execute("DELETE FROM award_jurors WHERE contest=? AND juror=?", [contest, juror])
        log(store, actor, "juror_removed", {"contest": contest, "juror": juror})


def jurors(store: Store, contest: str) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT juror FROM award_jurors WHERE contest=? ORDER BY juror", [contest])]


def contests_of(store: Store, juror: str) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT contest FROM award_jurors WHERE juror=? ORDER BY contest", [juror])]


def _assigned(store: Store, contest: str, juror: str) -> None:
    if juror not in jurors(store, contest):
        raise AwardsError(f"评委 {juror} 未被分配到 {contest}")


# -- rounds and neutral numbers --------------------------------------------------------------------------

def open_round(store: Store, contest: str, name: str, actor: str) -> int:
    """Open a round of scoring; entries get their neutral numbers (in random order) if they have none."""
    with store.write():
        refuse_if_published(store, contest)
        if current_round(store, contest):
            raise AwardsError(f"{contest} 已有进行中的评审轮次，请先结束")
        pk = store.db["award_rounds"].insert({"contest": contest, "name": name, "opened_by": actor,
                                              "opened_at": now_iso()}).last_pk
        _number_all(store, contest)
        log(store, actor, "round_opened", {"contest": contest, "round": pk, "name": name})
    return pk


def close_round(store: Store, contest: str, actor: str) -> int:
    with store.write():
        found = current_round(store, contest)
        if not found:
            raise AwardsError(f"{contest} 没有进行中的评审轮次")
        store.db.execute("UPDATE award_rounds SET closed_by=?, closed_at=? WHERE id=?", [actor, now_iso(), found["id"]])
        log(store, actor, "round_closed", {"contest": contest, "round": found["id"]})
    return found["id"]


def current_round(store: Store, contest: str) -> dict | None:
    rows = list(store.db.query("SELECT * FROM award_rounds WHERE contest=? AND closed_at IS NULL", [contest]))
    return rows[0] if rows else None


def judging_state(store: Store, contest: str) -> tuple[str, dict | None]:
    """Where the contest's judging stands (none | open | closed | published), with its latest round."""
    found = latest_round(store, contest)
    if is_published(store, contest):
        return "published", found
    if found is None:
        return "none", None
    return ("closed" if found["closed_at"] else "open"), found


def latest_round(store: Store, contest: str) -> dict | None:
    rows = list(store.db.query("SELECT * FROM award_rounds WHERE contest=? ORDER BY id DESC LIMIT 1", [contest]))
    return rows[0] if rows else None


def _number_all(store: Store, contest: str) -> None:
    have = {r[0] for r in store.db.execute("SELECT receipt FROM award_numbers WHERE contest=?", [contest])}
    new = [c.receipt for c in candidates(store, contest) if c.receipt not in have]
    _shuffle(new)
    start = store.db.execute("SELECT COALESCE(MAX(number), 0) FROM award_numbers WHERE contest=?", [contest]).fetchone()[0]
    store.db["award_numbers"].insert_all([{"contest": contest, "receipt": r, "number": start + i}
                                          for i, r in enumerate(new, 1)])


def numbers(store: Store, contest: str) -> dict[str, int]:
    """receipt -> the neutral number jurors see (entries accepted late are numbered on the way)."""
    found = dict(store.db.execute("SELECT receipt, number FROM award_numbers WHERE contest=?", [contest]).fetchall())
    if any(c.receipt not in found for c in candidates(store, contest)):
        with store.write():
            _number_all(store, contest)
        return numbers(store, contest)
    return found


def receipt_for(store: Store, contest: str, number: int) -> str | None:
    row = store.db.execute("SELECT receipt FROM award_numbers WHERE contest=? AND number=?", [contest, number]).fetchone()
    return row[0] if row else None


# -- scores and conflicts ----------------------------------------------------------------------------

def declare_conflict(store: Store, contest: str, receipt: str, juror: str, reason: str) -> None:
    """The juror does not score this entry (同单位、亲属…); a score already given is withdrawn."""
    if not reason.strip():
        raise AwardsError("请说明回避理由")
    with store.write():
        refuse_if_published(store, contest)
        _assigned(store, contest, juror)
        _accepted(store, contest, receipt)
        store.db["award_conflicts"].upsert({"contest": contest, "receipt": receipt, "juror": juror,
                                            "reason": reason.strip(), "at": now_iso()},
                                           pk=("contest", "receipt", "juror"))
        withdrawn = store.db.execute(
            "DELETE FROM award_scores WHERE receipt=? AND juror=? AND round IN "
            "(SELECT id FROM award_rounds WHERE contest=? AND closed_at IS NULL)", [receipt, juror, contest]).rowcount
        log(store, juror, "conflict_declared", {"contest": contest, "receipt": receipt, "juror": juror,
                                                "reason": reason.strip(), "score_withdrawn": bool(withdrawn)}, receipt)


def conflicts(store: Store, contest: str) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in store.db.execute("SELECT receipt, juror FROM award_conflicts WHERE contest=?", [contest])}


def record_score(store: Store, rules: ContestAwards, receipt: str, juror: str, points: list[float],
                 comment: str = "") -> float:
    """Save (or change) a juror's points for one entry in the open round; returns the total."""
    contest = rules.contest
    if rules.jury is None:
        raise AwardsError(f"{contest} 的奖项规则没有评分标准")
    problems = check_points(points, rules.jury)
    if problems:
        raise AwardsError("；".join(problems))
    with store.write():
        refuse_if_published(store, contest)
        _assigned(store, contest, juror)
        _accepted(store, contest, receipt)
        found = current_round(store, contest)
        if not found:
            raise AwardsError(f"{contest} 没有进行中的评审轮次，评分已截止")
        if (receipt, juror) in conflicts(store, contest):
            raise AwardsError(f"评委 {juror} 已声明回避 {receipt}，不能评分")
        total = float(sum(points))
        store.db["award_scores"].upsert({"round": found["id"], "receipt": receipt, "juror": juror,
                                         "points": json.dumps([float(p) for p in points]), "total": total,
                                         "comment": comment.strip(), "at": now_iso()}, pk=("round", "receipt", "juror"))
        log(store, juror, "scored", {"contest": contest, "round": found["id"], "receipt": receipt,
                                     "points": [float(p) for p in points], "total": total}, receipt)
    return total


def scores(store: Store, round_id: int) -> list[Score]:
    return [Score(r["receipt"], r["juror"], tuple(json.loads(r["points"])), r["comment"] or "")
            for r in store.db.query("SELECT * FROM award_scores WHERE round=? ORDER BY receipt, juror", [round_id])]


def juror_scores(store: Store, contest: str, juror: str) -> dict[str, Score]:
    """The juror's scores in the contest's latest round, by receipt (what the scoring page shows)."""
    found = latest_round(store, contest)
    return {s.receipt: s for s in scores(store, found["id"]) if s.juror == juror} if found else {}


def ranking(store: Store, rules: ContestAwards, round_id: int | None = None) -> list[Result]:
    """The jury's ranking of a round (by default the contest's latest)."""
    if rules.jury is None:
        return []
    found = round_id or (latest_round(store, rules.contest) or {}).get("id")
    given = scores(store, found) if found else []
    return rank(rules.jury, candidates(store, rules.contest), given, conflicts(store, rules.contest))


def juror_progress(store: Store, contest: str, round_id: int | None = None) -> list[Progress]:
    found = round_id or (latest_round(store, contest) or {}).get("id")
    given = scores(store, found) if found else []
    return progress(jurors(store, contest), [c.receipt for c in candidates(store, contest)], given,
                    conflicts(store, contest))
