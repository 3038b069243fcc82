"""`config.toml` parsed once into frozen dataclasses and validated at start-up.

Every problem is reported with its key and line, in Chinese for the staff and
English for the operator, all problems at once. Secrets never sit in the file:
`password_env` names an environment variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .rules import contest_ids
from .validate import INVALID, Checker, Flag, Integer, Number, Text, unknown

TOP_LEVEL = ("storage", "rules", "mailboxes", "smtp", "schedule", "digest", "web")
SECURITY_DEFAULT_PORTS = {"imap": {"tls": 993, "starttls": 143, "none": 143},
                          "smtp": {"tls": 465, "starttls": 587, "none": 25}}


@dataclass(frozen=True)
class StorageConfig:
    database: Path
    files: Path

    @property
    def lock_path(self) -> Path:
        return self.database.with_suffix(".lock")


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    source: str  # imap | maildir
    contests: tuple[str, ...]
    folder: str = "INBOX"
    done_folder: str | None = None
    host: str | None = None
    port: int | None = None
    security: str = "tls"
    username: str | None = None
    password_env: str | None = None
    path: Path | None = None
    batch_size: int = 50
    timeout: float = 60.0

    def password(self) -> str:
        """The password, read from the environment at the moment it is needed."""
        value = os.environ.get(self.password_env or "")
        if not value:
            raise ConfigError(
                f"邮箱 {self.name}：环境变量 {self.password_env} 未设置 / "
                f"mailbox {self.name}: environment variable {self.password_env} is not set")
        return value


@dataclass(frozen=True)
class SmtpConfig:
    transport: str = "file"  # smtp | file
    from_addr: str = "inbox-daemon@localhost"
    host: str | None = None
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    outbox_dir: Path | None = None
    max_attempts: int = 10  # temporary failures before a reply is marked failed
    daily_limit: int = 5  # replies per address per 24 h, then one notice and silence
    templates_dir: Path | None = None  # overrides for the package's templates
    timeout: float = 30.0


@dataclass(frozen=True)
class ScheduleConfig:
    poll_every: int = 300  # seconds
    digest_at: str = "21:00"
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class DigestConfig:
    to: tuple[str, ...] = ()
    reports_dir: Path = Path("reports")


@dataclass(frozen=True)
class WebConfig:
    """The staff console. `secret_env` names the variable holding the session key (never in the file)."""

    listen: str = "127.0.0.1:8080"
    base_url: str | None = None  # e.g. https://contest.example.org/ : the digest links entries there
    secret_env: str = "INBOX_WEB_SECRET"
    secure_cookies: bool = False  # set when served over TLS (nginx in front)
    session_hours: int = 12

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Config:
    path: Path
    storage: StorageConfig
    rules_dir: Path
    mailboxes: tuple[MailboxConfig, ...]
    smtp: SmtpConfig
    schedule: ScheduleConfig
    digest: DigestConfig = field(default_factory=DigestConfig)
    web: WebConfig | None = None  # None: no [web] section, `run` serves no console

    def mailbox(self, name: str) -> MailboxConfig:
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise ConfigError(f"没有名为 {name} 的邮箱 / no mailbox named {name}")


def load_config(path: str | Path) -> Config:
    """Read and validate `path`; raise ConfigError listing every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"无法读取配置文件 {path} / cannot read config file {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: 配置文件必须是 UTF-8 编码 / config file must be UTF-8") from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: TOML 语法错误 / TOML syntax error: {err}") from err
    reader = _Reader(path, text, path.resolve().parent)
    config = reader.build(path, data)
    problems = reader.checker.problems
    if problems:
        ordered = sorted(problems, key=lambda p: p.line or 0)
        lines = "\n  ".join(str(p) for p in ordered)
        raise ConfigError(f"{path}: 配置有 {len(problems)} 处错误 / "
                          f"{len(problems)} configuration error(s):\n  {lines}")
    return config


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_duration(value: object) -> int | None:
    """Seconds from 300, "300", "30s", "5m" or "1h"; None when unreadable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    match = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", str(value))
    if not match:
        return None
    seconds = int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    return seconds or None


def _label(path: tuple) -> str:
    """`[storage].colour`, `[[mailboxes]][0].security`: keys as the operator sees them in the file."""
    table, *rest = path
    if rest and isinstance(rest[0], int):
        label, rest = f"[[{table}]][{rest[0]}]", rest[1:]
    else:
        label = f"[{table}]"
    return label + "".join(f".{key}" for key in rest)


class _Reader:
    """Walks the parsed TOML, collecting typed values; problems go to the shared checker with their lines."""

    def __init__(self, path: Path, text: str, base: Path):
        self.checker = Checker(path, text, label=_label)
        self.base = base
        self.known_contests: tuple[str, ...] = ()

    # -- problem reporting -------------------------------------------------

    @staticmethod
    def _path(table: str, key: str | None, index: int | None) -> tuple:
        return tuple(p for p in (table or None, index, key) if p is not None)

    def problem(self, table: str, key: str | None, zh: str, en: str, index: int | None = None):
        self.checker.fail(self._path(table, key, index), zh, en)

    def _checked(self, spec, data, table, key, default, index):
        value = self.checker.check(spec, data.get(key), self._path(table, key, index))
        return default if value is INVALID else value

    # -- typed getters -----------------------------------------------------

    def table(self, data: dict, name: str, known: set[str], index: int | None = None) -> dict:
        for key in data:
            if key not in known:
                unknown(self.checker, self._path(name, key, index), key, sorted(known))
        return data

    def string(self, data, table, key, default=None, *, required=False, choices=None, index=None):
        if data.get(key, default) is None:
            if required:
                self.problem(table, key, "必须填写", "is required", index)
            return None
        if key not in data:
            return default
        return self._checked(Text(choices=tuple(choices or ())), data, table, key, default, index)

    def integer(self, data, table, key, default=None, *, index=None, low=1, high=None):
        if key not in data:
            return default
        return self._checked(Integer(low, high), data, table, key, default, index)

    def number(self, data, table, key, default, *, index=None) -> float:
        """A positive number of seconds."""
        if key not in data:
            return float(default)
        value = self.checker.check(Number(), data[key], self._path(table, key, index))
        return float(default if value is INVALID else value)

    def path(self, data, table, key, default=None, *, index=None, required=False):
        value = self.string(data, table, key, default, index=index, required=required)
        return None if value is None else (self.base / value).resolve()

    def string_list(self, data, table, key, *, index=None, required=False) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(table, key, "必须填写", "is required", index)
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(table, key, "必须是字符串列表", "must be a list of strings", index)
            return ()
        return tuple(value)

    # -- sections ----------------------------------------------------------

    def build(self, path: Path, data: dict) -> Config:
        for key in data:
            if key not in TOP_LEVEL:
                unknown(self.checker, (key,), key, list(TOP_LEVEL))
        storage = self.storage(self.section(data, "storage"))
        rules = self.table(self.section(data, "rules"), "rules", {"dir"})
        rules_dir = self.path(rules, "rules", "dir", "rules")
        self.known_contests = contest_ids(rules_dir) if rules_dir else ()
        if not self.known_contests:
            self.problem("rules", "dir", f"规则目录 {rules_dir} 中没有比赛规则文件", f"no contest rules in {rules_dir}")
        mailboxes = self.mailboxes(data.get("mailboxes"))
        smtp = self.smtp(self.section(data, "smtp"))
        schedule = self.schedule(self.section(data, "schedule"))
        digest = self.digest(self.section(data, "digest"))
        web = self.web(self.section(data, "web")) if "web" in data else None
        return Config(path=path.resolve(), storage=storage, rules_dir=rules_dir, mailboxes=mailboxes,
                      smtp=smtp, schedule=schedule, digest=digest, web=web)

    def section(self, data: dict, name: str) -> dict:
        value = data.get(name, {})
        if not isinstance(value, dict):
            self.problem(name, None, "必须是一个表（[…]）", "must be a table ([...])")
            return {}
        return value

    def storage(self, data: dict) -> StorageConfig:
        self.table(data, "storage", {"database", "files"})
        return StorageConfig(database=self.path(data, "storage", "database", "data/inbox.db"),
                             files=self.path(data, "storage", "files", "data/files"))

    def mailboxes(self, value) -> tuple[MailboxConfig, ...]:
        if not value:
            self.problem("mailboxes", None, "至少需要配置一个邮箱 [[mailboxes]]",
                         "at least one [[mailboxes]] entry is required")
            return ()
        if not isinstance(value, list):
            self.problem("mailboxes", None, "必须写成 [[mailboxes]] 表数组",
                         "must be an array of tables [[mailboxes]]")
            return ()
        result, names = [], set()
        for index, item in enumerate(value):
            mailbox = self.mailbox(item, index)
            if mailbox is None:
                continue
            if mailbox.name in names:
                self.problem("mailboxes", "name", f"邮箱名称 {mailbox.name} 重复",
                             f"duplicate mailbox name {mailbox.name}", index)
            names.add(mailbox.name)
            result.append(mailbox)
        return tuple(result)

    def mailbox(self, data: dict, index: int) -> MailboxConfig | None:
        t = "mailboxes"
        self.table(data, t, {"name", "source", "host", "port", "security", "username", "password_env",
                             "folder", "path", "contests", "done_folder", "batch_size", "timeout"}, index)
        name = self.string(data, t, "name", required=True, index=index) or f"#{index}"
        source = self.string(data, t, "source", required=True, choices=("imap", "maildir"), index=index)
        contests = self.string_list(data, t, "contests", index=index, required=True)
        for contest in contests:
            if self.known_contests and contest not in self.known_contests:
                known = self.known_contests
                self.problem(t, "contests", f"未知的比赛 {contest}（可选：{'、'.join(known)}）",
                             f"unknown contest {contest} (known: {', '.join(known)})", index)
        common = dict(
            name=name, source=source or "imap", contests=contests,
            folder=self.string(data, t, "folder", "INBOX", index=index),
            done_folder=self.string(data, t, "done_folder", index=index),
            batch_size=self.integer(data, t, "batch_size", 50, index=index, high=1000),
        )
        common["timeout"] = self.number(data, t, "timeout", 60, index=index)
        if source == "maildir":
            return MailboxConfig(path=self.path(data, t, "path", required=True, index=index), **common)
        security = self.string(data, t, "security", "tls", choices=("tls", "starttls", "none"), index=index)
        host = self.string(data, t, "host", required=source == "imap", index=index)
        if security == "none" and host and not is_loopback(host):
            self.problem(t, "security", "明文连接（none）只允许用于本机地址；请改用 tls 或 starttls",
                         "plain connections (none) are allowed for loopback hosts only; use tls or starttls",
                         index)
        username = self.string(data, t, "username", required=source == "imap", index=index)
        password_env = self.string(data, t, "password_env", required=source == "imap", index=index)
        if password_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", password_env):
            self.problem(t, "password_env", "必须是环境变量名（不是密码本身）",
                         "must be the name of an environment variable (not the password)", index)
        port = self.integer(data, t, "port", None, index=index, high=65535)
        if source is None:
            return None
        return MailboxConfig(host=host, port=port or SECURITY_DEFAULT_PORTS["imap"][security or "tls"],
                             security=security or "tls", username=username, password_env=password_env,
                             **common)

    def smtp(self, data: dict) -> SmtpConfig:
        t = "smtp"
        self.table(data, t, {"transport", "host", "port", "security", "username", "password_env", "from",
                             "outbox_dir", "max_attempts", "daily_limit", "templates_dir", "timeout"})
        transport = self.string(data, t, "transport", "file", choices=("smtp", "file"))
        security = self.string(data, t, "security", "starttls", choices=("tls", "starttls", "none"))
        host = self.string(data, t, "host", required=transport == "smtp")
        if transport == "smtp" and security == "none" and host and not is_loopback(host):
            self.problem(t, "security", "明文连接（none）只允许用于本机地址", "plain SMTP is allowed for loopback only")
        from_addr = self.string(data, t, "from", "inbox-daemon@localhost")
        if from_addr and "@" not in from_addr:
            self.problem(t, "from", "必须是邮箱地址", "must be an email address")
        port = self.integer(data, t, "port", None, high=65535)
        return SmtpConfig(
            transport=transport or "file", from_addr=from_addr or "inbox-daemon@localhost", host=host,
            port=port or SECURITY_DEFAULT_PORTS["smtp"][security or "starttls"], security=security or "starttls",
            username=self.string(data, t, "username"), password_env=self.string(data, t, "password_env"),
            outbox_dir=self.path(data, t, "outbox_dir", "data/outbox"),
            max_attempts=self.integer(data, t, "max_attempts", 10, high=100),
            daily_limit=self.integer(data, t, "daily_limit", 5, high=1000),
            templates_dir=self.path(data, t, "templates_dir"),
            timeout=float(self.integer(data, t, "timeout", 30, high=600)))

    def schedule(self, data: dict) -> ScheduleConfig:
        t = "schedule"
        self.table(data, t, {"poll_every", "digest_at", "timezone"})
        poll_every = parse_duration(data.get("poll_every", 300))
        if poll_every is None:
            self.problem(t, "poll_every", "必须是秒数或如 \"5m\" 的时长", 'must be seconds or a duration like "5m"')
        digest_at = self.string(data, t, "digest_at", "21:00")
        if digest_at and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", digest_at):
            self.problem(t, "digest_at", "必须是 HH:MM 格式的时间", "must be a time as HH:MM")
            digest_at = "21:00"
        timezone = self.string(data, t, "timezone", "Asia/Shanghai")
        try:
            ZoneInfo(timezone or "Asia/Shanghai")
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(t, "timezone", f"未知的时区 {timezone}", f"unknown time zone {timezone}")
            timezone = "Asia/Shanghai"
        return ScheduleConfig(poll_every=poll_every or 300, digest_at=digest_at or "21:00",
                              timezone=timezone or "Asia/Shanghai")

    def digest(self, data: dict) -> DigestConfig:
        self.table(data, "digest", {"to", "reports_dir"})
        return DigestConfig(to=self.string_list(data, "digest", "to"),
                            reports_dir=self.path(data, "digest", "reports_dir", "reports"))

    def web(self, data: dict) -> WebConfig:
        t = "web"
        self.table(data, t, {"listen", "base_url", "secret_env", "secure_cookies", "session_hours"})
        listen = self.string(data, t, "listen", "127.0.0.1:8080")
        host, _, port = (listen or "").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.problem(t, "listen", "必须写成 地址:端口，如 127.0.0.1:8080", "must be host:port, e.g. 127.0.0.1:8080")
            listen = "127.0.0.1:8080"
        base_url = self.string(data, t, "base_url")
        if base_url and not re.match(r"https?://[^/\s]+", base_url):
            self.problem(t, "base_url", "必须是以 http:// 或 https:// 开头的网址", "must be an http(s):// URL")
            base_url = None
        secret_env = self.string(data, t, "secret_env", "INBOX_WEB_SECRET")
        if secret_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
            self.problem(t, "secret_env", "必须是环境变量名（不是密钥本身）",
                         "must be the name of an environment variable (not the key itself)")
            secret_env = "INBOX_WEB_SECRET"
        secure = self._checked(Flag(), data, t, "secure_cookies", False, None) if "secure_cookies" in data else False
        return WebConfig(listen=listen, base_url=base_url.rstrip("/") + "/" if base_url else None,
                         secret_env=secret_env or "INBOX_WEB_SECRET", secure_cookies=secure,
                         session_hours=self.integer(data, t, "session_hours", 12, high=24 * 30))
