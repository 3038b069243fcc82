"""Who gets which prize: the rules' prizes filled in order from the rankings, one award per entry at most.

"以上各奖项不重复设奖": each prize takes the best entries that hold no award yet, so the order of the
prizes in the rules is the order of precedence. Jury prizes follow the jury's ranking, popularity
prizes the weighted popularity, and a prize "by choice" (最佳剧本奖…) takes the organizer's picks from
a shortlist of the best ranked entries still without an award. An organizer's adjustment, always
with a reason, is applied on top; it too can never give one entry two awards.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ContestAwards, Prize


@dataclass(frozen=True)
class Award:
    receipt: str
    prize: str
    by: str  # jury | popularity | choice | adjusted
    place: int | None = None  # position in the ranking the award came from
    reason: str = ""  # an adjustment's reason


@dataclass(frozen=True)
class Adjustment:
    """An organizer's change: give `receipt` the prize (None: take its award away)."""

    receipt: str
    prize: str | None
    reason: str
    actor: str = ""


@dataclass(frozen=True)
class Allocation:
    awards: tuple[Award, ...]
    shortlists: dict[str, tuple[str, ...]]  # choice prize -> the entries it may go to
    open_places: dict[str, int]  # prize -> places left empty (too few ranked entries, or no choice yet)
    notes: tuple[str, ...] = ()  # what the organizer should know, in Chinese

    def award_of(self, receipt: str) -> Award | None:
        return next((a for a in self.awards if a.receipt == receipt), None)


def allocate(rules: ContestAwards, jury_ranking: list[str], popularity_ranking: list[str],
             choices: dict[str, list[str]] | None = None) -> Allocation:
    """Fill every prize of the rules in order. Rankings are receipts, best first (flagged entries left out)."""
    choices = choices or {}
    taken: dict[str, Award] = {}
    shortlists: dict[str, tuple[str, ...]] = {}
    open_places: dict[str, int] = {}
    notes: list[str] = []
    places = {receipt: i for i, receipt in enumerate(jury_ranking, 1)}
    for prize in rules.prizes:
        if prize.by == "choice":
            free = [r for r in jury_ranking if r not in taken][:prize.shortlist]
            shortlists[prize.name] = tuple(free)
            picked = _picks(prize, choices.get(prize.name, []), free, taken, notes)
            for receipt in picked:
                taken[receipt] = Award(receipt, prize.name, "choice", places.get(receipt))
        else:
            ranking = jury_ranking if prize.by == "jury" else popularity_ranking
            picked = [r for r in ranking if r not in taken][:prize.count]
            for receipt in picked:
                taken[receipt] = Award(receipt, prize.name, prize.by, ranking.index(receipt) + 1)
        if len(picked) < prize.count:
            open_places[prize.name] = prize.count - len(picked)
    return Allocation(tuple(taken.values()), shortlists, open_places, tuple(notes))


def _picks(prize: Prize, wanted: list[str], shortlist: list[str], taken: dict, notes: list[str]) -> list[str]:
    picked = []
    for receipt in wanted:
        if receipt in taken:
            notes.append(f"{prize.name}：{receipt} 已获{taken[receipt].prize}，不重复设奖")
        elif receipt not in shortlist:
            notes.append(f"{prize.name}：{receipt} 不在推荐名单中")
        elif len(picked) >= prize.count:
            notes.append(f"{prize.name}：名额 {prize.count} 个已满，{receipt} 未获奖")
        else:
            picked.append(receipt)
    return picked


def adjust(allocation: Allocation, rules: ContestAwards, adjustments: list[Adjustment]) -> Allocation:
    """The allocation with the organizer's changes, in the order they were made."""
    awards = {a.receipt: a for a in allocation.awards}
    notes = list(allocation.notes)
    for change in adjustments:
        awards.pop(change.receipt, None)
        if change.prize is None:
            continue
        if rules.prize(change.prize) is None:
            notes.append(f"调整无效：规则中没有“{change.prize}”")
            continue
        awards[change.receipt] = Award(change.receipt, change.prize, "adjusted", reason=change.reason)
    order = {p.name: i for i, p in enumerate(rules.prizes)}
    ordered = sorted(awards.values(), key=lambda a: (order[a.prize], a.place is None, a.place or 0, a.receipt))
    counts = {p.name: sum(a.prize == p.name for a in ordered) for p in rules.prizes}
    open_places = {}
    for prize in rules.prizes:
        if counts[prize.name] > prize.count:
            notes.append(f"{prize.name}：{counts[prize.name]} 个，超过规则的 {prize.count} 个名额")
        elif counts[prize.name] < prize.count:
            open_places[prize.name] = prize.count - counts[prize.name]
    return Allocation(tuple(ordered), allocation.shortlists, open_places, tuple(notes))


def popularity_ranking(points: dict[str, float], received: dict[str, str]) -> list[str]:
    """Receipts with any popularity, most popular first; equal points: the earlier entry first."""
    return sorted((r for r, p in points.items() if p > 0), key=lambda r: (-points[r], received.get(r, ""), r))


def weighted(counts: dict[str, float], weights: tuple[tuple[str, float], ...]) -> float:
    return sum(counts.get(name, 0) * weight for name, weight in weights)
