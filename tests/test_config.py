"""Configuration: typed values, and every error reported by key and line in Chinese and English."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox_daemon.config import load_config, parse_duration
from inbox_daemon.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    if "[rules]" not in text:
        text += f'\n[rules]\ndir = "{ROOT / "rules"}"\n'
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_with_paths_beside_it():
    config = load_config(ROOT / "config.toml")
    assert config.mailboxes[0].source == "maildir"
    assert config.mailboxes[0].path == ROOT / "data" / "samples" / "Maildir"
    assert config.smtp.transport == "file"
    assert config.rules_dir == (ROOT / "rules").resolve()
    assert config.schedule.poll_every == 120 and config.schedule.timezone == "Asia/Shanghai"


def test_imap_mailbox_typed_with_defaults(tmp_path):
    config = load_config(write(tmp_path, """
[[mailboxes]]
name = "committee"
source = "imap"
host = "imap.qq.com"
username = "382343653@qq.com"
password_env = "QQ_PASSWORD"
done_folder = "已登记"
contests = ["micro_video", "reading_team"]
"""))
    [mailbox] = config.mailboxes
    assert (mailbox.port, mailbox.security, mailbox.folder, mailbox.done_folder) == (993, "tls", "INBOX", "已登记")
    assert mailbox.contests == ("micro_video", "reading_team")
    assert config.storage.database == tmp_path / "data" / "inbox.db"


def test_errors_name_key_and_line_in_both_languages(tmp_path):
    path = write(tmp_path, """[storage]
database = "x.db"
colour = "blue"

[[mailboxes]]
name = "a"
source = "imap"
host = "imap.163.com"
security = "none"
username = "ldghxjb@163.com"
password_env = "hunter2!"
contests = ["micro_video"]

[[mailboxes]]
name = "b"
source = "pop3"
contests = ["photography"]

[schedule]
poll_every = "soon"
timezone = "Mars/Olympus"
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    expected = [
        ("第 3 行", "[storage].colour", "未知的配置项", "unknown key"),
        ("第 9 行", "[[mailboxes]][0].security", "只允许用于本机地址", "loopback"),
        ("第 11 行", "[[mailboxes]][0].password_env", "必须是环境变量名", "environment variable"),
        ("第 16 行", "[[mailboxes]][1].source", "取值必须是", "must be one of"),
        ("第 17 行", "[[mailboxes]][1].contests", "未知的比赛 photography", "unknown contest"),
        ("第 20 行", "[schedule].poll_every", "时长", "duration"),
        ("第 21 行", "[schedule].timezone", "未知的时区", "unknown time zone"),
    ]
    for line, key, zh, en in expected:
        row = next((r for r in message.splitlines() if key in r), "")
        assert line in row and zh in row and en in row, (key, message)


def test_toml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"TOML 语法错误.*line 3"):
        load_config(write(tmp_path, '[storage]\ndatabase = "x"\nfiles = \n'))


def test_missing_file_and_missing_mailboxes(tmp_path):
    with pytest.raises(ConfigError, match="无法读取配置文件"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=r"至少需要配置一个邮箱"):
        load_config(write(tmp_path, "[storage]\n"))


def test_password_comes_from_the_environment_only(tmp_path, monkeypatch):
    config = load_config(write(tmp_path, """[[mailboxes]]
name = "m"
source = "imap"
host = "127.0.0.1"
security = "none"
username = "u"
password_env = "INBOX_TEST_PW"
contests = ["photo"]
"""))
    monkeypatch.delenv("INBOX_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="环境变量 INBOX_TEST_PW 未设置"):
        config.mailboxes[0].password()
    monkeypatch.setenv("INBOX_TEST_PW", "s3cret")
    assert config.mailboxes[0].password() == "s3cret"


@pytest.mark.parametrize("value,seconds", [(300, 300), ("45s", 45), ("5m", 300), ("1h", 3600), ("0", None),
                                           ("fast", None), (True, None)])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


def test_every_public_key_loads(tmp_path):
    """DESIGN.md "Public contracts": every key outside tools write, plus [web]; none renamed."""
    config = load_config(write(tmp_path, """[storage]
database = "d/inbox.db"
files = "d/files"

[[mailboxes]]
name = "committee"
source = "imap"
host = "imap.qq.com"
port = 993
security = "tls"
username = "382343653@qq.com"
password_env = "QQ_PW"
folder = "INBOX"
done_folder = "已登记"
contests = ["micro_video"]

[[mailboxes]]
name = "local"
source = "maildir"
path = "Maildir"
contests = ["photo", "activity_report"]

[smtp]
transport = "smtp"
host = "smtp.qq.com"
port = 465
security = "tls"
username = "382343653@qq.com"
password_env = "QQ_PW"
from = "382343653@qq.com"
outbox_dir = "out"

[schedule]
poll_every = "5m"
digest_at = "20:30"
timezone = "Asia/Shanghai"

[digest]
to = ["a@example.org"]
reports_dir = "r"

[web]
listen = "0.0.0.0:8081"
base_url = "https://contest.example.org"
secret_env = "WEB_KEY"
secure_cookies = true
session_hours = 8
"""))
    assert config.mailboxes[1].contests == ("photo", "activity_report")
    assert (config.smtp.port, config.schedule.poll_every, config.digest.to) == (465, 300, ("a@example.org",))
    assert (config.web.port, config.web.base_url, config.web.secure_cookies, config.web.session_hours) == (
        8081, "https://contest.example.org/", True, 8)


def test_typos_and_ranges_through_the_shared_checker(tmp_path):
    """The same checker as the rules: a close typo names the intended key; sizes and durations must be > 0."""
    path = write(tmp_path, """[[mailboxes]]
name = "m"
source = "maildir"
path = "Maildir"
contests = ["photo"]
timeout = -5
batch_sise = 10

[smtp]
max_attempt = 3
daily_limit = 0

[web]
listen = "8080"
secure_cookies = "yes"
session_hours = 0
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    expected = [
        ("第 6 行", "[[mailboxes]][0].timeout", "必须是大于 0 的数", "must be a number > 0"),
        ("第 7 行", "[[mailboxes]][0].batch_sise", "（是否应为 batch_size？）", "did you mean batch_size?"),
        ("第 10 行", "[smtp].max_attempt", "未知的配置项 max_attempt", "unknown key max_attempt"),
        ("第 11 行", "[smtp].daily_limit", "必须是整数（1–1000）", "must be an integer (1–1000)"),
        ("第 14 行", "[web].listen", "地址:端口", "host:port"),
        ("第 15 行", "[web].secure_cookies", "必须是 true 或 false", "must be true or false"),
        ("第 16 行", "[web].session_hours", "必须是整数", "must be an integer"),
    ]
    for line, key, zh, en in expected:
        row = next((r for r in message.splitlines() if f"{key}:" in r), "")
        assert line in row and zh in row and en in row and "config.toml" in row, (key, message)
