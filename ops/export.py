"""``run --export DIR``: the session bars of a run as Parquet files a data scientist opens directly.

Why Parquet (not CSV): typed columns (timestamps stay timestamps with their zone, floats stay
floats), one file per table, read by pandas, polars, DuckDB and Spark without parsing options.

Files written (each atomically: a temporary file renamed into place):

- ``session_bars.parquet`` — every session bar, base and derived: ``session_date`` (date),
  ``symbol``, ``interval``, ``ts`` (bar start, timestamp UTC), ``open``, ``high``, ``low``,
  ``close``, ``volume``, and ``day_quality`` (the quality of that symbol and interval on that
  day at the close), sorted by date, symbol, interval, ts;
- ``quality.parquet`` — per day, symbol and interval: ``bars``, ``expected``, ``quality``,
  ``gaps``;
- ``gaps.parquet`` — every gap at the close: ``session_date``, ``symbol``, ``interval``,
  ``start``, ``end`` (timestamps UTC), ``bar_count``, ``status``.

:class:`SessionBarExporter` is an ordinary (non-gating) event subscriber: it collects the bars
of ``BarsAppended`` and ``DerivedBarsBuilt`` events as columns while the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from domain.messages.events import BarsAppended, DerivedBarsBuilt, Event
from domain.report import RunReport

__all__ = ["SessionBarExporter"]

_BAR_COLUMNS = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume")


class SessionBarExporter:
    """Collects session bars from events; :meth:`write` turns them and a report into Parquet."""

    events = (BarsAppended.kind, DerivedBarsBuilt.kind)

    def __init__(self) -> None:
        self._days: list[date] = []
        self._columns: dict[str, list[Any]] = {name: [] for name in _BAR_COLUMNS}

    def __call__(self, event: Event) -> None:
        if isinstance(event, BarsAppended | DerivedBarsBuilt):
            self._add(event.day, event.bars)

    def _add(self, day: date, bars: Iterable[Any]) -> None:
        columns = self._columns
        for bar in bars:
            self._days.append(day)
            for name, value in zip(_BAR_COLUMNS, bar, strict=True):
                columns[name].append(value)

    @property
    def bar_count(self) -> int:
        return len(self._days)

    def write(self, directory: str | os.PathLike[str], report: RunReport) -> list[Path]:
        """Write the three files into ``directory`` (created if needed); their paths."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        day_quality: dict[tuple[date, str, str], float] = {}
        quality_rows: dict[str, list[Any]] = {
            k: [] for k in ("session_date", "symbol", "interval", "bars", "expected", "quality", "gaps")
        }
        gap_rows: dict[str, list[Any]] = {
            k: [] for k in ("session_date", "symbol", "interval", "start", "end", "bar_count", "status")
        }
        for summary in report.days:
            for symbol, symbol_day in summary.symbols.items():
                for interval, session in symbol_day.session.items():
                    day_quality[(summary.day, symbol, interval)] = session.quality
                    key = (summary.day, symbol, interval)
                    _append(
                        quality_rows,
                        (*key, session.bars, session.expected, session.quality, len(session.gaps)),
                    )
                    for gap in session.gaps:
                        _append(gap_rows, (*key, gap.start_ts, gap.end_ts, gap.bar_count, str(gap.status)))

        utc = pa.timestamp("s", tz="UTC")
        columns = self._columns
        bars = pa.table(
            {
                "session_date": pa.array(self._days, pa.date32()),
                "symbol": pa.array(columns["symbol"], pa.string()),
                "interval": pa.array(columns["interval"], pa.string()),
                "ts": pa.array(columns["ts"], pa.int64()).cast(utc),
                "open": pa.array(columns["open"], pa.float64()),
                "high": pa.array(columns["high"], pa.float64()),
                "low": pa.array(columns["low"], pa.float64()),
                "close": pa.array(columns["close"], pa.float64()),
                "volume": pa.array(columns["volume"], pa.float64()),
                "day_quality": pa.array(
                    [
                        day_quality.get((d, s, i))
                        for d, s, i in zip(self._days, columns["symbol"], columns["interval"], strict=True)
                    ],
                    pa.float64(),
                ),
            }
        )
        order = pc.sort_indices(
            bars,
            sort_keys=[("session_date", "ascending"), ("symbol", "ascending"), ("interval", "ascending"),
                       ("ts", "ascending")],
        )  # fmt: skip
        quality = pa.table(
            {
                "session_date": pa.array(quality_rows["session_date"], pa.date32()),
                "symbol": pa.array(quality_rows["symbol"], pa.string()),
                "interval": pa.array(quality_rows["interval"], pa.string()),
                "bars": pa.array(quality_rows["bars"], pa.int64()),
                "expected": pa.array(quality_rows["expected"], pa.int64()),
                "quality": pa.array(quality_rows["quality"], pa.float64()),
                "gaps": pa.array(quality_rows["gaps"], pa.int64()),
            }
        )
        gaps = pa.table(
            {
                "session_date": pa.array(gap_rows["session_date"], pa.date32()),
                "symbol": pa.array(gap_rows["symbol"], pa.string()),
                "interval": pa.array(gap_rows["interval"], pa.string()),
                "start": pa.array(gap_rows["start"], pa.int64()).cast(utc),
                "end": pa.array(gap_rows["end"], pa.int64()).cast(utc),
                "bar_count": pa.array(gap_rows["bar_count"], pa.int64()),
                "status": pa.array(gap_rows["status"], pa.string()),
            }
        )
        written = []
        for name, table in (
            ("session_bars.parquet", bars.take(order)),
            ("quality.parquet", quality),
            ("gaps.parquet", gaps),
        ):
            target = out / name
            partial = out / f".{name}.partial"
            pq.write_table(table, partial)
            partial.replace(target)
            written.append(target)
        return written


def _append(rows: dict[str, list[Any]], values: tuple[Any, ...]) -> None:
    for column, value in zip(rows.values(), values, strict=True):
        column.append(value)
