"""Provenance in the bar store: each bar's source and write time, an older store upgraded by
``init``, and the replay provider's bars kept apart (SQLite files and the PostgreSQL server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.stores import real_minute_bars

from domain.errors import StoreError
from domain.store import Store, head_revision, init_store, open_store
from domain.store.migrations_runner import upgrade_store

AAPL = real_minute_bars("AAPL")[:30]


def test_each_write_keeps_its_source_and_time_and_an_upsert_replaces_them(store: Store) -> None:
    store.bars.insert_missing(AAPL[:20], source="demo", received_at=1_000)
    store.bars.insert_missing(AAPL[10:], source="alpaca", received_at=2_000)  # 10 new, 10 kept as demo
    (alpaca, demo) = store.bars.sources()  # ordered by symbol, interval, source
    assert (demo.source, demo.count, demo.received_at) == ("demo", 20, 1_000)
    assert (alpaca.source, alpaca.count, alpaca.received_at) == ("alpaca", 10, 2_000)
    store.bars.upsert(AAPL[:5], source="import:AAPL.csv", received_at=3_000)
    by_source = {s.source: s.count for s in store.bars.sources()}
    assert by_source == {"demo": 15, "alpaca": 10, "import:AAPL.csv": 5}


def test_replayed_bars_are_kept_apart_from_the_data(store: Store) -> None:
    store.replayed.insert_missing(AAPL, source="replay", received_at=1_000)
    assert store.bars.count() == 0 and store.bars.read("AAPL", "1m", 0, 2**40) == []
    assert store.replayed.read("AAPL", "1m", 0, 2**40) == AAPL
    assert [(s.source, s.count) for s in store.replayed.sources()] == [("replay", 30)]
    assert store.replayed.delete_from(["AAPL"], "1m", AAPL[20].ts) == 10
    assert store.replayed.count() == 20


def test_a_store_of_the_first_schema_is_refused_until_init_upgrades_it_keeping_its_bars(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade_store(engine, "0001_initial")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO bars (symbol, interval, ts, open, high, low, close, volume) "
                "VALUES ('AAPL', '1m', 1751463000, 1, 2, 0.5, 1.5, 100)"
            )
        )
    engine.dispose()
    with pytest.raises(StoreError, match="run `marketsession init` to upgrade it"):
        open_store(url)
    assert init_store(url) == ("0001_initial", head_revision())
    with open_store(url) as store:
        (kept,) = store.bars.sources()
        assert (kept.symbol, kept.count, kept.source, kept.received_at) == ("AAPL", 1, "unknown", None)
        assert store.replayed.count() == 0
        # the bar stored before column blocks existed is read from its rows until a reindex
        assert store.bars.check_blocks() == [] and store.bars.reindex() == 1
        (aapl,) = store.bars.read_columns(["AAPL"], "1m", 1751463000, 1751463060)
        assert list(aapl.ts) == [1751463000] and list(aapl.volume) == [100.0]
