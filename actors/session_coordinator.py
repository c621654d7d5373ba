"""SessionCoordinator: runs the session days of a backtest or of a live session (SPEC §5) and owns
the session data. One coordinator for both modes, over two seams: the day's *source*
(:class:`~domain.session.day_source.DaySource`: the replay day or the live day) and the
*pacing* (:mod:`actors.pacing`: data-driven, paced, or ticking on the provider's clock). What a
live session adds — the provider's deliveries, their storage, gap fills, the provider's state —
is :class:`~actors.live_feed.LiveFeed`.

Per session day, each phase a message handled in turn (so pause and stop land between steps):

1. **loading** — one :class:`~domain.messages.commands.OpenDay` ask to the HistoricalLoader:
   history and indicators into the session data, and the day's stored bars (a replay's bars;
   in a live session what was received before a restart). The QualityCalculator is told
   :class:`~domain.messages.commands.BeginQualityDay`;
2. **ready → streaming** — streaming starts at the regular open. Each clock step moves the
   source to the pacing's clock, appends what it releases and the derived bars, publishes
   ``BarsAppended``/``DerivedBarsBuilt``, and tells the QualityCalculator a
   :class:`~domain.messages.commands.ScoreStep` (one per step, or per run of speed-0 steps
   when nobody listens to quality events);
3. **session_ended** — at the close (live: close + grace, then the GapFiller drains the day)
   the QualityCalculator is told :class:`~domain.messages.commands.EndQualityDay`; its answer
   arrives after its replies to every step, so the day's quality events are all out before
   ``SessionEnded`` carries the :class:`~domain.report.DaySummary`. Then the next day, or
   **completed**.

A restart resumes: a backtest from the last day's checkpoint, replaying the day it was in
without publishing until its clock passes the last step it had published; a live session from
the store. A failure in any phase ends the run ``failed`` with its cause; it never hangs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import structlog

from actors.live_feed import LiveFeed
from actors.pacing import BeginDay, DataDriven, Paced, Pacing, Step
from actors.subscribers import EventBus
from actors.supervisor import EngineActor, Handle
from actors.time_manager import TimeManagerClient
from actors.timer import Timer
from domain.bars import Bar
from domain.calendar.trading_days import backtest_days, prefetch_plan
from domain.columns import BarColumns
from domain.config import SessionConfig
from domain.history.series import HistoricalData
from domain.intervals import MINUTE, Interval
from domain.messages.commands import (
    AckTimeout,
    BeginQualityDay,
    ChildRestarted,
    DayEndTimeout,
    DayOpened,
    EndQualityDay,
    Fail,
    OpenDay,
    Pause,
    QualityDayEnded,
    QualityScored,
    Resume,
    RunCheckpoint,
    ScoreStep,
    StartRun,
    StepAcknowledged,
    Stop,
)
from domain.messages.events import (
    BarsAppended,
    DerivedBarsBuilt,
    Event,
    GapDetected,
    GapFilled,
    HistoricalLoaded,
    LifecycleChanged,
    QualityUpdated,
    RunCompleted,
    SessionEnded,
    SessionStarted,
    WarningRaised,
)
from domain.quality.gaps import Gap, GapStatus
from domain.report import RunReport, RunStatus, run_report, summarise_day
from domain.session.data import SessionData, SymbolSnapshot
from domain.session.day_source import DaySource
from domain.session.lifecycle import Lifecycle, LifecycleState
from domain.session.replay_day import SessionDay

__all__ = ["SessionCoordinator"]

log = structlog.get_logger("marketsession.coordinator")

State = LifecycleState

MAX_RUN = 1024
"""Most speed-0 clock steps taken in one handler (fewer when a message is waiting)."""
SCORE_EVERY = 64
"""At speed 0 the QualityCalculator scores at least every this many steps (and at the close)."""
_QUALITY_EVENTS = (QualityUpdated.kind, GapDetected.kind, GapFilled.kind)


class SessionCoordinator(LiveFeed, EngineActor):
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
    ) -> None:
        EngineActor.__init__(self)
        if not pacing.live and config.backtest_config is None:
            raise ValueError("a backtest needs a backtest_config")
        self.config = config
        self._tm, self._loader, self._quality, self._bus, self._timer = (
            time_manager,
            loader,
            quality,
            bus,
            timer,
        )
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
        self.lifecycle = Lifecycle()
        self.data = SessionData(self._base)
        self._days: list[date] = []
        self._day: Any = None  # the DaySource of the day being run
        self._horizon: Any = None  # a replay day's release point in the session data
        self._released = 0  # base bars of a replay day released so far
        self._historical: HistoricalData | None = None
        self._gaps: dict[tuple[str, str], dict[int, Gap]] = {}
        self._generation = self._plan = self._step = 0
        self._awaiting: set[str] = set()
        self._ack_timer: int | None = None
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
        self.report: RunReport | None = None
        self._summaries: list[Any] = []
        self._resume = resume
        LiveFeed.__init__(self, gap_filler=gap_filler, writer=writer, keep_running=keep_running)

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

    def progress(self) -> dict[str, Any]:
        day = self._day
        return {
            "state": str(self.lifecycle.state),
            "days_total": len(self._days) if not self.pacing.live else None,
            "days_done": len(self._summaries),
            "day": None if day is None else day.hours.day.isoformat(),
            "now_ts": self.pacing.now_ts() if self.pacing.live else (None if day is None else day.now_ts),
            "bars_streamed": self._bars_streamed,
            "bars_derived": self._bars_derived,
            "steps": self._step,
        }

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
        if self.config.wants_quotes:
            self._warn(
                "quotes: requested in streams, but the store holds no quotes for backtests; not streamed",
                run=True,
            )
        if self.config.wants_ticks:
            self._warn("ticks: ignored in backtest mode (SPEC §5)", run=True)
        if self.config.base_interval is None:
            self._warn("no bar interval in streams: sessions hold no bars", run=True)
        if not self._days:
            self._warn(
                f"no trading day between {backtest.start_date} and {backtest.end_date}: nothing to run",
                run=True,
            )

    def _next_day(self) -> None:
        """The next session day: a backtest's next day of its window, a live session's next
        trading day (when it keeps running); otherwise the run is complete."""
        if self.pacing.live:
            if self._keep_running:
                self._plan_live_day()
                return
        else:
            done = {s.day for s in self._summaries}
            left = [d for d in self._days if d not in done]
            if left:
                self._plan += 1
                self._begin_day(left[0])
                return
            if self.lifecycle.state is State.CREATED:  # nothing to run, or resumed after the last day
                for state in (State.LOADING, State.READY, State.STREAMING, State.SESSION_ENDED):
                    self._transition(state)
        self._transition(State.COMPLETED)
        self._finish("completed")

    def _checkpoint(self) -> None:
        """Hand the supervisor where the run stands (a restart resumes from here)."""
        if self._on_checkpoint is not None:
            self._on_checkpoint(
                RunCheckpoint(
                    summaries=tuple(self._summaries), run_warnings=tuple(self._run_warnings),
                    steps=self._step, bars_streamed=self._bars_streamed, bars_derived=self._bars_derived,
                    ack_timeouts=self._ack_timeouts,
                    day_timings=tuple((d, tuple(t.items())) for d, t in self._timings["days"].items()),
                    started=self._started,
                )
            )  # fmt: skip

    def _restore(self, checkpoint: RunCheckpoint) -> None:
        self._summaries = list(checkpoint.summaries)
        self._run_warnings = list(checkpoint.run_warnings)
        self._step = checkpoint.steps
        self._bars_streamed, self._bars_derived = checkpoint.bars_streamed, checkpoint.bars_derived
        self._ack_timeouts = checkpoint.ack_timeouts
        self._timings["days"] = {day: dict(items) for day, items in checkpoint.day_timings}
        self._started = checkpoint.started or self._started

    # ------------------------------------------------------------------ opening a day

    def _begin_day(self, day: date) -> None:
        if self.lifecycle.is_terminal or self._day is not None:
            return
        if self._published is not None and self._published[0] == day:
            self._silent_until = self._published[1]  # replay what was published, silently
        self._day_started = time.perf_counter()
        self._day_warnings = []
        self._transition(State.LOADING, day=day)
        backtest = self.config.backtest_config
        prefetch = (
            ()
            if self.pacing.live or backtest is None
            else prefetch_plan(self._days, self._days.index(day), backtest.prefetch_days)
        )
        stored = self._open_day(day, tuple(prefetch))
        self._gaps, self._unscored, self._unscored_steps, self._scored_ts = {}, [], 0, 0
        self._day_streamed = 0
        self._scoring = False
        source: DaySource
        if self.pacing.live:
            source = self._live_day(stored)
        else:
            source = SessionDay(stored.hours, self._base, self._derived, self._symbols, stored.columns)
            self._warn_missing(source)
        self._day = source
        self._begin_quality()
        if isinstance(source, SessionDay):
            self._horizon = self.data.attach_day(source.columns, source.released_until)
            self._released = 0
        else:
            self._resume_from_store(stored)
        self._load_seconds = time.perf_counter() - self._day_started
        self._transition(State.READY, day=day)
        self._generation += 1
        if not self.pacing.live:
            self._open_session()
            self.pacing.start(source.hours)
            if self._pause_requested:
                self._on_pause()
                return
        self._schedule_next()

    def _open_day(self, day: date, prefetch: tuple[date, ...]) -> Any:
        """One ask to the loader: the day's history and indicators into the session data, and
        its stored base bars (the loader then reads ``prefetch`` days ahead)."""
        opened: DayOpened = self._take_opened(day) or self._loader.ask(
            OpenDay(day, prefetch), timeout=self._ask_timeout
        )
        historical = self._historical = opened.historical
        bars = 0
        for (symbol, interval), series in historical.series.items():
            bars += self.data.set_historical(symbol, interval, series.bars, series.days)
        for symbol, results in historical.indicators.items():
            self.data.set_indicators(symbol, results)
        for message in historical.warnings:
            self._warn(message, day=day)
        self._publish(HistoricalLoaded(day, bars, len(historical.series)))
        return opened.bars

    def _warn_missing(self, day: SessionDay) -> None:
        if self.config.base_interval is None:
            return
        present = {cols.symbol for cols in day.columns if len(cols)}
        for symbol in self._symbols:
            if symbol not in present:
                self._warn(
                    f"{symbol} {self._base}: no bars stored for {day.hours.day.isoformat()}; quality 0 %",
                    day=day.hours.day,
                )

    def _begin_quality(self) -> None:
        """Tell the QualityCalculator the day (again, after it restarted): what it scores, the
        columns a replay's steps index, and the history to score once."""
        day = self._day
        columns: tuple[BarColumns, ...] = day.columns if isinstance(day, SessionDay) else ()
        self._quality.tell(
            BeginQualityDay(
                day.hours, self._symbols, self._intervals, self._session_quality, columns,
                self._historical, self._historical_quality,
            )
        )  # fmt: skip

    def _open_session(self) -> None:
        """The regular open: streaming starts."""
        hours = self._day.hours
        self._transition(State.STREAMING, day=hours.day)
        self._publish(SessionStarted(hours.day, hours, self._symbols))
        if self._on_published is not None:
            self._on_published(hours.day, hours.open_ts)

    # ------------------------------------------------------------------ clock steps

    def _schedule_next(self) -> None:
        if self.lifecycle.state not in (State.STREAMING, State.READY) or self._closing in (
            "draining",
            "ending",
        ):
            return
        if self._fast:
            if not self._awaiting and not self._scoring:
                self.actor_ref.tell(Step(self._generation))  # a silent replay runs at speed 0
            return
        self.pacing.schedule(self.actor_ref, self._generation)

    def _on_step(self) -> None:
        """Take clock steps. At speed 0 without gating subscribers, steps follow each other in
        this handler for as long as the mailbox stays empty (at most :data:`MAX_RUN` of them), so
        a pause, a stop or a query still lands between two steps while a replay does not pay one
        message round trip per step."""
        if self.lifecycle.is_terminal or self._closing in ("draining", "ending"):
            return
        if self._awaiting:
            self._step_due = True  # a paced tick while a gating subscriber is still busy
            return
        self._step_due = False
        day, bus, data = self._day, self._bus, self.data
        hours = day.hours
        name, live = hours.day, self.pacing.live
        publish_bars, publish_derived = bus.wants(BarsAppended.kind), bus.wants(DerivedBarsBuilt.kind)
        gating = () if live else bus.gating()
        fast = self._fast
        # quality and gap events are published as the steps happen: score every step then
        per_step = not fast or any(bus.wants(kind) for kind in _QUALITY_EVENTS)
        inbox = self.actor_inbox
        steps = 0
        for _ in range(MAX_RUN):
            steps += 1
            now = day.next_clock() if fast else self.pacing.next_clock(day)
            if self.lifecycle.state is State.READY and now >= hours.open_ts:
                self._open_session()  # a live day streams from the open
            step = day.release(now)
            if self._silent_until is not None and step.now_ts > self._silent_until:
                self._silent_until = None  # past the last step published before the restart
            derived = step.derived
            if derived:
                data.append_session_bars(derived)
                self._unscored.extend(derived)
                self._bars_derived += len(derived)
            if step.windows or derived:
                self._step += 1
            if step.windows and (publish_bars or gating) and self._silent_until is None:
                self._publish(BarsAppended(name, self._step, step.now_ts, step.bars))
                if gating:
                    self._await_acks(gating)
                    break
            if derived and publish_derived:
                self._publish(DerivedBarsBuilt(name, self._step, step.now_ts, derived))
            if per_step or day.now_ts >= hours.close_ts or not inbox.empty():
                break
        if isinstance(day, SessionDay):
            self._horizon.ts = day.released_until
            released = day.released_count()
            self._bars_streamed += released - self._released
            self._day_streamed += released - self._released
            self._released = released
        self._unscored_steps += steps
        now = day.now_ts
        self.pacing.moved(now)
        if self._on_published is not None:
            self._on_published(name, now)
        if self.supervision is not None and self.supervision.faults is not None:
            self.supervision.faults.clock(now)
        if (
            self._closing is None
            and now >= self.pacing.closes_at(hours)
            and self.lifecycle.state is State.STREAMING
        ):
            self._end_day()
            return
        if self._closing is None and (
            live or per_step or self._unscored_steps >= SCORE_EVERY or not inbox.empty()
        ):
            self._score(self.pacing.score_until(now, hours))
        self._schedule_next()

    def _score(self, until: int, *, force: bool = False) -> None:
        """Tell the QualityCalculator what the day released since the last score, up to ``until``."""
        day = self._day
        if not force and not self._unscored and until <= self._scored_ts and self._unscored_steps == 0:
            return
        released = day.released_until if isinstance(day, SessionDay) else None
        base_text = str(self._base)
        bars = tuple(b for b in self._unscored if b.interval == base_text)
        derived = tuple(b for b in self._unscored if b.interval != base_text)
        self._unscored, self._unscored_steps = [], 0
        self._scored_ts = max(self._scored_ts, until)
        self._quality.tell(ScoreStep(day.hours.day, self._scored_ts, bars, derived, released))
        self._scoring = not self.pacing.live

    def _on_quality(self, message: QualityScored) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return  # a late reply about a day that has ended
        self._scoring = False
        for score in message.scores:
            self.data.set_quality(score.symbol, score.interval, score.quality)
        touched: set[tuple[str, str]] = set()
        for gap in message.closed:
            self._gaps.setdefault((gap.symbol, gap.interval), {}).pop(gap.start_ts, None)
            touched.add((gap.symbol, gap.interval))
            if gap.status is GapStatus.FILLED:
                self._publish(GapFilled(message.day, gap))
        for gap in message.opened:
            self._gaps.setdefault((gap.symbol, gap.interval), {})[gap.start_ts] = gap
            touched.add((gap.symbol, gap.interval))
            self._publish(GapDetected(message.day, gap))
        for key in touched:
            self.data.set_gaps(key[0], key[1], sorted(self._gaps[key].values(), key=lambda g: g.start_ts))
        if message.scores:
            self._publish(QualityUpdated(message.day, message.now_ts, message.scores))
        self._track_gaps(message)
        if self._closing == "scoring" and message.now_ts >= day.hours.close_ts:
            self._drain()
        elif self._closing is None and self._fast and not self._awaiting:
            self._schedule_next()

    # ------------------------------------------------------------------ gating subscribers

    def _await_acks(self, gating: tuple[str, ...]) -> None:
        """Wait for every gating subscriber's acknowledgement of this step, at most the gating
        timeout. One watchdog timer stays armed while steps are acknowledged in time."""
        self._awaiting = set(gating)
        self._awaiting_since = Timer.now()
        if self._ack_timer is None:
            self._ack_timer = self._timer.send_after(
                self._gating_timeout, self.actor_ref, AckTimeout(self._step)
            )

    def _on_ack(self, message: StepAcknowledged) -> None:
        if message.step == self._step and self._awaiting:
            self._awaiting.discard(message.subscriber)
            if not self._awaiting:
                self._acks_done()

    def _on_ack_timeout(self) -> None:
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
        if self._fast:
            self._schedule_next()
        elif self._step_due:
            self._on_step()

    # ------------------------------------------------------------------ closing the day

    def _end_day(self, *, early: bool = False) -> None:
        """Close the day: score up to the close (or now, if it ended early); a live day then
        drains its gaps; the QualityCalculator's :class:`QualityDayEnded` ends it."""
        day = self._day
        self._closing, self._ended_early, self._silent_until = "scoring", early, None
        self._generation += 1
        self._awaiting.clear()
        now = self.pacing.now_ts() if self.pacing.live else day.now_ts
        close = self.pacing.score_until(now, day.hours) if early else day.hours.close_ts
        self._score(close, force=True)
        if early or not self._drains():
            self._close_quality()

    def _close_quality(self) -> None:
        day = self._day
        self._closing = "ending"
        close = self._scored_ts if self._ended_early else day.hours.close_ts
        self._score(close)  # bars that arrived while draining
        self._quality.tell(EndQualityDay(day.hours.day, close))
        self._timer.send_after(self._ask_timeout, self.actor_ref, DayEndTimeout(day.hours.day))

    def _on_day_ended(self, message: QualityDayEnded) -> None:
        day = self._day
        if day is None or self._closing != "ending" or message.day != day.hours.day:
            return
        results = {(r.score.symbol, r.score.interval): r for r in message.results}
        for (symbol, interval), result in results.items():
            self.data.set_quality(symbol, interval, result.score.quality)
            self.data.set_gaps(symbol, interval, result.gaps)
        summary = summarise_day(
            hours=day.hours, timezone=self._timezone, symbols=self._symbols, intervals=self._intervals,
            data=self.data, historical=self._historical, historical_quality=message.historical,
            results=results, bars_streamed=self._day_streamed, bars_derived=sum(
                len(self.data.session_bars(symbol, i) or ()) for symbol in self._symbols
                for i in self._intervals if i != str(self._base)
            ),
            refused=dict(day.refused), warnings=tuple(self._day_warnings),
            timings={
                "load_seconds": round(self._load_seconds, 6),
                "stream_seconds": round(time.perf_counter() - self._day_started - self._load_seconds, 6),
            },
            early=self._ended_early,
        )  # fmt: skip
        self._summaries.append(summary)
        self._timings["days"][day.hours.day.isoformat()] = dict(summary.timings)
        self._publish(SessionEnded(day.hours.day, summary))
        self._generation += 1
        self._closing, self._day, self._gaps = None, None, {}
        self.data.clear_session()
        if self._stop_reason is not None:
            self._finish_stop(self._stop_reason)
            return
        if self.lifecycle.state is State.READY:  # closed before it opened (a calendar change)
            self._transition(State.STREAMING, "closed before the open", day=day.hours.day)
        self._transition(State.SESSION_ENDED, day=day.hours.day)
        self._checkpoint()
        self._next_day()

    # ------------------------------------------------------------------ restarts

    def _on_child_restarted(self, message: ChildRestarted) -> None:
        """A restarted QualityCalculator gets the day so far; a GapFiller its open gaps; a
        BarWriter the batches not yet written."""
        self._on_live_child_restarted(message.name)
        day = self._day
        if message.name != "quality_calculator" or day is None:
            return
        self._begin_quality()
        live = not isinstance(day, SessionDay)
        so_far = [
            bar
            for symbol in self._symbols
            for interval in self._intervals
            if live or interval != str(self._base)
            for bar in (self.data.session_bars(symbol, interval) or ())
        ]
        self._unscored, self._unscored_steps = so_far, 0
        self._score(self._scored_ts or day.now_ts, force=True)
        if self._closing == "ending":  # the close was asked of the old incarnation: ask again
            self._quality.tell(
                EndQualityDay(day.hours.day, self._scored_ts if self._ended_early else day.hours.close_ts)
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

    @property
    def _fast(self) -> bool:
        """Steps follow each other at once: a replay at speed 0, or one replaying silently."""
        return isinstance(self.pacing, DataDriven) or (
            self._silent_until is not None and not self.pacing.live
        )

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
        self.report = run_report(
            self.config, status, self._summaries, self._run_warnings, error, self._timings, self.speed
        )
        self._publish(RunCompleted(self.report))
        self._on_finished(self.report)
