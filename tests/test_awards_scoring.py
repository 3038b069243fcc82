"""Pure tests of jury aggregation, progress and allocation, with every expected number worked out by hand."""

from __future__ import annotations

import pytest

from inbox_daemon.awards.allocation import Adjustment, adjust, allocate, popularity_ranking, weighted
from inbox_daemon.awards.config import ContestAwards, Criterion, Jury, Prize
from inbox_daemon.awards.scoring import Candidate, Score, check_points, progress, rank

JURY = Jury((Criterion("思想性", 40), Criterion("艺术性", 30), Criterion("技术性", 30)), "trimmed_mean", 5, 3)


def s(receipt, juror, *points):
    return Score(receipt, juror, tuple(float(p) for p in points))


def test_trimmed_mean_with_five_scores_drops_one_highest_and_one_lowest():
    # Totals 90, 70, 85, 60, 88: drop 90 and 60, mean of 70, 85, 88 = 243 / 3 = 81.0
    scores = [s("A", "j1", 35, 30, 25), s("A", "j2", 30, 20, 20), s("A", "j3", 35, 25, 25),
              s("A", "j4", 20, 20, 20), s("A", "j5", 38, 25, 25)]
    [result] = rank(JURY, [Candidate("A", "2022-08-10T00:00:00+00:00")], scores)
    assert result.score == pytest.approx(81.0)
    assert result.trimmed and result.used == 3 and result.totals == (60, 70, 85, 88, 90)
    # The first criterion is averaged over the same three kept scores: (30 + 35 + 38) / 3
    assert result.first == pytest.approx(103 / 3)


def test_plain_mean_below_five_scores_and_when_rules_say_mean():
    scores = [s("A", "j1", 35, 30, 25), s("A", "j2", 30, 20, 20), s("A", "j3", 35, 25, 25)]
    [result] = rank(JURY, [Candidate("A", "t")], scores)
    assert result.score == pytest.approx((90 + 70 + 85) / 3) and not result.trimmed
    five = scores + [s("A", "j4", 20, 20, 20), s("A", "j5", 38, 25, 25)]
    mean_jury = Jury(JURY.criteria, "mean", 5, 3)
    [result] = rank(mean_jury, [Candidate("A", "t")], five)
    assert result.score == pytest.approx((90 + 70 + 85 + 60 + 88) / 5) and not result.trimmed


def test_ties_go_to_the_first_criterion_then_the_earlier_entry():
    candidates = [Candidate("LATE", "2022-09-01T00:00:00+00:00"), Candidate("EARLY", "2022-08-01T00:00:00+00:00"),
                  Candidate("ART", "2022-07-01T00:00:00+00:00")]
    scores = []
    for juror in ("j1", "j2", "j3"):
        scores += [s("LATE", juror, 30, 30, 20), s("EARLY", juror, 30, 30, 20), s("ART", juror, 25, 30, 25)]
    ranked = rank(JURY, candidates, scores)
    # All total 80; ART has less 思想性 so it is last although it arrived first; EARLY beats LATE by time.
    assert [r.receipt for r in ranked] == ["EARLY", "LATE", "ART"]
    assert [r.rank for r in ranked] == [1, 2, 3]


def test_too_few_scores_are_flagged_not_ranked_and_conflicts_never_count():
    candidates = [Candidate("A", "1"), Candidate("B", "2")]
    scores = [s("A", j, 30, 20, 20) for j in ("j1", "j2", "j3")] + [s("B", j, 40, 30, 30) for j in ("j1", "j2", "j3")]
    ranked = rank(JURY, candidates, scores, conflicts={("B", "j3")})
    assert ranked[0].receipt == "A" and ranked[0].rank == 1
    assert ranked[1].receipt == "B" and ranked[1].rank is None and "只有 2 份评分" in ranked[1].flag


def test_progress_counts_scored_over_assigned_without_conflicts():
    scores = [s("A", "j1", 1, 1, 1), s("B", "j1", 1, 1, 1), s("A", "j2", 1, 1, 1)]
    rows = {p.juror: p for p in progress(["j1", "j2"], ["A", "B", "C"], scores, {("C", "j1")})}
    assert (rows["j1"].assigned, rows["j1"].scored, rows["j1"].conflicts, rows["j1"].complete) == (2, 2, 1, True)
    assert (rows["j2"].assigned, rows["j2"].scored, rows["j2"].missing) == (3, 1, ("B", "C"))


def test_points_are_checked_against_the_criteria():
    assert check_points([40, 30, 30], JURY) == []
    assert "技术性的分数应在 0 到 30 之间" in check_points([40, 30, 31], JURY)[0]
    assert "应给出 3 项评分" in check_points([40, 30], JURY)[0]
    assert "不是数字" in check_points([40, "x", 1], JURY)[0]
    assert check_points([-1, 0, 0], JURY)


RULES = ContestAwards("micro_video", "微视频比赛", (
    Prize("一等奖", 1), Prize("二等奖", 2), Prize("最佳传播奖", 1, "popularity"),
    Prize("最佳剧本奖", 1, "choice", 3), Prize("优胜奖", 2)), JURY, (("plays", 1.0), ("likes", 5.0)))


def test_allocation_fills_prizes_in_order_and_never_twice():
    jury = ["R1", "R2", "R3", "R4", "R5", "R6", "R7"]
    liked = ["R2", "R6", "R1"]  # R2 already holds 二等奖: 最佳传播奖 goes to the next most popular, R6
    found = allocate(RULES, jury, liked, {"最佳剧本奖": ["R5"]})
    assert [(a.receipt, a.prize) for a in found.awards] == [
        ("R1", "一等奖"), ("R2", "二等奖"), ("R3", "二等奖"), ("R6", "最佳传播奖"), ("R5", "最佳剧本奖"),
        ("R4", "优胜奖"), ("R7", "优胜奖")]
    assert found.shortlists["最佳剧本奖"] == ("R4", "R5", "R7")
    assert len({a.receipt for a in found.awards}) == len(found.awards)
    assert found.open_places == {}


def test_choices_outside_the_shortlist_or_already_awarded_are_refused_and_places_stay_open():
    found = allocate(RULES, ["R1", "R2", "R3"], [], {"最佳剧本奖": ["R1", "R9"]})
    assert "R1 已获一等奖" in found.notes[0] and "R9 不在推荐名单中" in found.notes[1]
    assert found.open_places == {"最佳传播奖": 1, "最佳剧本奖": 1, "优胜奖": 2}


def test_adjustments_move_an_award_and_keep_one_per_entry():
    base = allocate(RULES, ["R1", "R2", "R3", "R4", "R5"], ["R5"])
    changed = adjust(base, RULES, [Adjustment("R4", "一等奖", "评委会复议"), Adjustment("R1", None, "作品存在版权争议"),
                                   Adjustment("R4", "二等奖", "改回")])
    prizes = {a.receipt: a.prize for a in changed.awards}
    assert "R1" not in prizes and prizes["R4"] == "二等奖"
    assert [a.receipt for a in changed.awards].count("R4") == 1
    assert "二等奖：3 个，超过规则的 2 个名额" in changed.notes
    assert changed.open_places["一等奖"] == 1
    assert next(a for a in changed.awards if a.receipt == "R4").reason == "改回"


def test_popularity_ranking_by_weights_and_then_time():
    points = {"A": weighted({"plays": 100, "likes": 10}, RULES.weights), "B": 150.0, "C": 0.0}
    assert points["A"] == 150.0
    assert popularity_ranking(points, {"A": "2022-09", "B": "2022-08"}) == ["B", "A"]
