"""Stored times are UTC ISO strings; people see them on the contest's clock (Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(value: str | None, tz: tzinfo = SHANGHAI) -> datetime | None:
    """A stored time on the contest's clock (None stays None)."""
    return datetime.fromisoformat(value).astimezone(tz) if value else None


def local_day(value: str | None, tz: tzinfo = SHANGHAI) -> str:
    """The contest-clock date of a stored time, as YYYY-MM-DD ("" when there is none)."""
    when = local(value, tz)
    return when.date().isoformat() if when else ""


def local_text(value: str | None, tz: tzinfo = SHANGHAI, fmt: str = "%Y-%m-%d %H:%M") -> str:
    when = local(value, tz)
    return when.strftime(fmt) if when else ""
