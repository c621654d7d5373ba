"""HistoricalLoader: trailing historical data, indicators and the prefetch queue (SPEC §5, §6).

The actor owns the store reads of a run. :class:`~domain.messages.commands.OpenDay` (ask) is
answered with a :class:`~domain.messages.commands.DayOpened`: the day's trailing history (built
by :func:`domain.history.series.load_historical`) and its stored base bars, taken from the
**prefetch queue** or read on the spot. After answering, the loader reads the base bars of the
days to prefetch, while the coordinator streams the day. A day is read once: a day already
queued or already opened is never read again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, TypeVar

import structlog

from actors.supervisor import EngineActor
from domain.columns import BarColumns
from domain.config import SessionConfig
from domain.errors import StoreUnavailable
from domain.history.series import ColumnReader, HistoricalCalendar, HistoricalData, load_historical
from domain.messages.commands import DayBars, DayOpened, OpenDay
from domain.quotes import QuoteColumns, QuoteReader
from domain.session.windows import DayHours

__all__ = ["STORE_RETRIES", "HistoricalLoader"]

STORE_RETRIES = 3
"""How many times a store read that failed for an outage is tried again."""

T = TypeVar("T")
log = structlog.get_logger("marketsession.loader")


@dataclass(frozen=True, slots=True)
class _Prefetch:
    """The loader's note to itself: read these days' base bars ahead of time."""

    days: tuple[date, ...]


class HistoricalLoader(EngineActor):
    actor_name = "historical_loader"

    def __init__(
        self,
        config: SessionConfig,
        reader: ColumnReader,
        calendar: HistoricalCalendar,
        day_reader: ColumnReader | None = None,
        quote_reader: QuoteReader | None = None,
    ) -> None:
        """``reader`` serves the history; ``day_reader`` (by default the same) the session day's
        own bars; ``quote_reader`` (a session streaming quotes) the day's quotes: a backtest's to
        replay, a live session's received before a restart."""
        super().__init__()
        self._config = config
        self._reader = reader
        self._day_reader = day_reader or reader
        self._quote_reader = quote_reader if config.wants_quotes else None
        self._calendar = calendar
        base = config.base_interval
        self._base = None if base is None else str(base)
        self._queue: dict[date, DayBars] = {}
        self._taken: set[date] = set()

    def on_receive(self, message: Any) -> Any:
        match message:
            case OpenDay(day=day, prefetch=prefetch):
                historical = self._retrying(lambda: self.load(day))
                self._taken.add(day)
                queued = self._queue.pop(day, None)
                bars = queued if queued is not None else self._retrying(lambda: self._read_day(day))
                ahead = tuple(d for d in prefetch if d not in self._queue and d not in self._taken)
                if ahead:
                    self.actor_ref.tell(_Prefetch(ahead))  # read once the answer is out
                return DayOpened(historical, bars)
            case _Prefetch(days=days):
                for d in days:
                    if d not in self._queue and d not in self._taken:
                        self._queue[d] = self._retrying(partial(self._read_day, d))
                return None
            case _:
                raise TypeError(f"HistoricalLoader does not handle {type(message).__name__}")

    def _retrying(self, read: Callable[[], T]) -> T:
        """``read()``, again after a store outage: at most :data:`STORE_RETRIES` more times, with
        a growing pause (0.1 s, 0.2 s, 0.4 s); then the outage is the caller's error."""
        for attempt in range(STORE_RETRIES + 1):
            try:
                return read()
            except StoreUnavailable as error:
                if attempt == STORE_RETRIES:
                    raise
                log.warning("store_read_retried", attempt=attempt + 1, error=str(error))
                threading.Event().wait(0.1 * 2**attempt)  # a bounded pause before retrying
        raise AssertionError("unreachable")

    def load(self, day: date) -> HistoricalData:
        return load_historical(self._config, day, self._calendar, self._reader)

    def _read_day(self, day: date) -> DayBars:
        hours = DayHours.from_session(self._calendar.get_trading_session(day))  # type: ignore[arg-type]  # a loaded day is a trading day
        columns: list[BarColumns] = []
        if self._base is not None:
            columns = self._day_reader.read_columns(
                self._config.symbols, self._base, hours.read_start_ts, hours.read_end_ts
            )
        quotes: tuple[QuoteColumns, ...] = ()
        if self._quote_reader is not None:
            quotes = tuple(
                self._quote_reader.read_columns(self._config.symbols, hours.read_start_ts, hours.read_end_ts)
            )
        return DayBars(day, self._base or "", hours, tuple(columns), quotes)
