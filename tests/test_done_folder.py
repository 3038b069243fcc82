"""The done folder on servers without MOVE (163 Mail) and without UIDPLUS: a copy is journalled before
it is made and finished after, so a crash or a dropped connection never copies a message twice and
nothing is ever expunged without its copy. And a message the server once returned without a body is
fetched at a later pass instead of being skipped forever."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import textwrap

from conftest import PASSWORD_ENV, imap_mailbox, write_config
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError

from inbox_daemon.config import load_config
from inbox_daemon.demo.samples import compose
from inbox_daemon.ingest import poll_all
from inbox_daemon.store import Store

KILL_AFTER_SECOND_COPY = textwrap.dedent("""
    import os, signal, sys
    from imapclient import IMAPClient
    real, copies = IMAPClient.copy, []
    def copy_then_die(self, messages, folder):
        response = real(self, messages, folder)
        copies.append(response)
        if len(copies) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # between COPY and the delete
        return response
    IMAPClient.copy = copy_then_die
    if __name__ == "__main__":
        from inbox_daemon.cli import main
        main(sys.argv[1:])
""")


def _messages(count: int, tag: str) -> list[bytes]:
    """Half with a Message-ID, half without (those used to be copied twice after a dropped connection)."""
    messages = [compose(sender=f"{tag}{i}@163.com", subject=f"摄影比赛 {tag}{i}", body=f"作品名称：{tag}{i}\n",
                        message_id=f"<{tag}-{i}@test.example>") for i in range(count)]
    return [m if i % 2 else re.sub(rb"(?m)^Message-ID: .*\r?\n", b"", m) for i, m in enumerate(messages)]


def _undeleted(server, user, password, folder) -> int:
    with server.client(user, password) as client:
        client.select_folder(folder, readonly=True)
        return len(client.search(["UNDELETED"]))


def test_sigkill_between_copy_and_delete_copies_nothing_twice(dovecot_without_move, tmp_path):
    server = dovecot_without_move
    user, password = server.add_user()
    sent = _messages(21, "k")
    server.append(user, password, "INBOX", sent)
    config = write_config(tmp_path, [imap_mailbox(server, user, done_folder="已处理", batch_size=5)])
    env = {**os.environ, PASSWORD_ENV: password}
    script = tmp_path / "killer.py"
    script.write_text(KILL_AFTER_SECOND_COPY)
    killed = subprocess.run([sys.executable, str(script), "--config", str(config), "poll", "--once"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert server.count(user, password, "已处理") == 10  # two batches copied, then the kill
    final = subprocess.run([sys.executable, "-m", "inbox_daemon", "--config", str(config), "poll", "--once"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    done = server.bodies(user, password, "已处理")
    assert len(done) == 21 and {hashlib.sha256(b).hexdigest() for b in done} == \
        {hashlib.sha256(b).hexdigest() for b in server_bodies(sent)}
    assert _undeleted(server, user, password, "INBOX") == 0  # none left: expunged, or flagged without UIDPLUS
    with server.client(user, password) as client:
        has_uidplus = client.has_capability("UIDPLUS")
    assert (server.count(user, password, "INBOX") == 0) == has_uidplus  # no plain EXPUNGE without UIDPLUS


def server_bodies(messages: list[bytes]) -> list[bytes]:
    """What the server stores for an APPEND of these bytes (CRLF line ends)."""
    return [m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for m in messages]


def test_a_connection_dropped_after_copy_is_finished_not_repeated(dovecot_without_move, tmp_path, monkeypatch):
    server = dovecot_without_move
    user, password = server.add_user()
    monkeypatch.setenv(PASSWORD_ENV, password)
    server.append(user, password, "INBOX", _messages(6, "d"))
    config = load_config(write_config(tmp_path, [imap_mailbox(server, user, done_folder="Done", batch_size=3)]))
    real, dropped = IMAPClient.copy, []

    def copy_then_drop(self, messages, folder):
        response = real(self, messages, folder)
        if not dropped:
            dropped.append(messages)
            self.shutdown()  # the server did the COPY; its answer never arrives
            raise IMAPClientAbortError("connection dropped")
        return response

    monkeypatch.setattr(IMAPClient, "copy", copy_then_drop)
    [result] = poll_all(config, Store.from_config(config))
    assert result.failure is None and result.new == 6 and dropped
    done = server.bodies(user, password, "Done")
    assert len(done) == 6 == len(set(done))
    assert _undeleted(server, user, password, "INBOX") == 0


def test_a_message_returned_without_a_body_is_fetched_at_the_next_pass(dovecot, imap_user, tmp_path, monkeypatch):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", _messages(5, "g"))
    config = load_config(write_config(tmp_path, [imap_mailbox(dovecot, user, done_folder="Done")]))
    store = Store.from_config(config)
    real, hiccups = IMAPClient.fetch, []

    def fetch_with_a_hiccup(self, messages, data, modifiers=None):
        response = real(self, messages, data, modifiers)
        wanted = [d for d in data if str(d).startswith("BODY.PEEK[]")]
        if wanted and not hiccups and 3 in response:
            hiccups.append(3)
            response[3].pop(b"BODY[]", None)  # the server said nothing of UID 3's body, this once
        return response

    monkeypatch.setattr(IMAPClient, "fetch", fetch_with_a_hiccup)
    [first] = poll_all(config, store)
    assert hiccups == [3] and first.new == 4
    assert store.register.highest_uid(user, "INBOX", _validity(dovecot, user, password)) == 2  # not past UID 3
    [second] = poll_all(config, store)
    assert second.new == 1
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 5
    assert dovecot.count(user, password, "INBOX") == 0 and dovecot.count(user, password, "Done") == 5


def _validity(server, user, password) -> int:
    with server.client(user, password) as client:
        return client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
