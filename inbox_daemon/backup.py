"""A consistent copy of everything the daemon keeps, taken while it runs.

The database is copied with SQLite's online backup API (a consistent snapshot, whatever the other
processes write meanwhile), then the file store. In that order every file the snapshot names is
already on disk: a file is written and fsynced before the row that names it is committed, and stored
files never change (their name is their hash). Files added after the snapshot are copied too and do
no harm. The copy is checked before it is reported done: the database's integrity, and every stored
file the database names present in the copy with that hash.

Restoring is copying back (docs/backup.md): the database file to `[storage] database` and the
`files/` folder to `[storage] files`, with the daemon stopped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .db import now_iso
from .errors import InboxError

CHUNK = 1 << 20


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    database: Path
    files: int
    bytes: int
    migrations: tuple[str, ...]


def backup(config, folder: Path) -> BackupResult:
    """Copy the database, the file store, the config and the rules into `folder` (new or empty)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise InboxError(f"备份目录 {folder} 不是空的：每次备份请用一个新目录（如按日期命名）")
    if not config.storage.database.exists():
        raise InboxError(f"数据库 {config.storage.database} 不存在，没有可备份的内容")
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "inbox.db"
    _copy_database(config.storage.database, database)
    count, size = _copy_files(config.storage.files, folder / "files")
    shutil.copy2(config.path, folder / "config.toml")
    if config.rules_dir.is_dir():
        shutil.copytree(config.rules_dir, folder / "rules")
    migrations = _check(database, config.storage.files, folder / "files")
    (folder / "backup.json").write_text(json.dumps({
        "made_at": now_iso(), "version": __version__, "database": str(config.storage.database),
        "files": str(config.storage.files), "file_count": count, "bytes": size, "migrations": migrations,
    }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return BackupResult(folder, database, count, size, tuple(migrations))


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup: pages copied in steps, restarted by SQLite if a writer changes them."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=1024)
    except sqlite3.Error as err:
        raise InboxError(f"备份数据库失败：{err}") from err
    finally:
        dst.close()
        src.close()


def _copy_files(source: Path, target: Path) -> tuple[int, int]:
    """Every stored file (raw messages and attachments), not the spool of files being written."""
    count = size = 0
    for kind in ("raw", "att"):
        for path in sorted((source / kind).glob("??/*")):
            destination = target / kind / path.parent.name / path.name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            count += 1
            size += destination.stat().st_size
    return count, size


def _check(database: Path, source: Path, files: Path) -> list[str]:
    """The copy's database is sound and every stored file it names is in the copy with its hash."""
    db = sqlite3.connect(database)
    try:
        status = db.execute("PRAGMA integrity_check").fetchone()[0]
        if status != "ok":
            raise InboxError(f"备份的数据库校验失败：{status}")
        wanted = [("raw", sha) for (sha,) in db.execute("SELECT DISTINCT raw_sha256 FROM messages")]
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in ("attachments", "uploads"):
            if table in tables:
                wanted += [("att", sha) for (sha,) in db.execute(
                    f"SELECT DISTINCT sha256 FROM {table} WHERE sha256 IS NOT NULL AND sha256 != ''")]
        migrations = [name for (name,) in db.execute("SELECT name FROM schema_migrations ORDER BY name")]
    finally:
        db.close()
    stored = [(kind, sha) for kind, sha in wanted if (source / kind / sha[:2] / sha).exists()]
    bad = [f"{kind}/{sha}" for kind, sha in stored if not _intact(files / kind / sha[:2] / sha, sha)]
    if bad:
        raise InboxError(f"备份不完整：{len(bad)} 个文件缺失或已损坏（如 {bad[0]}）")
    return migrations


def _intact(path: Path, sha256: str) -> bool:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == sha256
