"""Staff decisions that outlive every re-judging: a contest chosen for an unrouted entry, corrected
field values, works added by hand (a video fetched from a cloud link), and the message to the
contestant that goes with an override (its note stays internal)."""

from __future__ import annotations


def up(db) -> None:
    db["overrides"].add_column("message", str)
    db["assignments"].create({"receipt": str, "contest": str, "actor": str, "at": str}, pk="receipt")
    db["corrections"].create({"id": int, "receipt": str, "field": str, "value": str, "actor": str, "at": str},
                             pk="id")
    db["corrections"].create_index(["receipt", "field"])
    db["uploads"].create({"id": int, "receipt": str, "sha256": str, "filename": str, "size": int, "kind": str,
                          "mime": str, "duration_s": float, "width": int, "height": int, "meta": str,
                          "actor": str, "at": str}, pk="id")
    db["uploads"].create_index(["receipt"])
