"""Fixtures of the engine tests: a demo store built once, copied for each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.engine import config_variant, fill_demo_store, sqlite_path

from domain.store import Store, open_store


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with US_EQUITY 2023–2026 and demo bars for everything the example reads."""
    path = tmp_path_factory.mktemp("demo-template") / "demo.db"
    with open_store(f"sqlite:///{path}") as store:
        written = fill_demo_store(store, config_variant())
    assert written["1m"] > 0 and written["1d"] > 0
    return path


@pytest.fixture
def demo_store(sqlite_url: str, demo_template: Path) -> Iterator[Store]:
    """This test's own copy of the demo store."""
    shutil.copyfile(demo_template, sqlite_path(sqlite_url))
    store = open_store(sqlite_url)
    try:
        yield store
    finally:
        store.close()
