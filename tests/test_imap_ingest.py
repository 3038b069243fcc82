"""Ingest against a real Dovecot: exactly once across polls, re-syncs, server crashes."""

from __future__ import annotations

import hashlib
import re
import threading
import time

import pytest
from conftest import imap_mailbox

from inbox_daemon.errors import LockError
from inbox_daemon.ingest import pass_lock, poll_all
from inbox_daemon.demo.samples import compose
from inbox_daemon.store import Store


def entries(n: int, tag: str = "m") -> list[bytes]:
    return [compose(sender=f"worker{i}@qq.com", sender_name=f"职工{i}", subject=f"微视频比赛《作品{tag}{i}》",
                    body=f"作品名称：作品{tag}{i}\n作者姓名：职工{i}\n联系电话：1387388{i:04d}\n",
                    charset="gbk", label="gb2312", message_id=f"<{tag}-{i}@test.example>")
            for i in range(n)]


def stored(config) -> Store:
    return Store.from_config(config)


def test_two_mailboxes_with_chinese_folder_names(dovecot, imap_user, config_for, monkeypatch):
    user_a, password = imap_user
    user_b, password_b = dovecot.add_user()
    assert password == password_b  # one env var serves both test users
    dovecot.append(user_a, password, "INBOX", entries(3, "a"))
    dovecot.append(user_b, password, "投稿/微视频", entries(4, "b"))
    config = config_for([
        imap_mailbox(dovecot, user_a, name="committee", done_folder="已登记/2022"),
        imap_mailbox(dovecot, user_b, name="publicity", folder="投稿/微视频"),
    ])
    store = stored(config)
    results = poll_all(config, store)

    assert [(r.mailbox, r.new, r.failure) for r in results] == [("committee", 3, None), ("publicity", 4, None)]
    counts = dict(store.db.execute("SELECT mailbox, COUNT(*) FROM messages GROUP BY mailbox").fetchall())
    assert counts == {"committee": 3, "publicity": 4}
    subjects = {r["subject"] for r in store.register.rows()}
    assert "微视频比赛《作品a0》" in subjects and "微视频比赛《作品b3》" in subjects
    # committee: moved into the (created) Chinese done folder; publicity: left in place, flagged \Seen.
    assert dovecot.count(user_a, password, "INBOX") == 0
    assert dovecot.count(user_a, password, "已登记/2022") == 3
    with dovecot.client(user_b, password) as client:
        client.select_folder("投稿/微视频", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert len(flags) == 4 and all(b"\\Seen" in f and b"$Ingested" in f for f in flags.values())
    # The client identified itself with the IMAP ID command after login (163 Mail requires it).
    assert any(f"imap({user_a})" in line and "ID sent: name=inbox-daemon" in line
               for line in dovecot.log().splitlines())
    assert poll_all(config, store)[1].new == 0


def test_200_messages_exactly_once_across_two_polls(dovecot, imap_user, config_for):
    user, password = imap_user
    config = config_for([imap_mailbox(dovecot, user, done_folder="Done", batch_size=25)])
    dovecot.append(user, password, "INBOX", entries(120, "x"))
    store = stored(config)
    first = poll_all(config, store)[0]
    dovecot.append(user, password, "INBOX", entries(200, "x")[120:])
    second = poll_all(config, store)[0]
    third = poll_all(config, store)[0]

    assert (first.new, second.new, third.new, third.fetched) == (120, 80, 0, 0)
    assert store.db.execute("SELECT COUNT(*), COUNT(DISTINCT raw_sha256) FROM messages").fetchone() == (200, 200)
    assert store.db.execute("SELECT COUNT(*) FROM locations WHERE done_at IS NULL").fetchone()[0] == 0
    assert dovecot.count(user, password, "INBOX") == 0
    assert dovecot.count(user, password, "Done") == 200
    assert {r["outcome"] for r in store.register.rows()} == {"rejected"}  # no video attached: attachment_missing
    assert all("attachment_missing" in r["rules"] for r in store.register.rows())


def test_uidvalidity_reset_creates_no_duplicates(dovecot, imap_user, config_for):
    user, password = imap_user
    messages = entries(6, "v")
    dovecot.append(user, password, "比赛", messages)
    config = config_for([imap_mailbox(dovecot, user, folder="比赛")])
    store = stored(config)
    assert poll_all(config, store)[0].new == 6
    old_validity = store.db.execute("SELECT DISTINCT uidvalidity FROM locations").fetchall()

    with dovecot.client(user, password) as client:  # the admin deletes and recreates the folder
        client.delete_folder("比赛")
    dovecot.append(user, password, "比赛", messages + entries(8, "v")[6:])
    result = poll_all(config, store)[0]

    assert (result.new, result.known) == (2, 6)
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 8
    validities = store.db.execute("SELECT DISTINCT uidvalidity FROM locations").fetchall()
    assert len(validities) == 2 and old_validity[0] in validities
    assert poll_all(config, store)[0].new == 0


def test_resync_matches_by_hash_when_message_id_is_missing(dovecot, imap_user, config_for):
    user, password = imap_user
    bare = [b"From: a@qq.com\r\nSubject: no id %d\r\n\r\nbody\r\n" % i for i in range(3)]
    dovecot.append(user, password, "Box", bare)
    config = config_for([imap_mailbox(dovecot, user, folder="Box")])
    store = stored(config)
    poll_all(config, store)
    with dovecot.client(user, password) as client:
        client.delete_folder("Box")
    dovecot.append(user, password, "Box", bare)
    result = poll_all(config, store)[0]
    assert (result.new, result.fetched, result.known) == (0, 3, 3)
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 3


def test_resync_downloads_a_different_message_that_shares_a_message_id_and_size(dovecot, imap_user, config_for):
    """Only Message-ID, size and receive time together count as 'already held'; anything less certain is
    downloaded (a message wrongly taken as held would be marked done unread)."""
    from datetime import datetime, timezone
    user, password = imap_user
    first = b"From: a@qq.com\r\nMessage-ID: <same@qq.com>\r\nSubject: photo\r\n\r\nfirst entry\r\n"
    other = b"From: b@qq.com\r\nMessage-ID: <same@qq.com>\r\nSubject: photo\r\n\r\nother entry\r\n"
    assert len(first) == len(other)
    dovecot.append(user, password, "Box", [first], when=datetime(2022, 8, 20, 10, 0, tzinfo=timezone.utc))
    config = config_for([imap_mailbox(dovecot, user, folder="Box")])
    store = stored(config)
    poll_all(config, store)
    with dovecot.client(user, password) as client:
        client.delete_folder("Box")
    dovecot.append(user, password, "Box", [first], when=datetime(2022, 8, 20, 10, 0, tzinfo=timezone.utc))
    dovecot.append(user, password, "Box", [other], when=datetime(2022, 8, 21, 9, 0, tzinfo=timezone.utc))
    result = poll_all(config, store)[0]
    assert (result.new, result.known) == (1, 1)
    senders = [row[0] for row in store.db.execute("SELECT sender FROM messages ORDER BY id")]
    assert senders == ["a@qq.com", "b@qq.com"]


def test_server_killed_mid_pass_loses_nothing(dovecot, imap_user, config_for):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", entries(150, "k"))
    config = config_for([imap_mailbox(dovecot, user, done_folder="Done", batch_size=10)])
    store = stored(config)
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(results=poll_all(config, Store.from_config(config))))
    worker.start()
    deadline = time.monotonic() + 60
    while store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] < 30:
        assert time.monotonic() < deadline, "the pass never got going"
        time.sleep(0.005)
    dovecot.stop(kill=True)
    time.sleep(1.0)
    dovecot.start()
    worker.join(90)

    assert not worker.is_alive()
    assert outcome["results"][0].failure is None
    if store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] < 150:
        poll_all(config, store)  # a pass cut off between batches finishes on the next one
    assert store.db.execute("SELECT COUNT(*), COUNT(DISTINCT message_id) FROM messages").fetchone() == (150, 150)
    assert dovecot.count(user, password, "INBOX") == 0
    assert dovecot.count(user, password, "Done") == 150


def test_bad_password_is_reported_and_other_mailboxes_go_on(dovecot, imap_user, config_for, monkeypatch):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", entries(2, "p"))
    monkeypatch.setenv("WRONG_PASSWORD", "nope")
    config = config_for([imap_mailbox(dovecot, user, name="broken", password_env="WRONG_PASSWORD"),
                         imap_mailbox(dovecot, user, name="good")])
    results = poll_all(config, stored(config))
    assert "登录被拒绝" in results[0].failure and "AUTHENTICATIONFAILED" in results[0].failure  # the server's words
    assert results[1].new == 2


def test_one_pass_at_a_time(dovecot, imap_user, config_for):
    user, _ = imap_user
    config = config_for([imap_mailbox(dovecot, user)])
    with pass_lock(config.storage.lock_path):
        with pytest.raises(LockError, match="另一个轮询正在运行"):
            poll_all(config, stored(config))


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls_with_certificate_verification(dovecot, imap_user, config_for, monkeypatch, security):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", entries(2, security))
    port = dovecot.tls_port if security == "tls" else dovecot.port
    config = config_for([imap_mailbox(dovecot, user, host="localhost", security=security, port=port)])
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")  # an untrusted certificate is refused ...
    [refused] = poll_all(config, stored(config))
    assert refused.failure and "证书不受信任" in refused.failure and "self-signed" in refused.failure
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.root / "cert.pem"))  # ... the test CA is accepted
    [result] = poll_all(config, stored(config))
    assert (result.failure, result.new) == (None, 2)
    logins = [line for line in dovecot.log().splitlines() if f"Login: user=<{user}>" in line]
    assert ", TLS" in logins[-1]  # the daemon's login (the last one) was encrypted


def test_a_move_interrupted_after_the_copy_is_finished_without_duplicates(dovecot, imap_user, config_for):
    """What Dovecot leaves when it dies mid-MOVE: the copy landed, the original is still there."""
    from inbox_daemon.imap_source import ImapSource, MemoryJournal

    user, password = imap_user
    dovecot.append(user, password, "INBOX", entries(5, "i"))
    with dovecot.client(user, password) as client:
        client.create_folder("Done")
        client.select_folder("INBOX")
        client.copy(client.search("ALL")[:3], "Done")  # the first three were copied, then the crash
    config = config_for([imap_mailbox(dovecot, user, done_folder="Done")])
    bodies = dovecot.bodies(user, password, "INBOX")

    class Journal(MemoryJournal):  # the register's view after the crash: all five were being moved
        def identity(self, uid):
            body = bodies[int(uid) - 1]
            return hashlib.sha256(body).hexdigest(), len(body), ""

    with ImapSource(config.mailboxes[0]) as source:
        uids = source.list_uids(0)
        journal = Journal()
        journal.record({uid: ("copying", None) for uid in uids})
        source.mark_done(uids, journal)
    assert dovecot.count(user, password, "INBOX") == 0
    moved = dovecot.bodies(user, password, "Done")
    assert len(moved) == 5 and len(set(moved)) == 5


def test_servers_without_move_get_copy_deleted_uid_expunge(dovecot, imap_user, config_for, monkeypatch):
    """QQ Mail has no MOVE: the same result through COPY, \\Deleted and UID EXPUNGE."""
    from imapclient import IMAPClient

    user, password = imap_user
    config = config_for([imap_mailbox(dovecot, user, done_folder="已登记")])
    store = stored(config)
    # Someone else's message, marked \\Deleted but not expunged, sits in the folder below our high-water mark.
    [response] = dovecot.append(user, password, "INBOX", [b"From: x@qq.com\r\nSubject: keep\r\n\r\nx\r\n"])
    validity, uid = (int(n) for n in re.search(rb"APPENDUID (\d+) (\d+)", response).groups())
    with dovecot.client(user, password) as client:
        client.select_folder("INBOX")
        client.add_flags([uid], [b"\\Deleted"])
    store.register.set_highest_uid(user, "INBOX", validity, uid)
    dovecot.append(user, password, "INBOX", entries(4, "q"))

    real = IMAPClient.has_capability
    monkeypatch.setattr(IMAPClient, "has_capability", lambda self, cap: cap.upper() != "MOVE" and real(self, cap))
    assert poll_all(config, store)[0].new == 4
    assert dovecot.count(user, password, "已登记") == 4
    # UID EXPUNGE removed only what we copied; a plain EXPUNGE would have taken the other one too.
    assert dovecot.count(user, password, "INBOX") == 1


def test_large_messages_arrive_in_pieces_and_groups_stay_within_their_byte_budget(dovecot, imap_user, config_for,
                                                                                  monkeypatch):
    """Scaled down (a piece of 64 KB, a 'large' message over 200 KB): the bytes stored are the bytes sent."""
    import hashlib
    import os

    from inbox_daemon import imap_source

    monkeypatch.setattr(imap_source, "STREAM_OVER", 200_000)
    monkeypatch.setattr(imap_source, "PIECE", 65_536)
    monkeypatch.setattr(imap_source, "BATCH_BYTES", 300_000)
    user, password = imap_user
    sizes = [1_000, 150_000, 150_000, 1_000, 700_000, 1_000]
    messages = [compose(sender=f"s{i}@qq.com", subject=f"微视频《片{i}》", body="作品名称：片",
                        attachments=[(f"{i}.mp4", os.urandom(size), "video/mp4")]) for i, size in enumerate(sizes)]
    head = b"From: exact@qq.com\r\nSubject: exact\r\n\r\n"
    lines = (b"A" * 78 + b"\r\n") * ((65_536 * 5 - len(head)) // 80)
    messages.append(head + lines + b"B" * (65_536 * 5 - len(head) - len(lines) - 2) + b"\r\n")  # ends with a piece
    assert len(messages[-1]) == 65_536 * 5
    dovecot.append(user, password, "INBOX", messages)
    on_server = [hashlib.sha256(m).hexdigest() for m in dovecot.bodies(user, password, "INBOX")]  # CRLF as served
    fetches = []
    real_fetch = imap_source.IMAPClient.fetch

    def counting_fetch(self, messages, data, *args, **kwargs):
        fetches.append((len(messages), tuple(data)))
        return real_fetch(self, messages, data, *args, **kwargs)
    monkeypatch.setattr(imap_source.IMAPClient, "fetch", counting_fetch)
    config = config_for([imap_mailbox(dovecot, user, done_folder="Done")])
    store = stored(config)
    [result] = poll_all(config, store)

    assert (result.new, result.errors) == (7, 0)
    rows = store.db.execute("SELECT uid, raw_sha256, raw_size FROM messages ORDER BY CAST(uid AS INTEGER)").fetchall()
    assert [sha for _, sha, _ in rows] == on_server
    assert all(store.blobs.verify("raw", sha) for _, sha, _ in rows)
    pieces = [n for n, data in fetches if data[0].startswith("BODY.PEEK[]<")]
    assert len(pieces) >= 2 * 8  # two large messages of 8+ pieces each
    whole = [n for n, data in fetches if data == ("BODY.PEEK[]",)]
    assert whole and max(whole) <= 2  # 150 KB + 150 KB > 300 KB: never three of them at once
    assert dovecot.count(user, password, "Done") == 7


def test_imaplib_formats_literals_only_when_someone_listens(dovecot, imap_user):
    """imapclient sets imaplib's debug level to 5, which formats every fetched message with %r."""
    import logging

    from inbox_daemon.imap_source import quiet_imaplib

    user, password = imap_user
    with dovecot.client(user, password) as client:
        assert client._imap.debug == 5
        quiet_imaplib(client)
        assert client._imap.debug == 0
    logger = logging.getLogger("imapclient.imaplib")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with dovecot.client(user, password) as client:
            quiet_imaplib(client)
            assert client._imap.debug == 5  # asked for: kept
    finally:
        logger.setLevel(level)
