"""Quote bars: bid, ask and mid OHLC per interval, built from one symbol's quote rows (SPEC §12),
as LEAN's ``QuoteBar`` and Nautilus' BID/ASK/MID bars.

A quote bar of ``[ts, ts + interval)`` describes the book *second by second* over its window:
the book of second ``s`` is the latest quote row with ``ts <= s`` (:mod:`domain.quality.quotes`
uses the same rule), so a book set before the window opens it — a quote bar is filled forward,
as LEAN's are. Per side, open is the book's price at the window's first second, close at its
last, high and low over its seconds; a side absent for the whole window is ``None``. The mid is
``(bid + ask) / 2`` over the seconds with both sides. A window before the first row of the day
has no book and no bar. ``rows`` counts the quote rows that fall inside the window (the book's
changes), ``bid_size`` and ``ask_size`` are the sizes of the window's last book.

A bar is complete when its window has ended, so a session releases it once the clock has
passed ``ts + interval`` (no look-ahead), as it releases derived bars.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from domain.quotes import QuoteColumns

__all__ = ["QuoteBar", "quote_bars"]

_Side = tuple[float, float, float, float] | None
"""Open, high, low, close of one side, or ``None`` when the side was absent all window."""


class QuoteBar(NamedTuple):
    symbol: str
    interval: str
    ts: int
    bid: _Side
    ask: _Side
    mid: _Side
    bid_size: float
    ask_size: float
    rows: int


def quote_bars(cols: QuoteColumns, interval: str, seconds: int, start_ts: int, end_ts: int) -> list[QuoteBar]:
    """The quote bars of ``cols`` (one symbol's rows, sorted by second) for the windows of
    ``seconds`` from ``start_ts`` (a window start) up to ``end_ts`` (windows that end by then)."""
    windows = max(0, (end_ts - start_ts) // seconds)
    ts = np.frombuffer(cols.ts, dtype=np.int64)
    if not windows or not ts.size:
        return []
    span = windows * seconds
    second = np.arange(start_ts, start_ts + span, dtype=np.int64)
    row = np.searchsorted(ts, second, side="right") - 1
    has = row >= 0
    at = np.where(has, row, 0)
    bid = np.where(has, np.frombuffer(cols.bid, dtype=np.float64)[at], np.nan).reshape(windows, seconds)
    ask = np.where(has, np.frombuffer(cols.ask, dtype=np.float64)[at], np.nan).reshape(windows, seconds)
    mid = (bid + ask) / 2.0  # NaN where a side is missing
    bid_size = np.frombuffer(cols.bid_size, dtype=np.float64)
    ask_size = np.frombuffer(cols.ask_size, dtype=np.float64)
    last_row = row.reshape(windows, seconds)[:, -1]
    starts = start_ts + seconds * np.arange(windows + 1, dtype=np.int64)
    counts = np.diff(np.searchsorted(ts, starts, side="left"))
    sides = [_ohlc(values) for values in (bid, ask, mid)]
    out = []
    for w in range(windows):
        if last_row[w] < 0:  # no book yet in this window
            continue
        b, a, m = (side[w] for side in sides)
        out.append(
            QuoteBar(
                cols.symbol,
                interval,
                int(starts[w]),
                b,
                a,
                m,
                float(bid_size[last_row[w]]),
                float(ask_size[last_row[w]]),
                int(counts[w]),
            )
        )
    return out


def _ohlc(values: np.ndarray[Any, Any]) -> list[_Side]:
    """Per window (row of ``values``): open, high, low, close over the seconds with a price
    (open: the first such second, close: the last), or ``None`` without any."""
    present = ~np.isnan(values)
    any_present = present.any(axis=1)
    first = np.argmax(present, axis=1)
    last = values.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    rows = np.arange(values.shape[0])
    with np.errstate(invalid="ignore"):
        high = np.where(any_present, np.nanmax(np.where(present, values, -np.inf), axis=1), np.nan)
        low = np.where(any_present, np.nanmin(np.where(present, values, np.inf), axis=1), np.nan)
    opens, closes = values[rows, first], values[rows, last]
    return [
        (float(opens[w]), float(high[w]), float(low[w]), float(closes[w])) if any_present[w] else None
        for w in range(values.shape[0])
    ]
