"""Benchmark workloads, built with the project's own tools in a temporary SQLite store.

A workload is S symbols × D trading days of demo 1m bars (``ops.demo_data``, the generator
behind ``marketsession data demo``) on a store created by ``init_store`` with the US_EQUITY
calendar seeded from exchange_calendars. Optionally it also holds the history a trailing
window needs: ``history_1m`` more trading days of 1m bars before the first session day and
``history_1d`` trading days of 1d bars (aggregated from the same demo minutes).

Demo data has about 0.5 % of minutes missing, so quality and gap tracking do real work.
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.quotes import Quote
from domain.session.windows import DayHours
from domain.store import init_store, open_store
from ops.calendars.seed import seed_group
from ops.demo_data import write_demo_data

__all__ = ["FIRST_DAY", "Workload", "add_second_quotes", "build_workload"]

FIRST_DAY = date(2025, 3, 3)
"""The first session day of every workload (a Monday; 20 trading days end 2025-03-28)."""


@dataclass
class Workload:
    path: Path
    symbols: list[str]
    days: list[date]
    history_1m: list[date] = field(default_factory=list)
    history_1d: list[date] = field(default_factory=list)
    bars_1m: int = 0

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def config(self, *, historical: dict[str, Any] | None = None) -> SessionConfig:
        """A speed-0 backtest over the workload's days, quality on (the defaults), no history or
        indicators unless ``historical`` says."""
        return SessionConfig.from_dict(
            {
                "session_name": f"bench {len(self.symbols)}x{len(self.days)}",
                "mode": "backtest",
                "backtest_config": {
                    "start_date": self.days[0].isoformat(),
                    "end_date": self.days[-1].isoformat(),
                },
                "session_data_config": {
                    "symbols": self.symbols,
                    "streams": ["1m", "5m"],
                    "historical": historical or {},
                },
                "trading_config": {
                    "max_buying_power": 100000.0,
                    "max_per_trade": 10000.0,
                    "max_per_symbol": 20000.0,
                    "max_open_positions": 5,
                },
                "api_config": {"data_api": "alpaca", "trade_api": "paper"},
            }
        )

    def steps(self) -> int:
        """Clock steps of a speed-0 replay of the workload: the regular-session minutes holding a
        bar of any symbol, over all its days."""
        with open_store(self.url, create=False) as store:
            calendar = TradingCalendar(store.calendar)
            hours = [DayHours.from_session(s) for s in calendar.get_trading_sessions(self.days)]
        with closing(sqlite3.connect(self.path)) as connection:
            query = "SELECT COUNT(DISTINCT ts) FROM bars WHERE interval = '1m' AND ts >= ? AND ts < ?"
            return sum(connection.execute(query, (h.open_ts, h.close_ts)).fetchone()[0] for h in hours)

    def session_range(self) -> tuple[int, int]:
        """``[first open, last close)`` of the session days, UTC epoch seconds."""
        with open_store(self.url, create=False) as store:
            calendar = TradingCalendar(store.calendar)
            first = DayHours.from_session(calendar.get_trading_session(self.days[0]))
            last = DayHours.from_session(calendar.get_trading_session(self.days[-1]))
        return first.open_ts, last.close_ts


def build_workload(
    directory: Path, symbols: int, days: int, *, history_1m: int = 0, history_1d: int = 0, seed: int = 0
) -> Workload:
    """Create ``directory/store.db`` holding the workload; see the module docstring."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "store.db"
    url = f"sqlite:///{path}"
    init_store(url)
    with open_store(url) as store:
        seed_group(store.calendar, "US_EQUITY", FIRST_DAY.year - 2, FIRST_DAY.year + 1, datetime.now(UTC))
        calendar = TradingCalendar(store.calendar)
        names = [f"S{i:03d}" for i in range(symbols)]
        session_days = calendar.get_trading_dates_in_range(FIRST_DAY, date(FIRST_DAY.year, 12, 31))[:days]
        minute_history = _before(calendar, history_1m)
        daily_history = _before(calendar, history_1d)
        first_minute_day = minute_history[0] if minute_history else session_days[0]
        bars = write_demo_data(store, calendar, names, first_minute_day, session_days[-1], seed=seed)
        if daily_history:
            write_demo_data(
                store, calendar, names, daily_history[0], daily_history[-1], seed=seed, interval="1d"
            )
    return Workload(path, names, session_days, minute_history, daily_history, bars)


def add_second_quotes(workload: Workload, seed: int = 0) -> int:
    """A quote every second of the first session day for every symbol of ``workload`` (a random
    walk of the mid, one cent either side, so every second's book changes); the rows written."""
    with open_store(workload.url, create=False) as store:
        calendar = TradingCalendar(store.calendar)
        hours = DayHours.from_session(calendar.get_trading_session(workload.days[0]))
        rng = random.Random(seed)
        written = 0
        for symbol in workload.symbols:
            mid, quotes = 100.0, []
            for second in range(hours.open_ts, hours.close_ts):
                mid = round(mid + rng.choice((-0.01, 0.01)), 2)
                quotes.append(
                    Quote(symbol, second * 1_000_000 + 500_000, mid - 0.01, 100.0, mid + 0.01, 100.0)
                )
            written += store.quotes.write(quotes, source="bench")
        store.quotes.reindex()  # as the demo's own write does
    return written


def _before(calendar: TradingCalendar, count: int) -> list[date]:
    if count <= 0:
        return []
    first = calendar.get_previous_trading_date(FIRST_DAY, count)
    return calendar.get_trading_dates_in_range(first, FIRST_DAY - timedelta(days=1))
