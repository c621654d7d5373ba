"""How much a live service's store grows per day: bytes per stored bar on SQLite and PostgreSQL.

``python -m ops.bench.store_growth [--symbols 30] [--days 5] [--pg URL]`` writes ``days`` full
regular sessions of ``symbols`` minute bars the way a live session writes them (one small
``insert_missing`` per minute's delivery) into the table a real provider's bars go to (``bars``)
and into the replay's (``replayed``), and prints, per backend and table, the store's growth per
bar and per day (measured after the first day, so the fixed cost of an empty database is not
counted). SQLite: the file's size after a WAL checkpoint; PostgreSQL: the size of every table of
the schema, indexes included.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from domain.calendar.trading_calendar import TradingCalendar
from domain.session.windows import DayHours
from domain.store import open_store
from ops.calendars.seed import seed_group
from ops.soak import complete_session_bars

__all__ = ["measure_growth"]

FIRST_DAY = date(2025, 6, 2)


def measure_growth(
    url: str, size: Callable[[Any], int], *, symbols: int, days: int, table: str = "bars"
) -> dict[str, Any]:
    """Write the days into ``table`` (``bars`` or ``replayed``) of the store at ``url`` and measure
    it with ``size(store)`` after each."""
    names = [f"GROW{i:02d}" for i in range(symbols)]
    with open_store(url) as store:
        seed_group(store.calendar, "US_EQUITY", FIRST_DAY.year, FIRST_DAY.year, datetime.now(UTC))
        calendar = TradingCalendar(store.calendar, "US_EQUITY", "EQUITY")
        day, sizes, bars_per_day = FIRST_DAY, [], 0
        for _ in range(days):
            bars = complete_session_bars(names, DayHours.from_session(calendar.get_trading_session(day)))
            bars.sort(key=lambda b: (b.ts, b.symbol))
            bars_per_day = len(bars)
            for start in range(0, len(bars), symbols):  # one delivery a minute, as the stream sends
                getattr(store, table).insert_missing(
                    bars[start : start + symbols], source="live", received_at=0
                )
            sizes.append(size(store))
            day = calendar.get_next_trading_date(day)
    per_day = (sizes[-1] - sizes[0]) / (days - 1)
    return {
        "symbols": symbols,
        "days": days,
        "bars_per_day": bars_per_day,
        "bytes_per_day": round(per_day),
        "bytes_per_bar": round(per_day / bars_per_day, 1),
    }


def _sqlite_size(path: Path) -> Callable[[Any], int]:
    def size(store: Any) -> int:
        with store.engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))

    return size


def _pg_size(store: Any) -> int:
    with store.engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                )
            ).scalar_one()
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.bench.store_growth", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--symbols", type=int, default=30)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("MARKETSESSION_TEST_PG_URL"), help="a PostgreSQL URL")
    args = parser.parse_args(argv)
    if args.days < 2:
        parser.error("--days must be at least 2 (growth is measured after the first day)")
    out: dict[str, Any] = {"sqlite": {}, "postgresql": {}}
    for table in ("bars", "replayed"):
        with tempfile.TemporaryDirectory(prefix="marketsession-growth-") as directory:
            path = Path(directory) / "growth.db"
            out["sqlite"][table] = measure_growth(
                f"sqlite:///{path}", _sqlite_size(path), symbols=args.symbols, days=args.days, table=table
            )
        if args.pg:  # in a schema of its own, dropped afterwards
            schema = f"growth_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg.replace("postgresql://", "postgresql+psycopg://", 1))
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{args.pg}{'&' if '?' in args.pg else '?'}options=-csearch_path%3D{schema}"
            try:
                out["postgresql"][table] = measure_growth(
                    url, _pg_size, symbols=args.symbols, days=args.days, table=table
                )
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
