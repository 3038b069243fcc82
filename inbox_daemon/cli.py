"""The `inbox-daemon` command: a thin click layer over the library.

Each command loads the config, makes one library call and turns InboxError
into a clear message for the staff (in Chinese) and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from . import __version__
from .config import Config, load_config
from .errors import InboxError
from .store import Store

class StaffError(click.ClickException):
    """A failure shown to the staff in Chinese, without click's English "Error:" prefix."""

    def show(self, file=None) -> None:
        click.echo(f"错误：{self.format_message()}", err=True)


OUTCOMES = ("received", "accepted", "rejected", "needs_review", "ignored", "error")


def setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # mail-parser logs every odd part at WARNING/ERROR, raw header text included: keep it out.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.WARNING if level > logging.DEBUG else logging.DEBUG)


def with_config(command):
    """Adds `--config PATH` to a command; the group-level option is the fallback."""

    @click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                  help="配置文件路径 / config file (default ./config.toml)")
    @click.pass_context
    @functools.wraps(command)
    def wrapper(ctx, config_path, **kwargs):
        path = config_path or ctx.obj.get("config") or "config.toml"
        try:
            config = load_config(path)
            return command(config, **kwargs)
        except InboxError as err:
            raise StaffError(str(err)) from err

    return wrapper


def open_store(config: Config) -> Store:
    return Store.from_config(config)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="配置文件路径 / config file (default ./config.toml)")
@click.option("-v", "--verbose", count=True, help="更多日志（-v 每封邮件一行，-vv 调试）")
@click.version_option(__version__)
@click.pass_context
def main(ctx, config, verbose):
    """inbox-daemon：比赛投稿邮箱的自动收件、登记与回复。

    Reads contest mailboxes, stores and parses every entry, and answers it.

    Example: inbox-daemon poll --once
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    setup_logging(verbose)


@main.command()
@with_config
def run(config: Config):
    """按计划持续运行（轮询邮箱），收到 SIGTERM/SIGINT 时干净退出。

    Example: inbox-daemon run --config /etc/inbox-daemon/config.toml
    """
    from .daemon import run as run_daemon
    run_daemon(config)


@main.command()
@click.option("--once/--loop", default=True, help="只轮询一遍（默认）或按计划循环")
@with_config
def poll(config: Config, once: bool):
    """轮询所有邮箱一遍；每封邮件都有结果时退出码为 0。

    Example: inbox-daemon poll --once
    """
    if not once:
        from .daemon import run as run_daemon
        return run_daemon(config)
    from .ingest import poll_all
    from .send import drain
    store = open_store(config)
    try:
        results = poll_all(config, store)
        pending = len(store.unparsed())
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
    from .export import write_jsonl
    from .rules import load_rules
    from .tables import write_csv, xlsx_bytes
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


@main.command("list")
@click.option("--outcome", type=click.Choice(OUTCOMES), default=None, help="按结果筛选")
@click.option("--contest", default=None, help="按比赛筛选")
@with_config
def list_(config: Config, outcome: str | None, contest: str | None):
    """列出登记的邮件。

    Example: inbox-daemon list --outcome error
    """
    from rich.console import Console
    from rich.table import Table
    clauses, params = ["1=1"], []
    if outcome:
        clauses.append("outcome = ?")
        params.append(outcome)
    if contest:
        clauses.append("contest = ?")
        params.append(contest)
    from .rules import load_rules
    names = {cid: c.name for cid, c in load_rules(config.rules_dir).contests.items()}
    labels = {"accepted": "[green]已登记[/]", "rejected": "[red]未通过[/]", "needs_review": "[yellow]待审核[/]",
              "ignored": "[dim]忽略[/]", "error": "[red]出错[/]", "received": "已收到"}
    store = open_store(config)
    try:
        table = Table("回执号/编号", "收到时间", "发件人", "作品/主题", "比赛", "结果", box=None, pad_edge=False)
        count = 0
        for row in store.rows(" AND ".join(clauses), params):
            count += 1
            title = json.loads(row["fields"] or "{}").get("title") or row["subject"] or ""
            table.add_row(row["receipt"] or f"#{row['id']}", (row["received_at"] or "")[5:16].replace("T", " "),
                          row["sender"] or "", title, names.get(row["contest"], "—"), labels.get(row["outcome"], ""))
        for column in table.columns:
            column.no_wrap, column.overflow = True, "ellipsis"
        table.columns[2].max_width, table.columns[3].max_width, table.columns[4].max_width = 16, 14, 10
        table.columns[0].min_width, table.columns[1].min_width, table.columns[5].min_width = 13, 11, 6
    finally:
        store.close()
    console = Console()
    console.print(table) if count else console.print("没有符合条件的邮件。")
    if count:
        console.print(f"共 {count} 封")


@main.command()
@click.argument("receipt")
@with_config
def show(config: Config, receipt: str):
    """显示一封邮件的全部信息：字段、附件、处理记录。RECEIPT 是回执号或编号。

    Example: inbox-daemon show WSP-2022-0042
    """
    store = open_store(config)
    try:
        rows = list(store.rows("receipt = ? OR CAST(id AS TEXT) = ?", [receipt, receipt.lstrip("#")]))
        if not rows:
            raise StaffError(f"找不到回执号或编号 {receipt}")
        row = rows[0]
        click.echo(f"编号 {row['id']}  回执号 {row['receipt'] or '—'}  结果 {row['outcome']}")
        for key in ("mailbox", "uid", "received_at", "sender", "sender_name", "reply_to", "subject",
                    "message_id", "contest", "error"):
            if row[key] not in (None, ""):
                click.echo(f"  {key}: {row[key]}")
        fields = json.loads(row["fields"] or "{}")
        for key, value in fields.items():
            click.echo(f"  字段 {key}: {value}")
        for finding in json.loads(row["rules"] or "[]"):
            click.echo(f"  规则 {finding['id']} [{finding['severity']}] {finding['message']}")
        for a in store.attachments(row["id"]):
            click.echo(f"  附件 {a['filename']!r} {a['kind']} {a['size']} 字节 sha256={a['sha256'][:16]}…")
        for event in store.db.query("SELECT * FROM events WHERE message=? ORDER BY id", [row["id"]]):
            click.echo(f"  记录 {event['at']} {event['actor']} {event['action']} {event['detail']}")
        if row["body_text"]:
            click.echo("  正文：")
            for line in row["body_text"].splitlines()[:40]:
                click.echo(f"    {line}")
    finally:
        store.close()


def _context(config: Config):
    from .pipeline import Context
    from .rules import load_rules
    return Context.from_config(config, load_rules(config.rules_dir))


@main.command()
@click.argument("receipts", nargs=-1)
@click.option("--outcome", type=click.Choice(OUTCOMES), default=None, help="按结果选择，如 rejected")
@click.option("--rule", default=None, help="按规则选择，如 video_too_long 或 field_missing")
@click.option("--dry-run", is_flag=True, help="只显示会有什么变化，不写入、不发信")
@with_config
def requeue(config: Config, receipts: tuple[str, ...], outcome: str | None, rule: str | None, dry_run: bool):
    """用当前规则重新判定已保存的原始邮件。

    Example: inbox-daemon requeue --outcome rejected --rule video_too_long --dry-run
    """
    from rich.progress import Progress

    from .ingest import pass_lock
    from .staff import requeue as run_requeue
    from .staff import select_messages
    context = _context(config)
    store = open_store(config)
    try:
        with pass_lock(config.storage.lock_path):
            pks = select_messages(store, receipts, outcome, rule)
            if not pks:
                raise StaffError("没有符合条件的邮件")
            with Progress(transient=True, disable=len(pks) < 5) as progress:
                task = progress.add_task("重新判定", total=len(pks))
                changes = run_requeue(store, context, pks, actor="staff", dry_run=dry_run,
                                      progress=lambda: progress.advance(task))
        if not dry_run:
            from .send import drain
            drain(store, config.smtp)  # the "what changed" replies go out now
    finally:
        store.close()
    changed = [c for c in changes if c.changed]
    for c in changed:
        rules_after = "、".join(c.rules_after) or "无"
        click.echo(f"{c.receipt or c.message}：{c.before} → {c.after}（规则：{rules_after}）")
    verb = "将会改变" if dry_run else "已改变"
    click.echo(f"重新判定 {len(changes)} 封，{verb} {len(changed)} 封" + ("（演练，未写入）" if dry_run else ""))


@main.command()
@click.argument("receipt")
@click.option("--accept", "decision", flag_value="accept", help="人工通过")
@click.option("--reject", "decision", flag_value="reject", help="人工不通过")
@click.option("--note", required=True, help="理由（必填，记入处理记录）")
@with_config
def override(config: Config, receipt: str, decision: str | None, note: str):
    """记录工作人员对某个回执号的人工决定（附理由）。

    Example: inbox-daemon override WSP-2022-0042 --accept --note "视频已由邮箱大附件下载核对"
    """
    from .staff import override as run_override
    if not decision:
        raise StaffError("请选择 --accept 或 --reject")
    store = open_store(config)
    try:
        change = run_override(store, receipt, decision, note, context=_context(config))
        from .send import drain
        drain(store, config.smtp)
    finally:
        store.close()
    click.echo(f"{receipt}：{change.before} → {change.after}，已记录理由：{note}")


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

    from .digest import write_digest
    from .rules import load_rules
    from .send import drain
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
    from .check import run_checks
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
    from .samples import write_samples
    target = Path(maildir) if maildir else next((m.path for m in config.mailboxes if m.source == "maildir"), None)
    if target is None:
        raise StaffError("配置中没有 maildir 邮箱，请用 --maildir 指定位置")
    count = write_samples(target, force=force)
    click.echo(f"示例邮件：{target} 中共 {count} 封" if count else f"{target} 已有示例邮件（--force 可重新生成）")
