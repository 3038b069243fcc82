"""One SQLite database written by several processes: the daemon's jobs, the console, staff commands.

Every write goes through `write()`: a `BEGIN IMMEDIATE` transaction, so the write lock is taken
before the first read and a transaction never meets SQLITE_BUSY half-way (in WAL mode a plain
`BEGIN` that reads and then writes after another connection wrote fails at once, whatever the busy
timeout). A database that stays locked is an infrastructure failure, `BusyError`: the caller stops
and retries later; it is never blamed on the mail being processed.

The schema is created and migrated once at start-up by `migrate()`: named migrations under
`inbox_daemon/migrations/`, each applied once in its own transaction and recorded in
`schema_migrations`, so two processes starting at the same moment never race over it, and
migrations written on different branches do not collide.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlite_utils

from .errors import BusyError, StoreError

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 10_000  # SQLite's own wait for the write lock, per attempt
BUSY_RETRIES = (0.5, 1.0, 2.0)  # then the caller is told the database is busy


def now_iso() -> str:
    """Timestamps are stored in UTC; they are shown in the contest's time zone."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def connect(path: Path) -> sqlite_utils.Database:
    """A connection in autocommit mode (no implicit transactions), WAL, fully synced commits."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db = sqlite_utils.Database(conn)
        _retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"), "PRAGMA journal_mode")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as err:
        raise StoreError(f"无法打开数据库 {path} / cannot open database {path}: {err}") from err
    except OSError as err:
        raise StoreError(f"无法创建数据库目录 {path.parent} / cannot create {path.parent}: {err}") from err
    return db


def is_busy(err: BaseException) -> bool:
    return isinstance(err, sqlite3.OperationalError) and (
        "locked" in str(err) or "busy" in str(err)) or isinstance(err, BusyError)


def _retry_busy(operation, what: str):
    for delay in (*BUSY_RETRIES, None):
        try:
            return operation()
        except sqlite3.OperationalError as err:
            if not is_busy(err):
                raise
            if delay is None:
                raise BusyError(f"数据库持续繁忙（{what}）/ database stayed locked ({what}): {err}") from err
            log.warning("database busy (%s); again in %.1fs", what, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


@contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction: BEGIN IMMEDIATE at the top level, a savepoint when nested.

    Waiting for the lock happens at BEGIN, before anything was read, so it is always safe to wait
    and retry there. Any error rolls the whole transaction back."""
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    _retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), "BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as err:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if is_busy(err):
            raise BusyError(f"数据库提交失败（繁忙）/ commit failed, database busy: {err}") from err
        raise StoreError(f"数据库提交失败 / commit failed: {err}") from err


# -- migrations ------------------------------------------------------------------------------------

def _migrations() -> list[tuple[str, object]]:
    from . import migrations
    names = sorted(m.name for m in pkgutil.iter_modules(migrations.__path__) if m.name.startswith("m"))
    return [(name, importlib.import_module(f"{migrations.__name__}.{name}")) for name in names]


def _applied(db: sqlite_utils.Database) -> set[str]:
    if "schema_migrations" not in db.table_names():
        return set()
    return {row[0] for row in db.execute("SELECT name FROM schema_migrations")}


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet applied, each in its own write transaction; returns their names.

    Safe to call from several processes at once: the check is repeated under the write lock."""
    pending = [(name, module) for name, module in _migrations() if name not in _applied(db)]
    done = []
    for name, module in pending:
        with write(db):
            if "schema_migrations" not in db.table_names():
                db.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            if name in _applied(db):
                continue  # another process got here first
            module.up(db)
            db.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", [name, now_iso()])
            db.execute(f"PRAGMA user_version = {len(_applied(db))}")
        log.info("database migration applied: %s", name)
        done.append(name)
    return done


def schema_is_current(db: sqlite_utils.Database) -> bool:
    return {name for name, _ in _migrations()} <= _applied(db)
