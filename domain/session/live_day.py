"""One live session day (SPEC §5, §7, §8): which arriving bars enter the session, which are
stored, and which derived bars complete as the clock moves and late or filled bars arrive.

A provider delivers base bars as they complete, in any order, sometimes twice, sometimes as an
*update* of a bar already delivered, sometimes broken. :meth:`LiveDay.admit` sorts a delivery:

- **stored**: every valid bar of a subscribed symbol at the base interval dated within the day's
  trading hours (pre- and post-market included) — the store keeps what was received;
- **session**: the stored bars inside the regular session, on the grid, outside the break — new
  ones, and updates that replace a session bar;
- refused bars are counted by reason in :attr:`LiveDay.refused` (``outside regular session``,
  ``not today``, ``duplicate``, a bar rule it breaks, ``unsubscribed symbol``…).

:meth:`LiveDay.advance` returns the derived bars that are due: a window is built once it has
ended and every expected base bar of it is present, so a window completed late by a gap fill is
built then; a window whose base bars changed after it was built is built again (the new value
replaces the old one by timestamp).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from domain.bars import Bar, bar_violation
from domain.intervals import Interval
from domain.session.derived import aggregate_window
from domain.session.windows import DayHours, SessionWindows

__all__ = ["Admitted", "LiveDay"]


@dataclass(frozen=True, slots=True)
class Admitted:
    """What one delivery changes: bars to store, and bars new to (or replaced in) the session."""

    stored: tuple[Bar, ...] = ()
    session: tuple[Bar, ...] = ()
    refused: int = 0


@dataclass(slots=True)
class _Derived:
    interval: Interval
    text: str
    windows: SessionWindows
    ratio: int
    built: dict[str, set[int]] = field(default_factory=dict)
    dirty: dict[str, set[int]] = field(default_factory=dict)


class LiveDay:
    """See the module docstring. ``derived`` intervals must be multiples of ``base``."""

    def __init__(
        self, hours: DayHours, base: Interval, derived: Iterable[Interval], symbols: Iterable[str]
    ) -> None:
        self.hours = hours
        self.base = base
        self._base_text = str(base)
        self.windows = hours.windows(base)
        self._symbols = frozenset(symbols)
        self._bars: dict[str, dict[int, Bar]] = {symbol: {} for symbol in self._symbols}
        self._derived: list[_Derived] = []
        for interval in derived:
            if interval.seconds % base.seconds:
                raise ValueError(f"{interval} is not a multiple of the base interval {base}")
            self._derived.append(
                _Derived(interval, str(interval), hours.windows(interval), interval.seconds // base.seconds)
            )
        self.refused: Counter[str] = Counter()
        self._outside: set[tuple[str, int]] = set()  # stored bars kept out of the session
        self.now_ts = hours.read_start_ts
        self.newest_ts: dict[str, int] = {}
        """Per symbol, the start of the newest session bar."""

    @property
    def session_count(self) -> int:
        return sum(len(bars) for bars in self._bars.values())

    def has(self, symbol: str, ts: int) -> bool:
        return ts in self._bars.get(symbol, {})

    def admit(self, bars: Sequence[Bar], *, updated: bool = False) -> Admitted:
        """Sort one delivery (see the module docstring)."""
        stored: list[Bar] = []
        session: list[Bar] = []
        refused = 0
        hours, windows = self.hours, self.windows
        for bar in bars:
            reason = self._refusal(bar, hours)
            if reason is not None:
                self.refused[reason] += 1
                refused += 1
                continue
            stored.append(bar)
            outside = windows.refusal(bar.ts)
            if outside is not None:
                seen = (bar.symbol, bar.ts)
                if seen in self._outside and not updated:
                    stored.pop()
                    outside = "duplicate"
                self._outside.add(seen)
                self.refused[outside] += 1
                refused += 1
                continue
            known = self._bars[bar.symbol]
            previous = known.get(bar.ts)
            if previous is not None and (not updated or previous == bar):
                self.refused["duplicate"] += 1
                refused += 1
                stored.pop()  # already stored: storing it again changes nothing
                continue
            known[bar.ts] = bar
            session.append(bar)
            if bar.ts > self.newest_ts.get(bar.symbol, -1):
                self.newest_ts[bar.symbol] = bar.ts
            k = windows.index(bar.ts)
            assert k is not None
            for derived in self._derived:
                derived.dirty.setdefault(bar.symbol, set()).add(k // derived.ratio)
        session.sort(key=lambda b: (b.symbol, b.ts))
        return Admitted(tuple(stored), tuple(session), refused)

    def advance(self, now_ts: int) -> list[Bar]:
        """Move the clock to ``now_ts`` (never back); the derived bars due, in time order."""
        if now_ts > self.now_ts:
            previous = self.now_ts
            self.now_ts = now_ts
            for derived in self._derived:  # windows that ended since the last call
                first, last = derived.windows.ended(previous), derived.windows.ended(now_ts)
                if last > first:
                    for symbol in self._symbols:
                        derived.dirty.setdefault(symbol, set()).update(range(first, last))
        out: list[Bar] = []
        for derived in self._derived:
            ended = derived.windows.ended(self.now_ts)
            for symbol, windows in derived.dirty.items():
                due = sorted(k for k in windows if k < ended)
                for k in due:
                    windows.discard(k)
                    bar = self._build(derived, symbol, k)
                    if bar is not None:
                        derived.built.setdefault(symbol, set()).add(k)
                        out.append(bar)
        out.sort(key=lambda b: (b.ts, b.symbol, Interval.parse(b.interval).seconds))
        return out

    def _build(self, derived: _Derived, symbol: str, k: int) -> Bar | None:
        windows, ratio = self.windows, derived.ratio
        known = self._bars[symbol]
        members: list[Bar] = []
        for j in range(k * ratio, min((k + 1) * ratio, windows.count)):
            if not windows.is_expected(j):
                continue
            bar = known.get(windows.start(j))
            if bar is None:
                return None  # incomplete: built when the missing bars arrive
            members.append(bar)
        if not members:
            return None
        return aggregate_window(members, derived.text, derived.windows.start(k))

    def _refusal(self, bar: Bar, hours: DayHours) -> str | None:
        if bar.symbol not in self._symbols:
            return "unsubscribed symbol"
        if bar.interval != self._base_text:
            return f"not the streamed interval {self._base_text}"
        if not hours.read_start_ts <= bar.ts < hours.read_end_ts:
            return "not today"
        return bar_violation(bar.open, bar.high, bar.low, bar.close, bar.volume)
