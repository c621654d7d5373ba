"""Session windows (SPEC §5, §6) over a real store-backed US_EQUITY calendar (SQLite, 2024–2026).

Checks the SPEC's examples, weekend and holiday edges, prefetch plans, indicator periods of
every kind, and — with Hypothesis over session days — that no window ever reaches the session
day or later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stores import seeded_calendar

from domain.calendar.trading_calendar import TradingCalendar
from domain.calendar.trading_days import backtest_days, period_days, prefetch_plan, trailing_days
from domain.config import IndicatorConfig
from domain.errors import CalendarError, OutOfCalendarRange


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(*texts: str) -> list[date]:
    return [d(t) for t in texts]


def indicator(period: str, skip_early_close: bool = False, **extra: Any) -> IndicatorConfig:
    return IndicatorConfig(
        type="trailing_average", period=period, field="volume", skip_early_close=skip_early_close, **extra
    )


@pytest.fixture(scope="module")
def calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TradingCalendar]:
    with seeded_calendar(
        tmp_path_factory.mktemp("window"), "US_EQUITY", start_year=2024, end_year=2026
    ) as calendar:
        yield calendar


# Session days with room for a year-long window inside the seeded 2024–2026 range.
session_days = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31))


# ------------------------------------------------------------------------------- backtest days


def test_backtest_days_of_the_spec_example_are_0702_0703_0707(calendar: TradingCalendar) -> None:
    assert backtest_days(calendar, d("2025-07-02"), d("2025-07-07")) == days(
        "2025-07-02", "2025-07-03", "2025-07-07"
    )


def test_backtest_days_match_on_every_store(us_calendar: TradingCalendar) -> None:
    """The SPEC examples hold on SQLite and PostgreSQL stores alike."""
    assert backtest_days(us_calendar, d("2025-07-02"), d("2025-07-07")) == days(
        "2025-07-02", "2025-07-03", "2025-07-07"
    )
    assert trailing_days(us_calendar, d("2025-07-07"), 3) == days("2025-07-01", "2025-07-02", "2025-07-03")


@pytest.mark.parametrize("start", ["2025-07-04", "2025-07-05", "2025-07-06"])
def test_backtest_window_starting_on_a_closed_day_starts_on_the_next_trading_day(
    calendar: TradingCalendar, start: str
) -> None:
    assert backtest_days(calendar, d(start), d("2025-07-09")) == days(
        "2025-07-07", "2025-07-08", "2025-07-09"
    )


def test_backtest_window_of_one_trading_day_is_that_day(calendar: TradingCalendar) -> None:
    assert backtest_days(calendar, d("2025-07-03"), d("2025-07-03")) == [d("2025-07-03")]


@pytest.mark.parametrize(
    ("start", "end"),
    [("2025-07-04", "2025-07-06"), ("2025-07-05", "2025-07-05"), ("2025-07-08", "2025-07-07")],
    ids=["holiday-and-weekend", "saturday", "end-before-start"],
)
def test_backtest_window_without_trading_days_is_empty(
    calendar: TradingCalendar, start: str, end: str
) -> None:
    assert backtest_days(calendar, d(start), d(end)) == []


def test_backtest_window_across_new_year_skips_holidays_and_the_day_of_mourning(
    calendar: TradingCalendar,
) -> None:
    assert backtest_days(calendar, d("2024-12-30"), d("2025-01-10")) == days(
        "2024-12-30",
        "2024-12-31",
        "2025-01-02",
        "2025-01-03",
        "2025-01-06",
        "2025-01-07",
        "2025-01-08",
        "2025-01-10",
    )


def test_backtest_window_outside_the_seeded_range_is_an_error(calendar: TradingCalendar) -> None:
    with pytest.raises(OutOfCalendarRange, match=re.escape("2024-01-01..2026-12-31")):
        backtest_days(calendar, d("2026-12-28"), d("2027-01-05"))


# ------------------------------------------------------------------------------- trailing days


def test_three_trailing_days_before_monday_0707_are_0701_to_0703(calendar: TradingCalendar) -> None:
    assert trailing_days(calendar, d("2025-07-07"), 3) == days("2025-07-01", "2025-07-02", "2025-07-03")


def test_ten_trailing_days_before_0702_skip_juneteenth(calendar: TradingCalendar) -> None:
    expected = days(
        "2025-06-17",
        "2025-06-18",
        "2025-06-20",
        "2025-06-23",
        "2025-06-24",
        "2025-06-25",
        "2025-06-26",
        "2025-06-27",
        "2025-06-30",
        "2025-07-01",
    )
    assert trailing_days(calendar, d("2025-07-02"), 10) == expected


def test_trailing_days_before_a_weekend_day_end_on_the_friday(calendar: TradingCalendar) -> None:
    assert trailing_days(calendar, d("2025-07-06"), 2) == days("2025-07-02", "2025-07-03")


def test_trailing_days_cross_the_year_boundary(calendar: TradingCalendar) -> None:
    assert trailing_days(calendar, d("2025-01-02"), 2) == days("2024-12-30", "2024-12-31")


def test_zero_trailing_days_is_empty_and_negative_is_an_error(calendar: TradingCalendar) -> None:
    assert trailing_days(calendar, d("2025-07-07"), 0) == []
    with pytest.raises(CalendarError, match="-1"):
        trailing_days(calendar, d("2025-07-07"), -1)


def test_trailing_days_reaching_before_the_seeded_range_are_an_error(calendar: TradingCalendar) -> None:
    with pytest.raises(OutOfCalendarRange):
        trailing_days(calendar, d("2024-01-05"), 10)


@settings(max_examples=150, deadline=None)
@given(session_day=session_days, n=st.integers(min_value=1, max_value=40))
def test_trailing_days_are_the_n_trading_days_just_before_the_session(
    calendar: TradingCalendar, session_day: date, n: int
) -> None:
    window = trailing_days(calendar, session_day, n)
    assert len(window) == n
    assert window == sorted(set(window))
    assert window[-1] < session_day
    assert all(calendar.is_trading_day(day) for day in window)
    # no trading day is skipped between the first window day and the session
    assert window == calendar.get_trading_dates_in_range(window[0], session_day - timedelta(days=1))


# -------------------------------------------------------------------------------- period days


def test_nd_period_is_the_trailing_window(calendar: TradingCalendar) -> None:
    assert period_days(calendar, d("2025-07-02"), indicator("10d")) == trailing_days(
        calendar, d("2025-07-02"), 10
    )


def test_one_week_before_monday_0707_is_the_holiday_week(calendar: TradingCalendar) -> None:
    assert period_days(calendar, d("2025-07-07"), indicator("1w")) == days(
        "2025-06-30", "2025-07-01", "2025-07-02", "2025-07-03"
    )


def test_one_week_skipping_early_closes_drops_0703(calendar: TradingCalendar) -> None:
    assert period_days(calendar, d("2025-07-07"), indicator("1w", skip_early_close=True)) == days(
        "2025-06-30", "2025-07-01", "2025-07-02"
    )


def test_nd_period_skipping_early_closes_keeps_n_full_days(calendar: TradingCalendar) -> None:
    """10d without half days reaches one day further back instead of averaging nine days."""
    got = period_days(calendar, d("2025-07-08"), indicator("10d", skip_early_close=True))
    expected = [day for day in trailing_days(calendar, d("2025-07-08"), 11) if day != d("2025-07-03")]
    assert got == expected
    assert len(got) == 10


def test_nd_period_skipping_several_early_closes_over_the_holidays(calendar: TradingCalendar) -> None:
    """Before 2025-01-02 the early closes 2024-12-24 and 2024-11-29 both fall in a 25d window."""
    got = period_days(calendar, d("2025-01-02"), indicator("25d", skip_early_close=True))
    assert len(got) == 25
    assert d("2024-12-24") not in got
    assert d("2024-11-29") not in got
    assert got[-1] == d("2024-12-31")
    full_days = [
        day
        for day in calendar.get_trading_dates_in_range(got[0], d("2024-12-31"))
        if not calendar.get_trading_session(day).is_early_close
    ]
    assert got == full_days


def test_monthly_period_is_the_trading_days_of_the_previous_30_calendar_days(
    calendar: TradingCalendar,
) -> None:
    got = period_days(calendar, d("2025-07-07"), indicator("1m"))
    assert got == calendar.get_trading_dates_in_range(d("2025-06-07"), d("2025-07-06"))
    assert got[0] == d("2025-06-09")
    assert d("2025-06-19") not in got


def test_yearly_period_spans_365_calendar_days_and_can_skip_early_closes(calendar: TradingCalendar) -> None:
    full_year = period_days(calendar, d("2025-07-07"), indicator("1y"))
    assert full_year == calendar.get_trading_dates_in_range(d("2024-07-07"), d("2025-07-06"))
    without_half_days = period_days(calendar, d("2025-07-07"), indicator("1y", skip_early_close=True))
    dropped = sorted(set(full_year) - set(without_half_days))
    assert dropped == days("2024-11-29", "2024-12-24", "2025-07-03")


def test_fifty_two_weeks_are_364_days(calendar: TradingCalendar) -> None:
    got = period_days(calendar, d("2025-07-08"), indicator("52w"))
    assert got == calendar.get_trading_dates_in_range(d("2024-07-09"), d("2025-07-07"))


@settings(max_examples=150, deadline=None)
@given(
    session_day=session_days,
    count=st.integers(min_value=1, max_value=12),
    unit=st.sampled_from("dwmy"),
    skip=st.booleans(),
)
def test_period_days_never_include_the_session_day_or_later(
    calendar: TradingCalendar, session_day: date, count: int, unit: str, skip: bool
) -> None:
    config = indicator(f"{count if unit != 'y' else 1}{unit}", skip_early_close=skip)
    got = period_days(calendar, session_day, config)
    assert got == sorted(set(got))
    assert all(day < session_day for day in got)
    assert all(calendar.is_trading_day(day) for day in got)
    if skip:
        assert not any(calendar.get_trading_session(day).is_early_close for day in got)
    span = config.period_calendar_days
    if span is None:
        assert len(got) == config.period_count
    else:
        assert all(day >= session_day - timedelta(days=span) for day in got)


# ------------------------------------------------------------------------------- prefetch plan

WINDOW = days("2025-07-02", "2025-07-03", "2025-07-07")


def test_prefetch_three_from_0702_queues_the_whole_window() -> None:
    assert prefetch_plan(WINDOW, 0, 3) == WINDOW


def test_prefetch_three_is_refilled_and_cut_at_the_end_of_the_window() -> None:
    assert prefetch_plan(WINDOW, 1, 3) == days("2025-07-03", "2025-07-07")
    assert prefetch_plan(WINDOW, 2, 3) == days("2025-07-07")


def test_prefetch_one_queues_only_the_session_day() -> None:
    assert [prefetch_plan(WINDOW, i, 1) for i in range(3)] == [[day] for day in WINDOW]


@given(
    length=st.integers(min_value=1, max_value=30),
    prefetch=st.integers(min_value=1, max_value=10),
)
def test_refilled_prefetch_queues_every_day_once_and_always_holds_the_session_day(
    length: int, prefetch: int
) -> None:
    window = [date(2025, 1, 1) + timedelta(days=i) for i in range(length)]
    queued: list[date] = []
    for index, session_day in enumerate(window):
        plan = prefetch_plan(window, index, prefetch)
        assert plan[0] == session_day
        assert len(plan) == min(prefetch, length - index)
        queued.extend(day for day in plan if day not in queued)
    assert queued == window


@pytest.mark.parametrize(
    ("index", "prefetch", "error"), [(0, 0, ValueError), (3, 1, IndexError), (-1, 1, IndexError)]
)
def test_prefetch_plan_rejects_bad_arguments(index: int, prefetch: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        prefetch_plan(WINDOW, index, prefetch)
