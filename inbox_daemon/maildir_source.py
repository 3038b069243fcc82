"""Local Maildir source (stdlib `mailbox`): the embedded default and replayable test input."""

from __future__ import annotations

import mailbox
import os
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from functools import partial
from itertools import chain
from typing import Iterator

from .config import MailboxConfig
from .errors import FetchError
from .blobs import CHUNK, BlobStore, fsync_dir
from .register import RawMessage


def receive_time(raw: bytes, fallback: datetime) -> datetime:
    """Topmost Received: date, else Delivery-Date:, else `fallback` (the file's time).

    `raw` may be only the start of the message: the header block is all that is read."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    headers = BytesHeaderParser().parsebytes(raw[:end + 2])  # the header block only, not the body
    candidates = []
    received = headers.get_all("Received") or []
    if received:
        candidates.append(str(received[0]).rpartition(";")[2])
    candidates.append(str(headers.get("Delivery-Date") or ""))
    for value in candidates:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            continue
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return fallback


class MaildirSource:
    def __init__(self, mailbox_config: MailboxConfig):
        self.mailbox = mailbox_config
        self.folder = str(mailbox_config.path)
        self.uidvalidity = 0
        self.maildir: mailbox.Maildir | None = None
        self.delivered: dict[str, datetime] = {}

    def __enter__(self) -> "MaildirSource":
        path = self.mailbox.path
        if not path or not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise FetchError(f"Maildir 不存在或不完整：{path}（可运行 inbox-daemon samples 生成示例邮件）/ "
                             f"no Maildir at {path} (run `inbox-daemon samples` to create the demo)")
        self.maildir = mailbox.Maildir(path, factory=None, create=False)
        return self

    def __exit__(self, *exc) -> None:
        self.maildir = None

    def list_uids(self, after: int) -> list[str]:
        self.delivered = self._file_times()
        return sorted(self.maildir.keys())

    def _file_times(self) -> dict[str, datetime]:
        """Delivery time of each message file, by Maildir key (the file name up to its ':2,' info)."""
        times = {}
        for sub in ("new", "cur"):
            for entry in os.scandir(self.mailbox.path / sub):
                key = entry.name.split(":", 1)[0]
                times[key] = datetime.fromtimestamp(entry.stat().st_mtime, timezone.utc)
        return times

    def peek(self, uids: list[str]) -> dict[str, tuple[str, int, str]]:
        return {}

    def present(self, uids: list[str]) -> set[str]:
        return {key for key in uids if key in self.maildir}

    def fetch(self, uids: list[str], blobs: BlobStore) -> Iterator[RawMessage]:
        for key in uids:
            try:
                handle = self.maildir.get_file(key)
            except (KeyError, FileNotFoundError):
                continue  # removed meanwhile
            with handle:  # the first chunk (1 MiB) holds any sane header block: receive times come from it
                head = handle.read(CHUNK)
                sha256, size = blobs.put_chunks("raw", chain([head], iter(partial(handle.read, CHUNK), b"")))
            received = receive_time(head, self.delivered.get(key) or datetime.now(timezone.utc))
            yield RawMessage(self.mailbox.name, self.folder, 0, key, b"", received, sha256, size)

    def mark_done(self, uids: list[str], journal=None) -> None:
        if not self.mailbox.done_folder:
            return  # tracked in the database; the sample Maildir stays replayable
        try:
            done = self.maildir.get_folder(self.mailbox.done_folder)
        except mailbox.NoSuchMailboxError:
            done = self.maildir.add_folder(self.mailbox.done_folder)
        for key in uids:
            try:
                with self.maildir.get_file(key) as handle:  # copied line by line, not read whole
                    done.add(handle)
                # Maildir.add fsyncs the file, not the directory it is renamed into: the copy's name is on
                # disk before the original goes (the folder is ".<name>", as get_folder makes it).
                fsync_dir(self.mailbox.path / f".{self.mailbox.done_folder}" / "new")
                self.maildir.discard(key)
            except (KeyError, FileNotFoundError):
                continue

