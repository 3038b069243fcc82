"""`inbox-daemon check`: validate the configuration and try every login, reporting each result."""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass

from .config import Config
from .errors import InboxError


@dataclass(frozen=True)
class CheckResult:
    item: str
    ok: bool
    detail: str


def check_mailbox(mailbox) -> CheckResult:
    """Log in and look, read-only: nothing on the server changes (no folder created, nothing flagged)."""
    item = f"邮箱 {mailbox.name}"
    if mailbox.source == "maildir":
        ok = mailbox.path is not None and (mailbox.path / "new").is_dir() and (mailbox.path / "cur").is_dir()
        detail = f"Maildir {mailbox.path}" + ("" if ok else " 不存在（可运行 inbox-daemon samples 生成示例）")
        return CheckResult(item, ok, detail)
    from .imap_source import ImapSource
    source = ImapSource(mailbox, backoff=(), readonly=True)
    try:
        with source:
            done = ""
            if mailbox.done_folder:
                done = (f"，已处理文件夹 {mailbox.done_folder} 已存在" if source.done_folder_exists()
                        else f"，已处理文件夹 {mailbox.done_folder} 尚不存在（首次处理邮件时创建）")
            return CheckResult(item, True, f"IMAP {mailbox.host}:{mailbox.port} 以 {mailbox.username} 登录成功，"
                                           f"文件夹 {mailbox.folder} 可读（UIDVALIDITY {source.uidvalidity}）{done}")
    except InboxError as err:
        return CheckResult(item, False, str(err))


def check_smtp(config: Config) -> CheckResult:
    """The very connect code the daemon sends with (send.open_smtp), then QUIT: nothing is sent."""
    smtp = config.smtp
    if smtp.transport == "file":
        try:
            smtp.outbox_dir.mkdir(parents=True, exist_ok=True)
            ok = os.access(smtp.outbox_dir, os.W_OK)
        except OSError:
            ok = False
        return CheckResult("回复发送", ok, f"file 方式，写入 {smtp.outbox_dir}" + ("" if ok else "（不可写）"))
    from .send import open_smtp
    try:
        client = open_smtp(smtp)
    except InboxError as err:
        return CheckResult("回复发送", False, f"SMTP {smtp.host}:{smtp.port}：{err}")
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
    who = f"以 {smtp.username} 登录成功" if smtp.username else "连接成功（未配置登录用户名，未登录）"
    return CheckResult("回复发送", True, f"SMTP {smtp.host}:{smtp.port} {who}")


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
