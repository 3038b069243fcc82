"""`rules/*.toml` loaded into frozen dataclasses, with a schema check that names file, key and reason.

Every number, date, label and word list of the contests lives in those files;
this module only knows their shape.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from .errors import ConfigError

SEVERITIES = ("reject", "review", "warn", "info")
FIELD_KINDS = ("text", "title", "phone", "gender", "bio", "date", "int")


@dataclass(frozen=True)
class FieldRule:
    name: str
    labels: tuple[str, ...]
    required: bool = True
    kind: str = "text"
    unless: str | None = None  # not required when this other field is present
    choices: tuple[str, ...] = ()
    min: int | None = None
    before: date | None = None


@dataclass(frozen=True)
class VideoRule:
    count: int = 1
    max_duration_s: float = 180
    min_short_side: int | None = None


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


@dataclass(frozen=True)
class RuleSet:
    common: Common
    contests: dict[str, Contest]

    def severity(self, rule_id: str) -> str:
        return self.common.severities[rule_id.split(":", 1)[0]]

    def message(self, rule_id: str, contest: Contest | None, **values) -> str:
        base = rule_id.split(":", 1)[0]
        template = (contest.messages.get(base) if contest else None) or self.common.messages[base]
        try:
            return template.format(**values)
        except (KeyError, IndexError):
            return template


# -- schema ------------------------------------------------------------------

_CONTEST_KEYS = {"id": str, "name": str, "receipt_prefix": str, "opens": datetime, "closes": datetime,
                 "routing": dict, "fields": dict, "video": dict, "photos": dict, "form": dict, "messages": dict}
_ROUTING_KEYS = {"keywords": list, "ask_keywords": list, "attachment": str}
_FIELD_KEYS = {"labels": list, "required": bool, "kind": str, "unless": str, "choices": list, "min": int,
               "before": date}
_VIDEO_KEYS = {"count": int, "max_duration_s": (int, float), "min_short_side": int}
_PHOTO_KEYS = {"format": str, "min_bytes": int, "set_min": int, "edited_software": list}
_FORM_KEYS = {"name": str, "formats": list}
_COMMON_KEYS = {"ignore": dict, "gender": dict, "large_attachment": dict, "receipts": dict, "units": dict,
                "bio": dict, "severities": dict, "messages": dict}


class _Checker:
    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []

    def fail(self, key: str, zh: str, en: str) -> None:
        self.problems.append(f"{self.path.name}: {key}: {zh} / {en}")

    def table(self, data: dict, spec: dict, prefix: str, required: tuple[str, ...] = ()) -> dict:
        for key, value in data.items():
            where = f"{prefix}{key}"
            if key not in spec:
                self.fail(where, "未知的键", "unknown key")
                continue
            expected = spec[key]
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if expected is date and isinstance(value, datetime):
                ok = False
            if not ok:
                name = getattr(expected, "__name__", str(expected))
                self.fail(where, f"类型应为 {name}", f"must be {name}")
        for key in required:
            if key not in data:
                self.fail(f"{prefix}{key}", "必须填写", "is required")
        return data


def _strings(values) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _load_contest(path: Path, data: dict, checker: _Checker) -> Contest | None:
    checker.table(data, _CONTEST_KEYS, "", ("id", "name", "receipt_prefix", "opens", "closes", "routing"))
    if data.get("id") != path.stem:
        checker.fail("id", f"必须与文件名一致（{path.stem}）", f"must equal the file name ({path.stem})")
    for key in ("opens", "closes"):
        value = data.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            checker.fail(key, "必须带时区，如 +08:00", "must carry an offset such as +08:00")
    routing = checker.table(data.get("routing", {}), _ROUTING_KEYS, "routing.")
    fields = []
    for name, spec in data.get("fields", {}).items():
        if not isinstance(spec, dict):
            checker.fail(f"fields.{name}", "必须是表", "must be a table")
            continue
        checker.table(spec, _FIELD_KEYS, f"fields.{name}.", ("labels",))
        if spec.get("kind", "text") not in FIELD_KINDS:
            checker.fail(f"fields.{name}.kind", f"取值必须是 {'、'.join(FIELD_KINDS)}",
                         f"must be one of {', '.join(FIELD_KINDS)}")
        fields.append(FieldRule(name=name, labels=_strings(spec.get("labels")), required=spec.get("required", True),
                                kind=spec.get("kind", "text"), unless=spec.get("unless"),
                                choices=_strings(spec.get("choices")), min=spec.get("min"),
                                before=spec.get("before")))
    video = photos = form = None
    if "video" in data:
        video = VideoRule(**checker.table(data["video"], _VIDEO_KEYS, "video."))
    if "photos" in data:
        spec = checker.table(data["photos"], _PHOTO_KEYS, "photos.")
        photos = PhotoRule(**{**spec, "edited_software": tuple(s.lower() for s in spec.get("edited_software", ()))})
    if "form" in data:
        spec = checker.table(data["form"], _FORM_KEYS, "form.", ("name", "formats"))
        form = FormRule(name=spec.get("name", ""), formats=tuple(f.lower() for f in spec.get("formats", ())))
    if checker.problems:
        return None
    return Contest(id=data["id"], name=data["name"], receipt_prefix=data["receipt_prefix"], opens=data["opens"],
                   closes=data["closes"], keywords=_strings(routing.get("keywords")),
                   ask_keywords=_strings(routing.get("ask_keywords")), attachment=routing.get("attachment"),
                   fields=tuple(fields), video=video, photos=photos, form=form,
                   messages=dict(data.get("messages", {})))


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path.name}: TOML 语法错误 / TOML syntax error: {err}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"无法读取规则文件 {path} / cannot read rules file {path}: {err}") from err


def contest_ids(rules_dir: Path) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in Path(rules_dir).glob("*.toml") if p.stem != "common"))


def load_rules(rules_dir: str | Path) -> RuleSet:
    """Load and check every rules file; raise ConfigError listing each problem with file and key."""
    rules_dir = Path(rules_dir)
    common_path = rules_dir / "common.toml"
    if not common_path.exists():
        raise ConfigError(f"规则目录缺少 common.toml / rules dir lacks common.toml: {rules_dir}")
    problems: list[str] = []
    checker = _Checker(common_path)
    data = checker.table(_read(common_path), _COMMON_KEYS, "", ("ignore", "gender", "severities", "messages"))
    for rule, severity in data.get("severities", {}).items():
        if severity not in SEVERITIES:
            checker.fail(f"severities.{rule}", f"取值必须是 {'、'.join(SEVERITIES)}", f"must be one of {SEVERITIES}")
        if rule not in data.get("messages", {}):
            checker.fail(f"messages.{rule}", "缺少该规则的中文说明", "the rule has no message")
    problems += checker.problems
    common = Common(ignore=data.get("ignore", {}),
                    gender={k: tuple(str(v).lower() for v in vs) for k, vs in data.get("gender", {}).items()},
                    large_attachment=data.get("large_attachment", {}), receipts=data.get("receipts", {}),
                    units=data.get("units", {}), bio=data.get("bio", {}),
                    severities=data.get("severities", {}), messages=data.get("messages", {}))
    contests = {}
    for path in sorted(rules_dir.glob("*.toml")):
        if path.stem == "common":
            continue
        checker = _Checker(path)
        contest = _load_contest(path, _read(path), checker)
        for key in (contest.messages if contest else {}):
            if key not in common.severities:
                checker.fail(f"messages.{key}", "不是已知的规则", "is not a known rule id")
        problems += checker.problems
        if contest:
            contests[contest.id] = contest
    if not contests and not problems:
        problems.append(f"{rules_dir}: 没有比赛规则文件 / no contest rules files")
    if problems:
        raise ConfigError("规则文件有错误 / rules files are invalid:\n  " + "\n  ".join(problems))
    return RuleSet(common=common, contests=contests)
