"""The console from the terminal: serve it (`web`) and manage its accounts (`user ...`).

Passwords are always asked for (twice, hidden); none is ever taken from the command line, and no
account or password exists until an operator makes one."""

from __future__ import annotations

import click

from .. import accounts
from ..config import Config
from ..times import local_text
from . import StaffError, main, open_store, with_config


@main.command()
@with_config
def web(config: Config):
    """启动工作人员控制台（地址见配置 [web] 一节，默认 127.0.0.1:8080）。

    会话密钥从 [web] secret_env 指定的环境变量读取。

    Example: INBOX_WEB_SECRET=... inbox-daemon web
    """
    from ..web import serve
    server = serve(config)
    listen = config.web.listen if config.web else "127.0.0.1:8080"
    click.echo(f"控制台已启动：http://{listen}/（按 Ctrl+C 停止）")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@main.group()
def user():
    """控制台账号：添加、列出、停用、改密码。

    Example: inbox-daemon user add zhangsan --role reviewer
    """


def _password(name: str) -> str:
    password = click.prompt(f"为 {name} 设置密码", hide_input=True, confirmation_prompt="再输一次", err=True)
    try:
        accounts.check_password(name, password)
    except accounts.AccountError as err:
        raise StaffError(str(err)) from err
    return password


def _expect(db, name: str, exists: bool) -> None:
    """Checked before the password is asked, so nobody types one for nothing."""
    if exists and accounts.get_user(db, name) is None:
        raise accounts.AccountError(f"没有用户 {name}")
    if not exists and accounts.get_user(db, name) is not None:
        raise accounts.AccountError(f"用户 {name} 已存在")


def _account_call(config: Config, action) -> None:
    store = open_store(config)
    try:
        action(store.db)
    except accounts.AccountError as err:
        raise StaffError(str(err)) from err
    finally:
        store.close()


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True,
              help="角色：admin 管理员、organizer 组织方、reviewer 审核员、juror 评委、viewer 只读")
@with_config
def user_add(config: Config, name: str, role: str):
    """添加账号（密码会提示输入，不能写在命令行上）。

    Example: inbox-daemon user add zhangsan --role reviewer
    """
    _account_call(config, lambda db: _expect(db, name, exists=False))
    password = _password(name)
    _account_call(config, lambda db: accounts.add_user(db, name, role, password))
    click.echo(f"已添加用户 {name}（{accounts.ROLE_NAMES[role]}）")


@user.command("list")
@with_config
def user_list(config: Config):
    """列出所有账号。

    Example: inbox-daemon user list
    """
    found = []
    _account_call(config, lambda db: found.extend(accounts.users(db)))
    if not found:
        click.echo("还没有账号。请用 inbox-daemon user add 名字 --role admin 添加第一个管理员。")
        return
    for item in found:
        state = "正常" if item.active else "已停用"
        last = local_text(item.last_login_at) or "从未登录"
        click.echo(f"{item.name}\t{item.role_name}\t{state}\t最近登录：{last}")


@user.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="重新启用已停用的账号")
@with_config
def user_disable(config: Config, name: str, enable: bool):
    """停用账号（立即退出所有登录）；加 --enable 重新启用。

    Example: inbox-daemon user disable zhangsan
    """
    _account_call(config, lambda db: accounts.set_active(db, name, enable))
    click.echo(f"已{'启用' if enable else '停用'}用户 {name}")


@user.command("passwd")
@click.argument("name")
@with_config
def user_passwd(config: Config, name: str):
    """为账号设置新密码（会提示输入）。

    Example: inbox-daemon user passwd zhangsan
    """
    _account_call(config, lambda db: _expect(db, name, exists=True))
    password = _password(name)
    _account_call(config, lambda db: accounts.set_password(db, name, password))
    click.echo(f"已为 {name} 设置新密码，其所有登录均已失效")
