"""Input that no user means, refused at once: one line on stderr naming the option or value, exit 2,
nothing run and nothing written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.cli import run_cli
from support.stores import REPO

EXAMPLE_ARG = "session_configs/example_session.json"
LIVE_ARG = "session_configs/live_session_example.json"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", EXAMPLE_ARG, "--speed", "nan"), "Invalid value for '--speed': 'nan' is not a finite number"),
        (("run", EXAMPLE_ARG, "--speed", "inf"), "Invalid value for '--speed': 'inf' is not a finite number"),
        (("demo", "--speed", "nan"), "Invalid value for '--speed': 'nan' is not a finite number"),
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
