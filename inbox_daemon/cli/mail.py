"""Commands of the mail flow: run, poll, export, digest, check, samples."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import Config
from . import StaffError, main, open_store, with_config


@main.command()
@with_config
def run(config: Config):
    """按计划持续运行（轮询邮箱），收到 SIGTERM/SIGINT 时干净退出。

    Example: inbox-daemon run --config /etc/inbox-daemon/config.toml
    """
    from ..daemon import run as run_daemon
    run_daemon(config)


@main.command()
@click.option("--once/--loop", default=True, help="只轮询一遍（默认）或按计划循环")
@with_config
def poll(config: Config, once: bool):
    """轮询所有邮箱一遍；每封邮件都有结果时退出码为 0。

    Example: inbox-daemon poll --once
    """
    if not once:
        from ..daemon import run as run_daemon
        return run_daemon(config)
    from ..ingest import poll_all
    from ..send import drain
    store = open_store(config)
    try:
        results = poll_all(config, store)
        pending = len(store.register.unparsed())
        sent = drain(store, config.smtp)
    finally:
        store.close()
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
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "xlsx"]), default="jsonl", show_default=True)
@click.option("--contest", default=None, help="只导出某个比赛（如 reading_team）")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="输出文件（默认标准输出）")
@with_config
def export(config: Config, fmt: str, contest: str | None, output: str | None):
    """导出：jsonl 每封邮件一行；csv/xlsx 每个作品一行（阅读类按通知附件表的列）。

    Example: inbox-daemon export --format xlsx --contest reading_team -o 阅读团队.xlsx
    """
    from ..export import write_jsonl
    from ..rules import load_rules
    from ..tables import write_csv, xlsx_bytes
    rules = load_rules(config.rules_dir)
    if contest and contest not in rules.contests:
        raise StaffError(f"未知的比赛 {contest}（可选：{'、'.join(rules.contests)}）")
    store = open_store(config)
    try:
        if fmt == "xlsx":
            data, count = xlsx_bytes(store, rules, contest)
            if output:
                Path(output).write_bytes(data)
            else:
                click.get_binary_stream("stdout").write(data)
        else:
            writer = write_jsonl if fmt == "jsonl" else (lambda st, out, c: write_csv(st, rules, c, out))
            if output:
                with open(output, "w", encoding="utf-8", newline="") as out:
                    count = writer(store, out, contest)
            else:
                count = writer(store, click.get_text_stream("stdout"), contest)
        if output:
            unit = "条" if fmt == "jsonl" else "个作品"
            click.echo(f"已导出 {count} {unit}到 {output}", err=True)
    finally:
        store.close()


@main.command()
@click.option("--date", "day", default=None, help="日报日期 YYYY-MM-DD（默认今天）")
@click.option("--no-send", is_flag=True, help="只生成网页，不发邮件")
@with_config
def digest(config: Config, day: str | None, no_send: bool):
    """生成（并发送）一份投稿日报：reports/YYYY-MM-DD.html。

    Example: inbox-daemon digest --date 2022-09-30 --no-send
    """
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from ..digest import write_digest
    from ..rules import load_rules
    from ..send import drain
    try:
        when = date.fromisoformat(day) if day else datetime.now(ZoneInfo(config.schedule.timezone)).date()
    except ValueError as err:
        raise StaffError(f"日期格式应为 YYYY-MM-DD：{day}") from err
    store = open_store(config)
    try:
        path, outbox_id = write_digest(config, store, load_rules(config.rules_dir), when, send=not no_send)
        if outbox_id:
            drain(store, config.smtp)
            status = store.db.execute("SELECT status FROM outbox WHERE id=?", [outbox_id]).fetchone()[0]
            click.echo(f"日报已生成：{path}；邮件（{', '.join(config.digest.to)}）：{status}")
        else:
            click.echo(f"日报已生成：{path}")
    finally:
        store.close()


@main.command()
@with_config
def check(config: Config):
    """检查配置和规则，并尝试登录每个邮箱和发信服务器。

    Example: inbox-daemon check --config config.toml
    """
    from ..check import run_checks
    results = run_checks(config)
    for r in results:
        click.echo(f"{'✓' if r.ok else '✗'} {r.item}：{r.detail}")
    if not all(r.ok for r in results):
        raise SystemExit(1)


@main.command()
@click.option("--maildir", type=click.Path(file_okay=False), default=None,
              help="写入的 Maildir（默认取配置中第一个 maildir 邮箱的 path）")
@click.option("--force", is_flag=True, help="已存在时也重新生成")
@with_config
def samples(config: Config, maildir: str | None, force: bool):
    """生成演示用的示例投稿（真实的图片与视频）到本地 Maildir。

    Example: inbox-daemon samples
    """
    from ..demo.samples import write_samples
    target = Path(maildir) if maildir else next((m.path for m in config.mailboxes if m.source == "maildir"), None)
    if target is None:
        raise StaffError("配置中没有 maildir 邮箱，请用 --maildir 指定位置")
    count = write_samples(target, force=force)
    click.echo(f"示例邮件：{target} 中共 {count} 封" if count else f"{target} 已有示例邮件（--force 可重新生成）")
