"""The nightly digest: one self-contained HTML page (and email) that shows the contest at a glance.

Built from the register for one day in the contest time zone. Everything shown
goes through jinja2 autoescaping; phones are masked and no bios appear: the
full data is only in exports that staff pull on purpose.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from .judge import minutes
from .reply import environment
from .rules import RuleSet
from .store import Store, now_iso
from .times import local_day, local_text

log = logging.getLogger(__name__)
OUTCOME_NAMES = {"accepted": "已登记", "rejected": "未通过", "needs_review": "待审核", "ignored": "忽略"}
THUMBNAIL_PX = 120


def mask_phone(phone: str | None) -> str:
    """138****9908 / 0738-****015: enough to recognise, not enough to call."""
    phone = str(phone or "")
    if len(phone) == 11 and phone.isdigit():
        return f"{phone[:3]}****{phone[-4:]}"
    if "-" in phone:
        area, _, number = phone.partition("-")
        return f"{area}-{'*' * max(0, len(number) - 3)}{number[-3:]}"
    return "*" * len(phone)


def thumbnail(data: bytes) -> str | None:
    """A small JPEG as a data URI (a few KB), or None for anything Pillow will not open safely."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (THUMBNAIL_PX * 2, THUMBNAIL_PX * 2))
                image = image.convert("RGB")
                image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
                out = io.BytesIO()
                image.save(out, "JPEG", quality=60)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


@dataclass
class Digest:
    day: date
    title: str
    summary: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    per_day: list[tuple[str, int]] = field(default_factory=list)
    new_entries: list[dict] = field(default_factory=list)
    review_queue: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    rejections: list[tuple[str, int]] = field(default_factory=list)
    failed_replies: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    unions: list[tuple[str, int]] = field(default_factory=list)
    deadlines: list[dict] = field(default_factory=list)
    ignored_today: int = 0
    ignored_total: int = 0


def build_digest(store: Store, rules: RuleSet, day: date, tz: ZoneInfo, with_thumbnails: bool = True) -> Digest:
    today = day.isoformat()

    def _day(value: str | None) -> str:
        return local_day(value, tz)

    entries = [e for e in store.register.entries() if _day(e["received_at"]) <= today]
    first_seen = {row["receipt"]: row["first"] for row in store.db.query(
        "SELECT receipt, MIN(received_at) AS first FROM messages WHERE receipt IS NOT NULL GROUP BY receipt")}
    digest = Digest(day=day, title=f"投稿日报 {today}")
    groups: dict[tuple[str, str], dict] = {}
    for entry in entries:
        fields = json.loads(entry["fields"] or "{}")
        contest = rules.contests.get(entry["contest"] or "")
        name = contest.name if contest else "待确认比赛"
        key = (name, fields.get("track", "") if contest and contest.id == "micro_video" else "")
        group = groups.setdefault(key, {"contest": name, "track": key[1], **{f"{k}_{o}": 0 for k in ("today", "total")
                                                                             for o in ("received", "accepted",
                                                                                       "rejected", "needs_review")}})
        is_new = _day(first_seen.get(entry["receipt"])) == today
        for scope, counts in (("total", True), ("today", is_new)):
            if counts:
                group[f"{scope}_received"] += 1
                group[f"{scope}_{entry['outcome']}"] += 1
        if is_new:
            digest.new_entries.append(_entry_view(store, entry, fields, contest, with_thumbnails))
    digest.summary = [groups[k] for k in sorted(groups)]
    digest.totals = {k: sum(g[k] for g in digest.summary) for k in (digest.summary[0] if digest.summary else {})
                     if k not in ("contest", "track")}
    ignored_days = [_day(row[0]) for row in store.db.execute("SELECT received_at FROM messages WHERE outcome = 'ignored'")]
    digest.ignored_today = sum(d == today for d in ignored_days)
    digest.ignored_total = sum(d <= today for d in ignored_days)
    per_day = Counter(_day(first_seen.get(e["receipt"])) for e in entries)
    start = max(min(per_day, default=today), (day - timedelta(days=59)).isoformat())
    digest.per_day = [((date.fromisoformat(start) + timedelta(days=i)).isoformat(),
                       per_day.get((date.fromisoformat(start) + timedelta(days=i)).isoformat(), 0))
                      for i in range((day - date.fromisoformat(start)).days + 1)]
    for entry in sorted((e for e in entries if e["outcome"] == "needs_review"), key=lambda e: e["received_at"]):
        findings = [f for f in json.loads(entry["rules"] or "[]") if f["severity"] == "review"]
        digest.review_queue.append({"receipt": entry["receipt"], "received": local_text(entry["received_at"], tz),
                                    "contest": _contest_name(rules, entry), "reasons": [f["message"] for f in findings]})
    for entry in entries:
        for link in json.loads(entry["links"] or "[]") if entry["links"] else []:
            expires = link.get("expires")
            left = (date.fromisoformat(expires[:10]) - day).days if expires else None
            if left is None and link.get("expires_in_days") is not None:
                left = link["expires_in_days"] - (day - date.fromisoformat(_day(entry["received_at"]))).days
            digest.links.append({"receipt": entry["receipt"], "url": link["url"], "size": link.get("size") or "",
                                 "days_left": left})
    digest.links.sort(key=lambda link: (link["days_left"] is None, link["days_left"] or 0))
    rejected = Counter(f["id"] for e in entries if e["outcome"] == "rejected"
                       for f in json.loads(e["rules"] or "[]") if f["severity"] == "reject")
    digest.rejections = rejected.most_common()
    digest.failed_replies = list(store.db.query(
        "SELECT receipt, to_addr, subject, attempts, last_error FROM outbox WHERE status = 'failed' ORDER BY id"))
    digest.errors = list(store.db.query("SELECT id, mailbox, uid, received_at, error FROM messages "
                                        "WHERE outcome = 'error' ORDER BY id"))
    unions = rules.common.units.get("unions", [])
    other = rules.common.units.get("other", "其他")
    per_union = Counter(next((u for u in unions if u in json.loads(e["fields"] or "{}").get("unit", "")), other)
                        for e in entries)
    digest.unions = sorted(per_union.items(), key=lambda item: (-item[1], item[0]))
    for contest in rules.contests.values():
        left = (contest.closes.astimezone(tz).date() - day).days
        digest.deadlines.append({"contest": contest.name, "closes": contest.closes.strftime("%Y-%m-%d %H:%M"),
                                 "left": left})
    return digest


def _contest_name(rules: RuleSet, entry: dict) -> str:
    contest = rules.contests.get(entry["contest"] or "")
    return contest.name if contest else "待确认比赛"


def _entry_view(store: Store, entry: dict, fields: dict, contest, with_thumbnails: bool) -> dict:
    media = []
    for attachment in store.register.attachments(entry["id"]):
        if attachment["kind"] == "video" and attachment["duration_s"]:
            media.append({"text": f"{minutes(attachment['duration_s'])} {attachment['width']}×{attachment['height']}"})
        elif attachment["kind"] == "image" and with_thumbnails and len(media) < 4:
            try:
                uri = thumbnail(store.blobs.get("att", attachment["sha256"]))
            except OSError:
                uri = None
            media.append({"thumbnail": uri, "text": attachment["filename"]} if uri else {"text": attachment["filename"]})
    return {"receipt": entry["receipt"], "title": fields.get("title", ""),
            "author": fields.get("author") or fields.get("team") or "", "unit": fields.get("unit", ""),
            "phone": mask_phone(fields.get("phone")), "contest": contest.name if contest else "待确认比赛",
            "track": fields.get("track", ""), "outcome": OUTCOME_NAMES.get(entry["outcome"], entry["outcome"]),
            "media": media}


def bar_chart(per_day: list[tuple[str, int]], width: int = 640, height: int = 120) -> dict:
    """Geometry for an inline SVG bar chart (the template draws it)."""
    peak = max([count for _, count in per_day] or [0]) or 1
    step = width / max(1, len(per_day))
    bars = [{"x": round(i * step, 1), "w": max(1.0, round(step * 0.8, 1)), "h": round(count / peak * (height - 20), 1),
             "day": day, "count": count} for i, (day, count) in enumerate(per_day)]
    return {"width": width, "height": height, "bars": bars, "peak": peak}


def render_digest(digest: Digest, templates_dir: Path | None = None) -> tuple[str, str]:
    env = environment(templates_dir)
    data = {"d": digest, "chart": bar_chart(digest.per_day), "generated": now_iso()}
    return env.get_template("digest.html").render(**data), env.get_template("digest.txt").render(**data)


def write_digest(config, store: Store, rules: RuleSet, day: date, send: bool = True) -> tuple[Path, int | None]:
    """Save reports/YYYY-MM-DD.html and queue the email to `[digest] to`; returns (path, outbox id)."""
    tz = ZoneInfo(config.schedule.timezone)
    digest = build_digest(store, rules, day, tz)
    html, text = render_digest(digest, config.smtp.templates_dir)
    reports = Path(config.digest.reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"{day.isoformat()}.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    if not send or not config.digest.to:
        return path, None
    message = EmailMessage()
    message["From"] = config.smtp.from_addr
    message["To"] = ", ".join(config.digest.to)
    message["Subject"] = f"【投稿日报】{day.isoformat()} 今日新增 {len(digest.new_entries)} 件，待审核 {len(digest.review_queue)} 件"
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain=config.smtp.from_addr.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Inbox-Daemon"] = f"digest {day.isoformat()}"
    message.set_content(text, charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    outbox_id = store.outbox.enqueue({"message": None, "receipt": None, "kind": "digest", "outcome": None,
                                     "to_addr": ", ".join(config.digest.to), "subject": str(message["Subject"]),
                                     "message_id": str(message["Message-ID"]),
                                     "raw": message.as_bytes(policy=SMTP_POLICY), "status": "queued",
                                     "next_attempt_at": now_iso()})
    return path, outbox_id
