"""The quality of one session day: one :class:`~domain.quality.gaps.SessionQualityTracker` per
symbol, interval and scored session, fed a clock step at a time, and the scores and gaps it ends
the day with."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import lt
from typing import NamedTuple

from domain.bars import Bar
from domain.calendar.model import SessionType
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
    session: SessionType = SessionType.REGULAR
    """The session scored: the regular one, or (extended hours) the pre- or post-market."""


@dataclass(frozen=True, slots=True)
class IntervalQuality:
    """Where one symbol and interval stand: the score and its current and filled gaps."""

    score: QualityScore
    gaps: tuple[Gap, ...]
    filled: tuple[Gap, ...] = ()


class QualityBook:
    """Session quality and gaps of one day, for every symbol and bar interval (SPEC §7); with
    ``extended`` (the streamed base interval) also of that interval in the pre- and post-market
    sessions (SPEC §11), each scored like the regular one on the grid of its own open.

    :meth:`score` takes one clock step: the bars released (base and derived, any order) and
    the clock; it returns the scores that changed and the gap changes. With ``enabled=False``
    (``gap_filler.enable_session_quality: false``) every score is 100.0 and no gap is ever
    detected. Cost per step: O(bars) plus O(1) per tracker.
    """

    __slots__ = ("_daily", "_last", "_segments", "_split", "_trackers", "enabled", "hours")

    def __init__(
        self,
        hours: DayHours,
        symbols: Iterable[str],
        intervals: Iterable[Interval],
        *,
        enabled: bool = True,
        extended: Interval | None = None,
    ) -> None:
        self.hours = hours
        self.enabled = enabled
        self._trackers: dict[tuple[str, str, SessionType], SessionQualityTracker] = {}
        self._last: dict[tuple[str, str, SessionType], tuple[int, int]] = {}
        intervals = list(intervals)
        symbols = list(symbols)
        # a daily bar is keyed by its session date (domain.bars.daily_ts): it fills the day's window
        self._daily = {str(interval) for interval in intervals if interval.is_daily}
        self._segments = hours.segments(extended is not None)
        self._split = str(extended) if extended is not None and len(self._segments) > 1 else None
        """The interval whose bars may fall in several sessions (None: every bar is regular)."""
        for segment in self._segments:
            regular = segment.session is SessionType.REGULAR
            for interval in intervals if regular or extended is None else [extended]:
                for symbol in symbols:
                    key = (symbol, str(interval), segment.session)
                    self._trackers[key] = SessionQualityTracker(
                        symbol,
                        interval,
                        segment.open_ts,
                        segment.close_ts,
                        break_start_ts=segment.break_start_ts,
                        break_end_ts=segment.break_end_ts,
                    )
                    self._last[key] = (0, 0)

    @property
    def sessions(self) -> tuple[SessionType, ...]:
        """The sessions scored, in time order."""
        return tuple(segment.session for segment in self._segments)

    def score(
        self,
        now_ts: int,
        bars: Iterable[Bar] = (),
        stamps: Iterable[tuple[str, str, Sequence[int]]] = (),
    ) -> tuple[tuple[QualityScore, ...], GapChanges]:
        """Record the bars — as :class:`Bar` values, or as ``(symbol, interval, timestamps)``
        slices of session columns (sorted, unique, on the grid; a daily bar's one timestamp is
        its session date) — move the clock; the changed scores and the gap changes."""
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
            (
                ((symbol, interval), (open_ts,) if interval in daily else ts, True)
                for symbol, interval, ts in stamps
            ),
        )
        for (symbol, interval), timestamps, session_run in batches:
            for session, part in self._by_session(interval, timestamps):
                tracker = trackers.get((symbol, interval, session))
                if tracker is not None:
                    changes = tracker.add_session_run(part) if session_run else tracker.add_bars(part)
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
                scores.append(QualityScore(key[0], key[1], quality(*counts), counts[0], counts[1], key[2]))
        if not opened and not closed:
            return tuple(scores), NO_CHANGES
        return tuple(scores), GapChanges(tuple(opened), tuple(closed))

    def _by_session(
        self, interval: str, timestamps: Sequence[int]
    ) -> Iterator[tuple[SessionType, Sequence[int]]]:
        """``timestamps`` cut by the session they fall in (all regular but for the extended interval)."""
        if interval != self._split:
            yield SessionType.REGULAR, timestamps
            return
        ordered = timestamps if all(map(lt, timestamps, timestamps[1:])) else sorted(timestamps)
        for segment in self._segments:
            lo, hi = bisect_left(ordered, segment.open_ts), bisect_left(ordered, segment.close_ts)
            if hi > lo:
                yield segment.session, ordered[lo:hi]

    def _tracker_of(self, gap: Gap) -> SessionQualityTracker | None:
        session = SessionType.REGULAR
        if gap.interval == self._split:
            session = next(
                (s.session for s in self._segments if s.open_ts <= gap.start_ts < s.close_ts), session
            )
        return self._trackers.get((gap.symbol, gap.interval, session))

    def mark(self, gap: Gap) -> Gap | None:
        """Record on the tracked gap starting where ``gap`` starts what the gap filler did: one
        more fetch (``gap.retry_count`` of them, the last at ``gap.last_retry_ts``) or, with
        status ``abandoned``, giving up. ``None`` when no gap starts there any more (filled or
        reshaped since: nothing to record)."""
        tracker = self._tracker_of(gap)
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
        """The open gaps of ``interval``, every symbol and session (what a gap filler fetches)."""
        return tuple(
            gap
            for (_, i, _), tracker in self._trackers.items()
            if i == interval
            for gap in tracker.gaps
            if gap.status is GapStatus.OPEN
        )

    def results(self, session: SessionType = SessionType.REGULAR) -> dict[tuple[str, str], IntervalQuality]:
        """Every symbol and interval's score and gaps now in ``session``, keyed by (symbol, interval)."""
        out: dict[tuple[str, str], IntervalQuality] = {}
        for (symbol, interval, scored), tracker in self._trackers.items():
            if scored is not session:
                continue
            if not self.enabled:
                out[(symbol, interval)] = IntervalQuality(
                    QualityScore(symbol, interval, 100.0, 0, 0, session), ()
                )
                continue
            score = QualityScore(symbol, interval, tracker.quality, tracker.actual, tracker.expected, session)
            out[(symbol, interval)] = IntervalQuality(score, tracker.gaps, tracker.filled_gaps)
        return out
