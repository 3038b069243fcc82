"""The awards data: the shipped defaults load, and every mistake names file, key and reason in both languages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from inbox_daemon.awards.config import common_awards, contest_awards, load_awards, reading_challenge
from inbox_daemon.errors import ConfigError
from inbox_daemon.rules import load_rules

AWARDS = Path(__file__).resolve().parents[1] / "rules" / "awards"


def raw(name: str) -> dict:
    return tomllib.loads((AWARDS / name).read_text(encoding="utf-8"))


def test_defaults_follow_the_notice():
    rules = load_awards(AWARDS)
    assert set(rules.contests) == {"micro_video", "photo", "reading_promoter", "reading_team", "bookhouse"}
    video = rules.contests["micro_video"]
    assert [p.name for p in video.prizes] == ["一等奖", "二等奖", "三等奖", "最佳传播奖", "最佳剧本奖", "最佳造型奖", "优胜奖"]
    assert [c.name for c in video.jury.criteria] == ["思想性", "艺术性", "技术性"]
    assert rules.contests["reading_promoter"].prizes[0].name == "最具人气职工阅读推广人"
    reading = rules.reading
    assert (str(reading.opens), str(reading.closes), reading.top) == ("2022-08-01", "2022-10-10", 50)
    assert [reading.points(m) for m in (29, 30, 59, 60, 119, 120, 600)] == [0, 5, 5, 8, 8, 10, 10]


def test_the_contest_loader_does_not_take_the_awards_folder_for_contests():
    assert set(load_rules(AWARDS.parent).contests) == {"micro_video", "photo", "reading_promoter", "reading_team",
                                                      "bookhouse", "activity_report"}


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
    assert "micro_video.toml: jury.aggregate: 取值必须是 mean、trimmed_mean / must be one of mean, trimmed_mean" in text
    assert "micro_video.toml: jury.criteria[0].max: 取值应在 1 到 1000 之间 / must be between 1 and 1000" in text
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
