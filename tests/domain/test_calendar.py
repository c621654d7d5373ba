"""The pure trading calendar (SPEC §4) on an in-memory source: no database, no clock.

The fake source holds the real 2024–2026 NYSE closures and early closes (names as the seed
writes them), a Tokyo-like group with a lunch break and a change of close time, and counts its
``load_exceptions`` calls so the "a year at a time" loading rule can be checked.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar.model import CalendarException, Coverage, MarketHours, SessionType, TimeUnit
from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import CalendarError, OutOfCalendarRange
from domain.session.windows import DayHours

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
US = "US_EQUITY"
JP = "JP_EQUITY"
FIRST, LAST = date(2024, 1, 1), date(2026, 12, 31)
RANGE_TEXT = "2024-01-01..2026-12-31"

US_HOURS = MarketHours(
    exchange_group=US,
    asset_class="EQUITY",
    valid_from=FIRST,
    timezone="America/New_York",
    exchanges=("NYSE", "NASDAQ", "AMEX", "ARCA"),
    regular_open=time(9, 30),
    regular_close=time(16, 0),
    pre_market_open=time(4, 0),
    pre_market_close=time(9, 30),
    post_market_open=time(16, 0),
    post_market_close=time(20, 0),
)
JP_HOURS = [
    MarketHours(
        exchange_group=JP,
        asset_class="EQUITY",
        valid_from=FIRST,
        timezone="Asia/Tokyo",
        exchanges=("TSE",),
        regular_open=time(9, 0),
        regular_close=time(15, 0),
        break_start=time(11, 30),
        break_end=time(12, 30),
    ),
    MarketHours(
        exchange_group=JP,
        asset_class="EQUITY",
        valid_from=date(2024, 11, 5),
        timezone="Asia/Tokyo",
        exchanges=("TSE",),
        regular_open=time(9, 0),
        regular_close=time(15, 30),
        break_start=time(11, 30),
        break_end=time(12, 30),
    ),
]


def closed(day: str, name: str, group: str = US) -> CalendarException:
    return CalendarException(date.fromisoformat(day), group, name, True, source="test")


def early(day: str, name: str, at: time = time(13, 0)) -> CalendarException:
    return CalendarException(date.fromisoformat(day), US, name, False, early_close_time=at, source="test")


US_EXCEPTIONS = [
    closed("2024-01-01", "New Year's Day"),
    closed("2024-01-15", "Martin Luther King Jr. Day"),
    closed("2024-02-19", "Washington's Birthday"),
    closed("2024-03-29", "Good Friday"),
    closed("2024-05-27", "Memorial Day"),
    closed("2024-06-19", "Juneteenth"),
    early("2024-07-03", "Day before Independence Day"),
    closed("2024-07-04", "Independence Day"),
    closed("2024-09-02", "Labor Day"),
    closed("2024-11-28", "Thanksgiving"),
    early("2024-11-29", "Black Friday"),
    early("2024-12-24", "Christmas Eve"),
    closed("2024-12-25", "Christmas"),
    closed("2025-01-01", "New Year's Day"),
    closed("2025-01-09", "National Day of Mourning (Jimmy Carter)"),
    closed("2025-01-20", "Martin Luther King Jr. Day"),
    closed("2025-02-17", "Washington's Birthday"),
    closed("2025-04-18", "Good Friday"),
    closed("2025-05-26", "Memorial Day"),
    closed("2025-06-19", "Juneteenth"),
    early("2025-07-03", "Day before Independence Day"),
    closed("2025-07-04", "Independence Day"),
    # an invented late open, to check that a changed open is honoured
    CalendarException(date(2025, 8, 1), US, "Late open (test)", False, late_open_time=time(10, 30)),
    closed("2025-09-01", "Labor Day"),
    closed("2025-11-27", "Thanksgiving"),
    early("2025-11-28", "Black Friday"),
    early("2025-12-24", "Christmas Eve"),
    closed("2025-12-25", "Christmas"),
    closed("2026-01-01", "New Year's Day"),
    closed("2026-01-19", "Martin Luther King Jr. Day"),
    closed("2026-02-16", "Washington's Birthday"),
    closed("2026-04-03", "Good Friday"),
    closed("2026-05-25", "Memorial Day"),
    closed("2026-06-19", "Juneteenth"),
    closed("2026-07-03", "Independence Day (observed)"),
    # 2026-07-04 is a Saturday: a source may still list it; a weekend is never a holiday
    closed("2026-07-04", "Independence Day"),
    closed("2026-09-07", "Labor Day"),
    closed("2026-11-26", "Thanksgiving"),
    early("2026-11-27", "Black Friday"),
    early("2026-12-24", "Christmas Eve"),
    closed("2026-12-25", "Christmas"),
]
JP_EXCEPTIONS = [closed("2024-11-04", "Culture Day (observed)", JP)]


class FakeCalendarSource:
    """An in-memory :class:`domain.calendar.model.CalendarSource` that records what it is asked."""

    def __init__(
        self,
        hours: Iterable[MarketHours],
        coverage: Iterable[Coverage],
        exceptions: Iterable[CalendarException],
    ) -> None:
        self.hours = list(hours)
        self.coverage = {c.exchange_group: c for c in coverage}
        self.exceptions = list(exceptions)
        self.hours_loads: list[tuple[str, str]] = []
        self.coverage_loads: list[str] = []
        self.exception_loads: list[tuple[str, date, date]] = []

    def load_market_hours(self, exchange_group: str, asset_class: str) -> list[MarketHours]:
        self.hours_loads.append((exchange_group, asset_class))
        return [h for h in self.hours if (h.exchange_group, h.asset_class) == (exchange_group, asset_class)]

    def load_coverage(self, exchange_group: str) -> Coverage | None:
        self.coverage_loads.append(exchange_group)
        return self.coverage.get(exchange_group)

    def load_exceptions(self, exchange_group: str, first: date, last: date) -> list[CalendarException]:
        self.exception_loads.append((exchange_group, first, last))
        return [e for e in self.exceptions if e.exchange_group == exchange_group and first <= e.date <= last]


def make_source(first: date = FIRST, last: date = LAST) -> FakeCalendarSource:
    return FakeCalendarSource(
        [US_HOURS, *JP_HOURS],
        [Coverage(US, first, last, "test"), Coverage(JP, first, last, "test")],
        [*US_EXCEPTIONS, *JP_EXCEPTIONS],
    )


@pytest.fixture
def source() -> FakeCalendarSource:
    return make_source()


@pytest.fixture
def cal(source: FakeCalendarSource) -> TradingCalendar:
    return TradingCalendar(source)


@functools.cache
def property_calendar() -> TradingCalendar:
    """One calendar shared by the Hypothesis properties (function fixtures do not mix with @given)."""
    return TradingCalendar(make_source())


def ny(day: date, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second, micro), tzinfo=NY)


def weekdays(first: date, last: date) -> list[date]:
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [day for day in days if day.weekday() < 5]


# ------------------------------------------------------------------ SPEC §4 examples
def test_independence_day_2025_is_a_named_full_holiday(cal: TradingCalendar) -> None:
    session = cal.get_trading_session(date(2025, 7, 4))
    assert (session.is_trading_day, session.is_holiday, session.is_early_close) == (False, True, False)
    assert session.holiday_name == "Independence Day"
    assert session.regular_open is None and session.regular_close is None
    assert session.pre_market_open is None and session.post_market_close is None
    assert cal.is_holiday(date(2025, 7, 4)) == (True, "Independence Day")
    assert cal.is_trading_day(date(2025, 7, 4)) is False
    assert cal.get_session_type(ny(date(2025, 7, 4), 12)) is SessionType.CLOSED


def test_july_3_2025_is_an_early_close_at_1300(cal: TradingCalendar) -> None:
    day = date(2025, 7, 3)
    session = cal.get_trading_session(day)
    assert session.is_trading_day and session.is_early_close and not session.is_holiday
    assert session.regular_open == ny(day, 9, 30)
    assert session.regular_close == ny(day, 13)
    assert cal.is_early_close(day) == (True, time(13, 0))
    assert cal.is_holiday(day)[0] is False
    assert cal.is_early_close(date(2025, 7, 2)) == (False, None)


def test_early_close_post_market_starts_at_the_early_close(cal: TradingCalendar) -> None:
    day = date(2025, 7, 3)
    session = cal.get_trading_session(day)
    assert session.post_market_open == ny(day, 13)
    assert session.post_market_close == ny(day, 20)
    assert cal.get_session_type(ny(day, 12, 59, 59)) is SessionType.REGULAR
    assert cal.get_session_type(ny(day, 13)) is SessionType.POST_MARKET
    assert cal.is_market_open(ny(day, 13, 30)) is False
    assert cal.is_market_open(ny(day, 13, 30), include_extended=True) is True
    assert cal.count_trading_time(ny(day, 0), ny(day, 23, 59), TimeUnit.MINUTES) == 210


def test_january_9_2025_is_closed_for_the_day_of_mourning(cal: TradingCalendar) -> None:
    assert cal.is_trading_day(date(2025, 1, 9)) is False
    assert cal.is_holiday(date(2025, 1, 9)) == (True, "National Day of Mourning (Jimmy Carter)")
    assert cal.get_next_trading_date(date(2025, 1, 8)) == date(2025, 1, 10)


def test_first_next_previous_examples_of_spec(cal: TradingCalendar) -> None:
    assert cal.get_first_trading_date(date(2025, 7, 5)) == date(2025, 7, 7)
    assert cal.get_first_trading_date(date(2025, 7, 3)) == date(2025, 7, 3)
    assert cal.get_next_trading_date(date(2025, 7, 3)) == date(2025, 7, 7)
    assert cal.get_previous_trading_date(date(2025, 1, 2)) == date(2024, 12, 31)
    assert cal.get_next_trading_date(date(2025, 7, 3), n=2) == date(2025, 7, 8)
    assert cal.get_previous_trading_date(date(2025, 7, 7), n=2) == date(2025, 7, 2)


def test_trading_dates_from_june_30_to_july_7_2025(cal: TradingCalendar) -> None:
    expected = [date(2025, 6, 30), date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3), date(2025, 7, 7)]
    assert cal.get_trading_dates_in_range(date(2025, 6, 30), date(2025, 7, 7)) == expected
    assert cal.count_trading_days(date(2025, 6, 30), date(2025, 7, 7)) == 5
    assert cal.get_trading_dates_in_range(date(2025, 7, 7), date(2025, 6, 30)) == []


def test_next_and_previous_cross_year_boundaries_with_large_n(cal: TradingCalendar) -> None:
    all_days = cal.get_trading_dates_in_range(FIRST, LAST)
    start = all_days.index(date(2024, 12, 31))
    assert cal.get_next_trading_date(date(2024, 12, 31), n=300) == all_days[start + 300]
    assert (
        cal.get_previous_trading_date(date(2026, 1, 2), n=400)
        == all_days[all_days.index(date(2026, 1, 2)) - 400]
    )


# ------------------------------------------------------------------ day kinds
def test_weekend_is_not_a_trading_day_and_not_a_holiday(cal: TradingCalendar) -> None:
    session = cal.get_trading_session(date(2025, 7, 5))
    assert (session.is_trading_day, session.is_holiday, session.holiday_name) == (False, False, None)
    assert session.regular_open is None
    assert cal.is_holiday(date(2025, 7, 6)) == (False, None)


def test_weekend_listed_by_the_source_is_still_not_a_holiday(cal: TradingCalendar) -> None:
    assert cal.is_holiday(date(2026, 7, 4)) == (False, None)
    assert cal.is_holiday(date(2026, 7, 3)) == (True, "Independence Day (observed)")


def test_late_open_moves_the_regular_open(cal: TradingCalendar) -> None:
    day = date(2025, 8, 1)
    session = cal.get_trading_session(day)
    assert session.is_trading_day and session.regular_open == ny(day, 10, 30)
    assert session.regular_close == ny(day, 16)
    assert cal.is_market_open(ny(day, 10, 29)) is False
    assert cal.is_market_open(ny(day, 10, 30)) is True
    assert cal.count_trading_time(ny(day, 0), ny(day, 23), "minutes") == 330


def test_lunch_break_is_excluded_from_market_open_and_trading_time(cal: TradingCalendar) -> None:
    day = date(2024, 11, 1)

    def tokyo(hour: int, minute: int = 0, second: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute, second), tzinfo=TOKYO)

    session = cal.get_trading_session(day, JP)
    assert session.break_start == tokyo(11, 30) and session.break_end == tokyo(12, 30)
    assert cal.is_market_open(tokyo(11, 29, 59), exchange_group=JP) is True
    assert cal.is_market_open(tokyo(11, 30), exchange_group=JP) is False
    assert cal.is_market_open(tokyo(12, 0), include_extended=True, exchange_group=JP) is False
    assert cal.get_session_type(tokyo(12, 29, 59), JP) is SessionType.CLOSED
    assert cal.is_market_open(tokyo(12, 30), exchange_group=JP) is True
    assert cal.count_trading_time(tokyo(0), tokyo(23), TimeUnit.MINUTES, JP) == 300
    assert cal.count_trading_time(tokyo(11), tokyo(13), TimeUnit.MINUTES, JP) == 60
    assert DayHours.from_session(session).regular_seconds() == 5 * 3600


def test_close_time_change_applies_from_its_valid_from_date(cal: TradingCalendar) -> None:
    before = cal.get_trading_session(date(2024, 11, 1), JP)
    after = cal.get_trading_session(date(2024, 11, 5), JP)
    assert before.regular_close == datetime(2024, 11, 1, 15, 0, tzinfo=TOKYO)
    assert after.regular_close == datetime(2024, 11, 5, 15, 30, tzinfo=TOKYO)
    assert cal.is_trading_day(date(2024, 11, 4), JP) is False
    assert cal.get_next_trading_date(date(2024, 11, 1), exchange_group=JP) == date(2024, 11, 5)
    start = datetime(2024, 11, 1, tzinfo=TOKYO)
    assert cal.count_trading_time(start, start + timedelta(days=5), "minutes", JP) == 300 + 330


# ------------------------------------------------------------------ instants
@pytest.mark.parametrize(
    ("hour", "minute", "second", "micro", "expected"),
    [
        (3, 59, 59, 999999, SessionType.CLOSED),
        (4, 0, 0, 0, SessionType.PRE_MARKET),
        (9, 29, 59, 999999, SessionType.PRE_MARKET),
        (9, 30, 0, 0, SessionType.REGULAR),
        (15, 59, 59, 999999, SessionType.REGULAR),
        (16, 0, 0, 0, SessionType.POST_MARKET),
        (19, 59, 59, 999999, SessionType.POST_MARKET),
        (20, 0, 0, 0, SessionType.CLOSED),
    ],
)
def test_session_type_boundaries_are_half_open(
    cal: TradingCalendar, hour: int, minute: int, second: int, micro: int, expected: SessionType
) -> None:
    moment = ny(date(2025, 7, 2), hour, minute, second, micro)
    assert cal.get_session_type(moment) is expected
    assert cal.is_market_open(moment) is (expected is SessionType.REGULAR)
    assert cal.is_market_open(moment, include_extended=True) is (expected is not SessionType.CLOSED)


def test_session_type_on_weekend_is_closed_all_day(cal: TradingCalendar) -> None:
    assert {cal.get_session_type(ny(date(2025, 7, 5), h)) for h in range(24)} == {SessionType.CLOSED}


def test_naive_datetimes_are_read_as_exchange_time(cal: TradingCalendar) -> None:
    naive = datetime(2025, 7, 2, 17, 0)  # 17:00 New York is post-market; 17:00 UTC would be regular
    assert cal.localize(naive) == ny(date(2025, 7, 2), 17)
    assert cal.localize(naive).tzinfo == NY
    assert cal.get_session_type(naive) is SessionType.POST_MARKET
    assert cal.get_session_type(naive.replace(tzinfo=UTC)) is SessionType.REGULAR
    assert cal.is_market_open(naive) is False
    assert cal.count_trading_time(datetime(2025, 7, 2, 9), datetime(2025, 7, 2, 10), "minutes") == 30
    # UTC input is converted, not relabelled
    assert cal.localize(datetime(2025, 7, 2, 17, tzinfo=UTC)) == ny(date(2025, 7, 2), 13)


def test_naive_datetime_uses_the_group_timezone(cal: TradingCalendar) -> None:
    naive = datetime(2024, 11, 5, 15, 15)  # 15:15 Tokyo: regular after the 15:30 change
    assert cal.localize(naive, JP) == datetime(2024, 11, 5, 15, 15, tzinfo=TOKYO)
    assert cal.get_session_type(naive, JP) is SessionType.REGULAR
    assert cal.get_session_type(datetime(2024, 11, 1, 15, 15), JP) is SessionType.CLOSED


@pytest.mark.parametrize(
    ("before", "after", "open_before_utc", "open_after_utc"),
    [
        (date(2025, 3, 7), date(2025, 3, 10), time(14, 30), time(13, 30)),  # DST starts 2025-03-09
        (date(2025, 10, 31), date(2025, 11, 3), time(13, 30), time(14, 30)),  # DST ends 2025-11-02
    ],
)
def test_sessions_on_either_side_of_dst_change_have_correct_utc_offsets(
    cal: TradingCalendar, before: date, after: date, open_before_utc: time, open_after_utc: time
) -> None:
    first = cal.get_trading_session(before)
    second = cal.get_trading_session(after)
    assert cal.get_next_trading_date(before) == after
    assert first.regular_open is not None and second.regular_open is not None
    assert first.regular_close is not None and second.regular_close is not None
    assert first.regular_open.astimezone(UTC) == datetime.combine(before, open_before_utc, tzinfo=UTC)
    assert second.regular_open.astimezone(UTC) == datetime.combine(after, open_after_utc, tzinfo=UTC)
    assert first.regular_close - first.regular_open == timedelta(hours=6, minutes=30)
    assert second.regular_close - second.regular_open == timedelta(hours=6, minutes=30)
    # the other side's UTC open is an hour off here: pre-market if earlier, regular if later
    probe_before = datetime.combine(before, open_after_utc, tzinfo=UTC)
    probe_after = datetime.combine(after, open_before_utc, tzinfo=UTC)
    expect_before = SessionType.PRE_MARKET if open_after_utc < open_before_utc else SessionType.REGULAR
    expect_after = SessionType.PRE_MARKET if open_before_utc < open_after_utc else SessionType.REGULAR
    assert cal.get_session_type(probe_before) is expect_before
    assert cal.get_session_type(probe_after) is expect_after
    # trading time across the DST weekend counts two full sessions, not one hour more or less
    span = cal.count_trading_time(first.regular_open, second.regular_close, TimeUnit.MINUTES)
    assert span == 2 * 390


# ------------------------------------------------------------------ trading time units
def test_count_trading_time_units(cal: TradingCalendar) -> None:
    full_day = (ny(date(2025, 7, 2), 0), ny(date(2025, 7, 3), 0))
    assert cal.count_trading_time(*full_day, TimeUnit.SECONDS) == 23400
    assert cal.count_trading_time(*full_day, TimeUnit.MINUTES) == 390
    assert cal.count_trading_time(*full_day, TimeUnit.HOURS) == 6.5
    assert cal.count_trading_time(*full_day, TimeUnit.DAYS) == 1.0
    week = (ny(date(2025, 6, 30), 0), ny(date(2025, 7, 5), 0))  # 3 full days + the 13:00 early close
    assert cal.count_trading_time(*week, "minutes") == 3 * 390 + 210
    assert cal.count_trading_time(*week, "days") == pytest.approx((3 * 390 + 210) / 390)
    full_week = (ny(date(2025, 7, 7), 0), ny(date(2025, 7, 12), 0))
    assert cal.count_trading_time(*full_week, TimeUnit.WEEKS) == 1.0
    assert cal.count_trading_time(ny(date(2025, 7, 3), 12), ny(date(2025, 7, 3), 15), "minutes") == 60
    assert cal.count_trading_time(full_day[1], full_day[0], "minutes") == 0.0
    assert cal.count_trading_time(ny(date(2025, 7, 4), 0), ny(date(2025, 7, 7), 0), "minutes") == 0.0


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("n", [0, -1])
def test_n_below_one_is_an_error(cal: TradingCalendar, n: int) -> None:
    with pytest.raises(CalendarError, match=f"n must be >= 1, got {n}"):
        cal.get_next_trading_date(date(2025, 7, 3), n)
    with pytest.raises(CalendarError, match=f"n must be >= 1, got {n}"):
        cal.get_previous_trading_date(date(2025, 7, 3), n)


OUT_OF_RANGE: list[tuple[str, Callable[[TradingCalendar], Any]]] = [
    ("is_trading_day", lambda c: c.is_trading_day(date(2023, 12, 29))),
    ("get_trading_session", lambda c: c.get_trading_session(date(2027, 1, 4))),
    ("is_holiday", lambda c: c.is_holiday(date(2023, 7, 4))),
    ("get_first_trading_date", lambda c: c.get_first_trading_date(date(2027, 1, 1))),
    ("range start", lambda c: c.get_trading_dates_in_range(date(2023, 12, 1), date(2024, 1, 31))),
    ("range end", lambda c: c.count_trading_days(date(2026, 12, 1), date(2027, 1, 31))),
    ("next past the end", lambda c: c.get_next_trading_date(date(2026, 12, 31))),
    ("previous before the start", lambda c: c.get_previous_trading_date(date(2024, 1, 2))),
    ("next from outside", lambda c: c.get_next_trading_date(date(2023, 12, 29))),
    ("session type", lambda c: c.get_session_type(datetime(2027, 1, 4, 10))),
    ("trading time", lambda c: c.count_trading_time(datetime(2023, 12, 29), datetime(2024, 1, 3))),
]


@pytest.mark.parametrize("query", [q for _, q in OUT_OF_RANGE], ids=[name for name, _ in OUT_OF_RANGE])
def test_dates_outside_the_seeded_range_raise_naming_the_range(
    cal: TradingCalendar, query: Callable[[TradingCalendar], Any]
) -> None:
    with pytest.raises(OutOfCalendarRange) as caught:
        query(cal)
    assert isinstance(caught.value, CalendarError)
    assert RANGE_TEXT in str(caught.value) and US in str(caught.value)


def test_dates_at_the_edges_of_the_range_are_answered(cal: TradingCalendar) -> None:
    assert cal.get_next_trading_date(date(2026, 12, 30)) == date(2026, 12, 31)
    assert cal.get_previous_trading_date(date(2024, 1, 3)) == date(2024, 1, 2)
    assert cal.get_first_trading_date(date(2024, 1, 1)) == date(2024, 1, 2)
    assert cal.is_trading_day(date(2026, 12, 31)) is True


def test_trading_time_of_the_last_covered_day_with_an_exclusive_midnight_end(cal: TradingCalendar) -> None:
    assert cal.count_trading_time(datetime(2026, 12, 31), datetime(2027, 1, 1), "minutes") == 390


def test_unknown_group_is_an_error_telling_to_seed(cal: TradingCalendar) -> None:
    with pytest.raises(CalendarError, match="no calendar for exchange group 'XX_EQUITY'"):
        cal.is_trading_day(date(2025, 7, 2), "XX_EQUITY")


# ------------------------------------------------------------------ loading
def test_range_queries_load_exceptions_one_year_at_a_time(source: FakeCalendarSource) -> None:
    cal = TradingCalendar(source)
    days = cal.get_trading_dates_in_range(FIRST, LAST)
    assert len(days) == len(weekdays(FIRST, LAST)) - sum(
        1 for e in US_EXCEPTIONS if e.is_closed and e.date.weekday() < 5
    )
    assert source.exception_loads == [
        (US, date(2024, 1, 1), date(2024, 12, 31)),
        (US, date(2025, 1, 1), date(2025, 12, 31)),
        (US, date(2026, 1, 1), date(2026, 12, 31)),
    ]
    # every other kind of query over loaded years costs no further load
    assert cal.count_trading_days(date(2024, 3, 1), date(2026, 3, 1)) > 0
    for day in days[:300]:
        cal.get_trading_session(day)
        cal.is_trading_day(day)
    cal.count_trading_time(ny(date(2024, 1, 2), 0), ny(date(2026, 12, 31), 23), "hours")
    cal.get_next_trading_date(date(2024, 1, 2), n=600)
    assert len(source.exception_loads) == 3
    assert source.hours_loads == [(US, "EQUITY")]
    assert source.coverage_loads == [US]


def test_single_day_queries_load_their_whole_year_once(source: FakeCalendarSource) -> None:
    cal = TradingCalendar(source)
    for offset in range(60):
        cal.get_trading_session(date(2025, 3, 1) + timedelta(days=offset))
    assert source.exception_loads == [(US, date(2025, 1, 1), date(2025, 12, 31))]


def test_partial_years_are_loaded_clipped_to_the_coverage() -> None:
    source = make_source(date(2024, 3, 1), date(2025, 6, 30))
    cal = TradingCalendar(source)
    assert cal.count_trading_days(date(2024, 3, 1), date(2025, 6, 30)) > 0
    assert source.exception_loads == [
        (US, date(2024, 3, 1), date(2024, 12, 31)),
        (US, date(2025, 1, 1), date(2025, 6, 30)),
    ]
    with pytest.raises(OutOfCalendarRange, match=r"2024-03-01\.\.2025-06-30"):
        cal.get_next_trading_date(date(2025, 6, 30))


# ------------------------------------------------------------------ cache
def test_cache_stats_count_hits_misses_and_size(cal: TradingCalendar) -> None:
    assert cal.get_cache_stats().as_dict() == {
        "cache_hits": 0,
        "cache_misses": 0,
        "hit_rate": 0.0,
        "total_queries": 0,
        "size": 0,
    }
    cal.get_trading_session(date(2025, 7, 2))
    cal.get_trading_session(date(2025, 7, 2))
    cal.get_trading_session(date(2025, 7, 3))
    cal.get_trading_session(date(2025, 7, 2))
    stats = cal.get_cache_stats()
    assert (stats.cache_hits, stats.cache_misses, stats.total_queries, stats.size) == (2, 2, 4, 2)
    assert stats.hit_rate == 0.5


def test_last_query_fast_path_returns_the_same_session(cal: TradingCalendar) -> None:
    first = cal.get_trading_session(date(2025, 7, 3))
    repeated = [cal.get_trading_session(date(2025, 7, 3)) for _ in range(99)]
    assert all(s is first for s in repeated)
    stats = cal.get_cache_stats()
    assert (stats.cache_hits, stats.cache_misses, stats.size) == (99, 1, 1)
    # the fast path is keyed by group too: the same date of another group is another session
    tokyo = cal.get_trading_session(date(2025, 7, 3), JP)
    assert tokyo.exchange_group == JP and tokyo.timezone == "Asia/Tokyo"
    assert cal.get_cache_stats().cache_misses == 2


def test_lru_bound_is_respected_and_evicts_the_least_recently_used(source: FakeCalendarSource) -> None:
    cal = TradingCalendar(source, cache_size=2)
    a, b, c = date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3)
    for day in (a, b, a, c):  # a is used again before c arrives, so b is the one evicted
        cal.get_trading_session(day)
    assert cal.get_cache_stats().size == 2
    assert (cal.get_cache_stats().cache_hits, cal.get_cache_stats().cache_misses) == (1, 3)
    cal.get_trading_session(a)  # still cached
    assert cal.get_cache_stats().cache_hits == 2
    cal.get_trading_session(b)  # evicted: a miss
    assert cal.get_cache_stats().cache_misses == 4
    for offset in range(50):
        cal.get_trading_session(date(2025, 1, 1) + timedelta(days=offset))
        assert cal.get_cache_stats().size <= 2


def test_cache_size_below_one_is_refused(source: FakeCalendarSource) -> None:
    with pytest.raises(ValueError, match="cache_size"):
        TradingCalendar(source, cache_size=0)


def test_invalidate_cache_makes_a_changed_source_visible(source: FakeCalendarSource) -> None:
    cal = TradingCalendar(source)
    day = date(2025, 7, 7)
    assert cal.is_trading_day(day) is True
    cal.get_trading_session(day)
    source.exceptions.append(closed("2025-07-07", "Unscheduled closure"))
    source.hours = [
        dataclasses.replace(US_HOURS, regular_close=time(15)),
        *JP_HOURS,
    ]
    assert cal.is_trading_day(day) is True  # loaded data is kept until invalidated
    cal.invalidate_cache()
    assert cal.get_cache_stats().as_dict() == {
        "cache_hits": 0,
        "cache_misses": 0,
        "hit_rate": 0.0,
        "total_queries": 0,
        "size": 0,
    }
    assert cal.is_trading_day(day) is False
    assert cal.is_holiday(day) == (True, "Unscheduled closure")
    assert cal.get_next_trading_date(date(2025, 7, 3)) == date(2025, 7, 8)
    assert cal.get_trading_session(date(2025, 7, 8)).regular_close == ny(date(2025, 7, 8), 15)


# ------------------------------------------------------------------ properties
DATES = st.dates(min_value=date(2024, 1, 10), max_value=date(2026, 12, 20))
NAIVE_MOMENTS = st.datetimes(min_value=datetime(2024, 1, 2), max_value=datetime(2026, 12, 30))
PROPERTY_SETTINGS = settings(deadline=None, max_examples=150)


@PROPERTY_SETTINGS
@given(DATES)
def test_property_next_is_exclusive_and_previous_of_next_returns(day: date) -> None:
    cal = property_calendar()
    following = cal.get_next_trading_date(day)
    assert following > day
    assert cal.is_trading_day(following)
    back = cal.get_previous_trading_date(following)
    assert back <= day
    assert cal.count_trading_days(day + timedelta(days=1), following - timedelta(days=1)) == 0
    if cal.is_trading_day(day):
        assert back == day
    else:
        assert cal.get_previous_trading_date(day) == back


@PROPERTY_SETTINGS
@given(DATES)
def test_property_first_trading_date_is_inclusive(day: date) -> None:
    cal = property_calendar()
    first = cal.get_first_trading_date(day)
    assert first >= day
    assert cal.is_trading_day(first)
    assert (first == day) is cal.is_trading_day(day)
    assert cal.count_trading_days(day, first) == 1


@PROPERTY_SETTINGS
@given(DATES, DATES)
def test_property_count_equals_length_of_range(a: date, b: date) -> None:
    cal = property_calendar()
    dates = cal.get_trading_dates_in_range(a, b)
    assert cal.count_trading_days(a, b) == len(dates)
    assert dates == sorted(set(dates))
    assert all(a <= d <= b and cal.is_trading_day(d) for d in dates)
    if a > b:
        assert dates == []


@PROPERTY_SETTINGS
@given(DATES)
def test_property_every_trading_day_opens_before_it_closes(day: date) -> None:
    cal = property_calendar()
    for group in (US, JP):
        session = cal.get_trading_session(day, group)
        assert session.is_trading_day is cal.is_trading_day(day, group)
        if not session.is_trading_day:
            assert session.regular_open is None and session.regular_close is None
            continue
        assert session.regular_open is not None and session.regular_close is not None
        assert session.regular_open < session.regular_close
        assert session.regular_open.tzinfo is not None and session.regular_open.date() == day
        assert DayHours.from_session(session).regular_seconds() > 0
        if session.pre_market_open is not None and session.post_market_close is not None:
            assert session.pre_market_open <= session.regular_open
            assert session.regular_close <= session.post_market_close


@PROPERTY_SETTINGS
@given(NAIVE_MOMENTS, NAIVE_MOMENTS)
def test_property_naive_equals_localized(a: datetime, b: datetime) -> None:
    cal = property_calendar()
    aware_a, aware_b = a.replace(tzinfo=NY), b.replace(tzinfo=NY)
    assert cal.get_session_type(a) is cal.get_session_type(aware_a)
    assert cal.get_session_type(a) is cal.get_session_type(aware_a.astimezone(UTC))
    assert cal.is_market_open(a, include_extended=True) is cal.is_market_open(aware_a, include_extended=True)
    assert cal.count_trading_time(a, b, "seconds") == cal.count_trading_time(aware_a, aware_b, "seconds")
    assert cal.count_trading_time(a, b, "seconds") == cal.count_trading_time(
        aware_a.astimezone(UTC), aware_b.astimezone(UTC), "seconds"
    )
