"""The README's Python is the code of ``examples/``, and every example runs as written: from a
directory holding the demo store (``var/demo.db``) and the example configs, as after ``make demo``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from support.engine import EXAMPLE, fill_demo_store

from domain.config import SessionConfig
from domain.store import open_store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def _python_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL)]


def test_every_python_block_of_the_readme_is_an_example_file() -> None:
    examples = {path.read_text(encoding="utf-8").strip(): path.name for path in EXAMPLES}
    blocks = _python_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README shows how to embed the engine"
    for block in blocks:
        assert block in examples, f"a README block is not in examples/ as written:\n{block[:300]}"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("examples")
    shutil.copytree(REPO / "session_configs", directory / "session_configs")
    (directory / "var").mkdir()
    with open_store(f"sqlite:///{directory / 'var' / 'demo.db'}") as store:
        fill_demo_store(store, SessionConfig.from_file(EXAMPLE), end_year=date.today().year + 1)
    return directory


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_example_runs_and_completes(example: Path, demo_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=300, cwd=demo_dir, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1].startswith("completed "), done.stdout[-1000:]
