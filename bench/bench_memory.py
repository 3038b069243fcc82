"""Peak memory of whole passes, against the idle daemon: large messages, a large backlog, hostile files.

    python bench/bench_memory.py [--backlog 20000] [--only 85mb,205mb,backlog,hostile]

Every figure is the peak resident memory of the whole process tree of `inbox-daemon poll --once`
(the job, the reader's fork server and the reader child), measured from a small fresh process
(`TREE` below): it becomes the subreaper of the tree, samples every process of it every few
milliseconds, and reports the sum of each process's own peak (VmHWM: exact per process, kept by the
kernel), an upper bound of the tree's peak since the processes' peaks need not coincide, and pages
shared by the fork server and its child count twice. "Idle" is the same tree at rest: the job's
modules imported, its config and rules loaded, the reader started and waiting.

Cases (target: each under 100 MiB above idle):
  85mb      one message of 85 MB (a 63 MB video), fetched from a real Dovecot in pieces;
  205mb     one message of 205 MB (a 150 MB video), the same way;
  backlog   N small entries in a Maildir answered in one pass: N rows judged, N replies written;
  hostile   the issue-10 trio, each attached to an entry: an .xlsx whose one cell is 300 MB of XML,
            a truncated .docx, a zip of 1,000 members; each must give a finding within seconds, the
            entry judged and a reply sent.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import PASSWORD_ENV, imap_mailbox, write_config  # noqa: E402
from servers import Dovecot  # noqa: E402

from inbox_daemon.demo import media  # noqa: E402
from inbox_daemon.demo.samples import BIO, compose  # noqa: E402

# The measuring parent: small, fresh, a subreaper (so the fork server and the reader, orphaned when the
# job exits, stay in view until they are gone), sampling the tree's processes every 5 ms.
TREE = r"""
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER

def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []

parents = {}

def tree(pid):
    found, todo = [], children(pid)
    while todo:
        found.append(todo.pop())
        for child in children(found[-1]):
            parents[child] = found[-1]
            todo.append(child)
    return found

def kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None

hwm, names, peak_sum = {}, {}, 0
start = time.monotonic()
job = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
me = os.getpid()
while True:
    pids = tree(me)
    total = 0
    for pid in pids:
        try:
            name = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")[:90].decode(errors="replace")
        except OSError:
            continue
        high, now = kib(pid, "VmHWM:"), kib(pid, "VmRSS:")
        if high is not None and name:
            # Between fork and exec a new process is a copy of its parent (pages shared, not new memory):
            # its figures count from the exec on, when its command line changes.
            hwm[pid] = max(hwm.get(pid, 0) if names.get(pid) == name else 0, high)
            names[pid] = name
            total += now or 0
    peak_sum = max(peak_sum, total)
    if job.poll() is not None and not pids:
        break
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:  # reap the orphans we adopted
            pass
    except ChildProcessError:
        pass
    time.sleep(0.005)
def label(pid):
    return "reader" if "forkserver" in names.get(parents.get(pid), "") else names.get(pid, "")

print(json.dumps({"code": job.returncode, "seconds": time.monotonic() - start, "hwm_sum_kib": sum(hwm.values()),
                  "peak_rss_sum_kib": peak_sum, "processes": [[p, label(p), k] for p, k in hwm.items()],
                  "stderr": job.stderr.read().decode(errors="replace")[-2000:]}))
"""

IDLE = """
import sys, time
import inbox_daemon.cli, inbox_daemon.ingest, inbox_daemon.digest
from inbox_daemon.config import load_config
from inbox_daemon.pipeline import Context
from inbox_daemon.rules import load_rules
config = load_config(sys.argv[1])
context = Context.from_config(config, load_rules(config.rules_dir))
context.worker.start()
time.sleep(1.0)
context.close()
"""


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def measure(command: list[str], env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", TREE, *command], capture_output=True, text=True, env=env)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found["code"] != 0:
        sys.exit(f"{' '.join(command)} failed ({found['code']}): {found['stderr']}")
    return found


def poll(config: Path, env: dict | None = None) -> dict:
    return measure([sys.executable, "-m", "inbox_daemon", "--config", str(config), "poll", "--once"], env)


def report(label: str, found: dict, idle: dict, extra: str = "") -> float:
    above = (found["hwm_sum_kib"] - idle["hwm_sum_kib"]) / 1024
    print(f"{label:34s} {found['seconds']:7.1f} s  tree peak {found['hwm_sum_kib'] / 1024:7.1f} MiB, "
          f"above idle {above:6.1f} MiB (sampled peak of the sum {found['peak_rss_sum_kib'] / 1024:.1f}) "
          f"{extra} ({load()})", flush=True)
    print("    " + describe(found))
    return above


def describe(found: dict) -> str:
    """Each process of the tree and its own peak, largest first."""
    def short(name: str) -> str:
        for marker, label in (("reader", "reader"), ("forkserver", "fork server"), ("resource_tracker", "resource tracker"),
                              ("inbox_daemon", "job"), ("import sys, time", "job (idle)")):
            if marker in name:
                return label
        return name[:30] or "?"
    parts = sorted(found["processes"], key=lambda item: -item[2])
    return "; ".join(f"{short(name)} {kib / 1024:.1f}" for _, name, kib in parts)


def outcomes(work: Path) -> tuple[dict, int, list[str]]:
    db = sqlite3.connect(work / "data" / "inbox.db")
    counts = dict(db.execute("SELECT outcome, COUNT(*) FROM messages GROUP BY outcome").fetchall())
    sent = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
    rules = [r for (r,) in db.execute("SELECT rules FROM messages") if r]
    db.close()
    return counts, sent, rules


def large_message(work: Path, dovecot: Dovecot, megabytes: int, idle: dict) -> float:
    video = media.make_video(30, 1280, 720) + os.urandom(megabytes * 1024 * 1024)
    raw = compose(sender="a@qq.com", subject="微视频比赛《大片》", body="作品名称：大片\n作者姓名：李娜",
                  attachments=[("大片.mp4", video, "video/mp4")])
    user, password = dovecot.add_user()
    dovecot.append(user, password, "INBOX", [raw])
    del video
    (work / "imap").mkdir()
    config = write_config(work / "imap", [{**imap_mailbox(dovecot, user), "contests": ["micro_video"]}])
    found = poll(config, {**os.environ, PASSWORD_ENV: password})
    counts, sent, _ = outcomes(work / "imap")
    return report(f"one message of {len(raw) / 1e6:.0f} MB (IMAP)", found, idle, f"outcomes {counts}, replies {sent}")


def backlog(work: Path, count: int, idle: dict) -> float:
    box = mailbox.Maildir(work / "Maildir", create=True)
    for i in range(count):
        box.add(compose(sender=f"w{i}@qq.com", subject=f"摄影比赛《作品{i}》",
                        body=f"作品名称：作品{i}\n作者：职工{i}\n作者单位：涟钢\n联系方式：139{i:08d}\n作品简介：{BIO[:80]}"))
    config = write_config(work, [{"name": "m", "source": "maildir", "path": str(work / "Maildir"),
                                  "contests": ["photo"]}], smtp={"transport": "file", "outbox_dir": f"{work}/outbox",
                                                                 "daily_limit": 10})
    found = poll(config)
    counts, sent, _ = outcomes(work)
    if sum(counts.values()) != count or sent != count:
        sys.exit(f"backlog: {counts}, {sent} replies sent of {count}")
    return report(f"backlog of {count} in one pass", found, idle, f"outcomes {counts}, replies {sent}")


def hostile(work: Path, idle: dict) -> list[float]:
    from test_hostile import GOOD_FORM, huge_cell_xlsx, truncated_docx  # noqa: F401  (the issue-10 makers)
    work.mkdir(parents=True, exist_ok=True)
    huge = work / "huge.xlsx"
    huge_cell_xlsx(huge, 300)
    thumbnail = media.make_jpeg(width=16, height=16)
    cases = [("an .xlsx with a 300 MB cell", "申报表.xlsx", huge.read_bytes()),
             ("a truncated .docx", "申报表.docx", truncated_docx()),
             ("a zip of 1,000 members", "作品.zip", media.make_zip([(f"{i:04d}.jpg", thumbnail) for i in range(1000)]))]
    results = []
    for number, (label, name, data) in enumerate(cases):
        case = work / f"hostile-{number}"
        case.mkdir()
        box = mailbox.Maildir(case / "Maildir", create=True)
        box.add(compose(sender=f"h{number}@qq.com", subject="阅读推广人风采展示申报",
                        body="姓名：唐丽华\n单位：娄底市图书馆\n联系电话：13873851234\n推广活动简介：" + BIO,
                        attachments=[(name, data, "application/octet-stream")]))
        config = write_config(case, [{"name": "m", "source": "maildir", "path": str(case / "Maildir"),
                                      "contests": ["reading_promoter", "photo", "micro_video"]}],
                              smtp={"transport": "file", "outbox_dir": f"{case}/outbox"})
        found = poll(config)
        counts, sent, rules = outcomes(case)
        findings = sorted({f["id"] for r in rules for f in json.loads(r)})
        judged = set(counts) <= {"accepted", "rejected", "needs_review"} and sum(counts.values()) == 1
        if not judged or sent != 1 or found["seconds"] > 10:
            sys.exit(f"{label}: outcomes {counts}, replies {sent}, findings {findings}, {found['seconds']:.1f} s")
        results.append(report(label, found, idle, f"outcome {next(iter(counts))}, findings {','.join(findings)}, "
                                                  f"replies {sent}"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=20000)
    parser.add_argument("--only", default="85mb,205mb,backlog,hostile")
    args = parser.parse_args()
    chosen = args.only.split(",")
    work = Path(tempfile.mkdtemp(prefix="inbox-mem-"))
    os.chmod(work, 0o755)  # Dovecot drops privileges and must reach its directory
    dovecot = None
    try:
        (work / "idle").mkdir()
        idle_config = write_config(work / "idle", [{"name": "m", "source": "maildir", "path": str(work / "none"),
                                                    "contests": ["micro_video"]}])
        idles = [measure([sys.executable, "-c", IDLE, str(idle_config)]) for _ in range(3)]
        idle = min(idles, key=lambda found: found["hwm_sum_kib"])  # the smallest: "above idle" errs high
        runs = ", ".join(f"{found['hwm_sum_kib'] / 1024:.1f}" for found in idles)
        print(f"idle tree (job + fork server + reader): {idle['hwm_sum_kib'] / 1024:.1f} MiB, the least of {runs} "
              f"({load()})")
        print("    " + describe(idle))
        worst = []
        if "85mb" in chosen or "205mb" in chosen:
            dovecot = Dovecot(work / "dovecot")
            dovecot.start()
        for name, megabytes in (("85mb", 60), ("205mb", 144)):
            if name in chosen:
                (work / name).mkdir()
                worst.append(large_message(work / name, dovecot, megabytes, idle))
        if "backlog" in chosen:
            (work / "backlog").mkdir()
            worst.append(backlog(work / "backlog", args.backlog, idle))
        if "hostile" in chosen:
            worst += hostile(work / "hostile", idle)
        print(f"worst above idle: {max(worst):.1f} MiB (target < 100)")
    finally:
        if dovecot is not None:
            dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
