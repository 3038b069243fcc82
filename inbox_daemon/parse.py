"""Raw bytes -> ParsedMail, with mail-parser doing the MIME work.

Pure: no disk, no network. Attachment bytes ride along in memory so the
ingest stage can store them by hash; names from the sender are kept for
display only and never become paths.

The structure mail-parser flattens is read back from the message tree: a
signature logo inside multipart/related (Outlook's image001.png) is body
decoration, not a work; a forwarded message (attached as message/rfc822, or
written inline under a client's forward block) is the entry, and
`entry_mail()` gives the message as the judge should see it.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.policy
import hashlib
import mmap
import re
from dataclasses import dataclass, field, replace
from email.errors import HeaderParseError
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Callable, Iterable, Iterator
from urllib.parse import unquote

import filetype
import mailparser
import pybase64

from .charsets import canonical_charset, decode_text, repair_message
from .forwards import find_forward

DOCUMENT_EXTENSIONS = {"xlsx", "xls", "docx", "doc", "wps", "et", "pdf", "odt", "ods"}
# Headers the classifier needs, kept verbatim (decoded) in ParsedMail.headers.
KEPT_HEADERS = ("auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress", "precedence",
                "list-id", "list-unsubscribe", "return-path", "x-inbox-daemon", "content-type", "x-mailer",
                "user-agent", "delivery-date")


# An inline image larger than this is a photo pasted into the body (QQ Mail keeps the original), not a logo.
DECORATION_MAX = 1_000_000


@dataclass(frozen=True)
class Attachment:
    filename: str  # as the sender named it: display only
    declared_type: str  # Content-Type from the message
    mime: str | None  # sniffed from the content
    kind: str  # video | image | document | archive | message | other (by content, then by name)
    size: int
    sha256: str
    data: bytes = field(repr=False, compare=False, default=b"")  # empty when `stored`
    stored: bool = False  # decoded straight into the attachment store (large bodies)
    decoration: bool = False  # part of the HTML body (a signature logo in multipart/related): never a work
    forwarded: bool = False  # belongs to an attached (message/rfc822) forwarded message

    @property
    def is_file(self) -> bool:
        """What routing and judging count: neither body decoration nor the container of a forwarded message."""
        return not self.decoration and self.kind != "message"


Table = tuple[tuple[str, ...], ...]  # rows of cell texts


@dataclass(frozen=True)
class Forwarded:
    """The original message inside a forward: the entry, whose author is its sender, not the forwarder."""

    how: str  # attached (message/rfc822) | inline (a forward block in the text)
    sender: str  # the original's address, lower-cased; "" when the block names none
    sender_name: str
    subject: str
    date: str | None  # ISO for an attached message; as the client wrote it for an inline block
    text: str
    html: str = ""
    tables: tuple[Table, ...] = ()
    attachments: tuple[Attachment, ...] = ()  # the original's own files (attached forwards only)


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    subject: str
    sender: str  # address from From:, lower-cased
    sender_name: str
    reply_to: str
    to: tuple[str, ...]
    date: str | None  # the Date header in ISO form: informational, forgeable
    in_reply_to: str
    references: tuple[str, ...]
    headers: dict[str, str]
    text: str  # text/plain parts, or the HTML reduced to text when there is none
    html: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()  # tables of the HTML body (labels and values pasted from Word, Excel, WPS)
    forwarded: Forwarded | None = None  # the forwarded original, when this message forwards an entry

    @property
    def files(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.is_file)


class _TextExtractor(HTMLParser):
    """HTML reduced to the text a person sees: blocks become lines, scripts and styles vanish."""

    BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote",
              "section", "article", "pre", "hr", "dd", "dt"}
    HIDDEN = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")  # a cell boundary: `作品名称<TAB>守护` is read as a label and its value
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith(("http://", "https://")):
                self.parts.append(f" {href} ")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):  # HTMLParser on hopeless markup
        return re.sub(r"<[^>]+>", " ", html)
    text = "".join(extractor.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\u3000]+$", "", re.sub(r"^[ \t]*\t[ \t]*", "", line)) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _TableReader(HTMLParser):
    """The tables of an HTML body as rows of cell texts (Word, Excel and WPS paste tables; Outlook keeps them)."""

    MAX_CELLS = 5000  # a hostile body cannot make this unbounded

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[list[list[str]]] = []  # the rows of each table being read, innermost last
        self.cell: list[str] | None = None
        self.tables: list[Table] = []
        self.hidden = 0
        self.cells = 0

    def _close_cell(self) -> None:
        if self.cell is not None and self.open:
            text = "".join(self.cell).replace("\xa0", " ")
            lines = (re.sub(r"[ \t\u3000]+", " ", line).strip() for line in text.splitlines())
            if not self.open[-1]:
                self.open[-1].append([])
            self.open[-1][-1].append("\n".join(line for line in lines if line))
            self.cells += 1
        self.cell = None

    def handle_starttag(self, tag, attrs):
        if tag in _TextExtractor.HIDDEN:
            self.hidden += 1
        elif tag == "table":
            self._close_cell()
            self.open.append([])
        elif tag == "tr" and self.open:
            self._close_cell()
            self.open[-1].append([])
        elif tag in ("td", "th") and self.open and self.cells < self.MAX_CELLS:
            self._close_cell()
            self.cell = []
        elif tag in _TextExtractor.BLOCKS and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag):
        if tag in _TextExtractor.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in ("td", "th"):
            self._close_cell()
        elif tag == "table" and self.open:
            self._close_cell()
            rows = tuple(tuple(row) for row in self.open.pop() if any(row))
            if rows:
                self.tables.append(rows)

    def handle_data(self, data):
        if self.cell is not None and not self.hidden:
            self.cell.append(data)


def html_tables(html: str) -> tuple[Table, ...]:
    if "<td" not in html.lower():
        return ()
    reader = _TableReader()
    try:
        reader.feed(html)
        reader.close()
    except (AssertionError, ValueError):
        pass
    while reader.open:  # tables left open by the sender's markup
        reader.handle_endtag("table")
    return tuple(reader.tables)


def attachment_kind(data: bytes, filename: str, declared_type: str) -> tuple[str, str | None]:
    """(kind, sniffed mime): by content first; the name or declared type only where content says nothing."""
    guess = filetype.guess(data[:8192]) if data else None
    mime = guess.mime if guess else None
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if mime:
        if mime.startswith("video/") or mime in ("application/x-matroska",):
            return "video", mime
        if mime.startswith("image/"):
            return "image", mime
        if mime == "application/pdf" or "officedocument" in mime or mime in (
                "application/msword", "application/vnd.ms-excel", "application/x-ole-storage"):
            return "document", mime
        if mime == "application/zip":  # office files are zips: trust the name for those
            return ("document" if extension in DOCUMENT_EXTENSIONS else "archive"), mime
        if mime in ("application/x-rar-compressed", "application/x-7z-compressed", "application/gzip",
                    "application/x-tar", "application/x-bzip2"):
            return "archive", mime
        if mime.startswith("audio/"):
            return "other", mime
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" and extension in DOCUMENT_EXTENSIONS:
        return "document", "application/x-ole-storage"  # .doc/.xls/.wps/.et
    if declared_type == "message/rfc822":
        return "message", declared_type
    if extension in DOCUMENT_EXTENSIONS and mime is None and extension != "pdf":
        return "document", None
    return "other", mime


def _addresses(value) -> list[tuple[str, str]]:
    if not value:
        return []
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return [(name or "", addr or "") for name, addr in value]
    return getaddresses([value] if isinstance(value, str) else [str(v) for v in value])


def decode_words(value: str) -> str:
    """Decode RFC 2047 words left in a display name (clients quote them, against the RFC)."""
    if "=?" not in value:
        return value
    try:
        return "".join(decode_text(data, charset) if isinstance(data, bytes) else data
                       for data, charset in decode_header(value)).strip()
    except (HeaderParseError, ValueError):
        return value


def _first(value) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()


def _b64decode(data: str | bytes) -> bytes:
    """Lenient like the stdlib (junk characters skipped), with SIMD speed where the input is regular."""
    if isinstance(data, str):
        data = data.encode("ascii", "ignore")  # the decoder would skip those characters anyway
    try:
        return pybase64.b64decode(data)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(data)  # the stdlib still decodes up to a padding in the middle
    except (binascii.Error, ValueError):  # keep what decodes of a damaged part
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        return base64.b64decode(clean[: len(clean) - len(clean) % 4])


def _payload_bytes(item: dict) -> bytes:
    payload = item.get("payload") or ""
    if item.get("binary"):
        return _b64decode(payload)
    return payload.encode(canonical_charset(item.get("charset")) or "utf-8", "replace")


def _iso_date(value: str) -> str | None:
    try:
        return parsedate_to_datetime(value).isoformat() if value else None
    except (TypeError, ValueError, IndexError):
        return None


# The header line of a part declared base64 (any case, maybe quoted), and the blank line after its headers.
CTE_BASE64 = re.compile(rb'(?im)^content-transfer-encoding:[ \t]*"?base64"?[ \t]*\r?$')
BLANK_LINE = re.compile(rb"\r?\n\r?\n")
HEADER_WINDOW = 64 * 1024  # a part's remaining headers, at most
SET_ASIDE_OVER = 64 * 1024  # smaller bodies are cheap enough for the feed parser
PIECE = 4 << 20  # larger bodies are decoded this much at a time
NOT_BASE64 = bytes(sorted(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")))
MARKER = "inbox-daemon-run:"
Spill = Callable[[Iterable[bytes]], tuple[str, int]]  # decoded pieces -> (sha256, size) in the store


class _Irregular(Exception):
    """The fast path met something it does not model; the plain parse decides."""


def _base64_bodies(buf) -> list[tuple[int, int]]:
    """(start, end) of each large base64 body: from the blank line after its part's headers to the
    line break before the next boundary (or the end), as the feed parser would cut the payload."""
    spans, pos = [], 0
    while header := CTE_BASE64.search(buf, pos):
        blank = BLANK_LINE.search(buf, header.end(), header.end() + HEADER_WINDOW)
        if blank is None:
            pos = header.end()
            continue
        start = blank.end()
        boundary = _next_boundary(buf, start)
        end = len(buf) if boundary < 0 else boundary - (buf[boundary - 1:boundary] == b"\r")
        if end - start >= SET_ASIDE_OVER:
            spans.append((start, end))
        pos = max(end, start)
    return spans


def _next_boundary(buf, start: int) -> int:
    """Where the next line starting with "--" begins. Base64 has no "-", so the dash search (memchr)
    runs at memory speed and its first hit is normally the boundary itself."""
    while (dash := _find(buf, b"-", start)) >= 0:
        if buf[dash - 1:dash + 2] == b"\n--":
            return dash - 1
        start = dash + 1
    return -1


def _find(buf, needle: bytes, start: int) -> int:
    """`buf.find`, giving back the pages of a mapped file as it goes (they would count as memory)."""
    if not isinstance(buf, mmap.mmap):
        return buf.find(needle, start)
    for pos in range(start, len(buf), PIECE):
        stop = min(len(buf), pos + PIECE + len(needle))
        found = buf.find(needle, pos, stop)
        _release(buf, pos, stop)
        if found >= 0:
            return found
    return -1


def _release(buf, start: int, stop: int) -> None:
    if isinstance(buf, mmap.mmap):
        start -= start % mmap.PAGESIZE
        buf.madvise(mmap.MADV_DONTNEED, start, stop - start)


def _set_aside_base64(buf) -> tuple[bytes, list[tuple[int, int]]]:
    """The parse view of a message with each large base64 body replaced by a short marker.

    The stdlib feed parser walks every 76-byte line in Python (80 MB/s); pybase64 decodes the same
    bodies from the original bytes at memory speed, and a large one goes to disk in pieces. Parsing
    the skeleton and putting the decoded bytes back gives identical results (`_parse` checks, and
    the plain parse takes over if a marker reached a text part)."""
    spans = _base64_bodies(buf)
    pieces, pos = [], 0
    for index, (start, end) in enumerate(spans):
        pieces += [buf[pos:start], _token(index).encode()]
        pos = end
    pieces.append(buf[pos:])
    return b"".join(pieces), spans


def _token(index: int) -> str:
    return base64.b64encode(f"\x00{MARKER}{index}\x00".encode()).decode()


def _marker_index(data: bytes) -> int | None:
    """The set-aside body a decoded payload stands for; _Irregular if a marker is mixed with other bytes."""
    if MARKER.encode() not in data:
        return None
    if data.startswith(b"\x00" + MARKER.encode()) and data.endswith(b"\x00"):
        return int(data[len(MARKER) + 1:-1])
    raise _Irregular("a set-aside body shares its part with other content")


def _decode_pieces(buf, start: int, end: int) -> Iterator[bytes]:
    """A base64 body decoded piece by piece, as `_b64decode` would decode it whole.

    Pieces end at a line end. A piece of whole quads without padding (every regular body: 76-column
    lines) is decoded as it stands, line breaks skipped by the decoder at memory speed; any other
    piece has its non-alphabet bytes dropped first and its odd characters carried to the next."""
    if end - start <= PIECE:
        yield _b64decode(buf[start:end])
        _release(buf, start, end)
        return
    carry, pos = b"", start
    while pos < end:
        stop = min(end, pos + PIECE)
        if stop < end:
            line_end = buf.rfind(b"\n", pos, stop)
            stop = line_end + 1 if line_end > pos else stop
        piece = buf[pos:stop]
        _release(buf, pos, stop)
        pos = stop
        if stop == end:
            yield _b64decode(carry + piece)
            return
        if not carry and b"=" not in piece:
            try:
                yield pybase64.b64decode(piece)  # junk and line breaks skipped, as in the whole
                continue
            except (binascii.Error, ValueError):
                pass  # not whole quads: the careful way below
        text = carry + piece.translate(None, NOT_BASE64)
        keep = len(text) - len(text) % 4
        text, carry = text[:keep], text[keep:]
        try:
            yield pybase64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as err:  # padding in the middle: not a plain body
            raise _Irregular(str(err)) from err


def _attachment(data: bytes, filename: str, declared: str) -> Attachment:
    kind, mime = attachment_kind(data, filename, declared)
    return Attachment(filename, declared, mime, kind, len(data), hashlib.sha256(data).hexdigest(), data)


@dataclass
class _SetAside:
    """Large base64 bodies cut out of the parse view, decoded from the original buffer when met:
    in memory, or with `spill` piece by piece straight into the attachment store."""

    buf: object  # bytes or a read-only mmap of the stored message
    spans: list[tuple[int, int]]
    spill: Spill | None

    def attachment(self, index: int, filename: str, declared: str) -> Attachment:
        start, end = self.spans[index]
        if self.spill is None:
            return _attachment(_b64decode(self.buf[start:end]), filename, declared)
        head = bytearray()

        def watched(pieces: Iterator[bytes]) -> Iterator[bytes]:
            for piece in pieces:
                head.extend(piece[:8192 - len(head)])
                yield piece
        sha256, size = self.spill(watched(_decode_pieces(self.buf, start, end)))
        kind, mime = attachment_kind(bytes(head), filename, declared)
        return Attachment(filename, declared, mime, kind, size, sha256, stored=True)


def _marker_leaked(parser, count: int) -> bool:
    """Did a marker end up anywhere but a decoded binary attachment?"""
    texts = [*parser.text_plain, *parser.text_html, *parser.text_not_managed,
             *(str(item.get("payload") or "") for item in parser.attachments if not item.get("binary"))]
    needles = [MARKER, *(_token(i) for i in range(count))]
    return any(needle in text for text in texts for needle in needles)


def parse_message(raw, spill: Spill | None = None) -> ParsedMail:
    """Parse raw RFC 5322 bytes (bytes or a mapped file). May raise on hopeless input; the caller
    records it as `error`. With `spill`, large base64 bodies go straight to the store, never whole
    in memory."""
    skeleton, spans = _set_aside_base64(raw) if len(raw) > SET_ASIDE_OVER else (b"", [])
    if spans:
        try:
            parsed = _parse(skeleton, _SetAside(raw, spans, spill))
        except _Irregular:
            parsed = None
        if parsed is not None:
            return parsed
    return _parse(bytes(raw))


HEADER_LINE = re.compile(rb"(?m)^[!-9;-~]{1,76}:[ \t]")


def _message(raw: bytes):
    """The stdlib parse, recovering from junk before the first header.

    A garbled first line makes the parser treat every header as body (auto-reply markers included);
    the headers are found again from the first line that looks like one, within the first 2 KB."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not message.keys() and any(isinstance(d, email.errors.MissingHeaderBodySeparatorDefect)
                                  for d in message.defects):
        found = HEADER_LINE.search(raw, 1, 2048)
        if found:
            recovered = email.message_from_bytes(raw[found.start():], policy=email.policy.compat32)
            if recovered.keys():
                recovered.defects.append(email.errors.InvalidHeaderDefect("junk before the first header"))
                return recovered
    return message


@dataclass(frozen=True)
class _Place:
    """Where a part that mail-parser lists as an attachment sits in the message tree."""

    content_type: str
    related: bool  # inside multipart/related: part of the HTML body
    disposition: str
    content_id: str
    forward: int | None  # which attached forwarded message (message/rfc822) holds it


def _listed_as_attachment(part, disposition: str) -> bool:
    """mail-parser's own test (core.parse), so its list and the tree line up one to one."""
    if part.is_multipart() and disposition != "attachment":
        return False
    subtype = part.get_content_subtype()
    return bool(part.get_filename() or (part.get("content-id") and subtype not in ("html", "plain"))
                or subtype in "rtf" or disposition == "attachment")


def _places(message) -> tuple[list[_Place], list]:
    """Each attachment's place, in mail-parser's order, and the forwarded messages (message/rfc822 parts)."""
    places, forwards = [], []

    def visit(part, related: bool, forward: int | None) -> None:
        disposition = (part.get_content_disposition() or "").lower()
        content_type = part.get_content_type()
        if _listed_as_attachment(part, disposition):
            places.append(_Place(content_type, related, disposition,
                                 str(part.get("content-id") or "").strip().strip("<>").lower(), forward))
        if not part.is_multipart():
            return
        if content_type == "message/rfc822":
            inner = part.get_payload()
            if inner and forward is None:
                forwards.append(inner[0])
                forward = len(forwards) - 1
        related = related or content_type == "multipart/related"
        for child in part.get_payload():
            if hasattr(child, "get_content_type"):
                visit(child, related, forward)

    visit(message, False, None)
    return places, forwards


def _placed(items: list[dict], places: list[_Place]) -> list[_Place | None]:
    """The place of each mail-parser attachment, matched in order by content type (None where it cannot be)."""
    result, position = [], 0
    for item in items:
        wanted = str(item.get("mail_content_type") or "").lower()
        found = next((i for i in range(position, len(places)) if places[i].content_type == wanted), None)
        if found is None:
            result.append(None)
            continue
        result.append(places[found])
        position = found + 1
    return result


def _referenced_cids(html: str) -> set[str]:
    return {unquote(cid).strip("<>").lower() for cid in re.findall(r"cid:([^\"'\s>)]+)", html, re.I)}


def _is_decoration(attachment: Attachment, place: _Place | None, cids: set[str]) -> bool:
    """A small image of the HTML body: referenced by Content-ID, or marked inline inside multipart/related."""
    if place is None or attachment.kind not in ("image", "other") or attachment.size > DECORATION_MAX:
        return False
    referenced = bool(place.content_id) and place.content_id in cids
    return referenced or (place.related and place.disposition == "inline")


def _body_parts(message) -> tuple[str, str]:
    """(plain, html) of a forwarded message: its text parts that are not attachments, decoded by their charset."""
    plain, html = [], []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = (part.get_content_disposition() or "").lower()
        if _listed_as_attachment(part, disposition) and disposition != "inline":
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_content_type() == "text/plain":
            plain.append(decode_text(payload, part.get_content_charset()))
        elif part.get_content_type() == "text/html":
            html.append(decode_text(payload, part.get_content_charset()))
    return "\n".join(plain).strip(), "\n".join(html)


def _attached_forward(message, attachments: tuple[Attachment, ...]) -> Forwarded:
    senders = _addresses(str(message.get("From") or ""))
    name, address = senders[0] if senders else ("", "")
    plain, html = _body_parts(message)
    text = (plain or html_to_text(html)).replace("\r\n", "\n")
    return Forwarded(how="attached", sender=address.strip().lower(), sender_name=decode_words(name.strip()),
                     subject=decode_words(str(message.get("Subject") or "").strip()),
                     date=_iso_date(str(message.get("Date") or "")), text=text, html=html, tables=html_tables(html),
                     attachments=attachments)


def _inline_forward(text: str, subject: str) -> Forwarded | None:
    found = find_forward(text, subject)
    if found is None:
        return None
    name = decode_words(found.sender_name)
    return Forwarded(how="inline", sender=found.sender, sender_name=name, subject=found.subject,
                     date=found.date or None, text=found.text)


class _MailParser(mailparser.MailParser):
    """mail-parser as it is, less the two dictionaries of every header and part it builds for its
    `.mail` and `.mail_partial` views, which this module never reads (a fifth of its time on the
    corpus). Everything read here (texts, attachments, headers, addresses, defects) is unchanged:
    tests/test_speed_parse.py compares both over the corpus."""

    def _make_mail(self, complete=True):
        return {}


def _parse(raw: bytes, aside: _SetAside | None = None) -> ParsedMail | None:
    message = _message(raw)
    parser = _MailParser(repair_message(message))
    if aside and _marker_leaked(parser, len(aside.spans)):
        return None  # a large base64 *text* part (or one left encoded): parse the ordinary way
    headers = parser.headers
    senders = _addresses(parser.from_)
    sender_name, sender = senders[0] if senders else ("", "")
    reply_to = _addresses(parser.reply_to)
    html = "\n".join(parser.text_html)
    places, forwards = _places(message)
    placed = _placed(parser.attachments, places)
    cids = _referenced_cids(html)
    attachments = []
    for item, place in zip(parser.attachments, placed, strict=True):
        data = _payload_bytes(item)
        filename = str(item.get("filename") or "")
        declared = str(item.get("mail_content_type") or "application/octet-stream").lower()
        index = _marker_index(data) if aside else None
        attachment = (aside.attachment(index, filename, declared) if index is not None
                      else _attachment(data, filename, declared))
        attachments.append(replace(attachment, decoration=_is_decoration(attachment, place, cids),
                                   forwarded=place is not None and place.forward is not None))
    # Text of unknown subtypes (a broken boundary leaves the whole body there) is the last resort.
    text = ("\n".join(parser.text_plain).strip() or html_to_text(html)
            or "\n".join(parser.text_not_managed).strip()).replace("\r\n", "\n")
    subject = _first(parser.subject)
    if forwards:
        inner = tuple(a for a, place in zip(attachments, placed, strict=True)
                      if place is not None and place.forward == 0 and a.kind != "message")
        forwarded = _attached_forward(forwards[0], inner)
    else:
        forwarded = _inline_forward(text, subject)
    folded: dict = {}
    for key, value in headers.items():  # the first of each name, in any case
        folded.setdefault(key.lower(), value)
    kept = {name: _first(headers.get(name) or folded.get(name)) for name in KEPT_HEADERS}
    return ParsedMail(
        message_id=_first(parser.message_id).strip(),
        subject=subject,
        sender=sender.strip().lower(),
        sender_name=decode_words(sender_name.strip()),
        reply_to=reply_to[0][1].strip().lower() if reply_to else "",
        to=tuple(addr.lower() for _, addr in _addresses(parser.to) if addr),
        date=_iso_date(_first(headers.get("Date"))),
        in_reply_to=_first(headers.get("In-Reply-To")),
        references=tuple(re.findall(r"<[^<>\s]+>", _first(headers.get("References")))),
        headers={k: v for k, v in kept.items() if v},
        text=text,
        html=html,
        attachments=tuple(attachments),
        defects=tuple(sorted(parser.defects_categories)),
        tables=html_tables(html),
        forwarded=forwarded,
    )


FORWARD_PREFIX = re.compile(r"^\s*(?:(?:回复|答复|Re|AW)\s*[:：]\s*)*(?:转发|轉寄|转寄|Fwd?|FW|WG|TR)\s*[:：]\s*", re.I)


def entry_mail(mail: ParsedMail, own_addresses: tuple[str, ...] = ()) -> ParsedMail:
    """The message as the entry it carries, for routing, extraction and judging.

    For a forward: the original's subject, author name, text and tables, and the files of both
    messages (a union often forwards the text and attaches the video itself). Never body decoration
    or the message/rfc822 container. Sender, Reply-To and threading stay the forwarder's: the reply
    goes to whoever sent this message. Our own reply forwarded back to us (a contestant answering with
    转发 instead of 回复) is not an entry: the forwarder's own text is."""
    files = mail.files
    forwarded = mail.forwarded
    if forwarded is not None and forwarded.sender and forwarded.sender in {a.lower() for a in own_addresses}:
        forwarded = None
    if forwarded is None:
        return replace(mail, attachments=files)
    return replace(mail, subject=forwarded.subject or FORWARD_PREFIX.sub("", mail.subject),
                   sender_name=forwarded.sender_name, text=forwarded.text,
                   html=forwarded.html if forwarded.how == "attached" else mail.html,
                   tables=forwarded.tables if forwarded.how == "attached" else mail.tables, attachments=files)
