"""The faster pass keeps the guarantee: every raw file is durable before its row is committed, every
commit (the batch's are not fsynced one by one) is durable before the server hears "done", and the
pipelined reader answers each message."""

from __future__ import annotations

import os
import threading

import pytest
from conftest import RULES, imap_mailbox

from inbox_daemon import ingest
from inbox_daemon.blobs import BlobStore
from inbox_daemon.demo.samples import compose
from inbox_daemon.imap_source import ImapSource
from inbox_daemon.ingest import poll_all
from inbox_daemon.rules import load_rules
from inbox_daemon.store import Store
from inbox_daemon.worker import Worker


def test_the_server_hears_done_only_after_raw_files_and_commits_are_on_disk(dovecot, imap_user, config_for,
                                                                           monkeypatch):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", [compose(sender=f"w{i}@qq.com", subject=f"微视频比赛《片{i}》",
                                                     body=f"作品名称：片{i}\n作者姓名：职工{i}\n") for i in range(7)])
    config = config_for([imap_mailbox(dovecot, user, batch_size=3)])
    store = Store.from_config(config)
    events: list[tuple] = []
    lock = threading.Lock()

    def log(*event):
        with lock:
            events.append(event)

    real_fsync, real_replace = os.fsync, os.replace
    real_record_all, real_mark_done = ingest._record_all, ImapSource.mark_done

    def fsync(fd):
        real_fsync(fd)
        log("fsync", os.readlink(f"/proc/self/fd/{fd}"))

    def replace(source, target):
        real_replace(source, target)
        log("rename", str(source), str(target))

    def record_all(store_, fetched, context, result):
        fresh = real_record_all(store_, fetched, context, result)
        log("committed", *[raw.sha256 for raw in fetched])
        return fresh

    def mark_done(self, uids, journal=None):
        log("done", *uids)
        return real_mark_done(self, uids, journal)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(ingest, "_record_all", record_all)
    monkeypatch.setattr(ImapSource, "mark_done", mark_done)
    store.db.conn.set_trace_callback(lambda sql: log("sql", sql) if sql.strip().upper() == "COMMIT" else None)
    [result] = poll_all(config, store)
    store.db.conn.set_trace_callback(None)

    assert result.new == 7 and result.failure is None
    committed = [i for i, e in enumerate(events) if e[0] == "committed"]
    assert len(committed) == 3  # batches of 3, 3, 1
    for index in committed:
        for sha in events[index][1:]:  # each raw file and its directory were fsynced before its row was committed
            [(at, temp, path)] = [(i, e[1], e[2]) for i, e in enumerate(events[:index])
                                  if e[0] == "rename" and e[2].endswith(sha)]
            assert ("fsync", temp) in events[:at], sha
            assert ("fsync", os.path.dirname(path)) in events[at:index], sha
    dones = [i for i, e in enumerate(events) if e[0] == "done"]
    assert len(dones) == 3
    for index in dones:  # the WAL was fsynced after the last commit before each "done"
        last_commit = max(i for i, e in enumerate(events[:index]) if e[0] == "sql")
        assert any(e[0] == "fsync" and e[1].endswith("-wal") for e in events[last_commit:index]), events[:index]
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again after the pass
    assert dovecot.count(user, password, "INBOX") == 7  # flagged, not moved: no done folder here


@pytest.mark.integration  # a child process reads the mail
def test_the_pipelined_reader_answers_each_message_even_out_of_order(tmp_path):
    blobs = BlobStore(tmp_path)
    shas = [blobs.put("raw", compose(sender=f"r{i}@qq.com", subject=f"摄影比赛《{i}》", body=f"作品名称：{i}\n"))
            for i in range(3)]
    worker = Worker(tmp_path, load_rules(RULES))
    try:
        for sha in shas:
            worker.prefetch(sha)
        assert list(worker.sent) == shas[:Worker.AHEAD]  # never more than AHEAD reads queued
        assert worker.analyse(shas[0]).parsed.subject == "摄影比赛《0》"
        assert list(worker.sent) == [shas[1]]  # the prefetched answer was taken; the next read still queued
        worker.prefetch(shas[0])
        assert worker.analyse(shas[1]).parsed.subject == "摄影比赛《1》"
        assert list(worker.sent) == [shas[0]]
        assert worker.analyse(shas[2]).parsed.subject == "摄影比赛《2》"  # shas[0]'s answer, unasked, is dropped
        assert list(worker.sent) == []
        assert worker.analyse(shas[0]).parsed.subject == "摄影比赛《0》"  # read again when asked for
        worker.prefetch(shas[2])
        worker.prefetch(shas[2])  # asked twice, read once
        assert list(worker.sent) == [shas[2]]
        assert worker.analyse(shas[2]).parsed.sender == "r2@qq.com"
    finally:
        worker.stop()
