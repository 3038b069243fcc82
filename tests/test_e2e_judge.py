"""End to end through a real Dovecot: mixed entries appended, `poll --once`, and the JSONL export."""

from __future__ import annotations

import json
from datetime import datetime

from conftest import PASSWORD_ENV, imap_mailbox, run_cli, write_config

from inbox_daemon.demo import media
from inbox_daemon.demo.samples import BIO, CST, PUBLICITY, compose

MP4, JPEG = "video/mp4", "image/jpeg"


def test_mixed_entries_through_dovecot_are_judged_and_exported(dovecot, tmp_path, clips, photos):
    committee, password = dovecot.add_user()
    publicity, _ = dovecot.add_user()
    august = datetime(2022, 8, 18, 9, 30, tzinfo=CST)
    good_lines = "作品名称：《守护》\n作者姓名：朱镕\n性别：男\n联系电话：138 7388 1234\n工作单位：娄底市中心医院\n" \
                 f"作者及作品简介：{BIO}"
    to_committee = [
        compose(sender="a@qq.com", subject="微视频比赛《守护》", body=good_lines, charset="gbk", label="gb2312",
                attachments=[("守护.mp4", clips["170"], MP4)], message_id="<e2e-accepted@qq.com>"),
        compose(sender="b@163.com", subject="短视频投稿", body=good_lines.replace("联系电话：138 7388 1234\n", ""),
                attachments=[("长.mp4", clips["200"], MP4)], message_id="<e2e-rejected@163.com>"),
        compose(sender="c@qq.com", subject="自动回复: 微视频比赛", body="休假中", message_id="<e2e-auto@qq.com>",
                headers={"Auto-Submitted": "auto-replied"}),
        compose(sender="d@sina.com", subject="投稿", body="作品名称：我的故事\n请问怎么参加", message_id="<e2e-unknown@sina.com>"),
        compose(sender="e@qq.com", subject="阅读推广人风采展示", body="视频和申报表见附件", message_id="<e2e-reader@qq.com>",
                attachments=[("推广.mp4", clips["290"], MP4), ("附件1.docx", media.make_docx("申报表", [
                    ["序号", "姓名", "所在单位及职务", "联系电话"], ["1", "唐丽华", "娄底市图书馆 馆员", "13873851234"]]),
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]),
    ]
    to_publicity = [
        compose(sender="f@163.com", to=PUBLICITY, subject="摄影比赛《炉前工》", message_id="<e2e-photo@163.com>",
                body="作品名称：炉前工\n作者：周军\n作者单位：涟钢\n联系方式：18973851234\n作品简介：测温取样\n"
                     "拍摄时间：2022年6月18日\n拍摄地点：涟钢", attachments=[("炉前工.jpg", photos["one"], JPEG)]),
        compose(sender="g@126.com", to=PUBLICITY, subject="摄影 组照", message_id="<e2e-edited@126.com>",
                body="作品名称：大桥\n作者：陈辉\n作者单位：中铁\n联系方式：15173812345\n作品简介：合龙\n"
                     "拍摄时间：2022-08-30\n拍摄地点：新化", attachments=[("ps.jpg", photos["ps"], JPEG)]),
    ]
    dovecot.append(committee, password, "INBOX", to_committee, when=august)
    dovecot.append(publicity, password, "INBOX", to_publicity, when=datetime(2022, 10, 25, 8, 0, tzinfo=CST))
    config = write_config(tmp_path, [
        imap_mailbox(dovecot, committee, name="committee", done_folder="已登记",
                     contests=["micro_video", "reading_promoter", "reading_team"]),
        imap_mailbox(dovecot, publicity, name="publicity", done_folder="已登记", contests=["photo", "bookhouse"]),
    ])
    env = {PASSWORD_ENV: password}
    polled = run_cli("--config", str(config), "poll", "--once", env=env)
    assert polled.returncode == 0, polled.stderr
    exported = run_cli("--config", str(config), "export", "--format", "jsonl", env=env)
    lines = {obj["message_id"]: obj for obj in map(json.loads, exported.stdout.splitlines())}

    def summary(message_id):
        obj = lines[message_id]
        return obj["outcome"], obj["contest"], [r["id"] for r in obj["rules"]]

    assert summary("<e2e-accepted@qq.com>") == ("accepted", "micro_video", [])
    accepted = lines["<e2e-accepted@qq.com>"]
    assert accepted["receipt"].startswith("WSP-2022-") and accepted["received_at"] == "2022-08-18T09:30:00+08:00"
    assert accepted["fields"] == {"title": "守护", "author": "朱镕", "gender": "男", "phone": "13873881234",
                                  "unit": "娄底市中心医院", "bio": accepted["fields"]["bio"]}
    assert accepted["attachments"][0]["duration_s"] == 170.0 and accepted["attachments"][0]["width"] == 1280
    assert summary("<e2e-rejected@163.com>") == ("rejected", "micro_video", ["field_missing:phone", "video_too_long"])
    assert summary("<e2e-auto@qq.com>") == ("ignored", None, [])
    assert lines["<e2e-auto@qq.com>"]["receipt"] is None
    assert summary("<e2e-unknown@sina.com>") == ("needs_review", None, ["contest_unknown"])
    assert summary("<e2e-reader@qq.com>") == ("accepted", "reading_promoter", [])
    assert lines["<e2e-reader@qq.com>"]["fields"]["author"] == "唐丽华"
    # Received 2022-10-25 by the server (INTERNALDATE), after the photo window closed on 10-20.
    assert summary("<e2e-photo@163.com>") == ("rejected", "photo", ["late"])
    assert summary("<e2e-edited@126.com>") == ("rejected", "photo", ["late", "photo_edited"])
    receipts = [obj["receipt"] for obj in lines.values() if obj["receipt"]]
    assert len(receipts) == len(set(receipts)) == 6
    assert dovecot.count(committee, password, "INBOX") == 0 and dovecot.count(publicity, password, "已登记") == 2
