"""Running the ``marketsession`` command: in-process through click's ``CliRunner`` (most tests),
or as the real console script in a subprocess where the process is what is tested (exit codes
of the real entry point, signals, ``serve``, the soak)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from ops.cli import commands


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def executable() -> str:
    beside = Path(sys.executable).with_name("marketsession")
    found = str(beside) if beside.exists() else shutil.which("marketsession")
    assert found, "the marketsession console script is not installed (pip install -e '.[dev]')"
    return found


def _arguments(args: tuple[str, ...], db: str | None) -> list[str]:
    return (["--db", db] if db is not None else []) + list(args)


def run_cli(*args: str, db: str | None = None, cwd: Path | None = None) -> Result:
    """The command run in this process, as ``marketsession ARGS`` would run it (the test's
    ``MARKETSESSION_DB`` unset); an exception that escapes the command shows as its traceback
    on stderr, as the real process would print it."""
    runner = CliRunner()
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        done = runner.invoke(
            commands(),
            _arguments(args, db),
            env={"MARKETSESSION_DB": None},
            prog_name="marketsession",
        )
    err = done.stderr
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        err += "".join(traceback.format_exception(done.exception))
    return Result(done.exit_code, done.stdout, err)


def run_process(*args: str, db: str | None = None, cwd: Path | None = None, timeout: float = 120) -> Result:
    """The installed console script in a subprocess, with a timeout."""
    env = {k: v for k, v in os.environ.items() if k != "MARKETSESSION_DB"}
    done = subprocess.run(
        [executable(), *_arguments(args, db)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)
