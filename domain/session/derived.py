"""Derived bars (SPEC §7): windows of base bars anchored at the session's regular open.

The rules, in one place:

- **Windows.** A bar interval of ``S`` seconds cuts a session day ``[open, close)`` into the
  windows ``[open + k·S, open + (k+1)·S)``, anchored at the regular open (5m → 09:30, 09:35 …;
  60m → 09:30, 10:30 …). The last window is cut at the close (60m → 15:30–16:00; an early close
  at 13:00 cuts 5m and 60m windows there) and counts as a complete window of the time that
  exists. :class:`SessionWindows` is that geometry; :mod:`domain.quality.scoring` scores bars on the
  very same windows.
- **Midday break** (e.g. Tokyo 11:30–12:30). Windows stay on the open's grid; the break is
  simply time that does not exist. A window lying wholly inside the break is not a window at
  all: nothing is expected there and nothing is emitted. A window that overlaps the break holds
  only the base bars of its trading time and keeps its grid start as timestamp (60m on
  09:00–15:30 with a 11:30–12:30 break: 11:00 holds 11:00–11:29, 12:00 holds 12:30–12:59).
  A window whose trading time stops at the break start ends there (the 11:00 window ends at
  11:30, so it is emitted at 11:30, not at 12:00: all its data exists by then). We chose grid
  anchoring over re-anchoring at the break end so that a window's timestamp never depends on
  the break, and the same windows serve aggregation and quality.
- **Emission.** A window is emitted once the clock has reached its end *and* it holds every
  base bar of its trading time (SPEC §7 "holds all its base bars"): a window with a missing
  base bar is never emitted, whatever the clock says. A late, in-order bar of the current
  window still completes it; a bar older than the last one accepted is refused (the batch
  :func:`derive_bars` rebuilds a day after a gap fill).
- **OHLCV.** First open, max high, min low, last close, summed volume; ``ts`` = window start;
  ``interval`` = the target's canonical spelling (``str(Interval)``).
- **Base bars** are start-stamped, on the base grid ``open + j·base``, inside ``[open, close)``
  and outside the break; anything else is refused with a reason (returned, and counted).
- **Daily bars from minutes** (:func:`daily_bar_from_minutes`): one bar per session day from
  the regular-session bars, partial days allowed, ``ts`` = the session date at 00:00 UTC (the
  store's convention for daily bars).

Cost: :class:`DerivedBarBuilder` keeps one running accumulator and a queue of finished windows;
``add`` is O(1), ``advance`` O(windows emitted). Nothing is ever rescanned.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from datetime import date

from domain.bars import Bar, daily_ts
from domain.intervals import Interval
from domain.session.windows import SessionWindows

__all__ = ["DerivedBarBuilder", "aggregate_window", "daily_bar_from_minutes", "derive_bars"]


class _Accumulator:
    """Running OHLCV of one window: O(1) per bar, no list kept."""

    __slots__ = ("close", "count", "high", "low", "open", "volume")

    def __init__(self, first: Bar) -> None:
        self.open = first.open
        self.high = first.high
        self.low = first.low
        self.close = first.close
        self.volume = first.volume
        self.count = 1

    def add(self, bar: Bar) -> None:
        if bar.high > self.high:
            self.high = bar.high
        if bar.low < self.low:
            self.low = bar.low
        self.close = bar.close
        self.volume += bar.volume
        self.count += 1

    def to_bar(self, symbol: str, interval: str, ts: int) -> Bar:
        return Bar(symbol, interval, ts, self.open, self.high, self.low, self.close, self.volume)


def aggregate_window(bars: Sequence[Bar], interval: str, ts: int) -> Bar:
    """One bar from the time-ordered base bars of a window: first open, max high, min low, last
    close, summed volume, stamped ``ts`` (the window start) and ``interval``.

    Raises ``ValueError`` for an empty window or bars of several symbols.
    """
    if not bars:
        raise ValueError(f"cannot aggregate an empty {interval} window at {ts}")
    symbol = bars[0].symbol
    acc = _Accumulator(bars[0])
    for bar in bars[1:]:
        if bar.symbol != symbol:
            raise ValueError(f"window at {ts} mixes symbols {symbol!r} and {bar.symbol!r}")
        acc.add(bar)
    return acc.to_bar(symbol, interval, ts)


def _check_intervals(base: Interval, target: Interval) -> int:
    if base.is_daily or target.is_daily:
        raise ValueError(f"derived bars are intraday ({base} -> {target}); use daily_bar_from_minutes for 1d")
    if not target.derivable_from(base):
        raise ValueError(f"{target} bars cannot be derived from {base} bars")
    return target.seconds // base.seconds


class DerivedBarBuilder:
    """Builds ``target`` bars of one symbol for one session day from its ``base`` bars.

    Feed base bars in time order with :meth:`add`; call :meth:`advance` with the clock to get the
    windows that have ended and hold all their base bars. See the module docstring for the rules.
    """

    __slots__ = (
        "_acc",
        "_base_windows",
        "_interval_text",
        "_k",
        "_last_ts",
        "_ratio",
        "_ready",
        "_windows",
        "base",
        "rejected",
        "symbol",
        "target",
    )

    def __init__(
        self,
        symbol: str,
        base: Interval,
        target: Interval,
        open_ts: int,
        close_ts: int,
        *,
        break_start_ts: int | None = None,
        break_end_ts: int | None = None,
    ) -> None:
        self.symbol = symbol
        self.base = base
        self.target = target
        self._ratio = _check_intervals(base, target)
        self._base_windows = SessionWindows(open_ts, close_ts, base.seconds, break_start_ts, break_end_ts)
        self._windows = SessionWindows(open_ts, close_ts, target.seconds, break_start_ts, break_end_ts)
        self._interval_text = str(target)
        self._k = -1
        self._acc: _Accumulator | None = None
        self._last_ts: int | None = None
        self._ready: deque[tuple[int, Bar]] = deque()  # (window end, bar), in time order
        self.rejected: Counter[str] = Counter()  # reason -> base bars refused

    @property
    def windows(self) -> SessionWindows:
        """The target windows of the day."""
        return self._windows

    def add(self, bar: Bar) -> str | None:
        """Take one base bar; ``None`` if accepted, else the reason it was refused (also counted).

        Refused: another symbol or interval, outside ``[open, close)``, in the break, off the
        base grid, a duplicate or older than the last accepted bar.
        """
        reason = self._refusal(bar)
        if reason is not None:
            self.rejected[reason] += 1
            return reason
        self._last_ts = bar.ts
        k = (bar.ts - self._windows.open_ts) // self._windows.seconds
        if k != self._k or self._acc is None:
            self._k = k  # an unfinished earlier window can no longer complete: dropped
            self._acc = _Accumulator(bar)
        else:
            self._acc.add(bar)
        if self._acc.count == self._needed(k):
            start = self._windows.start(k)
            self._ready.append(
                (self._windows.end(k), self._acc.to_bar(self.symbol, self._interval_text, start))
            )
            self._acc = None
        return None

    def advance(self, now_ts: int) -> list[Bar]:
        """The complete windows whose end is ``<= now_ts``, oldest first, each returned once."""
        out: list[Bar] = []
        ready = self._ready
        while ready and ready[0][0] <= now_ts:
            out.append(ready.popleft()[1])
        return out

    def _needed(self, k: int) -> int:
        lo = k * self._ratio
        return self._base_windows.expected_in(lo, lo + self._ratio)

    def _refusal(self, bar: Bar) -> str | None:
        if bar.symbol != self.symbol:
            return "other symbol"
        if bar.interval != str(self.base):
            return "other interval"
        reason = self._base_windows.refusal(bar.ts)
        if reason is not None:
            return reason
        if self._last_ts is not None and bar.ts <= self._last_ts:
            return "duplicate" if bar.ts == self._last_ts else "out of order"
        return None


def derive_bars(
    base_bars: Iterable[Bar],
    target: Interval,
    open_ts: int,
    close_ts: int,
    *,
    base: Interval | None = None,
    now_ts: int | None = None,
    break_start_ts: int | None = None,
    break_end_ts: int | None = None,
) -> list[Bar]:
    """Batch form of :class:`DerivedBarBuilder`: every complete ``target`` window of the day.

    ``base`` defaults to ``target.base`` (1m for minute intervals). Input order does not matter:
    bars are sorted by ``ts`` and the first of duplicates wins (the builder keeps the first too).
    Bars outside the session, in the break or off the grid are ignored. With ``now_ts`` only the
    windows ended by then are returned. For in-order input the result equals the builder's
    output after ``advance(now_ts or close_ts)``. Raises ``ValueError`` for mixed symbols.
    """
    base = base or target.base
    ratio = _check_intervals(base, target)
    base_windows = SessionWindows(open_ts, close_ts, base.seconds, break_start_ts, break_end_ts)
    windows = SessionWindows(open_ts, close_ts, target.seconds, break_start_ts, break_end_ts)
    interval_text, base_text = str(target), str(base)
    horizon = close_ts if now_ts is None else now_ts

    symbol: str | None = None
    seen: set[int] = set()
    groups: dict[int, list[Bar]] = {}
    for bar in sorted(base_bars, key=lambda b: b.ts):
        if symbol is None:
            symbol = bar.symbol
        elif bar.symbol != symbol:
            raise ValueError(f"derive_bars got bars of several symbols: {symbol!r} and {bar.symbol!r}")
        if bar.interval != base_text or bar.ts in seen:
            continue
        j = base_windows.index(bar.ts)
        if j is None:
            continue
        seen.add(bar.ts)
        groups.setdefault(j // ratio, []).append(bar)

    out: list[Bar] = []
    for k in sorted(groups):
        bars = groups[k]
        needed = base_windows.expected_in(k * ratio, (k + 1) * ratio)
        if len(bars) == needed and windows.end(k) <= horizon:
            out.append(aggregate_window(bars, interval_text, windows.start(k)))
    return out


def daily_bar_from_minutes(
    symbol: str,
    minute_bars: Iterable[Bar],
    session_date: date,
    open_ts: int,
    close_ts: int,
    *,
    break_start_ts: int | None = None,
    break_end_ts: int | None = None,
) -> Bar | None:
    """The daily bar of ``session_date`` from its regular-session intraday bars, or ``None``.

    Only bars starting in ``[open_ts, close_ts)`` (and outside the break) count; partial days
    are allowed (SPEC §7). Duplicated timestamps count once (the first wins). ``ts`` is the
    session date (exchange-local date) at 00:00 UTC, the store's convention for daily bars.
    Raises ``ValueError`` for a bar of another symbol.
    """
    seen: set[int] = set()
    kept: list[Bar] = []
    for bar in sorted(minute_bars, key=lambda b: b.ts):
        if bar.symbol != symbol:
            raise ValueError(f"daily bar of {symbol!r} got a bar of {bar.symbol!r}")
        if not open_ts <= bar.ts < close_ts or bar.ts in seen:
            continue
        if (
            break_start_ts is not None
            and break_end_ts is not None
            and break_start_ts <= bar.ts < break_end_ts
        ):
            continue
        seen.add(bar.ts)
        kept.append(bar)
    if not kept:
        return None
    return aggregate_window(kept, "1d", daily_ts(session_date))
