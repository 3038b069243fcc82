"""`check` looks and changes nothing: no folder created, no flag set, nothing sent; it logs in to SMTP
with the daemon's own connect code, one AUTH mechanism, and reports the server's words."""

from __future__ import annotations

from conftest import PASSWORD_ENV, SMTP_PASSWORD_ENV, imap_mailbox, run_cli, smtp_section, write_config

from inbox_daemon.demo.samples import compose


def _server_state(dovecot, user, password):
    with dovecot.client(user, password) as client:
        folders = sorted(name for _, _, name in client.list_folders())
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    return folders, {uid: sorted(f) for uid, f in flags.items()}


def test_check_leaves_the_server_unchanged(dovecot, imap_user, tmp_path, smtp_sink):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", [compose(sender="a@qq.com", subject="微视频", body="作品名称：甲")])
    before = _server_state(dovecot, user, password)
    config = write_config(tmp_path, [imap_mailbox(dovecot, user, done_folder="已处理")],
                          smtp=smtp_section(smtp_sink))
    result = run_cli("--config", str(config), "check", env={PASSWORD_ENV: password})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "已处理文件夹 已处理 尚不存在" in result.stdout
    assert f"以 {smtp_sink.USER} 登录成功" in result.stdout
    assert _server_state(dovecot, user, password) == before  # no 已处理 folder, no \\Seen
    assert smtp_sink.messages == [] and smtp_sink.auth_attempts == ["PLAIN"]


def test_check_reports_a_refused_smtp_login_once_with_the_servers_words(tmp_path, smtp_sink):
    config = write_config(tmp_path, [{"name": "demo", "source": "maildir", "path": str(tmp_path / "md"),
                                      "contests": ["photo"]}], smtp=smtp_section(smtp_sink))
    result = run_cli("--config", str(config), "check", env={SMTP_PASSWORD_ENV: "wrong-password"})
    assert result.returncode == 1
    assert "SMTP 登录被拒绝（535" in result.stdout
    assert len(smtp_sink.auth_attempts) == 1  # not PLAIN, then LOGIN, then CRAM-MD5
    assert "wrong-password" not in result.stdout + result.stderr


def test_a_temporary_smtp_auth_failure_is_not_called_a_wrong_password(tmp_path, smtp_sink):
    smtp_sink.auth_reply = "454 4.7.0 Temporary authentication failure"
    config = write_config(tmp_path, [{"name": "demo", "source": "maildir", "path": str(tmp_path / "md"),
                                      "contests": ["photo"]}], smtp=smtp_section(smtp_sink))
    result = run_cli("--config", str(config), "check")
    assert result.returncode == 1
    assert "暂时失败（454" in result.stdout and "被拒绝" not in result.stdout
