"""Names reach the disk as well as bytes: every directory that gains an entry is fsynced."""

from __future__ import annotations

from pathlib import Path

from inbox_daemon import blobs, send
from inbox_daemon.blobs import BlobStore


def test_a_new_fan_out_directory_is_fsynced_with_its_parent(tmp_path, monkeypatch):
    synced: list[Path] = []
    monkeypatch.setattr(blobs, "fsync_dir", lambda path: synced.append(Path(path)))
    store = BlobStore(tmp_path)
    sha, _ = store.put_chunks("raw", (b"first",))
    assert synced == [tmp_path / "raw" / sha[:2], tmp_path / "raw"]  # "ab/" is new: "raw/" learns its name
    synced.clear()
    store.put_chunks("raw", (b"first",))  # the same bytes again: the directory exists already
    assert synced == [tmp_path / "raw" / sha[:2]]


def test_the_file_transport_fsyncs_its_directory_before_a_reply_counts_as_sent(tmp_path, monkeypatch):
    synced: list[Path] = []
    monkeypatch.setattr(send, "fsync_dir", lambda path: synced.append(Path(path)))
    transport = send.FileTransport(tmp_path)
    transport.send(7, "a@b", "c@d", b"Subject: x\r\n\r\nhi\r\n")
    assert (tmp_path / "000007.eml").read_bytes().endswith(b"hi\r\n") and synced == [tmp_path]


def test_the_maildir_done_folder_copy_is_fsynced_before_the_original_goes(tmp_path, monkeypatch):
    import mailbox

    from inbox_daemon import maildir_source
    from inbox_daemon.config import MailboxConfig
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    key = box.add(b"From: a@qq.com\r\nSubject: x\r\n\r\nhi\r\n")
    original = next((tmp_path / "Maildir").glob(f"*/{key}*"))
    synced: list[tuple[str, bool]] = []
    monkeypatch.setattr(maildir_source, "fsync_dir", lambda path: synced.append((str(path), original.exists())))
    config = MailboxConfig(name="m", source="maildir", contests=("photo",), path=tmp_path / "Maildir",
                           done_folder="已处理")
    with maildir_source.MaildirSource(config) as source:
        source.mark_done([key])
    done = box.get_folder("已处理")
    [copy] = done.keys()
    assert synced == [(str(tmp_path / "Maildir" / ".已处理" / "new"), True)]  # before the original went
    assert key not in box.keys() and done.get_bytes(copy).endswith(b"hi\n")
