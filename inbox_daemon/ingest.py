"""One pass over the mailboxes: list, fetch in batches, store, process, then mark done on the server.

The order is the guarantee: a message's bytes are fsynced before its row is
committed, and the server hears "done" only after every commit it covers is
on disk (the batch's commits are not fsynced one by one; the WAL is fsynced
once before "done", see grouped_commits). A crash anywhere leaves either a
message still on the server (fetched again, matched by UID or hash) or a
stored row waiting to be processed or marked done; never a loss, never a
second entry.

Three things run at once: the next batch downloads in a thread, the reader
child reads message N+1 (worker.py), and this thread decides and writes N.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from .blobs import fsync_dir
from .config import Config, MailboxConfig
from .errors import BusyError, FetchError, InboxError, LockError, StoreError
from .pipeline import Context, process
from .register import ClaimLost
from .rules import load_rules
from .source import Source, open_source
from .store import RawMessage, Store

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    mailbox: str
    fetched: int = 0
    new: int = 0
    known: int = 0  # same bytes already stored (re-sync, crash replay)
    errors: int = 0
    failure: str | None = None  # the mailbox could not be read this pass
    outcomes: dict[str, int] = field(default_factory=dict)


@contextmanager
def pass_lock(path: Path, wait_s: float = 0) -> Iterator[None]:
    """One pass at a time, across processes; the kernel drops the lock if the holder dies. `wait_s`:
    how long to wait for a running pass to end (a staff command waits, a scheduled job does not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() >= deadline:
                    raise LockError(f"另一个轮询正在运行（锁文件 {path}）/ another pass is running (lock {path})") from err
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


class RegisterJournal:
    """The done-folder journal kept in `locations`, so it survives a crash (see ImapSource.mark_done)."""

    def __init__(self, store: Store, src: Source):
        self.register, self.key = store.register, (src.mailbox.name, src.folder, src.uidvalidity)

    def states(self, uids: list[str]) -> dict[str, str | None]:
        return self.register.copy_states(*self.key, uids)

    def record(self, states: dict[str, tuple[str, str | None]]) -> None:
        self.register.set_copy_state(*self.key, states)

    def identity(self, uid: str) -> tuple[str, int, str] | None:
        return self.register.identity(*self.key, uid)


def recover(store: Store, context: Context) -> int:
    """Process rows committed by a pass that died before judging them (another process may hold some).

    A row that cannot be processed now waits for the next pass; it never keeps the mailboxes from being
    polled. Only a store that cannot take mail at all stops the pass."""
    pending = store.register.unparsed()
    for pk in pending:
        try:
            process(store, pk, context)
        except (BusyError, ClaimLost) as err:  # busy, or another process took the row over
            log.warning("message=%s left for the next pass: %s", pk, err)
        except StoreError:
            raise
        except Exception:
            log.error("message=%s left for the next pass on an unexpected error", pk, exc_info=True)
    return len(pending)


def poll_mailbox(store: Store, mailbox: MailboxConfig, context: Context, source: Source | None = None) -> PassResult:
    result = PassResult(mailbox.name)
    with (source or open_source(mailbox)) as src:
        folder, validity = src.folder, src.uidvalidity
        leftover = store.register.pending_done(mailbox.name, folder, validity)
        journal = RegisterJournal(store, src)
        if leftover:  # committed by an earlier pass that stopped before telling the server
            make_durable(store)  # that pass may have been killed before its commits reached the disk
            src.mark_done(leftover, journal)
            store.register.mark_done(mailbox.name, folder, validity, leftover)
        after = store.register.highest_uid(mailbox.name, folder, validity)
        listed = src.list_uids(after)
        known = store.register.known_uids(mailbox.name, folder, validity, listed)
        new = [uid for uid in listed if uid not in known]
        resync = bool(new) and store.register.other_validities(mailbox.name, folder, validity)
        batches = [new[start:start + mailbox.batch_size] for start in range(0, len(new), mailbox.batch_size)]
        # Pipelined: the next batch downloads (straight into the blob store, fsynced) in a thread while
        # this one is recorded and judged. The connection is used by one thread at a time: the main
        # thread talks to the server (re-sync matching, "done") only when no fetch is in flight.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fetch-{mailbox.name}") as fetcher:
            def download(batch: list[str]) -> tuple[list[RawMessage], InboxError | None]:
                stored = []
                try:
                    for raw in src.fetch(batch, store.blobs):  # each one on disk (fsynced), not held in memory
                        stored.append(raw)
                except InboxError as err:  # what was stored before a failure is still recorded
                    return stored, err
                return stored, None

            def start(batch: list[str]) -> Future:
                if resync:
                    batch = _match_resync(store, src, batch, result)
                return fetcher.submit(download, batch)

            upcoming = start(batches[0]) if batches else None
            gap = 0  # the lowest UID still on the server that we could not fetch: the highest UID stays below
            for index, batch in enumerate(batches):
                fetched, failure = upcoming.result()
                more = failure is None and index + 1 < len(batches)
                upcoming = start(batches[index + 1]) if more else None
                with grouped_commits(store):
                    fresh = _record_all(store, fetched, context, result)
                    for position, (pk, _) in enumerate(fresh):
                        for _, ahead in fresh[position:position + 2]:  # the reader works on the next one meanwhile
                            context.prefetch(ahead)
                        outcome = process(store, pk, context)
                        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
                        result.errors += outcome == "error"
                if failure is not None:  # the rows are committed; the next pass tells the server
                    raise failure
                make_durable(store)  # everything "done" is about to cover is on disk first
                stored = store.register.known_uids(mailbox.name, folder, validity, batch)
                committed = [u for u in batch if u in stored]
                if upcoming is not None:
                    wait([upcoming])  # the connection is free again before we tell the server
                src.mark_done(committed, journal)
                store.register.mark_done(mailbox.name, folder, validity, committed)
                missing = [u for u in batch if u not in stored]
                if missing and validity:  # no body came back: gone (expunged), or a hiccup to fetch again next pass
                    left = src.present(missing)
                    for uid in left:
                        log.warning("mailbox=%s uid=%s came back without a body; fetched again next pass",
                                    mailbox.name, uid)
                    lows = [int(u) for u in left] + ([gap] if gap else [])
                    gap = min(lows) if lows else gap
                done = [int(u) for u in committed if not gap or int(u) < gap] if validity else []
                if done:
                    store.register.set_highest_uid(mailbox.name, folder, validity, max(done))
    return result


@contextmanager
def grouped_commits(store: Store) -> Iterator[None]:
    """The batch's commits without an fsync each (SQLite's WAL with synchronous=NORMAL).

    A killed process loses none of them (they are in the WAL, in the kernel's hands); a power loss
    may roll back the last ones, which is harmless as long as the server has not heard "done" for
    them: the mail is fetched again. So `make_durable()` runs before every "done", and any FULL
    commit of any connection (a drain's claim before it sends a reply, for one) makes all earlier
    commits durable too, because the WAL is one file written in order."""
    wal = store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    if wal:
        store.db.execute("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        if wal:
            store.db.execute("PRAGMA synchronous = FULL")


def make_durable(store: Store) -> None:
    """fsync the database's WAL: every commit made so far is on disk (see grouped_commits)."""
    main = next((row[2] for row in store.db.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not main:
        return
    try:
        fd = os.open(f"{main}-wal", os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL: every commit went into the database file, synced
    except OSError as err:
        raise StoreError(f"无法同步数据库日志 / cannot sync the database WAL: {err}") from err
    try:
        os.fsync(fd)
        fsync_dir(Path(main).parent)  # a WAL created during this pass: its name too
    except OSError as err:
        raise StoreError(f"无法同步数据库日志 / cannot sync the database WAL: {err}") from err
    finally:
        os.close(fd)


def _record_all(store: Store, fetched: list[RawMessage], context: Context, result: PassResult
                ) -> list[tuple[int, str]]:
    """Commit the rows of a fetched batch in one transaction (their bytes are durable already: the
    blob store fsynced each file before the source handed it over); returns the new ones as (id, raw sha256)."""
    fresh = []
    with store.write():
        for raw in fetched:
            result.fetched += 1
            raw = replace(raw, received_at=raw.received_at.astimezone(context.timezone))
            pk, is_new = store.record_raw(raw)
            if is_new:
                result.new += 1
                fresh.append((pk, raw.sha256))
            else:
                result.known += 1
                log.info("mailbox=%s uid=%s outcome=known message=%s", raw.mailbox, raw.uid, pk)
    return fresh


def _match_resync(store: Store, src: Source, batch: list[str], result: PassResult) -> list[str]:
    """After a UIDVALIDITY change, link messages we already hold (same Message-ID, size and receive time)
    without a download."""
    remaining = []  # UIDs expunged meanwhile are absent from the peek and dropped here
    for uid, (message_id, size, received_at) in sorted(src.peek(batch).items(), key=lambda item: int(item[0])):
        pk = store.register.match_resync(src.mailbox.name, message_id, size, received_at)
        if pk is None:
            remaining.append(uid)
        else:
            store.register.add_location(src.mailbox.name, src.folder, src.uidvalidity, uid, pk)
            result.known += 1
            log.info("mailbox=%s uid=%s outcome=known message=%s (re-sync by Message-ID)", src.mailbox.name,
                     uid, pk)
    return remaining


def poll_all(config: Config, store: Store, context: Context | None = None, wait_s: float = 0) -> list[PassResult]:
    """One pass over every mailbox. A mailbox that fails (server, busy database, a bug) is reported and
    retried at the next pass while the others go on; a store that cannot take mail stops the pass."""
    own_context = context is None
    context = context or Context.from_config(config, load_rules(config.rules_dir))
    try:
        return _poll_all(config, store, context, wait_s)
    finally:
        if own_context:
            context.close()


def _poll_all(config: Config, store: Store, context: Context, wait_s: float) -> list[PassResult]:
    results = []
    with pass_lock(config.storage.lock_path, wait_s):
        context.warm_up()
        store.blobs.clear_spool()
        recover(store, context)
        for mailbox in config.mailboxes:
            try:
                results.append(poll_mailbox(store, mailbox, context))
                _note_pass(store, results[-1])
            except FetchError as err:
                log.error("mailbox=%s pass failed: %s", mailbox.name, err)
                results.append(PassResult(mailbox.name, failure=str(err)))
            except (BusyError, ClaimLost) as err:
                log.error("mailbox=%s pass stopped, mail left on the server: %s", mailbox.name, err)
                results.append(PassResult(mailbox.name, failure=str(err)))
            except StoreError as err:  # the store cannot take mail: stop, leave everything on the servers
                log.error("store failure, pass stopped, mail left on the server: %s", err)
                raise
            except Exception as err:  # a bug: this mailbox waits for the next pass, the others go on
                log.error("mailbox=%s pass failed on an unexpected error; mail left on the server", mailbox.name,
                          exc_info=True)
                results.append(PassResult(mailbox.name, failure=f"内部错误 / internal error: {type(err).__name__}: "
                                                               f"{err}"))
            if results[-1].failure:
                _note_pass(store, results[-1])
    return results


def _note_pass(store: Store, result: PassResult) -> None:
    """Mailbox health for the console; a database too busy to take even this is left for the next pass."""
    try:
        store.register.record_pass(result.mailbox, result.failure, result.new)
    except StoreError as err:
        log.warning("mailbox=%s health not recorded: %s", result.mailbox, err)
