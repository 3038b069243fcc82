from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import Dovecot, SmtpSink, self_signed_cert  # noqa: E402
from browser import browser, console, demo_mail  # noqa: E402,F401  (the console in a real Chromium)

from inbox_daemon.demo import media  # noqa: E402
from inbox_daemon.config import load_config  # noqa: E402

RULES = Path(__file__).resolve().parents[1] / "rules"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
PASSWORD_ENV = "TEST_IMAP_PASSWORD"
# A test that uses one of these needs a server, a browser, a child process or media made by ffmpeg:
# it is an integration test, left out of `make test-fast`.
INTEGRATION_FIXTURES = {"dovecot", "dovecot_without_move", "imap_user", "smtp_sink", "clips", "browser", "console", "tls_cert"}


def pytest_sessionstart(session):
    """Under CI the corpus tests must run: a missing ../shared/corpus fails the run instead of skipping."""
    if os.environ.get("CI") and not (CORPUS / "MANIFEST.tsv").exists():
        pytest.exit(f"CI is set but the corpus is missing at {CORPUS}: the corpus tests cannot be skipped in CI",
                    returncode=1)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.integration)
SMTP_PASSWORD_ENV = "TEST_SMTP_PASSWORD"


@pytest.fixture(scope="session")
def dovecot():
    if not shutil.which("dovecot"):
        pytest.fail("dovecot is not installed: apt-get install -y dovecot-imapd")
    # Not under pytest's tmp dir: that is 0700, and Dovecot's auth and mail processes drop privileges.
    root = Path(tempfile.mkdtemp(prefix="inbox-daemon-dovecot-"))
    os.chmod(root, 0o755)
    server = Dovecot(root, cert=self_signed_cert(root))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def _dovecot(capability: str | None = None):
    if not shutil.which("dovecot"):
        pytest.fail("dovecot is not installed: apt-get install -y dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="inbox-daemon-dovecot-"))
    os.chmod(root, 0o755)
    server = Dovecot(root, capability=capability)
    server.start()
    return server, root


@pytest.fixture(scope="session", params=["no MOVE", "no MOVE, no UIDPLUS"])
def dovecot_without_move(request):
    """Dovecot announcing no MOVE (like 163 Mail), and a second one with neither MOVE nor UIDPLUS."""
    from servers import capabilities_without
    hidden = ("MOVE",) if request.param == "no MOVE" else ("MOVE", "UIDPLUS")
    server, root = _dovecot(capabilities_without(*hidden))
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_sink(tls_cert, monkeypatch):
    """A fresh aiosmtpd per test (cheap: a thread); the client trusts the test certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    monkeypatch.setenv(SMTP_PASSWORD_ENV, SmtpSink.PASSWORD)
    sink = SmtpSink(tls_cert)
    sink.start()
    yield sink
    sink.stop()


def smtp_section(sink, **extra) -> dict:
    return {"transport": "smtp", "host": "localhost", "port": sink.port, "security": "starttls",
            "username": SmtpSink.USER, "password_env": SMTP_PASSWORD_ENV, "from": "robot@contest.example.org", **extra}


@pytest.fixture
def imap_user(dovecot, monkeypatch):
    user, password = dovecot.add_user()
    monkeypatch.setenv(PASSWORD_ENV, password)
    return user, password


def write_config(tmp_path: Path, mailboxes: list[dict], **sections) -> Path:
    """A config.toml for one test; mailboxes are dicts of [[mailboxes]] keys."""
    rules = sections.pop("rules", None) or {"dir": str(RULES)}
    lines = ["[storage]", f'database = "{tmp_path}/data/inbox.db"', f'files = "{tmp_path}/data/files"', "",
             "[rules]", f'dir = "{rules["dir"]}"', ""]
    for mailbox in mailboxes:
        lines.append("[[mailboxes]]")
        lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in mailbox.items()]
        lines.append("")
    smtp = sections.pop("smtp", None) or {"transport": "file", "outbox_dir": f"{tmp_path}/outbox"}
    lines.append("[smtp]")
    lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in smtp.items()]
    lines.append("")
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in values.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def imap_mailbox(dovecot: Dovecot, user: str, **extra) -> dict:
    return {"name": extra.pop("name", user), "source": "imap", "host": "127.0.0.1", "port": dovecot.port,
            "security": "none", "username": user, "password_env": PASSWORD_ENV,
            "contests": ["micro_video", "photo"], **extra}


@pytest.fixture
def config_for(tmp_path):
    def make(mailboxes: list[dict], **sections):
        return load_config(write_config(tmp_path, mailboxes, **sections))
    return make


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inbox_daemon", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="session")
def clips():
    """Real H.264 files, made once per session (about 8 s in all)."""
    return {"170": media.make_video(170), "200": media.make_video(200), "290": media.make_video(290),
            "310": media.make_video(310), "low": media.make_video(150, 640, 360)}


@pytest.fixture(scope="session")
def photos():
    """JPEGs just over and under 2,000,000 bytes with camera EXIF, an edited one, one without EXIF, a PNG."""
    return {"one": media.make_jpeg(size=2_500_000, seed=10), "big": media.make_jpeg(size=2_000_100, seed=11),
            "big2": media.make_jpeg(size=2_000_200, seed=12),
            "big3": media.make_jpeg(size=2_000_300, seed=13), "big4": media.make_jpeg(size=2_000_400, seed=14),
            "small": media.make_jpeg(size=1_999_900, seed=15),
            "ps": media.make_jpeg(size=2_100_000, seed=16, software="Adobe Photoshop 23.0 (Windows)"),
            "noexif": media.make_jpeg(size=2_100_000, seed=17, make=None, model=None, taken=None),
            "png": media.make_png(1600, 1200)}
