"""The calendar, init and validate commands: their output, exit codes and errors (in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_cli
from support.stores import postgres_schema_url

from domain.store import open_store

REPO = Path(__file__).resolve().parents[2]


def _seed(url: str) -> str:
    result = run_cli("calendar", "seed", "--start-year", "2024", "--end-year", "2026", db=url)
    assert result.code == 0, result.err
    assert "US_EQUITY: 2024-01-01..2026-12-31" in result.out
    return url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded_ro(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store seeded once per module, for the tests that only read (SQLite and PostgreSQL)."""
    if request.param == "sqlite":
        yield _seed(f"sqlite:///{tmp_path_factory.mktemp('ro') / 'store.db'}")
        return
    with postgres_schema_url() as url:
        yield _seed(url)


@pytest.fixture
def seeded_url(store_url: str) -> str:
    """A freshly seeded store per test (SQLite and PostgreSQL), for tests that change it."""
    return _seed(store_url)


@pytest.fixture
def seeded_sqlite(sqlite_url: str) -> str:
    return _seed(sqlite_url)


def test_init_creates_then_reports_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = run_cli("init", db=url)
    again = run_cli("init", db=url)
    assert first.code == 0 and "created at schema" in first.out
    assert again.code == 0 and "up to date" in again.out


def test_db_url_from_environment_and_default_file(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.code == 0, result.err
    assert (tmp_path / "marketsession.db").is_file()


def test_session_json_has_the_documented_keys(seeded_ro: str) -> None:
    result = run_cli("calendar", "session", "2025-07-03", "--json", db=seeded_ro)
    assert result.code == 0, result.err
    session = json.loads(result.out)
    assert {
        "date",
        "exchange_group",
        "timezone",
        "is_trading_day",
        "is_holiday",
        "is_early_close",
        "holiday_name",
        "regular_open",
        "regular_close",
        "pre_market_open",
        "pre_market_close",
        "post_market_open",
        "post_market_close",
    } <= set(session)
    assert session["is_early_close"] is True
    assert session["regular_close"] == "2025-07-03T13:00:00-04:00"
    assert session["post_market_open"] == "2025-07-03T13:00:00-04:00"


def test_holiday_and_weekend_sessions(seeded_ro: str) -> None:
    holiday = json.loads(run_cli("calendar", "session", "2025-07-04", "--json", db=seeded_ro).out)
    weekend = json.loads(run_cli("calendar", "session", "2025-07-05", "--json", db=seeded_ro).out)
    assert (holiday["is_holiday"], holiday["holiday_name"], holiday["regular_open"]) == (
        True,
        "Independence Day",
        None,
    )
    assert (weekend["is_trading_day"], weekend["is_holiday"]) == (False, False)


def test_days_next_prev_first(seeded_ro: str) -> None:
    days = run_cli("calendar", "days", "2025-06-30", "2025-07-07", "--json", db=seeded_ro)
    assert json.loads(days.out) == ["2025-06-30", "2025-07-01", "2025-07-02", "2025-07-03", "2025-07-07"]
    assert json.loads(run_cli("calendar", "next", "2025-07-03", "--json", db=seeded_ro).out) == "2025-07-07"
    assert run_cli("calendar", "prev", "2025-01-02", db=seeded_ro).out.strip() == "2024-12-31"
    assert run_cli("calendar", "prev", "2025-01-02", "--n", "2", db=seeded_ro).out.strip() == "2024-12-30"
    assert run_cli("calendar", "first", "2025-07-05", db=seeded_ro).out.strip() == "2025-07-07"


def test_other_groups(seeded_ro: str) -> None:
    tokyo = json.loads(
        run_cli("calendar", "session", "2025-03-03", "--group", "JP_EQUITY", "--json", db=seeded_ro).out
    )
    assert tokyo["break_start"] == "2025-03-03T11:30:00+09:00"
    assert tokyo["regular_close"] == "2025-03-03T15:30:00+09:00"
    london = json.loads(
        run_cli("calendar", "session", "2025-12-24", "--group", "UK_EQUITY", "--json", db=seeded_ro).out
    )
    assert london["regular_close"] == "2025-12-24T12:30:00+00:00"


def test_date_outside_seeded_range_is_exit_2_naming_the_range(seeded_ro: str) -> None:
    result = run_cli("calendar", "session", "2031-01-02", db=seeded_ro)
    assert result.code == 2
    assert "2024-01-01..2026-12-31" in result.err
    assert "Traceback" not in result.err


def test_unseeded_group_is_a_clear_error(seeded_ro: str) -> None:
    result = run_cli("calendar", "session", "2025-01-02", "--group", "MARS", db=seeded_ro)
    assert result.code == 2
    assert "no calendar for exchange group 'MARS'" in result.err


def test_patch_closure_early_close_and_remove(seeded_url: str) -> None:
    closed = run_cli("calendar", "patch", "2025-07-07", "--closed", "Unscheduled closure", db=seeded_url)
    assert closed.code == 0, closed.err
    session = json.loads(run_cli("calendar", "session", "2025-07-07", "--json", db=seeded_url).out)
    assert (session["is_trading_day"], session["holiday_name"]) == (False, "Unscheduled closure")
    nxt = run_cli("calendar", "next", "2025-07-03", db=seeded_url).out.strip()
    assert nxt == "2025-07-08"

    early = run_cli(
        "calendar", "patch", "2025-07-07", "--early-close", "12:00", "Test half day", db=seeded_url
    )
    assert early.code == 0, early.err
    session = json.loads(run_cli("calendar", "session", "2025-07-07", "--json", db=seeded_url).out)
    assert session["regular_close"] == "2025-07-07T12:00:00-04:00"

    removed = run_cli("calendar", "patch", "2025-07-07", "--remove", db=seeded_url)
    assert removed.code == 0 and "removed" in removed.out
    session = json.loads(run_cli("calendar", "session", "2025-07-07", "--json", db=seeded_url).out)
    assert session["regular_close"] == "2025-07-07T16:00:00-04:00"


def test_patch_needs_exactly_one_action(seeded_sqlite: str) -> None:
    result = run_cli("calendar", "patch", "2025-07-07", db=seeded_sqlite)
    assert result.code == 2
    assert "exactly one" in result.err


def test_import_csv_dry_run_then_for_real(seeded_sqlite: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "closures.csv"
    csv_file.write_text(
        "date,name,type,early_close,notes\n"
        "2026-03-02,Exchange outage,closed,,\n"
        "2026-03-03,Storm,early_close,13:30,half day\n"
    )
    dry = run_cli("calendar", "import", str(csv_file), "--dry-run", db=seeded_sqlite)
    assert dry.code == 0, dry.err
    assert "would be written" in dry.out
    untouched = json.loads(run_cli("calendar", "session", "2026-03-02", "--json", db=seeded_sqlite).out)
    assert untouched["is_trading_day"] is True

    real = run_cli("calendar", "import", str(csv_file), db=seeded_sqlite)
    assert real.code == 0, real.err
    closed = json.loads(run_cli("calendar", "session", "2026-03-02", "--json", db=seeded_sqlite).out)
    early = json.loads(run_cli("calendar", "session", "2026-03-03", "--json", db=seeded_sqlite).out)
    assert (closed["is_holiday"], closed["holiday_name"]) == (True, "Exchange outage")
    assert early["regular_close"] == "2026-03-03T13:30:00-05:00"


def test_import_json_list(seeded_sqlite: str, tmp_path: Path) -> None:
    json_file = tmp_path / "days.json"
    json_file.write_text(
        json.dumps({"exchange_group": "UK_EQUITY", "holidays": [{"date": "2026-06-01", "name": "Test"}]})
    )
    result = run_cli("calendar", "import", str(json_file), db=seeded_sqlite)
    assert result.code == 0, result.err
    session = json.loads(
        run_cli("calendar", "session", "2026-06-01", "--group", "UK_EQUITY", "--json", db=seeded_sqlite).out
    )
    assert session["holiday_name"] == "Test"


def test_import_with_bad_rows_names_lines_and_writes_nothing(seeded_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "date,name,type,early_close\n"
        "2026-03-02,Fine,closed,\n"
        "2026-13-40,Bad date,closed,\n"
        "2026-03-04,No time,early_close,\n"
    )
    result = run_cli("calendar", "import", str(csv_file), db=seeded_url)
    assert result.code == 2
    assert f"{csv_file}:3" in result.err and f"{csv_file}:4" in result.err
    session = json.loads(run_cli("calendar", "session", "2026-03-02", "--json", db=seeded_url).out)
    assert session["is_trading_day"] is True


def test_bad_database_url_is_exit_2() -> None:
    result = run_cli("init", db="mysql://nobody@nowhere/x")
    assert result.code == 2
    assert "unsupported database URL" in result.err


def test_unreachable_postgres_is_exit_1_without_traceback() -> None:
    result = run_cli("init", db="postgresql://postgres@127.0.0.1:1/test")
    assert result.code == 1
    assert "cannot reach store" in result.err
    assert "Traceback" not in result.err


def test_store_with_foreign_tables_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("create table customers (id integer)")
    result = run_cli("init", db=f"sqlite:///{path}")
    assert result.code == 2
    assert "refusing to touch it" in result.err


def test_validate_every_shipped_config() -> None:
    configs = sorted((REPO / "session_configs").glob("*.json"))
    assert len(configs) >= 3
    for path in configs:
        result = run_cli("validate", str(path))
        assert result.code == 0, (path, result.err)


def test_validate_prints_one_line_per_violation(tmp_path: Path) -> None:
    config = json.loads((REPO / "session_configs" / "example_session.json").read_text())
    config["session_data_config"]["gap_filler"]["max_retries"] = 0
    config["trading_config"]["max_per_trade"] = 10**9
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    result = run_cli("validate", str(bad))
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert any(line.startswith("session_data_config.gap_filler.max_retries: ") for line in lines)
    assert any(line.startswith("trading_config.max_per_trade: ") for line in lines)
    assert len(lines) == 2


def test_validate_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "nope.json"))
    assert result.code == 2
    assert "nope.json" in result.err


def test_seeding_is_recorded_in_the_store(seeded_ro: str) -> None:
    with open_store(seeded_ro) as store:
        coverage = store.calendar.load_coverage("US_EQUITY")
    assert coverage is not None and coverage.source.startswith("exchange_calendars")
