"""``marketsession demo`` and ``marketsession run`` as a user runs them: exit codes, the summary,
the JSON report, the Parquet export, SQLite and PostgreSQL giving the same report (SPEC §9)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from support.cli import Result, executable, run_cli
from support.engine import EXAMPLE, LIVE_EXAMPLE, example_dict, fill_demo_store
from support.stores import REPO, seed

from domain.config import SessionConfig
from domain.store import open_store

pytestmark = pytest.mark.slow

REPORT_KEYS = {
    "restarts",
    "session_name",
    "mode",
    "exchange_group",
    "status",
    "error",
    "start_date",
    "end_date",
    "speed_multiplier",
    "symbols",
    "streams",
    "days",
    "totals",
    "timings",
    "warnings",
}
EXAMPLE_ARG = "session_configs/example_session.json"
EXAMPLE_DAYS = ["2025-07-02", "2025-07-03", "2025-07-07"]


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """A written report without its timings (what two runs of the same backtest share)."""
    return {key: value for key, value in report.items() if key != "timings"}


def assert_clean(result: Result) -> None:
    assert "Traceback" not in result.err, result.err
    assert "Traceback" not in result.out, result.out


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, str, Path]:
    """``marketsession demo --no-progress`` on a fresh SQLite file: (result, store URL, report)."""
    directory = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{directory / 'fresh.db'}"
    report = directory / "demo.report.json"
    result = run_cli("demo", "--no-progress", "--report", str(report), db=url, cwd=REPO)
    return result, url, report


def test_demo_on_a_fresh_sqlite_file_prints_the_summary_and_writes_the_report(
    demo_run: tuple[Result, str, Path],
) -> None:
    result, _url, report_path = demo_run
    assert result.code == 0, result.err
    assert_clean(result)
    for text in ("RIVN", "AAPL", *EXAMPLE_DAYS, "completed", str(report_path)):
        assert text in result.out, text
    report = json.loads(report_path.read_text())
    assert set(report) == REPORT_KEYS
    assert report["status"] == "completed"
    assert [d["date"] for d in report["days"]] == EXAMPLE_DAYS
    assert report["symbols"] == ["RIVN", "AAPL"]
    assert report["totals"]["bars_streamed"] > 0


def test_demo_run_again_says_no_bar_was_new(demo_run: tuple[Result, str, Path], tmp_path: Path) -> None:
    _first, url, _report = demo_run
    again = run_cli("demo", "--no-progress", "--report", str(tmp_path / "again.json"), db=url, cwd=REPO)
    assert again.code == 0, again.err
    assert "demo data: 0 new 1m bars for RIVN, AAPL" in again.out
    assert "demo data: 0 new 1d bars for RIVN, AAPL" in again.out


def test_run_with_report_and_export_on_the_demo_store(
    demo_run: tuple[Result, str, Path], tmp_path: Path
) -> None:
    demo, url, demo_report = demo_run
    assert demo.code == 0, demo.err
    report_path, export = tmp_path / "R.json", tmp_path / "D"
    result = run_cli(
        "run", EXAMPLE_ARG, "--speed", "0", "--report", str(report_path), "--export", str(export),
        db=url, cwd=REPO,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert_clean(result)
    report = json.loads(report_path.read_text())
    assert set(report) == REPORT_KEYS
    assert report["status"] == "completed" and report["error"] is None
    assert comparable(report) == comparable(json.loads(demo_report.read_text()))  # same store, same run

    bars = pq.read_table(export / "session_bars.parquet")
    quality = pq.read_table(export / "quality.parquet")
    gaps = pq.read_table(export / "gaps.parquet")
    keys = ["session_date", "symbol", "interval", "session"]
    assert bars.column_names == [*keys, "ts", "open", "high", "low", "close", "volume", "day_quality"]
    assert quality.column_names == [*keys, "bars", "expected", "quality", "gaps"]
    assert gaps.column_names == [*keys, "start", "end", "bar_count", "status"]
    assert (
        set(bars.column("session").to_pylist()) == set(quality.column("session").to_pylist()) == {"regular"}
    )

    totals = report["totals"]
    assert bars.num_rows == totals["bars_streamed"] + totals["bars_derived"]
    sessions = [
        (day["date"], symbol, interval, summary)
        for day in report["days"]
        for symbol, symbol_day in day["symbols"].items()
        for interval, summary in symbol_day["session"].items()
    ]
    assert quality.num_rows == len(sessions) == 3 * 2 * 3
    assert sum(quality.column("bars").to_pylist()) == bars.num_rows
    assert gaps.num_rows == sum(len(summary["gaps"]) for *_, summary in sessions)
    rows = {
        (row["session_date"].isoformat(), row["symbol"], row["interval"]): row for row in quality.to_pylist()
    }
    for day, symbol, interval, summary in sessions:
        row = rows[(day, symbol, interval)]
        assert (row["bars"], row["expected"], row["quality"]) == (
            summary["bars"],
            summary["expected"],
            summary["quality"],
        )
    per_series: dict[tuple[str, str, str], int] = {}
    for row in bars.select(["session_date", "symbol", "interval"]).to_pylist():
        key = (row["session_date"].isoformat(), row["symbol"], row["interval"])
        per_series[key] = per_series.get(key, 0) + 1
    assert per_series == {(d, s, i): summary["bars"] for d, s, i, summary in sessions if summary["bars"]}


@pytest.mark.postgres
def test_run_on_postgresql_gives_the_same_report_as_on_sqlite(
    demo_run: tuple[Result, str, Path], postgres_url: str, tmp_path: Path
) -> None:
    demo, _url, demo_report = demo_run
    assert demo.code == 0, demo.err
    with open_store(postgres_url) as store:
        fill_demo_store(store, SessionConfig.from_file(EXAMPLE))  # what `demo` writes, on PostgreSQL
    report_path = tmp_path / "pg.report.json"
    result = run_cli(
        "run", EXAMPLE_ARG, "--speed", "0", "--report", str(report_path), db=postgres_url, cwd=REPO
    )

    assert result.code == 0, result.err
    assert_clean(result)
    on_postgres = json.loads(report_path.read_text())
    assert on_postgres["status"] == "completed"
    assert comparable(on_postgres) == comparable(json.loads(demo_report.read_text()))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_run_pinned_to_one_cpu_gives_the_same_report(
    demo_run: tuple[Result, str, Path], tmp_path: Path
) -> None:
    demo, url, demo_report = demo_run
    assert demo.code == 0, demo.err
    report_path = tmp_path / "pinned.json"
    result = run_cli(
        "run", EXAMPLE_ARG, "--speed", "0", "--one-cpu", "--no-progress", "--report", str(report_path),
        db=url, cwd=REPO,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert comparable(json.loads(report_path.read_text())) == comparable(json.loads(demo_report.read_text()))


def test_an_invalid_config_exits_2_naming_the_json_path(sqlite_url: str, tmp_path: Path) -> None:
    data = example_dict()
    data["session_data_config"]["gap_filler"]["max_retries"] = 0
    config = tmp_path / "invalid.json"
    config.write_text(json.dumps(data))
    result = run_cli("run", str(config), "--speed", "0", db=sqlite_url)

    assert result.code == 2
    assert "session_data_config.gap_filler.max_retries" in result.err
    assert_clean(result)


def test_a_live_mode_config_exits_2(sqlite_url: str) -> None:
    result = run_cli("run", str(LIVE_EXAMPLE), "--speed", "0", db=sqlite_url)

    assert result.code == 2
    assert "live" in result.err
    assert_clean(result)


def test_a_calendar_not_seeded_for_the_window_exits_2_naming_the_range(
    sqlite_url: str, tmp_path: Path
) -> None:
    with open_store(sqlite_url) as store:
        seed(store, "US_EQUITY", start_year=2025, end_year=2025)
    report_path = tmp_path / "never.json"
    result = run_cli(
        "run", EXAMPLE_ARG, "--speed", "0", "--report", str(report_path), db=sqlite_url, cwd=REPO
    )

    assert result.code == 2
    assert "2025-01-01..2025-12-31" in result.err
    assert "2024" in result.err  # the 52-week indicators reach into 2024
    assert_clean(result)
    assert not report_path.exists()


def test_a_backtest_on_a_store_without_bars_exits_3_naming_symbols_and_dates(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:
        seed(store, "US_EQUITY", start_year=2023, end_year=2026)
    result = run_cli("run", EXAMPLE_ARG, "--speed", "0", "--no-progress", db=sqlite_url, cwd=REPO)
    assert result.code == 3, result.err
    assert result.err.strip().splitlines()[-1] == (
        "error: no session bars for RIVN, AAPL on 2025-07-02..2025-07-07: the store holds none for them "
        "(see `marketsession data summary`)"
    )
    assert_clean(result)


def test_a_backtest_with_one_symbol_without_bars_exits_3_naming_only_it(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:
        fill_demo_store(store, SessionConfig.from_dict(example_dict() | {"session_data_config": {
            **example_dict()["session_data_config"], "symbols": ["AAPL"]}}))  # fmt: skip
    result = run_cli("run", EXAMPLE_ARG, "--speed", "0", "--no-progress", db=sqlite_url, cwd=REPO)
    assert result.code == 3, result.err
    assert "error: no session bars for RIVN on 2025-07-02..2025-07-07" in result.err
    assert "AAPL" in result.out


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="SIGUSR1 is POSIX-only")
def test_sigusr1_dumps_every_threads_stack_and_the_run_goes_on(demo_run: tuple[Result, str, Path]) -> None:
    demo, url, _report = demo_run
    assert demo.code == 0, demo.err
    # speed 6: a market minute every 10 s, so the run is surely streaming when the signal comes
    command = [executable(), "--db", url, "run", EXAMPLE_ARG, "--speed", "6", "--no-progress"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pause = threading.Event()  # never set: its waits are bounded pauses (no time.sleep)
        tasks = Path(f"/proc/{process.pid}/task")
        for _ in range(200):  # the engine's threads are up (Linux: count them), at most 20 s
            if not tasks.is_dir() or len(list(tasks.iterdir())) >= 6 or process.poll() is not None:
                break
            pause.wait(0.1)
        pause.wait(0.5 if tasks.is_dir() else 5.0)
        process.send_signal(signal.SIGUSR1)
        pause.wait(1.0)  # the dump is written by the signal handler at once
        assert process.poll() is None, "SIGUSR1 must not stop the run"
        process.terminate()
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert "most recent call first" in err
    assert "session_coordinator.py" in err or "pykka" in err, err[-2000:]


# ---------------------------------------------------------------------- alignment in a run


def test_a_backtest_of_the_real_day_reports_each_symbols_alignment_next_to_its_quality(
    tmp_path: Path,
) -> None:
    """RIVN imported as stamped (four hours late, accepted) and AAPL shifted back: the report says
    which day fits its session, and warns about the one that does not."""
    url = f"sqlite:///{tmp_path / 'real.db'}"
    assert run_cli("calendar", "seed", "--start-year", "2025", "--end-year", "2025", db=url).code == 0
    imports = (
        ("RIVN", "--accept-misaligned"),
        ("AAPL", "--shift", "-4"),
    )
    for symbol, *options in imports:
        path = REPO.parent / "shared" / "data" / "real" / f"{symbol}_2025-07-02_1m.csv"
        done = run_cli("data", "import", str(path), "--symbol", symbol, "--interval", "1m", *options, db=url)
        assert done.code == 0, done.err
    config = example_dict()
    config["backtest_config"].update(start_date="2025-07-02", end_date="2025-07-02", speed_multiplier=0)
    config["session_data_config"]["historical"] = {"enable_quality": True, "data": [], "indicators": {}}
    path = tmp_path / "real.json"
    path.write_text(json.dumps(config))
    report_path = tmp_path / "real.report.json"
    result = run_cli("run", str(path), "--no-progress", "--report", str(report_path), db=url)
    assert result.code == 0, result.err
    (day,) = json.loads(report_path.read_text())["days"]
    aapl, rivn = day["symbols"]["AAPL"], day["symbols"]["RIVN"]
    assert aapl["session"]["1m"]["bars"] == 390 and aapl["alignment"]["status"] == "aligned"
    assert rivn["session"]["1m"]["bars"] == 262
    assert rivn["alignment"]["status"] == "misaligned" and rivn["alignment"]["offset"] == "+4:00"
    assert rivn["alignment"]["fix"] == "--shift -4:00"
    assert any(w.startswith("RIVN: time stamps look +4:00 late") for w in day["warnings"]), day["warnings"]
    assert "RIVN: time stamps look +4:00 late" in result.out + result.err


def test_a_backtest_with_extended_hours_shows_and_exports_each_session(tmp_path: Path) -> None:
    """The real AAPL day shifted back, with ``extended_hours``: the summary has pre and post
    columns, the report the pre- and post-market scores, the export a session per row."""
    url = f"sqlite:///{tmp_path / 'real.db'}"
    assert run_cli("calendar", "seed", "--start-year", "2025", "--end-year", "2025", db=url).code == 0
    path = REPO.parent / "shared" / "data" / "real" / "AAPL_2025-07-02_1m.csv"
    done = run_cli(
        "data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", "--shift", "-4", db=url
    )
    assert done.code == 0, done.err
    config = example_dict()
    config["backtest_config"].update(start_date="2025-07-02", end_date="2025-07-02", speed_multiplier=0)
    config["session_data_config"].update(
        symbols=["AAPL"], streams=["1m", "5m"], extended_hours=True,
        historical={"enable_quality": True, "data": [], "indicators": {}},
    )  # fmt: skip
    config_path = tmp_path / "extended.json"
    config_path.write_text(json.dumps(config))
    report_path, export = tmp_path / "extended.report.json", tmp_path / "export"
    result = run_cli(
        "run",
        str(config_path),
        "--no-progress",
        "--report",
        str(report_path),
        "--export",
        str(export),
        db=url,
    )
    assert result.code == 0, result.err
    (day,) = json.loads(report_path.read_text())["days"]
    aapl = day["symbols"]["AAPL"]
    pre, post = aapl["extended_hours"]["pre_market"]["1m"], aapl["extended_hours"]["post_market"]["1m"]
    assert (pre["bars"], pre["expected"], pre["quality"]) == (249, 330, pytest.approx(75.4545, abs=1e-4))
    assert (post["bars"], post["expected"], len(post["gaps"])) == (0, 240, 1)
    assert (aapl["session"]["1m"]["bars"], aapl["session"]["1m"]["quality"]) == (390, 100.0)

    def cells(text: str) -> list[str]:
        line = next(line for line in result.out.splitlines() if text in line)
        return [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]

    assert cells("symbol") == ["date", "symbol", "bars", "1m %", "5m %", "pre %", "post %", "gaps"]
    assert cells("AAPL") == ["2025-07-02", "AAPL", "390", "100.00", "100.00", "75.45", "0.00", "0"]
    bars = pq.read_table(export / "session_bars.parquet").to_pylist()
    pre_rows = [b for b in bars if b["session"] == "pre_market"]
    assert len(pre_rows) == 249 and {b["day_quality"] for b in pre_rows} == {pre["quality"]}
    assert {b["interval"] for b in pre_rows} == {"1m"}
    quality = {
        (r["interval"], r["session"]): r["bars"]
        for r in pq.read_table(export / "quality.parquet").to_pylist()
    }
    assert quality == {
        ("1m", "regular"): 390,
        ("5m", "regular"): 78,
        ("1m", "pre_market"): 249,
        ("1m", "post_market"): 0,
    }
