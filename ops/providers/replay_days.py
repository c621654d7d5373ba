"""Which bars a replay serves on which day: stored source days played as consecutive trading
days of the target calendar (SPEC §8).

A replay of ``days`` target days starts at a first target day; the i-th trading day from it (in
the calendar as it reads *now*: a closure patched in mid-week is skipped, an early close cuts the
day) is served the i-th source day's bars, the source days taken in order and cycled when there
are fewer of them. A source day's bars are shifted so that its regular open falls on the target
day's, and kept where the target day has hours (from its pre-market open to its post-market
close): on an early close the source's late minutes become post-market ones, as a real feed would
send them. Weekends and holidays of the target calendar have no bars at all.

Days are planned one at a time, as the stream reaches them, and only the day being streamed and
the one before it are held (the gap filler fetches from both), so a replay of weeks holds two
days of bars. A restarted replay given the same first target day plans the same days.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any, Protocol

from domain.bars import Bar
from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import ProviderError
from domain.quotes import Quote
from domain.session.windows import DayHours

__all__ = [
    "FixedReplayDay",
    "ReplayDay",
    "ReplayDays",
    "StoredReplayDays",
    "resolve_faults",
    "stored_source_days",
    "trading_hours",
]


@dataclass(frozen=True, slots=True)
class ReplayDay:
    """One target day of a replay: its bars and quotes (shifted onto it, in (time, symbol)
    order), the faults resolved on it, and the source day they came from."""

    target: date | None
    source: date | None
    bars: Sequence[Bar]
    quotes: Sequence[Quote] = ()
    faults: Any = None
    """The day's :class:`~ops.providers.replay.ReplayFaults` (None: none)."""


class ReplayDays(Protocol):
    """The days a replay serves."""

    def days_from(self, ts: float) -> Iterator[ReplayDay]:
        """The days from the last one begun by ``ts`` (or the first), in order, each planned when
        it is asked for."""
        ...

    def last_day(self) -> date | None:
        """The last day served (in the calendar as it reads now); None: not tied to a calendar."""
        ...


@dataclass(frozen=True, slots=True)
class FixedReplayDay:
    """A replay of bars given as they are (one span of time, however many days it covers)."""

    day: ReplayDay

    def days_from(self, ts: float) -> Iterator[ReplayDay]:
        yield self.day

    def last_day(self) -> date | None:
        return self.day.target


def resolve_faults(faults: Any, make: Callable[..., Any], day: date, zone: tzinfo, seed: int) -> Any:
    """A day's replay faults from the run's :class:`~ops.faults.ProviderFaults` (None: none),
    drawing from a generator seeded with ``seed`` (a day's own: a restart replays the same)."""
    if faults is None:
        return None
    return make(**faults.resolve(day, zone), seed=seed)


@dataclass
class StoredReplayDays:
    """Source days of a store served on ``days`` target days from ``first_target``; see the
    module docstring. ``calendar`` makes a fresh reading of the target calendar (a patch made
    while the replay runs is seen by the next day planned)."""

    store: Any
    symbols: Sequence[str]
    interval: str
    sources: Sequence[date]
    first_target: date
    days: int
    calendar: Callable[[], TradingCalendar]
    faults: Callable[[date], Any] = field(default=lambda _day: None)
    quotes: bool = False

    _last: ReplayDay | None = field(default=None, init=False, repr=False)
    """The day planned last (the provider's start plans its first day, then the stream again)."""

    def targets(self, calendar: TradingCalendar | None = None) -> list[date]:
        """The target days, in ``calendar`` (default: the calendar as it reads now)."""
        calendar = calendar or self.calendar()
        out: list[date] = []
        day = calendar.get_first_trading_date(self.first_target)
        while len(out) < self.days:
            out.append(day)
            day = calendar.get_next_trading_date(day)
        return out

    def last_day(self) -> date | None:
        return self.targets()[-1]

    def days_from(self, ts: float) -> Iterator[ReplayDay]:
        served: date | None = None
        while True:
            calendar = self.calendar()
            targets = self.targets(calendar)
            later = [(i, d) for i, d in enumerate(targets) if served is None or d > served]
            if not later:
                return
            ordinal, target = later[0]
            served = target
            if len(later) > 1 and trading_hours(calendar, later[1][1]).read_start_ts <= ts:
                continue  # a later day had begun when the stream started: nothing of this one is due
            yield self.day(ordinal, target, calendar)

    def day(self, ordinal: int, target: date, calendar: TradingCalendar) -> ReplayDay:
        """The ``ordinal``-th target day (``target``) with its source day's bars."""
        source = self.sources[ordinal % len(self.sources)]
        last = self._last
        if last is not None and (last.target, last.source) == (target, source):
            return last
        source_hours, target_hours = trading_hours(calendar, source), trading_hours(calendar, target)
        shift = target_hours.open_ts - source_hours.open_ts
        low, high = target_hours.read_start_ts, target_hours.read_end_ts
        bars = [
            bar._replace(ts=bar.ts + shift)
            for symbol in self.symbols
            for bar in self.store.bars.read(
                symbol, self.interval, source_hours.read_start_ts, source_hours.read_end_ts
            )
            if low <= bar.ts + shift < high
        ]
        quotes = [
            quote._replace(event_us=quote.event_us + shift * 1_000_000, received_us=None)
            for symbol in (self.symbols if self.quotes else ())
            for quote in self.store.quotes.read(symbol, source_hours.read_start_ts, source_hours.read_end_ts)
            if low <= quote.ts + shift < high
        ]
        bars.sort(key=lambda b: (b.ts, b.symbol))
        quotes.sort(key=lambda q: (q.ts, q.symbol, q.event_us))
        self._last = ReplayDay(target, source, bars, quotes, self.faults(target))
        return self._last


def stored_source_days(
    store: Any, calendar: TradingCalendar, symbols: Sequence[str], interval: str, first: date, count: int
) -> list[date]:
    """Up to ``count`` trading days from ``first`` on that have ``interval`` bars stored for any
    of ``symbols`` (searching at most ``count`` + 30 trading days ahead)."""
    found: list[date] = []
    day = calendar.get_first_trading_date(first)
    for _ in range(count + 30):
        hours = trading_hours(calendar, day)
        latest = store.bars.latest_ts(symbols, interval, before_ts=hours.read_end_ts)
        if latest is not None and latest >= hours.read_start_ts:
            found.append(day)
            if len(found) == count:
                break
        day = calendar.get_next_trading_date(day)
    return found


def trading_hours(calendar: TradingCalendar, day: date) -> DayHours:
    session = calendar.get_trading_session(day)
    if session is None or not session.is_trading_day:
        raise ProviderError(f"replay: {day.isoformat()} is not a trading day of {calendar.exchange_group}")
    return DayHours.from_session(session)
