"""Tables of the store (SQLAlchemy Core). Changes here need a migration in ``migrations/versions``.

Timestamps of bars are whole seconds since the Unix epoch (UTC) in a BIGINT: compact, exact,
identical on SQLite and PostgreSQL, and cheap to read on the replay path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
)

metadata = MetaData()

market_hours = Table(
    "market_hours",
    metadata,
    Column("exchange_group", String(32), nullable=False),
    Column("asset_class", String(32), nullable=False),
    # hours in force from this date on (the earliest row of a group covers everything before)
    Column("valid_from", Date, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("exchanges", String(255), nullable=False),  # comma-separated, e.g. NYSE,NASDAQ,AMEX,ARCA
    Column("regular_open", Time, nullable=False),
    Column("regular_close", Time, nullable=False),
    Column("pre_market_open", Time),
    Column("pre_market_close", Time),
    Column("post_market_open", Time),
    Column("post_market_close", Time),
    Column("break_start", Time),
    Column("break_end", Time),
    Column("trading_weekdays", String(16), nullable=False),  # Monday=0, comma-separated
    Column("source", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("exchange_group", "asset_class", "valid_from", name="pk_market_hours"),
)

calendar_coverage = Table(
    "calendar_coverage",
    metadata,
    Column("exchange_group", String(32), primary_key=True),
    Column("first_date", Date, nullable=False),
    Column("last_date", Date, nullable=False),
    Column("source", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

trading_holidays = Table(
    "trading_holidays",
    metadata,
    Column("date", Date, nullable=False),
    Column("exchange_group", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("is_closed", Boolean, nullable=False),
    Column("early_close_time", Time),
    Column("late_open_time", Time),
    Column("notes", Text),
    Column("source", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("date", "exchange_group", name="uq_trading_holidays_date_group"),
    PrimaryKeyConstraint("exchange_group", "date", name="pk_trading_holidays"),
)


def _bar_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("symbol", String(32), nullable=False),
        Column("interval", String(8), nullable=False),
        Column("ts", BigInteger, nullable=False),  # interval start, UTC epoch seconds
        Column("open", Float, nullable=False),
        Column("high", Float, nullable=False),
        Column("low", Float, nullable=False),
        Column("close", Float, nullable=False),
        Column("volume", Float, nullable=False),
        # provenance: where the bar came from (import:FILE, demo, a provider's name, NAME:gap_fill)
        # and when it was written, UTC epoch seconds (None: stored before provenance was kept)
        Column("source", String(255), nullable=False, server_default="unknown"),
        Column("received_at", BigInteger),
        PrimaryKeyConstraint("symbol", "interval", "ts", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


bars = _bar_table("bars")
replayed_bars = _bar_table("replayed_bars")
"""What the replay provider streamed as a live feed: kept apart, so replayed bars never mix with
real ones (a session on a real provider never resumes from or counts them)."""

bar_blocks = Table(
    "bar_blocks",
    metadata,
    Column("symbol", String(32), nullable=False),
    Column("interval", String(8), nullable=False),
    Column("utc_day", Integer, nullable=False),  # ts // 86400 of the bars it holds
    # bumped by a trigger on ``bars`` at every insert, update or delete of a bar of the day, which
    # also clears ``data``: a block is never read once its rows have changed
    Column("version", Integer, nullable=False),
    Column("count", Integer),
    Column("data", LargeBinary),  # BarColumns.to_block of the day's bars, or NULL (stale)
    PrimaryKeyConstraint("symbol", "interval", "utc_day", name="pk_bar_blocks"),
    sqlite_with_rowid=False,
)
"""A cache of ``bars`` for the replay's read: per symbol, interval and UTC day the day's bars as
packed columns (see ``docs/decisions.md``). The rows stay the truth; ``data reindex`` rebuilds."""


def _quote_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("symbol", String(32), nullable=False),
        Column("ts", BigInteger, nullable=False),  # the second the row stands for, UTC epoch seconds
        Column("event_us", BigInteger, nullable=False),  # the quote's event time, UTC epoch microseconds
        Column("bid_price", Float),  # NULL: no bid (a one-sided quote)
        Column("bid_size", Float, nullable=False),  # shares
        Column("ask_price", Float),  # NULL: no ask
        Column("ask_size", Float, nullable=False),
        Column("bid_venue", String(16)),
        Column("ask_venue", String(16)),
        Column("conditions", String(64)),
        Column("received_us", BigInteger),
        Column("source", String(255), nullable=False, server_default="unknown"),
        PrimaryKeyConstraint("symbol", "ts", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


quotes = _quote_table("quotes")
"""Top-of-book quotes, one row per symbol and second (:func:`domain.quotes.sample_per_second`)."""
quote_blocks = Table(
    "quote_blocks",
    metadata,
    Column("symbol", String(32), nullable=False),
    Column("utc_day", Integer, nullable=False),  # ts // 86400 of the rows it holds
    Column("version", Integer, nullable=False),  # bumped (and data cleared) by a trigger on ``quotes``
    Column("count", Integer),
    Column("data", LargeBinary),  # QuoteColumns.to_block of the day's rows, or NULL (stale)
    PrimaryKeyConstraint("symbol", "utc_day", name="pk_quote_blocks"),
    sqlite_with_rowid=False,
)
"""A cache of ``quotes`` for the replay's read, as ``bar_blocks`` is of ``bars``."""
replayed_quotes = _quote_table("replayed_quotes")
"""The replay provider's quotes as a live session received them, apart from real ones (as
``replayed_bars``)."""


def upsert(connection: Connection, table: Table) -> Any:
    """An INSERT into ``table`` that takes ``on_conflict_do_…`` clauses, in the connection's dialect
    (SQLite or PostgreSQL; the dialect's module is imported when a store of it first writes)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
