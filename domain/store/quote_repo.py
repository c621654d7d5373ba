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
replay provider streamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select

from domain.quotes import Quote, QuoteColumns, sample_per_second
from domain.store.failures import Repository, driver_failure, translated
from domain.store.schema import quotes, upsert

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
        self._read = select(*(table.c[name] for name in _COLUMNS))

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
            insert = upsert(connection, self._table)
            statement = insert.on_conflict_do_update(
                index_elements=["symbol", "ts"],
                set_={name: insert.excluded[name] for name in ("event_us", *_BOOK, "received_us", "source")},
                where=self._table.c.event_us <= insert.excluded.event_us,  # a second keeps its last quote
            )
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

    def _drop_unchanged(self, connection: Connection, rows: list[Quote]) -> list[Quote]:
        """``rows`` (sampled, in symbol and time order) without each symbol's leading row whose
        book equals the row stored just before it."""
        c = self._table.c
        out: list[Quote] = []
        checked: set[str] = set()
        for quote in rows:
            if quote.symbol not in checked:
                checked.add(quote.symbol)
                before = connection.execute(
                    self._read.where(c.symbol == quote.symbol, c.ts < quote.ts).order_by(c.ts.desc()).limit(1)
                ).first()
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
        the order given (empty for a symbol without quotes), in one query."""
        doing = self._reading("the quotes of the day")
        out: list[QuoteColumns] = []
        with translated(doing), self._engine.connect() as connection:
            # rows straight from the driver's cursor (SQLAlchemy's row objects cost more than the
            # read at this volume), one indexed range read per symbol
            dialect = connection.dialect
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            name = self._table.name
            sql, labels_sql = (text.format(mark=mark, table=name) for text in (_READ_NUMBERS, _READ_LABELS))
            raw: Any = connection.connection.driver_connection
            try:
                cursor = raw.cursor(binary=True) if dialect.name == "postgresql" else raw.cursor()
                try:
                    for symbol in symbols:
                        cursor.execute(sql, (symbol, start_ts, end_ts))
                        numbers = cursor.fetchall()
                        cursor.execute(labels_sql, (symbol, start_ts, end_ts))
                        out.append(QuoteColumns.from_rows(symbol, numbers, cursor.fetchall()))
                finally:
                    cursor.close()
            except dialect.loaded_dbapi.Error as exc:  # the driver's own error
                raise driver_failure(exc, dialect, sql, doing) from None
        return out

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
