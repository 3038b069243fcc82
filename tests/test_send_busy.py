"""A reply the server accepted is recorded as sent even when the database is busy just then."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

from inbox_daemon import db as database
from inbox_daemon.config import SmtpConfig
from inbox_daemon.send import drain
from inbox_daemon.store import Store


class LockingTransport:
    """Accepts every reply; while the first is 'on the wire', another process starts a long write."""

    def __init__(self, path):
        self.sends = 0
        self.other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def send(self, outbox_id, from_addr, to_addr, raw):
        self.sends += 1
        if self.sends == 1:
            self.other.execute("BEGIN IMMEDIATE")
            threading.Timer(2.0, lambda: self.other.execute("ROLLBACK")).start()


def test_a_busy_database_after_the_servers_250_does_not_send_the_reply_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(database, "BUSY_RETRIES", (0.05,))
    store = Store(tmp_path / "inbox.db", tmp_path / "files")
    store.outbox.enqueue({"message": None, "kind": "accepted", "outcome": "accepted", "to_addr": "w@qq.com",
                          "raw": b"Subject: x\r\n\r\nhi\r\n", "status": "queued",
                          "next_attempt_at": "2000-01-01T00:00:00+00:00"})
    smtp = SmtpConfig.__new__(SmtpConfig)
    for key, value in {"transport": "smtp", "from_addr": "x@y", "timeout": 30, "max_attempts": 5}.items():
        object.__setattr__(smtp, key, value)
    transport = LockingTransport(tmp_path / "inbox.db")
    assert drain(store, smtp, transport=transport).sent == 1
    assert store.db.execute("SELECT status FROM outbox").fetchone()[0] == "sent"
    later = datetime.now(timezone.utc) + timedelta(hours=1)  # long after any claim would have run out
    assert drain(store, smtp, now=later, transport=transport).sent == 0 and transport.sends == 1
