"""Fixtures for the console in a real headless Chromium (Debian's chromium + chromium-driver).

`browser`: a fresh Chromium per test (its own profile folder, no network but loopback).
`console`: the console app served by waitress on a free loopback port over a register filled by a
real pass over the demo mail; every request the server answers is recorded (method, path, status),
so a test can see a 206 reach the server. Import from conftest.py with one line.
"""

from __future__ import annotations

import mailbox
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
                  "--autoplay-policy=no-user-gesture-required")
PASSWORDS = {"admin": "admin-password-1", "reviewer": "reviewer-password-1", "viewer": "viewer-password-1",
             "juror": "juror-password-1"}
ALL_CONTESTS = ["micro_video", "photo", "reading_promoter", "reading_team", "bookhouse"]
XSS_SUBJECT = '摄影比赛<script>document.title="pwned"</script>'
XSS_TITLE = '"><img src=x onerror="document.title=\'pwned\'">'


def make_driver(width: int = 1280, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium is not installed: apt-get install -y chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="inbox-daemon-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--lang=zh-CN")  # the browser's own words (file and date inputs) as an office PC shows them
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.profile_dir = profile
    return driver


@pytest.fixture
def browser():
    driver = make_driver()
    yield driver
    driver.quit()
    shutil.rmtree(driver.profile_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_mail() -> list[bytes]:
    """The demo set (real JPEGs with EXIF, real H.264 videos, forms) and one hostile entry."""
    from inbox_daemon.demo import media
    from inbox_daemon.demo.samples import compose, sample_messages

    messages = [raw for _, raw in sample_messages()]
    hostile = compose(sender="xss@example.com", sender_name="<b>坏人</b>", to="ldghxjb@163.com",
                      subject=XSS_SUBJECT,
                      body=f"作品名称：{XSS_TITLE}\n作者：<script>alert(1)</script>\n单位：测试单位\n联系电话：13800138000\n",
                      attachments=[("x.jpg", media.make_jpeg(size=2_100_000, seed=42), "image/jpeg")])
    return [*messages, hostile]


@dataclass
class ConsoleServer:
    url: str
    config: object
    store: object
    requests: list = field(default_factory=list)

    def login(self, driver, name: str, password: str | None = None, refused: bool = False) -> None:
        from selenium.webdriver.common.by import By
        driver.get(self.url + "/login")
        driver.find_element(By.NAME, "name").send_keys(name)
        driver.find_element(By.NAME, "password").send_keys(password or PASSWORDS[name])
        driver.find_element(By.ID, "login-submit").click()
        if refused:
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".flash.error"), what="the refusal")
        else:
            wait_for(lambda: "/login" not in driver.current_url, what=f"login as {name}")

    def seen(self, method: str, path_prefix: str, status: int) -> bool:
        return any(m == method and p.startswith(path_prefix) and s == status for m, p, s in list(self.requests))


def wait_for(condition, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001  (a page still loading: try again)
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def recording(app, log: list):
    """WSGI middleware: note (method, path, status) of every answered request."""
    def middleware(environ, start_response):
        def start(status, headers, exc_info=None):
            log.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), int(status.split()[0])))
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return middleware


def fill_register(tmp_path: Path, messages: list[bytes], **sections):
    """A config over a Maildir holding `messages`, one real pass over it, and the four test accounts."""
    from conftest import write_config

    from inbox_daemon import accounts
    from inbox_daemon.config import load_config
    from inbox_daemon.ingest import poll_all
    from inbox_daemon.store import Store

    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for raw in messages:
        maildir.add(raw)
    mailboxes = sections.pop("mailboxes", None) or [
        {"name": "demo", "source": "maildir", "path": str(tmp_path / "Maildir"), "contests": ALL_CONTESTS}]
    config = load_config(write_config(tmp_path, mailboxes, **sections))
    store = Store.from_config(config)
    if messages:
        poll_all(config, store)
    for role, password in PASSWORDS.items():
        accounts.add_user(store.db, role, role, password)
    return config, store


def start_console(config, monkeypatch):
    """Serve the console on a free loopback port in this process; returns (server, thread, log)."""
    from waitress import create_server

    from inbox_daemon.web import create_app

    monkeypatch.setenv(config.web.secret_env if config.web else "INBOX_WEB_SECRET", secrets.token_urlsafe(40))
    app = create_app(config)
    log: list = []
    app.wsgi_app = recording(app.wsgi_app, log)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread, log


@pytest.fixture
def console(tmp_path, demo_mail, monkeypatch):
    config, store = fill_register(tmp_path, demo_mail)
    server, thread, log = start_console(config, monkeypatch)
    yield ConsoleServer(f"http://127.0.0.1:{server.effective_port}", config, store, log)
    server.close()
    thread.join(timeout=5)
    store.close()
