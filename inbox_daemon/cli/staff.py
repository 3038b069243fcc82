"""Staff commands in the terminal: list, show, requeue, override."""

from __future__ import annotations

import json

import click

from ..config import Config
from ..times import local_text
from . import OUTCOMES, StaffError, main, open_store, with_config


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
    from ..rules import load_rules
    names = {cid: c.name for cid, c in load_rules(config.rules_dir).contests.items()}
    labels = {"accepted": "[green]已登记[/]", "rejected": "[red]未通过[/]", "needs_review": "[yellow]待审核[/]",
              "ignored": "[dim]忽略[/]", "error": "[red]出错[/]", "received": "已收到"}
    store = open_store(config)
    try:
        table = Table("回执号/编号", "收到时间", "发件人", "作品/主题", "比赛", "结果", box=None, pad_edge=False)
        count = 0
        for row in store.register.rows(" AND ".join(clauses), params):
            count += 1
            title = json.loads(row["fields"] or "{}").get("title") or row["subject"] or ""
            table.add_row(row["receipt"] or f"#{row['id']}", local_text(row["received_at"], fmt="%m-%d %H:%M"),
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
        rows = list(store.register.rows("receipt = ? OR CAST(id AS TEXT) = ?", [receipt, receipt.lstrip("#")]))
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
        for a in store.register.attachments(row["id"]):
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
    from ..pipeline import Context
    from ..rules import load_rules
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

    from ..staff import requeue as run_requeue
    from ..staff import select_messages
    context = _context(config)
    store = open_store(config)
    try:  # no pass lock: each message is claimed, so a running daemon and a requeue never judge it at once
        pks = select_messages(store, receipts, outcome, rule)
        if not pks:
            raise StaffError("没有符合条件的邮件")
        with Progress(transient=True, disable=len(pks) < 5) as progress:
            task = progress.add_task("重新判定", total=len(pks))
            changes = run_requeue(store, context, pks, actor="staff", dry_run=dry_run,
                                  progress=lambda: progress.advance(task))
        if not dry_run:
            from ..send import drain
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
    from ..staff import override as run_override
    if not decision:
        raise StaffError("请选择 --accept 或 --reject")
    store = open_store(config)
    try:
        change = run_override(store, receipt, decision, note, context=_context(config))
        from ..send import drain
        drain(store, config.smtp)
    finally:
        store.close()
    click.echo(f"{receipt}：{change.before} → {change.after}，已记录理由：{note}")
