"""From a stored raw message to a judged, recorded entry: the pure middle of the flow, one commit at the end.

`process(store, pk, context)` re-runs exactly the same code on the stored
bytes, so a crash recovery and a staff requeue behave like the first pass.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from email.policy import SMTP as SMTP_POLICY  # CRLF line ends: smtplib sends bytes as they are
from zoneinfo import ZoneInfo

from jinja2 import Environment

from .classify import ignore_reason, route
from .extract import (RECEIPT_IN_TEXT, canonical_fields, extract_fields, find_phone, large_attachment_links,
                      new_text)
from .forms import is_form, read_form
from .judge import Finding, Verdict, judge, outcome_of
from .parse import ParsedMail, parse_message
from .probe import Probe, probe_attachments
from .reply import CJK, decide, environment, render, reply_target, template_data
from .rules import Contest, RuleSet
from .store import Store, now_iso

log = logging.getLogger(__name__)
WORK_KINDS = ("video", "image")


@dataclass(frozen=True)
class Context:
    """What judging and replying need besides the message: rules, each mailbox's contests, reply settings."""

    rules: RuleSet
    contests_by_mailbox: dict[str, tuple[str, ...]]
    own_addresses: tuple[str, ...] = ()
    timezone: tzinfo = ZoneInfo("Asia/Shanghai")  # receive times are recorded in the contest's time zone
    from_addr: str = "inbox-daemon@localhost"
    daily_limit: int = 5
    templates: Environment = field(default_factory=environment)

    @classmethod
    def from_config(cls, config, rules: RuleSet) -> "Context":
        smtp = config.smtp
        return cls(rules, {m.name: m.contests for m in config.mailboxes}, (smtp.from_addr,),
                   ZoneInfo(config.schedule.timezone), smtp.from_addr, smtp.daily_limit,
                   environment(smtp.templates_dir))


def message_record(parsed: ParsedMail) -> dict:
    """The columns of `messages` that parsing fills."""
    return {
        "message_id": parsed.message_id, "sender": parsed.sender, "sender_name": parsed.sender_name,
        "reply_to": parsed.reply_to, "subject": parsed.subject, "in_reply_to": parsed.in_reply_to,
        "references_": " ".join(parsed.references), "date_header": parsed.date, "body_text": parsed.text,
        "headers": json.dumps(parsed.headers, ensure_ascii=False), "defects": json.dumps(list(parsed.defects)),
    }


def probe_rows(probes: list[Probe]) -> list[dict]:
    return [{"position": i, "filename": p.filename, "sha256": p.sha256, "size": p.size, "kind": p.kind,
             "mime": p.mime, "duration_s": p.duration_s, "width": p.width, "height": p.height,
             "meta": json.dumps(p.as_meta(), ensure_ascii=False)} for i, p in enumerate(probes)]


def probe_from_row(row: dict) -> Probe:
    meta = json.loads(row.get("meta") or "{}")
    return Probe(filename=row["filename"], sha256=row["sha256"], size=row["size"], kind=row["kind"],
                 mime=row["mime"], duration_s=row["duration_s"], width=row["width"], height=row["height"],
                 codec=meta.get("codec"), image_format=meta.get("image_format"), exif=meta.get("exif", {}),
                 readable=meta.get("readable", True), note=meta.get("note", ""), inside=meta.get("inside"))


def _fields_for(contest: Contest, rules: RuleSet, parsed: ParsedMail, probes: list[Probe], store: Store,
                base: dict | None = None) -> tuple[dict, dict]:
    values = extract_fields(parsed.text, parsed.subject, contest, rules.common, base)
    for probe in probes:  # the application form wins over the body where it is readable
        if is_form(probe.filename, probe.kind) and not probe.inside:
            values.update(read_form(probe.filename, store.blobs.get("att", probe.sha256), contest.fields))
    if contest.field_rule("phone") and not values.get("phone"):
        phone = find_phone("\n".join([new_text(parsed.text), *map(str, values.values())]))
        if phone:
            values["phone"] = phone
    return canonical_fields(values, contest, rules.common)


def _earlier_entry(store: Store, pk: int, parsed: ParsedMail, probes: list[Probe]) -> tuple[dict | None, str]:
    """The entry this message continues: a correction by reply/receipt, or the same work again."""
    receipts = RECEIPT_IN_TEXT.findall(parsed.subject)
    for receipt in [*store.receipts_for_reply(parsed.in_reply_to, parsed.references), *receipts]:
        entry = store.entry(receipt)
        if entry and entry["id"] != pk:
            return entry, "correction"
    work = [p.sha256 for p in probes if p.kind in WORK_KINDS]
    entry = store.entry_with_files(work, exclude=pk)
    return (entry, "same_work") if entry else (None, "")


def judge_message(store: Store, pk: int, parsed: ParsedMail, probes: list[Probe], context: Context,
                  ignored_because: str | None) -> dict:
    """Everything the record needs besides parsing: contest, fields, findings, outcome, receipt."""
    row = store.message(pk)
    rules = context.rules
    if ignored_because:
        return {"outcome": "ignored", "contest": None, "receipt": None, "fields": "{}", "rules": "[]",
                "duplicate_of": None}
    received = datetime.fromisoformat(row["received_at"])
    earlier, relation = _earlier_entry(store, pk, parsed, probes)
    work = [p for p in probes if p.kind in WORK_KINDS]
    receipt, duplicate_of, base, extra, candidates = row["receipt"], None, None, [], ()
    unchanged = False
    if earlier and relation == "correction" and not work:
        # A reply with corrected details and no new work: merge into the entry, keep its files and receipt.
        contest_id, receipt, base = earlier["contest"], earlier["receipt"], json.loads(earlier["fields"] or "{}")
        probes = [*map(probe_from_row, store.attachments(earlier["id"])), *probes]
        if not contest_id:
            contest_id, candidates = route(parsed, rules, context.contests_by_mailbox.get(row["mailbox"], ()),
                                           [p.kind for p in probes])
    else:
        contest_id, candidates = route(parsed, rules, context.contests_by_mailbox.get(row["mailbox"], ()),
                                       [p.kind for p in probes])
        if earlier and relation == "correction":
            receipt = earlier["receipt"]
            contest_id = contest_id or earlier["contest"]
    if earlier and relation == "same_work":
        if earlier["sender"] == parsed.sender and earlier["outcome"] != "rejected":
            finding = Finding("duplicate_resubmission", rules.severity("duplicate_resubmission"),
                              rules.message("duplicate_resubmission", None, receipt=earlier["receipt"]))
            return {"outcome": earlier["outcome"], "contest": earlier["contest"], "receipt": earlier["receipt"],
                    "fields": earlier["fields"], "rules": json.dumps([finding.as_dict()], ensure_ascii=False),
                    "duplicate_of": earlier["receipt"]}
        if earlier["sender"] == parsed.sender:  # a corrected resubmission after a rejection
            receipt = earlier["receipt"]
        else:
            duplicate_of = earlier["receipt"]
            extra.append(Finding("duplicate_other_sender", rules.severity("duplicate_other_sender"),
                                 rules.message("duplicate_other_sender", None, receipt=earlier["receipt"])))
    links = large_attachment_links(parsed.text, parsed.html, rules.common)
    if contest_id is None:
        choices = candidates or context.contests_by_mailbox.get(row["mailbox"], ())
        names = "、".join(f"“{rules.contests[c].name}”" for c in choices if c in rules.contests)
        verdict = Verdict("needs_review", (Finding("contest_unknown", rules.severity("contest_unknown"),
                                                   rules.message("contest_unknown", None, choices=names)),))
        fields = {}
    else:
        contest = rules.contests[contest_id]
        fields, problems = _fields_for(contest, rules, parsed, probes, store, base)
        verdict = judge(rules, contest, fields, problems, probes, links, received)
    findings = [*verdict.findings, *extra]
    if receipt is None:
        prefix = rules.contests[contest_id].receipt_prefix if contest_id else rules.common.receipts.get(
            "unknown_prefix", "DQR")
        receipt = store.allocate_receipt(prefix, received.year)
    staff = store.override_for(receipt)  # a person's decision outlives any re-judging
    outcome = staff["outcome"] if staff else outcome_of(findings)
    if earlier and relation == "correction":
        unchanged = outcome == earlier["outcome"] and json.loads(earlier["fields"] or "{}") == fields
    return {"outcome": outcome, "contest": contest_id, "receipt": receipt, "unchanged_correction": unchanged,
            "probes": probes,  # a correction carries the entry's files forward
            "fields": json.dumps(fields, ensure_ascii=False),
            "rules": json.dumps([f.as_dict() for f in findings], ensure_ascii=False), "duplicate_of": duplicate_of,
            "links": json.dumps(links, ensure_ascii=False) if links else None}


def queue_reply(store: Store, pk: int, context: Context, *, unchanged_correction: bool = False,
                note: str = "") -> dict | None:
    """Decide and render this message's reply into the outbox, inside the caller's transaction."""
    message = store.message(pk)
    previous = store.last_reply(pk)
    if message["outcome"] in ("ignored", "error") and previous is None:
        return None
    since = (datetime.now().astimezone() - timedelta(days=1)).isoformat(timespec="seconds")
    attachments = store.attachments(pk)
    # The limit counts replies to the address the reply would really go to (a bad Reply-To falls back to From).
    sent_today, noticed = store.replies_since(reply_target(message["sender"] or "", message["reply_to"] or "") or "",
                                              since)
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
        store.enqueue_reply({**row, "kind": "none", "status": "suppressed", "reason": decision.reason})
        return None
    data = template_data(decision.kind, message, attachments, context.rules,
                         before=previous["outcome"] if previous else None, note=note,
                         daily_limit=context.daily_limit)
    email = render(context.templates, data, from_addr=context.from_addr, to=decision.to,
                   in_reply_to=message["message_id"] or "", references=message["references_"] or "",
                   now=datetime.now().astimezone())
    store.enqueue_reply({**row, "kind": decision.kind, "subject": str(email["Subject"]),
                         "message_id": str(email["Message-ID"]), "raw": email.as_bytes(policy=SMTP_POLICY),
                         "status": "queued",
                         "next_attempt_at": now_iso()})
    return data


def process(store: Store, pk: int, context: Context, actor: str = "daemon") -> str:
    """Parse, judge and record one stored message; returns its outcome. Never raises for bad mail.

    The stored file is mapped, not read: a large attachment goes from it to its own file in pieces."""
    row = store.message(pk)
    try:
        with store.blobs.mapped("raw", row["raw_sha256"]) as raw:
            parsed = parse_message(raw, spill=lambda pieces: store.blobs.put_chunks("att", pieces))
        for attachment in parsed.attachments:
            if not attachment.stored:
                store.blobs.put("att", attachment.data, attachment.sha256)
        ignored_because = ignore_reason(parsed, context.rules, context.own_addresses)
        if ignored_because:  # not a submission: nothing to probe
            probes = [Probe(a.filename, a.sha256, a.size, a.kind, a.mime) for a in parsed.attachments]
        else:
            probes = probe_attachments(parsed.attachments, lambda sha: store.blobs.path("att", sha))
        with store.db.atomic():
            verdict = judge_message(store, pk, parsed, probes, context, ignored_because)
            meta = {k: verdict.pop(k) for k in ("unchanged_correction", "probes") if k in verdict}
            record = {**message_record(parsed), **verdict}
            store.save_parsed(pk, record, probe_rows(meta.get("probes", probes)))
            queue_reply(store, pk, context, unchanged_correction=meta.get("unchanged_correction", False))
            store.log_event(pk, actor, "judged", {"outcome": record["outcome"], "receipt": record["receipt"],
                                                  "rules": [f["id"] for f in json.loads(record["rules"])],
                                                  **({"ignored": ignored_because} if ignored_because else {})})
    except Exception as err:  # any failure of a bad message is recorded, the pass goes on
        reason = f"{type(err).__name__}: {err}"[:500]
        log.warning("mailbox=%s uid=%s outcome=error reason=%s", row["mailbox"], row["uid"], reason)
        log.debug("processing failure for message %s\n%s", pk, traceback.format_exc())
        store.save_error(pk, reason)
        return "error"
    log.info("mailbox=%s uid=%s outcome=%s contest=%s receipt=%s rules=%s", row["mailbox"], row["uid"],
             record["outcome"], record["contest"], record["receipt"],
             ",".join(f["id"] for f in json.loads(record["rules"])) or "-")
    return record["outcome"]
