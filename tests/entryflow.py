"""The wiring of issue 12's pure functions, as the pipeline is meant to do it, for tests without a store.

parse -> ignore? -> the entry (`entry_mail`: a forward's original, no decoration) -> probes of its files ->
`not_a_submission`? -> route (on `routing_kinds`) -> fields (`mail_fields`, forms, the reporting unit) -> judge
-> the reply decision (no reply to `not_a_submission`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from conftest import RULES

from inbox_daemon.classify import ignore_reason, not_a_submission, route, routing_kinds
from inbox_daemon.extract import canonical_fields, large_attachment_links, mail_fields, report_unit
from inbox_daemon.forms import is_form, read_form
from inbox_daemon.judge import finding, judge, outcome_of
from inbox_daemon.parse import ParsedMail, entry_mail, parse_message
from inbox_daemon.probe import probe_attachments
from inbox_daemon.reply import CJK
from inbox_daemon.reply import decide as reply_decision
from inbox_daemon.rules import load_rules

RULESET = load_rules(RULES)
IN_WINDOW = datetime.fromisoformat("2022-08-20T10:00:00+08:00")
COMMITTEE_CONTESTS = ("micro_video", "reading_promoter", "reading_team")


@dataclass
class Decided:
    mail: ParsedMail
    ignored: str | None = None
    not_a_submission: bool = False
    contest: str | None = None
    candidates: tuple = ()
    fields: dict | None = None
    rule_ids: list = field(default_factory=list)
    outcome: str | None = None
    entry: ParsedMail | None = None
    probes: list | None = None
    links: list | None = None

    @property
    def answered(self) -> bool:
        """Would the first reply go out? Never to ignored mail or to what is not a submission."""
        if self.ignored or self.not_a_submission:
            return False
        mail = self.mail
        words = " ".join([mail.subject, mail.text, mail.sender_name, *(a.filename for a in mail.attachments)])
        return reply_decision(outcome=self.outcome, rule_ids=self.rule_ids, sender=mail.sender, reply_to=mail.reply_to,
                              own_addresses=(), previous_outcome=None, sent_today=0, limit_notice_today=False,
                              daily_limit=10**6, has_chinese=bool(CJK.search(words))).kind is not None


def decide(raw: bytes, allowed=COMMITTEE_CONTESTS, received: datetime = IN_WINDOW, rules=RULESET) -> Decided:
    mail = parse_message(raw)
    reason = ignore_reason(mail, rules)
    if reason:
        return Decided(mail, ignored=reason, outcome="ignored")
    entry = entry_mail(mail)
    probes = probe_attachments(entry.attachments)
    kinds = routing_kinds(probes, rules)
    links = large_attachment_links(entry.text, entry.html, rules.common)
    if not_a_submission(entry, rules, allowed, kinds, links):
        return Decided(mail, not_a_submission=True, rule_ids=["not_a_submission"], outcome="needs_review",
                       entry=entry, probes=probes, links=links)
    contest_id, candidates = route(entry, rules, allowed, kinds)
    if contest_id is None:
        unknown = finding(rules, "contest_unknown", choices="")
        return Decided(mail, candidates=candidates, rule_ids=[unknown.id], outcome=outcome_of([unknown]), entry=entry,
                       probes=probes, links=links)
    contest = rules.contests[contest_id]
    values = mail_fields(entry, contest, rules.common)
    for attachment in entry.attachments:
        if is_form(attachment.filename, attachment.kind) and attachment.data:
            values.update(read_form(attachment.filename, attachment.data, contest.fields))
    if contest.kind == "report":
        values.setdefault("unit", report_unit(entry, contest))
    fields, problems = canonical_fields(values, contest, rules.common)
    verdict = judge(rules, contest, fields, problems, probes, links, received)
    return Decided(mail, contest=contest_id, fields=fields, rule_ids=[f.id for f in verdict.findings],
                   outcome=verdict.outcome, entry=entry, probes=probes, links=links)
