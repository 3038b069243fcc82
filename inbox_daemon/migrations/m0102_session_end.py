"""When each account's sessions were last ended (logout): a session cookie opened before that is refused,
even one copied before the logout (cookies are signed, not stored, so the server keeps this one stamp)."""

from __future__ import annotations


def up(db) -> None:
    db["users"].add_column("sessions_ended_at", str)
