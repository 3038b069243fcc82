"""The `inbox-daemon` command: a thin click layer over the library.

Each command loads the config, makes one library call and turns InboxError
into a clear message for the staff (in Chinese) and a non-zero exit.
"""

from __future__ import annotations

import functools
import logging
import sys

import click

from .. import __version__
from ..config import Config, load_config
from ..errors import InboxError
from ..store import Store


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




from . import awards, console, mail, staff  # noqa: E402,F401  (registers the commands)
