"""Throughput of the full job against the raw IMAP floor and getmail6, in one run on one Dovecot.

    python bench/bench_ingest.py [--messages 1000]

Starts a real Dovecot on loopback, fills a mailbox with a realistic mix (80% text+photo entries of
2-6 MB, 15% short videos, 5% junk: auto-replies, bounces, malformed mail), then measures:
  1. raw:     one imapclient connection, UID FETCH BODY.PEEK[] in batches, nothing else (imapclient as
              shipped, which sets imaplib's debug level to 5: imaplib then formats every literal);
     raw-quiet: the same with that debug formatting off, as the daemon itself runs imapclient;
     durable:   raw-quiet plus what no lossless fetcher can skip: each message hashed, written, fsynced;
  2. getmail: getmail6 (pip install getmail6) retrieving the same mailbox into a Maildir;
  3. full:    `inbox-daemon poll --once` doing the whole job (store, parse, judge, reply queued).
The last line is exactly `ratios: full/raw=X.XX full/getmail=Y.YY` (ratios of elapsed time).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from servers import Dovecot  # noqa: E402

from inbox_daemon.demo import media  # noqa: E402
from inbox_daemon.imap_source import quiet_imaplib  # noqa: E402
from inbox_daemon.blobs import BlobStore  # noqa: E402
from inbox_daemon.demo.samples import BIO, CST, compose  # noqa: E402


def build_mix(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    photos = [media.make_jpeg(size=size, seed=i) for i, size in enumerate((2_100_000, 3_000_000, 4_200_000, 5_800_000))]
    clips = [media.make_video(seconds, 1280, 720) for seconds in (60, 150, 200)]
    messages = []
    for i in range(count):
        roll = rng.random()
        received = datetime(2022, 8, 1 + i % 28, 9, i % 60, tzinfo=CST)
        if roll < 0.80:
            photo = photos[i % len(photos)] + i.to_bytes(4, "big")
            messages.append(compose(sender=f"p{i}@163.com", subject=f"摄影比赛《作品{i}》", received=received,
                                    body=f"作品名称：作品{i}\n作者：职工{i}\n作者单位：涟钢\n联系方式：139{i:08d}\n"
                                         f"作品简介：{BIO[:60]}\n拍摄时间：2022-08-01\n拍摄地点：娄底",
                                    attachments=[(f"{i}.jpg", photo, "image/jpeg")], charset="gbk", label="gb2312"))
        elif roll < 0.95:
            clip = clips[i % len(clips)] + i.to_bytes(4, "big")
            messages.append(compose(sender=f"v{i}@qq.com", subject=f"微视频比赛《片{i}》", received=received,
                                    body=f"作品名称：片{i}\n作者姓名：职工{i}\n性别：男\n联系电话：138{i:08d}\n"
                                         f"工作单位：娄底\n作者及作品简介：{BIO}",
                                    attachments=[(f"{i}.mp4", clip, "video/mp4")]))
        else:
            kind = rng.choice(["auto", "bounce", "broken"])
            if kind == "auto":
                messages.append(compose(sender=f"a{i}@qq.com", subject="自动回复: 微视频", body="休假",
                                        headers={"Auto-Submitted": "auto-replied"}, received=received))
            elif kind == "bounce":
                messages.append(compose(sender=f"MAILER-DAEMON@mx{i}.example.com", subject="Undeliverable",
                                        body="550 no such user", received=received))
            else:
                messages.append(b"From: x%d@qq.com\r\nSubject: broken\r\nContent-Type: multipart/mixed\r\n\r\n" % i
                                + os.urandom(2000).hex().encode() + b"\r\n")
    return messages


def measure(label: str, action) -> float:
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    return elapsed


def raw_floor(dovecot: Dovecot, user: str, password: str, quiet: bool = False) -> int:
    """`quiet`: imaplib's debug formatting off, as the daemon runs it (see imap_source.quiet_imaplib)."""
    with dovecot.client(user, password) as client:
        if quiet:
            quiet_imaplib(client)
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        total = 0
        for start in range(0, len(uids), 50):
            for data in client.fetch(uids[start:start + 50], ["BODY.PEEK[]"]).values():
                total += len(data[b"BODY[]"])
    return total


def durable_floor(dovecot: Dovecot, user: str, password: str, work: Path) -> None:
    """The least a fetcher that cannot lose mail must do: the quiet fetch, each message hashed,
    written and fsynced (the daemon's own BlobStore), one after the other; nothing parsed."""
    blobs = BlobStore(work / "durable")
    with dovecot.client(user, password) as client:
        quiet_imaplib(client)
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        for start in range(0, len(uids), 50):
            for data in client.fetch(uids[start:start + 50], ["BODY.PEEK[]"]).values():
                blobs.put("raw", data[b"BODY[]"])
    shutil.rmtree(work / "durable")


def getmail_exe() -> str | None:
    """getmail installed beside this Python (pip install getmail6), else on PATH."""
    beside = Path(sys.executable).parent / "getmail"
    return str(beside) if beside.exists() else shutil.which("getmail")


def getmail_run(dovecot: Dovecot, user: str, password: str, work: Path) -> None:
    maildir = work / "getmail-Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    as_user = ""
    if os.geteuid() == 0:  # getmail refuses to deliver as root: it drops to nobody
        as_user = "user = nobody"
        for path in (maildir, *maildir.iterdir()):
            os.chown(path, 65534, 65534)
    rc = work / "getmailrc"
    rc.write_text(f"""[retriever]
type = SimpleIMAPRetriever
server = 127.0.0.1
port = {dovecot.port}
username = {user}
password = {password}
mailboxes = ("INBOX",)

[destination]
type = Maildir
path = {maildir}/
{as_user}

[options]
read_all = true
delete = false
verbose = 0
""")
    done = subprocess.run([getmail_exe(), f"--getmaildir={work}", f"--rcfile={rc}"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"getmail failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-1000:]}")


def full_run(dovecot: Dovecot, user: str, password: str, work: Path) -> None:
    config = work / "config.toml"
    config.write_text(f"""[storage]
database = "{work}/data/inbox.db"
files = "{work}/data/files"
[rules]
dir = "{ROOT / 'rules'}"
[[mailboxes]]
name = "bench"
source = "imap"
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{user}"
password_env = "BENCH_IMAP_PASSWORD"
contests = ["micro_video", "photo"]
[smtp]
transport = "file"
outbox_dir = "{work}/outbox"
daily_limit = 1000
""")
    env = {**os.environ, "BENCH_IMAP_PASSWORD": password}
    subprocess.run([sys.executable, "-m", "inbox_daemon", "--config", str(config), "poll", "--once"], check=True,
                   env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    if not getmail_exe():
        sys.exit("getmail6 is needed: pip install getmail6")
    work = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    os.chmod(work, 0o755)
    dovecot = Dovecot(work / "dovecot")
    dovecot.start()
    try:
        user, password = dovecot.add_user()
        print(f"building {args.messages} messages ...", flush=True)
        mix = build_mix(args.messages)
        dovecot.append(user, password, "INBOX", mix)
        megabytes = sum(len(m) for m in mix) / 1e6
        print(f"mailbox: {args.messages} messages, {megabytes:.1f} MB")
        timings = {}
        timings["raw"] = measure("raw", lambda: raw_floor(dovecot, user, password))
        timings["raw-quiet"] = measure("raw-quiet", lambda: raw_floor(dovecot, user, password, quiet=True))
        timings["durable"] = measure("durable", lambda: durable_floor(dovecot, user, password, work))
        timings["getmail"] = measure("getmail", lambda: getmail_run(dovecot, user, password, work))
        timings["full"] = measure("full", lambda: full_run(dovecot, user, password, work))
        for name, seconds in timings.items():
            print(f"{name:8s} {seconds:8.2f} s  {args.messages / seconds:8.1f} msg/s  {megabytes / seconds:8.1f} MB/s")
        print(f"against the quiet floor (imapclient without imaplib's debug formatting): "
              f"full/raw-quiet={timings['full'] / timings['raw-quiet']:.2f}; against the durable floor "
              f"(quiet fetch + hash + write + fsync): full/durable={timings['full'] / timings['durable']:.2f}")
        print(f"ratios: full/raw={timings['full'] / timings['raw']:.2f} "
              f"full/getmail={timings['full'] / timings['getmail']:.2f}")
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
