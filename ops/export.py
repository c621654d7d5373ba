"""``run --export DIR``: the session bars of a run as Parquet files a data scientist opens directly.

Why Parquet (not CSV): typed columns (timestamps stay timestamps with their zone, floats stay
floats), one file per table, read by pandas, polars, DuckDB and Spark without parsing options.

Files written (each atomically: a temporary file renamed into place):

- ``session_bars.parquet`` — every session bar, base and derived: ``session_date`` (date),
  ``symbol``, ``interval``, ``session`` (``regular``, or with extended hours ``pre_market`` /
  ``post_market``), ``ts`` (bar start, timestamp UTC), ``open``, ``high``, ``low``, ``close``,
  ``volume``, and ``day_quality`` (the quality of that symbol, interval and session on that day
  at the close), sorted by date, symbol, interval, ts;
- ``quality.parquet`` — per day, symbol, interval and session: ``bars``, ``expected``,
  ``quality``, ``gaps``;
- ``gaps.parquet`` — every gap at the close: ``session_date``, ``symbol``, ``interval``,
  ``session``, ``start``, ``end`` (timestamps UTC), ``bar_count``, ``status``.

:class:`SessionBarExporter` is an ordinary (non-gating) event subscriber: it collects the bars
of ``BarsAppended`` and ``DerivedBarsBuilt`` events as columns while the run goes on. A
sharded run's exporters hand their bars over as a :meth:`~SessionBarExporter.table` each,
which :meth:`~SessionBarExporter.joined` puts together for one export of the whole run.
"""

from __future__ import annotations

import os
from datetime import date
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.bars import Bar
from domain.calendar.model import SessionType
from domain.messages.events import BarsAppended, DerivedBarsBuilt, Event
from domain.report import RunReport
from domain.session.windows import DaySegment

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SessionBarExporter"]


class SessionBarExporter:
    """Collects session bars from events; :meth:`write` turns them and a report into Parquet."""

    events = (BarsAppended.kind, DerivedBarsBuilt.kind)

    def __init__(self) -> None:
        self._days: list[date] = []
        self._bars: list[Bar] = []
        self._tables: list[pa.Table] = []  # bars handed over by other exporters (shards)

    def __call__(self, event: Event) -> None:
        if isinstance(event, BarsAppended | DerivedBarsBuilt):
            self._days.extend(repeat(event.day, len(event.bars)))
            self._bars.extend(event.bars)

    @property
    def bar_count(self) -> int:
        return len(self._days) + sum(int(table.num_rows) for table in self._tables)

    def table(self) -> pa.Table:
        """The bars collected so far as one Arrow table: ``session_date`` and the bar's fields."""
        import pyarrow as pa

        columns = {name: [bar[i] for bar in self._bars] for i, name in enumerate(Bar._fields)}
        own = pa.Table.from_pydict({"session_date": self._days, **columns}, schema=_raw_schema())
        return pa.concat_tables([*self._tables, own]) if self._tables else own

    @classmethod
    def joined(cls, tables: list[pa.Table]) -> SessionBarExporter:
        """An exporter holding the bars of other exporters' :meth:`table` (a sharded run's)."""
        exporter = cls()
        exporter._tables = list(tables)
        return exporter

    def write(self, directory: str | os.PathLike[str], report: RunReport) -> list[Path]:
        """Write the three files into ``directory`` (created if needed); their paths."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        utc = pa.timestamp("s", tz="UTC")
        keys = {
            "session_date": pa.date32(),
            "symbol": pa.string(),
            "interval": pa.string(),
            "session": pa.string(),
        }
        floats = dict.fromkeys(("open", "high", "low", "close", "volume", "day_quality"), pa.float64())
        bars_schema = pa.schema({**keys, "ts": utc, **floats})
        quality_schema = pa.schema(
            {**keys, "bars": pa.int64(), "expected": pa.int64(), "quality": pa.float64(), "gaps": pa.int64()}
        )
        gaps_schema = pa.schema(
            {**keys, "start": utc, "end": utc, "bar_count": pa.int64(), "status": pa.string()}
        )
        day_quality: dict[tuple[date, str, str, str], float] = {}
        quality_rows: dict[str, list[Any]] = {name: [] for name in quality_schema.names}
        gap_rows: dict[str, list[Any]] = {name: [] for name in gaps_schema.names}
        extended: dict[date, tuple[DaySegment, ...]] = {}
        scored_outside: set[str] = set()  # the intervals scored in extended sessions (the base)
        regular = str(SessionType.REGULAR)
        for summary in report.days:
            extended[summary.day] = summary.extended
            for symbol, symbol_day in summary.symbols.items():
                scored = [(regular, symbol_day.session), *symbol_day.extended.items()]
                scored_outside.update(i for by_interval in symbol_day.extended.values() for i in by_interval)
                for session_name, by_interval in scored:
                    for interval, session in by_interval.items():
                        key = (summary.day, symbol, interval, session_name)
                        day_quality[key] = session.quality
                        _append(
                            quality_rows,
                            (*key, session.bars, session.expected, session.quality, len(session.gaps)),
                        )
                        for gap in session.gaps:
                            _append(
                                gap_rows, (*key, gap.start_ts, gap.end_ts, gap.bar_count, str(gap.status))
                            )

        def session_of(day: date, bar: Bar) -> str:
            if bar.interval not in scored_outside:
                return regular
            for segment in extended.get(day, ()):
                if segment.open_ts <= bar.ts < segment.close_ts:
                    return str(segment.session)
            return regular

        raw = self.table()
        days = raw.column("session_date").to_pylist()
        all_bars = [
            Bar(*row) for row in zip(*(raw.column(name).to_pylist() for name in Bar._fields), strict=True)
        ]
        sessions = [session_of(day, bar) for day, bar in zip(days, all_bars, strict=True)]
        qualities = [
            day_quality.get((day, bar.symbol, bar.interval, session))
            for day, bar, session in zip(days, all_bars, sessions, strict=True)
        ]
        bars = raw.append_column("session", pa.array(sessions, pa.string()))
        bars = bars.append_column("day_quality", pa.array(qualities, pa.float64())).select(bars_schema.names)
        bars = bars.cast(bars_schema)
        order = [(name, "ascending") for name in ("session_date", "symbol", "interval", "ts")]
        written = []
        for name, table in (
            ("session_bars.parquet", bars.sort_by(order)),
            ("quality.parquet", pa.Table.from_pydict(quality_rows, schema=quality_schema)),
            ("gaps.parquet", pa.Table.from_pydict(gap_rows, schema=gaps_schema)),
        ):
            target = out / name
            partial = out / f".{name}.partial"
            pq.write_table(table, partial)
            partial.replace(target)
            written.append(target)
        return written


def _raw_schema() -> pa.Schema:
    import pyarrow as pa

    floats = dict.fromkeys(("open", "high", "low", "close", "volume"), pa.float64())
    return pa.schema(
        {
            "session_date": pa.date32(),
            "symbol": pa.string(),
            "interval": pa.string(),
            "ts": pa.int64(),
            **floats,
        }
    )


def _append(rows: dict[str, list[Any]], values: tuple[Any, ...]) -> None:
    for column, value in zip(rows.values(), values, strict=True):
        column.append(value)
