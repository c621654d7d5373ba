"""Storage layouts for the replay's read, measured side by side: what a session day costs to get
from the store into per-symbol columns (``python -m ops.bench.layouts [--symbols N --days D]``).

Every layout is read for the same session days and symbols, interleaved repetition by
repetition, and must give the very same columns:

- **rows**: the store's bar rows, one indexed range read per symbol and day, rows turned into
  columns (:meth:`~domain.store.bar_repo.BarRepository.read_columns`, today's path);
- **blocks**: one SQL row per (symbol, interval, UTC day) holding the day's six columns as
  packed arrays in a BLOB, read with one query per session day and decoded without a Python
  object per bar (the two UTC days a US session spans, cut to the session's range);
- **parquet**: a Parquet dataset partitioned by UTC day, read with a filter per session day.

The figures decide the replay-grade layout (``docs/decisions.md``); nothing here is used by the
engine.
"""

from __future__ import annotations

import argparse
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

_DTYPES = (np.int64, np.float64, np.float64, np.float64, np.float64, np.float64)

Reader = Callable[[DayHours], list[BarColumns]]


def _columns(symbol: str, arrays: Sequence[np.ndarray]) -> BarColumns:
    return BarColumns(symbol, "1m", *(a.data.toreadonly() for a in arrays))


def _write_blocks(workload: Workload) -> None:
    """The ``bar_blocks`` table of the workload's 1m bars: one row per symbol and UTC day."""
    with closing(sqlite3.connect(workload.path)) as connection:
        connection.execute(
            "CREATE TABLE bar_blocks (symbol TEXT, interval TEXT, utc_day INTEGER, count INTEGER, "
            "data BLOB, PRIMARY KEY (symbol, interval, utc_day)) WITHOUT ROWID"
        )
        rows = connection.execute(
            "SELECT symbol, ts, open, high, low, close, volume FROM bars WHERE interval = '1m' "
            "ORDER BY symbol, ts"
        ).fetchall()
        by_key: dict[tuple[str, int], list[tuple[float, ...]]] = {}
        for symbol, *values in rows:
            by_key.setdefault((symbol, values[0] // DAY_SECONDS), []).append(tuple(values))
        blocks = []
        for (symbol, day), day_rows in by_key.items():
            columns = list(zip(*day_rows, strict=True))
            data = b"".join(np.asarray(c, dtype=t).tobytes() for c, t in zip(columns, _DTYPES, strict=True))
            blocks.append((symbol, "1m", day, len(day_rows), data))
        connection.executemany("INSERT INTO bar_blocks VALUES (?, ?, ?, ?, ?)", blocks)
        connection.commit()


def _block_reader(workload: Workload) -> Reader:
    connection = sqlite3.connect(workload.path, check_same_thread=False)
    marks = ", ".join("?" * len(workload.symbols))
    query = (
        f"SELECT symbol, utc_day, count, data FROM bar_blocks WHERE interval = '1m' AND utc_day IN (?, ?) "
        f"AND symbol IN ({marks}) ORDER BY symbol, utc_day"
    )

    def read(hours: DayHours) -> list[BarColumns]:
        first, last = hours.read_start_ts // DAY_SECONDS, (hours.read_end_ts - 1) // DAY_SECONDS
        parts: dict[str, list[list[np.ndarray]]] = {}
        for symbol, _day, count, data in connection.execute(query, (first, last, *workload.symbols)):
            flat = np.frombuffer(data, dtype=np.uint8)
            arrays = [flat[i * 8 * count : (i + 1) * 8 * count].view(t) for i, t in enumerate(_DTYPES)]
            parts.setdefault(symbol, []).append(arrays)
        out = []
        for symbol in workload.symbols:
            blocks = parts.get(symbol, [])
            if len(blocks) == 1:
                arrays = blocks[0]
            else:  # the session spans two UTC days (or none)
                arrays = [
                    np.concatenate([b[i] for b in blocks]) if blocks else np.empty(0, t)
                    for i, t in enumerate(_DTYPES)
                ]
            lo, hi = np.searchsorted(arrays[0], [hours.read_start_ts, hours.read_end_ts])
            out.append(_columns(symbol, [a[lo:hi] for a in arrays]))
        return out

    return read


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
    _write_blocks(workload)
    _write_parquet(workload, directory / "parquet")
    with open_store(workload.url, create=False) as store:
        calendar = TradingCalendar(store.calendar)
        hours = [DayHours.from_session(s) for s in calendar.get_trading_sessions(workload.days)]
        readers: dict[str, Reader] = {
            "rows": lambda h: store.bars.read_columns(workload.symbols, "1m", h.read_start_ts, h.read_end_ts),
            "blocks": _block_reader(workload),
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
