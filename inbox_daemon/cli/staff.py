"""Staff commands in the terminal: list, show, requeue, override, over the console's library.

`list` and `show` read `queries.py` (an entry once, in its current state), the actions call
`staff.py`; everything a person reads is Chinese, times on the contest's clock."""

from __future__ import annotations

import click

from .. import queries
from ..config import Config
from ..queries import OUTCOME_NAMES, EntryFilter, QueryError
from ..times import local_text
from . import StaffError, main, open_store, with_config

COLOURS = {"accepted": "green", "rejected": "red", "needs_review": "yellow", "error": "red", "ignored": "dim"}
EVENT_NAMES = {"judged": "自动判定", "requeue": "重新判定", "override": "人工决定", "set_contest": "指定比赛",
               "correct_field": "更正字段", "add_work": "上传作品", "resend": "重发回复", "error": "处理出错",
               "set_aside": "未能读取，转人工", "not_read": "读取超时，稍后重试"}
REPLY_STATUS = {"queued": "待发送", "sending": "发送中", "sent": "已发送", "failed": "发送失败", "suppressed": "不回复"}


def _rules(config: Config):
    from ..rules import load_rules
    return load_rules(config.rules_dir)


def _outcome(word: str | None) -> str | None:
    try:
        return queries.outcome_from_word(word)
    except QueryError as err:
        raise StaffError(str(err)) from err


def _filter(config: Config, rules, **values) -> EntryFilter:
    try:
        return EntryFilter(**values).validate(rules, tuple(m.name for m in config.mailboxes))
    except QueryError as err:
        raise StaffError(str(err)) from err


@main.command("list")
@click.option("--outcome", default=None,
              help="按结果筛选：已登记/accepted、未通过/rejected、待审核/needs_review、出错/error、不处理/ignored")
@click.option("--contest", default=None, help="按比赛筛选（比赛编号，如 photo；none 为待确认比赛）")
@click.option("--rule", default=None, help="按检查项筛选，如 video_too_long 或 field_missing")
@click.option("--search", "q", default="", help="搜索回执号、作品名、作者、单位、电话、发件人")
@with_config
def list_(config: Config, outcome: str | None, contest: str | None, rule: str | None, q: str):
    """列出投稿，每件一行（当前状态）。

    Example: inbox-daemon list --outcome 待审核 --contest photo
    """
    from rich.console import Console
    from rich.table import Table
    rules = _rules(config)
    f = _filter(config, rules, outcome=_outcome(outcome), contest=contest, rule=rule, q=q, descending=False)
    with open_store(config) as store:
        rows = queries.all_entries(store.db, f)
    terminal = Console()
    if not rows:
        terminal.print("没有符合条件的投稿。")
        return
    table = Table("回执号", "收到时间", "比赛", "作品", "作者", "结果", box=None, pad_edge=False)
    for row in rows:
        colour = COLOURS.get(row["outcome"], "")
        label = OUTCOME_NAMES.get(row["outcome"], row["outcome"])
        table.add_row(row["receipt"] or f"#{row['message']}", local_text(row["first_received"]),
                      queries.contest_name(rules, row["contest"]), row["title"] or row["subject"] or "",
                      row["author"] or row["sender_name"] or "", f"[{colour}]{label}[/]" if colour else label)
    # One line per entry: receipt, time and outcome whole; contest, title and author share what is left
    # of the terminal (80 columns at least), long ones cut with "…".
    spare = max(0, terminal.width - 80)
    limits = ((13, None), (16, None), (6, 12 + spare // 4), (6, 16 + spare // 2), (4, 6 + spare // 4), (6, None))
    for column, (least, most) in zip(table.columns, limits, strict=True):
        column.no_wrap, column.overflow, column.min_width, column.max_width = True, "ellipsis", least, most
    terminal.print(table)
    terminal.print(f"共 {len(rows)} 件")


@main.command()
@click.argument("receipt")
@with_config
def show(config: Config, receipt: str):
    """显示一件投稿的当前状态：字段、审核意见、附件、回复和处理记录。RECEIPT 是回执号或 #编号。

    Example: inbox-daemon show WSP-2022-0042
    """
    rules = _rules(config)
    with open_store(config) as store:
        view = queries.entry_view(store, rules, receipt)
    if view is None:
        raise StaffError(f"找不到回执号或编号 {receipt}")
    cur = view.current
    echo = click.echo
    echo(f"{view.key}  {OUTCOME_NAMES.get(cur['outcome'], cur['outcome'])}  "
         f"{view.contest.name if view.contest else '待确认比赛'}")
    echo(f"  收到时间：{local_text(view.messages[0]['received_at'])}"
         + (f"（共 {len(view.messages)} 封邮件，最新 {local_text(cur['received_at'])}）" if len(view.messages) > 1 else ""))
    echo(f"  发件人：{cur['sender_name'] or ''} <{cur['sender'] or ''}>")
    echo(f"  邮件主题：{cur['subject'] or '（无主题）'}")
    echo(f"  收件邮箱：{cur['mailbox']}")
    if cur["error"]:
        echo(f"  处理出错：{cur['error']}")
    for item in view.fields:
        value = item["value"] if item["value"] not in (None, "") else "（未填写）"
        echo(f"  {item['label']}：{value}" + ("（已人工更正）" if item["corrected"] else ""))
    for finding in view.findings:
        echo(f"  【{finding['severity_name']}】{finding['message']}（{finding['id']}）")
    if view.staff.get("override"):
        o = view.staff["override"]
        echo(f"  人工决定：{OUTCOME_NAMES.get(o['outcome'])}，{o['actor']}，{local_text(o['at'])}；内部备注：{o['note']}"
             + (f"；给投稿人的话：{o['message']}" if o.get("message") else ""))
    for item in view.files:
        size = f"{item['size'] / 1048576:.1f} MB" if item["size"] else ""
        extra = f"，时长 {item['duration_s']:.0f} 秒" if item.get("duration_s") else ""
        extra += f"，{item['width']}×{item['height']}" if item.get("width") else ""
        source = "（工作人员上传）" if item["source"] == "upload" else ""
        echo(f"  附件：{item['filename']}{source}，{size}{extra}，sha256 {item['sha256']}")
    for link in view.links:
        echo(f"  超大附件链接：{link['url']}")
    for reply in view.replies:
        echo(f"  回复 {local_text(reply['created_at'])}：{reply['subject'] or '（不回复）'}，"
             f"{REPLY_STATUS.get(reply['status'], reply['status'])}"
             + (f"，原因：{reply['last_error'] or reply['reason']}" if reply["last_error"] or reply["reason"] else ""))
    labels = {item["name"]: item["label"] for item in view.fields}
    for event in view.events:
        who = "系统" if event["actor"] == "daemon" else event["actor"]
        echo(f"  记录 {local_text(event['at'])} {who} {EVENT_NAMES.get(event['action'], event['action'])} "
             f"{_event_text(event['action'], event['data'], labels)}")
    body = (view.messages[-1]["body_text"] or "").splitlines()
    if body:
        echo("  正文：")
        for line in body[:40]:
            echo(f"    {line}")


def _event_text(action: str, data: dict, labels: dict) -> str:
    name = OUTCOME_NAMES.get
    if action == "judged":
        return f"{name(data.get('outcome'), data.get('outcome'))}" + (
            f"（检查项：{'、'.join(data['rules'])}）" if data.get("rules") else "")
    if action in ("override", "requeue"):
        text = f"{name(data.get('before'), data.get('before'))} → {name(data.get('after'), data.get('after'))}"
        text += f"；内部备注：{data['note']}" if data.get("note") else ""
        return text + (f"；给投稿人的话：{data['message']}" if data.get("message") else "")
    if action == "correct_field":
        field = labels.get(data.get("field"), data.get("field"))
        return f"{field}：“{data.get('before') or ''}” → “{data.get('after')}”"
    if action == "set_contest":
        return str(data.get("contest"))
    if action == "add_work":
        return f"{data.get('filename')}（{data.get('kind')}）"
    if action == "resend":
        return f"回复 #{data.get('outbox')}"
    return str(data.get("text") or data.get("reason") or "")


def _context(config: Config, rules=None):
    from ..pipeline import Context
    return Context.from_config(config, rules or _rules(config))


@main.command()
@click.argument("receipts", nargs=-1)
@click.option("--outcome", default=None, help="按结果选择，如 未通过 或 rejected")
@click.option("--rule", default=None, help="按检查项选择，如 video_too_long 或 field_missing")
@click.option("--dry-run", is_flag=True, help="只显示会有什么变化，不写入、不发信")
@with_config
def requeue(config: Config, receipts: tuple[str, ...], outcome: str | None, rule: str | None, dry_run: bool):
    """用当前规则重新判定已保存的原始邮件。

    Example: inbox-daemon requeue --outcome 未通过 --rule video_too_long --dry-run
    """
    from rich.progress import Progress

    from ..staff import requeue as run_requeue
    from ..staff import select_messages
    rules = _rules(config)
    outcome = _outcome(outcome)
    if rule:
        _filter(config, rules, rule=rule)
    context = _context(config, rules)
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
        click.echo(f"{c.receipt or c.message}：{OUTCOME_NAMES.get(c.before, c.before)} → "
                   f"{OUTCOME_NAMES.get(c.after, c.after)}（检查项：{rules_after}）")
    verb = "将会改变" if dry_run else "已改变"
    click.echo(f"重新判定 {len(changes)} 封，{verb} {len(changed)} 封" + ("（演练，未写入）" if dry_run else ""))


@main.command()
@click.argument("receipt")
@click.option("--accept", is_flag=True, help="人工通过")
@click.option("--reject", is_flag=True, help="人工不通过")
@click.option("--note", default="", help="内部备注（必填，只记入处理记录，不发给投稿人）")
@click.option("--message", default="", help="给投稿人的话（选填，写进结果通知邮件）")
@with_config
def override(config: Config, receipt: str, accept: bool, reject: bool, note: str, message: str):
    """记录工作人员对一件投稿的人工决定。

    Example: inbox-daemon override WSP-2022-0042 --accept --note "视频已由超大附件下载核对" --message "作品已补齐，谢谢"
    """
    from ..staff import StaffActionError
    from ..staff import override as run_override
    if accept and reject:
        raise StaffError("--accept 和 --reject 只能选一个")
    if not (accept or reject):
        raise StaffError("请选择 --accept（通过）或 --reject（不通过）")
    if not note.strip():
        raise StaffError("请用 --note 写明内部备注（为什么这样决定；不会发给投稿人）")
    store = open_store(config)
    try:
        change = run_override(store, receipt, "accept" if accept else "reject", note, actor="staff",
                              context=_context(config), message=message)
        from ..send import drain
        drain(store, config.smtp)
    except StaffActionError as err:
        raise StaffError(str(err)) from err
    finally:
        store.close()
    click.echo(f"{receipt}：{OUTCOME_NAMES.get(change.before, change.before)} → "
               f"{OUTCOME_NAMES.get(change.after, change.after)}，已记录内部备注"
               + ("，给投稿人的话已写进通知邮件" if message.strip() else ""))

