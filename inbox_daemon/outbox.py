"""The outbox: replies written in the same transaction as the verdict, then claimed one at a time
and sent by whichever drain gets there first.

A reply is `queued`, then `sending` (claimed: by whom, until when) while one drain sends it, then
`sent`, `failed`, or `queued` again for a later attempt. A claim is taken in its own short write
transaction before the SMTP conversation starts, so two drains (the poll job, the send job, a staff
command, the console) never send the same row. A claim that expires belonged to a killed sender;
the row is then sent again (see `send.py` for that one window).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlite_utils

from .db import now_iso, write
from .register import holder_is_dead

NOT_SENT_BY_US = ("suppressed",)


@dataclass(frozen=True)
class Claimed:
    """One reply, claimed for sending: everything the transport needs."""

    id: int
    to_addr: str
    raw: bytes
    attempts: int
    token: str


def _utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


class Outbox:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def enqueue(self, row: dict) -> int:
        with write(self.db):
            return self.db["outbox"].insert({"attempts": 0, "created_at": now_iso(), **row}).last_pk

    def last_reply(self, pk: int) -> dict | None:
        """The latest reply decided for message `pk` (the daily-limit notice does not count)."""
        rows = list(self.db.query("SELECT * FROM outbox WHERE message=? AND kind <> 'limit' "
                                  "ORDER BY id DESC LIMIT 1", [pk]))
        return rows[0] if rows else None

    def replies(self, pk: int) -> list[dict]:
        return list(self.db.query("SELECT id, kind, outcome, to_addr, subject, status, reason, attempts, "
                                  "last_error, created_at, sent_at FROM outbox WHERE message=? ORDER BY id", [pk]))

    def replies_since(self, to_addr: str, since: str) -> tuple[int, bool]:
        """(replies queued or sent to this address since `since`, whether a limit notice was among them)."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(kind = 'limit'), 0) FROM outbox WHERE to_addr=? AND created_at>=? "
            "AND status <> 'suppressed'", [to_addr, since]).fetchone()
        return row[0], bool(row[1])

    def claim_next(self, token: str, now: datetime, hold_s: float) -> Claimed | None:
        """Claim the oldest reply that is due (or whose claim expired); None when there is none.

        Only one row is held at a time, so memory does not grow with the backlog."""
        stamp = _utc(now)
        with write(self.db):
            dead = [row[0] for row in self.db.execute(
                "SELECT DISTINCT claimed_by FROM outbox WHERE status='sending'") if holder_is_dead(row[0])]
            marks = ",".join("?" * len(dead)) or "NULL"
            row = self.db.execute(
                "UPDATE outbox SET status='sending', claimed_by=?, claimed_until=? WHERE id = ("
                "SELECT id FROM outbox WHERE (status='queued' AND next_attempt_at <= ?) "
                f"OR (status='sending' AND (claimed_until < ? OR claimed_by IN ({marks}))) ORDER BY id LIMIT 1) "
                "RETURNING id, to_addr, raw, attempts",
                [token, _utc(now + timedelta(seconds=hold_s)), stamp, stamp, *dead]).fetchone()
        if row is None:
            return None
        return Claimed(row[0], row[1], bytes(row[2] or b""), row[3] or 0, token)

    def settle(self, claimed: Claimed, **values) -> bool:
        """Record what happened to a claimed reply, if the claim is still ours."""
        values = {**values, "claimed_by": None, "claimed_until": None}
        columns = ", ".join(f"{key}=?" for key in values)
        try:
            with write(self.db):
                return self.db.execute(f"UPDATE outbox SET {columns} WHERE id=? AND claimed_by=?",
                                       [*values.values(), claimed.id, claimed.token]).rowcount == 1
        except sqlite3.IntegrityError:
            return False

    def postpone_due(self, until: datetime) -> None:
        """The server is unreachable: everything due waits until `until` instead of hammering it."""
        with write(self.db):
            self.db.execute("UPDATE outbox SET next_attempt_at=? WHERE status='queued' AND next_attempt_at < ?",
                            [_utc(until), _utc(until)])

    def resend(self, outbox_id: int) -> bool:
        """Queue a failed reply again (staff pressed "resend")."""
        with write(self.db):
            return self.db.execute("UPDATE outbox SET status='queued', attempts=0, next_attempt_at=?, "
                                   "last_error=NULL WHERE id=? AND status='failed'",
                                   [now_iso(), outbox_id]).rowcount == 1

    def status(self, outbox_id: int) -> str | None:
        row = self.db.execute("SELECT status FROM outbox WHERE id=?", [outbox_id]).fetchone()
        return row[0] if row else None
