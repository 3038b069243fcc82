"""Replies through a real aiosmtpd server (STARTTLS + AUTH): kinds, headers, retries, failures, crashes."""

from __future__ import annotations

import json
import mailbox
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import imap_mailbox, smtp_section, write_config
from screenshots import WIDTHS, Browser, keep

from inbox_daemon.config import load_config
from inbox_daemon.demo import media
from inbox_daemon.ingest import poll_all
from inbox_daemon.pipeline import Context
from inbox_daemon.rules import load_rules
from inbox_daemon.demo.samples import BIO, CST, compose
from inbox_daemon.send import drain
from inbox_daemon.staff import override
from inbox_daemon.store import Store

MP4, JPEG = "video/mp4", "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
GOOD = ["作品名称：守护", "作者姓名：李娜", "性别：女", "联系电话：13873881234", "工作单位：娄底市中心医院", f"作者及作品简介：{BIO}"]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "replies"


def maildir_config(tmp_path: Path, messages: list[bytes], smtp: dict, **extra):
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    for raw in messages:
        box.add(raw)
    return load_config(write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                                "contests": ["micro_video", "photo"]}], smtp=smtp, **extra))


def entry(clip: bytes, sender: str, lines=GOOD, subject="微视频比赛《守护》", **kw) -> bytes:
    return compose(sender=sender, subject=subject, body="\n".join(lines), attachments=[("守护.mp4", clip, MP4)],
                   received=datetime(2022, 8, 20, 9, 0, tzinfo=CST), **kw)


def by_recipient(sink) -> dict[str, list]:
    found: dict[str, list] = {}
    for message in sink.bodies():
        found.setdefault(str(message["To"]), []).append(message)
    return found


def test_each_reply_kind_arrives_threaded_and_marked(tmp_path, smtp_sink, clips, photos):
    messages = [
        entry(clips["170"], "a@qq.com", message_id="<accepted@qq.com>"),
        entry(clips["200"], "b@163.com", lines=GOOD[:3] + GOOD[4:], message_id="<rejected@163.com>"),
        compose(sender="c@126.com", subject="摄影比赛《大桥》", message_id="<review@126.com>",
                body="作品名称：大桥\n作者：陈辉\n作者单位：中铁\n联系方式：15173812345\n作品简介：合龙\n拍摄时间：2022-08-30\n拍摄地点：新化",
                attachments=[("ps.jpg", photos["ps"], JPEG)], received=datetime(2022, 9, 1, tzinfo=CST)),
        compose(sender="d@sina.com", subject="投稿", body="作品名称：山村的灯\n请问怎么参加？", message_id="<unknown@sina.com>",
                received=datetime(2022, 8, 21, tzinfo=CST)),
        compose(sender="e@qq.com", subject="自动回复: 微视频", body="休假", headers={"Auto-Submitted": "auto-replied"}),
        entry(clips["low"], "noreply@notify.example.com"),
        entry(clips["310"], "worker@localhost"),  # no usable address to answer
        entry(clips["290"][:-1], "g@qq.com", headers={"Reply-To": "reply-here@163.com"}),
    ]
    config = maildir_config(tmp_path, messages, smtp_section(smtp_sink))
    store = Store.from_config(config)
    poll_all(config, store)
    result = drain(store, config.smtp)
    # A second message from a@qq.com with the same video: a duplicate, answered with the same receipt.
    mailbox.Maildir(tmp_path / "Maildir").add(entry(clips["170"], "a@qq.com", subject="再发一次", message_id="<dup@qq.com>"))
    poll_all(config, store)
    drain(store, config.smtp)

    assert result.sent == 5
    mail = by_recipient(smtp_sink)
    assert set(mail) == {"a@qq.com", "b@163.com", "c@126.com", "d@sina.com", "reply-here@163.com"}
    accepted, duplicate = mail["a@qq.com"]
    receipt = re.fullmatch(r"【已收到】微视频比赛作品登记成功 回执号 (WSP-2022-\d{4})", accepted["Subject"])[1]
    assert "登记成功" in accepted.get_body(("plain",)).get_content() and "李娜" in accepted.get_body(("plain",)).get_content()
    assert "视频 2分50秒，1280×720" in accepted.get_body(("plain",)).get_content()
    assert duplicate["Subject"] == f"【重复发送】此微视频比赛作品此前已收到 回执号 {receipt}"
    [rejected] = mail["b@163.com"]
    assert rejected["Subject"].startswith("【需修改】微视频比赛作品未通过审核：缺少“联系电话” 回执号 WSP-2022-")
    text = rejected.get_body(("plain",)).get_content()
    assert "缺少“联系电话”" in text and "时长 3分20秒，超过 3分00秒" in text and "\n联系电话：\n" in text
    assert "请在截止时间 2022年9月30日 23:59 前回复" in text
    [review] = mail["c@126.com"]
    assert review["Subject"].startswith("【待审核】") and "修图软件" in review.get_body(("plain",)).get_content()
    [unknown] = mail["d@sina.com"]
    assert unknown["Subject"].startswith("【请确认】") and "“好工人·向未来”摄影比赛" in unknown.get_body(("plain",)).get_content()
    for message in smtp_sink.bodies():
        assert message["Auto-Submitted"] == "auto-replied" and message["X-Auto-Response-Suppress"] == "All"
        assert message["Message-ID"].endswith("@contest.example.org>")
        assert message["In-Reply-To"] and message["In-Reply-To"] in message["References"]
        assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
        assert message["From"] == "robot@contest.example.org"
    assert mail["a@qq.com"][0]["In-Reply-To"] == "<accepted@qq.com>"
    statuses = dict(store.db.execute("SELECT m.sender, o.status FROM outbox o JOIN messages m ON m.id = o.message"))
    assert statuses["worker@localhost"] == "suppressed"
    assert "e@qq.com" not in statuses and "noreply@notify.example.com" not in statuses  # ignored: no outbox row


def test_override_sends_a_change_reply_with_the_message_and_never_the_note(tmp_path, smtp_sink, clips):
    config = maildir_config(tmp_path, [entry(clips["200"], "b@163.com")], smtp_section(smtp_sink))
    store = Store.from_config(config)
    poll_all(config, store)
    drain(store, config.smtp)
    context = Context.from_config(config, load_rules(config.rules_dir))
    override(store, "WSP-2022-0001", "accept", "评委组长口头同意，内部记录", context=context,
             message="经评委同意，片尾字幕不计入时长")
    drain(store, config.smtp)
    first, change = smtp_sink.bodies()
    assert change["Subject"] == "【结果更新】回执号 WSP-2022-0001：未通过 → 已登记"
    for part in (change.get_body(("plain",)).get_content(), change.get_body(("html",)).get_content()):
        assert "经评委同意，片尾字幕不计入时长" in part
        assert "内部记录" not in part


def test_smtp_down_then_back_delivers_each_reply_exactly_once(tmp_path, smtp_sink, clips):
    messages = [entry(clips["170"] + bytes(i), f"w{i}@qq.com") for i in range(6)]
    config = maildir_config(tmp_path, messages, smtp_section(smtp_sink))
    store = Store.from_config(config)
    smtp_sink.stop()
    poll_all(config, store)
    now = datetime.now().astimezone()
    for hour in range(4):  # an hour and more of outage: every drain fails, nothing is lost
        down = drain(store, config.smtp, now=now + timedelta(minutes=20 * hour))
        assert down.sent == 0 and down.failed == 0
    assert store.db.execute("SELECT COUNT(*) FROM outbox WHERE status='queued'").fetchone()[0] == 6
    smtp_sink.start()
    back = drain(store, config.smtp, now=now + timedelta(hours=3))
    again = drain(store, config.smtp, now=now + timedelta(hours=6))
    assert (back.sent, again.sent) == (6, 0)
    assert sorted(m["To"] for m in smtp_sink.bodies()) == sorted(f"w{i}@qq.com" for i in range(6))


def test_a_550_fails_the_reply_without_retries(tmp_path, smtp_sink, clips):
    smtp_sink.refuse["gone@qq.com"] = "550 5.1.1 <gone@qq.com>: mailbox unavailable"
    smtp_sink.refuse["busy@qq.com"] = "451 4.3.0 try again later"
    config = maildir_config(tmp_path, [entry(clips["170"], "gone@qq.com"), entry(clips["low"], "busy@qq.com"),
                                       entry(clips["290"][:-2], "fine@qq.com")], smtp_section(smtp_sink))
    store = Store.from_config(config)
    poll_all(config, store)
    first = drain(store, config.smtp)
    later = drain(store, config.smtp, now=datetime.now().astimezone() + timedelta(days=1))
    rows = {r["to_addr"]: r for r in store.db.query("SELECT to_addr, status, attempts, last_error FROM outbox")}
    assert (rows["gone@qq.com"]["status"], rows["gone@qq.com"]["attempts"]) == ("failed", 1)
    assert "550" in rows["gone@qq.com"]["last_error"]
    assert (rows["busy@qq.com"]["status"], rows["busy@qq.com"]["attempts"]) == ("queued", 2)  # 4xx: retried
    assert rows["fine@qq.com"]["status"] == "sent"
    assert (first.sent, first.failed, later.sent) == (1, 1, 0)


def test_per_sender_limit_then_one_notice_then_silence(tmp_path, smtp_sink, clips):
    messages = [entry(clips["170"] + bytes(i), "eager@qq.com", subject=f"微视频比赛 第{i}稿") for i in range(8)]
    config = maildir_config(tmp_path, messages, smtp_section(smtp_sink, daily_limit=3))
    store = Store.from_config(config)
    poll_all(config, store)
    drain(store, config.smtp)
    subjects = [m["Subject"] for m in smtp_sink.bodies()]
    assert len(subjects) == 4 and subjects[-1] == "【提示】今日自动回复次数已达上限"
    assert store.db.execute("SELECT COUNT(*) FROM outbox WHERE status='suppressed'").fetchone()[0] == 4


def test_sigkill_while_sending_sends_no_reply_twice_outside_the_documented_window(tmp_path, tls_cert, clips):
    """Killed at random moments of a drain, five times; the SMTP server is slow before DATA, as real ones
    are. A reply may go out twice only when the kill fell between the server's 250 and our commit: the
    killed process's own log then shows "outbox=N sending" without "outbox=N sent" (send.py)."""
    import random
    import re as regex

    from servers import SmtpSink

    sink = SmtpSink(tls_cert, delay_rcpt=0.05)
    sink.start()
    rng = random.Random(8)
    in_window: set[int] = set()
    try:
        messages = [entry(clips["170"] + bytes(i), f"k{i}@qq.com") for i in range(30)]
        config = maildir_config(tmp_path, messages, smtp_section(sink))
        store = Store.from_config(config)
        poll_all(config, store)  # judged and queued; the CLI below only sends
        env = {**os.environ, "SSL_CERT_FILE": str(tls_cert[0]), "TEST_SMTP_PASSWORD": SmtpSink.PASSWORD}
        command = [sys.executable, "-m", "inbox_daemon", "-vv", "--config", str(config.path), "poll", "--once"]
        for round_ in range(5):
            log_path = tmp_path / f"drain-{round_}.log"
            with open(log_path, "w") as log_file:
                process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
                target = len(sink.messages) + rng.randint(1, 4)
                deadline = time.monotonic() + 60
                while len(sink.messages) < target and time.monotonic() < deadline and process.poll() is None:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0, 0.06))  # anywhere in the next reply: RCPT, DATA, the commit
                process.send_signal(signal.SIGKILL)
                process.wait()
            text = log_path.read_text(errors="replace")
            started = set(map(int, regex.findall(r"outbox=(\d+) sending", text)))
            finished = set(map(int, regex.findall(r"outbox=(\d+) to=\S+ sent", text)))
            in_window |= started - finished
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    finally:
        sink.stop()
    recipients = [to for _, tos, _ in sink.messages for to in tos]
    assert set(recipients) == {f"k{i}@qq.com" for i in range(30)}  # nobody missed
    outbox_of = {row[1]: row[0] for row in store.db.execute("SELECT id, to_addr FROM outbox")}
    twice = {to for to in recipients if recipients.count(to) > 1}
    assert all(outbox_of[to] in in_window for to in twice), (twice, in_window)  # only inside the window
    assert all(recipients.count(to) <= 2 for to in twice) and len(twice) <= 5
    assert store.db.execute("SELECT COUNT(*) FROM outbox WHERE status='sent'").fetchone()[0] == 30


def test_two_daemons_pointed_at_each_other_exchange_at_most_one_message_each(dovecot, tmp_path, tls_cert,
                                                                             monkeypatch, clips):
    """Daemon A answers an entry that came from daemon B's address; B's mailbox gets that reply, and so on."""
    from servers import SmtpSink

    user_a, password = dovecot.add_user()
    user_b, _ = dovecot.add_user()
    addresses = {"a@daemon-a.test": user_a, "b@daemon-b.test": user_b}
    sink = SmtpSink(tls_cert)
    sink.deliver = lambda rcpt, raw: dovecot.append(addresses[rcpt.lower()], password, "INBOX", [raw])
    sink.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SmtpSink.PASSWORD)
    monkeypatch.setenv("TEST_IMAP_PASSWORD", password)
    try:
        configs = {}
        for name, user, address in (("a", user_a, "a@daemon-a.test"), ("b", user_b, "b@daemon-b.test")):
            directory = tmp_path / name
            directory.mkdir()
            configs[name] = load_config(write_config(directory, [imap_mailbox(dovecot, user, name=name)],
                                                     smtp=smtp_section(sink, **{"from": address})))
        # B "submits" to A: a message from B's address, like a misdirected reply.
        dovecot.append(user_a, password, "INBOX", [entry(clips["170"], "b@daemon-b.test")],
                       when=datetime(2022, 8, 20, tzinfo=CST))
        for _ in range(4):  # several rounds of both daemons
            for name in ("a", "b"):
                store = Store.from_config(configs[name])
                poll_all(configs[name], store)
                drain(store, configs[name].smtp)
    finally:
        sink.stop()
    senders = [str(m["From"]) for m in sink.bodies()]
    assert senders.count("a@daemon-a.test") == 1 and senders.count("b@daemon-b.test") == 0
    b_store = Store.from_config(configs["b"])
    assert [r["outcome"] for r in b_store.register.rows()] == ["ignored"]


def test_a_header_stripping_auto_responder_cannot_start_a_loop(tmp_path, tls_cert, monkeypatch, clips):
    """A responder that answers everything with "Re: <subject>" and no auto headers, straight back to us."""
    from servers import SmtpSink

    sink = SmtpSink(tls_cert)
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)

    def respond(rcpt, raw):
        import email
        original = email.message_from_bytes(raw)
        box.add(compose(sender=rcpt, to="robot@contest.example.org", subject=f"Re: {original['Subject']}",
                        body="我正在休假，稍后回复您。", received=datetime(2022, 8, 21, tzinfo=CST)))

    sink.deliver = respond
    sink.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SmtpSink.PASSWORD)
    try:
        box.add(entry(clips["170"], "holiday@qq.com"))
        mailbox_config = {"name": "local", "source": "maildir", "path": str(tmp_path / "Maildir"), "contests": ["micro_video"]}
        config = load_config(write_config(tmp_path, [mailbox_config], smtp=smtp_section(sink)))
        store = Store.from_config(config)
        for _ in range(6):
            poll_all(config, store)
            drain(store, config.smtp)
    finally:
        sink.stop()
    kinds = [str(m["X-Inbox-Daemon"]) for m in sink.bodies()]
    # Our one confirmation; the responder's "Re:" carried the receipt but changed nothing, so no answer.
    assert kinds == ["accepted WSP-2022-0001"]
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2


def test_rendered_examples_in_docs_are_current(tmp_path, clips, photos):
    """docs/replies/ holds every reply kind as sent; INBOX_DAEMON_UPDATE_DOCS=1 rewrites them."""
    import email
    import email.policy

    messages = [
        ("accepted", entry(clips["170"], "a@qq.com")),
        ("rejected", entry(clips["200"], "b@163.com", lines=GOOD[:3] + GOOD[4:])),
        ("needs_review", compose(sender="c@126.com", sender_name="陈辉", subject="摄影比赛《大桥》",
                                 body="作品名称：大桥\n作者：陈辉\n作者单位：中铁五局\n联系方式：15173812345\n作品简介：合龙瞬间\n"
                                      "拍摄时间：2022-08-30\n拍摄地点：新化", attachments=[("大桥.jpg", photos["ps"], JPEG)],
                                 received=datetime(2022, 9, 1, tzinfo=CST))),
        ("contest_unknown", compose(sender="d@sina.com", sender_name="何军", subject="投稿", body="作品名称：山村的灯\n请问怎么参加？",
                                    received=datetime(2022, 8, 21, tzinfo=CST))),
        ("duplicate", entry(clips["170"], "a@qq.com", subject="再发一次")),
        ("late", compose(sender="e@qq.com", sender_name="彭涛", subject="微视频比赛作品《夜班》",
                         body="\n".join(GOOD), attachments=[("夜班.mp4", clips["low"], MP4)],
                         received=datetime(2022, 10, 3, 10, 12, tzinfo=CST))),
    ]
    config = maildir_config(tmp_path, [raw for _, raw in messages], {"transport": "file", "outbox_dir": str(tmp_path / "out")})
    store = Store.from_config(config)
    poll_all(config, store)
    context = Context.from_config(config, load_rules(config.rules_dir))
    override(store, "WSP-2022-0002", "accept", "内部：评委会讨论通过", context=context,
             message="评委会同意：片尾字幕不计入时长")
    drain(store, config.smtp)
    rendered = {}
    for path in sorted((tmp_path / "out").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        kind = message["X-Inbox-Daemon"].split()[0]
        rendered[f"{kind}.txt"] = f"Subject: {message['Subject']}\n\n{message.get_body(('plain',)).get_content()}"
        rendered[f"{kind}.html"] = message.get_body(("html",)).get_content()
    assert {name.split(".")[0] for name in rendered} == {"accepted", "rejected", "needs_review", "contest_unknown",
                                                         "duplicate", "change", "late"}
    if os.environ.get("INBOX_DAEMON_UPDATE_DOCS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (DOCS / name).write_text(text, encoding="utf-8")
    for name, text in rendered.items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, f"docs/replies/{name} is stale"


@pytest.mark.parametrize("mode", ["tls", "none"])
def test_implicit_tls_and_plain_loopback_smtp(tmp_path, tls_cert, monkeypatch, clips, mode):
    from servers import SmtpSink

    sink = SmtpSink(tls_cert, mode=mode)
    sink.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SmtpSink.PASSWORD)
    try:
        config = maildir_config(tmp_path, [entry(clips["170"], "a@qq.com")],
                                smtp_section(sink, security=mode, host="localhost" if mode == "tls" else "127.0.0.1"))
        store = Store.from_config(config)
        poll_all(config, store)
        assert drain(store, config.smtp).sent == 1
    finally:
        sink.stop()
    assert [str(m["To"]) for m in sink.bodies()] == ["a@qq.com"]


def test_wrong_smtp_password_is_retried_not_lost(tmp_path, smtp_sink, clips, monkeypatch):
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    config = maildir_config(tmp_path, [entry(clips["170"], "a@qq.com")], smtp_section(smtp_sink))
    store = Store.from_config(config)
    poll_all(config, store)
    result = drain(store, config.smtp)
    [row] = store.db.query("SELECT status, last_error FROM outbox")
    assert (result.retried, row["status"]) == (1, "queued") and "登录被拒绝" in row["last_error"]
    assert smtp_sink.messages == []


def test_requeue_after_a_rule_change_tells_the_sender(tmp_path, smtp_sink, clips):
    import shutil

    from conftest import RULES

    from inbox_daemon.staff import requeue, select_messages

    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES, rules_dir)
    config = maildir_config(tmp_path, [entry(clips["200"], "b@163.com")], smtp_section(smtp_sink),
                            rules={"dir": str(rules_dir)})
    store = Store.from_config(config)
    poll_all(config, store)
    drain(store, config.smtp)
    path = rules_dir / "micro_video.toml"  # the organizers allow 4 minutes after all
    path.write_text(path.read_text(encoding="utf-8").replace("max_duration_s = 180", "max_duration_s = 240"),
                    encoding="utf-8")
    context = Context.from_config(config, load_rules(rules_dir))
    [change] = requeue(store, context, select_messages(store, rule="video_too_long"))
    assert (change.before, change.after) == ("rejected", "accepted")
    requeue(store, context, select_messages(store, receipts=("WSP-2022-0001",)))  # nothing changes: no mail
    drain(store, config.smtp)
    subjects = [str(m["Subject"]) for m in smtp_sink.bodies()]
    assert len(subjects) == 2 and subjects[1] == "【结果更新】回执号 WSP-2022-0001：未通过 → 已登记"


def test_a_reply_to_our_reply_is_merged_by_in_reply_to(tmp_path, smtp_sink, clips):
    """QQ's "回复：" may drop our subject: the In-Reply-To naming our reply is enough."""
    config = maildir_config(tmp_path, [entry(clips["170"], "a@qq.com", lines=GOOD[:3] + GOOD[4:])],
                            smtp_section(smtp_sink))
    store = Store.from_config(config)
    poll_all(config, store)
    drain(store, config.smtp)
    [ours] = smtp_sink.bodies()
    assert ours["Subject"].startswith("【需修改】")
    mailbox.Maildir(tmp_path / "Maildir").add(compose(
        sender="a@qq.com", subject="回复：你好", body="联系电话：13873881234",
        headers={"In-Reply-To": ours["Message-ID"], "References": ours["Message-ID"]},
        received=datetime(2022, 8, 21, tzinfo=CST)))
    poll_all(config, store)
    drain(store, config.smtp)
    latest = store.register.entry("WSP-2022-0001")
    assert latest["outcome"] == "accepted" and json.loads(latest["fields"])["phone"] == "13873881234"
    assert smtp_sink.bodies()[-1]["Subject"] == "【已收到】微视频比赛作品登记成功 回执号 WSP-2022-0001"


def test_the_daily_limit_counts_the_address_replies_really_go_to(tmp_path, clips):
    """A Reply-To we cannot answer (no dotted domain) falls back to From; the limit must count From then."""
    messages = [entry(clips["170"] + bytes(i), "eager@qq.com", subject=f"微视频比赛 第{i}稿",
                      headers={"Reply-To": "team@localhost"}) for i in range(4)]
    config = maildir_config(tmp_path, messages, {"transport": "file", "outbox_dir": str(tmp_path / "out"),
                                                 "daily_limit": 2})
    store = Store.from_config(config)
    poll_all(config, store)
    kinds = [r["kind"] for r in store.db.query("SELECT kind FROM outbox WHERE status = 'queued' ORDER BY id")]
    assert kinds == ["accepted", "accepted", "limit"]
    assert {r["to_addr"] for r in store.db.query("SELECT to_addr FROM outbox")} == {"eager@qq.com"}


# -- what the replies say (pure: a Maildir, the file transport, a 3-second clip from tests/data) ------------

CLIP = (Path(__file__).parent / "data" / "clip-3s-320x240.mp4").read_bytes()
ISO_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def replies_for(tmp_path: Path, messages: list[bytes], contests=("micro_video", "photo", "bookhouse")) -> dict:
    """Judge `messages` and return each reply as sent (.eml), by its kind."""
    import email
    import email.policy

    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    for raw in messages:
        box.add(raw)
    config = load_config(write_config(tmp_path, [{"name": "local", "source": "maildir", "path": str(path),
                                                  "contests": list(contests)}],
                                      smtp={"transport": "file", "outbox_dir": str(tmp_path / "out")}))
    store = Store.from_config(config)
    poll_all(config, store)
    drain(store, config.smtp)
    found = {}
    for eml in sorted((tmp_path / "out").glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        found.setdefault(message["X-Inbox-Daemon"].split()[0], []).append(message)
    return found


def texts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def shown(message) -> tuple[str, str]:
    """The plain part, and the words of the HTML part as a reader sees them."""
    plain, html = texts(message)
    return plain, re.sub(r"<[^>]+>", "", re.sub(r"<head>.*?</head>", "", html, flags=re.S))


def test_a_late_entry_is_told_it_cannot_be_accepted_and_not_asked_to_fix_anything(tmp_path):
    late = compose(sender="peng@qq.com", sender_name="彭涛", subject="微视频比赛作品《夜班》", body="\n".join(GOOD[:3]),
                   attachments=[("夜班.mp4", CLIP, MP4)], received=datetime(2022, 10, 3, 10, 12, tzinfo=CST))
    [reply] = replies_for(tmp_path, [late])["late"]
    assert reply["Subject"] == "【未能受理】微视频比赛作品在截止时间后收到 回执号 WSP-2022-0001"
    for part in shown(reply):
        assert "2022年10月3日 10:12 收到" in part and "征集截止时间（2022年9月30日 23:59）" in part
        assert "不能受理" in part
        for asking in ("修改", "请按下面的格式", "请回复", "直接回复本邮件", "作者姓名：", "缺少"):
            assert asking not in part, asking  # nothing to fix, no fill-in block


def test_one_date_format_in_every_reply(tmp_path):
    """Deadlines and receive times, in the reply's own text and inside the findings it quotes."""
    messages = [
        compose(sender="a@qq.com", subject="微视频比赛《守护》", body="\n".join(GOOD[:3] + GOOD[4:]),
                attachments=[("守护.mp4", CLIP, MP4)], received=datetime(2022, 8, 20, 9, 0, tzinfo=CST)),
        compose(sender="b@qq.com", subject="微视频比赛《早来》", body="\n".join(GOOD),
                attachments=[("早.mp4", CLIP + b"e", MP4)], received=datetime(2022, 7, 20, 9, 0, tzinfo=CST)),
        compose(sender="c@qq.com", subject="微视频比赛《迟来》", body="\n".join(GOOD),
                attachments=[("迟.mp4", CLIP + b"l", MP4)], received=datetime(2022, 10, 8, 9, 0, tzinfo=CST)),
    ]
    replies = replies_for(tmp_path, messages)
    assert set(replies) == {"rejected", "needs_review", "late"}
    for kind, [reply] in replies.items():
        for part in (str(reply["Subject"]), *shown(reply)):
            assert not ISO_MINUTE.search(part), (kind, ISO_MINUTE.search(part)[0])
            assert not re.search(r"年0\d月|月0\d日", part), kind
    assert "早于征集开始时间 2022年8月1日 00:00" in texts(replies["needs_review"][0])[0]


def test_the_bookhouse_is_an_application_not_a_work(tmp_path):
    form = media.make_docx("最美职工书屋申报表", [["申报单位", "新化县总工会"], ["职工书屋名称", "新化县总工会职工书屋"]])
    raw = compose(sender="xhgh@163.com", sender_name="新化县总工会", subject="最美职工书屋申报", body="附件为申报表",
                  attachments=[("附件3 最美职工书屋申报表.docx", form, DOCX)])
    [reply] = replies_for(tmp_path, [raw])["accepted"]
    assert reply["Subject"] == "【已收到】“最美职工书屋”申报材料登记成功 回执号 SW-2022-0001"
    for part in shown(reply):
        assert "您提交的“最美职工书屋”申报材料已" in part
        assert "投稿" not in part and "作品" not in part


def test_the_fill_in_block_is_plain_lines_that_wrap(tmp_path):
    raw = compose(sender="b@163.com", subject="微视频比赛《守护》", body="\n".join(GOOD[:3] + GOOD[4:]),
                  attachments=[("守护.mp4", CLIP, MP4)], received=datetime(2022, 8, 20, 9, 0, tzinfo=CST))
    [reply] = replies_for(tmp_path, [raw])["rejected"]
    plain, html = texts(reply)
    assert "<pre" not in html and 'name="viewport"' in html
    assert '<div style="white-space:pre-wrap">联系电话：</div>' in html
    assert "\n联系电话：\n" in plain and "\n作品名称：守护\n" in plain


@pytest.fixture(scope="module")
def browser():
    chromium = Browser()
    yield chromium
    chromium.close()


def test_replies_on_a_desktop_and_a_phone(tmp_path, browser):
    """The HTML part of a rejected, a late and an accepted reply in a real Chromium at 1280 and 390 px:
    nothing wider than a phone's screen, the long bio and the fill-in block wrapped."""
    long_unit = "工作单位：湖南省娄底市中心医院心血管内科重症监护室护理部第二护理小组（夜班）暨娄底市职工阅读推广志愿服务队"
    messages = [
        compose(sender="a@qq.com", sender_name="李娜", subject="微视频比赛《守护》", body="\n".join(GOOD),
                attachments=[("守护.mp4", CLIP, MP4)], received=datetime(2022, 8, 20, 9, 0, tzinfo=CST)),
        compose(sender="b@163.com", sender_name="王磊", subject="微视频比赛《钢花》",
                body="\n".join(["作品名称：钢花", "作者姓名：王磊", "性别：男", long_unit, GOOD[5]]),
                attachments=[("钢花.mp4", CLIP + b"b", MP4)],
                received=datetime(2022, 8, 21, 9, 0, tzinfo=CST)),
        compose(sender="c@qq.com", sender_name="彭涛", subject="微视频比赛作品《夜班》", body="\n".join(GOOD),
                attachments=[("夜班.mp4", CLIP + b"c", MP4)], received=datetime(2022, 10, 3, 10, 12, tzinfo=CST)),
    ]
    replies = replies_for(tmp_path, messages)
    for kind in ("rejected", "late", "accepted"):
        page = tmp_path / f"{kind}.html"
        page.write_text(texts(replies[kind][0])[1], encoding="utf-8")
        phone = browser.facts(page, 390)
        assert phone["innerWidth"] == 390 and phone["scrollWidth"] <= 390 and phone["wide"] == [], (kind, phone)
        assert phone["pre"] == 0
        for width in WIDTHS:
            shot = tmp_path / f"reply-{kind}-{width}.png"
            image = browser.shot(page, shot, width)
            assert image.width == width and len(image.getcolors(maxcolors=1 << 20) or []) > 20
            keep(shot, f"reply-{kind}-{width}.png")
    assert "联系电话：" in browser.facts(tmp_path / "rejected.html", 390)["text"]
