"""Several writers on one database, as an operator runs them: the daemon's jobs, `poll --once`, a requeue,
a staff command, all at once. Each reply is sent once, no message becomes `error` because the
database was busy, no scheduled job is lost, and a refused login is not hammered."""

from __future__ import annotations

import mailbox
import os
import re
import signal
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import PASSWORD_ENV, SMTP_PASSWORD_ENV, imap_mailbox, smtp_section, write_config

from inbox_daemon.config import load_config
from inbox_daemon.demo.media import make_jpeg
from inbox_daemon.demo.samples import compose
from inbox_daemon.send import drain
from inbox_daemon.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _queue(store: Store, count: int, tag: str) -> None:
    for i in range(count):
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = "robot@contest.example.org", f"{tag}{i}@qq.com", f"回执 {i}"
        email.set_content("您好")
        store.outbox.enqueue({"message": None, "kind": "accepted", "outcome": "accepted", "to_addr": f"{tag}{i}@qq.com",
                              "raw": email.as_bytes(), "status": "queued", "next_attempt_at": "2000-01-01T00:00:00+00:00"})


def _slow_sink(tls_cert):
    from servers import SmtpSink
    sink = SmtpSink(tls_cert, delay_rcpt=0.01)
    sink.start()
    return sink


@pytest.mark.slow
def test_two_drains_in_threads_send_each_reply_once_twenty_times(tmp_path, tls_cert, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    monkeypatch.setenv(SMTP_PASSWORD_ENV, "smtp-secret")
    sink = _slow_sink(tls_cert)
    try:
        config = load_config(write_config(tmp_path, [{"name": "d", "source": "maildir", "path": str(tmp_path / "m"),
                                                      "contests": ["photo"]}], smtp=smtp_section(sink)))
        for run in range(20):
            sink.messages.clear()
            setup = Store.from_config(config)
            _queue(setup, 50, f"r{run}-")
            stores = [Store.from_config(config) for _ in range(2)]
            threads = [threading.Thread(target=drain, args=(s, config.smtp)) for s in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            recipients = [to for _, tos, _ in sink.messages for to in tos]
            assert sorted(recipients) == sorted(f"r{run}-{i}@qq.com" for i in range(50)), f"run {run}"
            for store in (setup, *stores):
                store.close()
    finally:
        sink.stop()


DRAIN = "import sys; from inbox_daemon.config import load_config; from inbox_daemon.store import Store; " \
        "from inbox_daemon.send import drain; c = load_config(sys.argv[1]); drain(Store.from_config(c), c.smtp)"


@pytest.mark.slow
def test_two_drains_in_processes_send_each_reply_once_twenty_times(tmp_path, tls_cert):
    sink = _slow_sink(tls_cert)
    env = {**os.environ, "SSL_CERT_FILE": str(tls_cert[0]), SMTP_PASSWORD_ENV: "smtp-secret"}
    try:
        path = write_config(tmp_path, [{"name": "d", "source": "maildir", "path": str(tmp_path / "m"),
                                        "contests": ["photo"]}], smtp=smtp_section(sink))
        store = Store.from_config(load_config(path))
        for run in range(20):
            sink.messages.clear()
            _queue(store, 50, f"p{run}-")
            drains = [subprocess.Popen([sys.executable, "-c", DRAIN, str(path)], env=env, stderr=subprocess.PIPE)
                      for _ in range(2)]
            for process in drains:
                assert process.wait(60) == 0, process.stderr.read().decode()
            recipients = [to for _, tos, _ in sink.messages for to in tos]
            assert sorted(recipients) == sorted(f"p{run}-{i}@qq.com" for i in range(50)), f"run {run}"
    finally:
        sink.stop()


def _entry(i: int, small_photo: bytes) -> bytes:
    """Realistic entries that end rejected or needing review, so that requeues have work to do."""
    if i % 3 == 0:
        return compose(sender=f"w{i}@qq.com", subject=f"摄影比赛 作品{i}", body=f"作品名称：车间{i}\n作者：工人{i}\n",
                       attachments=[(f"车间{i}.jpg", small_photo + bytes(i), "image/jpeg")])
    if i % 3 == 1:
        return compose(sender=f"w{i}@163.com", subject=f"微视频比赛 作品{i}", body=f"作品名称：奋斗{i}\n")
    return compose(sender=f"w{i}@126.com", subject=f"投稿{i}", body=f"作品名称：作品{i}\n您好，请问投哪个比赛？")


EVENTS = ("import sys, time; from inbox_daemon.config import load_config; from inbox_daemon.store import Store; "
          "s = Store.from_config(load_config(sys.argv[1])); end = time.monotonic() + float(sys.argv[2]); n = 0\n"
          "while time.monotonic() < end:\n"
          "    s.register.log_event(None, 'tester', 'noise', {'n': n}); n += 1\n"
          "print(n)")


@pytest.mark.slow
def test_run_polls_requeues_and_a_busy_writer_for_two_minutes(tmp_path, tls_cert):
    """`run` (2 s polls, replies through a slow SMTP server), a second `poll --once` loop, a
    `requeue --outcome rejected` loop and a process writing events as fast as it can, for two minutes,
    while new mail keeps arriving. Then: no message is `error` or unjudged, every contestant got
    exactly one reply, and no job of `run` failed."""
    from servers import SmtpSink

    sink = SmtpSink(tls_cert, delay_rcpt=0.3)  # 0.3 s per message, as the issue measured
    sink.start()
    box_path = tmp_path / "Maildir"
    box = mailbox.Maildir(box_path, create=True)
    path = write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(box_path),
                                    "contests": ["micro_video", "photo", "reading_team"]}],
                        smtp=smtp_section(sink), schedule={"poll_every": "2s", "digest_at": "03:00"})
    env = {**os.environ, "SSL_CERT_FILE": str(tls_cert[0]), SMTP_PASSWORD_ENV: "smtp-secret"}
    cli = [sys.executable, "-m", "inbox_daemon", "--config", str(path)]
    small = make_jpeg(size=300_000, seed=3)
    for i in range(20):
        box.add(_entry(i, small))
    duration = 120
    daemon_log = open(tmp_path / "run.log", "w")
    daemon = subprocess.Popen([*cli, "-v", "run"], env=env, stderr=daemon_log, stdout=subprocess.DEVNULL)
    stop = time.monotonic() + duration
    failures: list[str] = []

    def loop(args: list[str]) -> None:
        while time.monotonic() < stop:
            done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=300)
            if done.returncode not in (0, 1) or "Traceback" in done.stderr:
                failures.append(f"{args}: {done.returncode} {done.stderr[-2000:]}")

    events = subprocess.Popen([sys.executable, "-c", EVENTS, str(path), str(duration)], env=env,
                              stdout=subprocess.PIPE, text=True)
    loops = [threading.Thread(target=loop, args=(args,)) for args in (["poll", "--once"],
                                                                       ["requeue", "--outcome", "rejected"])]
    for thread in loops:
        thread.start()
    i = 20
    while time.monotonic() < stop:  # new mail keeps coming
        box.add(_entry(i, small))
        i += 1
        time.sleep(1.5)
    for thread in loops:
        thread.join(300)
    written = int(events.communicate(timeout=60)[0])
    final = subprocess.run([*cli, "poll", "--once"], env=env, capture_output=True, text=True, timeout=300)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)
    daemon_log.close()
    sink.stop()
    log = (tmp_path / "run.log").read_text(errors="replace")
    store = Store.from_config(load_config(path))
    assert failures == []
    assert final.returncode == 0, final.stderr
    assert written > 1000  # the third writer really was busy
    outcomes = dict(store.db.execute("SELECT outcome, COUNT(*) FROM messages GROUP BY outcome").fetchall())
    assert sum(outcomes.values()) == i and "error" not in outcomes and "received" not in outcomes, outcomes
    assert not re.findall(r".*(?:failed(?!=0)|Traceback|database is locked).*", log)
    # The poll job kept running all along: a pass of its own, or it found a `poll --once` pass under way
    # (on a loaded machine a pass can take longer than the 2 s interval; the scheduler then skips a turn).
    assert log.count("pass done") >= 1
    assert log.count("pass done") + log.count("another pass is running") >= 10
    recipients = [to for _, tos, _ in sink.messages for to in tos]
    answered = store.db.execute("SELECT COUNT(*) FROM outbox WHERE status='sent'").fetchone()[0]
    print(f"two minutes: {i} messages, outcomes {outcomes}, {written} events by the third writer, "
          f"{log.count('pass done')} passes by run, {len(recipients)} replies for {answered} sent rows")
    assert len(recipients) == len(set(recipients)) == answered == i  # one reply each, none twice


@pytest.mark.slow
def test_the_first_run_on_a_fresh_database_loses_no_job(tmp_path):
    """Five first starts: the schema is made once at start-up, so no job meets a half-made database."""
    small = make_jpeg(size=300_000, seed=4)
    for start in range(5):
        folder = tmp_path / f"start{start}"
        folder.mkdir()
        box = mailbox.Maildir(folder / "Maildir", create=True)
        for i in range(3):
            box.add(_entry(i, small))
        path = write_config(folder, [{"name": "local", "source": "maildir", "path": str(folder / "Maildir"),
                                      "contests": ["photo", "micro_video"]}],
                            schedule={"poll_every": "1s", "digest_at": "03:00"})
        process = subprocess.Popen([sys.executable, "-m", "inbox_daemon", "-v", "--config", str(path), "run"],
                                   stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        time.sleep(4)
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=60)
        assert "pass done" in log and not re.search(r"failed(?!=0)|Traceback|locked", log), log
        store = Store.from_config(load_config(path))
        assert store.db.execute("SELECT COUNT(*) FROM messages WHERE status = 'parsed'").fetchone()[0] == 3


@pytest.mark.slow
def test_a_wrong_password_under_run_is_tried_once_per_poll_and_reported_with_the_servers_words(
        dovecot, imap_user, tmp_path):
    user, password = imap_user
    path = write_config(tmp_path, [imap_mailbox(dovecot, user, password_env="WRONG_IMAP_PASSWORD")],
                        schedule={"poll_every": "15s", "digest_at": "03:00"})
    before = dovecot.log().count(f"user=<{user}>")
    process = subprocess.Popen([sys.executable, "-m", "inbox_daemon", "-v", "--config", str(path), "run"],
                               env={**os.environ, "WRONG_IMAP_PASSWORD": "not-the-授权码", PASSWORD_ENV: password},
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    time.sleep(120)
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=60)
    passes = log.count("pass done")
    refused = len(re.findall(r"pass failed: .*登录被拒绝.*AUTHENTICATIONFAILED", log))
    logins = dovecot.log().count(f"user=<{user}>") - before
    print(f"wrong password for 120 s: {passes} passes, {refused} refusals reported, {logins} LOGINs at the server")
    assert 7 <= passes <= 10 and refused == passes  # reported once per pass, with the server's words
    assert 0 < logins <= passes + 1, (logins, passes)  # one LOGIN per poll; the IDLE watcher tried once, then stopped
    assert "IDLE watcher stopped" in log
