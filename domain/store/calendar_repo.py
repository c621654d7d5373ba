"""Calendar repository: market hours, coverage and exceptions (holidays, early closes, late opens).

Implements :class:`domain.calendar.model.CalendarSource` on top of the store. Writes take ``now`` from
the caller (the domain never reads the wall clock) and are one transaction each. Driver errors
are raised as :class:`~domain.errors.StoreUnavailable` / :class:`~domain.errors.StoreError`
(``domain/store/failures.py``), naming the group and the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, and_, delete, select

from domain.calendar.model import CalendarException, Coverage, MarketHours
from domain.errors import CalendarError
from domain.store.failures import Repository, translated
from domain.store.schema import calendar_coverage, market_hours, trading_holidays, upsert


class CalendarRepository(Repository):
    """The trading calendars of one store."""

    # ------------------------------------------------------------ reading
    def load_market_hours(self, exchange_group: str, asset_class: str) -> list[MarketHours]:
        query = (
            select(market_hours)
            .where(market_hours.c.exchange_group == exchange_group, market_hours.c.asset_class == asset_class)
            .order_by(market_hours.c.valid_from)
        )
        doing = self._reading(f"the market hours of {exchange_group}")
        with translated(doing), self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            MarketHours(
                **{
                    **_fields_of(MarketHours, row),
                    "exchanges": tuple(x for x in row["exchanges"].split(",") if x),
                    "trading_weekdays": frozenset(int(x) for x in row["trading_weekdays"].split(",") if x),
                }
            )
            for row in rows
        ]

    def load_coverage(self, exchange_group: str) -> Coverage | None:
        query = select(calendar_coverage).where(calendar_coverage.c.exchange_group == exchange_group)
        doing = self._reading(f"the calendar coverage of {exchange_group}")
        with translated(doing), self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            return None
        return Coverage(row["exchange_group"], row["first_date"], row["last_date"], row["source"])

    def load_exceptions(self, exchange_group: str, first: date, last: date) -> list[CalendarException]:
        query = (
            select(trading_holidays)
            .where(
                trading_holidays.c.exchange_group == exchange_group,
                trading_holidays.c.date >= first,
                trading_holidays.c.date <= last,
            )
            .order_by(trading_holidays.c.date)
        )
        doing = self._reading(f"the calendar exceptions of {exchange_group}")
        with translated(doing), self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [_exception(row) for row in rows]

    def groups(self) -> list[Coverage]:
        with translated(self._reading("the calendar groups")), self._engine.connect() as connection:
            rows = connection.execute(select(calendar_coverage).order_by(calendar_coverage.c.exchange_group))
            return [Coverage(r.exchange_group, r.first_date, r.last_date, r.source) for r in rows]

    # ------------------------------------------------------------ writing
    def save_seed(
        self,
        hours: Sequence[MarketHours],
        coverage: Coverage,
        exceptions: Sequence[CalendarException],
        now: datetime,
    ) -> None:
        """Store a seeded group in one transaction: its hours replace the old ones, its coverage
        and exceptions are written; exceptions from other sources (imports, manual patches)
        inside the range are kept — a seed never overwrites what an operator decided."""
        group = coverage.exchange_group
        with translated(self._writing(f"the calendar of {group}")), self._engine.begin() as connection:
            for asset_class in {h.asset_class for h in hours}:
                connection.execute(
                    delete(market_hours).where(
                        market_hours.c.exchange_group == group, market_hours.c.asset_class == asset_class
                    )
                )
            connection.execute(market_hours.insert(), [_hours_row(h, now) for h in hours])
            connection.execute(delete(calendar_coverage).where(calendar_coverage.c.exchange_group == group))
            connection.execute(
                calendar_coverage.insert(),
                [
                    {
                        "exchange_group": group,
                        "first_date": coverage.first_date,
                        "last_date": coverage.last_date,
                        "source": coverage.source,
                        "updated_at": now,
                    }
                ],
            )
            seeded_sources = {e.source for e in exceptions}
            connection.execute(
                delete(trading_holidays).where(
                    and_(
                        trading_holidays.c.exchange_group == group,
                        trading_holidays.c.date >= coverage.first_date,
                        trading_holidays.c.date <= coverage.last_date,
                        trading_holidays.c.source.in_(seeded_sources or {""}),
                    )
                )
            )
            kept = {
                row.date
                for row in connection.execute(
                    select(trading_holidays.c.date).where(trading_holidays.c.exchange_group == group)
                )
            }
            fresh = [_exception_row(e, now) for e in exceptions if e.date not in kept]
            if fresh:
                connection.execute(trading_holidays.insert(), fresh)

    def upsert_exceptions(self, exceptions: Iterable[CalendarException], now: datetime) -> int:
        """Insert or replace exceptions (same date and group), all in one transaction; refused
        (:class:`CalendarError`, nothing written) when one's hours cannot hold on its day."""
        exceptions = list(exceptions)
        self._check_hours(exceptions)
        rows = [_exception_row(e, now) for e in exceptions]
        if not rows:
            return 0
        groups = ", ".join(sorted({str(row["exchange_group"]) for row in rows}))
        with (
            translated(self._writing(f"the calendar exceptions of {groups}")),
            self._engine.begin() as connection,
        ):
            insert = upsert(connection, trading_holidays)
            keys = ("exchange_group", "date")
            updated = {name: insert.excluded[name] for name in rows[0] if name not in keys}
            connection.execute(insert.on_conflict_do_update(index_elements=list(keys), set_=updated), rows)
        return len(rows)

    def _check_hours(self, exceptions: list[CalendarException]) -> None:
        versions: dict[str, list[MarketHours]] = {}
        for exception in exceptions:
            group = exception.exchange_group
            if group not in versions:
                query = select(market_hours.c.asset_class).where(market_hours.c.exchange_group == group)
                with translated(self._reading(f"the market hours of {group}")), self._engine.connect() as c:
                    classes = sorted(set(c.execute(query).scalars()))
                versions[group] = [h for a in classes for h in self.load_market_hours(group, a)]
            in_force: dict[str, MarketHours] = {}
            for hours in versions[group]:  # ordered by valid_from: the last one not after the day
                if hours.valid_from <= exception.date:
                    in_force[hours.asset_class] = hours
            for hours in in_force.values():
                problem = hours.exception_problem(exception)
                if problem is not None:
                    raise CalendarError(f"{group} {exception.date}: {problem}")

    def remove_exception(self, exchange_group: str, day: date) -> bool:
        doing = self._writing(f"the calendar of {exchange_group} (removing {day.isoformat()})")
        with translated(doing), self._engine.begin() as connection:
            result = connection.execute(
                delete(trading_holidays).where(
                    trading_holidays.c.exchange_group == exchange_group, trading_holidays.c.date == day
                )
            )
        return bool(result.rowcount)


def _fields_of(kind: type[MarketHours | CalendarException], row: RowMapping) -> dict[str, Any]:
    """The row's value of each field of ``kind`` (the columns are named as the fields)."""
    return {f.name: row[f.name] for f in fields(kind)}


def _exception(row: RowMapping) -> CalendarException:
    return CalendarException(**{**_fields_of(CalendarException, row), "is_closed": bool(row["is_closed"])})


def _exception_row(exception: CalendarException, now: datetime) -> dict[str, object]:
    return {**asdict(exception), "updated_at": now}


def _hours_row(hours: MarketHours, now: datetime) -> dict[str, object]:
    return {
        **asdict(hours),
        "exchanges": ",".join(hours.exchanges),
        "trading_weekdays": ",".join(str(d) for d in sorted(hours.trading_weekdays)),
        "source": "seed",
        "updated_at": now,
    }
