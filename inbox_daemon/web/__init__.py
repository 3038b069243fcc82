"""The staff console: a Flask app over the same library the CLI uses (queries.py to read, staff.py and
accounts.py to act). It holds no logic of its own beyond turning requests into those calls.

Conventions (the awards pages follow them; see docs/console.md):
- every view declares who may call it with `@roles(...)` from `web.auth`; a view without it is
  refused (403) for everyone, so a forgotten check fails closed;
- every form is a Flask-WTF form (CSRF token); every state change is a POST;
- templates extend `base.html` and put page content in `{% block main %}`; no inline scripts or
  styles (the Content-Security-Policy forbids them): behaviour goes in `static/console.js`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from datetime import timedelta

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import Config
from ..errors import ConfigError
from ..pipeline import Context
from ..rules import load_rules
from ..store import Store

log = logging.getLogger(__name__)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
MAX_UPLOAD = 2 << 30  # a contest video fetched from a cloud link; larger requests are refused before reading
MAX_FORM = 1 << 20  # any other request body, and every body from someone not allowed to upload
UPLOADS = frozenset({"entries.upload", "awards.import_stats", "awards.upload_reading"})


class Console:
    """What every request needs: the config, the rules in force, and one store per server thread."""

    def __init__(self, config: Config):
        self.config = config
        self.rules = load_rules(config.rules_dir)
        self.context = Context.from_config(config, self.rules)
        self.mailboxes = tuple(m.name for m in config.mailboxes)
        Store.from_config(config).close()  # migrate once, before the first request
        self._local = threading.local()

    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store.from_config(self.config, migrate=False)
        return store


def secret_key(config: Config) -> str:
    web = config.web
    value = os.environ.get(web.secret_env, "")
    if len(value) < 32:
        raise ConfigError(
            f"控制台的会话密钥未设置或太短：请在环境变量 {web.secret_env} 中放入至少 32 个字符的随机串"
            f"（例如 python3 -c 'import secrets; print(secrets.token_urlsafe(48))'）/ "
            f"set {web.secret_env} to a random string of 32+ characters")
    return value


def create_app(config: Config) -> Flask:
    from ..config import WebConfig
    web = config.web or WebConfig()
    config = config if config.web else _with_web(config, web)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(config), SESSION_COOKIE_NAME="inbox_console", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=web.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=web.session_hours),
        WTF_CSRF_TIME_LIMIT=web.session_hours * 3600, MAX_CONTENT_LENGTH=MAX_UPLOAD,
        SEND_FILE_MAX_AGE_DEFAULT=3600, TEMPLATES_AUTO_RELOAD=False)
    app.extensions["inbox"] = Console(config)
    if _is_loopback(web.host):
        # Only a local proxy (nginx) can reach a loopback listener, so its X-Forwarded-For is trusted:
        # the login lockout then counts the real address, not the proxy's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    app.before_request(_limit_body)  # before CSRFProtect's check, which reads the form
    CSRFProtect(app)

    from . import admin, auth, awards, entries, jury, pages
    auth.init(app)
    _filters(app)
    for module in (auth, pages, entries, admin, jury, awards):
        app.register_blueprint(module.bp)
    app.after_request(_headers)
    app.teardown_appcontext(lambda _exc: g.pop("store", None))

    @app.errorhandler(CSRFError)
    def csrf_refused(err):
        return render_template("error.html", title="表单已失效",
                               text="表单已过期或来源不明（缺少安全令牌），请返回页面刷新后重试。"), 400

    for code, title, text in ((403, "没有权限", "您的账号没有权限执行此操作。"),
                              (404, "找不到页面", "要找的投稿、邮件或文件不存在。"),
                              (413, "文件太大", "上传的文件超过了控制台允许的大小。")):
        app.register_error_handler(code, _error_page(code, title, text))
    return app


def _filters(app: Flask) -> None:
    from ..queries import SEVERITY_NAMES
    from ..times import local_text

    def filesize(size) -> str:
        if size is None:
            return ""
        for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
            if size >= scale:
                return f"{size / scale:.1f} {unit}"
        return f"{size} 字节"

    def duration(seconds) -> str:
        if seconds is None:
            return "未知"
        minutes, rest = divmod(int(round(seconds)), 60)
        return f"{minutes} 分 {rest:02d} 秒" if minutes else f"{rest} 秒"

    app.jinja_env.filters.update(local=lambda value: local_text(value) if value else "", filesize=filesize,
                                 duration=duration)
    app.jinja_env.globals["severity_names"] = SEVERITY_NAMES


def _limit_body():
    """Only a signed-in user allowed to call an upload view may send more than MAX_FORM; anyone else's
    larger body is refused (413) before it is read, so no one can make the server parse big forms
    before the login and role checks."""
    from flask import current_app, request
    from flask_login import current_user
    if request.endpoint in UPLOADS and current_user.is_authenticated:
        allowed = getattr(current_app.view_functions.get(request.endpoint), "allowed_roles", ())
        if current_user.role in allowed:
            return None
    request.max_content_length = MAX_FORM
    return None


def _error_page(code: int, title: str, text: str):
    def handler(_err):
        return render_template("error.html", title=title, text=text), code
    return handler


def _headers(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _with_web(config: Config, web) -> Config:
    from dataclasses import replace
    return replace(config, web=web)


def serve(config: Config, threads: int = 4):
    """A waitress server for the console (not yet running): `.run()` serves, `.close()` stops."""
    from waitress import create_server
    from ..config import WebConfig
    web = config.web or WebConfig()
    app = create_app(config)
    return create_server(app, host=web.host, port=web.port, threads=threads, ident="inbox-daemon",
                         max_request_body_size=MAX_UPLOAD)


def serve_in_thread(config: Config):
    """For `run`: the console beside the daemon's jobs. Returns the server; `.close()` stops it."""
    server = serve(config)
    threading.Thread(target=server.run, name="console", daemon=True).start()
    log.info("console listening on %s", config.web.listen)
    return server
