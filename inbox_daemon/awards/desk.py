"""What the organizer's pages read: each contest's judging at a glance, the ranking with the entries'
titles and authors beside it, the winners, and the uploaded reading-challenge log.

Read-only, except where an upload is kept (the reading-challenge log, so its ranking can be
recomputed and downloaded until the next upload); every decision is written by `jury`, `results`,
`popularity` and `notices`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import accounts
from ..store import Store
from . import AwardsError, jury, popularity, reading, results
from .config import AwardsRules, ContestAwards, ReadingChallenge
from .jury import log
from .sheets import MAX_BYTES

UPLOAD_SUFFIXES = (".xlsx", ".xlsm", ".csv")


@dataclass(frozen=True)
class ContestSummary:
    contest: str
    title: str
    jurors: tuple[str, ...]
    state: str  # none | open | closed | published
    round_name: str
    scored: int  # scores given in the latest round, over all jurors
    assigned: int  # scores expected: every juror's entries less conflicts
    entries: int
    awards: int  # saved awards (a draft until published)


@dataclass(frozen=True)
class RankRow:
    rank: int | None
    receipt: str
    number: int | None
    title: str
    author: str
    unit: str
    score: float | None
    first: float | None
    totals: tuple[float, ...]
    trimmed: bool
    flag: str
    popularity: float | None
    prize: str


def summaries(store: Store, awards: AwardsRules) -> list[ContestSummary]:
    found = []
    for contest, rules in awards.contests.items():
        now, round_ = jury.judging_state(store, contest)
        progress = jury.juror_progress(store, contest)
        found.append(ContestSummary(contest, rules.title, tuple(jury.jurors(store, contest)), now,
                                    round_["name"] if round_ else "", sum(p.scored for p in progress),
                                    sum(p.assigned for p in progress), len(jury.candidates(store, contest)),
                                    len(results.saved(store, contest))))
    return found


def juror_accounts(store: Store) -> list[str]:
    """Active console accounts with the role juror: who an organizer can assign."""
    return [u.name for u in accounts.users(store.db) if u.role == "juror" and u.active]


def _identity(store: Store, receipt: str) -> tuple[str, str, str]:
    entry = store.register.entry(receipt) or {}
    fields = json.loads(entry.get("fields") or "{}")
    return (str(fields.get("title") or ""), str(fields.get("team") or fields.get("author") or ""),
            str(fields.get("unit") or ""))


def ranking(store: Store, rules: ContestAwards) -> list[RankRow]:
    """The jury's ranking (flagged entries last), with popularity and the saved award beside each entry."""
    numbers = jury.numbers(store, rules.contest) if jury.latest_round(store, rules.contest) else {}
    liked = popularity.points(store, rules)
    prizes = {r["receipt"]: r["prize"] for r in results.saved(store, rules.contest)}
    rows = []
    for r in jury.ranking(store, rules):
        title, author, unit = _identity(store, r.receipt)
        rows.append(RankRow(r.rank, r.receipt, numbers.get(r.receipt), title, author, unit, r.score, r.first,
                            r.totals, r.trimmed, r.flag, liked.get(r.receipt), prizes.get(r.receipt, "")))
    return rows


def entry_choices(store: Store, rules: ContestAwards) -> list[tuple[str, str]]:
    """(receipt, "receipt 《title》 author") for the adjustment form, oldest entry first."""
    found = []
    for c in jury.candidates(store, rules.contest):
        title, author, _ = _identity(store, c.receipt)
        found.append((c.receipt, f"{c.receipt} 《{title}》 {author}".strip()))
    return found


def shortlist_rows(store: Store, receipts: tuple[str, ...]) -> list[tuple[str, str, str]]:
    return [(r, *_identity(store, r)[:2]) for r in receipts]


# -- the reading challenge log, kept until the next upload ----------------------------------------------

def _folder(store: Store) -> Path:
    return store.blobs.root / "awards"


def safe_name(filename: str) -> str:
    """A file name to record (never a path): the last part, without control or path characters."""
    name = re.sub(r"[\x00-\x1f/\\:]+", "_", Path(filename or "").name).strip(" .")[:120]
    return name or "上传文件"


def keep_upload(store: Store, chunks, filename: str, kind: str) -> Path:
    """Stream an uploaded sheet to the awards folder under its hash; refuse one that is too big or of a
    type the readers do not take, before anything parses it."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise AwardsError(f"只能上传 {'、'.join(UPLOAD_SUFFIXES)} 文件（收到“{safe_name(filename)}”）")
    folder = _folder(store)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{kind}-upload.part"
    digest, size = hashlib.sha256(), 0
    try:
        with partial.open("wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_BYTES:
                    raise AwardsError(f"文件太大，上限 {MAX_BYTES // 1048576} MB")
                digest.update(chunk)
                handle.write(chunk)
        target = folder / f"{kind}-{digest.hexdigest()}{suffix}"
        partial.replace(target)
        return target
    finally:
        partial.unlink(missing_ok=True)


def run_reading(store: Store, rules: ReadingChallenge, path: Path, filename: str, actor: str) -> reading.ChallengeResult:
    """Rank an uploaded log and record it, so the console shows (and downloads) this result until the next."""
    result = reading.run(path, rules)
    log(store, actor, "reading_challenge", {
        "file": safe_name(filename), "stored": path.name, "sha256": path.stem.split("-", 1)[1], "rows": result.rows,
        "bad_rows": [b.row for b in result.bad_rows], "top": [p.member.member_id for p in result.ranking]})
    return result


def latest_reading(store: Store) -> tuple[dict, Path] | None:
    """The last uploaded log still on disk, with its event (who, when, the file's name)."""
    for row in store.db.query("SELECT at, actor, detail FROM events WHERE action='awards.reading_challenge' "
                              "ORDER BY id DESC LIMIT 20"):
        detail = json.loads(row["detail"] or "{}")
        path = _folder(store) / str(detail.get("stored") or "")
        if detail.get("stored") and path.is_file():
            return {**detail, "at": row["at"], "actor": row["actor"]}, path
    return None
