"""Gaps (SPEC §7), tracked event-driven for one symbol, interval and session day.

:class:`SessionQualityTracker` marks windows present as bars arrive and moves a cursor over
the windows that have ended; the rules are in :mod:`domain.quality.scoring`. Each call returns
the :class:`GapChanges` it made, so the caller can publish them."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from operator import attrgetter, lt

import numpy as np

from domain.intervals import Interval
from domain.quality.scoring import quality
from domain.session.windows import SessionWindows

__all__ = ["NO_CHANGES", "Gap", "GapChanges", "GapStatus", "SessionQualityTracker"]


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


_first_of = attrgetter("first")


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
        self.ignored = 0  # timestamps outside the session, in the break or off the grid
        self.duplicates = 0

    # -- reading -------------------------------------------------------------------------------

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
        call = _Call(self._serials)
        windows, present, runs = self._windows, self._present, self._runs
        found = present.count(1, self._cursor, target)  # C-level: only the missing windows are visited
        self._expected += windows.expected_in(self._cursor, target)
        self._actual += found
        self._pending -= found
        skip_first, skip_end = windows.break_windows
        k = present.find(0, self._cursor, target)
        while k >= 0:
            if skip_first <= k < skip_end:  # in the break: no window
                k = present.find(0, skip_end, target)
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
            k = present.find(0, k + 1, target)
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
                    call = _Call(self._serials)
                self._fill(k, call)
        return NO_CHANGES if call is None else self._finish(call)

    def add_session_run(self, timestamps: Sequence[int]) -> GapChanges:
        """:meth:`add_bars` for timestamps known to be sorted, unique and on the window grid (a
        slice of a session day's columns, which the regular-session filter made so): the usual
        streaming case costs O(1) checks and one slice assignment."""
        if self._add_run(timestamps, checked=True):
            return NO_CHANGES
        windows = self._windows
        first = windows.index(timestamps[0])
        if first is None or first < self._cursor:  # late bars: they may shrink, split or fill gaps
            return self.add_bars(timestamps)
        # windows not ended yet, with holes between them: marked in vectorised passes, no gap changes
        k = (np.asarray(timestamps, dtype=np.int64) - windows.open_ts) // windows.seconds
        present = np.frombuffer(self._present, dtype=np.uint8)  # a view: the marks land in the bytearray
        repeated = int(np.count_nonzero(present[k]))
        present[k] = 1
        del present  # release the view (a bytearray with a live view cannot be resized)
        self.duplicates += repeated
        self._pending += len(k) - repeated
        self._max_k = max(self._max_k, int(k[-1]))
        return NO_CHANGES

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
