"""Helpers for engine tests: config variants, demo stores, and subscribers that record events.

Everything here is real: configs go through :class:`SessionConfig`, stores are real databases
filled with the product's own calendar seeding and demo data, subscribers are plain callables
and pykka actors. Waiting is always bounded (a condition with a timeout, never a sleep).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pykka

from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.history.series import data_requirements
from domain.messages.events import Event
from domain.store import Store
from ops.demo_data import write_demo_data, write_demo_quotes
from support.stores import REPO, seed

NY = ZoneInfo("America/New_York")
EXAMPLE = REPO / "session_configs" / "example_session.json"
LIVE_EXAMPLE = REPO / "session_configs" / "live_session_example.json"


def example_dict() -> dict[str, Any]:
    """The example session config as a plain (mutable) dict, comments included."""
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def config_variant(
    *,
    start: str | None = None,
    end: str | None = None,
    symbols: Iterable[str] | None = None,
    streams: Iterable[str] | None = None,
    historical: dict[str, Any] | None = None,
    prefetch_days: int | None = None,
    speed: float | None = None,
    base: dict[str, Any] | None = None,
) -> SessionConfig:
    """The example config with some keys replaced (``historical={}``: no historical data)."""
    data = copy.deepcopy(base if base is not None else example_dict())
    backtest = data["backtest_config"]
    if start is not None:
        backtest["start_date"] = start
    if end is not None:
        backtest["end_date"] = end
    if prefetch_days is not None:
        backtest["prefetch_days"] = prefetch_days
    if speed is not None:
        backtest["speed_multiplier"] = speed
    session = data["session_data_config"]
    if symbols is not None:
        session["symbols"] = list(symbols)
    if streams is not None:
        session["streams"] = list(streams)
    if historical is not None:
        session["historical"] = copy.deepcopy(historical)
    return SessionConfig.from_dict(data, "test variant")


def fill_demo_store(
    store: Store, config: SessionConfig, *, start_year: int = 2023, end_year: int = 2026, seed_value: int = 0
) -> dict[str, int]:
    """Seed US_EQUITY and write demo 1m/1d bars for every day ``config`` reads, and demo quotes
    for its backtest days when it streams quotes (as ``demo`` does)."""
    seed(store, config.exchange_group, start_year=start_year, end_year=end_year)
    calendar = TradingCalendar(store.calendar, config.exchange_group, config.asset_class)
    written: dict[str, int] = {}
    for interval, days in data_requirements(config, calendar).items():
        if interval in ("1m", "1d") and days:
            written[interval] = write_demo_data(
                store, calendar, config.symbols, days[0], days[-1], seed=seed_value, interval=interval
            )
    backtest = config.backtest_config
    if config.wants_quotes and backtest is not None:
        written["quotes"] = write_demo_quotes(
            store, calendar, config.symbols, backtest.start_date, backtest.end_date, seed=seed_value
        )
    return written


def sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite:///"), url
    return Path(url.removeprefix("sqlite:///"))


class Recorder:
    """A callable subscriber keeping every event it gets; waits on conditions, bounded."""

    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self._on_event = on_event

    def __call__(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[Event]) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float) -> bool:
        """Whether ``predicate(events)`` became true within ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.events), timeout)

    def wait_count(self, kind: type[Event], count: int, timeout: float) -> bool:
        return self.wait_for(lambda events: sum(isinstance(e, kind) for e in events) >= count, timeout)


class HostActor(pykka.ThreadingActor):
    """An actor of a host application: keeps what it receives, answers ``"received"`` asks."""

    use_daemon_thread = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "received":
            return list(self.received)
        self.received.append(message)
        return None
