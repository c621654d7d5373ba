"""The trading calendar on a seeded store (SPEC §4), on a SQLite file and on PostgreSQL.

Names and hours come from seeding with exchange_calendars, as an operator's store would hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, inspect, text
from support.stores import REPO, seed

from domain.calendar.model import CalendarException, SessionType, TimeUnit
from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import StoreError
from domain.store import Store, current_revision, head_revision, init_store, open_store
from domain.store.calendar_repo import CalendarRepository
from ops.calendars.seed import seed_group

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
TOKYO = ZoneInfo("Asia/Tokyo")
US, UK, JP = "US_EQUITY", "UK_EQUITY", "JP_EQUITY"
GROUPS = (US, UK, JP)
NOW = datetime(2026, 1, 2, 12, tzinfo=UTC)


def snapshot(repo: CalendarRepository) -> dict[str, object]:
    """Everything the calendar reads from the store, per group, as domain values."""
    result: dict[str, object] = {}
    for group in GROUPS:
        coverage = repo.load_coverage(group)
        assert coverage is not None
        result[group] = (
            repo.load_market_hours(group, "EQUITY"),
            coverage,
            repo.load_exceptions(group, coverage.first_date, coverage.last_date),
        )
    return result


# ------------------------------------------------------------------ SPEC §4 examples
def test_spec_examples_with_seeded_names(us_calendar: TradingCalendar) -> None:
    cal = us_calendar
    assert cal.is_holiday(date(2025, 7, 4)) == (True, "Independence Day")
    assert cal.is_trading_day(date(2025, 7, 4)) is False
    assert cal.is_early_close(date(2025, 7, 3)) == (True, time(13, 0))
    session = cal.get_trading_session(date(2025, 7, 3))
    assert session.regular_close == datetime(2025, 7, 3, 13, tzinfo=NY)
    assert session.post_market_open == datetime(2025, 7, 3, 13, tzinfo=NY)
    mourning = cal.get_trading_session(date(2025, 1, 9))
    assert (mourning.is_trading_day, mourning.is_holiday) == (False, True)
    assert mourning.holiday_name == "National Day of Mourning (Jimmy Carter)"
    assert cal.get_first_trading_date(date(2025, 7, 5)) == date(2025, 7, 7)
    assert cal.get_next_trading_date(date(2025, 7, 3)) == date(2025, 7, 7)
    assert cal.get_previous_trading_date(date(2025, 1, 2)) == date(2024, 12, 31)
    assert cal.get_trading_dates_in_range(date(2025, 6, 30), date(2025, 7, 7)) == [
        date(2025, 6, 30),
        date(2025, 7, 1),
        date(2025, 7, 2),
        date(2025, 7, 3),
        date(2025, 7, 7),
    ]
    weekend = cal.get_trading_session(date(2025, 7, 5))
    assert (weekend.is_trading_day, weekend.is_holiday, weekend.holiday_name) == (False, False, None)


def test_seeded_us_hours_are_the_spec_hours(seeded_store: Store) -> None:
    [hours] = seeded_store.calendar.load_market_hours(US, "EQUITY")
    assert hours.timezone == "America/New_York"
    assert hours.exchanges == ("NYSE", "NASDAQ", "AMEX", "ARCA")
    assert (hours.pre_market_open, hours.pre_market_close) == (time(4), time(9, 30))
    assert (hours.regular_open, hours.regular_close) == (time(9, 30), time(16))
    assert (hours.post_market_open, hours.post_market_close) == (time(16), time(20))
    assert hours.trading_weekdays == frozenset({0, 1, 2, 3, 4})
    assert (hours.break_start, hours.break_end) == (None, None)


def test_calendar_coverage_of_every_seeded_group(seeded_store: Store) -> None:
    coverages = seeded_store.calendar.groups()
    assert [c.exchange_group for c in coverages] == sorted(GROUPS)
    for coverage, code in zip(coverages, ("XTKS", "XLON", "XNYS"), strict=True):
        assert (coverage.first_date, coverage.last_date) == (date(2024, 1, 1), date(2026, 12, 31))
        assert code in coverage.source
        cal = TradingCalendar(seeded_store.calendar, coverage.exchange_group)
        assert cal.coverage() == coverage


# ------------------------------------------------------------------ other groups
def test_tokyo_lunch_break_and_close_change(seeded_store: Store) -> None:
    cal = TradingCalendar(seeded_store.calendar, JP)
    old = cal.get_trading_session(date(2024, 11, 1))
    new = cal.get_trading_session(date(2024, 11, 5))
    assert old.timezone == "Asia/Tokyo"
    assert old.regular_open == datetime(2024, 11, 1, 9, tzinfo=TOKYO)
    assert old.regular_close == datetime(2024, 11, 1, 15, tzinfo=TOKYO)
    assert new.regular_close == datetime(2024, 11, 5, 15, 30, tzinfo=TOKYO)
    assert old.is_early_close is False and new.is_early_close is False
    assert (old.break_start, old.break_end) == (
        datetime(2024, 11, 1, 11, 30, tzinfo=TOKYO),
        datetime(2024, 11, 1, 12, 30, tzinfo=TOKYO),
    )
    assert cal.is_market_open(datetime(2024, 11, 5, 12, 0)) is False
    assert cal.get_session_type(datetime(2024, 11, 5, 12, 29, 59)) is SessionType.CLOSED
    assert cal.is_market_open(datetime(2024, 11, 5, 12, 30)) is True
    assert cal.is_market_open(datetime(2024, 11, 5, 15, 15)) is True
    assert cal.is_market_open(datetime(2024, 11, 1, 15, 15)) is False
    assert cal.count_trading_time(datetime(2024, 11, 1), datetime(2024, 11, 2), TimeUnit.MINUTES) == 300
    assert cal.count_trading_time(datetime(2024, 11, 5), datetime(2024, 11, 6), TimeUnit.MINUTES) == 330
    versions = seeded_store.calendar.load_market_hours(JP, "EQUITY")
    assert [(v.valid_from, v.regular_close) for v in versions] == [
        (date(2024, 1, 1), time(15)),
        (date(2024, 11, 5), time(15, 30)),
    ]


def test_london_christmas_eve_closes_at_1230(seeded_store: Store) -> None:
    cal = TradingCalendar(seeded_store.calendar, UK)
    assert cal.is_early_close(date(2024, 12, 24)) == (True, time(12, 30))
    session = cal.get_trading_session(date(2024, 12, 24))
    assert session.regular_open == datetime(2024, 12, 24, 8, tzinfo=LONDON)
    assert session.regular_close == datetime(2024, 12, 24, 12, 30, tzinfo=LONDON)
    assert cal.is_market_open(datetime(2024, 12, 24, 12, 29)) is True
    assert cal.is_market_open(datetime(2024, 12, 24, 12, 30)) is False
    assert cal.is_holiday(date(2024, 12, 25)) == (True, "Christmas")
    assert cal.is_holiday(date(2024, 12, 26)) == (True, "Boxing Day")
    assert cal.get_next_trading_date(date(2024, 12, 24)) == date(2024, 12, 27)


def test_groups_are_answered_side_by_side_by_one_calendar(us_calendar: TradingCalendar) -> None:
    assert us_calendar.is_trading_day(date(2024, 12, 26)) is True
    assert us_calendar.is_trading_day(date(2024, 12, 26), UK) is False
    assert us_calendar.get_trading_session(date(2024, 12, 26), UK).timezone == "Europe/London"
    assert us_calendar.get_trading_session(date(2024, 12, 26)).timezone == "America/New_York"


# ------------------------------------------------------------------ patching
def test_patch_takes_effect_after_invalidate_cache(seeded_store: Store) -> None:
    cal = TradingCalendar(seeded_store.calendar)
    day = date(2025, 7, 7)
    assert cal.is_trading_day(day) is True
    patch = CalendarException(day, US, "Unscheduled closure", True, notes="exchange outage", source="manual")
    assert seeded_store.calendar.upsert_exceptions([patch], NOW) == 1
    cal.invalidate_cache()
    assert cal.is_trading_day(day) is False
    assert cal.is_holiday(day) == (True, "Unscheduled closure")
    assert cal.get_next_trading_date(date(2025, 7, 3)) == date(2025, 7, 8)
    assert cal.count_trading_days(date(2025, 6, 30), date(2025, 7, 8)) == 5
    assert seeded_store.calendar.load_exceptions(US, day, day) == [patch]


def test_patch_replaces_an_existing_day_instead_of_duplicating_it(seeded_store: Store) -> None:
    repo = seeded_store.calendar
    day = date(2025, 7, 7)
    repo.upsert_exceptions([CalendarException(day, US, "Unscheduled closure", True, source="manual")], NOW)
    reopened = CalendarException(
        day, US, "Reopened early", False, early_close_time=time(12), source="import:patch.csv"
    )
    repo.upsert_exceptions([reopened], NOW)
    assert repo.load_exceptions(US, day, day) == [reopened]
    seeded_day = date(2025, 7, 4)
    changed = CalendarException(seeded_day, US, "Independence Day (moved)", True, source="manual")
    repo.upsert_exceptions([changed], NOW)
    assert repo.load_exceptions(US, seeded_day, seeded_day) == [changed]
    cal = TradingCalendar(repo)
    assert cal.is_early_close(day) == (True, time(12))
    assert cal.is_holiday(seeded_day) == (True, "Independence Day (moved)")
    assert repo.upsert_exceptions([], NOW) == 0


def test_removing_a_patch_restores_the_day(seeded_store: Store) -> None:
    repo = seeded_store.calendar
    day = date(2025, 7, 7)
    repo.upsert_exceptions([CalendarException(day, US, "Unscheduled closure", True, source="manual")], NOW)
    assert repo.remove_exception(US, day) is True
    assert repo.remove_exception(US, day) is False
    assert TradingCalendar(repo).is_trading_day(day) is True


# ------------------------------------------------------------------ seeding
def test_reseeding_is_idempotent(seeded_store: Store) -> None:
    before = snapshot(seeded_store.calendar)
    seed(seeded_store, *GROUPS)
    seed(seeded_store, *GROUPS)
    assert snapshot(seeded_store.calendar) == before


def test_reseeding_keeps_manual_exceptions(seeded_store: Store) -> None:
    repo = seeded_store.calendar
    seeded_count = len(repo.load_exceptions(US, date(2024, 1, 1), date(2026, 12, 31)))
    manual = [
        CalendarException(
            date(2025, 7, 4), US, "Independence Day (operator)", True, notes="n", source="manual"
        ),
        CalendarException(date(2025, 7, 7), US, "Unscheduled closure", True, source="manual"),
    ]
    repo.upsert_exceptions(manual, NOW)
    seed(seeded_store, *GROUPS)
    assert repo.load_exceptions(US, date(2025, 7, 4), date(2025, 7, 7)) == manual
    assert len(repo.load_exceptions(US, date(2024, 1, 1), date(2026, 12, 31))) == seeded_count + 1
    cal = TradingCalendar(repo)
    assert cal.is_holiday(date(2025, 7, 4)) == (True, "Independence Day (operator)")
    assert cal.is_trading_day(date(2025, 7, 7)) is False
    assert cal.is_holiday(date(2025, 12, 25)) == (True, "Christmas")


def test_seeding_widens_coverage_to_the_hull(seeded_store: Store) -> None:
    repo = seeded_store.calendar
    result = seed_group(repo, US, 2021, 2021, NOW)
    assert (result.first_date, result.last_date) == (date(2021, 1, 1), date(2026, 12, 31))
    coverage = repo.load_coverage(US)
    assert coverage is not None
    assert (coverage.first_date, coverage.last_date) == (date(2021, 1, 1), date(2026, 12, 31))
    cal = TradingCalendar(repo)
    assert cal.count_trading_days(coverage.first_date, coverage.last_date) == result.trading_days
    # the years between the old and the new range are seeded too
    assert cal.is_holiday(date(2022, 7, 4)) == (True, "Independence Day")
    assert cal.is_holiday(date(2023, 11, 23)) == (True, "Thanksgiving")
    assert cal.get_previous_trading_date(date(2024, 1, 2)) == date(2023, 12, 29)
    assert cal.is_holiday(date(2026, 12, 25)) == (True, "Christmas")
    uk = repo.load_coverage(UK)
    assert uk is not None and uk.first_date == date(2024, 1, 1)
    widened = seed_group(repo, US, 2027, 2027, NOW)
    assert (widened.first_date, widened.last_date) == (date(2021, 1, 1), date(2027, 12, 31))
    cal.invalidate_cache()
    assert cal.get_next_trading_date(date(2026, 12, 31)) == date(2027, 1, 4)


# ------------------------------------------------------------------ schema (SQLite)
def test_schema_version_is_recorded_and_init_on_a_current_store_is_a_noop(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        seed(store, US)
        assert current_revision(store.engine) == head_revision()
        with store.engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [head_revision()]
        before = snapshot_us(store)
    finally:
        store.close()
    assert init_store(sqlite_url) == (head_revision(), head_revision())
    reopened = open_store(sqlite_url, create=False)
    try:
        assert snapshot_us(reopened) == before
    finally:
        reopened.close()


def test_the_head_read_from_the_scripts_is_alembics_and_the_version_query_its_too(sqlite_url: str) -> None:
    """Opening a store reads the schema version without Alembic; both readings agree with it."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(REPO / "domain" / "store" / "migrations"))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()
    with open_store(sqlite_url) as store, store.engine.connect() as connection:
        assert current_revision(store.engine) == MigrationContext.configure(connection).get_current_revision()


def snapshot_us(store: Store) -> tuple[object, ...]:
    repo = store.calendar
    return (
        repo.load_market_hours(US, "EQUITY"),
        repo.load_coverage(US),
        repo.load_exceptions(US, date(2024, 1, 1), date(2026, 12, 31)),
    )


def test_init_store_creates_a_fresh_store_and_reports_no_previous_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert init_store(url) == (None, head_revision())
    with open_store(url, create=False) as store:
        assert store.calendar.groups() == []


def test_database_with_foreign_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
            connection.execute(text("INSERT INTO customers (name) VALUES ('ada')"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="customers"):
        open_store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match="refusing"):
        init_store(f"sqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        assert inspect(engine).get_table_names() == ["customers"]
        with engine.connect() as connection:
            assert connection.execute(text("SELECT name FROM customers")).scalars().all() == ["ada"]
    finally:
        engine.dispose()


def test_uninitialised_store_is_refused_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="marketsession init"):
        open_store(f"sqlite:///{tmp_path / 'empty.db'}", create=False)
