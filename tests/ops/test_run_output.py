"""The run summary as a user reads it in a terminal (a real pseudo-terminal of the size given):
whole values at 80 columns, one table when the width allows, and text printed as it is (square
brackets are not markup)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios

import pytest
from support.cli import executable
from support.engine import EXAMPLE, fill_demo_store
from support.stores import REPO

from domain.config import SessionConfig
from domain.store import open_store
from ops.run_output import summary_console

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('summary') / 'demo.db'}"
    with open_store(url) as store:
        fill_demo_store(store, SessionConfig.from_file(EXAMPLE))
    return url


def _in_a_terminal(columns: int, *args: str) -> str:
    """The command's output as a terminal ``columns`` wide shows it (colour codes removed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "MARKETSESSION_DB")}
    process = subprocess.Popen(
        [executable(), *args], stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env
    )
    os.close(slave)
    chunks = []
    try:
        while chunk := os.read(master, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the terminal's other side closed
        pass
    finally:
        os.close(master)
    assert process.wait(timeout=120) == 0
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def _summary(url: str, columns: int) -> str:
    out = _in_a_terminal(columns, "--db", url, "run", str(EXAMPLE), "--speed", "0", "--no-progress")
    return out[out.index("Example Trading Session — completed") :]


def test_at_80_columns_nothing_is_cut_and_the_indicators_get_their_own_table(demo_url: str) -> None:
    out = _summary(demo_url, 80)
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    assert "…" not in out
    for text in (
        "2025-07-02",
        "2025-07-03*",
        "symbol",
        "RIVN",
        "15m %",
        "avg volume intraday",
        "low 52w",
        "coverage",
    ):
        assert text in out, text
    assert any(line.startswith("indicators") for line in out.splitlines())


def test_a_wide_terminal_gets_one_table(demo_url: str) -> None:
    out = _summary(demo_url, 160)
    assert "…" not in out
    assert not any(line.startswith("indicators") for line in out.splitlines())
    header = next(line for line in out.splitlines() if "symbol" in line)
    assert "gaps" in header and "avg volume intraday" in header


def test_square_brackets_are_printed_as_they_are() -> None:
    console = summary_console()
    with console.capture() as captured:
        console.print("peers: not installed (pip install -e '.[bench]')")
    assert captured.get() == "peers: not installed (pip install -e '.[bench]')\n"
