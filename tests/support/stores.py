"""Stores for tests: real data files, PostgreSQL schemas of their own, seeding."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from domain.store import Store
from ops.calendar_seed import seed_group

REPO = Path(__file__).resolve().parents[2]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
PG_ENV = "MARKETSESSION_TEST_PG_URL"


def real_file(name: str) -> Path:
    path = REAL_DATA / name
    if not path.is_file():
        message = f"real data file {path} not found (shared/ must sit beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI has shared/ beside the clone: a missing file is a failure there
        pytest.skip(message)
    return path


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A URL on the test PostgreSQL server whose search_path is a new schema, dropped at exit."""
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


def seed(store: Store, *groups: str, start_year: int = 2024, end_year: int = 2026) -> None:
    for group in groups or ("US_EQUITY",):
        seed_group(store.calendar, group, start_year, end_year, datetime(2026, 1, 1, tzinfo=UTC))
