"""The layering of STYLE.md, checked: ``domain`` is pure, ``ops`` is imported by nobody."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_DOMAIN = {"pykka", "threading", "multiprocessing", "asyncio", "concurrent", "ops", "actors"}
WALL_CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "sleep"),
}


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: str(p.relative_to(REPO)))
def test_domain_imports_no_threads_actors_or_ops(path: Path) -> None:
    bad = _imports(ast.parse(path.read_text())) & FORBIDDEN_IN_DOMAIN
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: str(p.relative_to(REPO)))
def test_domain_never_reads_the_wall_clock(path: Path) -> None:
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in WALL_CLOCK_CALLS
        ):
            calls.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    assert not calls, f"{path.relative_to(REPO)} reads the wall clock: {calls}"


@pytest.mark.parametrize("package", ["domain", "actors"])
def test_nothing_but_tests_imports_ops(package: str) -> None:
    offenders = [
        str(p.relative_to(REPO)) for p in _modules(package) if "ops" in _imports(ast.parse(p.read_text()))
    ]
    assert not offenders


def test_no_sleep_in_actors_or_tests() -> None:
    offenders = []
    for path in [*_modules("actors"), *_modules("tests")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "sleep"
                and isinstance(node.value, ast.Name)
                and node.value.id == "time"
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders
