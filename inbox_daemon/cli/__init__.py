"""The `inbox-daemon` command: a thin click layer over the library.

Each command loads the config, makes one library call and turns InboxError into a clear message
for the staff and a non-zero exit. Everything the command line says is Chinese, click's own words
too: the help layout (用法, 选项, 命令), the usage errors (a missing option, an unknown choice, a
mistyped option) and the help and version options. Click words these through gettext, which
follows the machine's locale; the classes below say them in Chinese whatever the locale is.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import unicodedata

import click
from click import exceptions as ce

from .. import __version__
from ..config import Config, load_config
from ..errors import InboxError
from ..store import Store

OUTCOMES = ("received", "accepted", "rejected", "needs_review", "ignored", "error")

HEADINGS = {"Options": "选项", "Commands": "命令", "Positional arguments": "参数"}
METAVARS = {"TEXT": "文本", "INTEGER": "整数", "FLOAT": "数字", "PATH": "路径", "FILE": "文件", "DIRECTORY": "目录",
            "FILENAME": "文件", "BOOLEAN": "是/否", "UUID": "编号", "DATETIME": "时间"}
EXTRAS = (("default: ", "默认："), ("env var: ", "环境变量："), ("required", "必填"))
PATH_PROBLEMS = (("does not exist", "不存在"), ("is a file", "是文件，应为目录"), ("is a directory", "是目录，应为文件"),
                 ("is not readable", "没有读取权限"), ("is not writable", "没有写入权限"),
                 ("is not executable", "不能执行"))
TYPE_NAMES = {"integer": "整数", "float": "数字", "boolean": "是或否", "uuid": "编号", "datetime": "时间",
              "integer range": "范围内的整数", "float range": "范围内的数字"}


class StaffError(click.ClickException):
    """A failure shown to the staff in Chinese."""

    def show(self, file=None) -> None:
        click.echo(f"错误：{self.format_message()}", err=True)


class ChineseFormatter(click.HelpFormatter):
    """Help pages laid out by click, worded in Chinese."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, prefix="用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{HEADINGS.get(heading, heading)}：\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        """Two columns aligned by display width (a Chinese character takes two columns)."""
        rows = [(_metavars(term), _extras(text)) for term, text in rows]
        first = min(max((display_width(term) for term, _ in rows), default=0), col_max) + col_spacing
        for term, text in rows:
            self.write(f"{'':>{self.current_indent}}{term}")
            if not text:
                self.write("\n")
                continue
            if display_width(term) <= first - col_spacing:
                self.write(" " * (first - display_width(term)))
            else:
                self.write("\n" + " " * (first + self.current_indent))
            width = max(self.width - first - 2, 10)
            lines = click.wrap_text(text, width, preserve_paragraphs=True).splitlines() or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(f"{'':>{first + self.current_indent}}{line}\n")


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _metavars(term: str) -> str:
    return re.sub(r"\b[A-Z]{4,}\b", lambda m: METAVARS.get(m[0], m[0]), term)


def _extras(text: str) -> str:
    """click's `[default: x; required]` after an option's help, in Chinese."""
    def translate(match: re.Match) -> str:
        inner = match[1]
        for english, chinese in EXTRAS:
            inner = inner.replace(english, chinese)
        return f"[{inner.replace('; ', '；')}]"
    return re.sub(r"\[((?:default: |env var: |required)[^\]]*)\]", translate, text)


class ChineseContext(click.Context):
    formatter_class = ChineseFormatter


class ChineseCommand(click.Command):
    context_class = ChineseContext

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("options_metavar", "[选项]")
        super().__init__(*args, **kwargs)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = "显示本帮助并退出"
        return option


class ChineseGroup(ChineseCommand, click.Group):
    """The command group: every command and sub-group registered on it speaks Chinese, and errors are
    reported in Chinese before the process exits."""

    command_class = ChineseCommand
    group_class = type  # sub-groups are ChineseGroups too

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("subcommand_metavar", "命令 [参数]...")
        super().__init__(*args, **kwargs)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ce.Abort:
            click.echo("已中止。", err=True)
            sys.exit(1)
        except click.ClickException as err:
            show_error(err)
            sys.exit(err.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


def show_error(err: click.ClickException) -> None:
    """Print a click error the way every message of ours reads: usage, a hint, 错误：…"""
    if isinstance(err, StaffError):
        err.show()
        return
    if isinstance(err, getattr(ce, "NoArgsIsHelpError", ())):  # a bare `inbox-daemon`: the help, no error
        click.echo(err.ctx.get_help())
        return
    if isinstance(err, ce.UsageError) and err.ctx is not None:
        help_names = err.ctx.command.get_help_option_names(err.ctx)
        click.echo(err.ctx.get_usage(), err=True)
        if help_names:
            click.echo(f"运行“{err.ctx.command_path} {max(help_names, key=len)}”查看帮助。", err=True)
        click.echo("", err=True)
    click.echo(f"错误：{chinese_message(err)}", err=True)


def _hint(err) -> str:
    param = getattr(err, "param", None)
    if getattr(err, "param_hint", None):
        hint = err.param_hint
        return " / ".join(hint) if isinstance(hint, (list, tuple)) else str(hint)
    if param is not None:
        return " / ".join(param.opts) if param.param_type_name == "option" else param.human_readable_name
    return ""


def _maybe(possibilities) -> str:
    return f"（您是不是想输入 {' 或 '.join(possibilities)}？）" if possibilities else ""


def chinese_message(err: click.ClickException) -> str:
    """click's error, said in Chinese (by its kind and attributes, never by translating free text)."""
    if isinstance(err, ce.MissingParameter):
        param = err.param
        kind = "参数" if param is not None and param.param_type_name == "argument" else "选项"
        message = f"缺少{kind} {_hint(err)}"
        if param is not None and isinstance(param.type, click.Choice):
            message += f"，可选：{'、'.join(map(str, param.type.choices))}"
        return message
    if isinstance(err, ce.NoSuchOption):
        return f"没有这个选项：{err.option_name}{_maybe(err.possibilities)}"
    if isinstance(err, getattr(ce, "NoSuchCommand", ())):
        return f"没有这个命令：{err.command_name}{_maybe(err.possibilities)}"
    if isinstance(err, ce.BadOptionUsage):
        if "does not take a value" in err.message:
            return f"选项 {err.option_name} 不带值"
        return f"选项 {err.option_name} 后面需要一个值"
    if isinstance(err, ce.BadParameter):
        return _bad_parameter(err)
    if isinstance(err, ce.FileError):
        return f"无法打开文件 {err.ui_filename}"
    if isinstance(err, ce.UsageError):
        extra = re.match(r"Got unexpected extra arguments? \((.*)\)", err.message)
        if extra:
            return f"多余的参数：{extra[1]}"
        if err.message.startswith("Missing command"):
            return "缺少命令"
        if re.match(r"Argument .* takes \d+ values", err.message):
            return "参数的个数不对"
        return err.message
    return err.format_message()


def _bad_parameter(err: ce.BadParameter) -> str:
    hint = _hint(err)
    param_type = err.param.type if err.param is not None else None
    if isinstance(param_type, click.Choice):
        return f"{hint} 的取值无效，可选：{'、'.join(map(str, param_type.choices))}"
    if isinstance(param_type, click.Path):
        path = re.search(r"'(.*)'", err.message)
        problem = next((zh for en, zh in PATH_PROBLEMS if en in err.message), "无法使用")
        return f"{hint}：{path[1] if path else ''} {problem}"
    if param_type is not None and param_type.name in TYPE_NAMES:
        return f"{hint} 的取值无效，应为{TYPE_NAMES[param_type.name]}"
    if re.search(r"[\u3400-\u9fff]", err.message):  # our own ParamTypes fail in Chinese
        return f"{hint}：{err.message}" if hint else err.message
    return f"{hint} 的取值无效"


class OutcomeType(click.ParamType):
    """An outcome as staff write it: 待审核, 未通过, 已登记 … or needs_review, rejected, accepted …"""

    name = "结果"

    def get_metavar(self, param, ctx=None) -> str:
        return "结果"

    def convert(self, value, param, ctx):
        from ..reply import OUTCOME_LABELS, outcome_words
        words = outcome_words()
        if value in words:
            return words[value]
        choices = "、".join(f"{label}（{outcome}）" for outcome, label in OUTCOME_LABELS.items())
        self.fail(f"不认识的结果“{value}”，可选：{choices}", param, ctx)


OUTCOME = OutcomeType()


def setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # mail-parser logs every odd part at WARNING/ERROR, raw header text included: keep it out.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.WARNING if level > logging.DEBUG else logging.DEBUG)


CONFIG_HELP = "配置文件路径（默认当前目录下的 config.toml）"


def config_file(ctx: click.Context, given: str | None) -> str:
    """The config named on the command, else on the group, else ./config.toml."""
    return given or (ctx.obj or {}).get("config") or "config.toml"


def with_config(command):
    """Adds `--config PATH` to a command; the group-level option is the fallback."""

    @click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, metavar="路径",
                  help=CONFIG_HELP)
    @click.pass_context
    @functools.wraps(command)
    def wrapper(ctx, config_path, **kwargs):
        path = config_file(ctx, config_path)
        try:
            config = load_config(path)
            return command(config, **kwargs)
        except InboxError as err:
            raise StaffError(str(err)) from err

    return wrapper


def open_store(config: Config) -> Store:
    return Store.from_config(config)


@click.group(cls=ChineseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), default=None, metavar="路径", help=CONFIG_HELP)
@click.option("-v", "--verbose", count=True, help="更多日志（-v 每封邮件一行，-vv 调试）")
@click.version_option(__version__, "-V", "--version", message="%(prog)s %(version)s", help="显示版本号并退出")
@click.pass_context
def main(ctx, config, verbose):
    """inbox-daemon：比赛投稿邮箱的自动收件、登记与回复。

    示例：inbox-daemon poll --once
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    setup_logging(verbose)


from . import admin, awards, console, mail, staff  # noqa: E402,F401  (registers the commands)
