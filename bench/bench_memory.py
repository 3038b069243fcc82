"""Peak memory (RSS) of one pass over one message with a 60 MB video, against the idle process.

    python bench/bench_memory.py [--megabytes 60]

All figures come from child processes (ru_maxrss): `idle` imports everything and loads the
config; `ingest` runs `inbox-daemon poll --once` over the one message, once from a Maildir and
once from a real Dovecot on loopback (fetched in pieces).
Target (issue 6): at most 150 MB above the idle process.
"""

from __future__ import annotations

import argparse
import mailbox
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import PASSWORD_ENV, imap_mailbox, write_config  # noqa: E402
from servers import Dovecot  # noqa: E402

from inbox_daemon.demo import media  # noqa: E402
from inbox_daemon.demo.samples import compose  # noqa: E402

IDLE = ("import inbox_daemon.cli, inbox_daemon.ingest, inbox_daemon.pipeline, inbox_daemon.digest; "
        "from inbox_daemon.config import load_config; load_config(sys.argv[1])")


WRAPPER = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_mb(command: list[str]) -> float:
    """Peak RSS of `command` alone, measured from a fresh parent (ru_maxrss of its only child)."""
    done = subprocess.run([sys.executable, "-c", WRAPPER, *command], check=True, capture_output=True, text=True)
    return int(done.stdout.strip()) / 1024  # KiB -> MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="inbox-mem-"))
    os.chmod(work, 0o755)  # Dovecot drops privileges and must reach its directory
    video = media.make_video(30, 1280, 720) + os.urandom(args.megabytes * 1024 * 1024)
    raw = compose(sender="a@qq.com", subject="微视频比赛《大片》", body="作品名称：大片\n作者姓名：李娜",
                  attachments=[("大片.mp4", video, "video/mp4")])
    box = mailbox.Maildir(work / "Maildir", create=True)
    box.add(raw)
    (work / "maildir").mkdir()
    (work / "imap").mkdir()
    maildir = write_config(work / "maildir", [{"name": "m", "source": "maildir", "path": str(work / "Maildir"),
                                               "contests": ["micro_video"]}])
    idle = peak_mb([sys.executable, "-c", f"import sys; {IDLE}", str(maildir)])
    print(f"message: {len(raw) / 1e6:.1f} MB (video {len(video) / 1e6:.1f} MB)")
    print(f"idle peak RSS:            {idle:8.1f} MiB")
    from_maildir = peak_mb([sys.executable, "-m", "inbox_daemon", "--config", str(maildir), "poll", "--once"])
    print(f"Maildir: ingest peak RSS: {from_maildir:8.1f} MiB, above idle {from_maildir - idle:8.1f} MiB")
    dovecot = Dovecot(work / "dovecot")
    dovecot.start()
    try:
        user, password = dovecot.add_user()
        dovecot.append(user, password, "INBOX", [raw])
        imap = write_config(work / "imap", [{**imap_mailbox(dovecot, user), "contests": ["micro_video"]}])
        os.environ[PASSWORD_ENV] = password
        from_imap = peak_mb([sys.executable, "-m", "inbox_daemon", "--config", str(imap), "poll", "--once"])
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"IMAP:    ingest peak RSS: {from_imap:8.1f} MiB, above idle {from_imap - idle:8.1f} MiB")
    print(f"above idle (worst of both): {max(from_maildir, from_imap) - idle:.1f} MiB (target <= 150)")


if __name__ == "__main__":
    main()
