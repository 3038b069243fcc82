"""SIGKILL the daemon at random points of a pass, ten times over: every message recorded exactly once."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import PASSWORD_ENV, imap_mailbox, write_config

from inbox_daemon.config import load_config
from inbox_daemon.demo.samples import compose
from inbox_daemon.store import Store


def test_sigkill_during_passes_loses_and_duplicates_nothing(dovecot, imap_user, tmp_path):
    user, password = imap_user
    messages = [compose(sender=f"w{i}@163.com", subject=f"摄影比赛 第{i}号", body=f"作品名称：第{i}号\n" * 20,
                        message_id=f"<crash-{i}@test.example>") for i in range(300)]
    dovecot.append(user, password, "INBOX", messages)
    on_server = {hashlib.sha256(m).hexdigest() for m in dovecot.bodies(user, password, "INBOX")}
    assert len(on_server) == 300
    path = write_config(tmp_path, [imap_mailbox(dovecot, user, done_folder="已处理", batch_size=20)])
    command = [sys.executable, "-m", "inbox_daemon", "--config", str(path), "poll", "--once"]
    env = {**os.environ, PASSWORD_ENV: password}
    rng = random.Random(20221016)
    store = Store.from_config(load_config(path))

    def count() -> int:
        return store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    kills = 0
    while kills < 10:
        target = count() + rng.randint(1, 25)  # a random point of the pass: after that many commits ...
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while count() < target and process.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.03))  # ... plus a little: mid-parse, mid-move, mid-commit
        if process.poll() is not None:
            break  # the pass finished before we could kill it
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills == 10, f"only {kills} kills landed before the pass finished"

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr

    rows = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT raw_sha256), COUNT(DISTINCT message_id) "
                            "FROM messages").fetchone()
    assert rows == (300, 300, 300)
    assert store.db.execute("SELECT COUNT(*) FROM messages WHERE status = 'stored'").fetchone()[0] == 0
    assert store.db.execute("SELECT COUNT(*) FROM locations WHERE done_at IS NULL").fetchone()[0] == 0
    # Nothing lost on the server side either: all 300 moved, none twice, none left behind.
    moved = dovecot.bodies(user, password, "已处理")
    assert dovecot.count(user, password, "INBOX") == 0
    assert len(moved) == 300
    assert {hashlib.sha256(m).hexdigest() for m in moved} == on_server
    # And the store holds exactly those bytes, intact.
    stored_hashes = {row["raw_sha256"] for row in store.db.query("SELECT raw_sha256 FROM messages")}
    assert stored_hashes == on_server
    assert all(store.blobs.verify("raw", sha) for sha in stored_hashes)


def test_a_full_disk_stops_the_pass_and_leaves_mail_on_the_server(dovecot, imap_user, tmp_path):
    """The daemon runs with a 3 MB file-size limit (EFBIG, as on a full disk): it must not mark mail done."""
    import resource

    user, password = imap_user
    small = [compose(sender=f"s{i}@qq.com", subject=f"摄影 {i}", body="作品名称：小") for i in range(2)]
    big = compose(sender="big@qq.com", subject="微视频", body="作品名称：大",
                  attachments=[("big.mp4", os.urandom(4 * 1024 * 1024), "video/mp4")])
    dovecot.append(user, password, "INBOX", small + [big])
    path = write_config(tmp_path, [imap_mailbox(dovecot, user, done_folder="Done")])
    command = [sys.executable, "-m", "inbox_daemon", "--config", str(path), "poll", "--once"]
    env = {**os.environ, PASSWORD_ENV: password}

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (3 * 1024 * 1024, 3 * 1024 * 1024))

    full = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size)
    assert full.returncode == 1
    assert "磁盘已满" in full.stderr
    assert dovecot.count(user, password, "INBOX") == 3  # the batch stopped before "done": all still there
    store = Store.from_config(load_config(path))
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2  # the two that fitted are kept
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert store.db.execute("SELECT COUNT(*), COUNT(DISTINCT raw_sha256) FROM messages").fetchone() == (3, 3)
    assert dovecot.count(user, password, "INBOX") == 0 and dovecot.count(user, password, "Done") == 3


def test_temp_files_of_a_killed_writer_are_cleared_but_not_one_being_written(tmp_path):
    from inbox_daemon.blobs import BlobStore

    blobs = BlobStore(tmp_path / "files")
    sha, size = blobs.put_chunks("raw", iter([b"From: a@qq.com\r\n", b"\r\nbody\r\n"]))
    assert size == 24 and blobs.verify("raw", sha)
    spool = tmp_path / "files" / "tmp"
    assert list(spool.iterdir()) == []  # renamed into place, nothing left behind
    stale, fresh = spool / "raw-stale", spool / "att-fresh"
    stale.write_bytes(b"half a message")
    fresh.write_bytes(b"being written")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    blobs.clear_spool()
    assert not stale.exists() and fresh.exists()

    def failing():
        yield b"first piece"
        raise ConnectionResetError("server went away")
    with pytest.raises(ConnectionResetError):  # the producer's error passes through, not as a StoreError
        blobs.put_chunks("raw", failing())
    assert sorted(p.name for p in spool.iterdir()) == ["att-fresh"]
