"""SessionCoordinator: runs the session days of a backtest or of a live session (SPEC §5) and owns
the session data. One coordinator for both modes, over two seams: the day's *source*
(:class:`~domain.session.day_source.DaySource`: a replay day or a live day) and the *pacing*
(:mod:`actors.pacing`: data-driven, paced, or ticking on the provider's clock).

Its parts: this module (messages, queries, starting the run, restarts, pause, stop, failure and
the report), :mod:`actors.day_cycle` (opening and closing a day: loading → ready → streaming →
session_ended), :mod:`actors.clock_steps` (the steps in between: release, publish, gating,
scoring) and :mod:`actors.live_feed` (what a live session adds: deliveries, storage, gap fills,
the provider's state). Each phase is a message handled in turn, so pause and stop land between
steps. A restart resumes — a backtest from the last day's checkpoint, replaying the day it was in
without publishing until its clock passes the last step it had published; a live session from
the store. A failure in any phase ends the run ``failed`` with its cause; it never hangs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import structlog

from actors.clock_steps import ClockSteps
from actors.day_cycle import DayCycle
from actors.handle import Handle
from actors.live_feed import LiveFeed
from actors.pacing import BeginDay, Paced, Pacing, Step
from actors.subscribers import EventBus
from actors.supervisor import EngineActor
from actors.time_manager import TimeManagerClient
from actors.timer import Timer
from domain.bars import Bar
from domain.calendar.trading_days import backtest_days
from domain.config import SessionConfig
from domain.history.series import HistoricalData
from domain.intervals import MINUTE, Interval
from domain.messages.commands import (
    AckTimeout,
    ChildRestarted,
    DayEndTimeout,
    EndQualityDay,
    Fail,
    Pause,
    QualityDayEnded,
    QualityScored,
    Resume,
    RunCheckpoint,
    StartRun,
    StepAcknowledged,
    Stop,
)
from domain.messages.events import (
    Event,
    LifecycleChanged,
    RunCompleted,
    WarningRaised,
)
from domain.quality.gaps import Gap
from domain.quote_bars import QuoteBar
from domain.report import DaySummaries, RunReport, RunStatus, run_report
from domain.session.data import ReleaseHorizon, SessionData, SymbolSnapshot
from domain.session.day_source import DaySource
from domain.session.lifecycle import Lifecycle, LifecycleState
from domain.session.replay_day import SessionDay
from domain.session.status import Progress

__all__ = ["SessionCoordinator"]

log = structlog.get_logger("marketsession.coordinator")

State = LifecycleState


class SessionCoordinator(DayCycle, ClockSteps, LiveFeed, EngineActor):
    actor_name = "session_coordinator"

    def __init__(
        self,
        config: SessionConfig,
        *,
        time_manager: TimeManagerClient,
        loader: Handle,
        quality: Handle,
        bus: EventBus,
        timer: Timer,
        pacing: Pacing,
        on_finished: Callable[[RunReport], None],
        ask_timeout: float = 120.0,
        gating_timeout: float = 10.0,
        resume: RunCheckpoint | None = None,
        on_checkpoint: Callable[[RunCheckpoint], None] | None = None,
        published: tuple[date, int] | None = None,
        on_published: Callable[[date, int], None] | None = None,
        gap_filler: Handle | None = None,
        writer: Handle | None = None,
        keep_running: bool = False,
        reconnect: Callable[[str], None] | None = None,
        last_day: Callable[[], date | None] | None = None,
    ) -> None:
        EngineActor.__init__(self)
        if not pacing.live and config.backtest_config is None:
            raise ValueError("a backtest needs a backtest_config")
        self.config = config
        self._tm, self._loader, self._quality = time_manager, loader, quality
        self._bus, self._timer = bus, timer
        self.pacing = pacing
        self.speed = pacing.speed
        self._on_finished, self._ask_timeout, self._gating_timeout = on_finished, ask_timeout, gating_timeout
        self._on_checkpoint, self._on_published = on_checkpoint, on_published
        self._published = published  # (day, clock) of the last step published before a restart
        self._silent_until: int | None = None
        base = config.base_interval
        self._base: Interval = base or MINUTE
        self._derived = config.derived_intervals if base is not None else []
        # the streamed base is scored and reported even when only derived intervals were asked for
        self._intervals = tuple(str(i) for i in sorted({*config.bar_intervals, *([base] if base else [])}))
        self._symbols = config.symbols
        data_cfg = config.session_data_config
        self._session_quality = data_cfg.gap_filler.enable_session_quality
        self._historical_quality = data_cfg.historical.enable_quality
        self._extended = data_cfg.extended_hours  # the pre- and post-market scored too
        self.lifecycle = Lifecycle()
        self.data = SessionData(self._base)
        self._days: list[date] = []
        self._day: DaySource | None = None  # the day being run: a replay day or a live day
        self._horizons: dict[str, ReleaseHorizon] = {}  # a replay day's release points in the session data
        self._quote_horizon = ReleaseHorizon()
        self._released = 0  # base bars of a replay day released so far
        self._historical: HistoricalData | None = None
        self._generation = self._plan = self._step = 0
        self._awaiting: set[str] = set()
        self._ack_armed = False
        self._awaiting_since = 0.0
        self._step_due = self._scoring = self._pause_requested = False
        self._unscored: list[Bar] = []  # bars of the day not yet sent to be scored
        self._unscored_steps = 0
        self._scored_ts = 0
        self._closing: str | None = None  # None, "scoring", "draining", "ending"
        self._ended_early = False
        self._stop_reason: str | None = None
        self._run_warnings: list[str] = []
        self._day_warnings: list[str] = []
        self._timings: dict[str, Any] = {"days": {}}
        self._started = time.perf_counter()
        self._day_started = self._load_seconds = 0.0
        self._bars_streamed = self._bars_derived = self._day_streamed = 0
        self._ack_timeouts = 0
        self._timezone = "UTC"
        # a service that keeps running holds today's summary; earlier days wait on disk
        self._summaries = DaySummaries(held=len(config.symbols) if keep_running else None)
        self._resume = resume
        LiveFeed.__init__(
            self, gap_filler=gap_filler, writer=writer, keep_running=keep_running, reconnect=reconnect,
            last_day=last_day,
        )  # fmt: skip

    # ------------------------------------------------------------------ message handling

    def on_receive(self, message: Any) -> Any:
        try:
            match message:
                case Step(generation=generation):
                    if generation == self._generation and self._day is not None:
                        self._on_step()
                case QualityScored():
                    self._on_quality(message)
                case QualityDayEnded():
                    self._on_day_ended(message)
                case StepAcknowledged():
                    self._on_ack(message)
                case AckTimeout():
                    self._on_ack_timeout()
                case DayEndTimeout(day=day):
                    if self._day is not None and self._closing == "ending" and self._day.hours.day == day:
                        raise TimeoutError(
                            f"the QualityCalculator did not close {day} within {self._ask_timeout:g}s"
                        )
                case BeginDay(day=day, plan=plan):
                    if plan == self._plan:
                        self._begin_day(day)
                case StartRun():
                    self._on_start_run()
                case Pause():
                    self._on_pause()
                case Resume():
                    self._on_resume()
                case ChildRestarted():
                    self._on_child_restarted(message)
                case Stop(reason=reason):
                    self._on_stop(reason)
                case Fail(reason=reason):
                    self._fail(RuntimeError(reason))
                case _:
                    return self._on_live_message(message)
        except Exception as error:
            self._fail(error)
        return None

    # ------------------------------------------------------------------ queries (proxy calls)

    def state(self) -> str:
        return str(self.lifecycle.state)

    def progress(self) -> Progress:
        day = self._day
        return Progress(
            state=str(self.lifecycle.state),
            days_total=len(self._days) if not self.pacing.live else None,
            days_done=len(self._summaries),
            day=None if day is None else day.hours.day.isoformat(),
            now_ts=self.pacing.now_ts() if self.pacing.live else (None if day is None else day.now_ts),
            bars_streamed=self._bars_streamed,
            bars_derived=self._bars_derived,
            steps=self._step,
        )

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        return self.data.snapshot(symbol)

    def session_bars(
        self, symbol: str, interval: str, start_ts: int | None = None, end_ts: int | None = None
    ) -> tuple[Bar, ...]:
        """Session bars of today in ``[start_ts, end_ts)`` (all by default), copied as values."""
        series = self.data.session_bars(symbol, str(Interval.parse(interval)))
        if series is None:
            return ()
        return tuple(
            series.slice_by_time(
                -(2**62) if start_ts is None else start_ts, 2**62 if end_ts is None else end_ts
            )
        )

    def quote_bars(self, symbol: str, interval: str) -> tuple[QuoteBar, ...]:
        """Today's quote bars of ``symbol`` at ``interval`` whose window the clock has passed."""
        day = self._day
        if day is None:
            return ()
        now = day.now_ts if isinstance(day, SessionDay) else self.pacing.now_ts()
        return tuple(self.data.quote_bars(symbol, interval, day.hours.open_ts, min(now, day.hours.close_ts)))

    def historical_bars(self, symbol: str, interval: str) -> tuple[Bar, ...]:
        series = self.data.historical(symbol, str(Interval.parse(interval)))
        return () if series is None else tuple(series)

    def quality(self, symbol: str, interval: str) -> float | None:
        return self.data.quality(symbol, str(Interval.parse(interval)))

    def gaps(self, symbol: str, interval: str) -> tuple[Gap, ...]:
        return self.data.gaps(symbol, str(Interval.parse(interval)))

    # ------------------------------------------------------------------ planning days

    def _on_start_run(self) -> None:
        if self.lifecycle.state is not State.CREATED:
            return
        self._timezone = self._tm.timezone_name()
        if self.pacing.live:
            self._check_live_config()
        else:
            self._check_backtest_config()
        if self._resume is not None:  # a restarted coordinator: the summaries, warnings and counts so far
            self._restore(self._resume)
        if self.pacing.live:
            self._plan_live_day()
        else:
            self._next_day()

    def _check_backtest_config(self) -> None:
        backtest = self.config.backtest_config
        assert backtest is not None
        self._days = backtest_days(self._tm, backtest.start_date, backtest.end_date)
        if self.config.wants_ticks:
            self._warn("ticks: ignored in backtest mode (SPEC §5)", run=True)
        if self.config.base_interval is None:
            self._warn("no bar interval in streams: sessions hold no bars", run=True)
        if not self._days:
            self._warn(
                f"no trading day between {backtest.start_date} and {backtest.end_date}: nothing to run",
                run=True,
            )

    # ------------------------------------------------------------------ restarts

    def _on_child_restarted(self, message: ChildRestarted) -> None:
        """A restarted QualityCalculator gets the day so far; a GapFiller its open gaps; a
        BarWriter the batches not yet written."""
        self._on_live_child_restarted(message.name)
        day = self._day
        if message.name != "quality_calculator" or day is None:
            return
        self._begin_quality()
        live = not isinstance(day, SessionDay)  # a replay's are scored again from the day's columns
        so_far = [
            bar
            for symbol in self._symbols
            for interval in self._intervals
            if live
            for bar in (self.data.session_bars(symbol, interval) or ())
        ]
        self._unscored, self._unscored_steps = so_far, 0
        self._score(self._scored_ts or day.now_ts, force=True)
        if self._closing == "ending":  # the close was asked of the old incarnation: ask again
            self._quality.tell(
                EndQualityDay(day.hours.day, self._scored_ts if self._ended_early else day.end_ts)
            )

    # ------------------------------------------------------------------ pause, resume, stop, failure

    def _on_pause(self) -> None:
        if self.pacing.live:
            self._warn("pause and resume do not apply to a live session (the market does not wait)")
        elif self.lifecycle.state is State.STREAMING and self._closing is None:
            self._pause_requested = False
            self._generation += 1  # steps already scheduled are void
            self._transition(State.PAUSED, day=self._current_day())
        elif not self.lifecycle.is_terminal and self.lifecycle.state is not State.PAUSED:
            self._pause_requested = True  # honoured when the next day starts streaming

    def _on_resume(self) -> None:
        self._pause_requested = False
        if self.pacing.live:
            self._warn("pause and resume do not apply to a live session (the market does not wait)")
        if self.lifecycle.state is not State.PAUSED:
            return
        self._transition(State.STREAMING, day=self._current_day())
        self._generation += 1
        if isinstance(self.pacing, Paced):
            self.pacing.restart()
        if not self._awaiting:  # else the acknowledgements still due schedule the next step
            self._schedule_next()

    def _on_stop(self, reason: str) -> None:
        if self.lifecycle.is_terminal or self._stop_reason is not None:
            return
        self._stop_reason = reason
        self._generation += 1
        if self._day is None:
            self._finish_stop(reason)
        elif self._closing is None:
            self._end_day(early=True)
        elif self._closing in ("scoring", "draining"):  # skip the drain
            self._ended_early = self._ended_early or self._closing == "scoring"
            self._close_quality()

    def _finish_stop(self, reason: str) -> None:
        self._transition(State.STOPPING, reason)
        self._transition(State.STOPPED, reason)
        self._warn(f"run stopped: {reason}", run=True)
        self._finish("stopped")

    def _fail(self, error: BaseException) -> None:
        cause = f"{type(error).__name__}: {error}"
        log.error("run_failed", error=cause, state=str(self.lifecycle.state))
        if self.lifecycle.is_terminal:
            return
        self._generation += 1
        self._day = None
        self._transition(State.FAILED, cause)
        self._finish("failed", cause)

    # ------------------------------------------------------------------ helpers

    def _current_day(self) -> date | None:
        return None if self._day is None else self._day.hours.day

    def _transition(self, to: LifecycleState, reason: str | None = None, *, day: date | None = None) -> None:
        change = self.lifecycle.transition(to, reason)
        log.info(
            "lifecycle", from_state=str(change.from_state), to_state=str(change.to_state),
            day=day.isoformat() if day else None,
        )  # fmt: skip
        self._publish(LifecycleChanged(change.from_state, change.to_state, reason, day))

    def _publish(self, event: Event) -> None:
        if self._silent_until is None:
            self._bus.publish(event)

    def _warn(self, message: str, *, day: date | None = None, run: bool = False) -> None:
        """Record a warning of ``day`` (today's, in a live session; of the run when ``run`` or no
        day) and publish it."""
        if self.pacing.live:
            log.warning("session_warning", message=message)
            if day is None and not run and self._day is not None:
                day = self._day.hours.day
        (self._run_warnings if run or day is None else self._day_warnings).append(message)
        self._publish(WarningRaised(message, day))

    def _finish(self, status: RunStatus, error: str | None = None) -> None:
        self._flush_writes()
        total = time.perf_counter() - self._started
        self._timings.update(
            total_seconds=round(total, 6),
            bars_per_second=round(self._bars_streamed / total, 1) if total > 0 else None,
            ack_timeouts=self._ack_timeouts,
            latency_p50=self.latency.quantile(0.5),
            latency_p99=self.latency.quantile(0.99),
        )
        report = run_report(
            self.config, status, self._summaries, self._run_warnings, error, self._timings, self.speed
        )
        self._publish(RunCompleted(report))
        self._on_finished(report)
