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
from .classify import route
from .extract import canonical_fields, extract_fields, find_phone, large_attachment_links, new_text
from .forms import fields_from_grids, is_form
from .judge import Finding, Verdict, judge, outcome_of
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


def decide_entry(analysis: Analysis, history: History, rules: RuleSet, allowed: tuple[str, ...]) -> EntryDecision:
    """The outcome, contest, receipt, fields and findings of a message; `allowed` are the contests its
    mailbox takes."""
    if analysis.ignored_because:
        return EntryDecision("ignored", None, None, None, {}, (), analysis.probes)
    parsed = analysis.parsed
    probes, forms = list(analysis.probes), dict(analysis.forms)
    work = [p for p in probes if p.kind in WORK_KINDS]
    earlier = history.earlier
    receipt, duplicate_of, base, extra = history.receipt, None, None, []
    if earlier and history.relation == "same_work" and earlier.sender == parsed.sender \
            and earlier.outcome != "rejected":
        finding = Finding("duplicate_resubmission", rules.severity("duplicate_resubmission"),
                          rules.message("duplicate_resubmission", None, receipt=earlier.receipt))
        return EntryDecision(earlier.outcome, earlier.contest, earlier.receipt, None, earlier.fields, (finding,),
                             analysis.probes, duplicate_of=earlier.receipt)
    if earlier and history.relation == "correction" and not work:
        # A reply with corrected details and no new work: merged into the entry, its files and receipt kept.
        receipt, base = earlier.receipt, earlier.fields
        probes, forms = [*earlier.files, *probes], {**earlier.forms, **forms}
        contest_id, candidates = earlier.contest, ()
        if not contest_id:
            contest_id, candidates = route(parsed, rules, allowed, [p.kind for p in probes])
    else:
        contest_id, candidates = route(parsed, rules, allowed, [p.kind for p in probes])
        if earlier and history.relation == "correction":
            receipt, contest_id = earlier.receipt, contest_id or earlier.contest
        elif earlier and history.relation == "same_work":
            if earlier.sender == parsed.sender:  # a corrected resubmission after a rejection
                receipt = earlier.receipt
            else:
                duplicate_of = earlier.receipt
                extra.append(Finding("duplicate_other_sender", rules.severity("duplicate_other_sender"),
                                     rules.message("duplicate_other_sender", None, receipt=earlier.receipt)))
    staff = history.staff.get(receipt or "", StaffInput())
    contest_id = staff.contest or contest_id
    probes += staff.files
    links = tuple(large_attachment_links(parsed.text, parsed.html, rules.common))
    if contest_id is None:
        choices = candidates or allowed
        names = "、".join(f"“{rules.contests[c].name}”" for c in choices if c in rules.contests)
        verdict = Verdict("needs_review", (Finding("contest_unknown", rules.severity("contest_unknown"),
                                                   rules.message("contest_unknown", None, choices=names)),))
        fields: dict = {}
    else:
        contest = rules.contests[contest_id]
        fields, problems = _fields(contest, rules, analysis, probes, forms, base, staff.fields)
        extra += [Finding("form_unreadable", rules.severity("form_unreadable"),
                          rules.message("form_unreadable", contest, filename=p.filename, reason=forms[p.sha256].problem))
                  for p in probes if p.sha256 in forms and forms[p.sha256].problem
                  and forms[p.sha256].problem != TIMED_OUT]
        received = min(history.received_at, history.first_received.get(receipt or "", history.received_at))
        verdict = judge(rules, contest, fields, problems, probes, list(links), received)
    extra += [Finding("probe_timeout", rules.severity("probe_timeout"),
                      rules.message("probe_timeout", None, filename=name)) for name in analysis.timed_out]
    findings = (*verdict.findings, *extra)
    # A file we could not read in time says nothing about the entry: a person looks before anything else.
    outcome = staff.outcome or ("needs_review" if analysis.timed_out else outcome_of(findings))
    unchanged = bool(earlier and history.relation == "correction" and outcome == earlier.outcome
                     and earlier.fields == fields)
    prefix = (rules.contests[contest_id].receipt_prefix if contest_id
              else rules.common.receipts.get("unknown_prefix", "DQR"))
    return EntryDecision(outcome, contest_id, receipt, prefix, fields, findings, tuple(probes), duplicate_of,
                         links, unchanged)


def _fields(contest: Contest, rules: RuleSet, analysis: Analysis, probes: list[Probe], forms: dict[str, FormTable],
            base: dict | None, corrected: dict) -> tuple[dict, dict]:
    parsed = analysis.parsed
    values = extract_fields(parsed.text, parsed.subject, contest, rules.common, base)
    for probe in probes:  # the application form wins over the body where it is readable
        table = forms.get(probe.sha256)
        if table and table.grids and is_form(probe.filename, probe.kind):
            values.update(fields_from_grids(table.grids, contest.fields))
    if contest.field_rule("phone") and not values.get("phone"):
        phone = find_phone("\n".join([new_text(parsed.text), *map(str, values.values())]))
        if phone:
            values["phone"] = phone
    values.update({name: value for name, value in corrected.items() if contest.field_rule(name)})
    return canonical_fields(values, contest, rules.common)
