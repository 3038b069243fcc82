"""The JSONL export: one object per ingested message, with exactly the keys DESIGN.md promises."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import IO, Iterator
from zoneinfo import ZoneInfo

from .store import Store

JSONL_KEYS = ("message_id", "mailbox", "uid", "received_at", "sender", "subject", "outcome", "contest",
              "receipt", "rules", "fields", "attachments", "reply", "duplicate_of")


def _json(value: str | None, default):
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def _reply(store: Store, pk: int) -> dict | None:
    if "outbox" not in store.db.table_names():
        return None
    row = store.db.execute("SELECT status, sent_at FROM outbox WHERE message=? ORDER BY id DESC LIMIT 1",
                           [pk]).fetchone()
    return {"status": row[0], "sent_at": local_iso(row[1])} if row else None


SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_iso(value: str | None, tz: tzinfo = SHANGHAI) -> str | None:
    """A stored UTC time as ISO 8601 with the contest's offset (what the export always showed)."""
    return datetime.fromisoformat(value).astimezone(tz).isoformat(timespec="seconds") if value else value


def message_object(store: Store, row: dict, tz: tzinfo = SHANGHAI) -> dict:
    uid = row["uid"]
    attachments = [{"filename": a["filename"], "sha256": a["sha256"], "size": a["size"], "kind": a["kind"],
                    "duration_s": a["duration_s"], "width": a["width"], "height": a["height"]}
                   for a in store.register.attachments(row["id"])]
    return {
        "message_id": row["message_id"] or None,
        "mailbox": row["mailbox"],
        "uid": int(uid) if uid and uid.isdigit() else uid,
        "received_at": local_iso(row["received_at"], tz),
        "sender": row["sender"],
        "subject": row["subject"],
        "outcome": row["outcome"],
        "contest": row["contest"],
        "receipt": row["receipt"],
        "rules": _json(row["rules"], []),
        "fields": _json(row["fields"], {}),
        "attachments": attachments,
        "reply": _reply(store, row["id"]),
        "duplicate_of": row["duplicate_of"],
    }


def iter_messages(store: Store, contest: str | None = None, tz: tzinfo = SHANGHAI) -> Iterator[dict]:
    where, params = ("contest = ?", [contest]) if contest else ("1=1", [])
    for row in store.register.rows(where, params):
        yield message_object(store, row, tz)


def write_jsonl(store: Store, out: IO[str], contest: str | None = None, tz: tzinfo = SHANGHAI) -> int:
    count = 0
    for obj in iter_messages(store, contest, tz):
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        count += 1
    return count
