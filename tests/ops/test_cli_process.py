"""The real ``marketsession`` console script in its own process: what the in-process tests cannot
see — the entry point itself, its exit codes and its stderr as a shell gets them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_process
from support.stores import REPO

pytestmark = pytest.mark.slow


def test_a_bad_config_is_a_line_per_violation_on_stderr_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text('{"session_name": "x", "mode": "sometimes"}', encoding="utf-8")
    result = run_process("validate", str(config), db=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.code == 2
    assert result.err.splitlines()[0] == "mode: must be 'backtest' or 'live', got string 'sometimes'"
    assert "Traceback" not in result.err and result.out == ""


def test_an_unknown_command_is_a_usage_error_with_exit_2() -> None:
    result = run_process("no-such-command")
    assert result.code == 2
    assert "No such command" in result.err


def test_the_demo_runs_end_to_end_as_a_process(tmp_path: Path) -> None:
    result = run_process("demo", "--no-progress", db=f"sqlite:///{tmp_path / 'demo.db'}", cwd=REPO)
    assert result.code == 0, result.err
    assert "completed" in result.out
    assert "Traceback" not in result.err


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "marketsession" in done.stdout and "run" in done.stdout
