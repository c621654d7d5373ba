"""``data import``, ``data demo`` and ``data summary`` run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from support.cli import run_cli
from support.stores import real_file

from domain.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded_url(store_url: str) -> str:
    result = run_cli(
        "calendar", "seed", "--start-year", "2025", "--end-year", "2025", "--group", "US_EQUITY", db=store_url
    )
    assert result.code == 0, result.err
    return store_url


SHIFT_BACK = ("--shift", "-4")  # the real minute files are stamped four hours late


def test_import_real_minute_file_twice_changes_nothing(seeded_url: str) -> None:
    path = real_file("AAPL_2025-07-02_1m.csv")
    args = ("data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", *SHIFT_BACK)
    first = run_cli(*args, db=seeded_url)
    again = run_cli(*args, db=seeded_url)
    assert first.code == 0, first.err
    assert "862 bars imported shifted by -4:00 (862 new)" in first.out
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
        "--group",
        "DE_EQUITY",
        "--label",
        "end",
        db=sqlite_url,
    )
    assert result.code == 0, result.err
    assert "date-time format, 30889 rows read" in result.out
    assert "alignment of" in result.err and "not checked: " in result.err  # no calendar seeded
    with open_store(sqlite_url) as store:
        first = store.bars.read("SX5E", "1m", 0, 2**40)[0]
    assert first.ts == 1136188800  # 2006-01-02 08:00 UTC = 09:00 in Berlin, the start of the 09:01 bar


def test_corrupted_file_is_rejected_with_line_numbers_and_store_unchanged(
    seeded_url: str, tmp_path: Path
) -> None:
    source = real_file("RIVN_2025-07-02_1m.csv")
    ok = run_cli(
        "data", "import", str(source), "--symbol", "RIVN", "--interval", "1m", *SHIFT_BACK, db=seeded_url
    )
    assert ok.code == 0, ok.err
    lines = source.read_text().splitlines()
    lines[9] = lines[9].replace(",13.47,", ",-1.0,", 1)  # line 10: a negative price
    lines[19] = lines[19][:30]  # line 20: truncated
    lines.insert(30, "this is not a bar")  # line 31: garbage
    bad = tmp_path / "RIVN_bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with open_store(seeded_url) as store:
        before = store.bars.read("RIVN", "1m", 0, 2**40)
    result = run_cli(
        "data", "import", str(bad), "--symbol", "RIVN", "--interval", "1m", *SHIFT_BACK, db=seeded_url
    )
    assert result.code == 2
    for line in (10, 20, 31):
        assert f"{bad}:{line}:" in result.err
    assert "Traceback" not in result.err
    with open_store(seeded_url) as store:
        assert store.bars.read("RIVN", "1m", 0, 2**40) == before

    skipped = run_cli(
        "data",
        "import",
        str(bad),
        "--symbol",
        "RIVN",
        "--interval",
        "1m",
        "--skip-invalid",
        *SHIFT_BACK,
        db=seeded_url,
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
    imported = run_cli(
        "data", "import", str(real), "--symbol", "AAPL", "--interval", "1m", *SHIFT_BACK, db=seeded_url
    )
    assert imported.code == 0, imported.err
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
    # where each bar came from: the real file for AAPL's day, the demo for the rest
    rows = [line for line in summary.out.splitlines() if "│" in line]
    assert any("AAPL" in r and "import:AAPL_2025-07-02_1m.csv" in r and "862" in r for r in rows), rows
    assert any("RIVN" in r and "demo" in r for r in rows), rows


# ------------------------------------------------------------------ alignment and the audit


def test_a_real_file_as_stamped_is_refused_in_one_line_naming_the_offset_and_nothing_is_stored(
    seeded_url: str,
) -> None:
    path = real_file("AAPL_2025-07-02_1m.csv")
    result = run_cli("data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", db=seeded_url)
    assert result.code == 2 and result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith(f"error: {path}: time stamps look +4:00 late")
    assert "stamped 4:00 after the open" in line and "import with --shift -4:00" in line
    with open_store(seeded_url) as store:
        assert store.bars.count() == 0


def test_the_real_file_shifted_back_scores_every_regular_minute_in_the_audit(seeded_url: str) -> None:
    path = real_file("AAPL_2025-07-02_1m.csv")
    assert (
        run_cli(
            "data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", *SHIFT_BACK, db=seeded_url
        ).code
        == 0
    )
    result = run_cli("data", "audit", "--json", "-", db=seeded_url)
    assert result.code == 0, result.err
    (series,) = json.loads(result.out)["series"]
    assert (series["symbol"], series["days"], series["present"], series["expected"]) == ("AAPL", 1, 390, 390)
    assert series["quality"] == 100.0 and series["misaligned_days"] == []


def test_accept_misaligned_imports_as_stamped_and_the_audit_names_the_day_and_the_fix(
    seeded_url: str, tmp_path: Path
) -> None:
    path = real_file("RIVN_2025-07-02_1m.csv")
    result = run_cli(
        "data",
        "import",
        str(path),
        "--symbol",
        "RIVN",
        "--interval",
        "1m",
        "--accept-misaligned",
        db=seeded_url,
    )
    assert result.code == 0 and "617 bars imported (617 new)" in result.out
    assert (
        "warning: " in result.err and "look +4:00 late" in result.err and "imported as stamped" in result.err
    )
    parquet = tmp_path / "audit.parquet"
    audit = run_cli("data", "audit", "--parquet", str(parquet), db=seeded_url)
    assert audit.code == 0, audit.err
    assert "RIVN 1m: 1 of 1 days look +4:00 off (2025-07-02)" in audit.out
    assert "re-import with --shift -4:00" in audit.out
    assert "audited 1 series of the US_EQUITY calendar: 1 symbol-days" in audit.out
    rows = pq.read_table(parquet).to_pylist()
    assert [(r["symbol"], r["alignment"], r["offset_seconds"], r["present"]) for r in rows] == [
        ("RIVN", "misaligned", 14_400, 262)
    ]


def test_the_eurostoxx_file_without_its_end_labels_is_refused_suggesting_them(sqlite_url: str) -> None:
    seeded = run_cli(
        "calendar",
        "seed",
        "--start-year",
        "2006",
        "--end-year",
        "2006",
        "--group",
        "DE_EQUITY",
        db=sqlite_url,
    )
    assert seeded.code == 0, seeded.err
    path = real_file("EUROSTOXX50_2006_1m.csv")
    args = ("data", "import", str(path), "--symbol", "SX5E", "--interval", "1m", "--group", "DE_EQUITY")
    refused = run_cli(*args, db=sqlite_url)
    assert refused.code == 2 and "look +0:01 late" in refused.err and "import with --label end" in refused.err
    imported = run_cli(*args, "--label", "end", db=sqlite_url)
    assert imported.code == 0, imported.err
    audit = json.loads(run_cli("data", "audit", "--group", "DE_EQUITY", "--json", "-", db=sqlite_url).out)
    (series,) = audit["series"]
    assert series["days"] == 41 and series["misaligned_days"] == [] and series["outside_hours"] == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--shift", "4:99"), "invalid offset '4:99'"),
        (("--shift", "east"), "invalid offset 'east'"),
    ],
)
def test_a_bad_shift_is_a_usage_error(sqlite_url: str, args: tuple[str, ...], expected: str) -> None:
    path = real_file("AAPL_2025-07-02_1m.csv")
    result = run_cli(
        "data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", *args, db=sqlite_url
    )
    assert result.code == 2 and expected in result.err and len(result.err.splitlines()) == 1


def test_the_audit_of_a_demo_store_reads_as_a_table(seeded_url: str) -> None:
    demo = run_cli(
        "data", "demo", "--symbols", "AAA,BBB", "--start", "2025-03-03", "--end", "2025-03-07", db=seeded_url
    )
    assert demo.code == 0, demo.err
    result = run_cli("data", "audit", "--symbols", "BBB", db=seeded_url)
    assert result.code == 0, result.err
    assert "store audit" in result.out and "BBB" in result.out and "AAA" not in result.out
    assert "audited 1 series of the US_EQUITY calendar: 5 symbol-days" in result.out
    bad = run_cli("data", "audit", "--start", "2025-03-07", "--end", "2025-03-03", db=seeded_url)
    assert bad.code == 2 and "end 2025-03-03 is before start 2025-03-07" in bad.err


@pytest.mark.parametrize("option", ["--json", "--parquet"])
def test_an_audit_output_that_cannot_be_written_is_refused_before_the_audit(
    seeded_url: str, tmp_path: Path, option: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli("data", "audit", option, str(blocker / "out"), db=seeded_url)
    assert result.code == 2 and result.out == ""
    assert f"Invalid value for '{option}': cannot write the audit" in result.err
    assert len(result.err.splitlines()) == 1


def test_import_builds_the_column_blocks_and_reindex_check_names_a_damaged_one(seeded_url: str) -> None:
    path = real_file("AAPL_2025-07-02_1m.csv")
    done = run_cli(
        "data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", *SHIFT_BACK, db=seeded_url
    )
    assert done.code == 0, done.err
    checked = run_cli("data", "reindex", "--check", db=seeded_url)
    assert checked.code == 0 and "every current block matches its rows" in checked.out, checked.err
    rebuilt = run_cli("data", "reindex", db=seeded_url)
    assert rebuilt.code == 0 and "column blocks: 0 built" in rebuilt.out, "the import built them"
    with open_store(seeded_url) as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE bar_blocks SET count = 0, data = :empty"), {"empty": b""})
    damaged = run_cli("data", "reindex", "--check", db=seeded_url)
    assert damaged.code == 1
    assert "error: 2 column block(s) disagree with the rows" in damaged.err
    assert "AAPL 1m UTC day 20271: the block holds 0 bars that differ from the 639 rows" in damaged.err
