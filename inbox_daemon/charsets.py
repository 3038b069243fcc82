"""Charset repair for mail from China, applied to a message before mail-parser reads it.

Mail labelled GB2312 is nearly always GBK (or GB18030) in practice, and text
outside GB2312 (镕, 喆, 堃, ㎜) makes a strict gb2312 decode fail; mail-parser then
falls back to UTF-8 with errors ignored and the metadata silently vanishes.
GB18030 is a superset of GB2312 and GBK, so relabelling is lossless. The same
holds for Big5 → Big5-HKSCS. Raw 8-bit bytes in headers (no encoded words) are
decoded as UTF-8 when valid, else as GB18030.
"""

from __future__ import annotations

import codecs
import re
from email.message import Message

GB_LABELS = {"gb2312", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "euc-cn", "euccn", "x-euc-cn",
             "eucgb2312_cn", "eucgb2312-cn", "gb_2312-80", "csgb2312", "gb2312-80", "chinese", "csgbk",
             "gb18030", "x-gb18030"}
BIG5_LABELS = {"big5", "x-big5", "big-5", "cp950", "csbig5", "big5-hkscs", "big5hkscs"}
UNKNOWN_LABELS = {"unknown-8bit", "x-unknown", "unknown", "us-ascii", "ascii", "default", "x-user-defined"}

# =?charset?B?...?= and =?charset*lang?Q?...?= (RFC 2047 / RFC 2231 language tag).
ENCODED_WORD_CHARSET = re.compile(r"(=\?)([^?*\s]+)((?:\*[^?]*)?\?[bBqQ]\?)")
# filename*=gb2312''%D5%C5 and filename*0*=gbk''... (RFC 2231 extended values).
RFC2231_CHARSET = re.compile(r"(\*(?:\d+\*)?\s*=\s*\"?)([A-Za-z0-9_.:-]+)(')")


def canonical_charset(label: str | None) -> str | None:
    """The codec to use for a declared charset label; None when the label is unusable."""
    if not label:
        return None
    name = label.strip().strip('"').lower()
    if name in GB_LABELS:
        return "gb18030"
    if name in BIG5_LABELS:
        return "big5hkscs"
    if name in UNKNOWN_LABELS:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, label: str | None = None) -> str:
    """Decode bytes with the repaired label, falling back to UTF-8 then GB18030; never drops bytes silently."""
    charset = canonical_charset(label)
    candidates = [c for c in (charset, "utf-8", "gb18030") if c]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(candidates[0], errors="replace")


def sniff_charset(data: bytes) -> str:
    """Charset for 8-bit bytes that carry no usable label: UTF-8 when valid, else GB18030."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _relabel_words(value: str) -> str:
    def fix(match: re.Match) -> str:
        label = match[2]
        repaired = canonical_charset(label)
        if repaired in ("gb18030", "big5hkscs"):
            label = repaired
        elif repaired is None:
            label = "utf-8"
        return f"{match[1]}{label}{match[3]}"

    value = ENCODED_WORD_CHARSET.sub(fix, value)
    return RFC2231_CHARSET.sub(fix, value)


ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # a raw 8-bit header byte, as the stdlib parser keeps it


def _repair_header(value) -> str:
    """A header value with GB labels relabelled and raw 8-bit bytes decoded."""
    value = str(value)
    if not value.isascii() and ESCAPED_BYTE.search(value):
        raw = value.encode("ascii", "surrogateescape")
        value = raw.decode(sniff_charset(raw), errors="replace")
    return _relabel_words(value) if "=?" in value or "*=" in value else value


def _may_need_repair(pair) -> bool:
    """Plain ASCII without encoded words is returned unchanged by _repair_header: most headers."""
    value = pair[1]
    return not isinstance(value, str) or not value.isascii() or "=?" in value or "*=" in value


def repair_message(message: Message) -> Message:
    """Relabel charsets in place across every part, so mail-parser decodes without loss."""
    if message.is_multipart() and message.epilogue is None:
        message.epilogue = ""  # mail-parser reads it when a boundary is broken
    for part in message.walk():
        pairs = list(part.raw_items())
        repaired = [(name, _repair_header(value)) for name, value in pairs] if any(map(_may_need_repair, pairs)) else []
        if repaired and repaired != [(name, str(value)) for name, value in pairs]:
            for name in {name for name, _ in pairs}:
                del part[name]
            for name, value in repaired:
                part.set_raw(name, value)
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        label = part.get_param("charset")
        label = label if isinstance(label, str) else None
        wanted = canonical_charset(label)
        if wanted is None:
            payload = part.get_payload(decode=True) or b""
            wanted = None if payload.isascii() else sniff_charset(payload)
        if wanted and wanted != (label or "").lower():
            part.set_param("charset", wanted)
    return message
