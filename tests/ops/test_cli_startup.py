"""What the command line imports before it does anything: `marketsession --help` loads click
and the command modules, none of the engine's libraries; opening a store reads its schema
version without Alembic (which only `init` and a new store need). Checked in fresh interpreters
by the modules they hold, not by timing (the bench times start-up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("alembic", "sqlalchemy", "pydantic", "structlog", "numpy", "pyarrow", "pykka", "exchange_calendars")


def loaded_after(code: str) -> set[str]:
    """The top-level packages of :data:`HEAVY` a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    command = [sys.executable, "-c", probe]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1])) & set(HEAVY)


def test_help_loads_every_command_and_none_of_the_engines_libraries() -> None:
    code = (
        "from click.testing import CliRunner\n"
        "from ops.cli import commands\n"
        "result = CliRunner().invoke(commands(), ['--help'])\n"
        "assert result.exit_code == 0 and 'run' in result.output and 'serve' in result.output, result.output"
    )
    assert loaded_after(code) == set()


def test_opening_an_existing_store_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert "alembic" in loaded_after(f"from domain.store import open_store\nopen_store({url!r}).close()")
    opened = loaded_after(f"from domain.store import open_store\nopen_store({url!r}, create=False).close()")
    assert "sqlalchemy" in opened and "alembic" not in opened
