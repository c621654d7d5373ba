"""The store's quotes, on SQLite and PostgreSQL: one row per symbol and second, idempotent writes,
provenance, and a store of the schema before quotes upgraded by ``init``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from domain.errors import StoreError
from domain.quotes import Quote
from domain.store import Store, head_revision, init_store, open_store, upgrade_store

T0 = 1_751_463_000  # 2025-07-02 13:30:00 UTC, seconds


def quote(second: int, us: int = 0, bid: float | None = 100.0, symbol: str = "AAPL", **kw: object) -> Quote:
    return Quote(symbol, (T0 + second) * 1_000_000 + us, bid, 300.0, 100.02, 200.0, "Q", "P", **kw)  # type: ignore[arg-type]


def test_a_write_keeps_one_row_per_second_and_writing_it_again_changes_nothing(store: Store) -> None:
    given = [
        quote(0, 10),
        quote(0, 900_000, bid=100.01),
        quote(1, 5, bid=100.01),
        quote(3, 0),
        quote(3, 1, bid=None),
    ]
    assert store.quotes.write(given, source="test", received_at=T0 + 60) == 2  # seconds 0 and 3
    rows = store.quotes.read("AAPL", T0, T0 + 10)
    assert [(q.ts - T0, q.bid_price, q.received_us) for q in rows] == [
        (0, 100.01, (T0 + 60) * 1_000_000),
        (3, None, (T0 + 60) * 1_000_000),  # the last quote of second 3: no bid (one-sided)
    ]
    assert rows[0] == given[1]._replace(received_us=(T0 + 60) * 1_000_000)
    assert store.quotes.write(given, source="test", received_at=T0 + 60) == 2
    assert store.quotes.read("AAPL", T0, T0 + 10) == rows and store.quotes.count() == 2


def test_a_write_that_repeats_the_stored_book_keeps_no_row_and_a_change_does(store: Store) -> None:
    store.quotes.write([quote(0)], source="feed")
    assert store.quotes.write([quote(5), quote(6, bid=99.99)], source="feed") == 1  # second 5 unchanged
    assert [q.ts - T0 for q in store.quotes.read("AAPL", T0, T0 + 10)] == [0, 6]


def test_a_quote_arriving_late_for_a_stored_second_does_not_replace_that_seconds_later_quote(
    store: Store,
) -> None:
    store.quotes.write([quote(0, 900_000, bid=100.01)], source="feed")
    store.quotes.write([quote(0, 100_000, bid=99.0)], source="feed")  # earlier in the second, received later
    store.quotes.write([quote(1), quote(1, 950_000, bid=99.98)], source="feed")
    late = store.quotes.write([quote(1, 990_000, bid=99.97)], source="feed")  # later: it is the second's last
    assert late == 1
    assert [(q.ts - T0, q.bid_price) for q in store.quotes.read("AAPL", T0, T0 + 10)] == [
        (0, 100.01),
        (1, 99.97),
    ]


def test_each_row_keeps_its_source(store: Store) -> None:
    store.quotes.write([quote(0), quote(0, symbol="RIVN")], source="import:q.csv")
    with store.engine.connect() as connection:
        sources = connection.execute(text("SELECT symbol, source FROM quotes ORDER BY symbol")).all()
    assert [tuple(row) for row in sources] == [("AAPL", "import:q.csv"), ("RIVN", "import:q.csv")]
    assert [(s.symbol, s.count) for s in store.quotes.summary()] == [("AAPL", 1), ("RIVN", 1)]


def test_init_adds_the_quote_table_to_a_store_of_the_schema_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade_store(engine, "0003_bar_blocks")
    engine.dispose()
    with pytest.raises(StoreError, match="run `marketsession init` to upgrade it"):
        open_store(url)
    assert init_store(url) == ("0003_bar_blocks", head_revision())
    with open_store(url, create=False) as store:
        assert store.quotes.write([quote(0)], source="test") == 1


def _day_of_quotes(symbol: str, day_offset: int = 0) -> list[Quote]:
    """A quote every 3 seconds over an hour, venues changing every minute, one-sided now and then."""
    base = day_offset * 86_400
    return [
        Quote(
            symbol, (T0 + base + 3 * k) * 1_000_000 + k, None if k % 97 == 0 else 100 + k * 0.01,
            100.0 + k % 7, 100.5 + k * 0.01, 200.0, "QV"[k // 20 % 2], "P", "R" if k % 50 else None,
        )
        for k in range(1200)
    ]  # fmt: skip


def test_a_replays_read_takes_the_column_blocks_and_a_later_write_makes_its_day_stale(store: Store) -> None:
    """Blocks are a cache: read through them equals the rows, a write to a day makes that day's
    block stale (the rows are read again) until a reindex, on SQLite and PostgreSQL."""
    given = _day_of_quotes("AAPL") + _day_of_quotes("AAPL", 1) + _day_of_quotes("RIVN")
    store.quotes.write(given, source="test", received_at=T0)
    span = (T0 - 60, T0 + 86_400 + 3_600)

    def rows(symbol: str) -> list[Quote]:
        return store.quotes.read(symbol, *span)

    def through_columns(symbol: str) -> list[Quote]:
        (cols,) = store.quotes.read_columns([symbol], *span)
        return cols.quotes()

    assert through_columns("AAPL") == rows("AAPL")  # stale: from the rows
    assert store.quotes.reindex() == 3  # two days of AAPL, one of RIVN
    assert store.quotes.reindex() == 0
    assert store.quotes.check_blocks() == []
    for symbol in ("AAPL", "RIVN", "MSFT"):
        assert through_columns(symbol) == rows(symbol), symbol
    inner = store.quotes.read_columns(["AAPL"], T0 + 30, T0 + 86_400 + 60)[0].quotes()  # windows of blocks
    assert inner == store.quotes.read("AAPL", T0 + 30, T0 + 86_400 + 60)
    store.quotes.write([quote(5, bid=99.5)], source="late")  # second 5 of the first day changes
    assert through_columns("AAPL") == rows("AAPL") and [(q.ts - T0, q.bid_price) for q in rows("AAPL")][
        2
    ] == (5, 99.5)
    assert store.quotes.reindex(["AAPL"]) == 1  # only the day written to
    assert through_columns("AAPL") == rows("AAPL")
    assert store.quotes.check_blocks() == []


def test_init_from_the_schema_before_quote_blocks_keeps_the_quotes_with_stale_blocks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade_store(engine, "0005_replayed_quotes")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO quotes (symbol, ts, event_us, bid_price, bid_size, ask_price, ask_size) "
                 "VALUES ('AAPL', :ts, :us, 100.0, 300.0, 100.02, 200.0)"),
            {"ts": T0, "us": T0 * 1_000_000},
        )  # fmt: skip
    engine.dispose()
    assert init_store(url) == ("0005_replayed_quotes", head_revision())
    with open_store(url, create=False) as store:
        (cols,) = store.quotes.read_columns(["AAPL"], T0, T0 + 1)
        assert len(cols) == 1
        assert store.quotes.reindex() == 1
        assert store.quotes.read_columns(["AAPL"], T0, T0 + 1)[0].quotes() == store.quotes.read(
            "AAPL", T0, T0 + 1
        )
