"""Seeding exchange groups from exchange_calendars (the source of truth for exchange calendars).

Each group gets its standard hours (versioned: a change of hours, like Tokyo's 15:00 -> 15:30
close in November 2024, becomes a new ``MarketHours`` row), its coverage, and one exception per
day that differs from them: closures on trading weekdays, early closes, late opens. Names come
from exchange_calendars' holiday rules, with the customary US names where they differ.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from domain.calendar.model import CalendarException, Coverage, MarketHours
from domain.errors import CalendarError

if TYPE_CHECKING:
    import pandas as pd

    from domain.store.calendar_repo import CalendarRepository

# exchange_calendars (and pandas) take ~0.35 s to import: they are imported where seeding
# happens, so that every other command of the CLI starts fast.


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """How one exchange group is seeded."""

    exchange_group: str
    asset_class: str
    calendar_code: str
    timezone: str
    exchanges: tuple[str, ...]
    pre_market: tuple[time, time] | None = None
    post_market: tuple[time, time] | None = None


GROUPS: dict[str, GroupSpec] = {
    spec.exchange_group: spec
    for spec in (
        GroupSpec(
            "US_EQUITY",
            "EQUITY",
            "XNYS",
            "America/New_York",
            ("NYSE", "NASDAQ", "AMEX", "ARCA"),
            pre_market=(time(4, 0), time(9, 30)),
            post_market=(time(16, 0), time(20, 0)),
        ),
        GroupSpec("UK_EQUITY", "EQUITY", "XLON", "Europe/London", ("LSE",)),
        GroupSpec("JP_EQUITY", "EQUITY", "XTKS", "Asia/Tokyo", ("TSE",)),
        # Xetra's session; the German venues (Tradegate, the regional exchanges) trade 08:00-22:00
        GroupSpec(
            "DE_EQUITY",
            "EQUITY",
            "XETR",
            "Europe/Berlin",
            ("XETRA", "FSE"),
            pre_market=(time(8, 0), time(9, 0)),
            post_market=(time(17, 30), time(22, 0)),
        ),
    )
}

# exchange_calendars' rule names -> the names people use
_US_NAMES = {
    "July 4th": "Independence Day",
    "President's Day": "Washington's Birthday",
    "Dr. Martin Luther King Jr. Day": "Martin Luther King Jr. Day",
    "Juneteenth National Independence Day": "Juneteenth",
}
# unscheduled closures have no rule name in exchange_calendars
_ADHOC_NAMES = {
    "US_EQUITY": {
        date(1994, 4, 27): "National Day of Mourning (Richard Nixon)",
        date(2001, 9, 11): "September 11 attacks",
        date(2001, 9, 12): "September 11 attacks",
        date(2001, 9, 13): "September 11 attacks",
        date(2001, 9, 14): "September 11 attacks",
        date(2004, 6, 11): "National Day of Mourning (Ronald Reagan)",
        date(2007, 1, 2): "National Day of Mourning (Gerald Ford)",
        date(2012, 10, 29): "Hurricane Sandy",
        date(2012, 10, 30): "Hurricane Sandy",
        date(2018, 12, 5): "National Day of Mourning (George H. W. Bush)",
        date(2025, 1, 9): "National Day of Mourning (Jimmy Carter)",
    }
}


@dataclass(frozen=True, slots=True)
class SeedResult:
    exchange_group: str
    first_date: date
    last_date: date
    trading_days: int
    closures: int
    early_closes: int
    late_opens: int
    hours_versions: int


def _clean_name(group: str, name: str) -> str:
    name = " ".join(str(name).split())
    if group == "US_EQUITY":
        if "Before Independence Day" in name:
            return "Day before Independence Day"
        return _US_NAMES.get(name, name)
    return name


def _names(holiday_calendars: Any, start: pd.Timestamp, end: pd.Timestamp) -> dict[date, str]:
    if holiday_calendars is None or not hasattr(holiday_calendars, "holidays"):
        return {}
    names: dict[date, str] = {}
    for stamp, name in holiday_calendars.holidays(start, end, return_name=True).items():
        names.setdefault(stamp.date(), str(name))
    return names


def _versions(times: Any, first: date) -> list[tuple[date, time]]:
    """exchange_calendars' ((None|Timestamp, time), ...) as [(valid_from, time)]."""
    return [(first if start is None else max(first, start.date()), moment) for start, moment in times]


@functools.lru_cache(maxsize=16)
def build_group(
    spec: GroupSpec, first: date, last: date, source: str
) -> tuple[tuple[MarketHours, ...], Coverage, tuple[CalendarException, ...]]:
    """Hours, coverage and exceptions of ``spec`` for ``[first, last]`` (immutable, so cached:
    building is the slow part of seeding, and tests seed the same years again and again).

    exchange_calendars triggers pandas deprecation warnings inside itself; they are not ours to
    fix and would only alarm operators, so they are silenced around the library's calls.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        import exchange_calendars as xcals
        import pandas as pd

        bound = xcals.get_calendar(spec.calendar_code).bound_min()
        if bound is not None:  # exchange_calendars evaluates some calendars only from a given date
            first = max(first, bound.date())
        if first > last:
            raise CalendarError(
                f"cannot seed {spec.exchange_group}: its calendar starts on {first}, after {last}"
            )
        try:
            calendar = xcals.get_calendar(spec.calendar_code, start=first.isoformat(), end=last.isoformat())
        except ValueError as exc:
            raise CalendarError(f"cannot seed {spec.exchange_group} for {first}..{last}: {exc}") from None
        zone = str(calendar.tz)
        if zone != spec.timezone:
            raise CalendarError(
                f"{spec.calendar_code} is in {zone}, {spec.exchange_group} expects {spec.timezone}"
            )
        weekdays = frozenset(i for i, flag in enumerate(calendar.weekmask) if flag == "1")
        opens = _versions(calendar.open_times, first)
        closes = _versions(calendar.close_times, first)
        break_starts = _versions(calendar.break_start_times or ((None, None),), first)
        break_ends = _versions(calendar.break_end_times or ((None, None),), first)
        change_dates = sorted({d for d, _ in opens + closes + break_starts + break_ends})

        def in_force(versions: list[tuple[date, Any]], day: date) -> Any:
            current = versions[0][1]
            for valid_from, moment in versions:
                if valid_from <= day:
                    current = moment
            return current

        hours = [
            MarketHours(
                exchange_group=spec.exchange_group,
                asset_class=spec.asset_class,
                valid_from=valid_from,
                timezone=zone,
                exchanges=spec.exchanges,
                regular_open=in_force(opens, valid_from),
                regular_close=in_force(closes, valid_from),
                pre_market_open=spec.pre_market[0] if spec.pre_market else None,
                pre_market_close=spec.pre_market[1] if spec.pre_market else None,
                post_market_open=spec.post_market[0] if spec.post_market else None,
                post_market_close=spec.post_market[1] if spec.post_market else None,
                break_start=in_force(break_starts, valid_from),
                break_end=in_force(break_ends, valid_from),
                trading_weekdays=weekdays,
            )
            for valid_from in change_dates
        ]

        start, end = pd.Timestamp(first), pd.Timestamp(last)
        holiday_names = _names(calendar.regular_holidays, start, end)
        early_names = {
            d: n for _, rules in calendar.special_closes for d, n in _names(rules, start, end).items()
        }
        late_names = {
            d: n for _, rules in calendar.special_opens for d, n in _names(rules, start, end).items()
        }
        adhoc = _ADHOC_NAMES.get(spec.exchange_group, {})

        schedule = calendar.schedule.loc[start:end]
        local_open = schedule["open"].dt.tz_convert(zone)
        local_close = schedule["close"].dt.tz_convert(zone)
        sessions = {stamp.date() for stamp in schedule.index}
        exceptions: list[CalendarException] = []
        for stamp in pd.date_range(start, end, freq="D"):
            day = stamp.date()
            if day.weekday() not in weekdays:
                continue
            closed = day not in sessions
            if closed:
                early = late = None
                name = adhoc.get(day) or holiday_names.get(day) or "Market closed"
            else:
                open_time = local_open.loc[stamp].time()
                close_time = local_close.loc[stamp].time()
                early = close_time if close_time < in_force(closes, day) else None
                late = open_time if open_time > in_force(opens, day) else None
                if early is None and late is None:
                    continue
                rule_name = early_names.get(day) if early else late_names.get(day)
                name = rule_name or ("Early close" if early else "Late open")
            exceptions.append(
                CalendarException(
                    day,
                    spec.exchange_group,
                    _clean_name(spec.exchange_group, name),
                    closed,
                    early_close_time=early,
                    late_open_time=late,
                    source=source,
                )
            )
        coverage = Coverage(
            spec.exchange_group, first, last, f"exchange_calendars {xcals.__version__} {spec.calendar_code}"
        )
        return tuple(hours), coverage, tuple(exceptions)


def seed_group(
    repository: CalendarRepository, exchange_group: str, start_year: int, end_year: int, now: datetime
) -> SeedResult:
    """Seed one group for the given years, widened to the union with what is already seeded."""
    spec = GROUPS.get(exchange_group)
    if spec is None:
        raise CalendarError(f"unknown exchange group {exchange_group!r}; known: {', '.join(GROUPS)}")
    if start_year > end_year:
        raise CalendarError(f"start year {start_year} is after end year {end_year}")
    first, last = date(start_year, 1, 1), date(end_year, 12, 31)
    existing = repository.load_coverage(exchange_group)
    if existing is not None:  # keep coverage contiguous: seed the hull of old and new
        first, last = min(first, existing.first_date), max(last, existing.last_date)
    source = f"seed:exchange_calendars:{spec.calendar_code}"
    hours, coverage, exceptions = build_group(spec, first, last, source)
    repository.save_seed(hours, coverage, exceptions, now)
    span = (coverage.last_date - coverage.first_date).days + 1
    weekdays = sum(
        1
        for offset in range(span)
        if (coverage.first_date + timedelta(days=offset)).weekday() in hours[0].trading_weekdays
    )
    closures = sum(1 for e in exceptions if e.is_closed)
    return SeedResult(
        exchange_group=exchange_group,
        first_date=coverage.first_date,
        last_date=coverage.last_date,
        trading_days=weekdays - closures,
        closures=closures,
        early_closes=sum(1 for e in exceptions if e.early_close_time is not None),
        late_opens=sum(1 for e in exceptions if e.late_open_time is not None),
        hours_versions=len(hours),
    )
