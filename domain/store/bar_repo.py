"""Bar repository: idempotent bulk upserts and tuple-based range reads.

Rows are plain tuples ``(symbol, interval, ts, open, high, low, close, volume)`` (see
:class:`domain.bars.Bar`) with ``ts`` the interval start in UTC epoch seconds. Writes are one
transaction per call, so a failed write leaves nothing half-written.

Every method owns its connection and transaction and raises the driver's errors as
:class:`~domain.errors.StoreUnavailable` (an outage) or :class:`~domain.errors.StoreError`
(``domain/store/failures.py``), naming what it was doing and the store: callers never see a
``SQLAlchemyError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Executable, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from domain.bars import Bar
from domain.columns import BarColumns
from domain.store.failures import Repository, driver_failure, translated
from domain.store.schema import bars

_BATCH = 10_000
_VALUES = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class BarSeriesSummary:
    symbol: str
    interval: str
    count: int
    first_ts: int
    last_ts: int


_WHERE = (
    bars.c.symbol == bindparam("symbol"),
    bars.c.interval == bindparam("interval"),
    bars.c.ts >= bindparam("start_ts"),
    bars.c.ts < bindparam("end_ts"),
)
_READ = select(bars).where(*_WHERE).order_by(bars.c.ts)
_READ_TS = select(bars.c.ts).where(*_WHERE)
_READ_VALUES_SQL = (
    f"SELECT ts, open, high, low, close, volume FROM {bars.name} "
    "WHERE symbol = {mark} AND interval = {mark} AND ts >= {mark} AND ts < {mark} ORDER BY ts"
)


class BarRepository(Repository):
    """The bars of one store."""

    def upsert(self, rows: Iterable[Sequence[object]], *, what: str = "bars") -> int:
        """Insert bars, replacing the values of any bar already stored under the same key.

        Idempotent: writing the same bars again changes nothing. Returns the rows written. One
        transaction; ``what`` names the rows in the error if it fails (``the bars of FILE``).
        """
        with translated(self._writing(what)), self._engine.begin() as connection:
            return self._write(rows, connection, replace=True)

    def insert_missing(self, rows: Iterable[Sequence[object]], *, what: str = "bars") -> int:
        """Insert only the bars whose key is not stored yet; stored bars are never changed.

        Returns how many were new: the rows the insert wrote (``RETURNING``), no extra read."""
        with translated(self._writing(what)), self._engine.begin() as connection:
            return self._write(rows, connection, replace=False)

    def upsert_counting_new(self, rows: Sequence[Sequence[object]], *, what: str = "bars") -> int:
        """:meth:`upsert`, returning how many of the rows' keys were not stored before: counted in
        the same transaction as the write, so the count is the write's."""
        with translated(self._writing(what)), self._engine.begin() as connection:
            new = self._count_new(connection, rows)
            self._write(rows, connection, replace=True)
        return new

    def _count_new(self, connection: Connection, rows: Sequence[Sequence[object]]) -> int:
        spans: dict[tuple[Any, Any], tuple[Any, Any]] = {}
        for symbol, interval, ts, *_ in rows:
            first, last = spans.get((symbol, interval), (ts, ts))
            spans[(symbol, interval)] = (min(first, ts), max(last, ts))
        stored = {
            (symbol, interval, ts)
            for (symbol, interval), (first, last) in spans.items()
            for ts in connection.execute(
                _READ_TS, {"symbol": symbol, "interval": interval, "start_ts": first, "end_ts": last + 1}
            ).scalars()
        }
        return len({(row[0], row[1], row[2]) for row in rows} - stored)

    def _write(self, rows: Iterable[Sequence[object]], connection: Connection, replace: bool) -> int:
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(bars)
        statement: Executable
        if replace:
            statement = insert.on_conflict_do_update(
                index_elements=["symbol", "interval", "ts"],
                set_={name: insert.excluded[name] for name in _VALUES},
            )
        else:  # the rows inserted come back: a key already stored is not among them
            statement = insert.on_conflict_do_nothing(index_elements=["symbol", "interval", "ts"]).returning(
                bars.c.ts
            )
        keys = Bar._fields
        written = 0
        iterator = iter(rows)
        while batch := list(islice(iterator, _BATCH)):
            result = connection.execute(statement, [dict(zip(keys, row, strict=True)) for row in batch])
            written += len(batch) if replace else len(result.all())
        return written

    def count(self, symbol: str | None = None, interval: str | None = None) -> int:
        query = select(func.count()).select_from(bars)
        if symbol is not None:
            query = query.where(bars.c.symbol == symbol)
        if interval is not None:
            query = query.where(bars.c.interval == interval)
        with translated(self._reading("the bar count")), self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def read(self, symbol: str, interval: str, start_ts: int, end_ts: int) -> list[Bar]:
        """Bars of one series with ``start_ts <= ts < end_ts``, in time order."""
        with (
            translated(self._reading(f"the bars of {symbol} {interval}")),
            self._engine.connect() as connection,
        ):
            bounds = {"symbol": symbol, "interval": interval, "start_ts": start_ts, "end_ts": end_ts}
            rows = connection.execute(_READ, bounds).all()
        return list(map(Bar._make, rows))

    def read_columns(
        self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int
    ) -> list[BarColumns]:
        """Bars of several symbols with ``start_ts <= ts < end_ts`` as read-only columns, one
        per symbol in the order given (empty columns for a symbol without bars).

        The hot read of a replay: one connection, one indexed range read per symbol, rows taken
        straight from the driver's cursor as tuples (SQLAlchemy's row objects cost more than the
        read itself at this volume; on PostgreSQL in the binary protocol).
        """
        out: list[BarColumns] = []
        doing = self._reading(f"the {interval} bars of {', '.join(symbols)}")
        with translated(doing), self._engine.connect() as connection:
            dialect = connection.dialect
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            sql = _READ_VALUES_SQL.format(mark=mark)
            raw: Any = connection.connection.driver_connection
            driver_error: type[Exception] = dialect.loaded_dbapi.Error
            try:
                # psycopg: the binary protocol parses numbers about twice as fast as text
                cursor = raw.cursor(binary=True) if dialect.name == "postgresql" else raw.cursor()
                try:
                    for symbol in symbols:
                        cursor.execute(sql, (symbol, interval, start_ts, end_ts))
                        out.append(BarColumns.from_rows(symbol, interval, cursor.fetchall()))
                finally:
                    cursor.close()
            except driver_error as exc:  # the driver's own error: no SQLAlchemy between us and it
                raise driver_failure(exc, dialect, sql, doing) from None
        return out

    def latest_ts(self, symbols: Sequence[str], interval: str, *, before_ts: int) -> int | None:
        """The newest ``ts`` below ``before_ts`` among the bars of ``symbols`` at ``interval``."""
        query = select(func.max(bars.c.ts)).where(
            bars.c.symbol.in_(list(symbols)), bars.c.interval == interval, bars.c.ts < before_ts
        )
        with translated(self._reading(f"the latest {interval} bar")), self._engine.connect() as connection:
            value = connection.execute(query).scalar_one()
        return None if value is None else int(value)

    def summary(self) -> list[BarSeriesSummary]:
        query = (
            select(bars.c.symbol, bars.c.interval, func.count(), func.min(bars.c.ts), func.max(bars.c.ts))
            .group_by(bars.c.symbol, bars.c.interval)
            .order_by(bars.c.symbol, bars.c.interval)
        )
        with translated(self._reading("the bar summary")), self._engine.connect() as connection:
            return [BarSeriesSummary(*row) for row in connection.execute(query)]
