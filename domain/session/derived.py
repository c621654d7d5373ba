"""Derived bars (SPEC §7): one builder for the replay day, the live day and the history.

The rules, in one place:

- **Windows.** A bar interval of ``S`` seconds cuts a session day ``[open, close)`` into the
  windows ``[open + k·S, open + (k+1)·S)``, anchored at the regular open (5m → 09:30, 09:35 …;
  60m → 09:30, 10:30 …). The last window is cut at the close (60m → 15:30–16:00; an early close
  at 13:00 cuts 5m and 60m windows there) and counts as a complete window of the time that
  exists. :class:`~domain.session.windows.SessionWindows` is that geometry; quality scores bars
  on the very same windows.
- **Midday break** (e.g. Tokyo 11:30–12:30). Windows stay on the open's grid; the break is
  simply time that does not exist. A window lying wholly inside the break is not a window at
  all: nothing is expected there and nothing is emitted. A window that overlaps the break holds
  only the base bars of its trading time and keeps its grid start as timestamp (60m on
  09:00–15:30 with a 11:30–12:30 break: 11:00 holds 11:00–11:29, 12:00 holds 12:30–12:59).
  A window whose trading time stops at the break start ends there (the 11:00 window ends at
  11:30, so it is emitted at 11:30, not at 12:00: all its data exists by then).
- **Emission.** An intraday window is emitted once the clock has reached its end *and* it holds
  every base bar of its trading time (SPEC §7 "holds all its base bars"); a window with a
  missing base bar is not emitted. A window whose base bars change later — a late bar, a gap
  fill, an updated bar (:meth:`DerivedBars.touch`) — is built again at the next
  :meth:`DerivedBars.advance`, and the new value replaces the old one by timestamp.
- **Daily bars** (``1d`` from intraday bars) allow partial days (SPEC §7): the bar of a day with
  at least one regular-session base bar, emitted at the close, ``ts`` = the session date at
  00:00 UTC (the store's key for daily bars, :func:`~domain.bars.daily_ts`).
- **OHLCV.** First open, max high, min low, last close, volume summed in time order (left to
  right, the same on every Python: ``sum`` of floats compensates from 3.12 on); ``ts`` = window start;
  ``interval`` = the target's canonical spelling (``str(Interval)``).
- **Base bars** are the session's: start-stamped, unique, on the base grid inside
  ``[open, close)`` and outside the break, in time order per symbol — the day that feeds the
  builder has filtered them (:mod:`domain.session.replay_day`, :mod:`domain.session.live_day`).
  A day that scores extended hours holds pre- and post-market bars in the same columns; derived
  bars are of the regular session only (their windows are anchored at its open), so the builder
  reads the regular part and ignores the rest.

Two builders follow these rules. :class:`DerivedBars` builds window by window as a clock moves
and late bars arrive (a live day): it reads each symbol's base columns in place (a window is two
index checks and a ``max``/``min``/``sum`` over a column slice); a window that ended is visited
once, plus once per :meth:`~DerivedBars.touch` of it. :func:`derive_columns` builds a whole day
of every symbol at once with vectorised passes (a replay, whose base bars never change); the
tests hold the two equal to the bit on random days.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from functools import reduce
from operator import add
from typing import Any, Protocol

import numpy as np

from domain.bars import Bar, daily_ts
from domain.columns import BarColumns
from domain.intervals import Interval
from domain.session.windows import DayHours

__all__ = ["DerivedBars", "SessionColumns", "check_derivable", "derive_columns", "derive_day"]


class SessionColumns(Protocol):
    """One symbol's session base bars as time-ordered columns (read in place, never copied):
    :class:`~domain.columns.BarColumns` in a replay, growing lists in a live day."""

    @property
    def symbol(self) -> str: ...
    @property
    def ts(self) -> Sequence[int]: ...
    @property
    def open(self) -> Sequence[float]: ...
    @property
    def high(self) -> Sequence[float]: ...
    @property
    def low(self) -> Sequence[float]: ...
    @property
    def close(self) -> Sequence[float]: ...
    @property
    def volume(self) -> Sequence[float]: ...


def check_derivable(base: Interval, target: Interval) -> None:
    """``ValueError`` unless ``target`` bars can be built from ``base`` bars in a session."""
    if target == base or base.is_daily or not target.derivable_from(base):
        raise ValueError(f"{target} cannot be derived from {base}")


class _Target:
    __slots__ = ("daily", "dirty", "hints", "interval", "needed", "next", "ratio", "windows")

    def __init__(self, hours: DayHours, base: Interval, target: Interval, symbols: int) -> None:
        check_derivable(base, target)
        base_windows = hours.windows(base)
        self.interval = str(target)
        self.daily = target.is_daily
        self.windows = hours.windows(target)
        self.ratio = base_windows.count if self.daily else target.seconds // base.seconds
        self.next = 0  # windows before this one have been visited since they ended
        self.dirty: set[tuple[int, int]] = set()  # (symbol position, window) to build again
        self.hints = [0] * symbols  # per symbol: where the next window's bars start
        ratio = self.ratio
        self.needed = [
            base_windows.expected_in(k * ratio, (k + 1) * ratio) for k in range(self.windows.count)
        ]


class DerivedBars:
    """The derived bars of one session day, built from the day's base columns (see the module
    docstring). ``columns`` are read in place: a live day appends to them and calls
    :meth:`touch`; a replay's never change."""

    __slots__ = ("_base_seconds", "_close_ts", "_columns", "_day_ts", "_open_ts", "_targets")

    def __init__(
        self, hours: DayHours, base: Interval, targets: Sequence[Interval], columns: Sequence[SessionColumns]
    ) -> None:
        self._columns = columns
        self._open_ts, self._close_ts = hours.open_ts, hours.close_ts
        self._base_seconds = base.seconds
        self._day_ts = daily_ts(hours.day)
        # shortest first: at one timestamp, bars come out by interval length, then symbol order
        ordered = sorted(targets, key=lambda t: t.seconds)
        self._targets = [_Target(hours, base, target, len(columns)) for target in ordered]

    def touch(self, position: int, base_ts: int) -> None:
        """The base bar at ``base_ts`` of the symbol at ``position`` arrived late or changed:
        every window holding it that has ended is built again at the next :meth:`advance` (a bar
        outside the regular session is in no window)."""
        if not self._open_ts <= base_ts < self._close_ts:
            return
        j = (base_ts - self._open_ts) // self._base_seconds
        for target in self._targets:
            k = j // target.ratio
            if k < target.next:
                target.dirty.add((position, k))

    def advance(self, now_ts: int) -> list[Bar]:
        """The bars of the windows that have ended by ``now_ts`` since the last call (each
        visited once) and of the touched ones, in (time, interval length, symbol) order."""
        out: list[Bar] = []
        columns = self._columns
        rebuilt = False
        for target in self._targets:
            windows = target.windows
            ended = windows.ended(now_ts)
            if target.dirty:
                due = sorted(d for d in target.dirty if d[1] < ended)
                target.dirty.difference_update(due)
                for position, k in due:
                    bar = self._build(target, columns[position], k, 0)
                    if bar is not None:
                        out.append(bar)
                        rebuilt = True
            hints = target.hints
            for k in range(target.next, ended):
                if not windows.is_expected(k):
                    continue
                for position, cols in enumerate(columns):
                    bar = self._build(target, cols, k, hints[position], hints, position)
                    if bar is not None:
                        out.append(bar)
            target.next = max(target.next, ended)
        if len(self._targets) > 1 or rebuilt:
            out.sort(key=lambda bar: bar.ts)  # stable: interval length, then symbol order kept
        return out

    def _build(
        self,
        target: _Target,
        cols: SessionColumns,
        k: int,
        lo: int,
        hints: list[int] | None = None,
        position: int = 0,
    ) -> Bar | None:
        """The bar of window ``k`` of ``cols`` (``None`` if it lacks base bars); ``lo`` is a lower
        bound of the window's first position, kept in ``hints`` for the next window."""
        windows = target.windows
        start = windows.start(k)
        needed = target.needed[k]
        ts = cols.ts
        hi = lo + needed
        last = start + (needed - 1) * self._base_seconds
        # the common case of a replay: the window's bars are the next ``needed`` positions
        if target.daily or not (hi <= len(ts) and ts[lo] == start and ts[hi - 1] == last):
            lo = bisect_left(ts, start, lo)
            hi = bisect_left(ts, windows.end(k), lo)
        if hints is not None:
            hints[position] = hi
        if hi == lo or (hi - lo != needed and not target.daily):
            return None
        return Bar(
            cols.symbol, target.interval, self._day_ts if target.daily else start, cols.open[lo],
            max(cols.high[lo:hi]), min(cols.low[lo:hi]), cols.close[hi - 1], reduce(add, cols.volume[lo:hi]),
        )  # fmt: skip


def derive_day(
    hours: DayHours, base: Interval, target: Interval, columns: SessionColumns, now_ts: int | None = None
) -> list[Bar]:
    """Every ``target`` bar of one symbol's session day ended by ``now_ts`` (the close by
    default), built from its session base columns, one window at a time."""
    return DerivedBars(hours, base, [target], [columns]).advance(hours.close_ts if now_ts is None else now_ts)


def derive_columns(
    hours: DayHours, base: Interval, target: Interval, columns: Sequence[BarColumns]
) -> tuple[BarColumns, ...]:
    """Every ``target`` bar of the whole session day of each symbol in ``columns`` (its session
    base columns), as columns in the same order, built with vectorised passes over all symbols
    at once (no Python object per bar or per symbol-window): the bars :func:`derive_day` builds
    at the close, to the last bit (volumes are summed in time order, as it does)."""
    check_derivable(base, target)
    interval = str(target)
    parts = []
    for cols in columns:
        arrays = cols.arrays()
        first, stop = np.searchsorted(arrays[0], (hours.open_ts, hours.close_ts))
        parts.append([column[first:stop] for column in arrays])
    sizes = [len(part[0]) for part in parts]
    if not sum(sizes):
        return _no_bars(columns, interval)
    ts, o, h, lo, c, v = (np.concatenate([part[i] for part in parts]) for i in range(6))
    owner = np.repeat(np.arange(len(columns)), sizes)  # every base bar's symbol position
    windows = hours.windows(target)
    if target.is_daily:  # one window, the day, partial allowed
        window = np.zeros(len(ts), dtype=np.int64)
    else:
        window = (ts - windows.open_ts) // windows.seconds
    key = owner * windows.count + window
    firsts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[firsts, len(key)])
    window, owner = window[firsts], owner[firsts]
    if target.is_daily:
        starts = np.full(len(firsts), daily_ts(hours.day), dtype=np.int64)
    else:  # a window holding fewer base bars than its trading time has is no bar
        base_windows, ratio = hours.windows(base), target.seconds // base.seconds
        needed = np.array(
            [base_windows.expected_in(j * ratio, (j + 1) * ratio) for j in range(windows.count)]
        )
        complete = counts == needed[window]
        firsts, counts, window, owner = firsts[complete], counts[complete], window[complete], owner[complete]
        starts = windows.open_ts + window * windows.seconds
    if not len(firsts):
        return _no_bars(columns, interval)
    lasts = firsts + counts - 1
    # a (windows × longest window) matrix of positions; those past a window's end point at a pad
    offsets = np.arange(int(counts.max()))
    positions = np.where(offsets < counts[:, None], firsts[:, None] + offsets, len(ts))

    def windowed(column: np.ndarray[Any, Any], pad: float) -> np.ndarray[Any, Any]:
        return np.append(column, pad)[positions]

    # volumes added left to right (``accumulate`` is sequential; ``sum`` would add pairwise and
    # round differently); a 0.0 pad changes no sum, the infinities no maximum or minimum
    made = (
        starts, o[firsts], windowed(h, -np.inf).max(axis=1), windowed(lo, np.inf).min(axis=1), c[lasts],
        np.add.accumulate(windowed(v, 0.0), axis=1)[:, -1],
    )  # fmt: skip
    cuts = np.searchsorted(owner, np.arange(len(columns) + 1)).tolist()
    every = BarColumns.from_arrays("", interval, *made).columns()  # each symbol's: slices of these
    return tuple(
        BarColumns(cols.symbol, interval, *(column[cuts[i] : cuts[i + 1]] for column in every))
        for i, cols in enumerate(columns)
    )


def _no_bars(columns: Sequence[BarColumns], interval: str) -> tuple[BarColumns, ...]:
    return tuple(BarColumns.from_rows(cols.symbol, interval, ()) for cols in columns)
