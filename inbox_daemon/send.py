"""Drain the outbox: SMTP (implicit TLS, STARTTLS, plain on loopback) or .eml files.

Each reply is claimed in the outbox before it is sent (outbox.py), so drains running at once in
several jobs or processes never send one reply twice, and marked `sent` right after the server
accepts it. Temporary failures (4xx, refused connections, timeouts) are retried with exponential
backoff up to `max_attempts`; permanent ones (5xx) fail at once.

The one window for a duplicate: the server has answered 250 to DATA and the process dies before
the `sent` commit (a few milliseconds of SQLite work). When its claim expires the reply is sent
again, with the same Message-ID, so mail clients that de-duplicate by Message-ID show it once.
The debug line "outbox=N sending" opens that window and "outbox=N sent" closes it.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .blobs import fsync_dir
from .config import SmtpConfig
from .errors import BusyError, SendError
from .db import now_iso
from .outbox import Claimed
from .register import claim_token
from .store import Store

log = logging.getLogger(__name__)
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
CLAIM_MIN_S = 120


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
        fsync_dir(self.directory)  # the reply is on disk under its name before it is marked sent


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
        return open_smtp(self.config)

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


def open_smtp(config: SmtpConfig) -> smtplib.SMTP:
    """A logged-in SMTP session: the one connect code for sending and for `check`.

    One AUTH mechanism per session (PLAIN, else LOGIN, over TLS): smtplib's own `login()` tries every
    mechanism the server offers, and a server that counts failures counts each of them."""
    c = config
    context = ssl.create_default_context()
    client = None
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
            _authenticate(client, c.username, password)
    except smtplib.SMTPAuthenticationError as err:
        _close(client)
        raise smtp_refused(c, err) from err
    except (smtplib.SMTPException, OSError) as err:
        _close(client)
        raise TemporaryFailure(f"无法连接 SMTP {c.host}:{c.port} / cannot connect: {err}") from err
    except SendError:
        _close(client)
        raise
    return client


def _authenticate(client: smtplib.SMTP, username: str, password: str) -> None:
    client.ehlo_or_helo_if_needed()
    offered = client.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        raise PermanentFailure(f"SMTP 服务器不支持 PLAIN 或 LOGIN 认证（提供的是 {' '.join(offered) or '无'}）")
    client.user, client.password = username, password
    client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"), initial_response_ok=True)


def smtp_refused(config: SmtpConfig, err: smtplib.SMTPAuthenticationError) -> SendError:
    """The server's own words; a 4xx is temporary (retried), a 5xx means the password is wrong."""
    said = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
    if err.smtp_code < 500:
        return TemporaryFailure(f"SMTP 登录暂时失败（{err.smtp_code} {said}），稍后重试 / "
                                f"temporary SMTP login failure")
    host = (config.host or "").lower()
    hint = ("QQ 邮箱和网易邮箱发信要用授权码（不是登录密码）。" if host.endswith(("qq.com", "163.com", "126.com"))
            else "")
    return TemporaryFailure(f"SMTP 登录被拒绝（{err.smtp_code} {said}）：请核对用户名和环境变量 "
                            f"{config.password_env} 中的密码。{hint} / SMTP login refused")


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.close()
        except OSError:
            pass


def transport_for(config: SmtpConfig):
    return FileTransport(config.outbox_dir) if config.transport == "file" else SmtpTransport(config)


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1)))


def drain(store: Store, config: SmtpConfig, now: datetime | None = None, transport=None,
          limit: int | None = None) -> DrainResult:
    """Send queued replies that are due, claiming each one before it is sent, until none is left.

    One reply is held at a time (claimed, sent, settled), so any number of drains can run at once
    and memory does not grow with the backlog. `limit` bounds how many this call sends."""
    result = DrainResult()
    token = claim_token()
    hold = max(CLAIM_MIN_S, 4 * config.timeout)  # two SMTP attempts of one reply, with room to spare
    sender = None
    try:
        while limit is None or result.sent + result.failed + result.retried < limit:
            moment = now or datetime.now(timezone.utc)
            claimed = store.outbox.claim_next(token, moment, hold)
            if claimed is None:
                break
            if sender is None:
                sender = (transport or transport_for(config)).__enter__()
            if not _send_one(store, config, sender, claimed, moment, result):
                break  # the server is unreachable: the rest waits for the next drain
    finally:
        if sender is not None:
            sender.__exit__(None, None, None)
    return result


SENT_PATIENCE_S = 600  # how long a busy database may keep a sent reply from being recorded


def _record_sent(store: Store, claimed: Claimed, attempts: int, patience_s: float = SENT_PATIENCE_S) -> None:
    """The server has the reply: record it as sent, waiting out a busy database rather than leaving the
    row to be claimed and sent again (our claim holds it meanwhile; others wait for the same lock)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            if not store.outbox.settle(claimed, status="sent", attempts=attempts, sent_at=now_iso(), last_error=None):
                log.error("outbox=%s to=%s sent, but its claim had run out: another drain may send it again",
                          claimed.id, claimed.to_addr)
            return
        except BusyError as err:
            if time.monotonic() > deadline:
                raise
            log.warning("outbox=%s sent; recording it waits for the database: %s", claimed.id, err)
            time.sleep(1)


def _send_one(store: Store, config: SmtpConfig, sender, claimed: Claimed, now: datetime,
              result: DrainResult) -> bool:
    """Send one claimed reply and record the outcome; False when the server cannot be reached."""
    attempts = claimed.attempts + 1
    log.debug("outbox=%s sending", claimed.id)
    try:
        sender.send(claimed.id, config.from_addr, claimed.to_addr, claimed.raw)
    except PermanentFailure as err:
        store.outbox.settle(claimed, status="failed", attempts=attempts, last_error=str(err)[:500])
        result.failed += 1
        log.warning("outbox=%s to=%s failed permanently: %s", claimed.id, claimed.to_addr, err)
        return True
    except TemporaryFailure as err:
        final = attempts >= config.max_attempts
        retry_at = (now + backoff(attempts)).astimezone(timezone.utc).isoformat(timespec="seconds")
        store.outbox.settle(claimed, status="failed" if final else "queued", attempts=attempts,
                            last_error=str(err)[:500], next_attempt_at=retry_at)
        result.failed += final
        result.retried += not final
        log.warning("outbox=%s to=%s attempt %d failed: %s", claimed.id, claimed.to_addr, attempts, err)
        if isinstance(sender, SmtpTransport) and sender.client is None:
            store.outbox.postpone_due(now + backoff(1))
            return False
        return True
    # Between the server's 250 and this commit lies the one window for a duplicate.
    _record_sent(store, claimed, attempts)
    result.sent += 1
    log.info("outbox=%s to=%s sent", claimed.id, claimed.to_addr)
    return True
