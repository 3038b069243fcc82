"""Backups and upgrades: `inbox-daemon backup`, the restore of docs/backup.md, and a database made by the
previous release opened (and migrated) by this one."""

from __future__ import annotations

import json
import mailbox
import shutil
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import RULES

from inbox_daemon import db as database
from inbox_daemon.cli import main
from inbox_daemon.config import load_config
from inbox_daemon.demo import media
from inbox_daemon.demo.samples import CST, PUBLICITY, compose
from inbox_daemon.digest import build_digest
from inbox_daemon.export import write_jsonl
from inbox_daemon.rules import load_rules
from inbox_daemon.store import Store
from inbox_daemon.tables import xlsx_bytes

DATA = Path(__file__).parent / "data"
CLIP = (DATA / "clip-3s-320x240.mp4").read_bytes()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "backup.md"
BIO = "本人在车间一线工作十年，作品记录了班组同事日夜坚守的平凡瞬间，展现职工爱岗敬业的精神风貌。" * 2


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), prog_name="inbox-daemon")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def site(tmp_path) -> Path:
    """A folder made by `init`, with a few judged and answered entries in it."""
    run("init", str(tmp_path / "site"))
    box = mailbox.Maildir(tmp_path / "site" / "data" / "samples" / "Maildir")
    box.add(compose(sender="a@qq.com", sender_name="李娜", subject="微视频比赛《守护》",
                    body=f"作品名称：守护\n作者姓名：李娜\n性别：女\n联系电话：13873881234\n工作单位：娄底市中心医院\n作者及作品简介：{BIO}",
                    attachments=[("守护.mp4", CLIP, "video/mp4")], received=datetime(2022, 8, 20, 9, 0, tzinfo=CST)))
    box.add(compose(sender="c@126.com", to=PUBLICITY, subject="摄影比赛《炉火》", body="作品名称：炉火\n作者：周军",
                    attachments=[("炉火.jpg", media.make_jpeg(width=300, height=200, seed=3), "image/jpeg")]))
    box.add(compose(sender="d@sina.com", subject="投稿", body="请问怎么参加？"))
    run("poll", "--once", "--config", str(tmp_path / "site" / "config.toml"))
    return tmp_path / "site"


def export(config: Path) -> str:
    return run("export", "--format", "jsonl", "--config", str(config))


def restore_as_documented(backup: Path, target: Path) -> None:
    """docs/backup.md's restore, step by step: a config from `init`, then the database and the files."""
    steps = DOCS.read_text(encoding="utf-8")
    assert "inbox-daemon init" in steps and "cp BACKUP/inbox.db" in steps and "cp -a BACKUP/files/." in steps
    run("init", str(target))
    data = target / "data"
    data.mkdir(exist_ok=True)
    shutil.copy2(backup / "inbox.db", data / "inbox.db")  # cp BACKUP/inbox.db DATA/inbox.db
    (data / "files").mkdir(exist_ok=True)
    shutil.copytree(backup / "files", data / "files", dirs_exist_ok=True)  # cp -a BACKUP/files/. DATA/files/


def test_backup_then_restore_into_a_fresh_folder_gives_the_same_export(site, tmp_path):
    before = export(site / "config.toml")
    assert len(before.splitlines()) == 3
    said = run("backup", str(tmp_path / "backup"), "--config", str(site / "config.toml"))
    assert "备份完成" in said and "已逐个核对" in said
    backup = tmp_path / "backup"
    assert {p.name for p in backup.iterdir()} == {"inbox.db", "files", "config.toml", "rules", "backup.json"}
    info = json.loads((backup / "backup.json").read_text(encoding="utf-8"))
    assert info["file_count"] == 3 + 2 and "m0001_initial" in info["migrations"]  # 3 messages, 2 attachments
    restore_as_documented(backup, tmp_path / "restored")
    after = export(tmp_path / "restored" / "config.toml")
    assert after == before
    restored = Store.from_config(load_config(tmp_path / "restored" / "config.toml"))
    for row in restored.db.query("SELECT raw_sha256 FROM messages"):
        assert restored.blobs.verify("raw", row["raw_sha256"])  # the raw mail, byte for byte, for requeues


def test_backup_refuses_a_folder_in_use_and_reports_a_damaged_copy(site, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "used"), "--config", str(site / "config.toml")])
    assert result.exit_code == 1 and "不是空的" in result.output
    victim = next((site / "data" / "files" / "att").glob("??/*"))
    victim.chmod(0o644)
    victim.write_bytes(b"bit rot")
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "b2"), "--config", str(site / "config.toml")])
    assert result.exit_code == 1 and "备份不完整：1 个文件缺失或已损坏" in result.output


def test_backup_while_another_process_writes_is_consistent(site, tmp_path):
    config = load_config(site / "config.toml")
    stop = threading.Event()
    written = []

    def writer():
        store = Store.from_config(config)
        while not stop.is_set():
            store.register.log_event(None, "test", "tick", str(len(written)))
            written.append(1)
        store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            pass
        run("backup", str(tmp_path / "live"), "--config", str(site / "config.toml"))
    finally:
        stop.set()
        thread.join()
    copy = sqlite3.connect(tmp_path / "live" / "inbox.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ticks = copy.execute("SELECT COUNT(*) FROM events WHERE action = 'tick'").fetchone()[0]
    assert 20 <= ticks <= len(written)


def test_a_database_of_the_previous_release_is_migrated_at_start(tmp_path):
    """tests/data/release-0.1.0.sql is a register made by release 0.1.0, before migrations existed."""
    path = tmp_path / "inbox.db"
    old = sqlite3.connect(path)
    old.executescript((DATA / "release-0.1.0.sql").read_text(encoding="utf-8"))
    old.close()
    assert "schema_migrations" not in sqlite3.connect(path).execute(
        "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    store = Store(path, tmp_path / "files")  # opening the store migrates it, as every start does
    applied = [name for (name,) in store.db.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert applied == [name for name, _ in database._migrations()] and database.schema_is_current(store.db)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(applied)
    times = [t for (t,) in store.db.execute("SELECT received_at FROM messages")]
    assert times and all(t.endswith("+00:00") for t in times)  # stored in UTC from now on
    # Everything the release recorded reads back the same through this release's export …
    old_lines = [json.loads(line) for line in (DATA / "release-0.1.0.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(tmp_path / "new.jsonl", "w", encoding="utf-8") as out:
        write_jsonl(store, out)
    new_lines = [json.loads(line) for line in (tmp_path / "new.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(new_lines) == len(old_lines) == 5
    for before, after in zip(sorted(old_lines, key=lambda o: o["received_at"]),
                             sorted(new_lines, key=lambda o: o["received_at"]), strict=True):
        assert {k: v for k, v in after.items() if k != "reply"} == {k: v for k, v in before.items() if k != "reply"}
        if before["reply"]:
            assert after["reply"]["status"] == before["reply"]["status"]
            assert datetime.fromisoformat(after["reply"]["sent_at"]) == datetime.fromisoformat(before["reply"]["sent_at"])
    # … and the views built on it work: entries, the digest, the spreadsheets.
    rules = load_rules(RULES)
    assert {e["receipt"] for e in store.register.entries()} == {o["receipt"] for o in old_lines if o["receipt"]}
    from zoneinfo import ZoneInfo
    digest = build_digest(store, rules, datetime(2022, 9, 30).date(), ZoneInfo("Asia/Shanghai"))
    assert digest.totals["total"] == 4
    assert xlsx_bytes(store, rules, None)[1] == 4
    again = Store(path, tmp_path / "files")  # a second start finds nothing to do
    assert database.migrate(again.db) == []
