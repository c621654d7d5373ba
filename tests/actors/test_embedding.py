"""The engine embedded in a host process: it writes nothing to the host's stdout unless asked,
and a failing output stream never stops a run (the host here is a real process whose stdout is
closed before the run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.engine import EXAMPLE, fill_demo_store
from support.stores import REPO

from actors.system import MarketSessionSystem
from domain.config import SessionConfig
from domain.store import open_store

pytestmark = pytest.mark.slow

HOST = """
import os, sys
from actors.system import MarketSessionSystem
from actors.system import MarketSessionSystem
from domain.config import SessionConfig
config = SessionConfig.from_file(sys.argv[1])
if sys.argv[3] == "closed":
    sys.stdout.close()
    os.close(1)
with MarketSessionSystem(config, sys.argv[2], speed=0) as engine:
    report = engine.run(timeout=120)
sys.stderr.write(f"status={report.status}\\n")
"""


def _demo_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with open_store(url) as store:
        fill_demo_store(store, SessionConfig.from_file(EXAMPLE))
    return url


def _host(url: str, stdout: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HOST, str(EXAMPLE), url, stdout],
        capture_output=True, text=True, timeout=180, cwd=REPO, check=False,
    )  # fmt: skip


def test_an_embedded_engine_writes_nothing_to_stdout(tmp_path: Path) -> None:
    done = _host(_demo_store(tmp_path), "open")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "status=completed" in done.stderr


def test_an_embedded_engine_completes_with_its_hosts_stdout_closed(tmp_path: Path) -> None:
    done = _host(_demo_store(tmp_path), "closed")
    assert done.returncode == 0, done.stderr
    assert "status=completed" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), -1.0])
def test_a_speed_that_is_not_a_finite_non_negative_number_is_refused(speed: float, sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="speed must be a finite number >= 0"):
        MarketSessionSystem(SessionConfig.from_file(EXAMPLE), sqlite_url, speed=speed)
