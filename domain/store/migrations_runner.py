"""Schema versioning with Alembic, driven from code (no alembic.ini needed at run time).

Opening a store only reads its version (one query) and compares it with the newest revision of
the migration scripts (read from their ``revision``/``down_revision`` lines): Alembic itself is
imported only to migrate (``marketsession init``, or a new empty store)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).with_name("migrations")
_VERSION_TABLE = "alembic_version"
_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*(?:"([^"]+)"|None)\s*$', re.MULTILINE)


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The newest schema revision this release knows: the one no migration script builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (_MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            if value:
                (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    assert len(heads) == 1, f"the migration scripts have {len(heads)} heads: {sorted(heads)}"
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the store behind ``engine`` (None: no marketsession schema)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(_VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()


def upgrade_store(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema of the store behind ``engine`` to ``revision``."""
    from alembic import command

    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
