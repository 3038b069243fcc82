"""Console accounts for both faces (the `user` commands and the console's login): users, roles,
argon2 hashes, the login lockout and the audit log of account actions.

There is no default account and no default password: the first admin is made with
`inbox-daemon user add NAME --role admin`, which asks for the password. Five failed logins for one
name, or from one address, within 15 minutes lock that name or address for 15 minutes; the
attempts are rows, so the lock holds across processes and restarts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .db import now_iso, write
from .errors import InboxError

ROLES = ("admin", "organizer", "reviewer", "juror", "viewer")
ROLE_NAMES = {"admin": "管理员", "organizer": "组织方", "reviewer": "审核员", "juror": "评委", "viewer": "只读"}
MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10
MAX_NAME = 40
NAME = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{2,40}$")

HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so that it takes as long as for a real user (no
    timing oracle). Made on first use: every command imports this module, and a hash costs 0.2 s."""
    return HASHER.hash("no such user: this hash only spends the same time")


class AccountError(InboxError):
    """An account action that cannot be done as asked (its message is shown to the person)."""


class LoginRefused(AccountError):
    """Wrong name or password, a disabled account, or a lockout: the person is told no more than that."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    active: bool
    password_changed_at: str
    last_login_at: str | None = None
    created_at: str | None = None
    sessions_ended_at: str | None = None

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    @property
    def session_id(self) -> str:
        """What the session cookie names: the user and the time of their password, so a new password
        (or a disabled account) ends every session opened before it."""
        return f"{self.id}:{self.password_changed_at}"


def _user(row: dict | None) -> User | None:
    if row is None:
        return None
    return User(row["id"], row["name"], row["role"], bool(row["active"]), row["password_changed_at"],
                row["last_login_at"], row["created_at"], row.get("sessions_ended_at"))


def check_password(name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少 {MIN_PASSWORD} 个字符")
    if password.strip().lower() == name.strip().lower():
        raise AccountError("密码不能与用户名相同")


def audit(db: sqlite_utils.Database, actor: str, action: str, target: str = "", detail: str = "",
          address: str = "") -> None:
    with write(db):
        db["audit"].insert({"at": now_iso(), "actor": actor, "action": action, "target": target,
                            "detail": detail, "address": address})


def add_user(db: sqlite_utils.Database, name: str, role: str, password: str, actor: str = "命令行") -> User:
    name = name.strip()
    if not NAME.match(name):
        raise AccountError("用户名为 2–40 个字母、数字、汉字或 _ . @ -")
    if role not in ROLES:
        raise AccountError(f"未知的角色 {role}（可选：{'、'.join(ROLES)}）")
    check_password(name, password)
    with write(db):
        if db.execute("SELECT 1 FROM users WHERE name=?", [name]).fetchone():
            raise AccountError(f"用户 {name} 已存在")
        at = now_iso()
        db["users"].insert({"name": name, "role": role, "password_hash": HASHER.hash(password), "active": 1,
                            "created_at": at, "password_changed_at": at})
        audit(db, actor, "user_add", name, role)
    return get_user(db, name)


def get_user(db: sqlite_utils.Database, name: str) -> User | None:
    return _user(next(iter(db.query("SELECT * FROM users WHERE name=?", [name])), None))


def session_token(user: User, opened_at: datetime | None = None) -> str:
    """What a session cookie names: the user, the time of their password (a new password ends every
    session opened before it) and the moment of the login (a session lasts `session_hours` from it,
    however busy, and ends at logout)."""
    opened_at = opened_at or datetime.now(timezone.utc)
    return f"{user.session_id}|{opened_at.isoformat()}"


def load_session_user(db: sqlite_utils.Database, token: str, max_age: timedelta | None = None) -> User | None:
    """The user a session cookie names, if that account is active, its password unchanged, the session
    younger than `max_age` and opened after the account's last logout."""
    session_id, sep, opened = token.rpartition("|")
    pk, _, changed = session_id.partition(":")
    if not sep or not pk.isdigit():
        return None
    try:
        opened_at = datetime.fromisoformat(opened)
    except ValueError:
        return None
    now = datetime.now(timezone.utc)
    if opened_at.tzinfo is None or opened_at > now or (max_age is not None and now - opened_at > max_age):
        return None
    user = _user(next(iter(db.query("SELECT * FROM users WHERE id=?", [int(pk)])), None))
    if user is None or not user.active or user.password_changed_at != changed:
        return None
    if user.sessions_ended_at and opened_at <= datetime.fromisoformat(user.sessions_ended_at):
        return None
    return user


def end_sessions(db: sqlite_utils.Database, user: User) -> None:
    """Logout: every session of this account opened until now is refused from now on, including a
    cookie copied before the logout."""
    with write(db):
        db["users"].update(user.id, {"sessions_ended_at": datetime.now(timezone.utc).isoformat()})


def users(db: sqlite_utils.Database) -> list[User]:
    return [_user(row) for row in db.query("SELECT * FROM users ORDER BY name")]


def _require(db: sqlite_utils.Database, name: str) -> User:
    user = get_user(db, name)
    if user is None:
        raise AccountError(f"没有用户 {name}")
    return user


def set_password(db: sqlite_utils.Database, name: str, password: str, actor: str = "命令行",
                 address: str = "") -> None:
    user = _require(db, name)
    check_password(name, password)
    with write(db):
        db["users"].update(user.id, {"password_hash": HASHER.hash(password), "password_changed_at": now_iso()})
        audit(db, actor, "user_passwd", name, address=address)


def set_active(db: sqlite_utils.Database, name: str, active: bool, actor: str = "命令行") -> None:
    user = _require(db, name)
    with write(db):
        # A new password_changed_at ends the sessions of a disabled account at once.
        db["users"].update(user.id, {"active": int(active), "password_changed_at": now_iso()})
        audit(db, actor, "user_enable" if active else "user_disable", name)


def set_role(db: sqlite_utils.Database, name: str, role: str, actor: str = "命令行") -> None:
    if role not in ROLES:
        raise AccountError(f"未知的角色 {role}（可选：{'、'.join(ROLES)}）")
    user = _require(db, name)
    with write(db):
        db["users"].update(user.id, {"role": role})
        audit(db, actor, "user_role", name, f"{user.role} → {role}")


def _since(minutes: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


def locked(db: sqlite_utils.Database, name: str, address: str) -> bool:
    """Five failures within the window, for this name or from this address.

    For the name, failures count since its last success. For the address, a failure stops counting only
    when the same name later logged in from the same address: a success of some other account (the
    attacker's own) does not clear the failures on other names from that address."""
    since = _since(LOCK_MINUTES)
    by_name = db.execute(
        "SELECT COUNT(*) FROM login_attempts WHERE name=? AND at>=? AND ok=0 AND at >= "
        "COALESCE((SELECT MAX(at) FROM login_attempts WHERE name=? AND ok=1), '')",
        [name, since, name]).fetchone()[0]
    if by_name >= MAX_FAILURES:
        return True
    by_address = db.execute(
        "SELECT COUNT(*) FROM login_attempts f WHERE f.address=? AND f.at>=? AND f.ok=0 AND NOT EXISTS "
        "(SELECT 1 FROM login_attempts s WHERE s.address=f.address AND s.name=f.name AND s.ok=1 AND s.id>f.id)",
        [address, since]).fetchone()[0]
    return by_address >= MAX_FAILURES


def authenticate(db: sqlite_utils.Database, name: str, password: str, address: str) -> User:
    """The user, when the name, password and account allow it; every attempt is recorded."""
    name = name.strip()
    # What is recorded of the typed name (attempts, audit): no account name is longer, and a password typed
    # into the name box by mistake is not kept whole. The lookup still uses all of it.
    kept = name[:MAX_NAME]
    if locked(db, kept, address):
        audit(db, kept, "login_locked", kept, address=address)
        raise LoginRefused(f"登录失败次数过多，请 {LOCK_MINUTES} 分钟后再试")
    row = next(iter(db.query("SELECT * FROM users WHERE name=?", [name])), None)
    try:
        HASHER.verify(row["password_hash"] if row else _dummy_hash(), password)
        ok = row is not None and bool(row["active"])
    except (VerificationError, InvalidHashError):
        ok = False
    with write(db):
        db["login_attempts"].insert({"name": kept, "address": address, "at": now_iso(), "ok": int(ok)})
        audit(db, kept, "login" if ok else "login_failed", kept, address=address)
        if ok:
            db["users"].update(row["id"], {"last_login_at": now_iso()})
            if HASHER.check_needs_rehash(row["password_hash"]):
                db["users"].update(row["id"], {"password_hash": HASHER.hash(password)})
    if not ok:
        raise LoginRefused("用户名或密码不正确")
    return get_user(db, name)


def change_own_password(db: sqlite_utils.Database, user: User, current: str, new: str, address: str = "") -> None:
    row = next(iter(db.query("SELECT password_hash FROM users WHERE id=?", [user.id])))
    try:
        HASHER.verify(row["password_hash"], current)
    except (VerificationError, InvalidHashError) as err:
        raise AccountError("当前密码不正确") from err
    set_password(db, user.name, new, actor=user.name, address=address)
