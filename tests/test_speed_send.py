"""A drain holds one reply at a time: its peak memory does not grow with the backlog."""

from __future__ import annotations

import tracemalloc

import pytest

from inbox_daemon.config import SmtpConfig
from inbox_daemon.send import drain
from inbox_daemon.store import Store, now_iso


def _peak_draining(tmp_path, count: int) -> tuple[int, int]:
    store = Store(tmp_path / f"db-{count}.sqlite", tmp_path / "files")
    body = b"X" * 50_000  # a reply of 50 KB: a backlog held whole would be count x 50 KB
    with store.write():
        for i in range(count):
            store.db["outbox"].insert({"message": None, "kind": "accepted", "to_addr": f"w{i}@qq.com",
                                       "raw": body + str(i).encode(), "status": "queued", "next_attempt_at": now_iso(),
                                       "created_at": now_iso(), "attempts": 0})
    store.db.execute("PRAGMA synchronous = OFF")  # the test's own speed: the drain's logic is the same
    config = SmtpConfig(transport="file", outbox_dir=tmp_path / f"out-{count}")
    tracemalloc.start()
    try:
        result = drain(store, config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    return result.sent, peak


@pytest.mark.slow
def test_draining_a_backlog_ten_times_larger_takes_no_more_memory(tmp_path):
    small_sent, small_peak = _peak_draining(tmp_path, 100)
    large_sent, large_peak = _peak_draining(tmp_path, 1000)
    assert (small_sent, large_sent) == (100, 1000)
    assert large_peak < 2 * 1024 * 1024  # the 1000 replies alone are 50 MB
    assert large_peak < small_peak * 1.5 + 256 * 1024, (small_peak, large_peak)
