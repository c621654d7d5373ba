"""One session day of a replay (SPEC §5 step 4, §7): which bars the clock releases, and when.

:class:`DayHours` is a trading session reduced to epoch seconds. :class:`SessionDay` takes the
day's stored base bars (any order, extended hours included) and answers the coordinator's two
questions without threads:

- **When is the next step?** :meth:`SessionDay.next_release` — the end of the next bar still
  held (bars are start-stamped: the 09:30 1m bar is released at 09:31, never earlier: no
  look-ahead), or ``None`` when no bar is left. A speed-0 replay jumps the clock there (or to
  the day's end when nothing is left); a paced replay moves it one step at a time.
- **What does a step release?** :meth:`SessionDay.release` — every held bar whose end is
  ``<= now`` (a :class:`Step`: the bars starting in ``[from_ts, until_ts)``), and the derived
  bars (5m, 15m, 1d …) whose windows the clock has passed, built by the day's
  :class:`~domain.session.derived.DerivedBars` (the rules are there).

The session filter is applied once, at construction: a bar enters the session only if it starts
on the base grid inside ``[open, close)`` and outside a midday break — or, with extended hours,
on the grid of the pre- or post-market session it falls in (:class:`~domain.session.windows.DayGrid`;
the clock then runs from the pre-market open to the post-market close). Everything else —
extended hours when they are not scored, the 16:00 bar, another symbol, a bar that breaks the
OHLC rules — is counted in :attr:`SessionDay.refused` by reason
(:class:`~domain.session.windows.Refusal`) and never released. A repeated bar counts as a
duplicate: the first copy is kept (as in a live day).

Cost: bars are held per symbol as read-only :class:`~domain.columns.BarColumns`; the filter
is two bisections and a few C-level passes per symbol; a step is O(1) whatever the number of
symbols (it moves the release point); a derived window is two index checks and a
``max``/``min``/``sum`` over its base bars. :class:`Bar` values are built only when
:attr:`Step.bars` is read (an event subscriber wants them).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import ge, le
from typing import overload

from domain.bars import Bar, bar_violation
from domain.columns import BarColumns
from domain.intervals import DAY_SECONDS, Interval
from domain.quality.alignment import Alignment, check_alignments
from domain.session.derived import DerivedBars
from domain.session.windows import DayGrid, DayHours, Refusal, SessionWindows

__all__ = ["ReleasedBars", "SessionDay", "Step", "day_session", "on_grid", "regular_session", "valid_prices"]


def regular_session(cols: BarColumns, windows: SessionWindows, refused: Counter[str]) -> BarColumns:
    """The bars of ``cols`` that enter the session of ``windows`` — inside ``[open, close)``, on
    the grid, outside the break, valid (SPEC §7) — the others counted in ``refused`` by reason.
    Clean data (the usual case) costs two bisections and a few C-level passes, and shares the
    memory of ``cols``."""
    return day_session(cols, (windows,), refused, Refusal.OUTSIDE_REGULAR_SESSION)


def day_session(
    cols: BarColumns, sessions: Sequence[SessionWindows], refused: Counter[str], outside: str
) -> BarColumns:
    """:func:`regular_session` over the sessions a day scores (in time order, each on its own
    grid); bars in none of them are counted as ``outside``."""
    ts = cols.ts
    pieces: list[BarColumns] = []
    inside = 0
    for windows in sessions:
        lo, hi = bisect_left(ts, windows.open_ts), bisect_left(ts, windows.close_ts)
        inside += hi - lo
        pieces.append(_on_grid_and_valid(cols.window(lo, hi), windows, refused))
    if inside < len(ts):
        refused[outside] += len(ts) - inside
    return BarColumns.concat(cols.symbol, cols.interval, pieces)


def _on_grid_and_valid(inside: BarColumns, windows: SessionWindows, refused: Counter[str]) -> BarColumns:
    if on_grid(inside, windows) and valid_prices(inside):
        return inside
    keep: list[int] = []
    for i in range(len(inside)):
        reason = windows.refusal(inside.ts[i]) or bar_violation(
            inside.open[i], inside.high[i], inside.low[i], inside.close[i], inside.volume[i]
        )
        if reason is None:
            keep.append(i)
        else:
            refused[reason] += 1
    return inside.take(keep)


def on_grid(cols: BarColumns, windows: SessionWindows) -> bool:
    """Whether every bar starts on the windows' grid and none in the break (C-level passes)."""
    if not len(cols):
        return True
    seconds, remainder = windows.seconds, windows.open_ts % windows.seconds
    if set(map(seconds.__rmod__, cols.ts)) != {remainder}:
        return False
    if windows.break_start_ts is not None and windows.break_end_ts is not None:
        ts = cols.ts
        if bisect_left(ts, windows.break_start_ts) != bisect_left(ts, windows.break_end_ts):
            return False
    return True


def valid_prices(cols: BarColumns) -> bool:
    """Whether every bar obeys the bar rules of SPEC §7 (positive prices, high and low around
    open and close, volume >= 0), in C-level passes."""
    return not len(cols) or (
        min(cols.open) > 0
        and min(cols.close) > 0
        and min(cols.low) > 0
        and min(cols.volume) >= 0
        and all(map(ge, cols.high, cols.open))
        and all(map(ge, cols.high, cols.close))
        and all(map(le, cols.low, cols.open))
        and all(map(le, cols.low, cols.close))
    )


@dataclass(frozen=True, slots=True)
class Step:
    """What one clock step released: the base bars starting in ``[from_ts, until_ts)`` (each
    symbol's bars that ended since the last step) and the derived bars whose windows ended.

    Releasing is O(1): a step only moves ``until_ts``. :attr:`ranges` finds the released
    positions (one bisection per symbol) and :attr:`bars` is a :class:`ReleasedBars` that builds
    :class:`Bar` values only when somebody reads it.
    """

    now_ts: int
    from_ts: int
    until_ts: int
    windows: int
    """How many base windows holding bars (of any symbol) this step released."""
    derived: tuple[Bar, ...]
    columns: tuple[BarColumns, ...]

    @property
    def ranges(self) -> tuple[tuple[BarColumns, int, int], ...]:
        """``(columns, start, stop)`` of every symbol that released bars, in symbol order."""
        if not self.windows:
            return ()
        out = []
        for cols in self.columns:
            start = bisect_left(cols.ts, self.from_ts)
            stop = bisect_left(cols.ts, self.until_ts, start)
            if stop > start:
                out.append((cols, start, stop))
        return tuple(out)

    @property
    def bars(self) -> ReleasedBars:
        """The released base bars in (time, symbol) order, built when first read."""
        return ReleasedBars(self)

    def bar_values(self) -> tuple[Bar, ...]:
        """The released base bars in (time, symbol) order, built now."""
        ranges = self.ranges
        merged = [bar for cols, start, stop in ranges for bar in cols.bars(start, stop)]
        if self.windows > 1 and len(ranges) > 1:
            merged.sort(key=lambda bar: bar.ts)  # stable: symbol order kept within a timestamp
        return tuple(merged)


class ReleasedBars(Sequence[Bar]):
    """The base bars of one clock step as a read-only sequence of :class:`Bar` values, built from
    the day's columns the first time anybody reads it (the first subscriber that does; then
    kept): a step that no subscriber reads costs no ``Bar`` at all. Equal to the tuple of its bars.
    """

    __slots__ = ("_bars", "_step")

    def __init__(self, step: Step) -> None:
        self._step = step
        self._bars: tuple[Bar, ...] | None = None

    def _values(self) -> tuple[Bar, ...]:
        bars = self._bars
        if bars is None:  # two readers at once build equal tuples; either one is kept
            bars = self._bars = self._step.bar_values()
        return bars

    def __len__(self) -> int:
        return len(self._values())

    @overload
    def __getitem__(self, index: int) -> Bar: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Bar, ...]: ...
    def __getitem__(self, index: int | slice) -> Bar | tuple[Bar, ...]:
        return self._values()[index]

    def __iter__(self) -> Iterator[Bar]:
        return iter(self._values())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ReleasedBars):
            other = other._values()
        return self._values() == other

    def __hash__(self) -> int:
        return hash(self._values())

    def __add__(self, other: tuple[Bar, ...]) -> tuple[Bar, ...]:
        return self._values() + tuple(other)

    def __radd__(self, other: tuple[Bar, ...]) -> tuple[Bar, ...]:
        return tuple(other) + self._values()

    def __repr__(self) -> str:
        return repr(self._values())


class SessionDay:
    """The base bars of one session day, released step by step; see the module docstring."""

    __slots__ = (
        "_at",
        "_before",
        "_columns",
        "_derived",
        "_ends",
        "_given",
        "_seconds",
        "_starts",
        "_until",
        "derived",
        "end_ts",
        "grid",
        "hours",
        "now_ts",
        "refused",
        "start_ts",
        "symbols",
    )

    def __init__(
        self,
        hours: DayHours,
        base: Interval,
        derived: Sequence[Interval],
        symbols: Sequence[str],
        bars: Iterable[Bar] | Iterable[BarColumns],
        *,
        extended: bool = False,
    ) -> None:
        self.hours = hours
        self.derived = tuple(derived)
        self.symbols = tuple(symbols)
        self.refused: Counter[str] = Counter()
        self.grid = grid = DayGrid(hours, base, extended)
        self.start_ts, self.end_ts = grid.start_ts, grid.end_ts
        self.now_ts = grid.start_ts
        self._seconds = base.seconds
        base_text = str(base)
        given: dict[str, BarColumns] = {}
        bar_groups: dict[str, list[Bar]] = {}
        for item in bars:
            count = len(item) if isinstance(item, BarColumns) else 1  # else a Bar
            if item.symbol not in self.symbols:
                self.refused[Refusal.UNSUBSCRIBED_SYMBOL] += count
            elif item.interval != base_text:
                self.refused[Refusal.NOT_THE_STREAMED_INTERVAL] += count
            elif isinstance(item, BarColumns):
                given[item.symbol] = item
            else:
                bar_groups.setdefault(item.symbol, []).append(item)
        for symbol, group in bar_groups.items():
            columns = BarColumns.from_bars(symbol, base_text, group)
            self.refused[Refusal.DUPLICATE] += len(group) - len(columns)
            given[symbol] = columns
        self._given = given
        self._columns: tuple[BarColumns, ...] = tuple(
            day_session(given[symbol], grid.windows, self.refused, grid.outside)
            if symbol in given
            else BarColumns.from_rows(symbol, base_text, ())
            for symbol in self.symbols
        )
        self._until = grid.start_ts
        # the starts of the windows holding a bar of any symbol, their ends, and how many bars
        # start before each (C-level counting: a released count is then one lookup)
        counts = Counter(chain.from_iterable(c.ts for c in self._columns))
        self._starts = sorted(counts)
        self._ends = [grid.end(ts) for ts in self._starts]
        self._before = [0, *accumulate(map(counts.__getitem__, self._starts))]
        self._at = 0
        self._derived = DerivedBars(hours, base, self.derived, self._columns)

    def alignment(self) -> dict[str, Alignment]:
        """Per symbol with bars, the alignment verdict on every base bar given for the day's hours
        (extended hours included); none for daily bars."""
        if self._seconds >= DAY_SECONDS:
            return {}
        given = {symbol: cols for symbol, cols in self._given.items() if len(cols)}
        verdicts = check_alignments(
            [(cols.ts, cols.volume) for cols in given.values()], self._seconds, [self.hours]
        )
        return dict(zip(given, verdicts, strict=True))

    @property
    def columns(self) -> tuple[BarColumns, ...]:
        """The session columns of every symbol, in symbol order (after the filter)."""
        return self._columns

    @property
    def bar_count(self) -> int:
        """Bars that will enter the session (after the filter)."""
        return sum(len(cols) for cols in self._columns)

    def next_release(self) -> int | None:
        """The clock time at which the next held bar is released; ``None`` when none is left."""
        return self._ends[self._at] if self._at < len(self._ends) else None

    def next_clock(self) -> int:
        """Where a data-driven (speed 0) clock goes next: the next release, else the day's end."""
        release = self.next_release()
        return self.end_ts if release is None or release > self.end_ts else release

    @property
    def at_close(self) -> bool:
        return self.now_ts >= self.end_ts

    @property
    def released_until(self) -> int:
        """Every session bar starting before this time has been released (and none after)."""
        return self._until

    def released_count(self) -> int:
        """Session bars released so far, all symbols."""
        return self._before[self._at]

    def release(self, now_ts: int) -> Step:
        """Move the clock to ``now_ts`` (capped at the day's end; never backwards) and release."""
        now_ts = max(self.now_ts, min(now_ts, self.end_ts))
        self.now_ts = now_ts
        ends, at = self._ends, self._at
        first = at
        while at < len(ends) and ends[at] <= now_ts:
            at += 1
        self._at = at
        before = self._until
        self._until = max(before, self._starts[at] if at < len(ends) else self.end_ts)
        derived = tuple(self._derived.advance(now_ts)) if self.derived else ()
        return Step(now_ts, before, self._until, at - first, derived, self._columns)
