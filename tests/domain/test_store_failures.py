"""Driver errors are translated once, by the repositories: every read and write of the bar and
calendar repositories raises ``StoreUnavailable`` / ``StoreError`` naming what it was doing and
the store, never a ``SQLAlchemyError`` or a driver's own error — so callers need no ``except``
of their own (``data import``, the live coordinator's store writes).

The failures are real: a SQLite store locked by another connection (an outage, for writers), a
store whose tables were dropped behind the repository's back, a row the schema refuses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from support.engine import sqlite_path
from support.stores import dump, seed

from domain.bars import Bar
from domain.calendar.model import CalendarException
from domain.errors import StoreError, StoreUnavailable
from domain.store import Store
from ops.calendars.seed import seed_group

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BAR = Bar("AAPL", "1m", 1_751_463_000, 10.0, 11.0, 9.0, 10.5, 100.0)
HOLIDAY = CalendarException(date(2025, 7, 4), "US_EQUITY", "Independence Day", is_closed=True)


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """A SQLite store with the US_EQUITY calendar and one bar."""
    seed(sqlite_store, start_year=2025, end_year=2025)
    sqlite_store.bars.upsert([BAR])
    return sqlite_store


@pytest.fixture
def impatient(store: Store) -> Iterator[Store]:
    """The same file opened without SQLite's busy wait: a lock fails at once instead of after 5 s."""
    engine = create_engine(store.url, connect_args={"timeout": 0})
    try:
        yield Store(engine, store.url)
    finally:
        engine.dispose()


@pytest.fixture
def locked(store: Store) -> Iterator[Path]:
    """Another connection holds the store's write lock (readers go on: WAL)."""
    path = sqlite_path(store.url)
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield path
    finally:
        holder.execute("ROLLBACK")
        holder.close()


WRITES: dict[str, Callable[[Store], Any]] = {
    "bars.upsert": lambda s: s.bars.upsert([BAR._replace(close=10.6)]),
    "bars.insert_missing": lambda s: s.bars.insert_missing([BAR._replace(ts=BAR.ts + 60)]),
    "bars.upsert_counting_new": lambda s: s.bars.upsert_counting_new([BAR._replace(ts=BAR.ts + 60)]),
    "calendar.save_seed": lambda s: seed_group(s.calendar, "US_EQUITY", 2025, 2025, NOW),
    "calendar.upsert_exceptions": lambda s: s.calendar.upsert_exceptions([HOLIDAY], NOW),
    "calendar.remove_exception": lambda s: s.calendar.remove_exception("US_EQUITY", HOLIDAY.date),
}
READS: dict[str, Callable[[Store], Any]] = {
    "bars.read": lambda s: s.bars.read("AAPL", "1m", 0, 2**40),
    "bars.read_columns": lambda s: s.bars.read_columns(["AAPL"], "1m", 0, 2**40),  # a raw DB-API cursor
    "bars.count": lambda s: s.bars.count(),
    "bars.latest_ts": lambda s: s.bars.latest_ts(["AAPL"], "1m", before_ts=2**40),
    "bars.summary": lambda s: s.bars.summary(),
    "calendar.load_market_hours": lambda s: s.calendar.load_market_hours("US_EQUITY", "equity"),
    "calendar.load_coverage": lambda s: s.calendar.load_coverage("US_EQUITY"),
    "calendar.load_exceptions": lambda s: s.calendar.load_exceptions(
        "US_EQUITY", date(2025, 1, 1), date(2025, 12, 31)
    ),
    "calendar.groups": lambda s: s.calendar.groups(),
}


def raised(operation: Callable[[Store], Any], store: Store) -> BaseException:
    try:
        operation(store)
    except BaseException as error:  # whatever it is, the test below says what it should have been
        return error
    pytest.fail("the operation succeeded on a store that cannot do it", pytrace=False)


@pytest.mark.parametrize("name", WRITES)
def test_a_write_to_a_locked_store_is_store_unavailable_naming_the_store(
    impatient: Store, locked: Path, name: str
) -> None:
    before = dump(locked)
    error = raised(WRITES[name], impatient)

    assert isinstance(error, StoreUnavailable), f"{type(error).__name__}: {error}"
    assert not isinstance(error, SQLAlchemyError)
    assert error.__cause__ is None and error.__suppress_context__, "the driver's traceback is not chained"
    message = str(error)
    assert message.startswith("cannot write ") and f"to {impatient.display_url}: " in message, message
    assert message.endswith("database is locked") and "\n" not in message, message
    assert dump(locked) == before


@pytest.mark.parametrize("name", READS)
def test_a_read_of_a_store_without_its_tables_is_a_store_error_naming_the_store(
    store: Store, name: str
) -> None:
    path = sqlite_path(store.url)
    connection = sqlite3.connect(path)
    for table in ("bars", "market_hours", "calendar_coverage", "trading_holidays"):
        connection.execute(f"DROP TABLE {table}")
    connection.commit()
    connection.close()

    error = raised(READS[name], store)

    assert isinstance(error, StoreError), f"{type(error).__name__}: {error}"
    message = str(error)
    assert message.startswith("cannot read ") and f"from {store.display_url}: no such table: " in message
    assert "[SQL:" not in message and "\n" not in message, message


def test_a_row_the_schema_refuses_is_a_store_error_not_an_outage(store: Store) -> None:
    """Only an outage (unreachable, locked) is StoreUnavailable; a refused row is bad input."""
    with pytest.raises(StoreError, match=r"^cannot write the bars of x\.csv to .*NOT NULL") as caught:
        store.bars.upsert([BAR._replace(ts=BAR.ts + 120, open=None)], what="the bars of x.csv")
    assert not isinstance(caught.value, StoreUnavailable)
    assert store.bars.count() == 1


def test_upsert_counting_new_counts_the_keys_not_stored_before(store: Store) -> None:
    moved = BAR._replace(close=10.7)  # stored already: replaced, not new
    later = [BAR._replace(ts=BAR.ts + 60 * i) for i in (1, 2)]
    other = BAR._replace(symbol="MSFT")

    assert store.bars.upsert_counting_new([moved, *later, other]) == 3
    assert store.bars.upsert_counting_new([moved, *later, other]) == 0
    assert store.bars.read("AAPL", "1m", BAR.ts, BAR.ts + 1)[0].close == 10.7
    assert store.bars.count() == 4


def test_a_store_opened_read_only_reads_and_refuses_every_write(store_url: str) -> None:
    """What a shard of a sharded run opens: the bars and the calendar read as usual, and a write
    fails as a store error (a SQLite file opened ``mode=ro``, a read-only PostgreSQL session)."""
    from domain.store import open_store

    with open_store(store_url) as writable:
        seed(writable)
        writable.bars.insert_missing([Bar("AAPL", "1d", 1751414400, 1.0, 2.0, 0.5, 1.5, 10.0)], source="t")
        before = writable.bars.count("AAPL", "1d")
    with open_store(store_url, read_only=True) as reader:
        assert reader.bars.count("AAPL", "1d") == before == 1
        assert reader.calendar.groups()
        with pytest.raises(StoreError, match=r"read-only|readonly"):
            reader.bars.insert_missing([Bar("AAPL", "1d", 1751500800, 1.0, 2.0, 0.5, 1.5, 10.0)], source="t")
        with pytest.raises(StoreError):
            seed(reader)
    with open_store(store_url) as writable:
        assert writable.bars.count("AAPL", "1d") == 1


def test_a_missing_sqlite_file_opened_read_only_is_not_created(tmp_path: Path) -> None:
    from domain.store import open_store

    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'none.db'}", read_only=True)
    assert list(tmp_path.iterdir()) == []
