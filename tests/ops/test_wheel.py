"""The package as a user installs it: a wheel built from this checkout, installed in a fresh
virtual environment, run from an empty directory — no checkout on the path. Its top-level names
are exactly the documented four, the example configs come with it, and the README's commands
run there."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.stores import REPO

pytestmark = pytest.mark.slow

BUILD_LEFTOVERS = (
    ".git",
    ".venv",
    "build",
    "dist",
    "var",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    prefix: Path
    empty: Path

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("MARKETSESSION_DB", "PYTHONPATH")}
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout,
            cwd=self.empty, env=env, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: building in the checkout would leave build/ behind
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(root), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = root.glob("marketsession-*.whl")
    prefix = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True, timeout=120)
    # the dependencies come from the test's own environment (a path entry, not its .pth files,
    # so the checkout's editable install stays out); the package itself from the wheel
    (site_dir,) = prefix.glob("lib/python*/site-packages")
    (site_dir / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run(
        [str(prefix / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    empty = root / "empty"
    empty.mkdir()
    return Installed(wheel, prefix / "bin", prefix, empty)


def test_the_wheel_installs_exactly_the_documented_top_level_names(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        tops = {name.split("/")[0] for name in wheel.namelist()}
        names = set(wheel.namelist())
    packages = {top for top in tops if not top.endswith((".dist-info", ".data"))}
    assert packages == {"marketsession", "actors", "domain", "ops"}
    assert {"marketsession/py.typed", "domain/py.typed", "actors/py.typed", "ops/py.typed"} <= names


def test_the_installed_package_is_the_one_imported(installed: Installed) -> None:
    done = installed.run(
        "python", "-c", "import marketsession, domain; print(marketsession.__file__, domain.__file__)"
    )
    assert done.returncode == 0, done.stderr
    assert str(REPO) not in done.stdout and str(installed.prefix) in done.stdout


def test_demo_runs_in_an_empty_directory(installed: Installed) -> None:
    done = installed.run("marketsession", "demo", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Example Trading Session — completed" in done.stdout
    assert (installed.empty / "marketsession.db").is_file()  # the default store, in the working directory


def test_the_readme_commands_run_from_the_installed_package(installed: Installed) -> None:
    config = installed.prefix / "share" / "marketsession" / "session_configs" / "example_session.json"
    db = ["--db", "sqlite:///commands.db"]
    commands = [
        ("marketsession", "--version"),
        ("python", "-m", "marketsession", "--help"),
        ("marketsession", *db, "init"),
        ("marketsession", *db, "validate", str(config)),
        ("marketsession", *db, "calendar", "seed", "--start-year", "2023", "--end-year", "2026"),
        ("marketsession", *db, "calendar", "session", "2025-07-03", "--json"),
        ("marketsession", *db, "calendar", "next", "2025-07-03"),
        (
            "marketsession",
            *db,
            "data",
            "demo",
            "--symbols",
            "AAPL,RIVN",
            "--start",
            "2025-06-16",
            "--end",
            "2025-07-07",
        ),
        ("marketsession", *db, "data", "summary"),
        ("marketsession", *db, "run", str(config), "--speed", "0", "--no-progress", "--report", "run.json"),
    ]
    for command in commands:
        done = installed.run(*command)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, " ".join(command)
    assert json.loads((installed.empty / "run.json").read_text())["status"] == "completed"
