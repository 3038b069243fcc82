"""How each mailbox is doing, for the console's overview: last good pass, last error and its text,
whether an IMAP IDLE connection is watching it."""

from __future__ import annotations


def up(db) -> None:
    db["mailbox_status"].create({"mailbox": str, "last_pass_at": str, "last_ok_at": str, "last_error": str,
                                 "last_error_at": str, "idle": int, "idle_since": str, "new": int,
                                 "updated_at": str}, pk="mailbox", defaults={"idle": 0, "new": 0})
