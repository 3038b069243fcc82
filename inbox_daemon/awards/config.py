"""The awards data of the rules (criteria, prizes, weights, brackets, wording) checked and frozen.

Every number, tier and word list of judging and awarding is data an organizer edits: the `[awards]`
table of each `rules/<contest>.toml`, `[awards]` of `rules/common.toml`, and
`rules/reading_challenge.toml`. The rules loader (`rules.py`) hands the raw tables to the functions
here; every problem names the file, the line, the key and the reason, in Chinese and English, and is
reported together with the other rules problems.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from ..errors import ConfigError
from ..validate import Lines, Problem, dotted, raise_problems

AGGREGATES = ("mean", "trimmed_mean")
PRIZE_SOURCES = ("jury", "popularity", "choice")
STAT_KEYS = ("title", "account", "author", "link", "plays", "likes", "shares", "comments")
READING_KEYS = ("member_id", "name", "unit", "date", "minutes")


@dataclass(frozen=True)
class Criterion:
    name: str
    max: float


@dataclass(frozen=True)
class Jury:
    criteria: tuple[Criterion, ...]
    aggregate: str = "trimmed_mean"  # the mean of totals, or with `trim_from` scores the trimmed mean
    trim_from: int = 5
    min_scores: int = 3


@dataclass(frozen=True)
class Prize:
    """An award of a list: `by` jury ranking, popularity ranking, or the organizer's choice from a shortlist."""

    name: str
    count: int
    by: str = "jury"
    shortlist: int = 0  # by="choice": how many of the best ranked not yet awarded make the shortlist


@dataclass(frozen=True)
class ContestAwards:
    contest: str
    title: str  # the contest as a certificate names it
    prizes: tuple[Prize, ...]
    jury: Jury | None = None
    weights: tuple[tuple[str, float], ...] = ()  # popularity: (count name, weight)

    def prize(self, name: str) -> Prize | None:
        return next((p for p in self.prizes if p.name == name), None)


@dataclass(frozen=True)
class Unit:
    name: str
    match: tuple[str, ...]  # words that put an entry's unit under this union


@dataclass(frozen=True)
class Common:
    organizers: tuple[str, ...]
    certificate_date: str
    certificate_heading: str
    certificate_text: str  # str.format with name, work, contest, award
    certificate_text_no_work: str
    font: str
    showcase_title: str
    showcase_intro: str
    platforms: tuple[str, ...]
    stats_columns: dict[str, tuple[str, ...]]
    units: tuple[Unit, ...]
    activity_contest: str
    activity_due: datetime
    notice_signature: str


@dataclass(frozen=True)
class Bracket:
    min_minutes: int
    points: int


@dataclass(frozen=True)
class ReadingChallenge:
    title: str
    opens: date
    closes: date
    brackets: tuple[Bracket, ...]  # highest first
    top: int
    tiers: tuple[Prize, ...]
    columns: dict[str, tuple[str, ...]]

    def points(self, minutes: float) -> int:
        return next((b.points for b in self.brackets if minutes >= b.min_minutes), 0)


@dataclass(frozen=True)
class AwardsRules:
    common: Common
    contests: dict[str, ContestAwards]
    reading: ReadingChallenge | None

    def contest(self, contest_id: str) -> ContestAwards:
        try:
            return self.contests[contest_id]
        except KeyError:
            raise ConfigError(f"比赛 {contest_id} 没有奖项设置 / no awards rules for contest {contest_id}") from None


# -- checking ---------------------------------------------------------------------------------------

class AwardsRulesError(ConfigError):
    """The awards data is wrong; `problems` lets the rules loader list them with its own."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        try:
            raise_problems(problems, "奖项规则有错误", "awards rules are invalid")
        except ConfigError as err:
            super().__init__(str(err))


def _key_path(key: str) -> tuple:
    """"jury.criteria[0].max" -> ("jury", "criteria", 0, "max")."""
    return tuple(int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", key))


class _Check:
    """Collects every problem of one table, so the organizer fixes them all in one go. `prefix` is
    where the table sits in its file (("awards",) for a contest file's `[awards]`), `text` the file's
    text, for line numbers."""

    def __init__(self, source: str, text: str = "", prefix: tuple = ()):
        self.source = Path(source).name
        self.lines = Lines(text)
        self.prefix = tuple(prefix)
        self.problems: list[Problem] = []

    def fail(self, key: str, zh: str, en: str) -> None:
        path = self.prefix + _key_path(key)
        self.problems.append(Problem(self.source, self.lines.line(path), dotted(path) or "(顶层)", zh, en))

    def table(self, data, spec: dict, prefix: str = "", required: tuple[str, ...] = ()) -> dict:
        """Known keys of the right type; returns only those, so later code may trust what it reads."""
        if not isinstance(data, dict):
            self.fail(prefix.rstrip("."), "必须是表", "must be a table")
            return {}
        good = {}
        for key, value in data.items():
            where = f"{prefix}{key}"
            if key not in spec:
                self.fail(where, "未知的键", "unknown key")
            elif not _is(value, spec[key]):
                name = spec[key].__name__ if isinstance(spec[key], type) else "/".join(t.__name__ for t in spec[key])
                self.fail(where, f"类型应为 {name}", f"must be {name}")
            else:
                good[key] = value
        for key in required:
            if key not in data:
                self.fail(f"{prefix}{key}", "必须填写", "is required")
        return good

    def number(self, value, key: str, low: float, high: float | None = None) -> None:
        if value is None:
            return
        if value < low or (high is not None and value > high):
            zh = f"取值应在 {low} 到 {high} 之间" if high is not None else f"取值不能小于 {low}"
            en = f"must be between {low} and {high}" if high is not None else f"must be at least {low}"
            self.fail(key, zh, en)

    def choice(self, value, key: str, choices: tuple[str, ...]) -> None:
        if value is not None and value not in choices:
            self.fail(key, f"取值必须是 {'、'.join(choices)}", f"must be one of {', '.join(choices)}")

    def strings(self, value, key: str, allow_empty: bool = False) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(key, "必须是非空文字的列表", "must be a list of non-empty strings")
            return ()
        if not value and not allow_empty:
            self.fail(key, "不能为空", "must not be empty")
        return tuple(v.strip() for v in value)

    def done(self) -> None:
        if self.problems:
            raise AwardsRulesError(self.problems)


def _is(value, expected) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        return False
    if isinstance(value, datetime) and datetime not in types:
        return False
    return isinstance(value, types)


NUMBER = (int, float)
_JURY = {"criteria": list, "aggregate": str, "trim_from": int, "min_scores": int}
_CRITERION = {"name": str, "max": NUMBER}
_PRIZE = {"name": str, "count": int, "by": str, "shortlist": int}
_CONTEST = {"contest": str, "title": str, "jury": dict, "prizes": list, "popularity": dict}
_POPULARITY = {"weights": dict}
_COMMON = {"certificate": dict, "showcase": dict, "stats": dict, "organization": dict, "notice": dict}
_NOTICE = {"signature": str}
_CERTIFICATE = {"organizers": list, "date": str, "heading": str, "text": str, "text_no_work": str, "font": str}
_SHOWCASE = {"title": str, "intro": str}
_STATS = {"platforms": list, "columns": dict}
_ORGANIZATION = {"units": list, "activity_contest": str, "activity_due": datetime}
_UNIT = {"name": str, "match": list}
_READING = {"title": str, "opens": date, "closes": date, "brackets": list, "top": int, "tiers": list, "columns": dict}
_BRACKET = {"min_minutes": int, "points": int}


def _prizes(check: _Check, raw: list, prefix: str, allowed: tuple[str, ...] = PRIZE_SOURCES) -> tuple[Prize, ...]:
    prizes, names = [], set()
    for i, item in enumerate(raw):
        where = f"{prefix}[{i}]."
        spec = check.table(item, _PRIZE, where, ("name", "count"))
        check.number(spec.get("count"), f"{where}count", 1)
        check.choice(spec.get("by"), f"{where}by", allowed)
        check.number(spec.get("shortlist"), f"{where}shortlist", 1)
        if spec.get("by") == "choice" and "shortlist" not in spec:
            check.fail(f"{where}shortlist", "评委推荐名单人数必须填写（by = \"choice\"）", "is required when by = \"choice\"")
        name = spec.get("name", "")
        if name in names:
            check.fail(f"{where}name", f"奖项“{name}”重复", f"prize {name!r} appears twice")
        names.add(name)
        prizes.append(Prize(name=name, count=spec.get("count", 1), by=spec.get("by", "jury"),
                            shortlist=spec.get("shortlist", 0)))
    return tuple(prizes)


def contest_awards(contest_id: str, data: dict, source: str, text: str = "", prefix: tuple = ()) -> ContestAwards:
    """One contest's `[awards]` table (`text` the file's text and `prefix` the table's place, for line numbers)."""
    check = _Check(source, text, prefix)
    spec = check.table(data, _CONTEST, "", ("title", "prizes"))
    if spec.get("contest", contest_id) != contest_id:
        check.fail("contest", f"必须与文件名一致（{contest_id}）", f"must equal the file name ({contest_id})")
    jury = None
    if "jury" in spec:
        raw = check.table(spec["jury"], _JURY, "jury.", ("criteria",))
        criteria = []
        for i, item in enumerate(raw.get("criteria", [])):
            c = check.table(item, _CRITERION, f"jury.criteria[{i}].", ("name", "max"))
            check.number(c.get("max"), f"jury.criteria[{i}].max", 1, 1000)
            criteria.append(Criterion(c.get("name", ""), float(c.get("max", 1))))
        if "criteria" in raw and not criteria:
            check.fail("jury.criteria", "至少要有一项评分标准", "needs at least one criterion")
        if len({c.name for c in criteria}) != len(criteria):
            check.fail("jury.criteria", "评分标准名称重复", "criterion names repeat")
        check.choice(raw.get("aggregate"), "jury.aggregate", AGGREGATES)
        check.number(raw.get("trim_from"), "jury.trim_from", 3)
        check.number(raw.get("min_scores"), "jury.min_scores", 1)
        jury = Jury(tuple(criteria), raw.get("aggregate", "trimmed_mean"), raw.get("trim_from", 5),
                    raw.get("min_scores", 3))
    prizes = _prizes(check, spec.get("prizes", []), "prizes")
    if spec.get("prizes") == []:
        check.fail("prizes", "至少要有一个奖项", "needs at least one prize")
    weights = ()
    if "popularity" in spec:
        raw = check.table(spec["popularity"], _POPULARITY, "popularity.", ("weights",))
        for key, value in raw.get("weights", {}).items():
            if key not in ("plays", "likes", "shares", "comments"):
                check.fail(f"popularity.weights.{key}", "只能是 plays、likes、shares、comments",
                           "must be one of plays, likes, shares, comments")
            elif not _is(value, NUMBER) or value < 0:
                check.fail(f"popularity.weights.{key}", "必须是不小于 0 的数", "must be a number >= 0")
            else:
                weights += ((key, float(value)),)
    uses = {p.by for p in prizes}
    if uses & {"jury", "choice"} and jury is None:
        check.fail("jury", "有按评审评出的奖项，必须设置评分标准", "prizes by jury or choice need a [jury] table")
    if "popularity" in uses and not weights:
        check.fail("popularity.weights", "有按人气评出的奖项，必须设置权重", "prizes by popularity need weights")
    check.done()
    return ContestAwards(contest=contest_id, title=spec["title"], prizes=prizes, jury=jury, weights=weights)


def _columns(check: _Check, raw: dict, prefix: str, keys: tuple[str, ...], required: tuple[str, ...]
             ) -> dict[str, tuple[str, ...]]:
    columns = {}
    for key, labels in raw.items():
        if key not in keys:
            check.fail(f"{prefix}{key}", f"未知的列，只能是 {'、'.join(keys)}", f"unknown column, one of {', '.join(keys)}")
            continue
        columns[key] = check.strings(labels, f"{prefix}{key}")
    for key in required:
        if key not in raw:
            check.fail(f"{prefix}{key}", "必须给出该列的表头名称", "the column's header labels are required")
    return columns


def common_awards(data: dict, source: str, text: str = "", prefix: tuple = ()) -> Common:
    """`[awards]` of common.toml: certificates, showcase, the platforms' columns, units, the notice."""
    check = _Check(source, text, prefix)
    spec = check.table(data, _COMMON, "", ("certificate", "showcase", "stats", "organization", "notice"))
    notice = check.table(spec.get("notice", {}), _NOTICE, "notice.", ("signature",))
    cert = check.table(spec.get("certificate", {}), _CERTIFICATE, "certificate.",
                       ("organizers", "date", "heading", "text", "text_no_work", "font"))
    for key in ("text", "text_no_work"):
        try:
            cert.get(key, "").format(name="", work="", contest="", award="")
        except (KeyError, IndexError, ValueError) as err:
            check.fail(f"certificate.{key}", f"只能使用 {{name}} {{work}} {{contest}} {{award}}：{err}",
                       f"may only use {{name}} {{work}} {{contest}} {{award}}: {err}")
    show = check.table(spec.get("showcase", {}), _SHOWCASE, "showcase.", ("title",))
    stats = check.table(spec.get("stats", {}), _STATS, "stats.", ("platforms", "columns"))
    columns = _columns(check, stats.get("columns", {}), "stats.columns.", STAT_KEYS, ("title", "plays"))
    org = check.table(spec.get("organization", {}), _ORGANIZATION, "organization.",
                      ("units", "activity_contest", "activity_due"))
    if org.get("activity_due") is not None and org["activity_due"].tzinfo is None:
        check.fail("organization.activity_due", "必须带时区，如 +08:00", "must carry an offset such as +08:00")
    units = []
    for i, item in enumerate(org.get("units", [])):
        u = check.table(item, _UNIT, f"organization.units[{i}].", ("name", "match"))
        units.append(Unit(u.get("name", ""), check.strings(u.get("match"), f"organization.units[{i}].match")))
    check.done()
    return Common(organizers=check.strings(cert["organizers"], "certificate.organizers"), certificate_date=cert["date"],
                  certificate_heading=cert["heading"], certificate_text=cert["text"],
                  certificate_text_no_work=cert["text_no_work"], font=cert["font"], showcase_title=show["title"],
                  showcase_intro=show.get("intro", ""), platforms=check.strings(stats["platforms"], "stats.platforms"),
                  stats_columns=columns, units=tuple(units), activity_contest=org["activity_contest"],
                  activity_due=org["activity_due"], notice_signature=notice["signature"])


def reading_challenge(data: dict, source: str, text: str = "", prefix: tuple = ()) -> ReadingChallenge:
    """`rules/reading_challenge.toml`: the window, the brackets, the tiers, the log's columns."""
    check = _Check(source, text, prefix)
    spec = check.table(data, _READING, "", tuple(_READING))
    if spec.get("opens") and spec.get("closes") and spec["opens"] > spec["closes"]:
        check.fail("closes", "结束日期早于开始日期", "ends before it opens")
    brackets = []
    for i, item in enumerate(spec.get("brackets", [])):
        b = check.table(item, _BRACKET, f"brackets[{i}].", ("min_minutes", "points"))
        check.number(b.get("min_minutes"), f"brackets[{i}].min_minutes", 1, 1440)
        check.number(b.get("points"), f"brackets[{i}].points", 1)
        brackets.append(Bracket(b.get("min_minutes", 1), b.get("points", 1)))
    brackets.sort(key=lambda b: -b.min_minutes)
    if len({b.min_minutes for b in brackets}) != len(brackets):
        check.fail("brackets", "分档的起点分钟数重复", "two brackets start at the same minute")
    if any(a.points <= b.points for a, b in zip(brackets, brackets[1:], strict=False)):
        check.fail("brackets", "读得越久积分应越高", "a longer bracket must give more points")
    check.number(spec.get("top"), "top", 1)
    tiers = _prizes(check, spec.get("tiers", []), "tiers", ("jury",))
    if spec.get("top") and sum(t.count for t in tiers) > spec["top"]:
        check.fail("tiers", f"各等奖人数之和超过前 {spec['top']} 名", f"tier counts add up to more than top {spec['top']}")
    columns = _columns(check, spec.get("columns", {}), "columns.", READING_KEYS, READING_KEYS)
    check.done()
    return ReadingChallenge(title=spec["title"], opens=spec["opens"], closes=spec["closes"], brackets=tuple(brackets),
                            top=spec["top"], tiers=tiers, columns=columns)


READING_FILE = "reading_challenge.toml"  # in the rules folder, beside the contests, and not one of them


def load_awards(rules_dir: str | Path) -> AwardsRules:
    """The awards data of a rules folder, checked with the rest of the rules (`rules.load_rules`)."""
    from ..rules import load_rules
    found = load_rules(rules_dir).awards
    if found is None:
        raise ConfigError(f"规则中没有奖项设置（common.toml 的 [awards]）/ the rules carry no [awards] in common.toml: {rules_dir}")
    return found
