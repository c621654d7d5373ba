"""The engine: one config and store, its lifecycle, subscribers, queries and bounded shutdown.

::

    with MarketSessionSystem("session_configs/example_session.json", "sqlite:///var/demo.db",
                             speed=0) as engine:
        engine.subscribe(print, events=["session_ended"])
        report = engine.run(timeout=300)        # start, wait for completion, return the report

How the actors are started, wired and rewired after a restart: :mod:`actors.engine_wiring`.
Shutdown runs in reverse (the provider's stream first), each stop bounded by the shutdown
timeout; the engine stops only the actors it started (never pykka's global registry), and every
actor runs on a daemon thread, so a host process can always exit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import pykka
import structlog

from actors.engine_wiring import EngineWiring
from actors.logs import use_stdlib_logging_unless_configured
from actors.session_coordinator import SessionCoordinator
from actors.subscribers import Subscription, Target
from actors.supervisor import ActorStatus, FaultHook
from actors.timer import ManualTime
from domain.bars import Bar
from domain.config import SessionConfig
from domain.errors import ConfigError, EngineTimeout, Violation
from domain.messages.commands import (
    Pause,
    ReloadCalendar,
    Resume,
    Stop,
)
from domain.messages.events import Event
from domain.providers import MarketDataProvider
from domain.quality.gaps import Gap
from domain.quote_bars import QuoteBar
from domain.report import RunReport
from domain.session.data import SymbolSnapshot
from domain.session.status import LiveStatus, Progress
from domain.store import Store, open_store

__all__ = ["MarketSessionSystem"]

log = structlog.get_logger("marketsession.system")


class MarketSessionSystem(EngineWiring):
    """One engine for one config and store; see the module docstring.

    ``config``: a :class:`SessionConfig` or a path to one. ``store``: a :class:`Store` (the
    caller keeps ownership) or a store URL (opened here, closed at shutdown). ``speed``
    overrides the config's ``speed_multiplier``. ``ask_timeout`` bounds every ask between the
    engine's actors; ``gating_timeout`` bounds the wait for a gating subscriber per step. A live
    config needs a ``provider`` (:class:`~domain.providers.MarketDataProvider`; the session runs
    on its clock); ``keep_running`` goes on with the next trading days after today's session (up to
    the provider's last day, when it has one: a replay's).
    ``time``: what the engine's timer runs on — the wall clock by default, or a
    :class:`~actors.timer.ManualTime` that a test advances (a paced replay then takes its steps
    as the test moves the time, not as the wall clock does).
    """

    def __init__(
        self,
        config: SessionConfig | str | os.PathLike[str],
        store: Store | str,
        *,
        speed: float | None = None,
        ask_timeout: float = 120.0,
        gating_timeout: float = 10.0,
        shutdown_timeout: float = 10.0,
        max_restarts: int = 5,
        restart_window: float = 60.0,
        faults: FaultHook | None = None,
        provider: MarketDataProvider | None = None,
        keep_running: bool = False,
        time: ManualTime | None = None,
    ) -> None:
        use_stdlib_logging_unless_configured()
        self.config = config if isinstance(config, SessionConfig) else SessionConfig.from_file(Path(config))
        if not self.config.is_backtest and provider is None:
            raise ConfigError(
                [Violation("mode", "a live session needs a market-data provider (marketsession serve)")]
            )
        self.provider = provider if not self.config.is_backtest else None
        self.keep_running = keep_running
        if speed is not None and not (math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be a finite number >= 0, got {speed}")
        self._owns_store = not isinstance(store, Store)
        self.store = open_store(store) if isinstance(store, str) else store
        self.speed = speed
        self.ask_timeout = ask_timeout
        self.gating_timeout = gating_timeout
        self.shutdown_timeout = shutdown_timeout
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.faults = faults
        self.time = time
        super().__init__()

    # ------------------------------------------------------------------ lifecycle

    def wait(self, timeout: float) -> RunReport:
        """Block until the run is over (completed, stopped or failed); :class:`EngineTimeout` after
        ``timeout`` seconds (the run goes on: call :meth:`stop` or :meth:`shutdown`)."""
        if not self._done.wait(timeout):
            raise EngineTimeout(f"the run did not finish within {timeout:g}s")
        assert self._report is not None
        return self._report

    def wait_done(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the run to end; whether it has."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def report(self) -> RunReport | None:
        return self._report

    def run(self, timeout: float) -> RunReport:
        """Start (if needed), wait for the report, shut down; the report."""
        if self._coordinator is None:
            self.start()
        try:
            return self.wait(timeout)
        finally:
            self.shutdown()

    def pause(self) -> None:
        self._coordinator_ref().tell(Pause())

    def resume(self) -> None:
        self._coordinator_ref().tell(Resume())

    def stop(self, reason: str = "stopped on request", timeout: float | None = None) -> RunReport:
        """Ask the run to stop between steps and wait (bounded) for its ``stopped`` report."""
        if not self._done.is_set():
            self._coordinator_ref().tell(Stop(reason))
        return self.wait(self.shutdown_timeout if timeout is None else timeout)

    def stats(self) -> dict[str, ActorStatus]:
        """Per actor: messages, failures, restarts, incarnation, state, mailbox size, last error."""
        return {} if self.supervisor is None else self.supervisor.stats()

    def __enter__(self) -> MarketSessionSystem:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._coordinator is not None and not self._done.is_set():
            try:
                self.stop("engine context closed")
            except EngineTimeout:
                log.warning("stop_timed_out_on_exit")
        self.shutdown()

    # ------------------------------------------------------------------ subscribers

    def subscribe(
        self,
        target: Target,
        events: Iterable[str | type[Event]] | None = None,
        *,
        gating: bool = False,
        timeout: float | None = None,
        name: str | None = None,
    ) -> Subscription:
        """Deliver events to a callable or a pykka actor; see :mod:`actors.subscribers`."""
        return self.bus.subscribe(
            target,
            events,
            gating=gating,
            timeout=self.gating_timeout if timeout is None else timeout,
            name=name,
        )

    # ------------------------------------------------------------------ queries

    def progress(self) -> Progress:
        return cast(Progress, self._ask("progress"))

    def state(self) -> str:
        return cast(str, self._ask("state"))

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        return cast(SymbolSnapshot, self._ask("snapshot", symbol))

    def session_bars(
        self, symbol: str, interval: str, start_ts: int | None = None, end_ts: int | None = None
    ) -> tuple[Bar, ...]:
        return cast("tuple[Bar, ...]", self._ask("session_bars", symbol, interval, start_ts, end_ts))

    def quote_bars(self, symbol: str, interval: str) -> tuple[QuoteBar, ...]:
        """Today's quote bars (bid, ask, mid OHLC) of ``symbol`` at ``interval`` completed so far."""
        return cast("tuple[QuoteBar, ...]", self._ask("quote_bars", symbol, interval))

    def historical_bars(self, symbol: str, interval: str) -> tuple[Bar, ...]:
        return cast("tuple[Bar, ...]", self._ask("historical_bars", symbol, interval))

    def quality(self, symbol: str, interval: str) -> float | None:
        return cast("float | None", self._ask("quality", symbol, interval))

    def gaps(self, symbol: str, interval: str) -> tuple[Gap, ...]:
        return cast("tuple[Gap, ...]", self._ask("gaps", symbol, interval))

    def now(self) -> Any:
        """The engine's clock (the TimeManager's simulated time in backtest)."""
        assert self._time_manager is not None, "start the engine first"
        return self._time_manager.now()

    def _ask(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        if self._proxy is None:
            self._proxy = self._coordinator_ref().proxy()
        return getattr(self._proxy, method)(*args).get(
            timeout=self.ask_timeout if timeout is None else timeout
        )

    def reload_calendar(self) -> str:
        """Re-read the trading calendar (after ``calendar patch``); live mode re-plans today."""
        if self._time_manager is None:
            raise RuntimeError("start the engine first")
        self._time_manager.invalidate_cache()
        if self.provider is None:
            return "calendar cache cleared"
        return str(self._handles["session_coordinator"].ask(ReloadCalendar(), timeout=self.ask_timeout))

    def live_status(self, timeout: float | None = None) -> LiveStatus:
        """Live mode: a JSON-ready snapshot of the session (see ``/status`` of ``serve``);
        ``timeout`` bounds the wait for the coordinator (default: the engine's ask timeout)."""
        return cast(LiveStatus, self._ask("live_status", timeout=timeout))

    def _coordinator_ref(self) -> pykka.ActorRef[SessionCoordinator]:
        if self._coordinator is None:
            raise RuntimeError("start the engine first")
        return self._coordinator
