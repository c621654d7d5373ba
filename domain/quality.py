"""Data quality and gaps (SPEC §7): how many of the expected bars a session holds, and where
the holes are.

The rules:

- **Expected windows.** A bar interval of ``i`` seconds expects one bar per window
  ``[open + k·i, open + (k+1)·i)`` (the last one cut at the close) that has *ended* by
  ``min(now, close)`` — the windows of :class:`domain.aggregation.SessionWindows`, the same
  ones derived bars are built on. For 1m on a full day that is
  ``floor((min(now, close) − open) / 60)``; windows wholly inside a midday break expect
  nothing, and a window running into the break ends at the break start.
- **Quality** = ``min(100, 100·actual/expected)``, ``100.0`` while nothing is expected.
  ``actual`` counts the bars of ended windows only: a bar is counted once, whatever the number
  of copies received, and bars outside the session, in the break or off the window grid (the
  16:00 bar, extended hours) never count. The float is kept; round only for display
  (387 of 390 → 99.2307…, shown 99.23 %).
- **Historical quality** (:func:`historical_quality`) = the mean of the per-day qualities over
  the trading days of the window; a day that expects nothing (a holiday, a weekend slipped
  into the list) is skipped, and no day left means ``None``. For 1d bars pass ``(1, 1)`` for a
  day with its bar and ``(0, 1)`` without: the mean is then days with a bar / trading days.
- **Gaps** are maximal runs of consecutive missing *expected* windows among those that have
  ended: ``[start, end)`` with ``end`` the end of the last missing window, and ``bar_count``
  the number of missing windows. Runs are maximal, so adjacent or overlapping gaps are one
  gap; a run may straddle a midday break (the break's windows are not expected, so the last
  window before it and the first after it are consecutive). Example: 1m bars missing at
  09:35, 09:36 and 10:15 → ``[09:35, 09:37)`` of 2 bars and ``[10:15, 10:16)`` of 1 bar.

:class:`SessionQualityTracker` does this event-driven for one symbol, interval and session
day: ``add_bars`` marks windows present, ``advance`` moves a cursor over the windows that have
ended. In-order streaming costs O(1) per window (a missing window extends the last gap or opens
one at the tail); only a late bar touches an existing gap (found by bisection), shrinking or
splitting it, or filling it. Each call returns a :class:`GapChanges` so the caller can publish
``GapDetected``/``GapFilled``-style events. Retry bookkeeping (``retry_count``,
``last_retry_ts``, ``abandoned``) lives on the gap so it survives a split; a gap that grows
because more windows went missing is a new fetch target: it is open again and its retry count
restarts at 0.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import chain
from operator import lt
from typing import NamedTuple

from domain.aggregation import SessionWindows
from domain.bars import Bar
from domain.intervals import Interval
from domain.session_day import DayHours

__all__ = [
    "NO_CHANGES",
    "Gap",
    "GapChanges",
    "GapStatus",
    "IntervalQuality",
    "QualityBook",
    "QualityScore",
    "SessionQualityTracker",
    "day_counts",
    "expected_windows",
    "historical_quality",
    "quality",
]


def expected_windows(
    open_ts: int,
    close_ts: int,
    interval_seconds: int,
    now_ts: int,
    *,
    break_start_ts: int | None = None,
    break_end_ts: int | None = None,
) -> int:
    """Number of windows of ``interval_seconds`` that have ended by ``min(now_ts, close_ts)``.

    Windows are anchored at ``open_ts``; the last is cut at the close and counts once the close
    is reached. ``open_ts == close_ts`` (nothing trades) expects 0.
    """
    if close_ts == open_ts:
        return 0
    windows = SessionWindows(open_ts, close_ts, interval_seconds, break_start_ts, break_end_ts)
    return windows.expected_ended(now_ts)


def quality(actual: int, expected: int) -> float:
    """``min(100, 100·actual/expected)``; ``100.0`` when nothing is expected."""
    if expected <= 0:
        return 100.0
    return min(100.0, 100.0 * actual / expected)


def historical_quality(per_day: Iterable[tuple[int, int]]) -> float | None:
    """Mean of the per-day qualities of ``(actual, expected)`` pairs, one per trading day.

    Days with ``expected == 0`` are skipped (they expect nothing, so they neither help nor hurt);
    ``None`` when no day remains.
    """
    scores = [quality(actual, expected) for actual, expected in per_day if expected > 0]
    if not scores:
        return None
    return sum(scores) / len(scores)


class GapStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of consecutive missing expected bars: ``[start_ts, end_ts)`` in UTC epoch seconds."""

    symbol: str
    interval: str
    start_ts: int
    end_ts: int
    bar_count: int
    retry_count: int = 0
    last_retry_ts: int | None = None
    status: GapStatus = GapStatus.OPEN


@dataclass(frozen=True, slots=True)
class GapChanges:
    """What one ``add_bars``/``advance`` call changed in the gap list, as a diff.

    ``opened``: gap values current after the call that were not before — new gaps, and the new
    extent of gaps that grew, shrank or split. ``closed``: gap values current before the call
    that no longer are; each has status ``filled`` when every one of its bars is now present
    (publish a gap-filled event), otherwise it keeps its status and was superseded by the
    ``opened`` values covering its remaining bars. Both are sorted by start.
    """

    opened: tuple[Gap, ...] = ()
    closed: tuple[Gap, ...] = ()

    @property
    def filled(self) -> tuple[Gap, ...]:
        return tuple(gap for gap in self.closed if gap.status is GapStatus.FILLED)

    def __bool__(self) -> bool:
        return bool(self.opened or self.closed)


NO_CHANGES = GapChanges()


class _Run:
    """A gap in window indices ``[first, last]`` (inclusive); mutable, owned by the tracker."""

    __slots__ = ("alive", "first", "last", "last_retry_ts", "retry_count", "serial", "status")

    def __init__(self, serial: int, first: int, last: int) -> None:
        self.serial = serial
        self.first = first
        self.last = last
        self.retry_count = 0
        self.last_retry_ts: int | None = None
        self.status = GapStatus.OPEN
        self.alive = True


def _first_of(run: _Run) -> int:
    return run.first


class _Call:
    """Bookkeeping of one public call: the value of each pre-existing gap before it was touched."""

    __slots__ = ("before", "first_new_serial", "touched")

    def __init__(self, first_new_serial: int) -> None:
        self.first_new_serial = first_new_serial
        self.before: dict[int, tuple[Gap, int, int]] = {}  # serial -> (value, first, last)
        self.touched: dict[int, _Run] = {}


class SessionQualityTracker:
    """Event-driven quality and gaps of one symbol and bar interval for one session day.

    ``add_bars`` takes bar start timestamps (any order, duplicates ignored); ``advance`` takes
    the clock. Both return the :class:`GapChanges` they caused. See the module docstring.
    """

    __slots__ = (
        "_actual",
        "_cursor",
        "_expected",
        "_filled",
        "_interval_text",
        "_max_k",
        "_now",
        "_pending",
        "_present",
        "_runs",
        "_serials",
        "_windows",
        "duplicates",
        "ignored",
        "interval",
        "symbol",
    )

    def __init__(
        self,
        symbol: str,
        interval: Interval,
        open_ts: int,
        close_ts: int,
        *,
        break_start_ts: int | None = None,
        break_end_ts: int | None = None,
    ) -> None:
        self.symbol = symbol
        self.interval = interval
        self._interval_text = str(interval)
        self._windows = SessionWindows(open_ts, close_ts, interval.seconds, break_start_ts, break_end_ts)
        self._present = bytearray(self._windows.count)
        self._cursor = 0  # windows [0, cursor) have ended
        self._actual = 0  # present windows among the ended ones
        self._expected = 0  # expected windows among the ended ones
        self._pending = 0  # present windows not ended yet (index >= cursor)
        self._max_k = -1  # highest present window index
        self._runs: list[_Run] = []  # disjoint, sorted by first
        self._serials = 0  # next gap serial
        self._filled: list[Gap] = []
        self._now: int | None = None
        self.ignored = 0  # timestamps outside the session, in the break or off the grid
        self.duplicates = 0

    # -- reading -------------------------------------------------------------------------------

    @property
    def windows(self) -> SessionWindows:
        return self._windows

    @property
    def actual(self) -> int:
        return self._actual

    @property
    def expected(self) -> int:
        return self._expected

    @property
    def quality(self) -> float:
        return quality(self._actual, self._expected)

    @property
    def now_ts(self) -> int | None:
        """The latest time passed to :meth:`advance`, if any."""
        return self._now

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """The current gaps (open or abandoned), oldest first."""
        return tuple(self._gap(run) for run in self._runs)

    @property
    def filled_gaps(self) -> tuple[Gap, ...]:
        """Every gap value that was filled completely during the session, in order of filling."""
        return tuple(self._filled)

    # -- events --------------------------------------------------------------------------------

    def advance(self, now_ts: int) -> GapChanges:
        """Move the clock to ``now_ts``: count the windows that ended, open or extend gaps.

        A clock that goes backwards changes nothing.
        """
        if self._now is None or now_ts > self._now:
            self._now = now_ts
        target = self._windows.ended(now_ts)
        if target <= self._cursor:
            return NO_CHANGES
        if self._max_k < target and self._pending == self._windows.expected_in(self._cursor, target):
            # every window that ended now holds its bar (the streaming case): O(1), no gap changes
            self._expected += self._pending
            self._actual += self._pending
            self._pending = 0
            self._cursor = target
            return NO_CHANGES
        call = self._begin()
        windows, present, runs = self._windows, self._present, self._runs
        for k in range(self._cursor, target):
            if not windows.is_expected(k):
                continue
            self._expected += 1
            if present[k]:
                self._actual += 1
                self._pending -= 1
                continue
            tail = runs[-1] if runs else None
            if tail is not None and tail.last == windows.previous_expected(k):
                self._touch(tail, call)
                tail.last = k
                tail.status = GapStatus.OPEN
                tail.retry_count = 0
                tail.last_retry_ts = None
            else:
                run = self._new_run(k, k)
                runs.append(run)
                call.touched[run.serial] = run
        self._cursor = target
        return self._finish(call)

    def add_bars(self, timestamps: Iterable[int]) -> GapChanges:
        """Mark the windows starting at ``timestamps`` present; late bars shrink, split or fill gaps."""
        if isinstance(timestamps, Sequence) and self._add_run(timestamps, checked=False):
            return NO_CHANGES
        call: _Call | None = None
        windows, present = self._windows, self._present
        for ts in timestamps:
            k = windows.index(ts)
            if k is None:
                self.ignored += 1
                continue
            if present[k]:
                self.duplicates += 1
                continue
            present[k] = 1
            if k > self._max_k:
                self._max_k = k
            if k >= self._cursor:
                self._pending += 1
            else:
                self._actual += 1
                if call is None:
                    call = self._begin()
                self._fill(k, call)
        return NO_CHANGES if call is None else self._finish(call)

    def add_session_run(self, timestamps: Sequence[int]) -> GapChanges:
        """:meth:`add_bars` for timestamps known to be sorted, unique and on the window grid (a
        slice of a session day's columns, which the regular-session filter made so): the usual
        streaming case costs O(1) checks and one slice assignment."""
        if self._add_run(timestamps, checked=True):
            return NO_CHANGES
        return self.add_bars(timestamps)

    def _add_run(self, timestamps: Sequence[int], *, checked: bool) -> bool:
        """The streaming fast path: consecutive new windows not ended yet, marked in one slice
        assignment. ``False`` (nothing done) for anything else. ``checked``: the timestamps are
        known to be sorted, unique and on the grid, so first, last and count prove they are
        consecutive."""
        n = len(timestamps)
        if n == 0:
            return True
        windows = self._windows
        k = windows.index(timestamps[0])
        seconds = windows.seconds
        if k is None or k < self._cursor or timestamps[n - 1] - timestamps[0] != (n - 1) * seconds:
            return False
        # strictly increasing, all on the grid, spanning n windows: exactly the n consecutive ones
        if not checked:
            offset = timestamps[0] % seconds
            if not all(map(lt, timestamps, timestamps[1:])) or set(map(seconds.__rmod__, timestamps)) != {
                offset
            }:
                return False
        stop = k + n
        if stop > windows.count or windows.expected_in(k, stop) != n or self._present.find(1, k, stop) >= 0:
            return False
        self._present[k:stop] = b"\x01" * n
        self._pending += n
        if stop - 1 > self._max_k:
            self._max_k = stop - 1
        return True

    def record_retry(self, start_ts: int, now_ts: int) -> Gap:
        """Count one fetch attempt on the gap starting at ``start_ts``; its new value."""
        run = self._run_at(start_ts)
        run.retry_count += 1
        run.last_retry_ts = now_ts
        return self._gap(run)

    def abandon(self, start_ts: int) -> Gap:
        """Mark the gap starting at ``start_ts`` abandoned (retries exhausted); its new value.

        It stays in :attr:`gaps` and in the quality: the bars are still missing.
        """
        run = self._run_at(start_ts)
        run.status = GapStatus.ABANDONED
        return self._gap(run)

    # -- internals -----------------------------------------------------------------------------

    def _gap(self, run: _Run) -> Gap:
        windows = self._windows
        return Gap(
            symbol=self.symbol,
            interval=self._interval_text,
            start_ts=windows.start(run.first),
            end_ts=windows.end(run.last),
            bar_count=windows.expected_in(run.first, run.last + 1),
            retry_count=run.retry_count,
            last_retry_ts=run.last_retry_ts,
            status=run.status,
        )

    def _run_at(self, start_ts: int) -> _Run:
        k = self._windows.index(start_ts)
        if k is not None:
            i = bisect.bisect_left(self._runs, k, key=_first_of)
            if i < len(self._runs) and self._runs[i].first == k:
                return self._runs[i]
        raise KeyError(f"{self.symbol} {self._interval_text}: no gap starts at {start_ts}")

    def _fill(self, k: int, call: _Call) -> None:
        """A late bar arrived for ended window ``k``, which a gap holds: shrink, split or drop it."""
        runs, windows = self._runs, self._windows
        i = bisect.bisect_right(runs, k, key=_first_of) - 1
        run = runs[i]  # invariant: every missing ended window lies in exactly one run
        self._touch(run, call)
        if run.first == k == run.last:
            run.alive = False
            del runs[i]
        elif k == run.first:
            run.first = windows.next_expected(k)
        elif k == run.last:
            run.last = windows.previous_expected(k)
        else:
            right = self._new_run(windows.next_expected(k), run.last)
            right.retry_count, right.last_retry_ts, right.status = (
                run.retry_count,
                run.last_retry_ts,
                run.status,
            )
            run.last = windows.previous_expected(k)
            runs.insert(i + 1, right)
            call.touched[right.serial] = right

    def _begin(self) -> _Call:
        return _Call(self._serials)

    def _new_run(self, first: int, last: int) -> _Run:
        self._serials += 1
        return _Run(self._serials - 1, first, last)

    def _touch(self, run: _Run, call: _Call) -> None:
        if run.serial in call.touched:
            return
        if run.serial < call.first_new_serial:
            call.before[run.serial] = (self._gap(run), run.first, run.last)
        call.touched[run.serial] = run

    def _finish(self, call: _Call) -> GapChanges:
        opened: list[Gap] = []
        for serial, run in call.touched.items():
            if not run.alive:
                continue
            value = self._gap(run)
            before = call.before.get(serial)
            if before is None or before[0] != value:
                opened.append(value)
        closed: list[Gap] = []
        for serial, (value, first, last) in call.before.items():
            run = call.touched[serial]
            if run.alive and self._gap(run) == value:
                continue
            if not self._overlaps(first, last):
                value = replace(value, status=GapStatus.FILLED)
                self._filled.append(value)
            closed.append(value)
        if not opened and not closed:
            return NO_CHANGES
        opened.sort(key=lambda gap: gap.start_ts)
        closed.sort(key=lambda gap: gap.start_ts)
        return GapChanges(tuple(opened), tuple(closed))

    def _overlaps(self, first: int, last: int) -> bool:
        """Whether any current gap shares a window with ``[first, last]``."""
        i = bisect.bisect_right(self._runs, last, key=_first_of) - 1
        return i >= 0 and self._runs[i].last >= first


# --------------------------------------------------------------------------- one session day


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

    __slots__ = ("_last", "_trackers", "enabled", "hours")

    def __init__(
        self, hours: DayHours, symbols: Iterable[str], intervals: Iterable[Interval], *, enabled: bool = True
    ) -> None:
        self.hours = hours
        self.enabled = enabled
        self._trackers: dict[tuple[str, str], SessionQualityTracker] = {}
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
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
        for bar in bars:
            by_key.setdefault((bar.symbol, bar.interval), []).append(bar.ts)
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


def day_counts(hours: DayHours, interval: Interval, timestamps: Iterable[int]) -> tuple[int, int]:
    """``(actual, expected)`` of a whole past day: distinct expected windows present, and all.

    A daily interval expects one bar per trading day: ``(1, 1)`` with any bar, ``(0, 1)`` without.
    """
    if interval.is_daily:
        return (1 if any(True for _ in timestamps) else 0), 1
    windows = hours.windows(interval)
    present = {k for ts in timestamps if (k := windows.index(ts)) is not None}
    return len(present), windows.expected_in(0, windows.count)
