"""One checker for `config.toml` and `rules/*.toml`: every problem at once, each with file, line, key and reason.

A typo must be a clear message an organizer can act on, never a traceback at
start-up or, worse, at the first message judged. tomllib parses; this module
only knows where each key was written (for the line number) and what shape a
value must have. Wording is shared by both kinds of file, in Chinese for the
staff and English for the operator.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from .errors import ConfigError

INVALID = object()  # what a check returns for a value it refused (the problem is already recorded)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    zh: str
    en: str

    def __str__(self) -> str:
        where = f"{self.file} 第 {self.line} 行 / line {self.line}" if self.line else self.file
        return f"{where}, {self.key}: {self.zh} / {self.en}" if self.key else f"{where}: {self.zh} / {self.en}"


def raise_problems(problems: list[Problem], title_zh: str, title_en: str) -> None:
    """One ConfigError listing every problem, in file and line order."""
    if not problems:
        return
    ordered = sorted(problems, key=lambda p: (p.file, p.line or 0))
    lines = "\n  ".join(str(p) for p in ordered)
    raise ConfigError(f"{title_zh}（{len(problems)} 处）/ {title_en} ({len(problems)}):\n  {lines}")


# -- where a key was written ---------------------------------------------------------------------------

KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
HEADER = re.compile(rf"^\s*(\[\[?)\s*({KEY_PART}(?:\s*\.\s*{KEY_PART})*)\s*\]\]?\s*(?:#.*)?$")
KEY_LINE = re.compile(rf"^\s*({KEY_PART}(?:\s*\.\s*{KEY_PART})*)\s*=")


def _key_parts(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in re.findall(rf"{KEY_PART}", text))


def _open_brackets(value: str) -> int:
    """How many [ or { a value line leaves open, strings and comments ignored."""
    value = re.sub(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', "", value).split("#", 1)[0]
    return value.count("[") + value.count("{") - value.count("]") - value.count("}")


class Lines:
    """The line of every table header and key of a TOML text, by path: ("fields", "gender", "kind") or
    ("mailboxes", 0, "security") for the first [[mailboxes]]. A line scan, not a parser: tomllib has
    already accepted the text."""

    def __init__(self, text: str):
        self.where: dict[tuple, int] = {}
        arrays: dict[tuple, int] = {}
        table: tuple = ()
        depth, fence = 0, None
        for number, raw in enumerate(text.splitlines(), start=1):
            if fence:  # inside a multi-line string
                if raw.count(fence) % 2:
                    fence = None
                continue
            if depth > 0:  # inside a multi-line array
                depth += _open_brackets(raw)
                continue
            header = HEADER.match(raw)
            if header:
                table = self._resolve(_key_parts(header[2]), arrays, header[1] == "[[")
                self.where.setdefault(table, number)
                continue
            key = KEY_LINE.match(raw)
            if key:
                self.where.setdefault(table + _key_parts(key[1]), number)
                value = raw[key.end():]
                for quote in ('"""', "'''"):
                    if value.count(quote) % 2:
                        fence = quote
                depth = 0 if fence else max(0, _open_brackets(value))

    @staticmethod
    def _resolve(parts: tuple[str, ...], arrays: dict[tuple, int], is_array: bool) -> tuple:
        """A header's path, with the current index of every array of tables on the way."""
        path: tuple = ()
        for number, part in enumerate(parts, start=1):
            path += (part,)
            if is_array and number == len(parts):
                arrays[path] = arrays.get(path, -1) + 1
            if path in arrays:
                path += (arrays[path],)
        return path

    def line(self, path: tuple) -> int | None:
        """The line of `path`, else of the nearest table that holds it."""
        path = tuple(path)
        while path:
            if path in self.where:
                return self.where[path]
            path = path[:-1]
        return None


def dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))


# -- the checker ------------------------------------------------------------------------------------------


class Checker:
    """Collects problems for one file; specs report through it."""

    def __init__(self, file: str | Path, text: str = "", label: Callable[[tuple], str] = dotted):
        self.file = Path(file).name
        self.lines = Lines(text)
        self.label = label
        self.problems: list[Problem] = []

    def fail(self, path: tuple, zh: str, en: str) -> None:
        self.problems.append(Problem(self.file, self.lines.line(path), self.label(tuple(path)), zh, en))

    def check(self, spec: "Spec", value, path: tuple = ()):
        """The value as the spec accepts it, or INVALID (with the problem recorded)."""
        return spec.check(self, value, tuple(path))


@dataclass(frozen=True, kw_only=True)
class Spec:
    required: bool = False  # keyword-only, so every spec's own fields can be positional

    def check(self, c: Checker, value, path: tuple):
        return value


def _span(low, high, strict: bool = False) -> str:
    if low is not None and high is not None:
        return f"{low}–{high}"
    if low is not None:
        return f"> {low}" if strict else f"≥ {low}"
    return f"≤ {high}" if high is not None else ""


@dataclass(frozen=True)
class Text(Spec):
    choices: tuple[str, ...] = ()
    regex: bool = False
    groups: int | None = None  # a regex must have at least this many groups

    def check(self, c, value, path):
        if not isinstance(value, str) or not value.strip():
            c.fail(path, "必须是非空字符串", "must be a non-empty string")
            return INVALID
        if self.choices and value not in self.choices:
            c.fail(path, f"取值必须是 {'、'.join(self.choices)} 之一", f"must be one of {', '.join(self.choices)}")
            return INVALID
        if self.regex:
            try:
                compiled = re.compile(value)
            except re.error as err:
                c.fail(path, f"不是有效的正则表达式：{err}", f"is not a valid regular expression: {err}")
                return INVALID
            if self.groups and compiled.groups < self.groups:
                c.fail(path, f"正则表达式至少要有 {self.groups} 个分组（括号）",
                       f"the regular expression needs at least {self.groups} groups")
                return INVALID
        return value


@dataclass(frozen=True)
class Integer(Spec):
    low: int | None = None
    high: int | None = None

    def check(self, c, value, path):
        if (not isinstance(value, int) or isinstance(value, bool) or (self.low is not None and value < self.low)
                or (self.high is not None and value > self.high)):
            span = _span(self.low, self.high)
            c.fail(path, f"必须是整数（{span}）" if span else "必须是整数", f"must be an integer ({span})" if span
                   else "must be an integer")
            return INVALID
        return value


@dataclass(frozen=True)
class Number(Spec):
    """A positive amount (seconds, bytes): int or float, > low."""

    low: float = 0

    def check(self, c, value, path):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > self.low:
            c.fail(path, f"必须是大于 {self.low} 的数", f"must be a number > {self.low}")
            return INVALID
        return value


@dataclass(frozen=True)
class Flag(Spec):
    def check(self, c, value, path):
        if not isinstance(value, bool):
            c.fail(path, "必须是 true 或 false", "must be true or false")
            return INVALID
        return value


@dataclass(frozen=True)
class Day(Spec):
    def check(self, c, value, path):
        if not isinstance(value, date) or isinstance(value, datetime):
            c.fail(path, "必须是日期，如 2022-01-01（不加引号）", "must be a date such as 2022-01-01 (unquoted)")
            return INVALID
        return value


@dataclass(frozen=True)
class Moment(Spec):
    """A date-time with its offset: a window edge means nothing without one."""

    def check(self, c, value, path):
        if not isinstance(value, datetime):
            c.fail(path, "必须是时间，如 2022-08-01T00:00:00+08:00（不加引号）",
                   "must be a date-time such as 2022-08-01T00:00:00+08:00 (unquoted)")
            return INVALID
        if value.tzinfo is None:
            c.fail(path, "必须带时区，如 +08:00", "must carry an offset such as +08:00")
            return INVALID
        return value


@dataclass(frozen=True)
class Items(Spec):
    """A list; each item checked by `item` (text by default)."""

    item: Spec = field(default_factory=Text)
    nonempty: bool = False

    def check(self, c, value, path):
        if not isinstance(value, list) or (self.nonempty and not value):
            c.fail(path, "必须是非空列表" if self.nonempty else "必须是列表（[…]）",
                   "must be a non-empty list" if self.nonempty else "must be a list ([...])")
            return INVALID
        checked = [c.check(self.item, item, (*path, i)) for i, item in enumerate(value)]
        return INVALID if any(v is INVALID for v in checked) else checked


@dataclass(frozen=True)
class Table(Spec):
    """A table with known keys; `values` checks keys that are names the organizer chose (fields.<name>)."""

    keys: dict = field(default_factory=dict)
    values: Spec | None = None

    def check(self, c, value, path):
        if not isinstance(value, dict):
            c.fail(path, "必须是一个表（[…]）", "must be a table ([...])")
            return INVALID
        result = {}
        for key, item in value.items():
            spec = self.keys.get(key, self.values)
            if spec is None:
                unknown(c, (*path, key), key, list(self.keys))
                continue
            checked = c.check(spec, item, (*path, key))
            if checked is not INVALID:
                result[key] = checked
        for key, spec in self.keys.items():
            if spec.required and key not in value:
                c.fail((*path, key), "必须填写", "is required")
        return result


@dataclass(frozen=True)
class Raw(Spec):
    """A table another module checks whole (the awards data: `awards/config.py`); here only its shape."""

    def check(self, c, value, path):
        if not isinstance(value, dict):
            c.fail(path, "必须是一个表（[…]）", "must be a table ([...])")
            return INVALID
        return value


@dataclass(frozen=True)
class Tables(Spec):
    """An array of tables ([[units]])."""

    table: Table = field(default_factory=Table)

    def check(self, c, value, path):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            c.fail(path, "必须写成表数组 [[…]]", "must be an array of tables [[...]]")
            return INVALID
        return [c.check(self.table, item, (*path, i)) for i, item in enumerate(value)]


def unknown(c: Checker, path: tuple, key: str, known: list[str]) -> None:
    """An unknown key, with the likely intended one when the typo is close."""
    guess = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
    hint_zh = f"（是否应为 {guess[0]}？）" if guess else ""
    hint_en = f" (did you mean {guess[0]}?)" if guess else ""
    c.fail(path, f"未知的配置项 {key}{hint_zh}", f"unknown key {key}{hint_en}")
