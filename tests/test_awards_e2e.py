"""A contest from mail to awards: 40 micro-video entries and a few photo and reading-promoter entries
made with real media, passed through a Maildir by `poll --once`; three jurors with one conflict and one
juror who leaves two entries unscored; five photo jurors for a trimmed mean checked by hand; the
platforms' counts imported; allocation with the rules' tier counts; publication freezing the scores;
the award list, the certificates (rendered and read back with poppler), the winner notices and the
showcase opened in a real headless Chromium, from disk and from a web server on loopback."""

from __future__ import annotations

import csv
import email
import email.policy
import http.server
import json
import mailbox
import re
import sqlite3
import subprocess
import threading
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conftest import run_cli, write_config

from inbox_daemon.awards import AwardsError, jury, results
from inbox_daemon.awards.config import load_awards
from inbox_daemon.config import load_config
from inbox_daemon.demo import media
from inbox_daemon.demo.samples import BIO, CST, PUBLICITY, compose
from inbox_daemon.store import Store

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "awards"
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛"
WORKS = ["钢花", "守护", "夜班", "初心", "匠心", "追光", "逆行", "坚守", "远航", "晨曦", "春耕", "电网卫士", "桥", "路",
         "灯火", "车间里的歌", "矿山", "田野", "讲台", "白衣", "守护", "平凡之路", "铁轨", "炉火", "脚手架", "水电站",
         "焊花", "织机", "针线", "粮仓", "快递小哥", "外卖骑手", "网格员", "护林员", "环卫工", "消防员", "乡村医生",
         "老师", "锅炉房", "传承"]
UNITS = ["娄底市第一人民医院", "华菱涟源钢铁有限公司", "新化县教育局", "双峰县农业农村局", "冷水江市锑都公司",
         "国网娄底供电公司", "娄星区环卫所", "娄底经开区三一重工"]
JURORS = ("juror_li", "juror_wang", "juror_zhou")
PHOTO_JURORS = ("p1", "p2", "p3", "p4", "p5")
MP4, JPEG, DOCX = "video/mp4", "image/jpeg", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def person(i: int) -> dict:
    return {"author": SURNAMES[i] + "晓" + "明华军芳"[i % 4], "unit": UNITS[i % len(UNITS)], "title": WORKS[i],
            "phone": f"139{i:08d}", "sender": f"worker{i:02d}@qq.com"}


def video_entry(i: int, clip: bytes) -> bytes:
    p = person(i)
    body = "\n".join([f"作品名称：《{p['title']}》", f"作者姓名：{p['author']}", "性别：男", f"联系电话：{p['phone']}",
                      f"工作单位：{p['unit']}", f"作者及作品简介：{BIO}"])
    return compose(sender=p["sender"], sender_name=p["author"], subject=f"微视频比赛《{p['title']}》", body=body,
                   received=datetime(2022, 8, 2, 9, tzinfo=CST) + timedelta(hours=13 * i),
                   message_id=f"<video-{i}@qq.com>", attachments=[(f"{p['title']}-{p['author']}.mp4", clip, MP4)])


def photo_entry(i: int, photos: list[bytes]) -> bytes:
    body = "\n".join([f"作品名称：光影{i}", f"作者：摄影者{i}", "作者单位：涟源钢铁集团", f"联系方式：1870738{i:04d}",
                      "作品简介：炼钢工人在炉前测温取样，汗水与钢花交织，电话 18707380000。", "拍摄时间：2022年6月18日",
                      "拍摄地点：涟钢炼钢厂"])
    return compose(sender=f"photo{i}@163.com", to=PUBLICITY, subject=f"摄影比赛投稿 光影{i}", body=body,
                   received=datetime(2022, 9, 1, 9, tzinfo=CST) + timedelta(hours=i), message_id=f"<photo-{i}@163.com>",
                   attachments=[(f"IMG_{i}_{n}.jpg", data, JPEG) for n, data in enumerate(photos)])


def promoter_entry(i: int, clip: bytes) -> bytes:
    form = media.make_docx("阅读推广人风采展示作品申报表", [
        ["序号", "姓名", "所在单位及职务", "湘工惠/风芒/新娄底APP账号", "作品上传时间", "联系电话", "备注"],
        ["1", f"推广人{i}", "娄底市图书馆 馆员", f"xgh_reader{i}", "2022-09-14", f"1387385{i:04d}", ""]])
    return compose(sender=f"reader{i}@qq.com", subject=f"阅读推广人风采展示-推广人{i}", body="视频和申报表见附件",
                   received=datetime(2022, 9, 10, 9, tzinfo=CST) + timedelta(hours=i), message_id=f"<reader-{i}@qq.com>",
                   attachments=[(f"推广人{i}.mp4", clip, MP4), ("附件1 申报表.docx", form, DOCX)])


def points_for(i: int, juror: int) -> list[float]:
    """Scores that make the ranking interesting: two entries tie on the total (the first criterion decides),
    two tie on everything (the earlier entry wins)."""
    if i in (10, 20):
        return [[36, 24, 20], [34, 26, 20], [35, 25, 20]][juror] if i == 10 else [30, 30, 20]
    if i in (11, 21):
        return [33, 25, 22]
    return [20 + (i * 7 + juror * 3) % 21, 10 + (i * 5 + juror) % 21, 10 + (i * 3 + 2 * juror) % 21]


@pytest.fixture(scope="module")
def contest(tmp_path_factory):
    """The register after one real pass over a Maildir of real entries."""
    root = tmp_path_factory.mktemp("awards")
    box = mailbox.Maildir(root / "Maildir", create=True)
    for i in range(40):
        box.add(video_entry(i, media.make_video(3 + i, 640, 360)))
    singles = [[media.make_jpeg(size=2_050_000 + i, seed=40 + i, width=1600, height=1067)] for i in range(3)]
    group = [[media.make_jpeg(size=2_010_000 + n, seed=60 + n, width=1200, height=1200) for n in range(4)]]
    for i, photos in enumerate(singles + group):
        box.add(photo_entry(i, photos))
    for i in range(3):
        box.add(promoter_entry(i, media.make_video(5 + i, 480, 270)))
    box.close()
    config_path = write_config(root, [{"name": "demo", "source": "maildir", "path": str(root / "Maildir"),
                                       "contests": ["micro_video", "photo", "reading_promoter"]}],
                               smtp={"transport": "file", "outbox_dir": str(root / "outbox"),
                                     "from": "robot@contest.example.org"})
    done = run_cli("--config", str(config_path), "poll", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    return root, config_path


def open_store(config_path: Path) -> Store:
    return Store.from_config(load_config(config_path))


def cli(config_path: Path, *args: str):
    done = run_cli("--config", str(config_path), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def judged(contest):
    """The jury's work through the library and the organizer's through the command line, up to publication."""
    root, config_path = contest
    awards = load_awards(load_config(config_path).rules_dir)
    video, photo = awards.contest("micro_video"), awards.contest("photo")
    store = open_store(config_path)
    receipts = [c.receipt for c in jury.candidates(store, "micro_video")]
    by_title = {json.loads(store.register.entry(r)["fields"])["title"]: r for r in receipts}
    order = [next(r for r in receipts if store.register.entry(r)["message_id"] == f"<video-{i}@qq.com>") for i in range(40)]
    for name in JURORS:
        cli(config_path, "awards", "juror", "micro_video", name)
    cli(config_path, "awards", "round", "open", "micro_video", "--name", "初评")
    jury.declare_conflict(store, "micro_video", order[5], "juror_li", "同单位")
    for j, name in enumerate(JURORS):
        for i, receipt in enumerate(order):
            if (name == "juror_li" and i == 5) or (name == "juror_zhou" and i in (38, 39)):
                continue
            jury.record_score(store, video, receipt, name, points_for(i, j), comment=f"评语{i}")
    progress_before_close = jury.juror_progress(store, "micro_video")
    closed = cli(config_path, "awards", "round", "close", "micro_video")
    try:
        jury.record_score(store, video, order[0], "juror_li", [1, 1, 1])
    except AwardsError as err:
        after_close = str(err)
    store.close()

    photo_store = open_store(config_path)
    photo_receipts = [c.receipt for c in jury.candidates(photo_store, "photo")]
    for name in PHOTO_JURORS:
        jury.assign(photo_store, "photo", name, "organizer")
    jury.open_round(photo_store, "photo", "初评", "organizer")
    hand = {"p1": [35, 30, 25], "p2": [30, 20, 20], "p3": [35, 25, 25], "p4": [20, 20, 20], "p5": [38, 25, 25]}
    for i, receipt in enumerate(photo_receipts):
        for name in PHOTO_JURORS:
            points = hand[name] if i == 0 else [20 + i, 20 + i, 10 + (len(name) + i) % 10]
            jury.record_score(photo_store, photo, receipt, name, points)
    jury.close_round(photo_store, "photo", "organizer")
    photo_store.close()

    stats = root / "新娄底导出.csv"
    write_stats(stats, order, by_title)
    imported = cli(config_path, "import-stats", str(stats), "--platform", "新娄底")

    allocated = cli(config_path, "awards", "allocate", "micro_video")
    store = open_store(config_path)
    shortlist = results.compute(store, video).shortlists["最佳剧本奖"]
    store.close()
    cli(config_path, "awards", "choose", "micro_video", "最佳剧本奖", shortlist[2])
    store = open_store(config_path)
    costume = results.compute(store, video).shortlists["最佳造型奖"]
    store.close()
    cli(config_path, "awards", "choose", "micro_video", "最佳造型奖", costume[0])
    store = open_store(config_path)
    last_merit = max((r for r in results.saved(store, "micro_video") if r["prize"] == "优胜奖"), key=lambda r: r["place"])
    store.close()
    cli(config_path, "awards", "adjust", "micro_video", last_merit["receipt"], "--remove", "--reason", "作品涉及版权争议")
    cli(config_path, "awards", "adjust", "micro_video", order[5], "--prize", "优胜奖", "--reason", "回避后评分不足，评委会复议给予优胜奖")
    cli(config_path, "awards", "publish", "micro_video")
    cli(config_path, "awards", "allocate", "photo")
    cli(config_path, "awards", "publish", "photo")
    return {"root": root, "config": config_path, "video": video, "photo": photo, "order": order, "by_title": by_title,
            "progress": progress_before_close, "closed": closed, "after_close": after_close,
            "photo_receipts": photo_receipts, "shortlist": shortlist, "costume": costume,
            "removed": last_merit["receipt"], "imported": imported, "allocated": allocated, "stats": stats}


def write_stats(path: Path, order: list[str], by_title: dict) -> None:
    """A platform export: a title row, then the header; rows to match by title, by account, by title and
    author, one ambiguous title, unmatched rows and an unreadable count."""
    rows = [["新娄底“网聚职工正能量”专栏数据导出 2022-10-12"],
            ["视频标题", "发布账号", "作者", "作品链接", "播放量", "点赞数", "转发数", "评论数"]]
    for i in range(40):
        if WORKS[i] == "守护":
            continue
        plays = 90000 if i == 7 else 100 + i  # WORKS[7]: by far the most played
        rows.append([f"#争做中国好网民# 《{WORKS[i]}》", f"user{i}", "", f"https://x.example/v/{i}", plays, i, 0, 1])
    rows.append(["阅读推广人风采", "xgh_reader1", "", "https://x.example/r/1", "1.2万", 300, 40, 12])
    rows.append(["《守护》", "user-a", "", "https://x.example/v/s1", 500, 5, 1, 0])              # two entries: ambiguous
    rows.append(["《守护》", "user-b", person(20)["author"], "https://x.example/v/s2", 800, 8, 2, 1])  # the author decides
    rows.append(["不存在的作品", "nobody", "", "https://x.example/v/n1", 50, 1, 0, 0])            # unmatched
    rows.append(["另一部作品", "somebody", "路人甲", "https://x.example/v/n2", "很多", 1, 0, 0])  # unmatched, bad count
    with path.open("w", encoding="gb18030", newline="") as handle:  # as Chinese office software writes CSV
        csv.writer(handle).writerows(rows)


# -- the jury and the organizer -----------------------------------------------------------------------------

def test_forty_entries_arrived_through_a_real_pass(contest):
    _, config_path = contest
    store = open_store(config_path)
    try:
        assert len(jury.candidates(store, "micro_video")) == 40
        assert len(jury.candidates(store, "photo")) == 4
        assert len(jury.candidates(store, "reading_promoter")) == 3
    finally:
        store.close()


def test_scores_conflict_missing_juror_and_the_ranking(judged):
    order, video = judged["order"], judged["video"]
    progress = {p.juror: p for p in judged["progress"]}
    assert (progress["juror_li"].assigned, progress["juror_li"].scored, progress["juror_li"].conflicts) == (39, 39, 1)
    assert progress["juror_wang"].complete and (progress["juror_wang"].scored, progress["juror_wang"].assigned) == (40, 40)
    assert not progress["juror_zhou"].complete and set(progress["juror_zhou"].missing) == {order[38], order[39]}
    store = open_store(judged["config"])
    try:
        ranking = jury.ranking(store, video)
        flagged = [r.receipt for r in ranking if r.rank is None]
        assert sorted(flagged) == sorted([order[5], order[38], order[39]])
        assert all("只有 2 份评分" in r.flag for r in ranking if r.rank is None)
        # The expected order written out again: mean of three totals, then the first criterion, then arrival.
        expected = []
        for i in range(40):
            if i in (5, 38, 39):
                continue
            given = [points_for(i, j) for j in range(3)]
            expected.append((-sum(map(sum, given)) / 3, -sum(g[0] for g in given) / 3, i))
        expected.sort()
        assert [r.receipt for r in ranking if r.rank] == [order[i] for *_, i in expected]
        position = {r.receipt: r.rank for r in ranking}
        assert position[order[10]] < position[order[20]]  # equal totals of 80: 思想性 35 beats 30
        assert position[order[11]] + 1 == position[order[21]]  # equal in everything: the earlier entry first
        assert judged["after_close"] == "micro_video 没有进行中的评审轮次，评分已截止"
        assert "评委 juror_zhou：已评 38/40，回避 0 件，未完成，缺 2 件" in judged["closed"]
    finally:
        store.close()


def test_trimmed_mean_of_five_photo_jurors_checked_by_hand(judged):
    store = open_store(judged["config"])
    try:
        ranking = {r.receipt: r for r in jury.ranking(store, judged["photo"])}
        first = ranking[judged["photo_receipts"][0]]
        # Totals 90, 70, 85, 60, 88: the highest (90) and the lowest (60) go, (70 + 85 + 88) / 3 = 81
        assert first.totals == (60, 70, 85, 88, 90) and first.trimmed and first.used == 3
        assert first.score == pytest.approx(81.0)
    finally:
        store.close()


def test_popularity_import_keeps_unmatched_and_ambiguous_rows_for_staff(judged):
    config_path, order = judged["config"], judged["order"]
    assert "已导入 新娄底 数据 43 行：匹配 40 行，有多个可能 1 行，未匹配 2 行" in judged["imported"]
    assert "第 45 行：plays 不是有效数字“很多”" in judged["imported"]
    listed = cli(config_path, "awards", "stats-open")
    assert "第 42 行  有多个可能  《《守护》》" in listed and "不存在的作品" in listed and "另一部作品" in listed
    store = open_store(config_path)
    try:
        rows = {r["row_number"]: r for r in store.db.query("SELECT * FROM stat_rows")}
        assert len(rows) == 43  # nothing dropped: 38 titles, the promoter, two 守护, two unknown works
        assert rows[41]["matched_by"] == "account" and store.register.entry(rows[41]["receipt"])["contest"] == "reading_promoter"
        assert rows[41]["plays"] == 12000
        assert rows[43]["receipt"] == order[20] and rows[43]["matched_by"] == "title"
        assert sorted(json.loads(rows[42]["candidates"])) == sorted([order[1], order[20]])
        assert rows[44]["status"] == rows[45]["status"] == "unmatched" and rows[45]["likes"] == 1
        ambiguous_id = rows[42]["id"]
    finally:
        store.close()
    cli(config_path, "awards", "stats-match", str(ambiguous_id), order[1])
    # The platform's next export: the hand match survives the re-import.
    again = cli(config_path, "import-stats", str(judged["stats"]), "--platform", "新娄底")
    assert "有多个可能 0 行，未匹配 2 行" in again
    store = open_store(config_path)
    try:
        latest = store.db.execute("SELECT MAX(id) FROM stat_imports").fetchone()[0]
        row = next(store.db.query("SELECT * FROM stat_rows WHERE import=? AND row_number=42", [latest]))
        assert (row["receipt"], row["matched_by"]) == (order[1], "hand")
    finally:
        store.close()


def test_allocation_follows_the_rules_and_never_awards_twice(judged):
    video, order = judged["video"], judged["order"]
    store = open_store(judged["config"])
    try:
        saved = results.saved(store, "micro_video")
        counts = {p.name: sum(r["prize"] == p.name for r in saved) for p in video.prizes}
        assert counts == {p.name: p.count for p in video.prizes}  # 2, 4, 6, 1, 1, 1, 10 as in the rules
        assert len({r["receipt"] for r in saved}) == len(saved) == 25
        ranked = [r.receipt for r in jury.ranking(store, video) if r.rank]
        prizes = {r["receipt"]: r["prize"] for r in saved}
        assert [prizes[r] for r in ranked[:12]] == ["一等奖"] * 2 + ["二等奖"] * 4 + ["三等奖"] * 6
        assert prizes[order[7]] == "最佳传播奖"  # the most played, and not already a tier winner
        assert prizes[judged["shortlist"][2]] == "最佳剧本奖" and prizes[judged["costume"][0]] == "最佳造型奖"
        assert prizes[order[5]] == "优胜奖" and judged["removed"] not in prizes  # the organizer's two adjustments
        assert next(r for r in saved if r["receipt"] == order[5])["reason"].startswith("回避后评分不足")
        events = [e["action"] for e in store.db.query("SELECT action FROM events WHERE action LIKE 'awards.%'")]
        for action in ("awards.juror_assigned", "awards.round_opened", "awards.conflict_declared", "awards.scored",
                       "awards.round_closed", "awards.stats_imported", "awards.allocated", "awards.chosen",
                       "awards.adjusted", "awards.published"):
            assert action in events, action
        actor = store.db.execute("SELECT actor FROM events WHERE action='awards.adjusted'").fetchone()[0]
        assert actor.startswith("cli:")
        with pytest.raises(sqlite3.IntegrityError):  # the database itself: one award per entry
            store.db.execute("INSERT INTO award_results (receipt, contest, prize, by) VALUES (?, 'x', 'y', 'z')",
                             [saved[0]["receipt"]])
    finally:
        store.close()


def test_a_published_list_is_frozen(judged):
    video, order, config_path = judged["video"], judged["order"], judged["config"]
    store = open_store(config_path)
    try:
        before = [(r.receipt, r.score) for r in jury.ranking(store, video)]
        with pytest.raises(AwardsError, match="已公布"):
            jury.open_round(store, "micro_video", "复评", "organizer")
        with pytest.raises(AwardsError, match="已公布"):
            jury.record_score(store, video, order[0], "juror_li", [40, 30, 30])
        with pytest.raises(sqlite3.DatabaseError, match="frozen"):  # no code path can change it
            with store.write():
                store.db.execute("UPDATE award_scores SET total = 100 WHERE receipt=?", [order[0]])
        with pytest.raises(sqlite3.DatabaseError, match="frozen"):
            with store.write():
                store.db.execute("DELETE FROM award_results WHERE contest='micro_video'")
        assert [(r.receipt, r.score) for r in jury.ranking(store, video)] == before
    finally:
        store.close()
    refused = run_cli("--config", str(config_path), "awards", "adjust", "micro_video", order[0], "--remove",
                      "--reason", "试图修改")
    assert refused.returncode != 0 and "获奖名单已公布，评分和奖项已冻结" in refused.stderr


# -- what organizers get out ------------------------------------------------------------------------------

def test_award_list_has_the_notice_columns(judged):
    out = judged["root"] / "获奖名单.xlsx"
    cli(judged["config"], "awards", "list", "micro_video", "-o", str(out))
    sheet = load_workbook(out).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("序号", "奖项", "作品名称", "作者/团队", "单位", "联系电话", "回执号")
    assert len(rows) == 26 and [r[1] for r in rows[1:3]] == ["一等奖", "一等奖"]
    first = rows[1]
    i = judged["order"].index(first[6])
    assert first[2:6] == (WORKS[i], person(i)["author"], person(i)["unit"], person(i)["phone"])


def _pdf_text(pdf: Path, *tool: str) -> str:
    return subprocess.run([*tool, str(pdf), "-"] if tool[0] == "pdftotext" else [*tool, str(pdf)],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def test_certificates_one_page_per_winner_with_embedded_fonts(judged):
    out = judged["root"] / "荣誉证书.pdf"
    printed = cli(judged["config"], "awards", "certificates", "micro_video", "-o", str(out))
    assert "荣誉证书 25 页" in printed
    info = _pdf_text(out, "pdfinfo")
    assert re.search(r"Pages:\s+25\n", info) and re.search(r"Page size:\s+841\.89 x 595\.2\d* pts \(A4\)", info)  # landscape
    text = _pdf_text(out, "pdftotext", "-layout")
    pages = text.split("\f")
    store = open_store(judged["config"])
    try:
        winners = results.winners(store, judged["video"])
    finally:
        store.close()
    assert len(pages) - 1 == len(winners)  # pdftotext ends every page with a form feed
    for page, winner in zip(pages, winners, strict=False):
        flat = "".join(page.split())
        assert winner.name in flat and winner.prize in flat and f"《{winner.work}》" in flat
        assert "娄底市总工会" in flat and "二〇二二年十一月" in flat
    fonts = _pdf_text(out, "pdffonts").splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # the "emb" column
    assert any("Noto-Serif-CJK" in line for line in fonts)
    DOCS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(out),
                    str(DOCS / "certificate")], check=True, timeout=60)
    assert (DOCS / "certificate.png").stat().st_size > 20_000


def test_winner_notices_go_out_once_when_staff_press_send(judged):
    config_path, root = judged["config"], judged["root"]
    outbox = root / "outbox"
    before = set(outbox.glob("*.eml"))
    preview = cli(config_path, "awards", "notices", "micro_video")
    assert "加 --send 发送" in preview and set(outbox.glob("*.eml")) == before  # nothing queued yet
    sent = cli(config_path, "awards", "notices", "micro_video", "--send")
    assert "新加入发件队列 25 封" in sent and "本次发出 25 封" in sent
    new = sorted(set(outbox.glob("*.eml")) - before)
    assert len(new) == 25
    again = cli(config_path, "awards", "notices", "micro_video", "--send")
    assert "新加入发件队列 0 封，此前已发 25 封" in again and len(set(outbox.glob("*.eml")) - before) == 25
    message = email.message_from_bytes(new[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"].startswith("【获奖通知】") and message["Auto-Submitted"] == "auto-replied"
    i = int(message["In-Reply-To"].strip("<>").split("@")[0].split("-")[1])
    assert message["To"] == person(i)["sender"]
    body = message.get_body(("plain",)).get_content()
    assert f"您的作品《{WORKS[i]}》" in body and "荣获" in body


# -- the showcase in a real browser --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def showcase(judged):
    target = judged["root"] / "成果展示"
    printed = cli(judged["config"], "awards", "showcase", str(target), "--show", "description")
    assert "件作品" in printed
    return target


@pytest.fixture(scope="module")
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--allow-file-access-from-files", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


MEDIA_STATE = """
// Video posters are not in document.images: load each poster as an image of its own to see it arrives.
window.__posters = window.__posters || Array.from(document.querySelectorAll('video[poster]')).map(v => {
  const image = new Image(); image.src = v.poster; return image; });
return {
  images: Array.from(document.images).concat(window.__posters).map(i => [i.getAttribute('src'), i.complete,
                                                                          i.naturalWidth]),
  videos: Array.from(document.querySelectorAll('video')).map(v => [v.currentSrc, v.readyState, v.videoWidth,
                                                                    v.error ? v.error.code : null]),
  width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight
};"""


def _load_everything(driver, url: str, width: int) -> dict:
    driver.set_window_size(width, 900)
    driver.get(url)
    deadline = time.monotonic() + 30
    while True:
        state = driver.execute_script(MEDIA_STATE)
        ready = all(c and w > 0 for _, c, w in state["images"]) and all(r >= 1 and w > 0 for _, r, w, _ in state["videos"])
        if ready or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


@pytest.mark.parametrize("width", [1280, 390])
def test_showcase_opens_from_disk_with_every_image_and_video(showcase, judged, chromium, width):
    state = _load_everything(chromium, (showcase / "index.html").as_uri(), width)
    assert len(state["videos"]) == 25 and len(state["images"]) >= 25 + 3 + 4  # posters, singles, a set of four
    broken = [s for s in state["images"] if not (s[1] and s[2] > 0)] + [v for v in state["videos"] if v[1] < 1 or v[2] == 0]
    assert not broken, broken
    assert state["width"] <= width  # no sideways scrolling on a phone
    html = (showcase / "index.html").read_text(encoding="utf-8")
    for i in range(40):
        assert person(i)["phone"] not in html and person(i)["sender"] not in html
    assert "18707380000" not in html and "＊＊" in html  # a phone inside a ticked description is masked
    assert not re.search(r"[\w.]+@[\w.]+\.\w+", html)
    chromium.set_window_size(width, min(state["height"], 2600 if width > 500 else 3200))
    DOCS.mkdir(parents=True, exist_ok=True)
    chromium.save_screenshot(str(DOCS / f"showcase-{width}.png"))


def test_showcase_from_a_web_server_on_loopback(showcase, chromium):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(showcase))
    http.server.SimpleHTTPRequestHandler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        state = _load_everything(chromium, f"http://127.0.0.1:{server.server_port}/", 1280)
        assert all(c and w > 0 for _, c, w in state["images"])
        assert all(r >= 1 and w > 0 for _, r, w, _ in state["videos"]) and len(state["videos"]) == 25
    finally:
        server.shutdown()
        server.server_close()


def test_organization_table_and_commands_document_an_example(judged):
    out = judged["root"] / "组织奖.xlsx"
    printed = cli(judged["config"], "awards", "organization", "-o", str(out))
    assert "优秀组织奖参考表" in printed
    rows = {r[1]: r for r in load_workbook(out).worksheets[0].iter_rows(min_row=2, values_only=True)}
    assert rows["新化县总工会"][3] == 5 and rows["新化县总工会"][8] == "未报送"  # entries from 新化县教育局
    assert rows["涟源市总工会"][6] == "微视频比赛、“好工人·向未来”摄影比赛"
    from click.testing import CliRunner

    from inbox_daemon.cli import main
    from inbox_daemon.cli.awards import awards
    runner = CliRunner()
    for name in ["import-stats", "reading-challenge"]:
        assert "Example: inbox-daemon" in runner.invoke(main, [name, "--help"]).output
    for name in awards.commands:
        assert "Example: inbox-daemon awards" in runner.invoke(main, ["awards", name, "--help"]).output, name
