"""Is this a submission at all, and for which contest?

Ignored (never answered): auto-replies (RFC 3834 and vendor headers, QQ/163
"自动回复" subjects), bounces, list and bulk mail, our own replies. The rest is
routed by subject keywords, then body keywords, then by what is attached,
within the contests configured for the mailbox.
"""

from __future__ import annotations

from .extract import new_text, normalise
from .parse import ParsedMail
from .rules import RuleSet

OWN_HEADER = "x-inbox-daemon"


def ignore_reason(mail: ParsedMail, rules: RuleSet, own_addresses: tuple[str, ...] = ()) -> str | None:
    """Why this message is not a submission, or None."""
    spec = rules.common.ignore
    headers = {k.lower(): str(v).strip().lower() for k, v in mail.headers.items()}
    if OWN_HEADER in headers or (mail.sender and mail.sender in {a.lower() for a in own_addresses}):
        return "own reply"
    auto = headers.get("auto-submitted")
    if auto and auto not in spec.get("auto_submitted_values_not", ["no"]):
        return f"auto-submitted: {auto}"
    for name in spec.get("autoreply_headers", ()):
        if headers.get(name):
            return f"auto-reply header {name}"
    if headers.get("precedence") in spec.get("precedence", ()):
        return f"precedence: {headers['precedence']}"
    for name in spec.get("list_headers", ()):
        if headers.get(name):
            return f"list mail ({name})"
    local = mail.sender.partition("@")[0]
    if local in spec.get("bounce_senders", ()) or headers.get("return-path") == "<>":
        return "bounce"
    envelope = headers.get("return-path", "").strip("<> ").partition("@")[0]
    if envelope and envelope.startswith(tuple(spec.get("bulk_return_path_prefixes", ()))):
        return "bulk mail (VERP return path)"
    if headers.get("content-type", "").split(";")[0].strip() in spec.get("bounce_content_types", ()):
        return "bounce (delivery report)"
    subject = normalise(mail.subject).lower()
    for word in spec.get("auto_reply_subjects", ()):
        word = normalise(word).lower()
        if subject.startswith(word) or f"{word}:" in subject or f" {word}" in subject:
            return f"auto-reply subject ({word})"
    return None


def _keyword_hits(text: str, contests) -> dict[str, int]:
    """Per contest, the length of its longest keyword found (longer is more specific)."""
    hits = {}
    for contest in contests:
        best = max((len(k) for k in contest.keywords if k in text), default=0)
        if best:
            hits[contest.id] = best
    return hits


def _decide(hits: dict[str, int]) -> str | None:
    if not hits:
        return None
    best = max(hits.values())
    winners = [cid for cid, score in hits.items() if score == best]
    return winners[0] if len(winners) == 1 else None


def route(mail: ParsedMail, rules: RuleSet, allowed: tuple[str, ...], kinds: list[str]) -> tuple[str | None, tuple[str, ...]]:
    """(contest id, candidates to ask about): subject, then body, then attachments."""
    contests = [rules.contests[c] for c in allowed if c in rules.contests]
    subject = normalise(mail.subject)
    body = normalise(new_text(mail.text))
    for text in (subject, body):
        hits = _keyword_hits(text, contests)
        chosen = _decide(hits)
        if chosen:
            return chosen, ()
        if len(hits) > 1:
            return None, tuple(hits)
    ask = tuple(c.id for c in contests if any(k in subject or k in body for k in c.ask_keywords))
    has = set(kinds)
    if "video" in has and "document" in has:
        readers = tuple(c.id for c in contests if c.form and c.video)
        if len(readers) == 1:
            return readers[0], ()
        if readers:
            return None, readers
    if ask:
        return None, ask
    by_kind = [c for c in contests if c.attachment in has]
    if len(by_kind) == 1 and has <= {by_kind[0].attachment, "other", "archive"}:
        return by_kind[0].id, ()
    if has == {"document"}:
        formers = [c.id for c in contests if c.form and not c.video]
        if len(formers) == 1:
            return formers[0], ()
    return None, tuple(c.id for c in contests)
