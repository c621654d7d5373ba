"""Storage layouts for the replay's read, measured side by side: what a session day costs to get
from the store into per-symbol columns (``python -m ops.bench.layouts [--symbols N --days D]``).

Every layout is read for the same session days and symbols, interleaved repetition by
repetition, and must give the very same columns:

- **rows**: the store's bar rows, one indexed range read per symbol and day, rows turned into
  columns (:meth:`~domain.store.bar_repo.BarRepository.read_columns` on a copy of the store
  whose column blocks are stale);
- **blocks**: the store's column blocks (``bar_blocks``: per symbol, interval and UTC day the
  day's six columns packed in a BLOB), what ``read_columns`` reads when they are current;
- **parquet**: a Parquet dataset partitioned by UTC day, read with a filter per session day.

The figures decide the replay-grade layout (``docs/decisions.md``); nothing here is used by the
engine (the blocks layout is the store's own).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

from domain.calendar.trading_calendar import TradingCalendar
from domain.columns import BarColumns
from domain.intervals import DAY_SECONDS
from domain.session.windows import DayHours
from domain.store import open_store
from ops.bench.workload import Workload, build_workload

__all__ = ["main", "measure_layouts"]

Reader = Callable[[DayHours], list[BarColumns]]


def _columns(symbol: str, arrays: Sequence[np.ndarray]) -> BarColumns:
    return BarColumns(symbol, "1m", *(a.data.toreadonly() for a in arrays))


def _write_parquet(workload: Workload, directory: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with closing(sqlite3.connect(workload.path)) as connection:
        rows = connection.execute(
            "SELECT symbol, ts, open, high, low, close, volume FROM bars WHERE interval = '1m' "
            "ORDER BY symbol, ts"
        ).fetchall()
    names = ("symbol", "ts", "open", "high", "low", "close", "volume")
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})
    table = table.append_column("utc_day", pa.array([row[1] // DAY_SECONDS for row in rows]))
    pq.write_to_dataset(table, directory, partition_cols=["utc_day"])


def _parquet_reader(workload: Workload, directory: Path) -> Reader:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def read(hours: DayHours) -> list[BarColumns]:
        days = {hours.read_start_ts // DAY_SECONDS, (hours.read_end_ts - 1) // DAY_SECONDS}
        files = [str(f) for day in sorted(days) for f in (directory / f"utc_day={day}").glob("*.parquet")]
        table = pq.ParquetDataset(files).read()
        table = table.filter(
            pc.and_(
                pc.greater_equal(table["ts"], hours.read_start_ts), pc.less(table["ts"], hours.read_end_ts)
            )
        ).sort_by([("symbol", "ascending"), ("ts", "ascending")])
        symbols = table["symbol"].to_numpy(zero_copy_only=False)
        columns = [table[name].to_numpy() for name in ("ts", "open", "high", "low", "close", "volume")]
        out = []
        for symbol in workload.symbols:
            lo, hi = bisect_left(symbols, symbol), bisect_left(symbols, symbol + "\0")
            out.append(_columns(symbol, [np.ascontiguousarray(c[lo:hi]) for c in columns]))
        return out

    return read


def measure_layouts(workload: Workload, directory: Path, reps: int) -> dict[str, list[float]]:
    """Seconds per repetition of reading every session day of ``workload`` in each layout."""
    _write_parquet(workload, directory / "parquet")
    stale = directory / "stale-blocks.db"
    shutil.copyfile(workload.path, stale)
    with closing(sqlite3.connect(stale)) as connection:
        connection.execute("UPDATE bar_blocks SET data = NULL")
        connection.commit()
    with (
        open_store(workload.url, create=False) as store,
        open_store(f"sqlite:///{stale}", create=False) as rows,
    ):
        store.bars.reindex()
        calendar = TradingCalendar(store.calendar)
        hours = [DayHours.from_session(s) for s in calendar.get_trading_sessions(workload.days)]
        readers: dict[str, Reader] = {
            "rows": lambda h: rows.bars.read_columns(workload.symbols, "1m", h.read_start_ts, h.read_end_ts),
            "blocks": lambda h: store.bars.read_columns(
                workload.symbols, "1m", h.read_start_ts, h.read_end_ts
            ),
            "parquet": _parquet_reader(workload, directory / "parquet"),
        }
        expected = [readers["rows"](h) for h in hours]
        for name, reader in readers.items():  # the same columns, bar for bar
            for want, got in zip(expected, map(reader, hours), strict=True):
                assert [c.columns() for c in want] == [c.columns() for c in got], name
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(reps):
            for name, reader in readers.items():
                started = time.perf_counter()
                for day in hours:
                    reader(day)
                times[name].append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="marketsession-layouts-") as tmp:
        workload = build_workload(Path(tmp) / "w", args.symbols, args.days)
        times = measure_layouts(workload, Path(tmp), args.reps)
    rows = statistics.median(times["rows"])
    print(f"{workload.bars_1m:,} 1m bars, {args.symbols} symbols × {args.days} days, median of {args.reps}")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:8s} {median * 1e3:8.1f} ms  {workload.bars_1m / median:12,.0f} bars/s  "
            f"{rows / median:5.2f}× rows (min–max {min(values) * 1e3:.1f}–{max(values) * 1e3:.1f} ms)"
        )


if __name__ == "__main__":
    main()
