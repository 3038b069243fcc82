"""The register as the first release created it (schema version 1).

Written so that it also completes a database made by that release, which set its tables up on
every start instead of through migrations."""

from __future__ import annotations


def up(db) -> None:
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
        db["messages"].add_column("links", str)
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
