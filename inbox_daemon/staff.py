"""What staff do to entries, for both faces (the CLI and the console): re-judge, decide, correct.

Every action is logged in `events` with who, when and what changed. Decisions (an override, a
contest chosen for an unrouted entry, a corrected field, a work added by hand) are kept in their own
tables and re-applied by every later judging, so a requeue after a rule change never silently undoes
a person's work. Each action claims the message it changes, like the daemon does, so a poll running
at the same moment never judges it at the same time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from .db import now_iso
from .errors import InboxError
from .parse import attachment_kind
from .pipeline import Context, judge_stored, process, queue_reply
from .probe import probe_bytes
from .register import claim_token
from .store import Store

DECISIONS = {"accept": "accepted", "reject": "rejected", "not_submission": "ignored"}
BUSY_WAITS = (0.2, 0.5, 1, 2, 4)


class StaffActionError(InboxError):
    """A staff action that cannot be done as asked (unknown receipt, missing note, …)."""


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


def _rule_ids(rules_json: str | None) -> tuple[str, ...]:
    return tuple(f["id"] for f in json.loads(rules_json or "[]"))


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
        raise StaffActionError("请指定回执号，或用 --outcome / --rule 选择邮件")
    return [row[0] for row in store.db.execute(
        f"SELECT id FROM messages WHERE {' AND '.join(clauses)} ORDER BY id", params)]


def _rejudge(store: Store, context: Context, pk: int, actor: str) -> str:
    """Process one message now, waiting a little while another process holds it."""
    for delay in (*BUSY_WAITS, None):
        outcome = process(store, pk, context, actor=actor)
        if outcome != "busy":
            return outcome
        if delay is None:
            raise StaffActionError(f"邮件 #{pk} 正在被其他进程处理，请稍后再试")
        time.sleep(delay)
    raise AssertionError("unreachable")


def requeue(store: Store, context: Context, pks: Iterable[int], actor: str = "staff", dry_run: bool = False,
            progress: Callable[[], None] | None = None) -> list[Change]:
    """Re-judge stored raw bytes with the current rules. A dry run decides and writes nothing."""
    changes = []
    for pk in pks:
        before = store.register.message(pk)
        if dry_run:
            _, _, decision = judge_stored(store, pk, context)
            after_outcome, after_rules = decision.outcome, tuple(f.id for f in decision.findings)
            receipt = decision.receipt or before["receipt"]
        else:
            _rejudge(store, context, pk, actor)
            after = store.register.message(pk)
            after_outcome, after_rules, receipt = after["outcome"], _rule_ids(after["rules"]), after["receipt"]
        change = Change(pk, receipt, before["outcome"], after_outcome, _rule_ids(before["rules"]), after_rules)
        if not dry_run:
            store.register.log_event(pk, actor, "requeue", {"before": change.before, "after": change.after,
                                                            "rules_before": change.rules_before,
                                                            "rules_after": change.rules_after})
        changes.append(change)
        if progress:
            progress()
    return changes


def _entry(store: Store, receipt: str) -> dict:
    entry = store.register.entry(receipt)
    if entry is None:
        raise StaffActionError(f"找不到回执号 {receipt}")
    return entry


def _claimed(store: Store, pk: int) -> str:
    token = claim_token()
    for delay in (*BUSY_WAITS, None):
        if store.register.claim(pk, token, seconds=60):
            return token
        if delay is None:
            raise StaffActionError(f"邮件 #{pk} 正在被其他进程处理，请稍后再试")
        time.sleep(delay)
    raise AssertionError("unreachable")


def override(store: Store, receipt: str, decision: str, note: str, actor: str = "staff",
             context: Context | None = None, message: str = "") -> Change:
    """Record a staff decision on an entry; it sticks through later requeues.

    `note` is internal (required, never sent); `message`, when given, goes to the contestant in the
    reply that tells them the outcome changed."""
    if decision not in DECISIONS:
        raise StaffActionError(f"未知的决定 {decision}")
    if not note.strip():
        raise StaffActionError("人工决定必须写明内部备注（--note），备注不会发给投稿人")
    outcome = DECISIONS[decision]
    for _ in range(3):  # the entry's current message may change under us (a correction being judged)
        entry = _entry(store, receipt)
        token = _claimed(store, entry["id"])
        try:
            with store.write():
                store.register.check_claim(entry["id"], token)
                current = _entry(store, receipt)  # read again under the lock: decide on what is there now
                if current["id"] == entry["id"]:
                    entry = current
                    _apply_override(store, entry, receipt, outcome, note, message, actor, context)
                    break
        finally:
            store.register.release(entry["id"], token)
    else:
        raise StaffActionError(f"作品 {receipt} 正在更新，请稍后再试")
    rules = _rule_ids(entry["rules"])
    return Change(entry["id"], receipt, entry["outcome"], outcome, rules, rules)


def _apply_override(store: Store, entry: dict, receipt: str, outcome: str, note: str, message: str, actor: str,
                    context: Context | None) -> None:
    """Inside the caller's transaction, on the entry's current message (claimed)."""
    store.db["overrides"].upsert({"receipt": receipt, "outcome": outcome, "note": note.strip(),
                                  "message": message.strip() or None, "actor": actor, "at": now_iso()},
                                 pk="receipt")
    store.db["messages"].update(entry["id"], {"outcome": outcome})
    store.register.log_event(entry["id"], actor, "override", {
        "before": entry["outcome"], "after": outcome, "note": note.strip(),
        **({"message": message.strip()} if message.strip() else {})})
    if context is not None and entry["outcome"] != outcome:
        queue_reply(store, entry["id"], context, note=message.strip())  # tell the sender what changed


def _logged_then_rejudged(store: Store, context: Context, receipt: str, actor: str, action: str, detail: dict,
                          write: Callable[[], None]) -> Change:
    entry = _entry(store, receipt)
    with store.write():
        write()
        store.register.log_event(entry["id"], actor, action, detail)
    return requeue(store, context, [entry["id"]], actor=actor)[0]


def set_contest(store: Store, context: Context, receipt: str, contest: str, actor: str = "staff") -> Change:
    """Put an entry into a contest (one that could not be routed); it is then judged under that contest."""
    if contest not in context.rules.contests:
        raise StaffActionError(f"未知的比赛 {contest}（可选：{'、'.join(context.rules.contests)}）")
    return _logged_then_rejudged(
        store, context, receipt, actor, "set_contest", {"contest": contest},
        lambda: store.db["assignments"].upsert({"receipt": receipt, "contest": contest, "actor": actor,
                                                "at": now_iso()}, pk="receipt"))


def correct_field(store: Store, context: Context, receipt: str, field: str, value: str,
                  actor: str = "staff") -> Change:
    """Correct one field as read from the mail; logged, and the entry judged again with it."""
    entry = _entry(store, receipt)
    contest = context.rules.contests.get(entry["contest"] or "")
    if contest is None or contest.field_rule(field) is None:
        raise StaffActionError(f"该作品没有字段 {field}")
    before = json.loads(entry["fields"] or "{}").get(field)
    return _logged_then_rejudged(
        store, context, receipt, actor, "correct_field", {"field": field, "before": before, "after": value},
        lambda: store.db["corrections"].insert({"receipt": receipt, "field": field, "value": value,
                                                "actor": actor, "at": now_iso()}))


def add_work(store: Store, context: Context, receipt: str, filename: str, chunks: Iterable[bytes],
             actor: str = "staff") -> Change:
    """Add a work staff fetched themselves (a video behind a cloud link); probed and judged as if attached."""
    sha256, size = store.blobs.put_chunks("att", chunks)
    path = store.blobs.path("att", sha256)
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    kind, mime = attachment_kind(head, filename, "application/octet-stream")
    probe = probe_bytes(filename, sha256, b"", kind, mime, path=str(path), size=size)
    row = {"receipt": receipt, "sha256": sha256, "filename": filename, "size": size, "kind": probe.kind,
           "mime": probe.mime, "duration_s": probe.duration_s, "width": probe.width, "height": probe.height,
           "meta": json.dumps(probe.as_meta(), ensure_ascii=False), "actor": actor, "at": now_iso()}
    return _logged_then_rejudged(
        store, context, receipt, actor, "add_work",
        {"filename": filename, "sha256": sha256, "size": size, "kind": probe.kind},
        lambda: store.db["uploads"].insert(row))


def resend(store: Store, outbox_id: int, actor: str = "staff") -> bool:
    """Queue a failed reply again."""
    row = store.db.execute("SELECT message FROM outbox WHERE id=?", [outbox_id]).fetchone()
    if row is None:
        raise StaffActionError(f"没有编号为 {outbox_id} 的回复")
    done = store.outbox.resend(outbox_id)
    if done:
        store.register.log_event(row[0], actor, "resend", {"outbox": outbox_id})
    return done
