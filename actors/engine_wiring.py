"""Starting the engine's actors in order under the supervisor, wiring them to each other, and
rewiring a restarted one, and stopping them in reverse (part of :class:`~actors.system.MarketSessionSystem`).

Start order (each actor is started only once the one before it is running), all of them as
children of the engine's :class:`~actors.supervisor.Supervisor`: **TimeManager** (calendar and
clock) → **HistoricalLoader** (asks the TimeManager) → **QualityCalculator** → (live) the
**BarWriter** and, with session quality, the **GapFiller** → **SessionCoordinator** (asks all
of them; one coordinator for both modes, on a pacing of :mod:`actors.pacing`), after which, in
live mode, the provider's stream is started. A child that fails is restarted and rewired (what
each gets back: :mod:`actors.supervisor`); past its restart budget the run ends ``failed``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, Self

import pykka
import structlog

from actors.bar_writer import AttachWriterTo, BarWriter
from actors.gap_filler import GapFiller
from actors.handle import Handle
from actors.historical_loader import HistoricalLoader
from actors.pacing import DataDriven, Paced, Pacing, ProviderTicks
from actors.quality_calculator import AttachCoordinator, AttachGapFiller, QualityCalculator
from actors.session_coordinator import SessionCoordinator
from actors.subscribers import EventBus
from actors.supervisor import FaultHook, Supervisor
from actors.time_manager import TimeManager, TimeManagerClient
from actors.timer import ManualTime, Timer
from domain.bars import datetime_to_ts
from domain.clock import SimulatedClock
from domain.config import SessionConfig
from domain.intervals import MINUTE
from domain.messages.commands import (
    ChildRestarted,
    Fail,
    LiveBars,
    LiveQuotes,
    ProviderOutage,
    ProviderStateChanged,
    RunCheckpoint,
    StartRun,
)
from domain.messages.events import ActorRestarted, ComponentStateChanged
from domain.providers import ConnectionState, MarketDataProvider
from domain.report import RunReport, run_report
from domain.store import Store

__all__ = ["EngineWiring"]


log = structlog.get_logger("marketsession.system")


class EngineWiring:
    """The engine's assembly and the state of its run (a mixin: the engine sets the settings
    declared here before it calls ``__init__``)."""

    config: SessionConfig
    store: Store
    provider: MarketDataProvider | None
    keep_running: bool
    speed: float | None
    ask_timeout: float
    shutdown_timeout: float
    gating_timeout: float
    max_restarts: int
    restart_window: float
    faults: FaultHook | None
    time: ManualTime | None
    _owns_store: bool

    def __init__(self) -> None:
        self.bus = EventBus()
        self._timer: Timer | None = None
        # the backtest's session clock: the coordinator moves it, the TimeManager reads it
        self._session_clock = SimulatedClock(datetime(1970, 1, 1, tzinfo=UTC))
        self.supervisor: Supervisor | None = None
        self._time_manager: TimeManagerClient | None = None
        self._handles: dict[str, Handle] = {}
        self._checkpoint: RunCheckpoint | None = None
        self._sink: ProviderSink | None = None
        self._published: tuple[date, int] | None = None
        self._coordinator: pykka.ActorRef[SessionCoordinator] | None = None
        self._proxy: Any = None
        self._done = threading.Event()
        self._report: RunReport | None = None
        self._closed = False

    def start(self) -> Self:
        """Start the actors in order under the supervisor and begin the run (returns at once)."""
        if self._coordinator is not None:
            raise RuntimeError("this engine was already started")
        config = self.config
        self._forget_later_replays()
        self._timer = Timer(time=self.time)
        supervisor = self.supervisor = Supervisor(
            self._timer,
            max_restarts=self.max_restarts,
            window=self.restart_window,
            faults=self.faults,
            on_escalate=self._escalate,
            on_restarted=self._restarted,
            on_failed=self._failed,
        )
        try:
            self._time_manager = TimeManagerClient(
                supervisor.start_child(
                    "time_manager",
                    lambda _n: TimeManager.start(
                        self.store.calendar, mode="live" if self.provider else "backtest",
                        clock=self.provider.clock() if self.provider else self._session_clock,
                        exchange_group=config.exchange_group, asset_class=config.asset_class,
                    ),
                ),
                timeout=self.ask_timeout,
            )  # fmt: skip
            self._handles["time_manager"] = self._time_manager.handle
            self._handles["historical_loader"] = supervisor.start_child(
                "historical_loader",
                lambda _n: HistoricalLoader.start(
                    config,
                    self.store.bars,
                    self._time_manager,
                    self._session_bars(),
                    self._session_quotes(),
                ),
            )
            self._handles["quality_calculator"] = supervisor.start_child(
                "quality_calculator", lambda _n: QualityCalculator.start()
            )
            if (provider := self.provider) is not None:
                self._handles["bar_writer"] = supervisor.start_child(
                    "bar_writer",
                    lambda _n: BarWriter.start(
                        self._session_bars(), self._timer, provider.name, self._session_quotes()
                    ),
                )
            if self.provider is not None and config.session_data_config.gap_filler.enable_session_quality:
                self._handles["gap_filler"] = supervisor.start_child("gap_filler", self._start_gap_filler)
            self._handles["session_coordinator"] = supervisor.start_child(
                "session_coordinator", self._start_coordinator
            )
        except BaseException:
            self.shutdown()
            raise
        self._wire_coordinator()
        if self.provider is not None:
            if "gap_filler" in self._handles:
                self._handles["gap_filler"].tell(AttachCoordinator(self._handles["session_coordinator"]))
                self._attach_gap_filler()
            self._sink = ProviderSink(self._handles["session_coordinator"])
            try:
                self.provider.start_stream(
                    config.symbols, self._sink, config.symbols if config.wants_quotes else ()
                )
            except BaseException:  # refused before streaming (a subscription limit): nothing keeps running
                self.shutdown()
                raise
        return self

    def _forget_later_replays(self) -> None:
        """A replay that starts before bars an earlier replay stored (a second run of the same
        day) replays the day again: what was stored from its start on is deleted, so it is
        streamed and counted anew. A restart later on the same timeline deletes nothing."""
        base = self.config.base_interval
        if self.provider is None or self.provider.name != "replay" or base is None:
            return
        start = datetime_to_ts(self.provider.clock().now())
        forgotten = self.store.replayed.delete_from(self.config.symbols, str(base), start)
        quotes = (
            self.store.replayed_quotes.delete_from(self.config.symbols, start)
            if self.config.wants_quotes
            else 0
        )
        if forgotten or quotes:
            log.info("earlier_replay_forgotten", bars=forgotten, quotes=quotes, from_ts=start)

    def _session_bars(self) -> Any:
        """Where the session day's own bars are kept: the replay provider's apart from the data
        (``Store.replayed``), so a replay never mixes with real bars."""
        replay = self.provider is not None and self.provider.name == "replay"
        return self.store.replayed if replay else self.store.bars

    def _session_quotes(self) -> Any:
        """Where the session day's quotes are kept and read back from (a backtest's: the store's;
        a replay provider's: apart, as its bars)."""
        replay = self.provider is not None and self.provider.name == "replay"
        return self.store.replayed_quotes if replay else self.store.quotes

    def shutdown(self) -> None:
        """Stop the engine's own actors, newest first, each within ``shutdown_timeout``."""
        if self._closed:
            return
        self._closed = True
        if self.provider is not None:
            self.provider.stop_stream(self.shutdown_timeout)
        if self._timer is not None:
            self._timer.close()
        if self.supervisor is not None:
            self.supervisor.close(self.shutdown_timeout)
        self.bus.close(self.shutdown_timeout)
        if self._owns_store:
            self.store.close()

    def _start_gap_filler(self, _incarnation: int) -> pykka.ActorRef[GapFiller]:
        assert self.provider is not None and self._timer is not None
        gap_filler = self.config.session_data_config.gap_filler
        return GapFiller.start(
            self.provider,
            clock=self.provider.clock(),
            clock_speed=self.clock_speed,
            timer=self._timer,
            max_retries=gap_filler.max_retries,
            retry_interval=gap_filler.retry_interval_seconds,
            quality=self._handles["quality_calculator"],
        )

    @property
    def clock_speed(self) -> float:
        """How much faster than the wall clock the session clock runs (live: the provider's)."""
        if self.provider is not None:
            return float(getattr(self.provider.clock(), "speed", 1.0))
        if self.speed is not None:
            return self.speed
        return self.config.backtest_config.speed_multiplier if self.config.backtest_config else 0.0

    def _pacing(self) -> Pacing:
        """How the session clock moves: the provider's in live mode; a replay data-driven at
        speed 0, else paced."""
        assert self._timer is not None
        seconds = (self.config.base_interval or MINUTE).seconds
        if self.provider is not None:
            wall = not isinstance(self.time, ManualTime)
            return ProviderTicks(self._timer, self.provider.clock(), self.clock_speed, seconds, wall=wall)
        if self.clock_speed == 0:
            return DataDriven(self._timer, self._session_clock)
        return Paced(self._timer, self._session_clock, self.clock_speed, seconds)

    def _start_coordinator(self, incarnation: int) -> pykka.ActorRef[Any]:
        assert self._time_manager is not None and self._timer is not None
        restarted = incarnation > 1
        ref: pykka.ActorRef[Any] = SessionCoordinator.start(
            self.config,
            time_manager=self._time_manager,
            loader=self._handles["historical_loader"],
            quality=self._handles["quality_calculator"],
            bus=self.bus,
            timer=self._timer,
            pacing=self._pacing(),
            on_finished=self._finished,
            ask_timeout=self.ask_timeout,
            gating_timeout=self.gating_timeout,
            resume=self._checkpoint if restarted else None,
            on_checkpoint=self._keep_checkpoint,
            published=self._published if restarted else None,
            on_published=self._keep_published,
            gap_filler=self._handles.get("gap_filler"),
            writer=self._handles.get("bar_writer"),
            keep_running=self.keep_running,
            reconnect=None if self.provider is None else self.provider.reconnect,
            last_day=getattr(self.provider, "last_day", None),
        )
        self._coordinator = ref
        self._proxy = None
        return ref

    def _keep_published(self, day: date, clock_ts: int) -> None:
        self._published = (day, clock_ts)

    def _attach_gap_filler(self) -> None:
        """The QualityCalculator tells the GapFiller the gaps of the streamed interval directly."""
        if "gap_filler" in self._handles:
            interval = str(self.config.base_interval or MINUTE)
            self._handles["quality_calculator"].tell(AttachGapFiller(self._handles["gap_filler"], interval))

    def _wire_coordinator(self) -> None:
        """Point the QualityCalculator and gating subscribers at the coordinator, and start it."""
        handle = self._handles["session_coordinator"]
        ref = handle.ref
        self._handles["quality_calculator"].tell(AttachCoordinator(handle))
        self.bus.acknowledge_to(ref)
        if "bar_writer" in self._handles:
            self._handles["bar_writer"].tell(AttachWriterTo(handle))
        ref.tell(StartRun())

    def _keep_checkpoint(self, checkpoint: RunCheckpoint) -> None:
        self._checkpoint = checkpoint

    def _failed(self, name: str, incarnation: int, error: str) -> None:
        self.bus.publish(ComponentStateChanged(name, "failed", f"incarnation {incarnation}: {error}"))

    def _restarted(self, name: str, incarnation: int, cause: str) -> None:
        self.bus.publish(ActorRestarted(name, incarnation, cause))
        self.bus.publish(ComponentStateChanged(name, "running", f"incarnation {incarnation}"))
        if name == "session_coordinator":
            self._wire_coordinator()  # it resumes from the last checkpoint
            if self._sink is not None and self._sink.last_state is not None:
                self._handles[name].tell(self._sink.last_state)  # and learns the provider's state
            return
        coordinator = self._handles["session_coordinator"]
        if name == "quality_calculator":
            self._handles["quality_calculator"].tell(AttachCoordinator(coordinator))
            self._attach_gap_filler()
        elif name == "gap_filler":
            self._handles["gap_filler"].tell(AttachCoordinator(coordinator))
            self._attach_gap_filler()  # the QualityCalculator hands it the open gaps again
        elif name == "bar_writer":
            self._handles["bar_writer"].tell(AttachWriterTo(coordinator))
        coordinator.tell(ChildRestarted(name, incarnation))

    def _escalate(self, reason: str) -> None:
        """The restart budget is spent: the run ends ``failed`` with the root cause."""
        self.bus.publish(ComponentStateChanged("supervisor", "escalated", reason))
        coordinator = self._handles.get("session_coordinator")
        if coordinator is not None and coordinator.ref.is_alive():
            coordinator.tell(Fail(reason))
            return
        checkpoint = self._checkpoint
        report = run_report(
            self.config, "failed", checkpoint.summaries if checkpoint else (),
            checkpoint.run_warnings if checkpoint else (), reason, {}, self.clock_speed,
        )  # fmt: skip
        self._finished(report)

    def _finished(self, report: RunReport) -> None:
        if self._done.is_set():
            return
        if self.supervisor is not None:
            report = replace(report, restarts=tuple(self.supervisor.restart_log()))
        self._report = report
        self._done.set()


class ProviderSink:
    """A provider's :class:`~domain.providers.StreamSink`: each call becomes one message to the
    coordinator (through its handle, so deliveries follow it across restarts)."""

    def __init__(self, coordinator: Handle) -> None:
        self._coordinator = coordinator
        self.last_state: ProviderStateChanged | None = None
        """What the provider said last: told again to a restarted coordinator."""

    def bars(self, bars: Any, *, updated: bool = False) -> None:
        self._coordinator.tell(LiveBars(tuple(bars), updated, time.monotonic()))

    def state(self, state: ConnectionState, detail: str | None = None) -> None:
        self.last_state = ProviderStateChanged(str(state), detail)
        self._coordinator.tell(self.last_state)

    def quotes(self, quotes: Any) -> None:
        self._coordinator.tell(LiveQuotes(tuple(quotes)))

    def outage(self, start_ts: int, end_ts: int) -> None:
        self._coordinator.tell(ProviderOutage(start_ts, end_ts))
