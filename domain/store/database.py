"""Opening a store: URL resolution, engine set-up (SQLite pragmas), and the :class:`Store` handle.

Driver errors while opening are translated here (``_guarded``); once open, the repositories
translate their own (``domain/store/failures.py``, whose :func:`store_failure` is re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from domain.errors import StoreError
from domain.store.bar_repo import BarRepository
from domain.store.calendar_repo import CalendarRepository
from domain.store.failures import store_failure
from domain.store.migrations_runner import current_revision, head_revision, upgrade_store
from domain.store.quote_repo import QuoteRepository
from domain.store.schema import replayed_bars, replayed_quotes

T = TypeVar("T")

DEFAULT_DB_URL = "sqlite:///marketsession.db"
DB_ENV_VAR = "MARKETSESSION_DB"


def resolve_db_url(cli_value: str | None, environ: Mapping[str, str]) -> str:
    """The database URL: ``--db`` first, then ``MARKETSESSION_DB``, then the embedded SQLite file.

    A bare file path (``/tmp/x.db``) is accepted as shorthand for ``sqlite:///<path>``.
    """
    raw = cli_value or environ.get(DB_ENV_VAR) or DEFAULT_DB_URL
    if "://" not in raw:
        if ":" in raw and not Path(raw).exists():  # a mistyped URL, not a new file to create
            raise StoreError(
                f"invalid database URL {raw!r}: use sqlite:///PATH, postgresql://HOST/DB or a file path"
            )
        raw = f"sqlite:///{raw}"
    return raw


def display_url(url: str) -> str:
    """``url`` with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from None
    if port is not None and not 1 <= port <= 65535:
        raise StoreError(f"invalid database URL {url!r}: port {port} is not between 1 and 65535")
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://HOST/DB")
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise StoreError(f"database URL {url!r}: an in-memory SQLite store is not supported, name a file")
        path = Path(database).expanduser().resolve()
        if not path.parent.is_dir():
            raise StoreError(f"database URL {url!r}: directory {path.parent} does not exist")
        if path.is_dir():
            raise StoreError(f"database URL {url!r}: {path} is a directory, not a database file")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    _sqlite_read_pragmas(cursor)


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    _sqlite_read_pragmas(cursor)


def _sqlite_read_pragmas(cursor: Any) -> None:
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # 16 MiB of page cache (SQLite's default is 2 MiB): a replay day's block read walks a few
    # hundred pages twice (the versions, then the BLOBs), which then come from here, not the OS
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.close()


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for ``url`` with the pragmas and pool settings the engine relies on.

    ``read_only``: every connection refuses writes — a SQLite file opened with ``mode=ro`` and
    ``query_only``, a PostgreSQL session with ``default_transaction_read_only`` — so a reader (a
    shard of a sharded run) cannot change the store, whatever it runs."""
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if read_only:  # an existing file only: mode=ro never creates one
            path = Path(parsed.database or "").expanduser().resolve()
            if not path.is_file():
                raise StoreError(f"store {display_url(url)}: {path} does not exist (opened read-only)")
            parsed = parsed.set(database=f"file:{path}?mode=ro", query={"uri": "true"})
        engine = create_engine(parsed, connect_args={"timeout": 5.0})
        event.listen(engine, "connect", _sqlite_read_only if read_only else _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if read_only:  # beside any options the URL sets (a search_path, say)
        given = parsed.query.get("options")
        parsed = parsed.difference_update_query(["options"])
        own = "-c default_transaction_read_only=on"
        connect_args["options"] = f"{given} {own}" if isinstance(given, str) else own
    try:
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except ImportError:
        raise StoreError(
            f"database URL {display_url(url)!r} needs the PostgreSQL driver: "
            "pip install 'marketsession[postgres]'"
        ) from None


class Store:
    """An open store: the engine plus its repositories. Thread-safe; close with :meth:`close`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.display_url = display_url(url)
        self.calendar = CalendarRepository(engine, self.display_url)
        self.bars = BarRepository(engine, self.display_url)
        self.replayed = BarRepository(engine, self.display_url, replayed_bars)
        """What the replay provider streamed (never read by a session on a real provider)."""
        self.quotes = QuoteRepository(engine, self.display_url)
        self.replayed_quotes = QuoteRepository(engine, self.display_url, replayed_quotes)
        """The replay provider's quotes as a live session received them."""

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _guarded(url: str, work: Callable[[Engine, str], T], *, read_only: bool = False) -> T:
    """Run ``work(engine, shown_url)`` mapping driver errors to store errors; dispose on failure."""
    engine = make_engine(url, read_only=read_only)
    shown = display_url(url)
    try:
        return work(engine, shown)
    except OperationalError as exc:
        engine.dispose()
        raise store_failure(exc, f"cannot reach store {shown}") from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise store_failure(exc, f"cannot open store {shown}") from None
    except BaseException:
        engine.dispose()
        raise


def _require_ours(engine: Engine, shown: str) -> None:
    tables = set(inspect(engine).get_table_names())
    if tables:
        raise StoreError(
            f"database {shown} holds tables ({', '.join(sorted(tables)[:5])}) but no marketsession "
            "schema version; refusing to touch it"
        )


def init_store(url: str) -> tuple[str | None, str]:
    """Create the store at ``url`` or upgrade it to the latest schema; return (before, after)."""

    def work(engine: Engine, shown: str) -> tuple[str | None, str]:
        before = current_revision(engine)
        if before is None:
            _require_ours(engine, shown)
        if before != head_revision():
            upgrade_store(engine)
        engine.dispose()
        return before, head_revision()

    return _guarded(url, work)


def open_store(url: str, *, create: bool = True, read_only: bool = False) -> Store:
    """Open the store at ``url``; a new (empty) database is created at the latest schema.

    ``read_only``: an existing store, opened so that nothing can be written through it (see
    :func:`make_engine`); a SQLite file that does not exist is an error, not created.

    An existing store at an older schema version is refused with a message telling to run
    ``marketsession init`` (upgrades are explicit). Raises :class:`StoreError` for a bad URL
    or a database that is not ours, :class:`StoreUnavailable` when the server cannot be reached.
    """

    def work(engine: Engine, shown: str) -> Store:
        revision = current_revision(engine)
        if revision is None:
            _require_ours(engine, shown)
            if not create or read_only:
                raise StoreError(f"store {shown} is not initialised: run `marketsession init`")
            upgrade_store(engine)
        elif revision != head_revision():
            raise StoreError(
                f"store {shown} is at schema {revision}, this release needs {head_revision()}: "
                "run `marketsession init` to upgrade it"
            )
        return Store(engine, url)

    return _guarded(url, work, read_only=read_only)
