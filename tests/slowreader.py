"""Readers that misbehave the way a C library can on a stranger's file: for the time-limit tests.

The worker imports this module in its child process by name ("slowreader:analyse")."""

from __future__ import annotations

import os
import time

from inbox_daemon import analyse as real


def analyse(blobs, sha256, rules, own, *, skip=(), progress=real._no_progress):
    with open(blobs.path("raw", sha256), "rb") as handle:
        head = handle.read(1 << 16)
    if b"X-Test: stuck" in head:
        progress(("parse", sha256))
        time.sleep(3600)  # a parser spinning forever
    if b"X-Test: crash" in head:
        os._exit(139)  # a library that segfaults

    def watched(step):
        progress(step)
        if step[0] == "probe" and b"hang.mp4" in head and step[1] not in skip and _is_hang(blobs, step[1]):
            time.sleep(3600)  # mediainfo stuck on this one file
    return real.analyse(blobs, sha256, rules, own, skip=skip, progress=watched)


def _is_hang(blobs, sha):
    with open(blobs.path("att", sha), "rb") as handle:
        return handle.read(4) == b"HANG"
