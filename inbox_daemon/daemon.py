"""`inbox-daemon run`: the poll job on APScheduler's BlockingScheduler, stopped cleanly by SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from .config import Config
from .errors import InboxError, LockError
from .idle import start_watchers
from .ingest import poll_all
from .pipeline import Context
from .rules import load_rules
from .send import drain
from .store import Store

log = logging.getLogger(__name__)
SEND_EVERY_S = 10  # replies go out within seconds of the pass that queued them
POLL_DRAIN_LIMIT = 50  # replies sent by the poll job itself, so a backlog never delays the next pass


WOKEN = threading.Event()  # set by IDLE watchers: new mail arrived, maybe while a pass was running


@contextmanager
def job_store(config: Config, what: str) -> Iterator[Store]:
    """A store for one scheduled job. Whatever goes wrong is logged (a bug with its traceback) and the
    scheduler keeps going: the job runs again at its next time."""
    store = None
    try:
        store = Store.from_config(config, migrate=False)  # migrated once, at start-up
        yield store
    except LockError as err:
        log.warning("%s: %s", what, err)
    except InboxError as err:
        log.error("%s failed: %s", what, err)
    except Exception:
        log.error("%s failed on an unexpected error", what, exc_info=True)
    finally:
        if store is not None:
            store.close()


def poll_job(config: Config, context: Context) -> None:
    """Passes until no new mail was announced meanwhile, then the replies go out."""
    with job_store(config, "pass") as store:
        while True:
            WOKEN.clear()
            results = poll_all(config, store, context)
            log.info("pass done: %s", ", ".join(f"{r.mailbox}: new={r.new} known={r.known} errors={r.errors}"
                                                + (f" FAILED ({r.failure})" if r.failure else "") for r in results))
            drain(store, config.smtp, limit=POLL_DRAIN_LIMIT)  # answer within seconds; the send job does the rest
            if not WOKEN.is_set():
                break


def send_job(config: Config) -> None:
    """Drain due replies; a failure is retried at the next run."""
    with job_store(config, "outbox drain") as store:
        result = drain(store, config.smtp)
        if result.sent or result.retried or result.failed:
            log.info("outbox: sent=%d retried=%d failed=%d", result.sent, result.retried, result.failed)


def digest_job(config: Config) -> None:
    """The nightly digest for today (contest time zone), saved and mailed."""
    from zoneinfo import ZoneInfo

    from .digest import write_digest
    with job_store(config, "digest") as store:
        day = datetime.now(ZoneInfo(config.schedule.timezone)).date()
        path, _ = write_digest(config, store, load_rules(config.rules_dir), day)
        drain(store, config.smtp)
        log.info("digest written: %s", path)


def build_scheduler(config: Config) -> BlockingScheduler:
    context = Context.from_config(config, load_rules(config.rules_dir))  # a broken rules file stops start-up
    scheduler = BlockingScheduler(timezone=config.schedule.timezone)
    scheduler.add_job(poll_job, "interval", args=[config, context], seconds=config.schedule.poll_every, id="poll",
                      max_instances=1, coalesce=True, next_run_time=datetime.now().astimezone())
    scheduler.add_job(send_job, "interval", args=[config], seconds=SEND_EVERY_S, id="send", max_instances=1,
                      coalesce=True, next_run_time=datetime.now().astimezone())
    hour, minute = (int(part) for part in config.schedule.digest_at.split(":"))
    scheduler.add_job(digest_job, CronTrigger(hour=hour, minute=minute, timezone=config.schedule.timezone),
                      args=[config], id="digest", max_instances=1, coalesce=True, misfire_grace_time=3600)
    return scheduler


def record_idle(config: Config):
    """How IDLE watchers tell the register whether they are watching (for the console's overview)."""
    def status(mailbox: str, watching: bool, error: str | None) -> None:
        store = Store.from_config(config, migrate=False)
        try:
            store.register.record_idle(mailbox, watching, error)
        finally:
            store.close()
    return status


def run(config: Config) -> None:
    Store.from_config(config).close()  # create or migrate the schema once, before any job runs
    scheduler = build_scheduler(config)

    def stop(signum, _frame):
        log.info("signal %s: finishing the current pass and stopping", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    def wake() -> None:
        WOKEN.set()
        try:
            scheduler.modify_job("poll", next_run_time=datetime.now().astimezone())
        except JobLookupError:
            pass  # shutting down

    if config.web is not None:  # the console beside the jobs, in a thread of this process
        from .web import serve_in_thread
        console = serve_in_thread(config)
    idle_stop = start_watchers(config.mailboxes, wake, record_idle(config))
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("inbox-daemon running: %d mailbox(es), poll every %ss", len(config.mailboxes),
             config.schedule.poll_every)
    try:
        scheduler.start()
    finally:
        idle_stop.set()
        if config.web is not None:
            console.close()
    log.info("inbox-daemon stopped")
