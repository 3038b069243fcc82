"""The whole pipeline over ../shared/corpus: 1,444 real messages from other mail projects."""

from __future__ import annotations

import collections
import csv
import time
from datetime import datetime, timezone

import pytest
from conftest import CORPUS, RULES

from inbox_daemon.pipeline import Context, process
from inbox_daemon.rules import load_rules
from inbox_daemon.store import RawMessage, Store


@pytest.mark.slow
def test_every_corpus_message_reaches_an_outcome(tmp_path):
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.skip("../shared/corpus is absent")
    rows = list(csv.DictReader(manifest.open(encoding="utf-8"), delimiter="\t"))
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
