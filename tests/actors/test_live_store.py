"""A live session's persistence on both stores (SQLite file and the PostgreSQL server): every
delivered bar is stored once — dropped bars come back through the gap filler, duplicates and
late bars change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time

from support.live import TimeDriver
from support.stores import seed

from actors.system import MarketSessionSystem
from actors.timer import ManualTime
from domain.bars import Bar
from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.providers import ScaledClock
from domain.session.windows import DayHours
from domain.store import Store
from ops.faults import FaultyBars, parse_faults
from ops.providers.replay import ReplayFaults, ReplayProvider
from ops.soak import complete_session_bars

DAY = date(2025, 7, 3)  # an early close (13:00 New York): 210 minutes
SYMBOLS = ["AAA", "BBB"]


def _config() -> SessionConfig:
    return SessionConfig.from_dict(
        {
            "session_name": "live store",
            "mode": "live",
            "session_data_config": {
                "symbols": SYMBOLS,
                "streams": ["1m", "15m"],
                "gap_filler": {"max_retries": 3, "retry_interval_seconds": 60},
            },
            "trading_config": {
                "max_buying_power": 1000,
                "max_per_trade": 100,
                "max_per_symbol": 100,
                "max_open_positions": 1,
            },
            "api_config": {"data_api": "replay", "trade_api": "paper"},
        }
    )


SPEED = 4000.0


def _replay(
    bars: list[Bar], start: datetime, faults: ReplayFaults | None = None
) -> tuple[ManualTime, ReplayProvider]:
    """A replay from ``start`` at ``SPEED`` on a time the test moves."""
    time_ = ManualTime()
    clock = ScaledClock(start, SPEED, time_.now)
    return time_, ReplayProvider(bars, clock=clock, faults=faults, time=time_)


@contextmanager
def _driven(time_: ManualTime, provider: ReplayProvider, engine: MarketSessionSystem) -> Iterator[None]:
    """The engine started, its time moved on by a driver until the block ends."""
    driver = TimeDriver(time_, provider, engine, step=20 / SPEED)
    engine.start()
    driver.start()
    try:
        yield
    finally:
        driver.stop()


def test_every_bar_is_stored_once_with_drops_duplicates_and_late_bars(store: Store) -> None:
    seed(store, "US_EQUITY", start_year=2025, end_year=2025)
    calendar = TradingCalendar(store.calendar, "US_EQUITY")
    hours = DayHours.from_session(calendar.get_trading_session(DAY))  # type: ignore[arg-type]  # a trading day
    bars = complete_session_bars(SYMBOLS, hours)
    assert len(bars) == 2 * 210
    faults = ReplayFaults(drop_fraction=0.1, duplicate_fraction=0.1, late_fraction=0.1, seed=5)
    start = datetime.combine(DAY, time(9, 29), calendar.timezone())
    time_, provider = _replay(bars, start, faults)
    with MarketSessionSystem(_config(), store, provider=provider, time=time_) as engine:
        with _driven(time_, provider, engine):
            report = engine.wait(90)
        status = engine.live_status()
    assert report.status == "completed", report.error
    assert provider.stats["dropped"] > 0 and provider.stats["duplicated"] > 0 and provider.stats["late"] > 0
    for symbol in SYMBOLS:
        stored = store.replayed.read(symbol, "1m", hours.open_ts, hours.close_ts)
        assert [b.ts for b in stored] == list(range(hours.open_ts, hours.close_ts, 60))
        assert stored == [b for b in bars if b.symbol == symbol]  # the values delivered, not others
        session = report.days[0].symbols[symbol].session
        assert session["1m"].quality == 100.0 and session["15m"].quality == 100.0
    assert store.replayed.count(interval="1m") == len(bars)
    # every dropped bar is filled; a late bar may be filled too when its gap is fetched before it arrives
    assert provider.stats["dropped"] <= status.counters["filled_bars"]
    assert status.counters["filled_bars"] <= provider.stats["dropped"] + provider.stats["late"]
    assert status.refused.get("duplicate", 0) >= provider.stats["duplicated"]


def test_a_store_outage_keeps_the_bars_and_writes_them_when_it_is_back(sqlite_store: Store) -> None:
    store = sqlite_store
    seed(store, "US_EQUITY", start_year=2025, end_year=2025)
    calendar = TradingCalendar(store.calendar, "US_EQUITY")
    hours = DayHours.from_session(calendar.get_trading_session(DAY))  # type: ignore[arg-type]  # a trading day
    bars = complete_session_bars(SYMBOLS, hours)
    plan = parse_faults(["store-fail:writes@6"], live=True)
    faulty = FaultyBars(store.replayed, plan)
    start = datetime.combine(DAY, time(9, 29), calendar.timezone())
    time_, provider = _replay(bars, start)
    with MarketSessionSystem(_config(), store, provider=provider, time=time_) as engine:
        engine.store.replayed = faulty  # type: ignore[assignment]  # same interface
        with _driven(time_, provider, engine):
            report = engine.wait(90)
        status = engine.live_status()
    assert report.status == "completed", report.error
    assert plan.injected == ["store-fail:writes"] * 6
    assert status.counters["store_errors"] == 6
    assert any("the store is unavailable" in w for w in report.warnings)
    for symbol in SYMBOLS:
        stored = store.replayed.read(symbol, "1m", hours.open_ts, hours.close_ts)
        assert stored == [b for b in bars if b.symbol == symbol]
