"""The run summary as a user reads it: whole values at 80 columns, one table when the width
allows, and text printed as it is (square brackets are not markup)."""

from __future__ import annotations

import pytest
from support.cli import Result, run_cli
from support.engine import EXAMPLE, fill_demo_store
from support.stores import REPO

from domain.config import SessionConfig
from domain.store import open_store
from ops.run_output import summary_console


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('summary') / 'demo.db'}"
    with open_store(url) as store:
        fill_demo_store(store, SessionConfig.from_file(EXAMPLE))
    return url


def _summary(url: str, columns: int) -> Result:
    result = run_cli(
        "run", str(EXAMPLE), "--speed", "0", "--no-progress", db=url, cwd=REPO, env={"COLUMNS": str(columns)}
    )
    assert result.code == 0, result.err
    return result


def test_at_80_columns_nothing_is_cut_and_the_indicators_get_their_own_table(demo_url: str) -> None:
    out = _summary(demo_url, 80).out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    assert "…" not in out
    for text in ("2025-07-02", "2025-07-03*", "symbol", "RIVN", "15m %", "avg volume intraday", "low 52w"):
        assert text in out, text
    assert out.splitlines()[0].startswith("Example Trading Session — completed")
    assert any(line.startswith("indicators") for line in out.splitlines())


def test_a_wide_terminal_gets_one_table(demo_url: str) -> None:
    out = _summary(demo_url, 160).out
    assert "…" not in out
    assert not any(line.startswith("indicators") for line in out.splitlines())
    header = next(line for line in out.splitlines() if "symbol" in line)
    assert "gaps" in header and "avg volume intraday" in header


def test_square_brackets_are_printed_as_they_are() -> None:
    console = summary_console()
    with console.capture() as captured:
        console.print("peers: not installed (pip install -e '.[bench]')")
    assert captured.get() == "peers: not installed (pip install -e '.[bench]')\n"
