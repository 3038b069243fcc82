"""The raw store and the SQLite register: nothing is lost from here on.

Raw bytes and attachments are saved content-addressed (temp file, fsync,
rename), then a row is committed; only after that commit may the server be
told the message is done. Processed mail is tracked per (mailbox, folder,
UIDVALIDITY, UID) in `locations`, and messages are unique per mailbox by the
SHA-256 of their raw bytes, so a re-sync never creates a second entry.
"""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils

from .errors import StoreError

SCHEMA_VERSION = 1
# A message that stands for its entry: judged, and not a mere repeat of the entry's receipt.
JUDGED_ENTRY = ("outcome IN ('accepted','rejected','needs_review') "
                "AND (duplicate_of IS NULL OR duplicate_of <> receipt)")


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


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


CHUNK = 1 << 20


class BlobStore:
    """Files named by their SHA-256 under `root/<kind>/<2 hex>/<hash>`; never by a sender's name.

    Everything is written to `root/tmp` first, hashed while it is written, then renamed into
    place: a file under its hash is always complete."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, kind: str, sha256: str) -> Path:
        if kind not in ("raw", "att") or len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"bad blob address {kind}/{sha256!r}")
        return self.root / kind / sha256[:2] / sha256

    def put(self, kind: str, data: bytes, sha256: str | None = None) -> str:
        """`sha256`, when the caller has it already, spares hashing the data again."""
        if sha256 and self._present(kind, sha256, len(data)):
            return sha256
        return self.put_chunks(kind, (data,), sha256)[0]

    def put_chunks(self, kind: str, chunks: Iterable[bytes], sha256: str | None = None) -> tuple[str, int]:
        """Stream `chunks` into the store; returns (sha256, size). Raw messages, the durable copy, are
        fsynced with their directory; attachments are not (every processing derives them again).

        Errors of the store become StoreError; errors of whatever produces the chunks (a dropped
        IMAP connection) pass through unchanged."""
        durable = kind == "raw"
        spool = self.root / "tmp"
        digest, size = (None if sha256 else hashlib.sha256()), 0
        with _store_errors(spool):
            spool.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=spool, prefix=f"{kind}-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    if digest:
                        digest.update(chunk)
                    size += len(chunk)
                    with _store_errors(spool):
                        handle.write(chunk)
                with _store_errors(spool):
                    handle.flush()
                    if durable:
                        os.fsync(handle.fileno())
            sha256 = digest.hexdigest() if digest else sha256
            target = self.path(kind, sha256)
            with _store_errors(target):
                os.chmod(tmp, 0o640)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)  # the same name always holds the same bytes
                if durable:
                    dir_fd = os.open(target.parent, os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256, size

    def _present(self, kind: str, sha256: str, size: int) -> bool:
        try:
            return self.path(kind, sha256).stat().st_size == size
        except OSError:
            return False

    def get(self, kind: str, sha256: str) -> bytes:
        return self.path(kind, sha256).read_bytes()

    @contextmanager
    def mapped(self, kind: str, sha256: str) -> Iterator[bytes | mmap.mmap]:
        """The stored bytes without reading them into memory (a read-only map of the file)."""
        with open(self.path(kind, sha256), "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                yield view

    def verify(self, kind: str, sha256: str) -> bool:
        try:
            with open(self.path(kind, sha256), "rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
        except OSError:
            return False

    def clear_spool(self, older_than_s: float = 3600) -> None:
        """Drop temp files a killed process left behind (never one still being written)."""
        cutoff = time.time() - older_than_s
        for entry in (self.root / "tmp").glob("*"):
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                continue


@contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        raise StoreError(_describe_os_error(err, path)) from err


def _describe_os_error(err: OSError, path: Path) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"磁盘已满，无法写入 {path} / disk full writing {path}"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"存储目录不可写 {path} / store is not writable: {path} ({err.strerror})"
    return f"写入存储失败 {path} / cannot write store {path}: {err.strerror}"


class Store:
    """The register: one SQLite database (WAL) beside a BlobStore."""

    def __init__(self, database: Path, files: Path):
        database = Path(database)
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(database)
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = FULL")
            self.ensure_schema()
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"无法打开数据库 {database} / cannot open database {database}: {err}") from err
        self.blobs = BlobStore(files)

    @classmethod
    def from_config(cls, config) -> "Store":
        return cls(config.storage.database, config.storage.files)

    def close(self) -> None:
        self.db.close()

    def ensure_schema(self) -> None:
        """Create or complete the tables; safe to run on every start."""
        db = self.db
        if "messages" not in db.table_names():
            db["messages"].create({
                "id": int, "mailbox": str, "folder": str, "uidvalidity": int, "uid": str,
                "raw_sha256": str, "raw_size": int, "message_id": str, "received_at": str, "stored_at": str,
                "status": str, "outcome": str, "error": str, "sender": str, "sender_name": str,
                "reply_to": str, "subject": str, "in_reply_to": str, "references_": str, "date_header": str,
                "body_text": str, "headers": str, "defects": str, "contest": str, "receipt": str,
                "fields": str, "rules": str, "duplicate_of": str, "parsed_at": str,
            }, pk="id", not_null={"mailbox", "raw_sha256", "status"}, defaults={"status": "stored"})
            db["messages"].create_index(["mailbox", "raw_sha256"], unique=True)
            db["messages"].create_index(["message_id"])
            db["messages"].create_index(["status"])
            db["messages"].create_index(["receipt"])
        if "locations" not in db.table_names():
            db["locations"].create({
                "mailbox": str, "folder": str, "uidvalidity": int, "uid": str, "message": int,
                "seen_at": str, "done_at": str,
            }, pk=("mailbox", "folder", "uidvalidity", "uid"), foreign_keys=[("message", "messages", "id")])
            db["locations"].create_index(["message"])
        if "sync_state" not in db.table_names():
            db["sync_state"].create({
                "mailbox": str, "folder": str, "uidvalidity": int, "highest_uid": int, "updated_at": str,
            }, pk=("mailbox", "folder", "uidvalidity"))
        if "attachments" not in db.table_names():
            db["attachments"].create({
                "id": int, "message": int, "position": int, "filename": str, "sha256": str, "size": int,
                "kind": str, "mime": str, "declared_type": str, "duration_s": float, "width": int,
                "height": int,
            }, pk="id", foreign_keys=[("message", "messages", "id")])
            db["attachments"].create_index(["message"])
            db["attachments"].create_index(["sha256"])
        if "links" not in db["messages"].columns_dict:
            db["messages"].add_column("links", str)  # large-attachment links: url, size, expiry
        if "meta" not in db["attachments"].columns_dict:
            db["attachments"].add_column("meta", str)
        if "receipts" not in db.table_names():
            db["receipts"].create({"receipt": str, "prefix": str, "year": int, "seq": int, "created_at": str},
                                  pk="receipt")
            db["receipts"].create_index(["prefix", "year", "seq"], unique=True)
        if "overrides" not in db.table_names():
            db["overrides"].create({"receipt": str, "outcome": str, "note": str, "actor": str, "at": str},
                                   pk="receipt")
        if "outbox" not in db.table_names():
            db["outbox"].create({
                "id": int, "message": int, "receipt": str, "kind": str, "outcome": str, "to_addr": str,
                "subject": str, "message_id": str, "raw": bytes, "status": str, "reason": str, "attempts": int,
                "next_attempt_at": str, "last_error": str, "created_at": str, "sent_at": str,
            }, pk="id", defaults={"attempts": 0})
            db["outbox"].create_index(["status", "next_attempt_at"])
            db["outbox"].create_index(["message"])
            db["outbox"].create_index(["to_addr", "created_at"])
            db["outbox"].create_index(["message_id"])
        if "events" not in db.table_names():
            db["events"].create({"id": int, "message": int, "at": str, "actor": str, "action": str,
                                 "detail": str}, pk="id")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- sync state ------------------------------------------------------------

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
        with self.db.atomic():
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
        with self.db.atomic():
            for uid in uids:
                self.db.execute("UPDATE locations SET done_at=? WHERE mailbox=? AND folder=? AND uidvalidity=? "
                                "AND uid=?", [at, mailbox, folder, uidvalidity, str(uid)])

    def match_resync(self, mailbox: str, message_id: str, size: int) -> int | None:
        """An already stored message with this Message-ID and size, for a UIDVALIDITY re-sync."""
        if not message_id:
            return None
        row = self.db.execute("SELECT id FROM messages WHERE mailbox=? AND message_id=? AND raw_size=? LIMIT 1",
                              [mailbox, message_id, size]).fetchone()
        return row[0] if row else None

    def add_location(self, mailbox: str, folder: str, uidvalidity: int, uid: str, message: int) -> None:
        with self.db.atomic():
            self.db["locations"].insert({"mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity,
                                         "uid": str(uid), "message": message, "seen_at": now_iso()},
                                        ignore=True)

    # -- messages --------------------------------------------------------------

    def record_raw(self, raw: RawMessage, message_id: str = "") -> tuple[int, bool]:
        """Save the bytes, then commit the row. Returns (message id, whether it is new)."""
        sha, size = (raw.sha256, raw.size) if raw.sha256 else (self.blobs.put("raw", raw.raw), len(raw.raw))
        try:
            with self.db.atomic():
                row = self.db.execute("SELECT id FROM messages WHERE mailbox=? AND raw_sha256=?",
                                      [raw.mailbox, sha]).fetchone()
                is_new = row is None
                if is_new:
                    pk = self.db["messages"].insert({
                        "mailbox": raw.mailbox, "folder": raw.folder, "uidvalidity": raw.uidvalidity,
                        "uid": str(raw.uid), "raw_sha256": sha, "raw_size": size,
                        "message_id": message_id, "received_at": raw.received_at.isoformat(timespec="seconds"),
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

    # -- entries and receipts ----------------------------------------------------

    def allocate_receipt(self, prefix: str, year: int) -> str:
        """The next PREFIX-YEAR-NNNN; call inside the transaction that records the entry."""
        with self.db.atomic():
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

    def entries(self, contest: str | None = None) -> list[dict]:
        """Every entry in its current state (one row per receipt), oldest receipt first."""
        where, params = ("AND contest = ?", [contest]) if contest else ("", [])
        return list(self.db.query(
            f"SELECT * FROM messages WHERE id IN (SELECT MAX(id) FROM messages WHERE receipt IS NOT NULL "
            f"AND {JUDGED_ENTRY} GROUP BY receipt) {where} ORDER BY receipt", params))

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

    # -- outbox ------------------------------------------------------------------

    def last_reply(self, pk: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM outbox WHERE message=? AND kind <> 'limit' "
                                  "ORDER BY id DESC LIMIT 1", [pk]))
        return rows[0] if rows else None

    def replies_since(self, to_addr: str, since: str) -> tuple[int, bool]:
        """(replies queued or sent to this address since `since`, whether a limit notice was among them)."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(kind = 'limit'), 0) FROM outbox WHERE to_addr=? AND created_at>=? "
            "AND status <> 'suppressed'", [to_addr, since]).fetchone()
        return row[0], bool(row[1])

    def enqueue_reply(self, row: dict) -> int:
        with self.db.atomic():
            return self.db["outbox"].insert({"attempts": 0, "created_at": now_iso(), **row}).last_pk

    def override_for(self, receipt: str | None) -> dict | None:
        if not receipt:
            return None
        rows = list(self.db.query("SELECT * FROM overrides WHERE receipt=?", [receipt]))
        return rows[0] if rows else None

    def receipts_for_reply(self, in_reply_to: str, references: tuple[str, ...]) -> list[str]:
        """Receipts of entries whose reply (from the outbox) this message answers."""
        ids = [i for i in (in_reply_to, *references) if i]
        if not ids or "outbox" not in self.db.table_names():
            return []
        marks = ",".join("?" * len(ids))
        return [row[0] for row in self.db.execute(
            f"SELECT m.receipt FROM outbox o JOIN messages m ON m.id = o.message "
            f"WHERE o.message_id IN ({marks}) AND m.receipt IS NOT NULL ORDER BY o.id DESC", ids)]

    def save_parsed(self, pk: int, record: dict, attachments: list[dict]) -> None:
        """Store what parsing and judging found, in one transaction."""
        with self.db.atomic():
            self.db.execute("DELETE FROM attachments WHERE message=?", [pk])
            self.db["attachments"].insert_all([{**a, "message": pk} for a in attachments])
            self.db["messages"].update(pk, {**record, "status": "parsed", "error": None, "parsed_at": now_iso()})

    def save_error(self, pk: int, reason: str) -> None:
        with self.db.atomic():
            self.db["messages"].update(pk, {"status": "error", "outcome": "error", "error": reason,
                                            "parsed_at": now_iso()})
            self.log_event(pk, "daemon", "error", reason)

    def log_event(self, pk: int | None, actor: str, action: str, detail: str | dict = "") -> None:
        if not isinstance(detail, str):
            detail = json.dumps(detail, ensure_ascii=False)
        self.db["events"].insert({"message": pk, "at": now_iso(), "actor": actor, "action": action,
                                  "detail": detail})

    def rows(self, where: str = "1=1", params: Iterable = ()) -> Iterable[dict]:
        return self.db.query(f"SELECT * FROM messages WHERE {where} ORDER BY received_at, id", list(params))
