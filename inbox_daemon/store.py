"""Everything kept on disk, opened together: the blob store, the register and the outbox.

Raw bytes are saved content-addressed and fsynced before their row is committed; only after that
commit may the server be told the message is done. The schema is migrated when a store is opened,
once, whichever process gets there first.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

from . import db as database
from .blobs import BlobStore
from .db import now_iso  # noqa: F401  (re-exported: the time stamp every module stores)
from .outbox import Outbox
from .register import RawMessage, Register  # noqa: F401  (RawMessage is what sources hand over)


class Store:
    def __init__(self, database_path: Path, files: Path, *, migrate: bool = True):
        self.db: sqlite_utils.Database = database.connect(database_path)
        if migrate:
            database.migrate(self.db)
        self.blobs = BlobStore(files)
        self.register = Register(self.db)
        self.outbox = Outbox(self.db)

    @classmethod
    def from_config(cls, config, *, migrate: bool = True) -> "Store":
        return cls(config.storage.database, config.storage.files, migrate=migrate)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction (BEGIN IMMEDIATE; a savepoint when nested)."""
        with database.write(self.db) as db:
            yield db

    def record_raw(self, raw: RawMessage, message_id: str = "") -> tuple[int, bool]:
        """Save the bytes (unless the source streamed them in already), then commit the row."""
        if raw.sha256:
            sha, size = raw.sha256, raw.size
        else:
            sha, size = self.blobs.put("raw", raw.raw), len(raw.raw)
        return self.register.record_raw(raw, sha, size, message_id)
