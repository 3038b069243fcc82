"""Issue 12 end to end, through Dovecot and a real SMTP server: a mixed batch of real-world shapes —
a county union forwarding a worker's photo entry, Outlook with its signature logo, an activity report,
invoice spam, a micro-video entry missing its phone and corrected after the deadline, a withdrawal
request and a thank-you answering our receipts — gets the outcomes, contests and rule ids RULES.md
says, and one reply each where RULES.md says so, none where it says not."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from conftest import imap_mailbox, smtp_section
from mailshapes import PUBLICITY, File, Original, coremail, outlook, qq, reply_headers

from inbox_daemon.demo import media
from inbox_daemon.ingest import poll_all
from inbox_daemon.send import drain
from inbox_daemon.store import Store

CST = timezone(timedelta(hours=8))
IN_TIME = datetime(2022, 9, 20, 9, 0, tzinfo=CST)
AFTER_DEADLINE = datetime(2022, 10, 5, 9, 0, tzinfo=CST)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
BIO = ("本人是涟钢炼钢厂转炉工段的一名炉前工，从业十五年，曾获“娄底市技术能手”称号。作品用三分钟记录了一个夜班的出钢过程，"
       "从测温取样到出钢合金化，展现了钢铁工人守护炉火、精益求精的工匠精神，也记录了班组师徒之间的传承与协作。")
PHOTO_LINES = ["作品名称：《炉前》", "作者：周军", "作者单位：涟钢炼钢厂", "联系方式：18973851234",
               "作品简介：出钢前的测温取样，火花四溅，炉前工神情专注。", "拍摄时间：2022年6月18日", "拍摄地点：涟钢炼钢厂转炉车间"]


def _video_lines(title: str, name: str, phone: str | None) -> list[str]:
    lines = [f"作品名称：{title}", f"作者姓名：{name}", "性别：男", "工作单位：涟钢炼钢厂", f"作者及作品简介：{BIO}"]
    return lines + ([f"联系电话：{phone}"] if phone else [])


def _replies(sink) -> dict[str, list]:
    found: dict[str, list] = {}
    for message in sink.bodies():
        found.setdefault(str(message["To"]), []).append(message)
    return found


def _row(store, sender):
    rows = [r for r in store.register.rows() if r["sender"] == sender]
    return rows[-1], rows


def test_a_mixed_batch_of_real_shapes_through_dovecot(dovecot, smtp_sink, config_for, photos, clips, monkeypatch):
    committee, password = dovecot.add_user()
    publicity, _ = dovecot.add_user()
    monkeypatch.setenv("TEST_IMAP_PASSWORD", password)
    config = config_for([imap_mailbox(dovecot, committee, name="committee", done_folder="已处理",
                                      contests=["micro_video", "reading_promoter", "reading_team"]),
                         imap_mailbox(dovecot, publicity, name="publicity", done_folder="已处理",
                                      contests=["photo", "bookhouse", "activity_report"])],
                        smtp=smtp_section(smtp_sink))
    store = Store.from_config(config)
    summary = media.make_docx("双峰县总工会“网聚职工正能量”活动情况总结", [["活动", "参与人数"], ["微视频征集", "320"]])
    worker = Original(sender="liming@qq.com", name="李明", subject="摄影比赛投稿《晨曦》", to=PUBLICITY,
                      lines=("作品名称：晨曦", "作者单位：双峰县水泥厂", "联系方式：13807381234",
                             "作品简介：清晨的厂区，第一批工人走进车间。", "拍摄时间：2022年7月2日", "拍摄地点：双峰县水泥厂"))
    dovecot.append(publicity, password, "INBOX", [
        coremail(sender="sfxzgh@163.com", name="双峰县总工会", subject="转发：摄影比赛投稿《晨曦》", forward=worker,
                 lines=["宣网部：转来我县职工李明的参赛作品，请查收。"], files=[File("晨曦.jpg", photos["one"], "image/jpeg")]),
        outlook(sender="zhoujun@vip.163.com", name="周军", subject="摄影比赛投稿《炉前》", lines=PHOTO_LINES,
                files=[File("炉前.jpg", photos["big"], "image/jpeg")], to=PUBLICITY),
        coremail(sender="sfxzgh2@163.com", name="双峰县总工会", subject="双峰县总工会活动情况总结报送",
                 lines=["宣网部：现将我县“网聚职工正能量 争做中国好网民”主题活动情况总结及图片报送如下。"],
                 files=[File("活动情况总结.docx", summary, DOCX), File("现场1.jpg", photos["small"], "image/jpeg")]),
        qq(sender="kaipiao888@qq.com", name="李经理", subject="代开各地增值税发票", to=PUBLICITY,
           lines=["贵公司负责人您好：", "本公司可代开各地增值税专用发票、普通发票，税点低，可验证后付款。"]),
    ], when=IN_TIME)
    dovecot.append(committee, password, "INBOX", [
        qq(sender="liujj@qq.com", name="刘建军", subject="微视频比赛《炉火》", lines=_video_lines("炉火", "刘建军", None),
           files=[File("炉火.mp4", clips["170"], "video/mp4")]),
        qq(sender="wangxh@qq.com", name="王小红", subject="微视频比赛《守护》",
           lines=_video_lines("守护", "王小红", "13973856789"), files=[File("守护.mp4", clips["170"] + b"\0", "video/mp4")]),
    ], when=IN_TIME)
    assert [r.failure for r in poll_all(config, store)] == [None, None]
    drain(store, config.smtp)
    first = _replies(smtp_sink)

    forwarded, _ = _row(store, "sfxzgh@163.com")
    assert (forwarded["contest"], forwarded["outcome"]) == ("photo", "accepted")
    assert json.loads(forwarded["fields"])["author"] == "李明"  # the worker, never the forwarding union
    assert len(first["sfxzgh@163.com"]) == 1  # the reply goes to the forwarder
    logo, _ = _row(store, "zhoujun@vip.163.com")
    assert (logo["outcome"], json.loads(logo["rules"])) == ("accepted", [])  # image001.png is no second work
    assert [a["filename"] for a in store.register.attachments(logo["id"])] == ["炉前.jpg"]
    report, _ = _row(store, "sfxzgh2@163.com")
    assert (report["contest"], report["outcome"]) == ("activity_report", "accepted")
    assert json.loads(report["fields"])["unit"].startswith("双峰县")
    assert len(first["sfxzgh2@163.com"]) == 1
    spam, _ = _row(store, "kaipiao888@qq.com")
    assert [f["id"] for f in json.loads(spam["rules"])] == ["not_a_submission"] and "kaipiao888@qq.com" not in first
    missing, _ = _row(store, "liujj@qq.com")
    assert (missing["outcome"], [f["id"] for f in json.loads(missing["rules"])]) == ("rejected", ["field_missing:phone"])
    accepted, _ = _row(store, "wangxh@qq.com")
    assert accepted["outcome"] == "accepted"

    # Answers to our replies: a correction after the deadline, a withdrawal request, a thank-you.
    def answering(address: str) -> dict:
        return reply_headers(str(first[address][0]["Message-ID"]))

    smtp_sink.messages.clear()
    dovecot.append(committee, password, "INBOX", [
        qq(sender="liujj@qq.com", name="刘建军", subject=f"回复：{first['liujj@qq.com'][0]['Subject']}",
           lines=["联系电话：13973851111"], extra=answering("liujj@qq.com")),
        qq(sender="wangxh@qq.com", name="王小红", subject=f"回复：{first['wangxh@qq.com'][0]['Subject']}",
           lines=["组委会：本人申请撤回作品《守护》，不再参赛。"], extra=answering("wangxh@qq.com")),
    ], when=AFTER_DEADLINE)
    dovecot.append(publicity, password, "INBOX", [
        outlook(sender="zhoujun@vip.163.com", name="周军", subject=f"答复: {first['zhoujun@vip.163.com'][0]['Subject']}",
                lines=["收到，谢谢！"], to=PUBLICITY, extra=answering("zhoujun@vip.163.com")),
    ], when=AFTER_DEADLINE)
    assert [r.failure for r in poll_all(config, store)] == [None, None]
    drain(store, config.smtp)
    second = _replies(smtp_sink)

    corrected, _ = _row(store, "liujj@qq.com")
    assert (corrected["receipt"], corrected["outcome"]) == (missing["receipt"], "accepted")  # first submission in time
    assert len(second["liujj@qq.com"]) == 1 and "登记成功" in str(second["liujj@qq.com"][0]["Subject"])
    withdrawn = store.register.entry(accepted["receipt"])
    assert withdrawn["outcome"] == "needs_review" and "withdrawal_request" in withdrawn["rules"]
    [ack] = second["wangxh@qq.com"]
    text = ack.get_body(("plain",)).get_content()
    assert "撤回" in text and "核实" in text and "已撤回" not in text  # staff act; nothing said to be done
    thanks, _ = _row(store, "zhoujun@vip.163.com")
    assert thanks["outcome"] == "ignored" and thanks["duplicate_of"] == logo["receipt"]
    assert store.register.entry(logo["receipt"])["outcome"] == "accepted"
    assert "zhoujun@vip.163.com" not in second  # a thank-you is not answered
    assert set(second) == {"liujj@qq.com", "wangxh@qq.com"}
