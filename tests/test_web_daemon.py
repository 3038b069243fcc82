"""`inbox-daemon run` with [web]: the daemon polls a real Dovecot while a browser session decides
entries in the console it serves. Nothing ends in `error`, no reply goes out twice."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import datetime, timedelta, timezone

from browser import ALL_CONTESTS, PASSWORDS, wait_for
from conftest import imap_mailbox, write_config
from selenium.webdriver.common.by import By
from servers import free_port

from inbox_daemon import accounts
from inbox_daemon.config import load_config
from inbox_daemon.store import Store


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_a_browser_decides_entries_while_the_daemon_polls_dovecot(dovecot, imap_user, browser, demo_mail, tmp_path):
    user, password = imap_user
    first, later = demo_mail[:7], demo_mail[7:]
    during_contest = datetime(2022, 9, 1, 10, 0, tzinfo=timezone(timedelta(hours=8)))  # the server's INTERNALDATE
    dovecot.append(user, password, "INBOX", first, when=during_contest)
    port = free_port()
    path = write_config(tmp_path, [imap_mailbox(dovecot, user, contests=ALL_CONTESTS)], schedule={"poll_every": 2},
                        web={"listen": f"127.0.0.1:{port}"})
    config = load_config(path)
    store = Store.from_config(config)
    accounts.add_user(store.db, "reviewer", "reviewer", PASSWORDS["reviewer"])
    url = f"http://127.0.0.1:{port}"
    daemon = subprocess.Popen([sys.executable, "-m", "inbox_daemon", "-v", "--config", str(path), "run"],
                              env={**os.environ, "INBOX_WEB_SECRET": secrets.token_urlsafe(40)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _up(url + "/login"), timeout=60, what="the console served by `run`")

        def judged() -> int:
            return store.db.execute("SELECT COUNT(*) FROM messages WHERE status <> 'stored'").fetchone()[0]

        wait_for(lambda: judged() >= len(first), timeout=120, what="the first pass")
        delivery = threading.Timer(1.0, dovecot.append, args=(user, password, "INBOX", later),
                                   kwargs={"when": during_contest})
        delivery.start()  # more mail arrives while the reviewer works

        browser.get(url + "/login")
        browser.find_element(By.NAME, "name").send_keys("reviewer")
        browser.find_element(By.NAME, "password").send_keys(PASSWORDS["reviewer"])
        browser.find_element(By.ID, "login-submit").click()
        wait_for(lambda: "/login" not in browser.current_url, what="login")

        decided: list[str] = []
        for _ in range(30):
            if judged() >= len(demo_mail) and not store.db.execute(
                    "SELECT 1 FROM entry_list WHERE outcome='needs_review'").fetchone():
                break
            browser.get(url + "/review")
            links = browser.find_elements(By.CSS_SELECTOR, "table a.receipt")
            if not links:
                threading.Event().wait(1)
                continue
            receipt = links[0].text
            links[0].click()
            wait_for(lambda: browser.find_elements(By.ID, "decide-submit"), what=f"the form of {receipt}")
            browser.find_element(By.ID, "decision-accept").click()
            browser.find_element(By.ID, "note").send_keys(f"并发测试：{receipt} 人工通过")
            browser.find_element(By.ID, "message").send_keys("已人工审核通过")
            browser.find_element(By.ID, "decide-submit").click()
            wait_for(lambda: "已记录决定" in browser.page_source or "正在被其他进程处理" in browser.page_source,
                     what=f"the decision on {receipt}")
            if "已记录决定" in browser.page_source:
                decided.append(receipt)
        delivery.join()
        wait_for(lambda: judged() == len(demo_mail), timeout=120, what="every message judged")
        wait_for(lambda: not store.db.execute(
            "SELECT 1 FROM outbox WHERE status IN ('queued', 'sending')").fetchone(), timeout=60,
            what="the outbox drained")
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr[-3000:]
    assert "console listening" in stderr
    assert len(decided) >= 3
    errors = list(store.db.query("SELECT id, error FROM messages WHERE outcome = 'error'"))
    assert errors == []
    duplicates = list(store.db.query(
        "SELECT message, outcome, kind, COUNT(*) AS n FROM outbox WHERE status <> 'suppressed' "
        "GROUP BY message, outcome, kind HAVING COUNT(*) > 1"))
    assert duplicates == []
    for receipt in decided:
        entry = store.register.entry(receipt)
        assert entry["outcome"] == "accepted"
        replies = [r for r in store.outbox.replies(entry["id"]) if r["outcome"] == "accepted"]
        assert [r["status"] for r in replies] == ["sent"]
    assert len({row[0] for row in store.db.execute("SELECT raw_sha256 FROM messages")}) == len(demo_mail)
    store.close()
