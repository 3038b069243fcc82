"""`inbox-daemon check`: validate the configuration and try every login, reporting each result."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass

from .config import Config
from .errors import InboxError


@dataclass(frozen=True)
class CheckResult:
    item: str
    ok: bool
    detail: str


def check_mailbox(mailbox) -> CheckResult:
    item = f"邮箱 {mailbox.name}"
    if mailbox.source == "maildir":
        ok = mailbox.path is not None and (mailbox.path / "new").is_dir() and (mailbox.path / "cur").is_dir()
        detail = f"Maildir {mailbox.path}" + ("" if ok else " 不存在（可运行 inbox-daemon samples 生成示例）")
        return CheckResult(item, ok, detail)
    from .imap_source import ImapSource
    source = ImapSource(mailbox, backoff=())
    try:
        with source:
            return CheckResult(item, True, f"IMAP {mailbox.host}:{mailbox.port} 登录成功，文件夹 "
                                           f"{mailbox.folder} 可读（UIDVALIDITY {source.uidvalidity}）")
    except InboxError as err:
        return CheckResult(item, False, str(err))


def check_smtp(config: Config) -> CheckResult:
    smtp = config.smtp
    if smtp.transport == "file":
        try:
            smtp.outbox_dir.mkdir(parents=True, exist_ok=True)
            ok = os.access(smtp.outbox_dir, os.W_OK)
        except OSError:
            ok = False
        return CheckResult("回复发送", ok, f"file 方式，写入 {smtp.outbox_dir}" + ("" if ok else "（不可写）"))
    context = ssl.create_default_context()
    try:
        cls = smtplib.SMTP_SSL if smtp.security == "tls" else smtplib.SMTP
        kwargs = {"context": context} if smtp.security == "tls" else {}
        with cls(smtp.host, smtp.port, timeout=20, **kwargs) as client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username:
                password = os.environ.get(smtp.password_env or "")
                if not password:
                    return CheckResult("回复发送", False, f"环境变量 {smtp.password_env} 未设置")
                client.login(smtp.username, password)
        return CheckResult("回复发送", True, f"SMTP {smtp.host}:{smtp.port} 登录成功")
    except smtplib.SMTPAuthenticationError:
        return CheckResult("回复发送", False, f"SMTP {smtp.host}:{smtp.port} 登录失败（用户名或密码错误）")
    except (OSError, smtplib.SMTPException) as err:
        return CheckResult("回复发送", False, f"SMTP {smtp.host}:{smtp.port} 连接失败：{err}")


def check_rules(config: Config) -> CheckResult:
    from .rules import load_rules
    try:
        rules = load_rules(config.rules_dir)
    except InboxError as err:
        return CheckResult("比赛规则", False, str(err))
    names = "、".join(f"{c.name}（{c.id}）" for c in rules.contests.values())
    return CheckResult("比赛规则", True, f"{config.rules_dir}：{names}")


def run_checks(config: Config) -> list[CheckResult]:
    results = [CheckResult("配置文件", True, f"{config.path} 有效"), check_rules(config)]
    results += [check_mailbox(m) for m in config.mailboxes]
    results.append(check_smtp(config))
    return results
