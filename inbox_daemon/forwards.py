"""Forwarded entries written inline: the header block a mail client puts above the original message.

A county union or a colleague forwards a worker's entry; the entry is the
original, its author the worker named there. The clients write the block their
own way (QQ, 163/Coremail, Foxmail, Outlook, Gmail, Thunderbird, Apple Mail);
these are formats of mail programs, not contest data, so they live here.

Pure text functions: the caller (parse) turns the result into `Forwarded`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A separator that only a forward writes.
FORWARD_SEPARATOR = re.compile(
    r"^-{2,}\s*(转发邮件信息|转发的邮件|转发的消息|转发邮件|轉寄郵件|Forwarded message|Forwarded Message|"
    r"Forwarding messages?|Original Forwarded Message)\s*-*$|"
    r"^(Begin forwarded message|开始转发的邮件|以下为转发的邮件|转发的邮件如下)\s*[:：]?$",
    re.I)
# A separator that replies and forwards share (the subject decides which it is).
QUOTE_SEPARATOR = re.compile(r"^-{2,}\s*(原始邮件|原始郵件|Original Message|Original|原邮件)\s*-{2,}$|^_{10,}$", re.I)
FIELDS = {
    "from": "发件人|寄件者|寄件人|发信人|From",
    "date": "发送时间|发送日期|发件时间|日期|时间|Date|Sent",
    "to": "收件人|收件者|To",
    "cc": "抄送|抄送人|Cc",
    "subject": "主题|主旨|標題|Subject",
}
HEADER_LINE = re.compile(r"^\**\s*(?P<name>" + "|".join(FIELDS.values()) + r")\s*\**\s*[:：]\s*(?P<value>.*)$", re.I)
FORWARD_SUBJECT = re.compile(r"^\s*(?:(?:回复|答复|Re|RE|AW)\s*[:：]\s*)*(?:转发|轉寄|转寄|Fwd?|FW|WG|TR)\s*[:：]", re.I)
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
MAX_DEPTH = 3  # a forward of a forward of a forward: the innermost is the entry


@dataclass(frozen=True)
class InlineForward:
    sender: str
    sender_name: str
    subject: str
    date: str  # as the client wrote it
    text: str


def _field(name: str) -> str | None:
    for key, alternatives in FIELDS.items():
        if re.fullmatch(alternatives, name, re.I):
            return key
    return None


def _header_block(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """The From/Date/To/Subject lines starting at `start`: (fields, the line after them). Single blank lines
    before and between them are allowed (QQ leaves one where the empty 抄送 would be)."""
    fields: dict[str, str] = {}
    number = end = start
    while number < len(lines):
        line = lines[number].strip().replace("\xa0", " ")
        if not line:
            if number + 1 < len(lines) and lines[number + 1].strip() and (fields or number == start):
                number += 1
                continue
            break
        match = HEADER_LINE.match(line)
        if not match or _field(match["name"]) in fields:
            break
        fields[_field(match["name"])] = match["value"].strip()
        number = end = number + 1
    return fields, end


def split_address(value: str) -> tuple[str, str]:
    """(name, address) from `"张三"<a@qq.com>;`, `张三 [mailto:a@qq.com]`, `a@qq.com` or `张三`."""
    value = value.strip().rstrip(";；,")
    found = ADDRESS.search(value)
    address = found[0].lower() if found else ""
    name = ADDRESS.sub("", value) if found else value
    name = re.sub(r"\[\s*mailto:\s*\]|<\s*>|\(\s*\)|mailto:", "", name, flags=re.I)
    return name.strip(" \"'“”<>[]()").strip(), address


def _is_block(fields: dict[str, str]) -> bool:
    return "from" in fields and ("subject" in fields or "date" in fields)


def find_forward(text: str, subject: str, depth: int = 0) -> InlineForward | None:
    """The forwarded original in `text`, or None when the first quoted block is not a forward.

    A forward-only separator decides at once; a shared one ("原始邮件", Outlook's line) or a bare
    header block (Foxmail, Outlook 2016) counts as a forward only under a forward subject (转发:, Fw:)."""
    lines = (text or "").splitlines()
    forward_subject = bool(FORWARD_SUBJECT.match(subject or ""))
    for number, line in enumerate(lines):
        stripped = line.strip().replace("\xa0", " ")
        if stripped.startswith(">"):
            return None  # a quoted reply comes first: whatever follows is history
        forward_only = FORWARD_SEPARATOR.match(stripped)
        shared = QUOTE_SEPARATOR.match(stripped)
        if forward_only or shared:
            fields, end = _header_block(lines, number + 1)
            if not (forward_only or (forward_subject and _is_block(fields))):
                return None
        else:
            fields, end = _header_block(lines, number)
            if not _is_block(fields):
                continue
            if not forward_subject:
                return None
        name, address = split_address(fields.get("from", ""))
        body = "\n".join(lines[end:]).strip()
        inner_subject = fields.get("subject", "")
        forward = InlineForward(address, name, inner_subject, fields.get("date", ""), body)
        if depth < MAX_DEPTH:
            deeper = find_forward(body, inner_subject, depth + 1)
            if deeper is not None:
                return deeper
        return forward
    return None
