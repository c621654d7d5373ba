"""Stores for tests: real data files, PostgreSQL schemas of their own, seeding."""

from __future__ import annotations

import csv
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

import pytest
from sqlalchemy import create_engine, text

from domain.bars import Bar
from domain.calendar.trading_calendar import TradingCalendar
from domain.store import Store, open_store
from ops.calendars.seed import seed_group

REPO = Path(__file__).resolve().parents[2]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
PG_ENV = "MARKETSESSION_TEST_PG_URL"


def dump(path: Path) -> list[str]:
    """Every row of every table of a SQLite file, as SQL text (to show nothing changed)."""
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def real_file(name: str) -> Path:
    path = REAL_DATA / name
    if not path.is_file():
        message = f"real data file {path} not found (shared/ must sit beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI has shared/ beside the clone: a missing file is a failure there
        pytest.skip(message)
    return path


REAL_MINUTE_SHIFT = 4 * 3600  # the real minute files are stamped 4 hours late (see their README)


def real_minute_bars(symbol: str) -> list[Bar]:
    """The real minute bars of ``symbol`` as they truly are: the file's stamps moved back 4 hours.

    The file is stamped 4 hours late (its opening auction sits at 17:30Z); shifted back, it holds
    July 1's post-market (20:00Z-23:59Z), July 2's pre-market and all 390 regular minutes of
    2025-07-02 (13:30Z-20:00Z). Tests of session behaviour use these; tests *about* the bad stamps
    use ``real_minute_bars_as_stamped``.
    """
    return [b._replace(ts=b.ts - REAL_MINUTE_SHIFT) for b in real_minute_bars_as_stamped(symbol)]


def real_minute_bars_as_stamped(symbol: str) -> list[Bar]:
    """Every row of the real minute file of ``symbol`` as bars, stamped as the file has it
    (00:00Z to 23:59Z on 2025-07-02, 4 hours late)."""
    with real_file(f"{symbol}_2025-07-02_1m.csv").open(newline="") as handle:
        return [
            Bar(
                symbol,
                "1m",
                int(datetime.fromisoformat(line["timestamp"]).timestamp()),
                float(line["open"]),
                float(line["high"]),
                float(line["low"]),
                float(line["close"]),
                float(line["volume"]),
            )
            for line in csv.DictReader(handle)
        ]


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


class DailyRow(NamedTuple):
    """One row of a Yahoo-style daily file (``Date,Open,High,Low,Close,Adj Close,Volume``)."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float


def daily_rows(name: str) -> list[DailyRow]:
    """The rows of a real daily file, read directly with the csv module (independent of the
    importer under test)."""
    with real_file(name).open(newline="") as handle:
        return [
            DailyRow(
                date.fromisoformat(line["Date"]),
                float(line["Open"]),
                float(line["High"]),
                float(line["Low"]),
                float(line["Close"]),
                float(line["Volume"]),
            )
            for line in csv.DictReader(handle)
        ]


def seed(store: Store, *groups: str, start_year: int = 2024, end_year: int = 2026) -> None:
    for group in groups or ("US_EQUITY",):
        seed_group(store.calendar, group, start_year, end_year, datetime(2026, 1, 1, tzinfo=UTC))


@contextmanager
def seeded_calendar(
    directory: Path, *groups: str, start_year: int = 2024, end_year: int = 2026
) -> Iterator[TradingCalendar]:
    """A calendar over a new SQLite store in ``directory`` seeded with ``groups`` (US_EQUITY)."""
    store = open_store(f"sqlite:///{directory / 'calendar.db'}")
    seed(store, *groups, start_year=start_year, end_year=end_year)
    try:
        yield TradingCalendar(store.calendar)
    finally:
        store.close()
