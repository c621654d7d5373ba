"""One session day of a replay (SPEC §5 step 4, §7): which bars the clock releases, and when.

:class:`DayHours` is a trading session reduced to epoch seconds. :class:`SessionDay` takes the
day's stored base bars (any order, extended hours included) and answers the coordinator's two
questions without threads:

- **When is the next step?** :meth:`SessionDay.next_release` — the end of the next bar still
  held (bars are start-stamped: the 09:30 1m bar is released at 09:31, never earlier: no
  look-ahead), or ``None`` when no bar is left. A speed-0 replay jumps the clock there (or to
  the close when nothing is left); a paced replay moves it one step at a time.
- **What does a step release?** :meth:`SessionDay.release` — every held bar whose end is
  ``<= now``, in (time, symbol) order, and the derived bars (5m, 15m …) whose windows the clock
  has passed, built incrementally by one :class:`~domain.aggregation.DerivedBarBuilder` per
  symbol and derived interval.

The regular-hours filter is applied once, at construction: a bar enters the session only if it
starts on the base grid inside ``[open, close)`` and outside a midday break. Everything else —
extended hours, the 16:00 bar, another symbol, a bar that breaks the OHLC rules — is counted in
:attr:`SessionDay.refused` by reason and never released. Duplicates keep the last copy.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from domain.aggregation import DerivedBarBuilder, SessionWindows
from domain.bars import Bar, bar_violation, datetime_to_ts
from domain.calendar import TradingSession
from domain.intervals import Interval

__all__ = ["DayHours", "SessionDay", "Step"]


@dataclass(frozen=True, slots=True)
class DayHours:
    """The regular session of one trading day in UTC epoch seconds (break: both or neither)."""

    day: date
    open_ts: int
    close_ts: int
    is_early_close: bool = False
    break_start_ts: int | None = None
    break_end_ts: int | None = None
    pre_open_ts: int | None = None
    post_close_ts: int | None = None

    @classmethod
    def from_session(cls, session: TradingSession) -> DayHours:
        """The hours of a trading session; ``ValueError`` for a day that does not trade."""
        if not session.is_trading_day or session.regular_open is None or session.regular_close is None:
            raise ValueError(f"{session.date.isoformat()} is not a trading day of {session.exchange_group}")

        def ts(moment: object) -> int | None:
            return None if moment is None else datetime_to_ts(moment)  # type: ignore[arg-type]

        return cls(
            day=session.date,
            open_ts=datetime_to_ts(session.regular_open),
            close_ts=datetime_to_ts(session.regular_close),
            is_early_close=session.is_early_close,
            break_start_ts=ts(session.break_start),
            break_end_ts=ts(session.break_end),
            pre_open_ts=ts(session.pre_market_open),
            post_close_ts=ts(session.post_market_close),
        )

    @property
    def read_start_ts(self) -> int:
        """Where a day's stored bars start: the pre-market open, else the regular open."""
        return self.open_ts if self.pre_open_ts is None else min(self.pre_open_ts, self.open_ts)

    @property
    def read_end_ts(self) -> int:
        """Where a day's stored bars end: the post-market close, else the regular close."""
        return self.close_ts if self.post_close_ts is None else max(self.post_close_ts, self.close_ts)

    def windows(self, interval: Interval) -> SessionWindows:
        return SessionWindows(
            self.open_ts, self.close_ts, interval.seconds, self.break_start_ts, self.break_end_ts
        )

    def regular_seconds(self) -> int:
        """Trading seconds of the regular session (the break excluded)."""
        total = self.close_ts - self.open_ts
        if self.break_start_ts is not None and self.break_end_ts is not None:
            total -= self.break_end_ts - self.break_start_ts
        return total


@dataclass(frozen=True, slots=True)
class Step:
    """What one clock step released: base bars and derived bars, each in (time, symbol) order."""

    now_ts: int
    bars: tuple[Bar, ...]
    derived: tuple[Bar, ...]


class SessionDay:
    """The base bars of one session day, released step by step; see the module docstring."""

    __slots__ = (
        "_builders",
        "_cursor",
        "_rank",
        "_releases",
        "_steps",
        "base",
        "derived",
        "hours",
        "now_ts",
        "refused",
        "symbols",
    )

    def __init__(
        self,
        hours: DayHours,
        base: Interval,
        derived: Sequence[Interval],
        symbols: Sequence[str],
        bars: Iterable[Bar],
    ) -> None:
        self.hours = hours
        self.base = base
        self.derived = tuple(derived)
        self.symbols = tuple(symbols)
        self.refused: Counter[str] = Counter()
        self.now_ts = hours.open_ts
        windows = hours.windows(base)
        rank = self._rank = {symbol: i for i, symbol in enumerate(self.symbols)}
        base_text = str(base)
        kept: dict[tuple[int, int], Bar] = {}
        for bar in bars:
            reason = self._refusal(bar, base_text, rank, windows)
            if reason is not None:
                self.refused[reason] += 1
                continue
            key = (bar.ts, rank[bar.symbol])
            if key in kept:
                self.refused["duplicate"] += 1
            kept[key] = bar
        steps: list[tuple[int, list[Bar]]] = []
        for key in sorted(kept):
            bar = kept[key]
            release = windows.end(windows.index(bar.ts))  # type: ignore[arg-type]  # checked above
            if steps and steps[-1][0] == release:
                steps[-1][1].append(bar)
            else:
                steps.append((release, [bar]))
        self._steps = [(release, tuple(step)) for release, step in steps]
        self._releases = [release for release, _ in self._steps]
        self._cursor = 0
        self._builders = [
            DerivedBarBuilder(
                symbol,
                base,
                target,
                hours.open_ts,
                hours.close_ts,
                break_start_ts=hours.break_start_ts,
                break_end_ts=hours.break_end_ts,
            )
            for target in self.derived
            for symbol in self.symbols
        ]

    @staticmethod
    def _refusal(bar: Bar, base_text: str, rank: dict[str, int], windows: SessionWindows) -> str | None:
        if bar.symbol not in rank:
            return "other symbol"
        if bar.interval != base_text:
            return "other interval"
        reason = windows.refusal(bar.ts)
        if reason is not None:
            return reason
        return bar_violation(bar.open, bar.high, bar.low, bar.close, bar.volume)

    @property
    def bar_count(self) -> int:
        """Bars that will enter the session (after the filter)."""
        return sum(len(bars) for _, bars in self._steps)

    @property
    def remaining(self) -> int:
        """Steps not released yet."""
        return len(self._steps) - self._cursor

    def next_release(self) -> int | None:
        """The clock time at which the next held bar is released; ``None`` when none is left."""
        if self._cursor < len(self._steps):
            return self._steps[self._cursor][0]
        return None

    def next_clock(self) -> int:
        """Where a data-driven (speed 0) clock goes next: the next release, else the close."""
        release = self.next_release()
        close = self.hours.close_ts
        return close if release is None or release > close else release

    @property
    def at_close(self) -> bool:
        return self.now_ts >= self.hours.close_ts

    def release(self, now_ts: int) -> Step:
        """Move the clock to ``now_ts`` (capped at the close; never backwards) and release."""
        now_ts = max(self.now_ts, min(now_ts, self.hours.close_ts))
        self.now_ts = now_ts
        stop = bisect_right(self._releases, now_ts, self._cursor)
        if stop == self._cursor:
            released: tuple[Bar, ...] = ()
        elif stop == self._cursor + 1:
            released = self._steps[self._cursor][1]
        else:
            released = tuple(bar for _, bars in self._steps[self._cursor : stop] for bar in bars)
        self._cursor = stop
        if not self._builders:
            return Step(now_ts, released, ())
        derived: list[Bar] = []
        builders = self._builders
        per_target = len(self.symbols)
        if released:
            index = self._rank
            for bar in released:
                i = index[bar.symbol]
                for t in range(len(self.derived)):
                    builders[t * per_target + i].add(bar)
        for builder in builders:
            derived.extend(builder.advance(now_ts))
        if len(self.derived) > 1 or per_target > 1:
            derived.sort(key=lambda bar: bar.ts)  # stable: interval, then symbol order kept
        return Step(now_ts, released, tuple(derived))

    def derived_rejections(self) -> Counter[str]:
        """Base bars the derived-bar builders refused, by reason (zero in a clean replay)."""
        total: Counter[str] = Counter()
        for builder in self._builders:
            total.update(builder.rejected)
        return total
