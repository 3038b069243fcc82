"""Drain the outbox: SMTP (implicit TLS, STARTTLS, plain on loopback) or .eml files.

A reply row is marked `sent` right after the server accepts it. Temporary
failures (4xx, refused connections, timeouts) are retried with exponential
backoff up to `max_attempts`; permanent ones (5xx) fail at once.

The one window for a duplicate: the server has answered 250 to DATA and the
process dies before the `sent` commit (a few milliseconds of SQLite work).
On restart that reply is sent again, with the same Message-ID, so mail
clients that de-duplicate by Message-ID show it once.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .config import SmtpConfig
from .errors import SendError
from .store import Store, now_iso

log = logging.getLogger(__name__)
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600


class TemporaryFailure(SendError):
    """Worth retrying: the server said 4xx, or could not be reached."""


class PermanentFailure(SendError):
    """The server said 5xx for this message: retrying will not help."""


class FileTransport:
    """Writes each reply as an .eml file: the embedded default and dry runs."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def __enter__(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc):
        return None

    def send(self, outbox_id: int, from_addr: str, to: str, raw: bytes) -> None:
        target = self.directory / f"{outbox_id:06d}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)


class SmtpTransport:
    """One SMTP session for a drain, re-opened when the server drops it."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self.client: smtplib.SMTP | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        context = ssl.create_default_context()
        try:
            if c.security == "tls":
                client = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=context)
            else:
                client = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
                if c.security == "starttls":
                    client.starttls(context=context)
            if c.username:
                password = os.environ.get(c.password_env or "")
                if not password:
                    raise TemporaryFailure(f"环境变量 {c.password_env} 未设置 / {c.password_env} is not set")
                client.login(c.username, password)
        except smtplib.SMTPAuthenticationError as err:
            raise TemporaryFailure(f"SMTP 登录失败 / SMTP login refused ({err.smtp_code})") from err
        except (smtplib.SMTPException, OSError) as err:
            raise TemporaryFailure(f"无法连接 SMTP {c.host}:{c.port} / cannot connect: {err}") from err
        return client

    def send(self, outbox_id: int, from_addr: str, to: str, raw: bytes) -> None:
        for attempt in (1, 2):  # a stale session is re-opened once
            if self.client is None:
                self.client = self._connect()
            try:
                self.client.sendmail(from_addr, [a.strip() for a in to.split(",") if a.strip()], raw)
                return
            except smtplib.SMTPServerDisconnected as err:
                self.client = None
                if attempt == 2:
                    raise TemporaryFailure(f"SMTP 连接中断 / disconnected: {err}") from err
            except smtplib.SMTPRecipientsRefused as err:
                code, text = next(iter(err.recipients.values()))
                raise (PermanentFailure if code >= 500 else TemporaryFailure)(f"{code} {text!r}") from err
            except smtplib.SMTPResponseException as err:
                raise (PermanentFailure if err.smtp_code >= 500 else TemporaryFailure)(
                    f"{err.smtp_code} {err.smtp_error!r}") from err
            except (smtplib.SMTPException, OSError) as err:
                self.client = None
                raise TemporaryFailure(f"SMTP: {err}") from err


def transport_for(config: SmtpConfig):
    return FileTransport(config.outbox_dir) if config.transport == "file" else SmtpTransport(config)


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1)))


def drain(store: Store, config: SmtpConfig, now: datetime | None = None, transport=None) -> DrainResult:
    """Send every queued reply that is due; one row at a time, each outcome committed at once."""
    now = now or datetime.now().astimezone()
    result = DrainResult()
    due = list(store.db.query("SELECT id, to_addr, raw, attempts FROM outbox WHERE status='queued' "
                              "AND next_attempt_at <= ? ORDER BY id", [now.isoformat(timespec="seconds")]))
    if not due:
        return result
    with (transport or transport_for(config)) as sender:
        for row in due:
            attempts = row["attempts"] + 1
            try:
                sender.send(row["id"], config.from_addr, row["to_addr"], row["raw"])
            except PermanentFailure as err:
                _update(store, row["id"], status="failed", attempts=attempts, last_error=str(err)[:500])
                result.failed += 1
                log.warning("outbox=%s to=%s failed permanently: %s", row["id"], row["to_addr"], err)
            except TemporaryFailure as err:
                final = attempts >= config.max_attempts
                _update(store, row["id"], status="failed" if final else "queued", attempts=attempts,
                        last_error=str(err)[:500], next_attempt_at=(now + backoff(attempts)).isoformat(timespec="seconds"))
                result.failed += final
                result.retried += not final
                log.warning("outbox=%s to=%s attempt %d failed: %s", row["id"], row["to_addr"], attempts, err)
                if isinstance(sender, SmtpTransport) and sender.client is None:
                    # The server is unreachable: leave the rest for the next drain instead of hammering it.
                    _postpone_rest(store, due, row["id"], now)
                    break
            else:
                _update(store, row["id"], status="sent", attempts=attempts, sent_at=now_iso(), last_error=None)
                result.sent += 1
                log.info("outbox=%s to=%s sent", row["id"], row["to_addr"])
    return result


def _update(store: Store, outbox_id: int, **values) -> None:
    with store.db.atomic():
        store.db["outbox"].update(outbox_id, values)


def _postpone_rest(store: Store, due: list[dict], failed_id: int, now: datetime) -> None:
    later = (now + backoff(1)).isoformat(timespec="seconds")
    with store.db.atomic():
        for row in due:
            if row["id"] > failed_id:
                store.db["outbox"].update(row["id"], {"next_attempt_at": later})
