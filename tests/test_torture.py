"""Torture: 500 messages, the daemon SIGKILLed 20 times, Dovecot restarted twice, SMTP down for a stretch.

At the end every message has exactly one outcome, every judged entry got its
reply (one Message-ID each; a resend of the same bytes is possible only in the
window documented in send.py, and is counted), and the store is intact.
"""

from __future__ import annotations

import collections
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from conftest import PASSWORD_ENV, SMTP_PASSWORD_ENV, imap_mailbox, smtp_section, write_config

from inbox_daemon.demo import media
from inbox_daemon.config import load_config
from inbox_daemon.demo.samples import CST, compose
from inbox_daemon.send import drain
from inbox_daemon.store import Store


def mixed_messages(n: int) -> list[bytes]:
    jpeg = media.make_jpeg(width=200, height=150, seed=9)
    messages = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            raw = compose(sender=f"p{i}@qq.com", subject=f"摄影比赛 {i}", body=f"作品名称：照片{i}\n作者：职工{i}",
                          attachments=[(f"{i}.jpg", jpeg + i.to_bytes(2, "big"), "image/jpeg")], message_id=f"<t{i}@x>")
        elif kind == 1:
            raw = compose(sender=f"v{i}@163.com", subject=f"微视频比赛《{i}》", body=f"作品名称：{i}\n联系电话：138{i:08d}",
                          message_id=f"<t{i}@x>")
        elif kind == 2:
            raw = compose(sender=f"a{i}@qq.com", subject="自动回复: 微视频比赛", body="休假",
                          headers={"Auto-Submitted": "auto-replied"}, message_id=f"<t{i}@x>")
        elif kind == 3:
            raw = compose(sender=f"u{i}@sina.com", subject="你好", body=f"作品名称：作品{i}\n怎么报名？",
                          message_id=f"<t{i}@x>")
        else:
            raw = b"From: broken%d@qq.com\r\nSubject: =?gb2312?B?1dTUxg==?=\r\nContent-Type: multipart/mixed\r\n\r\n" % i
            raw += b"no boundary at all " * 20 + b"\r\n"
        messages.append(raw)
    return messages


@pytest.mark.slow
def test_torture(dovecot, imap_user, tmp_path, tls_cert, monkeypatch):
    from servers import SmtpSink

    user, password = imap_user
    messages = mixed_messages(500)
    dovecot.append(user, password, "INBOX", messages, when=datetime(2022, 8, 20, tzinfo=CST))
    on_server = {hashlib.sha256(m).hexdigest() for m in dovecot.bodies(user, password, "INBOX")}
    sink = SmtpSink(tls_cert)
    sink.start()
    path = write_config(tmp_path, [imap_mailbox(dovecot, user, done_folder="Done", batch_size=20)],
                        smtp=smtp_section(sink, daily_limit=100))
    env = {**os.environ, PASSWORD_ENV: password, SMTP_PASSWORD_ENV: SmtpSink.PASSWORD,
           "SSL_CERT_FILE": str(tls_cert[0])}
    monkeypatch.setenv(SMTP_PASSWORD_ENV, SmtpSink.PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    command = [sys.executable, "-m", "inbox_daemon", "--config", str(path), "poll", "--once"]
    rng = random.Random(2022)
    kills = 0
    watcher = Store.from_config(load_config(path))

    def progress() -> tuple[int, int]:
        if "outbox" not in watcher.db.table_names():
            return 0, 0
        return (watcher.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
                watcher.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetchone()[0])

    rounds, restarts = 0, set()
    try:
        while kills < 20 and rounds < 200:
            rounds += 1
            if kills >= 6 and kills < 12 and sink.controller is not None:
                sink.stop()  # SMTP down for a stretch of kills
            stored, sent = progress()
            if (kills >= 12 or stored >= 500) and sink.controller is None:
                sink.start()
            for at in (8, 15):
                if kills >= at and at not in restarts:
                    restarts.add(at)
                    dovecot.stop(kill=True)
                    dovecot.start()
            if stored >= 500:  # the clock moves on: replies waiting out a backoff are due again
                watcher.db.execute("UPDATE outbox SET next_attempt_at = ? WHERE status = 'queued'",
                                   [datetime.now().astimezone().isoformat(timespec="seconds")])
                watcher.db.conn.commit()
                if not watcher.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'queued'").fetchone()[0]:
                    break  # nothing left to kill
            # A random point of the pass: after a few more messages stored (or replies sent, once all are
            # stored), plus a little: mid-parse, mid-move, mid-SMTP dialogue.
            target = (stored + rng.randint(1, 15), sent) if stored < 500 else (stored, sent + rng.randint(1, 15))
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < deadline:
                now = progress()
                if now[0] >= target[0] and now[1] >= target[1]:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
        if sink.controller is None:
            sink.start()
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr
        config = load_config(path)
        store = Store.from_config(config)
        drain(store, config.smtp, now=datetime.now().astimezone() + timedelta(days=1))  # retries after the outage
    finally:
        sink.stop()
    assert kills >= 10, f"only {kills} kills landed"

    rows = list(store.db.query("SELECT id, raw_sha256, outcome, status, receipt FROM messages"))
    assert len(rows) == 500 and {r["raw_sha256"] for r in rows} == on_server
    assert all(r["status"] != "stored" for r in rows)
    assert all(store.blobs.verify("raw", r["raw_sha256"]) for r in rows)
    assert store.db.execute("SELECT COUNT(*) FROM locations WHERE done_at IS NULL").fetchone()[0] == 0
    assert dovecot.count(user, password, "INBOX") == 0 and dovecot.count(user, password, "Done") == 500
    outcomes = collections.Counter(r["outcome"] for r in rows)
    assert outcomes["ignored"] == 100 and sum(outcomes.values()) == 500

    answered = [r for r in rows if r["outcome"] != "ignored"]
    replies = {r["message"]: r for r in store.db.query("SELECT message, status, message_id FROM outbox")}
    assert set(replies) == {r["id"] for r in answered}  # exactly one outbox row per judged message
    # The broken messages say nothing (not a submission): recorded, shown to staff, never answered.
    statuses = collections.Counter(r["status"] for r in replies.values())
    assert statuses == {"sent": 300, "suppressed": 100}, statuses
    delivered = collections.Counter(m["Message-ID"] for m in sink.bodies())
    assert set(delivered) == {r["message_id"] for r in replies.values() if r["status"] == "sent"}
    resent = sum(n - 1 for n in delivered.values())
    assert resent <= kills  # each kill can land in the 250-to-commit window at most once
    print(f"torture: kills={kills} outcomes={dict(outcomes)} replies={len(delivered)} resent_same_bytes={resent}")
