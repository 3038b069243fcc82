"""Fields from the text a person actually wrote: labelled lines, the subject line, canonical forms.

Pure functions. Labels and their synonyms come from the contest's rules file;
quoted earlier mail and signatures are cut off first so they never override
the new text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from .rules import Common, Contest, FieldRule

# Where quoted earlier mail starts, as QQ, 163, Foxmail, Outlook, Gmail and iPhone write it.
QUOTE_STARTS = [
    re.compile(r"^-{3,}\s*(原始邮件|Original Message|原始郵件|Forwarded message|转发的邮件)\s*-{3,}", re.I),
    re.compile(r"^在\s*.{4,80}写道[:：]?\s*$"),
    re.compile(r"^On .{4,200}wrote:\s*$"),
    re.compile(r"^_{10,}\s*$"),
    re.compile(r"^(发件人|From)\s*[:：].+", re.I),
]
SIGNATURE_LINES = re.compile(r"^(--\s*|—{2,}\s*|发自我的\s*(iPhone|iPad|手机)|Sent from my \w+|"
                             r"发自(网易邮箱大师|QQ邮箱|我的华为手机|我的小米手机|Outlook).*|Get Outlook for \w+.*)$", re.I)
SEPARATORS = "，,；;、|｜ \t"
RECEIPT_IN_TEXT = re.compile(r"\b([A-Z]{2,4}-20\d\d-\d{4})\b")


def normalise(text: str) -> str:
    """NFKC (full-width digits, letters, colons and spaces become ASCII) and trimmed."""
    return unicodedata.normalize("NFKC", text or "").strip()


def new_text(text: str) -> str:
    """The part of a body the sender wrote now: quoted mail, `>` lines and signatures removed."""
    lines = []
    for line in (text or "").splitlines():
        stripped = normalise(line)
        if any(p.match(stripped) for p in QUOTE_STARTS):
            break
        if stripped.startswith(">"):
            continue
        if SIGNATURE_LINES.match(stripped):
            if stripped.startswith(("--", "—")):
                break
            continue
        lines.append(line)
    return "\n".join(lines).strip()


def _label_pattern(label: str) -> str:
    """A label that may have spaces between its characters (姓　名 after NFKC is 姓 名)."""
    return r"\s*".join(re.escape(ch) for ch in normalise(label) if not ch.isspace())


@dataclass(frozen=True)
class LabelIndex:
    """One regex over every label of a contest, longest first, mapped back to field names."""

    regex: re.Pattern
    by_label: dict[str, str]

    @classmethod
    def build(cls, fields: tuple[FieldRule, ...]) -> "LabelIndex":
        by_label = {}
        for rule in fields:
            for label in rule.labels:
                by_label.setdefault(re.sub(r"\s+", "", normalise(label)).lower(), rule.name)
        alternatives = sorted(by_label, key=len, reverse=True)
        body = "|".join(_label_pattern(label) for label in alternatives)
        # A label starts a line or follows a separator, and is followed by a colon or wrapped in 【】/[].
        regex = re.compile(rf"(?:^|(?<=[\s{re.escape(SEPARATORS)}【\[]))(?P<label>{body})\s*(?:[:：]|】|\])\s*",
                           re.I)
        return cls(regex, by_label)

    def field(self, label: str) -> str:
        return self.by_label[re.sub(r"\s+", "", label).lower()]


def labelled_values(text: str, fields: tuple[FieldRule, ...]) -> dict[str, str]:
    """`label: value` pairs, several per line allowed; multi-line values for a label alone on its line."""
    index = LabelIndex.build(fields)
    lines = [normalise(line) for line in text.splitlines()]
    found: dict[str, str] = {}
    for number, line in enumerate(lines):
        matches = list(index.regex.finditer(line))
        for i, match in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
            text = line[match.end():end]
            value = text.strip(SEPARATORS + "【】")
            name = index.field(match["label"])
            if not value and i + 1 == len(matches):  # the value is on the following lines
                value = _continuation(lines, number + 1, index)
            elif i + 1 == len(matches):
                more = _continuation(lines, number + 1, index)
                value = f"{text.strip()}{more}" if more and _is_long_text(name, fields) else value
            if value and name not in found:
                found[name] = value
    return found


def _is_long_text(name: str, fields: tuple[FieldRule, ...]) -> bool:
    rule = next((f for f in fields if f.name == name), None)
    return rule is not None and (rule.kind == "bio" or name in ("description",))


def _continuation(lines: list[str], start: int, index: LabelIndex) -> str:
    parts = []
    for line in lines[start:]:
        if not line or index.regex.search(line):
            break
        parts.append(line)
    return "".join(parts).strip()


BRACKETS = [("《", "》"), ("“", "”"), ('"', '"'), ("「", "」"), ("『", "』"), ("'", "'"), ("<", ">")]


def canonical_title(value: str) -> str:
    value = normalise(value)
    changed = True
    while changed and len(value) >= 2:
        changed = False
        for left, right in BRACKETS:
            if value.startswith(left) and value.endswith(right):
                value, changed = value[len(left):-len(right)].strip(), True
    return value


def canonical_phone(value: str) -> str | None:
    """11-digit mobile or `0738-8313015`; None when it is neither."""
    digits_only = re.sub(r"[\s\-—–()（）.]", "", normalise(value))
    digits_only = re.sub(r"^(\+86|0086|86(?=1[3-9]\d{9}$))", "", digits_only)
    if re.fullmatch(r"1[3-9]\d{9}", digits_only):
        return digits_only
    match = re.fullmatch(r"(0\d{2,3})[\s\-—–]?(\d{7,8})", re.sub(r"[()（）]", "", normalise(value)).replace(" ", "-"))
    if match:
        return f"{match[1]}-{match[2]}"
    match = re.fullmatch(r"(0(?:10|2\d|[3-9]\d\d))(\d{7,8})", digits_only)
    return f"{match[1]}-{match[2]}" if match else None


def find_phone(text: str) -> str | None:
    """A phone written anywhere (e.g. after the name in a signature), for when no label names it."""
    for match in re.finditer(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)",
                             normalise(text)):
        phone = canonical_phone(match[0])
        if phone:
            return phone
    return None


def canonical_gender(value: str, common: Common) -> str | None:
    word = normalise(value).lower().strip(" .。")
    if word in common.gender.get("male", ()):
        return "男"
    if word in common.gender.get("female", ()):
        return "女"
    return None


def canonical_date(value: str) -> str | None:
    """2022年6月18日 / 2022.7.22 / 2022-08-30 / 2019年4月 → ISO (day or month precision)."""
    text = normalise(value)
    match = re.search(r"(20\d\d|19\d\d)\s*[年\-./]\s*(\d{1,2})(?:\s*[月\-./]\s*(\d{1,2}))?", text)
    if not match:
        return None
    year, month, day = int(match[1]), int(match[2]), match[3]
    try:
        if day:
            return date(year, month, int(day)).isoformat()
        return date(year, month, 1).isoformat()[:7]
    except ValueError:
        return None


def canonical_int(value: str) -> int | None:
    match = re.search(r"\d+", normalise(value))
    return int(match[0]) if match else None


def subject_fields(subject: str, contest: Contest) -> dict[str, str]:
    """微视频比赛+《作品》+姓名+单位: the title in 《》, then a short name and a unit among the parts."""
    text = normalise(subject)
    text = re.sub(r"^((回复|答复|转发|Re|Fw|Fwd|RE|FW|AW|WG)\s*[:：]\s*)+", "", text, flags=re.I)
    found = {}
    title = re.search(r"《([^》]+)》", text)
    if title and contest.field_rule("title"):
        found["title"] = title[1]
    parts = [p.strip() for p in re.split(r"[+＋\-—_|｜/、]+", re.sub(r"《[^》]*》", "+", text)) if p.strip()]
    parts = [p for p in parts if not any(k in p for k in (*contest.keywords, *contest.ask_keywords, "比赛", "投稿",
                                                            "参赛", "作品", "报名"))]
    for part in parts:
        if "author" not in found and contest.field_rule("author") and re.fullmatch(r"[\u4e00-\u9fff·]{2,5}", part):
            found["author"] = part
        elif "unit" not in found and contest.field_rule("unit") and len(part) >= 4:
            found["unit"] = part
    return found


def large_attachment_links(text: str, html: str, common: Common) -> list[dict]:
    """Cloud-attachment links (QQ 超大附件, 163 大附件, dashi.163.com) with stated size and expiry."""
    spec = common.large_attachment
    haystack = f"{text}\n{html}"
    links = []
    for pattern in spec.get("url_patterns", ()):
        for match in re.finditer(pattern, haystack, re.I):
            url = match[0].replace("&amp;", "&")
            if any(link["url"] == url for link in links):
                continue
            window = haystack[max(0, match.start() - 400):match.start() + 400]
            size = re.search(spec.get("size_pattern", r"$^"), window)
            expires = re.search(spec.get("expiry_pattern", r"$^"), window)
            days = re.search(spec.get("expiry_days_pattern", r"$^"), window)
            links.append({
                "url": url,
                "size": f"{size[1]}{size[2].upper()}" if size else None,
                "expires": (f"{int(expires[1]):04d}-{int(expires[2]):02d}-{int(expires[3]):02d}T"
                            f"{int(expires[4]):02d}:{expires[5]}:00+08:00") if expires else None,
                "expires_in_days": int(days[1]) if days else None,
            })
    return links


def extract_fields(text: str, subject: str, contest: Contest, common: Common, base: dict | None = None) -> dict:
    """Raw values by field name: `base` (an entry being corrected), overridden by what the new text labels,
    then the subject only for what is still missing (a reply's "Re: 【已收到】…" subject corrects nothing)."""
    values = {**(base or {}), **labelled_values(new_text(text), contest.fields)}
    for name, value in subject_fields(subject, contest).items():
        values.setdefault(name, value)
    return values


def canonical_fields(values: dict[str, str], contest: Contest, common: Common) -> tuple[dict, dict]:
    """(canonical fields, problems) — problems maps a field to the raw value that failed its kind."""
    fields: dict = {}
    problems: dict = {}
    for rule in contest.fields:
        raw = values.get(rule.name)
        if raw is None or str(raw).strip() == "":
            continue
        raw = normalise(str(raw))
        if rule.kind == "title":
            fields[rule.name] = canonical_title(raw)
        elif rule.kind == "phone":
            phone = canonical_phone(raw) or find_phone(raw)
            fields[rule.name] = phone or raw
            if not phone:
                problems[rule.name] = raw
        elif rule.kind == "gender":
            gender = canonical_gender(raw, common)
            fields[rule.name] = gender or raw
            if not gender:
                problems[rule.name] = raw
        elif rule.kind == "date":
            fields[rule.name] = canonical_date(raw) or raw
        elif rule.kind == "int":
            number = canonical_int(raw)
            fields[rule.name] = number if number is not None else raw
            if number is None:
                problems[rule.name] = raw
        else:
            fields[rule.name] = raw
    return fields, problems
