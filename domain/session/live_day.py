"""One live session day (SPEC §5, §7, §8): which arriving bars enter the session, which are
stored, and which derived bars complete as the clock moves and late or filled bars arrive.

A provider delivers base bars as they complete, in any order, sometimes twice, sometimes as an
*update* of a bar already delivered, sometimes broken. :meth:`LiveDay.admit` sorts a delivery:

- **stored**: every valid bar of a subscribed symbol at the base interval dated within the day's
  trading hours (pre- and post-market included) — the store keeps what was received;
- **session**: the stored bars inside the regular session (with extended hours: inside any session
  the day scores, :class:`~domain.session.windows.DayGrid`), on the grid, outside the break —
  new ones, and updates that replace a session bar;
- refused bars are counted by reason in :attr:`LiveDay.refused`
  (:class:`~domain.session.windows.Refusal`, or the bar rule a bar breaks). A bar delivered
  again is a duplicate and changes nothing; an *update* replaces the session bar.

:meth:`LiveDay.advance` returns the derived bars that are due, built by the rules of a replay's
(:class:`~domain.session.derived.DerivedBars`, window by window): a window is built once it has ended
and holds its base bars, so a window completed late by a gap fill is built then; a window whose
base bars changed after it was built is built again (the new value replaces the old one by
timestamp).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.bars import Bar, bar_violation
from domain.intervals import DAY_SECONDS, Interval
from domain.quality.alignment import Alignment, check_alignments
from domain.session.derived import DerivedBars
from domain.session.replay_day import Step
from domain.session.windows import DayGrid, DayHours, Refusal

__all__ = ["Admitted", "LiveDay"]


@dataclass(frozen=True, slots=True)
class Admitted:
    """What one delivery changes: bars to store, and bars new to (or replaced in) the session."""

    stored: tuple[Bar, ...] = ()
    session: tuple[Bar, ...] = ()
    refused: int = 0


class _GrowingColumns:
    """One symbol's session bars of a live day as time-ordered columns that grow as bars arrive
    (what :class:`~domain.session.derived.DerivedBars` reads), and its bars by timestamp."""

    __slots__ = ("bars", "close", "high", "low", "open", "symbol", "ts", "volume")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bars: dict[int, Bar] = {}
        self.ts: list[int] = []
        self.open: list[float] = []
        self.high: list[float] = []
        self.low: list[float] = []
        self.close: list[float] = []
        self.volume: list[float] = []

    def put(self, bar: Bar) -> None:
        """Insert ``bar``, or replace the bar of its timestamp."""
        i = bisect_left(self.ts, bar.ts)
        values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        columns = (self.open, self.high, self.low, self.close, self.volume)
        if bar.ts in self.bars:
            for column, value in zip(columns, values, strict=True):
                column[i] = value
        else:
            self.ts.insert(i, bar.ts)
            for column, value in zip(columns, values, strict=True):
                column.insert(i, value)
        self.bars[bar.ts] = bar


class LiveDay:
    """See the module docstring. ``derived`` intervals must be derivable from ``base``."""

    def __init__(
        self,
        hours: DayHours,
        base: Interval,
        derived: Iterable[Interval],
        symbols: Iterable[str],
        *,
        extended: bool = False,
    ) -> None:
        self.hours = hours
        self._base = base
        self._extended = extended
        self._base_text = str(base)
        self._seconds = base.seconds
        self.grid = DayGrid(hours, base, extended)
        self.start_ts, self.end_ts = self.grid.start_ts, self.grid.end_ts
        ordered = tuple(dict.fromkeys(symbols))  # the config's order, as in a replay
        self._symbols = frozenset(ordered)
        self._columns = [_GrowingColumns(symbol) for symbol in ordered]
        self._position = {cols.symbol: i for i, cols in enumerate(self._columns)}
        self._derived = DerivedBars(hours, base, list(derived), self._columns)
        self.refused: Counter[str] = Counter()
        self._outside: set[tuple[str, int]] = set()  # stored bars kept out of the session
        self._received: dict[str, dict[int, float]] = {}  # per symbol, ts -> volume as first stored
        self.now_ts = hours.read_start_ts
        self.newest_ts: dict[str, int] = {}
        """Per symbol, the start of the newest session bar."""

    def close_early(self, hours: DayHours) -> None:
        """The calendar now closes the day earlier (``hours``, the same day's): bars after the
        new close are kept out of the session, and the day ends there."""
        if hours.day != self.hours.day or hours.close_ts >= self.hours.close_ts:
            raise ValueError(f"{hours.day}: not an earlier close of {self.hours.day}")
        self.hours = hours
        self.grid = DayGrid(hours, self._base, self._extended)
        self.end_ts = self.grid.end_ts

    @property
    def session_count(self) -> int:
        return sum(len(cols.ts) for cols in self._columns)

    def admit(self, bars: Sequence[Bar], *, updated: bool = False) -> Admitted:
        """Sort one delivery (see the module docstring)."""
        stored: list[Bar] = []
        session: list[Bar] = []
        refused = 0
        hours, grid = self.hours, self.grid
        for bar in bars:
            reason = self._refusal(bar, hours)
            if reason is not None:
                self.refused[reason] += 1
                refused += 1
                continue
            stored.append(bar)
            self._received.setdefault(bar.symbol, {}).setdefault(bar.ts, bar.volume)
            outside = grid.refusal(bar.ts)
            if outside is not None:
                seen = (bar.symbol, bar.ts)
                if seen in self._outside and not updated:
                    stored.pop()
                    outside = Refusal.DUPLICATE
                self._outside.add(seen)
                self.refused[outside] += 1
                refused += 1
                continue
            position = self._position[bar.symbol]
            cols = self._columns[position]
            previous = cols.bars.get(bar.ts)
            if previous is not None and (not updated or previous == bar):
                self.refused[Refusal.DUPLICATE] += 1
                refused += 1
                stored.pop()  # already stored: storing it again changes nothing
                continue
            cols.put(bar)
            session.append(bar)
            if bar.ts > self.newest_ts.get(bar.symbol, -1):
                self.newest_ts[bar.symbol] = bar.ts
            self._derived.touch(position, bar.ts)
        session.sort(key=lambda b: (b.symbol, b.ts))
        return Admitted(tuple(stored), tuple(session), refused)

    def alignment(self) -> dict[str, Alignment]:
        """Per symbol with bars, the alignment verdict on every bar stored for the day (extended
        hours included), on what the clock has let arrive; none for daily bars."""
        seconds = self._seconds
        if seconds >= DAY_SECONDS:
            return {}
        series = [(list(received), list(received.values())) for received in self._received.values()]
        verdicts = check_alignments(series, seconds, [self.hours], (self.hours.read_start_ts, self.now_ts))
        return dict(zip(self._received, verdicts, strict=True))

    def advance(self, now_ts: int) -> list[Bar]:
        """Move the clock to ``now_ts`` (never back); the derived bars due, in time order: the
        windows that ended since the last call, and those a late, filled or updated bar changed."""
        self.now_ts = max(self.now_ts, now_ts)
        return self._derived.advance(self.now_ts)

    def release(self, now_ts: int) -> Step:
        """:meth:`advance` as a clock step of a :class:`~domain.session.day_source.DaySource`: no
        base bar is released by the clock (they entered the session as they were admitted)."""
        derived = tuple(self.advance(now_ts))
        return Step(self.now_ts, self.now_ts, self.now_ts, 0, derived, ())

    def _refusal(self, bar: Bar, hours: DayHours) -> str | None:
        if bar.symbol not in self._symbols:
            return Refusal.UNSUBSCRIBED_SYMBOL
        if bar.interval != self._base_text:
            return Refusal.NOT_THE_STREAMED_INTERVAL
        if not hours.read_start_ts <= bar.ts < hours.read_end_ts:
            return Refusal.NOT_TODAY
        return bar_violation(bar.open, bar.high, bar.low, bar.close, bar.volume)
