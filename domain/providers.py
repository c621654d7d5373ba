"""Market-data providers (SPEC §8): what the engine needs of one, whatever the network behind it.

A provider does three things:

- ``fetch_bars(symbols, interval, start_ts, end_ts)``: the bars of ``[start_ts, end_ts)`` it has
  (history, and what the gap filler asks for again), sorted by symbol and time; and
  ``fetch_quotes(symbols, start_ts, end_ts)``: its top-of-book quotes of those seconds (every
  update it has: the caller samples them), sizes in shares;
- ``start_stream(symbols, sink, quotes=...)``: deliver bars as they complete — and the quotes of
  the ``quotes`` symbols as they arrive — on the provider's own thread(s), to a
  :class:`StreamSink`, reconnecting by itself after a disconnect (and when asked:
  ``reconnect(reason)``, for a stream that went mute); and ``stop_stream(timeout)``;
- tell its :class:`ConnectionState` (``state``), and its clock (``clock``): the wall clock for a
  real provider, a shifted and possibly faster clock for the replay provider. The live session
  runs on the provider's clock, so a replay at 600× is a whole session in 39 seconds
  (:class:`ScaledClock`; with :class:`QuietHours` it runs faster still while the market is shut,
  so a week of sessions takes minutes). A provider may also say ``last_day()``: the last trading
  day it serves (a replay's); a live run that keeps running ends after it.

Failures are :class:`~domain.errors.ProviderError` subtypes (in ``domain/errors.py`` with every
other error), so callers decide by type: an auth failure is not retried, a rate limit says when
to come back, an unavailable provider is retried with backoff, a protocol error means the
provider answered something that is not what it promised.

Adapters live in ``ops/providers/`` (network and files are side effects); this module is pure.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as time_of_day
from enum import StrEnum
from typing import ClassVar, Protocol

from domain.bars import Bar
from domain.clock import Clock, _require_aware
from domain.quotes import Quote

__all__ = [
    "Backoff",
    "ConnectionState",
    "MarketDataProvider",
    "QuietHours",
    "ScaledClock",
    "StreamSink",
    "weekday_hours",
]


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    """Gave up: a non-retryable error (auth, subscription). ``detail`` says why."""
    CLOSED = "closed"


class StreamSink(Protocol):
    """Where a provider's stream delivers; called on the provider's thread, must not block."""

    def bars(self, bars: Sequence[Bar], *, updated: bool = False) -> None:
        """Completed bars; ``updated`` bars replace a bar already delivered (same ts)."""

    def state(self, state: ConnectionState, detail: str | None = None) -> None:
        """The connection changed state."""

    def quotes(self, quotes: Sequence[Quote]) -> None:
        """Top-of-book quotes as they arrived (any order; a quote may come late or twice)."""

    def outage(self, start_ts: int, end_ts: int) -> None:
        """The stream was down over ``[start_ts, end_ts)``: bars of it may be missing."""


class MarketDataProvider(Protocol):
    name: str

    @property
    def state(self) -> ConnectionState: ...

    def clock(self) -> Clock: ...

    def fetch_bars(self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int) -> list[Bar]:
        """Bars of ``[start_ts, end_ts)``; raises :class:`~domain.errors.ProviderError` subtypes."""
        ...

    def fetch_quotes(self, symbols: Sequence[str], start_ts: int, end_ts: int) -> list[Quote]:
        """Quotes of the seconds ``[start_ts, end_ts)``; raises what ``fetch_bars`` raises."""
        ...

    def start_stream(self, symbols: Sequence[str], sink: StreamSink, quotes: Sequence[str] = ()) -> None: ...

    def reconnect(self, reason: str) -> None:
        """Drop the stream's connection and connect again, without waiting (the feed watchdog
        found it mute); the usual reconnect path follows (states, ``outage``)."""
        ...

    def stop_stream(self, timeout: float) -> None: ...


ActiveSpan = Callable[[date], "tuple[float, float] | None"]
"""A day's active span (UTC epoch seconds, start and end), or None for a day with none."""


def weekday_hours(
    zone: tzinfo, start: time_of_day = time_of_day(9), end: time_of_day = time_of_day(17)
) -> ActiveSpan:
    """Weekdays from ``start`` to ``end`` in ``zone``: an active span that needs no calendar."""

    def span(day: date) -> tuple[float, float] | None:
        if day.weekday() >= 5:
            return None
        return datetime.combine(day, start, zone).timestamp(), datetime.combine(day, end, zone).timestamp()

    return span


@dataclass(frozen=True, slots=True)
class QuietHours:
    """When a replay's clock runs ``factor`` times faster still: outside each day's active span
    (a trading day's session and a margin round it, say), so a week of sessions replays without
    waiting out its nights, weekends and holidays. ``zone`` names the days."""

    factor: float
    active: ActiveSpan
    zone: tzinfo

    SEARCH_DAYS: ClassVar[int] = 40
    """How far ahead a change is looked for (a span after that many quiet days is not found)."""

    def __post_init__(self) -> None:
        if not self.factor >= 1:
            raise ValueError(f"quiet hours run faster, not slower: factor {self.factor} < 1")

    def _spans(self, ts: float, days: range) -> Iterator[tuple[float, float]]:
        day = datetime.fromtimestamp(ts, self.zone).date()
        for offset in days:
            span = self.active(day + timedelta(days=offset))
            if span is not None:
                yield span

    def quiet(self, ts: float) -> bool:
        return not any(start <= ts < end for start, end in self._spans(ts, range(-1, 2)))

    def next_change(self, ts: float) -> float:
        """The first instant after ``ts`` at which :meth:`quiet` changes (or, after
        :attr:`SEARCH_DAYS` quiet days, that far ahead)."""
        active_until: float | None = None  # the end of the active run ``ts`` is in
        for start, end in self._spans(ts, range(-1, self.SEARCH_DAYS)):  # in day order
            if active_until is None:
                if start <= ts < end:
                    active_until = end
                elif start > ts:
                    return start
            elif start <= active_until:  # the next span joins on: still active
                active_until = max(active_until, end)
            else:
                return active_until
        return active_until if active_until is not None else ts + self.SEARCH_DAYS * 86_400


class ScaledClock:
    """A clock that reads ``start`` at ``origin`` and runs ``speed`` times faster than the wall
    clock (``quiet``: faster still in its quiet hours). ``elapsed`` gives wall seconds since some
    fixed point (``time.monotonic``, or ``time.time`` for an ``origin`` that another process can
    share); ``origin`` defaults to ``elapsed()`` now (the clock reads ``start`` when it is made)."""

    def __init__(
        self,
        start: datetime,
        speed: float,
        elapsed: Callable[[], float],
        origin: float | None = None,
        quiet: QuietHours | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self._start = _require_aware(start)
        self._speed = speed
        self._elapsed = elapsed
        self._origin = elapsed() if origin is None else origin
        self._quiet = quiet
        # the segment of constant rate last read: (wall offset, clock ts at it, clock ts it ends, rate)
        self._segment = self._segment_at(0.0, self._start.timestamp()) if quiet else None

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        wall = self._elapsed() - self._origin
        if self._quiet is None:
            return self._start + timedelta(seconds=wall * self._speed)
        return datetime.fromtimestamp(self._clock_at(wall), UTC)

    def wall_seconds(self, clock_seconds: float) -> float:
        """Wall seconds that ``clock_seconds`` of this clock take from now."""
        if self._quiet is None or clock_seconds <= 0:
            return clock_seconds / self._speed
        wall = self._elapsed() - self._origin
        ts = self._clock_at(wall)
        target, total = ts + clock_seconds, 0.0
        while True:
            rate = self._rate(ts)
            end = min(target, self._quiet.next_change(ts))
            total += (end - ts) / rate
            if end >= target:
                return total
            ts = end

    def _rate(self, ts: float) -> float:
        assert self._quiet is not None
        return self._speed * (self._quiet.factor if self._quiet.quiet(ts) else 1.0)

    def _segment_at(self, wall: float, ts: float) -> tuple[float, float, float, float]:
        assert self._quiet is not None
        return wall, ts, self._quiet.next_change(ts), self._rate(ts)

    def _clock_at(self, wall: float) -> float:
        segment = self._segment
        assert segment is not None
        if wall < segment[0]:  # the wall clock stepped back (time.time): walk from the start
            segment = self._segment_at(0.0, self._start.timestamp())
        while True:
            w0, c0, c1, rate = segment
            ts = c0 + (wall - w0) * rate
            if ts < c1:
                self._segment = segment
                return ts
            segment = self._segment_at(w0 + (c1 - c0) / rate, c1)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (reconnects): attempt ``n`` (0-based) waits a random
    time in ``[delay/2, delay]`` where ``delay = min(cap, initial * 2**n)``."""

    initial: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        delay = min(self.cap, self.initial * 2.0 ** min(attempt, 32))
        draw = rng.random() if rng is not None else random.random()
        return delay * (0.5 + 0.5 * draw)
