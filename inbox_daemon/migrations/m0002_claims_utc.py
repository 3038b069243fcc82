"""Claims (who works on a message or a reply, until when), pass attempts, and every timestamp in UTC.

Before this, times were stored with the offset of the machine or of the contest, so two ISO strings
with different offsets could be compared as text. Now every stored time is UTC (`+00:00`)."""

from __future__ import annotations

from datetime import datetime, timezone

TIME_COLUMNS = {
    "messages": ("received_at", "stored_at", "parsed_at"),
    "locations": ("seen_at", "done_at"),
    "sync_state": ("updated_at",),
    "receipts": ("created_at",),
    "overrides": ("at",),
    "outbox": ("next_attempt_at", "created_at", "sent_at"),
    "events": ("at",),
}


def to_utc(value: str | None) -> str | None:
    if not value:
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    return parsed.astimezone(timezone.utc).isoformat(timespec="seconds")


def up(db) -> None:
    db.conn.create_function("to_utc", 1, to_utc, deterministic=True)
    for table, columns in TIME_COLUMNS.items():
        for column in columns:
            db.execute(f"UPDATE {table} SET {column} = to_utc({column}) WHERE {column} IS NOT NULL")
    db["messages"].add_column("claimed_by", str)
    db["messages"].add_column("claimed_until", str)
    db["messages"].add_column("attempts", int, not_null_default=0)
    db["outbox"].add_column("claimed_by", str)
    db["outbox"].add_column("claimed_until", str)
    db["messages"].create_index(["received_at"])
    db["messages"].create_index(["contest", "outcome"])
    db["events"].create_index(["message"])
