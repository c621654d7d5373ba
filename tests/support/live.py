"""Helpers for live-mode engine tests: live configs, complete synthetic days, held clocks and a
provider that fails for good.

A live session runs on its provider's clock. :class:`TimeDriver` moves a
:class:`~actors.timer.ManualTime` that the provider's clock, the replay's stream and the
engine's timer all run on, as fast as the engine keeps up. :class:`HeldClock` is a real
:class:`~domain.providers.ScaledClock` on the wall clock whose time stands still until
:meth:`HeldClock.release` (for the tests that need the wall clock: a service in another
process). Waits are bounded, never sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from datetime import time as time_of_day
from typing import Any

import pytest

from actors.timer import ManualTime
from domain.bars import Bar, datetime_to_ts
from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.providers import ConnectionState, ScaledClock, StreamSink
from domain.session.windows import DayHours
from domain.store import Store
from support.engine import NY


def live_config(
    symbols: Iterable[str] = ("AAPL", "RIVN"),
    streams: Iterable[str] = ("1m", "5m"),
    *,
    max_retries: int = 3,
    retry_interval: int = 60,
    session_quality: bool = True,
    data_api: str = "replay",
    extended_hours: bool = False,
) -> SessionConfig:
    """A live config without historical data (a quick load)."""
    return SessionConfig.from_dict(
        {
            "session_name": "Live test",
            "mode": "live",
            "exchange_group": "US_EQUITY",
            "asset_class": "EQUITY",
            "session_data_config": {
                "symbols": list(symbols),
                "streams": list(streams),
                "historical": {"enable_quality": False},
                "gap_filler": {
                    "max_retries": max_retries,
                    "retry_interval_seconds": retry_interval,
                    "enable_session_quality": session_quality,
                },
                "extended_hours": extended_hours,
            },
            "trading_config": {
                "max_buying_power": 1000.0,
                "max_per_trade": 100.0,
                "max_per_symbol": 100.0,
                "max_open_positions": 1,
            },
            "api_config": {"data_api": data_api, "trade_api": "paper"},
        },
        "live test config",
    )


def day_hours(store: Store, day: date) -> DayHours:
    return DayHours.from_session(TradingCalendar(store.calendar).get_trading_session(day))


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time_of_day(hour, minute), tzinfo=NY)


def ny_ts(day: date, hour: int, minute: int = 0) -> int:
    return datetime_to_ts(ny(day, hour, minute))


def minute_bars(symbols: Sequence[str], start_ts: int, end_ts: int, *, price: float = 50.0) -> list[Bar]:
    """A valid 1m bar for every minute of ``[start_ts, end_ts)`` and symbol; values depend on the
    symbol and the minute only, so two calls agree bar for bar."""
    bars: list[Bar] = []
    for s, symbol in enumerate(symbols):
        for ts in range(start_ts, end_ts, 60):
            k = (ts - start_ts) // 60
            open_ = price + 10 * s + (k % 17) * 0.05
            close = open_ + ((k % 5) - 2) * 0.01
            bars.append(
                Bar(
                    symbol,
                    "1m",
                    ts,
                    open_,
                    max(open_, close) + 0.02,
                    min(open_, close) - 0.02,
                    close,
                    100.0 + k,
                )
            )
    return bars


class HeldClock(ScaledClock):
    """A :class:`ScaledClock` standing at ``start`` until :meth:`release`, then running ``speed``
    times faster than the wall clock."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._released: float | None = None
        super().__init__(start, speed, self._elapsed_since_release)

    def _elapsed_since_release(self) -> float:
        released = self._released
        return 0.0 if released is None else time.monotonic() - released

    def release(self) -> None:
        if self._released is None:
            self._released = time.monotonic()


class FailingProvider:
    """A provider that refuses to stream: it reports CONNECTING, then FAILED with ``detail``."""

    name = "failing"

    def __init__(self, clock: Any, detail: str) -> None:
        self._clock = clock
        self.detail = detail
        self._state = ConnectionState.DISCONNECTED
        self._thread: threading.Thread | None = None
        self.fetches = 0

    @property
    def state(self) -> ConnectionState:
        return self._state

    def clock(self) -> Any:
        return self._clock

    def fetch_bars(self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int) -> list[Bar]:
        self.fetches += 1
        return []

    def fetch_quotes(self, symbols: Sequence[str], start_ts: int, end_ts: int) -> list[Any]:
        self.fetches += 1
        return []

    def start_stream(self, symbols: Sequence[str], sink: StreamSink, quotes: Sequence[str] = ()) -> None:
        def run() -> None:
            self._state = ConnectionState.CONNECTING
            sink.state(ConnectionState.CONNECTING)
            self._state = ConnectionState.FAILED
            sink.state(ConnectionState.FAILED, self.detail)

        self._thread = threading.Thread(target=run, name="failing-provider", daemon=True)
        self._thread.start()

    def reconnect(self, reason: str) -> None:
        pass

    def stop_stream(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        self._state = ConnectionState.CLOSED


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Whether ``predicate()`` became true within ``timeout`` seconds (polled, bounded)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if predicate():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        pause.wait(min(step, left))


class RecordingSink:
    """A :class:`~domain.providers.StreamSink` that records every call in order (with the
    provider clock at each delivery, when given one); tests wait on what it saw."""

    def __init__(self, clock: ScaledClock | None = None) -> None:
        self.clock = clock
        self.events: list[tuple[Any, ...]] = []
        self._changed = threading.Condition()

    def bars(self, bars: Sequence[Bar], *, updated: bool = False) -> None:
        now = self.clock.now().timestamp() if self.clock is not None else None
        self._record("bars", tuple(bars), updated, now)

    def state(self, state: ConnectionState, detail: str | None = None) -> None:
        self._record("state", state, detail)

    def quotes(self, quotes: Sequence[Any]) -> None:
        now = self.clock.now().timestamp() if self.clock is not None else None
        self._record("quotes", tuple(quotes), now)

    def outage(self, start_ts: int, end_ts: int) -> None:
        self._record("outage", start_ts, end_ts)

    def _record(self, *event: Any) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def _of(self, kind: str) -> list[tuple[Any, ...]]:
        with self._changed:
            return [event for event in self.events if event[0] == kind]

    def batches(self) -> list[tuple[tuple[Bar, ...], float | None]]:
        """Every delivery with the provider clock when it arrived."""
        return [(event[1], event[3]) for event in self._of("bars")]

    def delivered(self, *, updated: bool = False) -> list[Bar]:
        return [bar for event in self._of("bars") if event[2] == updated for bar in event[1]]

    def quotes_delivered(self) -> list[Any]:
        return [quote for event in self._of("quotes") for quote in event[1]]

    def states(self) -> list[ConnectionState]:
        return [event[1] for event in self._of("state")]

    def details(self, state: ConnectionState) -> list[str | None]:
        return [event[2] for event in self._of("state") if event[1] == state]

    def outages(self) -> list[tuple[int, int]]:
        return [(event[1], event[2]) for event in self._of("outage")]

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """Until ``predicate`` holds, re-checked at each call and every 10 ms (it may watch the
        provider, whose changes do not call the sink); a test failure after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                if time.monotonic() > deadline:
                    pytest.fail(f"timed out after {timeout}s waiting for {what}; sink saw {self.events}")
                self._changed.wait(0.01)

    def wait_state(self, state: ConnectionState, count: int = 1, timeout: float = 10.0) -> None:
        self.wait_for(lambda: self.states().count(state) >= count, f"{state} x{count}", timeout)


class TimeDriver:
    """Moves a :class:`~actors.timer.ManualTime` on, a few market seconds at a time, as fast as
    the engine keeps up: after each step the replay has sent every bar then due and the actors'
    mailboxes have emptied (waited for at most 0.2 s: one busy in an ask, say, waiting for a
    restart that the time must reach, does not hold the time up). A live
    session then runs on its own pace, not on the wall clock's; every wait here is bounded."""

    def __init__(self, time: ManualTime, provider: Any, engine: Any, step: float) -> None:
        self.time, self._provider, self._engine, self._step = time, provider, engine, step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-time-driver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set() and not self._engine.done:
            self.time.advance(self._step)
            wait_until(lambda: self._provider.caught_up() or self._stop.is_set(), 10, step=0.001)
            wait_until(self._mailboxes_empty, 0.2, step=0.001)  # an actor busy in an ask waits

    def _mailboxes_empty(self) -> bool:
        return all(status.mailbox == 0 for status in self._engine.stats().values())
