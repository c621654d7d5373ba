"""QualityCalculator: event-driven session quality and gaps, and historical quality (SPEC §7).

State of the day lives in a :class:`~domain.quality.book.QualityBook`. Per clock step the
coordinator tells :class:`~domain.messages.commands.ScoreStep` (base and derived bars of the step); the
calculator answers with one :class:`~domain.messages.commands.QualityScored` told back — the scores that
changed and the gaps opened, grown or filled. :class:`~domain.messages.commands.EndQualityDay` (tell) is
answered by :class:`~domain.messages.commands.QualityDayEnded` with every symbol and interval's final
score and gaps — after the replies to every earlier step, so the coordinator sees them in order;
The day's historical series, handed over with :class:`~domain.messages.commands.BeginQualityDay`,
are scored at once; their quality comes back with the day's end.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from actors.handle import Handle
from actors.supervisor import EngineActor
from domain.columns import BarColumns
from domain.history.series import HistoricalData, series_quality
from domain.intervals import Interval
from domain.messages.commands import (
    BeginQualityDay,
    EndQualityDay,
    MarkGap,
    QualityDayEnded,
    QualityScored,
    ScoreStep,
    TrackGaps,
)
from domain.quality.book import IntervalQuality, QualityBook

__all__ = ["AttachCoordinator", "AttachGapFiller", "QualityCalculator"]


@dataclass(frozen=True)
class AttachCoordinator:
    """Wiring: where :class:`QualityScored` replies go (the coordinator's handle, so replies
    follow it across restarts and are dropped, not raised, while it is down)."""

    ref: Handle


@dataclass(frozen=True)
class AttachGapFiller:
    """Wiring (live): the GapFiller that fetches the gaps of ``interval`` (the streamed one). It is
    told every change of those gaps (:class:`TrackGaps`), and all open ones when attached."""

    ref: Handle
    interval: str


class QualityCalculator(EngineActor):
    actor_name = "quality_calculator"

    def __init__(self) -> None:
        super().__init__()
        self._coordinator: Handle | None = None
        self._gap_filler: AttachGapFiller | None = None
        self._book: QualityBook | None = None
        self._columns: tuple[BarColumns, ...] = ()
        self._cursors: list[int] = []  # per symbol: columns positions scored so far
        self._historical_quality: dict[tuple[str, str], float | None] = {}

    def on_receive(self, message: Any) -> Any:
        match message:
            case ScoreStep():
                self._score(message)
            case BeginQualityDay():
                self._begin(message)
            case EndQualityDay():
                self._end_day(message)
            case MarkGap(day=day, gap=gap):  # the GapFiller's fetch of a gap, or giving it up
                if self._book is not None and self._book.hours.day == day:
                    self._book.mark(gap)
            case AttachCoordinator(ref=ref):
                self._coordinator = ref
            case AttachGapFiller():
                self._gap_filler = message
                self._track_open_gaps()
            case _:
                raise TypeError(f"QualityCalculator does not handle {type(message).__name__}")
        return None

    def _begin(self, message: BeginQualityDay) -> None:
        intervals = [Interval.parse(i) for i in message.intervals]
        extended = None if message.extended is None else Interval.parse(message.extended)
        self._book = QualityBook(
            message.hours, message.symbols, intervals, enabled=message.enabled, extended=extended
        )
        self._columns = message.columns
        self._cursors = [0] * len(message.columns)
        history, enabled = message.historical, message.historical_enabled
        self._historical_quality = {} if history is None else self._historical(history, enabled)

    def _track_open_gaps(self) -> None:
        """Hand the GapFiller every open gap it fetches (it was just attached, or restarted)."""
        book, filler = self._book, self._gap_filler
        if book is not None and filler is not None:
            filler.ref.tell(TrackGaps(book.hours.day, 0, book.open_gaps(filler.interval), ()))

    def _score(self, message: ScoreStep) -> None:
        book = self._book
        if book is None or book.hours.day != message.day:  # not (or no longer) being scored
            if self._coordinator is not None:
                self._coordinator.tell(QualityScored(message.day, message.now_ts, ()))
            return
        bars = message.bars + message.derived if message.derived else message.bars
        stamps = []
        if message.released is not None:
            cursors, released = self._cursors, message.released
            for i, cols in enumerate(self._columns):
                stop = bisect_left(cols.ts, released[cols.interval], cursors[i])
                if stop > cursors[i]:
                    stamps.append((cols.symbol, cols.interval, cols.ts[cursors[i] : stop]))
                    cursors[i] = stop
        scores, changes = book.score(message.now_ts, bars, stamps)
        filler = self._gap_filler
        if filler is not None and changes:  # the gaps it fetches, straight to the GapFiller
            opened = tuple(g for g in changes.opened if g.interval == filler.interval)
            closed = tuple(g for g in changes.closed if g.interval == filler.interval)
            if opened or closed:
                filler.ref.tell(TrackGaps(message.day, message.now_ts, opened, closed))
        if self._coordinator is not None:  # always answered: a speed-0 replay paces itself on it
            self._coordinator.tell(
                QualityScored(message.day, message.now_ts, scores, changes.opened, changes.closed)
            )

    def _end_day(self, message: EndQualityDay) -> None:
        book = self._book
        results: tuple[IntervalQuality, ...] = ()
        if book is not None and book.hours.day == message.day:
            self._score(ScoreStep(message.day, message.close_ts, ()))  # the windows ending at the close
            results = tuple(r for session in book.sessions for r in book.results(session).values())
            self._book = None
        if self._coordinator is not None:
            self._coordinator.tell(QualityDayEnded(message.day, results, self._historical_quality))

    @staticmethod
    def _historical(data: HistoricalData, enabled: bool) -> dict[tuple[str, str], float | None]:
        if not enabled:
            return dict.fromkeys(data.series, 100.0)
        return {key: series_quality(series, data.hours) for key, series in data.series.items()}
