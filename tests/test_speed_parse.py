"""Parsing made faster must parse the same: every field of ParsedMail over the whole corpus, and the
pieces a large body is decoded in."""

from __future__ import annotations

import base64
import dataclasses
import random
import re

import mailparser
import pytest
from conftest import CORPUS
from test_corpus import corpus_rows

from inbox_daemon import parse


def _comparable(mail):
    """A ParsedMail as a plain structure; mail-parser names unnamed parts with random letters."""
    if mail is None:
        return None
    data = dataclasses.asdict(mail)
    for attachment in data["attachments"] + (data["forwarded"] or {}).get("attachments", []):
        attachment["filename"] = re.sub(r"^[a-z]{10}\.(txt|rtf)$", "<random>", attachment["filename"])
    return data


def _parse_all(rows):
    results = []
    for row in rows:
        raw = (CORPUS / row["file"]).read_bytes()
        try:
            results.append(_comparable(parse.parse_message(raw)))
        except Exception as err:  # noqa: BLE001 - a message that fails must fail the same way
            results.append(f"{type(err).__name__}: {err}")
    return results


@pytest.mark.slow
def test_the_trimmed_mail_parser_gives_every_field_as_mail_parser_itself(monkeypatch):
    """_MailParser skips only mail-parser's `.mail` dictionaries; nothing this project reads may change."""
    rows = corpus_rows()
    trimmed = _parse_all(rows)
    monkeypatch.setattr(parse, "_MailParser", mailparser.MailParser)
    assert _parse_all(rows) == trimmed


def test_the_trimmed_parser_still_reads_what_mail_parser_reads():
    raw = (b"From: =?utf-8?B?5p2O5aic?= <a@qq.com>\r\nTo: b@163.com\r\nReply-To: c@qq.com\r\nSubject: x\r\n"
           b"Received: from mx.qq.com by mx.example.org; Mon, 1 Aug 2022 09:00:00 +0800\r\n"
           b"Date: Mon, 1 Aug 2022 09:00:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n")
    mine = parse._MailParser(parse._message(raw))
    theirs = mailparser.MailParser(parse._message(raw))
    for name in ("from_", "to", "reply_to", "subject", "text_plain", "headers", "defects_categories", "received"):
        assert getattr(mine, name) == getattr(theirs, name), name
    assert mine.mail == {} and theirs.mail  # the one thing skipped


@pytest.mark.parametrize("seed", range(40))
def test_pieces_cut_at_line_ends_decode_like_the_whole(monkeypatch, seed):
    """Bodies of every line width, with junk, blank lines, CRLF or LF and pieces of odd sizes: the
    piecewise decoder (fast path at line ends, careful path otherwise) gives the bytes of the whole."""
    rng = random.Random(seed)
    monkeypatch.setattr(parse, "PIECE", rng.choice([64, 77, 4096, 4099, 10_000]))
    data = rng.randbytes(rng.randrange(1, 60_000))
    text = base64.b64encode(data)
    width = rng.choice([76, 72, 73, 64, 4, 1000])
    lines = [text[i:i + width] for i in range(0, len(text), width)]
    if rng.random() < 0.3:
        lines.insert(rng.randrange(len(lines) + 1), b"")
    if rng.random() < 0.2:
        at = rng.randrange(len(lines))
        lines[at] = lines[at][:2] + b"*" + lines[at][2:]
    body = (b"\r\n" if rng.random() < 0.7 else b"\n").join(lines)
    # No padding inside these bodies: the piecewise decoder must never give up on them (_Irregular).
    assert b"".join(parse._decode_pieces(body, 0, len(body))) == parse._b64decode(body)
