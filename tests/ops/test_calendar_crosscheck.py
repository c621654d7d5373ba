"""Real-world checks of the seeded US calendar: every day of 2000–2026 against exchange_calendars'
XNYS schedule, and ORCL's real daily bars (1995–2014) against the calendar's trading days.

Each check is one range query plus set comparisons, so the whole module runs in seconds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from pathlib import Path

import exchange_calendars as xcals
import pytest
from support.stores import real_file, seed

from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import OutOfCalendarRange
from domain.store import Store, open_store

FIRST, LAST = date(2000, 1, 1), date(2026, 12, 31)


UNSCHEDULED_CLOSURES = {
    date(2001, 9, 11): "September 11 attacks",
    date(2001, 9, 12): "September 11 attacks",
    date(2001, 9, 13): "September 11 attacks",
    date(2001, 9, 14): "September 11 attacks",
    date(2004, 6, 11): "National Day of Mourning (Ronald Reagan)",
    date(2007, 1, 2): "National Day of Mourning (Gerald Ford)",
    date(2012, 10, 29): "Hurricane Sandy",
    date(2012, 10, 30): "Hurricane Sandy",
}


def _seeded(tmp: Path, start_year: int) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp / 'us.db'}")
    try:
        seed(store, "US_EQUITY", start_year=start_year, end_year=2026)
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def store_2000(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    yield from _seeded(tmp_path_factory.mktemp("us2000"), 2000)


@pytest.fixture(scope="module")
def store_1995(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    yield from _seeded(tmp_path_factory.mktemp("us1995"), 1995)


@pytest.fixture(scope="module")
def xnys() -> xcals.ExchangeCalendar:
    return xcals.get_calendar("XNYS", start=FIRST.isoformat(), end=LAST.isoformat())


def every_day(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_coverage_is_the_seeded_years(store_2000: Store) -> None:
    cal = TradingCalendar(store_2000.calendar)
    coverage = cal.coverage()
    assert (coverage.first_date, coverage.last_date) == (FIRST, LAST)
    with pytest.raises(OutOfCalendarRange, match=r"2000-01-01\.\.2026-12-31"):
        cal.is_trading_day(date(1999, 12, 31))


def test_every_day_2000_to_2026_trades_exactly_when_xnys_does(
    store_2000: Store, xnys: xcals.ExchangeCalendar
) -> None:
    cal = TradingCalendar(store_2000.calendar)
    expected = {stamp.date() for stamp in xnys.sessions}
    ours = cal.get_trading_dates_in_range(FIRST, LAST)
    assert len(ours) == len(set(ours)) == len(expected) > 6700
    assert set(ours) == expected
    trading_flags = {day for day in every_day(FIRST, LAST) if cal.is_trading_day(day)}
    assert trading_flags == expected


def test_regular_open_and_close_match_xnys_as_utc_instants(
    store_2000: Store, xnys: xcals.ExchangeCalendar
) -> None:
    cal = TradingCalendar(store_2000.calendar, cache_size=10_000)
    schedule = xnys.schedule
    expected = {
        stamp.date(): (opened.to_pydatetime(), closed.to_pydatetime())
        for stamp, opened, closed in zip(schedule.index, schedule["open"], schedule["close"], strict=True)
    }
    ours = {}
    for day in cal.get_trading_dates_in_range(FIRST, LAST):
        session = cal.get_trading_session(day)
        assert session.regular_open is not None and session.regular_close is not None
        ours[day] = (session.regular_open.astimezone(UTC), session.regular_close.astimezone(UTC))
    mismatches = {day: (ours.get(day), want) for day, want in expected.items() if ours.get(day) != want}
    assert not mismatches, f"{len(mismatches)} sessions differ, first: {sorted(mismatches.items())[:3]}"
    early = {day for day in ours if cal.is_early_close(day)[0]}
    assert early == {stamp.date() for stamp in xnys.early_closes if FIRST <= stamp.date() <= LAST}
    assert len(early) > 50


def test_every_closed_weekday_is_a_named_holiday(store_2000: Store) -> None:
    cal = TradingCalendar(store_2000.calendar, cache_size=10_000)
    trading = set(cal.get_trading_dates_in_range(FIRST, LAST))
    closed_weekdays = [d for d in every_day(FIRST, LAST) if d.weekday() < 5 and d not in trading]
    assert len(closed_weekdays) > 240
    names = {day: cal.is_holiday(day) for day in closed_weekdays}
    assert all(flag and name and name != "Market closed" for flag, name in names.values()), [
        (d, n) for d, n in names.items() if not n[0] or not n[1] or n[1] == "Market closed"
    ]


def test_unscheduled_closures_are_closed_and_named(store_2000: Store) -> None:
    cal = TradingCalendar(store_2000.calendar)
    for day, name in UNSCHEDULED_CLOSURES.items():
        assert cal.is_trading_day(day) is False, day
        assert cal.is_holiday(day) == (True, name)
    assert cal.get_next_trading_date(date(2001, 9, 10)) == date(2001, 9, 17)
    assert cal.get_next_trading_date(date(2012, 10, 26)) == date(2012, 10, 31)
    assert cal.get_trading_dates_in_range(date(2007, 1, 1), date(2007, 1, 3)) == [date(2007, 1, 3)]


def test_orcl_daily_bars_trade_exactly_on_the_calendars_trading_days(store_1995: Store) -> None:
    path = real_file("ORCL_1995-2014_1d.csv")
    with path.open(newline="") as handle:
        dates = [date.fromisoformat(row["Date"]) for row in csv.DictReader(handle)]
    assert dates == sorted(set(dates))
    assert (dates[0], dates[-1]) == (date(1995, 1, 3), date(2014, 12, 31))
    cal = TradingCalendar(store_1995.calendar)
    calendar_days = cal.get_trading_dates_in_range(dates[0], dates[-1])
    missing_bars = sorted(set(calendar_days) - set(dates))
    bars_on_closed_days = sorted(set(dates) - set(calendar_days))
    assert (missing_bars, bars_on_closed_days) == ([], [])
    assert len(calendar_days) == len(dates) == 5036
    for day in UNSCHEDULED_CLOSURES:
        assert day not in dates
