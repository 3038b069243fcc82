"""Issue 12, real mail round two: each new rule id and each new section of RULES.md, a realistic message that
triggers it and a close variant that must not, in the MIME shapes of Outlook, Coremail, QQ, Foxmail, Gmail and
Thunderbird (tests/mailshapes.py).

Pure: parse -> classify -> extract -> judge, no server, through `entryflow.decide` (the wiring the pipeline is
meant to do with these functions).
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest
from entryflow import IN_WINDOW, RULESET, decide
from mailshapes import (COMMITTEE, PUBLICITY, File, Original, coremail, foxmail, gmail, outlook, qq, reply_headers,
                        thunderbird)

from inbox_daemon.classify import reply_intent, withdrawal_requested
from inbox_daemon.demo import media
from inbox_daemon.judge import judge
from inbox_daemon.parse import entry_mail, parse_message
from inbox_daemon.probe import Probe

PUBLICITY_CONTESTS = ("photo", "bookhouse", "activity_report")
BIO = ("本人是涟钢炼钢厂转炉工段的一名炉前工，从业十五年，曾获“娄底市技术能手”称号。作品《炉火》用三分钟记录了一个夜班的出钢过程，"
       "从测温取样到出钢合金化，展现了钢铁工人守护炉火、精益求精的工匠精神，也记录了班组师徒之间的传承与协作。")
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"  # sniffed as video; mediainfo finds no track
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def fake_video(n: int = 0) -> bytes:
    return MP4_HEAD + bytes(4000 + n)


PHOTO_LINES = ["作品名称：《炉前》", "作者：周军", "作者单位：涟钢炼钢厂", "联系方式：18973851234",
               "作品简介：出钢前的测温取样，火花四溅，炉前工神情专注。", "拍摄时间：2022年6月18日", "拍摄地点：涟钢炼钢厂转炉车间"]
VIDEO_LINES = ["作品名称：炉火", "作者姓名：刘建军", "性别：男", "联系电话：13973856789", "工作单位：涟钢炼钢厂",
               f"作者及作品简介：{BIO}"]


# -- MIME structure: Outlook's signature logo is decoration, never a work -------------------------------------


def test_outlook_logo_is_not_a_second_photo(photos):
    raw = outlook(sender="zhoujun@vip.163.com", name="周军", subject="摄影比赛投稿《炉前》", lines=PHOTO_LINES,
                  files=[File("炉前.jpg", photos["one"], "image/jpeg")], to=PUBLICITY)
    decided = decide(raw, PUBLICITY_CONTESTS)
    [logo] = [a for a in decided.mail.attachments if a.filename == "image001.png"]
    assert logo.decoration and not logo.is_file
    assert [a.filename for a in decided.entry.attachments] == ["炉前.jpg"]
    assert (decided.contest, decided.outcome, decided.rule_ids) == ("photo", "accepted", [])
    # The close variant: the same PNG attached as a file (not in the HTML body) is a file, and judged.
    attached = outlook(sender="zhoujun@vip.163.com", name="周军", subject="摄影比赛投稿《炉前》", lines=PHOTO_LINES,
                       files=[File("炉前.jpg", photos["one"], "image/jpeg"),
                              File("image001.png", decided.mail.attachments[0].data or logo_bytes(decided), "image/png")],
                       logo=False, to=PUBLICITY)
    again = decide(attached, PUBLICITY_CONTESTS)
    assert "photo_set_size" in again.rule_ids and "attachment_type" in again.rule_ids


def logo_bytes(decided) -> bytes:
    from entryflow import BLOBS
    return BLOBS.get("att", next(a.sha256 for a in decided.mail.attachments if a.filename == "image001.png"))


def test_outlook_video_without_keyword_is_routed_by_its_attachment():
    raw = outlook(sender="liujj@lysteel.com", name="刘建军", subject="投稿", lines=VIDEO_LINES[:5],
                  files=[File("炉火.mp4", fake_video(), "video/mp4")])
    decided = decide(raw, ("micro_video", "photo"))
    assert decided.contest == "micro_video"  # the logo would have made it {video, image}: not routable
    no_logo_but_photo = outlook(sender="liujj@lysteel.com", name="刘建军", subject="投稿", lines=VIDEO_LINES[:5],
                                logo=False, files=[File("炉火.mp4", fake_video(), "video/mp4"),
                                                   File("剧照.jpg", media.make_jpeg(width=64, height=48), "image/jpeg")])
    assert decide(no_logo_but_photo, ("micro_video", "photo")).contest is None  # a real image: ask


def test_a_large_image_pasted_into_the_body_stays_a_work(photos):
    """QQ keeps the original of a pasted photo: over DECORATION_MAX it is the entry, not a logo."""
    from email.mime.image import MIMEImage
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    related = MIMEMultipart("related")
    related.attach(MIMEText('<div>作品名称：炉前</div><img src="cid:photo1@qq.com">', "html", "utf-8"))
    image = MIMEImage(photos["one"], "jpeg")
    image["Content-ID"] = "<photo1@qq.com>"
    image.add_header("Content-Disposition", "inline", filename="炉前.jpg")
    related.attach(image)
    related["From"], related["Subject"] = "a@qq.com", "摄影比赛"
    [photo] = parse_message(related.as_bytes()).attachments
    assert not photo.decoration and photo.is_file
    small = MIMEImage(media.make_jpeg(width=40, height=30), "jpeg")
    small["Content-ID"] = "<photo1@qq.com>"
    related.set_payload([related.get_payload(0), small])
    assert parse_message(related.as_bytes()).attachments[0].decoration


# -- Forwarded entries ---------------------------------------------------------------------------------------

WORKER = Original("wangxh@qq.com", "王小红", "微视频比赛《守护》",
                  ("作品名称：守护", "作者姓名：王小红", "性别：女", "联系电话：13873881234",
                   "工作单位：双峰县人民医院", f"作者及作品简介：{BIO}"))
UNION_NOTE = ["转发我县职工王小红的参赛作品，视频见附件，请查收。", "双峰县总工会 宣教部", "联系电话：0738-6821234"]

FORWARDS = {
    "qq-原始邮件": lambda files: qq(sender="sfxzgh@qq.com", name="双峰县总工会", subject="转发：微视频比赛《守护》",
                                   lines=UNION_NOTE, forward=WORKER, files=files),
    "qq-转发邮件信息": lambda files: qq(sender="sfxzgh@qq.com", name="双峰县总工会", subject="转发：微视频比赛《守护》",
                                       lines=UNION_NOTE, forward=WORKER, forward_style="转发邮件信息", files=files),
    "coremail": lambda files: coremail(sender="sfxzgh@163.com", name="双峰县总工会", subject="转发：微视频比赛《守护》",
                                       lines=UNION_NOTE, forward=WORKER, files=files, to=COMMITTEE),
    "foxmail": lambda files: foxmail(sender="sfxzgh@qq.com", name="双峰县总工会", subject="转发: 微视频比赛《守护》",
                                     lines=UNION_NOTE, forward=WORKER, files=files),
    "outlook": lambda files: outlook(sender="sfxzgh@sf.gov.cn", name="双峰县总工会", subject="转发: 微视频比赛《守护》",
                                     lines=UNION_NOTE, forward=WORKER, files=files),
    "outlook-original-message": lambda files: outlook(
        sender="sfxzgh@sf.gov.cn", name="双峰县总工会", subject="FW: 微视频比赛《守护》", lines=UNION_NOTE,
        forward=WORKER, english_forward=True, files=files),
    "gmail": lambda files: gmail(sender="sfxzgh@gmail.com", name="双峰县总工会", subject="Fwd: 微视频比赛《守护》",
                                 lines=UNION_NOTE, forward=WORKER, files=files),
    "gmail-chinese": lambda files: gmail(sender="sfxzgh@gmail.com", name="双峰县总工会", subject="Fwd: 微视频比赛《守护》",
                                         lines=UNION_NOTE, forward=WORKER, chinese_ui=True, files=files),
    "thunderbird-attached": lambda files: thunderbird(sender="sfxzgh@126.com", name="双峰县总工会",
                                                      subject="Fwd: 微视频比赛《守护》", lines=UNION_NOTE,
                                                      forward=Original(**{**WORKER.__dict__, "files": tuple(files)})),
    "thunderbird-inline": lambda files: thunderbird(sender="sfxzgh@126.com", name="双峰县总工会",
                                                    subject="Fwd: 微视频比赛《守护》", lines=UNION_NOTE, forward=WORKER,
                                                    as_attachment=False, files=files),
}


@pytest.mark.parametrize("client", list(FORWARDS))
def test_a_forwarded_entry_is_the_workers_entry(client):
    raw = FORWARDS[client]([File("守护.mp4", fake_video(), "video/mp4")])
    decided = decide(raw)
    forwarded = decided.mail.forwarded
    assert forwarded is not None and forwarded.sender_name == "王小红" and forwarded.subject == "微视频比赛《守护》"
    if client != "foxmail":  # Foxmail shows only the name; the address is in a mailto link
        assert forwarded.sender == "wangxh@qq.com"
    assert decided.contest == "micro_video"
    assert decided.fields == {"title": "守护", "author": "王小红", "gender": "女", "phone": "13873881234",
                              "unit": "双峰县人民医院", "bio": BIO}
    assert [a.filename for a in decided.entry.attachments] == ["守护.mp4"]
    assert decided.mail.sender.startswith("sfxzgh@")  # the reply goes to the forwarder


def test_the_forward_names_the_worker_when_the_original_has_no_author_line():
    worker = Original("wangxh@qq.com", "王小红", "微视频比赛", ("作品名称：守护", "联系电话：13873881234"))
    decided = decide(qq(sender="sfxzgh@qq.com", name="双峰县总工会", subject="转发：微视频比赛", lines=UNION_NOTE,
                        forward=worker, files=[File("守护.mp4", fake_video(), "video/mp4")]))
    assert decided.fields["author"] == "王小红" and decided.fields["phone"] == "13873881234"
    # Never the union: its own note's phone is not the worker's either.
    assert "0738-6821234" not in decided.fields.values()


def test_a_reply_quoting_our_receipt_is_not_a_forward():
    receipt = Original(COMMITTEE, "组委会", "【已收到】WSP-2022-0007 微视频比赛", ("您的作品已登记。", "作品名称：守护"))
    raw = qq(sender="wangxh@qq.com", name="王小红", subject="回复：【已收到】WSP-2022-0007 微视频比赛",
             lines=["收到，谢谢！"], quote=receipt, extra=reply_headers("<r1@example.org>"))
    mail = parse_message(raw)
    assert mail.forwarded is None and entry_mail(mail).text == mail.text
    # The same block under a forward subject is a forward.
    forwarded = qq(sender="wangxh@qq.com", name="王小红", subject="转发：【已收到】WSP-2022-0007 微视频比赛",
                   lines=["联系电话：13873881299"], forward=receipt)
    assert parse_message(forwarded).forwarded is not None
    # ... but our own reply forwarded back to us is not an entry: the contestant's text on top is.
    own = entry_mail(parse_message(forwarded), own_addresses=(COMMITTEE,))
    assert own.text.startswith("联系电话：13873881299") and own.subject.startswith("转发：")


def test_files_from_either_message():
    """Thunderbird attaches the original whole: its video inside, the forward's own form beside it."""
    form = media.make_docx("附件1 阅读推广人风采展示作品申报表", [
        ["姓名", "所在单位及职务", "湘工惠/风芒/新娄底APP账号", "作品上传时间", "联系电话"],
        ["唐丽华", "娄底市图书馆 馆员", "xgh_tlh", "2022-09-14", "13873851234"]])
    worker = Original("tlh@qq.com", "唐丽华", "阅读推广人风采展示", ("视频见附件。",),
                      files=(File("诵读.mp4", fake_video(), "video/mp4"),))
    raw = thunderbird(sender="lyszgh@126.com", name="涟源市总工会", subject="Fwd: 阅读推广人风采展示", lines=["转发。"],
                      forward=worker, files=[File("附件1.docx", form, DOCX)])
    decided = decide(raw)
    assert sorted(a.filename for a in decided.entry.attachments) == ["诵读.mp4", "附件1.docx"]
    assert [a.forwarded for a in decided.mail.attachments if a.filename == "诵读.mp4"] == [True]
    assert decided.contest == "reading_promoter" and decided.fields["author"] == "唐丽华"
    assert "form_missing" not in decided.rule_ids


# -- Labelled values in HTML tables; 团队名称 as the author ---------------------------------------------------


def test_word_table_in_outlook_is_read_by_label():
    table = [["作品名称", "守护"], ["作者姓名（或团队名称）", "王小红"], ["性别", "女"], ["联系电话", "138 7388 1234"],
             ["工作单位或常住地址", "双峰县人民医院"], ["作者及作品简介", BIO], ["参赛赛道", "榜样奋斗者"]]
    decided = decide(outlook(sender="wangxh@sf.gov.cn", name="王小红", subject="微视频比赛投稿", table=table,
                             files=[File("守护.mp4", fake_video(), "video/mp4")]))
    assert decided.fields == {"title": "守护", "author": "王小红", "gender": "女", "phone": "13873881234",
                              "unit": "双峰县人民医院", "bio": BIO, "track": "榜样奋斗者"}
    # Labels the contest does not know give nothing (a layout table of a signature).
    plain = decide(outlook(sender="wangxh@sf.gov.cn", name="王小红", subject="微视频比赛投稿",
                           table=[["地址", ""], ["邮编", "417700"]], files=[File("守护.mp4", fake_video(), "video/mp4")]))
    assert "title" not in plain.fields


def test_excel_header_row_and_team_name_as_author():
    rows = [["序号", "作品名称", "团队名称", "联系电话", "工作单位", "作品简介"],
            ["1", "钢城夜色", "涟钢炼钢厂宣传小组", "13973851234", "涟钢炼钢厂", BIO]]
    decided = decide(coremail(sender="lgxc@163.com", name="涟钢炼钢厂", subject="微视频比赛 团队作品", to=COMMITTEE,
                              lines=["作品信息如下："], html_table=rows, files=[File("钢城夜色.mp4", fake_video(), "video/mp4")]))
    assert decided.fields["title"] == "钢城夜色" and decided.fields["team"] == "涟钢炼钢厂宣传小组"
    assert decided.fields["author"] == "涟钢炼钢厂宣传小组"  # 作者姓名（或团队名称）
    assert not any(r.startswith("field_missing") or r == "gender_invalid" for r in decided.rule_ids)
    person = decide(coremail(sender="lgxc@163.com", name="涟钢", subject="微视频比赛", to=COMMITTEE, lines=["见表"],
                             html_table=[rows[0][:2] + rows[0][3:], rows[1][:2] + rows[1][3:]],
                             files=[File("钢城夜色.mp4", fake_video(), "video/mp4")]))
    assert "field_missing:author" in person.rule_ids  # neither an author nor a team


# -- Chinese punctuation, full-width letters ------------------------------------------------------------------


def test_canonical_forms_keep_chinese_punctuation():
    lines = ["作品名称：“小小的我，大大的梦”", "作者姓名：ＬＩ　Ｎａ（李娜）", "性别：女", "联系电话：１３８７３８８１２３４",
             "工作单位：娄底市第一中学（初中部）", f"作者及作品简介：{BIO}"]
    decided = decide(qq(sender="lina@qq.com", name="李娜", subject="微视频比赛", lines=lines,
                        files=[File("梦.mp4", fake_video(), "video/mp4")]))
    assert decided.fields["title"] == "小小的我，大大的梦"
    assert decided.fields["author"] == "LI Na（李娜）" and decided.fields["phone"] == "13873881234"
    assert decided.fields["unit"] == "娄底市第一中学（初中部）" and decided.fields["bio"] == BIO


# -- Cloud links ------------------------------------------------------------------------------------------------


def test_baidu_link_with_code_is_a_large_attachment_link():
    lines = [*VIDEO_LINES, "视频文件较大，放在百度网盘：", "链接：https://pan.baidu.com/s/1Xk3vQ9-aBcD_ef2Hj 提取码：8k2p",
             "--来自百度网盘超级会员V3的分享"]
    decided = decide(coremail(sender="liujj@163.com", name="刘建军", subject="微视频比赛《炉火》", lines=lines,
                              to=COMMITTEE))
    assert decided.rule_ids == ["large_attachment_link"] and decided.outcome == "needs_review"
    assert decided.links[0]["name"] == "百度网盘" and decided.links[0]["code"] == "8k2p"
    mentioned = decide(coremail(sender="liujj@163.com", name="刘建军", subject="微视频比赛《炉火》",
                                lines=[*VIDEO_LINES, "视频稍后用百度网盘发送。"], to=COMMITTEE))
    assert mentioned.rule_ids == ["attachment_missing"]


# -- Paper forms, unreadable forms ------------------------------------------------------------------------------


def team_mail(form: File | None, extra_files=(), lines=None) -> bytes:
    lines = lines or ["团队名称：钢城读书会", "所在单位：涟钢工会", "团队人数：8人", "成立时间：2019年4月",
                      "负责人：李建国 主席", "联系电话：13807381234"]
    files = [File("钢城读书会.mp4", fake_video(), "video/mp4"), *([form] if form else []), *extra_files]
    return qq(sender="gcdsh@qq.com", name="李建国", subject="职工阅读团队风采展示 钢城读书会", lines=lines, files=files)


def test_a_photographed_paper_form_counts_as_the_form():
    scan = File("附件2 阅读团队申报表.jpg", media.make_jpeg(width=800, height=1100), "image/jpeg")
    decided = decide(team_mail(scan))
    assert decided.contest == "reading_team" and "form_missing" not in decided.rule_ids
    assert decided.fields["team"] == "钢城读书会"  # present, not read: the fields come from the body
    snapshot = File("活动现场.jpg", media.make_jpeg(width=800, height=600), "image/jpeg")
    assert "form_missing" in decide(team_mail(None, [snapshot])).rule_ids


def test_an_image_only_pdf_counts_as_the_form():
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (600, 800), (250, 250, 250)).save(out, "PDF")
    decided = decide(team_mail(File("申报表.pdf", out.getvalue(), "application/pdf")))
    assert "form_missing" not in decided.rule_ids


def test_form_unreadable_is_a_warning_and_the_form_is_still_present():
    contest = RULESET.contests["reading_team"]
    fields = {"team": "钢城读书会", "unit": "涟钢工会", "members": 8, "founded": "2019-04", "leader": "李建国",
              "phone": "13807381234"}
    video = Probe("v.mp4", "a" * 64, 10, "video", duration_s=120, width=1280, height=720)
    broken = Probe("附件2.docx", "b" * 64, 10, "document", readable=False, note="文件已损坏")
    verdict = judge(RULESET, contest, fields, {}, [video, broken], [], IN_WINDOW)
    assert [(f.id, f.severity) for f in verdict.findings] == [("form_unreadable", "warn")]
    assert verdict.outcome == "accepted" and "附件2.docx" in verdict.findings[0].message
    readable = Probe("附件2.docx", "b" * 64, 10, "document")
    assert judge(RULESET, contest, fields, {}, [video, readable], [], IN_WINDOW).findings == ()


# -- team_too_new -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("founded,too_new", [("2022年3月", True), ("2022年1月", True), ("2021年12月", False),
                                             ("2021-06-30", False), ("2022-01-01", True)])
def test_team_too_new(founded, too_new):
    form = media.make_xlsx(["序号", "团队名称", "所在单位", "团队人数", "成立时间", "负责人姓名、职务及联系电话"],
                           [[1, "新芽读书会", "娄底经开区某公司工会", 9, founded, "赵敏 主席 13807385678"]])
    decided = decide(team_mail(File("附件2.xlsx", form, XLSX), lines=["见附件"]))
    assert ("team_too_new" in decided.rule_ids) is too_new
    if too_new:
        finding = next(f for f in judge_findings(decided) if f.id == "team_too_new")
        assert finding.severity == "reject" and "2022年1月前成立" in finding.message


def judge_findings(decided):
    contest = RULESET.contests[decided.contest]
    return judge(RULESET, contest, decided.fields, {}, decided.probes, decided.links or [], IN_WINDOW).findings


# -- archives ---------------------------------------------------------------------------------------------------


def test_an_archive_that_cannot_be_opened_is_for_staff(photos):
    broken = zipfile_bytes({"1.jpg": photos["big"], "2.jpg": photos["big2"]})[:-200]  # cut short in transit
    decided = decide(coremail(sender="zj@163.com", name="周军", subject="摄影比赛 组照《炉前》", lines=PHOTO_LINES,
                              files=[File("组照.zip", broken, "application/zip")]), PUBLICITY_CONTESTS)
    assert decided.rule_ids == ["archive_unreadable"] and decided.outcome == "needs_review"
    whole = zipfile_bytes({f"{n}.jpg": photos[k] for n, k in enumerate(["big", "big2", "big3", "big4"])})
    ok = decide(coremail(sender="zj@163.com", name="周军", subject="摄影比赛 组照《炉前》", lines=PHOTO_LINES,
                         files=[File("组照.zip", whole, "application/zip")]), PUBLICITY_CONTESTS)
    assert ok.rule_ids == [] and ok.outcome == "accepted"


def zipfile_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_archive_unreadable_from_the_probe_note():
    """The forms developer's archive probes: kind archive, readable False, a Chinese note."""
    contest = RULESET.contests["photo"]
    rar = Probe("组照.rar", "c" * 64, 10, "archive", readable=False, note="压缩包已加密，需要密码")
    verdict = judge(RULESET, contest, {}, {}, [rar], [], IN_WINDOW)
    finding = next(f for f in verdict.findings if f.id == "archive_unreadable")
    assert "压缩包已加密" in finding.message and "组照.rar" in finding.message
    assert not {"attachment_missing", "attachment_type"} & {f.id for f in verdict.findings}


# -- photo_edited: the editors list, Chinese apps included -------------------------------------------------------


@pytest.mark.parametrize("software,edited", [("美图秀秀", True), ("MTXX 9.6.2 (美图秀秀)", True), ("醒图", True),
                                             ("Hypic 6.3.0", True), ("黄油相机", True), ("轻颜相机", True),
                                             ("Snapseed 2.0", True), ("Adobe Lightroom 7.4", True), ("PicsArt", True),
                                             ("美颜相机 11.2", True), ("Adobe Photoshop 23.0 (Windows)", True),
                                             ("HUAWEI P40 Pro", False), ("16.0.2", False), ("G9910ZCS2AUF2", False),
                                             ("MI 10 Camera", False)])
def test_photo_edited_by_the_editors_list(software, edited):
    contest = RULESET.contests["photo"]
    photo = Probe("a.jpg", "d" * 64, 2_500_000, "image", image_format="JPEG",
                  exif={"make": "HUAWEI", "model": "ELS-AN00", "software": software})
    fields = {"title": "炉前", "author": "周军", "unit": "涟钢", "phone": "18973851234", "description": "测温",
              "shot_time": "2022-06-18", "shot_place": "涟钢"}
    findings = judge(RULESET, contest, fields, {}, [photo], [], IN_WINDOW).findings
    assert ([f.id for f in findings] == ["photo_edited"]) is edited


def test_photo_edited_from_a_real_exif_tag(photos):
    meitu = media.make_jpeg(width=320, height=240, software="Meitu XiuXiu 9.5")
    camera = media.make_jpeg(width=320, height=240, software="Canon EOS 80D Firmware 1.0.3")
    edited = decide(qq(sender="zj@qq.com", name="周军", subject="摄影比赛", lines=PHOTO_LINES, to=PUBLICITY,
                       files=[File("炉前.jpg", meitu, "image/jpeg")]), PUBLICITY_CONTESTS)
    plain = decide(qq(sender="zj@qq.com", name="周军", subject="摄影比赛", lines=PHOTO_LINES, to=PUBLICITY,
                      files=[File("炉前.jpg", camera, "image/jpeg")]), PUBLICITY_CONTESTS)
    assert "photo_edited" in edited.rule_ids and "photo_edited" not in plain.rule_ids


# -- activity reports -------------------------------------------------------------------------------------------


def report_mail(subject: str, name="双峰县总工会", sender="sfxzgh@163.com") -> bytes:
    summary = media.make_docx("双峰县总工会“网聚职工正能量 争做中国好网民”主题活动情况总结", [["活动", "参与人数"], ["微视频比赛", "320"]],
                              ["8月以来，我县各级工会广泛发动……"])
    return coremail(sender=sender, name=name, subject=subject,
                    lines=["市总工会宣网部：", "现将我县主题活动开展情况总结及活动图片报送给你们，请审阅。", name,
                           "联系人：王干事  电话：8899"],  # no field rules: a short extension is no phone_invalid
                    files=[File("活动情况总结.docx", summary, DOCX),
                           *(File(f"活动照片{n}.jpg", media.make_jpeg(width=640, height=480, seed=n), "image/jpeg")
                             for n in range(3))])


def test_an_activity_report_is_accepted_with_its_unit():
    decided = decide(report_mail("双峰县总工会关于“网聚职工正能量 争做中国好网民”主题活动情况的总结"), PUBLICITY_CONTESTS)
    assert (decided.contest, decided.outcome, decided.rule_ids) == ("activity_report", "accepted", [])
    assert decided.fields["unit"] == "双峰县总工会"
    late = decide(report_mail("报送：娄底经开区工会联合会活动信息", name="经开区工会", sender="jkq@163.com"),
                  PUBLICITY_CONTESTS, received=datetime.fromisoformat("2022-10-08T09:00:00+08:00"))
    assert (late.contest, late.outcome, late.rule_ids) == ("activity_report", "accepted", ["late"])
    assert late.fields["unit"] == "娄底经开区工会联合会"


def test_a_photo_entry_in_the_same_mailbox_is_not_a_report(photos):
    decided = decide(coremail(sender="zj@163.com", name="周军", subject="摄影比赛投稿《炉前》", lines=PHOTO_LINES,
                              files=[File("炉前.jpg", photos["one"], "image/jpeg")]), PUBLICITY_CONTESTS)
    assert (decided.contest, decided.outcome) == ("photo", "accepted")
    # And the committee mailbox has no activity_report: the same report is not routed there.
    assert decide(report_mail("双峰县总工会活动情况总结")).contest != "activity_report"


# -- Replies that are not corrections; withdrawals --------------------------------------------------------------

RECEIPT = Original(COMMITTEE, "组委会", "【已收到】WSP-2022-0007 微视频比赛《守护》",
                   ("王小红，您好：", "您的作品已登记，回执号 WSP-2022-0007。"))


def answer(lines, client=qq, files=()) -> object:
    kwargs = dict(sender="wangxh@qq.com", name="王小红", subject="回复：【已收到】WSP-2022-0007 微视频比赛《守护》",
                  lines=lines, files=files, extra=reply_headers("<receipt-7@contest.example.org>"))
    if client is qq:
        kwargs["quote"] = RECEIPT
    return parse_message(client(**kwargs))


@pytest.mark.parametrize("lines,intent", [
    (["收到，谢谢！"], "thanks"),
    (["好的，辛苦了"], "thanks"),
    (["请问什么时候公布获奖名单？"], "question"),
    (["作品还需要在新娄底APP上传吗"], "question"),
    (["我想撤回这个作品，谢谢"], "withdrawal"),
    (["因个人原因申请取消参赛。"], "withdrawal"),
    (["联系电话：13873881299"], "correction"),
    (["电话写错了，应为 138 7388 1299，谢谢"], "correction"),
    (["作品名称：守护（修改版）"], "correction"),
])
def test_reply_intents(lines, intent):
    mail = answer(lines)
    has_work = any(a.kind in ("video", "image") for a in mail.files)
    assert reply_intent(mail, RULESET, RULESET.contests["micro_video"], has_work) == intent


def test_a_new_work_in_a_reply_is_a_correction_whatever_its_words():
    mail = answer(["撤回上一个，以这个为准"], files=[File("守护2.mp4", fake_video(1), "video/mp4")])
    assert reply_intent(mail, RULESET, RULESET.contests["micro_video"], True) == "correction"


@pytest.mark.parametrize("client", [coremail, outlook, foxmail, gmail])
def test_thanks_in_every_client_shape(client):
    mail = answer(["收到，谢谢"], client=client)
    assert reply_intent(mail, RULESET, RULESET.contests["micro_video"], False) == "thanks"


def test_withdrawal_words_in_a_bio_are_not_a_request():
    bio = "本人2015年退出现役后进入涟钢工作，" + BIO
    mail = parse_message(qq(sender="vet@qq.com", name="退役军人", subject="微视频比赛",
                            lines=[*VIDEO_LINES[:5], f"作者及作品简介：{bio}"],
                            files=[File("炉火.mp4", fake_video(), "video/mp4")]))
    assert not withdrawal_requested(mail, RULESET, has_work=True)
    request = parse_message(qq(sender="vet@qq.com", name="刘建军", subject="申请撤回作品 WSP-2022-0012",
                               lines=["组委会：本人申请撤回作品《炉火》，不再参赛。"]))
    assert withdrawal_requested(request, RULESET, has_work=False)


# -- not_a_submission -------------------------------------------------------------------------------------------


def test_invoice_spam_is_not_a_submission():
    xls = media.make_xlsx(["品名", "税率", "金额"], [["办公用品", "3%", 12000]])
    spam = qq(sender="kaipiao888@qq.com", name="李经理", subject="代开各地增值税发票",
              lines=["贵公司负责人您好：", "本公司可代开各地增值税专用发票、普通发票，税点低，可验证后付款。",
                     "联系人：李经理 13902341234"],
              files=[File("发票明细.xlsx", xls, XLSX)], to=PUBLICITY)
    decided = decide(spam, PUBLICITY_CONTESTS)
    assert decided.not_a_submission
    # Not spam: a bookhouse application that happens to say 发票 (its receipts) still names its contest.
    form = media.make_docx("附件3 最美职工书屋申报表", [["申报单位", "涟钢工会"], ["书屋名称", "钢城书屋"]])
    entry = coremail(sender="lggh@163.com", name="涟钢工会", subject="最美职工书屋申报",
                     lines=["申报表见附件，购书发票复印件随后补交。"], files=[File("申报表.docx", form, DOCX)])
    assert decide(entry, PUBLICITY_CONTESTS).contest == "bookhouse"


@pytest.mark.parametrize("lines,subject,expected", [
    (["请问你们办公室几点下班？"], "咨询", True),
    (["你好"], "", True),
    (["请问微视频比赛截止到哪天？"], "咨询", False),  # names a contest: routed, answered with what to send
    (["作品名称：守护", "作者：王小红"], "投稿", False),  # labelled fields
])
def test_stray_messages(lines, subject, expected):
    decided = decide(foxmail(sender="someone@qq.com", name="张三", subject=subject, lines=lines))
    assert decided.not_a_submission is expected


def test_a_work_without_any_words_is_still_a_submission():
    decided = decide(gmail(sender="someone@gmail.com", name="", subject="", lines=[],
                           files=[File("VID_20220820.mp4", fake_video(), "video/mp4")]))
    assert not decided.not_a_submission and decided.contest == "micro_video"


# -- with real videos (ffmpeg-made clips: integration) -----------------------------------------------------------


def test_a_work_and_its_making_of_are_for_staff_to_choose(clips):
    lines = [*VIDEO_LINES]
    two = decide(outlook(sender="liujj@lysteel.com", name="刘建军", subject="微视频比赛《炉火》", lines=lines,
                         files=[File("炉火.mp4", clips["170"], "video/mp4"), File("炉火-花絮.mp4", clips["200"], "video/mp4")]))
    assert (two.outcome, two.rule_ids) == ("needs_review", ["attachment_count"])  # the 200 s 花絮 is not judged as the work
    assert "“炉火.mp4”、“炉火-花絮.mp4”" in judge_findings(two)[0].message
    one = decide(outlook(sender="liujj@lysteel.com", name="刘建军", subject="微视频比赛《炉火》", lines=lines,
                         files=[File("炉火.mp4", clips["170"], "video/mp4")]))
    assert (one.outcome, one.rule_ids) == ("accepted", [])
    works = decide(outlook(sender="liujj@lysteel.com", name="刘建军", subject="微视频比赛《炉火》", lines=lines,
                           files=[File("炉火.mp4", clips["170"], "video/mp4"), File("炉火2.mp4", clips["200"], "video/mp4")]))
    assert works.rule_ids == ["attachment_count", "video_too_long"]  # two works: each meets the limits


def test_a_forward_as_attachment_with_its_video_is_judged_as_the_workers_entry(clips):
    worker = Original(**{**WORKER.__dict__, "files": (File("守护.mp4", clips["170"], "video/mp4"),)})
    decided = decide(thunderbird(sender="sfxzgh@126.com", name="双峰县总工会", subject="Fwd: 微视频比赛《守护》",
                                 lines=UNION_NOTE, forward=worker))
    assert (decided.contest, decided.outcome, decided.rule_ids) == ("micro_video", "accepted", [])
    assert decided.fields["author"] == "王小红" and decided.probes[0].duration_s == 170.0
