"""From a stored raw message to a recorded one: the pure middle of the flow, wrapped in one commit.

`process(store, pk)` re-runs exactly the same code on the stored bytes, so a
crash recovery and a staff requeue behave like the first pass.
"""

from __future__ import annotations

import json
import logging
import traceback

from .parse import ParsedMail, parse_message
from .store import Store

log = logging.getLogger(__name__)


def message_record(parsed: ParsedMail) -> dict:
    """The columns of `messages` that parsing fills."""
    return {
        "message_id": parsed.message_id,
        "sender": parsed.sender,
        "sender_name": parsed.sender_name,
        "reply_to": parsed.reply_to,
        "subject": parsed.subject,
        "in_reply_to": parsed.in_reply_to,
        "references_": " ".join(parsed.references),
        "date_header": parsed.date,
        "body_text": parsed.text,
        "headers": json.dumps(parsed.headers, ensure_ascii=False),
        "defects": json.dumps(list(parsed.defects)),
        "outcome": "received",
    }


def attachment_rows(parsed: ParsedMail) -> list[dict]:
    return [{"position": i, "filename": a.filename, "sha256": a.sha256, "size": a.size, "kind": a.kind,
             "mime": a.mime, "declared_type": a.declared_type} for i, a in enumerate(parsed.attachments)]


def process(store: Store, pk: int) -> str:
    """Parse one stored message and record the result; returns its outcome. Never raises for bad mail."""
    row = store.message(pk)
    try:
        parsed = parse_message(store.blobs.get("raw", row["raw_sha256"]))
    except Exception as err:  # any failure of a bad message is recorded, the pass goes on
        reason = f"{type(err).__name__}: {err}"[:500]
        log.warning("mailbox=%s uid=%s outcome=error reason=%s", row["mailbox"], row["uid"], reason)
        log.debug("parse failure for message %s\n%s", pk, traceback.format_exc())
        store.save_error(pk, reason)
        return "error"
    for attachment in parsed.attachments:
        store.blobs.put("att", attachment.data, attachment.sha256)
    record = message_record(parsed)
    store.save_parsed(pk, record, attachment_rows(parsed))
    log.info("mailbox=%s uid=%s outcome=%s size=%d attachments=%d", row["mailbox"], row["uid"],
             record["outcome"], row["raw_size"], len(parsed.attachments))
    return record["outcome"]
