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
