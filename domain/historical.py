"""Historical data for one session day (SPEC §6): trailing bars and indicator inputs.

:func:`load_historical` reads, through an injected :class:`BarReader` (the store's bar
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
  before it (:mod:`domain.session_window`).
- Missing data is never a crash: days without bars are named in :attr:`HistoricalData.warnings`
  and indicators over missing data are ``None`` with a warning (SPEC §6).

Reads are few and ranged: per symbol one read per interval over the span of its days, one 1m
read for everything that needs minutes, one daily read for daily bars.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from domain.aggregation import daily_bar_from_minutes, derive_bars
from domain.bar_columns import BarColumns
from domain.bars import Bar
from domain.calendar import TradingSession
from domain.config import SessionConfig
from domain.indicators import IndicatorResult, bar_day, compute_indicators, describe_days
from domain.intervals import DAILY, MINUTE, Interval
from domain.quality import day_counts, historical_quality
from domain.session_day import DayHours
from domain.session_window import SessionCalendar, period_days, trailing_days

__all__ = [
    "BarReader",
    "ColumnReader",
    "HistoricalCalendar",
    "HistoricalData",
    "HistoricalSeries",
    "data_requirements",
    "load_historical",
    "series_quality",
]


class BarReader(Protocol):
    """Reads one stored series: bars with ``start_ts <= ts < end_ts``, in time order."""

    def read(self, symbol: str, interval: str, start_ts: int, end_ts: int) -> list[Bar]: ...


class ColumnReader(BarReader, Protocol):
    """A :class:`BarReader` that also reads several symbols' bars as columns (the store's)."""

    def read_columns(
        self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int
    ) -> list[BarColumns]: ...


class HistoricalCalendar(SessionCalendar, Protocol):
    """The calendar queries historical loading needs (a TradingCalendar or a TimeManager client)."""

    def get_trading_sessions(self, days: Sequence[date]) -> list[TradingSession]: ...


@dataclass(frozen=True, slots=True)
class HistoricalSeries:
    """One symbol and interval over its trailing trading days, bars grouped per day."""

    symbol: str
    interval: str
    days: tuple[date, ...]
    bars_by_day: Mapping[date, tuple[Bar, ...]]
    derived_days: tuple[date, ...] = ()

    @property
    def bars(self) -> list[Bar]:
        return [bar for day in self.days for bar in self.bars_by_day.get(day, ())]

    @property
    def bar_count(self) -> int:
        return sum(len(self.bars_by_day.get(day, ())) for day in self.days)

    def days_without_bars(self) -> list[date]:
        return [day for day in self.days if not self.bars_by_day.get(day)]


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
    return historical_quality(
        day_counts(hours[day], interval, (bar.ts for bar in series.bars_by_day.get(day, ())))
        for day in series.days
    )


def load_historical(
    config: SessionConfig, day: date, calendar: HistoricalCalendar, reader: BarReader
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

    all_days = set(daily_indicator_days) | minute_indicator_days | {day}
    for wanted_days in wanted.values():
        all_days |= wanted_days
    sessions = calendar.get_trading_sessions(sorted(all_days))
    hours = {s.date: DayHours.from_session(s) for s in sessions if s.is_trading_day}
    session_hours = hours.pop(day, None)

    series: dict[tuple[str, str], HistoricalSeries] = {}
    results: dict[str, dict[str, IndicatorResult]] = {}
    warnings: list[str] = []
    for symbol in symbols:
        loader = _SymbolLoader(symbol, reader, hours)
        own = {interval: sorted(days) for (sym, interval), days in wanted.items() if sym == symbol}
        daily_days = sorted(set(own.get(str(DAILY), ())) | daily_indicator_days)
        loaded = {interval: loader.stored(interval, days) for interval, days in own.items()}
        if daily_days:
            loaded[str(DAILY)] = loader.stored(str(DAILY), daily_days)
        # one 1m read covers every day that needs minutes: the 1m series itself, minute
        # indicators, and the days of any other interval that must be derived
        minute_days = set(own.get(str(MINUTE), ())) | minute_indicator_days
        for interval, by_day in loaded.items():
            parsed = Interval.parse(interval)
            if parsed != MINUTE and not parsed.is_seconds:
                minute_days |= {d for d in by_day if not by_day[d]}
        minutes = loader.stored(str(MINUTE), sorted(minute_days)) if minute_days else {}
        derived: dict[str, list[date]] = {}
        for interval, by_day in loaded.items():
            parsed = Interval.parse(interval)
            if parsed == MINUTE or parsed.is_seconds:
                continue
            for d, bars in by_day.items():
                if not bars and minutes.get(d):
                    made = loader.derive(parsed, d, minutes[d])
                    if made:
                        by_day[d] = made
                        derived.setdefault(interval, []).append(d)
        if str(MINUTE) in own:
            loaded[str(MINUTE)] = minutes
        for interval, days in own.items():
            by_day = loaded[interval]
            entry_days = set(days)
            entry = HistoricalSeries(
                symbol,
                interval,
                tuple(days),
                {d: by_day[d] for d in days if by_day.get(d)},
                tuple(d for d in derived.get(interval, ()) if d in entry_days),
            )
            series[(symbol, interval)] = entry
            empty = entry.days_without_bars()
            if empty:
                warnings.append(
                    f"{symbol} {interval}: no historical bars for {len(empty)} of {len(days)} trading "
                    f"day(s) before {day.isoformat()}: {describe_days(empty, entry.days)}"
                )
        if indicators:
            daily = [bar for d in daily_days for bar in loaded.get(str(DAILY), {}).get(d, ())]
            session_minutes = None if session_hours is None else session_hours.regular_seconds() // 60
            results[symbol] = compute_indicators(
                symbol,
                indicators,
                indicator_days,
                daily,
                {d: minutes.get(d, ()) for d in minute_indicator_days},
                {d: h.open_ts for d, h in hours.items()},
                session_minutes=session_minutes or None,
            )
            warnings.extend(r.warning for r in results[symbol].values() if r.warning)
    return HistoricalData(day, series, results, hours, tuple(warnings))


class _SymbolLoader:
    """Stored reads and derivations of one symbol, split into per-day tuples."""

    def __init__(self, symbol: str, reader: BarReader, hours: Mapping[date, DayHours]) -> None:
        self.symbol = symbol
        self.reader = reader
        self.hours = hours

    def stored(self, interval: str, days: Sequence[date]) -> dict[date, tuple[Bar, ...]]:
        """The stored bars of ``interval`` on each of ``days`` (regular session for intraday)."""
        trading = [d for d in days if d in self.hours]
        if not trading:
            return dict.fromkeys(days, ())
        if Interval.parse(interval).is_daily:
            start, end = _midnight(trading[0]), _midnight(trading[-1] + timedelta(days=1))
            by_day: dict[date, list[Bar]] = {d: [] for d in days}
            for bar in self.reader.read(self.symbol, interval, start, end):
                bucket = by_day.get(bar_day(bar))
                if bucket is not None:
                    bucket.append(bar)
            return {d: tuple(bars[-1:]) for d, bars in by_day.items()}
        parsed = Interval.parse(interval)
        first, last = self.hours[trading[0]], self.hours[trading[-1]]
        bars = self.reader.read(self.symbol, interval, first.open_ts, last.close_ts)
        stamps = [bar.ts for bar in bars]
        out: dict[date, tuple[Bar, ...]] = dict.fromkeys(days, ())
        for d in trading:
            h = self.hours[d]
            windows = h.windows(parsed)
            lo, hi = bisect_left(stamps, h.open_ts), bisect_left(stamps, h.close_ts)
            out[d] = tuple(bar for bar in bars[lo:hi] if windows.index(bar.ts) is not None)
        return out

    def derive(self, interval: Interval, day: date, minutes: Iterable[Bar]) -> tuple[Bar, ...]:
        """``interval`` bars of ``day`` built from its 1m bars (partial days allowed for 1d)."""
        h = self.hours[day]
        if interval.is_daily:
            bar = daily_bar_from_minutes(
                self.symbol,
                minutes,
                day,
                h.open_ts,
                h.close_ts,
                break_start_ts=h.break_start_ts,
                break_end_ts=h.break_end_ts,
            )
            return () if bar is None else (bar,)
        return tuple(
            derive_bars(
                minutes,
                interval,
                h.open_ts,
                h.close_ts,
                base=MINUTE,
                break_start_ts=h.break_start_ts,
                break_end_ts=h.break_end_ts,
            )
        )


def _midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


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
