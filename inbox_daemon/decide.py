"""What a message means for its entry: a pure decision over plain data.

`pipeline.py` loads everything the decision needs from the register (the `History`: an earlier
entry this message continues, staff decisions on the receipt), `decide_entry` decides, and one
writer records the result. A dry run ("what would change") is simply a decision that nobody
writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .analyse import TIMED_OUT, Analysis, FormTable
from .classify import not_a_submission, reply_intent, route, routing_kinds
from .extract import canonical_fields, find_phone, large_attachment_links, mail_fields, new_text, report_unit
from .forms import fields_from_grids, is_form
from .judge import Finding, Verdict, finding, judge, outcome_of
from .parse import ParsedMail
from .probe import Probe
from .rules import Contest, RuleSet

WORK_KINDS = ("video", "image")


@dataclass(frozen=True)
class EarlierEntry:
    """The entry a message continues: a correction by reply or receipt, or the same work again."""

    receipt: str
    contest: str | None
    outcome: str
    sender: str
    fields: dict
    files: tuple[Probe, ...] = ()
    forms: dict[str, FormTable] = field(default_factory=dict)


@dataclass(frozen=True)
class StaffInput:
    """What staff decided about a receipt; it outlives every re-judging."""

    outcome: str | None = None  # an override
    contest: str | None = None  # chosen for an entry that could not be routed
    fields: dict = field(default_factory=dict)  # corrected values, by field name
    files: tuple[Probe, ...] = ()  # works staff added (a video fetched from a cloud link)


@dataclass(frozen=True)
class History:
    received_at: datetime
    receipt: str | None = None  # the message's own receipt, kept through requeues
    earlier: EarlierEntry | None = None
    relation: str = ""  # correction | same_work
    first_received: dict[str, datetime] = field(default_factory=dict)  # by receipt: the deadline is judged on it
    staff: dict[str, StaffInput] = field(default_factory=dict)  # by receipt


@dataclass(frozen=True)
class EntryDecision:
    outcome: str  # accepted | rejected | needs_review | ignored
    contest: str | None
    receipt: str | None  # None: a new entry (the writer allocates one) or ignored mail
    receipt_prefix: str | None
    fields: dict
    findings: tuple[Finding, ...]
    probes: tuple[Probe, ...]  # what the record lists: a correction carries the entry's files forward
    duplicate_of: str | None = None
    links: tuple[dict, ...] = ()
    unchanged_correction: bool = False  # a "correction" that changed nothing: not answered again


NOT_CORRECTIONS = ("thanks", "question", "other")  # answers to our reply that change nothing


@dataclass(frozen=True)
class _Place:
    """Where a message belongs: its receipt and contest, and what it carries over from an earlier entry."""

    receipt: str | None
    contest: str | None
    candidates: tuple[str, ...] = ()
    base: dict | None = None  # the earlier entry's fields, which this message corrects
    probes: tuple[Probe, ...] = ()
    forms: dict = field(default_factory=dict)
    duplicate_of: str | None = None
    findings: tuple[Finding, ...] = ()


def decide_entry(analysis: Analysis, history: History, rules: RuleSet, allowed: tuple[str, ...]) -> EntryDecision:
    """The outcome, contest, receipt, fields and findings of a message; `allowed` are the contests its
    mailbox takes."""
    if analysis.ignored_because:
        return EntryDecision("ignored", None, None, None, {}, (), analysis.probes)
    mail, earlier = analysis.mail, history.earlier
    has_work = any(p.kind in WORK_KINDS for p in analysis.probes)
    intent = ""
    if earlier and history.relation == "correction":
        intent = reply_intent(mail, rules, rules.contests.get(earlier.contest or ""), has_work)
        if intent in NOT_CORRECTIONS:
            return _note(intent, earlier, analysis, rules)
    if earlier and history.relation == "same_work" and earlier.sender == analysis.parsed.sender \
            and earlier.outcome != "rejected":
        return EntryDecision(earlier.outcome, earlier.contest, earlier.receipt, None, earlier.fields,
                             (finding(rules, "duplicate_resubmission", receipt=earlier.receipt),), analysis.probes,
                             duplicate_of=earlier.receipt)
    links = tuple(large_attachment_links(mail.text, mail.html, rules.common))
    if history.relation != "correction" and not_a_submission(mail, rules, allowed,
                                                             routing_kinds(analysis.probes, rules), list(links)):
        return EntryDecision("needs_review", None, None, None, {}, (finding(rules, "not_a_submission"),),
                             analysis.probes, links=links)
    place = _place(analysis, history, rules, allowed, has_work)
    staff = history.staff.get(place.receipt or "", StaffInput())
    contest_id = staff.contest or place.contest
    probes = [*place.probes, *staff.files]
    extra = [*place.findings, *(finding(rules, "probe_timeout", filename=name) for name in analysis.timed_out)]
    if intent == "withdrawal":  # staff decide; nothing is withdrawn automatically
        extra.append(finding(rules, "withdrawal_request"))
    if contest_id is None:
        choices = place.candidates or allowed
        names = "、".join(_quoted(rules.contests[c].name) for c in choices if c in rules.contests)
        verdict, fields = Verdict("needs_review", (finding(rules, "contest_unknown", choices=names),)), {}
    else:
        contest = rules.contests[contest_id]
        fields, problems = _fields(contest, rules, mail, probes, place.forms, place.base, staff.fields)
        extra += [finding(rules, "form_unreadable", contest, filename=p.filename, reason=place.forms[p.sha256].problem)
                  for p in probes if p.sha256 in place.forms and place.forms[p.sha256].problem
                  and place.forms[p.sha256].problem != TIMED_OUT]
        received = min(history.received_at, history.first_received.get(place.receipt or "", history.received_at))
        verdict = judge(rules, contest, fields, problems, probes, list(links), received)
    findings = (*verdict.findings, *extra)
    # A file we could not read in time says nothing about the entry, and a withdrawal is for staff to act
    # on, whatever else was found: a person looks before anything else.
    outcome = staff.outcome or ("needs_review" if analysis.timed_out or intent == "withdrawal" else outcome_of(findings))
    unchanged = bool(earlier and history.relation == "correction" and outcome == earlier.outcome
                     and earlier.fields == fields)
    prefix = (rules.contests[contest_id].receipt_prefix if contest_id
              else rules.common.receipts.get("unknown_prefix", "DQR"))
    return EntryDecision(outcome, contest_id, place.receipt, prefix, fields, findings, tuple(probes),
                         place.duplicate_of, links, unchanged)


def _note(intent: str, earlier: EarlierEntry, analysis: Analysis, rules: RuleSet) -> EntryDecision:
    """A thank-you or a question answering our reply: the entry stays as it is, nothing is answered
    automatically; a question is shown to staff. The message points at its entry by `duplicate_of`."""
    if intent == "thanks":
        return EntryDecision("ignored", earlier.contest, None, None, {}, (), analysis.probes,
                             duplicate_of=earlier.receipt)
    return EntryDecision("needs_review", earlier.contest, None, None, {},
                         (finding(rules, "reply_question", receipt=earlier.receipt),), analysis.probes,
                         duplicate_of=earlier.receipt)


def _place(analysis: Analysis, history: History, rules: RuleSet, allowed: tuple[str, ...], has_work: bool) -> _Place:
    """The receipt and contest of a message: a correction joins its entry (and, without a new work, keeps
    the entry's files and fields), a resubmission after a rejection keeps its receipt, anything else is
    routed by keywords and by the kinds of its files."""
    mail, earlier, relation = analysis.mail, history.earlier, history.relation
    probes, forms = tuple(analysis.probes), dict(analysis.forms)

    def routed(files) -> tuple[str | None, tuple[str, ...]]:
        return route(mail, rules, allowed, routing_kinds(files, rules))

    if earlier and relation == "correction" and not has_work:
        probes, forms = (*earlier.files, *probes), {**earlier.forms, **forms}
        contest_id, candidates = (earlier.contest, ()) if earlier.contest else routed(probes)
        return _Place(earlier.receipt, contest_id, candidates, earlier.fields, probes, forms)
    contest_id, candidates = routed(probes)
    if earlier and relation == "correction":
        return _Place(earlier.receipt, contest_id or earlier.contest, candidates, None, probes, forms)
    if earlier and relation == "same_work" and earlier.sender == analysis.parsed.sender:
        return _Place(earlier.receipt, contest_id, candidates, None, probes, forms)  # resubmitted after a rejection
    if earlier and relation == "same_work":
        return _Place(history.receipt, contest_id, candidates, None, probes, forms, earlier.receipt,
                      (finding(rules, "duplicate_other_sender", receipt=earlier.receipt),))
    return _Place(history.receipt, contest_id, candidates, None, probes, forms)


def _fields(contest: Contest, rules: RuleSet, mail: ParsedMail, probes: list[Probe], forms: dict[str, FormTable],
            base: dict | None, corrected: dict) -> tuple[dict, dict]:
    values = mail_fields(mail, contest, rules.common, base)
    for probe in probes:  # the application form wins over the body where it is readable
        table = forms.get(probe.sha256)
        if table and table.grids and is_form(probe.filename, probe.kind):
            values.update(fields_from_grids(table.grids, contest.fields))
    if contest.field_rule("phone") and not values.get("phone"):
        phone = find_phone("\n".join([new_text(mail.text), *map(str, values.values())]))
        if phone:
            values["phone"] = phone
    if contest.kind == "report":
        values.setdefault("unit", report_unit(mail, contest))
    values.update({name: value for name, value in corrected.items() if contest.field_rule(name)})
    return canonical_fields(values, contest, rules.common)


def _quoted(name: str) -> str:
    """A contest name in Chinese quotes, unless it opens with its own (“好工人·向未来”摄影比赛)."""
    return name if name.startswith("“") else f"“{name}”"
