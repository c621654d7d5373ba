"""The measurements of the benchmark suite; each returns seconds (or bytes) per repetition.

Every engine figure has its baseline measured in the same process, interleaved with it, so a
ratio compares the two under the same machine load.
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from itertools import cycle, islice, repeat
from pathlib import Path
from typing import Any

import pykka

from actors.system import MarketSessionSystem
from actors.time_manager import TimeManager, TimeManagerClient
from domain.bars import daily_ts
from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.history.series import load_historical
from domain.intervals import MINUTE, Interval
from domain.session.data import SessionData
from domain.session.replay_day import SessionDay
from domain.session.windows import DayHours
from domain.store import Store, open_store
from ops.bench.workload import Workload

__all__ = [
    "Figure",
    "audit_pair",
    "baseline_read",
    "calendar_figures",
    "historical_figures",
    "memory_per_bar",
    "quote_replay",
    "replay",
    "shard_scaling",
    "spread",
]


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min and max of ``values``."""
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1]}


@dataclass
class Figure:
    """Repeated measurements of one thing: ``values`` in ``unit`` (seconds unless said)."""

    name: str
    values: list[float]
    unit: str = "s"
    count: int = 0
    """Bars (or queries) per repetition, for rates."""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def rate(self) -> dict[str, float]:
        """Median, min and max of ``count / value``."""
        return spread(self.count / v for v in self.values)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unit": self.unit, **spread(self.values), "values": self.values}
        if self.count:
            out.update(count=self.count, per_second=self.rate())
        return out | self.notes


def baseline_read(
    db_path: str, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int
) -> tuple[float, int]:
    """A plain ``sqlite3`` loop over the bars ordered by time, touching every field."""
    marks = ",".join("?" * len(symbols))
    sql = (
        "SELECT symbol, interval, ts, open, high, low, close, volume FROM bars "
        f"WHERE interval = ? AND symbol IN ({marks}) AND ts >= ? AND ts < ? ORDER BY ts"
    )
    with closing(sqlite3.connect(db_path)) as connection:
        started = time.perf_counter()
        count, total = 0, 0.0
        for _symbol, _interval, ts, open_, high, low, close, volume in connection.execute(
            sql, (interval, *symbols, start_ts, end_ts)
        ):
            total += ts + open_ + high + low + close + volume
            count += 1
        return time.perf_counter() - started, count


def replay(config: SessionConfig, store: Store, *, gating: bool = False) -> tuple[float, int]:
    """One speed-0 backtest through the engine (what ``marketsession run`` does): seconds from
    start to report, and the bars streamed."""
    started = time.perf_counter()
    engine = MarketSessionSystem(config, store, speed=0)
    if gating:
        engine.subscribe(_acknowledge, events=["bars_appended"], gating=True, name="gating-bench")
    report = engine.run(timeout=3600)
    elapsed = time.perf_counter() - started
    if report.status != "completed":
        raise RuntimeError(f"bench replay {report.status}: {report.error}")
    return elapsed, report.bars_streamed


def quote_replay(workload: Workload, reps: int) -> tuple[Figure, Figure]:
    """One day of ``workload`` replayed with its 1m bars and its quotes (``add_second_quotes``),
    and with its bars alone, alternated: seconds per run, ``count`` the rows streamed."""
    data = workload.config().to_dict()
    data["backtest_config"]["end_date"] = data["backtest_config"]["start_date"]
    figures = {}
    for streams in (["1m", "quotes"], ["1m"]):
        data["session_data_config"]["streams"] = streams
        figures[len(streams)] = (SessionConfig.from_dict(data), Figure("+".join(streams), []))
    with open_store(workload.url, create=False) as store:
        for _ in range(reps):
            for config, figure in figures.values():
                started = time.perf_counter()
                report = MarketSessionSystem(config, store, speed=0).run(timeout=600)
                figure.values.append(time.perf_counter() - started)
                figure.count = report.bars_streamed + report.quotes_streamed
    return figures[2][1], figures[1][1]


def _acknowledge(_event: object) -> None:
    """A gating subscriber doing nothing but acknowledging each step."""


def _history_config(workload: Workload) -> SessionConfig:
    """The workload's backtest with its trailing 1m and 1d history (those it has), no indicators."""
    data = [
        {"trailing_days": len(days), "intervals": [interval], "apply_to": "all"}
        for interval, days in (("1m", workload.history_1m), ("1d", workload.history_1d))
        if days
    ]
    return workload.config(historical={"data": data})


def historical_figures(workload: Workload, reps: int) -> tuple[Figure, Figure]:
    """``load_historical`` for the session day after the history (10d of 1m, 252d of 1d for every
    symbol, no indicators) against a plain SQL read of the same rows."""
    config = _history_config(workload)
    with open_store(workload.url, create=False) as store:
        calendar = TradingCalendar(store.calendar)
        day = workload.days[0]
        minute_hours = [DayHours.from_session(s) for s in calendar.get_trading_sessions(workload.history_1m)]
        engine_times, plain_times = [], []
        rows = 0
        load_historical(config, day, calendar, store.bars)  # warm: the calendar cache, as in a run
        for _ in range(reps):
            started = time.perf_counter()
            data = load_historical(config, day, calendar, store.bars)
            engine_times.append(time.perf_counter() - started)
            elapsed, rows = _plain_history_read(workload, minute_hours)
            plain_times.append(elapsed)
        loaded = sum(series.bar_count for series in data.series.values())
    return (
        Figure("historical load", engine_times, count=loaded),
        Figure("historical plain SQL", plain_times, count=rows),
    )


def _plain_history_read(workload: Workload, minute_hours: Sequence[DayHours]) -> tuple[float, int]:
    with closing(sqlite3.connect(workload.path)) as connection:
        started = time.perf_counter()
        count, total = 0, 0.0
        first_day, last_day = workload.history_1d[0], workload.history_1d[-1]
        daily = (daily_ts(first_day), daily_ts(last_day) + 86_400)
        minutes = (minute_hours[0].open_ts, minute_hours[-1].close_ts)
        for symbol in workload.symbols:
            for interval, (lo, hi) in (("1m", minutes), ("1d", daily)):
                for row in connection.execute(
                    "SELECT ts, open, high, low, close, volume FROM bars "
                    "WHERE symbol = ? AND interval = ? AND ts >= ? AND ts < ? ORDER BY ts",
                    (symbol, interval, lo, hi),
                ):
                    total += row[0] + row[1] + row[2] + row[3] + row[4] + row[5]
                    count += 1
        return time.perf_counter() - started, count


class _Echo(pykka.ThreadingActor):
    """The bare pykka round trip the TimeManager is compared with: answers at once."""

    use_daemon_thread = True

    def on_receive(self, message: Any) -> Any:
        return message


def calendar_figures(store: Store, queries: int, reps: int) -> dict[str, Figure]:
    """``get_trading_session`` cached (last-query fast path, LRU hit), uncached, through the
    TimeManager actor, and a bare pykka ask round trip; seconds per query."""
    calendar = TradingCalendar(store.calendar)
    days = calendar.get_trading_dates_in_range(date(2025, 1, 2), date(2025, 12, 31))
    calendar.get_trading_sessions(days)  # warm: every session of the year cached
    figures = {
        name: Figure(name, [], unit="s/query")
        for name in ("last query", "lru hit", "uncached", "actor", "bare ask")
    }

    def timed(name: str, call: Callable[[date], Any], days: Iterator[date], count: int) -> None:
        started = time.perf_counter()
        for day in islice(days, count):
            call(day)
        figures[name].values.append((time.perf_counter() - started) / count)

    one = days[100]
    manager = TimeManager.start(store.calendar)
    client = TimeManagerClient(manager)
    echo = _Echo.start()
    try:
        client.get_trading_session(one)
        for _ in range(reps):
            timed("last query", calendar.get_trading_session, repeat(one), queries)
            timed("lru hit", calendar.get_trading_session, cycle(days), queries)
            cold = TradingCalendar(store.calendar, cache_size=1)
            cold.get_trading_session(days[0])  # the year's holidays loaded; each query below builds
            timed("uncached", cold.get_trading_session, cycle(days), queries // 10)
            timed("actor", client.get_trading_session, repeat(one), queries // 10)
            timed("bare ask", lambda d: echo.ask(d, timeout=10), repeat(one), queries // 10)
    finally:
        echo.stop()
        manager.stop()
    return figures


def audit_pair(workload: Workload, reps: int) -> tuple[Figure, Figure]:
    """Interleaved repetitions of the plain read and ``data audit`` of the workload's 1m bars;
    the audit's peak traced memory (bytes) in the notes."""
    import tracemalloc

    from ops.audit import audit_store

    start_ts, end_ts = workload.session_range()
    base, audit = Figure("baseline", []), Figure("audit", [])
    with open_store(workload.url, create=False) as store:
        calendar = TradingCalendar(store.calendar)
        audit_store(store, calendar, intervals=["1m"])  # warm-up
        for _ in range(reps):
            elapsed, base.count = baseline_read(str(workload.path), workload.symbols, "1m", start_ts, end_ts)
            base.values.append(elapsed)
            started = time.perf_counter()
            result = audit_store(store, calendar, intervals=["1m"])
            audit.values.append(time.perf_counter() - started)
            audit.count = result.bars
        tracemalloc.start()
        audit_store(store, calendar, intervals=["1m"])
        audit.notes["peak_traced_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return base, audit


def memory_per_bar(workload: Workload) -> Figure:
    """Bytes held per bar in session data as the coordinator holds it at the close of the first
    session day: trailing 1m (and 1d) history, the day's 1m session bars and the derived 5m."""
    with open_store(workload.url, create=False) as store:
        calendar = TradingCalendar(store.calendar)
        config = _history_config(workload)
        day = workload.days[0]
        data = SessionData(MINUTE)
        historical = load_historical(config, day, calendar, store.bars)
        for (symbol, interval), series in historical.series.items():
            data.set_historical(symbol, interval, series.columns, series.days)
        hours = DayHours.from_session(calendar.get_trading_session(day))
        columns = store.bars.read_columns(workload.symbols, "1m", hours.read_start_ts, hours.read_end_ts)
        session_day = SessionDay(hours, MINUTE, [Interval.parse("5m")], workload.symbols, columns)
        horizons = data.attach_day(session_day.all_columns, session_day.released)
        while not session_day.at_close:
            session_day.release(session_day.next_clock())
        for interval, until in session_day.released.items():
            horizons[interval].ts = until
        counts = data.bar_count()
        resident = data.resident_bytes()
    return Figure(
        "memory",
        [resident / counts.total],
        unit="bytes/bar",
        notes={"bars": counts.total, "historical_bars": counts.historical, "session_bars": counts.session},
    )


def startup_figures(workload: Workload, directory: Path, reps: int) -> dict[str, Figure]:
    """Wall seconds of fresh processes, interleaved: the interpreter alone (``python -c pass``),
    ``marketsession --help``, and a ``run`` of one symbol and one day of ``workload`` (speed 0)."""
    data = workload.config().to_dict()
    data["session_name"] = "bench start-up"
    data["backtest_config"].update(
        start_date=workload.days[0].isoformat(), end_date=workload.days[0].isoformat()
    )
    data["session_data_config"]["symbols"] = workload.symbols[:1]
    config = directory / "startup.json"
    config.write_text(json.dumps(data), encoding="utf-8")
    cli = [sys.executable, "-m", "ops.cli", "--db", workload.url]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "marketsession --help": [*cli, "--help"],
        "marketsession run, 1 symbol × 1 day": [
            *cli, "run", str(config), "--no-progress", "--report", str(directory / "startup.report.json"),
        ],
    }  # fmt: skip
    figures = {name: Figure(name, []) for name in commands}
    for _ in range(reps):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, timeout=120)
            figures[name].values.append(time.perf_counter() - started)
    return figures


def report_bytes_per_symbol_day(workload: Workload) -> Figure:
    """Bytes the run report holds per symbol and session day (traced allocations freed when it is
    dropped), for a replay of ``workload`` with the example's indicators (52-week daily ones and a
    per-minute average)."""
    example = json.loads((Path(__file__).parents[2] / "session_configs" / "example_session.json").read_text())
    data = workload.config().to_dict()
    data["session_data_config"]["historical"] = example["session_data_config"]["historical"]
    config = SessionConfig.from_dict(data)
    with open_store(workload.url, create=False) as store:
        tracemalloc.start()
        try:
            report = MarketSessionSystem(config, store, speed=0).run(timeout=3600)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
            symbol_days = sum(len(day.symbols) for day in report.days)
            del report
            gc.collect()
            freed = held - tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    return Figure(
        "report memory", [freed / symbol_days], unit="bytes/symbol-day", notes={"symbol_days": symbol_days}
    )


def _resident_bytes() -> int:
    """This process's resident set size now (Linux ``/proc``; 0 where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def resident_over_days(workload: Workload) -> Figure:
    """The process's resident bytes at each session close of a speed-0 replay of ``workload``
    (values: one per day, in order); notes: the growth per day fitted over the second half of
    the run (after the first days' caches and arenas have settled)."""
    at_close: list[float] = []

    def on_close(_event: object) -> None:
        at_close.append(float(_resident_bytes()))

    with open_store(workload.url, create=False) as store:
        engine = MarketSessionSystem(workload.config(), store, speed=0)
        engine.subscribe(on_close, events=["session_ended"], name="rss-bench")
        report = engine.run(timeout=3600)
    if report.status != "completed":
        raise RuntimeError(f"bench replay {report.status}: {report.error}")
    half = at_close[len(at_close) // 2 :]
    slope = statistics.linear_regression(range(len(half)), half).slope if len(half) > 1 else 0.0
    return Figure("resident over days", at_close, unit="bytes", notes={"growth_per_day": slope})


def shard_scaling(workload: Workload, counts: Sequence[int], reps: int) -> tuple[Figure, dict[int, Figure]]:
    """The workload's speed-0 backtest in one process (the engine in this one) and sharded by
    symbol into each of ``counts`` shards on the local executor, alternated repetition by
    repetition: wall seconds from the call to the merged report. A sharded figure's notes hold
    the seconds its shards took inside their workers (the slowest, and all of them summed), so
    the fixed overhead (planning, the pool, the merge) is its wall time less the slowest shard."""
    from ops.shards import run_sharded

    config = workload.config()
    single = Figure("one process", [])
    sharded = {
        n: Figure(f"{n} shard(s)", [], notes={"slowest_shard": [], "shard_seconds": []}) for n in counts
    }
    run_sharded(config, workload.url, shards=max(counts), speed=0)  # warm-up: the fork server starts
    with open_store(workload.url, create=False) as store:
        for _ in range(reps):
            elapsed, single.count = replay(config, store)
            single.values.append(elapsed)
            for n, figure in sharded.items():
                run = run_sharded(config, workload.url, shards=n, speed=0)
                figure.values.append(run.seconds)
                figure.count = run.report.bars_streamed
                figure.notes["slowest_shard"].append(max(o.seconds for o in run.outcomes))
                figure.notes["shard_seconds"].append(sum(o.seconds for o in run.outcomes))
    return single, sharded
