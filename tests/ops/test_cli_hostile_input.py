"""Input that no user means, refused at once: one line on stderr naming the option or value, exit 2,
nothing run and nothing written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.cli import run_cli
from support.stores import REPO, seed

from domain.store import open_store

EXAMPLE_ARG = "session_configs/example_session.json"
LIVE_ARG = "session_configs/live_session_example.json"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", EXAMPLE_ARG, "--speed", "nan"), "Invalid value for '--speed': 'nan' is not a finite number"),
        (("run", EXAMPLE_ARG, "--speed", "inf"), "Invalid value for '--speed': 'inf' is not a finite number"),
        (("demo", "--speed", "nan"), "Invalid value for '--speed': 'nan' is not a finite number"),
        (
            ("chaos", EXAMPLE_ARG, "--fault", "crash:time_manager@5", "--speed", "nan"),
            "'nan' is not a finite",
        ),
        (("run", EXAMPLE_ARG, "--timeout", "nan"), "Invalid value for '--timeout': 'nan' is not a finite"),
        (("serve", LIVE_ARG, "--replay-origin", "nan"), "Invalid value for '--replay-origin': 'nan' is not"),
        (("serve", LIVE_ARG, "--speed", "-inf"), "Invalid value for '--speed'"),
        (("serve", LIVE_ARG, "--host", "999.1.1.1"), "'999.1.1.1' is neither an IP address nor a host name"),
        (("serve", LIVE_ARG, "--host", "bad host"), "'bad host' is neither an IP address nor a host name"),
        (("run", EXAMPLE_ARG, "--no-such-option"), "No such option '--no-such-option'"),
    ],
)
def test_a_bad_option_value_is_one_line_and_exit_2(
    args: tuple[str, ...], message: str, sqlite_url: str
) -> None:
    result = run_cli(*args, db=sqlite_url, cwd=REPO)
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and result.err.startswith("error: "), result.err
    assert message in result.err
    assert result.out == ""


def test_a_mistyped_database_url_is_refused_and_creates_no_file(tmp_path: Path) -> None:
    result = run_cli("--db", "::::", "data", "summary", cwd=tmp_path)
    assert result.code == 2
    assert result.err == (
        "error: invalid database URL '::::': use sqlite:///PATH, postgresql://HOST/DB or a file path\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_report_path_is_refused_before_the_run(sqlite_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli(
        "run", EXAMPLE_ARG, "--report", str(blocker / "report.json"), "--no-progress", db=sqlite_url, cwd=REPO
    )
    assert result.code == 2, result.err
    assert result.err.startswith(f"error: Invalid value for '--report': cannot write a report to {blocker}")
    assert "bars streamed" not in result.out  # refused before any actor started


def test_a_postgresql_url_without_the_driver_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails as if not installed
    result = run_cli("--db", "postgresql://nobody@127.0.0.1:5432/test", "data", "summary")
    assert result.code == 2
    assert result.err == (
        "error: database URL 'postgresql://nobody@127.0.0.1:5432/test' needs the PostgreSQL driver: "
        "pip install 'marketsession[postgres]'\n"
    )


@pytest.fixture
def seeded(sqlite_url: str) -> str:
    with open_store(sqlite_url) as store:
        seed(store, "US_EQUITY", start_year=2025, end_year=2025)
    return sqlite_url


def _day(url: str, day: str) -> dict[str, object]:
    return dict(json.loads(run_cli("calendar", "session", day, "--json", db=url).out))


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ("05:00", "an early close at 05:00 is not inside the regular session 09:30-16:00"),
        ("09:30", "an early close at 09:30 is not inside the regular session 09:30-16:00"),
        ("16:00", "an early close at 16:00 is not inside the regular session 09:30-16:00"),
    ],
)
def test_a_patch_with_impossible_hours_is_refused_and_changes_nothing(
    seeded: str, hours: str, message: str
) -> None:
    before = _day(seeded, "2025-07-07")
    result = run_cli("calendar", "patch", "2025-07-07", "--early-close", hours, "Odd day", db=seeded)
    assert result.code == 2
    assert result.err == f"error: US_EQUITY 2025-07-07: {message}\n"
    assert _day(seeded, "2025-07-07") == before


def test_an_import_with_a_late_open_after_the_close_is_refused_and_writes_nothing(
    seeded: str, tmp_path: Path
) -> None:
    rows = tmp_path / "days.csv"
    rows.write_text(
        "date,name,type,late_open\n2025-07-08,Fine,late_open,10:30\n2025-07-09,Odd,late_open,17:00\n"
    )
    before = [_day(seeded, day) for day in ("2025-07-08", "2025-07-09")]
    result = run_cli("calendar", "import", str(rows), db=seeded)
    assert result.code == 2
    assert (
        "US_EQUITY 2025-07-09: a late open at 17:00 is not inside the regular session 09:30-16:00"
        in result.err
    )
    assert [_day(seeded, day) for day in ("2025-07-08", "2025-07-09")] == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("huge-field.csv", "date,name\n2025-07-08," + "x" * (2 << 20) + "\n", "larger than 1,048,576 bytes"),
        (
            "long-name.csv",
            "date,name\n2025-07-08," + "x" * 500 + "\n",
            "the name is longer than 100 characters",
        ),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    ],
)
def test_a_hostile_holiday_file_is_one_clear_error(
    seeded: str, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = run_cli("calendar", "import", str(path), db=seeded)
    assert result.code == 2, result.err
    assert message in result.err
    assert "Traceback" not in result.err


def test_a_bar_file_with_an_endless_line_is_refused_at_that_line(seeded: str, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("timestamp,open" + "x" * (8 << 20) + "\n2025-07-02T13:30:00Z,1,1,1,1,1\n")
    result = run_cli("data", "import", str(path), "--symbol", "AAPL", "--interval", "1m", db=seeded)
    assert result.code == 2
    assert result.err == f"error: {path}:1: a line longer than 4,096 characters: not a bar file\n"


@pytest.mark.parametrize(
    "args",
    [
        ("data", "import", "{file}", "--symbol", "A;B", "--interval", "1m"),
        ("data", "demo", "--symbols", "AAPL,A B", "--start", "2025-07-01", "--end", "2025-07-02"),
    ],
)
def test_a_symbol_a_config_would_refuse_is_refused_everywhere(
    seeded: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2025-07-02T13:30:00Z,1,1,1,1,1\n")
    result = run_cli(*(str(bars) if a == "{file}" else a for a in args), db=seeded)
    assert result.code == 2
    assert "invalid symbol" in result.err
    with open_store(seeded) as store:
        assert store.bars.count() == 0


def test_values_whose_sums_would_overflow_are_invalid_rows(seeded: str, tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2025-07-02T13:30:00Z,1,1,1,1,1e300\n"
        "2025-07-02T13:31:00Z,1,1,1,1,100\n"
    )
    result = run_cli("data", "import", str(bars), "--symbol", "AAPL", "--interval", "1m", db=seeded)
    assert result.code == 2
    assert "value above 1e15" in result.err
