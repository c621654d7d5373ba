"""Bars: the compact value every layer passes around, and the bar rules of SPEC §7.

A bar is start-stamped: ``ts`` is the start of the interval it covers, in whole seconds since
the Unix epoch (UTC). Integers keep the store, the replay loop and the messages cheap; convert
with :func:`ts_to_datetime` for display.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import NamedTuple

SYMBOL_RULE = "1 to 32 characters of A-Z, 0-9 and . - / ^ = : _, starting with a letter, digit or ^"
_SYMBOL = re.compile(r"[A-Z0-9^][A-Z0-9.^=/:_-]{0,31}")
_INF = float("inf")
MAX_VALUE = 1e15
"""The largest price or volume a bar may carry: sums over any run stay finite."""


class Bar(NamedTuple):
    """One OHLCV bar. ``ts`` is the interval start in UTC epoch seconds."""

    symbol: str
    interval: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def parse_symbol(text: str) -> str:
    """``text`` as a symbol (stripped, upper-cased) by the one rule of configs, files, providers
    and stores alike; :class:`ValueError` saying which part of the rule it breaks."""
    symbol = text.strip().upper()
    if not symbol:
        raise ValueError("must not be blank")
    if any(ch.isspace() for ch in symbol):
        raise ValueError(f"invalid symbol {text!r}: contains whitespace")
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(f"invalid symbol {text!r}: a symbol is {SYMBOL_RULE}")
    return symbol


def bar_violation(open_: float, high: float, low: float, close: float, volume: float) -> str | None:
    """The first SPEC §7 rule these values break, as a counted reason, or ``None`` if valid."""
    if volume != volume or high != high or low != low or open_ != open_ or close != close:
        return "NaN value"
    if not (open_ > 0 and high > 0 and low > 0 and close > 0):
        return "non-positive price"
    if high < max(open_, close):
        return "high below open/close"
    if low > min(open_, close):
        return "low above open/close"
    if high < low:
        return "high below low"
    if volume < 0:
        return "negative volume"
    if high > MAX_VALUE or volume > MAX_VALUE:  # high is the largest price of a valid bar
        return "infinite value" if _INF in (high, volume) else "value above 1e15"
    return None


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_SECONDS = 86_400


def daily_ts(day: date) -> int:
    """The ``ts`` of the daily bar of session date ``day``: that date at 00:00 UTC."""
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY_SECONDS


def daily_date(ts: int) -> date:
    """The session date of a daily bar's ``ts`` (the inverse of :func:`daily_ts`)."""
    return date.fromordinal(_EPOCH_ORDINAL + ts // _DAY_SECONDS)


def ts_to_datetime(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def datetime_to_ts(moment: datetime) -> int:
    """Epoch seconds of a tz-aware datetime; naive datetimes are refused here (no guessing)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no timezone")
    return int(moment.timestamp())
