"""The calendar's data (SPEC §4): market hours (versioned by ``valid_from``), exceptions
(holidays, early closes, late opens), seeded coverage, and the :class:`TradingSession` of a day."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from domain.errors import CalendarError


class SessionType(StrEnum):
    PRE_MARKET = "pre_market"
    REGULAR = "regular"
    POST_MARKET = "post_market"
    CLOSED = "closed"


class TimeUnit(StrEnum):
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


@dataclass(frozen=True, slots=True)
class MarketHours:
    """Standard hours of an exchange group for an asset class, in force from ``valid_from``."""

    exchange_group: str
    asset_class: str
    valid_from: date
    timezone: str
    exchanges: tuple[str, ...]
    regular_open: time
    regular_close: time
    pre_market_open: time | None = None
    pre_market_close: time | None = None
    post_market_open: time | None = None
    post_market_close: time | None = None
    break_start: time | None = None
    break_end: time | None = None
    trading_weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})

    def __post_init__(self) -> None:
        if not self.regular_open < self.regular_close:
            raise CalendarError(
                f"{self.exchange_group}: regular open {self.regular_open} "
                f"is not before close {self.regular_close}"
            )
        if (self.break_start is None) != (self.break_end is None):
            raise CalendarError(f"{self.exchange_group}: a midday break needs both start and end")
        ZoneInfo(self.timezone)  # raises for an unknown zone

    def exception_problem(self, exception: CalendarException) -> str | None:
        """Why ``exception`` cannot hold on a day of these hours (None when it can): an early
        close or a late open must lie strictly inside the regular session, and a late open before
        an early close."""
        late, early = exception.late_open_time, exception.early_close_time
        for what, moment in (("a late open", late), ("an early close", early)):
            if moment is not None and not self.regular_open < moment < self.regular_close:
                return (
                    f"{what} at {moment:%H:%M} is not inside the regular session "
                    f"{self.regular_open:%H:%M}-{self.regular_close:%H:%M}"
                )
        if late is not None and early is not None and not late < early:
            return f"the late open at {late:%H:%M} is not before the early close at {early:%H:%M}"
        return None

    @property
    def regular_seconds(self) -> int:
        """Length of a full regular session in seconds, without the midday break."""
        length = _seconds_between(self.regular_open, self.regular_close)
        if self.break_start is not None and self.break_end is not None:
            length -= _seconds_between(self.break_start, self.break_end)
        return length


@dataclass(frozen=True, slots=True)
class CalendarException:
    """A day that differs from the standard hours: a closure, an early close or a late open."""

    date: date
    exchange_group: str
    name: str
    is_closed: bool
    early_close_time: time | None = None
    late_open_time: time | None = None
    notes: str | None = None
    source: str = "manual"

    def __post_init__(self) -> None:
        if not self.is_closed and self.early_close_time is None and self.late_open_time is None:
            raise CalendarError(
                f"{self.exchange_group} {self.date}: an exception must close the day or change its hours"
            )
        if not self.name.strip():
            raise CalendarError(f"{self.exchange_group} {self.date}: an exception needs a name")
        for what, text, limit in (("name", self.name, 100), ("notes", self.notes or "", 1000)):
            if len(text) > limit:
                raise CalendarError(
                    f"{self.exchange_group} {self.date}: the {what} is longer than {limit} characters"
                )


@dataclass(frozen=True, slots=True)
class Coverage:
    """The inclusive date range of a group for which the calendar is seeded."""

    exchange_group: str
    first_date: date
    last_date: date
    source: str = ""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first_date <= day <= self.last_date


@dataclass(frozen=True, slots=True)
class TradingSession:
    """One exchange-local date of one group: whether it trades and its hours (tz-aware; None on
    a day that does not trade)."""

    date: date
    exchange_group: str
    asset_class: str
    timezone: str
    is_trading_day: bool
    is_holiday: bool = False
    is_early_close: bool = False
    holiday_name: str | None = None
    regular_open: datetime | None = None
    regular_close: datetime | None = None
    pre_market_open: datetime | None = None
    pre_market_close: datetime | None = None
    post_market_open: datetime | None = None
    post_market_close: datetime | None = None
    break_start: datetime | None = None
    break_end: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of every field but ``asset_class``: ISO dates, ISO 8601 datetimes with
        UTC offset, or null."""
        values = ((f.name, getattr(self, f.name)) for f in fields(self) if f.name != "asset_class")
        return {name: v.isoformat() if isinstance(v, date) else v for name, v in values}


class CalendarSource(Protocol):
    """Where calendar data comes from (the store's calendar repository implements it)."""

    def load_market_hours(self, exchange_group: str, asset_class: str) -> list[MarketHours]: ...

    def load_coverage(self, exchange_group: str) -> Coverage | None: ...

    def load_exceptions(self, exchange_group: str, first: date, last: date) -> list[CalendarException]: ...


def _seconds_between(a: time, b: time) -> int:
    return (b.hour * 3600 + b.minute * 60 + b.second) - (a.hour * 3600 + a.minute * 60 + a.second)
