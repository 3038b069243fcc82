"""`run` with IMAP IDLE: new mail is judged and answered within seconds, not at the next interval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

from conftest import PASSWORD_ENV, SMTP_PASSWORD_ENV, imap_mailbox, smtp_section, write_config

from inbox_daemon.demo.samples import CST, compose


def test_idle_wakes_the_poll_and_the_reply_follows(dovecot, imap_user, tmp_path, tls_cert):
    from servers import SmtpSink

    user, password = imap_user
    sink = SmtpSink(tls_cert)
    sink.start()
    config = write_config(tmp_path, [imap_mailbox(dovecot, user, done_folder="Done")],
                          smtp=smtp_section(sink), schedule={"poll_every": "1h"})
    env = {**os.environ, PASSWORD_ENV: password, SMTP_PASSWORD_ENV: SmtpSink.PASSWORD,
           "SSL_CERT_FILE": str(tls_cert[0])}
    daemon = subprocess.Popen([sys.executable, "-m", "inbox_daemon", "-v", "--config", str(config), "run"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)  # the first (empty) pass runs at start; then only IDLE can wake it for an hour
        latencies = []
        for i in range(3):
            sent = time.monotonic()
            dovecot.append(user, password, "INBOX", [compose(sender=f"w{i}@qq.com", subject=f"微视频比赛《{i}》",
                                                             body=f"作品名称：{i}")],
                           when=datetime(2022, 8, 20, tzinfo=CST))
            while len(sink.messages) <= i:
                assert time.monotonic() - sent < 20, "no reply: IDLE did not wake the poll"
                assert daemon.poll() is None
                time.sleep(0.02)
            latencies.append(time.monotonic() - sent)
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        sink.stop()
    assert daemon.returncode == 0 and "new mail announced by IDLE" in stderr
    assert max(latencies) < 10  # the interval is an hour: IDLE did it
    assert [str(m["To"]) for m in sink.bodies()] == ["w0@qq.com", "w1@qq.com", "w2@qq.com"]
