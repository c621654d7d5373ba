"""Shared fixtures: stores on real SQLite files and on the real PostgreSQL server.

PostgreSQL tests run when ``MARKETSESSION_TEST_PG_URL`` names a server (CI exports it); each
test gets a schema of its own, dropped afterwards. Without the variable they skip, saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pykka
import pytest
from sqlalchemy import create_engine, text

from domain.calendar import TradingCalendar
from domain.store import Store, open_store
from ops.calendar_seed import seed_group

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
PG_ENV = "MARKETSESSION_TEST_PG_URL"


def real_file(name: str) -> Path:
    path = REAL_DATA / name
    if not path.is_file():
        pytest.skip(f"real data file {path} not found (shared/ must sit beside the repo)")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests skipped")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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


def seed(store: Store, *groups: str, start_year: int = 2024, end_year: int = 2026) -> None:
    for group in groups or ("US_EQUITY",):
        seed_group(store.calendar, group, start_year, end_year, datetime(2026, 1, 1, tzinfo=UTC))


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
