"""TimeManager: the actor that owns the trading calendar and the session clock (SPEC §4).

It asks nobody and tells nobody: every other actor asks it (with a timeout) through
:class:`TimeManagerClient`. All calendar logic lives in :mod:`domain.calendar.trading_calendar`; this module
only owns the state (calendar cache, clock) in one thread. The calendar queries of SPEC §4
(``get_trading_session``, ``is_trading_day``, ``count_trading_time`` …) are the methods of its
:class:`~domain.calendar.trading_calendar.TradingCalendar`, a pykka-traversable attribute: the
client asks them of the actor like its own clock methods.

Clock: in backtest mode the engine's :class:`~domain.clock.SimulatedClock`, which the
SessionCoordinator moves at every clock step (the TimeManager only reads it; it can also be
moved by ``set_backtest_time`` / ``advance_to_market_open``); in live mode the provider's clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

import pykka

from actors.handle import Handle
from actors.supervisor import EngineActor
from actors.wall_clock import WallClock
from domain.calendar.model import CalendarSource
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
        self.calendar = pykka.traversable(TradingCalendar(source, exchange_group, asset_class, cache_size))
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

    def get_cache_stats(self) -> dict[str, float | int]:
        return self.calendar.get_cache_stats().as_dict()


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
        """The TimeManager's own methods (the clock), else its calendar's (the queries)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            def send(ref: pykka.ActorRef[Any]) -> Any:
                proxy = self._proxy_of(ref)
                return getattr(proxy if hasattr(TimeManager, name) else proxy.calendar, name)(*args, **kwargs)

            return self.handle.request(send, self.timeout, name)

        return call
