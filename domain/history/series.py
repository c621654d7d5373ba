"""Historical data for one session day (SPEC §6): trailing bars and indicator inputs.

:func:`load_historical` reads, through an injected :class:`ColumnReader` (the store's bar
repository) and calendar, everything a session day needs from before it:

- every ``historical.data`` entry: for each symbol it applies to and each interval, the bars of
  the ``trailing_days`` trading days before the session day (two entries naming the same symbol
  and interval: the union of their days);
- the indicators' inputs: daily bars over each daily indicator's period, 1m bars over each
  minute indicator's period — then the indicator values themselves.

Rules:

- Intraday historical bars are the **regular session** only (the same filter as streaming): an
  extended-hours or off-grid bar never enters a historical series.
- A day whose stored bars of an interval are missing is **derived from its 1m bars** when the
  interval is derivable from 1m (``1d`` from the regular session, ``5m``/``15m``/``60m`` from
  complete windows); such days are listed in :attr:`HistoricalSeries.derived_days`. Seconds
  intervals cannot be derived.
- Nothing dated on or after the session day is ever read: every window ends the trading day
  before it (:mod:`domain.calendar.trading_days`).
- Missing data is never a crash: days without bars are named in :attr:`HistoricalData.warnings`
  and indicators over missing data are ``None`` with a warning (SPEC §6).

Reads are few, ranged and columnar: per symbol one read per interval over the span of its days,
one 1m read for everything that needs minutes, one daily read for daily bars. A series is a
window of its read's memory whenever its days' bars sit side by side there (no copy, no
per-bar objects); :class:`~domain.bars.Bar` values are built only for indicator inputs.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import Protocol

from domain.bars import Bar, daily_ts
from domain.calendar.model import TradingSession
from domain.calendar.trading_days import SessionCalendar, period_days, trailing_days
from domain.columns import BarColumns
from domain.config import SessionConfig
from domain.history.indicators import IndicatorResult, compute_indicators, describe_days
from domain.intervals import DAILY, MINUTE, Interval
from domain.quality.scoring import day_counts, historical_quality
from domain.session.derived import derive_day
from domain.session.replay_day import on_grid, regular_session
from domain.session.windows import DayHours

__all__ = [
    "ColumnReader",
    "HistoricalCalendar",
    "HistoricalData",
    "HistoricalSeries",
    "data_requirements",
    "load_historical",
    "series_quality",
]


class ColumnReader(Protocol):
    """Reads stored bars as columns, one per symbol, ``start_ts <= ts < end_ts`` in time order
    (the store's bar repository)."""

    def read_columns(
        self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int
    ) -> list[BarColumns]: ...


class HistoricalCalendar(SessionCalendar, Protocol):
    """The calendar queries historical loading needs (a TradingCalendar or a TimeManager client)."""

    def get_trading_sessions(self, days: Sequence[date]) -> list[TradingSession]: ...


@dataclass(frozen=True, slots=True)
class HistoricalSeries:
    """One symbol and interval over its trailing trading days: every bar in read-only
    ``columns`` (time order) and, per day that has bars, its ``[start, stop)`` positions."""

    symbol: str
    interval: str
    days: tuple[date, ...]
    columns: BarColumns
    day_ranges: Mapping[date, tuple[int, int]]
    derived_days: tuple[date, ...] = ()

    @property
    def bars(self) -> list[Bar]:
        return self.columns.bars()

    @property
    def bar_count(self) -> int:
        return len(self.columns)

    def timestamps(self, day: date) -> memoryview:
        lo, hi = self.day_ranges.get(day, (0, 0))
        return self.columns.ts[lo:hi]

    def days_without_bars(self) -> list[date]:
        return [day for day in self.days if day not in self.day_ranges]


@dataclass(frozen=True, slots=True)
class HistoricalData:
    """Everything loaded before one session day."""

    day: date
    series: Mapping[tuple[str, str], HistoricalSeries]
    indicators: Mapping[str, Mapping[str, IndicatorResult]]
    hours: Mapping[date, DayHours]
    """The regular hours of every trading day the series cover (for quality)."""
    warnings: tuple[str, ...] = field(default=())


def series_quality(series: HistoricalSeries, hours: Mapping[date, DayHours]) -> float | None:
    """Historical quality (SPEC §7): the mean per-day quality over the series' trading days."""
    interval = Interval.parse(series.interval)
    return historical_quality(day_counts(hours[day], interval, series.timestamps(day)) for day in series.days)


def load_historical(
    config: SessionConfig, day: date, calendar: HistoricalCalendar, reader: ColumnReader
) -> HistoricalData:
    """Load the trailing series and compute the indicators of ``day``; see the module docstring."""
    data_cfg = config.session_data_config
    symbols = config.symbols
    wanted: dict[tuple[str, str], set[date]] = {}
    for data_entry in data_cfg.historical.data:
        days = trailing_days(calendar, day, data_entry.trailing_days)
        for symbol in symbols:
            if data_entry.applies_to(symbol):
                for configured in data_entry.intervals:
                    wanted.setdefault((symbol, str(configured)), set()).update(days)

    indicators = data_cfg.historical.indicators
    indicator_days = {name: period_days(calendar, day, cfg) for name, cfg in indicators.items()}
    daily_indicator_days = {
        d for n, days in indicator_days.items() if indicators[n].granularity == "daily" for d in days
    }
    minute_indicator_days = {
        d for n, days in indicator_days.items() if indicators[n].granularity == "minute" for d in days
    }

    all_days = {day}.union(daily_indicator_days, minute_indicator_days, *wanted.values())
    sessions = calendar.get_trading_sessions(sorted(all_days))
    hours = {s.date: DayHours.from_session(s) for s in sessions if s.is_trading_day}
    session_hours = hours.pop(day, None)

    series: dict[tuple[str, str], HistoricalSeries] = {}
    results: dict[str, dict[str, IndicatorResult]] = {}
    warnings: list[str] = []
    batched = _BatchedReader(reader, symbols)
    for symbol in symbols:
        loader = _SymbolLoader(symbol, batched, hours)
        own = {interval: sorted(days) for (sym, interval), days in wanted.items() if sym == symbol}
        daily_days = sorted(set(own.get(str(DAILY), ())) | daily_indicator_days)
        stored = {
            interval: loader.stored(interval, days)
            for interval, days in own.items()
            if interval not in (str(MINUTE), str(DAILY))
        }
        if daily_days:  # one daily read serves the 1d series and the daily indicators
            stored[str(DAILY)] = loader.stored(str(DAILY), daily_days)
        # one 1m read covers every day that needs minutes: the 1m series itself, minute
        # indicators, and the days of any other interval that must be derived
        minute_days = set(own.get(str(MINUTE), ())) | minute_indicator_days
        for interval, by_day in stored.items():
            if not Interval.parse(interval).is_seconds:
                minute_days |= {d for d, part in by_day.items() if not len(part)}
        minutes = loader.stored(str(MINUTE), sorted(minute_days)) if minute_days else {}
        derived: dict[str, list[date]] = {}
        for interval, by_day in stored.items():
            parsed = Interval.parse(interval)
            if parsed.is_seconds:
                continue
            for d, part in by_day.items():
                if not len(part) and d in minutes and len(minutes[d]):
                    made = loader.derive(parsed, d, minutes[d])
                    if len(made):
                        by_day[d] = made
                        derived.setdefault(interval, []).append(d)
        if str(MINUTE) in own:
            stored[str(MINUTE)] = minutes
        for interval, days in own.items():
            entry = _series(symbol, interval, days, stored[interval], derived.get(interval, ()))
            series[(symbol, interval)] = entry
            empty = entry.days_without_bars()
            if empty:
                warnings.append(
                    f"{symbol} {interval}: no historical bars for {len(empty)} of {len(days)} trading "
                    f"day(s) before {day.isoformat()}: {describe_days(empty, entry.days)}"
                )
        if indicators:
            daily_by_day = stored.get(str(DAILY), {})
            daily = [bar for d in daily_days for bar in daily_by_day[d].columns.bars()]
            # trading minutes of the session day (the break excluded): the minute indicators' length
            session_minutes = None if session_hours is None else session_hours.regular_seconds() // 60
            results[symbol] = compute_indicators(
                symbol,
                indicators,
                indicator_days,
                daily,
                {d: minutes[d].columns.bars() for d in minute_indicator_days if d in minutes},
                {d: h.open_ts for d, h in hours.items()},
                session_minutes=session_minutes or None,
                session_breaks={
                    d: (h.break_start_ts, h.break_end_ts)
                    for d, h in hours.items()
                    if h.break_start_ts is not None and h.break_end_ts is not None
                },
            )
            warnings.extend(r.warning for r in results[symbol].values() if r.warning)
    return HistoricalData(day, series, results, hours, tuple(warnings))


def _series(
    symbol: str, interval: str, days: Sequence[date], parts: Mapping[date, _Part], derived: Sequence[date]
) -> HistoricalSeries:
    """The series of ``days`` from per-day parts (those of ``derived`` days built from 1m bars):
    a window of the read's memory when the days' bars sit side by side in it (the usual case),
    else one copy."""
    kept = [parts[d] for d in days if d in parts and len(parts[d])]
    ranges: dict[date, tuple[int, int]] = {}
    position = 0
    for d in days:
        part = parts.get(d)
        if part is not None and len(part):
            ranges[d] = (position, position + len(part))
            position += len(part)
    if not kept:
        columns = BarColumns.from_rows(symbol, interval, ())
    elif all(p.source is kept[0].source for p in kept) and all(a.stop == b.start for a, b in pairwise(kept)):
        columns = kept[0].source.window(kept[0].start, kept[-1].stop)
    else:
        columns = BarColumns.concat(symbol, interval, [p.columns for p in kept])
    derived_days = tuple(d for d in derived if d in ranges)
    return HistoricalSeries(symbol, interval, tuple(days), columns, ranges, derived_days)


@dataclass(frozen=True, slots=True)
class _Part:
    """One day's bars: positions ``[start, stop)`` of ``source`` (a whole read, or the day's own
    columns when it had to be filtered or derived)."""

    source: BarColumns
    start: int = 0
    stop: int = 0

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def columns(self) -> BarColumns:
        if self.start == 0 and self.stop == len(self.source):
            return self.source
        return self.source.window(self.start, self.stop)

    @classmethod
    def whole(cls, columns: BarColumns) -> _Part:
        return cls(columns, 0, len(columns))


class _SymbolLoader:
    """Stored reads and derivations of one symbol, as per-day ranges of one columnar read."""

    def __init__(self, symbol: str, reader: ColumnReader, hours: Mapping[date, DayHours]) -> None:
        self.symbol = symbol
        self.reader = reader
        self.hours = hours

    def stored(self, interval: str, days: Sequence[date]) -> dict[date, _Part]:
        """The stored bars of ``interval`` on each of ``days`` (regular session for intraday)."""
        trading = [d for d in days if d in self.hours]
        out = dict.fromkeys(days, _Part.whole(BarColumns.from_rows(self.symbol, interval, ())))
        if not trading:
            return out
        parsed = Interval.parse(interval)
        if parsed.is_daily:
            start, end = daily_ts(trading[0]), daily_ts(trading[-1] + timedelta(days=1))
        else:
            start, end = self.hours[trading[0]].open_ts, self.hours[trading[-1]].close_ts
        read = self.reader.read_columns([self.symbol], interval, start, end)[0]
        ts = read.ts
        if parsed.is_daily:  # daily bars are keyed by the session date at midnight UTC
            position = {t: i for i, t in enumerate(ts)}
            for d in trading:
                i = position.get(daily_ts(d))
                if i is not None:
                    out[d] = _Part(read, i, i + 1)
            return out
        # the regular-session filter, on the whole read when every day shares the grid (the
        # usual case); day by day otherwise. Prices are not re-checked here: every path into
        # the store (import, demo data, live bars) applies the bar rules before writing.
        clean = _same_grid([self.hours[d] for d in trading], parsed.seconds) and on_grid(
            read, self.hours[trading[0]].windows(parsed)
        )
        for d in trading:
            h = self.hours[d]
            lo, hi = bisect_left(ts, h.open_ts), bisect_left(ts, h.close_ts)
            if clean:  # on the grid, valid, no break: the day is its regular-hours range
                out[d] = _Part(read, lo, hi)
                continue
            day_cols = regular_session(read.window(lo, hi), h.windows(parsed), Counter())
            out[d] = _Part(read, lo, hi) if len(day_cols) == hi - lo else _Part.whole(day_cols)
        return out

    def derive(self, interval: Interval, day: date, minutes: _Part) -> _Part:
        """``interval`` bars of ``day`` built from its regular-session 1m bars, by the session's
        own builder (partial days allowed for 1d)."""
        made = derive_day(self.hours[day], MINUTE, interval, minutes.columns)
        return _Part.whole(BarColumns.from_bars(self.symbol, str(interval), made))


class _BatchedReader:
    """Reads a range for every symbol at once (one connection) the first time one symbol asks
    for it; the other symbols asking for the same range get their columns from that read. Only
    the symbols it was made for may ask, each once per range."""

    def __init__(self, reader: ColumnReader, symbols: Sequence[str]) -> None:
        self._reader = reader
        self._symbols = list(symbols)
        self._cache: dict[tuple[str, int, int], dict[str, BarColumns]] = {}

    def read_columns(
        self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int
    ) -> list[BarColumns]:
        key = (interval, start_ts, end_ts)
        if key not in self._cache:
            read = self._reader.read_columns(self._symbols, interval, start_ts, end_ts)
            self._cache[key] = {cols.symbol: cols for cols in read}
        found = self._cache[key]
        return [found.pop(symbol) for symbol in symbols]  # each symbol asks for a range once


def _same_grid(hours: Sequence[DayHours], seconds: int) -> bool:
    """Whether every day's regular open sits on the same ``seconds`` grid and has no break."""
    first = hours[0].open_ts % seconds
    return all(h.open_ts % seconds == first and h.break_start_ts is None for h in hours)


def data_requirements(config: SessionConfig, calendar: HistoricalCalendar) -> dict[str, list[date]]:
    """The trading days a backtest reads, per interval: its session days and every trailing
    window and indicator period before them (what a store must hold for a complete run).

    Minute-based needs (1m historical data, minute indicators, the streamed base) are listed
    under the base interval; daily needs (1d data, daily indicators) under ``1d``. Raises the
    calendar's error if a window reaches outside the seeded range.
    """
    backtest = config.backtest_config
    if backtest is None:
        return {}
    days = calendar.get_trading_dates_in_range(backtest.start_date, backtest.end_date)
    needs: dict[str, set[date]] = {}
    base = config.base_interval
    if base is not None:
        needs.setdefault(str(base), set()).update(days)
    historical = config.session_data_config.historical
    for day in days:
        for entry in historical.data:
            window = trailing_days(calendar, day, entry.trailing_days)
            for symbol in config.symbols:
                if entry.applies_to(symbol):
                    for interval in entry.intervals:
                        key = str(DAILY) if interval.is_daily else str(interval)
                        needs.setdefault(key, set()).update(window)
        for indicator in historical.indicators.values():
            key = str(MINUTE) if indicator.granularity == "minute" else str(DAILY)
            needs.setdefault(key, set()).update(period_days(calendar, day, indicator))
    return {interval: sorted(found) for interval, found in sorted(needs.items())}
