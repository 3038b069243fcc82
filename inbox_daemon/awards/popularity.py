"""The platforms' counts (plays, likes, shares, comments) matched to entries, for 最具人气 and 最佳传播奖.

Rows are matched by the APP account the entry's form gave (`app_account`), then by title and author.
A row that matches nothing, or more than one entry, is kept with its candidates for staff to match
by hand; nothing is dropped. The latest import of each platform counts; a row staff matched by hand
keeps its match when the platform's next export is imported.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..store import Store, now_iso
from . import AwardsError
from .allocation import weighted
from .config import Common, ContestAwards
from .jury import log
from .sheets import Row, number, read_rows

COUNTS = ("plays", "likes", "shares", "comments")


@dataclass(frozen=True)
class StatRow:
    row: int
    title: str
    account: str
    author: str
    link: str
    counts: dict[str, float]


@dataclass(frozen=True)
class EntryKey:
    """What a stats row can be matched on: the entry's APP account, title and author or team."""

    receipt: str
    account: str
    title: str
    authors: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    status: str  # matched | ambiguous | unmatched
    receipt: str | None
    candidates: tuple[str, ...]
    by: str  # account | title | ""


@dataclass(frozen=True)
class ImportSummary:
    import_id: int
    rows: int
    matched: int
    ambiguous: int
    unmatched: int
    bad: tuple[tuple[int, str], ...]


def norm_account(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "")).lstrip("@").lower()


def norm_title(text: str) -> str:
    """Titles as platforms show them: 《…》 taken out of a longer caption, hashtags and punctuation dropped."""
    text = unicodedata.normalize("NFKC", text or "")
    quoted = re.search(r"《([^》]+)》", text)
    if quoted:
        text = quoted.group(1)
    text = re.sub(r"#[^#\s]+#?", "", text)
    return re.sub(r"[\s\"'“”‘’「」『』《》<>.,，。!！?？:：;；、·\-—_()（）\[\]【】]+", "", text).lower()


def norm_name(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "")).lower()


def parse(rows: list[Row]) -> tuple[list[StatRow], list[tuple[int, str]]]:
    """Stats rows; a row without a title and account, or with an unreadable count, is reported, not kept silently."""
    good, bad = [], []
    for row in rows:
        v = row.values
        counts, problems = {}, []
        for key in COUNTS:
            raw = v.get(key)
            value = number(raw) if raw is not None else 0.0
            if value is None or value < 0:
                problems.append(f"{key} 不是有效数字“{raw}”")
            counts[key] = value or 0.0
        title, account = str(v.get("title") or ""), str(v.get("account") or "")
        if not title and not account:
            problems.append("没有作品名称也没有账号")
        if problems:
            bad.append((row.number, "；".join(problems)))
        # A row with an unreadable count is still kept for matching: its good counts count, staff see why.
        if title or account:
            good.append(StatRow(row.number, title, account, str(v.get("author") or ""), str(v.get("link") or ""), counts))
    return good, bad


def match(row: StatRow, entries: list[EntryKey]) -> Match:
    """Account first; then title, narrowed by author when the row names one."""
    account = norm_account(row.account)
    if account:
        hits = [e.receipt for e in entries if e.account and e.account == account]
        if len(hits) == 1:
            return Match("matched", hits[0], tuple(hits), "account")
        if len(hits) > 1:
            return Match("ambiguous", None, tuple(hits), "account")
    title = norm_title(row.title)
    if not title:
        return Match("unmatched", None, (), "")
    same_title = [e for e in entries if e.title and e.title == title]
    author = norm_name(row.author)
    if author:
        narrowed = [e for e in same_title if author in e.authors]
        if len(narrowed) == 1:
            return Match("matched", narrowed[0].receipt, (narrowed[0].receipt,), "title")
        if narrowed or same_title:  # several with this author, or the title matches but the author does not
            return Match("ambiguous", None, tuple(e.receipt for e in (narrowed or same_title)), "title")
        return Match("unmatched", None, (), "")
    if len(same_title) == 1:
        return Match("matched", same_title[0].receipt, (same_title[0].receipt,), "title")
    if same_title:
        return Match("ambiguous", None, tuple(e.receipt for e in same_title), "title")
    return Match("unmatched", None, (), "")


def entry_keys(store: Store, contests: list[str] | None = None) -> list[EntryKey]:
    keys = []
    for entry in store.register.entries():
        if entry["outcome"] != "accepted" or (contests and entry["contest"] not in contests):
            continue
        fields = json.loads(entry["fields"] or "{}")
        authors = tuple(norm_name(fields[k]) for k in ("author", "team") if fields.get(k))
        keys.append(EntryKey(entry["receipt"], norm_account(fields.get("app_account") or ""),
                             norm_title(fields.get("title") or fields.get("team") or ""), authors))
    return keys


def import_stats(store: Store, common: Common, path: Path, platform: str, actor: str,
                 filename: str | None = None) -> ImportSummary:
    """Read one platform's export, match every row, keep them all; the import replaces that platform's last one.
    `filename` is the name to record when `path` is a stored upload."""
    if platform not in common.platforms:
        raise AwardsError(f"未知的平台“{platform}”，可选：{'、'.join(common.platforms)}")
    path = Path(path)
    rows, bad = parse(read_rows(path, common.stats_columns, ("title", "plays")))
    entries = entry_keys(store)
    by_hand = _earlier_hand_matches(store, platform)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    counts = {"matched": 0, "ambiguous": 0, "unmatched": 0}
    with store.write():
        pk = store.db["stat_imports"].insert({"platform": platform, "filename": filename or path.name, "sha256": sha,
                                              "rows": len(rows), "actor": actor, "at": now_iso()}).last_pk
        records = []
        for row in rows:
            kept = by_hand.get(_row_key(row.link, row.title, row.account))
            found = Match("matched", kept, (kept,), "hand") if kept else match(row, entries)
            counts[found.status] += 1
            records.append({"import": pk, "row_number": row.row, "title": row.title, "account": row.account,
                            "author": row.author, "link": row.link, **row.counts, "status": found.status,
                            "receipt": found.receipt, "candidates": json.dumps(found.candidates),
                            "matched_by": found.by, "matched_at": now_iso() if found.receipt else None})
        store.db["stat_rows"].insert_all(records)
        log(store, actor, "stats_imported", {"platform": platform, "file": filename or path.name, "sha256": sha,
                                             "rows": len(rows),
                                             **counts, "bad_rows": [n for n, _ in bad]})
    return ImportSummary(pk, len(rows), counts["matched"], counts["ambiguous"], counts["unmatched"], tuple(bad))


def _row_key(link: str, title: str, account: str) -> str:
    return link.strip() or f"{norm_title(title)}|{norm_account(account)}"


def _earlier_hand_matches(store: Store, platform: str) -> dict[str, str]:
    rows = store.db.query("SELECT s.link, s.title, s.account, s.receipt FROM stat_rows s JOIN stat_imports i "
                          "ON i.id = s.import WHERE i.platform=? AND s.matched_by='hand' ORDER BY s.id", [platform])
    return {_row_key(r["link"] or "", r["title"] or "", r["account"] or ""): r["receipt"] for r in rows}


LATEST_IMPORTS = "(SELECT MAX(id) FROM stat_imports GROUP BY platform)"  # each platform's import in force


def imports(store: Store) -> list[dict]:
    """Each platform's import in force (its latest), with how its rows matched."""
    return list(store.db.query(
        "SELECT i.*, SUM(s.status='matched') AS matched, SUM(s.status='ambiguous') AS ambiguous, "
        "SUM(s.status='unmatched') AS unmatched FROM stat_imports i LEFT JOIN stat_rows s ON s.import = i.id "
        f"WHERE i.id IN {LATEST_IMPORTS} GROUP BY i.id ORDER BY i.platform"))


def open_rows(store: Store) -> list[dict]:
    """Rows of the current imports that staff still have to match by hand."""
    return list(store.db.query(
        "SELECT s.*, i.platform FROM stat_rows s JOIN stat_imports i ON i.id = s.import "
        f"WHERE s.import IN {LATEST_IMPORTS} AND s.status IN ('unmatched', 'ambiguous') "
        "ORDER BY i.platform, s.row_number"))


def match_by_hand(store: Store, row_id: int, receipt: str | None, actor: str) -> None:
    """Staff tie a row to an entry (or undo it with None)."""
    with store.write():
        row = store.db.execute("SELECT id FROM stat_rows WHERE id=?", [row_id]).fetchone()
        if row is None:
            raise AwardsError(f"没有编号为 {row_id} 的数据行")
        if receipt is not None:
            entry = store.register.entry(receipt)
            if entry is None or entry["outcome"] != "accepted":
                raise AwardsError(f"{receipt} 不是已登记（通过）的作品")
        store.db.execute("UPDATE stat_rows SET status=?, receipt=?, matched_by=?, matched_at=? WHERE id=?",
                         ["matched" if receipt else "unmatched", receipt, "hand" if receipt else "",
                          now_iso(), row_id])
        log(store, actor, "stats_matched", {"row": row_id, "receipt": receipt}, receipt)


def counts_by_entry(store: Store) -> dict[str, dict[str, float]]:
    """Plays, likes, shares, comments per receipt, summed over the platforms' latest imports."""
    totals: dict[str, dict[str, float]] = {}
    for r in store.db.query("SELECT receipt, SUM(plays) plays, SUM(likes) likes, SUM(shares) shares, "
                            f"SUM(comments) comments FROM stat_rows WHERE import IN {LATEST_IMPORTS} "
                            "AND status='matched' GROUP BY receipt"):
        totals[r["receipt"]] = {k: r[k] or 0.0 for k in COUNTS}
    return totals


def points(store: Store, rules: ContestAwards) -> dict[str, float]:
    """Weighted popularity of the contest's entries (weights from the rules)."""
    if not rules.weights:
        return {}
    contest = {e["receipt"] for e in store.register.entries(rules.contest)}
    return {r: weighted(c, rules.weights) for r, c in counts_by_entry(store).items() if r in contest}
