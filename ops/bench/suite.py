"""The benchmark suite: workloads, repetitions, ratios, the table and the JSON file.

Run ``python -m ops.bench`` (``--quick`` for a smoke run, ``--postgres URL`` to add the
PostgreSQL replay, ``--json PATH`` for the output file). Every figure is the median of several
repetitions with min–max; every ratio divides two figures measured in the same run, the engine
and its baseline interleaved repetition by repetition.

Workloads (temporary SQLite stores, built with ``ops.demo_data``):

- **standard**: 20 symbols × 20 trading days of 1m (156,000 bars before demo gaps), plus the
  history of the historical-load figure (10 trading days of 1m, 252 of 1d);
- **large**: 100 symbols × 20 days (780,000 bars) for scaling and memory;
- **long**: 20 symbols × 60 days, for the process's resident memory at each close (does it
  stay flat across days?).

Shard scaling (``run --shards N``, :mod:`ops.shards`) replays the large workload in one process
and in 1, 2 and 4 shards on local worker processes, and models a 16-worker cluster from the
measured per-shard rate and fixed overhead (see ``docs/sharding.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console
from rich.table import Table

from domain.store import Store, init_store, open_store
from ops.bench.measures import (
    Figure,
    audit_pair,
    baseline_read,
    calendar_figures,
    historical_figures,
    memory_per_bar,
    quote_replay,
    replay,
    report_bytes_per_symbol_day,
    resident_over_days,
    shard_scaling,
    spread,
    startup_figures,
)
from ops.bench.workload import Workload, add_second_quotes, build_workload
from ops.calendars.seed import seed_group

__all__ = ["main", "run_suite"]

TARGETS = {
    "replay / baseline": (">=", 3.0),
    "replay / baseline (large)": (">=", 5.0),
    "replay + gating / baseline": (">=", 0.5),
    "historical load / plain SQL": ("<=", 1.5),
    "get_trading_session cached (µs)": ("<=", 1.0),
    "actor / bare ask": ("<=", 2.0),
    "gating per step / bare ask": ("<=", 1.5),
    "memory (bytes/bar)": ("<=", 48.0),
    "start-up: --help (s)": ("<=", 0.3),
    "start-up: tiny run (s)": ("<=", 0.5),
    "PostgreSQL replay / SQLite baseline": (">=", 1.0),
    "replay / nautilus_trader, bar execution off": (">=", 10.0),
    "quote replay / bar replay (rows/s)": (">=", 1.0),
}


def _replay_pair(
    workload: Workload, store: Store, reps: int, *, gating: bool = False
) -> tuple[Figure, Figure]:
    """Interleaved repetitions of the plain read and the engine replay of ``workload``."""
    config = workload.config()
    start_ts, end_ts = workload.session_range()
    base = Figure("baseline", [])
    engine = Figure("replay + gating" if gating else "replay", [])
    replay(config, store, gating=gating)  # warm-up: imports, first-use caches
    for _ in range(reps):
        elapsed, base.count = baseline_read(str(workload.path), workload.symbols, "1m", start_ts, end_ts)
        base.values.append(elapsed)
        elapsed, engine.count = replay(config, store, gating=gating)
        engine.values.append(elapsed)
    return base, engine


def _ratio(numerator: Figure, denominator: Figure) -> dict[str, float]:
    """Median, min and max of per-repetition rate ratios (the pairs were interleaved)."""
    pairs = zip(numerator.values, denominator.values, strict=False)
    return spread((numerator.count / a) / (denominator.count / b) for a, b in pairs)


def _time_ratio(numerator: Figure, denominator: Figure) -> dict[str, float]:
    return spread(a / b for a, b in zip(numerator.values, denominator.values, strict=False))


@contextmanager
def _postgres_copy(base_url: str, workload: Workload) -> Iterator[Store]:
    """The workload's bars and calendar in a schema of their own on ``base_url``, dropped after."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    try:
        init_store(url)
        with open_store(url) as store:
            year = workload.days[0].year
            seed_group(store.calendar, "US_EQUITY", year - 2, year + 1, datetime.now(UTC))
            with open_store(workload.url, create=False) as source:
                start_ts, end_ts = workload.session_range()
                for symbol in workload.symbols:
                    store.bars.upsert(source.bars.read(symbol, "1m", start_ts, end_ts), source="demo")
            store.bars.reindex()  # as the demo's own write does
            yield store
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_suite(
    *,
    quick: bool = False,
    postgres: str | None = None,
    workdir: Path | None = None,
    console: Console | None = None,
    wide: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The suite's figures; ``wide`` (symbols, days) adds one replay of a wide workload (bars/s
    against its baseline, and the resident memory at every close of a second replay)."""
    console = console or Console(markup=False)
    reps = 2 if quick else 5
    large_reps = 1 if quick else 3
    symbols, large_symbols = (5, 20) if quick else (20, 100)
    days = 5 if quick else 20
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
    }
    figures: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="marketsession-bench-", dir=workdir) as tmp:
        root = Path(tmp)
        standard = _build(console, root, "standard", symbols, days, history_1m=10, history_1d=252)
        with open_store(standard.url, create=False) as store:
            base, engine = _replay_pair(standard, store, reps)
            figures.update(baseline=base.to_json(), replay=engine.to_json())
            ratios["replay / baseline"] = _ratio(engine, base)
            base_g, gated = _replay_pair(standard, store, reps, gating=True)
            figures["replay + gating"] = gated.to_json()
            ratios["replay + gating / baseline"] = _ratio(gated, base_g)
            with _one_cpu() as pinned:
                for gating in (False, True) if pinned else ():
                    base_p, engine_p = _replay_pair(standard, store, reps, gating=gating)
                    name = "replay + gating" if gating else "replay"
                    figures[f"{name}, one CPU"] = engine_p.to_json()
                    ratios[f"{name} / baseline, one CPU"] = _ratio(engine_p, base_p)
            loaded, plain = historical_figures(standard, reps)
            figures.update({"historical load": loaded.to_json(), "historical plain SQL": plain.to_json()})
            ratios["historical load / plain SQL"] = _time_ratio(loaded, plain)
            calendar = calendar_figures(store, 20_000 if quick else 200_000, reps)
            figures["calendar"] = {name: figure.to_json() for name, figure in calendar.items()}
            for label, name in (("cached", "last query"), ("LRU hit", "lru hit"), ("uncached", "uncached")):
                ratios[f"get_trading_session {label} (µs)"] = spread(v * 1e6 for v in calendar[name].values)
            ratios["actor / bare ask"] = _time_ratio(calendar["actor"], calendar["bare ask"])
            # what a gating subscriber adds per clock step, in cross-thread round trips (the floor)
            steps, floor = standard.steps(), calendar["bare ask"].median
            ratios["gating per step / bare ask"] = spread(
                (gated_s - plain_s) / steps / floor
                for gated_s, plain_s in zip(gated.values, engine.values, strict=False)
            )
            base_a, audited = audit_pair(standard, reps)
            figures["audit"] = audited.to_json()
            ratios["audit / baseline"] = _ratio(audited, base_a)
        report_memory = report_bytes_per_symbol_day(standard)
        figures["report memory"] = report_memory.to_json()
        ratios["report memory per symbol-day (bytes)"] = spread(report_memory.values)
        startup = startup_figures(standard, root, reps)
        figures["start-up"] = {name: figure.to_json() for name, figure in startup.items()}
        for label, name in (
            ("--help", "marketsession --help"),
            ("tiny run", "marketsession run, 1 symbol × 1 day"),
        ):
            ratios[f"start-up: {label} (s)"] = spread(startup[name].values)
        ratios["start-up: --help / python -c pass"] = _time_ratio(
            startup["marketsession --help"], startup["python -c pass"]
        )
        if postgres:
            console.print("copying the standard workload to PostgreSQL …")
            with _postgres_copy(postgres, standard) as pg_store:
                base_pg, pg = _replay_pair(standard, pg_store, reps)
                figures["replay on PostgreSQL"] = pg.to_json()
                ratios["PostgreSQL replay / SQLite baseline"] = _ratio(pg, base_pg)

        engine_rate = engine.rate()["median"]
        for name, figure in _peers(standard, reps, console).items():  # the engine's replay median to theirs
            figures[name] = figure.to_json()
            rate = figure.rate()
            ratios[f"replay / {name}"] = {
                "median": engine_rate / rate["median"],
                "min": engine_rate / rate["max"],
                "max": engine_rate / rate["min"],
            }

        quoted = _build(console, root, "quotes", symbols, 1)
        console.print(f"  {add_second_quotes(quoted):,} quote rows written (one a second)")
        with_quotes, bars_only = quote_replay(quoted, reps)
        figures.update(
            {"quote replay": with_quotes.to_json(), "quote replay, bars only": bars_only.to_json()}
        )
        ratios["quote replay / bar replay (rows/s)"] = {
            key: value / engine.rate()["median"] for key, value in with_quotes.rate().items()
        }
        large = _build(console, root, "large", large_symbols, days, history_1m=10)
        with open_store(large.url, create=False) as store:
            base_l, engine_l = _replay_pair(large, store, large_reps)
            figures.update({"baseline (large)": base_l.to_json(), "replay (large)": engine_l.to_json()})
            ratios["replay / baseline (large)"] = _ratio(engine_l, base_l)
        single, sharded = shard_scaling(large, SHARD_COUNTS, large_reps)
        figures["shards: one process"] = single.to_json()
        for n, figure in sharded.items():
            figures[f"shards: {n}"] = figure.to_json()
            ratios[f"{n} shard(s) / one process (bars/s)"] = _ratio(figure, single)
        ratios["shards: 2 / 1 (bars/s)"] = _ratio(sharded[2], sharded[1])
        results["shard model"] = shard_model(sharded[1], len(large.symbols), CLUSTER_WORKERS)
        base_la, audited_l = audit_pair(large, large_reps)
        figures["audit (large)"] = audited_l.to_json()
        ratios["audit / baseline (large)"] = _ratio(audited_l, base_la)
        ratios["audit peak memory, large / standard"] = spread(
            [audited_l.notes["peak_traced_bytes"] / audited.notes["peak_traced_bytes"]]
        )
        long = _build(console, root, "long", symbols, 10 if quick else 60)
        resident = resident_over_days(long)
        figures["resident over days"] = resident.to_json()
        ratios["resident growth per day, long (kB)"] = spread([resident.notes["growth_per_day"] / 1e3])
        memory = memory_per_bar(large)
        figures["memory"] = memory.to_json()
        ratios["memory (bytes/bar)"] = spread([memory.median])
        if wide:
            wide_load = _build(console, root, "wide", *wide)
            with open_store(wide_load.url, create=False) as store:
                base_w, engine_w = _replay_pair(wide_load, store, 1)
            figures.update({"baseline (wide)": base_w.to_json(), "replay (wide)": engine_w.to_json()})
            ratios["replay / baseline (wide)"] = _ratio(engine_w, base_w)
            resident_w = resident_over_days(wide_load)
            figures["resident over days (wide)"] = resident_w.to_json()
            ratios["wide: peak resident at a close (MB)"] = spread([max(resident_w.values) / 1e6])
            ratios["wide: resident growth per day (kB)"] = spread([resident_w.notes["growth_per_day"] / 1e3])
        scaling = {
            name: {
                "symbols": count,
                "bars_per_second": figure.rate()["median"],
                "us_per_bar": 1e6 / figure.rate()["median"],
            }
            for name, count, figure in (("standard", symbols, engine), ("large", large_symbols, engine_l))
        }
    results.update(figures=figures, ratios=ratios, scaling=scaling, targets=_verdicts(ratios))
    return results


SHARD_COUNTS = (1, 2, 4)
CLUSTER_WORKERS = 16


def shard_model(one: Figure, symbols: int, workers: int) -> dict[str, Any]:
    """What ``workers`` single-threaded workers would do, from one shard's run: its rate inside the
    worker (bars per second of shard time) times the workers, after the fixed overhead of a
    sharded run (its wall time less its shard's). Assumes the store keeps up and each shard is
    as big as the measured one (``symbols`` of them); see ``docs/sharding.md``."""
    shard_seconds = statistics.median(one.notes["slowest_shard"])
    overhead = max(0.0, one.median - shard_seconds)
    per_worker = one.count / shard_seconds
    bars = one.count * workers  # a shard per worker, each the size of the measured one
    wall = overhead + shard_seconds
    return {
        "workers": workers,
        "per_worker_bars_per_second": round(per_worker),
        "overhead_seconds": round(overhead, 3),
        "bars": bars,
        "symbols": symbols * workers,
        "expected_wall_seconds": round(wall, 3),
        "expected_bars_per_second": round(bars / wall),
        "asymptotic_bars_per_second": round(per_worker * workers),
    }


def _build(console: Console, root: Path, name: str, symbols: int, days: int, **history: int) -> Workload:
    console.print(f"building the {name} workload: {symbols} symbols × {days} days …")
    started = time.perf_counter()
    workload = build_workload(root / name, symbols, days, **history)
    console.print(f"  {workload.bars_1m:,} 1m bars written ({time.perf_counter() - started:.1f}s)")
    return workload


@contextmanager
def _one_cpu() -> Iterator[bool]:
    """The process pinned to one CPU (Linux) for the block, affinity restored after; ``False``
    where affinity cannot be set. Shows what cross-core hand-offs between the engine's threads
    cost: under the GIL only one thread runs at a time anyway."""
    if not hasattr(os, "sched_setaffinity"):
        yield False
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield True
    finally:
        os.sched_setaffinity(0, before)


def _peers(workload: Workload, reps: int, console: Console) -> dict[str, Figure]:
    """backtrader and nautilus_trader replaying the same bars with a no-op consumer (when the
    ``bench`` extra is installed)."""
    from ops.bench import peers

    installed = peers.available()
    if not any(installed.values()):
        console.print("peers: not installed (pip install -e '.[bench]')")
        return {}
    start_ts, end_ts = workload.session_range()
    rows = peers.load_bars(str(workload.path), workload.symbols, start_ts, end_ts)
    runs: list[tuple[str, Callable[[], tuple[float, int]], int]] = []
    if installed.get("nautilus_trader"):
        for on in (False, True):
            name = f"nautilus_trader, bar execution {'on' if on else 'off'}"
            runs.append((name, partial(peers.nautilus_replay, rows, bar_execution=on), reps))
    if installed.get("backtrader"):
        runs.append(("backtrader", partial(peers.backtrader_replay, rows), 1))  # ~30 s a run
    out = {}
    for name, run, count in runs:
        console.print(f"peer: {name} …")
        figure = out[name] = Figure(name, [])
        for _ in range(count):
            elapsed, figure.count = run()
            figure.values.append(elapsed)
    return out


def _verdicts(ratios: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (op, bound) in TARGETS.items():
        if name in ratios:
            value = ratios[name]["median"]
            met = value >= bound if op == ">=" else value <= bound
            out[name] = {"target": f"{op} {bound}", "value": value, "met": met}
        else:
            out[name] = {"target": f"{op} {bound}", "met": None}
    return out


def render(results: dict[str, Any], console: Console) -> None:
    figures, ratios = results["figures"], results["ratios"]
    table = Table(title="marketsession benchmark (medians, min–max; ratios measured in the same run)")
    for column in ("figure", "median", "min – max", "target"):
        table.add_column(column, justify="left" if column == "figure" else "right")

    def row(
        label: str, f: dict[str, float], spec: str, unit: str, scale: float = 1, verdict: str = ""
    ) -> None:
        low, high = f"{f['min'] * scale:{spec}}", f"{f['max'] * scale:{spec}}"
        table.add_row(label, f"{f['median'] * scale:{spec}}{unit}", f"{low} – {high}", verdict)

    def rate_row(label: str, key: str) -> None:
        if key in figures and "per_second" in figures[key]:
            row(label, figures[key]["per_second"], ",.0f", " bars/s")

    rate_row("baseline: plain sqlite3 loop", "baseline")
    rate_row("replay (1m+5m, quality on)", "replay")
    rate_row("replay + gating subscriber", "replay + gating")
    rate_row("replay, one CPU", "replay, one CPU")
    rate_row("replay + gating, one CPU", "replay + gating, one CPU")
    rate_row("replay on PostgreSQL", "replay on PostgreSQL")
    for peer in ("nautilus_trader, bar execution off", "nautilus_trader, bar execution on", "backtrader"):
        rate_row(peer, peer)
    rate_row("baseline (large)", "baseline (large)")
    rate_row("replay (large)", "replay (large)")
    rate_row("quote replay, 1 day of 1 s quotes + 1m bars (rows/s)", "quote replay")
    rate_row("baseline (wide)", "baseline (wide)")
    rate_row("replay (wide)", "replay (wide)")
    for key in ("shards: one process", *(f"shards: {n}" for n in SHARD_COUNTS)):
        rate_row(f"large, {key.removeprefix('shards: ')}" + (" shard(s)" if key[-1].isdigit() else ""), key)
    rate_row("data audit", "audit")
    rate_row("data audit (large)", "audit (large)")
    for key in ("historical load", "historical plain SQL"):
        row(key, figures[key], ",.1f", " ms", 1e3)
    row("bare pykka ask", figures["calendar"]["bare ask"], ",.2f", " µs", 1e6)
    row("get_trading_session via TimeManager", figures["calendar"]["actor"], ",.2f", " µs", 1e6)
    for name, value in ratios.items():
        target = results["targets"].get(name)
        verdict = ""
        if target and target.get("met") is not None:
            verdict = f"{target['target']} {'✓' if target['met'] else '✗'}"
        row(name, value, ",.3f", "" if "(" in name else "×", verdict=verdict)
    console.print(table)
    model = results.get("shard model")
    if model:
        console.print(
            f"shard model: {model['workers']} workers × "
            f"{model['per_worker_bars_per_second']:,} bars/s per worker, "
            f"{model['overhead_seconds']:.2f}s overhead → {model['expected_bars_per_second']:,} bars/s for "
            f"{model['symbols']} symbols ({model['asymptotic_bars_per_second']:,} bars/s as runs grow)"
        )
    scaling = results["scaling"]
    console.print(
        "scaling: "
        + " · ".join(
            f"{k} ({v['symbols']} symbols) {v['bars_per_second']:,.0f} bars/s = {v['us_per_bar']:.2f} µs/bar"
            for k, v in scaling.items()
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small workloads, few repetitions (a smoke run)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MARKETSESSION_BENCH_PG_URL"),
        metavar="URL",
        help="also replay from PostgreSQL (in a schema of its own, dropped after); "
        "default $MARKETSESSION_BENCH_PG_URL",
    )
    parser.add_argument("--json", default="var/bench.json", metavar="PATH", help="where to write the figures")
    parser.add_argument(
        "--wide",
        nargs=2,
        type=int,
        metavar=("SYMBOLS", "DAYS"),
        help="also replay a wide workload once, e.g. 500 60 (building it takes minutes)",
    )
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    console = Console(markup=False)
    started = time.perf_counter()
    results = run_suite(
        quick=args.quick,
        postgres=args.postgres,
        console=console,
        wide=tuple(args.wide) if args.wide else None,
    )
    results["seconds"] = round(time.perf_counter() - started, 1)
    render(results, console)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"figures written to {path} ({results['seconds']}s)")
