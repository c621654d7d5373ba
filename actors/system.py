"""The engine assembled: start order, wiring, subscribers, queries, bounded shutdown.

::

    with MarketSessionSystem("session_configs/example_session.json", "sqlite:///var/demo.db",
                             speed=0) as engine:
        engine.subscribe(print, events=["session_ended"])
        report = engine.run(timeout=300)        # start, wait for completion, return the report

Start order (each actor is started only once the one before it is running): **TimeManager**
(calendar and clock) → **HistoricalLoader** (asks the TimeManager) → **QualityCalculator** →
**SessionCoordinator** (asks all three). Shutdown runs in reverse, each stop bounded by the
shutdown timeout; the engine stops only the actors it started (never pykka's global
registry), and every actor runs on a daemon thread, so a host process can always exit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import pykka
import structlog

from actors.historical_loader import HistoricalLoader
from actors.quality_calculator import AttachCoordinator, QualityCalculator
from actors.session_coordinator import SessionCoordinator
from actors.subscribers import EventBus, Subscription, Target
from actors.time_manager import TimeManager, TimeManagerClient
from actors.timer import Timer
from domain.bars import Bar
from domain.config import SessionConfig
from domain.errors import ConfigError, MarketSessionError, Violation
from domain.messages import Event, Pause, Resume, StartRun, Stop
from domain.quality import Gap
from domain.report import RunReport
from domain.session_data import SymbolSnapshot
from domain.store import Store, open_store

__all__ = ["EngineTimeout", "MarketSessionSystem"]

log = structlog.get_logger("marketsession.system")


class EngineTimeout(MarketSessionError):
    """The run did not finish within the time the caller allowed."""


class MarketSessionSystem:
    """One backtest engine for one config and store; see the module docstring.

    ``config``: a :class:`SessionConfig` or a path to one. ``store``: a :class:`Store` (the
    caller keeps ownership) or a store URL (opened here, closed at shutdown). ``speed``
    overrides the config's ``speed_multiplier``. ``ask_timeout`` bounds every ask between the
    engine's actors; ``gating_timeout`` bounds the wait for a gating subscriber per step.
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
    ) -> None:
        self.config = config if isinstance(config, SessionConfig) else SessionConfig.from_file(Path(config))
        if not self.config.is_backtest:
            raise ConfigError(
                [Violation("mode", "this engine runs backtest sessions; live sessions are not supported yet")]
            )
        if speed is not None and speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self._owns_store = not isinstance(store, Store)
        self.store = open_store(store) if isinstance(store, str) else store
        self.speed = speed
        self.ask_timeout = ask_timeout
        self.gating_timeout = gating_timeout
        self.shutdown_timeout = shutdown_timeout
        self.bus = EventBus()
        self._timer: Timer | None = None
        self._time_manager: TimeManagerClient | None = None
        self._actors: list[pykka.ActorRef[Any]] = []
        self._coordinator: pykka.ActorRef[SessionCoordinator] | None = None
        self._proxy: Any = None
        self._done = threading.Event()
        self._report: RunReport | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> MarketSessionSystem:
        """Start the actors in order and begin the run (returns at once)."""
        if self._coordinator is not None:
            raise RuntimeError("this engine was already started")
        config = self.config
        self._timer = Timer()
        try:
            self._time_manager = TimeManagerClient(
                TimeManager.start(
                    self.store.calendar, mode="backtest", exchange_group=config.exchange_group,
                    asset_class=config.asset_class,
                ),
                timeout=self.ask_timeout,
            )  # fmt: skip
            self._actors.append(self._time_manager.ref)
            loader = HistoricalLoader.start(config, self.store.bars, self._time_manager)
            self._actors.append(loader)
            quality = QualityCalculator.start()
            self._actors.append(quality)
            self._coordinator = SessionCoordinator.start(
                config,
                time_manager=self._time_manager,
                loader=loader,
                quality=quality,
                bus=self.bus,
                timer=self._timer,
                on_finished=self._finished,
                ask_timeout=self.ask_timeout,
                gating_timeout=self.gating_timeout,
                speed=self.speed,
            )
            self._actors.append(self._coordinator)
        except BaseException:
            self.shutdown()
            raise
        quality.tell(AttachCoordinator(self._coordinator))
        self.bus.acknowledge_to(self._coordinator)
        self._coordinator.tell(StartRun())
        return self

    def _finished(self, report: RunReport) -> None:
        self._report = report
        self._done.set()

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

    def shutdown(self) -> None:
        """Stop the engine's own actors, newest first, each within ``shutdown_timeout``."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.close()
        for ref in reversed(self._actors):
            try:
                ref.stop(block=True, timeout=self.shutdown_timeout)
            except pykka.Timeout:
                log.warning("actor_stop_timed_out", actor=ref.actor_class.__name__)
        self.bus.close(self.shutdown_timeout)
        if self._owns_store:
            self.store.close()

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

    def progress(self) -> dict[str, Any]:
        return self._ask("progress")

    def state(self) -> str:
        return self._ask("state")

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        return self._ask("snapshot", symbol)

    def session_bars(
        self, symbol: str, interval: str, start_ts: int | None = None, end_ts: int | None = None
    ) -> tuple[Bar, ...]:
        return self._ask("session_bars", symbol, interval, start_ts, end_ts)

    def historical_bars(self, symbol: str, interval: str) -> tuple[Bar, ...]:
        return self._ask("historical_bars", symbol, interval)

    def quality(self, symbol: str, interval: str) -> float | None:
        return self._ask("quality", symbol, interval)

    def gaps(self, symbol: str, interval: str) -> tuple[Gap, ...]:
        return self._ask("gaps", symbol, interval)

    def now(self) -> Any:
        """The engine's clock (the TimeManager's simulated time in backtest)."""
        assert self._time_manager is not None, "start the engine first"
        return self._time_manager.now()

    def _ask(self, method: str, *args: Any) -> Any:
        if self._proxy is None:
            self._proxy = self._coordinator_ref().proxy()
        return getattr(self._proxy, method)(*args).get(timeout=self.ask_timeout)

    def _coordinator_ref(self) -> pykka.ActorRef[SessionCoordinator]:
        if self._coordinator is None:
            raise RuntimeError("start the engine first")
        return self._coordinator
