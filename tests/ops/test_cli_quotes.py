"""``data import --kind quotes`` as a user runs it: the generic and Alpaca formats, one row per
second whose book changed, idempotence, and every bad row named ``file:line`` with nothing stored.

The quotes are made from the real AAPL minute file (moved back the 4 hours it is stamped late):
around each regular minute's close, a quote at 5, 20 and 40 seconds into the minute, 1 cent
either side, sizes from the bar's volume.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.cli import run_cli
from support.stores import real_minute_bars

from domain.store import open_store

OPEN = int(datetime(2025, 7, 2, 13, 30, tzinfo=UTC).timestamp())


def real_quotes(limit: int = 30) -> list[tuple[int, float, float, float, float]]:
    """(epoch µs, bid, bid size, ask, ask size) from the first ``limit`` regular minutes of AAPL."""
    bars = [b for b in real_minute_bars("AAPL") if b.ts >= OPEN][:limit]
    out = []
    for bar in bars:
        for second, shift in ((5, 0.0), (20, 0.01), (40, 0.01)):  # 20 s and 40 s show the same book
            bid, ask = round(bar.close - 0.01 + shift, 2), round(bar.close + 0.01 + shift, 2)
            out.append(((bar.ts + second) * 1_000_000 + 123, bid, bar.volume % 900 + 100, ask, 300.0))
    return out


def write_generic(
    path: Path, rows: list[tuple[int, float, float, float, float]], extra: list[str] | None = None
) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["timestamp", "bid_price", "bid_size", "ask_price", "ask_size", "bid_exchange", "ask_exchange"]
        )
        for us, bid, bid_size, ask, ask_size in rows:
            stamp = datetime.fromtimestamp(us / 1e6, tz=UTC).isoformat().replace("+00:00", "Z")
            out.writerow([stamp, bid, bid_size, ask, ask_size, "Q", "P"])
        for line in extra or []:
            handle.write(line + "\n")
    return path


def test_a_generic_quote_file_is_stored_one_row_per_changed_second_and_again_changes_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = write_generic(tmp_path / "aapl_quotes.csv", real_quotes())
    args = ("data", "import", str(path), "--symbol", "AAPL", "--kind", "quotes")
    first = run_cli(*args, db=sqlite_url)
    assert first.code == 0, first.err
    assert "generic quotes, 90 rows read, 90 valid quotes stored as 60 rows" in first.out  # 40 s repeats 20 s
    again = run_cli(*args, db=sqlite_url)
    assert again.code == 0 and "stored as 60 rows" in again.out
    summary = run_cli("data", "summary", db=sqlite_url)
    assert summary.code == 0 and "quotes (one row per second whose book changed)" in summary.out
    assert any("AAPL" in line and "60" in line for line in summary.out.splitlines())
    with open_store(sqlite_url) as store:
        rows = store.quotes.read("AAPL", OPEN, OPEN + 3600)
        assert len(rows) == 60 == store.quotes.count()
        assert [q.ts - OPEN for q in rows[:4]] == [5, 20, 65, 80]
        assert (rows[0].bid_venue, rows[0].ask_venue, rows[0].event_us % 1_000_000) == ("Q", "P", 123)


def test_alpaca_field_names_nanosecond_times_and_round_lots(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "alpaca.csv"
    path.write_text(
        "t,bp,bs,ap,as,bx,ax,c\n"
        '2025-07-02T13:30:05.123456789Z,213.55,3,213.57,2,Q,P,"[""R""]"\n'
        "2025-07-02T13:30:01.000000001Z,213.50,1,213.52,4,V,V,R\n"  # out of order: allowed, sorted
    )
    result = run_cli("data", "import", str(path), "--symbol", "AAPL", "--kind", "quotes", db=sqlite_url)
    assert result.code == 0, result.err
    with open_store(sqlite_url) as store:
        first, second = store.quotes.read("AAPL", OPEN, OPEN + 60)
    assert (first.ts - OPEN, first.bid_size, first.ask_size) == (1, 100.0, 400.0)  # lots of 100 shares
    assert (second.ts - OPEN, second.event_us % 1_000_000, second.conditions) == (5, 123456, "R")


def test_every_bad_row_is_named_and_nothing_is_stored_unless_the_good_ones_are_asked_for(
    sqlite_url: str, tmp_path: Path
) -> None:
    bad = [
        "2025-07-02T13:31:00Z,0,100,213.52,100,Q,P",  # bid not positive
        "2025-07-02T13:31:01Z,216.00,100,213.52,100,Q,P",  # crossed beyond 1 %
        "2025-07-02T13:31:02Z,213.50,-5,213.52,100,Q,P",  # negative size
        "yesterday,213.50,100,213.52,100,Q,P",  # no time
        "2025-07-02T13:31:04Z,213.50,many,213.52,100,Q,P",
    ]
    path = write_generic(tmp_path / "bad.csv", real_quotes(2), bad)
    args = ("data", "import", str(path), "--symbol", "AAPL", "--kind", "quotes")
    refused = run_cli(*args, db=sqlite_url)
    assert refused.code == 2
    for line in range(8, 13):
        assert f"{path}:{line}:" in refused.err
    assert "bid price not positive" in refused.err and "crossed: bid 216 above ask 213.52" in refused.err
    with open_store(sqlite_url) as store:
        assert store.quotes.count() == 0, "nothing half-written"
    kept = run_cli(*args, "--skip-invalid", db=sqlite_url)
    assert kept.code == 0 and "5 invalid skipped" in kept.out and "stored as 4 rows" in kept.out
    assert kept.err.count("skipped") == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timestamp,open,high,low,close,volume\n", "not a quote file: the header must name"),
        ("", "the file is empty"),
    ],
)
def test_a_file_that_is_no_quote_file_is_one_line_and_exit_2(
    sqlite_url: str, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "q.csv"
    path.write_text(content)
    result = run_cli("data", "import", str(path), "--symbol", "AAPL", "--kind", "quotes", db=sqlite_url)
    assert result.code == 2 and message in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_bar_options_are_refused_for_quotes_and_bars_still_need_an_interval(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = write_generic(tmp_path / "q.csv", real_quotes(1))
    mixed = run_cli(
        "data", "import", str(path), "--symbol", "AAPL", "--kind", "quotes", "--interval", "1m", db=sqlite_url
    )
    assert mixed.code == 2 and "are for bars" in mixed.err
    bars = run_cli("data", "import", str(path), "--symbol", "AAPL", db=sqlite_url)
    assert bars.code == 2 and "--interval" in bars.err
