"""``data import``, ``data demo`` and ``data summary`` run as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli
from support.stores import real_file

from domain.store import open_store


@pytest.fixture
def seeded_url(store_url: str) -> str:
    result = run_cli(
        "calendar", "seed", "--start-year", "2025", "--end-year", "2025", "--group", "US_EQUITY", db=store_url
    )
    assert result.code == 0, result.err
    return store_url


def test_import_real_minute_file_twice_changes_nothing(seeded_url: str) -> None:
    path = real_file("AAPL_2025-07-02_1m.csv")
    first = run_cli("data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", db=seeded_url)
    again = run_cli("data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", db=seeded_url)
    assert first.code == 0, first.err
    assert "862 bars imported (862 new)" in first.out
    assert again.code == 0 and "(0 new)" in again.out
    with open_store(seeded_url) as store:
        assert store.bars.count("AAPL", "1m") == 862


def test_import_eurostoxx_end_labelled_in_berlin_time(sqlite_url: str) -> None:
    path = real_file("EUROSTOXX50_2006_1m.csv")
    result = run_cli(
        "data",
        "import",
        str(path),
        "--symbol",
        "SX5E",
        "--interval",
        "1m",
        "--timezone",
        "Europe/Berlin",
        "--label",
        "end",
        db=sqlite_url,
    )
    assert result.code == 0, result.err
    assert "date-time format, 30889 rows read" in result.out
    with open_store(sqlite_url) as store:
        first = store.bars.read("SX5E", "1m", 0, 2**40)[0]
    assert first.ts == 1136188800  # 2006-01-02 08:00 UTC = 09:00 in Berlin, the start of the 09:01 bar


def test_corrupted_file_is_rejected_with_line_numbers_and_store_unchanged(
    seeded_url: str, tmp_path: Path
) -> None:
    source = real_file("RIVN_2025-07-02_1m.csv")
    ok = run_cli("data", "import", str(source), "--symbol", "RIVN", "--interval", "1m", db=seeded_url)
    assert ok.code == 0, ok.err
    lines = source.read_text().splitlines()
    lines[9] = lines[9].replace(",13.47,", ",-1.0,", 1)  # line 10: a negative price
    lines[19] = lines[19][:30]  # line 20: truncated
    lines.insert(30, "this is not a bar")  # line 31: garbage
    bad = tmp_path / "RIVN_bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with open_store(seeded_url) as store:
        before = store.bars.read("RIVN", "1m", 0, 2**40)
    result = run_cli("data", "import", str(bad), "--symbol", "RIVN", "--interval", "1m", db=seeded_url)
    assert result.code == 2
    for line in (10, 20, 31):
        assert f"{bad}:{line}:" in result.err
    assert "Traceback" not in result.err
    with open_store(seeded_url) as store:
        assert store.bars.read("RIVN", "1m", 0, 2**40) == before

    skipped = run_cli(
        "data", "import", str(bad), "--symbol", "RIVN", "--interval", "1m", "--skip-invalid", db=seeded_url
    )
    assert skipped.code == 0, skipped.err
    assert "3 invalid skipped" in skipped.out


def test_missing_file_and_bad_interval_are_exit_2(sqlite_url: str, tmp_path: Path) -> None:
    missing = run_cli(
        "data", "import", str(tmp_path / "nope.csv"), "--symbol", "X", "--interval", "1m", db=sqlite_url
    )
    assert missing.code == 2 and "nope.csv" in missing.err
    path = real_file("AAPL_2025-07-02_1m.csv")
    bad_interval = run_cli("data", "import", str(path), "--symbol", "AAPL", "--interval", "7x", db=sqlite_url)
    assert bad_interval.code == 2 and "7x" in bad_interval.err


def test_demo_is_deterministic_keeps_real_bars_and_summary_lists_it(seeded_url: str) -> None:
    real = real_file("AAPL_2025-07-02_1m.csv")
    assert (
        run_cli("data", "import", str(real), "--symbol", "AAPL", "--interval", "1m", db=seeded_url).code == 0
    )
    with open_store(seeded_url) as store:
        real_bars = store.bars.read("AAPL", "1m", 0, 2**40)
    args = ("data", "demo", "--symbols", "AAPL,RIVN", "--start", "2025-07-01", "--end", "2025-07-03")
    first = run_cli(*args, db=seeded_url)
    assert first.code == 0, first.err
    with open_store(seeded_url) as store:
        after_first = {s: store.bars.read(s, "1m", 0, 2**40) for s in ("AAPL", "RIVN")}
    assert run_cli(*args, db=seeded_url).code == 0
    with open_store(seeded_url) as store:
        after_second = {s: store.bars.read(s, "1m", 0, 2**40) for s in ("AAPL", "RIVN")}
        assert set(real_bars) <= set(store.bars.read("AAPL", "1m", 0, 2**40))
    assert after_first == after_second
    # 2025-07-01 and 07-02 full days (390 minutes), 07-03 closes at 13:00 (210): at most 990 per symbol
    assert 900 < len(after_first["RIVN"]) <= 990

    summary = run_cli("data", "summary", db=seeded_url)
    assert summary.code == 0
    assert "AAPL" in summary.out and "RIVN" in summary.out
