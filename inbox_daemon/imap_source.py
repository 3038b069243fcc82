"""IMAP source over imapclient: BODY.PEEK only, ASCII search criteria, reconnect with backoff.

Every server call is idempotent (search, fetch, move of UIDs), so after a
dropped connection the call is simply repeated on a fresh one, provided the
folder still has the same UIDVALIDITY.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import time
from datetime import datetime, timezone
from typing import Callable, Iterator, Protocol, TypeVar

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from . import __version__
from .config import MailboxConfig, is_loopback
from .errors import AuthError, CertificateError, ConfigError, FetchError, FolderError
from .blobs import BlobStore
from .register import RawMessage

log = logging.getLogger(__name__)
T = TypeVar("T")
DROPPED = (OSError, IMAPClientAbortError, EOFError)  # ssl.SSLError and socket.timeout are OSErrors
DONE_KEYWORD = "$Ingested"
STREAM_OVER = 16 << 20  # a larger message is fetched in pieces straight to disk
PIECE = 4 << 20
BATCH_BYTES = 32 << 20  # whole bodies fetched in one command, at most
FIND_COPY_CANDIDATES = 20  # messages in the done folder compared with one whose copy is in doubt


class _Expunged(Exception):
    """The message went away between two pieces (another client deleted it)."""


def _groups(sizes: list[tuple[int, int]]) -> Iterator[list[int]]:
    """UIDs in order, grouped up to BATCH_BYTES; a message over STREAM_OVER forms a group alone."""
    group: list[int] = []
    total = 0
    for uid, size in sizes:
        if group and (size > STREAM_OVER or total + size > BATCH_BYTES):
            yield group
            group, total = [], 0
        group.append(uid)
        total += size
        if size > STREAM_OVER:
            yield group
            group, total = [], 0
    if group:
        yield group


def quiet_imaplib(client: IMAPClient) -> None:
    """Undo imapclient's imaplib debug level 5 unless its logger really listens.

    At that level imaplib formats every fetched literal with %r before the logger drops the
    line: two thirds of the CPU of a large fetch (bench/bench_ingest.py measures both)."""
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


class ImapSource:
    def __init__(self, mailbox: MailboxConfig, *, backoff: tuple[float, ...] = (0.5, 1, 2, 4, 8, 16),
                 sleep: Callable[[float], None] = time.sleep, readonly: bool = False):
        if mailbox.security == "none" and not is_loopback(mailbox.host):
            raise ConfigError(f"邮箱 {mailbox.name}：明文 IMAP 只允许连接本机 / plain IMAP only to loopback")
        self.mailbox = mailbox
        self.folder = mailbox.folder
        self.backoff = backoff
        self.sleep = sleep
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self.keywords_allowed = False
        self.readonly = readonly  # `check`: look, never change anything on the server
        self.done_folder = mailbox.done_folder  # a name, or the folder a SPECIAL-USE flag (\\Archive) names

    # -- connection ------------------------------------------------------------

    def __enter__(self) -> "ImapSource":
        self._retry(self._connect, "connect")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except (*DROPPED, IMAPClientError):
                try:
                    self.client.shutdown()
                except OSError:
                    pass
            self.client = None

    def login(self) -> IMAPClient:
        """Connect and log in (used by `check` too); raises AuthError or FetchError."""
        m = self.mailbox
        context = ssl.create_default_context()
        try:
            client = IMAPClient(m.host, port=m.port, ssl=m.security == "tls", ssl_context=context,
                                timeout=SocketTimeout(connect=min(15.0, m.timeout), read=m.timeout))
            if m.security == "starttls":
                client.starttls(context)
        except ssl.SSLCertVerificationError as err:
            raise CertificateError(f"{m.host}:{m.port} 的 TLS 证书不受信任 / untrusted TLS certificate: "
                                   f"{err.verify_message}") from err
        except (*DROPPED, IMAPClientError) as err:
            raise FetchError(f"无法连接 {m.host}:{m.port} / cannot connect to {m.host}:{m.port}: {err}") from err
        try:
            password = m.password()
            if password.isascii() and m.username.isascii():
                client.login(m.username, password)
            else:  # LOGIN takes ASCII only; SASL PLAIN carries UTF-8
                client.plain_login(m.username, password)
        except LoginError as err:
            client.shutdown()
            raise AuthError(login_refused(m, err)) from err
        except ConfigError:
            client.shutdown()
            raise
        client.normalise_times = False
        quiet_imaplib(client)
        log.debug("mailbox=%s capabilities: %s", m.name,
                  " ".join(c.decode("ascii", "replace") for c in client.capabilities()))
        if client.has_capability("ID"):
            # 163 Mail refuses SELECT from clients that do not identify themselves.
            client.id_({"name": "inbox-daemon", "version": __version__, "vendor": "inbox-daemon"})
        return client

    def _connect(self) -> None:
        self.close()
        client = self.login()
        self.client = client
        self.done_folder = self._resolve(self.mailbox.done_folder)
        if self.done_folder and not self.readonly and not client.folder_exists(self.done_folder):
            client.create_folder(self.done_folder)
        self._select()

    def _resolve(self, name: str | None) -> str | None:
        """`done_folder = "\\Archive"` names the folder the server flags so (SPECIAL-USE, or Gmail's XLIST
        flags), whatever it is called in the account's language."""
        if not name or not name.startswith("\\"):
            return name
        found = self.client.find_special_folder(name.encode("ascii", "replace"))
        if found is None:
            raise FolderError(f"邮箱 {self.mailbox.name}：服务器没有标为 {name} 的文件夹 / no folder flagged {name}")
        log.debug("mailbox=%s done folder %s is %s", self.mailbox.name, name, found)
        return found

    def done_folder_exists(self) -> bool:
        return bool(self.done_folder) and self.client.folder_exists(self.done_folder)

    def _select(self) -> None:
        """Select the folder (read-write, or read-only for `check`), insisting on the UIDVALIDITY this
        pass started with."""
        try:
            info = self.client.select_folder(self.folder, readonly=self.readonly)
        except IMAPClientError as err:
            raise FolderError(f"无法打开文件夹 {self.folder} / cannot select folder {self.folder}: {err}") from err
        validity = int(info[b"UIDVALIDITY"])
        if self.uidvalidity and validity != self.uidvalidity:
            raise FolderError(f"{self.folder} 的 UIDVALIDITY 在本次轮询中改变 / UIDVALIDITY changed mid-pass")
        self.uidvalidity = validity
        self.keywords_allowed = b"\\*" in info.get(b"PERMANENTFLAGS", ())

    def _retry(self, operation: Callable[[], T], what: str) -> T:
        # A server that is down when the pass starts is reported quickly (the next poll tries again);
        # a connection that drops mid-pass gets the whole backoff, so the pass can finish.
        backoff = self.backoff if self.uidvalidity else self.backoff[:2]
        for delay in (*backoff, None):
            try:
                if self.client is None and operation != self._connect:
                    self._connect()
                return operation()
            except (*DROPPED, FetchError) as err:
                if isinstance(err, FetchError) and not err.retryable:
                    raise
                if delay is None:
                    raise FetchError(f"{self.mailbox.name}: {what} 多次重试仍失败 / failed after retries: "
                                     f"{err}") from err
                log.warning("mailbox=%s %s failed (%s: %s); reconnecting in %.1fs", self.mailbox.name, what,
                            type(err).__name__, err, delay)
                self.client = None
                self.sleep(delay)
            except IMAPClientError as err:
                raise FetchError(f"{self.mailbox.name}: IMAP {what} 出错 / IMAP error: {err}") from err
        raise AssertionError("unreachable")

    # -- Source interface ----------------------------------------------------

    def list_uids(self, after: int) -> list[str]:
        def search() -> list[str]:
            uids = self.client.search(["UID", f"{after + 1}:*"])  # ASCII criteria only: no CHARSET
            return [str(u) for u in sorted(uids) if u > after]
        return self._retry(search, "search")

    def peek(self, uids: list[str]) -> dict[str, tuple[str, int, str]]:
        return self._retry(lambda: self._peek_now(uids), "peek")

    def present(self, uids: list[str]) -> set[str]:
        """Asked afresh with UID SEARCH: which of these UIDs the folder still holds."""
        if not uids:
            return set()
        found = self._retry(lambda: self.client.search(["UID", ",".join(str(u) for u in uids)]), "search")
        return {str(u) for u in found}

    def _peek_now(self, uids: list[str]) -> dict[str, tuple[str, int, str]]:
        found = {}
        for uid, data in self.client.fetch([int(u) for u in uids], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]",
                                                                    "RFC822.SIZE", "INTERNALDATE"]).items():
            header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"") or b""
            match = re.search(rb"<[^<>\s]+>", header)
            received = data.get(b"INTERNALDATE")
            when = "" if received is None else (received if received.tzinfo else received.replace(
                tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")
            found[str(uid)] = (match[0].decode("ascii", "replace") if match else "", data.get(b"RFC822.SIZE", 0), when)
        return found

    def fetch(self, uids: list[str], blobs: BlobStore) -> Iterator[RawMessage]:
        """Each message streamed into `blobs`: small ones in groups of whole bodies, a large one in
        pieces, so no more than BATCH_BYTES of mail is ever held in memory."""
        info = self._retry(lambda: self.client.fetch([int(u) for u in uids], ["RFC822.SIZE", "INTERNALDATE"]),
                           "fetch")  # UIDs expunged meanwhile are simply absent
        sizes = {uid: int(data.get(b"RFC822.SIZE") or 0) for uid, data in info.items()}

        def message(uid: int, sha256: str, size: int) -> RawMessage:
            received = info[uid].get(b"INTERNALDATE") or datetime.now(timezone.utc)
            if received.tzinfo is None:
                received = received.replace(tzinfo=timezone.utc)
            return RawMessage(self.mailbox.name, self.folder, self.uidvalidity, str(uid), b"", received, sha256, size)

        for group in _groups(sorted(sizes.items())):
            if sizes[group[0]] > STREAM_OVER:  # alone in its group
                stored = self._retry(lambda uid=group[0]: self._store_in_pieces(uid, sizes[uid], blobs), "fetch")
                if stored:
                    yield message(group[0], *stored)
                continue
            response = self._retry(lambda group=group: self.client.fetch(group, ["BODY.PEEK[]"]), "fetch")
            for uid in sorted(response):
                body = response[uid].pop(b"BODY[]", None)
                if body is not None:  # None: expunged meanwhile
                    yield message(uid, *blobs.put_chunks("raw", (bytes(body),)))

    def _store_in_pieces(self, uid: int, size: int, blobs: BlobStore) -> tuple[str, int] | None:
        """Read until a short piece: RFC822.SIZE is only a hint (servers count line ends differently)."""
        def pieces() -> Iterator[bytes]:
            offset = 0
            while True:
                data = self.client.fetch([uid], [f"BODY.PEEK[]<{offset}.{PIECE}>"]).get(uid, {})
                piece = next((v for k, v in data.items() if k.startswith(b"BODY[]")), None)
                if piece is None and offset >= size > 0:
                    return  # NIL just past the end, from servers that send no empty string there
                if piece is None:
                    raise _Expunged(uid)
                yield bytes(piece)
                offset += len(piece)
                if len(piece) < PIECE:
                    return
        try:
            return blobs.put_chunks("raw", pieces())
        except _Expunged:
            return None

    def mark_done(self, uids: list[str], journal: "DoneJournal | None" = None) -> None:
        """Move to the done folder, or flag. Never expunges a message without a copy in the done folder.

        With a done folder, each copy is journalled as started before the MOVE/COPY is sent and as
        finished after; a copy whose outcome is unknown (a crash, a dropped connection) is looked for
        in the done folder before anything is copied again. Without UIDPLUS no EXPUNGE is ever sent
        (a plain one would also remove what other clients flagged \\Deleted): the originals are
        flagged instead."""
        if not uids:
            return
        if not self.done_folder:
            flags = [b"\\Seen"] + ([DONE_KEYWORD.encode()] if self.keywords_allowed else [])
            self._retry(lambda: self.client.add_flags([int(u) for u in uids], flags, silent=True), "mark done")
            return
        journal = journal or MemoryJournal()
        self._retry(lambda: self._to_done_folder([str(u) for u in uids], journal), "mark done")

    def _to_done_folder(self, uids: list[str], journal: "DoneJournal") -> None:
        target, client = self.done_folder, self.client
        states = journal.states(uids)
        doubtful = [u for u in uids if states[u] == "copying"]
        if doubtful:
            found = self._find_copies(doubtful, journal)
            if found:
                log.info("mailbox=%s %d message(s) already in %s after an interrupted copy", self.mailbox.name,
                         len(found), target)
                journal.record({uid: ("copied", copy) for uid, copy in found.items()})
            states = journal.states(uids)
        pending = [u for u in uids if states[u] != "copied"]
        if pending:
            journal.record({uid: ("copying", None) for uid in pending})  # committed before the command
            if client.has_capability("MOVE"):
                client.move([int(u) for u in pending], target)
                journal.record({uid: ("copied", None) for uid in pending})
                pending_delete = [u for u in uids if u not in pending]
            else:
                response = client.copy([int(u) for u in pending], target)
                journal.record({uid: ("copied", copy) for uid, copy in copy_uids(response, pending).items()})
                pending_delete = uids
        else:
            pending_delete = uids
        self._delete([int(u) for u in pending_delete])

    def _delete(self, ids: list[int]) -> None:
        """Remove originals that have their copy: UID EXPUNGE where the server has UIDPLUS, else flags."""
        if not ids:
            return
        client = self.client
        if client.has_capability("UIDPLUS"):
            client.add_flags(ids, [b"\\Deleted"], silent=True)
            client.uid_expunge(ids)
        else:
            flags = [b"\\Seen", b"\\Deleted"] + ([DONE_KEYWORD.encode()] if self.keywords_allowed else [])
            client.add_flags(ids, flags, silent=True)

    def _find_copies(self, uids: list[str], journal: "DoneJournal") -> dict[str, str]:
        """Which of these messages already have a copy in the done folder: candidates by Message-ID or
        by size, confirmed by the SHA-256 of their bytes."""
        client, target = self.client, self.done_folder
        found: dict[str, str] = {}
        client.select_folder(target, readonly=True)
        try:
            for uid in uids:
                identity = journal.identity(uid)
                if identity is None:
                    continue
                sha256, size, message_id = identity
                criteria = (["HEADER", "Message-ID", message_id] if message_id.isascii() and message_id
                            else ["LARGER", max(0, size - size // 100 - 1), "SMALLER", size + size // 100 + 1])
                candidates = sorted(client.search(criteria), reverse=True)[:FIND_COPY_CANDIDATES]
                for candidate in candidates:
                    body = client.fetch([candidate], ["BODY.PEEK[]"]).get(candidate, {}).get(b"BODY[]")
                    if body is not None and hashlib.sha256(bytes(body)).hexdigest() == sha256:
                        found[uid] = str(candidate)
                        break
        finally:
            self._select()
        return found


class DoneJournal(Protocol):
    """Where copies to the done folder are recorded (the register, in production)."""

    def states(self, uids: list[str]) -> dict[str, str | None]: ...

    def record(self, states: dict[str, tuple[str, str | None]]) -> None: ...

    def identity(self, uid: str) -> tuple[str, int, str] | None: ...


class MemoryJournal:
    """A journal that lives as long as one call: enough for tests and for `check`."""

    def __init__(self):
        self.state: dict[str, str | None] = {}

    def states(self, uids: list[str]) -> dict[str, str | None]:
        return {uid: self.state.get(uid) for uid in uids}

    def record(self, states: dict[str, tuple[str, str | None]]) -> None:
        self.state.update({uid: state for uid, (state, _) in states.items()})

    def identity(self, uid: str) -> tuple[str, int, str] | None:
        return None


def copy_uids(response, uids: list[str]) -> dict[str, str | None]:
    """The COPYUID mapping of a UID COPY response (RFC 4315), source UID -> copy UID, where given."""
    text = response.decode("ascii", "replace") if isinstance(response, bytes) else str(response or "")
    match = re.search(r"\[COPYUID \d+ ([\d:,]+) ([\d:,]+)\]", text)
    mapping: dict[str, str | None] = {uid: None for uid in uids}
    if match:
        sources, copies = _uid_set(match[1]), _uid_set(match[2])
        if len(sources) == len(copies):
            mapping.update({str(a): str(b) for a, b in zip(sources, copies, strict=True) if str(a) in mapping})
    return mapping


def _uid_set(text: str) -> list[int]:
    result = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        start, stop = int(low), int(high or low)
        result.extend(range(start, stop + 1) if start <= stop else range(start, stop - 1, -1))
    return result


def login_refused(mailbox: MailboxConfig, err: Exception) -> str:
    """The server's own words, and what they usually mean at QQ Mail and 163 Mail."""
    said = str(err).strip().strip("b'\"") or "（服务器没有说明原因）"
    host = (mailbox.host or "").lower()
    if host.endswith("qq.com"):
        hint = ("QQ 邮箱要求使用“授权码”登录，不是 QQ 密码：请在网页版 QQ 邮箱“设置 → 账户”中开启 "
                "IMAP/SMTP 服务并生成授权码，填入环境变量 {env}。")
    elif host.endswith(("163.com", "126.com", "yeah.net")):
        hint = ("网易邮箱要求先在网页版“设置 → POP3/SMTP/IMAP”中开启 IMAP/SMTP 服务，并使用授权码"
                "（不是登录密码）登录，授权码填入环境变量 {env}。")
    else:
        hint = "请核对用户名和环境变量 {env} 中的密码。"
    return (f"邮箱 {mailbox.name} 登录被拒绝（{mailbox.username}）：服务器答复“{said}”。"
            + hint.format(env=mailbox.password_env) + f" / login refused for {mailbox.username}: {said}")
