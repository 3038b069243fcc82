"""IMAP IDLE watchers for `run`: new mail triggers a pass at once instead of at the next interval.

One thread per IMAP mailbox holds its own connection in IDLE and only *wakes* the scheduler's poll
job; all fetching still happens in the one pass (and under its lock). The IDLE is renewed every
few minutes (servers drop it after 29) and the connection re-opened with backoff when it breaks.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from .config import MailboxConfig
from .errors import InboxError
from .imap_source import DROPPED, ImapSource

log = logging.getLogger(__name__)
RENEW_S = 300
MAX_BACKOFF_S = 300


class IdleWatcher(threading.Thread):
    def __init__(self, mailbox: MailboxConfig, wake: Callable[[], None], stop: threading.Event):
        super().__init__(name=f"idle-{mailbox.name}", daemon=True)
        self.mailbox, self.wake, self.stop_event = mailbox, wake, stop

    def run(self) -> None:
        delay = 1.0
        while not self.stop_event.is_set():
            try:
                with ImapSource(self.mailbox, backoff=()) as source:
                    if not source.client.has_capability("IDLE"):
                        log.info("mailbox=%s has no IDLE: polling only", self.mailbox.name)
                        return
                    delay = 1.0
                    self._watch(source)
            except (InboxError, *DROPPED) as err:
                log.warning("mailbox=%s IDLE connection lost (%s); again in %.0fs", self.mailbox.name, err, delay)
                self.stop_event.wait(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)

    def _watch(self, source: ImapSource) -> None:
        client = source.client
        while not self.stop_event.is_set():
            client.idle()
            try:
                responses = client.idle_check(timeout=RENEW_S)
            finally:
                client.idle_done()
            if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                log.info("mailbox=%s new mail announced by IDLE", self.mailbox.name)
                self.wake()


def start_watchers(mailboxes, wake: Callable[[], None]) -> threading.Event:
    """Start one watcher per IMAP mailbox; set the returned event to stop them."""
    stop = threading.Event()
    for mailbox in mailboxes:
        if mailbox.source == "imap":
            IdleWatcher(mailbox, wake, stop).start()
    return stop
