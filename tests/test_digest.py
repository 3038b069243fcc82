"""The digest and the spreadsheets, built from a register of a few hundred mixed entries."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import random
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import RULES, write_config
from screenshots import WIDTHS, Browser, keep

from inbox_daemon.demo import media
from inbox_daemon.config import WebConfig, load_config
from inbox_daemon.digest import build_digest, mask_phone, render_digest, report_status, write_digest
from inbox_daemon.pipeline import Context, process
from inbox_daemon.rules import load_rules
from inbox_daemon.demo.samples import BIO, CST, PUBLICITY, compose
from inbox_daemon.reply import date_text
from inbox_daemon.store import RawMessage, Store
from inbox_daemon.times import local, local_day

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2022, 9, 12)
TRACKS = ["赛道：榜样奋斗者", "赛道：潮能力的奋斗者", "赛道：初入职场的奋斗者", ""]
UNITS = ["双峰县人民医院", "新化县总工会", "涟源市钢铁厂", "娄星区教育局", "冷水江市锑矿", "娄底市图书馆"]


@pytest.fixture(scope="module")
def register(tmp_path_factory, clips):
    """About 300 messages over four weeks: every outcome, several contests, a hostile subject."""
    root = tmp_path_factory.mktemp("register")
    config = load_config(write_config(root, [{"name": "box", "source": "maildir", "path": str(root / "Maildir"),
                                              "contests": ["micro_video", "photo", "bookhouse"]}],
                                      digest={"to": ["organizers@example.org"], "reports_dir": str(root / "reports")}))
    store = Store.from_config(config)
    rules = load_rules(RULES)
    context = Context.from_config(config, rules)
    rng = random.Random(16)
    small = media.make_jpeg(width=300, height=200, seed=3)
    big = media.make_jpeg(size=2_050_000, seed=4)
    for i in range(300):
        day = date.fromordinal(date(2022, 8, 16).toordinal() + i % 28)
        received = datetime(day.year, day.month, day.day, 8 + i % 12, i % 60, tzinfo=CST)
        unit = UNITS[i % len(UNITS)]
        kind = rng.choice(["video", "video", "photo", "photo", "junk", "unknown", "bookhouse"])
        sender = f"worker{i}@qq.com"
        if kind == "video":
            phone = "" if i % 4 == 0 else f"联系电话：138{i:08d}"
            raw = compose(sender=sender, subject=f"微视频比赛《作品{i}》", received=received,
                          body=f"作品名称：作品{i}\n作者姓名：职工{i}\n性别：男\n{phone}\n工作单位：{unit}\n{TRACKS[i % 4]}\n简介：{BIO}",
                          attachments=[(f"v{i}.mp4", clips["170" if i % 3 else "200"] + i.to_bytes(2, "big"), "video/mp4")])
        elif kind == "photo":
            photo = big if i % 2 else small
            raw = compose(sender=sender, to=PUBLICITY, subject="摄影比赛", received=received,
                          body=f"作品名称：照片{i}\n作者：职工{i}\n作者单位：{unit}\n联系方式：139{i:08d}\n作品简介：车间\n"
                               "拍摄时间：2022-08-01\n拍摄地点：娄底",
                          attachments=[(f"p{i}.jpg", photo + i.to_bytes(2, "big"), "image/jpeg")])
        elif kind == "junk":
            raw = compose(sender=f"mailer-daemon@mx{i}.example.com", subject="Undeliverable: 微视频", received=received,
                          body="delivery failed")
        elif kind == "unknown" and i % 3 == 0:
            raw = compose(sender=sender, subject=f"微视频投稿《云端{i}》", received=received,
                          body=f"作品名称：云端{i}\n作者姓名：职工{i}\n性别：女\n联系电话：137{i:08d}\n工作单位：{unit}\n简介：{BIO}\n"
                               "从QQ邮箱发来的超大附件\n云端.mp4 (286.5M, 2022年09月15日 10:12 到期)\n"
                               f"进入下载页面：https://mail.qq.com/cgi-bin/ftnExs_download?k={i:06d}&t=exs_ftn_download")
        elif kind == "unknown":
            raw = compose(sender=sender, subject="你好", body=f"作品名称：心愿{i}\n请问如何报名？", received=received)
        else:
            raw = compose(sender=sender, subject="最美职工书屋申报", body=f"申报单位：{unit}", received=received,
                          attachments=[("附件3.docx", media.make_docx("申报表", [["职工书屋名称", f"书屋{i}"]]),
                                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")])
        pk, _ = store.record_raw(RawMessage("box", "INBOX", 1, str(i), raw, received))
        process(store, pk, context)
    hostile = compose(sender="x@qq.com", subject="<script>alert(1)</script>", received=datetime(2022, 9, 12, 9, tzinfo=CST),
                      body="作品名称：夜班<script>alert(1)</script>\n作者姓名：<b>坏人</b>\n性别：男\n联系电话：13800001111\n工作单位：娄星区\n"
                           f"简介：{BIO}", attachments=[('"><img src=x onerror=alert(2)>.mp4', clips["low"], "video/mp4")])
    pk, _ = store.record_raw(RawMessage("box", "INBOX", 1, "hostile", hostile, datetime(2022, 9, 12, 9, tzinfo=CST)))
    process(store, pk, context)
    return config, store, rules


def test_digest_numbers_match_the_register(register):
    config, store, rules = register
    digest = build_digest(store, rules, DAY, TZ)
    entries = store.register.entries()
    first = {r["receipt"]: local_day(r["first"]) for r in store.db.query(
        "SELECT receipt, MIN(received_at) AS first FROM messages WHERE receipt IS NOT NULL GROUP BY receipt")}
    todays = [e for e in entries if first[e["receipt"]] == DAY.isoformat()]
    to_date = [e for e in entries if first[e["receipt"]] <= DAY.isoformat()]
    assert len(digest.new_entries) == len(todays) > 0
    assert digest.totals["new"] == len(todays)
    assert digest.totals["total"] == len(to_date)
    for outcome in ("accepted", "rejected", "needs_review"):
        assert digest.totals[outcome] == sum(e["outcome"] == outcome for e in to_date)
    assert len(digest.review_queue) == sum(e["outcome"] == "needs_review" for e in to_date)
    received = [store.register.entry(r["receipt"])["received_at"] for r in digest.review_queue]
    assert received == sorted(received)  # oldest first
    rejected = dict(digest.rejections)
    expected = sum(1 for e in to_date if e["outcome"] == "rejected"
                   and any(f["id"] == "video_too_long" for f in json.loads(e["rules"])))
    assert rejected["视频超过时长上限"] == expected > 0
    assert sum(n for _, n in digest.unions) == len(to_date)
    ignored = store.db.execute("SELECT received_at FROM messages WHERE outcome='ignored'").fetchall()
    assert digest.ignored_total == sum(local_day(r[0]) <= DAY.isoformat() for r in ignored) > 0
    assert sum(count for _, count in digest.per_day) == len(to_date)
    assert {x["contest"]: x["left"] for x in digest.deadlines}["微视频比赛"] == 18


def test_contest_subtotals_with_their_tracks_under_them(register):
    _, store, rules = register
    digest = build_digest(store, rules, DAY, TZ)
    video = next(c for c in digest.contests if c.name == "微视频比赛")
    assert set(video.tracks) == {"榜样奋斗者", "潮能力的奋斗者", "初入职场的奋斗者", "未填赛道"}
    for key in ("new", "total", "accepted", "rejected", "needs_review"):
        assert video.counts[key] == sum(t[key] for t in video.tracks.values())
    photo = next(c for c in digest.contests if c.name == "“好工人·向未来”摄影比赛")
    assert photo.tracks == {} and photo.counts["total"] > 0
    text = render_digest(digest)[1]
    assert "- 微视频比赛：" in text and "    · 榜样奋斗者：" in text


def test_the_digest_speaks_to_organizers_in_plain_chinese(register):
    """No rule ids, no sentences meant for contestants, local times only."""
    config, store, rules = register
    html, text = render_digest(build_digest(store, rules, DAY, TZ))
    shown = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S))  # what a reader sees
    for page in (shown, text):
        for rule_id in ("video_too_long", "field_missing", "phone", "contest_unknown", "large_attachment_link",
                        "needs_review", "photo_too_small"):
            assert rule_id not in page, rule_id
        for contestant_words in ("请回复", "请直接回复本邮件", "工作人员将"):
            assert contestant_words not in page
        assert "+00:00" not in page and "T09:" not in page
    assert "无法判断参加哪个比赛" in html and "缺少“联系电话”" in html
    assert re.search(r"生成于 \d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}（北京时间）", html)
    first = build_digest(store, rules, DAY, TZ).review_queue[0]
    row = store.register.entry(first["receipt"])
    assert first["received"] == date_text(local(row["received_at"]))  # on the contest's clock


def test_entries_link_to_the_console_when_it_has_a_base_url(register):
    config, store, rules = register
    with_web = dataclasses.replace(config, web=WebConfig(base_url="https://contest.example.org/"))
    html = write_digest(with_web, store, rules, DAY, send=False)[0].read_text(encoding="utf-8")
    digest = build_digest(store, rules, DAY, TZ)
    receipt = digest.review_queue[0]["receipt"]
    assert f'<a href="https://contest.example.org/entries/{receipt}"><code>{receipt}</code></a>' in html
    assert "在管理后台处理" in html and "inbox-daemon override" not in html
    without = write_digest(config, store, rules, DAY, send=False)[0].read_text(encoding="utf-8")
    assert "entries/" not in without  # no console: the command to run, with this config's path
    assert f"inbox-daemon override {receipt} --accept --note &#34;…&#34; --config {config.path}" in without


def test_cloud_files_are_links_with_the_days_they_have_left(register):
    config, store, rules = register
    digest = build_digest(store, rules, DAY, TZ)
    assert digest.links and all(link["days_left"] == 3 for link in digest.links)  # 2022-09-15 vs 09-12
    html, text = render_digest(digest)
    url = digest.links[0]["url"]
    assert f'<a href="{url.replace("&", "&amp;")}" rel="noreferrer noopener">打开下载页</a>' in html
    assert "还剩 3 天" in html and "QQ" in html or "云附件" in html
    assert url in text


def test_digest_page_is_escaped_masked_and_self_contained(register):
    config, store, rules = register
    path, _ = write_digest(config, store, rules, DAY, send=False)
    html = path.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "夜班&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;b&gt;坏人&lt;/b&gt;" in html
    assert "13800001111" not in html and "138****1111" in html
    assert BIO[:20] not in html  # no bios in the digest
    outside = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert all(u.startswith("https://mail.qq.com/") for u in outside)  # only the contestants' cloud files
    assert "<link" not in html and "@import" not in html
    assert "data:image/jpeg;base64," in html  # photo thumbnails inline
    assert "<svg" in html and 'viewBox="0 0 600 120"' in html


def test_digest_email_is_well_formed_with_both_parts(register):
    config, store, rules = register
    _, outbox_id = write_digest(config, store, rules, DAY)
    [row] = store.db.query("SELECT raw, to_addr, kind FROM outbox WHERE id=?", [outbox_id])
    message = email.message_from_bytes(row["raw"], policy=email.policy.default)
    assert (row["kind"], str(message["To"])) == ("digest", "organizers@example.org")
    assert message["Subject"].startswith("【投稿日报】2022-09-12 今日新增")
    assert message.get_body(("plain",)).get_content().startswith("投稿日报 2022-09-12（生成于 ")
    assert "<svg" in message.get_body(("html",)).get_content()
    assert b"\r\n" in row["raw"] and b"\n\n" not in row["raw"].replace(b"\r\n", b"")


def test_a_day_without_mail_still_gets_a_digest(register, tmp_path):
    config, store, rules = register
    digest = build_digest(store, rules, date(2022, 10, 30), TZ)
    assert digest.new_entries == [] and digest.totals["total"] > 0
    empty = Store(tmp_path / "empty.db", tmp_path / "files")
    path, _ = write_digest(config, empty, rules, date(2022, 8, 1), send=False)
    assert "今日没有收到新的投稿" in path.read_text(encoding="utf-8")


def test_mask_phone():
    assert mask_phone("18973859908") == "189****9908"
    assert mask_phone("0738-8313015") == "0738-****015"
    assert mask_phone(None) == ""


@pytest.fixture(scope="module")
def browser():
    chromium = Browser()
    yield chromium
    chromium.close()


def test_digest_on_a_desktop_and_a_phone(register, browser, tmp_path):
    """Screenshots in a real Chromium at 1280 and 390 px; at 390 nothing is wider than the screen, the
    lists turn into cards and the chart fits."""
    config, store, rules = register
    with_web = dataclasses.replace(config, web=WebConfig(base_url="https://contest.example.org/"))
    path, _ = write_digest(with_web, store, rules, DAY, send=False)
    phone = browser.facts(path, 390)
    assert phone["innerWidth"] == 390 and phone["scrollWidth"] <= 390 and phone["wide"] == [], phone
    assert max(phone["svg"]) <= 390 and set(phone["cards"]) == {"block"}
    desk = browser.facts(path, 1280)
    assert desk["scrollWidth"] <= 1280 and set(desk["cards"]) == {"table-row"}
    for width in WIDTHS:
        shot = tmp_path / f"digest-{width}.png"
        image = browser.shot(path, shot, width)
        assert image.width == width and image.height > 1500
        colours = image.getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50  # text, tables, the chart: not a blank page
        keep(shot, f"digest-{width}.png")


def test_run_schedules_the_digest_at_digest_at_in_the_time_zone(register):
    from inbox_daemon.daemon import build_scheduler, digest_job

    config, _, _ = register
    scheduler = build_scheduler(config)
    trigger = scheduler.get_job("digest").trigger
    assert str(trigger.timezone) == "Asia/Shanghai"
    assert {f.name: str(f) for f in trigger.fields}["hour"] == "21"
    assert {f.name: str(f) for f in trigger.fields}["minute"] == "0"
    digest_job(config)  # what the cron job does: today's page (a day without mail says so) and the email
    today = datetime.now(TZ).date().isoformat()
    page = Path(config.digest.reports_dir) / f"{today}.html"
    assert "今日没有收到新的投稿" in page.read_text(encoding="utf-8")


def test_units_that_have_and_have_not_reported():
    """An activity-report contest (kind "report", the units the notice addresses): who has reported."""
    from types import SimpleNamespace

    unit = lambda name, *aliases: SimpleNamespace(name=name, names=(name, *aliases))  # noqa: E731
    report = SimpleNamespace(id="activity_report", name="活动信息报送", kind="report",
                             closes=datetime(2022, 9, 30, 23, 59, 59, tzinfo=CST),
                             units=(unit("双峰县总工会", "双峰县工会"), unit("新化县总工会"), unit("市教育工会", "娄底市教育工会")))
    photo = SimpleNamespace(id="photo", name="摄影比赛", kind="entry", units=())
    rules = SimpleNamespace(contests={"activity_report": report, "photo": photo})
    entries = [{"contest": "activity_report", "fields": json.dumps({"unit": "双峰县工会"}), "sender_name": ""},
               {"contest": "activity_report", "fields": "{}", "sender_name": "娄底市教育工会"},
               {"contest": "photo", "fields": json.dumps({"unit": "新化县总工会"}), "sender_name": ""}]
    [status] = report_status(rules, entries)
    assert status["reported"] == ["双峰县总工会", "市教育工会"] and status["missing"] == ["新化县总工会"]
    assert status["closes"] == "2022年9月30日 23:59"
