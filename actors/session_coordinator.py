"""SessionCoordinator: runs the session days of a backtest (SPEC §5) and owns the session data.

Per session day, each phase a message handled in turn (so pause and stop are seen between
steps):

1. **loading** — the day's hours from the TimeManager; historical data and indicators from the
   HistoricalLoader (ask); historical quality from the QualityCalculator (ask); the day's base
   bars from the prefetch queue (ask), then the next days queued (tell) so they load while
   this day streams;
2. **ready → streaming** — the clock at the regular open; one :class:`~domain.messages.commands.Step`
   per clock step: at speed 0 the coordinator tells itself the next step as soon as the last
   one is done (and every gating subscriber acknowledged it); at speed > 0 a
   :class:`~actors.timer.Timer` delivers one step per ``step / speed`` wall seconds. A step
   releases the bars whose interval has ended (:class:`~domain.session.replay_day.SessionDay`), appends
   them and the derived bars to :class:`~domain.session.data.SessionData`, tells the
   QualityCalculator (one message per step) and publishes ``BarsAppended``/``DerivedBarsBuilt``;
3. **session_ended** — at the close the QualityCalculator is told to close the day; its
   :class:`~domain.messages.commands.QualityDayEnded` answer arrives after its replies to every step,
   so the gap and quality events of the day are all published before ``SessionEnded`` (with
   the :class:`DaySummary`); session bars are cleared; then the next day, or **completed**.

A failure in any phase (a store error, an ask timing out) ends the run ``failed`` with the
cause; the run never hangs and never stops silently. Every lifecycle transition is published.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import structlog

from actors.coordinator_base import CoordinatorBase
from actors.subscribers import EventBus
from actors.supervisor import Handle
from actors.time_manager import TimeManagerClient
from actors.timer import Timer
from domain.bars import Bar
from domain.calendar.trading_days import backtest_days, prefetch_plan
from domain.clock import SimulatedClock
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
    ScoreStep,
    StartRun,
    Step,
    StepAcknowledged,
    Stop,
)
from domain.messages.events import (
    BarsAppended,
    DerivedBarsBuilt,
    GapDetected,
    GapFilled,
    QualityUpdated,
    RunCompleted,
    SessionEnded,
    SessionStarted,
)
from domain.quality.book import IntervalQuality
from domain.quality.gaps import Gap
from domain.report import DaySummary, RunReport, RunStatus, run_report, summarise_day
from domain.session.data import ReleaseHorizon, SessionData
from domain.session.lifecycle import Lifecycle, LifecycleState
from domain.session.replay_day import SessionDay

__all__ = ["SessionCoordinator"]

log = structlog.get_logger("marketsession.coordinator")

State = LifecycleState

MAX_RUN = 1024
"""Most speed-0 clock steps taken in one handler (fewer when a message is waiting)."""

_QUALITY_EVENTS = (QualityUpdated.kind, GapDetected.kind, GapFilled.kind)

SCORE_EVERY = 64
"""At speed 0 the QualityCalculator scores at least every this many steps (and at the close);
every step when someone subscribes to quality or gap events."""


class _BeginDay:
    """Private self-message: load and start session day ``index``."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class SessionCoordinator(CoordinatorBase):
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
        clock: SimulatedClock,
        on_finished: Callable[[RunReport], None],
        ask_timeout: float = 120.0,
        gating_timeout: float = 10.0,
        speed: float | None = None,
        resume: RunCheckpoint | None = None,
        on_checkpoint: Callable[[RunCheckpoint], None] | None = None,
        published: tuple[int, int] | None = None,
        on_published: Callable[[int, int], None] | None = None,
    ) -> None:
        super().__init__()
        if config.backtest_config is None:
            raise ValueError("the coordinator runs backtest sessions; this config has no backtest_config")
        self.config = config
        self._tm = time_manager
        self._loader = loader
        self._quality = quality
        self._bus = bus
        self._timer = timer
        self._clock = clock
        self._on_finished = on_finished
        self._ask_timeout = ask_timeout
        self._gating_timeout = gating_timeout
        backtest = config.backtest_config
        self.speed = backtest.speed_multiplier if speed is None else speed
        self._prefetch = backtest.prefetch_days
        base = config.base_interval
        self._base: Interval = base or MINUTE
        self._derived = config.derived_intervals if base is not None else []
        # the streamed base is scored and reported even when only derived intervals were asked for
        self._intervals = tuple(str(i) for i in sorted({*config.bar_intervals, *([base] if base else [])}))
        self._symbols = config.symbols
        data_cfg = config.session_data_config
        self._session_quality = data_cfg.gap_filler.enable_session_quality
        self._historical_quality = data_cfg.historical.enable_quality
        # one paced step is one base bar, at most one market minute (SPEC §5: a minute per 60/speed s)
        self._tick_seconds = min(self._base.seconds, 60)

        self.lifecycle = Lifecycle()
        self.data = SessionData(self._base)
        self._days: list[date] = []
        self._index = -1
        self._day: SessionDay | None = None
        self._horizon = ReleaseHorizon()
        self._released = 0  # base bars of the day released so far
        self._historical: HistoricalData | None = None
        self._gaps: dict[tuple[str, str], dict[int, Gap]] = {}
        self._generation = 0
        self._step = 0
        self._awaiting: set[str] = set()
        self._ack_timer: int | None = None  # the armed watchdog, if any
        self._awaiting_since = 0.0
        self._step_due = False
        self._scoring = False  # a ScoreStep is in flight: speed 0 waits for its QualityScored
        self._unscored: list[Bar] = []  # derived bars released but not yet sent to be scored
        self._unscored_steps = 0
        self._closing = False
        self._ended_early = False
        self._stop_reason: str | None = None
        self._pause_requested = False
        self._next_deadline = 0.0
        self._summaries: list[DaySummary] = []
        self._run_warnings: list[str] = []
        self._day_warnings: list[str] = []
        self._timings: dict[str, Any] = {"days": {}}
        self._started = 0.0
        self._day_started = 0.0
        self._load_seconds = 0.0
        self._bars_streamed = 0
        self._bars_derived = 0
        self._day_streamed = 0
        self._day_derived = 0
        self._ack_timeouts = 0
        self._timezone = "UTC"
        self.report: RunReport | None = None
        self._resume = resume
        self._on_checkpoint = on_checkpoint
        self._published = published  # (day index, clock) of the last step published before a restart
        self._on_published = on_published

    # ------------------------------------------------------------------ message handling

    def on_receive(self, message: Any) -> Any:
        try:
            if isinstance(message, Step):
                if message.generation == self._generation and self._day is not None:
                    self._on_step()
            elif isinstance(message, QualityScored):
                self._on_quality(message)
            elif isinstance(message, QualityDayEnded):
                self._on_day_ended(message)
            elif isinstance(message, DayEndTimeout):
                self._on_day_end_timeout(message)
            elif isinstance(message, StepAcknowledged):
                self._on_ack(message)
            elif isinstance(message, AckTimeout):
                self._on_ack_timeout(message)
            elif isinstance(message, _BeginDay):
                self._begin_day(message.index)
            elif isinstance(message, StartRun):
                self._on_start_run()
            elif isinstance(message, Pause):
                self._on_pause()
            elif isinstance(message, Resume):
                self._on_resume()
            elif isinstance(message, ChildRestarted):
                self._on_child_restarted(message)
            elif isinstance(message, Fail):
                if not self.lifecycle.is_terminal:
                    self._fail(RuntimeError(message.reason))
            elif isinstance(message, Stop):
                self._on_stop(message.reason)
            else:
                raise TypeError(f"SessionCoordinator does not handle {type(message).__name__}")
        except Exception as error:
            self._fail(error)
        return None

    # ------------------------------------------------------------------ queries (proxy calls)

    def state(self) -> str:
        return str(self.lifecycle.state)

    def progress(self) -> dict[str, Any]:
        day = self._day
        return {
            "state": str(self.lifecycle.state),
            "days_total": len(self._days),
            "days_done": len(self._summaries),
            "day": None if day is None else day.hours.day.isoformat(),
            "now_ts": None if day is None else day.now_ts,
            "bars_streamed": self._bars_streamed,
            "bars_derived": self._bars_derived,
            "steps": self._step,
        }

    # ------------------------------------------------------------------ run phases

    def _on_start_run(self) -> None:
        if self.lifecycle.state is not State.CREATED:
            return
        self._started = time.perf_counter()
        self._timezone = self._tm.timezone_name()
        backtest = self.config.backtest_config
        assert backtest is not None
        self._days = backtest_days(self._tm, backtest.start_date, backtest.end_date)
        if self.config.wants_quotes:
            self._warn(
                "quotes: requested in streams, but the store holds no quotes for backtests; not streamed",
                run=True,
            )
        if self.config.wants_ticks:
            self._warn("ticks: ignored in backtest mode (SPEC §5)", run=True)
        if self.config.base_interval is None:
            self._warn("no bar interval in streams: sessions hold no bars", run=True)
        start = 0
        if self._resume is not None:  # a restarted coordinator: continue after the last full day
            start = self._restore(self._resume)
            if start >= len(self._days):
                self._transition(State.LOADING)
                self._transition(State.READY)
                self._transition(State.STREAMING)
                self._transition(State.SESSION_ENDED)
                self._transition(State.COMPLETED)
                self._finish("completed")
                return
        elif not self._days:
            self._warn(
                f"no trading day between {backtest.start_date} and {backtest.end_date}: nothing to run",
                run=True,
            )
            self._transition(State.LOADING)
            self._transition(State.READY)
            self._transition(State.STREAMING)
            self._transition(State.SESSION_ENDED)
            self._transition(State.COMPLETED)
            self._finish("completed")
            return
        self._checkpoint(start)
        self._begin_day(start)

    def _checkpoint(self, next_index: int) -> None:
        """Hand the supervisor where the run stands (a restart resumes from here)."""
        if self._on_checkpoint is None:
            return
        days = self._timings["days"]
        self._on_checkpoint(
            RunCheckpoint(
                next_index=next_index,
                summaries=tuple(self._summaries),
                run_warnings=tuple(self._run_warnings),
                steps=self._step,
                bars_streamed=self._bars_streamed,
                bars_derived=self._bars_derived,
                ack_timeouts=self._ack_timeouts,
                day_timings=tuple((day, tuple(t.items())) for day, t in days.items()),
                started=self._started,
            )
        )

    def _restore(self, checkpoint: RunCheckpoint) -> int:
        self._summaries = list(checkpoint.summaries)
        self._run_warnings = list(checkpoint.run_warnings)
        self._step = checkpoint.steps
        self._bars_streamed = checkpoint.bars_streamed
        self._bars_derived = checkpoint.bars_derived
        self._ack_timeouts = checkpoint.ack_timeouts
        self._timings["days"] = {day: dict(items) for day, items in checkpoint.day_timings}
        self._started = checkpoint.started or self._started
        return checkpoint.next_index

    def _on_child_restarted(self, message: ChildRestarted) -> None:
        """A restarted QualityCalculator gets the day so far; the others need nothing."""
        day = self._day
        if message.name != "quality_calculator" or day is None:
            return
        self._begin_quality(day.columns)
        derived = [
            bar
            for symbol in self._symbols
            for interval in self._intervals
            if interval != str(self._base)
            for bar in (self.data.session_bars(symbol, interval) or ())
        ]
        self._unscored, self._unscored_steps = [], 0
        name = day.hours.day
        self._quality.tell(
            ScoreStep(name, day.now_ts, derived=tuple(derived), released_until=day.released_until)
        )
        self._scoring = True
        if self._closing:  # the close was asked of the old incarnation: ask again
            self._quality.tell(EndQualityDay(name, day.now_ts if self._ended_early else day.hours.close_ts))

    def _begin_day(self, index: int) -> None:
        if self.lifecycle.is_terminal:
            return
        day = self._days[index]
        self._index = index
        if self._published is not None and self._published[0] == index:
            self._silent_until = self._published[1]  # replay what was published, silently
        self._day_started = time.perf_counter()
        self._day_warnings = []
        self._transition(State.LOADING, day=day)
        day_bars = self._open_day(day, tuple(prefetch_plan(self._days, index, self._prefetch)))
        hours = day_bars.hours
        session_day = SessionDay(hours, self._base, self._derived, self._symbols, day_bars.columns)
        if self.config.base_interval is not None:
            present = {cols.symbol for cols in session_day.columns if len(cols)}
            for symbol in self._symbols:
                if symbol not in present:
                    self._warn(
                        f"{symbol} {self._base}: no bars stored for {day.isoformat()}; quality 0 %",
                        day=day,
                    )
        self._day = session_day
        self._scoring = False
        self._unscored, self._unscored_steps = [], 0
        self._horizon = self.data.attach_day(session_day.columns, session_day.released_until)
        self._released = 0
        self._day_streamed = self._day_derived = 0
        self._gaps = {}
        self._clock.set_ts(hours.open_ts)
        self._begin_quality(session_day.columns)
        self._load_seconds = time.perf_counter() - self._day_started
        self._transition(State.READY, day=day)
        self._transition(State.STREAMING, day=day)
        self._publish(SessionStarted(day, hours, self._symbols))
        if self._on_published is not None:
            self._on_published(index, hours.open_ts)
        self._generation += 1
        self._next_deadline = Timer.now()
        if self._pause_requested:
            self._on_pause()
        else:
            self._schedule_next()

    def _schedule_next(self) -> None:
        if self.lifecycle.state is not State.STREAMING:
            return
        if self.speed == 0 or self._silent_until is not None:  # a silent replay runs at speed 0
            if not self._awaiting and not self._scoring:
                self.actor_ref.tell(Step(self._generation))
            return
        self._next_deadline += self._tick_seconds / self.speed
        self._timer.send_at(self._next_deadline, self.actor_ref, Step(self._generation))

    def _on_step(self) -> None:
        """Take clock steps. At speed 0 without gating subscribers, steps follow each other in
        this handler for as long as the mailbox stays empty (at most :data:`MAX_RUN` of them), so
        a pause, a stop or a query still lands between two steps while a replay does not pay one
        message round trip per step. The QualityCalculator is sent one :class:`ScoreStep` for
        the steps taken since the last one when the run of steps ends for a message, at the close,
        every :data:`SCORE_EVERY` steps, or every step when quality or gap events are wanted."""
        if self.lifecycle.state is not State.STREAMING or self._closing:
            return
        if self._awaiting:
            self._step_due = True  # a paced tick while a gating subscriber is still busy
            return
        self._step_due = False
        day = self._day
        assert day is not None
        name = day.hours.day
        bus, data = self._bus, self.data
        publish_bars, publish_derived = bus.wants(BarsAppended.kind), bus.wants(DerivedBarsBuilt.kind)
        gating = bus.gating()
        # quality and gap events are published as the steps happen: score every step then
        per_step = self.speed != 0 or any(bus.wants(kind) for kind in _QUALITY_EVENTS)
        inbox = self.actor_inbox
        derived_run: list[Bar] = []
        steps = 0
        for _ in range(MAX_RUN):
            steps += 1
            now = day.next_clock() if self.speed == 0 else day.now_ts + self._tick_seconds
            step = day.release(now)
            if self._silent_until is not None and step.now_ts > self._silent_until:
                self._silent_until = None  # past the last step published before the restart
            derived = step.derived
            if derived:
                data.append_session_bars(derived)
                derived_run.extend(derived)
            if step.windows or derived:
                self._step += 1
                self._bars_derived += len(derived)
                self._day_derived += len(derived)
            if step.windows and (publish_bars or gating) and self._silent_until is None:
                self._publish(BarsAppended(name, self._step, step.now_ts, step.bars))
                if gating:
                    self._await_acks(gating)
                    break
            if derived and publish_derived:
                self._publish(DerivedBarsBuilt(name, self._step, step.now_ts, derived))
            if day.at_close or per_step or not inbox.empty():
                break
        until = day.released_until
        self._horizon.ts = until
        released = day.released_count()
        self._bars_streamed += released - self._released
        self._day_streamed += released - self._released
        self._released = released
        self._unscored.extend(derived_run)
        self._unscored_steps += steps
        if day.at_close or per_step or self._unscored_steps >= SCORE_EVERY or not inbox.empty():
            self._quality.tell(
                ScoreStep(name, day.now_ts, derived=tuple(self._unscored), released_until=until)
            )
            self._scoring = True
            self._unscored, self._unscored_steps = [], 0
        self._clock.set_ts(day.now_ts)
        if self._on_published is not None:
            self._on_published(self._index, day.now_ts)
        if self.supervision is not None and self.supervision.faults is not None:
            self.supervision.faults.clock(day.now_ts)
        if day.at_close:
            self._end_day()
        else:
            self._schedule_next()

    def _on_ack(self, message: StepAcknowledged) -> None:
        if message.step != self._step or not self._awaiting:
            return
        self._awaiting.discard(message.subscriber)
        if not self._awaiting:
            self._acks_done()

    def _await_acks(self, gating: tuple[str, ...]) -> None:
        """Wait for every gating subscriber's acknowledgement of this step, at most the gating
        timeout. One watchdog timer stays armed while steps are acknowledged in time (arming
        one per step would wake the timer thread every step)."""
        self._awaiting = set(gating)
        self._awaiting_since = Timer.now()
        if self._ack_timer is None:
            self._ack_timer = self._timer.send_after(
                self._gating_timeout, self.actor_ref, AckTimeout(self._step)
            )

    def _on_ack_timeout(self, message: AckTimeout) -> None:
        self._ack_timer = None
        if not self._awaiting or self.lifecycle.is_terminal:
            return
        waited = Timer.now() - self._awaiting_since
        if waited < self._gating_timeout:  # the watchdog of an earlier step: re-arm for this one
            self._ack_timer = self._timer.send_after(
                self._gating_timeout - waited, self.actor_ref, AckTimeout(self._step)
            )
            return
        self._ack_timeouts += 1
        late = ", ".join(sorted(self._awaiting))
        self._warn(
            f"step {self._step}: no acknowledgement from {late} within {self._gating_timeout}s; went on"
        )
        self._awaiting.clear()
        self._acks_done()

    def _acks_done(self) -> None:
        if self.lifecycle.state is not State.STREAMING:
            return
        if self.speed == 0:
            self._schedule_next()
        elif self._step_due:
            self._on_step()

    def _on_quality(self, message: QualityScored) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return  # a late reply about a day that has ended
        self._scoring = False
        self._apply_scores(message)
        if self.speed == 0 and not self._awaiting and not self._closing:
            self._schedule_next()

    def _end_day(self, *, early: bool = False) -> None:
        """Close the day: the QualityCalculator scores up to the close (or now, if stopped early)
        and answers with :class:`QualityDayEnded`, handled by :meth:`_on_day_ended`."""
        day = self._day
        assert day is not None
        self._closing = True
        self._silent_until = None
        self._ended_early = early
        self._generation += 1
        self._awaiting.clear()
        self._quality.tell(EndQualityDay(day.hours.day, day.now_ts if early else day.hours.close_ts))
        self._timer.send_after(self._ask_timeout, self.actor_ref, DayEndTimeout(day.hours.day))

    def _on_day_ended(self, message: QualityDayEnded) -> None:
        day = self._day
        if day is None or not self._closing or message.day != day.hours.day:
            return
        self._closing = False
        early = self._ended_early
        results = {(r.score.symbol, r.score.interval): r for r in message.results}
        for (symbol, interval), result in results.items():
            self.data.set_quality(symbol, interval, result.score.quality)
            self.data.set_gaps(symbol, interval, result.gaps)
        summary = self._summarise(day, results, message.historical, early)
        self._summaries.append(summary)
        self._timings["days"][day.hours.day.isoformat()] = dict(summary.timings)
        self._publish(SessionEnded(day.hours.day, summary))
        self.data.clear_session()
        self._day = None
        self._gaps = {}
        if self._stop_reason is not None:
            self._finish_stop(self._stop_reason)
            return
        self._transition(State.SESSION_ENDED, day=day.hours.day)
        self._checkpoint(self._index + 1)
        if self._index + 1 < len(self._days):
            self.actor_ref.tell(_BeginDay(self._index + 1))
        else:
            self._transition(State.COMPLETED)
            self._finish("completed")

    def _on_day_end_timeout(self, message: DayEndTimeout) -> None:
        day = self._day
        if day is not None and self._closing and message.day == day.hours.day:
            raise TimeoutError(
                f"the QualityCalculator did not close {message.day.isoformat()} within {self._ask_timeout:g}s"
            )

    def _summarise(
        self,
        day: SessionDay,
        results: dict[tuple[str, str], IntervalQuality],
        historical_quality: dict[tuple[str, str], float | None],
        early: bool,
    ) -> DaySummary:
        stream_seconds = time.perf_counter() - self._day_started - self._load_seconds
        return summarise_day(
            hours=day.hours,
            timezone=self._timezone,
            symbols=self._symbols,
            intervals=self._intervals,
            data=self.data,
            historical=self._historical,
            historical_quality=historical_quality,
            results=results,
            bars_streamed=self._day_streamed,
            bars_derived=self._day_derived,
            refused=dict(day.refused),
            warnings=tuple(self._day_warnings),
            timings={
                "load_seconds": round(self._load_seconds, 6),
                "stream_seconds": round(stream_seconds, 6),
            },
            early=early,
        )

    # ------------------------------------------------------------------ pause, resume, stop, failure

    def _on_pause(self) -> None:
        if self.lifecycle.state is State.STREAMING and not self._closing:
            self._pause_requested = False
            self._generation += 1  # steps already scheduled are void
            self._transition(State.PAUSED, day=self._current_day())
        elif not self.lifecycle.is_terminal and self.lifecycle.state is not State.PAUSED:
            self._pause_requested = True  # honoured when the next day starts streaming

    def _on_resume(self) -> None:
        self._pause_requested = False
        if self.lifecycle.state is not State.PAUSED:
            return
        self._transition(State.STREAMING, day=self._current_day())
        self._generation += 1
        self._next_deadline = Timer.now()
        if self._awaiting:
            return  # the acknowledgements still due will schedule the next step
        self._schedule_next()

    def _on_stop(self, reason: str) -> None:
        if self.lifecycle.is_terminal or self._stop_reason is not None:
            return
        self._stop_reason = reason
        self._generation += 1
        if self._closing:
            return  # the day is closing already: the stop completes when it has closed
        if self._day is not None:
            self._end_day(early=True)
            return
        self._finish_stop(reason)

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

    def _finish(self, status: RunStatus, error: str | None = None) -> None:
        total = time.perf_counter() - self._started if self._started else 0.0
        self._timings.update(
            total_seconds=round(total, 6),
            bars_per_second=round(self._bars_streamed / total, 1) if total > 0 else None,
            ack_timeouts=self._ack_timeouts,
        )
        self.report = run_report(
            self.config, status, self._summaries, self._run_warnings, error, self._timings, self.speed
        )
        self._publish(RunCompleted(self.report))
        self._on_finished(self.report)
