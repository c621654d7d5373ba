"""What both session coordinators (backtest and live) share: the queries about the session data
they own (proxy calls of the embedding API: ``engine.snapshot(…)``, ``engine.session_bars(…)``
…), the historical load that opens a session day, lifecycle transitions and publishing, and the
day summary and run report they end with."""

from __future__ import annotations

from datetime import date
from typing import Any

import structlog

from actors.subscribers import EventBus
from actors.supervisor import EngineActor, Handle
from domain.bars import Bar
from domain.columns import BarColumns
from domain.history.series import HistoricalData
from domain.intervals import Interval
from domain.messages.commands import BeginQualityDay, DayBars, DayOpened, OpenDay, QualityScored
from domain.messages.events import (
    Event,
    GapDetected,
    GapFilled,
    HistoricalLoaded,
    LifecycleChanged,
    QualityUpdated,
    WarningRaised,
)
from domain.quality.gaps import Gap, GapStatus
from domain.session.data import SessionData, SymbolSnapshot
from domain.session.lifecycle import Lifecycle, LifecycleState

__all__ = ["CoordinatorBase"]

log = structlog.get_logger("marketsession.coordinator")


class CoordinatorBase(EngineActor):
    """Base of the coordinators; a subclass sets the attributes annotated here in ``__init__``."""

    data: SessionData
    lifecycle: Lifecycle
    _bus: EventBus
    _loader: Handle
    _quality: Handle
    _ask_timeout: float
    _historical_quality: bool
    _historical: HistoricalData | None
    _day: Any
    _symbols: tuple[str, ...]
    _intervals: tuple[str, ...]
    _session_quality: bool
    _gaps: dict[tuple[str, str], dict[int, Gap]]
    _run_warnings: list[str]
    _day_warnings: list[str]

    # ------------------------------------------------------------------ queries (proxy calls)

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        return self.data.snapshot(symbol)

    def session_bars(
        self, symbol: str, interval: str, start_ts: int | None = None, end_ts: int | None = None
    ) -> tuple[Bar, ...]:
        """Session bars of today in ``[start_ts, end_ts)`` (all by default), copied as values."""
        series = self.data.session_bars(symbol, str(Interval.parse(interval)))
        if series is None:
            return ()
        lo = -(2**62) if start_ts is None else start_ts
        hi = 2**62 if end_ts is None else end_ts
        return tuple(series.slice_by_time(lo, hi))

    def historical_bars(self, symbol: str, interval: str) -> tuple[Bar, ...]:
        series = self.data.historical(symbol, str(Interval.parse(interval)))
        return () if series is None else tuple(series)

    def quality(self, symbol: str, interval: str) -> float | None:
        return self.data.quality(symbol, str(Interval.parse(interval)))

    def gaps(self, symbol: str, interval: str) -> tuple[Gap, ...]:
        return self.data.gaps(symbol, str(Interval.parse(interval)))

    # ------------------------------------------------------------------ shared steps

    def _open_day(self, day: date, prefetch: tuple[date, ...] = ()) -> DayBars:
        """One ask to the loader: the day's history and indicators into the session data, and
        its stored base bars (the loader then reads ``prefetch`` days ahead)."""
        opened: DayOpened = self._loader.ask(OpenDay(day, prefetch), timeout=self._ask_timeout)
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

    def _begin_quality(self, columns: tuple[BarColumns, ...] = ()) -> None:
        """Tell the QualityCalculator the day (again, after it restarted): what it scores, the
        session columns a replay's steps index, and the history to score once."""
        assert self._day is not None
        self._quality.tell(
            BeginQualityDay(
                self._day.hours, self._symbols, self._intervals, self._session_quality, columns,
                self._historical, self._historical_quality,
            )
        )  # fmt: skip

    def _transition(self, to: LifecycleState, reason: str | None = None, *, day: date | None = None) -> None:
        change = self.lifecycle.transition(to, reason)
        log.info(
            "lifecycle", from_state=str(change.from_state), to_state=str(change.to_state),
            day=day.isoformat() if day else None,
        )  # fmt: skip
        self._publish(LifecycleChanged(change.from_state, change.to_state, reason, day))

    _silent_until: int | None = None
    """A restarted coordinator replaying the day it was in publishes nothing until its clock
    passes the last step published before the restart (subscribers get each event once)."""

    def _publish(self, event: Event) -> None:
        if self._silent_until is None:
            self._bus.publish(event)

    def _apply_scores(self, message: QualityScored) -> None:
        """Scores and gap changes of one :class:`QualityScored` into the session data, and their
        events: ``gap_filled``, ``gap_detected``, ``quality_updated``."""
        for score in message.scores:
            self.data.set_quality(score.symbol, score.interval, score.quality)
        touched: set[tuple[str, str]] = set()
        for gap in message.closed:
            key = (gap.symbol, gap.interval)
            self._gaps.setdefault(key, {}).pop(gap.start_ts, None)
            touched.add(key)
            if gap.status is GapStatus.FILLED:
                self._publish(GapFilled(message.day, gap))
        for gap in message.opened:
            key = (gap.symbol, gap.interval)
            self._gaps.setdefault(key, {})[gap.start_ts] = gap
            touched.add(key)
            self._publish(GapDetected(message.day, gap))
        for key in touched:
            self.data.set_gaps(key[0], key[1], sorted(self._gaps[key].values(), key=lambda g: g.start_ts))
        if message.scores:
            self._publish(QualityUpdated(message.day, message.now_ts, message.scores))

    def _warn(self, message: str, *, day: date | None = None, run: bool = False) -> None:
        """Record a warning of ``day`` (of the run when ``run`` or no day) and publish it."""
        (self._run_warnings if run or day is None else self._day_warnings).append(message)
        self._publish(WarningRaised(message, day))
