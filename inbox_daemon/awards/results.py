"""Allocation in the database: the organizer's choices and adjustments, the saved awards, publication.

The saved awards are always recomputed from the rankings, the choices and every adjustment in order
(`allocation.allocate` then `allocation.adjust`), so a re-run after a late score gives the same result
plus the organizer's changes. Publishing snapshots the list; from then on the database refuses any
change to the contest's scores and awards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..reply import reply_target
from ..store import Store, now_iso
from . import AwardsError
from . import jury, popularity
from .allocation import Adjustment, Allocation, adjust, allocate, popularity_ranking
from .config import ContestAwards


@dataclass(frozen=True)
class Winner:
    """One line of an award list and one certificate."""

    number: int
    prize: str
    name: str  # author, or the team
    work: str  # the work's title ("" when the award is not for a work)
    unit: str
    phone: str
    receipt: str  # or the member id of the reading challenge
    contest: str  # the contest as the certificate names it
    email: str = ""


def choices(store: Store, contest: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for r in store.db.query("SELECT prize, receipt FROM award_choices WHERE contest=? ORDER BY at, receipt", [contest]):
        found.setdefault(r["prize"], []).append(r["receipt"])
    return found


def adjustments(store: Store, contest: str) -> list[Adjustment]:
    return [Adjustment(r["receipt"], r["prize"], r["reason"], r["actor"])
            for r in store.db.query("SELECT * FROM award_adjustments WHERE contest=? ORDER BY id", [contest])]


def compute(store: Store, rules: ContestAwards) -> Allocation:
    """The allocation as it stands: jury ranking of the latest round, popularity, choices, adjustments."""
    results = [r for r in jury.ranking(store, rules) if r.rank is not None]
    received = {c.receipt: c.received_at for c in jury.candidates(store, rules.contest)}
    liked = popularity_ranking(popularity.points(store, rules), received)
    base = allocate(rules, [r.receipt for r in results], [r for r in liked if r in received],
                    choices(store, rules.contest))
    found = adjust(base, rules, adjustments(store, rules.contest))
    notes = list(found.notes)
    if jury.current_round(store, rules.contest):
        notes.insert(0, "评审轮次仍在进行中，排名可能还会变化")
    flagged = [r.receipt for r in jury.ranking(store, rules) if r.rank is None]
    if flagged:
        notes.append(f"{len(flagged)} 件作品评分不足，未参与排名：{'、'.join(flagged)}")
    return Allocation(found.awards, found.shortlists, found.open_places, tuple(notes))


def save(store: Store, rules: ContestAwards, actor: str) -> Allocation:
    """Recompute and store the contest's awards (a draft until published)."""
    with store.write():
        jury.refuse_if_published(store, rules.contest)
        found = compute(store, rules)
        store.db.execute("DELETE FROM award_results WHERE contest=?", [rules.contest])
        store.db["award_results"].insert_all([{"receipt": a.receipt, "contest": rules.contest, "prize": a.prize,
                                               "by": a.by, "place": a.place, "reason": a.reason, "at": now_iso()}
                                              for a in found.awards])
        jury.log(store, actor, "allocated", {"contest": rules.contest, "awards": {a.receipt: a.prize for a in found.awards},
                                             "open_places": found.open_places, "notes": list(found.notes)})
    return found


def choose(store: Store, rules: ContestAwards, prize: str, receipts: list[str], actor: str) -> Allocation:
    """The organizer's picks for a prize given by choice; they must be on its shortlist."""
    spec = rules.prize(prize)
    if spec is None or spec.by != "choice":
        raise AwardsError(f"“{prize}”不是由组委会从推荐名单中选定的奖项")
    if len(receipts) > spec.count:
        raise AwardsError(f"“{prize}”只有 {spec.count} 个名额")
    with store.write():
        jury.refuse_if_published(store, rules.contest)
        store.db.execute("DELETE FROM award_choices WHERE contest=? AND prize=?", [rules.contest, prize])
        shortlist = compute(store, rules).shortlists.get(prize, ())
        outside = [r for r in receipts if r not in shortlist]
        if outside:
            raise AwardsError(f"{'、'.join(outside)} 不在“{prize}”的推荐名单中（{'、'.join(shortlist) or '名单为空'}）")
        store.db["award_choices"].insert_all([{"contest": rules.contest, "prize": prize, "receipt": r, "actor": actor,
                                               "at": now_iso()} for r in receipts])
        jury.log(store, actor, "chosen", {"contest": rules.contest, "prize": prize, "receipts": receipts})
        return save(store, rules, actor)


def change(store: Store, rules: ContestAwards, receipt: str, prize: str | None, reason: str, actor: str) -> Allocation:
    """An organizer's adjustment (a reason is required); `prize` None takes the entry's award away."""
    if not reason.strip():
        raise AwardsError("调整奖项必须填写理由")
    if prize is not None and rules.prize(prize) is None:
        raise AwardsError(f"规则中没有奖项“{prize}”，可选：{'、'.join(p.name for p in rules.prizes)}")
    with store.write():
        jury.refuse_if_published(store, rules.contest)
        if receipt not in {c.receipt for c in jury.candidates(store, rules.contest)}:
            raise AwardsError(f"{receipt} 不是 {rules.contest} 已登记（通过）的作品")
        before = store.db.execute("SELECT prize FROM award_results WHERE receipt=?", [receipt]).fetchone()
        store.db["award_adjustments"].insert({"contest": rules.contest, "receipt": receipt, "prize": prize,
                                              "reason": reason.strip(), "actor": actor, "at": now_iso()})
        jury.log(store, actor, "adjusted", {"contest": rules.contest, "receipt": receipt, "before": before[0] if before else None,
                                            "after": prize, "reason": reason.strip()}, receipt)
        return save(store, rules, actor)


def saved(store: Store, contest: str) -> list[dict]:
    return list(store.db.query("SELECT * FROM award_results WHERE contest=?", [contest]))


def publish(store: Store, rules: ContestAwards, actor: str) -> int:
    """Freeze the contest's list: no open round, a saved allocation; returns how many awards."""
    with store.write():
        jury.refuse_if_published(store, rules.contest)
        if jury.current_round(store, rules.contest):
            raise AwardsError("评审轮次仍在进行中，请先结束轮次再公布")
        found = save(store, rules, actor)
        if not found.awards:
            raise AwardsError("没有获奖作品，不能公布")
        latest = jury.latest_round(store, rules.contest)
        snapshot = {"awards": [{"receipt": a.receipt, "prize": a.prize, "by": a.by, "place": a.place}
                               for a in found.awards],
                    "ranking": [{"receipt": r.receipt, "rank": r.rank, "score": r.score, "totals": list(r.totals)}
                                for r in jury.ranking(store, rules)]}
        store.db["award_publications"].insert({"contest": rules.contest, "round": latest["id"] if latest else None,
                                               "actor": actor, "at": now_iso(),
                                               "snapshot": json.dumps(snapshot, ensure_ascii=False)})
        jury.log(store, actor, "published", {"contest": rules.contest, "awards": len(found.awards)})
    return len(found.awards)


def winners(store: Store, rules: ContestAwards) -> list[Winner]:
    """The saved awards as list lines, in the order of the prizes, then by place."""
    order = {p.name: i for i, p in enumerate(rules.prizes)}
    rows = sorted(saved(store, rules.contest), key=lambda r: (order.get(r["prize"], 99), r["place"] is None,
                                                               r["place"] or 0, r["receipt"]))
    found = []
    for number, row in enumerate(rows, 1):
        entry = store.register.entry(row["receipt"]) or {}
        fields = json.loads(entry.get("fields") or "{}")
        found.append(Winner(number, row["prize"], fields.get("team") or fields.get("author") or fields.get("unit") or "",
                            fields.get("title") or "", fields.get("unit") or "", fields.get("phone") or "",
                            row["receipt"], rules.title,
                            reply_target(entry.get("sender") or "", entry.get("reply_to") or "") or ""))
    return found
