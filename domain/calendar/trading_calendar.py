"""The trading calendar (SPEC §4), pure: market hours + exceptions in, trading sessions out.

Data comes from a :class:`CalendarSource` (the store's calendar repository, or anything else
with the same three methods). The calendar loads a group's hours and coverage once and its
exceptions (holidays, early closes, late opens) one year at a time, so range queries never cost
one query per day. Sessions are cached in a bounded LRU with a last-query fast path.

Rules used everywhere:
- every date is the exchange-local date of its group;
- a naive datetime is read as exchange-local time of the group (:meth:`TradingCalendar.localize`);
- results are tz-aware, in the exchange's timezone;
- intervals are half-open: the market is open on ``[open, close)``;
- a date outside the seeded coverage of a group raises :class:`OutOfCalendarRange`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.calendar.model import (
    CalendarException,
    CalendarSource,
    Coverage,
    MarketHours,
    SessionType,
    TimeUnit,
    TradingSession,
)
from domain.errors import CalendarError, OutOfCalendarRange


@dataclass(slots=True)
class _Group:
    """What the calendar knows of one (group, asset class): hours, coverage, loaded years."""

    hours: list[MarketHours]
    valid_froms: list[date]
    coverage: Coverage
    zone: ZoneInfo
    exceptions: dict[date, CalendarException] = field(default_factory=dict)
    years: dict[int, list[date]] = field(default_factory=dict)  # trading dates per loaded year


@dataclass(frozen=True, slots=True)
class CacheStats:
    cache_hits: int
    cache_misses: int
    hit_rate: float
    total_queries: int
    size: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class TradingCalendar:
    """Answers every calendar question of SPEC §4 from a :class:`CalendarSource`.

    Not thread-safe by design: one owner (the TimeManager actor, or a CLI command) uses it.
    """

    def __init__(
        self,
        source: CalendarSource,
        exchange_group: str = "US_EQUITY",
        asset_class: str = "EQUITY",
        cache_size: int = 4096,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be >= 1")
        self._source = source
        self.exchange_group = exchange_group
        self.asset_class = asset_class
        self._cache_size = cache_size
        self._groups: dict[tuple[str, str], _Group] = {}
        self._sessions: OrderedDict[tuple[date, str, str], TradingSession] = OrderedDict()
        self._last_key: tuple[date, str, str] | None = None
        self._last_session: TradingSession | None = None
        self._hits = 0
        self._misses = 0

    # ----------------------------------------------------------------- cache
    def get_cache_stats(self) -> CacheStats:
        total = self._hits + self._misses
        return CacheStats(
            cache_hits=self._hits,
            cache_misses=self._misses,
            hit_rate=self._hits / total if total else 0.0,
            total_queries=total,
            size=len(self._sessions),
        )

    def invalidate_cache(self) -> None:
        """Forget everything loaded or cached; the next query reads the source again."""
        self._groups.clear()
        self._sessions.clear()
        self._last_key = None
        self._last_session = None
        self._hits = 0
        self._misses = 0

    # -------------------------------------------------------------- sessions
    def get_trading_session(
        self, day: date, exchange_group: str | None = None, asset_class: str | None = None
    ) -> TradingSession:
        key = (day, exchange_group or self.exchange_group, asset_class or self.asset_class)
        if key == self._last_key:
            self._hits += 1
            return self._last_session  # type: ignore[return-value]  # set together with _last_key
        cached = self._sessions.get(key)
        if cached is not None:
            self._hits += 1
            self._sessions.move_to_end(key)
        else:
            self._misses += 1
            cached = self._build_session(*key)
            self._sessions[key] = cached
            if len(self._sessions) > self._cache_size:
                self._sessions.popitem(last=False)
        self._last_key = key
        self._last_session = cached
        return cached

    def get_trading_sessions(
        self, days: Sequence[date], exchange_group: str | None = None
    ) -> list[TradingSession]:
        """The sessions of several days, in the order given."""
        return [self.get_trading_session(day, exchange_group) for day in days]

    def _build_session(self, day: date, group_name: str, asset_class: str) -> TradingSession:
        group = self._group(group_name, asset_class)
        self._require_covered(group, day)
        self._ensure_year(group, day.year)
        hours = self._hours_on(group, day)
        exception = group.exceptions.get(day)
        if day.weekday() not in hours.trading_weekdays:
            # a weekend is not a holiday, even when an exception row names it
            return TradingSession(day, group_name, asset_class, hours.timezone, is_trading_day=False)
        if exception is not None and exception.is_closed:
            return TradingSession(
                day,
                group_name,
                asset_class,
                hours.timezone,
                is_trading_day=False,
                is_holiday=True,
                holiday_name=exception.name,
            )
        zone = group.zone

        def at(moment: time | None) -> datetime | None:
            return None if moment is None else datetime.combine(day, moment, tzinfo=zone)

        open_time = hours.regular_open
        close_time = hours.regular_close
        early = False
        name = None
        if exception is not None:
            name = exception.name
            if exception.late_open_time is not None:
                open_time = exception.late_open_time
            if exception.early_close_time is not None and exception.early_close_time < close_time:
                close_time = exception.early_close_time
                early = True
        if not open_time < close_time:
            raise CalendarError(f"{group_name} {day}: open {open_time} is not before close {close_time}")
        break_start = (
            hours.break_start if hours.break_start is not None and hours.break_start < close_time else None
        )
        break_end = hours.break_end if break_start is not None else None
        post_open = close_time if hours.post_market_open is not None else None
        post_close = hours.post_market_close if post_open is not None else None
        return TradingSession(
            date=day,
            exchange_group=group_name,
            asset_class=asset_class,
            timezone=hours.timezone,
            is_trading_day=True,
            is_holiday=False,
            is_early_close=early,
            holiday_name=name,
            regular_open=at(open_time),
            regular_close=at(close_time),
            pre_market_open=at(hours.pre_market_open),
            pre_market_close=at(min(hours.pre_market_close, open_time)) if hours.pre_market_close else None,
            post_market_open=at(post_open),
            post_market_close=at(post_close),
            break_start=at(break_start),
            break_end=at(break_end),
        )

    # ------------------------------------------------------------ day tests
    def is_trading_day(self, day: date, exchange_group: str | None = None) -> bool:
        group = self._group(exchange_group or self.exchange_group, self.asset_class)
        self._require_covered(group, day)
        dates = self._year_dates(group, day.year)
        index = bisect.bisect_left(dates, day)
        return index < len(dates) and dates[index] == day

    def is_holiday(self, day: date, exchange_group: str | None = None) -> tuple[bool, str | None]:
        session = self.get_trading_session(day, exchange_group)
        return session.is_holiday, session.holiday_name

    def is_early_close(self, day: date, exchange_group: str | None = None) -> tuple[bool, time | None]:
        session = self.get_trading_session(day, exchange_group)
        if session.is_early_close and session.regular_close is not None:
            return True, session.regular_close.timetz().replace(tzinfo=None)
        return False, None

    # ---------------------------------------------------------------- ranges
    def get_next_trading_date(self, day: date, n: int = 1, exchange_group: str | None = None) -> date:
        """The n-th trading date after ``day`` (exclusive)."""
        _require_positive(n)
        group = self._group(exchange_group or self.exchange_group, self.asset_class)
        self._require_covered(group, day)
        year = day.year
        dates = self._year_dates(group, year)
        index = bisect.bisect_right(dates, day) + n - 1
        while index >= len(dates):
            index -= len(dates)
            year += 1
            if date(year, 1, 1) > group.coverage.last_date:
                raise self._out_of_range(group, day, f"{n} trading day(s) after")
            dates = self._year_dates(group, year)
        return dates[index]

    def get_previous_trading_date(self, day: date, n: int = 1, exchange_group: str | None = None) -> date:
        """The n-th trading date before ``day`` (exclusive)."""
        _require_positive(n)
        group = self._group(exchange_group or self.exchange_group, self.asset_class)
        self._require_covered(group, day)
        year = day.year
        dates = self._year_dates(group, year)
        index = bisect.bisect_left(dates, day) - n
        while index < 0:
            year -= 1
            if date(year, 12, 31) < group.coverage.first_date:
                raise self._out_of_range(group, day, f"{n} trading day(s) before")
            dates = self._year_dates(group, year)
            index += len(dates)
        return dates[index]

    def get_first_trading_date(self, day: date, exchange_group: str | None = None) -> date:
        """``day`` itself if it trades, else the next trading date (inclusive)."""
        if self.is_trading_day(day, exchange_group):
            return day
        return self.get_next_trading_date(day, 1, exchange_group)

    def get_trading_dates_in_range(
        self, start: date, end: date, exchange_group: str | None = None
    ) -> list[date]:
        """Trading dates in ``[start, end]`` (inclusive), in order; empty when start > end."""
        if start > end:
            return []
        group = self._group(exchange_group or self.exchange_group, self.asset_class)
        self._require_covered(group, start)
        self._require_covered(group, end)
        result: list[date] = []
        for year in range(start.year, end.year + 1):
            dates = self._year_dates(group, year)
            lo = bisect.bisect_left(dates, start)
            hi = bisect.bisect_right(dates, end)
            result.extend(dates[lo:hi])
        return result

    def count_trading_days(self, start: date, end: date, exchange_group: str | None = None) -> int:
        return len(self.get_trading_dates_in_range(start, end, exchange_group))

    def count_trading_time(
        self,
        start: datetime,
        end: datetime,
        unit: TimeUnit | str = TimeUnit.MINUTES,
        exchange_group: str | None = None,
    ) -> float:
        """Regular trading time inside ``[start, end)``, breaks excluded, early closes respected.

        ``days`` and ``weeks`` are expressed in full standard sessions: one day = the group's
        standard regular session length, one week = as many days as the group trades per week.
        """
        unit = TimeUnit(unit)
        group_name = exchange_group or self.exchange_group
        start = self.localize(start, group_name)
        end = self.localize(end, group_name)
        if end <= start:
            return 0.0
        seconds = 0.0
        last_day = (end - timedelta(microseconds=1)).date()  # end is exclusive
        for day in self.get_trading_dates_in_range(start.date(), last_day, group_name):
            session = self.get_trading_session(day, group_name)
            assert session.regular_open is not None and session.regular_close is not None
            pieces = [(session.regular_open, session.regular_close)]
            if session.break_start is not None and session.break_end is not None:
                pieces = [
                    (session.regular_open, session.break_start),
                    (session.break_end, session.regular_close),
                ]
            for lo, hi in pieces:
                overlap = (min(hi, end) - max(lo, start)).total_seconds()
                if overlap > 0:
                    seconds += overlap
        per = {TimeUnit.SECONDS: 1, TimeUnit.MINUTES: 60, TimeUnit.HOURS: 3600}.get(unit)
        if per is not None:
            return seconds / per
        hours = self._hours_on(self._group(group_name, self.asset_class), start.date())
        days = seconds / hours.regular_seconds
        return days if unit is TimeUnit.DAYS else days / len(hours.trading_weekdays)

    # ------------------------------------------------------------ instants
    def localize(self, moment: datetime, exchange_group: str | None = None) -> datetime:
        """A tz-aware datetime in the exchange's timezone; naive input is read as exchange time."""
        group = self._group(exchange_group or self.exchange_group, self.asset_class)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=group.zone)
        return moment.astimezone(group.zone)

    def timezone(self, exchange_group: str | None = None) -> ZoneInfo:
        return self._group(exchange_group or self.exchange_group, self.asset_class).zone

    def get_session_type(self, moment: datetime, exchange_group: str | None = None) -> SessionType:
        local = self.localize(moment, exchange_group)
        session = self.get_trading_session(local.date(), exchange_group)
        if not session.is_trading_day:
            return SessionType.CLOSED
        if _within(local, session.regular_open, session.regular_close):
            if _within(local, session.break_start, session.break_end):
                return SessionType.CLOSED
            return SessionType.REGULAR
        if _within(local, session.pre_market_open, session.pre_market_close):
            return SessionType.PRE_MARKET
        if _within(local, session.post_market_open, session.post_market_close):
            return SessionType.POST_MARKET
        return SessionType.CLOSED

    def is_market_open(
        self, moment: datetime, include_extended: bool = False, exchange_group: str | None = None
    ) -> bool:
        kind = self.get_session_type(moment, exchange_group)
        if include_extended:
            return kind is not SessionType.CLOSED
        return kind is SessionType.REGULAR

    def coverage(self, exchange_group: str | None = None) -> Coverage:
        return self._group(exchange_group or self.exchange_group, self.asset_class).coverage

    # -------------------------------------------------------------- loading
    def _group(self, group_name: str, asset_class: str) -> _Group:
        key = (group_name, asset_class)
        group = self._groups.get(key)
        if group is not None:
            return group
        hours = sorted(self._source.load_market_hours(group_name, asset_class), key=lambda h: h.valid_from)
        coverage = self._source.load_coverage(group_name)
        if not hours or coverage is None:
            raise CalendarError(
                f"no calendar for exchange group {group_name!r} ({asset_class}): "
                "seed it with `marketsession calendar seed`"
            )
        group = _Group(
            hours=hours,
            valid_froms=[h.valid_from for h in hours],
            coverage=coverage,
            zone=ZoneInfo(hours[0].timezone),
        )
        self._groups[key] = group
        return group

    def _hours_on(self, group: _Group, day: date) -> MarketHours:
        index = bisect.bisect_right(group.valid_froms, day) - 1
        return group.hours[max(index, 0)]

    def _ensure_year(self, group: _Group, year: int) -> None:
        if year in group.years:
            return
        first = max(date(year, 1, 1), group.coverage.first_date)
        last = min(date(year, 12, 31), group.coverage.last_date)
        dates: list[date] = []
        if first <= last:
            for exception in self._source.load_exceptions(group.coverage.exchange_group, first, last):
                group.exceptions[exception.date] = exception
            closed = {day for day, exception in group.exceptions.items() if exception.is_closed}
            span = (first + timedelta(days=i) for i in range((last - first).days + 1))
            dates = [
                day
                for day in span
                if day.weekday() in self._hours_on(group, day).trading_weekdays and day not in closed
            ]
        group.years[year] = dates

    def _year_dates(self, group: _Group, year: int) -> list[date]:
        self._ensure_year(group, year)
        return group.years[year]

    def _require_covered(self, group: _Group, day: date) -> None:
        if day not in group.coverage:
            raise self._out_of_range(group, day, "")

    @staticmethod
    def _out_of_range(group: _Group, day: date, what: str) -> OutOfCalendarRange:
        cov = group.coverage
        subject = f"{what} {day.isoformat()}".strip()
        return OutOfCalendarRange(
            f"{subject} is outside the seeded calendar of {cov.exchange_group} "
            f"({cov.first_date.isoformat()}..{cov.last_date.isoformat()}); "
            "extend it with `marketsession calendar seed --start-year Y --end-year Y`"
        )


def _within(moment: datetime, lo: datetime | None, hi: datetime | None) -> bool:
    return lo is not None and hi is not None and lo <= moment < hi


def _require_positive(n: int) -> None:
    if n < 1:
        raise CalendarError(f"n must be >= 1, got {n}")
