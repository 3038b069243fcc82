"""Staff actions: re-judge stored mail with the current rules, and override a decision with a note.

Both are logged in `events` with who, when and what changed. An override is
kept in its own table and re-applied by every later judging, so a requeue
after a rule change never silently undoes a person's decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import InboxError
from .pipeline import Context, process, queue_reply
from .store import Store, now_iso

OVERRIDE_OUTCOMES = {"accept": "accepted", "reject": "rejected"}


class _DryRun(Exception):
    """Raised to roll back a dry-run requeue."""


@dataclass(frozen=True)
class Change:
    message: int
    receipt: str | None
    before: str
    after: str
    rules_before: tuple[str, ...]
    rules_after: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.rules_before != self.rules_after


def _rule_ids(row: dict) -> tuple[str, ...]:
    return tuple(f["id"] for f in json.loads(row["rules"] or "[]"))


def select_messages(store: Store, receipts: tuple[str, ...] = (), outcome: str | None = None,
                    rule: str | None = None) -> list[int]:
    """Message ids to re-judge: every message of the given receipts, or those with an outcome/rule."""
    clauses, params = [], []
    if receipts:
        clauses.append(f"receipt IN ({','.join('?' * len(receipts))})")
        params += list(receipts)
    if outcome:
        clauses.append("outcome = ?")
        params.append(outcome)
    if rule:
        clauses.append("EXISTS (SELECT 1 FROM json_each(messages.rules) "
                       "WHERE json_extract(value, '$.id') = ? OR json_extract(value, '$.id') LIKE ?)")
        params += [rule, f"{rule}:%"]
    if not clauses:
        raise InboxError("请指定回执号，或用 --outcome / --rule 选择邮件")
    return [row[0] for row in store.db.execute(
        f"SELECT id FROM messages WHERE {' AND '.join(clauses)} ORDER BY id", params)]


def requeue(store: Store, context: Context, pks: list[int], actor: str = "staff", dry_run: bool = False,
            progress=None) -> list[Change]:
    """Re-judge stored raw bytes with the current rules. With dry_run nothing is written."""
    changes = []
    for pk in pks:
        before = store.message(pk)
        if dry_run:
            try:
                with store.db.atomic():  # judged for real, then rolled back
                    process(store, pk, context, actor=actor)
                    after = store.message(pk)
                    raise _DryRun
            except _DryRun:
                pass
        else:
            process(store, pk, context, actor=actor)
            after = store.message(pk)
        change = Change(pk, after["receipt"], before["outcome"], after["outcome"], _rule_ids(before),
                        _rule_ids(after))
        if not dry_run:
            store.log_event(pk, actor, "requeue", {"before": change.before, "after": change.after,
                                                   "rules_before": change.rules_before,
                                                   "rules_after": change.rules_after})
        changes.append(change)
        if progress:
            progress()
    return changes


def override(store: Store, receipt: str, decision: str, note: str, actor: str = "staff",
             context: Context | None = None) -> Change:
    """Record a staff decision on an entry; it sticks through later requeues."""
    if decision not in OVERRIDE_OUTCOMES:
        raise InboxError(f"未知的决定 {decision}")
    if not note.strip():
        raise InboxError("人工决定必须写明理由（--note）")
    entry = store.entry(receipt)
    if entry is None:
        raise InboxError(f"找不到回执号 {receipt}")
    outcome = OVERRIDE_OUTCOMES[decision]
    with store.db.atomic():
        store.db["overrides"].upsert({"receipt": receipt, "outcome": outcome, "note": note.strip(), "actor": actor,
                                      "at": now_iso()}, pk="receipt")
        store.db["messages"].update(entry["id"], {"outcome": outcome})
        store.log_event(entry["id"], actor, "override", {"before": entry["outcome"], "after": outcome,
                                                         "note": note.strip()})
        if context is not None and entry["outcome"] != outcome:
            queue_reply(store, entry["id"], context, note=note.strip())  # tell the sender what changed
    rules = _rule_ids(entry)
    return Change(entry["id"], receipt, entry["outcome"], outcome, rules, rules)
