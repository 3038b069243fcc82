"""Commands of the mail flow: run, poll, export, digest, check, samples."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import Config
from . import OUTCOME, StaffError, config_file, main, open_store, with_config


@main.command()
@with_config
def run(config: Config):
    """按计划持续运行：轮询邮箱、发送回复、每晚生成日报；收到 SIGTERM 或 Ctrl-C 时处理完手头的邮件再退出。

    示例：inbox-daemon run --config /etc/inbox-daemon/config.toml
    """
    from ..daemon import run as run_daemon
    run_daemon(config)


POLL_WAIT_S = 600


@main.command()
@click.option("--once/--loop", default=True, help="只轮询一遍（默认）或按计划循环")
@with_config
def poll(config: Config, once: bool):
    """轮询所有邮箱一遍并发出回复；每封邮件都有结果时退出码为 0。

    示例：inbox-daemon poll --once
    """
    if not once:
        from ..daemon import run as run_daemon
        return run_daemon(config)
    from ..ingest import poll_all
    from ..send import drain
    with open_store(config) as store:
        results = poll_all(config, store, wait_s=POLL_WAIT_S)  # after a pass of `run`, if one is under way
        pending = len(store.register.unparsed())
        sent = drain(store, config.smtp)
    failed = False
    for r in results:
        if r.failure:
            failed = True
            click.echo(f"邮箱 {r.mailbox}：读取失败 —— {r.failure}", err=True)
        else:
            click.echo(f"邮箱 {r.mailbox}：新邮件 {r.new} 封，已登记过 {r.known} 封，解析出错 {r.errors} 封")
    click.echo(f"回复：发出 {sent.sent} 封，稍后重试 {sent.retried} 封，失败 {sent.failed} 封")
    if failed or pending:
        raise SystemExit(1)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "xlsx"]), default="jsonl", show_default=True,
              help="jsonl：每封邮件一行（给其他程序用）；csv/xlsx：每件作品一行（给人看的表格）")
@click.option("--contest", default=None, metavar="比赛", help="只导出某个比赛（如 reading_team）")
@click.option("--outcome", "outcomes", type=OUTCOME, multiple=True,
              help="只导出某种结果的作品，如 已登记、待审核（可写多次）")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None, metavar="文件",
              help="输出文件（默认输出到屏幕）")
@with_config
def export(config: Config, fmt: str, contest: str | None, outcomes: tuple[str, ...], output: str | None):
    """导出登记表：csv/xlsx 每件作品一行，按通知附件表的列；jsonl 每封邮件一行。

    示例：inbox-daemon export --format xlsx --contest reading_team --outcome 已登记 -o 阅读团队.xlsx
    """
    from ..export import write_jsonl
    from ..rules import load_rules
    from ..tables import write_csv, xlsx_bytes
    rules = load_rules(config.rules_dir)
    if contest and contest not in rules.contests:
        raise StaffError(f"未知的比赛 {contest}（可选：{'、'.join(rules.contests)}）")
    if outcomes and fmt == "jsonl":
        raise StaffError("--outcome 只用于 csv 和 xlsx 表格；jsonl 总是包含全部邮件")
    with open_store(config) as store:
        if fmt == "xlsx":
            data, count = xlsx_bytes(store, rules, contest, outcomes)
            if output:
                Path(output).write_bytes(data)
            else:
                sys.stdout.buffer.write(data)
        else:
            writer = write_jsonl if fmt == "jsonl" else (lambda st, out, c: write_csv(st, rules, c, out, outcomes))
            if output:
                with open(output, "w", encoding="utf-8", newline="") as out:
                    count = writer(store, out, contest)
            else:
                count = writer(store, sys.stdout, contest)
        if output:
            unit = "封邮件" if fmt == "jsonl" else "件作品"
            click.echo(f"已导出 {count} {unit}到 {output}", err=True)


@main.command()
@click.option("--date", "day", default=None, metavar="日期", help="日报的日期，如 2022-09-30（默认今天）")
@click.option("--no-send", is_flag=True, help="只生成网页，不发邮件")
@with_config
def digest(config: Config, day: str | None, no_send: bool):
    """生成（并发给组织者）一份投稿日报，网页存在 reports 目录下。

    示例：inbox-daemon digest --date 2022-09-30 --no-send
    """
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from ..digest import write_digest
    from ..rules import load_rules
    from ..send import drain
    try:
        when = date.fromisoformat(day) if day else datetime.now(ZoneInfo(config.schedule.timezone)).date()
    except ValueError as err:
        raise StaffError(f"日期应写成 2022-09-30 这样的格式，收到的是：{day}") from err
    with open_store(config) as store:
        path, outbox_id = write_digest(config, store, load_rules(config.rules_dir), when, send=not no_send)
        if outbox_id:
            drain(store, config.smtp)
            status = store.db.execute("SELECT status FROM outbox WHERE id=?", [outbox_id]).fetchone()[0]
            said = {"sent": "已发出", "queued": "排队中，稍后重试", "sending": "正在发送", "failed": "发送失败"}
            click.echo(f"日报已生成：{path}；发给 {'、'.join(config.digest.to)} 的邮件：{said.get(status, status)}")
        else:
            click.echo(f"日报已生成：{path}")


@main.command()
@with_config
def check(config: Config):
    """检查配置和比赛规则，并尝试登录每个邮箱和发信服务器（不改动服务器上的任何东西）。

    示例：inbox-daemon check --config config.toml
    """
    from ..check import run_checks
    results = run_checks(config)
    for r in results:
        click.echo(f"{'✓' if r.ok else '✗'} {r.item}：{r.detail}")
    if not all(r.ok for r in results):
        raise SystemExit(1)


@main.command()
@click.option("--maildir", type=click.Path(file_okay=False), default=None, metavar="目录",
              help="写到哪个 Maildir 目录（不写时用配置文件里第一个本地邮箱的目录）")
@click.option("--force", is_flag=True, help="已有示例邮件时也重新生成")
@click.option("--config", "given_config", type=click.Path(dir_okay=False), default=None, metavar="路径",
              help="配置文件路径（给了 --maildir 时不需要）")
@click.pass_context
def samples(ctx: click.Context, maildir: str | None, force: bool, given_config: str | None):
    """生成演示用的示例投稿（真实的照片、视频和申报表）到本地 Maildir。

    示例：inbox-daemon samples --maildir data/samples/Maildir
    """
    import subprocess

    from ..config import load_config
    from ..demo.samples import write_samples
    from ..errors import InboxError
    if maildir:
        target = Path(maildir)
    else:
        try:
            config = load_config(config_file(ctx, given_config))
        except InboxError as err:
            raise StaffError(f"{err}\n（也可以用 --maildir 直接指定示例邮件的目录）") from err
        target = next((m.path for m in config.mailboxes if m.source == "maildir"), None)
        if target is None:
            raise StaffError("配置中没有 maildir 邮箱，请用 --maildir 指定位置")
    try:
        count = write_samples(target, force=force)
    except InboxError as err:
        raise StaffError(str(err)) from err
    except (OSError, subprocess.SubprocessError) as err:
        raise StaffError(f"生成示例视频失败：{err}") from err
    click.echo(f"示例邮件：{target} 中共 {count} 封" if count else f"{target} 已有示例邮件（加 --force 可重新生成）")
