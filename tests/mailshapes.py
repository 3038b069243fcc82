"""Messages in the MIME shapes real clients send: Outlook, Coremail (163/126), QQ Mail, Foxmail, Gmail, Thunderbird.

Each builder writes what its client writes: the multipart nesting (Outlook's multipart/related holding the
signature logo image001.png), the charset and transfer encoding (GBK/GB18030 base64 for the Chinese clients),
the way attachment names are encoded, the client's headers, its HTML (Word's MsoNormal paragraphs and tables,
Coremail's line-height div, QQ's grey quote box) and its forward block. Tests build entries with them and
read them back through the real parser; `demo/samples.py` stays the demo's own.
"""

from __future__ import annotations

import base64
import hashlib
import html as htmlmod
import quopri
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime
from urllib.parse import quote

CST = timezone(timedelta(hours=8))
COMMITTEE = "382343653@qq.com"
PUBLICITY = "ldghxjb@163.com"
SENT = datetime(2022, 8, 20, 10, 0, tzinfo=CST)
WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class File:
    name: str
    data: bytes
    mime: str


@dataclass(frozen=True)
class Original:
    """The worker's message that a union or a colleague forwards."""

    sender: str
    name: str
    subject: str
    lines: tuple[str, ...]
    to: str = COMMITTEE
    sent: datetime = SENT
    files: tuple[File, ...] = ()


@dataclass
class Client:
    name: str
    mailer_header: tuple[str, str]
    label: str  # the charset the headers claim
    codec: str  # the bytes really written
    cte: str = "base64"
    filename_style: str = "rfc2047"  # rfc2047 ("=?gbk?B?..?=" in quotes) | rfc2231
    extra_headers: dict = field(default_factory=dict)


OUTLOOK = Client("outlook", ("X-Mailer", "Microsoft Outlook 16.0"), "gb2312", "gbk",
                 extra_headers={"Thread-Index": "AdiyZ3t0cNQ8pW3kSXe1pQ9mY2W1Vg==", "Content-Language": "zh-cn",
                                "X-MS-Has-Attach": "yes", "X-MS-TNEF-Correlator": ""})
COREMAIL = Client("coremail", ("X-Mailer", "Coremail Webmail Server Version XT5.0.13 build 20210104(fd0e5ddb)"),
                  "GBK", "gbk", extra_headers={"X-Originating-IP": "[223.152.38.41]", "X-CM-CTRLDATA": "xJ1nSGZvb3Rlcl9odG09NDQ="})
QQMAIL = Client("qq", ("X-Mailer", "QQMail 2.x"), "gb18030", "gb18030",
                extra_headers={"X-QQ-mid": "xmsezb5-0t1660960800tqwen3l8v", "X-QQ-SSF": "00000000000000F000000000000000Z",
                               "X-QQ-STYLE": "", "X-QQ-MIME": "TCMime 1.0 by Tencent"})
FOXMAIL = Client("foxmail", ("X-Mailer", "Foxmail 7.2.25.254[cn]"), "gb2312", "gbk",
                 extra_headers={"X-Priority": "3", "X-GUID": "6A1E4F8C-3B52-4C0B-9D7E-2F1A5B9C8D00",
                                "X-Has-Attach": "no"})
GMAIL = Client("gmail", ("X-Gm-Message-State", "ACgBeo1Q7nX8tY2f8l4mG6kK3nq5mYw8vXc"), "UTF-8", "utf-8",
               cte="quoted-printable")
THUNDERBIRD = Client("thunderbird", ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:102.0) Gecko/20100101 "
                                                   "Thunderbird/102.2.0"), "UTF-8", "utf-8", cte="8bit",
                     filename_style="rfc2231", extra_headers={"Content-Language": "zh-CN"})


# -- parts ------------------------------------------------------------------------------------------------


def encoded_word(text: str, label: str, codec: str) -> str:
    if text.isascii():
        return text
    return f"=?{label}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def text_part(text: str, subtype: str, client: Client) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset=client.label)
    data = text.replace("\n", "\r\n").encode(client.codec)
    if client.cte == "base64":
        part.set_payload(base64.encodebytes(data).decode("ascii"))
    elif client.cte == "quoted-printable":
        part.set_payload(quopri.encodestring(data).decode("ascii"))
    else:  # 8bit: the bytes as they are (Thunderbird, UTF-8)
        part.set_payload(data.decode("ascii", "surrogateescape"))  # BytesGenerator writes these bytes as they are
        part.set_param("format", "flowed")
    part["Content-Transfer-Encoding"] = client.cte
    return part


def file_part(file: File, client: Client, *, inline_cid: str | None = None) -> MIMEBase:
    maintype, _, subtype = file.mime.partition("/")
    part = MIMEBase(maintype, subtype)
    part.set_payload(base64.encodebytes(file.data).decode("ascii"))
    part["Content-Transfer-Encoding"] = "base64"
    disposition = "inline" if inline_cid else "attachment"
    if client.filename_style == "rfc2231" and not file.name.isascii():
        part.set_param("name", ("utf-8", "", file.name))
        part.add_header("Content-Disposition", disposition, filename=("utf-8", "", file.name))
    else:
        word = encoded_word(file.name, client.label, client.codec)
        part.set_param("name", word)
        part.add_header("Content-Disposition", disposition, filename=word)
    if inline_cid:
        part["Content-ID"] = f"<{inline_cid}>"
    return part


def headers(message, client: Client, *, sender: str, name: str, to: str, subject: str, sent: datetime,
            message_id: str, extra: dict | None = None) -> None:
    message["From"] = f'"{encoded_word(name, client.label, client.codec)}" <{sender}>' if name else sender
    message["To"] = to
    message["Subject"] = encoded_word(subject, client.label, client.codec)
    message["Date"] = format_datetime(sent)
    message["Message-ID"] = message_id
    message["MIME-Version"] = "1.0"
    message[client.mailer_header[0]] = client.mailer_header[1]
    for key, value in {**client.extra_headers, **(extra or {})}.items():
        message[key] = value


def mixed(body, files, client: Client):
    if not files:
        return body
    message = MIMEMultipart("mixed")
    message.attach(body)
    for file in files:
        message.attach(file_part(file, client))
    return message


def alternative(plain: str, html: str, client: Client) -> MIMEMultipart:
    part = MIMEMultipart("alternative")
    part.attach(text_part(plain, "plain", client))
    part.attach(text_part(html, "html", client))
    return part


def esc(text: str) -> str:
    return htmlmod.escape(text, quote=False)


def finish(message, client: Client, *, sender: str, name: str, to: str, subject: str, sent: datetime, tag: str,
           extra: dict | None = None) -> bytes:
    domain = sender.rpartition("@")[2]
    headers(message, client, sender=sender, name=name, to=to, subject=subject, sent=sent,
            message_id=f"<{tag}.{client.name}.{hashlib.md5(f'{sender}{subject}{sent}'.encode()).hexdigest()[:12]}@{domain}>",
            extra=extra)
    return message.as_bytes()


def chinese_date(when: datetime, style: str) -> str:
    if style == "qq":
        half = "上午" if when.hour < 12 else "下午"
        return f"{when.year}年{when.month}月{when.day}日(星期{WEEKDAYS[when.weekday()]}) {half}{when.hour % 12 or 12}:{when.minute:02d}"
    if style == "outlook":
        return f"{when.year}年{when.month}月{when.day}日 {when.hour}:{when.minute:02d}"
    return when.strftime("%Y-%m-%d %H:%M:%S")


# -- Outlook ------------------------------------------------------------------------------------------------

WORD_HEAD = ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
             'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
             'xmlns="http://www.w3.org/TR/REC-html40"><head><meta http-equiv=Content-Type content="text/html; '
             'charset=gb2312"><meta name=Generator content="Microsoft Word 15 (filtered medium)">'
             '<!--[if !mso]><style>v\\:* {behavior:url(#default#VML);}</style><![endif]--><style><!--\n'
             '@font-face {font-family:宋体;}\np.MsoNormal, li.MsoNormal {margin:0cm;text-align:justify;'
             'font-size:10.5pt;font-family:等线;}\n.MsoChpDefault {mso-style-type:export-only;}\n'
             'div.WordSection1 {page:WordSection1;}\n--></style><!--[if gte mso 9]><xml>\n'
             '<o:shapedefaults v:ext="edit" spidmax="1026" />\n</xml><![endif]--></head>'
             '<body lang=ZH-CN link="#0563C1" vlink="#954F72" style=\'text-justify-trim:punctuation\'>'
             '<div class=WordSection1>')
LOGO_CID = "image001.png@01D8B3C2.5A1E2F40"


def word_paragraph(text: str) -> str:
    return f"<p class=MsoNormal><span style='font-family:宋体'>{esc(text)}<span lang=EN-US><o:p></o:p></span></span></p>"


def word_table(rows: list[list[str]]) -> str:
    cells = "".join(
        "<tr>" + "".join(f"<td width=142 valign=top style='width:106.5pt;border:solid windowtext 1.0pt;padding:0cm 5.4pt "
                         f"0cm 5.4pt'>{word_paragraph(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return ("<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 style='border-collapse:collapse;"
            f"border:none;mso-yfti-tbllook:1184'>{cells}</table>")


def outlook_plain_table(rows: list[list[str]]) -> str:
    """Outlook's text/plain of a Word table: every cell a paragraph of its own."""
    return "\n\n".join(cell for row in rows for cell in row)


def outlook(*, sender: str, name: str, subject: str, lines=(), table: list[list[str]] | None = None,
            files=(), forward: Original | None = None, english_forward: bool = False, logo: bool = True,
            to: str = COMMITTEE, sent: datetime = SENT, extra: dict | None = None) -> bytes:
    """Word HTML in multipart/related with the signature logo image001.png, inside multipart/mixed."""
    client = OUTLOOK
    plain = [*lines]
    html = [WORD_HEAD, *(word_paragraph(line) for line in lines)]
    if table:
        plain.append(outlook_plain_table(table))
        html.append(word_table(table))
    plain += ["", "此致", name, "娄底市总工会宣网部"]
    html += [word_paragraph(""), word_paragraph("此致"), word_paragraph(name)]
    if logo:
        html.append(f"<p class=MsoNormal><span lang=EN-US><img width=120 height=40 style='width:1.25in;height:.4166in' "
                    f"id=\"图片_x0020_1\" src=\"cid:{LOGO_CID}\"></span></p>")
    if forward:
        if english_forward:
            block = ["-----Original Message-----", f"From: {forward.name} <{forward.sender}>",
                     f"Sent: {forward.sent.strftime('%A, %B %d, %Y %I:%M %p')}", f"To: {forward.to}",
                     f"Subject: {forward.subject}"]
        else:
            block = ["________________________________", f"发件人: {forward.name} <{forward.sender}>",
                     f"发送时间: {chinese_date(forward.sent, 'outlook')}", f"收件人: {forward.to}",
                     f"主题: {forward.subject}"]
        plain += ["", *block, "", *forward.lines]
        html.append("<div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>"
                    + "".join(word_paragraph(line) for line in block[1:]) + "</div>")
        html += [word_paragraph(line) for line in forward.lines]
        files = [*files, *forward.files]
    html.append("</div></body></html>")
    body = alternative("\n".join(plain), "".join(html), client)
    if logo:
        related = MIMEMultipart("related", type="multipart/alternative")
        related.attach(body)
        related.attach(file_part(File("image001.png", LOGO_PNG(), "image/png"), client, inline_cid=LOGO_CID))
        body = related
    message = MIMEMultipart("mixed")
    message.attach(body)
    for file in files:
        message.attach(file_part(file, client))
    return finish(message, client, sender=sender, name=name, to=to, subject=subject, sent=sent, tag="OL",
                  extra=extra)


def LOGO_PNG() -> bytes:  # noqa: N802 - a constant made on demand
    """A real signature logo: a small PNG, as Outlook stores it."""
    import io

    from PIL import Image, ImageDraw
    image = Image.new("RGB", (240, 80), (196, 30, 58))
    ImageDraw.Draw(image).rectangle((10, 10, 230, 70), outline=(255, 255, 255), width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# -- Coremail (163 / 126) -------------------------------------------------------------------------------------


def coremail(*, sender: str, name: str, subject: str, lines=(), files=(), forward: Original | None = None,
             to: str = PUBLICITY, sent: datetime = SENT, html_table: list[list[str]] | None = None,
             extra: dict | None = None) -> bytes:
    client = COREMAIL
    plain, html = [*lines], [f"<div>{esc(line) or '<br>'}</div>" for line in lines]
    if html_table:  # WPS/Excel cells pasted into the 163 editor
        html.append("<table border=\"1\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tbody>"
                    + "".join("<tr>" + "".join(f"<td style=\"width:96pt\">{esc(c)}</td>" for c in row) + "</tr>"
                              for row in html_table) + "</tbody></table>")
        plain += ["\t".join(row) for row in html_table]
    if forward:
        block = ["-------- 转发邮件信息 --------", f"发件人：\"{forward.name}\" <{forward.sender}>",
                 f"发送日期：{chinese_date(forward.sent, 'iso')}", f"收件人：\"组委会\" <{forward.to}>",
                 f"主题：{forward.subject}"]
        plain += ["", "", *block, "", *forward.lines]
        html += ["<br><br>", "<br>".join(esc(line) for line in block) + "<br><br>",
                 *(f"<div>{esc(line) or '<br>'}</div>" for line in forward.lines)]
        files = [*files, *forward.files]
    page = ('<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">' + "".join(html)
            + '</div><br><br><span title="neteasefooter"><p>&nbsp;</p></span>')
    message = mixed(alternative("\n".join(plain), page, client), files, client)
    return finish(message, client, sender=sender, name=name, to=to, subject=subject, sent=sent, tag="CM",
                  extra=extra)


# -- QQ Mail ------------------------------------------------------------------------------------------------


def qq(*, sender: str, name: str, subject: str, lines=(), files=(), forward: Original | None = None,
       forward_style: str = "原始邮件", quote: Original | None = None, to: str = COMMITTEE, sent: datetime = SENT,
       extra: dict | None = None) -> bytes:
    """QQ's grey quote box under `------------------ 原始邮件 ------------------` (replies and web forwards), or
    the app's `-------- 转发邮件信息 --------`. `quote` is the message a reply answers."""
    client = QQMAIL
    plain, html = [*lines], [f"<div>{esc(line) or '<br>'}</div>" for line in lines]
    original = forward or quote
    if original:
        if forward_style == "原始邮件":
            plain += ["", "", "------------------ 原始邮件 ------------------",
                      f"发件人: \"{original.name}\"<{original.sender}>;", f"发送时间: {chinese_date(original.sent, 'qq')}",
                      f"收件人: \"{original.to}\"<{original.to}>;", "", f"主题: {original.subject}", "", ""]
            html += ['<div><br></div><div><br></div><div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 '
                     '2px 0;">------------------&nbsp;原始邮件&nbsp;------------------</div><div style="font-size: 12px;'
                     f'background:#efefef;padding:8px;"><div><b>发件人:</b>&nbsp;"{esc(original.name)}"&lt;{original.sender}'
                     f'&gt;;</div><div><b>发送时间:</b>&nbsp;{chinese_date(original.sent, "qq")}</div><div><b>收件人:</b>'
                     f'&nbsp;"{original.to}"&lt;{original.to}&gt;;<wbr></div><div></div><div><b>主题:</b>&nbsp;'
                     f'{esc(original.subject)}</div></div><div><br></div>']
        else:
            block = ["-------- 转发邮件信息 --------", f"发件人：{original.name} <{original.sender}>",
                     f"发送时间：{chinese_date(original.sent, 'outlook')}", f"收件人：{original.to}",
                     f"主题：{original.subject}"]
            plain += ["", *block, ""]
            html += ["<div><br></div>" + "".join(f"<div>{esc(line)}</div>" for line in block) + "<div><br></div>"]
        plain += [*original.lines]
        html += [f"<div>{esc(line) or '<br>'}</div>" for line in original.lines]
        if forward:
            files = [*files, *forward.files]
    message = mixed(alternative("\n".join(plain), "<meta http-equiv=\"Content-Type\" content=\"text/html; "
                                                  "charset=GB18030\">" + "".join(html), client), files, client)
    return finish(message, client, sender=sender, name=name, to=to, subject=subject, sent=sent, tag="QQ",
                  extra=extra)


# -- Foxmail ------------------------------------------------------------------------------------------------


def foxmail(*, sender: str, name: str, subject: str, lines=(), files=(), forward: Original | None = None,
            to: str = COMMITTEE, sent: datetime = SENT, extra: dict | None = None) -> bytes:
    """No separator line above a forward: only the bordered 发件人/发送时间 block (the address in a mailto link)."""
    client = FOXMAIL
    plain = [*lines, "", sender]
    html = ['<html><head><meta http-equiv="content-type" content="text/html; charset=gb2312"><style>body { line-height: '
            '1.5; }blockquote { margin-top: 0px; margin-bottom: 0px; margin-left: 0.5em; }</style></head><body>',
            *(f"<div><span></span>{esc(line)}</div>" for line in lines),
            f"<div><br></div><hr style=\"width: 210px; height: 1px;\" color=\"#b5c4df\" size=\"1\" align=\"left\">"
            f"<div><span><div style=\"MARGIN: 10px; FONT-FAMILY: verdana; FONT-SIZE: 10pt\"><div>{sender}</div></div>"
            "</span></div>"]
    if forward:
        block = [f"发件人： {forward.name}", f"发送时间： {forward.sent.strftime('%Y-%m-%d %H:%M')}",
                 "收件人： 组委会", f"主题： {forward.subject}"]
        plain += ["", " ", *block, "", *forward.lines]
        html.append('<blockquote style="margin-Top: 0px; margin-Bottom: 0px; margin-Left: 0.5em; margin-Right: inherit">'
                    '<div>&nbsp;</div><div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
                    '<div style="PADDING-RIGHT: 8px; PADDING-LEFT: 8px; FONT-SIZE: 12px;FONT-FAMILY:tahoma;COLOR:#000000; '
                    'BACKGROUND: #efefef; PADDING-BOTTOM: 8px; PADDING-TOP: 8px">'
                    f'<div><b>发件人：</b>&nbsp;<a href="mailto:{forward.sender}">{esc(forward.name)}</a></div>'
                    f'<div><b>发送时间：</b>&nbsp;{forward.sent.strftime("%Y-%m-%d&nbsp;%H:%M")}</div>'
                    '<div><b>收件人：</b>&nbsp;<a href="mailto:382343653@qq.com">组委会</a></div>'
                    f'<div><b>主题：</b>&nbsp;{esc(forward.subject)}</div></div></div><div><br></div>'
                    + "".join(f"<div>{esc(line)}</div>" for line in forward.lines) + "</blockquote>")
        files = [*files, *forward.files]
    html.append("</body></html>")
    message = mixed(alternative("\n".join(plain), "".join(html), client), files, client)
    return finish(message, client, sender=sender, name=name, to=to, subject=subject, sent=sent, tag="FM",
                  extra=extra)


# -- Gmail --------------------------------------------------------------------------------------------------


def gmail(*, sender: str, name: str, subject: str, lines=(), files=(), forward: Original | None = None,
          chinese_ui: bool = False, to: str = COMMITTEE, sent: datetime = SENT, extra: dict | None = None) -> bytes:
    """Gmail carries the forwarded message's attachments as its own."""
    client = GMAIL
    plain, html = [*lines], [f"<div>{esc(line) or '<br>'}</div>" for line in lines]
    if forward:
        when = (f"{forward.sent.year}年{forward.sent.month}月{forward.sent.day}日周{WEEKDAYS[forward.sent.weekday()]} "
                f"{'上午' if forward.sent.hour < 12 else '下午'}{forward.sent.hour % 12 or 12}:{forward.sent.minute:02d}"
                if chinese_ui else forward.sent.strftime("%a, %b %d, %Y at %I:%M %p"))
        block = ["---------- 转发的邮件 ---------" if chinese_ui else "---------- Forwarded message ---------",
                 f"{'发件人：' if chinese_ui else 'From: '}{forward.name} <{forward.sender}>", f"Date: {when}",
                 f"Subject: {forward.subject}", f"To: <{forward.to}>"]
        plain += ["", *block, "", "", *forward.lines]
        html.append('<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
                    + "<br>".join(esc(line) for line in block) + "<br></div><br><br>"
                    + "".join(f"<div>{esc(line)}</div>" for line in forward.lines) + "</div>")
        files = [*files, *forward.files]
    body = alternative("\n".join(plain), '<div dir="ltr">' + "".join(html) + "</div>", client)
    message = mixed(body, files, client)
    return finish(message, client, sender=sender, name=name, to=to, subject=subject, sent=sent, tag="CAK",
                  extra=extra)


# -- Thunderbird --------------------------------------------------------------------------------------------


def thunderbird(*, sender: str, name: str, subject: str, lines=(), files=(), forward: Original | None = None,
                as_attachment: bool = True, to: str = COMMITTEE, sent: datetime = SENT,
                extra: dict | None = None) -> bytes:
    """Forward as attachment (the default in many installs): the original whole, as message/rfc822."""
    client = THUNDERBIRD
    plain = [*lines]
    if forward and not as_attachment:
        plain += ["", "", "-------- 转发的消息 --------", f"主题：\t{forward.subject}",
                  f"日期：\t{format_datetime(forward.sent)}", f"发件人：\t{forward.name} <{forward.sender}>",
                  f"收件人：\t{forward.to}", "", "", *forward.lines]
        files = [*files, *forward.files]
    message = MIMEMultipart("mixed")
    message.attach(text_part("\n".join(plain), "plain", client))
    for file in files:
        message.attach(file_part(file, client))
    if forward and as_attachment:
        inner = qq(sender=forward.sender, name=forward.name, subject=forward.subject, lines=forward.lines,
                   files=forward.files, to=forward.to, sent=forward.sent)
        part = MIMENonMultipart("message", "rfc822", name=f"{forward.subject}.eml")
        part.set_payload(inner.decode("ascii"))
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", f"{forward.subject}.eml"))
        message.attach(part)
    return finish(message, client, sender=sender, name=name, to=to, subject=subject, sent=sent, tag="TB",
                  extra=extra)


def reply_headers(receipt_message_id: str) -> dict:
    """What a client writes when its user answers our reply."""
    return {"In-Reply-To": receipt_message_id, "References": receipt_message_id}


def rfc2231(name: str) -> str:
    return quote(name.encode("utf-8"), safe="")
