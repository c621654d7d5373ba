"""``data audit``: the store checked against the calendar, series by series and day by day,
without running a session (the rules are :mod:`domain.quality.audit`'s).

Each symbol and interval is read in contiguous ranges of :data:`CHUNK_DAYS` trading days (one
indexed read each), split into the days' extended hours; what lies between them — overnight,
weekends, holidays, and before the first or after the last session the series reaches — is
counted as outside the audited hours. Memory holds one range and the
per-series sums, whatever the size of the store; every day's audit goes to ``on_day`` (the CLI
writes them to Parquet and keeps the days with findings for the table and the JSON). Stored
quotes are audited per symbol and trading day over the regular session
(:func:`domain.quality.quotes.score_quotes`, default rules), one day read at a time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from domain.bars import daily_date, daily_ts, datetime_to_ts
from domain.calendar.trading_calendar import TradingCalendar
from domain.intervals import Interval
from domain.quality.alignment import check_daily_alignment, trading_days
from domain.quality.audit import DayAudit, SeriesAudit, audit_daily, audit_day
from domain.quality.quotes import QuoteSeriesAudit, score_quotes
from domain.session.windows import DayHours
from domain.store import Store

__all__ = ["CHUNK_DAYS", "DayParquet", "StoreAudit", "audit_store", "day_rows"]

CHUNK_DAYS = 20


@dataclass(frozen=True, slots=True)
class StoreAudit:
    exchange_group: str
    start: date | None
    end: date | None
    series: tuple[SeriesAudit, ...]
    quotes: tuple[QuoteSeriesAudit, ...] = ()

    @property
    def days(self) -> int:
        return sum(s.days for s in self.series)

    @property
    def bars(self) -> int:
        return sum(s.present for s in self.series)

    def as_dict(self, days: Sequence[DayAudit] = ()) -> dict[str, Any]:
        return {
            "exchange_group": self.exchange_group,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "series": [s.as_dict() for s in self.series],
            "quotes": [q.as_dict() for q in self.quotes],
            "days_with_findings": [d.as_dict() for d in days],
        }


def audit_store(
    store: Store,
    calendar: TradingCalendar,
    *,
    symbols: Sequence[str] = (),
    intervals: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    on_day: Callable[[DayAudit], None] = lambda _: None,
) -> StoreAudit:
    """Audit every stored series (or those of ``symbols`` and ``intervals``) over the trading
    days of ``[start, end]`` it reaches. Raises :class:`CalendarError` naming the days the
    calendar does not cover."""
    zone = calendar.timezone()
    audits: list[SeriesAudit] = []
    for row in store.bars.summary():
        if (symbols and row.symbol not in symbols) or (intervals and row.interval not in intervals):
            continue
        interval = Interval.parse(row.interval)
        if interval.is_daily:
            first, last = daily_date(row.first_ts), daily_date(row.last_ts)
        else:
            first = datetime.fromtimestamp(row.first_ts, zone).date()
            last = datetime.fromtimestamp(row.last_ts, zone).date()
        lo, hi = max(first, start or first), min(last, end or last)
        series = SeriesAudit(row.symbol, row.interval)
        if lo <= hi:
            trading = calendar.get_trading_dates_in_range(lo, hi)
            if interval.is_daily:
                _audit_daily(store, calendar, series, trading, lo, hi, on_day)
            else:
                trading = _reached(calendar, trading, row.first_ts, row.last_ts)
                _audit_intraday(store, calendar, series, interval, trading, lo, hi, on_day)
        audits.append(series)
    quote_audits = tuple(
        _audit_quotes(store, calendar, row.symbol, row.first_ts, row.last_ts, start, end)
        for row in store.quotes.summary()
        if not symbols or row.symbol in symbols
    )
    return StoreAudit(calendar.exchange_group, start, end, tuple(audits), quote_audits)


def _audit_quotes(
    store: Store,
    calendar: TradingCalendar,
    symbol: str,
    first_ts: int,
    last_ts: int,
    start: date | None,
    end: date | None,
) -> QuoteSeriesAudit:
    """The quote quality of every trading day of ``[start, end]`` the symbol's quotes reach,
    over its regular session (the default rules; the 1m closes checked where 1m bars are stored)."""
    zone = calendar.timezone()
    first = datetime.fromtimestamp(first_ts, zone).date()
    last = datetime.fromtimestamp(last_ts, zone).date()
    lo, hi = max(first, start or first), min(last, end or last)
    audit = QuoteSeriesAudit(symbol)
    if lo > hi:
        return audit
    for session in calendar.get_trading_sessions(calendar.get_trading_dates_in_range(lo, hi)):
        hours = DayHours.from_session(session)
        (quotes,) = store.quotes.read_columns([symbol], hours.open_ts, hours.close_ts)
        (bars,) = store.bars.read_columns([symbol], "1m", hours.open_ts, hours.close_ts)
        audit.add(
            hours.day,
            score_quotes(quotes, hours.open_ts, hours.close_ts, bar_starts=bars.ts, bar_closes=bars.close),
        )
    return audit


def _reached(calendar: TradingCalendar, trading: list[date], first_ts: int, last_ts: int) -> list[date]:
    """``trading`` without the days at either end whose regular session the series does not
    reach (post-market bars of the day before a file's first session do not make that day part
    of it; they count as outside the audited hours)."""

    def hours(day: date) -> DayHours:
        return DayHours.from_session(calendar.get_trading_session(day))

    lo, hi = 0, len(trading)
    while lo < hi and hours(trading[lo]).close_ts <= first_ts:
        lo += 1
    while hi > lo and hours(trading[hi - 1]).open_ts > last_ts:
        hi -= 1
    return trading[lo:hi]


def _audit_intraday(
    store: Store,
    calendar: TradingCalendar,
    series: SeriesAudit,
    interval: Interval,
    trading: Sequence[date],
    lo: date,
    hi: date,
    on_day: Callable[[DayAudit], None],
) -> None:
    zone = calendar.timezone()
    range_start = datetime_to_ts(datetime.combine(lo, time(), tzinfo=zone))
    end = datetime_to_ts(datetime.combine(hi + timedelta(days=1), time(), tzinfo=zone))
    # one read per chunk, contiguous; no trading day still reads the range (all of it outside)
    chunks = [trading[i : i + CHUNK_DAYS] for i in range(0, len(trading), CHUNK_DAYS)] or [[]]
    for number, chunk in enumerate(chunks, 1):
        hours = [DayHours.from_session(s) for s in calendar.get_trading_sessions(chunk)]
        range_end = end if number == len(chunks) else hours[-1].read_end_ts
        (cols,) = store.bars.read_columns([series.symbol], series.interval, range_start, range_end)
        covered = 0
        for day in hours:
            i, j = bisect_left(cols.ts, day.read_start_ts), bisect_left(cols.ts, day.read_end_ts)
            covered += j - i
            audit = audit_day(day, interval, cols.window(i, j))
            series.add(audit)
            on_day(audit)
        series.outside_hours += len(cols) - covered
        range_start = range_end


def _audit_daily(
    store: Store,
    calendar: TradingCalendar,
    series: SeriesAudit,
    trading: Sequence[date],
    lo: date,
    hi: date,
    on_day: Callable[[DayAudit], None],
) -> None:
    (cols,) = store.bars.read_columns([series.symbol], series.interval, daily_ts(lo), daily_ts(hi) + 1)
    audits, others = audit_daily(series.symbol, trading, cols)
    for audit in audits:
        series.add(audit)
        on_day(audit)
    series.outside_hours += others
    series.alignment = check_daily_alignment(
        [daily_date(ts) for ts in cols.ts], trading_days(calendar, lo, hi)
    )


def day_rows(audits: Sequence[DayAudit]) -> dict[str, list[Any]]:
    """Per-day audits as columns (the Parquet table's)."""
    columns: dict[str, list[Any]] = {name: [] for name in _schema().names}
    for audit in audits:
        alignment = audit.alignment
        values = (
            audit.symbol,
            audit.interval,
            audit.day,
            audit.expected,
            audit.present,
            audit.quality,
            len(audit.gaps),
            sum(g.bar_count for g in audit.gaps),
            sum(audit.not_in_session.values()),
            audit.rule_breaks,
            None if alignment is None else alignment.status.value,
            None if alignment is None else alignment.offset_seconds,
            None if alignment is None else alignment.confidence,
        )
        for column, value in zip(columns.values(), values, strict=True):
            column.append(value)
    return columns


class DayParquet:
    """The per-day audits written to one Parquet file in batches (memory stays bounded); the
    file appears under its name only when :meth:`close` succeeds."""

    def __init__(self, path: Path, batch: int = 50_000) -> None:
        self._path = path
        self._partial = path.with_name(path.name + ".partial")
        self._batch = batch
        self._pending: list[DayAudit] = []
        self._writer: Any = None

    def __call__(self, audit: DayAudit) -> None:
        self._pending.append(audit)
        if len(self._pending) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pydict(day_rows(self._pending), schema=_schema())
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._partial, table.schema)
        self._writer.write_table(table)
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._partial.replace(self._path)


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("symbol", pa.string()),
            ("interval", pa.string()),
            ("session_date", pa.date32()),
            ("expected", pa.int32()),
            ("present", pa.int32()),
            ("quality", pa.float64()),
            ("gaps", pa.int32()),
            ("missing", pa.int32()),
            ("not_in_session", pa.int32()),
            ("rule_breaks", pa.int32()),
            ("alignment", pa.string()),
            ("offset_seconds", pa.int32()),
            ("confidence", pa.float64()),
        ]
    )
