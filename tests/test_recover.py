"""A message whose reading fails the same way every pass never stops the other mailboxes."""

from __future__ import annotations

import mailbox
import threading
import time

from conftest import write_config

from inbox_daemon import pipeline
from inbox_daemon.config import load_config
from inbox_daemon.demo.samples import compose
from inbox_daemon.ingest import poll_all
from inbox_daemon.pipeline import MAX_ATTEMPTS, Context
from inbox_daemon.rules import load_rules
from inbox_daemon.store import Store


def test_a_message_that_runs_the_reader_out_of_memory_is_set_aside_and_the_mailboxes_go_on(tmp_path, monkeypatch):
    boxes = {name: mailbox.Maildir(tmp_path / name, create=True) for name in ("a", "b")}
    boxes["a"].add(compose(sender="bomb@qq.com", subject="摄影比赛 炸弹", body="作品名称：炸弹"))
    boxes["b"].add(compose(sender="ok1@qq.com", subject="摄影比赛 一", body="作品名称：一"))
    config = load_config(write_config(tmp_path, [{"name": n, "source": "maildir", "path": str(tmp_path / n),
                                                   "contests": ["photo"]} for n in ("a", "b")]))
    real = pipeline.analyse

    def analyse(blobs, sha256, *args, **kwargs):
        if b"bomb@qq.com" in blobs.get("raw", sha256):
            raise MemoryError("a decompression bomb")  # as the reader child relays it
        return real(blobs, sha256, *args, **kwargs)

    monkeypatch.setattr(pipeline, "analyse", analyse)
    store = Store.from_config(config)
    context = Context.from_config(config, load_rules(config.rules_dir), isolate=False)
    first = poll_all(config, store, context)
    assert [(r.mailbox, r.failure) for r in first] == [("a", None), ("b", None)]
    for n in range(MAX_ATTEMPTS):  # recover() meets the same row at the start of every pass
        boxes["b"].add(compose(sender=f"ok{n + 2}@qq.com", subject=f"摄影比赛 {n + 2}", body=f"作品名称：{n + 2}"))
        assert all(r.failure is None for r in poll_all(config, store, context))
    assert store.db.execute("SELECT COUNT(*) FROM messages WHERE mailbox='b' AND status='parsed'").fetchone()[0] == 4
    bomb = store.db.execute("SELECT status, outcome, rules FROM messages WHERE mailbox='a'").fetchone()
    assert bomb[:2] == ("parsed", "needs_review") and "processing_failed" in bomb[2]  # set aside for staff


def test_a_staff_decision_made_while_a_correction_is_being_read_is_not_overwritten(tmp_path, monkeypatch):
    from inbox_daemon import staff
    box = mailbox.Maildir(tmp_path / "a", create=True)
    box.add(compose(sender="w1@qq.com", subject="摄影比赛", body="作品名称：晨光"))
    config = load_config(write_config(tmp_path, [{"name": "a", "source": "maildir", "path": str(tmp_path / "a"),
                                                  "contests": ["photo"]}]))
    store = Store.from_config(config)
    context = Context.from_config(config, load_rules(config.rules_dir), isolate=False)
    poll_all(config, store, context)
    receipt, first = store.db.execute("SELECT receipt, outcome FROM messages").fetchone()
    assert first == "rejected"
    box.add(compose(sender="w1@qq.com", subject=f"回复：{receipt} 补充", body="作品名称：晨光"))
    real, console = pipeline.decide_entry, []

    def decide_entry(analysis, history, *args, **kwargs):  # the console decides while the daemon judges
        if history.relation == "correction" and not console:
            def press():
                with Store.from_config(config, migrate=False) as other:
                    staff.override(other, receipt, "accept", "人工核对", actor="reviewer", context=context)
            console.append(threading.Thread(target=press))
            console[0].start()
            time.sleep(0.5)  # the override commits now, unless the judging holds the write lock
        return real(analysis, history, *args, **kwargs)

    monkeypatch.setattr(pipeline, "decide_entry", decide_entry)
    poll_all(config, store, context)
    console[0].join()
    assert store.register.entry(receipt)["outcome"] == "accepted"  # the staff decision stands on the entry
    replies = store.db.execute("SELECT outcome FROM outbox WHERE status <> 'suppressed' ORDER BY id").fetchall()
    assert replies[-1] == ("accepted",)  # the last word the contestant gets is the staff decision
