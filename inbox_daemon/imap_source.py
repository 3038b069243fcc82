"""IMAP source over imapclient: BODY.PEEK only, ASCII search criteria, reconnect with backoff.

Every server call is idempotent (search, fetch, move of UIDs), so after a
dropped connection the call is simply repeated on a fresh one, provided the
folder still has the same UIDVALIDITY.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from datetime import datetime, timezone
from typing import Callable, Iterator, TypeVar

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
                 sleep: Callable[[float], None] = time.sleep):
        if mailbox.security == "none" and not is_loopback(mailbox.host):
            raise ConfigError(f"邮箱 {mailbox.name}：明文 IMAP 只允许连接本机 / plain IMAP only to loopback")
        self.mailbox = mailbox
        self.folder = mailbox.folder
        self.backoff = backoff
        self.sleep = sleep
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self.keywords_allowed = False

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
            client.login(m.username, m.password())
        except LoginError as err:
            client.shutdown()
            raise AuthError(f"邮箱 {m.name} 登录失败（用户名或密码错误）/ login refused for {m.username}") from err
        client.normalise_times = False
        quiet_imaplib(client)
        if client.has_capability("ID"):
            # 163 Mail refuses SELECT from clients that do not identify themselves.
            client.id_({"name": "inbox-daemon", "version": __version__, "vendor": "inbox-daemon"})
        return client

    def _connect(self) -> None:
        self.close()
        client = self.login()
        self.client = client
        if self.mailbox.done_folder and not client.folder_exists(self.mailbox.done_folder):
            client.create_folder(self.mailbox.done_folder)
        self._select()

    def _select(self) -> None:
        """Select the folder read-write, insisting on the UIDVALIDITY this pass started with."""
        try:
            info = self.client.select_folder(self.folder)
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

    def peek(self, uids: list[str]) -> dict[str, tuple[str, int]]:
        return self._retry(lambda: self._peek_now(uids), "peek")

    def _peek_now(self, uids: list[str]) -> dict[str, tuple[str, int]]:
        found = {}
        for uid, data in self.client.fetch([int(u) for u in uids],
                                           ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]", "RFC822.SIZE"]).items():
            header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"") or b""
            match = re.search(rb"<[^<>\s]+>", header)
            found[str(uid)] = (match[0].decode("ascii", "replace") if match else "", data.get(b"RFC822.SIZE", 0))
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

    def mark_done(self, uids: list[str]) -> None:
        if not uids:
            return
        ids = [int(u) for u in uids]
        target = self.mailbox.done_folder
        attempts = 0

        def act() -> None:
            nonlocal attempts
            attempts += 1
            pending = ids
            if target and attempts > 1:  # the connection dropped mid-move: part may be copied already
                pending = self._expunge_already_copied(ids, target)
            if not pending:
                return
            client = self.client
            if target and client.has_capability("MOVE"):
                client.move(pending, target)
            elif target:  # QQ: no MOVE
                client.copy(pending, target)
                self._expunge(pending)
            else:
                flags = [b"\\Seen"] + ([DONE_KEYWORD.encode()] if self.keywords_allowed else [])
                client.add_flags(pending, flags, silent=True)
        self._retry(act, "mark done")

    def _expunge(self, ids: list[int]) -> None:
        self.client.add_flags(ids, [b"\\Deleted"], silent=True)
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(ids)
        else:
            self.client.expunge()

    def _expunge_already_copied(self, ids: list[int], target: str) -> list[int]:
        """After an interrupted MOVE/COPY: remove originals whose copy (same Message-ID) is in `target`."""
        present = {uid: message_id for uid, (message_id, _) in
                   ((int(u), v) for u, v in self._peek_now([str(i) for i in ids]).items())}
        if not present:
            return []
        client = self.client
        client.select_folder(target, readonly=True)
        copied = [uid for uid, message_id in present.items()
                  if message_id and client.search(["HEADER", "Message-ID", message_id])]
        self._select()
        if copied:
            log.info("mailbox=%s %d message(s) already in %s after an interrupted move", self.mailbox.name,
                     len(copied), target)
            self._expunge(copied)
        return [uid for uid in present if uid not in copied]
