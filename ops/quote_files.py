"""``data import --kind quotes``: a CSV file of top-of-book quotes, validated row by row and written
to the store in one transaction (or refused whole).

Formats, detected from the header (names case-insensitive, extra columns ignored):

``generic``
    ``timestamp,bid_price,bid_size,ask_price,ask_size[,bid_exchange,ask_exchange,conditions]``;
    sizes in shares.
``alpaca``
    Alpaca's field names ``t,bp,bs,ap,as[,bx,ax,c]``; sizes in round lots of 100 shares.

``--lot-size N`` overrides the size unit of either (1: shares). ``timestamp``/``t`` is ISO 8601
with a UTC offset or ``Z`` (``2025-07-02T13:30:00.123456789Z``: digits past microseconds are
dropped) or without one, then in the group's zone; or an integer count of seconds,
milliseconds, microseconds or nanoseconds since the epoch (told apart by its size). An empty
bid or ask price (with its size) is a one-sided quote. Conditions are kept as written (a list
such as ``["R"]`` becomes ``R``; several are joined with commas).

Every row is checked (:func:`domain.quotes.quote_violation`): fields that do not parse, a line
over 4,096 characters, a price not positive, a size negative, a quote crossed beyond the
tolerance (``--crossed-tolerance``).
Bad rows are reported as ``file:line`` with the reason; one refuses the file unless
``--skip-invalid``. Rows out of time order are allowed (sorted before sampling). The store keeps
one row per symbol and second (:mod:`domain.quotes`), so the report says how many quotes were
read and how many rows they became.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.bars import parse_symbol
from domain.errors import QuoteImportError, Violation
from domain.quotes import CROSSED_TOLERANCE, Quote, iso_us, quote_violation, shares
from domain.store import Store

__all__ = ["QuoteImportReport", "import_quote_file", "read_quote_file"]

_FIELDS = {
    "generic": (
        "timestamp",
        "bid_price",
        "bid_size",
        "ask_price",
        "ask_size",
        "bid_exchange",
        "ask_exchange",
        "conditions",
    ),
    "alpaca": ("t", "bp", "bs", "ap", "as", "bx", "ax", "c"),
}
_LOT = {"generic": 1, "alpaca": 100}
_REQUIRED = 5
_EXAMPLES = 3
_MAX_LINE = 4_096  # a quote row is under 150


@dataclass(frozen=True, slots=True)
class ParsedQuotes:
    path: str
    format: str
    rows_read: int
    quotes: list[Quote]
    invalid: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class QuoteImportReport:
    path: str
    symbol: str
    format: str
    rows_read: int
    quotes: int
    """Valid quotes read."""
    rows_written: int
    """What they became in the store: one row per second whose book changed."""
    invalid: list[tuple[int, str]]


def read_quote_file(
    path: str | Path,
    symbol: str,
    timezone: str,
    *,
    lot_size: int | None = None,
    crossed_tolerance: float = CROSSED_TOLERANCE,
) -> ParsedQuotes:
    """Read and check every row of a quote file; :class:`QuoteImportError` if it cannot be read
    at all (missing, not text, an unknown header)."""
    shown = str(path)
    try:
        name = parse_symbol(symbol)
    except ValueError as exc:
        raise QuoteImportError(f"{shown}: --symbol {exc}") from None
    try:
        with Path(path).open(encoding="utf-8", newline="") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise QuoteImportError(f"{shown}: cannot read: {reason}") from None
    if not lines:
        raise QuoteImportError(f"{shown}: the file is empty")
    header = [field.strip().lower() for field in next(csv.reader([lines[0]]))]
    fmt = next((f for f, names in _FIELDS.items() if set(names[:_REQUIRED]) <= set(header)), "")
    if not fmt:
        expected = " or ".join(",".join(names[:_REQUIRED]) for names in _FIELDS.values())
        raise QuoteImportError(f"{shown}:1: not a quote file: the header must name {expected}")
    positions = [header.index(field) if field in header else None for field in _FIELDS[fmt]]
    lot = lot_size or _LOT[fmt]
    zone = ZoneInfo(timezone)
    quotes: list[Quote] = []
    invalid: list[tuple[int, str]] = []
    rows = 0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        rows += 1
        if len(line) > _MAX_LINE:
            invalid.append((number, f"line longer than {_MAX_LINE:,} characters"))
            continue
        fields = next(csv.reader([line]))
        try:
            quote = _quote(name, fields, positions, lot, zone)
        except ValueError as exc:
            invalid.append((number, str(exc)))
            continue
        broken = quote_violation(quote, crossed_tolerance)
        if broken is not None:
            invalid.append((number, broken))
            continue
        quotes.append(quote)
    return ParsedQuotes(shown, fmt, rows, quotes, invalid)


def import_quote_file(
    store: Store,
    path: str | Path,
    symbol: str,
    timezone: str,
    *,
    skip_invalid: bool = False,
    lot_size: int | None = None,
    crossed_tolerance: float = CROSSED_TOLERANCE,
) -> QuoteImportReport:
    """Read ``path`` and write its quotes in one transaction; nothing is written when a row is
    invalid unless ``skip_invalid`` (then the valid rows are, and the invalid ones reported)."""
    parsed = read_quote_file(path, symbol, timezone, lot_size=lot_size, crossed_tolerance=crossed_tolerance)
    if parsed.invalid and not skip_invalid:
        count = len(parsed.invalid)
        examples = "; ".join(f"line {line}: {reason}" for line, reason in parsed.invalid[:_EXAMPLES])
        more = f"; … and {count - _EXAMPLES} more" if count > _EXAMPLES else ""
        raise QuoteImportError(
            f"{parsed.path}: {count} of {parsed.rows_read} rows are invalid, nothing was imported "
            f"({examples}{more}); fix the file, or import with --skip-invalid to keep the valid rows",
            [Violation(f"{parsed.path}:{line}", reason) for line, reason in parsed.invalid],
        )
    written = store.quotes.write(
        parsed.quotes,
        source=f"import:{Path(parsed.path).name}",
        received_at=int(time.time()),
        what=f"the quotes of {parsed.path}",
    )
    store.quotes.reindex([parse_symbol(symbol)])  # the replay reads the new days fast
    return QuoteImportReport(
        parsed.path,
        parse_symbol(symbol),
        parsed.format,
        parsed.rows_read,
        len(parsed.quotes),
        written,
        parsed.invalid,
    )


def _quote(symbol: str, fields: list[str], positions: list[int | None], lot: int, zone: ZoneInfo) -> Quote:
    def field(i: int) -> str:
        at = positions[i]
        return fields[at].strip() if at is not None and at < len(fields) else ""

    if len(fields) < 1 + max(p for p in positions[:_REQUIRED] if p is not None):
        raise ValueError(f"{len(fields)} fields, expected at least {_REQUIRED}")
    event_us = _timestamp_us(field(0), zone)
    bid, ask = _price(field(1), "bid price"), _price(field(3), "ask price")
    bid_size = shares(_size(field(2), "bid size"), lot)
    ask_size = shares(_size(field(4), "ask size"), lot)
    conditions = field(7).strip("[]").replace('"', "").replace("'", "").replace(" ", "") or None
    return Quote(
        symbol, event_us, bid, bid_size, ask, ask_size, field(5) or None, field(6) or None, conditions
    )


def _price(text: str, what: str) -> float | None:
    """An empty price is a missing side."""
    return _number(text, what) if text else None


def _size(text: str, what: str) -> float:
    """An empty size is none."""
    return _number(text, what) if text else 0.0


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None


def _timestamp_us(text: str, zone: ZoneInfo) -> int:
    """Microseconds since the epoch of an ISO 8601 time (naive: in ``zone``) or an epoch count."""
    if not text:
        raise ValueError("no timestamp")
    if text.isdigit():
        value = int(text)
        for limit, per_second in ((10**11, 1), (10**14, 1_000), (10**17, 1_000_000)):
            if value < limit:
                return value * (1_000_000 // per_second)
        return value // 1_000  # nanoseconds
    try:
        return iso_us(text, zone)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is not ISO 8601 or an epoch count") from None
