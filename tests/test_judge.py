"""Every rule id of RULES.md: a realistic message that triggers it and a close variant that must not.

Messages go through the real pipeline (parse, classify, extract, probe with
pymediainfo/Pillow, judge, record) on a real store; media are real files.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from conftest import RULES

from inbox_daemon.demo import media
from inbox_daemon.pipeline import Context, process
from inbox_daemon.rules import load_rules
from inbox_daemon.demo.samples import BIO, CST, PUBLICITY, compose
from inbox_daemon.staff import override, requeue, select_messages
from inbox_daemon.store import RawMessage, Store

MP4 = "video/mp4"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IN_WINDOW = datetime(2022, 8, 20, 10, 0, tzinfo=CST)


class Desk:
    """A store plus the real rules: submit raw mail, read back what was recorded."""

    def __init__(self, root: Path):
        self.store = Store(root / "inbox.db", root / "files")
        self.rules = load_rules(RULES)
        self.context = Context(self.rules, {"committee": ("micro_video", "reading_promoter", "reading_team"),
                                            "publicity": ("photo", "bookhouse"),
                                            "all": tuple(self.rules.contests)}, ("robot@example.org",))
        self.uid = 0

    def submit(self, raw: bytes, mailbox: str = "all", received: datetime = IN_WINDOW) -> dict:
        self.uid += 1
        pk, _ = self.store.record_raw(RawMessage(mailbox, "INBOX", 1, str(self.uid), raw, received))
        process(self.store, pk, self.context)
        row = self.store.register.message(pk)
        row["rule_ids"] = [f["id"] for f in json.loads(row["rules"] or "[]")]
        row["fields_"] = json.loads(row["fields"] or "{}")
        return row


@pytest.fixture
def desk(tmp_path):
    return Desk(tmp_path)


def salted(clip: bytes, n: int) -> bytes:
    """The same clip as a different file (trailing bytes after the last box): for tests of one sender each."""
    return clip + bytes(n)


def video_entry(clip: bytes, *, lines: list[str] | None = None, subject="微视频比赛《守护》", sender="a@qq.com",
                filename="守护.mp4", mimetype=MP4, **kwargs) -> bytes:
    lines = lines if lines is not None else ["作品名称：守护", "作者姓名：李娜", "性别：女", "联系电话：13873881234",
                                             "工作单位：娄底市中心医院", f"作者及作品简介：{BIO}"]
    return compose(sender=sender, subject=subject, body="\n".join(lines),
                   attachments=[(filename, clip, mimetype)] if clip else [], **kwargs)


def photo_entry(files: list[tuple[str, bytes, str]], lines: list[str] | None = None, sender="b@163.com", **kw) -> bytes:
    lines = lines if lines is not None else ["作品名称：炉前", "作者：周军", "作者单位：涟钢", "联系方式：18973851234",
                                             "作品简介：炉前测温取样。", "拍摄时间：2022年6月18日", "拍摄地点：涟钢"]
    return compose(sender=sender, to=PUBLICITY, subject="摄影比赛投稿", body="\n".join(lines), attachments=files, **kw)


# -- accepted examples, one per contest ---------------------------------------------------------------------


def test_accepted_micro_video(desk, clips):
    row = desk.submit(video_entry(clips["170"]), mailbox="committee")
    assert (row["outcome"], row["contest"], row["receipt"], row["rule_ids"]) == (
        "accepted", "micro_video", "WSP-2022-0001", [])
    assert row["fields_"] == {"title": "守护", "author": "李娜", "gender": "女", "phone": "13873881234",
                              "unit": "娄底市中心医院", "bio": BIO}
    assert "，" in row["fields_"]["bio"] and "," not in row["fields_"]["bio"]  # Chinese punctuation kept as written
    [video] = desk.store.register.attachments(row["id"])
    assert (video["kind"], video["duration_s"], video["width"], video["height"]) == ("video", 170.0, 1280, 720)


def test_accepted_photo_single_and_set_of_four_and_zip(desk, photos):
    single = desk.submit(photo_entry([("a.jpg", photos["one"], JPEG)]), mailbox="publicity")
    assert (single["outcome"], single["contest"], single["receipt"]) == ("accepted", "photo", "SY-2022-0001")
    assert single["fields_"]["shot_time"] == "2022-06-18"
    four = desk.submit(photo_entry([(f"{n}.jpg", photos[k], JPEG) for n, k in enumerate(["big", "big2", "big3", "big4"])],
                                   sender="c@163.com"), mailbox="publicity")
    assert (four["outcome"], four["rule_ids"]) == ("accepted", [])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for n, k in enumerate(["big", "big2", "big3", "big4"]):
            z.writestr(f"组照/{n}.jpg", photos[k])
    zipped = desk.submit(photo_entry([("组照.zip", archive.getvalue(), "application/zip")], sender="d@qq.com"),
                         mailbox="publicity")
    assert zipped["contest"] == "photo"
    assert zipped["rule_ids"] == ["duplicate_other_sender"]  # same four files as the set above
    kinds = [(a["kind"], json.loads(a["meta"]).get("inside")) for a in desk.store.register.attachments(zipped["id"])]
    assert kinds == [("archive", None)] + [("image", "组照.zip")] * 4


def test_accepted_reading_promoter_team_and_bookhouse(desk, clips):
    promoter_form = media.make_docx("阅读推广人风采展示作品申报表", [
        ["序号", "姓名", "所在单位及职务", "湘工惠/风芒/新娄底APP账号", "作品上传时间", "联系电话", "备注"],
        ["1", "唐丽华", "娄底市图书馆 馆员", "xgh_tlh", "2022-09-14", "138 7385 1234", ""]])
    row = desk.submit(compose(sender="t@qq.com", subject="阅读推广人风采展示", body="请查收",
                              attachments=[("v.mp4", clips["290"], MP4), ("附件1.docx", promoter_form, DOCX)]))
    assert (row["outcome"], row["contest"], row["receipt"]) == ("accepted", "reading_promoter", "YDR-2022-0001")
    assert row["fields_"]["author"] == "唐丽华" and row["fields_"]["phone"] == "13873851234"
    team_form = media.make_xlsx(["序号", "团队名称", "所在单位", "团队人数", "成立时间", "负责人姓名、职务及联系电话"],
                                [[1, "钢城读书会", "涟钢工会", 8, "2019-04", "李建国 主席 13807381234"]])
    row = desk.submit(compose(sender="u@163.com", subject="职工阅读团队 钢城读书会", body="见附件",
                              attachments=[("v.mp4", clips["170"], MP4), ("附件2.xlsx", team_form, XLSX)]))
    assert (row["outcome"], row["contest"]) == ("accepted", "reading_team")
    assert row["fields_"]["members"] == 8 and row["fields_"]["founded"] == "2019-04"
    assert row["fields_"]["phone"] == "13807381234"  # found in the leader's cell
    row = desk.submit(compose(sender="v@163.com", subject="最美职工书屋申报", body="见附件",
                              attachments=[("附件3.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "application/msword")]))
    assert (row["outcome"], row["contest"], row["receipt"]) == ("accepted", "bookhouse", "SW-2022-0001")


# -- one trigger and one near miss per rule id ----------------------------------------------------------------


def test_field_missing_and_team_needs_no_gender(desk, clips):
    row = desk.submit(video_entry(clips["170"], lines=["作品名称：守护", "作者姓名：李娜", "性别：女",
                                                       "工作单位：娄底市中心医院", f"简介：{BIO}"]))
    assert row["rule_ids"] == ["field_missing:phone"] and row["outcome"] == "rejected"
    team = desk.submit(video_entry(salted(clips["170"], 1), sender="team@qq.com", lines=[
        "作品名称：守护", "团队名称：护理部宣传小组", "联系电话：13873881234", "工作单位：娄底市中心医院", f"简介：{BIO}"],
        filename="t.mp4"))
    # 作者姓名（或团队名称）: the team is the author, and a team needs no gender
    assert (team["rule_ids"], team["fields_"]["author"]) == ([], "护理部宣传小组")


def test_phone_invalid_and_landline(desk, clips):
    bad = desk.submit(video_entry(clips["170"], lines=["作品名称：守护", "作者姓名：李娜", "性别：女", "联系电话：1387388",
                                                       "工作单位：娄底", f"简介：{BIO}"]))
    assert bad["rule_ids"] == ["phone_invalid"]
    ok = desk.submit(video_entry(clips["170"], sender="z@qq.com", lines=[
        "作品名称：守护", "作者姓名：李娜", "性别：女", "联系电话：0738－8313015", "工作单位：娄底", f"简介：{BIO}"]))
    assert ok["rule_ids"] == ["duplicate_other_sender"] and ok["fields_"]["phone"] == "0738-8313015"


@pytest.mark.parametrize("written,expected", [("保密", None), ("女士", "女"), ("Male", "男"), ("男性", "男")])
def test_gender_invalid_or_normalised(desk, clips, written, expected):
    row = desk.submit(video_entry(clips["170"], lines=["作品名称：守护", "作者姓名：李娜", f"性别：{written}",
                                                       "联系电话：13873881234", "工作单位：娄底", f"简介：{BIO}"]))
    if expected is None:
        assert row["rule_ids"] == ["gender_invalid"]
    else:
        assert row["rule_ids"] == [] and row["fields_"]["gender"] == expected


@pytest.mark.parametrize("length,rule", [(30, ["bio_too_short"]), (60, ["bio_length"]), (200, []), (450, ["bio_length"])])
def test_bio_length(desk, clips, length, rule):
    bio = (BIO * 3)[:length]
    row = desk.submit(video_entry(clips["170"], lines=["作品名称：守护", "作者姓名：李娜", "性别：女",
                                                       "联系电话：13873881234", "工作单位：娄底", f"作品简介：{bio}"]))
    assert row["rule_ids"] == rule


def test_attachment_missing_type_and_large_links(desk, clips, photos):
    assert desk.submit(video_entry(b""))["rule_ids"] == ["attachment_missing"]
    wrong = desk.submit(video_entry(b"ID3\x03" + bytes(4000), filename="配乐.mp3", mimetype="audio/mpeg"))
    assert wrong["rule_ids"] == ["attachment_type"]
    png = desk.submit(photo_entry([("a.png", photos["png"], "image/png")]))
    assert png["rule_ids"] == ["attachment_type"] and "PNG" in json.loads(png["rules"])[0]["message"]
    qq = desk.submit(video_entry(b"", lines=[
        "作品名称：守护", "作者姓名：李娜", "性别：女", "联系电话：13873881234", "工作单位：娄底", f"简介：{BIO}",
        "从QQ邮箱发来的超大附件", "守护.mp4 (286.5M, 2022年09月27日 10:12 到期)",
        "进入下载页面：https://mail.qq.com/cgi-bin/ftnExs_download?k=2a64&t=exs_ftn_download&code=9c1e"]))
    assert qq["rule_ids"] == ["large_attachment_link"] and qq["outcome"] == "needs_review"
    assert "286.5M" in qq["rules"] and "2022-09-27 10:12 到期" in qq["rules"]
    [link] = json.loads(qq["links"])  # kept for the digest, which shows the days left
    assert link["url"].startswith("https://mail.qq.com/cgi-bin/ftnExs_download?k=2a64")
    assert (link["size"], link["expires"]) == ("286.5M", "2022-09-27T10:12:00+08:00")
    netease = desk.submit(compose(sender="e@163.com", subject="微视频比赛《夜》", body="", html=(
        "<p>作品名称：夜</p><p>作者姓名：彭涛</p><p>性别：男</p><p>联系电话：13787381234</p><p>工作单位：三一</p>"
        f"<p>简介：{BIO}</p><div>从网易163邮箱发来的超大附件</div>"
        '<a href="https://mail.163.com/large-attachment-download/index.html?p=X&amp;file=Y">夜.mp4</a>'
        " (80.96M, 2022年10月17日 0:49 到期)")))
    assert netease["rule_ids"] == ["large_attachment_link"] and "80.96M" in netease["rules"]


def test_video_length_limits_per_contest(desk, clips):
    assert desk.submit(video_entry(clips["200"]))["rule_ids"] == ["video_too_long"]
    assert desk.submit(video_entry(clips["170"], sender="x@qq.com"))["rule_ids"] == []
    form = media.make_docx("申报表", [["姓名", "所在单位及职务", "联系电话"], ["唐丽华", "图书馆 馆员", "13873851234"]])
    for clip, expected in (("310", ["video_too_long"]), ("290", [])):
        row = desk.submit(compose(sender=f"r{clip}@qq.com", subject="阅读推广人风采展示", body="见附件",
                                  attachments=[("v.mp4", clips[clip], MP4), ("申报表.docx", form, DOCX)]))
        assert row["rule_ids"] == expected, clip


def test_video_unreadable_and_content_over_name(desk, clips):
    fake = desk.submit(video_entry(b"\x00\x00\x00\x18not really a movie" * 200, filename="作品.mp4"))
    assert fake["rule_ids"] == ["video_unreadable"]
    renamed = desk.submit(video_entry(clips["170"], filename="作品.dat", sender="y@qq.com"))
    assert renamed["rule_ids"] == []


def test_video_resolution_is_a_warning(desk, clips):
    low = desk.submit(video_entry(clips["low"]))
    assert (low["outcome"], low["rule_ids"]) == ("accepted", ["video_resolution"])


def test_photo_size_set_and_editing(desk, photos):
    assert desk.submit(photo_entry([("s.jpg", photos["small"], JPEG)]))["rule_ids"] == ["photo_too_small"]
    assert desk.submit(photo_entry([("b.jpg", photos["big"], JPEG)], sender="q@qq.com"))["rule_ids"] == []
    three = desk.submit(photo_entry([(f"{k}.jpg", photos[k], JPEG) for k in ("big2", "big3", "big4")], sender="w@qq.com"))
    assert three["rule_ids"] == ["photo_set_size"]
    edited = desk.submit(photo_entry([("ps.jpg", photos["ps"], JPEG)]))
    assert (edited["outcome"], edited["rule_ids"]) == ("needs_review", ["photo_edited"])
    assert "经过修图软件处理" in edited["rules"] and "EXIF" not in edited["rules"]  # no jargon for a worker
    assert desk.submit(photo_entry([("n.jpg", photos["noexif"], JPEG)]))["rule_ids"] == ["photo_edited"]


def test_form_missing_and_team_size(desk, clips):
    row = desk.submit(compose(sender="m@qq.com", subject="阅读推广人风采展示 唐丽华 13873851234", body="视频见附件",
                              attachments=[("v.mp4", clips["290"], MP4)]))
    assert row["contest"] == "reading_promoter" and "form_missing" in row["rule_ids"]
    for members, expected in ((5, ["team_too_small"]), (6, [])):
        form = media.make_xlsx(["团队名称", "所在单位", "团队人数", "成立时间", "负责人姓名、职务及联系电话"],
                               [[f"读书会{members}", "涟钢", members, "2020-05", "李 13807381234"]])
        row = desk.submit(compose(sender=f"team{members}@qq.com", subject="职工阅读团队", body="见附件",
                                  attachments=[(f"v{members}.mp4", clips["170"] + bytes(members), MP4),
                                               ("附件2.xlsx", form, XLSX)]))
        assert row["rule_ids"] == expected


def test_window_late_and_early(desk, clips):
    closes = datetime(2022, 9, 30, 23, 59, 59, tzinfo=CST)
    assert desk.submit(video_entry(clips["170"]), received=closes)["rule_ids"] == []
    late = desk.submit(video_entry(salted(clips["170"], 2), sender="l@qq.com"), received=datetime(2022, 10, 1, 0, 0, 1, tzinfo=CST))
    assert late["rule_ids"] == ["late"] and "2022-10-01 00:00" in late["rules"]
    early = desk.submit(video_entry(clips["low"]), received=datetime(2022, 7, 31, 23, 0, tzinfo=CST))
    assert early["rule_ids"] == ["early", "video_resolution"] and early["outcome"] == "needs_review"


def test_duplicates_same_sender_and_other_sender(desk, clips):
    first = desk.submit(video_entry(clips["170"]))
    again = desk.submit(video_entry(clips["170"], subject="再发一次 微视频"))
    assert again["rule_ids"] == ["duplicate_resubmission"] and again["receipt"] == first["receipt"]
    assert again["duplicate_of"] == first["receipt"] and again["outcome"] == "accepted"
    other = desk.submit(video_entry(clips["170"], sender="copycat@163.com"))
    assert other["rule_ids"] == ["duplicate_other_sender"] and other["receipt"] != first["receipt"]
    fresh = desk.submit(video_entry(clips["low"], sender="copycat@163.com"))
    assert "duplicate_other_sender" not in fresh["rule_ids"]


def test_correction_by_reply_completes_the_entry(desk, clips):
    first = desk.submit(video_entry(clips["170"], lines=["作品名称：守护", "作者姓名：李娜", "性别：女",
                                                         "工作单位：娄底市中心医院", f"简介：{BIO}"]))
    assert first["rule_ids"] == ["field_missing:phone"]
    reply = desk.submit(compose(sender="a@qq.com", subject=f"回复：【需补充】{first['receipt']} 微视频比赛",
                                body="联系电话：13873881234\n\n------------------ 原始邮件 ------------------\n缺少联系电话"))
    assert (reply["receipt"], reply["outcome"], reply["rule_ids"]) == (first["receipt"], "accepted", [])
    assert reply["fields_"]["title"] == "守护" and reply["fields_"]["phone"] == "13873881234"
    assert desk.store.register.entry(first["receipt"])["id"] == reply["id"]


def test_corrected_resubmission_after_rejection_keeps_the_receipt(desk, clips):
    first = desk.submit(video_entry(clips["170"], lines=["作品名称：守护", "作者姓名：李娜", "性别：保密",
                                                         "联系电话：13873881234", "工作单位：娄底", f"简介：{BIO}"]))
    assert first["outcome"] == "rejected"
    second = desk.submit(video_entry(clips["170"]))
    assert (second["receipt"], second["outcome"], second["rule_ids"]) == (first["receipt"], "accepted", [])


def test_contest_unknown_asks_and_body_keywords_route(desk):
    row = desk.submit(compose(sender="h@sina.com", subject="投稿", body="作品名称：我的作品\n你好，我想参加活动。"),
                      mailbox="committee")
    assert (row["outcome"], row["contest"], row["rule_ids"], row["receipt"]) == (
        "needs_review", None, ["contest_unknown"], "DQR-2022-0001")
    assert "微视频比赛" in row["rules"] and "摄影" not in row["rules"]  # only this mailbox's contests
    routed = desk.submit(compose(sender="h@sina.com", subject="投稿", body="这是我的微视频作品，请查收。"))
    assert routed["contest"] == "micro_video"
    ask = desk.submit(compose(sender="k@qq.com", subject="湘悦读·工力量 投稿", body="见附件"), mailbox="committee")
    assert ask["rule_ids"] == ["contest_unknown"] and "阅读推广人" in ask["rules"] and "微视频" not in ask["rules"]


@pytest.mark.parametrize("headers,subject,sender", [
    ({"Auto-Submitted": "auto-replied"}, "Re: 微视频比赛", "a@qq.com"),
    ({"X-Autoreply": "yes"}, "微视频比赛", "a@qq.com"),
    ({"Precedence": "bulk"}, "微视频比赛", "news@163.com"),
    ({"List-Id": "<union.lists.example>"}, "微视频比赛", "list@example.org"),
    ({}, "自动回复: 微视频比赛", "b@qq.com"),
    ({}, "Undeliverable: 微视频比赛", "postmaster@163.com"),
    ({}, "Delivery Status Notification (Failure)", "MAILER-DAEMON@qq.com"),
    ({"X-Inbox-Daemon": "reply"}, "【已收到】WSP-2022-0001", "x@qq.com"),
    ({}, "【已收到】WSP-2022-0001", "robot@example.org"),
])
def test_not_submissions_are_ignored(desk, headers, subject, sender):
    row = desk.submit(compose(sender=sender, subject=subject, body="作品名称：x", headers=headers))
    assert (row["outcome"], row["receipt"], row["rule_ids"]) == ("ignored", None, [])


def test_near_misses_of_ignoring(desk, clips):
    row = desk.submit(video_entry(clips["170"], headers={"Auto-Submitted": "no"}, subject="回复：微视频比赛《守护》"))
    assert row["outcome"] == "accepted"


def test_requeue_and_override_record_history(desk, clips):
    row = desk.submit(video_entry(clips["200"]))
    assert row["outcome"] == "rejected"
    pks = select_messages(desk.store, rule="video_too_long")
    assert pks == [row["id"]] and select_messages(desk.store, outcome="accepted") == []
    dry = requeue(desk.store, desk.context, pks, dry_run=True)
    assert dry[0].after == "rejected" and desk.store.register.message(row["id"])["outcome"] == "rejected"
    change = override(desk.store, row["receipt"], "accept", "剪辑版已通过邮件补发，人工核对")
    assert (change.before, change.after) == ("rejected", "accepted")
    [again] = requeue(desk.store, desk.context, pks)
    assert again.after == "accepted"  # the staff decision survives re-judging
    actions = [e["action"] for e in desk.store.db.query("SELECT action FROM events WHERE message=?", [row["id"]])]
    assert actions == ["judged", "override", "judged", "requeue"]


def test_attachments_decoded_straight_to_the_store_are_judged_the_same(tmp_path, photos, clips, monkeypatch):
    """Large bodies go to disk (in pieces over PIECE); photos, zips and videos are then probed from their
    files: every recorded attachment and verdict must be what the plain in-memory parse gives."""
    from inbox_daemon import parse

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for n, k in enumerate(["big", "big2", "big3", "big4"]):
            z.writestr(f"组照/{n}.jpg", photos[k])
    entries = [photo_entry([("a.jpg", photos["big"], JPEG)]),
               photo_entry([("组照.zip", archive.getvalue(), "application/zip")], sender="d@qq.com"),
               video_entry(clips["170"])]

    def judged(root: Path) -> list:
        desk = Desk(root)
        rows = [desk.submit(raw) for raw in entries]
        return [(r["outcome"], r["rule_ids"], [{k: v for k, v in a.items() if k not in ("id", "message")}
                                              for a in desk.store.register.attachments(r["id"])]) for r in rows]

    monkeypatch.setattr(parse, "PIECE", 100_003)
    spilled = judged(tmp_path / "spilled")
    monkeypatch.setattr(parse, "SET_ASIDE_OVER", 1 << 40)  # nothing set aside: the feed parser decodes all
    in_memory = judged(tmp_path / "memory")
    assert spilled == in_memory
    assert [a["kind"] for a in spilled[1][2]] == ["archive"] + ["image"] * 4
    assert spilled[0][2][0]["width"] and json.loads(spilled[0][2][0]["meta"])["image_format"] == "JPEG"
    assert len(list((tmp_path / "spilled" / "files" / "tmp").iterdir())) == 0  # no temp file left behind
