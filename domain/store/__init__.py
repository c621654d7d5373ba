"""Persistence: SQLAlchemy 2.x Core tables and repositories that return domain values.

The same code runs on SQLite (the embedded default, WAL mode) and PostgreSQL. Schema changes
are Alembic migrations (``domain/store/migrations``); :func:`upgrade_store` applies them.
"""

from domain.store.database import DEFAULT_DB_URL, Store, init_store, open_store, resolve_db_url
from domain.store.migrations_runner import current_revision, head_revision, upgrade_store

__all__ = [
    "DEFAULT_DB_URL",
    "Store",
    "current_revision",
    "head_revision",
    "init_store",
    "open_store",
    "resolve_db_url",
    "upgrade_store",
]
