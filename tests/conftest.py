"""Shared fixtures: stores on real SQLite files and on the real PostgreSQL server.

PostgreSQL tests run when ``MARKETSESSION_TEST_PG_URL`` names a server (CI exports it); each
test gets a schema of its own, dropped afterwards. Without the variable they skip, saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest
from support.stores import postgres_schema_url, seed

from domain.calendar.trading_calendar import TradingCalendar
from domain.store import Store, open_store


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files marked ``slow`` first (a stable sort): a parallel run (``make test``: a file per
    worker, handed out in this order) then ends on short files, not with one worker still on a
    long one while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema_url() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty store URL: once on a SQLite file, once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    opened = open_store(sqlite_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def seeded_store(store: Store) -> Store:
    """A store (SQLite and PostgreSQL) with US_EQUITY, UK_EQUITY and JP_EQUITY for 2024–2026."""
    seed(store, "US_EQUITY", "UK_EQUITY", "JP_EQUITY")
    return store


@pytest.fixture
def us_calendar(seeded_store: Store) -> TradingCalendar:
    return TradingCalendar(seeded_store.calendar)


@pytest.fixture(autouse=True)
def _stop_leftover_actors() -> Iterator[None]:
    """Every test ends with no actor of ours left running."""
    yield
    for ref in pykka.ActorRegistry.get_all():
        ref.stop(block=True, timeout=5)
