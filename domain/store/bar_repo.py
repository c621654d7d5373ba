"""Bar repository: idempotent bulk upserts and tuple-based range reads.

Rows are plain tuples ``(symbol, interval, ts, open, high, low, close, volume)`` (see
:class:`domain.bars.Bar`) with ``ts`` the interval start in UTC epoch seconds. Writes are one
transaction per call, so a failed write leaves nothing half-written. Each write says where its
bars came from (``source``: ``import:FILE``, ``demo``, a provider's name, ``NAME:gap_fill``)
and when they were received (``received_at``, UTC epoch seconds): an upsert replaces both with
the values, an insert of missing bars keeps what was stored. The store has two repositories on
tables of the same shape: ``Store.bars`` (the data) and ``Store.replayed`` (what the replay
provider streamed, kept apart so that it never mixes with real data).

Every method owns its connection and transaction and raises the driver's errors as
:class:`~domain.errors.StoreUnavailable` (an outage) or :class:`~domain.errors.StoreError`
(``domain/store/failures.py``), naming what it was doing and the store: callers never see a
``SQLAlchemyError``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    delete,
    func,
    select,
    tuple_,
)

from domain.bars import Bar
from domain.columns import BarColumns
from domain.intervals import DAY_SECONDS
from domain.store.failures import Repository, driver_failure, translated
from domain.store.schema import bar_blocks, bars, upsert

_BATCH = 10_000
_VALUES = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class BarSeriesSummary:
    symbol: str
    interval: str
    count: int
    first_ts: int
    last_ts: int


@dataclass(frozen=True, slots=True)
class BarSourceSummary:
    """The bars of one series from one source."""

    symbol: str
    interval: str
    source: str
    count: int
    first_ts: int
    last_ts: int
    received_at: int | None
    """When the newest of them was written (None: before provenance was kept)."""


class BarRepository(Repository):
    """The bars of one table of the store (``bars`` unless said)."""

    def __init__(self, engine: Engine, shown: str, table: Table = bars) -> None:
        super().__init__(engine, shown)
        self._table = table
        self._blocks = table is bars  # the data's rows have column blocks; replayed ones do not
        self._recent: dict[tuple[str, str, int], tuple[int, BarColumns]] = {}
        """The blocks of the last block read, by (symbol, interval, UTC day): (version, columns).
        A session day's read reaches into the next UTC day, which the next day's read reads
        again: it is taken from here while its version is unchanged."""
        self._recent_range: tuple[str, int, int] = ("", 0, -1)
        """(interval, first UTC day, last UTC day) of the last block read."""
        where = (
            table.c.symbol == bindparam("symbol"),
            table.c.interval == bindparam("interval"),
            table.c.ts >= bindparam("start_ts"),
            table.c.ts < bindparam("end_ts"),
        )
        self._read = select(*(table.c[name] for name in Bar._fields)).where(*where).order_by(table.c.ts)
        self._read_ts = select(table.c.ts).where(*where)
        self._read_values_sql = (
            f"SELECT ts, open, high, low, close, volume FROM {table.name} "
            "WHERE symbol = {mark} AND interval = {mark} AND ts >= {mark} AND ts < {mark} ORDER BY ts"
        )

    def upsert(
        self,
        rows: Iterable[Sequence[object]],
        *,
        what: str = "bars",
        source: str = "unknown",
        received_at: int | None = None,
    ) -> int:
        """Insert bars, replacing the values of any bar already stored under the same key.

        Idempotent: writing the same bars again changes nothing. Returns the rows written. One
        transaction; ``what`` names the rows in the error if it fails (``the bars of FILE``).
        """
        with translated(self._writing(what)), self._engine.begin() as connection:
            return self._write(rows, connection, True, source, received_at)

    def insert_missing(
        self,
        rows: Iterable[Sequence[object]],
        *,
        what: str = "bars",
        source: str = "unknown",
        received_at: int | None = None,
    ) -> int:
        """Insert only the bars whose key is not stored yet; stored bars are never changed.

        Returns how many were new: the rows the insert wrote (``RETURNING``), no extra read."""
        with translated(self._writing(what)), self._engine.begin() as connection:
            return self._write(rows, connection, False, source, received_at)

    def upsert_counting_new(
        self,
        rows: Sequence[Sequence[object]],
        *,
        what: str = "bars",
        source: str = "unknown",
        received_at: int | None = None,
    ) -> int:
        """:meth:`upsert`, returning how many of the rows' keys were not stored before: counted in
        the same transaction as the write, so the count is the write's."""
        with translated(self._writing(what)), self._engine.begin() as connection:
            new = self._count_new(connection, rows)
            self._write(rows, connection, True, source, received_at)
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
                self._read_ts, {"symbol": symbol, "interval": interval, "start_ts": first, "end_ts": last + 1}
            ).scalars()
        }
        return len({(row[0], row[1], row[2]) for row in rows} - stored)

    def _write(
        self,
        rows: Iterable[Sequence[object]],
        connection: Connection,
        replace: bool,
        source: str,
        received_at: int | None,
    ) -> int:
        table = self._table
        insert = upsert(connection, table)
        statement: Executable
        if replace:
            statement = insert.on_conflict_do_update(
                index_elements=["symbol", "interval", "ts"],
                set_={name: insert.excluded[name] for name in (*_VALUES, "source", "received_at")},
            )
        else:  # the rows inserted come back: a key already stored is not among them
            statement = insert.on_conflict_do_nothing(index_elements=["symbol", "interval", "ts"]).returning(
                table.c.ts
            )
        keys = Bar._fields
        provenance = {"source": source, "received_at": received_at}
        written = 0
        iterator = iter(rows)
        while batch := list(islice(iterator, _BATCH)):
            values = [dict(zip(keys, row, strict=True)) | provenance for row in batch]
            result = connection.execute(statement, values)
            written += len(batch) if replace else len(result.all())
        return written

    def count(self, symbol: str | None = None, interval: str | None = None) -> int:
        table = self._table
        query = select(func.count()).select_from(table)
        if symbol is not None:
            query = query.where(table.c.symbol == symbol)
        if interval is not None:
            query = query.where(table.c.interval == interval)
        with translated(self._reading("the bar count")), self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def read(self, symbol: str, interval: str, start_ts: int, end_ts: int) -> list[Bar]:
        """Bars of one series with ``start_ts <= ts < end_ts``, in time order."""
        with (
            translated(self._reading(f"the bars of {symbol} {interval}")),
            self._engine.connect() as connection,
        ):
            bounds = {"symbol": symbol, "interval": interval, "start_ts": start_ts, "end_ts": end_ts}
            rows = connection.execute(self._read, bounds).all()
        return list(map(Bar._make, rows))

    def read_columns(
        self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int
    ) -> list[BarColumns]:
        """Bars of several symbols with ``start_ts <= ts < end_ts`` as read-only columns, one
        per symbol in the order given (empty columns for a symbol without bars).

        The hot read of a replay: a symbol whose days all have current column blocks is read
        from them (one query for all symbols, no Python object per bar); the others with one
        indexed range read per symbol, rows taken straight from the driver's cursor as tuples
        (SQLAlchemy's row objects cost more than the read itself at this volume; on PostgreSQL
        in the binary protocol).
        """
        doing = self._reading(f"the {interval} bars of {', '.join(symbols)}")
        with translated(doing), self._engine.connect() as connection:
            from_blocks = self._from_blocks(connection, symbols, interval, start_ts, end_ts)
            return self._from_rows(connection, symbols, interval, start_ts, end_ts, from_blocks, doing)

    def _from_blocks(
        self, connection: Connection, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int
    ) -> dict[str, BarColumns]:
        """The columns of the symbols whose every stored day in the range has a current block."""
        if not self._blocks or not symbols or end_ts <= start_ts:
            return {}
        c = bar_blocks.c
        first_day, last_day = start_ts // DAY_SECONDS, (end_ts - 1) // DAY_SECONDS
        where: list[ColumnElement[bool]] = [
            c.symbol.in_(list(symbols)),
            c.interval == interval,
            c.utc_day.between(first_day, last_day),
        ]
        read = select(c.symbol, c.utc_day, c.version, c.count, c.data)
        recent = self._recent
        last = self._recent_range
        blocks: dict[tuple[str, str, int], tuple[int, BarColumns]] = {}
        index: list[tuple[str, int, int]] = []  # (symbol, UTC day, version) of every block row
        reusing = bool(recent) and last[0] == interval and last[1] <= last_day and first_day <= last[2]
        if reusing:
            # the last read overlaps this one: see which blocks there are and their versions (the
            # BLOBs untouched), and read only those not read last time
            rows = connection.execute(
                select(c.symbol, c.utc_day, c.version, c.count.is_(None))  # a stale block has neither
                .where(*where)
                .order_by(c.symbol, c.utc_day)
            ).all()
            index = [(symbol, day, version) for symbol, day, version, _ in rows]
            missing = [
                (symbol, day)
                for symbol, day, version, empty in rows
                if not empty and recent.get((symbol, interval, day), (None,))[0] != version
            ]
            if len(missing) < len(rows):
                where.append(tuple_(c.symbol, c.utc_day).in_(missing))
            found = connection.execute(read.where(*where)) if missing else ()
        else:
            found = connection.execute(read.where(*where).order_by(c.symbol, c.utc_day))
        for symbol, day, version, count, data in found:
            if not reusing:
                index.append((symbol, day, version))
            if data is None or len(data) != 48 * count:
                continue  # stale (or not a block): the rows decide
            blocks[(symbol, interval, day)] = (version, BarColumns.from_block(symbol, interval, count, data))
        parts: dict[str, list[BarColumns]] = {symbol: [] for symbol in symbols}
        stale: set[str] = set()
        for symbol, utc_day, version in index:
            key = (symbol, interval, utc_day)
            block = blocks.get(key) or recent.get(key)
            if block is None or block[0] != version:
                stale.add(symbol)
                continue
            blocks[key] = block
            day = block[1]
            inside = not len(day) or (day.ts[0] >= start_ts and day.ts[len(day) - 1] < end_ts)
            part = day if inside else day.window(bisect_left(day.ts, start_ts), bisect_left(day.ts, end_ts))
            if len(part):
                parts[symbol].append(part)
        self._recent, self._recent_range = blocks, (interval, first_day, last_day)
        # a symbol without any block row in the range has no bars stored there
        return {
            symbol: BarColumns.concat(symbol, interval, days)
            if days
            else BarColumns.from_rows(symbol, interval, ())
            for symbol, days in parts.items()
            if symbol not in stale
        }

    def _from_rows(
        self,
        connection: Connection,
        symbols: Sequence[str],
        interval: str,
        start_ts: int,
        end_ts: int,
        done: dict[str, BarColumns],
        doing: str,
    ) -> list[BarColumns]:
        """The columns of ``symbols`` in order: those in ``done``, the others read as rows."""
        out: list[BarColumns] = []
        if all(symbol in done for symbol in symbols):
            return [done[symbol] for symbol in symbols]
        dialect = connection.dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = self._read_values_sql.format(mark=mark)
        raw: Any = connection.connection.driver_connection
        driver_error: type[Exception] = dialect.loaded_dbapi.Error
        try:
            # psycopg: the binary protocol parses numbers about twice as fast as text
            cursor = raw.cursor(binary=True) if dialect.name == "postgresql" else raw.cursor()
            try:
                for symbol in symbols:
                    if symbol in done:
                        out.append(done[symbol])
                        continue
                    cursor.execute(sql, (symbol, interval, start_ts, end_ts))
                    out.append(BarColumns.from_rows(symbol, interval, cursor.fetchall()))
            finally:
                cursor.close()
        except driver_error as exc:  # the driver's own error: no SQLAlchemy between us and it
            raise driver_failure(exc, dialect, sql, doing) from None
        return out

    def reindex(self, symbols: Sequence[str] | None = None, interval: str | None = None) -> int:
        """Build the stale column blocks (of ``symbols`` at ``interval``, all by default) from
        their rows; return how many days were rebuilt. A block is written only if its day's version is
        still the one its rows were read with (a write in between leaves it stale): one
        statement reads each series' stale versions with their rows, one transaction writes."""
        if not self._blocks:
            return 0
        b = bar_blocks.c
        stale = select(b.symbol, b.interval).where(b.data.is_(None)).distinct()
        if symbols is not None:
            stale = stale.where(b.symbol.in_(list(symbols)))
        if interval is not None:
            stale = stale.where(b.interval == interval)
        built = 0
        with translated(self._writing("the column blocks of the bars")):
            with self._engine.connect() as connection:
                series = connection.execute(stale.order_by(b.symbol, b.interval)).all()
            for symbol, series_interval in series:
                built += self._rebuild(symbol, series_interval)
        return built

    def _rebuild(self, symbol: str, interval: str) -> int:
        b, r = bar_blocks.c, self._table.c
        day_start = b.utc_day * DAY_SECONDS
        rows_of_day = (r.symbol == b.symbol) & (r.interval == b.interval) & (r.ts >= day_start)
        query = (
            select(b.utc_day, b.version, r.ts, r.open, r.high, r.low, r.close, r.volume)
            .select_from(bar_blocks.outerjoin(self._table, rows_of_day & (r.ts < day_start + DAY_SECONDS)))
            .where(b.symbol == symbol, b.interval == interval, b.data.is_(None))
            .order_by(b.utc_day, r.ts)
        )
        days: dict[int, tuple[int, list[Sequence[Any]]]] = {}
        with self._engine.connect() as connection:  # one statement: one snapshot of versions and rows
            for day, version, *values in connection.execute(query):
                rows = days.setdefault(day, (version, []))[1]
                if values[0] is not None:
                    rows.append(values)
        updates = []
        for day, (version, rows) in days.items():
            cols = BarColumns.from_rows(symbol, interval, rows)
            updates.append({"d": day, "v": version, "n": len(cols), "data": cols.to_block()})
        cas = (
            bar_blocks.update()
            .where(
                b.symbol == symbol,
                b.interval == interval,
                b.utc_day == bindparam("d"),
                b.version == bindparam("v"),
            )
            .values(count=bindparam("n"), data=bindparam("data"))
        )
        if updates:
            with self._engine.begin() as connection:
                connection.execute(cas, updates)
        return len(updates)

    def check_blocks(self) -> list[str]:
        """Every disagreement between the current column blocks and the rows, one line each: a
        block whose bars differ from its day's rows, or a day of rows without a block. Empty
        when the blocks are a faithful cache (the triggers keep them so)."""
        if not self._blocks:
            return []
        b, r = bar_blocks.c, self._table.c
        problems: list[str] = []
        day = r.ts // DAY_SECONDS
        with translated(self._reading("the column blocks of the bars")), self._engine.connect() as connection:
            blocks = {
                (symbol, interval, utc_day): (count, data)
                for symbol, interval, utc_day, count, data in connection.execute(
                    select(b.symbol, b.interval, b.utc_day, b.count, b.data)
                )
            }
            days = connection.execute(select(r.symbol, r.interval, day).distinct()).all()
            for symbol, interval, utc_day in days:
                if (symbol, interval, int(utc_day)) not in blocks:
                    problems.append(f"{symbol} {interval} UTC day {int(utc_day)}: bars without a block")
            for (symbol, interval, utc_day), (count, data) in blocks.items():
                if data is None:
                    continue
                cached = BarColumns.from_block(symbol, interval, count, data)
                start = utc_day * DAY_SECONDS
                rows = connection.execute(
                    self._read,
                    {
                        "symbol": symbol,
                        "interval": interval,
                        "start_ts": start,
                        "end_ts": start + DAY_SECONDS,
                    },
                ).all()
                stored = BarColumns.from_rows(symbol, interval, [row[2:] for row in rows])
                if cached.columns() != stored.columns():
                    problems.append(
                        f"{symbol} {interval} UTC day {utc_day}: the block holds {count} bars that differ "
                        f"from the {len(stored)} rows"
                    )
        return problems

    def latest_ts(self, symbols: Sequence[str], interval: str, *, before_ts: int) -> int | None:
        """The newest ``ts`` below ``before_ts`` among the bars of ``symbols`` at ``interval``."""
        table = self._table
        query = select(func.max(table.c.ts)).where(
            table.c.symbol.in_(list(symbols)), table.c.interval == interval, table.c.ts < before_ts
        )
        with translated(self._reading(f"the latest {interval} bar")), self._engine.connect() as connection:
            value = connection.execute(query).scalar_one()
        return None if value is None else int(value)

    def summary(self) -> list[BarSeriesSummary]:
        table = self._table
        query = (
            select(table.c.symbol, table.c.interval, func.count(), func.min(table.c.ts), func.max(table.c.ts))
            .group_by(table.c.symbol, table.c.interval)
            .order_by(table.c.symbol, table.c.interval)
        )
        with translated(self._reading("the bar summary")), self._engine.connect() as connection:
            return [BarSeriesSummary(*row) for row in connection.execute(query)]

    def sources(self) -> list[BarSourceSummary]:
        """Per series and source: how many bars, their range and when the newest was written."""
        c = self._table.c
        query = (
            select(
                c.symbol,
                c.interval,
                c.source,
                func.count(),
                func.min(c.ts),
                func.max(c.ts),
                func.max(c.received_at),
            )
            .group_by(c.symbol, c.interval, c.source)
            .order_by(c.symbol, c.interval, c.source)
        )
        with translated(self._reading("the bar sources")), self._engine.connect() as connection:
            return [BarSourceSummary(*row) for row in connection.execute(query)]

    def delete_from(self, symbols: Sequence[str], interval: str, start_ts: int) -> int:
        """Delete the bars of ``symbols`` at ``interval`` stamped at or after ``start_ts``; return
        how many (one transaction)."""
        c = self._table.c
        statement = delete(self._table).where(
            c.symbol.in_(list(symbols)), c.interval == interval, c.ts >= start_ts
        )
        with (
            translated(self._writing(f"the {interval} bars of {', '.join(symbols)}")),
            self._engine.begin() as connection,
        ):
            return int(connection.execute(statement).rowcount)
