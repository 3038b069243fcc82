"""From a stored raw message to a judged, recorded entry: claim, read, load history, decide, write.

`process(store, pk, context)` re-runs exactly the same code on the stored bytes, so a crash
recovery and a staff requeue behave like the first pass. The message is claimed first, so two
processes never judge it at once. A failure of the infrastructure (a busy database, a full disk)
is raised to the caller, which stops the pass and leaves the mail on the server; only a failure
that this message's content provokes becomes its outcome `error`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from email.policy import SMTP as SMTP_POLICY  # CRLF line ends: smtplib sends bytes as they are
from zoneinfo import ZoneInfo

from jinja2 import Environment

from .analyse import Analysis, analyse, forms_of
from .blobs import BlobStore
from .decide import WORK_KINDS, EarlierEntry, EntryDecision, History, StaffInput, decide_entry
from .errors import StoreError
from .extract import RECEIPT_IN_TEXT
from .probe import Probe
from .judge import Finding
from .register import Register, claim_token
from .reply import CJK, decide, environment, render, reply_target, template_data
from .rules import RuleSet
from .store import Store, now_iso
from .worker import AnalysisTimeout, Worker, WorkerCrashed

log = logging.getLogger(__name__)
INFRASTRUCTURE = (StoreError, sqlite3.Error, MemoryError)  # never the message's fault
MAX_ATTEMPTS = 3  # passes that may fail to read a message before it is set aside for staff


@dataclass(frozen=True)
class Context:
    """What judging and replying need besides the message: rules, each mailbox's contests, reply settings."""

    rules: RuleSet
    contests_by_mailbox: dict[str, tuple[str, ...]]
    own_addresses: tuple[str, ...] = ()
    timezone: tzinfo = ZoneInfo("Asia/Shanghai")  # the contest's clock: receipt years, shown times
    from_addr: str = "inbox-daemon@localhost"
    daily_limit: int = 5
    templates: Environment = field(default_factory=environment)
    worker: Worker | None = None  # reads messages in a child process under a time limit; None: in this one

    @classmethod
    def from_config(cls, config, rules: RuleSet, isolate: bool = True) -> "Context":
        smtp = config.smtp
        own = (smtp.from_addr,)
        return cls(rules, {m.name: m.contests for m in config.mailboxes}, own,
                   ZoneInfo(config.schedule.timezone), smtp.from_addr, smtp.daily_limit,
                   environment(smtp.templates_dir),
                   Worker(config.storage.files, rules, own) if isolate else None)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def warm_up(self) -> None:
        """Start the reader in the background, so its start-up overlaps logging in and the first fetch."""
        if self.worker is not None:
            threading.Thread(target=self.worker.start, name="reader-start", daemon=True).start()

    def prefetch(self, raw_sha256: str) -> None:
        """Let the reader start on a message that `read` will ask for soon (no-op when reading in-process)."""
        if self.worker is not None and raw_sha256:
            self.worker.prefetch(raw_sha256)

    def read(self, blobs: BlobStore, raw_sha256: str) -> Analysis:
        if self.worker is not None:
            return self.worker.analyse(raw_sha256)
        return analyse(blobs, raw_sha256, self.rules, self.own_addresses)


def message_record(analysis: Analysis) -> dict:
    """The columns of `messages` that parsing fills."""
    parsed = analysis.parsed
    return {
        "message_id": parsed.message_id, "sender": parsed.sender, "sender_name": parsed.sender_name,
        "reply_to": parsed.reply_to, "subject": parsed.subject, "in_reply_to": parsed.in_reply_to,
        "references_": " ".join(parsed.references), "date_header": parsed.date, "body_text": parsed.text,
        "headers": json.dumps(parsed.headers, ensure_ascii=False), "defects": json.dumps(list(parsed.defects)),
    }


def probe_rows(probes) -> list[dict]:
    return [{"position": i, "filename": p.filename, "sha256": p.sha256, "size": p.size, "kind": p.kind,
             "mime": p.mime, "duration_s": p.duration_s, "width": p.width, "height": p.height,
             "meta": json.dumps(p.as_meta(), ensure_ascii=False)} for i, p in enumerate(probes)]


def probe_from_row(row: dict) -> Probe:
    meta = json.loads(row.get("meta") or "{}")
    return Probe(filename=row["filename"], sha256=row["sha256"], size=row["size"], kind=row["kind"],
                 mime=row["mime"], duration_s=row["duration_s"], width=row["width"], height=row["height"],
                 codec=meta.get("codec"), image_format=meta.get("image_format"), exif=meta.get("exif", {}),
                 readable=meta.get("readable", True), note=meta.get("note", ""), inside=meta.get("inside"))


# -- loading what the decision needs --------------------------------------------------------------

def _earlier(register: Register, blobs: BlobStore, pk: int, analysis: Analysis) -> tuple[EarlierEntry | None, str]:
    """The entry this message continues: a correction by reply/receipt, or the same work again."""
    parsed = analysis.parsed
    relation, entry = "", None
    for receipt in [*register.receipts_for_reply(parsed.in_reply_to, parsed.references),
                    *RECEIPT_IN_TEXT.findall(parsed.subject)]:
        candidate = register.entry(receipt)
        if candidate and candidate["id"] != pk:
            relation, entry = "correction", candidate
            break
    if entry is None:
        work = [p.sha256 for p in analysis.probes if p.kind in WORK_KINDS]
        entry = register.entry_with_files(work, exclude=pk)
        relation = "same_work" if entry else ""
    if entry is None:
        return None, ""
    files = tuple(map(probe_from_row, register.attachments(entry["id"])))
    return EarlierEntry(entry["receipt"], entry["contest"], entry["outcome"], entry["sender"] or "",
                        json.loads(entry["fields"] or "{}"), files,
                        forms_of(files, lambda sha: blobs.path("att", sha))), relation


def staff_input(register: Register, receipt: str) -> StaffInput:
    rows = register.staff_rows(receipt)
    return StaffInput(outcome=rows["override"]["outcome"] if rows["override"] else None, contest=rows["contest"],
                      fields=rows["fields"], files=tuple(map(probe_from_row, rows["uploads"])))


def load_history(store: Store, pk: int, row: dict, analysis: Analysis) -> History:
    earlier, relation = _earlier(store.register, store.blobs, pk, analysis)
    receipts = {r for r in (row["receipt"], earlier.receipt if earlier else None) if r}
    first = {r: datetime.fromisoformat(store.register.first_received(r)) for r in receipts
             if store.register.first_received(r)}
    return History(received_at=datetime.fromisoformat(row["received_at"]), receipt=row["receipt"],
                   earlier=earlier, relation=relation, first_received=first,
                   staff={r: staff_input(store.register, r) for r in receipts})


def judge_stored(store: Store, pk: int, context: Context, analysis: Analysis | None = None
                 ) -> tuple[dict, Analysis, EntryDecision]:
    """Read and decide one stored message without writing anything: the dry run of a requeue."""
    row = store.register.message(pk)
    analysis = analysis or context.read(store.blobs, row["raw_sha256"])
    history = load_history(store, pk, row, analysis)
    allowed = context.contests_by_mailbox.get(row["mailbox"], ())
    return row, analysis, decide_entry(analysis, history, context.rules, allowed)


# -- writing ----------------------------------------------------------------------------------------

def record(store: Store, pk: int, token: str, analysis: Analysis, context: Context, actor: str) -> dict:
    """The one writer: entry, attachments, reply and event in one transaction, if our claim holds.

    The history is read and the entry decided under the write lock, so a staff decision or another
    message's judging made while this one was being read is never overwritten from a stale read
    (deciding is pure and quick; reading the message, the slow part, stays outside)."""
    with store.write():
        store.register.check_claim(pk, token)
        row, _, decision = judge_stored(store, pk, context, analysis)
        receipt = decision.receipt
        if receipt is None and decision.receipt_prefix:  # a new entry (not ignored mail, not a note on one)
            year = datetime.fromisoformat(row["received_at"]).astimezone(context.timezone).year
            receipt = store.register.allocate_receipt(decision.receipt_prefix, year)
        rules = [f.as_dict() for f in decision.findings]
        result = {**message_record(analysis), "outcome": decision.outcome, "contest": decision.contest,
                  "receipt": receipt, "fields": json.dumps(decision.fields, ensure_ascii=False),
                  "rules": json.dumps(rules, ensure_ascii=False), "duplicate_of": decision.duplicate_of,
                  "links": json.dumps(list(decision.links), ensure_ascii=False) if decision.links else None}
        store.register.save_parsed(pk, result, probe_rows(decision.probes))
        queue_reply(store, pk, context, unchanged_correction=decision.unchanged_correction)
        store.register.log_event(pk, actor, "judged", {
            "outcome": decision.outcome, "receipt": receipt, "rules": [f["id"] for f in rules],
            **({"ignored": analysis.ignored_because} if analysis.ignored_because else {})})
    return result


def queue_reply(store: Store, pk: int, context: Context, *, unchanged_correction: bool = False,
                note: str = "") -> dict | None:
    """Decide and render this message's reply into the outbox, inside the caller's transaction.

    `note` is a staff message meant for the contestant (never the internal note)."""
    message = store.register.message(pk)
    previous = store.outbox.last_reply(pk)
    if message["outcome"] in ("ignored", "error") and previous is None:
        return None
    since = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
    attachments = store.register.attachments(pk)
    # The limit counts replies to the address the reply would really go to (a bad Reply-To falls back to From).
    target = reply_target(message["sender"] or "", message["reply_to"] or "") or ""
    sent_today, noticed = store.outbox.replies_since(target, since)
    decision = decide(outcome=message["outcome"], rule_ids=[f["id"] for f in json.loads(message["rules"] or "[]")],
                      sender=message["sender"] or "", reply_to=message["reply_to"] or "",
                      own_addresses=context.own_addresses,
                      previous_outcome=previous["outcome"] if previous else None, sent_today=sent_today,
                      limit_notice_today=noticed, daily_limit=context.daily_limit,
                      unchanged_correction=unchanged_correction,
                      has_chinese=bool(CJK.search(" ".join([message["subject"] or "", message["body_text"] or "",
                                                            message["sender_name"] or "",
                                                            *(a["filename"] or "" for a in attachments)]))))
    row = {"message": pk, "receipt": message["receipt"], "outcome": message["outcome"], "to_addr": decision.to}
    if decision.kind is None:
        if previous is not None and previous["outcome"] == message["outcome"]:
            return None  # a re-judging that changed nothing: the earlier reply stands
        store.outbox.enqueue({**row, "kind": "none", "status": "suppressed", "reason": decision.reason})
        return None
    data = template_data(decision.kind, message, attachments, context.rules,
                         before=previous["outcome"] if previous else None, note=note,
                         daily_limit=context.daily_limit)
    email = render(context.templates, data, from_addr=context.from_addr, to=decision.to,
                   in_reply_to=message["message_id"] or "", references=message["references_"] or "",
                   now=datetime.now().astimezone())
    store.outbox.enqueue({**row, "kind": decision.kind, "subject": str(email["Subject"]),
                          "message_id": str(email["Message-ID"]), "raw": email.as_bytes(policy=SMTP_POLICY),
                          "status": "queued", "next_attempt_at": now_iso()})
    return data


# -- the whole step ------------------------------------------------------------------------------

def process(store: Store, pk: int, context: Context, actor: str = "daemon") -> str:
    """Claim, read, decide and record one stored message; returns its outcome ("busy" when another
    process holds it). Infrastructure failures are raised; a failure of this message is recorded."""
    token = claim_token()
    if not store.register.claim(pk, token):
        log.info("message=%s is being judged by another process", pk)
        return "busy"
    try:
        row = store.register.message(pk)
        try:
            analysis = context.read(store.blobs, row["raw_sha256"])
        except (AnalysisTimeout, WorkerCrashed, MemoryError) as err:  # this message's doing: retried, then set aside
            return _not_read(store, pk, token, row, f"{type(err).__name__}: {err}", context.rules, actor)
        result = record(store, pk, token, analysis, context, actor)
    except INFRASTRUCTURE:
        _release_quietly(store, pk, token)
        raise
    except Exception as err:  # a bug or a library meeting this message's content: kept, shown to staff
        row = store.register.message(pk)
        reason = f"{type(err).__name__}: {err}"[:500]
        log.error("mailbox=%s uid=%s outcome=error reason=%s", row["mailbox"], row["uid"], reason, exc_info=True)
        store.register.save_error(pk, reason, actor)
        return "error"
    log.info("mailbox=%s uid=%s outcome=%s contest=%s receipt=%s rules=%s", row["mailbox"], row["uid"],
             result["outcome"], result["contest"], result["receipt"],
             ",".join(f["id"] for f in json.loads(result["rules"])) or "-")
    return result["outcome"]


def _not_read(store: Store, pk: int, token: str, row: dict, reason: str, rules: RuleSet, actor: str) -> str:
    """The message could not be read in time (or the reader died on it). A message already judged keeps
    its state; a new one waits for the next pass, and after MAX_ATTEMPTS passes is set aside for staff,
    so one message never blocks its mailbox."""
    log.warning("mailbox=%s uid=%s not read (attempt %s): %s", row["mailbox"], row["uid"], row["attempts"], reason)
    if row["status"] != "stored" or row["attempts"] < MAX_ATTEMPTS:
        with store.write():
            store.db["messages"].update(pk, {"error": reason[:500]})
            store.register.release(pk, token)
            store.register.log_event(pk, actor, "not_read", {"reason": reason, "attempt": row["attempts"]})
        return "deferred"
    finding = Finding("processing_failed", rules.severity("processing_failed"),
                      rules.message("processing_failed", None, reason=reason))
    with store.write():
        store.register.check_claim(pk, token)
        store.register.save_parsed(pk, {"outcome": "needs_review", "fields": "{}",
                                        "rules": json.dumps([finding.as_dict()], ensure_ascii=False)}, [])
        store.register.log_event(pk, actor, "set_aside", {"reason": reason, "attempts": row["attempts"]})
    log.error("mailbox=%s uid=%s set aside for staff after %s attempts: %s", row["mailbox"], row["uid"],
              row["attempts"], reason)
    return "needs_review"


def _release_quietly(store: Store, pk: int, token: str) -> None:
    try:
        store.register.release(pk, token)
    except INFRASTRUCTURE:
        pass  # the claim expires by itself
