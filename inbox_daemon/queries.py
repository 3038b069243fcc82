"""The read side both faces use (the console and the staff CLI): lists with filters, search, sort and
pages; the overview; the review queue; one entry seen whole.

Lists read `entry_list` (one row per entry in its current state, kept by triggers, see migration
m0101) through its indexes, so a page costs the same at 200 and at 20,000 entries. Nothing here
writes; the actions are in `staff.py` and `accounts.py`.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path

import sqlite_utils

from .errors import InboxError
from .reply import outcome_words
from .rules import RuleSet
from .times import SHANGHAI, local

OUTCOME_NAMES = {"accepted": "已登记", "rejected": "未通过", "needs_review": "待审核", "ignored": "不处理",
                 "error": "出错", "received": "已收到"}
SEVERITY_NAMES = {"reject": "不符合要求", "review": "需人工核对", "warn": "提醒", "info": "说明"}
SORTS = {"received": "first_received", "receipt": "receipt", "contest": "contest", "outcome": "outcome",
         "title": "title", "author": "author"}
UNROUTED = "none"  # the contest filter value for entries no contest could be found for
LIST_COLUMNS = ("key, receipt, message, contest, outcome, mailbox, sender, sender_name, subject, title, author, "
                "unit, phone, track, received_at, first_received, has_link, rule_ids")


class QueryError(InboxError):
    """A filter that names something that does not exist; the message lists what does."""


def outcome_from_word(word: str | None) -> str | None:
    if not word:
        return None
    words = {**{name: outcome for outcome, name in OUTCOME_NAMES.items()}, **outcome_words()}  # either language
    outcome = words.get(word.strip().lower()) or words.get(word.strip())
    if outcome is None:
        choices = "、".join(f"{name}（{o}）" for o, name in OUTCOME_NAMES.items())
        raise QueryError(f"未知的结果“{word}”，可选：{choices}")
    return outcome


def rule_ids(rules: RuleSet) -> list[str]:
    return sorted(rules.common.severities)


def contest_name(rules: RuleSet, contest_id: str | None) -> str:
    contest = rules.contests.get(contest_id or "")
    return contest.name if contest else "待确认比赛"


def finding_text(finding: dict) -> dict:
    """A finding as staff read it: the sentence first, the severity in words, the id small."""
    return {"id": finding.get("id", ""), "message": finding.get("message", ""),
            "severity": finding.get("severity", ""),
            "severity_name": SEVERITY_NAMES.get(finding.get("severity", ""), finding.get("severity", ""))}


# -- the list -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EntryFilter:
    contest: str | None = None  # a contest id, or UNROUTED
    outcome: str | None = None  # None: everything but ignored mail
    rule: str | None = None  # a rule id ("field_missing") or one finding ("field_missing:phone")
    mailbox: str | None = None
    since: date | None = None  # first received on or after this day (contest clock)
    until: date | None = None  # ... on or before this day
    has_link: bool = False
    q: str = ""
    sort: str = "received"
    descending: bool = True
    page: int = 1
    per_page: int = 50

    def validate(self, rules: RuleSet, mailboxes: tuple[str, ...] = ()) -> "EntryFilter":
        if self.contest and self.contest != UNROUTED and self.contest not in rules.contests:
            choices = "、".join(f"{cid}（{c.name}）" for cid, c in rules.contests.items())
            raise QueryError(f"未知的比赛“{self.contest}”，可选：{choices}、{UNROUTED}（待确认比赛）")
        if self.rule and self.rule.split(":", 1)[0] not in rules.common.severities:
            raise QueryError(f"未知的规则“{self.rule}”，可选：{'、'.join(rule_ids(rules))}")
        if self.mailbox and mailboxes and self.mailbox not in mailboxes:
            raise QueryError(f"未知的邮箱“{self.mailbox}”，可选：{'、'.join(mailboxes)}")
        if self.outcome and self.outcome not in OUTCOME_NAMES:
            outcome_from_word(self.outcome)
        if self.sort not in SORTS:
            raise QueryError(f"未知的排序“{self.sort}”，可选：{'、'.join(SORTS)}")
        return self


def _day_start(day: date, tz: tzinfo) -> str:
    return datetime.combine(day, time.min, tz).astimezone(timezone.utc).isoformat(timespec="seconds")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where(f: EntryFilter, tz: tzinfo = SHANGHAI) -> tuple[str, list]:
    clauses, params = [], []
    if f.contest == UNROUTED:
        clauses.append("contest IS NULL AND receipt IS NOT NULL")
    elif f.contest:
        clauses.append("contest = ?")
        params.append(f.contest)
    if f.outcome:
        clauses.append("outcome = ?")
        params.append(f.outcome)
    else:
        clauses.append("outcome <> 'ignored'")
    if f.rule:
        clauses.append("(rule_ids LIKE ? ESCAPE '\\' OR rule_ids LIKE ? ESCAPE '\\')")
        params += [_like(f" {f.rule} "), _like(f" {f.rule}:")]
    if f.mailbox:
        clauses.append("mailbox = ?")
        params.append(f.mailbox)
    if f.since:
        clauses.append("first_received >= ?")
        params.append(_day_start(f.since, tz))
    if f.until:
        clauses.append("first_received < ?")
        params.append(_day_start(f.until + timedelta(days=1), tz))
    if f.has_link:
        clauses.append("has_link = 1")
    if f.q.strip():
        term = _like(f.q.strip())
        columns = ("receipt", "title", "author", "unit", "phone", "sender", "sender_name", "subject")
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        params += [term] * len(columns)
    return " AND ".join(clauses), params


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def entry_page(db: sqlite_utils.Database, f: EntryFilter, tz: tzinfo = SHANGHAI) -> Page:
    clause, params = where(f, tz)
    total = db.execute(f"SELECT COUNT(*) FROM entry_list WHERE {clause}", params).fetchone()[0]
    page = min(max(1, f.page), max(1, -(-total // f.per_page)))
    direction = "DESC" if f.descending else "ASC"
    rows = list(db.query(
        f"SELECT {LIST_COLUMNS} FROM entry_list WHERE {clause} "
        f"ORDER BY {SORTS[f.sort]} {direction}, key {direction} LIMIT ? OFFSET ?",
        [*params, f.per_page, (page - 1) * f.per_page]))
    return Page(rows, total, page, f.per_page)


def all_entries(db: sqlite_utils.Database, f: EntryFilter, tz: tzinfo = SHANGHAI) -> list[dict]:
    """Every entry matching the filter (for the CLI and for exports), in the filter's order."""
    clause, params = where(f, tz)
    direction = "DESC" if f.descending else "ASC"
    return list(db.query(f"SELECT {LIST_COLUMNS} FROM entry_list WHERE {clause} "
                         f"ORDER BY {SORTS[f.sort]} {direction}, key {direction}", params))


def export_table(db: sqlite_utils.Database, rules: RuleSet, f: EntryFilter,
                 tz: tzinfo = SHANGHAI) -> tuple[list[str], list[list]]:
    """The filtered view as a sheet: the contest's own fields when one contest is chosen."""
    contest = rules.contests.get(f.contest or "")
    fields = [(rule.labels[0], rule.name) for rule in contest.fields] if contest else [
        ("作品名称", "title"), ("作者/团队", "author"), ("单位", "unit"), ("联系电话", "phone")]
    headers = ["序号", "回执号", "比赛", *(label for label, _ in fields), "审核结果", "问题", "收到时间", "发件人"]
    rows = []
    entries = all_entries(db, replace(f, sort="received", descending=False), tz)
    messages = _messages_by_id(db, [e["message"] for e in entries])
    for number, entry in enumerate(entries, start=1):
        message = messages.get(entry["message"], {})
        values = json.loads(message.get("fields") or "{}")
        findings = [x["message"] for x in json.loads(message.get("rules") or "[]")]
        rows.append([number, entry["receipt"] or "", contest_name(rules, entry["contest"]),
                     *(("" if values.get(name) is None else str(values.get(name))) for _, name in fields),
                     OUTCOME_NAMES.get(entry["outcome"], entry["outcome"]), "；".join(findings),
                     local(entry["first_received"], tz).replace(tzinfo=None) if entry["first_received"] else "",
                     entry["sender"] or ""])
    return headers, rows


def _messages_by_id(db: sqlite_utils.Database, ids: list[int]) -> dict[int, dict]:
    found = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update({row["id"]: row for row in db.query(
            f"SELECT id, fields, rules FROM messages WHERE id IN ({','.join('?' * len(chunk))})", chunk)})
    return found


# -- the overview ------------------------------------------------------------------------------------

def _offset_modifier(tz: tzinfo, day: date) -> str:
    """SQLite's date() modifier for the contest clock (Asia/Shanghai keeps one offset all year)."""
    offset = datetime.combine(day, time(12), tz).utcoffset() or timedelta()
    return f"{int(offset.total_seconds() // 60):+d} minutes"


def overview(db: sqlite_utils.Database, rules: RuleSet, today: date, tz: tzinfo = SHANGHAI,
             mailboxes: tuple[str, ...] = (), chart_days: int = 90) -> dict:
    start = _day_start(today, tz)
    names = {cid: c.name for cid, c in rules.contests.items()}
    table: dict[str | None, dict] = {cid: {"id": cid, "name": name, "today": Counter(), "all": Counter()}
                                     for cid, name in names.items()}
    for contest, outcome, is_today, late, count in db.execute(
            "SELECT contest, outcome, first_received >= ?, rule_ids LIKE '% late %', COUNT(*) FROM entry_list "
            "WHERE receipt IS NOT NULL GROUP BY 1, 2, 3, 4", [start]):
        row = table.setdefault(contest if contest in names else None,
                               {"id": UNROUTED, "name": "待确认比赛", "today": Counter(), "all": Counter()})
        for scope in ("all", "today") if is_today else ("all",):
            row[scope]["received"] += count
            row[scope][outcome] += count
            if late:
                row[scope]["late"] += count
    contests = [row for row in table.values() if row["all"] or row["id"] in names]
    totals = {scope: sum((row[scope] for row in contests), Counter()) for scope in ("today", "all")}

    modifier = _offset_modifier(tz, today)
    days = dict(db.execute(
        f"SELECT date(first_received, '{modifier}'), COUNT(*) FROM entry_list "
        f"WHERE receipt IS NOT NULL AND first_received >= ? GROUP BY 1",
        [_day_start(today - timedelta(days=chart_days - 1), tz)]).fetchall())
    if not days:  # nothing lately (a contest that has ended): chart its last weeks instead
        last = db.execute("SELECT MAX(first_received) FROM entry_list WHERE receipt IS NOT NULL").fetchone()[0]
        end = local(last, tz).date() if last else today
        days = dict(db.execute(
            f"SELECT date(first_received, '{modifier}'), COUNT(*) FROM entry_list WHERE receipt IS NOT NULL "
            f"AND first_received >= ? AND first_received < ? GROUP BY 1",
            [_day_start(end - timedelta(days=chart_days - 1), tz), _day_start(end + timedelta(days=1), tz)]))
    else:
        end = today
    first = end - timedelta(days=chart_days - 1)
    chart = [((first + timedelta(days=i)).isoformat(), days.get((first + timedelta(days=i)).isoformat(), 0))
             for i in range(chart_days)]

    status = {row["mailbox"]: row for row in db.query("SELECT * FROM mailbox_status")}
    health = [{"mailbox": name, **status.get(name, {})} for name in mailboxes]
    health += [row for name, row in status.items() if name not in mailboxes]
    outbox = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
    failed = list(db.query("SELECT o.id, o.receipt, o.to_addr, o.subject, o.attempts, o.last_error, o.created_at, "
                           "o.message FROM outbox o WHERE o.status = 'failed' ORDER BY o.id DESC LIMIT 20"))
    return {"contests": contests, "totals": totals, "chart": chart, "health": health, "outbox": outbox,
            "failed": failed, "links": cloud_links(db, today, tz),
            "errors": db.execute("SELECT COUNT(*) FROM entry_list WHERE outcome = 'error'").fetchone()[0],
            "ignored": db.execute("SELECT COUNT(*) FROM entry_list WHERE outcome = 'ignored'").fetchone()[0]}


def cloud_links(db: sqlite_utils.Database, today: date, tz: tzinfo = SHANGHAI) -> list[dict]:
    """Large-attachment links of current entries, the soonest to expire first."""
    links = []
    for row in db.query("SELECT e.receipt, e.contest, e.outcome, m.links, m.received_at FROM entry_list e "
                        "JOIN messages m ON m.id = e.message WHERE e.has_link = 1"):
        for link in json.loads(row["links"] or "[]"):
            expires = link.get("expires")
            left = (datetime.fromisoformat(expires).astimezone(tz).date() - today).days if expires else None
            if left is None and link.get("expires_in_days") is not None:
                left = link["expires_in_days"] - (today - local(row["received_at"], tz).date()).days
            uploaded = db.execute("SELECT COUNT(*) FROM uploads WHERE receipt=?", [row["receipt"]]).fetchone()[0]
            links.append({"receipt": row["receipt"], "url": link["url"], "size": link.get("size") or "",
                          "days_left": left, "uploaded": uploaded, "outcome": row["outcome"]})
    links.sort(key=lambda link: (link["days_left"] is None, link["days_left"] or 0))
    return links


# -- the review queue ------------------------------------------------------------------------------

REVIEW = "outcome IN ('needs_review', 'error')"


def review_queue(db: sqlite_utils.Database, limit: int = 200) -> tuple[list[dict], int]:
    """Entries waiting for a person, oldest first, and how many there are."""
    total = db.execute(f"SELECT COUNT(*) FROM entry_list WHERE {REVIEW}").fetchone()[0]
    rows = list(db.query(f"SELECT {LIST_COLUMNS} FROM entry_list WHERE {REVIEW} "
                         "ORDER BY first_received, key LIMIT ?", [limit]))
    messages = {row["id"]: row for row in db.query(
        f"SELECT id, rules, error FROM messages WHERE id IN ({','.join(str(r['message']) for r in rows) or 'NULL'})")}
    for row in rows:
        message = messages.get(row["message"], {})
        row["findings"] = [finding_text(f) for f in json.loads(message.get("rules") or "[]")
                           if f.get("severity") in ("review", "reject")]
        row["error"] = message.get("error")
    return rows, total


def review_neighbours(db: sqlite_utils.Database, key: str) -> tuple[str | None, str | None]:
    """The queue's entries before and after `key` (after: the first of the queue once `key` has left it)."""
    here = db.execute("SELECT first_received, key FROM entry_list WHERE key=?", [key]).fetchone()
    if here is None:
        return None, None
    before = db.execute(f"SELECT key FROM entry_list WHERE {REVIEW} AND (first_received, key) < (?, ?) "
                        "ORDER BY first_received DESC, key DESC LIMIT 1", list(here)).fetchone()
    after = db.execute(f"SELECT key FROM entry_list WHERE {REVIEW} AND (first_received, key) > (?, ?) "
                       "ORDER BY first_received, key LIMIT 1", list(here)).fetchone()
    if after is None:
        after = db.execute(f"SELECT key FROM entry_list WHERE {REVIEW} AND key <> ? "
                           "ORDER BY first_received, key LIMIT 1", [key]).fetchone()
    return (before[0] if before else None), (after[0] if after else None)


# -- one entry -------------------------------------------------------------------------------------

@dataclass
class EntryView:
    """Everything about one entry (or one message without a receipt), for one screen."""

    key: str
    current: dict
    contest: object  # rules.Contest or None
    fields: list[dict]
    findings: list[dict]
    files: list[dict]
    messages: list[dict]
    replies: list[dict]
    events: list[dict]
    links: list[dict]
    staff: dict = field(default_factory=dict)

    @property
    def receipt(self) -> str | None:
        return self.current["receipt"]

    @property
    def unrouted(self) -> bool:
        return self.receipt is not None and self.contest is None


def _file(row: dict, source: str) -> dict:
    meta = json.loads(row.get("meta") or "{}")
    mime = row.get("mime") or "application/octet-stream"
    shown = "image" if row.get("kind") == "image" and mime in ("image/jpeg", "image/png", "image/gif", "image/webp") \
        else "video" if row.get("kind") == "video" and mime in ("video/mp4", "video/webm", "video/quicktime") \
        else "form" if row.get("kind") == "form" or (row.get("filename") or "").lower().endswith((".xlsx", ".docx")) \
        else "file"
    return {**row, "meta": meta, "exif": meta.get("exif", {}), "shown": shown, "source": source}


def entry_view(store, rules: RuleSet, key: str) -> EntryView | None:
    """`key` is a receipt, or "#ID" / a message id for mail that has no receipt."""
    db, register = store.db, store.register
    if key.lstrip("#").isdigit():
        message = register.message(int(key.lstrip("#")))
        if message is None:
            return None
        if message["receipt"]:
            return entry_view(store, rules, message["receipt"])
        pks, current = [message["id"]], message
    else:
        pks = [row[0] for row in db.execute("SELECT id FROM messages WHERE receipt=? ORDER BY id", [key])]
        if not pks:
            return None
        current = register.entry(key) or register.message(pks[-1])
    contest = rules.contests.get(current["contest"] or "")
    values = json.loads(current["fields"] or "{}")
    staff = register.staff_rows(current["receipt"]) if current["receipt"] else {}
    corrected = staff.get("fields", {})
    fields = []
    for rule in contest.fields if contest else ():
        fields.append({"name": rule.name, "label": rule.labels[0], "value": values.get(rule.name),
                       "corrected": rule.name in corrected, "required": rule.required})
    for name, value in values.items():
        if contest is None or contest.field_rule(name) is None:
            fields.append({"name": name, "label": name, "value": value, "corrected": name in corrected,
                           "required": False})
    files = [_file(row, "mail") for row in register.attachments(current["id"])]
    files += [_file(row, "upload") for row in staff.get("uploads", [])]
    for item in files:
        if item["shown"] == "form":
            item["table"] = _form_rows(store.blobs.path("att", item["sha256"]), item["filename"])
    marks = ",".join("?" * len(pks))
    messages = list(db.query(f"SELECT id, mailbox, uid, received_at, sender, sender_name, subject, outcome, "
                             f"status, error, body_text, duplicate_of, raw_size FROM messages WHERE id IN ({marks}) "
                             "ORDER BY id", pks))
    replies = [{**row, "text": reply_text(row.pop("raw"))} for row in db.query(
        f"SELECT id, message, kind, outcome, to_addr, subject, status, reason, attempts, last_error, created_at, "
        f"sent_at, raw FROM outbox WHERE message IN ({marks}) ORDER BY id", pks)]
    events = list(db.query(f"SELECT id, message, at, actor, action, detail FROM events WHERE message IN ({marks}) "
                           "ORDER BY at, id", pks))
    for event in events:
        try:
            event["data"] = json.loads(event["detail"] or "{}")
        except ValueError:
            event["data"] = {"text": event["detail"]}
        if not isinstance(event["data"], dict):
            event["data"] = {"text": str(event["data"])}
    return EntryView(key=current["receipt"] or f"#{current['id']}", current=current, contest=contest, fields=fields,
                     findings=[finding_text(f) for f in json.loads(current["rules"] or "[]")], files=files,
                     messages=messages, replies=replies, events=events,
                     links=json.loads(current["links"] or "[]") if current.get("links") else [], staff=staff)


def _form_rows(path: Path, filename: str, max_rows: int = 200) -> list[list[list[str]]]:
    """The form's tables as text, each merged range shown once (at its first cell), for an escaped view."""
    from .forms import load_form
    try:
        table = load_form(filename, path)
    except OSError:
        return []
    grids = []
    for grid in table.grids:
        rows = []
        for row in grid[:max_rows]:
            cells, seen = [], set()
            for cell in row:
                cells.append("" if cell.origin in seen else cell.text)
                seen.add(cell.origin)
            rows.append(cells)
        grids.append(rows)
    return grids


def reply_text(raw: bytes | None) -> str:
    """The plain-text part of a reply we rendered, for staff to read what the contestant got."""
    if not raw:
        return ""
    message = email.message_from_bytes(bytes(raw), policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def file_for(db: sqlite_utils.Database, sha256: str) -> dict | None:
    """A stored attachment or upload, only when it belongs to some entry or message (never any blob)."""
    row = next(iter(db.query("SELECT a.filename, a.mime, a.kind, a.size, m.receipt, m.id AS message "
                             "FROM attachments a JOIN messages m ON m.id = a.message WHERE a.sha256=? "
                             "ORDER BY a.id DESC LIMIT 1", [sha256])), None)
    if row is None:
        row = next(iter(db.query("SELECT filename, mime, kind, size, receipt, NULL AS message FROM uploads "
                                 "WHERE sha256=? ORDER BY id DESC LIMIT 1", [sha256])), None)
    return row


def audit_log(db: sqlite_utils.Database, page: int = 1, per_page: int = 100) -> tuple[list[dict], int]:
    """Account actions and staff actions on entries, newest first (the daemon's own judging left out)."""
    query = ("SELECT at, actor, action, target, detail, address, NULL AS message FROM audit UNION ALL "
             "SELECT e.at, e.actor, e.action, COALESCE(m.receipt, '#' || e.message), e.detail, NULL, e.message "
             "FROM events e LEFT JOIN messages m ON m.id = e.message WHERE e.actor NOT IN ('daemon')")
    total = db.execute(f"SELECT COUNT(*) FROM ({query})").fetchone()[0]
    rows = list(db.query(f"SELECT * FROM ({query}) ORDER BY at DESC LIMIT ? OFFSET ?",
                         [per_page, (max(1, page) - 1) * per_page]))
    return rows, total
