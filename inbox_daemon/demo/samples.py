"""Sample contest entries written the way QQ Mail, 163, Foxmail, iPhone and Outlook write them.

`compose()` builds one raw message (also used by the tests); `sample_messages()`
is the demo set, receive times inside the notice's 2022 windows, so that the
embedded default shows accepted, rejected and needs_review entries side by side.
"""

from __future__ import annotations

import base64
import mailbox
from datetime import datetime, timedelta, timezone
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from pathlib import Path

from . import media

CST = timezone(timedelta(hours=8))
COMMITTEE = "382343653@qq.com"
PUBLICITY = "ldghxjb@163.com"


def encoded_word(text: str, label: str, codec: str | None = None) -> str:
    """An RFC 2047 B-word as clients write it; `codec` lets the bytes disagree with the label (GB2312 vs GBK)."""
    data = text.encode(codec or label)
    return f"=?{label}?B?{base64.b64encode(data).decode()}?="


def compose(*, sender: str, sender_name: str = "", to: str = COMMITTEE, subject: str = "", body: str = "",
            html: str | None = None, attachments: list[tuple[str, bytes, str]] = (),
            charset: str = "utf-8", label: str | None = None, received: datetime | None = None,
            message_id: str | None = None, filename_style: str = "rfc2231", headers: dict | None = None,
            mailer: str | None = None) -> bytes:
    """One raw message. `charset` encodes the text, `label` is what the headers claim (QQ: gb2312 for GBK)."""
    label = label or charset
    text = MIMEText(body, "plain", charset) if body or not html else None
    if text is not None and label != charset:
        text.set_param("charset", label)
    parts = []
    if html is not None:
        html_part = MIMEText(html, "html", charset)
        if label != charset:
            html_part.set_param("charset", label)
        if text is not None:
            alternative = MIMEMultipart("alternative")
            alternative.attach(text)
            alternative.attach(html_part)
            parts.append(alternative)
        else:
            parts.append(html_part)
    elif text is not None:
        parts.append(text)
    for filename, data, mimetype in attachments:
        maintype, _, subtype = mimetype.partition("/")
        part = MIMEApplication(data, subtype or "octet-stream")
        part.replace_header("Content-Type", f"{maintype}/{subtype}")
        if filename_style == "rfc2047":
            word = encoded_word(filename, "utf-8") if not filename.isascii() else filename
            part.add_header("Content-Disposition", "attachment", filename=word)
            part.set_param("name", word)
        else:
            value = ("utf-8", "", filename) if not filename.isascii() else filename
            part.add_header("Content-Disposition", "attachment", filename=value)
        parts.append(part)
    if len(parts) == 1 and not attachments:
        message = parts[0]
    else:
        message = MIMEMultipart("mixed")
        for part in parts:
            message.attach(part)
    received = received or datetime(2022, 8, 15, 10, 0, tzinfo=CST)
    domain = sender.rpartition("@")[2] or "example.com"
    message["Received"] = (f"from smtp.{domain} (unknown [183.60.8.2]) by mx.{to.rpartition('@')[2]} "
                           f"with ESMTPS id abc123 for <{to}>; {format_datetime(received)}")
    name = encoded_word(sender_name, label, charset) if sender_name and not sender_name.isascii() else sender_name
    message["From"] = f'"{name}" <{sender}>' if name else sender
    message["To"] = to
    message["Subject"] = (subject if subject.isascii() else encoded_word(subject, label, charset))
    message["Date"] = format_datetime(received - timedelta(seconds=40))
    message["Message-ID"] = message_id or make_msgid(domain=domain)
    message["MIME-Version"] = "1.0"
    if mailer:
        message["X-Mailer"] = mailer
    for key, value in (headers or {}).items():
        message[key] = value
    return message.as_bytes()


def _body(lines: list[str]) -> str:
    return "\r\n".join(lines) + "\r\n"


BIO = ("本人是娄底市第一人民医院心内科护士，从事护理工作十二年，先后获得市级“优秀护士”、“五一劳动奖章”等荣誉。"
       "作品《白衣映初心》记录了抗疫一线医护人员日夜坚守的平凡瞬间，用镜头讲述护理人在岗位上的坚持与温暖，"
       "展现新时代职工爱岗敬业、担当奉献的精神风貌，希望让更多人看到身边的奋斗者。")


# The demo's people: each with a unit, a work and a bio of their own, as the notice's contestants write them.
BIOS = {
    "zhu": ("朱镕，湖南华菱涟源钢铁有限公司热轧厂电气点检员，从业十五年，2021年获“娄底市五一劳动奖章”。"
            "作品《钢城追光者》记录了我和班组同事在轧线上抢修、巡检的一天：凌晨三点的停机检修、"
            "四十摄氏度的操作室、一张写满参数的交接班记录。我们想用镜头告诉大家，钢铁是怎样一卷一卷"
            "从我们手里“跑”出去的，也想让年轻人看到，一线岗位同样能练出大国工匠的本事。"),
    "wang": ("王磊，冷水江锡矿山闪星锑业有限责任公司井下电工，在矿山工作了十二年。作品《地心深处的光》拍的是矿井下"
             "三百米的一个班次：下罐、巡线、排险、检修水泵，矿灯照亮的每一段巷道都连着地面上的万家灯火。"
             "片中的师傅们话不多，却把安全生产的每一个细节都刻在心里。"),
    "liu": ("刘艳，冷水江市第三中学语文教师，2021年参加工作，是“初入职场”的新老师。作品《讲台上的第一年》"
            "用手机记录了我从第一次站上讲台手心冒汗，到第一次收到学生写给我的小纸条的一年，"
            "也记录了带教师傅一遍遍帮我磨课的身影。希望把这份笨拙又认真的青春分享给和我一样刚工作的年轻人。"),
    "deng": ("邓志刚，国网娄底供电公司输电运检中心带电作业班班长，从事带电作业二十年，参与抗冰保电、"
             "防汛抢险百余次。作品《守护万家灯火》讲述带电作业班在三十多米高的铁塔上“零距离”检修线路的故事，"
             "展现电力职工不惧危险、守护光明的职业精神。"),
    "peng": ("彭涛，三一重工娄底产业园结构件车间焊工，2019 年获公司“焊接技术能手”称号。作品《夜班》记录了车间夜班的"
             "焊花、汗水和一碗热腾腾的夜宵，讲的是普通焊工十年如一日把每一道焊缝做到零缺陷的坚持，"
             "以及工友之间相互照应的温暖。"),
    "team": ("双峰县人民医院护理部“白衣天使”宣传小组由六名青年护士组成。作品《我们的“潮”护士》用快剪和变装的方式，"
             "展示护士们在静脉穿刺、急救演练、健康宣教中的“潮技能”，也展示她们下班后学习新技术、"
             "考取专科护士证书的努力，让大家看到新时代护理人的专业与活力。"),
}


def sample_messages() -> list[tuple[str, bytes]]:
    """(description, raw bytes) for the demo Maildir: every contest, every outcome, distinct people."""
    at = lambda month, day, hour=10, minute=12: datetime(2022, month, day, hour, minute, tzinfo=CST)  # noqa: E731
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    samples = [
        ("微视频：资料齐全，QQ 邮箱 GB2312 标注实为 GBK（“镕”）", compose(
            sender="1234567@qq.com", sender_name="朱镕", subject="微视频比赛+《钢城追光者》+朱镕+华菱涟钢热轧厂",
            charset="gbk", label="gb2312", received=at(8, 16), mailer="QQMail 2.x", body=_body([
                "作品名称：《钢城追光者》", "作者姓名：朱镕", "性别：男", "联系电话：138 7388 1234",
                "工作单位：湖南华菱涟源钢铁有限公司热轧厂", "赛道：榜样奋斗者", f"作者及作品简介：{BIOS['zhu']}"]),
            attachments=[("钢城追光者.mp4", media.make_video(170, 1280, 720), "video/mp4")])),
        ("微视频：超过 3 分钟且缺联系电话", compose(
            sender="wanglei_ld@163.com", sender_name="王磊", subject="短视频参赛作品《地心深处的光》",
            received=at(9, 2), mailer="Coremail Webmail", body=_body([
                "您好！", "作品名称：地心深处的光", "作者：王磊　性别：男", "单位：冷水江锡矿山闪星锑业有限责任公司",
                "赛道：榜样奋斗者", f"简介：{BIOS['wang']}"]),
            attachments=[("地心深处的光.mp4", media.make_video(200, 1280, 720), "video/mp4")],
            filename_style="rfc2047")),
        ("微视频：640x360 低清晰度（提示），全角空格的标签", compose(
            sender="liuyan@foxmail.com", sender_name="刘艳", subject="微视频比赛+《讲台上的第一年》+刘艳+冷水江市第三中学",
            received=at(9, 20), mailer="Foxmail 7.2.25", body=_body([
                "作品名称：讲台上的第一年", "姓　名：刘艳", "性　别：女士", "电　话：0738-5221234",
                "地　址：冷水江市第三中学", "赛　道：初入职场的奋斗者", f"作品简介：{BIOS['liu']}"]),
            attachments=[("讲台上的第一年.mp4", media.make_video(150, 640, 360), "video/mp4")])),
        ("微视频：团队作品（不填性别）", compose(
            sender="sfxrmyy_hlb@163.com", sender_name="双峰县人民医院护理部", subject="微视频比赛 团队作品《我们的“潮”护士》",
            received=at(9, 8, 15, 40), mailer="Coremail Webmail", body=_body([
                "作品名称：我们的“潮”护士", "团队名称：双峰县人民医院护理部“白衣天使”宣传小组", "作者姓名：李婷（队长）",
                "联系电话：13974385678", "工作单位：双峰县人民医院", "赛道：潮能力的奋斗者", f"作品简介：{BIOS['team']}"]),
            attachments=[("我们的潮护士.mp4", media.make_video(165, 1280, 720), "video/mp4")])),
        ("微视频：QQ 超大附件链接（待人工下载）", compose(
            sender="88997766@qq.com", sender_name="邓志刚", subject="微视频投稿《守护万家灯火》",
            charset="gbk", label="gb2312", received=at(8, 28), body=_body([
                "作品名称：守护万家灯火", "作者姓名：邓志刚", "性别：男", "联系电话：13907381234",
                "工作单位：国网娄底供电公司输电运检中心", f"作者及作品简介：{BIOS['deng']}", "",
                "从QQ邮箱发来的超大附件", "守护万家灯火.mp4 (286.5M, 2022年09月27日 10:12 到期)",
                "进入下载页面：https://mail.qq.com/cgi-bin/ftnExs_download?k=2a6436&t=exs_ftn_download&code=9c1e"]))),
        ("摄影：单幅，相机原图 > 2MB", compose(
            sender="zhoujun_photo@163.com", sender_name="周军", to=PUBLICITY, subject="摄影比赛投稿《炉前工》",
            received=at(7, 5), mailer="Coremail Webmail", body=_body([
                "作品名称：炉前工", "作者：周军", "作者单位：湖南华菱涟钢炼钢厂", "联系方式：18973851234",
                "作品简介：炼钢工人在一千六百摄氏度的炉前测温取样，汗水与钢花交织。", "拍摄时间：2022年6月18日",
                "拍摄地点：涟钢炼钢厂转炉平台"]),
            attachments=[("炉前工.jpg", media.make_jpeg(size=2_400_000, seed=5), "image/jpeg")])),
        ("摄影：组照 4 幅，手机拍摄", compose(
            sender="liwen_xh@qq.com", sender_name="李文", to=PUBLICITY, subject="“好工人·向未来”摄影比赛 组照《梯田里的农技员》",
            received=at(8, 30, 20, 5), mailer="QQMail 2.x", body=_body([
                "作品名称：梯田里的农技员（组照）", "作者：李文", "作者单位：新化县水车镇农业综合服务中心",
                "联系方式：15907389876", "作品简介：紫鹊界梯田春耕时节，农技员背着喷雾器、拿着平板电脑走进田间，"
                "给农户讲解病虫害绿色防控。", "拍摄时间：2022年4月26日", "拍摄地点：新化县紫鹊界梯田"]),
            attachments=[(f"梯田里的农技员-{n}.jpg", media.make_jpeg(size=2_050_000 + n * 1000, seed=30 + n, make="HUAWEI",
                                                               model="P40 Pro"), "image/jpeg") for n in range(1, 5)])),
        ("摄影：3 幅（组照不足 4 幅）且有一幅小于 2MB", compose(
            sender="xiaomei@126.com", sender_name="肖梅", to=PUBLICITY, subject="好工人·向未来 摄影作品",
            received=at(8, 9), mailer="iPhone Mail (19G82)", body=_body([
                "作品名称：田间课堂", "作者姓名：肖梅", "单位：双峰县农业农村局", "联系电话：+86 139-7381-2345",
                "作品简介：农技员在田间给农户讲解水稻病虫害防治。", "拍摄时间：2022.7.22", "拍摄地点：双峰县梓门桥镇",
                "", "发自我的iPhone"]),
            attachments=[(f"IMG_04{n}.JPG", media.make_jpeg(size=size, seed=n, make="Apple", model="iPhone 12"),
                          "image/jpeg") for n, size in ((11, 2_100_000), (12, 2_050_000), (13, 1_500_000))])),
        ("摄影：照片经修图软件处理（待人工核对）", compose(
            sender="chenhui@outlook.com", sender_name="陈辉", to=PUBLICITY, subject="RE: 摄影比赛《大桥合龙》",
            received=at(9, 12), mailer="Microsoft Outlook 16.0", body=_body([
                "作品名称：《大桥合龙》", "作者：陈辉；单位：中铁五局娄新高速项目部；电话：15173812345",
                "作品简介：娄新高速资江特大桥合龙瞬间。", "拍摄时间：2022-08-30", "拍摄地点：新化县资江",
                "", "-----Original Message-----", "From: ldghxjb@163.com", "Subject: 摄影比赛"]),
            attachments=[("大桥合龙.jpg", media.make_jpeg(size=2_300_000, seed=7, software="Adobe Photoshop 23.0"),
                          "image/jpeg")])),
        ("阅读推广人：视频 + 申报表 docx", compose(
            sender="tanglihua@qq.com", sender_name="唐丽华", subject="阅读推广人风采展示-唐丽华",
            received=at(9, 15), body=_body(["您好，附件是阅读推广人风采展示视频和申报表，请查收。", "唐丽华 13873851234"]),
            attachments=[("唐丽华-阅读推广人.mp4", media.make_video(290, 1280, 720), "video/mp4"),
                         ("附件1 阅读推广人风采展示作品申报表.docx", media.make_docx(
                             "阅读推广人风采展示作品申报表",
                             [["序号", "姓名", "所在单位及职务", "湘工惠/风芒/新娄底APP账号", "作品上传时间", "联系电话", "备注"],
                              ["1", "唐丽华", "娄底市图书馆 阅读推广部主任", "xgh_tanglihua", "2022-09-14", "13873851234", ""]]),
                          docx)])),
        ("阅读团队：视频 + 申报表 xlsx（团队 8 人）", compose(
            sender="lygd_reading@163.com", sender_name="涟源市总工会", subject="职工阅读团队风采展示 钢城读书会",
            received=at(9, 22), body=_body(["附件为职工阅读团队风采展示视频及申报表。", "填报人：李建国 0738-4321234"]),
            attachments=[("钢城读书会.mp4", media.make_video(240, 1280, 720), "video/mp4"),
                         ("附件2 职工阅读团队风采展示作品申报表.xlsx", media.make_xlsx(
                             ["序号", "团队名称", "所在单位", "团队人数", "成立时间", "湘工惠/风芒/新娄底APP账号", "作品上传时间",
                              "活动开展频次", "成立以来开展活动场次", "负责人姓名、职务及联系电话"],
                             [[1, "钢城读书会", "涟源钢铁集团工会", 8, "2019-04", "xgh_gcdsh", "2022-09-20", "每月2次", 60,
                               "李建国 工会副主席 13807381234"]], title="职工阅读团队风采展示作品申报表"),
                          xlsx)])),
        ("最美职工书屋：申报表 docx，附件 3 的全部栏目", compose(
            sender="xhgh@163.com", sender_name="新化县总工会", to=PUBLICITY, subject="最美职工书屋申报-新化县总工会",
            received=at(9, 26), body=_body(["附件为“最美职工书屋”申报表，请审阅。", "新化县总工会 罗芳"]),
            attachments=[("附件3 最美职工书屋申报表.docx", media.make_docx(
                "“湘悦读·工力量”主题阅读活动2022全市最美职工书屋申报表",
                [["申报单位", "新化县总工会"], ["职工书屋名称", "新化县总工会职工书屋"],
                 ["职工书屋详址", "新化县上梅镇天华南路 18 号工人文化宫二楼"],
                 ["职工书屋简介（包含所获荣誉）", "建于 2016 年，2020 年获评“全国职工书屋示范点”"],
                 ["职工书屋管理人", "罗芳"], ["职务", "办公室主任"], ["手机", "13974381234"],
                 ["场地面积", "120平方米"], ["藏书量", "8000册"], ["开放对象", "全县职工及家属"],
                 ["有无电子阅读设备", "有（电子借阅机 2 台）"],
                 ["阅读挑战赛活动开展情况及实效", "组织 1260 名会员参加，人均阅读 42 小时"],
                 ["阅读推广人、团队风采展示情况", "推荐阅读推广人 2 名、阅读团队 1 个"],
                 ["职工读书活动开展情况及实效", "开展“书香新化”读书分享会 8 场，参与职工 600 余人次"],
                 ["填表日期", "2022-09-25"]]),
                docx)])),
        ("微视频：截止后收到（迟到）", compose(
            sender="3344556@qq.com", sender_name="彭涛", subject="微视频比赛作品《夜班》", received=at(10, 3),
            body=_body(["作品名称：夜班", "作者姓名：彭涛", "性别：男", "联系电话：13787381234",
                        "工作单位：三一重工娄底产业园结构件车间", "赛道：榜样奋斗者", f"作者及作品简介：{BIOS['peng']}"]),
            attachments=[("夜班.mp4", media.make_video(120, 1280, 720), "video/mp4")])),
        ("自动回复（忽略）", compose(
            sender="5566778@qq.com", sender_name="李娜", subject="自动回复: 微视频比赛", received=at(8, 20),
            charset="gbk", label="gb2312", body=_body(["您好，我最近正在休假中，无法亲自回复您的邮件。"]),
            headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})),
        ("无法判断比赛（询问）", compose(
            sender="hejun@sina.com", sender_name="何军", subject="投稿", received=at(8, 25),
            body=_body(["你好，请问这个邮箱是投稿的吗？我想参加活动。", "作品名称：山村的灯", "作者：何军",
                        "单位：娄星区大科街道社区服务中心"]))),
    ]
    return samples


def write_samples(target: Path, force: bool = False) -> int:
    """Write the demo set into a Maildir; returns how many were written (0 if already there)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(target, create=True)
    try:
        if len(box) and not force:
            return 0
        box.clear()
        for _, raw in sample_messages():
            box.add(raw)
        return len(box)
    finally:
        box.close()
