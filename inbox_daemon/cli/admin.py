"""Commands of the operator: init (a ready config and the default rules), backup."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import click

from ..config import Config
from . import StaffError, main, with_config

DATA_PATHS = re.compile(r'^(\s*(?:database|files|path|outbox_dir|reports_dir)\s*=\s*")(?:data/)?([^"]*)"', re.M)


def default_config(data: Path | None = None) -> str:
    """The shipped example config; with `data`, every data path points under that folder."""
    text = files("inbox_daemon").joinpath("defaults/config.toml").read_text(encoding="utf-8")
    if data is None:
        return text
    return DATA_PATHS.sub(lambda m: f'{m[1]}{Path(data).resolve()}/{m[2]}"', text)


def write_rules(target: Path, source=None) -> list[Path]:
    """Copy the default rules (shipped inside the package: the contests, and folders such as awards/)
    into `target`; returns the contest files written."""
    source = source or files("inbox_daemon").joinpath("defaults/rules")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for item in sorted(source.iterdir(), key=lambda p: p.name):
        if item.is_dir() and not item.name.startswith(("_", ".")):
            write_rules(target / item.name, item)
        elif item.name.endswith(".toml"):
            (target / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
            written.append(target / item.name)
    return written


@main.command()
@click.argument("folder", type=click.Path(file_okay=False), metavar="目录")
@click.option("--data", type=click.Path(file_okay=False), default=None, metavar="目录",
              help="数据（数据库、文件、日报、待发邮件）放在哪个目录；不写时放在配置文件旁边")
@click.option("--force", is_flag=True, help="目录中已有 config.toml 时也覆盖（规则文件一并换成默认的）")
def init(folder: str, data: str | None, force: bool):
    """在一个目录中写好可以直接运行的 config.toml 和默认的比赛规则 rules/。

    示例：inbox-daemon init /etc/inbox-daemon --data /var/lib/inbox-daemon
    """
    target = Path(folder)
    config = target / "config.toml"
    if config.exists() and not force:
        raise StaffError(f"{config} 已存在；如要用默认配置覆盖，请加 --force")
    target.mkdir(parents=True, exist_ok=True)
    config.write_text(default_config(Path(data) if data else None), encoding="utf-8")
    rules = write_rules(target / "rules")
    maildir = (Path(data).resolve() / "samples" / "Maildir") if data else target / "data" / "samples" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    click.echo(f"已写入 {config} 和 {len(rules)} 个规则文件（{target / 'rules'}）。")
    click.echo("下一步：")
    click.echo(f"  inbox-daemon check --config {config}        # 检查配置，尝试登录")
    click.echo(f"  inbox-daemon samples --config {config}      # 可选：生成演示用的示例投稿")
    click.echo(f"  inbox-daemon poll --once --config {config}  # 收取一遍")


@main.command()
@click.argument("folder", type=click.Path(file_okay=False), metavar="目录")
@with_config
def backup(config: Config, folder: str):
    """把数据库（SQLite 在线备份，运行中也可以做）、全部文件、配置和规则备份到一个新目录。

    恢复方法见 docs/backup.md。

    示例：inbox-daemon backup /var/backups/inbox-daemon/2022-09-30
    """
    from ..backup import backup as run_backup
    result = run_backup(config, Path(folder))
    size = f"{result.bytes / 1_000_000:.1f} MB"
    click.echo(f"备份完成：{result.folder}（数据库 inbox.db，{result.files} 个文件，共 {size}；已逐个核对）")
