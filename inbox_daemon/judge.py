"""The verdict: findings per rule id with severity and a Chinese message, and the outcome they imply.

Pure: everything it needs comes in as arguments, so every rule is testable
without a server and a requeue re-runs exactly this code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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


class _Judge:
    def __init__(self, rules: RuleSet, contest: Contest | None):
        self.rules, self.contest = rules, contest
        self.findings: list[Finding] = []

    def add(self, rule_id: str, **values) -> None:
        self.findings.append(Finding(rule_id, self.rules.severity(rule_id),
                                     self.rules.message(rule_id, self.contest, **values)))


def judge(rules: RuleSet, contest: Contest, fields: dict, problems: dict, probes: list[Probe], links: list[dict],
          received_at: datetime) -> Verdict:
    j = _Judge(rules, contest)
    local = received_at.astimezone(contest.opens.tzinfo)
    if received_at > contest.closes:
        j.add("late", received=shanghai(local), closes=shanghai(contest.closes))
    elif received_at < contest.opens:
        j.add("early", received=shanghai(local), opens=shanghai(contest.opens))
    _judge_fields(j, fields, problems)
    forms = [p for p in probes if is_form(p.filename, p.kind)]
    work = [p for p in probes if p not in forms and p.kind not in ("message",)]
    if contest.video:
        _judge_videos(j, [p for p in work if p.kind == "video"], work, links)
    if contest.photos:
        _judge_photos(j, [p for p in work if p.kind == "image"], work, links)
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
            if rule.name == "members":
                j.add("team_too_small", members=value)


def _no_work(j: _Judge, wanted: str, work: list[Probe], links: list[dict]) -> None:
    if links:
        link = links[0]
        expires = f"{link['expires'][:16].replace('T', ' ')} 到期" if link.get("expires") else (
            f"{link['expires_in_days']} 天后过期" if link.get("expires_in_days") else "有效期未知")
        j.add("large_attachment_link", size=link.get("size") or "大小未知", expires=expires)
    elif work:
        names = "、".join(f"“{p.filename}”" for p in work[:3])
        j.add("attachment_type", detail=f"需要{wanted}，收到的是 {names}")
    else:
        j.add("attachment_missing")


def _judge_videos(j: _Judge, videos: list[Probe], work: list[Probe], links: list[dict]) -> None:
    rule = j.contest.video
    if not videos:
        return _no_work(j, "视频文件", work, links)
    if len(videos) > rule.count:
        j.add("attachment_type", detail=f"每份作品只能有 {rule.count} 个视频，本邮件有 {len(videos)} 个")
    for video in videos:
        if not video.readable or not video.duration_s:
            j.add("video_unreadable", filename=video.filename)
            continue
        if video.duration_s > rule.max_duration_s:
            j.add("video_too_long", filename=video.filename, duration=minutes(video.duration_s),
                  limit=minutes(rule.max_duration_s))
        if rule.min_short_side and min(video.width or 0, video.height or 0) < rule.min_short_side:
            j.add("video_resolution", filename=video.filename, width=video.width, height=video.height)


def _judge_photos(j: _Judge, images: list[Probe], work: list[Probe], links: list[dict]) -> None:
    rule = j.contest.photos
    if not images:
        return _no_work(j, "JPEG 照片", work, links)
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
            j.add("photo_edited", filename=photo.filename, detail=f"的 EXIF 显示经 {software} 处理")
        elif not photo.exif.get("make") and not photo.exif.get("model"):
            j.add("photo_edited", filename=photo.filename, detail="没有相机或手机的拍摄信息（EXIF）")
