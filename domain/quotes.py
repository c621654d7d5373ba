"""Quotes: top-of-book values, their rules, and how they are sampled for the store.

A :class:`Quote` is one top-of-book update of one symbol: bid and ask price and size, the venue
of each side, the conditions the source attached, when it happened (``event_us``: the exchange's
or participant's time) and when it was received, in whole microseconds since the Unix epoch
(UTC). Sizes are shares: a source that counts round lots is multiplied out when its quotes are
read (:func:`shares`). A side may be absent (no bid, or no ask: a one-sided quote); a present
side has a positive price.

**The store keeps one row per symbol and second** (:func:`sample_per_second`): the last quote of
each second (by event time; of two at the same microsecond, the later one given), and no row for
a second whose last quote shows the same book as the row before it (prices, sizes, venues and
conditions all equal). So a book that did not change costs nothing, a second's row is the book
as it stood at the end of that second, and a replay can release a second's row once the clock
has passed the second's end. The row's key is ``ts`` = the second (UTC epoch seconds).

The rules of a quote (:func:`quote_violation`): prices finite and positive when present, sizes
finite and not negative, at least one side, and not crossed (bid above ask) by more than
``crossed_tolerance`` of the ask. A locked quote (bid = ask) and a crossed one within the
tolerance are valid quotes — quote quality counts them — and a crossed one beyond it is refused.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple, Protocol

import numpy as np

from domain.bars import MAX_VALUE
from domain.columns import frozen_view

__all__ = [
    "CROSSED_TOLERANCE",
    "Quote",
    "QuoteColumns",
    "QuoteReader",
    "iso_us",
    "quote_violation",
    "sample_per_second",
    "shares",
]

CROSSED_TOLERANCE = 0.01
"""How far (a share of the ask) a bid may lie above the ask before a quote is refused."""


class Quote(NamedTuple):
    """One top-of-book update; see the module docstring. Times in UTC epoch microseconds."""

    symbol: str
    event_us: int
    bid_price: float | None
    bid_size: float
    ask_price: float | None
    ask_size: float
    bid_venue: str | None = None
    ask_venue: str | None = None
    conditions: str | None = None
    received_us: int | None = None

    @property
    def ts(self) -> int:
        """The second the quote belongs to (UTC epoch seconds): its row's key in the store."""
        return self.event_us // 1_000_000

    def book(self) -> tuple[object, ...]:
        """What a sampled row compares: prices, sizes, venues and conditions."""
        return self[2:9]


def iso_us(text: str, zone: tzinfo = UTC) -> int:
    """Microseconds since the epoch of an ISO 8601 / RFC 3339 time (``Z`` or an offset; naive:
    in ``zone``); digits past microseconds are dropped (a feed's nanoseconds). Raises
    ``ValueError`` for anything else."""
    cleaned = text.replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = cleaned.partition(".")
    if dot:  # keep at most microseconds of the fraction, and the offset after it
        digits = len(rest) - len(rest.lstrip("0123456789"))
        cleaned = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def shares(size: float, lot: int) -> float:
    """A size counted in lots of ``lot`` shares (1: already shares), in shares."""
    return size * lot


def quote_violation(quote: Quote, crossed_tolerance: float = CROSSED_TOLERANCE) -> str | None:
    """The first rule ``quote`` breaks, as a counted reason, or ``None`` if it is a valid quote."""
    bid, ask = quote.bid_price, quote.ask_price
    if bid is None and ask is None:
        return "no bid and no ask"
    for side, price in (("bid", bid), ("ask", ask)):
        if price is not None and not (math.isfinite(price) and 0 < price <= MAX_VALUE):
            return f"{side} price not positive and finite"
    for side, size in (("bid", quote.bid_size), ("ask", quote.ask_size)):
        if not (math.isfinite(size) and 0 <= size <= MAX_VALUE):
            return f"{side} size negative or not finite"
    if bid is not None and ask is not None and bid > ask * (1 + crossed_tolerance):
        return f"crossed: bid {bid:g} above ask {ask:g} by more than {crossed_tolerance:.2%}"
    return None


def sample_per_second(quotes: Iterable[Quote]) -> Iterator[Quote]:
    """The rows the store keeps of ``quotes`` (one symbol or several, any order): per symbol and
    second the last quote, none where the book is unchanged from the row before (the module
    docstring's rule), in (symbol, time) order."""
    by_symbol: dict[str, list[Quote]] = {}
    for quote in quotes:
        by_symbol.setdefault(quote.symbol, []).append(quote)
    for symbol in sorted(by_symbol):
        ordered = sorted(by_symbol[symbol], key=lambda q: q.event_us)  # stable: the later one given wins
        last: dict[int, Quote] = {}
        for quote in ordered:
            last[quote.ts] = quote
        previous: tuple[object, ...] | None = None
        for second in sorted(last):
            quote = last[second]
            book = quote.book()
            if book != previous:
                yield quote
            previous = book


@dataclass(frozen=True, slots=True, eq=False)
class QuoteColumns:
    """One symbol's stored quote rows as read-only columns (what a replay day holds): ``ts`` (the
    row's second) and ``event_us`` as int64, prices and sizes as doubles (a missing side's price
    is NaN), and per row its labels. Sorted by ``ts`` and unique in it. :class:`Quote` values are
    built only when asked for (:meth:`quotes`)."""

    symbol: str
    ts: memoryview
    event_us: memoryview
    bid: memoryview
    bid_size: memoryview
    ask: memoryview
    ask_size: memoryview
    labels: tuple[tuple[str | None, str | None, str | None, int | None], ...]
    """Per row: (bid venue, ask venue, conditions, received_us)."""

    @classmethod
    def from_quotes(cls, symbol: str, rows: Sequence[Quote]) -> QuoteColumns:
        """From one symbol's rows, sorted by second and unique in it."""
        numbers = [
            (q.ts, q.event_us, -1.0 if q.bid_price is None else q.bid_price, q.bid_size,
             -1.0 if q.ask_price is None else q.ask_price, q.ask_size)
            for q in rows
        ]  # fmt: skip
        labels = [(q.bid_venue, q.ask_venue, q.conditions, q.received_us) for q in rows]
        return cls.from_rows(symbol, numbers, labels)

    @classmethod
    def from_rows(
        cls,
        symbol: str,
        numbers: Sequence[Sequence[Any]],
        labels: Sequence[tuple[str | None, str | None, str | None, int | None]],
    ) -> QuoteColumns:
        """From the store's rows of one symbol, sorted by second: ``numbers`` ``(ts, event_us, bid,
        bid_size, ask, ask_size)`` with a missing price as -1, and ``labels`` ``(bid_venue, ask_venue,
        conditions, received_us)`` — in vectorised passes, no Python object per value."""
        table = np.array(numbers, dtype=np.float64).reshape(len(numbers), 6)  # ints below 2**53: exact
        prices = np.where(table[:, [2, 4]] < 0, np.nan, table[:, [2, 4]])
        ts, event_us = (frozen_view(table[:, i], "q") for i in (0, 1))
        bid, ask = (frozen_view(prices[:, i], "d") for i in (0, 1))
        bid_size, ask_size = (frozen_view(table[:, i], "d") for i in (3, 5))
        return cls(symbol, ts, event_us, bid, bid_size, ask, ask_size, tuple(labels))

    def to_block(self) -> bytes:
        """What the store keeps per symbol and UTC day beside the rows: ``ts`` and ``event_us`` as
        int64, the four doubles (in the machine's byte order), then the labels as JSON runs of
        equal rows ``[[n, bid_venue, ask_venue, conditions, received_us], …]`` (a feed repeats its
        venues and conditions, a write its receive time)."""
        runs: list[list[Any]] = []
        for labels in self.labels:
            if runs and tuple(runs[-1][1:]) == labels:
                runs[-1][0] += 1
            else:
                runs.append([1, *labels])
        numbers = b"".join(
            column.tobytes()
            for column in (self.ts, self.event_us, self.bid, self.bid_size, self.ask, self.ask_size)
        )
        return numbers + json.dumps(runs, separators=(",", ":")).encode()

    @classmethod
    def from_block(cls, symbol: str, count: int, block: bytes) -> QuoteColumns:
        """The columns of a :meth:`to_block` of ``count`` rows, the numbers as views of ``block``."""
        size = 48 * count
        if len(block) < size:
            raise ValueError(f"a block of {count} quote rows holds at least {size} bytes, got {len(block)}")
        raw = memoryview(block)
        ints: Any = raw[: 16 * count].cast("q")
        doubles: Any = raw[16 * count : size].cast("d")
        bid, bid_size, ask, ask_size = (doubles[count * i : count * (i + 1)] for i in range(4))
        labels: list[tuple[str | None, str | None, str | None, int | None]] = []
        for n, *run in json.loads(bytes(raw[size:])):
            labels.extend(itertools.repeat(tuple(run), n))
        if len(labels) != count:
            raise ValueError(f"a block of {count} quote rows holds {len(labels)} labels")
        return cls(symbol, ints[:count], ints[count:], bid, bid_size, ask, ask_size, tuple(labels))

    @classmethod
    def concat(cls, symbol: str, parts: Sequence[QuoteColumns]) -> QuoteColumns:
        """``parts`` (in time order) as one set of columns; one part is returned as it is."""
        if len(parts) == 1:
            return parts[0]

        def joined(name: str, fmt: str) -> Any:
            view: Any = memoryview(b"".join(getattr(part, name).tobytes() for part in parts))
            return view.cast(fmt)

        labels = tuple(itertools.chain.from_iterable(part.labels for part in parts))
        return cls(
            symbol, joined("ts", "q"), joined("event_us", "q"), joined("bid", "d"), joined("bid_size", "d"),
            joined("ask", "d"), joined("ask_size", "d"), labels,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.ts)

    def window(self, start: int, stop: int) -> QuoteColumns:
        """Positions ``[start, stop)``, sharing this memory."""
        cut = slice(start, stop)
        return QuoteColumns(
            self.symbol, self.ts[cut], self.event_us[cut], self.bid[cut], self.bid_size[cut], self.ask[cut],
            self.ask_size[cut], self.labels[cut],
        )  # fmt: skip

    def quotes(self, start: int = 0, stop: int | None = None) -> list[Quote]:
        """Positions ``[start, stop)`` as :class:`Quote` values."""
        stop = len(self) if stop is None else stop
        out = []
        for i in range(start, stop):
            bid, ask = self.bid[i], self.ask[i]
            bid_venue, ask_venue, conditions, received_us = self.labels[i]
            out.append(
                Quote(
                    self.symbol,
                    self.event_us[i],
                    None if bid != bid else bid,
                    self.bid_size[i],
                    None if ask != ask else ask,
                    self.ask_size[i],
                    bid_venue,
                    ask_venue,
                    conditions,
                    received_us,
                )
            )
        return out


class QuoteReader(Protocol):
    """Where a replay day's quotes come from (the store's ``QuoteRepository``)."""

    def read_columns(self, symbols: Sequence[str], start_ts: int, end_ts: int) -> list[QuoteColumns]: ...
