"""Reading a message in a child process, under a time limit.

Parsers and media libraries are C code fed by strangers: a file can make one spin or hang where no
Python exception will ever interrupt it. So `analyse()` runs in a long-lived child process; the
parent waits at most `limit_s` for each step. When an attachment's probe overruns, the child is
killed and started again, and the message is read once more with that attachment marked as timed
out (a finding for staff). When the parse itself overruns, the message stays stored for a later
pass; after three such passes it is set aside for staff (pipeline.py).

The child only reads the stored message and writes attachment files by hash; the database stays in
the parent. Reads are pipelined (`prefetch`): the child reads the next message while the parent
decides and writes the previous one. A step that started while the parent was busy gets that much
longer before the parent starts counting; the limit itself is unchanged.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import threading
from collections import deque
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

from .analyse import Analysis
from .blobs import BlobStore
from .rules import RuleSet

log = logging.getLogger(__name__)
LIMIT_S = 120  # for each attachment's probe, and for the parse
READER = "inbox_daemon.analyse:analyse"


class AnalysisTimeout(Exception):
    """Reading the message itself took longer than the limit (not one attachment: the whole parse)."""


class WorkerCrashed(Exception):
    """The child died while reading this message (a library crashed on it)."""


def _child(conn: Connection, root: str, rules: RuleSet, own: tuple[str, ...], reader: str) -> None:
    """The child's loop: one message at a time; progress is reported before each step."""
    module, _, name = reader.partition(":")
    analyse = getattr(importlib.import_module(module), name)
    blobs = BlobStore(Path(root))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return  # the parent is gone
        if job is None:
            return
        sha256, skip = job
        try:
            result = analyse(blobs, sha256, rules, own, skip=skip, progress=lambda step: conn.send(("step", step)))
            conn.send(("done", result))
        except Exception as err:  # the message's content broke a library: the parent records it
            conn.send(("failed", err if _picklable(err) else RuntimeError(f"{type(err).__name__}: {err}")))


def _picklable(err: Exception) -> bool:
    import pickle
    try:
        pickle.loads(pickle.dumps(err))
        return True
    except Exception:
        return False


class Worker:
    """One child process reading messages for the parent, restarted whenever it has to be killed.

    Reads are pipelined: `prefetch()` hands the child the next message while the parent is still
    deciding and writing the previous one, so the child (on the second core) is never idle between
    messages. Jobs are answered in the order they were sent; `analyse()` collects the answer of its
    message (a prefetched read is simply taken, never repeated). The time limit is unchanged: the
    parent waits at most `limit_s` for each step it waits on. Killing the child drops the reads queued
    behind the stuck one; they are sent again when asked for."""

    AHEAD = 2  # reads queued in the child at most: the one being read and the next

    def __init__(self, root: Path, rules: RuleSet, own_addresses: tuple[str, ...] = (), limit_s: float = LIMIT_S,
                 reader: str = READER):
        """`reader` names the function that reads a message, as "module:function" (tests put a slow one)."""
        self.root, self.rules, self.own, self.limit_s, self.reader = str(root), rules, own_addresses, limit_s, reader
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None
        self.sent: deque[str] = deque()  # messages sent to the child and not yet answered, oldest first
        self.lock = threading.RLock()  # the console's threads and a pass may share one worker

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")  # never fork a process that runs threads
        # Preload the reader, never the caller's __main__ (a script would run again in the server).
        context.set_forkserver_preload([self.reader.partition(":")[0]])
        parent, child = context.Pipe()
        self.process = context.Process(target=_child, args=(child, self.root, self.rules, self.own, self.reader),
                                       name="inbox-daemon-reader", daemon=True)
        self.process.start()
        child.close()
        self.conn = parent

    def start(self) -> None:
        """Start the child now (it is started on first use otherwise), so its start-up overlaps other work."""
        with self.lock:
            if self.process is None or not self.process.is_alive():
                self._start()

    def stop(self) -> None:
        with self.lock:
            if self.process is not None:
                if self.process.is_alive():
                    try:
                        self.conn.send(None)
                        self.process.join(2)
                    except (OSError, BrokenPipeError):
                        pass
                if self.process.is_alive():
                    self.process.kill()
                    self.process.join()
                self.conn.close()
            self.process = self.conn = None
            self.sent.clear()

    def prefetch(self, sha256: str) -> None:
        """Let the child start reading `sha256` now; a later `analyse(sha256)` takes the result."""
        with self.lock:
            if sha256 in self.sent or len(self.sent) >= self.AHEAD:
                return
            try:
                self._send(sha256, ())
            except (OSError, EOFError):  # the child is gone: `analyse` restarts it
                self.stop()

    def analyse(self, sha256: str) -> Analysis:
        """Read one stored message; attachments whose probe overran are marked and skipped."""
        with self.lock:
            skipped: list[str] = []
            while True:
                outcome, step = self._run(sha256, tuple(skipped))
                if outcome == "done":
                    return step
                if outcome == "failed":
                    raise step
                if step and step[0] == "probe" and step[1] not in skipped:  # one attachment hung: skip it
                    log.warning("reading %s: probing %s took over %ss; skipped", sha256[:12], step[1][:12],
                                self.limit_s)
                    skipped.append(step[1])
                    continue
                if outcome == "crashed":
                    raise WorkerCrashed(f"读取邮件时处理进程意外退出（{step}）/ the reader process died")
                raise AnalysisTimeout(f"解析邮件超过 {self.limit_s:.0f} 秒，已中止 / parsing took over {self.limit_s}s")

    def _send(self, sha256: str, skip: tuple[str, ...]) -> None:
        if self.process is None or not self.process.is_alive():
            self.stop()
            self._start()
        self.conn.send((sha256, skip))
        self.sent.append(sha256)

    def _run(self, sha256: str, skip: tuple[str, ...]):
        """The answer for `sha256`: answers to reads queued before it are collected and dropped first
        (a prefetched message that was not asked for after all)."""
        if skip or sha256 not in self.sent:
            while self.sent:  # an answer still owed for other messages: collect it first
                self._answer()
            self._send(sha256, skip)
        while True:
            head = self.sent[0]
            outcome, value = self._answer()
            if head == sha256:
                return outcome, value
            if outcome in ("timeout", "crashed"):  # the child was killed: send ours again
                self._send(sha256, skip)

    def _answer(self):
        """Wait for the answer to the oldest read sent: (outcome, value); the child is killed on a timeout."""
        step = None
        while True:
            try:
                ready = self.conn.poll(self.limit_s)
            except (EOFError, OSError):
                ready = True
            if not ready:
                self.stop()  # the child is stuck in C code: only killing it helps
                return "timeout", step
            try:
                kind, value = self.conn.recv()
            except (EOFError, OSError):
                exit_code = self.process.exitcode if self.process else None
                self.stop()
                return "crashed", step or ("exit", exit_code)
            if kind == "step":
                step = value
                continue
            self.sent.popleft()
            return kind, value


def timed_out_probe(probe, limit_s: float):
    """How a skipped attachment is recorded: present, unread, with the reason."""
    return replace(probe, readable=False, note=f"读取超时（超过 {limit_s:.0f} 秒），未能读取")
