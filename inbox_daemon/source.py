"""The `Source` interface: the same pipeline runs on an IMAP folder and a local Maildir."""

from __future__ import annotations

from typing import Iterator, Protocol

from .config import MailboxConfig
from .blobs import BlobStore
from .register import RawMessage


class Source(Protocol):
    mailbox: MailboxConfig
    folder: str
    uidvalidity: int

    def __enter__(self) -> "Source": ...

    def __exit__(self, *exc) -> None: ...

    def list_uids(self, after: int) -> list[str]:
        """UIDs (or keys) present now, newer than `after` where the source has ordered UIDs."""

    def peek(self, uids: list[str]) -> dict[str, tuple[str, int, str]]:
        """Message-ID, size and receive time (ISO, UTC, seconds) per UID, without downloading bodies
        (for re-syncs)."""

    def present(self, uids: list[str]) -> set[str]:
        """Which of these UIDs are still in the folder (asked afresh, after a fetch missed some)."""

    def fetch(self, uids: list[str], blobs: BlobStore) -> Iterator[RawMessage]:
        """Exact bytes streamed into `blobs`, with receive times, without setting \\Seen."""

    def mark_done(self, uids: list[str], journal=None) -> None:
        """Move to `done_folder` or flag; called only after the database commit. `journal` records
        copies to the done folder so an interrupted one is finished, not repeated."""


def open_source(mailbox: MailboxConfig) -> Source:
    if mailbox.source == "maildir":
        from .maildir_source import MaildirSource
        return MaildirSource(mailbox)
    from .imap_source import ImapSource
    return ImapSource(mailbox)
