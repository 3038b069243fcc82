"""Throughput of the full job against the peers an operator would compare with and the floors that bound it.

    python bench/bench_ingest.py [--messages 300] [--rounds 3] [--only full,mbsync]

Starts a real Dovecot on loopback, fills one mailbox with a realistic mix (80% text+photo entries of
2-6 MB, 15% short videos, 5% junk: auto-replies, bounces, malformed mail), then runs, in interleaved
rounds (each round runs every contender once, in a rotated order, so a neighbour's load spreads over
all of them):

  full      `inbox-daemon poll --once`: every message stored durably, parsed, attachments stored,
            probed, judged, recorded, reply queued and written out, the server told "done";
  mbsync    isync's mbsync (Debian `isync`), `FSync yes`, pulling the folder into a Maildir: the peer
            an operator would compare with;
  getmail   getmail6 into a Maildir (the other peer);
  durable   the durable floor: one quiet imapclient connection fetching the bodies, each hashed,
            written, fsynced and renamed into place, one after the other, nothing parsed;
  stream    the network floor: one `UID FETCH 1:* BODY.PEEK[]` on a plain socket, every literal read
            and dropped.

Peers missing on this machine are installed by the bench itself (mbsync with apt, getmail6 with pip
into a temporary venv), never into the project. Each result is printed with the load average at that
moment; at the end the medians and ranges, then the parse cost per corpus message beside
mail-parser's own (the same messages, the same process), and last the line
`ratios: full/mbsync=X.XX full/durable=Y.YY full/stream=Z.ZZ` (ratios of median elapsed times).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import resource
import shutil
import socket
import statistics
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
from inbox_daemon.demo.samples import BIO, CST, compose  # noqa: E402
from inbox_daemon.imap_source import BATCH_BYTES, quiet_imaplib  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
CONTENDERS = ("full", "mbsync", "getmail", "durable", "stream")
PAGES_SETTLE_S = 4


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
                                + rng.randbytes(2000).hex().encode() + b"\r\n")
    return messages


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and every child it waited for: the work done,
    which a neighbour's load changes far less than the elapsed time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


# -- the floors --------------------------------------------------------------------------------------

def stream_floor(dovecot: Dovecot, user: str, password: str, work: Path) -> int:
    """One UID FETCH of every body on a plain socket, each literal read into one reused buffer and
    dropped: what the server and the loopback can deliver, with no client library in the way."""
    with socket.create_connection(("127.0.0.1", dovecot.port)) as sock:
        reader = sock.makefile("rb", buffering=1 << 20)
        reader.readline()  # greeting

        def command(tag: bytes, text: bytes) -> int:
            sock.sendall(tag + b" " + text + b"\r\n")
            total, sink = 0, bytearray(1 << 20)
            while True:
                line = reader.readline()
                if not line:
                    raise RuntimeError("connection closed")
                while line.rstrip().endswith(b"}"):  # a literal follows: read it, drop it
                    size = int(line.rstrip()[line.rstrip().rindex(b"{") + 1:-1])
                    total += size
                    view = memoryview(sink)
                    while size:
                        got = reader.readinto(view[:min(size, len(sink))])
                        size -= got
                    line = reader.readline()
                if line.startswith(tag + b" "):
                    if not line.startswith(tag + b" OK"):
                        raise RuntimeError(line)
                    return total

        command(b"a1", b"LOGIN %s %s" % (user.encode(), password.encode()))
        command(b"a2", b"EXAMINE INBOX")
        total = command(b"a3", b"UID FETCH 1:* BODY.PEEK[]")
        command(b"a4", b"LOGOUT")
    return total


def durable_floor(dovecot: Dovecot, user: str, password: str, work: Path) -> None:
    """The least a fetcher that cannot lose mail does, written out here so it stays a fixed yardstick:
    the quiet fetch in groups of at most 32 MB, each body hashed, written to a temp file, fsynced,
    renamed to its hash, its directory fsynced; one after the other, nothing parsed."""
    target = work / "durable"
    (target / "tmp").mkdir(parents=True)
    with dovecot.client(user, password) as client:
        quiet_imaplib(client)
        client.select_folder("INBOX", readonly=True)
        sizes = client.fetch(client.search("ALL"), ["RFC822.SIZE"])
        group, total, groups = [], 0, []
        for uid in sorted(sizes):
            if group and total + sizes[uid][b"RFC822.SIZE"] > BATCH_BYTES:
                groups.append(group)
                group, total = [], 0
            group.append(uid)
            total += sizes[uid][b"RFC822.SIZE"]
        groups += [group] if group else []
        for group in groups:
            for uid, data in client.fetch(group, ["BODY.PEEK[]"]).items():
                body = data[b"BODY[]"]
                name = hashlib.sha256(body).hexdigest()
                tmp = target / "tmp" / str(uid)
                with open(tmp, "wb") as handle:
                    handle.write(body)
                    handle.flush()
                    os.fsync(handle.fileno())
                final = target / name[:2] / name
                final.parent.mkdir(exist_ok=True)
                os.replace(tmp, final)
                fd = os.open(final.parent, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)


# -- the peers ---------------------------------------------------------------------------------------

def mbsync_exe() -> str:
    found = shutil.which("mbsync")
    if found:
        return found
    print("installing isync (mbsync) with apt-get ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "isync"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("mbsync") or sys.exit("mbsync could not be installed")


def mbsync_version(exe: str) -> str:
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


def mbsync_run(dovecot: Dovecot, user: str, password: str, work: Path, exe: str) -> None:
    maildir = work / "mbsync"
    maildir.mkdir()
    rc = work / "mbsyncrc"
    rc.write_text(f"""FSync yes

IMAPAccount bench
Host 127.0.0.1
Port {dovecot.port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore far
Account bench

MaildirStore near
Path {maildir}/
Inbox {maildir}/INBOX

Channel bench
Far :far:
Near :near:
Patterns INBOX
Sync Pull
Create Near
Expunge None
SyncState *
""")
    done = subprocess.run([exe, "-q", "-c", str(rc), "bench"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mbsync failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-1000:]}")
    _expect_maildir(maildir / "INBOX", dovecot.count(user, password, "INBOX"), "mbsync")


def _expect_maildir(maildir: Path, count: int, who: str) -> None:
    """A peer that stored less than the whole folder would be measured doing less than the job."""
    stored = sum(1 for sub in ("cur", "new") for _ in (maildir / sub).iterdir())
    if stored != count:
        sys.exit(f"{who} stored {stored} of {count} messages")


def getmail_exe(work: Path) -> str:
    """getmail beside this Python or on PATH; else getmail6 from PyPI in a venv of the bench's own."""
    beside = Path(sys.executable).parent / "getmail"
    if beside.exists():
        return str(beside)
    if shutil.which("getmail"):
        return shutil.which("getmail")
    venv = work / "getmail-venv"
    print("installing getmail6 into a temporary venv ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "getmail6"], check=True)
    return str(venv / "bin" / "getmail")


def getmail_run(dovecot: Dovecot, user: str, password: str, work: Path, exe: str) -> None:
    maildir = work / "getmail-Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    as_user = ""
    if os.geteuid() == 0:  # getmail refuses to deliver as root: it drops to nobody
        as_user = "user = nobody"
        for path in (maildir, *maildir.iterdir()):
            os.chown(path, 65534, 65534)
    state = work / "getmail-state"
    state.mkdir()
    rc = state / "getmailrc"
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
    done = subprocess.run([exe, f"--getmaildir={state}", f"--rcfile={rc}"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"getmail failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-1000:]}")
    _expect_maildir(maildir, dovecot.count(user, password, "INBOX"), "getmail")


# Runs a command as a child subreaper: the reader's fork server and its children, orphaned when the
# job exits, are reaped here, so their CPU time counts in this process's RUSAGE_CHILDREN (and so in
# the bench's); otherwise the reader's work would vanish from the figures.
REAPER = """
import ctypes, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
job = subprocess.Popen(sys.argv[1:])
code, cpu = None, []
while True:
    try:
        pid, status, usage = os.wait4(-1, 0)
    except ChildProcessError:
        break
    cpu.append(("job" if pid == job.pid else "reader and fork server", usage.ru_utime + usage.ru_stime))
    if pid == job.pid:
        code = os.waitstatus_to_exitcode(status)
print("cpu: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in cpu if seconds > 0.05), file=sys.stderr)
sys.exit(code)
"""


# -- the full job ------------------------------------------------------------------------------------

def full_run(dovecot: Dovecot, user: str, password: str, work: Path, profile: Path | None = None,
             verbose: bool = False, python: Path | None = None) -> None:
    """`python`: the interpreter to run the job with (one whose environment imports an earlier commit)."""
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
    command = [str(python or sys.executable), "-m", "inbox_daemon", "--config", str(config), "poll", "--once"]
    if profile:  # py-spy over the job and its reader child (--subprocesses)
        spy = Path(sys.executable).parent / "py-spy"
        command = [str(spy), "record", "--subprocesses", "-r", "200", "-f",
                   {".json": "speedscope", ".txt": "raw"}.get(profile.suffix, "flamegraph"), "-o", str(profile), "--", *command]
    done = subprocess.run([sys.executable, "-c", REAPER, *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"poll --once failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-3000:]}")
    if verbose:
        print("    " + done.stderr.strip().splitlines()[-1], flush=True)
    replies = len(list((work / "outbox").glob("*.eml")))
    if replies < 1:
        sys.exit("poll --once sent no reply: the bench would measure nothing")


# -- parse cost over the corpus ----------------------------------------------------------------------

def parse_medians(limit: int | None = None) -> tuple[int, float, float] | None:
    """Median per corpus message of this project's parse and of mail-parser's own, in this process,
    each message timed by both one after the other (best of three each, so a neighbour's burst does
    not land on one side only)."""
    import logging

    import mailparser

    from inbox_daemon.parse import parse_message
    logging.getLogger("mailparser").setLevel(logging.ERROR)  # its warnings cost both sides alike; keep the output readable
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return None
    rows = list(csv.DictReader(manifest.open(encoding="utf-8"), delimiter="\t"))[:limit]
    ours, theirs = [], []
    for row in rows:
        raw = (CORPUS / row["file"]).read_bytes()
        best_ours = best_theirs = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            try:
                mailparser.parse_from_bytes(raw)
            except Exception:  # noqa: BLE001 - a message mail-parser rejects costs what it cost
                pass
            best_theirs = min(best_theirs, time.perf_counter() - start)
            start = time.perf_counter()
            try:
                parse_message(raw)
            except Exception:  # noqa: BLE001
                pass
            best_ours = min(best_ours, time.perf_counter() - start)
        ours.append(best_ours)
        theirs.append(best_theirs)
    return len(rows), statistics.median(ours) * 1000, statistics.median(theirs) * 1000


# -- the run -----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(CONTENDERS), help="contenders to run, comma-separated")
    parser.add_argument("--profile", type=Path,
                        help="py-spy the first full run into this file (.svg, .json speedscope, .txt collapsed stacks)")
    parser.add_argument("--no-parse", action="store_true", help="skip the corpus parse medians")
    parser.add_argument("--verbose", action="store_true", help="the full job's CPU time by process")
    parser.add_argument("--before", type=Path, help="also run the full job with this Python, whose environment "
                                                    "imports an earlier commit (a venv whose .pth names a worktree of "
                                                    "it and this venv's site-packages), as the contender `before`")
    args = parser.parse_args()
    chosen = [name for name in CONTENDERS if name in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    os.chmod(work, 0o755)
    dovecot = Dovecot(work / "dovecot")
    dovecot.start()
    try:
        user, password = dovecot.add_user()
        runners = {
            "full": lambda w, r: full_run(dovecot, user, password, w, args.profile if r == 0 else None, args.verbose),
            "durable": lambda w, r: durable_floor(dovecot, user, password, w),
            "stream": lambda w, r: stream_floor(dovecot, user, password, w),
        }
        if args.before:
            chosen.insert(1, "before")
            before_profile = args.profile.with_stem(args.profile.stem + "-before") if args.profile else None
            runners["before"] = lambda w, r: full_run(dovecot, user, password, w, before_profile if r == 0 else None,
                                                      args.verbose, python=args.before)
        if "mbsync" in chosen:
            exe = mbsync_exe()
            print(f"mbsync: {mbsync_version(exe)}")
            runners["mbsync"] = lambda w, r: mbsync_run(dovecot, user, password, w, exe)
        if "getmail" in chosen:
            getmail = getmail_exe(work)
            runners["getmail"] = lambda w, r: getmail_run(dovecot, user, password, w, getmail)
        print(f"building {args.messages} messages ...", flush=True)
        mix = build_mix(args.messages)
        dovecot.append(user, password, "INBOX", mix)
        megabytes = sum(len(m) for m in mix) / 1e6
        del mix
        print(f"mailbox: {args.messages} messages, {megabytes:.1f} MB; {args.rounds} interleaved rounds; "
              f"{os.cpu_count()} cores; {load()}", flush=True)
        timings: dict[str, list[float]] = {name: [] for name in chosen}
        cpus: dict[str, list[float]] = {name: [] for name in chosen}
        for round_no in range(args.rounds):
            order = chosen[round_no % len(chosen):] + chosen[:round_no % len(chosen)]
            for name in order:
                scratch = work / f"run-{name}-{round_no}"
                scratch.mkdir()
                os.chmod(scratch, 0o755)
                subprocess.run(["sync"])  # the previous contender's writes are not billed to this one
                # and every contender starts from the same memory: our VMs report freed pages to the host
                # (free page reporting, after about 2 s), and touching a reported page again is costly, so
                # a run right after another's files were deleted would get cheap pages the others do not.
                time.sleep(PAGES_SETTLE_S)
                before = cpu_seconds()
                start = time.perf_counter()
                runners[name](scratch, round_no)
                elapsed = time.perf_counter() - start
                cpu = cpu_seconds() - before
                timings[name].append(elapsed)
                cpus[name].append(cpu)
                print(f"round {round_no + 1} {name:8s} {elapsed:8.2f} s  cpu {cpu:6.2f} s  ({load()})", flush=True)
                shutil.rmtree(scratch, ignore_errors=True)
        print(f"\n{'':8s} {'median':>8s} {'range':>17s} {'msg/s':>8s} {'MB/s':>8s} {'full/it':>8s} {'cpu s':>8s}")
        medians = {name: statistics.median(values) for name, values in timings.items()}
        for name, values in timings.items():
            ratio = f"{medians['full'] / medians[name]:8.2f}" if "full" in medians else ""
            print(f"{name:8s} {medians[name]:8.2f} {min(values):8.2f}-{max(values):<8.2f} "
                  f"{args.messages / medians[name]:8.1f} {megabytes / medians[name]:8.1f} {ratio} "
                  f"{statistics.median(cpus[name]):8.2f}")
        print(f"({load()})")
        if not args.no_parse:
            found = parse_medians()
            if found:
                count, ours, theirs = found
                print(f"parse median per corpus message ({count} messages): inbox-daemon {ours:.3f} ms, "
                      f"mail-parser alone {theirs:.3f} ms, ratio {ours / theirs:.2f} ({load()})")
        if {"full", "mbsync", "durable", "stream"} <= set(medians):
            print(f"ratios: full/mbsync={medians['full'] / medians['mbsync']:.2f} "
                  f"full/durable={medians['full'] / medians['durable']:.2f} "
                  f"full/stream={medians['full'] / medians['stream']:.2f}")
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
