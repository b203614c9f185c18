"""The period and time zone a statistic is asked for: local days, validated once for every query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
DEFAULT_DAYS = 30


class BadParameter(ValueError):
    """A parameter of a statistic is wrong; `parameter` names it for the problem document."""

    def __init__(self, parameter: str, detail: str):
        super().__init__(detail)
        self.parameter = parameter


def zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadParameter("tz", f"unknown time zone {name!r}") from exc
    return name


def parse_day(value: str, parameter: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadParameter(parameter, f"{parameter} must be a day as YYYY-MM-DD, not {value!r}") from exc


@dataclass(frozen=True)
class Period:
    """Local days `start`..`end` (both included) in time zone `tz`."""

    start: date
    end: date
    tz: str = DEFAULT_TZ

    def __post_init__(self) -> None:
        zone(self.tz)
        if self.end < self.start:
            raise BadParameter("end", f"end {self.end} is before start {self.start}")

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, tz: str = DEFAULT_TZ, now: datetime | None = None) -> Period:
        today = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone(tz))).date()
        return cls(today - timedelta(days=days - 1), today, tz)

    @classmethod
    def from_query(cls, query: dict[str, str], default_tz: str = DEFAULT_TZ) -> Period:
        """From `start`, `end` (YYYY-MM-DD) and `tz`; missing days default to the last 30 days."""
        tz = zone(query.get("tz") or default_tz)
        fallback = cls.last_days(tz=tz)
        start = parse_day(query["start"], "start") if query.get("start") else None
        end = parse_day(query["end"], "end") if query.get("end") else None
        if start and not end:
            end = max(start, fallback.end)
        if end and not start:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        return cls(start or fallback.start, end or fallback.end, tz)

    @property
    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "tz": self.tz}

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "tz": self.tz}
