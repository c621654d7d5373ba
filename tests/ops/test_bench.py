"""The benchmark compares like with like: the engine and its baselines see the same bars.

No timing is asserted (timings belong to ``python -m ops.bench``); these tests check that each
ratio's two sides count the same rows, on a tiny workload built by the bench's own builder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.calendar.trading_calendar import TradingCalendar
from domain.session.windows import DayHours
from domain.store import open_store
from ops.bench import peers
from ops.bench.layouts import measure_layouts
from ops.bench.measures import (
    Figure,
    baseline_read,
    historical_figures,
    memory_per_bar,
    quote_replay,
    replay,
    shard_scaling,
)
from ops.bench.suite import shard_model
from ops.bench.workload import Workload, add_second_quotes, build_workload


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    return build_workload(tmp_path_factory.mktemp("bench"), 3, 2, history_1m=2, history_1d=5)


def test_the_replay_streams_exactly_the_bars_the_baseline_reads(workload: Workload) -> None:
    start_ts, end_ts = workload.session_range()
    _, read = baseline_read(str(workload.path), workload.symbols, "1m", start_ts, end_ts)
    store = open_store(workload.url, create=False)
    try:
        _, streamed = replay(workload.config(), store)
        _, gated = replay(workload.config(), store, gating=True)
    finally:
        store.close()
    assert (
        read
        == streamed
        == gated
        == len(peers.load_bars(str(workload.path), workload.symbols, start_ts, end_ts))
    )
    assert read > 0.99 * 3 * 2 * 390  # demo data misses about 0.5 % of minutes


def test_the_historical_load_and_its_plain_read_count_the_same_rows(workload: Workload) -> None:
    loaded, plain = historical_figures(workload, reps=1)
    assert loaded.count == plain.count
    assert loaded.count > 3 * (5 + 2 * 380)


def test_memory_per_bar_counts_history_and_session(workload: Workload) -> None:
    figure = memory_per_bar(workload)
    assert figure.notes["historical_bars"] > 0 and figure.notes["session_bars"] > 0
    assert 48 <= figure.median < 200  # six 8-byte columns, plus array headers on tiny series


def test_every_storage_layout_reads_the_columns_the_rows_give(tmp_path: Path) -> None:
    """The layout comparison checks, day by day, that blocks and Parquet give the rows' columns
    bar for bar (it raises otherwise) before it times them."""
    workload = build_workload(tmp_path / "w", 3, 2)
    times = measure_layouts(workload, tmp_path, reps=1)
    assert set(times) == {"rows", "blocks", "parquet"} and all(len(v) == 1 for v in times.values())


def test_the_steps_of_a_workload_are_its_regular_minutes_with_a_bar(workload: Workload) -> None:
    with open_store(workload.url, create=False) as store:
        calendar = TradingCalendar(store.calendar)
        minutes = set()
        for day in workload.days:
            hours = DayHours.from_session(calendar.get_trading_session(day))
            for symbol in workload.symbols:
                minutes |= {b.ts for b in store.bars.read(symbol, "1m", hours.open_ts, hours.close_ts)}
    assert workload.steps() == len(minutes) > 0


def test_the_quote_replay_streams_every_quote_row_and_the_days_bars(tmp_path: Path) -> None:
    quoted = build_workload(tmp_path / "quotes", 2, 1)
    rows = add_second_quotes(quoted)
    assert rows == 2 * 23_400  # every second of the day changes the book
    with_quotes, bars_only = quote_replay(quoted, 1)
    assert with_quotes.count == bars_only.count + rows


def test_every_shard_count_streams_the_bars_one_process_does(workload: Workload) -> None:
    single, sharded = shard_scaling(workload, (1, 3), reps=1)
    assert single.count > 0 and [f.count for f in sharded.values()] == [single.count] * 2
    assert all(len(f.notes["slowest_shard"]) == len(f.values) == 1 for f in sharded.values())


def test_the_shard_model_scales_the_measured_worker_rate_after_the_overhead() -> None:
    one = Figure("1 shard(s)", [3.0, 3.5, 2.5], count=1_000_000, notes={"slowest_shard": [2.0, 2.2, 1.8]})
    model = shard_model(one, symbols=100, workers=16)
    assert model["per_worker_bars_per_second"] == 500_000
    assert model["overhead_seconds"] == 1.0  # 3.0 s of wall time, 2.0 s of it in the shard
    assert model["bars"] == 16_000_000 and model["symbols"] == 1_600
    assert model["expected_wall_seconds"] == 3.0
    assert model["expected_bars_per_second"] == round(16_000_000 / 3.0)
    assert model["asymptotic_bars_per_second"] == 8_000_000
