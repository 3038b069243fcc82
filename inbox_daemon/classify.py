"""Is this a submission at all, for which contest, and what does a reply to our reply want?

Ignored (never answered): auto-replies (RFC 3834 and vendor headers, QQ/163
"自动回复" subjects), bounces, list and bulk mail, our own replies. A message
with no work, no link, no contest keyword and no labelled field (spam, a stray
question) is `not_a_submission`: kept for staff, never answered. The rest is
routed by subject keywords, then body keywords, then by what is attached,
within the contests configured for the mailbox. Pure functions; every word
they look for is in the rules.
"""

from __future__ import annotations

import re

from .extract import find_phone, labelled_values, new_text, normalise, table_values, text_tables
from .parse import ParsedMail
from .rules import Common, Contest, RuleSet

WORK_KINDS = {"video", "image", "document", "archive"}
CJK = re.compile(r"[\u3400-\u9fff]")

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


# -- what an attachment is for routing ---------------------------------------------------------------------


def is_form_image(filename: str, kind: str, common: Common) -> bool:
    """A photo or scan of the paper application form (报名表.jpg): the form, present but not read, never a work."""
    return kind == "image" and any(word in normalise(filename) for word in common.forms.get("image_names", ()))


def routing_kinds(files, rules: RuleSet) -> list[str]:
    """The kinds `route` and `not_a_submission` look at, from an entry's files (`entry_mail(...).attachments`, or
    their probes): a photographed form counts as the form document it stands for."""
    return ["document" if is_form_image(f.filename, f.kind, rules.common) else f.kind for f in files]


# -- not a submission ----------------------------------------------------------------------------------------


def _spam(text: str, common: Common) -> bool:
    lowered = text.lower()
    return any(word.lower() in lowered for word in common.submission.get("spam_words", ()))


def _labels_evidence(mail: ParsedMail, written: str, contests: list[Contest], common: Common) -> bool:
    """A labelled title, author or team (the rules' evidence fields) in the text or a pasted table."""
    wanted = set(common.submission.get("evidence_fields", ()))
    tables = [*mail.tables, *text_tables(written)]
    for contest in contests:
        fields = tuple(f for f in contest.fields if f.name in wanted)
        if fields and (labelled_values(written, fields) or table_values(tables, fields)):
            return True
    return False


def not_a_submission(mail: ParsedMail, rules: RuleSet, allowed: tuple[str, ...], kinds: list[str],
                     links: list[dict]) -> bool:
    """No contest keyword, no labelled field, no cloud link, and no work (spam such as invoice mail, a stray
    question). `mail` is the entry (`entry_mail`), `kinds` its `routing_kinds`. Files do not make spam an entry:
    a message naming the rules' spam words, or only documents and not one Chinese character anywhere, is not
    a submission either."""
    contests = [rules.contests[c] for c in allowed if c in rules.contests]
    subject, written = normalise(mail.subject), normalise(new_text(mail.text))
    if any(word in subject or word in written for c in contests for word in (*c.keywords, *c.ask_keywords)):
        return False
    if links or _labels_evidence(mail, written, contests, rules.common):
        return False
    if _spam(f"{subject}\n{written}", rules.common):
        return True
    work = WORK_KINDS & set(kinds)
    if not work:
        return True
    if work <= {"document", "archive"}:
        names = " ".join([mail.subject, mail.sender_name, mail.text, *(a.filename for a in mail.attachments)])
        return not CJK.search(names)
    return False


# -- replies to our reply ------------------------------------------------------------------------------------


def withdrawal_requested(mail: ParsedMail, rules: RuleSet, has_work: bool) -> bool:
    """The sender asks to withdraw (撤回, 退出, 取消参赛 …). Only a message without a work is read for it: an
    entry's bio may well say 退出现役."""
    if has_work:
        return False
    text = normalise(f"{mail.subject}\n{new_text(mail.text)}")
    return any(word in text for word in rules.common.replies.get("withdrawal", ()))


def reply_intent(mail: ParsedMail, rules: RuleSet, contest: Contest | None, has_work: bool) -> str:
    """What a message answering our reply (by In-Reply-To/References or its receipt number) wants:

    - `withdrawal`: a withdrawal request: finding `withdrawal_request` on the entry, staff act;
    - `correction`: a new work, or a labelled field or a phone number: merge and judge again;
    - `question`, `thanks`, `other`: nothing to change: the entry stays, nothing is answered automatically.
    """
    if withdrawal_requested(mail, rules, has_work):
        return "withdrawal"
    written = normalise(new_text(mail.text))
    if has_work:
        return "correction"
    fields = contest.fields if contest else tuple(f for c in rules.contests.values() for f in c.fields)
    tables = [*mail.tables, *text_tables(written)]
    if labelled_values(written, fields) or table_values(tables, fields) or find_phone(written):
        return "correction"
    words = rules.common.replies
    lowered = written.lower()
    if any(word.lower() in lowered for word in words.get("questions", ())):
        return "question"
    if any(word.lower() in lowered for word in words.get("thanks", ())):
        return "thanks"
    return "other"
