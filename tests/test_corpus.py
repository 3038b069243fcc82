"""The whole pipeline over ../shared/corpus: 1,444 real messages from other mail projects."""

from __future__ import annotations

import collections
import csv
import os
import time
from datetime import datetime, timezone

import pytest
from conftest import CORPUS, RULES

from inbox_daemon.pipeline import Context, process
from inbox_daemon.rules import load_rules
from inbox_daemon.store import RawMessage, Store


def corpus_rows() -> list[dict]:
    """The MANIFEST's rows; a missing corpus fails under CI (a silent skip would hide it) and skips elsewhere."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        if os.environ.get("CI"):
            pytest.fail(f"../shared/corpus is missing ({manifest}); CI must run the corpus tests")
        pytest.skip("../shared/corpus is absent")
    return list(csv.DictReader(manifest.open(encoding="utf-8"), delimiter="\t"))


@pytest.mark.slow
def test_every_corpus_message_reaches_an_outcome(tmp_path):
    rows = corpus_rows()
    rules = load_rules(RULES)
    store = Store(tmp_path / "db.sqlite", tmp_path / "files")
    context = Context(rules, {"box": tuple(rules.contests)}, daily_limit=10**6)
    outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    slowest = 0.0
    for uid, row in enumerate(rows, start=1):
        raw = (CORPUS / row["file"]).read_bytes()
        pk, _ = store.record_raw(RawMessage("box", "INBOX", 1, str(uid), raw, datetime(2022, 8, 20, tzinfo=timezone.utc)))
        start = time.monotonic()
        outcomes[row["category"]][process(store, pk, context)] += 1
        slowest = max(slowest, time.monotonic() - start)
    errors = list(store.db.query("SELECT uid, error FROM messages WHERE outcome = 'error'"))
    assert errors == []
    assert slowest < 5
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == len(rows)
    assert set(outcomes["autoreply"]) == {"ignored"}
    bounces = outcomes["bounce"]
    assert bounces["ignored"] / sum(bounces.values()) > 0.97  # the rest are spam samples filed under bounce
    # Not one reply to a bounce or an auto-reply (the MANIFEST's categories say which).
    unanswerable = [str(uid) for uid, row in enumerate(rows, start=1) if row["category"] in ("bounce", "autoreply")]
    answered = list(store.db.query(
        "SELECT l.uid, o.to_addr FROM outbox o JOIN locations l ON l.message = o.message "
        f"WHERE o.status IN ('queued', 'sent') AND l.uid IN ({','.join('?' * len(unanswerable))})", unanswerable))
    assert answered == []


def test_corpus_through_the_round_two_classification():
    """Issue 12's functions over the corpus, wired as entryflow does: spam and stray mail are `not_a_submission`
    and never answered; decoration is never a file of an entry; every message is decided."""
    from entryflow import decide

    rows = corpus_rows()
    rules = load_rules(RULES)
    everything = tuple(rules.contests)
    decided = {row["file"]: decide((CORPUS / row["file"]).read_bytes(), everything) for row in rows}
    for file, result in decided.items():
        assert result.ignored or result.not_a_submission or result.outcome in ("accepted", "rejected", "needs_review")
        if result.not_a_submission or result.ignored:
            assert not result.answered, file
        if result.entry is not None:
            assert not any(a.decoration or a.kind == "message" for a in result.entry.attachments), file
    categories = {row["file"]: row["category"] for row in rows}
    assert not [f for f, r in decided.items() if categories[f] in ("bounce", "autoreply") and r.answered]
    # Spam the old routing answered: invoice mail, Chinese and Japanese advertising, a mis-decoded newsletter.
    for file in ("spamscope-mail-parser/mail_test_12.eml", "spamassassin/t__data__nice__cjk__gb2312.1.eml",
                 "spamassassin/t__data__spam__unicode2.eml", "mimekit/messages__japanese.txt.eml"):
        assert decided[file].not_a_submission and not decided[file].answered, file
    # HTML mail whose only images are the body's own (cid:) pictures has no work to route by.
    for file in ("stalwart-mail-parser/thirdparty__016.eml", "enmime/mail__html-only-inline.raw.eml"):
        images = [a for a in decided[file].mail.attachments if a.kind == "image"]
        assert decided[file].not_a_submission and images and all(a.decoration for a in images), file
    counts = collections.Counter("ignored" if r.ignored else "not_a_submission" if r.not_a_submission
                                 else "routed" if r.contest else "contest_unknown" for r in decided.values())
    assert counts["ignored"] + counts["not_a_submission"] + counts["routed"] + counts["contest_unknown"] == len(rows)
