"""The reading challenge: brackets, the window, rows of one day added up, ties by the moment the total
was reached, bad rows by number; and a generated log of 500 members checked against an independent count."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from conftest import run_cli, write_config

from inbox_daemon.awards.config import load_awards
from inbox_daemon.awards.reading import read_log, rank, score
from inbox_daemon.awards.sheets import Row

RULES = load_awards(Path(__file__).resolve().parents[1] / "rules").reading


def row(n, member, name, when, minutes, unit="娄星区总工会"):
    return Row(n, {"member_id": member, "name": name, "unit": unit, "date": when, "minutes": minutes})


def test_rows_of_one_day_are_added_up_before_the_bracket():
    readings, bad = read_log([row(2, "M1", "张三", "2022-08-03 08:00", 20), row(3, "M1", "张三", "2022-08-03 21:00", 15),
                              row(4, "M2", "李四", "2022-08-03", 29), row(5, "M3", "王五", "2022/8/4", "1,20")])
    members = {m.member_id: m for m in score(readings, RULES)[0]}
    assert bad == []
    assert members["M1"].points == 5 and members["M1"].reached_at == datetime(2022, 8, 3, 21, 0)
    assert members["M2"].points == 0
    assert members["M3"].points == 10  # "1,20" is 120 minutes


def test_only_days_inside_the_window_count():
    readings, _ = read_log([row(2, "M1", "张三", "2022-07-31", 300), row(3, "M1", "张三", "2022-08-01", 60),
                            row(4, "M1", "张三", "2022-10-10 23:59", 120), row(5, "M1", "张三", "2022-10-11", 300)])
    members, outside = score(readings, RULES)
    assert members[0].points == 18 and outside == 2


def test_equal_totals_are_ordered_by_the_moment_the_total_was_reached():
    readings, _ = read_log([
        row(2, "LATE", "甲", "2022-08-05 22:00", 120),
        row(3, "EARLY", "乙", "2022-08-05 07:00", 100), row(4, "EARLY", "乙", "2022-08-05 07:30", 30),
        row(5, "MORE", "丙", "2022-08-01 10:00", 120), row(6, "MORE", "丙", "2022-08-02 10:00", 30),
        # The day's bracket is reached at 09:00 (60 + 60); what he reads after that adds no points.
        row(7, "MID", "丁", "2022-08-05 08:00", 60), row(8, "MID", "丁", "2022-08-05 09:00", 60),
        row(9, "MID", "丁", "2022-08-05 23:00", 50)])
    placed = rank(score(readings, RULES)[0], RULES)
    assert [p.member.member_id for p in placed] == ["MORE", "EARLY", "MID", "LATE"]
    assert placed[1].member.reached_at == datetime(2022, 8, 5, 7, 30)
    assert placed[2].member.reached_at == datetime(2022, 8, 5, 9, 0)
    assert [p.prize for p in placed] == ["一等奖"] * 4


def test_bad_rows_are_listed_with_their_numbers_and_reasons():
    readings, bad = read_log([row(2, "M1", "", "2022-08-03", 40), row(3, "M2", "李四", "2022-13-40", 40),
                              row(4, "M3", "王五", "昨天", 40), row(5, "M4", "赵六", "2022-08-03", -5),
                              row(6, "M5", "钱七", "2022-08-03", "半小时"), row(7, None, "孙八", "2022-08-03", 40),
                              row(8, "M6", "周九", None, None), row(9, "M7", "吴十", "2022-08-03", 40)])
    assert [r.member_id for r in readings] == ["M7"]
    reasons = {b.row: b.reason for b in bad}
    assert reasons == {2: "会员ID没有姓名", 3: "无法识别的日期“2022-13-40”", 4: "无法识别的日期“昨天”",
                       5: "阅读时长为负数（-5）", 6: "阅读时长不是数字“半小时”", 7: "缺少会员ID", 8: "缺少日期；缺少阅读时长"}


# -- 500 members through the command line -------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志"
UNITS = ["娄星区总工会", "双峰县总工会", "新化县总工会", "涟源市总工会", "冷水江市总工会", "娄底经开区工会联合会", "市直机关工会"]
WINDOW = (date(2022, 8, 1), date(2022, 10, 10))


def generate_log(seed: int = 2022):
    """(good readings, bad rows with their reason word, every row in file order)."""
    rng = random.Random(seed)
    good = []
    members = [(f"M{i:04d}", rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), rng.choice(UNITS))
               for i in range(1, 501)]
    days = [WINDOW[0] + timedelta(days=i) for i in range((WINDOW[1] - WINDOW[0]).days + 1)]
    for index, (member, name, unit) in enumerate(members):
        if index < 12:
            # Deliberate ties at the top: 30 days of 120+ minutes (300 points); the moment on the last day differs,
            # and M0004/M0005 reach it at exactly the same minute.
            minute = {3: 15, 4: 15}.get(index, 5 * index)
            for day in days[:29]:
                good.append((member, name, unit, datetime.combine(day, datetime.min.time()) + timedelta(hours=20), 125))
            last = datetime.combine(days[40], datetime.min.time()) + timedelta(hours=7, minutes=minute)
            good += [(member, name, unit, last - timedelta(minutes=30), 70), (member, name, unit, last, 50)]
            continue
        for day in days:
            if rng.random() < 0.45:
                total = rng.choice([10, 25, 30, 45, 59, 60, 75, 119, 120, 150, 200])
                moment = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.randrange(6, 22),
                                                                                  minutes=rng.randrange(60))
                if rng.random() < 0.3 and total >= 20:  # the app writes one day in several rows
                    first = rng.randrange(5, total - 5)
                    good += [(member, name, unit, moment, first),
                             (member, name, unit, moment + timedelta(minutes=rng.randrange(1, 90)), total - first)]
                else:
                    good.append((member, name, unit, moment, total))
        if index % 10 == 0:  # reading before and after the window: read, never counted
            good.append((member, name, unit, datetime(2022, 7, 30, 9), 200))
            good.append((member, name, unit, datetime(2022, 10, 11, 9), 200))
    rng.shuffle(good)
    bad = [("M0100", "", UNITS[0], "2022-08-09 10:00", 45, "没有姓名"), ("M0101", "某某", UNITS[1], "2022-02-30", 45, "日期"),
           ("M0102", "某甲", UNITS[2], "上周五", 45, "日期"), ("M0103", "某乙", UNITS[3], "2022-08-09", -40, "负数"),
           ("M0104", "某丙", UNITS[4], "2022-08-09", "四十", "不是数字"), ("", "某丁", UNITS[5], "2022-08-09", 45, "缺少会员ID"),
           ("M0105", "某戊", UNITS[6], None, 45, "缺少日期")]
    positions = sorted(rng.sample(range(len(good)), len(bad)))
    expected_bad = {}
    rows = list(good)
    for offset, (position, item) in enumerate(zip(positions, bad, strict=True)):
        rows.insert(position + offset, item)
    for number, item in enumerate(rows, start=3):  # a title row and the header come first
        if len(item) == 6:
            expected_bad[number] = item[5]
    return good, expected_bad, rows


def write_log(rows, path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["湘工惠“湘悦读·工力量”阅读挑战赛 阅读记录导出"])
    sheet.append(["序号", "会员ID", "姓名", "所属工会", "阅读日期", "阅读时长（分钟）"])
    for n, item in enumerate(rows, 1):
        member, name, unit, when, minutes = item[:5]
        if isinstance(when, datetime) and n % 3:
            when = when.strftime("%Y-%m-%d %H:%M")  # mostly text, as exports often are; the rest real date cells
        sheet.append([n, member or None, name or None, unit, when, minutes])
    book.save(path)


def independent_top(good) -> list[tuple[str, int, datetime]]:
    """The notice's rule written out again, without the project's code."""
    days: dict[tuple[str, date], list[tuple[datetime, float]]] = {}
    for member, _, _, when, minutes in good:
        days.setdefault((member, when.date()), []).append((when, minutes))
    points, reached = {}, {}
    for (member, day) in sorted(days, key=lambda k: k[1]):
        if not WINDOW[0] <= day <= WINDOW[1]:
            continue
        readings = sorted(days[(member, day)])
        total = sum(m for _, m in readings)
        if total >= 120:
            earned, need = 10, 120
        elif total >= 60:
            earned, need = 8, 60
        elif total >= 30:
            earned, need = 5, 30
        else:
            continue
        running = [sum(m for _, m in readings[:n + 1]) for n in range(len(readings))]
        points[member] = points.get(member, 0) + earned
        reached[member] = next(readings[n][0] for n in range(len(readings)) if running[n] >= need)
    order = sorted(points, key=lambda m: (-points[m], reached[m], m))
    return [(m, points[m], reached[m]) for m in order[:50]]


@pytest.mark.integration
def test_500_members_top_50_match_an_independent_count(tmp_path):
    good, expected_bad, rows = generate_log()
    log = tmp_path / "阅读记录.xlsx"
    write_log(rows, log)
    config = write_config(tmp_path, [{"name": "demo", "source": "maildir", "path": str(tmp_path / "Maildir"),
                                      "contests": ["micro_video"]}])
    out = tmp_path / "排名.xlsx"
    done = run_cli("--config", str(config), "reading-challenge", str(log), "-o", str(out))
    assert done.returncode == 0, done.stderr
    expected = independent_top(good)
    sheet = load_workbook(out).worksheets[0]
    got = [r for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert [(r[2], r[5]) for r in got] == [(m, p) for m, p, _ in expected]
    assert [r[7] for r in got] == [when.strftime("%Y-%m-%d %H:%M") for _, _, when in expected]
    assert [r[1] for r in got] == ["一等奖"] * 5 + ["二等奖"] * 15 + ["三等奖"] * 30
    # The deliberate tie at the top: twelve members on 300 points, ordered by minute; two reach it together.
    assert [r[2] for r in got[:12]] == ["M0001", "M0002", "M0003", "M0004", "M0005"] + [f"M{i:04d}" for i in range(6, 13)]
    assert {r[2] for r in got if r[9]} == {"M0004", "M0005"}
    bad_sheet = load_workbook(out)["问题行"]
    bad = {r[0]: r[1] for r in bad_sheet.iter_rows(min_row=2, values_only=True)}
    assert set(bad) == set(expected_bad)
    for number, word in expected_bad.items():
        assert word in bad[number], (number, bad[number])
        assert f"第 {number} 行" in done.stdout
    outside = {(m, when.date()) for m, _, _, when, _ in good if not WINDOW[0] <= when.date() <= WINDOW[1]}
    assert len(outside) == 96 and f"活动时段外的阅读 {len(outside)} 天次未计入" in done.stdout
