"""The quality of one session day: one :class:`~domain.quality.gaps.SessionQualityTracker` per
(symbol, interval), fed a clock step at a time, and the scores and gaps it ends the day with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

from domain.bars import Bar
from domain.intervals import Interval
from domain.quality.gaps import NO_CHANGES, Gap, GapChanges, GapStatus, SessionQualityTracker
from domain.quality.scoring import quality
from domain.session.windows import DayHours

__all__ = ["IntervalQuality", "QualityBook", "QualityScore"]


class QualityScore(NamedTuple):
    """The quality of one symbol and interval at one moment of a session day (a tuple: one is
    made per symbol and interval per clock step)."""

    symbol: str
    interval: str
    quality: float
    actual: int
    expected: int


@dataclass(frozen=True, slots=True)
class IntervalQuality:
    """Where one symbol and interval stand: the score and its current and filled gaps."""

    score: QualityScore
    gaps: tuple[Gap, ...]
    filled: tuple[Gap, ...] = ()


class QualityBook:
    """Session quality and gaps of one day, for every symbol and bar interval (SPEC §7).

    :meth:`score` takes one clock step: the bars released (base and derived, any order) and
    the clock; it returns the scores that changed and the gap changes. With ``enabled=False``
    (``gap_filler.enable_session_quality: false``) every score is 100.0 and no gap is ever
    detected. Cost per step: O(bars) plus O(1) per tracker.
    """

    __slots__ = ("_daily", "_last", "_trackers", "enabled", "hours")

    def __init__(
        self, hours: DayHours, symbols: Iterable[str], intervals: Iterable[Interval], *, enabled: bool = True
    ) -> None:
        self.hours = hours
        self.enabled = enabled
        self._trackers: dict[tuple[str, str], SessionQualityTracker] = {}
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        intervals = list(intervals)
        # a daily bar is keyed by its session date (domain.bars.daily_ts): it fills the day's window
        self._daily = {str(interval) for interval in intervals if interval.is_daily}
        for interval in intervals:
            for symbol in symbols:
                key = (symbol, str(interval))
                self._trackers[key] = SessionQualityTracker(
                    symbol,
                    interval,
                    hours.open_ts,
                    hours.close_ts,
                    break_start_ts=hours.break_start_ts,
                    break_end_ts=hours.break_end_ts,
                )
                self._last[key] = (0, 0)

    def score(
        self,
        now_ts: int,
        bars: Iterable[Bar] = (),
        stamps: Iterable[tuple[str, str, Sequence[int]]] = (),
    ) -> tuple[tuple[QualityScore, ...], GapChanges]:
        """Record the bars — as :class:`Bar` values, or as ``(symbol, interval, timestamps)``
        slices of session columns (sorted, unique, on the grid) — move the clock; the changed
        scores and the gap changes."""
        if not self.enabled:
            return (), NO_CHANGES
        trackers = self._trackers
        by_key: dict[tuple[str, str], list[int]] = {}
        daily, open_ts = self._daily, self.hours.open_ts
        for bar in bars:
            ts = open_ts if bar.interval in daily else bar.ts
            by_key.setdefault((bar.symbol, bar.interval), []).append(ts)
        opened: list[Gap] = []
        closed: list[Gap] = []
        batches = chain(
            ((key, ts, False) for key, ts in by_key.items()),
            (((symbol, interval), ts, True) for symbol, interval, ts in stamps),
        )
        for key, timestamps, session_run in batches:
            tracker = trackers.get(key)
            if tracker is not None:
                changes = tracker.add_session_run(timestamps) if session_run else tracker.add_bars(timestamps)
                if changes:
                    opened.extend(changes.opened)
                    closed.extend(changes.closed)
        scores: list[QualityScore] = []
        last = self._last
        for key, tracker in trackers.items():
            changes = tracker.advance(now_ts)
            if changes:
                opened.extend(changes.opened)
                closed.extend(changes.closed)
            counts = (tracker._actual, tracker._expected)
            if counts != last[key]:
                last[key] = counts
                scores.append(QualityScore(key[0], key[1], quality(*counts), counts[0], counts[1]))
        if not opened and not closed:
            return tuple(scores), NO_CHANGES
        return tuple(scores), GapChanges(tuple(opened), tuple(closed))

    def mark(self, gap: Gap) -> Gap | None:
        """Record on the tracked gap starting where ``gap`` starts what the gap filler did: one
        more fetch (``gap.retry_count`` of them, the last at ``gap.last_retry_ts``) or, with
        status ``abandoned``, giving up. ``None`` when no gap starts there any more (filled or
        reshaped since: nothing to record)."""
        tracker = self._trackers.get((gap.symbol, gap.interval))
        if tracker is None:
            return None
        try:
            run = tracker._run_at(gap.start_ts)
        except KeyError:
            return None
        run.retry_count = max(run.retry_count, gap.retry_count)
        run.last_retry_ts = gap.last_retry_ts
        if gap.status is GapStatus.ABANDONED:
            run.status = GapStatus.ABANDONED
        return tracker._gap(run)

    def open_gaps(self, interval: str) -> tuple[Gap, ...]:
        """The open gaps of ``interval``, every symbol (what a gap filler fetches)."""
        return tuple(
            gap
            for (_, i), tracker in self._trackers.items()
            if i == interval
            for gap in tracker.gaps
            if gap.status is GapStatus.OPEN
        )

    def results(self) -> dict[tuple[str, str], IntervalQuality]:
        """Every symbol and interval's score and gaps now, keyed by (symbol, interval)."""
        out: dict[tuple[str, str], IntervalQuality] = {}
        for (symbol, interval), tracker in self._trackers.items():
            if not self.enabled:
                out[(symbol, interval)] = IntervalQuality(QualityScore(symbol, interval, 100.0, 0, 0), ())
                continue
            score = QualityScore(symbol, interval, tracker.quality, tracker.actual, tracker.expected)
            out[(symbol, interval)] = IntervalQuality(score, tracker.gaps, tracker.filled_gaps)
        return out
