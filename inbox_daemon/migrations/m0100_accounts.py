"""Console accounts: users with a role and an argon2 hash, every login attempt (for the lockout),
and an audit log of account actions (entry actions stay in `events`)."""

from __future__ import annotations


def up(db) -> None:
    db["users"].create({"id": int, "name": str, "role": str, "password_hash": str, "active": int,
                        "created_at": str, "password_changed_at": str, "last_login_at": str},
                       pk="id", not_null={"name", "role", "password_hash"}, defaults={"active": 1})
    db["users"].create_index(["name"], unique=True)
    db["login_attempts"].create({"id": int, "name": str, "address": str, "at": str, "ok": int}, pk="id")
    db["login_attempts"].create_index(["name", "at"])
    db["login_attempts"].create_index(["address", "at"])
    db["audit"].create({"id": int, "at": str, "actor": str, "action": str, "target": str, "detail": str,
                        "address": str}, pk="id")
    db["audit"].create_index(["at"])
