"""Quote repository: the store's top-of-book quotes, one row per symbol and second.

A write samples what it is given by the store's rule (:func:`domain.quotes.sample_per_second`),
also against the row stored just before each symbol's first second (so a book that did not
change across two writes keeps no second row), and upserts the rows in one transaction: writing
the same quotes again changes nothing. Each write says where its quotes came from (``source``,
as for bars: ``import:FILE``, ``demo``, a provider's name) and when they were received
(``received_us`` of a quote, else the write's ``received_at``). A second already stored keeps
its row against a quote of that second with an earlier event time (one that arrived late).
Errors are raised as :class:`~domain.errors.StoreUnavailable` / :class:`~domain.errors.StoreError`,
as everywhere in the store. ``Store.replayed_quotes`` is the same over the table of what the
replay provider streamed. The day's rows are cached per symbol and UTC day as column blocks
(``quote_blocks``, stale-proof by triggers, built by :meth:`QuoteRepository.reindex`), which a
replay reads instead of the rows, as for bars.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, delete, func, select

from domain.intervals import DAY_SECONDS
from domain.quotes import Quote, QuoteColumns, sample_per_second
from domain.store.failures import Repository, driver_failure, translated
from domain.store.schema import quote_blocks, quotes, upsert

__all__ = ["QuoteRepository", "QuoteSeriesSummary"]

_BATCH = 10_000
_BOOK = ("bid_price", "bid_size", "ask_price", "ask_size", "bid_venue", "ask_venue", "conditions")
_COLUMNS = ("symbol", "event_us", *_BOOK, "received_us")  # the order of Quote's fields
_WHERE = " FROM {table} WHERE symbol = {mark} AND ts >= {mark} AND ts < {mark} ORDER BY ts"
_READ_NUMBERS = (
    "SELECT ts, event_us, COALESCE(bid_price, -1.0), bid_size, COALESCE(ask_price, -1.0), ask_size" + _WHERE
)  # a missing side as -1: prices are positive
_READ_LABELS = "SELECT bid_venue, ask_venue, conditions, received_us" + _WHERE


@dataclass(frozen=True, slots=True)
class QuoteSeriesSummary:
    symbol: str
    count: int
    first_ts: int
    last_ts: int


class QuoteRepository(Repository):
    """The quotes of the store; see the module docstring."""

    def __init__(self, engine: Engine, shown: str, table: Table = quotes) -> None:
        super().__init__(engine, shown)
        self._table = table
        self._blocks = table is quotes  # the data's rows have column blocks; replayed ones do not
        self._read = select(*(table.c[name] for name in _COLUMNS))
        # a write's statements, built once (a write is the hot path of a live session with quotes)
        self._before = (
            self._read.where(table.c.symbol == bindparam("symbol"), table.c.ts < bindparam("ts"))
            .order_by(table.c.ts.desc())
            .limit(1)
        )
        self._upsert_statement: Any = None  # built at the first write (the engine's dialect)

    def write(
        self,
        given: Iterable[Quote],
        *,
        source: str = "unknown",
        received_at: int | None = None,
        what: str = "quotes",
    ) -> int:
        """Sample ``given`` and upsert the rows in one transaction; the number of sampled rows (a row
        for a stored second with a later quote is among them, though it changes nothing)."""
        rows = list(sample_per_second(given))
        if not rows:
            return 0
        with translated(self._writing(what)), self._engine.begin() as connection:
            rows = self._drop_unchanged(connection, rows)
            statement = self._upsert(connection)
            fallback_us = None if received_at is None else received_at * 1_000_000
            iterator = iter(rows)
            while batch := list(islice(iterator, _BATCH)):
                values = [
                    dict(zip(_COLUMNS, quote, strict=True))
                    | {"ts": quote.ts, "source": source, "received_us": quote.received_us or fallback_us}
                    for quote in batch
                ]
                connection.execute(statement, values)
        return len(rows)

    def _upsert(self, connection: Connection) -> Any:
        if self._upsert_statement is None:
            insert = upsert(connection, self._table)
            self._upsert_statement = insert.on_conflict_do_update(
                index_elements=["symbol", "ts"],
                set_={name: insert.excluded[name] for name in ("event_us", *_BOOK, "received_us", "source")},
                where=self._table.c.event_us <= insert.excluded.event_us,  # a second keeps its last quote
            )
        return self._upsert_statement

    def _drop_unchanged(self, connection: Connection, rows: list[Quote]) -> list[Quote]:
        """``rows`` (sampled, in symbol and time order) without each symbol's leading row whose
        book equals the row stored just before it."""
        out: list[Quote] = []
        checked: set[str] = set()
        for quote in rows:
            if quote.symbol not in checked:
                checked.add(quote.symbol)
                before = connection.execute(self._before, {"symbol": quote.symbol, "ts": quote.ts}).first()
                if before is not None and Quote(*before).book() == quote.book():
                    continue
            out.append(quote)
        return out

    def read(self, symbol: str, start_ts: int, end_ts: int) -> list[Quote]:
        """The rows of ``symbol`` for the seconds ``start_ts <= ts < end_ts``, in time order."""
        c = self._table.c
        query = self._read.where(c.symbol == symbol, c.ts >= start_ts, c.ts < end_ts).order_by(c.ts)
        with translated(self._reading(f"the quotes of {symbol}")), self._engine.connect() as connection:
            return [Quote(*row) for row in connection.execute(query)]

    def read_columns(self, symbols: Sequence[str], start_ts: int, end_ts: int) -> list[QuoteColumns]:
        """The rows of several symbols for ``start_ts <= ts < end_ts`` as columns, one per symbol in
        the order given (empty for a symbol without quotes). The hot read of a replay: a symbol
        whose days all have current column blocks is read from them, the others from their rows."""
        doing = self._reading("the quotes of the day")
        with translated(doing), self._engine.connect() as connection:
            found = self._from_blocks(connection, symbols, start_ts, end_ts)
            rest = [symbol for symbol in symbols if symbol not in found]
            if rest:
                found.update(self._from_rows(connection, rest, start_ts, end_ts, doing))
        return [found[symbol] for symbol in symbols]

    def _from_blocks(
        self, connection: Connection, symbols: Sequence[str], start_ts: int, end_ts: int
    ) -> dict[str, QuoteColumns]:
        """The columns of the symbols whose every stored day in the range has a current block (a
        symbol without a block row there has no rows there: the triggers keep one per day)."""
        if not self._blocks or not symbols or end_ts <= start_ts:
            return {}
        b = quote_blocks.c
        query = (
            select(b.symbol, b.utc_day, b.count, b.data)
            .where(
                b.symbol.in_(list(symbols)),
                b.utc_day >= start_ts // DAY_SECONDS,
                b.utc_day <= (end_ts - 1) // DAY_SECONDS,
            )
            .order_by(b.symbol, b.utc_day)
        )
        days: dict[str, list[tuple[int | None, bytes | None]]] = {symbol: [] for symbol in symbols}
        for symbol, _day, count, data in connection.execute(query):
            days[symbol].append((count, data))
        out: dict[str, QuoteColumns] = {}
        for symbol, blocks in days.items():
            if any(data is None or count is None for count, data in blocks):
                continue  # a stale day: the rows decide
            parts = []
            for count, data in blocks:
                assert count is not None and data is not None
                cols = QuoteColumns.from_block(symbol, count, data)
                start, stop = bisect_left(cols.ts, start_ts), bisect_left(cols.ts, end_ts)
                parts.append(cols if (start, stop) == (0, len(cols)) else cols.window(start, stop))
            out[symbol] = (
                QuoteColumns.concat(symbol, parts) if parts else QuoteColumns.from_rows(symbol, [], [])
            )
        return out

    def _from_rows(
        self, connection: Connection, symbols: Sequence[str], start_ts: int, end_ts: int, doing: str
    ) -> dict[str, QuoteColumns]:
        # rows straight from the driver's cursor (SQLAlchemy's row objects cost more than the read
        # at this volume), one indexed range read per symbol
        dialect = connection.dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        name = self._table.name
        sql, labels_sql = (text.format(mark=mark, table=name) for text in (_READ_NUMBERS, _READ_LABELS))
        raw: Any = connection.connection.driver_connection
        out: dict[str, QuoteColumns] = {}
        try:
            cursor = raw.cursor(binary=True) if dialect.name == "postgresql" else raw.cursor()
            try:
                for symbol in symbols:
                    cursor.execute(sql, (symbol, start_ts, end_ts))
                    numbers = cursor.fetchall()
                    cursor.execute(labels_sql, (symbol, start_ts, end_ts))
                    out[symbol] = QuoteColumns.from_rows(symbol, numbers, cursor.fetchall())
            finally:
                cursor.close()
        except dialect.loaded_dbapi.Error as exc:  # the driver's own error
            raise driver_failure(exc, dialect, sql, doing) from None
        return out

    def reindex(self, symbols: Sequence[str] | None = None) -> int:
        """Build the stale column blocks (of ``symbols``, all by default) from their rows; how many
        days were built. A block is written only if its day's version is still the one read
        before its rows (a write in between leaves it stale)."""
        if not self._blocks:
            return 0
        b = quote_blocks.c
        stale = select(b.symbol, b.utc_day, b.version).where(b.data.is_(None))
        if symbols is not None:
            stale = stale.where(b.symbol.in_(list(symbols)))
        cas = (
            quote_blocks.update()
            .where(b.symbol == bindparam("s"), b.utc_day == bindparam("d"), b.version == bindparam("v"))
            .values(count=bindparam("n"), data=bindparam("data"))
        )
        built = 0
        with translated(self._writing("the column blocks of the quotes")):
            with self._engine.connect() as connection:
                days = connection.execute(stale.order_by(b.symbol, b.utc_day)).all()
            for symbol, day, version in days:
                rows = self.read(symbol, day * DAY_SECONDS, (day + 1) * DAY_SECONDS)
                cols = QuoteColumns.from_quotes(symbol, rows)
                with self._engine.begin() as connection:
                    changed = connection.execute(
                        cas, {"s": symbol, "d": day, "v": version, "n": len(cols), "data": cols.to_block()}
                    ).rowcount
                built += int(changed)
        return built

    def check_blocks(self) -> list[str]:
        """Every current block whose rows differ from its day's rows, one line each (empty when the
        blocks are a faithful cache, as the triggers keep them)."""
        if not self._blocks:
            return []
        b = quote_blocks.c
        with (
            translated(self._reading("the column blocks of the quotes")),
            self._engine.connect() as connection,
        ):
            blocks = connection.execute(
                select(b.symbol, b.utc_day, b.count, b.data).where(b.data.is_not(None))
            ).all()
        problems = []
        for symbol, day, count, data in blocks:
            rows = self.read(symbol, day * DAY_SECONDS, (day + 1) * DAY_SECONDS)
            if QuoteColumns.from_block(symbol, count, data).quotes() != rows:
                problems.append(
                    f"{symbol} quotes UTC day {day}: the block's {count} rows differ from the day's "
                    f"{len(rows)}"
                )
        return problems

    def delete_from(self, symbols: Sequence[str], start_ts: int) -> int:
        """Delete the rows of ``symbols`` for the seconds from ``start_ts`` on; how many."""
        c = self._table.c
        statement = delete(self._table).where(c.symbol.in_(list(symbols)), c.ts >= start_ts)
        with (
            translated(self._writing(f"the quotes of {', '.join(symbols)}")),
            self._engine.begin() as connection,
        ):
            return int(connection.execute(statement).rowcount)

    def count(self, symbol: str | None = None) -> int:
        query = select(func.count()).select_from(self._table)
        if symbol is not None:
            query = query.where(self._table.c.symbol == symbol)
        with translated(self._reading("the quote count")), self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def summary(self) -> list[QuoteSeriesSummary]:
        """Per symbol: how many rows, the first and the last second."""
        c = self._table.c
        query = (
            select(c.symbol, func.count(), func.min(c.ts), func.max(c.ts))
            .group_by(c.symbol)
            .order_by(c.symbol)
        )
        with translated(self._reading("the quote summary")), self._engine.connect() as connection:
            return [QuoteSeriesSummary(*row) for row in connection.execute(query)]
