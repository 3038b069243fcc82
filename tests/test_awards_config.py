"""The awards data inside the rules: the shipped defaults load, and every mistake names file, line, key and
reason in both languages, listed with the other rules problems by `inbox-daemon check` and at start-up."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from inbox_daemon.awards.config import common_awards, contest_awards, load_awards, reading_challenge
from inbox_daemon.errors import ConfigError
from inbox_daemon.rules import contest_ids, load_rules

RULES = Path(__file__).resolve().parents[1] / "rules"


def raw(name: str) -> dict:
    data = tomllib.loads((RULES / name).read_text(encoding="utf-8"))
    return data if name == "reading_challenge.toml" else data["awards"]


def test_defaults_follow_the_notice():
    rules = load_awards(RULES)
    assert set(rules.contests) == {"micro_video", "photo", "reading_promoter", "reading_team", "bookhouse"}
    video = rules.contests["micro_video"]
    assert [p.name for p in video.prizes] == ["一等奖", "二等奖", "三等奖", "最佳传播奖", "最佳剧本奖", "最佳造型奖", "优胜奖"]
    assert [c.name for c in video.jury.criteria] == ["思想性", "艺术性", "技术性"]
    assert rules.contests["reading_promoter"].prizes[0].name == "最具人气职工阅读推广人"
    reading = rules.reading
    assert (str(reading.opens), str(reading.closes), reading.top) == ("2022-08-01", "2022-10-10", 50)
    assert [reading.points(m) for m in (29, 30, 59, 60, 119, 120, 600)] == [0, 5, 5, 8, 8, 10, 10]


def test_the_reading_challenge_is_not_a_contest_and_the_awards_ride_on_the_rule_set():
    contests = {"micro_video", "photo", "reading_promoter", "reading_team", "bookhouse", "activity_report"}
    rules = load_rules(RULES)
    assert set(rules.contests) == set(contest_ids(RULES)) == contests
    assert rules.awards.contests["photo"].prizes[0].name == "一等奖"
    assert rules.awards.common.organizers == ("娄底市总工会", "娄底市委网信办")
    assert not (RULES / "awards").exists()  # the old folder is gone: one place for the data


def broken_rules(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> str:
    """A copy of the shipped rules with `old` replaced by `new` in the named files; the loader's complaint."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    for name, (old, new) in edits.items():
        text = (folder / name).read_text(encoding="utf-8")
        assert old in text, (name, old)
        (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(folder)
    return str(caught.value)


def test_a_broken_awards_table_is_refused_with_file_line_and_key(tmp_path):
    text = broken_rules(tmp_path, {
        "micro_video.toml": ('aggregate = "trimmed_mean"', 'aggregate = "median"'),
        "photo.toml": ("[[awards.prizes]]\nname = \"一等奖\"\ncount = 1", "[[awards.prizes]]\nname = \"一等奖\"\ncount = 0"),
        "common.toml": ('activity_contest = "activity_report"', 'activity_contest = "activity"'),
        "reading_challenge.toml": ("top = 50", "top = 10"),
    })
    lines = {name: (RULES / name).read_text(encoding="utf-8").splitlines() for name in
             ("micro_video.toml", "photo.toml", "common.toml", "reading_challenge.toml")}

    def line_of(name: str, needle: str, after: str = "") -> int:
        start = next(i for i, line in enumerate(lines[name]) if after in line) if after else 0
        return next(i for i, line in enumerate(lines[name]) if i >= start and needle in line) + 1

    assert "规则文件有错误（4 处）" in text
    assert (f"micro_video.toml 第 {line_of('micro_video.toml', 'aggregate =')} 行 / line "
            f"{line_of('micro_video.toml', 'aggregate =')}, awards.jury.aggregate: 取值必须是 mean、trimmed_mean") in text
    assert f"photo.toml 第 {line_of('photo.toml', 'count = 1', '[[awards.prizes]]')} 行" in text
    assert "awards.prizes[0].count: 取值不能小于 1 / must be at least 1" in text
    assert (f"common.toml 第 {line_of('common.toml', 'activity_contest')} 行 / line "
            f"{line_of('common.toml', 'activity_contest')}, awards.organization.activity_contest: 没有名为 activity 的比赛") in text
    assert f"reading_challenge.toml 第 {line_of('reading_challenge.toml', 'tiers =')} 行 / line" in text
    assert "tiers: 各等奖人数之和超过前 10 名" in text


def test_contest_awards_need_the_common_awards_table(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    common = (folder / "common.toml").read_text(encoding="utf-8")
    (folder / "common.toml").write_text(common[:common.index("# -- 奖项设置")], encoding="utf-8")
    with pytest.raises(ConfigError, match="common.toml, awards: 有比赛设置了奖项，common.toml 须有 \\[awards\\]"):
        load_rules(folder)
    for name in ("reading_challenge.toml", *(f"{c}.toml" for c in contest_ids(folder))):
        text = (folder / name).read_text(encoding="utf-8")
        if name == "reading_challenge.toml":
            (folder / name).unlink()
        elif "[awards]" in text:
            (folder / name).write_text(text[:text.index("# -- 奖项设置")], encoding="utf-8")
    assert load_rules(folder).awards is None  # rules without any awards data still judge mail


def problems(call, *args) -> str:
    with pytest.raises(ConfigError) as caught:
        call(*args)
    return str(caught.value)


def test_unknown_keys_types_and_ranges_are_reported_together():
    data = raw("micro_video.toml")
    data["jury"]["aggregate"] = "median"
    data["jury"]["criteria"][0]["max"] = -5
    data["prizes"][0]["count"] = "two"
    data["prizes"][1]["colour"] = "red"
    data["popularity"]["weights"]["views"] = 1
    text = problems(contest_awards, "micro_video", data, "micro_video.toml")
    assert "micro_video.toml, jury.aggregate: 取值必须是 mean、trimmed_mean / must be one of mean, trimmed_mean" in text
    assert "micro_video.toml, jury.criteria[0].max: 取值应在 1 到 1000 之间 / must be between 1 and 1000" in text
    assert "prizes[0].count: 类型应为 int / must be int" in text
    assert "prizes[1].colour: 未知的键 / unknown key" in text
    assert "popularity.weights.views" in text


def test_a_choice_prize_needs_a_shortlist_and_popularity_prizes_need_weights():
    data = raw("micro_video.toml")
    del data["prizes"][4]["shortlist"]
    del data["popularity"]
    text = problems(contest_awards, "micro_video", data, "micro_video.toml")
    assert "prizes[4].shortlist: 评委推荐名单人数必须填写" in text
    assert "popularity.weights: 有按人气评出的奖项，必须设置权重 / prizes by popularity need weights" in text


def test_reading_challenge_checks_brackets_window_and_tiers():
    data = raw("reading_challenge.toml")
    data["closes"] = data["opens"].replace(month=7)
    data["brackets"][1]["points"] = 12
    data["tiers"][2]["count"] = 100
    del data["columns"]["minutes"]
    text = problems(reading_challenge, data, "reading_challenge.toml")
    assert "closes: 结束日期早于开始日期 / ends before it opens" in text
    assert "brackets: 读得越久积分应越高" in text
    assert "tiers: 各等奖人数之和超过前 50 名" in text
    assert "columns.minutes: 必须给出该列的表头名称" in text


def test_common_checks_the_certificate_wording_and_the_due_time():
    data = raw("common.toml")
    data["certificate"]["text"] = "{name} 荣获 {prize}"
    data["organization"]["activity_due"] = data["organization"]["activity_due"].replace(tzinfo=None)
    text = problems(common_awards, data, "common.toml")
    assert "certificate.text: 只能使用 {name} {work} {contest} {award}" in text
    assert "organization.activity_due: 必须带时区" in text


def test_check_reports_a_broken_awards_table(tmp_path):
    from types import SimpleNamespace

    from inbox_daemon.check import check_rules
    broken_rules(tmp_path, {"micro_video.toml": ("weights = { plays = 1", "weights = { plays = -1")})
    result = check_rules(SimpleNamespace(rules_dir=tmp_path / "rules"))
    assert not result.ok and "awards.popularity.weights.plays: 必须是不小于 0 的数" in result.detail
