"""A time limit per message: a file that makes a library hang is cut off and becomes a finding; a
message that cannot be read at all waits for later passes and is then set aside, never blocking its
mailbox; a reader that crashes is restarted."""

from __future__ import annotations

import json
import mailbox
import time

import pytest
from conftest import write_config

from inbox_daemon.config import load_config
from inbox_daemon.demo.samples import compose
from inbox_daemon.ingest import poll_all
from inbox_daemon.pipeline import Context
from inbox_daemon.rules import load_rules
from inbox_daemon.store import Store
from inbox_daemon.worker import Worker

pytestmark = pytest.mark.integration  # a child process reads the mail


def _setup(tmp_path, messages):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for raw in messages:
        box.add(raw)
    config = load_config(write_config(tmp_path, [{"name": "local", "source": "maildir",
                                                  "path": str(tmp_path / "Maildir"),
                                                  "contests": ["micro_video", "photo"]}]))
    rules = load_rules(config.rules_dir)
    context = Context.from_config(config, rules, isolate=False)
    worker = Worker(config.storage.files, rules, context.own_addresses, limit_s=2, reader="slowreader:analyse")
    from dataclasses import replace
    return config, replace(context, worker=worker), Store.from_config(config)


def test_an_attachment_that_hangs_its_probe_is_cut_off_and_reviewed(tmp_path):
    entry = compose(sender="w@qq.com", subject="微视频比赛《守护》", headers={"X-Test": "hang"},
                    body="作品名称：守护\n作者：李娜\n性别：女\n联系电话：13873881234\n工作单位：娄底市中心医院\n",
                    attachments=[("hang.mp4", b"HANG" + bytes(5000), "video/mp4"),
                                 ("说明.txt", "正文".encode(), "text/plain")])
    fine = compose(sender="v@qq.com", subject="摄影比赛", body="作品名称：晨光\n")
    config, context, store = _setup(tmp_path, [entry, fine])
    started = time.monotonic()
    [result] = poll_all(config, store, context)
    assert time.monotonic() - started < 20
    assert result.new == 2 and result.errors == 0
    row = next(store.register.rows("sender = ?", ["w@qq.com"]))
    ids = [f["id"] for f in json.loads(row["rules"])]
    assert row["outcome"] == "needs_review" and "probe_timeout" in ids
    assert "hang.mp4" in next(f["message"] for f in json.loads(row["rules"]) if f["id"] == "probe_timeout")
    context.worker.stop()


def test_a_message_that_cannot_be_read_waits_then_is_set_aside_without_blocking_others(tmp_path):
    stuck = compose(sender="s@qq.com", subject="摄影比赛", body="作品名称：卡住\n", headers={"X-Test": "stuck"})
    fine = compose(sender="f@qq.com", subject="摄影比赛", body="作品名称：好\n")
    config, context, store = _setup(tmp_path, [stuck, fine])
    outcomes = []
    for _ in range(3):
        [result] = poll_all(config, store, context)
        row = next(store.register.rows("sender IS NULL OR sender = 's@qq.com'"))
        outcomes.append(row["outcome"])
        other = list(store.register.rows("sender = 'f@qq.com'"))
        assert other and other[0]["status"] == "parsed"  # the mailbox is not blocked
    assert outcomes == ["received", "received", "needs_review"]
    assert row["status"] == "parsed" and json.loads(row["rules"])[0]["id"] == "processing_failed"
    assert "超过 2 秒" in json.loads(row["rules"])[0]["message"]
    assert [e["action"] for e in store.db.query("SELECT action FROM events WHERE message = ? ORDER BY id",
                                                 [row["id"]])] == ["not_read", "not_read", "set_aside"]
    context.worker.stop()


def test_a_reader_that_crashes_is_restarted_and_the_next_message_is_read(tmp_path):
    crash = compose(sender="c@qq.com", subject="摄影比赛", body="作品名称：崩\n", headers={"X-Test": "crash"})
    fine = compose(sender="f@qq.com", subject="摄影比赛", body="作品名称：好\n")
    config, context, store = _setup(tmp_path, [crash, fine])
    [result] = poll_all(config, store, context)
    statuses = {r["sender"] or "crash": r["status"] for r in store.register.rows()}
    assert statuses == {"crash": "stored", "f@qq.com": "parsed"}
    assert "意外退出" in next(store.register.rows("status = 'stored'"))["error"]
    context.worker.stop()
