"""For admins: accounts (add, role, disable, set a password) and the audit log."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired

from .. import accounts, queries
from .auth import ADMIN, ActionForm, roles, store

bp = Blueprint("admin", __name__, url_prefix="/admin")
ROLE_CHOICES = [(role, accounts.ROLE_NAMES[role]) for role in accounts.ROLES]


class UserForm(FlaskForm):
    name = StringField("用户名", validators=[DataRequired("请输入用户名")])
    role = SelectField("角色", choices=ROLE_CHOICES)
    password = PasswordField("初始密码", validators=[DataRequired("请输入初始密码")])


class RoleForm(FlaskForm):
    role = SelectField("角色", choices=ROLE_CHOICES)


class ResetForm(FlaskForm):
    password = PasswordField("新密码", validators=[DataRequired("请输入新密码")])


@bp.route("/users", methods=["GET", "POST"])
@roles(*ADMIN)
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            accounts.add_user(store().db, form.name.data, form.role.data, form.password.data, actor=current_user.name)
            flash(f"已添加用户 {form.name.data.strip()}。", "ok")
            return redirect(url_for("admin.users"))
        except accounts.AccountError as err:
            flash(str(err), "error")
    return render_template("users.html", users=accounts.users(store().db), form=form, role_form=RoleForm(),
                           reset=ResetForm(), action=ActionForm())


def _user_action(name: str, action) -> object:
    try:
        action()
    except accounts.AccountError as err:
        flash(str(err), "error")
    else:
        flash(f"用户 {name} 已更新。", "ok")
    return redirect(url_for("admin.users"))


@bp.route("/users/<name>/role", methods=["POST"])
@roles(*ADMIN)
def role(name: str):
    form = RoleForm()
    if not form.validate_on_submit():
        flash("表单有误。", "error")
        return redirect(url_for("admin.users"))
    if name == current_user.name and form.role.data != "admin":
        flash("不能取消自己的管理员角色。", "error")
        return redirect(url_for("admin.users"))
    return _user_action(name, lambda: accounts.set_role(store().db, name, form.role.data, actor=current_user.name))


@bp.route("/users/<name>/active", methods=["POST"])
@roles(*ADMIN)
def active(name: str):
    if not ActionForm().validate_on_submit():
        flash("表单有误。", "error")
        return redirect(url_for("admin.users"))
    enable = request.form.get("enable") == "1"
    if name == current_user.name and not enable:
        flash("不能停用自己的账号。", "error")
        return redirect(url_for("admin.users"))
    return _user_action(name, lambda: accounts.set_active(store().db, name, enable, actor=current_user.name))


@bp.route("/users/<name>/password", methods=["POST"])
@roles(*ADMIN)
def password(name: str):
    form = ResetForm()
    if not form.validate_on_submit():
        flash("请输入新密码。", "error")
        return redirect(url_for("admin.users"))
    return _user_action(name, lambda: accounts.set_password(store().db, name, form.password.data,
                                                            actor=current_user.name))


@bp.route("/audit")
@roles(*ADMIN)
def audit():
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page = 1
    rows, total = queries.audit_log(store().db, page)
    return render_template("audit.html", rows=rows, total=total, page=page, pages=max(1, -(-total // 100)))
