"""Column blocks (the replay's read cache of the bar rows), on SQLite and PostgreSQL.

A block holds one symbol, interval and UTC day as packed columns. The rows stay the truth: a
trigger marks a block stale in the writing transaction whenever a row of its day is inserted,
updated or deleted — whoever writes — and a stale block is never read. Checked on the real AAPL
day (shifted back to its true stamps), which spans two UTC days.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from support.stores import real_minute_bars

from domain.bars import Bar
from domain.columns import BarColumns
from domain.intervals import DAY_SECONDS
from domain.store import Store

JULY_1 = int(datetime(2025, 7, 1, 20, tzinfo=UTC).timestamp())  # the file's first true minute
JULY_3 = int(datetime(2025, 7, 3, tzinfo=UTC).timestamp())


def columns_of(bars: list[Bar], start_ts: int, end_ts: int) -> BarColumns:
    rows = [b[2:] for b in sorted(bars, key=lambda b: b.ts) if start_ts <= b.ts < end_ts]
    return BarColumns.from_rows("AAPL", "1m", rows)


def blocks(store: Store) -> dict[int, tuple[int | None, bool]]:
    """Per UTC day of AAPL 1m: (count, whether the block is current)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT utc_day, count, data IS NOT NULL FROM bar_blocks WHERE symbol = 'AAPL'")
        )
        return {day: (count, bool(current)) for day, count, current in rows}


@pytest.fixture
def aapl(store: Store) -> list[Bar]:
    bars = real_minute_bars("AAPL")
    store.bars.upsert(bars, source="test")
    return bars


def test_a_reindexed_day_reads_from_its_blocks_the_very_columns_of_its_rows(
    store: Store, aapl: list[Bar]
) -> None:
    days = {b.ts // DAY_SECONDS for b in aapl}
    assert len(days) == 2, "the true day spans two UTC days"
    assert {day: current for day, (_, current) in blocks(store).items()} == dict.fromkeys(days, False)
    from_rows = store.bars.read_columns(["AAPL", "ORCL"], "1m", JULY_1, JULY_3)
    assert store.bars.reindex() == 2 and store.bars.reindex() == 0
    assert blocks(store) == {day: (sum(1 for b in aapl if b.ts // DAY_SECONDS == day), True) for day in days}
    for start, end in ((JULY_1, JULY_3), (JULY_1 + 3600, JULY_3 - 7200), (JULY_3, JULY_3 + 60)):
        got = store.bars.read_columns(["AAPL", "ORCL"], "1m", start, end)
        assert [c.symbol for c in got] == ["AAPL", "ORCL"] and len(got[1]) == 0
        assert got[0].columns() == columns_of(aapl, start, end).columns(), (start, end)
    assert [c.columns() for c in from_rows] == [
        c.columns() for c in store.bars.read_columns(["AAPL", "ORCL"], "1m", JULY_1, JULY_3)
    ]
    assert store.bars.check_blocks() == []


@pytest.mark.parametrize("change", ["upsert", "insert", "delete", "sql"])
def test_any_write_to_a_day_makes_its_block_stale_and_the_read_takes_the_rows(
    store: Store, aapl: list[Bar], change: str
) -> None:
    store.bars.reindex()
    moved = aapl[500]
    day = moved.ts // DAY_SECONDS
    if change == "upsert":  # a replaced value
        store.bars.upsert([moved._replace(close=moved.close + 1, high=moved.high + 1)])
        expected = [
            moved._replace(close=moved.close + 1, high=moved.high + 1) if b == moved else b for b in aapl
        ]
    elif change == "insert":  # a new bar of the day
        new = moved._replace(ts=moved.ts + 30)
        store.bars.insert_missing([new])
        expected = [*aapl, new]
    elif change == "delete":
        store.bars.delete_from(["AAPL"], "1m", moved.ts)
        expected = [b for b in aapl if b.ts < moved.ts]
    else:  # a user's own SQL, past the repository
        with store.engine.begin() as connection:
            connection.execute(
                text("UPDATE bars SET volume = 7 WHERE symbol = 'AAPL' AND ts = :ts"), {"ts": moved.ts}
            )
        expected = [moved._replace(volume=7.0) if b == moved else b for b in aapl]
    assert blocks(store)[day][1] is False
    (read,) = store.bars.read_columns(["AAPL"], "1m", JULY_1, JULY_3)
    assert read.columns() == columns_of(expected, JULY_1, JULY_3).columns()
    assert store.bars.reindex() >= 1 and blocks(store)[day][1] is True
    (again,) = store.bars.read_columns(["AAPL"], "1m", JULY_1, JULY_3)
    assert again.columns() == read.columns()


def test_a_block_rebuilt_from_rows_that_changed_meanwhile_is_not_stored(
    store: Store, aapl: list[Bar]
) -> None:
    """The rebuild stores a block only if its day's version is still the one it read the rows
    at: a write between the two leaves the day stale, never a block of the old rows."""
    day = aapl[0].ts // DAY_SECONDS
    with store.engine.connect() as connection:
        (version,) = connection.execute(
            text("SELECT version FROM bar_blocks WHERE symbol = 'AAPL' AND utc_day = :d"), {"d": day}
        ).one()
    store.bars.upsert([aapl[0]._replace(volume=1.0)])  # what a concurrent writer does meanwhile
    with store.engine.begin() as connection:  # the rebuild's compare-and-set with the old version
        written = connection.execute(
            text(
                "UPDATE bar_blocks SET count = 0, data = :d "
                "WHERE symbol = 'AAPL' AND utc_day = :u AND version = :v"
            ),
            {"d": b"", "u": day, "v": version},
        ).rowcount
    assert written == 0 and blocks(store)[day][1] is False


def test_a_block_that_disagrees_with_its_rows_is_named_by_the_check(store: Store, aapl: list[Bar]) -> None:
    store.bars.reindex()
    day = aapl[0].ts // DAY_SECONDS
    with store.engine.begin() as connection:  # damage a block as a bug or a hand edit would
        data = connection.execute(
            text("SELECT data FROM bar_blocks WHERE utc_day = :u"), {"u": day}
        ).scalar_one()
        connection.execute(
            text("UPDATE bar_blocks SET count = count - 1, data = :d WHERE utc_day = :u"),
            {"d": bytes(data)[:-48], "u": day},
        )
    (problem,) = store.bars.check_blocks()
    assert problem.startswith(f"AAPL 1m UTC day {day}: the block holds") and "differ" in problem


def test_the_block_a_read_shares_with_the_next_read_is_reused_only_while_unchanged(
    store: Store, aapl: list[Bar]
) -> None:
    """A session day's read reaches into the next UTC day, which the next day's read takes from
    the blocks read last time — never once a write made the block stale or a reindex rebuilt it."""
    store.bars.reindex()
    middle = int(datetime(2025, 7, 2, 12, tzinfo=UTC).timestamp())
    first = store.bars.read_columns(["AAPL"], "1m", JULY_1, middle)
    (again,) = store.bars.read_columns(["AAPL"], "1m", JULY_1 + 60, JULY_3)  # the shared day again
    assert first[0].columns() == columns_of(aapl, JULY_1, middle).columns()
    assert again.columns() == columns_of(aapl, JULY_1 + 60, JULY_3).columns()
    late = aapl[-1]
    store.bars.upsert([late._replace(volume=late.volume + 5)])
    changed = [late._replace(volume=late.volume + 5) if b == late else b for b in aapl]
    (stale,) = store.bars.read_columns(["AAPL"], "1m", JULY_1, JULY_3)
    assert stale.columns() == columns_of(changed, JULY_1, JULY_3).columns()
    store.bars.reindex()
    (rebuilt,) = store.bars.read_columns(["AAPL"], "1m", JULY_1, JULY_3)
    assert rebuilt.columns() == stale.columns()
