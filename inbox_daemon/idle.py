"""IMAP IDLE watchers for `run`: new mail triggers a pass at once instead of at the next interval.

One thread per IMAP mailbox holds its own connection in IDLE and only *wakes* the scheduler's poll
job; all fetching still happens in the one pass (and under its lock). The IDLE is renewed every
few minutes (servers drop it after 29) and the connection re-opened with backoff after any error.
A refused login is never retried here: the poll job reports it once per pass, with the server's
words, and the watcher stays down (a server that counts failed logins is not hammered).
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from .config import MailboxConfig
from .errors import AuthError, ConfigError
from .imap_source import ImapSource

log = logging.getLogger(__name__)
RENEW_S = 300
MAX_BACKOFF_S = 300

Status = Callable[[str, bool, "str | None"], None]  # (mailbox, watching, error)


class IdleWatcher(threading.Thread):
    def __init__(self, mailbox: MailboxConfig, wake: Callable[[], None], stop: threading.Event,
                 status: Status | None = None):
        super().__init__(name=f"idle-{mailbox.name}", daemon=True)
        self.mailbox, self.wake, self.stop_event = mailbox, wake, stop
        self.status = status or (lambda *_: None)

    def run(self) -> None:
        delay = 1.0
        while not self.stop_event.is_set():
            try:
                with ImapSource(self.mailbox, backoff=()) as source:
                    if not source.client.has_capability("IDLE"):
                        log.info("mailbox=%s has no IDLE: polling only", self.mailbox.name)
                        return
                    delay = 1.0
                    self._report(True, None)
                    self._watch(source)
            except (AuthError, ConfigError) as err:
                log.error("mailbox=%s IDLE watcher stopped, the poll job goes on: %s", self.mailbox.name, err)
                self._report(False, str(err))
                return
            except Exception as err:  # any IMAP or network failure, or a bug: reconnect later, never die silently
                log.warning("mailbox=%s IDLE connection lost (%s: %s); again in %.0fs", self.mailbox.name,
                            type(err).__name__, err, delay, exc_info=not isinstance(err, OSError))
                self._report(False, None)
                self.stop_event.wait(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
        self._report(False, None)

    def _report(self, watching: bool, error: str | None) -> None:
        try:
            self.status(self.mailbox.name, watching, error)
        except Exception as err:  # the console's view of IDLE is not worth stopping the watcher for
            log.warning("mailbox=%s IDLE status not recorded: %s", self.mailbox.name, err)

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


def start_watchers(mailboxes, wake: Callable[[], None], status: Status | None = None) -> threading.Event:
    """Start one watcher per IMAP mailbox; set the returned event to stop them."""
    stop = threading.Event()
    for mailbox in mailboxes:
        if mailbox.source == "imap":
            IdleWatcher(mailbox, wake, stop, status).start()
    return stop
