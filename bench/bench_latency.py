"""Latency from IMAP APPEND to the reply arriving at the SMTP server, with `inbox-daemon run` and IDLE.

    python bench/bench_latency.py [--messages 100] [--gap 0.5]

Real Dovecot and a real aiosmtpd (STARTTLS + AUTH) on loopback; the daemon polls only every hour, so
every reply is the work of IDLE. Prints p50 and p95 (target: p95 under 3 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import imap_mailbox, smtp_section, write_config  # noqa: E402
from servers import Dovecot, SmtpSink, self_signed_cert  # noqa: E402

from inbox_daemon.demo.samples import BIO, CST, compose  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between arrivals")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="inbox-latency-"))
    os.chmod(work, 0o755)
    cert = self_signed_cert(work)
    dovecot = Dovecot(work / "dovecot")
    dovecot.start()
    sink = SmtpSink(cert)
    sink.start()
    arrived: dict[str, float] = {}
    sink.deliver = lambda rcpt, raw: arrived.setdefault(rcpt.lower(), time.monotonic())
    user, password = dovecot.add_user()
    config = write_config(work, [imap_mailbox(dovecot, user, done_folder="Done")],
                          smtp=smtp_section(sink, daily_limit=1000), schedule={"poll_every": "1h"})
    env = {**os.environ, "TEST_IMAP_PASSWORD": password, "TEST_SMTP_PASSWORD": SmtpSink.PASSWORD,
           "SSL_CERT_FILE": str(cert[0])}
    log = open(work / "daemon.log", "w")
    daemon = subprocess.Popen([sys.executable, "-m", "inbox_daemon", "-v", "--config", str(config), "run"], env=env,
                              stdout=log, stderr=log)
    sent: dict[str, float] = {}
    try:
        time.sleep(2)
        for i in range(args.messages):
            address = f"w{i}@qq.com"
            raw = compose(sender=address, subject=f"微视频比赛《{i}》", body=f"作品名称：{i}\n作者姓名：李娜\n简介：{BIO}")
            sent[address] = time.monotonic()
            dovecot.append(user, password, "INBOX", [raw], when=datetime(2022, 8, 20, tzinfo=CST))
            time.sleep(args.gap)
        deadline = time.monotonic() + 60
        while len(arrived) < args.messages and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        sink.stop()
        dovecot.stop()
        log.close()
        if len(arrived) < args.messages:
            print((work / "daemon.log").read_text()[-3000:])
        shutil.rmtree(work, ignore_errors=True)
    latencies = sorted(arrived[a] - sent[a] for a in sent if a in arrived)
    missing = args.messages - len(latencies)
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * len(latencies))) - 1)]
    print(f"messages: {args.messages}, replies: {len(latencies)}, missing: {missing}")
    print(f"latency APPEND -> reply: p50={p50:.2f}s p95={p95:.2f}s max={latencies[-1]:.2f}s (target p95 < 3 s)")


if __name__ == "__main__":
    main()
