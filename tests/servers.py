"""Real servers for the integration tests: Dovecot as a child process on a loopback port.

No systemd and no system config: a dovecot.conf written into a temp dir with a
passwd-file and Maildirs under it. Each test gets a fresh user.
"""

from __future__ import annotations

import itertools
import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

from imapclient import IMAPClient

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
{user_settings}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  {chroot}
}}
service anvil {{
  {chroot}
}}
protocol imap {{
  mail_max_userip_connections = 100
  imap_id_log = *
{imap_extra}
}}
"""
# What Dovecot 2.3 announces after login; a test server can hide some of it (as 163 Mail has no MOVE).
CAPABILITIES = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
                "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS "
                "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
                "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY")


def capabilities_without(*names: str) -> str:
    return " ".join(c for c in CAPABILITIES.split() if c not in names)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1; clients trust it through SSL_CERT_FILE."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    os.chmod(key, 0o644)
    return cert, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    """One Dovecot for the test session; `stop()`/`start()` simulate a crash and a restart."""

    PASSWORD = "secret-pass"

    def __init__(self, root: Path, cert: tuple[Path, Path] | None = None, capability: str | None = None):
        self.root = root
        self.port = free_port()
        self.tls_port = free_port() if cert else 0
        self.process: subprocess.Popen | None = None
        self.conf = root / "dovecot.conf"
        self._users = itertools.count(1)
        (root / "home").mkdir(parents=True, exist_ok=True)
        # Dovecot re-reads a passwd-file only when its mtime changes (1 s steps): create users up front.
        (root / "passwd").write_text("".join(f"user{n}:{{PLAIN}}{self.PASSWORD}::::::\n" for n in range(1, 501)))
        if os.geteuid() == 0:
            uid = gid = 65534
            user_settings, chroot = "", ""
            os.chown(root / "home", uid, gid)
        else:
            me = pwd.getpwuid(os.getuid())
            uid, gid = me.pw_uid, me.pw_gid
            user_settings = (f"default_internal_user = {me.pw_name}\ndefault_login_user = {me.pw_name}\n"
                             f"default_internal_group = {me.pw_name}\n")
            chroot = "chroot ="
        ssl_files = f"ssl_cert = <{cert[0]}\nssl_key = <{cert[1]}" if cert else ""
        self.conf.write_text(DOVECOT_CONF.format(root=root, port=self.port, tls_port=self.tls_port, uid=uid, gid=gid, chroot=chroot,
                                                 user_settings=user_settings, ssl="yes" if cert else "no",
                                                 ssl_files=ssl_files,
                                                 imap_extra=f"  imap_capability = {capability}" if capability else ""))
        self.uid, self.gid = uid, gid

    def start(self) -> None:
        self.process = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.process.stderr.read().decode()} "
                                   f"{self.log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("dovecot did not start listening")

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            group = self.process.pid
            os.killpg(group, signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(10)
            # Wait until every child is gone (reaped, not a zombie): a restarted Dovecot trusts the
            # maildir dotlocks of PIDs that still exist and would wait minutes on them.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
        if kill:
            # A SIGKILLed Dovecot leaves maildir dotlocks that a new one honours for minutes: clear them,
            # as a server's crash recovery would. (The daemon copes either way; the test would just wait.)
            for lock in (self.root / "home").rglob("dovecot-uidlist.lock"):
                lock.unlink(missing_ok=True)
        self.process = None
        pid_file = self.root / "run" / "master.pid"
        pid_file.unlink(missing_ok=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self) -> tuple[str, str]:
        """A user no other test has touched."""
        return f"user{next(self._users)}", self.PASSWORD

    def client(self, user: str, password: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user, password)
        return client

    def append(self, user: str, password: str, folder: str, messages: list[bytes],
               when=None) -> list[int]:
        with self.client(user, password) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            uids = []
            for raw in messages:
                response = client.append(folder, raw, msg_time=when)
                uids.append(response)
            return uids

    def count(self, user: str, password: str, folder: str) -> int:
        with self.client(user, password) as client:
            if not client.folder_exists(folder):
                return 0
            return client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"]

    def bodies(self, user: str, password: str, folder: str) -> list[bytes]:
        with self.client(user, password) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            return [v[b"BODY[]"] for v in client.fetch(uids, ["BODY.PEEK[]"]).values()]


class SmtpSink:
    """A real aiosmtpd server on loopback: STARTTLS required, AUTH after TLS, messages kept in memory.

    `refuse` maps a recipient to an SMTP reply (e.g. "550 5.1.1 no such user"); `deliver` is called
    with (recipient, raw bytes) for each accepted message (the loop tests hand mail on to Dovecot).
    """

    USER, PASSWORD = "robot", "smtp-secret"

    def __init__(self, cert: tuple[Path, Path], delay_rcpt: float = 0.0, mode: str = "starttls"):
        import ssl

        self.port = free_port()
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: dict[str, str] = {}
        self.deliver = None
        self.delay_rcpt = delay_rcpt
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(cert[0]), str(cert[1]))
        self.controller = None
        self.mode = mode  # starttls | tls (implicit, port 465 style) | none (plain, loopback)
        self.auth_attempts: list[str] = []  # the mechanism of every AUTH a client tried
        self.auth_reply: str | None = None  # e.g. "454 4.7.0 Temporary authentication failure"

    # -- aiosmtpd handler hooks --------------------------------------------------------------

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.delay_rcpt:
            import asyncio
            await asyncio.sleep(self.delay_rcpt)
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        if self.deliver:
            for rcpt in envelope.rcpt_tos:
                self.deliver(rcpt, bytes(envelope.original_content))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.auth_attempts.append(mechanism)
        if self.auth_reply:
            return AuthResult(success=False, handled=False, message=self.auth_reply)
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.USER \
            and auth_data.password.decode() == self.PASSWORD
        return AuthResult(success=ok, handled=False)  # handled=False, or a failing client hangs

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        tls = {"starttls": dict(tls_context=self.context, require_starttls=True, auth_require_tls=True),
               "tls": dict(ssl_context=self.context, auth_require_tls=False),  # encrypted from the first byte
               "none": dict(auth_require_tls=False)}[self.mode]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, server_hostname="localhost",
                                     authenticator=self.authenticate, auth_required=True, **tls)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def bodies(self) -> list:
        import email
        import email.policy
        return [email.message_from_bytes(raw, policy=email.policy.default) for _, _, raw in self.messages]
