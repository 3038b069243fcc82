"""Login, logout, own password, and the role check every request passes through.

Sessions are Flask's signed cookies (key from `[web] secret_env`). The signed user id names the
account, its password's time and the moment of the login (`accounts.session_token`), and Flask-Login
reloads the account on every request: a session ends `session_hours` after the login however busy it
is, at logout (on every device: `accounts.end_sessions`), and at once when the account is disabled or
its password changed.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from .. import accounts
from ..accounts import ROLES

bp = Blueprint("auth", __name__)

READ = ("admin", "organizer", "reviewer", "viewer")  # every page about entries; jurors see none of it
DECIDE = ("admin", "organizer", "reviewer")
EXPORT = ("admin", "organizer")
ADMIN = ("admin",)
ANYONE = ROLES  # logged in, whatever the role (own password, logout)
PUBLIC = {"auth.login", "static"}


def console():
    return current_app.extensions["inbox"]


def store():
    return console().store()


def awards_rules():
    """The rules' [awards] data, or 404 where the rules set up no awards (jury and organizer pages)."""
    found = console().rules.awards
    if found is None:
        abort(404)
    return found


class ConsoleUser(UserMixin):
    def __init__(self, user: accounts.User, token: str | None = None):
        self.user = user
        self.name, self.role = user.name, user.role
        self.token = token or accounts.session_token(user)  # a new login when none is given

    def get_id(self) -> str:
        return self.token

    def may(self, *allowed: str) -> bool:
        return self.role in allowed

    @property
    def can_decide(self) -> bool:
        return self.role in DECIDE


def roles(*allowed: str):
    """Who may call this view. The check runs before the view on every request (see `check_role`)."""
    def mark(view):
        view.allowed_roles = frozenset(allowed)

        @wraps(view)
        def guarded(*args, **kwargs):
            if current_user.role not in view.allowed_roles:
                abort(403)
            return view(*args, **kwargs)
        guarded.allowed_roles = view.allowed_roles
        return login_required(guarded)
    return mark


def check_role():
    """Deny by default: a view that did not declare its roles is refused to everyone."""
    if request.endpoint in PUBLIC or request.endpoint is None:
        return None
    view = current_app.view_functions.get(request.endpoint)
    allowed = getattr(view, "allowed_roles", None)
    if allowed is None:
        abort(403)
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.role not in allowed:
        abort(403)
    return None


def address() -> str:
    return request.remote_addr or ""


def init(app) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "请先登录。"
    manager.session_protection = "strong"

    @manager.user_loader
    def load(token: str):
        user = accounts.load_session_user(store().db, token, app.permanent_session_lifetime)
        return ConsoleUser(user, token) if user else None

    app.before_request(check_role)

    @app.context_processor
    def globals_():
        return {"READ": READ, "DECIDE": DECIDE, "EXPORT": EXPORT, "ADMIN": ADMIN,
                "role_names": accounts.ROLE_NAMES}


class LoginForm(FlaskForm):
    name = StringField("用户名", validators=[DataRequired("请输入用户名"),
                                             Length(max=accounts.MAX_NAME, message=f"用户名最多 {accounts.MAX_NAME} 个字符")])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])


class PasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new = PasswordField("新密码", validators=[DataRequired("请输入新密码"),
                                              Length(min=accounts.MIN_PASSWORD,
                                                     message=f"密码至少 {accounts.MIN_PASSWORD} 个字符")])
    again = PasswordField("再输一次新密码", validators=[EqualTo("new", "两次输入的新密码不一致")])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def _safe_next(target: str | None) -> str:
    """A local path to go to after login, or the home page. Browsers and Werkzeug drop tabs and newlines
    and read a backslash as a slash, so `/<tab>/evil.example` would become `//evil.example`: any control
    character or backslash is refused before the URL is split."""
    if not target or "\\" in target or any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 for ch in target):
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return url_for("pages.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(store().db, form.name.data, form.password.data, address())
        except accounts.LoginRefused as err:
            flash(str(err), "error")
            return render_template("login.html", form=form), 401
        session.clear()  # a new session on login: nothing from before it carries over
        login_user(ConsoleUser(user))
        session.permanent = True
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
@roles(*ANYONE)
def logout():
    if ActionForm().validate_on_submit():
        accounts.audit(store().db, current_user.name, "logout", current_user.name, address=address())
        accounts.end_sessions(store().db, current_user.user)
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@roles(*ANYONE)
def account():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_own_password(store().db, current_user.user, form.current.data, form.new.data, address())
        except accounts.AccountError as err:
            flash(str(err), "error")
        else:
            logout_user()
            session.clear()
            flash("密码已修改，请用新密码重新登录。", "ok")
            return redirect(url_for("auth.login"))
    return render_template("account.html", form=form)
