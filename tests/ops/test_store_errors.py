"""A store that cannot be used (SPEC §9, §10): clear one-line errors, the documented exit codes, no harm.

Representative commands (``calendar seed``, ``data import``, ``data summary``) run as a user runs
them against store URLs that cannot work: a missing directory, a directory, files that are not
databases, an unsupported scheme, malformed and unreachable PostgreSQL URLs, a read-only SQLite
file and a SQLite store locked by another connection. Exit codes (``ops/cli/app.py``): 2 for bad
input (a bad URL, a file that is not a database), 1 for a runtime failure (a server that cannot be
reached, a lock). Every CLI call is bounded: a hang is a failure that says so.

The commands of every scenario run once, in a small pool, while the locked store is held locked;
the tests below then look at different aspects of the same results.
"""

from __future__ import annotations

import os
import random
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli import Result, run_process
from support.stores import dump, seed

from domain.store import open_store
from ops.bar_files.importer import import_bar_file

pytestmark = pytest.mark.slow

CLI_TIMEOUT = 30.0  # seconds; SQLite waits 5 s for a lock, PostgreSQL 5 s to connect
BARS = (
    "timestamp,open,high,low,close,volume\n"
    "2025-07-02T13:30:00Z,10,11,9,10.5,100\n"
    "2025-07-02T13:31:00Z,10.5,12,10,11,200\n"
)
COMMANDS: dict[str, tuple[str, ...]] = {
    "seed": ("calendar", "seed", "--start-year", "2025", "--end-year", "2025"),
    "import": ("data", "import", "{bars}", "--symbol", "FUZ", "--interval", "1m"),
    "summary": ("data", "summary"),
}

# scenario -> exit code every command should end with (SPEC §9: 2 bad input, 1 runtime failure)
EXPECTED_CODE = {
    "missing_directory": 2,
    "directory_as_database": 2,
    "random_bytes": 2,
    "text_file": 2,
    "unsupported_scheme": 2,
    "in_memory_sqlite": 2,
    "malformed_port": 2,
    "port_out_of_range": 2,
    "postgres_refused": 1,
    "locked": 1,
    "read_only": None,  # either is defensible; it must fail cleanly and change nothing
}
# Where every command fails the same way (the store cannot even be opened), one command is run;
# where commands differ (a lock stops writers only; a file must survive every command), all are.
ONE_COMMAND = {
    "missing_directory": "seed",
    "directory_as_database": "import",
    "text_file": "summary",
    "unsupported_scheme": "import",
    "in_memory_sqlite": "summary",
    "malformed_port": "import",
    "port_out_of_range": "seed",
}


def commands_of(scenario: str) -> tuple[str, ...]:
    return (ONE_COMMAND[scenario],) if scenario in ONE_COMMAND else tuple(COMMANDS)


@dataclass
class Run:
    scenario: str
    command: str
    url: str
    result: Result | None  # None when the command outlived CLI_TIMEOUT
    seconds: float


@dataclass
class World:
    runs: dict[tuple[str, str], Run]
    locked_dump_before: list[str]
    locked_dump_after: list[str]
    junk_files: dict[Path, bytes]  # files that are not databases, with their bytes before the runs
    missing_dir: Path
    read_only_skip: str | None  # why the read-only scenario cannot run here, or None
    read_only_dump_before: list[str]
    read_only_dump_after: list[str]


def initialised_store(path: Path, bars_file: Path) -> str:
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        seed(store, "US_EQUITY", start_year=2025, end_year=2025)
        import_bar_file(store, bars_file, "FUZ", "1m", "UTC")
    return url


def run_bounded(scenario: str, command: str, url: str, bars_file: Path) -> Run:
    args = [bars_file.as_posix() if a == "{bars}" else a for a in COMMANDS[command]]
    started = time.monotonic()
    try:
        result: Result | None = run_process(*args, db=url, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        result = None
    return Run(scenario, command, url, result, time.monotonic() - started)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("store_errors")
    bars_file = root / "bars.csv"
    bars_file.write_text(BARS)

    noise = random.Random(20250702).randbytes(4096)
    assert not noise.startswith(b"SQLite format 3")
    (root / "noise.db").write_bytes(noise)
    (root / "text.db").write_text(BARS)
    (root / "a_directory.db").mkdir()
    junk_files = {root / "noise.db": noise, root / "text.db": BARS.encode()}

    locked_url = initialised_store(root / "locked.db", bars_file)
    read_only_path = root / "read_only.db"
    read_only_url = initialised_store(read_only_path, bars_file)
    read_only_before = dump(read_only_path)
    read_only_path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    read_only_skip = None
    if os.access(read_only_path, os.W_OK):
        read_only_skip = "chmod 0o444 does not stop this user from writing (running as root?)"

    urls = {
        "missing_directory": f"sqlite:///{root / 'no' / 'such' / 'dir' / 'store.db'}",
        "directory_as_database": f"sqlite:///{root / 'a_directory.db'}",
        "random_bytes": f"sqlite:///{root / 'noise.db'}",
        "text_file": f"sqlite:///{root / 'text.db'}",
        "unsupported_scheme": "mysql://user@127.0.0.1/marketsession",
        "in_memory_sqlite": "sqlite://",
        "malformed_port": "postgresql://postgres@127.0.0.1:abc/test",
        "port_out_of_range": "postgresql://postgres@127.0.0.1:99999/test",
        "postgres_refused": "postgresql://postgres@127.0.0.1:1/test",  # nothing listens on port 1
        "locked": locked_url,
    }
    if read_only_skip is None:
        urls["read_only"] = read_only_url

    before = dump(root / "locked.db")
    holder = sqlite3.connect(root / "locked.db", timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = {
                (scenario, command): pool.submit(run_bounded, scenario, command, url, bars_file)
                for scenario, url in urls.items()
                for command in commands_of(scenario)
            }
            runs = {key: future.result() for key, future in futures.items()}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    after = dump(root / "locked.db")
    read_only_after = read_only_before if read_only_skip else dump(read_only_path)
    yield World(
        runs, before, after, junk_files, root / "no", read_only_skip, read_only_before, read_only_after
    )
    read_only_path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def outcome(world: World, scenario: str, command: str) -> Result:
    if scenario == "read_only" and world.read_only_skip:
        pytest.skip(world.read_only_skip)
    run = world.runs[(scenario, command)]
    if run.result is None:
        pytest.fail(
            f"`{' '.join(COMMANDS[command])}` on the {scenario} store did not finish within "
            f"{CLI_TIMEOUT:.0f} s: a hang (every wait must be bounded)"
        )
    return run.result


def cases(*, include_locked_summary: bool = False) -> list[object]:
    out: list[object] = []
    for scenario in EXPECTED_CODE:
        for command in commands_of(scenario):
            if (scenario, command) == ("locked", "summary") and not include_locked_summary:
                continue  # WAL readers are not blocked by a writer: the summary works (tested below)
            out.append(pytest.param(scenario, command, id=f"{scenario}-{command}"))
    return out


# -- exit codes and messages -------------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "command"), cases())
def test_unusable_store_exits_with_the_documented_code(world: World, scenario: str, command: str) -> None:
    result = outcome(world, scenario, command)
    expected = EXPECTED_CODE[scenario]
    if expected is None:
        assert result.code in (1, 2), result
    else:
        assert result.code == expected, (result.code, result.err)


@pytest.mark.parametrize(("scenario", "command"), cases())
def test_unusable_store_never_shows_a_traceback_and_claims_nothing(
    world: World, scenario: str, command: str
) -> None:
    result = outcome(world, scenario, command)
    assert result.code != 0, result
    assert "Traceback" not in result.err and "Traceback" not in result.out, result.err
    assert result.err.startswith("error: "), result.err
    assert result.out == "", result.out  # no success line, no partial table


@pytest.mark.parametrize(("scenario", "command"), cases())
def test_unusable_store_error_is_one_readable_line_naming_the_store(
    world: World, scenario: str, command: str
) -> None:
    result = outcome(world, scenario, command)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    line = lines[0]
    assert line.startswith("error: ") and "unexpected" not in line, line
    assert "[SQL:" not in line and "sqlalche.me" not in line, line
    assert world.runs[(scenario, command)].url in line, line


# -- no harm done ------------------------------------------------------------------------------


def test_a_locked_store_is_unchanged_after_refused_writes(world: World) -> None:
    for command in ("seed", "import"):
        outcome(world, "locked", command)  # bounded, failed
    assert world.locked_dump_after == world.locked_dump_before


def test_a_locked_store_can_still_be_read(world: World) -> None:
    """SQLite in WAL mode: a writer's exclusive transaction does not block readers."""
    result = outcome(world, "locked", "summary")
    assert result.code == 0, result.err
    assert "FUZ" in result.out and "1m" in result.out and "Traceback" not in result.err


def test_every_command_on_a_locked_store_returns_within_the_bound(world: World) -> None:
    slow = {c: round(world.runs[("locked", c)].seconds, 1) for c in COMMANDS}
    assert all(s < CLI_TIMEOUT for s in slow.values()), slow


def test_files_that_are_not_databases_are_left_byte_for_byte(world: World) -> None:
    for path, content in world.junk_files.items():
        assert path.read_bytes() == content, path
        assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_missing_directory_is_not_created(world: World) -> None:
    assert not world.missing_dir.exists()


def test_a_read_only_store_is_unchanged(world: World) -> None:
    if world.read_only_skip:
        pytest.skip(world.read_only_skip)
    for command in COMMANDS:
        outcome(world, "read_only", command)  # bounded
    assert world.read_only_dump_after == world.read_only_dump_before
