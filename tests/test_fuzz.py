"""Fuzzing: hypothesis mutates real messages; every mutant reaches an outcome quickly, none is answered
if it still says it is an auto-reply."""

from __future__ import annotations

import pytest

import csv
import json
import time
from datetime import datetime

from conftest import CORPUS, RULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox_daemon.pipeline import Context, process
from inbox_daemon.rules import load_rules
from inbox_daemon.demo.samples import CST, compose
from inbox_daemon.store import RawMessage, Store

SEEDS = [
    compose(sender="a@qq.com", subject="微视频比赛《守护》", body="作品名称：守护\n作者姓名：李娜\n联系电话：13873881234",
            charset="gbk", label="gb2312", attachments=[("守护.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(3000), "video/mp4")]),
    compose(sender="b@163.com", subject="自动回复: 微视频", body="休假中", headers={"Auto-Submitted": "auto-replied"}),
    compose(sender="c@126.com", subject="摄影", body="作品名称：桥", html="<p>作品名称：<b>桥</b></p>",
            attachments=[("桥.zip", b"PK\x03\x04" + bytes(200), "application/zip")]),
]
if (CORPUS / "MANIFEST.tsv").exists():
    rows = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
    SEEDS += [(CORPUS / r["file"]).read_bytes()[:200_000] for r in rows[::60]]

mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]),
                     st.floats(0, 1), st.binary(min_size=1, max_size=40))


def mutate(raw: bytes, mutations) -> bytes:
    data = bytearray(raw)
    for op, where, chunk in mutations:
        at = int(where * len(data)) if data else 0
        if op == "flip" and data:
            data[min(at, len(data) - 1)] ^= chunk[0] or 0xFF
        elif op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at:at + len(chunk)]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[at:at + 500]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), mutations=st.lists(mutation, min_size=1, max_size=6))
@pytest.mark.slow
def test_mutated_mail_always_reaches_an_outcome(tmp_path_factory, seed, mutations):
    root = tmp_path_factory.mktemp("fuzz")
    store = Store(root / "db", root / "files")
    rules = load_rules(RULES)
    raw = mutate(SEEDS[seed], mutations)
    pk, _ = store.record_raw(RawMessage("box", "INBOX", 1, "1", raw, datetime(2022, 8, 20, tzinfo=CST)))
    start = time.monotonic()
    outcome = process(store, pk, Context(rules, {"box": tuple(rules.contests)}))
    assert time.monotonic() - start < 5
    assert outcome in {"accepted", "rejected", "needs_review", "ignored", "error"}
    row = store.register.message(pk)
    headers = {k.lower(): v.lower() for k, v in json.loads(row["headers"] or "{}").items()}
    if headers.get("auto-submitted", "no") != "no" or headers.get("x-autoreply"):
        # Recognisably an auto-reply (after the mutation): never answered.
        assert outcome == "ignored"
        assert store.db.execute("SELECT COUNT(*) FROM outbox WHERE status='queued'").fetchone()[0] == 0
    store.close()
