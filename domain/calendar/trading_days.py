"""Which days a session run touches (SPEC §5, §6): pure functions over a trading calendar.

- :func:`backtest_days` — the session days of a backtest window;
- :func:`trailing_days` — the ``historical.data`` window: N trading days strictly before a session;
- :func:`period_days` — the days an indicator's period covers;
- :func:`prefetch_plan` — the days whose base bars are queued when a session starts.

Every window ends the trading day *before* the session day: nothing here ever returns the
session day or a later date for historical data. Dates are exchange-local calendar dates.

Decisions where SPEC §6 is silent:

- A calendar span (``Nw``, ``Nm``, ``Ny`` = 7N, 30N, 365N days) is the half-open range
  ``[session_day - span, session_day)``: ``1w`` before Monday 2025-07-07 is 06-30..07-06.
- ``skip_early_close`` on a calendar span drops the early-close days from the span. On ``Nd`` it
  keeps the count: the period is the N trading days before the session that are *not* early
  closes (a "10-day average volume without half days" still averages ten sessions).
- A window reaching before the calendar's seeded range raises the calendar's
  :class:`~domain.errors.OutOfCalendarRange` (SPEC §4: never a silent answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Protocol

from domain.config import IndicatorConfig
from domain.errors import CalendarError

__all__ = [
    "SessionCalendar",
    "backtest_days",
    "period_days",
    "prefetch_plan",
    "trailing_days",
]

_ONE_DAY = timedelta(days=1)


class _EarlyCloseInfo(Protocol):
    @property
    def is_early_close(self) -> bool: ...


class SessionCalendar(Protocol):
    """The calendar queries these functions need
    (:class:`~domain.calendar.trading_calendar.TradingCalendar` has them)."""

    def get_previous_trading_date(self, day: date, n: int = 1) -> date: ...

    def get_trading_dates_in_range(self, start: date, end: date) -> list[date]: ...

    def get_trading_session(self, day: date) -> _EarlyCloseInfo: ...


def backtest_days(calendar: SessionCalendar, start: date, end: date) -> list[date]:
    """Every trading day from ``get_first_trading_date(start)`` through ``end``, in order.

    2025-07-02..2025-07-07 → 07-02, 07-03, 07-07. A window starting on a weekend or holiday
    starts on the next trading day; a window holding no trading day (or with end < start) is
    empty. Asked as one range query, so a start whose next trading day lies after ``end`` needs
    no calendar coverage past ``end``.
    """
    return calendar.get_trading_dates_in_range(start, end)


def trailing_days(calendar: SessionCalendar, session_day: date, n: int) -> list[date]:
    """The ``n`` trading days strictly before ``session_day``, oldest first.

    Session 2025-07-07, n=3 → 07-01, 07-02, 07-03; session 2025-07-02, n=10 → 06-17..07-01
    without the 06-19 holiday. ``session_day`` need not be a trading day. ``n == 0`` → ``[]``.
    """
    if n < 0:
        raise CalendarError(f"trailing day count must be >= 0, got {n}")
    if n == 0:
        return []
    first = calendar.get_previous_trading_date(session_day, n)
    return calendar.get_trading_dates_in_range(first, session_day - _ONE_DAY)


def period_days(calendar: SessionCalendar, session_day: date, indicator: IndicatorConfig) -> list[date]:
    """The trading days an indicator's period covers, oldest first, all before ``session_day``.

    ``Nd``: the N trading days before the session (with ``skip_early_close``: the N latest
    trading days before it that are not early closes). ``Nw``/``Nm``/``Ny``: the trading days
    of ``[session_day - 7N/30N/365N days, session_day)``, without early closes when
    ``skip_early_close`` is set.
    """
    span = indicator.period_calendar_days
    if span is None:
        count = indicator.period_count
        if not indicator.skip_early_close:
            return trailing_days(calendar, session_day, count)
        return _full_trading_days_before(calendar, session_day, count)
    days = calendar.get_trading_dates_in_range(session_day - timedelta(days=span), session_day - _ONE_DAY)
    if indicator.skip_early_close:
        days = [day for day in days if not calendar.get_trading_session(day).is_early_close]
    return days


def _full_trading_days_before(calendar: SessionCalendar, session_day: date, count: int) -> list[date]:
    """The ``count`` latest trading days before ``session_day`` that are not early closes."""
    looked_back = count
    while True:
        candidates = trailing_days(calendar, session_day, looked_back)
        full = [day for day in candidates if not calendar.get_trading_session(day).is_early_close]
        if len(full) >= count:
            return full[len(full) - count :]
        # early closes are a few days a year: widen by the shortfall and ask again
        looked_back += count - len(full)


def prefetch_plan(days: Sequence[date], index: int, prefetch_days: int) -> list[date]:
    """The session days whose base bars are queued when the session at ``days[index]`` starts.

    The session day itself and the following ones, ``prefetch_days`` in all, cut at the end of
    the window: prefetch 3 over 07-02, 07-03, 07-07 → all three at 07-02, then 07-03, 07-07 at
    07-03 (the queue is refilled as days are used). A loader keeps what it already holds and
    loads only the days of the plan it has not queued yet.
    """
    if prefetch_days < 1:
        raise ValueError(f"prefetch_days must be >= 1, got {prefetch_days}")
    if not 0 <= index < len(days):
        raise IndexError(f"session index {index} outside the {len(days)} session day(s)")
    return list(days[index : index + prefetch_days])
