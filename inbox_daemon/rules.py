"""`rules/*.toml` loaded into frozen dataclasses, checked whole at load.

Every number, date, label and word list of the contests lives in those files;
this module only knows their shape. A rules folder with any problem (an
unknown key, a wrong type, a window that closes before it opens, a regex that
does not compile, a rule id without a severity or a message) is refused with
every problem named by file, line and key, so judging never meets a broken one.

The awards data rides along: an `[awards]` table in a contest file (criteria, prizes, weights), in
`common.toml` (certificates, showcase, platforms, units) and `reading_challenge.toml` (not a
contest). `awards/config.py` checks those tables; their problems are listed with the others.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from .awards.config import (READING_FILE, AwardsRules, AwardsRulesError, common_awards, contest_awards,
                            reading_challenge)
from .errors import ConfigError
from .validate import (INVALID, Checker, Day, Flag, Integer, Items, Moment, Number, Problem, Raw, Table, Tables,
                       Text, raise_problems)

SEVERITIES = ("reject", "review", "warn", "info")
FIELD_KINDS = ("text", "title", "phone", "gender", "bio", "date", "int")
CONTEST_KINDS = ("entry", "report")  # a report (activity_report) is acknowledged, not judged as a work
# Every rule id the daemon can record (RULES.md's table): each needs a severity and a message in common.toml.
RULE_IDS = ("field_missing", "phone_invalid", "gender_invalid", "bio_too_short", "bio_length", "attachment_missing",
            "attachment_type", "video_too_long", "video_unreadable", "video_resolution", "photo_too_small",
            "photo_set_size", "photo_edited", "form_missing", "form_unreadable", "team_too_small", "team_too_new",
            "late", "early", "large_attachment_link", "duplicate_resubmission", "duplicate_other_sender",
            "contest_unknown", "attachment_count", "archive_unreadable", "withdrawal_request", "not_a_submission",
            "probe_timeout", "processing_failed", "reply_question")
RECEIPT_PREFIX = re.compile(r"[A-Z]{2,4}")  # RECEIPT_IN_TEXT finds receipts in subjects by this shape


@dataclass(frozen=True)
class FieldRule:
    name: str
    labels: tuple[str, ...]
    required: bool = True
    kind: str = "text"
    unless: str | None = None  # not required when this other field is present
    fallback: str | None = None  # when absent, this other field's value stands in (团队名称 for 作者)
    choices: tuple[str, ...] = ()
    min: int | None = None
    before: date | None = None
    rule: str | None = None  # the rule id raised when `min` or `before` is not met


@dataclass(frozen=True)
class VideoRule:
    count: int = 1
    max_duration_s: float = 180
    min_short_side: int | None = None
    extra_names: tuple[str, ...] = ()  # 花絮, 幕后: a second video named so is an extra, not a second work


@dataclass(frozen=True)
class PhotoRule:
    format: str = "JPEG"
    min_bytes: int = 2_000_000
    set_min: int = 4
    edited_software: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormRule:
    name: str
    formats: tuple[str, ...]


@dataclass(frozen=True)
class Unit:
    """A unit the notice asks to report (activity_report): its name and the shorter ways mail names it."""

    name: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Contest:
    id: str
    name: str
    receipt_prefix: str
    opens: datetime
    closes: datetime
    keywords: tuple[str, ...]
    ask_keywords: tuple[str, ...] = ()
    attachment: str | None = None  # the attachment kind that routes here
    fields: tuple[FieldRule, ...] = ()
    video: VideoRule | None = None
    photos: PhotoRule | None = None
    form: FormRule | None = None
    messages: dict = field(default_factory=dict)
    kind: str = "entry"  # entry | report
    units: tuple[Unit, ...] = ()  # report: the units expected to report by `closes`
    severities: dict = field(default_factory=dict)  # this contest's own severity for a rule id

    def field_rule(self, name: str) -> FieldRule | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Common:
    ignore: dict
    gender: dict[str, tuple[str, ...]]
    large_attachment: dict
    receipts: dict
    units: dict
    bio: dict[str, int]
    severities: dict[str, str]
    messages: dict[str, str]
    replies: dict = field(default_factory=dict)  # words of replies that are not corrections
    submission: dict = field(default_factory=dict)  # what makes a message a submission at all
    forms: dict = field(default_factory=dict)  # names of a photographed paper form


@dataclass(frozen=True)
class RuleSet:
    common: Common
    contests: dict[str, Contest]
    awards: AwardsRules | None = None  # None when common.toml has no [awards]

    def severity(self, rule_id: str, contest: Contest | None = None) -> str:
        base = rule_id.split(":", 1)[0]
        return (contest.severities.get(base) if contest else None) or self.common.severities[base]

    def message(self, rule_id: str, contest: Contest | None, **values) -> str:
        base = rule_id.split(":", 1)[0]
        template = (contest.messages.get(base) if contest else None) or self.common.messages[base]
        try:
            return template.format(**values)
        except (KeyError, IndexError):
            return template


# -- schema ------------------------------------------------------------------------------------------------

WORDS = Items()
REGEX = Text(regex=True)

COMMON = Table({
    "ignore": Table({key: WORDS for key in ("auto_submitted_values_not", "autoreply_headers", "precedence",
                                            "list_headers", "bounce_senders", "bulk_return_path_prefixes",
                                            "bounce_content_types", "auto_reply_subjects")}, required=True),
    "gender": Table({"male": Items(nonempty=True, required=True), "female": Items(nonempty=True, required=True)},
                    required=True),
    "large_attachment": Table({
        "url_patterns": Items(REGEX),  # unnamed links (older rules files): shown as 云附件
        "links": Table(values=Items(REGEX, nonempty=True)),  # provider name -> its link patterns
        "markers": WORDS,
        "size_pattern": Text(regex=True, groups=2),
        "expiry_pattern": Text(regex=True, groups=5),
        "expiry_days_pattern": Text(regex=True, groups=1),
        "code_pattern": Text(regex=True, groups=1),
    }),
    "receipts": Table({"unknown_prefix": Text()}),
    "units": Table({"unions": WORDS, "other": Text()}),
    "bio": Table({"too_short": Integer(0), "normal_min": Integer(0), "normal_max": Integer(1)}),
    "severities": Table(values=Text(choices=SEVERITIES), required=True),
    "messages": Table(values=Text(), required=True),
    "replies": Table({"thanks": WORDS, "questions": WORDS, "withdrawal": WORDS, "short_reply_chars": Integer(1)}),
    "submission": Table({"evidence_fields": WORDS, "spam_words": WORDS}),
    "forms": Table({"image_names": WORDS}),
    "awards": Raw(),  # awards/config.py: common_awards
})

FIELD = Table({"labels": Items(nonempty=True, required=True), "required": Flag(), "kind": Text(choices=FIELD_KINDS),
               "unless": Text(), "fallback": Text(), "choices": WORDS, "min": Integer(0), "before": Day(),
               "rule": Text()})

CONTEST = Table({
    "id": Text(required=True), "name": Text(required=True), "kind": Text(choices=CONTEST_KINDS),
    "receipt_prefix": Text(required=True), "opens": Moment(required=True), "closes": Moment(required=True),
    "routing": Table({"keywords": WORDS, "ask_keywords": WORDS,
                      "attachment": Text(choices=("video", "image", "document"))}, required=True),
    "fields": Table(values=FIELD),
    "video": Table({"count": Integer(1), "max_duration_s": Number(), "min_short_side": Integer(1),
                    "extra_names": WORDS}),
    "photos": Table({"format": Text(), "min_bytes": Integer(1), "set_min": Integer(2), "edited_software": WORDS}),
    "form": Table({"name": Text(required=True), "formats": Items(nonempty=True, required=True)}),
    "messages": Table(values=Text()),
    "severities": Table(values=Text(choices=SEVERITIES)),
    "units": Tables(Table({"name": Text(required=True), "aliases": WORDS})),
    "awards": Raw(),  # awards/config.py: contest_awards
})


def _strings(values) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _check_common(c: Checker, raw: dict, data: dict) -> None:
    """Cross-key checks; which rules exist is read from `raw`, so a bad value is not also reported missing."""
    severities, messages = raw.get("severities", {}), raw.get("messages", {})
    if not isinstance(severities, dict) or not isinstance(messages, dict):
        return
    for rule in severities:
        if rule not in messages:
            c.fail(("severities", rule), "该规则缺少中文说明（[messages]）", "the rule has no message in [messages]")
    for rule in messages:
        if rule not in severities:
            c.fail(("messages", rule), "该规则缺少严重程度（[severities]）", "the rule has no severity in [severities]")
    for rule in RULE_IDS:
        if rule not in severities:
            c.fail(("severities",), f"缺少规则 {rule} 的严重程度和说明", f"rule {rule} has no severity and message")
    bio = data.get("bio", {})
    if bio.get("normal_min", 0) > bio.get("normal_max", 10**9):
        c.fail(("bio", "normal_min"), "不能大于 normal_max", "must not exceed normal_max")
    if bio.get("too_short", 0) > bio.get("normal_min", 10**9):
        c.fail(("bio", "too_short"), "不能大于 normal_min", "must not exceed normal_min")


def _check_contest(c: Checker, path: Path, data: dict, rule_ids: set[str]) -> None:
    if "id" in data and data["id"] != path.stem:
        c.fail(("id",), f"必须与文件名一致（{path.stem}）", f"must equal the file name ({path.stem})")
    if "receipt_prefix" in data and not RECEIPT_PREFIX.fullmatch(data["receipt_prefix"]):
        c.fail(("receipt_prefix",), "必须是 2–4 个大写英文字母，如 WSP", "must be 2-4 capital letters, e.g. WSP")
    opens, closes = data.get("opens"), data.get("closes")
    if isinstance(opens, datetime) and isinstance(closes, datetime) and not opens < closes:
        c.fail(("closes",), "截止时间必须晚于开始时间（opens）", "must be later than opens")
    fields = data.get("fields", {})
    for name, spec in fields.items():
        for key in ("unless", "fallback"):
            if spec.get(key) and spec[key] not in fields:
                c.fail(("fields", name, key), f"没有名为 {spec[key]} 的字段", f"there is no field named {spec[key]}")
        if ("min" in spec or "before" in spec) and not spec.get("rule"):
            c.fail(("fields", name), "设了 min 或 before 时须用 rule 指明规则编号",
                   "min or before needs a rule id in `rule`")
        if spec.get("rule") and spec["rule"] not in rule_ids:
            c.fail(("fields", name, "rule"), f"未知的规则编号 {spec['rule']}", f"unknown rule id {spec['rule']}")
        if "min" in spec and spec.get("kind") != "int":
            c.fail(("fields", name, "min"), "只用于 kind = \"int\" 的字段", 'applies to kind = "int" only')
        if "before" in spec and spec.get("kind") != "date":
            c.fail(("fields", name, "before"), "只用于 kind = \"date\" 的字段", 'applies to kind = "date" only')
    for table in ("messages", "severities"):
        for key in data.get(table, {}):
            if key not in rule_ids:
                c.fail((table, key), "不是已知的规则编号", "is not a known rule id")
    if data.get("kind") == "report" and not data.get("units"):
        c.fail(("units",), "报送类（kind = \"report\"）须列出应报送的单位 [[units]]",
               'a report (kind = "report") lists the units expected to report in [[units]]')


def _contest(data: dict) -> Contest:
    routing = data["routing"]
    fields = tuple(FieldRule(name=name, labels=_strings(spec["labels"]), required=spec.get("required", True),
                             kind=spec.get("kind", "text"), unless=spec.get("unless"), fallback=spec.get("fallback"),
                             choices=_strings(spec.get("choices")), min=spec.get("min"), before=spec.get("before"),
                             rule=spec.get("rule"))
                   for name, spec in data.get("fields", {}).items())
    video = photos = form = None
    if "video" in data:
        spec = data["video"]
        video = VideoRule(**{**spec, "extra_names": _strings(spec.get("extra_names"))})
    if "photos" in data:
        spec = data["photos"]
        photos = PhotoRule(**{**spec, "edited_software": tuple(s.lower() for s in spec.get("edited_software", ()))})
    if "form" in data:
        form = FormRule(name=data["form"]["name"], formats=tuple(f.lower() for f in data["form"]["formats"]))
    return Contest(id=data["id"], name=data["name"], receipt_prefix=data["receipt_prefix"], opens=data["opens"],
                   closes=data["closes"], keywords=_strings(routing.get("keywords")),
                   ask_keywords=_strings(routing.get("ask_keywords")), attachment=routing.get("attachment"),
                   fields=fields, video=video, photos=photos, form=form, messages=dict(data.get("messages", {})),
                   kind=data.get("kind", "entry"),
                   units=tuple(Unit(u["name"], _strings(u.get("aliases"))) for u in data.get("units", ())),
                   severities=dict(data.get("severities", {})))


def _read(path: Path, problems: list[Problem]) -> tuple[str, dict | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(Problem(path.name, None, "", "无法读取规则文件（须为 UTF-8）", f"cannot read the rules file: {err}"))
        return "", None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"line (\d+)", str(err))
        problems.append(Problem(path.name, int(line[1]) if line else None, "", "TOML 语法错误",
                                f"TOML syntax error: {err}"))
        return text, None


def _contest_files(rules_dir: Path) -> list[Path]:
    return [p for p in sorted(Path(rules_dir).glob("*.toml")) if p.stem != "common" and p.name != READING_FILE]


def contest_ids(rules_dir: Path) -> tuple[str, ...]:
    return tuple(p.stem for p in _contest_files(rules_dir))


def _awards_part(problems: list[Problem], build, *args):
    """One awards table checked; its problems join the rest instead of stopping the load."""
    try:
        return build(*args)
    except AwardsRulesError as err:
        problems += err.problems
        return None


def load_rules(rules_dir: str | Path) -> RuleSet:
    """Load and check every rules file; raise ConfigError listing each problem with file, line and key."""
    rules_dir = Path(rules_dir)
    common_path = rules_dir / "common.toml"
    if not common_path.exists():
        raise ConfigError(f"规则目录缺少 common.toml / rules dir lacks common.toml: {rules_dir}")
    problems: list[Problem] = []
    text, raw = _read(common_path, problems)
    common_data: dict = {}
    common_awards_ = None
    if raw is not None:
        checker = Checker(common_path, text)
        checked = checker.check(COMMON, raw)
        common_data = checked if checked is not INVALID else {}
        _check_common(checker, raw, common_data)
        problems += checker.problems
        if isinstance(common_data.get("awards"), dict):
            common_awards_ = _common_awards(common_path, text, common_data["awards"], problems)
    rule_ids = set(common_data.get("severities", {})) | set(RULE_IDS)
    contests, prefixes, contest_awards_ = {}, {}, {}
    for path in _contest_files(rules_dir):
        text, raw = _read(path, problems)
        if raw is None:
            continue
        checker = Checker(path, text)
        data = checker.check(CONTEST, raw)
        if data is INVALID:
            problems += checker.problems
            continue
        _check_contest(checker, path, data, rule_ids)
        prefix = data.get("receipt_prefix")
        if prefix in prefixes:
            checker.fail(("receipt_prefix",), f"与 {prefixes[prefix]} 的回执号前缀重复",
                         f"the same receipt prefix as {prefixes[prefix]}")
        prefixes.setdefault(prefix, path.name)
        problems += checker.problems
        if isinstance(data.get("awards"), dict):
            contest_awards_[path.stem] = _awards_part(problems, contest_awards, path.stem, data["awards"], path.name,
                                                      text, ("awards",))
        if not checker.problems:
            contests[data["id"]] = _contest(data)
    reading = _reading_challenge(rules_dir / READING_FILE, problems)
    awards = _awards_rules(common_awards_, "awards" in common_data, contest_awards_, reading, problems)
    if not contests and not problems:
        problems.append(Problem(str(rules_dir), None, "", "没有比赛规则文件", "no contest rules files"))
    raise_problems(problems, "规则文件有错误", "rules files are invalid")
    common = Common(ignore=common_data.get("ignore", {}),
                    gender={k: tuple(str(v).lower() for v in vs) for k, vs in common_data["gender"].items()},
                    large_attachment=common_data.get("large_attachment", {}), receipts=common_data.get("receipts", {}),
                    units=common_data.get("units", {}), bio=common_data.get("bio", {}),
                    severities=common_data["severities"], messages=common_data["messages"],
                    replies=common_data.get("replies", {}), submission=common_data.get("submission", {}),
                    forms=common_data.get("forms", {}))
    return RuleSet(common=common, contests=contests, awards=awards)


def _common_awards(path: Path, text: str, data: dict, problems: list[Problem]):
    found = _awards_part(problems, common_awards, data, path.name, text, ("awards",))
    if found and found.activity_contest not in contest_ids(path.parent):
        checker = Checker(path, text)
        checker.fail(("awards", "organization", "activity_contest"), f"没有名为 {found.activity_contest} 的比赛",
                     f"there is no contest {found.activity_contest}")
        problems += checker.problems
    return found


def _reading_challenge(path: Path, problems: list[Problem]):
    if not path.exists():
        return None
    text, raw = _read(path, problems)
    return _awards_part(problems, reading_challenge, raw, path.name, text) if raw is not None else None


def _awards_rules(common, common_given: bool, contests_awards: dict, reading,
                  problems: list[Problem]) -> AwardsRules | None:
    """The awards data of the whole folder, once every table of it is good."""
    if common is None:
        if not common_given and (contests_awards or reading):
            problems.append(Problem("common.toml", None, "awards", "有比赛设置了奖项，common.toml 须有 [awards]（证书、成果展示、"
                                    "平台数据列、单位）", "contests carry [awards], so common.toml needs [awards]"))
        return None
    if None in contests_awards.values():
        return None
    return AwardsRules(common=common, contests=contests_awards, reading=reading)
