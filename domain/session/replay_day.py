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
  bars (5m, 15m, 1d …) whose windows the clock has passed. A replay's base bars never change, so
  its derived bars are built once, for the whole day and every symbol, when the day is made
  (:func:`~domain.session.derived.derive_columns`, the rules are there); a step releases them.

The session filter is applied once, at construction: a bar enters the session only if it starts
on the base grid inside ``[open, close)`` and outside a midday break — or, with extended hours,
on the grid of the pre- or post-market session it falls in (:class:`~domain.session.windows.DayGrid`;
the clock then runs from the pre-market open to the post-market close). Everything else —
extended hours when they are not scored, the 16:00 bar, another symbol, a bar that breaks the
OHLC rules — is counted in :attr:`SessionDay.refused` by reason
(:class:`~domain.session.windows.Refusal`) and never released. A repeated bar counts as a
duplicate: the first copy is kept (as in a live day).

Cost: bars are held per symbol as read-only :class:`~domain.columns.BarColumns`; the filter
is two bisections per symbol and session and one vectorised pass over every symbol's bars
(:func:`day_sessions`); the derived bars are a few vectorised passes per interval over the whole
day; a step is O(1) whatever the number of symbols (it moves one release point per interval).
:class:`Bar` values are built only when :attr:`Step.bars` or :attr:`Step.derived` is read (an
event subscriber wants them).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, overload

import numpy as np

from domain.bars import MAX_VALUE, Bar, bar_violation, daily_ts
from domain.columns import BarColumns
from domain.intervals import DAY_SECONDS, Interval
from domain.quality.alignment import Alignment, check_alignments
from domain.quotes import Quote, QuoteColumns
from domain.session.derived import derive_columns
from domain.session.windows import DayGrid, DayHours, Refusal, SessionWindows

T = TypeVar("T")

__all__ = ["Released", "SessionDay", "Step", "day_session", "day_sessions", "on_grid", "regular_session"]


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
    return day_sessions([cols], sessions, refused, outside)[0]


def day_sessions(
    columns: Sequence[BarColumns], sessions: Sequence[SessionWindows], refused: Counter[str], outside: str
) -> list[BarColumns]:
    """:func:`day_session` of every symbol's columns, checked in one vectorised pass over all of
    them: a symbol whose bars are all clean (the usual case) keeps views of its columns; only a
    symbol with a bar off the grid, in the break or breaking a bar rule is filtered bar by bar."""
    pieces: list[tuple[int, SessionWindows, int, int]] = []  # (symbol position, session, lo, hi)
    inside = 0
    for i, cols in enumerate(columns):
        for windows in sessions:
            lo, hi = bisect_left(cols.ts, windows.open_ts), bisect_left(cols.ts, windows.close_ts)
            if hi > lo:
                pieces.append((i, windows, lo, hi))
                inside += hi - lo
    total = sum(map(len, columns))
    if inside < total:
        refused[outside] += total - inside
    dirty = _dirty_pieces(columns, pieces)
    kept: list[list[BarColumns]] = [[] for _ in columns]
    for (i, windows, lo, hi), unclean in zip(pieces, dirty, strict=True):
        piece = columns[i].window(lo, hi)
        kept[i].append(_filter_bars(piece, windows, refused) if unclean else piece)
    return [
        BarColumns.concat(cols.symbol, cols.interval, parts)
        for cols, parts in zip(columns, kept, strict=True)
    ]


def _dirty_pieces(
    columns: Sequence[BarColumns], pieces: Sequence[tuple[int, SessionWindows, int, int]]
) -> list[bool]:
    """Per piece, whether any of its bars starts off its session's grid or in its break, or
    may break a bar rule (NaN, non-positive price, high/low not around open and close, negative
    volume, a value above :data:`~domain.bars.MAX_VALUE`)."""
    if not pieces:
        return []
    arrays = [columns[i].arrays() for i, _, _, _ in pieces]
    ts, o, h, lo, c, v = (
        np.concatenate([a[n][start:stop] for a, (_, _, start, stop) in zip(arrays, pieces, strict=True)])
        for n in range(6)
    )
    sizes = [stop - start for _, _, start, stop in pieces]
    opens = np.repeat([w.open_ts for _, w, _, _ in pieces], sizes)
    seconds = np.repeat([w.seconds for _, w, _, _ in pieces], sizes)
    breaks = np.repeat([(w.break_start_ts or 0, w.break_end_ts or 0) for _, w, _, _ in pieces], sizes, axis=0)
    with np.errstate(invalid="ignore"):  # a NaN compares false: it is dirty
        clean = (
            ((ts - opens) % seconds == 0)
            & ~((breaks[:, 0] <= ts) & (ts < breaks[:, 1]))
            & (o > 0) & (c > 0) & (lo > 0) & (v >= 0)
            & (h >= o) & (h >= c) & (lo <= o) & (lo <= c)
            & (h <= MAX_VALUE) & (v <= MAX_VALUE)
        )  # fmt: skip
    owner = np.repeat(np.arange(len(pieces)), sizes)
    dirty: list[bool] = (np.bincount(owner[~clean], minlength=len(pieces)) > 0).tolist()
    return dirty


def _filter_bars(inside: BarColumns, windows: SessionWindows, refused: Counter[str]) -> BarColumns:
    """The bars of ``inside`` (within the session) that start an expected window and obey the
    bar rules; the others counted by reason."""
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


@dataclass(frozen=True, slots=True)
class Step:
    """What one clock step released: the base bars starting in ``[from_ts, until_ts)`` (each
    symbol's bars that ended since the last step) and the derived bars whose windows ended.

    Releasing is O(1): a step only moves ``until_ts``. :attr:`ranges` finds the released
    positions (one bisection per symbol) and :attr:`bars` is a :class:`Released` sequence that builds
    :class:`Bar` values only when somebody reads it; a replay's :attr:`derived` is one too.
    """

    now_ts: int
    from_ts: int
    until_ts: int
    windows: int
    """How many base windows holding bars (of any symbol) this step released."""
    derived: Sequence[Bar]
    columns: tuple[BarColumns, ...]
    released: int = 0
    """How many base bars this step released."""
    quotes: Sequence[Quote] = ()
    """The quote rows whose second ended since the last step (a replay streaming quotes)."""

    @property
    def ranges(self) -> tuple[tuple[BarColumns, int, int], ...]:
        """``(columns, start, stop)`` of every symbol that released bars, in symbol order."""
        if not self.windows:
            return ()
        return _ranges(self.columns, self.from_ts, self.until_ts)

    @property
    def bars(self) -> Released[Bar]:
        """The released base bars in (time, symbol) order, built when first read."""
        return Released(self.bar_values, self.released)

    def bar_values(self) -> tuple[Bar, ...]:
        """The released base bars in (time, symbol) order, built now."""
        ranges = self.ranges
        merged = [bar for cols, start, stop in ranges for bar in cols.bars(start, stop)]
        if self.windows > 1 and len(ranges) > 1:
            merged.sort(key=lambda bar: bar.ts)  # stable: symbol order kept within a timestamp
        return tuple(merged)


def _ranges(
    columns: Sequence[BarColumns], from_ts: int, until_ts: int
) -> tuple[tuple[BarColumns, int, int], ...]:
    out = []
    for cols in columns:
        start = bisect_left(cols.ts, from_ts)
        stop = bisect_left(cols.ts, until_ts, start)
        if stop > start:
            out.append((cols, start, stop))
    return tuple(out)


class Released(Sequence[T]):
    """The bars (or quotes) of one clock step as a read-only sequence of values, built from the
    day's columns the first time anybody reads them (the first subscriber that does; then kept):
    a step that no subscriber reads costs no ``Bar`` at all. Its length is known without
    building. Equal to the tuple of its values."""

    __slots__ = ("_bars", "_build", "_count")

    def __init__(self, build: Callable[[], tuple[T, ...]], count: int) -> None:
        self._build = build
        self._count = count
        self._bars: tuple[T, ...] | None = None

    def _values(self) -> tuple[T, ...]:
        bars = self._bars
        if bars is None:  # two readers at once build equal tuples; either one is kept
            bars = self._bars = self._build()
        return bars

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self._values()[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self._values())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Released):
            other = other._values()
        return self._values() == other

    def __hash__(self) -> int:
        return hash(self._values())

    def __add__(self, other: tuple[T, ...]) -> tuple[T, ...]:
        return self._values() + tuple(other)

    def __radd__(self, other: tuple[T, ...]) -> tuple[T, ...]:
        return tuple(other) + self._values()

    def __repr__(self) -> str:
        return repr(self._values())


class SessionDay:
    """The base bars of one session day, released step by step; see the module docstring."""

    __slots__ = (
        "_at",
        "_base_text",
        "_before",
        "_columns",
        "_derived",
        "_ends",
        "_given",
        "_quote_before",
        "_quote_seconds",
        "_quotes",
        "_quotes_until",
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
        quotes: Sequence[QuoteColumns] = (),
    ) -> None:
        self.hours = hours
        self.derived = tuple(derived)
        self.symbols = tuple(symbols)
        self.refused: Counter[str] = Counter()
        self.grid = grid = DayGrid(hours, base, extended)
        self.start_ts, self.end_ts = grid.start_ts, grid.end_ts
        self.now_ts = grid.start_ts
        self._seconds = base.seconds
        self._base_text = base_text = str(base)
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
            day_sessions(
                [given.get(symbol) or BarColumns.from_rows(symbol, base_text, ()) for symbol in self.symbols],
                grid.windows,
                self.refused,
                grid.outside,
            )
        )
        self._until = grid.start_ts
        # the starts of the windows holding a bar of any symbol, their ends, and how many bars
        # start before each (vectorised counting: a released count is then one lookup)
        starts, self._before = _counted_starts(self._columns)
        self._starts: list[int] = starts.tolist()
        self._ends: list[int] = grid.ends(starts)
        self._at = 0
        ordered = sorted(self.derived, key=lambda t: t.seconds)  # at one time: shorter intervals first
        self._derived = tuple(_DerivedDay(hours, base, target, self._columns) for target in ordered)
        # the quotes of the day's span, released once their second has passed (no look-ahead)
        self._quotes = tuple(
            _clip(cols, grid.start_ts, grid.end_ts) for cols in quotes if cols.symbol in symbols
        )
        seconds, self._quote_before = _counted_starts(self._quotes)
        self._quote_seconds: list[int] = seconds.tolist()
        self._quotes_until = grid.start_ts

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
        released = self._before[at] - self._before[first]
        return Step(
            now_ts, before, self._until, at - first, self._release_derived(now_ts), self._columns, released,
            self._release_quotes(now_ts),
        )  # fmt: skip

    def _release_quotes(self, now_ts: int) -> Sequence[Quote]:
        """The quote rows whose second ended by ``now_ts`` since the last step, in (time, symbol) order."""
        before, self._quotes_until = self._quotes_until, max(self._quotes_until, now_ts)
        counts, seconds = self._quote_before, self._quote_seconds
        count = counts[bisect_left(seconds, self._quotes_until)] - counts[bisect_left(seconds, before)]
        return (
            Released(partial(_quote_values, self._quotes, before, self._quotes_until), count) if count else ()
        )

    @property
    def quote_columns(self) -> tuple[QuoteColumns, ...]:
        """The day's quote rows per symbol (those of the day's span), released by the clock."""
        return self._quotes

    @property
    def quote_count(self) -> int:
        """Quote rows the day holds (all symbols)."""
        return self._quote_before[-1]

    @property
    def quotes_until(self) -> int:
        """Every quote row whose second starts before this time has been released."""
        return self._quotes_until

    def quotes_released(self) -> int:
        """Quote rows released so far (all symbols)."""
        return self._quote_before[bisect_left(self._quote_seconds, self._quotes_until)]

    def _release_derived(self, now_ts: int) -> Sequence[Bar]:
        parts: list[tuple[tuple[BarColumns, ...], int, int]] = []
        count = 0
        for derived in self._derived:
            ended = derived.windows.ended(now_ts)
            if ended > derived.ended:
                n = derived.before[ended] - derived.before[derived.ended]
                if n:
                    parts.append((derived.columns, derived.until(derived.ended), derived.until(ended)))
                    count += n
                derived.ended = ended
        return Released(partial(_derived_values, parts), count) if count else ()

    @property
    def all_columns(self) -> tuple[BarColumns, ...]:
        """The session columns of the base interval, then of every derived one."""
        return self._columns + tuple(cols for derived in self._derived for cols in derived.columns)

    @property
    def released(self) -> dict[str, int]:
        """Per interval (the base and every derived one), the release point: the bars starting
        before it have been released, none after."""
        out = {derived.interval: derived.until(derived.ended) for derived in self._derived}
        out[self._base_text] = self._until
        return out


def _counted_starts(
    columns: Sequence[BarColumns] | Sequence[QuoteColumns],
) -> tuple[np.ndarray[Any, Any], list[int]]:
    """The distinct ``ts`` of all ``columns`` (sorted), and how many rows start before each of
    them (one more entry: all): a released count is then one lookup."""
    stamps = [np.frombuffer(cols.ts, dtype=np.int64) for cols in columns if len(cols)]
    starts, counts = np.unique(np.concatenate(stamps or [np.empty(0, np.int64)]), return_counts=True)
    return starts, [0, *np.cumsum(counts).tolist()]


def _clip(cols: QuoteColumns, start_ts: int, end_ts: int) -> QuoteColumns:
    lo, hi = bisect_left(cols.ts, start_ts), bisect_left(cols.ts, end_ts)
    return cols if (lo, hi) == (0, len(cols)) else cols.window(lo, hi)


def _quote_values(columns: Sequence[QuoteColumns], from_ts: int, until_ts: int) -> tuple[Quote, ...]:
    """The quote rows starting in ``[from_ts, until_ts)``, in (time, symbol) order."""
    out = []
    for cols in columns:
        start = bisect_left(cols.ts, from_ts)
        out.extend(cols.quotes(start, bisect_left(cols.ts, until_ts, start)))
    out.sort(key=lambda quote: quote.event_us)  # stable: symbol order kept within a time
    return tuple(out)


def _derived_values(parts: Sequence[tuple[tuple[BarColumns, ...], int, int]]) -> tuple[Bar, ...]:
    """The derived bars of a step in (time, interval length, symbol) order."""
    bars = [
        bar
        for columns, from_ts, until_ts in parts
        for cols, start, stop in _ranges(columns, from_ts, until_ts)
        for bar in cols.bars(start, stop)
    ]
    bars.sort(key=lambda bar: bar.ts)  # stable: interval length, then symbol order kept
    return tuple(bars)


class _DerivedDay:
    """One derived interval of a replay day: every symbol's bars, built at once from the day's
    columns (:func:`~domain.session.derived.derive_columns`), and how many of its windows the
    clock has passed (a bar is released once its window has ended)."""

    __slots__ = ("_daily_ts", "before", "columns", "ended", "interval", "windows")

    def __init__(
        self, hours: DayHours, base: Interval, target: Interval, columns: Sequence[BarColumns]
    ) -> None:
        self.interval = str(target)
        self.windows = windows = hours.windows(target)
        self.columns = derive_columns(hours, base, target, columns)
        self._daily_ts = daily_ts(hours.day) if target.is_daily else None
        if self._daily_ts is not None:
            per_window = np.array([sum(map(len, self.columns))])
        else:
            starts = [np.frombuffer(c.ts, dtype=np.int64) for c in self.columns if len(c)]
            k = (
                (np.concatenate(starts) - windows.open_ts) // windows.seconds
                if starts
                else np.empty(0, np.int64)
            )
            per_window = np.bincount(k, minlength=windows.count)
        self.before: list[int] = [0, *np.cumsum(per_window).tolist()]
        """How many bars (all symbols) lie in the windows before each index."""
        self.ended = 0

    def until(self, ended: int) -> int:
        """The release point once ``ended`` windows have ended: bars starting before it are out."""
        if self._daily_ts is not None:
            return self._daily_ts + ended
        return self.windows.start(ended)
