"""TimeManager as a real pykka actor over a seeded store (SQLite and PostgreSQL).

Every call goes through :class:`TimeManagerClient`, i.e. an ask bounded by a timeout; errors
must come back to the caller as domain types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from actors.time_manager import Mode, TimeManager, TimeManagerClient
from domain.calendar.model import CalendarException, CalendarSource, SessionType, TimeUnit, TradingSession
from domain.errors import CalendarError, OutOfCalendarRange
from domain.store import Store

NY = ZoneInfo("America/New_York")
ASK_TIMEOUT = 10.0


@contextmanager
def _client(source: CalendarSource, mode: Mode = "backtest") -> Iterator[TimeManagerClient]:
    ref = TimeManager.start(source, mode=mode)
    try:
        yield TimeManagerClient(ref, ASK_TIMEOUT)
    finally:
        ref.stop()


@pytest.fixture
def backtest(seeded_store: Store) -> Iterator[TimeManagerClient]:
    with _client(seeded_store.calendar) as client:
        yield client


@pytest.fixture
def live(seeded_store: Store) -> Iterator[TimeManagerClient]:
    with _client(seeded_store.calendar, "live") as client:
        yield client


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


def test_client_is_backed_by_a_running_time_manager_actor(backtest: TimeManagerClient) -> None:
    assert backtest.ref.is_alive()
    assert backtest.ref.actor_class is TimeManager


def test_trading_session_queries_through_the_actor(backtest: TimeManagerClient) -> None:
    holiday = backtest.get_trading_session(date(2025, 7, 4))
    assert isinstance(holiday, TradingSession)
    assert (holiday.is_trading_day, holiday.is_holiday, holiday.holiday_name) == (
        False,
        True,
        "Independence Day",
    )
    early = backtest.get_trading_session(date(2025, 7, 3), "US_EQUITY", "EQUITY")
    assert early.is_early_close and early.regular_close == ny(date(2025, 7, 3), 13)
    assert early.post_market_open == ny(date(2025, 7, 3), 13)
    london = backtest.get_trading_session(date(2024, 12, 24), "UK_EQUITY")
    assert london.regular_close == datetime(2024, 12, 24, 12, 30, tzinfo=ZoneInfo("Europe/London"))
    sessions = backtest.get_trading_sessions([date(2025, 7, 3), date(2025, 7, 5)])
    assert [(s.date, s.is_trading_day) for s in sessions] == [
        (date(2025, 7, 3), True),
        (date(2025, 7, 5), False),
    ]


def test_day_queries_through_the_actor(backtest: TimeManagerClient) -> None:
    assert backtest.is_trading_day(date(2025, 7, 7)) is True
    assert backtest.is_trading_day(date(2025, 1, 9)) is False
    assert backtest.is_holiday(date(2025, 7, 4)) == (True, "Independence Day")
    assert backtest.is_holiday(date(2025, 7, 5)) == (False, None)
    assert backtest.is_early_close(date(2025, 7, 3)) == (True, time(13))
    assert backtest.is_early_close(date(2025, 7, 2)) == (False, None)
    assert backtest.is_trading_day(date(2024, 12, 26), "UK_EQUITY") is False


def test_date_arithmetic_through_the_actor(backtest: TimeManagerClient) -> None:
    assert backtest.get_first_trading_date(date(2025, 7, 5)) == date(2025, 7, 7)
    assert backtest.get_next_trading_date(date(2025, 7, 3)) == date(2025, 7, 7)
    assert backtest.get_next_trading_date(date(2025, 7, 3), 2) == date(2025, 7, 8)
    assert backtest.get_previous_trading_date(date(2025, 1, 2)) == date(2024, 12, 31)
    assert backtest.get_previous_trading_date(date(2025, 7, 7), n=3) == date(2025, 7, 1)
    assert backtest.get_trading_dates_in_range(date(2025, 6, 30), date(2025, 7, 7)) == [
        date(2025, 6, 30),
        date(2025, 7, 1),
        date(2025, 7, 2),
        date(2025, 7, 3),
        date(2025, 7, 7),
    ]
    assert backtest.count_trading_days(date(2025, 6, 30), date(2025, 7, 7)) == 5


def test_instant_queries_through_the_actor(backtest: TimeManagerClient) -> None:
    day = date(2025, 7, 3)
    assert backtest.count_trading_time(ny(day, 0), ny(day, 23), TimeUnit.MINUTES) == 210
    assert backtest.count_trading_time(datetime(2025, 7, 2, 9, 30), datetime(2025, 7, 2, 16), "hours") == 6.5
    assert backtest.is_market_open(ny(day, 12, 59)) is True
    assert backtest.is_market_open(ny(day, 13)) is False
    assert backtest.is_market_open(ny(day, 13), include_extended=True) is True
    assert backtest.get_session_type(ny(day, 8)) is SessionType.PRE_MARKET
    assert backtest.get_session_type(ny(day, 9, 30)) is SessionType.REGULAR
    assert backtest.get_session_type(ny(day, 13)) is SessionType.POST_MARKET
    assert backtest.get_session_type(datetime(2025, 7, 3, 20)) is SessionType.CLOSED
    # 13:30 UTC is 09:30 in New York: regular, although a naive 13:30 would be read as 13:30 New York
    assert backtest.get_session_type(datetime(2025, 7, 2, 13, 30, tzinfo=UTC)) is SessionType.REGULAR


def test_set_backtest_time_reads_naive_as_exchange_time(backtest: TimeManagerClient) -> None:
    returned = backtest.set_backtest_time(datetime(2025, 7, 3, 10, 15))
    assert returned == ny(date(2025, 7, 3), 10, 15)
    now = backtest.now()
    assert now.tzinfo is not None
    assert now == ny(date(2025, 7, 3), 10, 15)
    assert now.utcoffset() == timedelta(hours=-4)
    assert now.astimezone(UTC) == datetime(2025, 7, 3, 14, 15, tzinfo=UTC)


def test_set_backtest_time_with_an_aware_instant_is_shown_in_exchange_time(
    backtest: TimeManagerClient,
) -> None:
    backtest.set_backtest_time(datetime(2025, 1, 10, 14, 30, tzinfo=UTC))
    now = backtest.now()
    assert now == datetime(2025, 1, 10, 14, 30, tzinfo=UTC)
    assert (now.hour, now.minute, now.utcoffset()) == (9, 30, timedelta(hours=-5))
    assert now.tzinfo is not None and str(now.tzinfo) == "America/New_York"


def test_advance_to_market_open_skips_the_weekend(backtest: TimeManagerClient) -> None:
    opened = backtest.advance_to_market_open(date(2025, 7, 5))
    assert opened == ny(date(2025, 7, 7), 9, 30)
    assert backtest.now() == ny(date(2025, 7, 7), 9, 30)
    assert backtest.is_market_open(backtest.now()) is True


def test_advance_to_market_open_defaults_to_the_clocks_date(backtest: TimeManagerClient) -> None:
    backtest.set_backtest_time(datetime(2025, 7, 4, 12))
    assert backtest.advance_to_market_open() == ny(date(2025, 7, 7), 9, 30)
    backtest.set_backtest_time(datetime(2025, 7, 8, 6))
    assert backtest.advance_to_market_open() == ny(date(2025, 7, 8), 9, 30)


def test_advance_to_market_open_never_moves_the_clock_backwards(backtest: TimeManagerClient) -> None:
    backtest.set_backtest_time(datetime(2025, 7, 3, 17))  # after the 13:00 early close
    assert backtest.advance_to_market_open() == ny(date(2025, 7, 7), 9, 30)


def test_live_mode_refuses_to_set_the_clock(live: TimeManagerClient) -> None:
    with pytest.raises(CalendarError, match="backtest mode"):
        live.set_backtest_time(datetime(2025, 7, 3, 10))
    with pytest.raises(CalendarError, match="backtest mode"):
        live.advance_to_market_open(date(2025, 7, 7))
    assert live.ref.is_alive()


def test_live_now_is_the_wall_clock_in_exchange_time(live: TimeManagerClient) -> None:
    before = datetime.now(UTC)
    now = live.now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None and str(now.tzinfo) == "America/New_York"
    assert before - timedelta(seconds=1) <= now <= after + timedelta(seconds=1)


def test_backtest_now_does_not_follow_the_wall_clock(backtest: TimeManagerClient) -> None:
    backtest.set_backtest_time(datetime(2025, 7, 3, 10))
    assert backtest.now() == backtest.now() == ny(date(2025, 7, 3), 10)
    assert abs(backtest.now() - datetime.now(UTC)) > timedelta(days=1)


def test_cache_stats_and_invalidate_cache_through_the_actor(
    backtest: TimeManagerClient, seeded_store: Store
) -> None:
    assert backtest.get_cache_stats() == {
        "cache_hits": 0,
        "cache_misses": 0,
        "hit_rate": 0.0,
        "total_queries": 0,
        "size": 0,
    }
    backtest.get_trading_session(date(2025, 7, 7))
    backtest.get_trading_session(date(2025, 7, 7))
    backtest.get_trading_session(date(2025, 7, 8))
    stats = backtest.get_cache_stats()
    assert (stats["cache_hits"], stats["cache_misses"], stats["total_queries"], stats["size"]) == (1, 2, 3, 2)
    assert stats["hit_rate"] == pytest.approx(1 / 3)
    patch = CalendarException(date(2025, 7, 7), "US_EQUITY", "Unscheduled closure", True, source="manual")
    seeded_store.calendar.upsert_exceptions([patch], datetime(2026, 1, 2, tzinfo=UTC))
    assert backtest.is_trading_day(date(2025, 7, 7)) is True  # cached until invalidated
    assert backtest.invalidate_cache() is None
    assert backtest.get_cache_stats()["size"] == 0
    assert backtest.is_holiday(date(2025, 7, 7)) == (True, "Unscheduled closure")
    assert backtest.get_next_trading_date(date(2025, 7, 3)) == date(2025, 7, 8)


def test_out_of_range_comes_back_as_a_domain_error(backtest: TimeManagerClient) -> None:
    with pytest.raises(OutOfCalendarRange, match=r"US_EQUITY \(2024-01-01\.\.2026-12-31\)"):
        backtest.get_trading_session(date(2030, 1, 2))
    with pytest.raises(OutOfCalendarRange):
        backtest.get_next_trading_date(date(2026, 12, 31))
    with pytest.raises(CalendarError, match="n must be >= 1"):
        backtest.get_previous_trading_date(date(2025, 7, 7), 0)
    with pytest.raises(CalendarError, match="no calendar for exchange group 'XX'"):
        backtest.is_trading_day(date(2025, 7, 7), "XX")
    # an ask that failed does not stop the actor
    assert backtest.ref.is_alive()
    assert backtest.is_trading_day(date(2025, 7, 7)) is True
