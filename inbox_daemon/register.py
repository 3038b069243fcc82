"""The register: every stored message, where it lies on the server, its entry, receipt and history.

Processed mail is tracked per (mailbox, folder, UIDVALIDITY, UID) in `locations`, and messages are
unique per mailbox by the SHA-256 of their raw bytes, so a re-sync never creates a second entry.
A message is *claimed* (who, until when) before it is judged, so two processes never judge it at
once; a claim that outlives its holder (a killed process) simply expires.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

import sqlite_utils

from .db import now_iso, write
from .errors import StoreError

# A message that stands for its entry: judged, and not a mere repeat of the entry's receipt.
JUDGED_ENTRY = ("outcome IN ('accepted','rejected','needs_review') "
                "AND (duplicate_of IS NULL OR duplicate_of <> receipt)")
CURRENT_ENTRIES = f"SELECT MAX(id) FROM messages WHERE receipt IS NOT NULL AND {JUDGED_ENTRY} GROUP BY receipt"
CLAIM_S = 600  # a judging that takes longer than this is presumed dead and may be taken over


@dataclass(frozen=True)
class RawMessage:
    """What a source hands over: where and when the server received a message, and its bytes.

    Sources stream what they fetch straight into the blob store; `raw` is then empty and
    `sha256`/`size` name the stored copy (tests may still hand over bytes)."""

    mailbox: str
    folder: str
    uidvalidity: int
    uid: str
    raw: bytes
    received_at: datetime
    sha256: str = ""
    size: int = 0


HOST = socket.gethostname()


def claim_token() -> str:
    """Who holds a claim: this machine and process, and this one piece of work within it."""
    return f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_dead(token: str | None) -> bool:
    """A claim held by a process of this machine that no longer exists (killed): take it over at once
    instead of waiting for it to expire."""
    host, _, rest = (token or "").partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _later(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


class ClaimLost(StoreError):
    """Our claim on a message expired and another process took it: our result is not written."""


class Register:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    # -- sync state --------------------------------------------------------------------------------

    def highest_uid(self, mailbox: str, folder: str, uidvalidity: int) -> int:
        row = self.db.execute(
            "SELECT highest_uid FROM sync_state WHERE mailbox=? AND folder=? AND uidvalidity=?",
            [mailbox, folder, uidvalidity]).fetchone()
        return row[0] if row else 0

    def other_validities(self, mailbox: str, folder: str, uidvalidity: int) -> bool:
        """True when this folder was synced before under another UIDVALIDITY: a re-sync."""
        return self.db.execute(
            "SELECT 1 FROM sync_state WHERE mailbox=? AND folder=? AND uidvalidity<>? LIMIT 1",
            [mailbox, folder, uidvalidity]).fetchone() is not None

    def set_highest_uid(self, mailbox: str, folder: str, uidvalidity: int, uid: int) -> None:
        with write(self.db):
            self.db["sync_state"].upsert({"mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity,
                                          "highest_uid": max(uid, self.highest_uid(mailbox, folder, uidvalidity)),
                                          "updated_at": now_iso()}, pk=("mailbox", "folder", "uidvalidity"))

    def known_uids(self, mailbox: str, folder: str, uidvalidity: int, uids: Iterable[str]) -> set[str]:
        wanted = [str(u) for u in uids]
        known: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(row[0] for row in self.db.execute(
                f"SELECT uid FROM locations WHERE mailbox=? AND folder=? AND uidvalidity=? AND uid IN ({marks})",
                [mailbox, folder, uidvalidity, *chunk]))
        return known

    def pending_done(self, mailbox: str, folder: str, uidvalidity: int) -> list[str]:
        """UIDs committed here but not yet moved or flagged on the server."""
        return [row[0] for row in self.db.execute(
            "SELECT l.uid FROM locations l JOIN messages m ON m.id = l.message "
            "WHERE l.mailbox=? AND l.folder=? AND l.uidvalidity=? AND l.done_at IS NULL "
            "AND m.status <> 'stored' ORDER BY CAST(l.uid AS INTEGER), l.uid",
            [mailbox, folder, uidvalidity])]

    def mark_done(self, mailbox: str, folder: str, uidvalidity: int, uids: Iterable[str]) -> None:
        at = now_iso()
        with write(self.db):
            for uid in uids:
                self.db.execute("UPDATE locations SET done_at=? WHERE mailbox=? AND folder=? AND uidvalidity=? "
                                "AND uid=?", [at, mailbox, folder, uidvalidity, str(uid)])

    def copy_states(self, mailbox: str, folder: str, uidvalidity: int, uids: Iterable[str]) -> dict[str, str | None]:
        marks = ",".join("?" * len(list(uids)))
        found = {row[0]: row[1] for row in self.db.execute(
            f"SELECT uid, copy_state FROM locations WHERE mailbox=? AND folder=? AND uidvalidity=? AND uid IN ({marks})",
            [mailbox, folder, uidvalidity, *uids])}
        return {str(uid): found.get(str(uid)) for uid in uids}

    def set_copy_state(self, mailbox: str, folder: str, uidvalidity: int, states: dict[str, tuple[str, str | None]]
                       ) -> None:
        """`states`: uid -> (state, UID of the copy in the done folder or None)."""
        with write(self.db):
            for uid, (state, copied_uid) in states.items():
                self.db.execute("UPDATE locations SET copy_state=?, copied_uid=COALESCE(?, copied_uid) "
                                "WHERE mailbox=? AND folder=? AND uidvalidity=? AND uid=?",
                                [state, copied_uid, mailbox, folder, uidvalidity, str(uid)])

    def identity(self, mailbox: str, folder: str, uidvalidity: int, uid: str) -> tuple[str, int, str] | None:
        """(sha256, size, Message-ID) of the message stored for this UID: how to recognise its copy."""
        row = self.db.execute("SELECT m.raw_sha256, m.raw_size, m.message_id FROM locations l "
                              "JOIN messages m ON m.id = l.message WHERE l.mailbox=? AND l.folder=? "
                              "AND l.uidvalidity=? AND l.uid=?", [mailbox, folder, uidvalidity, str(uid)]).fetchone()
        return (row[0], row[1], row[2] or "") if row else None

    def match_resync(self, mailbox: str, message_id: str, size: int, received_at: str) -> int | None:
        """An already stored message with this Message-ID, size and receive time, for a UIDVALIDITY
        re-sync. Anything less certain is downloaded again (and then matched by its hash): a message
        wrongly taken as held would be marked done without ever being read."""
        if not message_id or not received_at:
            return None
        row = self.db.execute("SELECT id FROM messages WHERE mailbox=? AND message_id=? AND raw_size=? "
                              "AND received_at=? LIMIT 1", [mailbox, message_id, size, received_at]).fetchone()
        return row[0] if row else None

    def add_location(self, mailbox: str, folder: str, uidvalidity: int, uid: str, message: int) -> None:
        with write(self.db):
            self.db["locations"].insert({"mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity,
                                         "uid": str(uid), "message": message, "seen_at": now_iso()},
                                        ignore=True)

    # -- mailbox health -----------------------------------------------------------------------------

    def record_pass(self, mailbox: str, error: str | None, new: int = 0) -> None:
        """The outcome of one pass over `mailbox` (error None: it went well)."""
        at = now_iso()
        values = {"mailbox": mailbox, "last_pass_at": at, "updated_at": at}
        values.update({"last_error": error, "last_error_at": at} if error else {"last_ok_at": at, "new": new})
        with write(self.db):
            self.db["mailbox_status"].upsert(values, pk="mailbox")

    def record_idle(self, mailbox: str, watching: bool, error: str | None = None) -> None:
        at = now_iso()
        values = {"mailbox": mailbox, "idle": int(watching), "idle_since": at if watching else None,
                  "updated_at": at}
        if error:
            values.update(last_error=error, last_error_at=at)
        with write(self.db):
            self.db["mailbox_status"].upsert(values, pk="mailbox")

    # -- messages ----------------------------------------------------------------------------------

    def record_raw(self, raw: RawMessage, sha256: str, size: int, message_id: str = "") -> tuple[int, bool]:
        """Commit the row of a message whose bytes are stored. Returns (message id, whether it is new)."""
        try:
            with write(self.db):
                row = self.db.execute("SELECT id FROM messages WHERE mailbox=? AND raw_sha256=?",
                                      [raw.mailbox, sha256]).fetchone()
                is_new = row is None
                if is_new:
                    pk = self.db["messages"].insert({
                        "mailbox": raw.mailbox, "folder": raw.folder, "uidvalidity": raw.uidvalidity,
                        "uid": str(raw.uid), "raw_sha256": sha256, "raw_size": size,
                        "message_id": message_id,
                        "received_at": raw.received_at.astimezone(timezone.utc).isoformat(timespec="seconds"),
                        "stored_at": now_iso(), "status": "stored", "outcome": "received",
                    }).last_pk
                else:
                    pk = row[0]
                self.db["locations"].insert({"mailbox": raw.mailbox, "folder": raw.folder,
                                             "uidvalidity": raw.uidvalidity, "uid": str(raw.uid), "message": pk,
                                             "seen_at": now_iso()}, ignore=True)
        except sqlite3.OperationalError as err:
            raise StoreError(f"数据库写入失败 / database write failed: {err}") from err
        return pk, is_new

    def unparsed(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT id FROM messages WHERE status='stored' ORDER BY id")]

    def message(self, pk: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM messages WHERE id=?", [pk]))
        return rows[0] if rows else None

    def attachments(self, pk: int) -> list[dict]:
        return list(self.db.query("SELECT * FROM attachments WHERE message=? ORDER BY position", [pk]))

    def rows(self, where: str = "1=1", params: Iterable = ()) -> Iterable[dict]:
        return self.db.query(f"SELECT * FROM messages WHERE {where} ORDER BY received_at, id", list(params))

    # -- claims --------------------------------------------------------------------------------------

    def claim(self, pk: int, token: str, seconds: float = CLAIM_S) -> bool:
        """Take message `pk` for judging unless a live claim holds it. A claim on a message not yet
        judged counts as one attempt (three failed attempts set the message aside)."""
        with write(self.db):
            holder = self.db.execute("SELECT claimed_by FROM messages WHERE id=?", [pk]).fetchone()
            dead = holder[0] if holder and holder_is_dead(holder[0]) else None
            return self.db.execute(
                "UPDATE messages SET claimed_by=?, claimed_until=?, attempts=attempts + (status='stored') "
                "WHERE id=? AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by IN (?, ?))",
                [token, _later(seconds), pk, now_iso(), token, dead]).rowcount == 1

    def release(self, pk: int, token: str) -> None:
        with write(self.db):
            self.db.execute("UPDATE messages SET claimed_by=NULL, claimed_until=NULL WHERE id=? AND claimed_by=?",
                            [pk, token])

    def check_claim(self, pk: int, token: str) -> None:
        """Inside the writing transaction: our claim still holds, or nothing is written."""
        row = self.db.execute("SELECT claimed_by FROM messages WHERE id=?", [pk]).fetchone()
        if row is None or row[0] != token:
            raise ClaimLost(f"message {pk}: claim {token} lost to {row[0] if row else 'nobody'}")

    # -- entries and receipts -----------------------------------------------------------------------

    def allocate_receipt(self, prefix: str, year: int) -> str:
        """The next PREFIX-YEAR-NNNN; call inside the transaction that records the entry."""
        with write(self.db):
            seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM receipts WHERE prefix=? AND year=?",
                                  [prefix, year]).fetchone()[0]
            receipt = f"{prefix}-{year}-{seq:04d}"
            self.db["receipts"].insert({"receipt": receipt, "prefix": prefix, "year": year, "seq": seq,
                                        "created_at": now_iso()})
        return receipt

    def entry(self, receipt: str) -> dict | None:
        """The current state of an entry: its latest judged message that is not a mere duplicate."""
        rows = list(self.db.query(
            f"SELECT * FROM messages WHERE receipt=? AND {JUDGED_ENTRY} ORDER BY id DESC LIMIT 1", [receipt]))
        return rows[0] if rows else None

    def first_received(self, receipt: str) -> str | None:
        """When the entry's first message arrived: the deadline is judged on that."""
        row = self.db.execute("SELECT MIN(received_at) FROM messages WHERE receipt=?", [receipt]).fetchone()
        return row[0] if row else None

    def entries(self, contest: str | None = None) -> list[dict]:
        """Every entry in its current state (one row per receipt), oldest receipt first."""
        where, params = ("AND contest = ?", [contest]) if contest else ("", [])
        return list(self.db.query(
            f"SELECT * FROM messages WHERE id IN ({CURRENT_ENTRIES}) {where} ORDER BY receipt", params))

    def entry_with_files(self, sha256s: list[str], exclude: int) -> dict | None:
        """The latest entry holding any of these work files."""
        if not sha256s:
            return None
        marks = ",".join("?" * len(sha256s))
        rows = list(self.db.query(
            f"SELECT DISTINCT m.receipt FROM attachments a JOIN messages m ON m.id = a.message "
            f"WHERE a.sha256 IN ({marks}) AND m.id <> ? AND m.receipt IS NOT NULL ORDER BY m.id DESC",
            [*sha256s, exclude]))
        for row in rows:
            entry = self.entry(row["receipt"])
            if entry:
                return entry
        return None

    def override_for(self, receipt: str | None) -> dict | None:
        if not receipt:
            return None
        rows = list(self.db.query("SELECT * FROM overrides WHERE receipt=?", [receipt]))
        return rows[0] if rows else None

    def staff_rows(self, receipt: str) -> dict:
        """Everything staff decided about a receipt: override, chosen contest, corrections, uploads."""
        corrections = {row["field"]: row["value"] for row in self.db.query(
            "SELECT field, value FROM corrections WHERE receipt=? ORDER BY id", [receipt])}
        assignment = self.db.execute("SELECT contest FROM assignments WHERE receipt=?", [receipt]).fetchone()
        return {"override": self.override_for(receipt), "contest": assignment[0] if assignment else None,
                "fields": corrections,
                "uploads": list(self.db.query("SELECT * FROM uploads WHERE receipt=? ORDER BY id", [receipt]))}

    def receipts_for_reply(self, in_reply_to: str, references: tuple[str, ...]) -> list[str]:
        """Receipts of entries whose reply (from the outbox) this message answers."""
        ids = [i for i in (in_reply_to, *references) if i]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return [row[0] for row in self.db.execute(
            f"SELECT m.receipt FROM outbox o JOIN messages m ON m.id = o.message "
            f"WHERE o.message_id IN ({marks}) AND m.receipt IS NOT NULL ORDER BY o.id DESC", ids)]

    def save_parsed(self, pk: int, record: dict, attachments: list[dict]) -> None:
        """Store what parsing and judging found; the caller's transaction also holds the reply."""
        with write(self.db):
            self.db.execute("DELETE FROM attachments WHERE message=?", [pk])
            self.db["attachments"].insert_all([{**a, "message": pk} for a in attachments])
            self.db["messages"].update(pk, {**record, "status": "parsed", "error": None, "parsed_at": now_iso(),
                                            "claimed_by": None, "claimed_until": None})

    def save_error(self, pk: int, reason: str, actor: str = "daemon") -> None:
        with write(self.db):
            self.db["messages"].update(pk, {"status": "error", "outcome": "error", "error": reason,
                                            "parsed_at": now_iso(), "claimed_by": None, "claimed_until": None})
            self.log_event(pk, actor, "error", reason)

    def log_event(self, pk: int | None, actor: str, action: str, detail: str | dict = "") -> None:
        if not isinstance(detail, str):
            detail = json.dumps(detail, ensure_ascii=False)
        with write(self.db):
            self.db["events"].insert({"message": pk, "at": now_iso(), "actor": actor, "action": action,
                                      "detail": detail})
