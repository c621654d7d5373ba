"""Running the ``marketsession`` console script as a user would: a subprocess with a timeout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


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


def run_cli(*args: str, db: str | None = None, cwd: Path | None = None, timeout: float = 120) -> Result:
    command = [executable()]
    if db is not None:
        command += ["--db", db]
    env = {k: v for k, v in os.environ.items() if k != "MARKETSESSION_DB"}
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)
