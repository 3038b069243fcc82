"""Console accounts: argon2 hashes, roles, the lockout, sessions that end with a new password."""

from __future__ import annotations

import pytest

from inbox_daemon import accounts
from inbox_daemon.accounts import AccountError, LoginRefused
from inbox_daemon.store import Store


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """Still argon2id, with small costs: the default (64 MiB, 3 passes) takes 0.4 s a hash here."""
    from argon2 import PasswordHasher
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def db(tmp_path):
    store = Store(tmp_path / "inbox.db", tmp_path / "files")
    yield store.db
    store.close()


def test_passwords_are_argon2_hashes_and_never_stored_plain(db):
    accounts.add_user(db, "zhang", "reviewer", "a long secret 123")
    [row] = db.query("SELECT * FROM users")
    assert row["password_hash"].startswith("$argon2id$")
    assert "a long secret 123" not in str(row)
    assert accounts.authenticate(db, "zhang", "a long secret 123", "10.0.0.1").role == "reviewer"


def test_no_weak_password_no_unknown_role_no_second_account_of_a_name(db):
    with pytest.raises(AccountError, match="至少 10 个字符"):
        accounts.add_user(db, "li", "viewer", "short")
    with pytest.raises(AccountError, match="不能与用户名相同"):
        accounts.add_user(db, "liwei12345", "viewer", "LIWEI12345")
    with pytest.raises(AccountError, match="未知的角色"):
        accounts.add_user(db, "li", "superuser", "a long secret 123")
    accounts.add_user(db, "li", "viewer", "a long secret 123")
    with pytest.raises(AccountError, match="已存在"):
        accounts.add_user(db, "li", "admin", "another secret 123")
    assert [u.name for u in accounts.users(db)] == ["li"]


def test_five_failures_lock_the_name_even_for_the_right_password(db):
    accounts.add_user(db, "wang", "organizer", "right password 1")
    for attempt in range(accounts.MAX_FAILURES):
        with pytest.raises(LoginRefused, match="用户名或密码不正确"):
            accounts.authenticate(db, "wang", f"wrong {attempt}", f"10.0.0.{attempt}")
    with pytest.raises(LoginRefused, match="15 分钟后再试"):
        accounts.authenticate(db, "wang", "right password 1", "10.9.9.9")
    actions = [row["action"] for row in db.query("SELECT action FROM audit ORDER BY id")]
    assert actions.count("login_failed") == 5 and actions[-1] == "login_locked"


def test_five_failures_from_one_address_lock_that_address_for_every_name(db):
    accounts.add_user(db, "zhao", "viewer", "right password 2")
    for name in ("a", "b", "c", "d", "e"):
        with pytest.raises(LoginRefused):
            accounts.authenticate(db, name, "guess", "203.0.113.7")
    with pytest.raises(LoginRefused, match="15 分钟后再试"):
        accounts.authenticate(db, "zhao", "right password 2", "203.0.113.7")
    assert accounts.authenticate(db, "zhao", "right password 2", "198.51.100.1").name == "zhao"


def test_failures_older_than_the_window_or_before_a_success_do_not_count(db):
    accounts.add_user(db, "sun", "viewer", "right password 3")
    for _ in range(4):
        with pytest.raises(LoginRefused):
            accounts.authenticate(db, "sun", "wrong", "10.0.0.5")
    accounts.authenticate(db, "sun", "right password 3", "10.0.0.5")
    with pytest.raises(LoginRefused, match="不正确"):  # a fifth failure, but the success reset the count
        accounts.authenticate(db, "sun", "wrong", "10.0.0.5")
    db.execute("UPDATE login_attempts SET at = '2020-01-01T00:00:00+00:00'")
    assert not accounts.locked(db, "sun", "10.0.0.5")


def test_an_own_login_between_guesses_does_not_clear_the_address_s_failures(db, monkeypatch):
    from datetime import datetime, timedelta, timezone
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    ticks = iter(range(10_000))  # one second a call: a success is seen strictly after the failures before it
    monkeypatch.setattr(accounts, "now_iso", lambda: (start + timedelta(seconds=next(ticks))).isoformat(
        timespec="seconds"))
    accounts.add_user(db, "attacker", "juror", "attacker password 1")
    for name in ("ma", "li", "hu"):
        accounts.add_user(db, name, "viewer", f"right password {name}")
    refused = 0
    for name in ("ma", "li", "hu"):
        for attempt in range(4):
            try:
                accounts.authenticate(db, name, f"guess {attempt}", "203.0.113.9")
            except LoginRefused:
                refused += 1
        try:  # the attacker's own account, from the same address, between the rounds of guesses
            accounts.authenticate(db, "attacker", "attacker password 1", "203.0.113.9")
        except LoginRefused:
            pass
    assert refused == 12
    assert accounts.locked(db, "zhou", "203.0.113.9")
    with pytest.raises(LoginRefused, match="15 分钟后再试"):
        accounts.authenticate(db, "ma", "right password ma", "203.0.113.9")
    assert accounts.authenticate(db, "ma", "right password ma", "198.51.100.2").name == "ma"  # names not locked


def test_an_unknown_name_is_recorded_cut_to_forty_characters(db):
    typed = "my secret password typed in the name box " * 2  # 82 characters
    with pytest.raises(LoginRefused, match="不正确"):
        accounts.authenticate(db, typed, "whatever", "10.0.0.8")
    [attempt] = db.query("SELECT name FROM login_attempts")
    [audit] = db.query("SELECT actor, target FROM audit WHERE action='login_failed'")
    assert attempt["name"] == audit["actor"] == audit["target"] == typed[:40]
    dump = "\n".join(db.iterdump())
    assert typed.strip() not in dump and typed[:41] not in dump


def test_a_longer_typed_name_is_not_an_account_cut_to_forty(db):
    accounts.add_user(db, "x" * 40, "viewer", "right password 4")
    with pytest.raises(LoginRefused, match="不正确"):
        accounts.authenticate(db, "x" * 40 + "yz", "right password 4", "10.0.0.9")


def test_a_disabled_account_cannot_log_in_and_its_sessions_end(db):
    user = accounts.add_user(db, "qian", "reviewer", "right password 4")
    token = accounts.session_token(user)
    assert accounts.load_session_user(db, token).name == "qian"
    accounts.set_active(db, "qian", False)
    assert accounts.load_session_user(db, token) is None
    with pytest.raises(LoginRefused):
        accounts.authenticate(db, "qian", "right password 4", "10.0.0.6")


def test_a_new_password_ends_the_sessions_opened_before_it(db):
    user = accounts.add_user(db, "zhou", "reviewer", "right password 5")
    old_session = accounts.session_token(user)
    import time
    time.sleep(1.1)  # stored times have whole seconds
    accounts.change_own_password(db, user, "right password 5", "newer password 5")
    assert accounts.load_session_user(db, old_session) is None
    fresh = accounts.get_user(db, "zhou")
    assert accounts.load_session_user(db, accounts.session_token(fresh)).name == "zhou"
    with pytest.raises(AccountError, match="当前密码不正确"):
        accounts.change_own_password(db, fresh, "wrong", "another password 6")
    with pytest.raises(LoginRefused):
        accounts.authenticate(db, "zhou", "right password 5", "10.0.0.7")


def test_roles_are_exactly_the_design_s_five(db):
    assert accounts.ROLES == ("admin", "organizer", "reviewer", "juror", "viewer")
    user = accounts.add_user(db, "wu", "viewer", "right password 7")
    accounts.set_role(db, "wu", "juror")
    assert accounts.get_user(db, "wu").role == "juror" and user.role == "viewer"
    with pytest.raises(AccountError):
        accounts.set_role(db, "wu", "root")


def test_a_session_lasts_its_hours_from_the_login_however_busy_and_ends_at_logout(db):
    from datetime import datetime, timedelta, timezone
    user = accounts.add_user(db, "sun", "admin", "right password 6")
    hours = timedelta(hours=12)
    now = datetime.now(timezone.utc)
    assert accounts.load_session_user(db, accounts.session_token(user, now - timedelta(hours=11)), hours)
    assert accounts.load_session_user(db, accounts.session_token(user, now - timedelta(hours=13)), hours) is None
    assert accounts.load_session_user(db, accounts.session_token(user, now + timedelta(hours=1)), hours) is None
    assert accounts.load_session_user(db, user.session_id, hours) is None  # a cookie from before login times
    copied = accounts.session_token(user)  # e.g. a cookie copied off the office PC
    accounts.end_sessions(db, accounts.get_user(db, "sun"))  # logout
    assert accounts.load_session_user(db, copied, hours) is None
    assert accounts.load_session_user(db, accounts.session_token(user), hours).name == "sun"  # a new login
