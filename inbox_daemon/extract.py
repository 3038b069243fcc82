"""Fields from the text a person actually wrote: labelled lines, pasted tables, the subject, canonical forms.

Pure functions. Labels and their synonyms come from the contest's rules file;
quoted earlier mail and signatures are cut off first so they never override
the new text. `mail_fields()` reads an entry as `parse.entry_mail()` gives it
(a forward's original, its tables, its author).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .parse import ParsedMail, Table
from .rules import Common, Contest, FieldRule

# Where quoted earlier mail starts, as QQ, 163, Foxmail, Outlook, Gmail and iPhone write it.
QUOTE_STARTS = [
    re.compile(r"^-{2,}\s*(原始邮件|Original Message|原始郵件|Original|Forwarded message|Forwarded Message|转发的邮件|"
               r"转发邮件信息|转发的消息|Forwarding messages?)\s*-{2,}", re.I),
    re.compile(r"^(Begin forwarded message|以下为转发的邮件)\s*[:：]?$", re.I),
    re.compile(r"^在\s*.{4,80}写道[:：]?\s*$"),
    re.compile(r"^On .{4,200}wrote:\s*$"),
    re.compile(r"^_{10,}\s*$"),
    re.compile(r"^(发件人|From)\s*[:：].+", re.I),
]
SIGNATURE_LINES = re.compile(r"^(--\s*|—{2,}\s*|发自我的\s*(iPhone|iPad|手机)|Sent from my \w+|"
                             r"发自(网易邮箱大师|QQ邮箱|我的华为手机|我的小米手机|Outlook).*|Get Outlook for \w+.*)$", re.I)
SEPARATORS = "，,；;、|｜ \t"
RECEIPT_IN_TEXT = re.compile(r"\b([A-Z]{2,4}-20\d\d-\d{4})\b")


# Full-width ASCII letters and digits and the ideographic space become ASCII; Chinese punctuation (，。：（）《》“”)
# stays exactly as written (RULES.md, canonical forms: NFKC would turn `，` into `,`).
HALF_WIDTH = {**{code: code - 0xFEE0 for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))},
              0x3000: 0x20, 0xA0: 0x20}


def normalise(text: str) -> str:
    """Full-width letters, digits and spaces as ASCII, punctuation untouched, trimmed."""
    return (text or "").translate(HALF_WIDTH).strip()


def label_key(text: str) -> str:
    """A label cell compared by its letters alone: `* 作者姓名（或团队名称）：` -> `作者姓名（或团队名称）`."""
    key = re.sub(r"\s+", "", normalise(str(text or ""))).lower()
    return key.strip("*＊:：").strip()


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
        # A table cell boundary (a tab, from pasted HTML or a spreadsheet) ends a label too.
        regex = re.compile(rf"(?:^|(?<=[\s{re.escape(SEPARATORS)}【\[]))(?P<label>{body})"
                           rf"(?:\s*(?:[:：]|】|\])|[ ]*\t)\s*", re.I)
        return cls(regex, by_label)

    def field(self, label: str) -> str:
        return self.by_label[re.sub(r"\s+", "", label).lower()]

    def is_label(self, text: str) -> bool:
        return re.sub(r"\s+", "", text).lower().strip(":：") in self.by_label


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
            if "\t" in text.strip(" "):  # a cell boundary ends the value (`作者：李娜<TAB>性别：女`)
                text = text.strip(" ").split("\t", 1)[0]
            value = text.strip(SEPARATORS + "【】")
            if index.is_label(value):  # a header row of labels (序号 作品名称 作者): the values are below
                continue
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


def _label_lookup(fields: tuple[FieldRule, ...]):
    labels: dict[str, str] = {}
    for rule in fields:
        for label in rule.labels:
            labels.setdefault(label_key(label), rule.name)

    def lookup(cell: str) -> str | None:
        key = label_key(cell)
        if not key or len(key) > 40:
            return None
        return labels.get(key) or labels.get(re.sub(r"[（(][^）)]*[）)]$", "", key))  # 作者姓名（或团队名称）
    return lookup


def table_values(tables, fields: tuple[FieldRule, ...]) -> dict[str, str]:
    """Labels and values of tables, matched by label, never by position: a label cell followed by its value
    cell (Word, WPS), or a header row of labels over the row of values (Excel)."""
    lookup = _label_lookup(fields)
    found: dict[str, str] = {}
    for rows in tables:
        for number, row in enumerate(rows):
            names = [lookup(cell) for cell in row]
            labels = [c for c, name in enumerate(names) if name]
            if not labels:
                continue
            followed = [c for c in labels if (value := _next_value(row, c)) is not None and not lookup(value)]
            if len(labels) >= 2 and len(followed) <= len(labels) // 2:  # a header row
                values = next((r for r in rows[number + 1:] if any(cell and not lookup(cell) for cell in r)), ())
                for c in labels:
                    value = values[c].strip() if c < len(values) else ""
                    if value and not lookup(value):
                        found.setdefault(names[c], value)
                continue
            for c in followed:
                found.setdefault(names[c], _next_value(row, c).strip())
    return found


def _next_value(row, column: int) -> str | None:
    return next((cell for cell in row[column + 1:] if cell and cell.strip()), None)


def text_tables(text: str) -> tuple[Table, ...]:
    """Rows pasted from a spreadsheet into a plain-text body: consecutive lines with tabs between cells."""
    tables, rows = [], []
    for line in (text or "").splitlines() + [""]:
        if "\t" in line.strip(" "):
            rows.append(tuple(cell.strip() for cell in line.split("\t")))
        elif rows:
            tables.append(tuple(rows))
            rows = []
    return tuple(tables)


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
    value = normalise(value).replace("＋", "+").replace("－", "-")
    digits_only = re.sub(r"[\s\-—–()（）.]", "", value)
    digits_only = re.sub(r"^(\+86|0086|86(?=1[3-9]\d{9}$))", "", digits_only)
    if re.fullmatch(r"1[3-9]\d{9}", digits_only):
        return digits_only
    match = re.fullmatch(r"(0\d{2,3})[\s\-—–]?(\d{7,8})", re.sub(r"[()（）]", "", value).replace(" ", "-"))
    if match:
        return f"{match[1]}-{match[2]}"
    match = re.fullmatch(r"(0(?:10|2\d|[3-9]\d\d))(\d{7,8})", digits_only)
    return f"{match[1]}-{match[2]}" if match else None


def find_phone(text: str) -> str | None:
    """A phone written anywhere (e.g. after the name in a signature), for when no label names it."""
    for match in re.finditer(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)",
                             normalise(text).replace("－", "-").replace("＋", "+")):
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
    match = re.search(r"(20\d\d|19\d\d)\s*[年\-./．－／]\s*(\d{1,2})(?:\s*[月\-./．－／]\s*(\d{1,2}))?", text)
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
    parts = [p.strip() for p in re.split(r"[+＋\-－—_|｜/／、]+", re.sub(r"《[^》]*》", "+", text)) if p.strip()]
    parts = [p for p in parts if not any(k in p for k in (*contest.keywords, *contest.ask_keywords, "比赛", "投稿",
                                                            "参赛", "作品", "报名"))]
    for part in parts:
        if "author" not in found and contest.field_rule("author") and re.fullmatch(r"[\u4e00-\u9fff·]{2,5}", part):
            found["author"] = part
        elif "unit" not in found and contest.field_rule("unit") and len(part) >= 4:
            found["unit"] = part
    return found


def _providers(spec: dict) -> list[tuple[str, str]]:
    named = [(name, pattern) for name, patterns in spec.get("links", {}).items() for pattern in patterns]
    return named + [("云附件", pattern) for pattern in spec.get("url_patterns", ())]


def large_attachment_links(text: str, html: str, common: Common) -> list[dict]:
    """Cloud links instead of attachments (QQ 超大附件, 163 大附件, 百度网盘 …): provider, size, expiry, 提取码."""
    spec = common.large_attachment
    haystack = f"{text}\n{html}"
    links = []
    for name, pattern in _providers(spec):
        for match in re.finditer(pattern, haystack, re.I):
            url = match[0].replace("&amp;", "&")
            url = url if re.match(r"https?://", url, re.I) else f"https://{url}"
            if any(link["url"].split("://", 1)[1] == url.split("://", 1)[1] for link in links):
                continue
            window = haystack[max(0, match.start() - 400):match.start() + 400]
            size = re.search(spec.get("size_pattern", r"$^"), window)
            expires = re.search(spec.get("expiry_pattern", r"$^"), window)
            days = re.search(spec.get("expiry_days_pattern", r"$^"), window)
            code = re.search(spec.get("code_pattern", r"$^"), haystack[match.start():match.end() + 200], re.I)
            links.append({
                "url": url, "name": name,
                "size": f"{size[1]}{size[2].upper()}" if size else None,
                "expires": (f"{int(expires[1]):04d}-{int(expires[2]):02d}-{int(expires[3]):02d}T"
                            f"{int(expires[4]):02d}:{expires[5]}:00+08:00") if expires else None,
                "expires_in_days": int(days[1]) if days else None,
                "code": code[1] if code else None,
            })
    return links


def extract_fields(text: str, subject: str, contest: Contest, common: Common, base: dict | None = None,
                   tables=()) -> dict:
    """Raw values by field name: `base` (an entry being corrected), overridden by what the new text labels
    (then its tables, for what the text lacks), then the subject only for what is still missing (a reply's
    "Re: 【已收到】…" subject corrects nothing)."""
    written = new_text(text)
    found = table_values([*tables, *text_tables(written)], contest.fields)
    found.update(labelled_values(written, contest.fields))
    values = {**(base or {}), **found}
    for name, value in subject_fields(subject, contest).items():
        values.setdefault(name, value)
    return values


PERSON_NAME = re.compile(r"[\u4e00-\u9fff·]{2,6}")


def mail_fields(mail: ParsedMail, contest: Contest, common: Common, base: dict | None = None) -> dict:
    """Raw values of an entry as `parse.entry_mail()` gives it: the text, its tables and the subject; for a
    forward, the worker who sent the original is the author when the original names none (never the
    forwarding union, which is not who the entry mail is from)."""
    values = extract_fields(mail.text, mail.subject, contest, common, base, mail.tables)
    author = contest.field_rule("author")
    forwarded = mail.forwarded
    if author and forwarded and not values.get("author") and not (author.fallback and values.get(author.fallback)):
        name = normalise(forwarded.sender_name)
        if PERSON_NAME.fullmatch(name):
            values["author"] = name
    return values


def report_unit(mail: ParsedMail, contest: Contest) -> str | None:
    """The unit a report comes from, as the contest's list names it: by the sender's name, the subject, the
    text, then the file names (总结.docx of 双峰县总工会); the longest name found wins."""
    places = [mail.sender_name, mail.subject, new_text(mail.text), " ".join(a.filename for a in mail.attachments)]
    for place in places:
        text = normalise(place)
        hits = [(len(name), unit.name) for unit in contest.units for name in unit.names if name and name in text]
        if hits:
            return max(hits)[1]
    return None


def canonical_fields(values: dict[str, str], contest: Contest, common: Common) -> tuple[dict, dict]:
    """(canonical fields, problems) — problems maps a field to the raw value that failed its kind."""
    fields: dict = {}
    problems: dict = {}
    for rule in contest.fields:
        raw = values.get(rule.name)
        if (raw is None or str(raw).strip() == "") and rule.fallback:
            raw = values.get(rule.fallback)  # 作者姓名（或团队名称）: the team stands in for the author
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
