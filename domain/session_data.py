"""Session data (SPEC §5–§7): the in-memory store a session coordinator owns.

One coordinator thread owns a :class:`SessionData`; nothing here locks. Bars are kept
columnar, not as one Python object per bar: a :class:`BarSeries` per (symbol, interval) holds
``array('q')`` timestamps and ``array('d')`` open/high/low/close/volume, 48 bytes a bar plus
the arrays' small over-allocation. :class:`Bar` values are built only when a caller asks for
one (``bar_at``, ``last``, iterating a :class:`BarSlice`).

Ordering rules of a series:

- bars are kept sorted by ``ts`` and unique by ``ts``;
- a bar newer than the last is appended (O(1) amortised) — the replay and live path;
- a late bar (older ``ts``) is inserted at its place found by bisection (O(n) move, rare);
- a bar whose ``ts`` is already present replaces that bar's values (last write wins).

:class:`SessionData` groups, per symbol and interval: historical bars (replaced wholesale by
the loader, with the trading dates they cover), session bars (appended per clock step), the
quality float and the gap list; per symbol: indicator results and session metrics (volume sum,
high, low, newest bar ts) kept up to date in O(1) from every *base-interval* session bar.
:meth:`SessionData.clear_session` drops the session part at the end of a day; historical
bars and indicators stay until the loader replaces them.
"""

from __future__ import annotations

import bisect
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from domain.bars import Bar
from domain.indicators import IndicatorResult
from domain.intervals import Interval
from domain.quality import Gap

__all__ = [
    "BarCounts",
    "BarSeries",
    "BarSlice",
    "HistoricalBars",
    "SessionData",
    "SessionMetrics",
    "SymbolSnapshot",
]


class BarSeries:
    """Bars of one symbol and interval, sorted and unique by ``ts``, stored as six columns."""

    __slots__ = ("_close", "_high", "_low", "_open", "_ts", "_version", "_volume", "interval", "symbol")

    def __init__(self, symbol: str, interval: str) -> None:
        self.symbol = symbol
        self.interval = interval
        self._ts: array[int] = array("q")
        self._open: array[float] = array("d")
        self._high: array[float] = array("d")
        self._low: array[float] = array("d")
        self._close: array[float] = array("d")
        self._volume: array[float] = array("d")
        self._version = 0  # bumped whenever existing indices shift (late insert, clear)

    # -- writing -------------------------------------------------------------------------------

    def add(self, bar: Bar) -> bool:
        """Put ``bar`` at its place; ``True`` if its ``ts`` was new, ``False`` if it replaced one.

        Raises ``ValueError`` if the bar belongs to another symbol or interval.
        """
        if bar.symbol != self.symbol or bar.interval != self.interval:
            raise ValueError(
                f"bar {bar.symbol} {bar.interval} does not belong to series {self.symbol} {self.interval}"
            )
        ts = self._ts
        n = len(ts)
        if n == 0 or bar.ts > ts[n - 1]:
            ts.append(bar.ts)
            self._open.append(bar.open)
            self._high.append(bar.high)
            self._low.append(bar.low)
            self._close.append(bar.close)
            self._volume.append(bar.volume)
            return True
        i = n - 1 if bar.ts == ts[n - 1] else bisect.bisect_left(ts, bar.ts)
        if ts[i] == bar.ts:
            self._open[i] = bar.open
            self._high[i] = bar.high
            self._low[i] = bar.low
            self._close[i] = bar.close
            self._volume[i] = bar.volume
            return False
        ts.insert(i, bar.ts)
        self._open.insert(i, bar.open)
        self._high.insert(i, bar.high)
        self._low.insert(i, bar.low)
        self._close.insert(i, bar.close)
        self._volume.insert(i, bar.volume)
        self._version += 1
        return True

    def extend(self, bars: Iterable[Bar]) -> int:
        """:meth:`add` each bar in turn; the number that were new."""
        return sum(self.add(bar) for bar in bars)

    def clear(self) -> None:
        for column in (self._open, self._high, self._low, self._close, self._volume):
            del column[:]
        del self._ts[:]
        self._version += 1

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ts)

    def __iter__(self) -> Iterator[Bar]:
        return iter(self.slice_by_index(0, len(self._ts)))

    def bar_at(self, i: int) -> Bar:
        """The bar at position ``i`` (negative counts from the end); ``IndexError`` if out of range."""
        return Bar(
            self.symbol,
            self.interval,
            self._ts[i],
            self._open[i],
            self._high[i],
            self._low[i],
            self._close[i],
            self._volume[i],
        )

    def last(self) -> Bar | None:
        """The newest bar, or ``None`` while the series is empty."""
        return self.bar_at(-1) if self._ts else None

    def index_of(self, ts: int) -> int | None:
        """Position of the bar starting at ``ts``, or ``None`` if there is none (O(log n))."""
        i = bisect.bisect_left(self._ts, ts)
        return i if i < len(self._ts) and self._ts[i] == ts else None

    def slice_by_time(self, start_ts: int, end_ts: int) -> BarSlice:
        """A view of the bars with ``start_ts <= ts < end_ts`` (half-open); nothing is copied."""
        start = bisect.bisect_left(self._ts, start_ts)
        stop = max(start, bisect.bisect_left(self._ts, end_ts))
        return BarSlice(self, start, stop)

    def slice_by_index(self, start: int, stop: int) -> BarSlice:
        """A view of positions ``[start, stop)``, clamped to the series."""
        n = len(self._ts)
        start = min(max(start, 0), n)
        return BarSlice(self, start, min(max(stop, start), n))

    def nbytes(self) -> int:
        """Bytes held by the six column arrays (headers and over-allocation included)."""
        return sum(
            sys.getsizeof(column)
            for column in (self._ts, self._open, self._high, self._low, self._close, self._volume)
        )

    def __repr__(self) -> str:
        return f"BarSeries({self.symbol} {self.interval}, {len(self)} bars)"


class BarSlice:
    """Positions ``[start, stop)`` of a :class:`BarSeries`: a view, not a copy.

    Iterating yields :class:`Bar` values built on demand; ``.ts``, ``.open`` … return array
    slices of just this range. Array slices rather than memoryviews, deliberately: a live
    memoryview export locks an ``array`` against resizing, so the coordinator's next append
    would raise ``BufferError``. Appending and replacing keep a slice valid (it still sees the
    same positions); a late insert or a clear shifts positions, after which using the slice
    raises ``RuntimeError`` rather than silently reading the wrong bars.
    """

    __slots__ = ("_series", "_version", "start", "stop")

    def __init__(self, series: BarSeries, start: int, stop: int) -> None:
        self._series = series
        self._version = series._version
        self.start = start
        self.stop = stop

    def _checked(self) -> BarSeries:
        if self._series._version != self._version:
            raise RuntimeError(
                f"stale slice of {self._series.symbol} {self._series.interval}: "
                "bars were inserted or cleared since it was taken"
            )
        return self._series

    def __len__(self) -> int:
        return self.stop - self.start

    def __bool__(self) -> bool:
        return self.stop > self.start

    def __iter__(self) -> Iterator[Bar]:
        series = self._checked()
        for i in range(self.start, self.stop):
            yield series.bar_at(i)

    def __getitem__(self, i: int) -> Bar:
        series = self._checked()
        n = self.stop - self.start
        if not -n <= i < n:
            raise IndexError(f"slice index {i} out of range for {n} bars")
        return series.bar_at(self.start + (i % n))

    @property
    def ts(self) -> array[int]:
        return self._checked()._ts[self.start : self.stop]

    @property
    def open(self) -> array[float]:
        return self._checked()._open[self.start : self.stop]

    @property
    def high(self) -> array[float]:
        return self._checked()._high[self.start : self.stop]

    @property
    def low(self) -> array[float]:
        return self._checked()._low[self.start : self.stop]

    @property
    def close(self) -> array[float]:
        return self._checked()._close[self.start : self.stop]

    @property
    def volume(self) -> array[float]:
        return self._checked()._volume[self.start : self.stop]

    def __repr__(self) -> str:
        return f"BarSlice({self._series.symbol} {self._series.interval}, [{self.start}, {self.stop}))"


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    """Running session figures of one symbol, from its base-interval session bars."""

    volume: float
    high: float
    low: float
    last_update_ts: int
    """Start ``ts`` of the newest base bar applied."""


class _Metrics:
    """Mutable twin of :class:`SessionMetrics`, owned by :class:`SessionData`."""

    __slots__ = ("high", "last_update_ts", "low", "volume")

    def __init__(self, bar: Bar) -> None:
        self.volume = bar.volume
        self.high = bar.high
        self.low = bar.low
        self.last_update_ts = bar.ts

    def freeze(self) -> SessionMetrics:
        return SessionMetrics(self.volume, self.high, self.low, self.last_update_ts)


@dataclass(frozen=True, slots=True)
class HistoricalBars:
    """The historical bars of one symbol and interval and the trading dates they cover."""

    series: BarSeries
    trading_dates: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class BarCounts:
    historical: int
    session: int

    @property
    def total(self) -> int:
        return self.historical + self.session


@dataclass(frozen=True, slots=True)
class SymbolSnapshot:
    """A frozen summary of one symbol for reports; the mappings are copies, keyed by interval."""

    symbol: str
    session_bars: Mapping[str, int]
    historical_bars: Mapping[str, int]
    quality: Mapping[str, float]
    gap_counts: Mapping[str, int]
    metrics: SessionMetrics | None
    indicators: Mapping[str, IndicatorResult]

    @property
    def gap_count(self) -> int:
        return sum(self.gap_counts.values())


_Key = tuple[str, str]  # (symbol, interval)


class SessionData:
    """Everything a session holds in memory, per symbol and interval. Single-threaded.

    ``base_interval`` is the streamed base (SPEC §5): only session bars of that interval move
    the session metrics. Intervals are keyed by their canonical spelling (``str(Interval)``,
    as in :attr:`Bar.interval`).
    """

    __slots__ = ("_gaps", "_historical", "_indicators", "_metrics", "_quality", "_session", "base_interval")

    def __init__(self, base_interval: str | Interval) -> None:
        self.base_interval = str(base_interval)
        self._historical: dict[_Key, HistoricalBars] = {}
        self._session: dict[_Key, BarSeries] = {}
        self._quality: dict[_Key, float] = {}
        self._gaps: dict[_Key, list[Gap]] = {}
        self._indicators: dict[str, dict[str, IndicatorResult]] = {}
        self._metrics: dict[str, _Metrics] = {}

    # -- historical ----------------------------------------------------------------------------

    def set_historical(
        self, symbol: str, interval: str, bars: Iterable[Bar], trading_dates: Sequence[date]
    ) -> int:
        """Replace the historical bars of ``symbol``/``interval``; the number of bars kept.

        Bars may come in any order (sorted and de-duplicated here, last write wins).
        ``ValueError`` if a bar belongs to another symbol or interval.
        """
        series = BarSeries(symbol, interval)
        series.extend(bars)
        self._historical[(symbol, interval)] = HistoricalBars(series, tuple(sorted(set(trading_dates))))
        return len(series)

    def historical(self, symbol: str, interval: str) -> BarSeries | None:
        entry = self._historical.get((symbol, interval))
        return None if entry is None else entry.series

    def historical_dates(self, symbol: str, interval: str) -> tuple[date, ...]:
        entry = self._historical.get((symbol, interval))
        return () if entry is None else entry.trading_dates

    # -- session bars --------------------------------------------------------------------------

    def append_session_bars(self, bars: Iterable[Bar]) -> int:
        """Add one clock step's bars (any symbols and intervals); the number that were new.

        Base-interval bars also update their symbol's metrics: O(1) for a new bar; a bar that
        replaces another adjusts the volume by the difference and, only if it lowered the high
        (or raised the low) that was the extreme, rescans that one series.
        """
        new = 0
        base = self.base_interval
        session = self._session
        for bar in bars:
            key = (bar.symbol, bar.interval)
            series = session.get(key)
            if series is None:
                series = session[key] = BarSeries(bar.symbol, bar.interval)
            if bar.interval != base:
                new += series.add(bar)
                continue
            old: Bar | None = None
            if series and bar.ts <= series._ts[-1]:
                i = series.index_of(bar.ts)
                old = None if i is None else series.bar_at(i)
            new += series.add(bar)
            self._update_metrics(series, bar, old)
        return new

    def _update_metrics(self, series: BarSeries, bar: Bar, old: Bar | None) -> None:
        metrics = self._metrics.get(bar.symbol)
        if metrics is None:
            self._metrics[bar.symbol] = _Metrics(bar)
            return
        if bar.ts > metrics.last_update_ts:
            metrics.last_update_ts = bar.ts
        if old is None:
            metrics.volume += bar.volume
            metrics.high = max(metrics.high, bar.high)
            metrics.low = min(metrics.low, bar.low)
            return
        metrics.volume += bar.volume - old.volume
        if bar.high >= metrics.high:
            metrics.high = bar.high
        elif old.high == metrics.high:
            metrics.high = max(series._high)
        if bar.low <= metrics.low:
            metrics.low = bar.low
        elif old.low == metrics.low:
            metrics.low = min(series._low)

    def session_bars(self, symbol: str, interval: str) -> BarSeries | None:
        return self._session.get((symbol, interval))

    def metrics(self, symbol: str) -> SessionMetrics | None:
        metrics = self._metrics.get(symbol)
        return None if metrics is None else metrics.freeze()

    # -- quality, gaps, indicators -------------------------------------------------------------

    def set_quality(self, symbol: str, interval: str, value: float) -> None:
        self._quality[(symbol, interval)] = value

    def quality(self, symbol: str, interval: str) -> float | None:
        return self._quality.get((symbol, interval))

    def set_gaps(self, symbol: str, interval: str, gaps: Iterable[Gap]) -> None:
        self._gaps[(symbol, interval)] = list(gaps)

    def gaps(self, symbol: str, interval: str) -> tuple[Gap, ...]:
        return tuple(self._gaps.get((symbol, interval), ()))

    def set_indicators(self, symbol: str, indicators: Mapping[str, IndicatorResult]) -> None:
        """Replace the indicator results of ``symbol`` (computed before each session, SPEC §6)."""
        self._indicators[symbol] = dict(indicators)

    def indicators(self, symbol: str) -> Mapping[str, IndicatorResult]:
        return dict(self._indicators.get(symbol, {}))

    # -- whole store ---------------------------------------------------------------------------

    def clear_session(self) -> None:
        """End of day: drop session bars, quality, gaps and metrics; historical and indicators stay."""
        for series in self._session.values():
            series.clear()  # invalidates outstanding slices
        self._session.clear()
        self._quality.clear()
        self._gaps.clear()
        self._metrics.clear()

    def symbols(self) -> tuple[str, ...]:
        names = {symbol for symbol, _ in self._historical}
        names.update(symbol for symbol, _ in self._session)
        names.update(self._indicators)
        return tuple(sorted(names))

    def bar_count(self) -> BarCounts:
        return BarCounts(
            historical=sum(len(entry.series) for entry in self._historical.values()),
            session=sum(len(series) for series in self._session.values()),
        )

    def resident_bytes(self) -> int:
        """Estimated bytes held by every bar column (historical and session)."""
        return sum(entry.series.nbytes() for entry in self._historical.values()) + sum(
            series.nbytes() for series in self._session.values()
        )

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        metrics = self._metrics.get(symbol)
        return SymbolSnapshot(
            symbol=symbol,
            session_bars={i: len(s) for (sym, i), s in sorted(self._session.items()) if sym == symbol},
            historical_bars={
                i: len(e.series) for (sym, i), e in sorted(self._historical.items()) if sym == symbol
            },
            quality={i: q for (sym, i), q in sorted(self._quality.items()) if sym == symbol},
            gap_counts={i: len(g) for (sym, i), g in sorted(self._gaps.items()) if sym == symbol},
            metrics=None if metrics is None else metrics.freeze(),
            indicators=dict(self._indicators.get(symbol, {})),
        )
