"""Field extraction over metadata blocks written the many ways people write them.

Each case is a whole message (as QQ Mail, 163, Foxmail, iPhone or Outlook
would send it, in its usual charset) parsed for real, then extracted.
"""

from __future__ import annotations

import pytest
from conftest import RULES

from inbox_daemon.extract import (canonical_date, canonical_fields, canonical_phone, canonical_title,
                                  extract_fields, label_key, labelled_values, new_text, normalise, table_values)
from inbox_daemon.parse import parse_message
from inbox_daemon.rules import load_rules
from inbox_daemon.demo.samples import compose

RULESET = load_rules(RULES)
QQ = dict(charset="gbk", label="gb2312", mailer="QQMail 2.x")
NETEASE = dict(charset="utf-8", mailer="Coremail Webmail Server")
FOXMAIL = dict(charset="gb18030", label="GB2312", mailer="Foxmail 7.2.25.254[cn]")
IPHONE = dict(charset="utf-8", mailer="iPhone Mail (19G82)")
OUTLOOK = dict(charset="utf-8", mailer="Microsoft Outlook 16.0")

CASES = [
    # (id, client, contest, subject, body, expected canonical fields)
    ("plain-fullwidth-colons", QQ, "micro_video", "微视频比赛",
     "作品名称：钢花\n作者姓名：王堃\n性别：男\n联系电话：13873881234\n工作单位：涟钢",
     {"title": "钢花", "author": "王堃", "gender": "男", "phone": "13873881234", "unit": "涟钢"}),
    ("ascii-colons", NETEASE, "micro_video", "微视频比赛",
     "作品名称: 钢花\n作者姓名: 王磊\n性别: 女\n联系电话: 13873881234",
     {"title": "钢花", "author": "王磊", "gender": "女", "phone": "13873881234"}),
    ("ideographic-spaces-in-labels", FOXMAIL, "micro_video", "微视频",
     "姓　　名：刘艳\n性　　别：女士\n电　　话：0738-5221234\n单　　位：冷水江市教育局",
     {"author": "刘艳", "gender": "女", "phone": "0738-5221234", "unit": "冷水江市教育局"}),
    ("several-fields-on-one-line-comma", QQ, "micro_video", "微视频",
     "作者：陈喆，性别：男，电话：138-7388-1234，单位：娄底三中",
     {"author": "陈喆", "gender": "男", "phone": "13873881234", "unit": "娄底三中"}),
    ("several-fields-semicolon", OUTLOOK, "photo", "摄影",
     "作者：陈辉；单位：中铁五局；电话：15173812345",
     {"author": "陈辉", "unit": "中铁五局", "phone": "15173812345"}),
    ("several-fields-enumeration-comma", NETEASE, "photo", "摄影",
     "作者：周军、作者单位：涟钢、联系方式：18973851234",
     {"author": "周军", "unit": "涟钢", "phone": "18973851234"}),
    ("several-fields-spaces", IPHONE, "micro_video", "微视频",
     "作者姓名：李娜  性别：女  联系电话：13873881234",
     {"author": "李娜", "gender": "女", "phone": "13873881234"}),
    ("title-in-book-brackets", QQ, "micro_video", "微视频", "作品名称：《守护万家灯火》", {"title": "守护万家灯火"}),
    ("title-in-chinese-quotes", NETEASE, "micro_video", "微视频", "作品名称：“白衣映初心”", {"title": "白衣映初心"}),
    ("title-in-ascii-quotes", OUTLOOK, "micro_video", "微视频", '作品名称："Night Shift"', {"title": "Night Shift"}),
    ("title-in-corner-brackets", FOXMAIL, "photo", "摄影", "作品名称：「炉前工」", {"title": "炉前工"}),
    ("subject-metadata", QQ, "micro_video", "微视频比赛+《初入职场第一年》+刘艳+冷水江市教育局", "见附件",
     {"title": "初入职场第一年", "author": "刘艳", "unit": "冷水江市教育局"}),
    ("subject-with-reply-prefix", NETEASE, "micro_video", "回复：微视频比赛-《钢花》-王磊-涟钢炼钢厂", "",
     {"title": "钢花", "author": "王磊", "unit": "涟钢炼钢厂"}),
    ("body-wins-over-subject", QQ, "micro_video", "微视频比赛+《旧名》+刘艳", "作品名称：新名",
     {"title": "新名", "author": "刘艳"}),
    ("synonym-labels-photo", FOXMAIL, "photo", "摄影",
     "作品题目：田间课堂\n摄影者：肖梅\n工作单位：双峰县农业农村局\n手机号：13973812345\n说明：讲解水稻病虫害防治\n"
     "拍摄日期：2022.7.22\n拍摄地：梓门桥镇",
     {"title": "田间课堂", "author": "肖梅", "unit": "双峰县农业农村局", "phone": "13973812345",
      "description": "讲解水稻病虫害防治", "shot_time": "2022-07-22", "shot_place": "梓门桥镇"}),
    ("phone-with-plus86", IPHONE, "photo", "摄影", "联系方式：+86 139-7381-2345", {"phone": "13973812345"}),
    ("phone-with-0086", OUTLOOK, "photo", "摄影", "联系电话：0086 13973812345", {"phone": "13973812345"}),
    ("phone-fullwidth-digits", QQ, "micro_video", "微视频", "联系电话：１３８７３８８１２３４", {"phone": "13873881234"}),
    ("landline-with-parentheses", FOXMAIL, "micro_video", "微视频", "电话：(0738)8313015", {"phone": "0738-8313015"}),
    ("gender-english", OUTLOOK, "micro_video", "微视频", "性别：F", {"gender": "女"}),
    ("gender-sir", NETEASE, "micro_video", "微视频", "性别：先生", {"gender": "男"}),
    ("bracket-labels", QQ, "micro_video", "微视频", "【作品名称】钢花\n【作者姓名】王磊\n【联系电话】13873881234",
     {"title": "钢花", "author": "王磊", "phone": "13873881234"}),
    ("bio-on-following-lines", NETEASE, "micro_video", "微视频",
     "作者及作品简介：\n本人是炼钢工人，\n从事炼钢工作十年。\n\n谢谢！",
     {"bio": "本人是炼钢工人，从事炼钢工作十年。"}),
    ("bio-continues-after-label-line", QQ, "micro_video", "微视频",
     "作品简介：本片记录夜班工人，\n展现坚守。\n联系电话：13873881234",
     {"bio": "本片记录夜班工人，展现坚守。", "phone": "13873881234"}),
    ("qq-quoted-original-ignored", QQ, "micro_video", "回复：微视频比赛",
     "联系电话：13873881234\n\n------------------ 原始邮件 ------------------\n发件人: \"组委会\"\n作品名称：旧作品\n"
     "联系电话：13000000000",
     {"phone": "13873881234"}),
    ("163-wrote-line-ignored", NETEASE, "micro_video", "Re: 微视频比赛",
     "作者姓名：王磊\n\n在 2022-08-16 10:12:00，\"组委会\" <382343653@qq.com> 写道：\n作者姓名：别人",
     {"author": "王磊"}),
    ("outlook-original-message-ignored", OUTLOOK, "photo", "RE: 摄影",
     "作者：陈辉\n\n-----Original Message-----\nFrom: ldghxjb@163.com\n作者：组委会", {"author": "陈辉"}),
    ("gt-quoted-lines-ignored", IPHONE, "micro_video", "Re: 微视频",
     "> 作者姓名：旧名\n作者姓名：新名\n> 性别：男\n性别：女", {"author": "新名", "gender": "女"}),
    ("iphone-signature-ignored", IPHONE, "micro_video", "微视频", "作者姓名：李娜\n\n发自我的iPhone", {"author": "李娜"}),
    ("dash-signature-ignored", FOXMAIL, "micro_video", "微视频",
     "作者姓名：李娜\n-- \n作者姓名：签名档里的名字", {"author": "李娜"}),
    ("team-members-and-founding", NETEASE, "reading_team", "阅读团队",
     "团队名称：钢城读书会\n所在单位：涟钢工会\n团队人数：８人\n成立时间：2019年4月\n负责人：李建国",
     {"team": "钢城读书会", "unit": "涟钢工会", "members": 8, "founded": "2019-04", "leader": "李建国"}),
    ("promoter-unit-and-duty", QQ, "reading_promoter", "阅读推广人",
     "姓名：唐丽华\n所在单位及职务：娄底市图书馆 馆员\n联系电话：13873851234",
     {"author": "唐丽华", "unit": "娄底市图书馆 馆员", "phone": "13873851234"}),
    ("rare-characters-gbk-in-gb2312", QQ, "micro_video", "微视频", "作者姓名：朱镕\n工作单位：喆堃㎜公司",
     {"author": "朱镕", "unit": "喆堃㎜公司"}),  # ㎜ is not full-width ASCII: kept
    ("html-only-qq", dict(QQ, html=True), "micro_video", "微视频",
     "<div>作品名称：<b>夜班</b></div><div>作者姓名：彭涛</div><div><span>联系电话：</span>13787381234</div>",
     {"title": "夜班", "author": "彭涛", "phone": "13787381234"}),
    ("html-table-163", dict(NETEASE, html=True), "photo", "摄影",
     "<table><tr><td>作品名称：</td><td>大桥合龙</td></tr><tr><td>作者：</td><td>陈辉</td></tr></table>",
     {"title": "大桥合龙", "author": "陈辉"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_extraction(case):
    _, client, contest_id, subject, body, expected = case
    client = dict(client)
    html = body if client.pop("html", False) else None
    raw = compose(sender="someone@qq.com", subject=subject, body="" if html else body, html=html, **client)
    mail = parse_message(raw)
    contest = RULESET.contests[contest_id]
    fields, _ = canonical_fields(extract_fields(mail.text, mail.subject, contest, RULESET.common), contest,
                                 RULESET.common)
    assert {k: fields.get(k) for k in expected} == expected


def test_at_least_thirty_metadata_blocks():
    assert len(CASES) >= 30
    assert {id(c[1]) for c in CASES if "html" not in c[1]} >= {id(QQ), id(NETEASE), id(FOXMAIL), id(IPHONE),
                                                                id(OUTLOOK)}


@pytest.mark.parametrize("raw,expected", [("13873881234", "13873881234"), ("138 7388 1234", "13873881234"),
                                          ("+8613873881234", "13873881234"), ("0738-8313015", "0738-8313015"),
                                          ("07388313015", "0738-8313015"), ("010-12345678", "010-12345678"),
                                          ("12873881234", None), ("1387388123", None), ("保密", None)])
def test_canonical_phone(raw, expected):
    assert canonical_phone(raw) == expected


@pytest.mark.parametrize("raw,expected", [("《钢花》", "钢花"), ("“《钢花》”", "钢花"), (" 钢花 ", "钢花"), ("钢《花》", "钢《花》")])
def test_canonical_title(raw, expected):
    assert canonical_title(raw) == expected


@pytest.mark.parametrize("raw,expected", [("2022年6月18日", "2022-06-18"), ("2022.7.22", "2022-07-22"),
                                          ("2019-04", "2019-04"), ("2022/13/01", None), ("去年", None)])
def test_canonical_date(raw, expected):
    assert canonical_date(raw) == expected


def test_new_text_keeps_only_what_was_written_now():
    text = "补充电话：13873881234\n发自我的iPhone\n\n------------------ 原始邮件 ------------------\n旧内容"
    assert new_text(text) == "补充电话：13873881234"


def test_labels_end_at_a_cell_boundary_and_tables_are_read_by_label():
    contest = RULESET.contests["micro_video"]
    assert labelled_values("作品名称\t守护\n联系电话 \t138 7388 1234", contest.fields) == {
        "title": "守护", "phone": "138 7388 1234"}
    pairs = [(("作品名称", "守护", "作者姓名（或团队名称）：", "王小红"), ("* 性别", "女", "", ""))]
    assert table_values(pairs, contest.fields) == {"title": "守护", "author": "王小红", "gender": "女"}
    header = [(("序号", "作品名称", "作者", "联系电话", "备注"), ("1", "守护", "王小红", "13873881234", ""))]
    assert table_values(header, contest.fields) == {"title": "守护", "author": "王小红", "phone": "13873881234"}
    pasted = "序号\t作品名称\t作者\n1\t夜班\t彭涛"
    assert extract_fields(pasted, "", contest, RULESET.common)["title"] == "夜班"
    assert table_values([(("邮编", "传真"), ("417000", "0738-8311111"))], contest.fields) == {}


def test_normalise_turns_only_full_width_letters_digits_and_spaces():
    assert normalise("ＡＢｃ１２３　，。：（）《》“”") == "ABc123 ，。：（）《》“”"
    assert label_key(" *作者姓名 ： ") == "作者姓名"
