"""The architecture document names real things: every class it puts in backticks exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _classes() -> set[str]:
    names: set[str] = set()
    for package in ("actors", "domain", "ops"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    names.add(node.name)
    return names


def test_every_class_the_architecture_document_names_exists() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`([A-Z][A-Za-z]+)`", text))
    assert len(named) > 20, "the document names the actors and messages it describes"
    missing = sorted(named - _classes())
    assert not missing, f"docs/architecture.md names classes that do not exist: {missing}"
