"""The verdict: findings per rule id with severity and a Chinese message, and the outcome they imply.

Pure: everything it needs comes in as arguments, so every rule is testable
without a server and a requeue re-runs exactly this code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from .classify import is_form_image
from .forms import is_form
from .probe import Probe
from .rules import Contest, RuleSet

OUTCOME_BY_SEVERITY = (("reject", "rejected"), ("review", "needs_review"))


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    message: str

    def as_dict(self) -> dict:
        return {"id": self.id, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # accepted | rejected | needs_review | ignored
    findings: tuple[Finding, ...] = field(default_factory=tuple)


def outcome_of(findings) -> str:
    severities = {f.severity if isinstance(f, Finding) else f["severity"] for f in findings}
    for severity, outcome in OUTCOME_BY_SEVERITY:
        if severity in severities:
            return outcome
    return "accepted"


def minutes(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}分{seconds % 60:02d}秒" if seconds >= 60 else f"{seconds}秒"


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.2f}MB"


def shanghai(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def finding(rules: RuleSet, rule_id: str, contest: Contest | None = None, **values) -> Finding:
    """One finding with its severity and Chinese message from the rules (the contest's own where it has one)."""
    return Finding(rule_id, rules.severity(rule_id, contest), rules.message(rule_id, contest, **values))


class _Judge:
    def __init__(self, rules: RuleSet, contest: Contest | None):
        self.rules, self.contest = rules, contest
        self.findings: list[Finding] = []

    def add(self, rule_id: str, **values) -> None:
        self.findings.append(finding(self.rules, rule_id, self.contest, **values))


def judge(rules: RuleSet, contest: Contest, fields: dict, problems: dict, probes: list[Probe], links: list[dict],
          received_at: datetime) -> Verdict:
    """`probes` are the entry's files (never body decoration: see parse.entry_mail); `received_at` is when the
    entry was first received (a later correction is judged on the first submission)."""
    j = _Judge(rules, contest)
    local = received_at.astimezone(contest.opens.tzinfo)
    if received_at > contest.closes:
        j.add("late", received=shanghai(local), closes=shanghai(contest.closes))
    elif received_at < contest.opens:
        j.add("early", received=shanghai(local), opens=shanghai(contest.opens))
    if contest.kind == "report":  # a report is acknowledged: no field, photo or video rules
        return Verdict(outcome_of(j.findings), tuple(j.findings))
    _judge_fields(j, fields, problems)
    forms = [p for p in probes if is_form(p.filename, p.kind) or is_form_image(p.filename, p.kind, rules.common)]
    for form in forms:
        if not form.readable and form.kind == "document" and not form.inside:
            j.add("form_unreadable", filename=form.filename, note=form.note)
    archives = [p for p in probes if p.kind == "archive" and p not in forms]
    for archive in archives:
        if not archive.readable:
            j.add("archive_unreadable", filename=archive.filename, note=archive.note or "无法读取")
    work = [p for p in probes if p not in forms and p not in archives and p.kind not in ("message",)]
    if contest.video:
        _judge_videos(j, [p for p in work if p.kind == "video"], work, links, archives)
    if contest.photos:
        _judge_photos(j, [p for p in work if p.kind == "image"], work, links, archives)
    if contest.form and not forms:
        j.add("form_missing", form=contest.form.name)
    return Verdict(outcome_of(j.findings), tuple(j.findings))


def _label(contest: Contest, name: str) -> str:
    rule = contest.field_rule(name)
    return rule.labels[0] if rule and rule.labels else name


def _judge_fields(j: _Judge, fields: dict, problems: dict) -> None:
    contest, bio = j.contest, j.rules.common.bio
    for rule in contest.fields:
        value = fields.get(rule.name)
        if value in (None, ""):
            if rule.required and not (rule.unless and fields.get(rule.unless)):
                j.add(f"field_missing:{rule.name}", label=rule.labels[0])
            continue
        if rule.name in problems:
            if rule.kind == "phone":
                j.add("phone_invalid", value=problems[rule.name])
            elif rule.kind == "gender":
                j.add("gender_invalid", value=problems[rule.name])
            elif rule.required:
                j.add(f"field_missing:{rule.name}", label=rule.labels[0])
            continue
        if rule.kind == "bio":
            length = len("".join(str(value).split()))
            if length < bio.get("too_short", 50):
                j.add("bio_too_short", length=length, label=rule.labels[0])
            elif not bio.get("normal_min", 100) <= length <= bio.get("normal_max", 400):
                j.add("bio_length", length=length, min=bio.get("normal_min"), max=bio.get("normal_max"))
        if rule.kind == "int" and rule.min is not None and isinstance(value, int) and value < rule.min:
            j.add(rule.rule, members=value, value=value, min=rule.min, label=rule.labels[0])
        if rule.kind == "date" and rule.before and (when := _first_day(value)) and when >= rule.before:
            j.add(rule.rule, founded=value, value=value, before=f"{rule.before.year}年{rule.before.month}月",
                  label=rule.labels[0])


def _first_day(value) -> date | None:
    """2019-04-12 or 2019-04 (month precision) as the first day it can mean; None for text."""
    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", str(value))
    return date(int(match[1]), int(match[2]), int(match[3] or 1)) if match else None


def _no_work(j: _Judge, wanted: str, work: list[Probe], links: list[dict], archives: list[Probe]) -> None:
    if links:
        link = links[0]
        expires = f"{link['expires'][:16].replace('T', ' ')} 到期" if link.get("expires") else (
            f"{link['expires_in_days']} 天后过期" if link.get("expires_in_days") else "有效期未知")
        j.add("large_attachment_link", name=link.get("name") or "云附件", size=link.get("size") or "大小未知",
              expires=expires)
    elif any(not a.readable for a in archives):
        return  # archive_unreadable already says it: staff open it by hand
    elif work:
        names = "、".join(f"“{p.filename}”" for p in work[:3])
        j.add("attachment_type", detail=f"需要{wanted}，收到的是 {names}")
    else:
        j.add("attachment_missing")


def _judge_videos(j: _Judge, videos: list[Probe], work: list[Probe], links: list[dict],
                  archives: list[Probe]) -> None:
    rule = j.contest.video
    if not videos:
        return _no_work(j, "视频文件", work, links, archives)
    if len(videos) > rule.count:  # a work and its 花絮: staff choose, nothing is rejected for it
        j.add("attachment_count", count=len(videos), limit=rule.count,
              names="、".join(f"“{v.filename}”" for v in videos[:4]))
        extras = [v for v in videos if any(word in v.filename for word in rule.extra_names)]
        if len(extras) < len(videos):
            videos = [v for v in videos if v not in extras]  # the limits apply to the work, not its extras
    for video in videos:
        if not video.readable or not video.duration_s:
            j.add("video_unreadable", filename=video.filename)
            continue
        if video.duration_s > rule.max_duration_s:
            j.add("video_too_long", filename=video.filename, duration=minutes(video.duration_s),
                  limit=minutes(rule.max_duration_s))
        if rule.min_short_side and min(video.width or 0, video.height or 0) < rule.min_short_side:
            j.add("video_resolution", filename=video.filename, width=video.width, height=video.height)


def _judge_photos(j: _Judge, images: list[Probe], work: list[Probe], links: list[dict],
                  archives: list[Probe]) -> None:
    rule = j.contest.photos
    if not images:
        return _no_work(j, "JPEG 照片", work, links, archives)
    jpegs = [p for p in images if p.image_format == rule.format]
    for other in (p for p in images if p.image_format != rule.format):
        j.add("attachment_type", detail=f"“{other.filename}”是 {other.image_format or '无法识别的图片'}，只接受 JPEG 格式")
    for photo in jpegs:
        if photo.size < rule.min_bytes:
            j.add("photo_too_small", filename=photo.filename, size=megabytes(photo.size))
    if 1 < len(images) < rule.set_min:
        j.add("photo_set_size", count=len(images))
    for photo in jpegs:
        software = photo.exif.get("software", "")
        if software and any(word in software.lower() for word in rule.edited_software):
            j.add("photo_edited", filename=photo.filename, detail="经过修图软件处理", software=software)
        elif not photo.exif.get("make") and not photo.exif.get("model"):
            j.add("photo_edited", filename=photo.filename, detail="看不出是用相机或手机拍摄的（照片里没有拍摄设备的信息）")
