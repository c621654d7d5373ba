"""TimeManager: the actor that owns the trading calendar and the session clock (SPEC §4).

It asks nobody and tells nobody: every other actor asks it (with a timeout) through
:class:`TimeManagerClient`. All calendar logic lives in :mod:`domain.calendar.trading_calendar`; this module
only owns the state (calendar cache, clock) in one thread.

Clock: in backtest mode the engine's :class:`~domain.clock.SimulatedClock`, which the
SessionCoordinator moves at every clock step (the TimeManager only reads it; it can also be
moved by ``set_backtest_time`` / ``advance_to_market_open``); in live mode the provider's clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, Literal

import pykka

from actors.handle import Handle
from actors.supervisor import EngineActor
from actors.wall_clock import WallClock
from domain.calendar.model import CalendarSource, SessionType, TimeUnit, TradingSession
from domain.calendar.trading_calendar import TradingCalendar
from domain.clock import Clock, SimulatedClock
from domain.errors import CalendarError

Mode = Literal["backtest", "live"]


class TimeManager(EngineActor):
    """Calendar queries and the clock, answered from one thread; see the module docstring."""

    actor_name = "time_manager"

    def __init__(
        self,
        source: CalendarSource,
        mode: Mode = "backtest",
        exchange_group: str = "US_EQUITY",
        asset_class: str = "EQUITY",
        clock: Clock | None = None,
        cache_size: int = 4096,
    ) -> None:
        super().__init__()
        self.calendar = TradingCalendar(source, exchange_group, asset_class, cache_size)
        if clock is None:
            clock = WallClock() if mode == "live" else SimulatedClock(datetime(1970, 1, 1, tzinfo=UTC))
        self._clock = clock

    def on_receive(self, message: Any) -> Any:
        raise TypeError(f"TimeManager does not handle {type(message).__name__}")

    # --- clock -------------------------------------------------------------
    def timezone_name(self) -> str:
        """The IANA timezone of the exchange group (where dates and naive times live)."""
        return str(self.calendar.timezone())

    def now(self) -> datetime:
        """Simulated time in backtest, wall time in live; tz-aware in the exchange timezone."""
        return self._clock.now().astimezone(self.calendar.timezone())

    def set_backtest_time(self, moment: datetime) -> datetime:
        clock = self._simulated()
        clock.set(self.calendar.localize(moment))
        return self.now()

    def advance_to_market_open(self, day: date | None = None) -> datetime:
        """Move the simulated clock to the regular open of ``day`` (a non-trading day means the
        next trading day); without ``day``, to the next regular open at or after the clock's
        time. Returns the new time."""
        clock = self._simulated()
        if day is not None:
            target = self.calendar.get_first_trading_date(day)
        else:
            now = self.now()
            target = self.calendar.get_first_trading_date(now.date())
            opening = self.calendar.get_trading_session(target).regular_open
            if opening is not None and opening < now:
                target = self.calendar.get_next_trading_date(target)
        opening = self.calendar.get_trading_session(target).regular_open
        assert opening is not None
        clock.set(opening)
        return self.now()

    def _simulated(self) -> SimulatedClock:
        if not isinstance(self._clock, SimulatedClock):
            raise CalendarError("the clock can only be set in backtest mode")
        return self._clock

    # --- calendar ----------------------------------------------------------
    def get_trading_session(
        self, day: date, exchange_group: str | None = None, asset_class: str | None = None
    ) -> TradingSession:
        return self.calendar.get_trading_session(day, exchange_group, asset_class)

    def get_trading_sessions(
        self, days: list[date], exchange_group: str | None = None
    ) -> list[TradingSession]:
        """Several sessions in one round trip."""
        return self.calendar.get_trading_sessions(days, exchange_group)

    def is_trading_day(self, day: date, exchange_group: str | None = None) -> bool:
        return self.calendar.is_trading_day(day, exchange_group)

    def is_holiday(self, day: date, exchange_group: str | None = None) -> tuple[bool, str | None]:
        return self.calendar.is_holiday(day, exchange_group)

    def is_early_close(self, day: date, exchange_group: str | None = None) -> tuple[bool, time | None]:
        return self.calendar.is_early_close(day, exchange_group)

    def get_next_trading_date(self, day: date, n: int = 1, exchange_group: str | None = None) -> date:
        return self.calendar.get_next_trading_date(day, n, exchange_group)

    def get_previous_trading_date(self, day: date, n: int = 1, exchange_group: str | None = None) -> date:
        return self.calendar.get_previous_trading_date(day, n, exchange_group)

    def get_first_trading_date(self, day: date, exchange_group: str | None = None) -> date:
        return self.calendar.get_first_trading_date(day, exchange_group)

    def get_trading_dates_in_range(
        self, start: date, end: date, exchange_group: str | None = None
    ) -> list[date]:
        return self.calendar.get_trading_dates_in_range(start, end, exchange_group)

    def count_trading_days(self, start: date, end: date, exchange_group: str | None = None) -> int:
        return self.calendar.count_trading_days(start, end, exchange_group)

    def count_trading_time(
        self,
        start: datetime,
        end: datetime,
        unit: TimeUnit | str = TimeUnit.MINUTES,
        exchange_group: str | None = None,
    ) -> float:
        return self.calendar.count_trading_time(start, end, unit, exchange_group)

    def is_market_open(
        self, moment: datetime, include_extended: bool = False, exchange_group: str | None = None
    ) -> bool:
        return self.calendar.is_market_open(moment, include_extended, exchange_group)

    def get_session_type(self, moment: datetime, exchange_group: str | None = None) -> SessionType:
        return self.calendar.get_session_type(moment, exchange_group)

    def get_cache_stats(self) -> dict[str, float | int]:
        return self.calendar.get_cache_stats().as_dict()

    def invalidate_cache(self) -> None:
        self.calendar.invalidate_cache()


class TimeManagerClient:
    """A caller's handle on a running TimeManager: every call is an ask bounded by ``timeout``.

    Built on a :class:`~actors.supervisor.Handle`, so it follows the TimeManager across
    supervised restarts (a call interrupted by a crash is asked again of the new incarnation).
    """

    def __init__(self, target: pykka.ActorRef[TimeManager] | Handle, timeout: float = 10.0) -> None:
        self.handle = target if isinstance(target, Handle) else Handle("time_manager", target)
        self.timeout = timeout
        self._proxy: Any = None
        self._proxy_generation = 0

    @property
    def ref(self) -> pykka.ActorRef[TimeManager]:
        return self.handle.ref

    def _proxy_of(self, ref: pykka.ActorRef[Any]) -> Any:
        if self._proxy is None or self._proxy_generation != self.handle.generation:
            self._proxy = ref.proxy()
            self._proxy_generation = self.handle.generation
        return self._proxy

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.handle.request(
                lambda ref: getattr(self._proxy_of(ref), name)(*args, **kwargs), self.timeout, name
            )

        return call
