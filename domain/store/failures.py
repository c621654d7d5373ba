"""Driver errors become the store's errors here, and only here.

The repositories (``bar_repo.py``, ``calendar_repo.py``) run every statement and own every
transaction inside :func:`translated`, and opening a store (``database.py``) does the same, so
no ``SQLAlchemyError`` — nor a driver's own error from a raw cursor — leaves ``domain/store``:
callers catch :class:`~domain.errors.StoreUnavailable` (an outage: unreachable, locked, read
only … worth retrying) or :class:`~domain.errors.StoreError` (anything else), each one readable
line saying what was being done, on which store, and the driver's first line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from domain.errors import StoreError, StoreUnavailable

__all__ = ["Repository", "driver_failure", "store_failure", "translated"]


class Repository:
    """Base of the store's repositories: ``shown`` names the store in error messages (password
    hidden)."""

    def __init__(self, engine: Engine, shown: str) -> None:
        self._engine = engine
        self._shown = shown

    def _reading(self, what: str) -> str:
        return f"cannot read {what} from {self._shown}"

    def _writing(self, what: str) -> str:
        return f"cannot write {what} to {self._shown}"


def store_failure(exc: SQLAlchemyError, doing: str) -> StoreError:
    """One line for a driver error: an outage (unreachable, locked, …) is
    :class:`StoreUnavailable` (exit 1), anything else :class:`StoreError` (exit 2)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if isinstance(exc, OperationalError):
        return StoreUnavailable(f"{doing}: {first}")
    return StoreError(f"{doing}: {first}")


def driver_failure(exc: Exception, dialect: Dialect, statement: str, doing: str) -> StoreError:
    """:func:`store_failure` for an error a DB-API cursor raised itself (no SQLAlchemy in between):
    wrapped first as SQLAlchemy would have, so ``sqlite3.OperationalError`` is an outage too."""
    wrapped = DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect)
    return store_failure(wrapped, doing)


@contextmanager
def translated(doing: str) -> Iterator[None]:
    """Run the block, raising any ``SQLAlchemyError`` of it as :func:`store_failure` says
    (``doing``: what the block does, on which store)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise store_failure(exc, doing) from None
