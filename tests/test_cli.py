"""The command line as staff and outside tools use it: embedded default, export contract, check, run."""

from __future__ import annotations

import pytest

import json
import mailbox
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from conftest import PASSWORD_ENV, imap_mailbox, run_cli, write_config

from click.testing import CliRunner

from inbox_daemon.cli import main
from inbox_daemon.config import load_config
from inbox_daemon.export import JSONL_KEYS
from inbox_daemon.maildir_source import receive_time
from inbox_daemon.demo.samples import compose
from inbox_daemon.pipeline import Context
from inbox_daemon.rules import load_rules
from inbox_daemon.store import Store

ROOT = Path(__file__).resolve().parents[1]
DESIGN_KEYS = ("message_id mailbox uid received_at sender subject outcome contest receipt rules fields "
               "attachments reply duplicate_of").split()


def maildir_with(tmp_path: Path, messages: list[bytes]) -> Path:
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    for raw in messages:
        box.add(raw)
    return path


@pytest.mark.integration  # a child process and ffmpeg-made sample videos
def test_embedded_default_runs_on_a_fresh_checkout(tmp_path):
    """The README's first command: samples + poll --once on the shipped config, then the export."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    config = str(tmp_path / "config.toml")
    made = run_cli("--config", config, "samples", timeout=300)
    assert made.returncode == 0, made.stderr
    polled = run_cli("poll", "--once", "--config", config)
    assert polled.returncode == 0, polled.stderr
    assert "新邮件 15 封" in polled.stdout
    exported = run_cli("--config", config, "export", "--format", "jsonl")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(lines) == 15
    outcomes = {line["subject"]: (line["outcome"], line["contest"], [r["id"] for r in line["rules"]])
                for line in lines}
    assert outcomes["微视频比赛+《钢城追光者》+朱镕+华菱涟钢热轧厂"] == ("accepted", "micro_video", [])
    assert outcomes["短视频参赛作品《地心深处的光》"] == ("rejected", "micro_video", ["field_missing:phone", "video_too_long"])
    assert outcomes["微视频比赛 团队作品《我们的“潮”护士》"] == ("accepted", "micro_video", [])
    assert outcomes["RE: 摄影比赛《大桥合龙》"] == ("needs_review", "photo", ["photo_edited"])
    assert outcomes["“好工人·向未来”摄影比赛 组照《梯田里的农技员》"] == ("accepted", "photo", [])
    assert outcomes["微视频比赛作品《夜班》"] == ("rejected", "micro_video", ["late"])
    assert outcomes["最美职工书屋申报-新化县总工会"] == ("accepted", "bookhouse", [])
    assert outcomes["自动回复: 微视频比赛"] == ("ignored", None, [])
    assert outcomes["投稿"] == ("needs_review", None, ["contest_unknown"])
    receipts = [line["receipt"] for line in lines if line["receipt"]]
    assert len(receipts) == 14 == len(set(receipts)) and "WSP-2022-0001" in receipts
    first = min(lines, key=lambda line: line["received_at"])
    assert first["received_at"].startswith("2022-07-05T10:12:00+08:00")
    videos = [a for line in lines for a in line["attachments"] if a["kind"] == "video"]
    assert len(videos) == 7
    # Demo data that looks like a real contest: nobody shares a bio, a unit or a title.
    entries = [line["fields"] for line in lines if line["receipt"] and line["fields"]]
    for key in ("bio", "unit", "title", "phone"):
        values = [f[key] for f in entries if f.get(key)]
        assert len(values) == len(set(values)), key
    assert len([f for f in entries if f.get("bio")]) >= 5
    again = run_cli("--config", config, "poll", "--once")
    assert "新邮件 0 封" in again.stdout


def test_the_repo_config_is_the_shipped_default():
    assert (ROOT / "config.toml").read_text(encoding="utf-8") == \
        (ROOT / "inbox_daemon" / "defaults" / "config.toml").read_text(encoding="utf-8")


def test_init_then_check_then_poll_in_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(main, ["init", "site"])
    assert made.exit_code == 0, made.output
    shipped = list((ROOT / "inbox_daemon" / "defaults" / "rules").glob("*.toml"))
    assert f"已写入 site/config.toml 和 {len(shipped)} 个规则文件" in made.output
    shipped_tree = ROOT / "inbox_daemon" / "defaults" / "rules"
    assert sorted(str(p.relative_to(tmp_path / "site" / "rules")) for p in (tmp_path / "site" / "rules").rglob("*.toml")) \
        == sorted(str(p.relative_to(shipped_tree)) for p in shipped_tree.rglob("*.toml"))
    monkeypatch.chdir(ROOT.parent)  # relative paths in the config resolve beside it, wherever we stand
    config = str(tmp_path / "site" / "config.toml")
    checked = runner.invoke(main, ["check", "--config", config])
    assert checked.exit_code == 0, checked.output
    polled = runner.invoke(main, ["poll", "--once", "--config", config])
    assert polled.exit_code == 0 and "邮箱 demo：新邮件 0 封" in polled.output, polled.output
    assert (tmp_path / "site" / "data" / "inbox.db").exists()
    again = runner.invoke(main, ["init", str(tmp_path / "site")])
    assert again.exit_code == 1 and "已存在" in again.output


def test_init_for_a_server_puts_every_data_path_under_the_data_folder(tmp_path):
    result = CliRunner().invoke(main, ["init", str(tmp_path / "etc"), "--data", str(tmp_path / "var")])
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "etc" / "config.toml")
    var = tmp_path / "var"
    assert config.storage.database == var / "inbox.db" and config.storage.files == var / "files"
    assert config.smtp.outbox_dir == var / "outbox" and config.digest.reports_dir == var / "reports"
    assert config.mailboxes[0].path == var / "samples" / "Maildir" and config.rules_dir == tmp_path / "etc" / "rules"
    assert (var / "samples" / "Maildir" / "new").is_dir()


# What staff type wrongly, and what they should read back: click's own messages, in Chinese.
MISTAKES = [
    ["export", "--format", "pdf"], ["export", "--formt", "csv"], ["export", "--outcome", "好"], ["export", "-o"],
    ["backup"], ["init"], ["digest", "--date", "昨天"], ["frobnicate"], ["poll", "--once", "extra"],
    ["override", "WSP-2022-0001", "--accept"],
]
MINE = {"run", "poll", "export", "digest", "check", "samples", "init", "backup"}
# Words that may stay in Latin letters: the program and its command names, option names, ids and formats.
ALLOWED = {"inbox", "daemon", "config", "toml", "jsonl", "csv", "xlsx", "Maildir", "SQLite", "SIGTERM", "Ctrl",
           "docs", "backup", "md", "rules", "reports", "etc", "var", "lib", "nonexistent", "frobnicate", "extra",
           "pdf", "formt", "RECEIPT", "TOML", "UTF", "WSP", "once", "loop",
           "accepted", "rejected", "ignored", "error", "received"}  # outcome ids


def english_words(text: str, commands: set[str]) -> set[str]:
    text = re.sub(r"(?<![\w-])--?[\w-]+", " ", text)  # option names
    text = re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", " ", text)  # ids: micro_video, needs_review
    text = re.sub(r"[\w./-]*/[\w./-]*", " ", text)  # paths
    text = re.sub(r"[\w.+-]+@[\w.-]+", " ", text)  # addresses
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    return {w for w in words if w not in ALLOWED and w not in commands}


def test_every_message_and_help_text_of_the_command_line_is_chinese(tmp_path):
    """The help of the group and of each command, and the errors of the mistakes above."""
    runner = CliRunner()
    commands = set(main.commands)
    group_help = runner.invoke(main, ["--help"], prog_name="inbox-daemon").output
    others = {name for name in commands if name not in MINE}  # their summaries are their owners' to word
    outputs = {"--help": "\n".join(line for line in group_help.splitlines()
                                   if not (line.split() and line.split()[0] in others))}
    for name in sorted(MINE):
        outputs[f"{name} --help"] = runner.invoke(main, [name, "--help"], prog_name="inbox-daemon").output
    for args in MISTAKES:
        result = runner.invoke(main, args, prog_name="inbox-daemon")
        assert result.exit_code != 0 and "Traceback" not in result.output, (args, result.output)
        outputs[" ".join(args) or "(nothing)"] = result.output
    for what, output in outputs.items():
        assert output.strip(), what
        assert english_words(output, commands) == set(), (what, output)
    assert "错误：缺少参数 目录" in outputs["backup"]
    assert "用法：inbox-daemon export [选项]" in outputs["export --format pdf"]
    assert "--format 的取值无效，可选：jsonl、csv、xlsx" in outputs["export --format pdf"]
    assert "没有这个选项：--formt（您是不是想输入 --format？）" in outputs["export --formt csv"]
    assert "没有这个命令：frobnicate" in outputs["frobnicate"]
    assert "选项：" in outputs["export --help"] and "[默认：jsonl]" in outputs["export --help"]
    # A config that cannot be read: the loader's own words (Chinese, then English for the operator, as
    # issue 10 asks of config and rules errors), never a traceback.
    bare = runner.invoke(main, [], prog_name="inbox-daemon")
    assert bare.output.startswith("用法：inbox-daemon [选项] 命令 [参数]...") and "错误" not in bare.output
    missing = runner.invoke(main, ["check", "--config", "/nonexistent/config.toml"], prog_name="inbox-daemon")
    assert missing.exit_code == 1 and missing.output.startswith("错误：无法读取配置文件 /nonexistent/config.toml")


def test_the_english_check_finds_english():
    """The check above can fail: click's own English is what it was written against."""
    assert english_words("Error: Missing option '--note'.", set()) == {"Error", "Missing", "option"}
    assert english_words("Usage: inbox-daemon export [OPTIONS]", {"export"}) == {"Usage", "OPTIONS"}


@pytest.mark.integration  # a child process (ffmpeg_exe caches what it found per process)
def test_samples_needs_no_config_and_says_in_chinese_when_no_ffmpeg_works(tmp_path):
    broken = tmp_path / "bin" / "ffmpeg"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    env = {"PATH": f"{broken.parent}:/usr/bin:/bin", "IMAGEIO_FFMPEG_EXE": str(broken)}
    result = run_cli("samples", "--maildir", str(tmp_path / "Maildir"), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "错误：找不到能用的 ffmpeg" in result.stderr and "pip install imageio-ffmpeg" in result.stderr


@pytest.mark.integration  # the command line in a child process
def test_jsonl_export_has_exactly_the_public_keys(tmp_path):
    path = maildir_with(tmp_path, [compose(sender="a@qq.com", subject="微视频", body="作品名称：测试",
                                           attachments=[("a.txt", b"hello", "text/plain")])])
    config = write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                      "contests": ["micro_video"]}])
    assert run_cli("--config", str(config), "poll", "--once").returncode == 0
    out = tmp_path / "out.jsonl"
    result = run_cli("--config", str(config), "export", "--format", "jsonl", "-o", str(out))
    assert result.returncode == 0 and "已导出 1 封邮件" in result.stderr
    [obj] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert tuple(obj) == JSONL_KEYS and list(obj) == DESIGN_KEYS
    assert set(obj["attachments"][0]) == {"filename", "sha256", "size", "kind", "duration_s", "width", "height"}
    assert datetime.fromisoformat(obj["received_at"]).tzinfo is not None
    assert obj["outcome"] == "rejected" and obj["contest"] == "micro_video" and obj["receipt"] == "WSP-2022-0001"
    assert obj["fields"] == {"title": "测试"} and obj["reply"]["status"] == "sent"  # file transport in this config
    assert datetime.fromisoformat(obj["reply"]["sent_at"]).tzinfo is not None
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert {"id": "field_missing:phone", "severity": "reject",
            "message": "缺少“联系电话”。请直接回复本邮件，写上“联系电话：……”。"} in obj["rules"]


@pytest.mark.integration  # the command line in a child process
def test_maildir_done_folder_gets_the_exact_bytes(tmp_path):
    import hashlib

    messages = [compose(sender=f"m{i}@qq.com", subject="微视频", body="作品名称：测试",
                        attachments=[("a.mp4", os.urandom(300_000), "video/mp4")]) for i in range(3)]
    path = maildir_with(tmp_path, messages)
    config = write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                      "contests": ["micro_video"], "done_folder": "done"}])
    assert run_cli("--config", str(config), "poll", "--once").returncode == 0
    box = mailbox.Maildir(path, factory=None, create=False)
    assert len(box) == 0
    moved = [box.get_folder("done").get_bytes(key) for key in box.get_folder("done").keys()]
    stored = {row["raw_sha256"] for row in Store.from_config(load_config(config)).db.query(
        "SELECT raw_sha256 FROM messages")}
    assert {hashlib.sha256(m).hexdigest() for m in moved} == stored == {hashlib.sha256(m).hexdigest()
                                                                        for m in messages}


def test_maildir_receive_time_prefers_topmost_received_then_delivery_date():
    fallback = datetime(2022, 9, 1, tzinfo=timezone.utc)
    two_hops = (b"Received: from b by c; Tue, 16 Aug 2022 10:12:00 +0800\r\n"
                b"Received: from a by b; Tue, 16 Aug 2022 09:00:00 +0800\r\n"
                b"Delivery-Date: Wed, 17 Aug 2022 00:00:00 +0800\r\nSubject: x\r\n\r\n")
    assert receive_time(two_hops, fallback).isoformat() == "2022-08-16T10:12:00+08:00"
    delivery = b"Delivery-Date: Wed, 17 Aug 2022 08:00:00 +0800\r\nSubject: x\r\n\r\n"
    assert receive_time(delivery, fallback).isoformat() == "2022-08-17T08:00:00+08:00"
    assert receive_time(b"Subject: x\r\nReceived: garbage\r\n\r\n", fallback) == fallback


def test_check_tries_each_login(dovecot, imap_user, tmp_path):
    user, password = imap_user
    config = write_config(tmp_path, [imap_mailbox(dovecot, user, name="good"),
                                     imap_mailbox(dovecot, user, name="bad", password_env="BAD_PW")])
    result = run_cli("--config", str(config), "check", env={PASSWORD_ENV: password, "BAD_PW": "wrong"})
    assert result.returncode == 1
    assert "✓ 邮箱 good" in result.stdout and "UIDVALIDITY" in result.stdout
    assert "✓ 比赛规则" in result.stdout and "微视频比赛（micro_video）" in result.stdout
    assert "✗ 邮箱 bad" in result.stdout and "登录被拒绝" in result.stdout and "AUTHENTICATIONFAILED" in result.stdout
    assert "wrong" not in result.stdout + result.stderr


def test_poll_fails_loudly_when_a_server_is_unreachable_and_never_logs_the_password(dovecot, imap_user, tmp_path):
    user, password = imap_user
    config = write_config(tmp_path, [imap_mailbox(dovecot, user, name="ok"),
                                     {**imap_mailbox(dovecot, user, name="down"), "port": 1, "timeout": 2}])
    dovecot.append(user, password, "INBOX", [compose(sender="a@qq.com", subject="s", body="b")])
    result = run_cli("-vv", "--config", str(config), "poll", "--once", env={PASSWORD_ENV: password})
    assert result.returncode == 1
    assert "邮箱 ok：新邮件 1 封" in result.stdout
    assert "邮箱 down：读取失败" in result.stderr
    assert "LOGIN" in result.stderr and "**REDACTED**" in result.stderr  # protocol debug log ran, redacted
    assert password not in result.stdout + result.stderr


@pytest.mark.integration
def test_run_polls_on_schedule_and_stops_cleanly_on_sigterm(tmp_path):
    path = maildir_with(tmp_path, [compose(sender=f"a{i}@qq.com", subject=f"s{i}", body="b") for i in range(3)])
    config = write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                      "contests": ["photo"]}], schedule={"poll_every": 1})
    process = subprocess.Popen([sys.executable, "-m", "inbox_daemon", "-v", "--config", str(config), "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store.from_config(load_config(config))
    try:
        deadline = time.monotonic() + 30
        while not store.db.table_names() or store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] < 3:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        mailbox.Maildir(path).add(compose(sender="late@qq.com", subject="later", body="b"))
        while store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] < 4:  # the next scheduled pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "inbox-daemon stopped" in stderr


@pytest.mark.integration  # the command line in a child process
def test_show_and_list_speak_chinese(tmp_path):
    path = maildir_with(tmp_path, [compose(sender="a@qq.com", sender_name="王堃", subject="摄影比赛《炉火》",
                                           body="作品名称：炉火", charset="gbk", label="gb2312")])
    config = str(write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                          "contests": ["photo"]}]))
    run_cli("--config", config, "poll", "--once")
    listed = run_cli("--config", config, "list", env={"COLUMNS": "200"})
    assert "炉火" in listed.stdout and "收到时间" in listed.stdout and "共 1 件" in listed.stdout
    assert "未通过" in listed.stdout  # no photo attached: attachment_missing
    shown = run_cli("--config", config, "show", "1")
    assert "发件人：王堃 <a@qq.com>" in shown.stdout and "作品名称：炉火" in shown.stdout
    missing = run_cli("--config", config, "show", "WSP-2022-9999")
    assert missing.returncode == 1 and "错误：找不到回执号或编号 WSP-2022-9999" in missing.stderr
    assert run_cli("--config", config, "list", "--outcome", "error").stdout.strip() == "没有符合条件的投稿。"


def test_a_message_that_breaks_parsing_is_kept_as_error_and_the_pass_goes_on(tmp_path, monkeypatch):
    from inbox_daemon import analyse
    from inbox_daemon.ingest import poll_all

    path = maildir_with(tmp_path, [compose(sender="ok@qq.com", subject="fine", body="b"),
                                   compose(sender="bad@qq.com", subject="boom", body="b")])
    config = load_config(write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                                  "contests": ["photo"]}]))
    real = analyse.parse_message

    def fragile(raw, spill=None):
        if raw.find(b"boom") >= 0:
            raise RecursionError("maximum recursion depth exceeded")  # what a 100-deep nesting can do
        return real(raw, spill)

    monkeypatch.setattr(analyse, "parse_message", fragile)
    store = Store.from_config(config)
    context = Context.from_config(config, load_rules(config.rules_dir), isolate=False)  # read in this process
    [result] = poll_all(config, store, context)
    assert (result.new, result.errors) == (2, 1)
    rows = {r["sender"] or r["id"]: r for r in store.register.rows()}
    error_row = next(r for r in store.register.rows() if r["outcome"] == "error")
    assert "RecursionError" in error_row["error"]
    assert store.blobs.verify("raw", error_row["raw_sha256"])  # the bytes are kept for a requeue
    assert any(r["sender"] == "ok@qq.com" and r["outcome"] == "needs_review" for r in rows.values())


def test_attachments_are_stored_by_hash_never_by_name(tmp_path):
    path = maildir_with(tmp_path, [compose(sender="x@qq.com", subject="evil", body="b",
                                           attachments=[("../../../../tmp/evil.sh", b"#!/bin/sh\nrm -rf /\n",
                                                         "application/x-sh"),
                                                        ("/etc/passwd", b"root:x:0:0", "text/plain")])])
    config = load_config(write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                                  "contests": ["photo"]}]))
    from inbox_daemon.ingest import poll_all
    store = Store.from_config(config)
    poll_all(config, store)
    files = [p for p in (tmp_path / "data" / "files").rglob("*") if p.is_file()]
    assert len(files) == 3  # the raw message and two attachments
    for file in files:
        assert len(file.name) == 64 and file.parent.parent.parent == tmp_path / "data" / "files"
        assert not os.stat(file).st_mode & 0o111
    assert not Path("/tmp/evil.sh").exists()
    names = [a["filename"] for a in store.register.attachments(1)]
    assert names == ["../../../../tmp/evil.sh", "/etc/passwd"]  # kept as data, for display only
