"""Opening and closing a session day (SPEC §5), part of the
:class:`~actors.session_coordinator.SessionCoordinator`.

- **Opening**: one :class:`~domain.messages.commands.OpenDay` ask to the HistoricalLoader —
  history and indicators into the session data, and the day's stored bars (a replay's bars; in
  a live session what was received before a restart) — then the day's source and
  :class:`~domain.messages.commands.BeginQualityDay`; streaming starts at the regular open.
- **Closing**: at the close (live: close + grace) the day is scored up to the close; a live day
  waits (bounded) for the GapFiller to drain it; :class:`~domain.messages.commands.EndQualityDay`
  is answered by :class:`~domain.messages.commands.QualityDayEnded` after every earlier score,
  so the day's quality events are all out before ``SessionEnded`` carries its summary. Then a
  checkpoint, and the next day or the end of the run.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from domain.bars import Bar
from domain.calendar.model import SessionType
from domain.calendar.trading_days import prefetch_plan
from domain.columns import BarColumns
from domain.history.series import HistoricalData
from domain.messages.commands import (
    BeginQualityDay,
    DayEndTimeout,
    DayOpened,
    EndQualityDay,
    OpenDay,
    QualityDayEnded,
    RunCheckpoint,
)
from domain.messages.events import HistoricalLoaded, SessionEnded, SessionStarted
from domain.quality.book import IntervalQuality
from domain.report import DaySummaries, summarise_day
from domain.session.lifecycle import LifecycleState
from domain.session.live_day import LiveDay
from domain.session.replay_day import SessionDay

__all__ = ["DayCycle"]

State = LifecycleState


class DayCycle:
    """The coordinator's day phases (a mixin: it works on the coordinator's state)."""

    _day: Any
    _session_started = False
    _historical: HistoricalData | None
    _closing: str | None
    _day_warnings: list[str]
    _unscored: list[Bar]

    def _next_day(self: Any) -> None:
        """The next session day: a backtest's next day of its window, a live session's next
        trading day (when it keeps running); otherwise the run is complete."""
        if self.pacing.live:
            if self._keep_running:
                self._plan_live_day()
                return
        else:
            done = set(self._summaries.dates)
            left = [d for d in self._days if d not in done]
            if left:
                self._plan += 1
                self._begin_day(left[0])
                return
        self._complete()

    def _complete(self: Any) -> None:
        """The run is complete (a backtest's last day closed, a live day its provider's last)."""
        if self.lifecycle.state is State.CREATED:  # nothing to run, or resumed after the last day
            for state in (State.LOADING, State.READY, State.STREAMING, State.SESSION_ENDED):
                self._transition(state)
        self._transition(State.COMPLETED)
        self._finish("completed")

    def _checkpoint(self: Any) -> None:
        """Hand the supervisor where the run stands (a restart resumes from here)."""
        if self._on_checkpoint is not None:
            self._on_checkpoint(
                RunCheckpoint(
                    summaries=self._summaries.snapshot(), run_warnings=tuple(self._run_warnings),
                    steps=self._step, bars_streamed=self._bars_streamed, bars_derived=self._bars_derived,
                    ack_timeouts=self._ack_timeouts,
                    day_timings=tuple((d, tuple(t.items())) for d, t in self._timings["days"].items()),
                    started=self._started,
                )
            )  # fmt: skip

    def _restore(self: Any, checkpoint: RunCheckpoint) -> None:
        self._summaries = DaySummaries.resume(checkpoint.summaries)
        self._run_warnings = list(checkpoint.run_warnings)
        self._step = checkpoint.steps
        self._bars_streamed, self._bars_derived = checkpoint.bars_streamed, checkpoint.bars_derived
        self._ack_timeouts = checkpoint.ack_timeouts
        self._timings["days"] = {day: dict(items) for day, items in checkpoint.day_timings}
        self._started = checkpoint.started or self._started

    # ------------------------------------------------------------------ opening a day

    def _begin_day(self: Any, day: date) -> None:
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
        self._unscored, self._unscored_steps, self._scored_ts = [], 0, 0
        self._day_streamed = 0
        self._day_quotes_filled = 0
        self._scoring = False
        if self.pacing.live:  # a live day resumes from the store what was received before
            self._day = LiveDay(
                stored.hours, self._base, self._derived, self._symbols, extended=self._extended
            )
            self._begin_quality()
            self._watchdog.begin_day(stored.hours.open_ts, stored.hours.close_ts)
            self._resume_from_store(stored)  # published before the restart: not again
            started = self._silent_until is not None and self._silent_until >= self._day.start_ts
            self._session_started = started
            self._silent_until = None  # what arrives from now on is news
        else:  # a replay day holds the stored bars, released by the clock
            replay = self._day = SessionDay(
                stored.hours,
                self._base,
                self._derived,
                self._symbols,
                stored.columns,
                extended=self._extended,
                quotes=stored.quotes,
            )
            self._warn_missing(replay)
            if self.config.wants_quotes and not replay.quote_count:
                self._warn(f"quotes: none stored for {day.isoformat()}; the day streams bars only", day=day)
            self._begin_quality()
            self._horizons = self.data.attach_day(replay.all_columns, replay.released)
            self._quote_horizon = self.data.attach_quotes(replay.quote_columns, replay.quotes_until)
            self._released = 0
        self._load_seconds = time.perf_counter() - self._day_started
        self._transition(State.READY, day=day)
        self._generation += 1
        if not self.pacing.live:
            self._open_session()
            self.pacing.start(self._day.start_ts)
            if self._pause_requested:
                self._on_pause()
                return
        self._schedule_next()

    def _open_day(self: Any, day: date, prefetch: tuple[date, ...]) -> Any:
        """One ask to the loader: the day's history and indicators into the session data, and
        its stored base bars (the loader then reads ``prefetch`` days ahead)."""
        opened: DayOpened = self._take_opened(day) or self._loader.ask(
            OpenDay(day, prefetch), timeout=self._ask_timeout
        )
        historical = self._historical = opened.historical
        bars = 0
        for (symbol, interval), series in historical.series.items():
            bars += self.data.set_historical(symbol, interval, series.columns, series.days)
        for symbol, results in historical.indicators.items():
            self.data.set_indicators(symbol, results)
        for message in historical.warnings:
            self._warn(message, day=day)
        self._publish(HistoricalLoaded(day, bars, len(historical.series)))
        return opened.bars

    def _warn_missing(self: Any, day: SessionDay) -> None:
        if self.config.base_interval is None:
            return
        present = {cols.symbol for cols in day.columns if len(cols)}
        for symbol in self._symbols:
            if symbol not in present:
                self._warn(
                    f"{symbol} {self._base}: no bars stored for {day.hours.day.isoformat()}; quality 0 %",
                    day=day.hours.day,
                )

    def _begin_quality(self: Any) -> None:
        """Tell the QualityCalculator the day (again, after it restarted): what it scores, the
        columns a replay's steps index, and the history to score once."""
        day = self._day
        columns: tuple[BarColumns, ...] = day.all_columns if isinstance(day, SessionDay) else ()
        self._quality.tell(
            BeginQualityDay(
                day.hours, self._symbols, self._intervals, self._session_quality, columns,
                self._historical, self._historical_quality, str(self._base) if self._extended else None,
            )
        )  # fmt: skip

    def _open_session(self: Any) -> None:
        """The regular open (extended hours: the pre-market open): streaming starts."""
        hours = self._day.hours
        self._transition(State.STREAMING, day=hours.day)
        if not self._session_started:  # a restarted live coordinator: it was published already
            self._publish(SessionStarted(hours.day, hours, self._symbols))
        self._session_started = False
        if self._on_published is not None:
            self._on_published(hours.day, self._day.start_ts)

    # ------------------------------------------------------------------ closing the day

    def _end_day(self: Any, *, early: bool = False) -> None:
        """Close the day: score up to the close (or now, if it ended early); a live day then
        drains its gaps; the QualityCalculator's :class:`QualityDayEnded` ends it."""
        day = self._day
        self._closing, self._ended_early, self._silent_until = "scoring", early, None
        self._generation += 1
        self._awaiting.clear()
        now = self.pacing.now_ts() if self.pacing.live else day.now_ts
        close = self.pacing.score_until(now, day.end_ts) if early else day.end_ts
        self._score(close, force=True)
        if early or self._gap_filler is None:  # no GapFiller to drain the day
            self._close_quality()

    def _close_quality(self: Any) -> None:
        day = self._day
        self._closing = "ending"
        close = self._scored_ts if self._ended_early else day.end_ts
        self._score(close)  # bars that arrived while draining
        self._quality.tell(EndQualityDay(day.hours.day, close))
        self._timer.send_after(self._ask_timeout, self.actor_ref, DayEndTimeout(day.hours.day))

    def _on_day_ended(self: Any, message: QualityDayEnded) -> None:
        day = self._day
        if day is None or self._closing != "ending" or message.day != day.hours.day:
            return
        results = {
            (r.score.symbol, r.score.interval): r
            for r in message.results
            if r.score.session is SessionType.REGULAR
        }
        extended: dict[tuple[str, str, SessionType], IntervalQuality] = {
            (r.score.symbol, r.score.interval, r.score.session): r
            for r in message.results
            if r.score.session is not SessionType.REGULAR
        }
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
            early=self._ended_early, alignment=day.alignment(), segments=day.grid.segments, extended=extended,
            quotes_streamed=day.quotes_released() if isinstance(day, SessionDay) else self.data.quote_rows(),
            quotes_filled=self._day_quotes_filled,
            quote_rules=self.config.session_data_config.quotes if self.config.wants_quotes else None,
            scored_until=self._scored_ts if self._ended_early else day.end_ts,
        )  # fmt: skip
        self._summaries.append(summary)
        if self.pacing.live:
            self._day_stored()
        self._timings["days"][day.hours.day.isoformat()] = dict(summary.timings)
        self._publish(SessionEnded(day.hours.day, summary))
        self._generation += 1
        self._closing, self._day = None, None
        self.data.clear_session()
        if self._stop_reason is not None:
            self._finish_stop(self._stop_reason)
            return
        if self.lifecycle.state is State.READY:  # closed before it opened (a calendar change)
            self._transition(State.STREAMING, "closed before the open", day=day.hours.day)
        self._transition(State.SESSION_ENDED, day=day.hours.day)
        self._checkpoint()
        self._next_day()
