"""LiveSessionCoordinator: runs today's session on the provider's clock and stream (SPEC §5, §8).

It takes the ``session_coordinator`` place of the engine in live mode; the other actors are the
same. Per trading day:

1. **waiting** — before the day's pre-market open the coordinator sleeps on a timer (state
   ``created`` or ``session_ended``); after the close it plans the next trading day;
2. **loading** — hours from the TimeManager, historical data and indicators from the
   HistoricalLoader, historical quality; then the bars *already stored* for today (a restart
   resumes from the store: what was received before a crash is there);
3. **ready → streaming** — every provider delivery (:class:`~domain.messages.commands.LiveBars`, told
   from the provider's thread) is sorted by :class:`~domain.session.live_day.LiveDay`, **stored at once**
   (one small transaction per delivery; ``insert_missing``, or ``upsert`` for updated bars, so a
   replayed delivery changes nothing), appended to the session and published. A tick on the
   provider's clock (:class:`~actors.timer.Timer`, a fraction of a bar interval in wall time)
   moves the day: ``streaming`` at the open, derived bars as their windows complete, one
   :class:`~domain.messages.commands.ScoreStep` for what arrived since the last tick, scored up to
   ``now − grace`` so a bar a little late is not first a gap. Gap changes of the streamed
   interval go to the GapFiller; its fills come back as :class:`~domain.messages.commands.FillBars` and
   take the same path as streamed bars;
4. **session_ended** — at ``close + grace``: the last score, then the GapFiller drains the day
   (every gap filled or abandoned, bounded), then the QualityCalculator closes it and the
   :class:`~domain.report.DaySummary` is published. With ``keep_running`` the next trading day
   follows; otherwise the run completes.

Stop (SIGTERM) ends the day early with its summary: bars are stored as they arrive, so there is
nothing left to flush. A provider that fails for good (refused credentials) fails the run with
its cause.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from actors.bar_writer import BarsWritten, Flush, StoreDown, WriteBars
from actors.coordinator_base import CoordinatorBase
from actors.subscribers import EventBus
from actors.supervisor import Handle
from actors.time_manager import TimeManagerClient
from actors.timer import Timer
from domain.bars import Bar, bar_violation, datetime_to_ts
from domain.clock import Clock
from domain.config import SessionConfig
from domain.history.series import HistoricalData
from domain.intervals import MINUTE, Interval
from domain.messages.commands import (
    ChildRestarted,
    DayBars,
    DrainGaps,
    EndQualityDay,
    Fail,
    FillBars,
    GapAttempted,
    GapsDrained,
    LiveBars,
    MarkGap,
    Pause,
    ProviderOutage,
    ProviderStateChanged,
    QualityDayEnded,
    QualityScored,
    ReloadCalendar,
    Resume,
    RunCheckpoint,
    ScoreStep,
    StartRun,
    Stop,
    TrackGaps,
)
from domain.messages.events import (
    BarsAppended,
    DerivedBarsBuilt,
    GapAbandoned,
    ProviderConnection,
    RunCompleted,
    SessionEnded,
    SessionStarted,
)
from domain.providers import ConnectionState
from domain.quality.gaps import Gap, GapStatus
from domain.report import DaySummary, RunReport, RunStatus, run_report, summarise_day
from domain.session.data import SessionData
from domain.session.latency import LatencyStats
from domain.session.lifecycle import Lifecycle, LifecycleState
from domain.session.live_day import LiveDay
from domain.session.windows import DayHours

__all__ = ["GRACE_WALL_SECONDS", "LiveSessionCoordinator"]

log = structlog.get_logger("marketsession.live")

State = LifecycleState

GRACE_WALL_SECONDS = 0.25
"""How late (wall seconds) a bar may arrive after its end before its minute is scored missing;
at least :data:`GRACE_MIN_SECONDS` of session clock."""
GRACE_MIN_SECONDS = 15


def _valid(bar: Bar) -> bool:
    return bar_violation(bar.open, bar.high, bar.low, bar.close, bar.volume) is None


class _Tick:
    __slots__ = ("generation",)

    def __init__(self, generation: int) -> None:
        self.generation = generation


class _PlanDay:
    """Private: plan the next session day (at start, and after each close)."""

    __slots__ = ()


class _BeginDay:
    __slots__ = ("day", "plan")

    def __init__(self, day: date, plan: int) -> None:
        self.day = day
        self.plan = plan


class _DrainTimeout:
    __slots__ = ("day",)

    def __init__(self, day: date) -> None:
        self.day = day


class LiveSessionCoordinator(CoordinatorBase):
    actor_name = "session_coordinator"

    def __init__(
        self,
        config: SessionConfig,
        *,
        time_manager: TimeManagerClient,
        loader: Handle,
        quality: Handle,
        gap_filler: Handle | None,
        writer: Handle,
        bus: EventBus,
        timer: Timer,
        clock: Clock,
        clock_speed: float,
        on_finished: Callable[[RunReport], None],
        ask_timeout: float = 120.0,
        keep_running: bool = False,
        resume: RunCheckpoint | None = None,
        on_checkpoint: Callable[[RunCheckpoint], None] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self._tm = time_manager
        self._loader = loader
        self._quality = quality
        self._gap_filler = gap_filler
        self._writer = writer
        self._bus = bus
        self._timer = timer
        self._clock = clock
        self.speed = clock_speed
        self._on_finished = on_finished
        self._ask_timeout = ask_timeout
        self._keep_running = keep_running
        self._on_checkpoint = on_checkpoint
        base = config.base_interval
        self._base: Interval = base or MINUTE
        self._base_text = str(self._base)
        self._derived = config.derived_intervals if base is not None else []
        self._intervals = tuple(str(i) for i in sorted({*config.bar_intervals, self._base}))
        self._symbols = config.symbols
        data_cfg = config.session_data_config
        self._session_quality = data_cfg.gap_filler.enable_session_quality
        self._historical_quality = data_cfg.historical.enable_quality
        self._grace = max(GRACE_MIN_SECONDS, round(GRACE_WALL_SECONDS * clock_speed))
        self._tick_wall = min(1.0, max(0.02, self._base.seconds / clock_speed / 8))

        self.lifecycle = Lifecycle()
        self.data = SessionData(self._base)
        self._day: LiveDay | None = None
        self._planned: date | None = None
        self._opened: tuple[date, DayBars] | None = None  # a day opened to see whether it resumes
        self._plan = 0  # a re-plan voids the wake-up of the previous one
        self._historical: HistoricalData | None = None
        self._gaps: dict[tuple[str, str], dict[int, Gap]] = {}
        self._generation = 0
        self._step = 0
        self._pending: list[Bar] = []  # session bars not yet sent to be scored
        self._unstored: dict[int, tuple[tuple[Bar, ...], bool, bool]] = {}  # batches not yet written
        self._batch = 0
        self._store_down = False
        self._scored_ts = 0
        self._closing: str | None = None  # None, "scoring", "draining", "ending"
        self._ended_early = False
        self._stop_reason: str | None = None
        self._day_started = 0.0
        self._load_seconds = 0.0
        self._day_received = 0
        self._day_warnings: list[str] = []
        self._summaries: list[DaySummary] = list(resume.summaries) if resume else []
        self._run_warnings: list[str] = list(resume.run_warnings) if resume else []
        self._started = time.perf_counter()
        self._timezone = "UTC"
        self.provider_state = ConnectionState.DISCONNECTED.value
        self.provider_detail: str | None = None
        self.latency = LatencyStats()
        self.counters: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.report: RunReport | None = None

    # ------------------------------------------------------------------ message handling

    def on_receive(self, message: Any) -> Any:
        try:
            if isinstance(message, LiveBars):
                self._on_bars(message.bars, updated=message.updated, received=message.received)
            elif isinstance(message, _Tick):
                if message.generation == self._generation:
                    self._on_tick()
            elif isinstance(message, QualityScored):
                self._on_quality(message)
            elif isinstance(message, FillBars):
                self._on_fill(message)
            elif isinstance(message, GapAttempted):
                self._on_attempt(message)
            elif isinstance(message, GapsDrained):
                self._on_drained(message.day)
            elif isinstance(message, _DrainTimeout):
                if self._closing == "draining" and self._day and self._day.hours.day == message.day:
                    self._warn("gap filling did not finish by the drain deadline; closing the day")
                    self._on_drained(message.day)
            elif isinstance(message, QualityDayEnded):
                self._on_day_ended(message)
            elif isinstance(message, BarsWritten):
                self._on_written(message)
            elif isinstance(message, StoreDown):
                self._on_store_down(message)
            elif isinstance(message, ProviderStateChanged):
                self._on_provider_state(message)
            elif isinstance(message, ProviderOutage):
                self.counters["outages"] += 1
                self._warn(
                    f"provider stream down {self._hhmm(message.start_ts)}–{self._hhmm(message.end_ts)}"
                )
            elif isinstance(message, _PlanDay):
                self._plan_day()
            elif isinstance(message, _BeginDay):
                if message.plan == self._plan:
                    self._begin_day(message.day)
            elif isinstance(message, ReloadCalendar):
                return self._on_reload_calendar()
            elif isinstance(message, StartRun):
                self._on_start_run()
            elif isinstance(message, ChildRestarted):
                self._on_child_restarted(message)
            elif isinstance(message, Stop):
                self._on_stop(message.reason)
            elif isinstance(message, Fail):
                self._fail(RuntimeError(message.reason))
            elif isinstance(message, Pause | Resume):
                self._warn("pause and resume do not apply to a live session (the market does not wait)")
            else:
                raise TypeError(f"LiveSessionCoordinator does not handle {type(message).__name__}")
        except Exception as error:
            self._fail(error)
        return None

    # ------------------------------------------------------------------ queries

    def state(self) -> str:
        return str(self.lifecycle.state)

    def progress(self) -> dict[str, Any]:
        day = self._day
        return {
            "state": str(self.lifecycle.state),
            "days_done": len(self._summaries),
            "day": None if day is None else day.hours.day.isoformat(),
            "now_ts": self._now(),
            "bars_streamed": self.counters["appended"],
            "bars_derived": self.counters["derived"],
            "steps": self._step,
        }

    def live_status(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the session (``/status``, ``/metrics``)."""
        day = self._day
        now = self._now()
        symbols: dict[str, Any] = {}
        for symbol in self._symbols:
            newest = day.newest_ts.get(symbol) if day is not None else None
            symbols[symbol] = {
                "quality": {i: self.data.quality(symbol, i) for i in self._intervals},
                "bars": {
                    i: (0 if (s := self.data.session_bars(symbol, i)) is None else len(s))
                    for i in self._intervals
                },
                "open_gaps": len(self._gaps.get((symbol, self._base_text), {})),
                "newest_bar_ts": newest,
                "lag_seconds": None if newest is None else max(0, now - (newest + self._base.seconds)),
            }
        return {
            "session": self.config.session_name,
            "state": str(self.lifecycle.state),
            "day": None if day is None else day.hours.day.isoformat(),
            "open_ts": None if day is None else day.hours.open_ts,
            "close_ts": None if day is None else day.hours.close_ts,
            "now_ts": now,
            "clock_speed": self.speed,
            "loaded": day is not None,
            "provider": {"state": self.provider_state, "detail": self.provider_detail},
            "counters": dict(self.counters),
            "refused": dict(self.refused),
            "latency": {
                "count": self.latency.count,
                "sum": self.latency.total,
                "p50": self.latency.quantile(0.5),
                "p99": self.latency.quantile(0.99),
                "buckets": self.latency.cumulative(),
            },
            "symbols": symbols,
            "days_done": [s.day.isoformat() for s in self._summaries],
            "warnings": (self._run_warnings + self._day_warnings)[-20:],
        }

    # ------------------------------------------------------------------ planning and loading

    def _now(self) -> int:
        return datetime_to_ts(self._clock.now())

    def _on_start_run(self) -> None:
        if self.lifecycle.state is not State.CREATED:
            return
        self._timezone = self._tm.timezone_name()
        if self.config.base_interval is None:
            raise ValueError("a live session streams bars: session_data_config.streams has no bar interval")
        if self.config.wants_quotes:
            self._warn(
                "quotes: requested in streams, but no provider adapter streams quotes yet; not streamed"
            )
        if self.config.wants_ticks:
            self._warn("ticks: requested in streams, but no provider adapter streams ticks yet; not streamed")
        self._plan_day()

    def _plan_day(self) -> None:
        """The next session day to run: today if its close (plus grace) is still ahead, else the
        next trading day; start loading at its pre-market open (now if that has passed)."""
        if self.lifecycle.is_terminal:
            return
        now = self._now()
        local = self._clock.now().astimezone(self._tm_timezone()).date()
        day = self._tm.get_first_trading_date(local)
        hours = DayHours.from_session(self._tm.get_trading_session(day))
        done = day in {s.day for s in self._summaries}
        if not done and now >= hours.close_ts + self._grace and self._resumable(day):
            self._begin_day(day)  # a restart after the close: fill what was missed, close the day
            return
        if done or now >= hours.close_ts + self._grace:
            day = self._tm.get_next_trading_date(max(day, local))
            hours = DayHours.from_session(self._tm.get_trading_session(day))
        self._planned = day
        self._plan += 1
        wait = (hours.read_start_ts - now) / self.speed
        if wait > 0:
            log.info("waiting_for_session", day=day.isoformat(), wall_seconds=round(wait, 3))
            self._timer.send_after(wait, self.actor_ref, _BeginDay(day, self._plan))
        else:
            self._begin_day(day)

    def _resumable(self, day: date) -> bool:
        """Whether a session of ``day`` that has closed was running before this start: its bars
        are in the store, and it has no summary yet (a service restarted after the close)."""
        if self.lifecycle.state is not State.CREATED:
            return False
        self._opened = (day, self._open_day(day))
        return any(len(cols) for cols in self._opened[1].columns)

    def _tm_timezone(self) -> ZoneInfo:
        return ZoneInfo(self._timezone)

    def _begin_day(self, day: date) -> None:
        if self.lifecycle.is_terminal or self._day is not None:
            return
        self._day_started = time.perf_counter()
        self._day_warnings = []
        self._transition(State.LOADING, day=day)
        opened, self._opened = self._opened, None
        stored = opened[1] if opened is not None and opened[0] == day else self._open_day(day)
        hours = stored.hours
        live_day = LiveDay(hours, self._base, self._derived, self._symbols)
        self._day = live_day
        self._gaps = {}
        self._pending = []
        self._scored_ts = 0
        self._day_received = 0
        self._begin_quality()
        resumed = [bar for cols in stored.columns for bar in cols.bars()]
        if resumed:  # a restart: what was received before is in the store
            admitted = live_day.admit(resumed)
            self._append(admitted.session)
            self.counters["resumed"] += len(admitted.session)
            log.info("resumed_from_store", day=day.isoformat(), bars=len(admitted.session))
        self._load_seconds = time.perf_counter() - self._day_started
        self._transition(State.READY, day=day)
        self._generation += 1
        self._on_tick()

    def _on_reload_calendar(self) -> str:
        """Re-read the calendar (the TimeManager's cache is already cleared): a closure of the
        running day ends it; a waiting service re-plans its next day."""
        day = self._day
        if self.lifecycle.is_terminal:
            return "the run has ended: nothing to re-plan"
        if day is None:
            self._plan_day()
            return f"next session: {self._planned.isoformat() if self._planned else 'none'}"
        name = day.hours.day
        session = self._tm.get_trading_session(name)
        if session is None or not session.is_trading_day:
            why = getattr(session, "holiday_name", None) or "closed"
            self._warn(f"{name.isoformat()} is now closed in the calendar ({why}): the session ends now")
            if self._closing is None:
                self._ended_early = True
                self._score(min(self._now() - self._grace, day.hours.close_ts))
                self._close_quality()
            return f"{name.isoformat()} closed: session ended"
        hours = DayHours.from_session(session)
        if hours != day.hours:
            old, new = self._hhmm(day.hours.close_ts), self._hhmm(hours.close_ts)
            self._warn(
                f"{name.isoformat()}: the calendar changed today's hours (close {old} → {new}); "
                "the running session keeps its hours"
            )
            return "today's hours changed: applies from the next session"
        return f"no change to {name.isoformat()}"

    # ------------------------------------------------------------------ streaming

    def _on_bars(self, bars: Sequence[Bar], *, updated: bool, received: float) -> None:
        day = self._day
        self.counters["received"] += len(bars)
        if day is None:  # between sessions: stored, and read back when the next day loads
            valid = [
                b for b in bars if b.symbol in self._symbols and b.interval == self._base_text and _valid(b)
            ]
            if valid:
                self._persist(valid, updated=updated)
            if len(valid) < len(bars):
                self.counters["dropped"] += len(bars) - len(valid)
                self.refused["invalid or unsubscribed between sessions"] += len(bars) - len(valid)
            return
        before = Counter(day.refused)
        admitted = day.admit(bars, updated=updated)
        if admitted.stored:
            self._persist(admitted.stored, updated=updated)
        if admitted.refused:
            self.refused.update(day.refused - before)
            self.counters["dropped"] += admitted.refused
        if updated:
            self.counters["updated"] += len(admitted.session)
        else:
            self._day_received += len(admitted.session)
        self._append(admitted.session, received=received)

    def _persist(self, bars: Sequence[Bar], *, updated: bool, filled: bool = False) -> None:
        """Hand ``bars`` to the :class:`~actors.bar_writer.BarWriter` (``upsert`` for updated
        bars, else ``insert_missing``: a bar delivered twice changes nothing). They are kept here
        until the writer answers, and handed again to a restarted writer; during a store outage
        the writer keeps and retries them while the session goes on."""
        self._batch += 1
        self._unstored[self._batch] = (tuple(bars), updated, filled)
        self._writer.tell(WriteBars(self._batch, tuple(bars), updated))

    def _on_written(self, message: BarsWritten) -> None:
        for batch in message.batches:
            entry = self._unstored.pop(batch, None)
            if entry is not None and not entry[2]:
                self.counters["stored"] += len(entry[0])
        self._store_down = False

    def _on_store_down(self, message: StoreDown) -> None:
        self.counters["store_errors"] += 1
        if not self._store_down:
            self._store_down = True
            self._warn(
                f"the store is unavailable ({message.error}); bars are kept and written when it is back"
            )

    def _append(self, bars: Sequence[Bar], *, received: float | None = None) -> None:
        if not bars:
            return
        day = self._day
        assert day is not None
        self.data.append_session_bars(bars)
        self.counters["appended"] += len(bars)
        self._pending.extend(bars)
        self._step += 1
        self._publish(BarsAppended(day.hours.day, self._step, self._now(), tuple(bars)))
        if received is not None:
            self.latency.record(time.monotonic() - received, len(bars))

    def _on_tick(self) -> None:
        day = self._day
        if day is None or self.lifecycle.is_terminal:
            return
        now = self._now()
        hours = day.hours
        if self.lifecycle.state is State.READY and now >= hours.open_ts:
            self._transition(State.STREAMING, day=hours.day)
            self._publish(SessionStarted(hours.day, hours, self._symbols))
        derived = day.advance(now)
        if derived:
            self.data.append_session_bars(derived)
            self.counters["derived"] += len(derived)
            self._pending.extend(derived)
            self._publish(DerivedBarsBuilt(hours.day, self._step, now, tuple(derived)))
        if self.supervision is not None and self.supervision.faults is not None:
            self.supervision.faults.clock(now)
        if self._closing is None:
            if now >= hours.close_ts + self._grace and self.lifecycle.state is State.STREAMING:
                self._closing = "scoring"  # drained once this score up to the close is answered
                self._score(hours.close_ts, force=True)
            else:
                self._score(min(now - self._grace, hours.close_ts))
        self._timer.send_after(self._tick_wall, self.actor_ref, _Tick(self._generation))

    def _score(self, score_ts: int, *, force: bool = False) -> None:
        if not force and not self._pending and score_ts <= self._scored_ts:
            return
        day = self._day
        assert day is not None
        base = tuple(b for b in self._pending if b.interval == self._base_text)
        derived = tuple(b for b in self._pending if b.interval != self._base_text)
        self._pending = []
        self._scored_ts = max(self._scored_ts, score_ts)
        self._quality.tell(ScoreStep(day.hours.day, self._scored_ts, base, derived))

    def _on_quality(self, message: QualityScored) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return
        self._apply_scores(message)
        self.counters["gaps_filled"] += sum(
            g.status is GapStatus.FILLED and g.interval == self._base_text for g in message.closed
        )
        if self._gap_filler is not None and (message.opened or message.closed):
            base = self._base_text
            opened = tuple(g for g in message.opened if g.interval == base)
            closed = tuple(g for g in message.closed if g.interval == base)
            if opened or closed:
                self._gap_filler.tell(TrackGaps(message.day, message.now_ts, opened, closed))
        if self._closing == "scoring" and message.now_ts >= day.hours.close_ts:
            self._drain()

    def _on_fill(self, message: FillBars) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return
        before = day.session_count
        admitted = day.admit(message.bars)
        if admitted.stored:
            self._persist(admitted.stored, updated=False, filled=True)
        self.counters["filled_bars"] += day.session_count - before
        self._append(admitted.session)
        derived = day.advance(self._now())
        if derived:
            self.data.append_session_bars(derived)
            self.counters["derived"] += len(derived)
            self._pending.extend(derived)
        self._score(self._scored_ts)

    def _on_attempt(self, message: GapAttempted) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return
        gap = message.gap
        self.counters["gap_fetches"] += gap.status is not GapStatus.ABANDONED
        if message.error:
            self.counters["gap_fetch_errors"] += 1
        self._quality.tell(MarkGap(message.day, gap))
        key = (gap.symbol, gap.interval)
        known = self._gaps.get(key, {})
        if gap.start_ts in known:
            known[gap.start_ts] = gap
            self.data.set_gaps(key[0], key[1], sorted(known.values(), key=lambda g: g.start_ts))
        if gap.status is GapStatus.ABANDONED:
            self.counters["gaps_abandoned"] += 1
            self._publish(GapAbandoned(message.day, gap))
            self._warn(
                f"{gap.symbol} {gap.interval}: gap {self._hhmm(gap.start_ts)}–{self._hhmm(gap.end_ts)} "
                f"abandoned after {gap.retry_count} fetches",
                day=message.day,
            )

    def _on_provider_state(self, message: ProviderStateChanged) -> None:
        self.provider_state, self.provider_detail = message.state, message.detail
        if message.state == ConnectionState.RECONNECTING:
            self.counters["reconnects"] += 1
        self._publish(ProviderConnection(message.state, message.detail))
        if message.state == ConnectionState.FAILED:
            raise RuntimeError(f"the market-data provider failed: {message.detail or 'no detail'}")

    # ------------------------------------------------------------------ closing the day

    def _drain(self) -> None:
        day = self._day
        assert day is not None
        if self._gap_filler is None or self._ended_early:
            self._close_quality()
            return
        self._closing = "draining"
        self._gap_filler.tell(DrainGaps(day.hours.day))
        gf = self.config.session_data_config.gap_filler
        bound = (gf.max_retries + 1) * gf.retry_interval_seconds / self.speed + self._ask_timeout
        self._timer.send_after(bound, self.actor_ref, _DrainTimeout(day.hours.day))

    def _on_drained(self, day_name: date) -> None:
        day = self._day
        if day is None or self._closing != "draining" or day.hours.day != day_name:
            return
        self._close_quality()

    def _close_quality(self) -> None:
        day = self._day
        assert day is not None
        self._closing = "ending"
        close = self._scored_ts if self._ended_early else day.hours.close_ts
        self._score(close)  # bars that arrived while draining
        self._quality.tell(EndQualityDay(day.hours.day, close))

    def _on_day_ended(self, message: QualityDayEnded) -> None:
        day = self._day
        if day is None or self._closing != "ending" or message.day != day.hours.day:
            return
        results = {(r.score.symbol, r.score.interval): r for r in message.results}
        for (symbol, interval), result in results.items():
            self.data.set_quality(symbol, interval, result.score.quality)
            self.data.set_gaps(symbol, interval, result.gaps)
        summary = summarise_day(
            hours=day.hours,
            timezone=self._timezone,
            symbols=self._symbols,
            intervals=self._intervals,
            data=self.data,
            historical=self._historical,
            historical_quality=message.historical,
            results=results,
            bars_streamed=self._day_received,
            bars_derived=sum(
                len(s) for sym in self._symbols for i in self._intervals if i != self._base_text
                if (s := self.data.session_bars(sym, i)) is not None
            ),
            refused=dict(day.refused),
            warnings=tuple(self._day_warnings),
            timings={
                "load_seconds": round(self._load_seconds, 6),
                "session_seconds": round(time.perf_counter() - self._day_started, 6),
            },
            early=self._ended_early,
        )  # fmt: skip
        self._summaries.append(summary)
        self._publish(SessionEnded(day.hours.day, summary))
        self._generation += 1
        self._closing = None
        self._day = None
        self._gaps = {}
        self.data.clear_session()
        if self._stop_reason is not None:
            self._finish_stop(self._stop_reason)
            return
        if self.lifecycle.state is State.READY:  # closed before it opened (a calendar change)
            self._transition(State.STREAMING, "closed before the open", day=day.hours.day)
        self._transition(State.SESSION_ENDED, day=day.hours.day)
        if self._on_checkpoint is not None:
            self._on_checkpoint(
                RunCheckpoint(0, tuple(self._summaries), tuple(self._run_warnings), self._step, 0, 0, 0)
            )
        if self._keep_running:
            self.actor_ref.tell(_PlanDay())
        else:
            self._transition(State.COMPLETED)
            self._finish("completed")

    # ------------------------------------------------------------------ restarts, stop, failure

    def _on_child_restarted(self, message: ChildRestarted) -> None:
        day = self._day
        if day is None and message.name != "bar_writer":
            return
        if message.name == "quality_calculator" and day is not None:  # hand the new one the day so far
            self._begin_quality()
            so_far = [
                bar
                for symbol in self._symbols
                for interval in self._intervals
                for bar in (self.data.session_bars(symbol, interval) or ())
            ]
            self._pending = []
            self._quality.tell(ScoreStep(day.hours.day, self._scored_ts, tuple(so_far)))
            if self._closing == "ending":
                close = self._scored_ts if self._ended_early else day.hours.close_ts
                self._quality.tell(EndQualityDay(day.hours.day, close))
        elif message.name == "bar_writer":  # hand the new one every batch not yet written
            for batch, (bars, updated, _) in self._unstored.items():
                self._writer.tell(WriteBars(batch, bars, updated))
        elif message.name == "gap_filler" and self._gap_filler is not None and day is not None:
            opened = tuple(
                gap for (_, interval), gaps in self._gaps.items() if interval == self._base_text
                for gap in gaps.values()
            )  # fmt: skip
            self._gap_filler.tell(TrackGaps(day.hours.day, self._now(), opened, ()))
            if self._closing == "draining":
                self._gap_filler.tell(DrainGaps(day.hours.day))

    def _on_stop(self, reason: str) -> None:
        if self.lifecycle.is_terminal or self._stop_reason is not None:
            return
        self._stop_reason = reason
        day = self._day
        if day is None:
            self._finish_stop(reason)
            return
        if self._closing is None or self._closing in ("scoring", "draining"):
            self._ended_early = self._closing is None
            self._score(min(self._now() - self._grace, day.hours.close_ts))
            self._close_quality()

    def _finish_stop(self, reason: str) -> None:
        self._generation += 1
        self._transition(State.STOPPING, reason)
        self._transition(State.STOPPED, reason)
        self._finish("stopped")

    def _fail(self, error: BaseException) -> None:
        cause = f"{type(error).__name__}: {error}"
        log.error("live_run_failed", error=cause, state=str(self.lifecycle.state))
        if self.lifecycle.is_terminal:
            return
        self._generation += 1
        self._day = None
        self._transition(State.FAILED, cause)
        self._finish("failed", cause)

    # ------------------------------------------------------------------ helpers

    def _hhmm(self, ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).astimezone(self._tm_timezone()).strftime("%H:%M")

    def _warn(self, message: str, *, day: date | None = None, run: bool = False) -> None:
        """A live warning is today's unless said otherwise, and is logged (the service's log)."""
        if day is None and not run and self._day is not None:
            day = self._day.hours.day
        log.warning("session_warning", message=message)
        super()._warn(message, day=day, run=run)

    def _finish(self, status: RunStatus, error: str | None = None) -> None:
        if self._unstored:  # one last try; what the store still refuses is lost
            try:
                left = set(self._writer.ask(Flush(), timeout=self._ask_timeout))
            except Exception:  # the writer is gone: nothing more gets written
                left = set(self._unstored)
            lost = sum(len(bars) for batch, (bars, _, _) in self._unstored.items() if batch in left)
            if lost:
                self._warn(f"{lost} received bar(s) could not be stored: the store stayed unavailable")
        total = time.perf_counter() - self._started
        timings = {"total_seconds": round(total, 6), "latency_p50": self.latency.quantile(0.5),
                   "latency_p99": self.latency.quantile(0.99)}  # fmt: skip
        self.report = run_report(
            self.config, status, self._summaries, self._run_warnings, error, timings, self.speed
        )
        self._publish(RunCompleted(self.report))
        self._on_finished(self.report)
