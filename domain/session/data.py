"""Session data (SPEC §5–§7): the in-memory store a session coordinator owns.

One coordinator thread owns a :class:`SessionData`; nothing here locks. Bars are kept
columnar, not as one Python object per bar: a :class:`BarSeries` per (symbol, interval) holds
``array('q')`` timestamps and ``array('d')`` open/high/low/close/volume, 48 bytes a bar plus
the arrays' small over-allocation. :class:`Bar` values are built only when a caller asks for
one (``bar_at``, iterating a series, ``slice_by_time``).

Ordering rules of a series:

- bars are kept sorted by ``ts`` and unique by ``ts``;
- a bar newer than the last is appended (O(1) amortised) — the replay and live path;
- a late bar (older ``ts``) is inserted at its place found by bisection (O(n) move, rare);
- a bar whose ``ts`` is already present replaces that bar's values (last write wins).

:class:`SessionData` groups, per symbol and interval: historical bars (replaced wholesale by
the loader, with the trading dates they cover), session bars (appended per clock step), the
quality float and the gap list; per symbol: indicator results and session metrics (volume sum,
high, low, newest bar ts) of its *base-interval* session bars, computed when asked for.
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
from typing import TYPE_CHECKING, Any

import numpy as np

from domain.bars import Bar
from domain.columns import BarColumns
from domain.history.indicators import IndicatorResult
from domain.intervals import Interval
from domain.quality.gaps import Gap
from domain.quality.quotes import QuoteQuality, score_quotes
from domain.quote_bars import QuoteBar, quote_bars
from domain.quotes import Quote, QuoteColumns, sample_per_second

if TYPE_CHECKING:
    from domain.config import QuotesConfig

__all__ = [
    "BarCounts",
    "BarSeries",
    "HistoricalBars",
    "ReleaseHorizon",
    "SessionData",
    "SessionMetrics",
    "SymbolSnapshot",
]


class ReleaseHorizon:
    """A replay's release point, shared by the series of a day: bars starting before ``ts``
    are in the session."""

    __slots__ = ("ts",)

    def __init__(self, ts: int = -(2**62)) -> None:
        self.ts = ts


_WHOLE = ReleaseHorizon(2**62)
"""The release point of a series that shows all of its columns (history)."""


class BarSeries:
    """Bars of one symbol and interval, sorted and unique by ``ts``, stored as six columns.

    A series owns its arrays — or, during a replay, is *backed* by the day's read-only
    :class:`~domain.columns.BarColumns` of which it shows the bars starting before a shared
    :class:`ReleaseHorizon`: a clock step then moves one integer for all symbols instead of
    appending to six arrays per symbol. Writing a bar into a backed series first copies the
    visible prefix into arrays of its own (rare: a late bar).
    """

    __slots__ = (
        "_backing",
        "_close",
        "_high",
        "_horizon",
        "_low",
        "_open",
        "_shown",
        "_ts",
        "_volume",
        "interval",
        "symbol",
    )

    def __init__(
        self,
        symbol: str,
        interval: str,
        backing: BarColumns | None = None,
        horizon: ReleaseHorizon | None = None,
    ) -> None:
        self.symbol = symbol
        self.interval = interval
        self._backing = backing
        self._horizon = horizon or ReleaseHorizon()
        self._shown = 0  # backed: the prefix length the column attributes currently hold
        if backing is None:
            self._ts: Any = array("q")
            self._open: Any = array("d")
            self._high: Any = array("d")
            self._low: Any = array("d")
            self._close: Any = array("d")
            self._volume: Any = array("d")
        else:
            if backing.symbol != symbol or backing.interval != interval:
                raise ValueError(f"columns {backing!r} do not belong to series {symbol} {interval}")
            self._show(len(self))

    def _show(self, n: int) -> None:
        backing = self._backing
        assert backing is not None
        self._ts = backing.ts[:n]
        self._open = backing.open[:n]
        self._high = backing.high[:n]
        self._low = backing.low[:n]
        self._close = backing.close[:n]
        self._volume = backing.volume[:n]
        self._shown = n

    def _sync(self) -> None:
        if self._backing is not None and (n := len(self)) != self._shown:
            self._show(n)

    # -- writing -------------------------------------------------------------------------------

    def _own(self) -> None:
        """Copy a backed series' visible prefix into arrays of its own."""
        if self._backing is None:
            return
        self._sync()
        self._ts = array("q", self._ts)
        self._open, self._high, self._low, self._close, self._volume = (array("d", c) for c in self._values())
        self._backing = None

    def _values(self) -> tuple[Any, ...]:
        """The five value columns (``open`` … ``volume``), in :class:`Bar` order."""
        return (self._open, self._high, self._low, self._close, self._volume)

    def add(self, bar: Bar) -> bool:
        """Put ``bar`` at its place; ``True`` if its ``ts`` was new, ``False`` if it replaced one.

        Raises ``ValueError`` if the bar belongs to another symbol or interval.
        """
        if bar.symbol != self.symbol or bar.interval != self.interval:
            raise ValueError(
                f"bar {bar.symbol} {bar.interval} does not belong to series {self.symbol} {self.interval}"
            )
        self._own()
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
            for column, value in zip(self._values(), bar[3:], strict=True):
                column[i] = value
            return False
        ts.insert(i, bar.ts)
        for column, value in zip(self._values(), bar[3:], strict=True):
            column.insert(i, value)
        return True

    def extend(self, bars: Iterable[Bar]) -> int:
        """:meth:`add` each bar in turn; the number that were new."""
        return sum(self.add(bar) for bar in bars)

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        backing = self._backing
        if backing is None:
            return len(self._ts)
        return bisect.bisect_left(backing.ts, self._horizon.ts)

    def __iter__(self) -> Iterator[Bar]:
        return map(self.bar_at, range(len(self)))

    def bar_at(self, i: int) -> Bar:
        """The bar at position ``i`` (negative counts from the end); ``IndexError`` if out of range."""
        self._sync()
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

    def count_between(self, start_ts: int, end_ts: int) -> int:
        """How many bars have ``start_ts <= ts < end_ts``."""
        self._sync()
        return bisect.bisect_left(self._ts, end_ts) - bisect.bisect_left(self._ts, start_ts)

    def slice_by_time(self, start_ts: int, end_ts: int) -> tuple[Bar, ...]:
        """The bars with ``start_ts <= ts < end_ts`` (half-open), copied as values."""
        self._sync()
        start = bisect.bisect_left(self._ts, start_ts)
        return tuple(map(self.bar_at, range(start, bisect.bisect_left(self._ts, end_ts))))

    def arrays(self, *names: str) -> tuple[np.ndarray[Any, Any], ...]:
        """Numpy views of the named columns (``ts`` int64, the others float64) of the bars in
        the series now, no copy."""
        self._sync()
        n = len(self._ts)
        return tuple(
            np.frombuffer(getattr(self, f"_{name}"), dtype=np.int64 if name == "ts" else np.float64, count=n)
            for name in names
        )

    def nbytes(self) -> int:
        """Bytes held by the six column arrays (headers and over-allocation included); a backed
        series counts its whole backing, shown or not (it is resident)."""
        if self._backing is not None:
            return 48 * len(self._backing)
        return sys.getsizeof(self._ts) + sum(map(sys.getsizeof, self._values()))

    def __repr__(self) -> str:
        return f"BarSeries({self.symbol} {self.interval}, {len(self)} bars)"


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    """Running session figures of one symbol, from its base-interval session bars."""

    volume: float
    high: float
    low: float
    last_update_ts: int
    """Start ``ts`` of the newest base bar applied."""


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
    quote: Quote | None = None
    """The latest quote row the clock has released (a backtest streaming quotes)."""


_Key = tuple[str, str]  # (symbol, interval)


class SessionData:
    """Everything a session holds in memory, per symbol and interval. Single-threaded.

    ``base_interval`` is the streamed base (SPEC §5): only session bars of that interval move
    the session metrics. Intervals are keyed by their canonical spelling (``str(Interval)``,
    as in :attr:`Bar.interval`).
    """

    __slots__ = (
        "_gaps",
        "_historical",
        "_indicators",
        "_live_quotes",
        "_quality",
        "_quote_horizon",
        "_quotes",
        "_session",
        "base_interval",
    )

    def __init__(self, base_interval: str | Interval) -> None:
        self.base_interval = str(base_interval)
        self._historical: dict[_Key, HistoricalBars] = {}
        self._session: dict[_Key, BarSeries] = {}
        self._quality: dict[_Key, float] = {}
        self._gaps: dict[_Key, list[Gap]] = {}
        self._indicators: dict[str, dict[str, IndicatorResult]] = {}
        self._quotes: dict[str, QuoteColumns] = {}
        self._quote_horizon = ReleaseHorizon()
        self._live_quotes: dict[str, dict[int, Quote]] = {}  # live: per symbol, second -> its last quote

    # -- historical ----------------------------------------------------------------------------

    def set_historical(
        self, symbol: str, interval: str, bars: Iterable[Bar] | BarColumns, trading_dates: Sequence[date]
    ) -> int:
        """Replace the historical bars of ``symbol``/``interval``; the number of bars kept.

        Bars may come in any order (sorted and de-duplicated here, last write wins); columns (the
        loader's, sorted and unique) are kept as they are, the series a view of them.
        ``ValueError`` if a bar belongs to another symbol or interval.
        """
        if isinstance(bars, BarColumns):
            series = BarSeries(symbol, interval, bars, _WHOLE)
        else:
            series = BarSeries(symbol, interval)
            series.extend(bars)
        self._historical[(symbol, interval)] = HistoricalBars(series, tuple(sorted(set(trading_dates))))
        return len(series)

    def historical(self, symbol: str, interval: str) -> BarSeries | None:
        entry = self._historical.get((symbol, interval))
        return None if entry is None else entry.series

    # -- session bars --------------------------------------------------------------------------

    def append_session_bars(self, bars: Iterable[Bar]) -> int:
        """Add bars (any symbols and intervals, e.g. one clock step's); the number that were new."""
        new = 0
        session = self._session
        for bar in bars:
            key = (bar.symbol, bar.interval)
            series = session.get(key)
            if series is None:
                series = session[key] = BarSeries(bar.symbol, bar.interval)
            new += series.add(bar)
        return new

    def attach_day(
        self, columns: Iterable[BarColumns], released: Mapping[str, int]
    ) -> dict[str, ReleaseHorizon]:
        """Replay path: the session series become views of the day's columns (base and derived),
        each showing the bars that start before its interval's release point in ``released``;
        move the returned horizons' ``ts`` as the clock releases more (one per interval, for
        every symbol)."""
        horizons = {interval: ReleaseHorizon(ts) for interval, ts in released.items()}
        for cols in columns:
            if cols.interval not in horizons:
                raise ValueError(f"attach_day has no release point for {cols!r}")
            self._session[(cols.symbol, cols.interval)] = BarSeries(
                cols.symbol, cols.interval, cols, horizons[cols.interval]
            )
        return horizons

    def session_bars(self, symbol: str, interval: str) -> BarSeries | None:
        return self._session.get((symbol, interval))

    def metrics(self, symbol: str) -> SessionMetrics | None:
        """Volume, high, low and newest bar of the symbol's base-interval session bars (column
        passes in C: a report or a snapshot asks, not every clock step)."""
        series = self._session.get((symbol, self.base_interval))
        if series is None or not len(series):
            return None
        volume, high, low = series.arrays("volume", "high", "low")
        # volumes added in time order (cumsum is sequential; sum would add pairwise and round otherwise)
        return SessionMetrics(
            float(np.cumsum(volume)[-1]), float(high.max()), float(low.min()), series._ts[-1]
        )

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

    def attach_quotes(self, columns: Iterable[QuoteColumns], released_until: int) -> ReleaseHorizon:
        """Replay path: the day's quote rows, of which those whose second starts before the
        returned horizon's ``ts`` are in the session (move it as the clock releases more)."""
        self._quotes = {cols.symbol: cols for cols in columns}
        self._quote_horizon = ReleaseHorizon(released_until)
        return self._quote_horizon

    def add_quotes(self, quotes: Iterable[Quote]) -> list[Quote]:
        """Live path: quotes as they arrive (any order, duplicates and late ones included); each
        second keeps its last quote by event time, as the store does. The quotes that became
        their second's last (one equal in time and book to the one held changes nothing)."""
        changed: list[Quote] = []
        for quote in quotes:
            seconds = self._live_quotes.setdefault(quote.symbol, {})
            held = seconds.get(quote.ts)
            if (
                held is None
                or quote.event_us > held.event_us
                or (quote.event_us == held.event_us and quote.book() != held.book())
            ):
                seconds[quote.ts] = quote
                self._quotes.pop(quote.symbol, None)  # rebuilt when next read
                changed.append(quote)
        self._quote_horizon = _WHOLE  # a live session holds what arrived
        return changed

    def quote_rows(self) -> int:
        """Quote rows the session holds (all symbols; a replay's whole day)."""
        symbols = set(self._quotes) | set(self._live_quotes)
        return sum(len(cols) for symbol in symbols if (cols := self.quote_columns(symbol)) is not None)

    def quote_columns(self, symbol: str) -> QuoteColumns | None:
        """The session's quote rows of ``symbol`` (a replay's: the whole day, released up to the
        horizon), or ``None`` without quotes."""
        cols = self._quotes.get(symbol)
        if cols is None and (live := self._live_quotes.get(symbol)):
            cols = self._quotes[symbol] = QuoteColumns.from_quotes(
                symbol, list(sample_per_second(live.values()))
            )
        return cols

    def latest_quote(self, symbol: str) -> Quote | None:
        """The newest quote row of ``symbol`` released so far, or ``None``."""
        cols = self.quote_columns(symbol)
        if cols is None:
            return None
        i = bisect.bisect_left(cols.ts, self._quote_horizon.ts)
        return cols.quotes(i - 1, i)[0] if i else None

    def quote_bars(self, symbol: str, interval: str, start_ts: int, until_ts: int) -> list[QuoteBar]:
        """The quote bars of ``symbol`` at ``interval`` from ``start_ts`` whose window ended by
        ``until_ts`` and by what the session holds (:func:`~domain.quote_bars.quote_bars`)."""
        cols = self.quote_columns(symbol)
        if cols is None:
            return []
        parsed = Interval.parse(interval)
        return quote_bars(cols, str(parsed), parsed.seconds, start_ts, min(until_ts, self._quote_horizon.ts))

    def quote_quality(
        self, symbol: str, open_ts: int, until_ts: int, rules: QuotesConfig
    ) -> QuoteQuality | None:
        """The quote quality of ``symbol`` over the session seconds ``[open_ts, until_ts)``
        (:func:`~domain.quality.quotes.score_quotes`, checking the 1m session bars' closes),
        or ``None`` if the session holds no quotes for it."""
        cols = self.quote_columns(symbol)
        if cols is None:
            return None
        until_ts = min(until_ts, self._quote_horizon.ts)
        minutes = self._session.get((symbol, "1m"))
        starts, closes = minutes.arrays("ts", "close") if minutes is not None else ((), ())
        return score_quotes(
            cols,
            open_ts,
            until_ts,
            stale_after=rules.stale_after_seconds,
            halt_conditions=rules.halt_conditions,
            bar_starts=starts,
            bar_closes=closes,
        )

    def clear_session(self) -> None:
        """End of day: drop session bars, quotes, quality and gaps; historical and indicators stay."""
        self._session.clear()
        self._quotes = {}
        self._live_quotes.clear()
        self._quality.clear()
        self._gaps.clear()

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
        return SymbolSnapshot(
            symbol=symbol,
            session_bars={i: len(s) for (sym, i), s in sorted(self._session.items()) if sym == symbol},
            historical_bars={
                i: len(e.series) for (sym, i), e in sorted(self._historical.items()) if sym == symbol
            },
            quality={i: q for (sym, i), q in sorted(self._quality.items()) if sym == symbol},
            gap_counts={i: len(g) for (sym, i), g in sorted(self._gaps.items()) if sym == symbol},
            metrics=self.metrics(symbol),
            indicators=dict(self._indicators.get(symbol, {})),
            quote=self.latest_quote(symbol),
        )
