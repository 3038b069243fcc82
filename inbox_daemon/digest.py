"""The nightly digest: one self-contained page (and email) an organizer reads on a phone over breakfast.

Built from the register for one day on the contest's clock. It speaks to organizers: findings are
named in a few plain words (never the sentences sent to contestants), times are local, each entry
links to its page in the console when `[web] base_url` is set (else to the command that settles it),
cloud files link to their download page with the days they have left. Everything shown goes through
jinja2 autoescaping; phones are masked and no bios appear: the full data is only in exports that
staff pull on purpose.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import shlex
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from .judge import minutes
from .reply import OUTCOME_LABELS, date_text, environment, finding_title
from .rules import Contest, RuleSet
from .store import Store, now_iso
from .times import local, local_day

log = logging.getLogger(__name__)
THUMBNAIL_PX = 120
OUTCOMES = ("accepted", "rejected", "needs_review")
NO_TRACK = "未填赛道"
UNROUTED = "待确认比赛"


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


def _counts() -> dict:
    return {"new": 0, "total": 0, **{outcome: 0 for outcome in OUTCOMES}}


@dataclass
class ContestSummary:
    """One contest's numbers (its subtotal) and, under it, one line per track."""

    name: str
    counts: dict = field(default_factory=_counts)
    tracks: dict[str, dict] = field(default_factory=dict)

    def add(self, entry: dict, track: str | None, is_new: bool) -> None:
        lines = [self.counts] + ([self.tracks.setdefault(track, _counts())] if track is not None else [])
        for line in lines:
            line["total"] += 1
            line["new"] += is_new
            if entry["outcome"] in OUTCOMES:
                line[entry["outcome"]] += 1


@dataclass
class Digest:
    day: date
    title: str
    generated: str = ""
    contests: list[ContestSummary] = field(default_factory=list)
    totals: dict = field(default_factory=_counts)
    per_day: list[tuple[str, int]] = field(default_factory=list)
    new_entries: list[dict] = field(default_factory=list)
    review_queue: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    rejections: list[tuple[str, int]] = field(default_factory=list)
    failed_replies: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    unions: list[tuple[str, int]] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    deadlines: list[dict] = field(default_factory=list)
    ignored_today: int = 0
    ignored_total: int = 0


class Links:
    """Where the digest sends an organizer for an entry: its console page, or the command to run."""

    def __init__(self, base_url: str | None, config_path: Path | None):
        self.base_url = base_url
        self.config = f" --config {shlex.quote(str(config_path))}" if config_path else ""

    def entry(self, receipt: str | None) -> str | None:
        return f"{self.base_url}entries/{receipt}" if self.base_url and receipt else None

    def commands(self, receipt: str) -> list[str]:
        return [f"inbox-daemon show {receipt}{self.config}",
                f'inbox-daemon override {receipt} --accept --note "…"{self.config}']


def build_digest(store: Store, rules: RuleSet, day: date, tz: ZoneInfo, with_thumbnails: bool = True,
                 links: Links | None = None) -> Digest:
    links = links or Links(None, None)
    today = day.isoformat()

    def _day(value: str | None) -> str:
        return local_day(value, tz)

    entries = [e for e in store.register.entries() if _day(e["received_at"]) <= today]
    first_seen = {row["receipt"]: row["first"] for row in store.db.query(
        "SELECT receipt, MIN(received_at) AS first FROM messages WHERE receipt IS NOT NULL GROUP BY receipt")}
    digest = Digest(day=day, title=f"投稿日报 {today}", generated=date_text(datetime.now(timezone.utc).astimezone(tz)))
    summaries: dict[str, ContestSummary] = {}
    for entry in entries:
        fields = json.loads(entry["fields"] or "{}")
        contest = rules.contests.get(entry["contest"] or "")
        is_new = _day(first_seen.get(entry["receipt"])) == today
        summary = summaries.setdefault(contest.id if contest else "", ContestSummary(contest.name if contest else UNROUTED))
        track = (fields.get("track") or NO_TRACK) if contest and contest.field_rule("track") else None
        summary.add(entry, track, is_new)
        if is_new:
            digest.new_entries.append(_entry_view(store, entry, fields, contest, with_thumbnails, links))
    for cid, summary in summaries.items():  # tracks in the order the rules list them, the unnamed last
        rule = rules.contests[cid].field_rule("track") if cid else None
        rank = {name: i for i, name in enumerate(rule.choices)} if rule else {}
        summary.tracks = dict(sorted(summary.tracks.items(), key=lambda item: rank.get(item[0], len(rank))))
    order = [*rules.contests, ""]
    digest.contests = [summaries[cid] for cid in order if cid in summaries]
    for key in digest.totals:
        digest.totals[key] = sum(s.counts[key] for s in digest.contests)
    ignored_days = [_day(row[0]) for row in store.db.execute("SELECT received_at FROM messages WHERE outcome = 'ignored'")]
    digest.ignored_today = sum(d == today for d in ignored_days)
    digest.ignored_total = sum(d <= today for d in ignored_days)
    digest.per_day = _per_day(Counter(_day(first_seen.get(e["receipt"])) for e in entries), day)
    for entry in sorted((e for e in entries if e["outcome"] == "needs_review"), key=lambda e: e["received_at"]):
        contest = rules.contests.get(entry["contest"] or "")
        fields = json.loads(entry["fields"] or "{}")
        digest.review_queue.append({
            "receipt": entry["receipt"], "received": date_text(local(entry["received_at"], tz)),
            "contest": contest.name if contest else UNROUTED, "title": fields.get("title", ""),
            "author": fields.get("author") or fields.get("team") or "",
            "reasons": _reasons(entry, contest, ("review",)), "link": links.entry(entry["receipt"]),
            "commands": links.commands(entry["receipt"])})
    digest.links = _cloud_links(entries, day, _day, links)
    rejected = Counter(finding_title(f["id"], rules.contests.get(e["contest"] or ""))
                       for e in entries if e["outcome"] == "rejected"
                       for f in json.loads(e["rules"] or "[]") if f["severity"] == "reject")
    digest.rejections = rejected.most_common()
    digest.failed_replies = [{**row, "link": links.entry(row["receipt"])} for row in store.db.query(
        "SELECT receipt, to_addr, subject, attempts, last_error FROM outbox WHERE status = 'failed' ORDER BY id")]
    digest.errors = [{**row, "received": date_text(local(row["received_at"], tz))} for row in store.db.query(
        "SELECT id, mailbox, uid, received_at, error FROM messages WHERE outcome = 'error' ORDER BY id")]
    unions = rules.common.units.get("unions", [])
    other = rules.common.units.get("other", "其他")
    per_union = Counter(next((u for u in unions if u in json.loads(e["fields"] or "{}").get("unit", "")), other)
                        for e in entries)
    digest.unions = sorted(per_union.items(), key=lambda item: (-item[1], item[0]))
    digest.reports = report_status(rules, entries)
    for contest in rules.contests.values():
        left = (contest.closes.astimezone(tz).date() - day).days
        digest.deadlines.append({"contest": contest.name, "closes": date_text(contest.closes.astimezone(tz)),
                                 "left": left})
    return digest


def _per_day(per_day: Counter, day: date) -> list[tuple[str, int]]:
    """New entries per day, from the first day with one (at most 60 days back) to `day`."""
    earliest = date.fromisoformat(min(per_day, default=day.isoformat()))
    start = max(earliest, day - timedelta(days=59))
    days = [start + timedelta(days=i) for i in range((day - start).days + 1)]
    return [(d.isoformat(), per_day.get(d.isoformat(), 0)) for d in days]


def _reasons(entry: dict, contest: Contest | None, severities: tuple[str, ...]) -> list[str]:
    findings = json.loads(entry["rules"] or "[]")
    return list(dict.fromkeys(finding_title(f["id"], contest) for f in findings if f["severity"] in severities))


def _cloud_links(entries: list[dict], day: date, to_day, links: Links) -> list[dict]:
    """Works sent as cloud links, soonest to expire first: they must be downloaded before then."""
    found = []
    for entry in entries:
        for link in json.loads(entry["links"] or "[]") if entry["links"] else []:
            expires = link.get("expires")
            left = (date.fromisoformat(expires[:10]) - day).days if expires else None
            if left is None and link.get("expires_in_days") is not None:
                left = link["expires_in_days"] - (day - date.fromisoformat(to_day(entry["received_at"]))).days
            found.append({"receipt": entry["receipt"], "url": link["url"], "size": link.get("size") or "",
                          "provider": link.get("name") or "云附件", "days_left": left, "code": link.get("code"),
                          "link": links.entry(entry["receipt"])})
    return sorted(found, key=lambda item: (item["days_left"] is None, item["days_left"] or 0))


def report_status(rules: RuleSet, entries: list[dict]) -> list[dict]:
    """For a contest of activity reports (`kind = "report"` with the units the notice addresses):
    which units have reported and which have not, by the deadline."""
    status = []
    for contest in rules.contests.values():
        units = getattr(contest, "units", ())
        if getattr(contest, "kind", "entry") != "report" or not units:
            continue
        texts = [" ".join(str(v) for v in [*json.loads(e["fields"] or "{}").values(), e["sender_name"] or ""])
                 for e in entries if e["contest"] == contest.id]
        reported = [u.name for u in units if any(name in text for text in texts for name in u.names)]
        status.append({"contest": contest.name, "reported": reported,
                       "missing": [u.name for u in units if u.name not in reported],
                       "closes": date_text(contest.closes)})
    return status


def _entry_view(store: Store, entry: dict, fields: dict, contest: Contest | None, with_thumbnails: bool,
                links: Links) -> dict:
    media = []
    for attachment in store.register.attachments(entry["id"]):
        if attachment["kind"] == "video" and attachment["duration_s"]:
            media.append({"text": f"视频 {minutes(attachment['duration_s'])}，{attachment['width']}×{attachment['height']}"})
        elif attachment["kind"] == "image" and with_thumbnails and len(media) < 4:
            try:
                uri = thumbnail(store.blobs.get("att", attachment["sha256"]))
            except OSError:
                uri = None
            media.append({"thumbnail": uri, "text": attachment["filename"]} if uri else {"text": attachment["filename"]})
    return {"receipt": entry["receipt"], "title": fields.get("title", ""),
            "author": fields.get("author") or fields.get("team") or "", "unit": fields.get("unit", ""),
            "phone": mask_phone(fields.get("phone")), "contest": contest.name if contest else UNROUTED,
            "track": fields.get("track", ""), "outcome": entry["outcome"],
            "outcome_label": OUTCOME_LABELS.get(entry["outcome"], entry["outcome"]),
            "reasons": _reasons(entry, contest, ("reject", "review")), "media": media,
            "link": links.entry(entry["receipt"])}


def bar_chart(per_day: list[tuple[str, int]], width: int = 600, height: int = 120) -> dict:
    """Geometry for an inline SVG bar chart drawn in a viewBox, so it shrinks to any screen."""
    peak = max([count for _, count in per_day] or [0]) or 1
    step = width / max(1, len(per_day))
    bars = [{"x": round(i * step, 1), "w": max(1.0, round(step * 0.8, 1)), "h": round(count / peak * (height - 10), 1),
             "day": day, "count": count} for i, (day, count) in enumerate(per_day)]
    return {"width": width, "height": height, "bars": bars, "peak": peak}


def render_digest(digest: Digest, templates_dir: Path | None = None) -> tuple[str, str]:
    env = environment(templates_dir)
    data = {"d": digest, "chart": bar_chart(digest.per_day), "outcome_labels": OUTCOME_LABELS}
    return env.get_template("digest.html").render(**data), env.get_template("digest.txt").render(**data)


def write_digest(config, store: Store, rules: RuleSet, day: date, send: bool = True) -> tuple[Path, int | None]:
    """Save reports/YYYY-MM-DD.html and queue the email to `[digest] to`; returns (path, outbox id)."""
    tz = ZoneInfo(config.schedule.timezone)
    base_url = config.web.base_url if getattr(config, "web", None) else None
    digest = build_digest(store, rules, day, tz, links=Links(base_url, config.path))
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
    message["Subject"] = (f"【投稿日报】{day.isoformat()} 今日新增 {len(digest.new_entries)} 件，"
                          f"待审核 {len(digest.review_queue)} 件")
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
