"""Who gets a reply, of which kind, and what it says: pure decisions plus jinja2 rendering.

Never to ignored mail, our own address, no-reply/daemon senders or invalid
addresses; at most `daily_limit` replies a day per address, then one notice
and silence; a re-judged message is answered again only when its outcome
changed. Every reply carries Auto-Submitted, X-Auto-Response-Suppress and a
Message-ID of our own domain, so responders stay quiet and we know our own mail.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

from .judge import megabytes, minutes
from .rules import Contest, RuleSet
from .times import local

ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
UNANSWERABLE = re.compile(r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|post_master|mail-daemon|bounces?)"
                          r"([+._-].*)?$", re.I)
CJK = re.compile(r"[\u3400-\u9fff]")
NEVER_ANSWERED = {"not_a_submission", "reply_question"}
ISO_MINUTE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::\d{2})?")


@cache
def wording() -> dict:
    """Words that are not contest rules (outcome names, rule titles for organizers, how a reply names
    an entry, the annex layouts): `templates/wording.toml`, shipped with the templates."""
    return tomllib.loads(files("inbox_daemon").joinpath("templates/wording.toml").read_text(encoding="utf-8"))


OUTCOME_LABELS: dict[str, str] = wording()["outcomes"]


def outcome_words() -> dict[str, str]:
    """Every word staff may type for an outcome, Chinese or English, mapped to the stored outcome."""
    words = {outcome: outcome for outcome in OUTCOME_LABELS}
    words.update({label: outcome for outcome, label in OUTCOME_LABELS.items()})
    words.update(wording().get("outcome_synonyms", {}))
    return words


def date_text(when: datetime) -> str:
    """The one way replies write a moment: 2022年9月30日 23:59 (on the contest's clock)."""
    return f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}"


def plain_dates(text: str) -> str:
    """Rewrite 2022-09-30 23:59 inside a finding's message the way every reply writes dates."""
    return ISO_MINUTE.sub(lambda m: f"{int(m[1])}年{int(m[2])}月{int(m[3])}日 {m[4]}:{m[5]}", text)


def finding_title(rule_id: str, contest: Contest | None = None) -> str:
    """What a rule id means, in a few words for organizers (never the message sent to the contestant)."""
    base, _, detail = rule_id.partition(":")
    title = wording()["findings"].get(base, base)
    if "{label}" in title:
        rule = contest.field_rule(detail) if contest and detail else None
        title = title.format(label=rule.labels[0] if rule else detail)
    return title


def entry_words(contest: Contest | None) -> dict[str, str]:
    """How a reply names the entry: 您{verb}的{work} (投稿的微视频比赛作品, 提交的“最美职工书屋”申报材料)."""
    entries = wording()["entries"]
    words = {**entries["default"], **entries.get(contest.id if contest else "", {})}
    name = contest.name if contest else "比赛"
    return {key: value.format(contest=name) for key, value in words.items()}


@dataclass(frozen=True)
class Decision:
    kind: str | None  # None: no reply (see reason)
    to: str | None = None
    reason: str = ""


def valid_address(address: str | None) -> bool:
    return bool(address) and len(address) <= 254 and ADDRESS.match(address) is not None


def reply_target(sender: str, reply_to: str) -> str | None:
    """Reply-To when present and valid, else From; None when neither is a usable address."""
    for candidate in (reply_to, sender):
        address = parseaddr(candidate or "")[1].strip().lower()
        if valid_address(address):
            return address
    return None


def decide(*, outcome: str, rule_ids: list[str], sender: str, reply_to: str, own_addresses: tuple[str, ...],
           previous_outcome: str | None, sent_today: int, limit_notice_today: bool, daily_limit: int,
           unchanged_correction: bool = False, has_chinese: bool = True) -> Decision:
    """The reply a judged message gets, if any."""
    if outcome in ("ignored", "error"):
        return Decision(None, reason=f"no reply to {outcome} mail")
    quiet = NEVER_ANSWERED & {rule.split(":", 1)[0] for rule in rule_ids}
    if quiet:  # spam and stray mail, questions for staff: a person answers, if anyone
        return Decision(None, reason=f"not answered automatically: {', '.join(sorted(quiet))}")
    to = reply_target(sender, reply_to)
    if to is None:
        return Decision(None, reason="no valid From/Reply-To address")
    if to in {a.lower() for a in own_addresses}:
        return Decision(None, to, "our own address")
    if UNANSWERABLE.match(to.partition("@")[0]):
        return Decision(None, to, "automated sender")
    if not has_chinese:
        # Entries carry Chinese metadata (作品名称, 作者…). Without one Chinese character it is spam, a
        # list-server notice or virus mail: recorded and shown to staff, never answered automatically.
        return Decision(None, to, "no Chinese text: not answered automatically")
    if previous_outcome is not None:
        if previous_outcome == outcome:
            return Decision(None, to, "already answered; outcome unchanged")
        kind = "change"
    elif unchanged_correction:
        return Decision(None, to, "correction changed nothing")
    elif "duplicate_resubmission" in rule_ids:
        kind = "duplicate"
    elif outcome == "rejected" and "late" in rule_ids:
        kind = "late"  # nothing to fix: it came after the deadline
    elif "contest_unknown" in rule_ids:
        kind = "contest_unknown"
    else:
        kind = outcome
    if sent_today >= daily_limit:
        if limit_notice_today:
            return Decision(None, to, f"daily limit of {daily_limit} replies reached")
        return Decision("limit", to)
    return Decision(kind, to)


def environment(templates_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(templates_dir))] if templates_dir else []
    loaders.append(PackageLoader("inbox_daemon", "templates"))
    return Environment(loader=ChoiceLoader(loaders), autoescape=lambda name: bool(name and name.endswith(".html")),
                       undefined=StrictUndefined, keep_trailing_newline=True)


def _file_description(row: dict) -> str:
    parts = []
    if row.get("kind") == "video" and row.get("duration_s"):
        parts.append(f"视频 {minutes(row['duration_s'])}")
        if row.get("width"):
            parts.append(f"{row['width']}×{row['height']}")
    elif row.get("kind") == "image" and row.get("width"):
        parts.append(f"图片 {row['width']}×{row['height']}")
    parts.append(megabytes(row.get("size") or 0))
    return "，".join(parts)


def template_data(kind: str, message: dict, attachments: list[dict], rules: RuleSet, *, before: str | None = None,
                  note: str = "", daily_limit: int = 5) -> dict:
    """Everything the templates show, from the recorded message."""
    contest = rules.contests.get(message.get("contest") or "")
    findings = json.loads(message.get("rules") or "[]")
    fields = json.loads(message.get("fields") or "{}")
    labelled = []
    fill_block = []
    if contest:
        for rule in contest.fields:
            value = fields.get(rule.name)
            if value not in (None, ""):
                labelled.append((rule.labels[0], value))
            if rule.required or value not in (None, ""):
                fill_block.append((rule.labels[0], "" if value in (None, "") else value))
    reasons = [plain_dates(f["message"]) for f in findings if f["severity"] == "reject"]
    reviews = [plain_dates(f["message"]) for f in findings if f["severity"] == "review"]
    warnings = [plain_dates(f["message"]) for f in findings if f["severity"] == "warn"]
    name = (message.get("sender_name") or "").strip()
    received = local(message.get("received_at"))
    return {
        "kind": kind, "receipt": message.get("receipt") or "", "contest": contest.name if contest else "比赛",
        **entry_words(contest), "received": date_text(received) if received else "",
        "greeting": f"{name}，您好" if name and len(name) <= 20 else "您好",
        "reasons": reasons if kind in ("rejected", "change") else [], "reviews": reviews, "warnings": warnings,
        "first_reason": _short(reasons[0]) if reasons else "",
        "fields": labelled if kind != "rejected" else [],  # a rejection shows them in the block to fill
        "fill_block": fill_block,
        "files": [(a["filename"] or "（无名文件）", _file_description(a)) for a in attachments if not a.get("inside")],
        "deadline": date_text(contest.closes) if contest else "",
        "choices": [c.name for c in rules.contests.values()] if kind == "contest_unknown" else [],
        "outcome_label": OUTCOME_LABELS.get(message.get("outcome") or "", ""),
        "before_label": OUTCOME_LABELS.get(before or "", before or ""),
        "after_label": OUTCOME_LABELS.get(message.get("outcome") or "", ""), "note": note, "limit": daily_limit,
        "signature": "娄底市“网聚职工正能量 争做中国好网民”主题活动组委会",
    }


def _short(reason: str) -> str:
    """The first clause of a reason, for the subject line."""
    return re.split(r"[。，,；]", reason, maxsplit=1)[0][:30]


def render(env: Environment, data: dict, *, from_addr: str, to: str, in_reply_to: str, references: str,
           now: datetime) -> EmailMessage:
    """A multipart/alternative reply (plain text always, simple HTML) with threading and loop headers."""
    subject = env.get_template("subject.txt").render(**data).strip()
    text = env.get_template("body.txt").render(**data)
    html = env.get_template("body.html").render(subject=subject, **data)
    message = EmailMessage()
    message["From"] = from_addr
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=from_addr.rpartition("@")[2] or "localhost")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = " ".join(dict.fromkeys([*references.split(), in_reply_to]))
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Inbox-Daemon"] = f"{data['kind']} {data['receipt']}".strip()
    message.set_content(text, charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    return message
