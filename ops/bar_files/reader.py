"""Reading bar files (CSV): detect the format, parse and validate every row.

Formats, detected from the header and the first data rows (header names are case-insensitive,
extra columns are ignored):

``utc-minute-dump``
    A header with ``timestamp``, ``timestamp_utc`` and ``open,high,low,close,volume`` among other
    columns (``timestamp_str``, ``timestamp_et``, ``hour_et`` …). ``timestamp`` is the bar start
    in UTC, e.g. ``2025-07-02 00:00:00+00:00``; a value without an offset is read as UTC (the
    format says so).
``yahoo-daily``
    ``Date,Open,High,Low,Close,Adj Close,Volume``. ``Close`` is the traded close; ``Adj Close`` is
    ignored. Yahoo writes ``null`` for days without data: such rows are invalid.
``date-time``
    Rows ``date,time,open,high,low,close,volume[,extra…]`` (e.g. ``2006-01-02,09:01:00,3602.00,
    …``), with a matching ``date,time,…`` header (columns by name), a header that does not match
    the rows (some exports write ``Date,Open,High,Low,Close,Volume,OpenInterest`` over date,time
    rows: the columns are then taken by position) or no header at all.
``generic``
    ``timestamp,open,high,low,close,volume`` (columns by name in any order; ``datetime`` or
    ``date`` may name the timestamp column). ``timestamp`` is ISO 8601 with or without a UTC
    offset (``2025-07-02T13:30:00Z``, ``2025-07-02 09:30:00-04:00``, ``2025-07-02 09:30``) or a
    date alone (``2025-07-02``) for daily bars. Without a header the columns are positional.

Dates are ``YYYY-MM-DD`` (``YYYY/MM/DD`` and ``YYYYMMDD`` are accepted); times ``HH:MM[:SS]``.

Time conventions:

- A naive timestamp (no offset) is exchange-local time in ``timezone`` (an IANA name; the CLI
  passes the exchange group's zone). A local time that a DST change makes ambiguous (fall back)
  or nonexistent (spring forward) is an invalid row: guessing would put a bar an hour off.
- ``label="start"`` (default): a row's time is the start of its bar, as stored.
  ``label="end"``: the row's time is the end of its bar, so the bar starts one interval earlier
  (an end-labelled ``09:01`` 1m row is the ``09:00–09:01`` bar).
- Daily bars are keyed by their session date at midnight UTC: the row ``1995-01-03`` becomes
  ``ts = 1995-01-03T00:00:00Z`` whatever the exchange's zone, and ``label`` does not apply to
  them. A daily interval requires date-only rows; an intraday interval requires a time.

Every row is validated before anything is written: fields that do not parse, a wrong number of
fields (truncated lines), non-finite values, the bar rules of SPEC §7 (:func:`bar_violation`),
intraday times off the minute grid, and timestamps repeated within the file. Invalid rows are
reported as ``(line, reason)`` with 1-based line numbers of the file. By default one invalid row
refuses the whole file (nothing is written); with ``skip_invalid`` the valid rows are written in
one transaction and the invalid ones reported. Writes are upserts, so importing a file again
changes nothing.

Hot path: a few hundred thousand rows per second. Lines are split with ``str.split`` unless they
hold a quote, which goes through the :mod:`csv` module one line at a time (a record is one line:
a stray quote must not swallow the rest of the file), dates and times are parsed once per distinct
string, and UTC offsets are looked up once per local hour.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from domain.bars import Bar, bar_violation, parse_symbol
from domain.errors import BarImportError
from domain.intervals import Interval

__all__ = ["ParsedFile", "read_bar_file"]

log = structlog.get_logger(__name__)

_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
_TIMESTAMP_NAMES = ("timestamp", "datetime", "date")
_ADJ_CLOSE_NAMES = frozenset({"adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close"})
_DATE_RE = re.compile(r"(\d{4})([-/]?)(\d{1,2})\2(\d{1,2})")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MIN_TS = int((datetime(1, 1, 1) - _EPOCH_NAIVE).total_seconds())
_MAX_TS = int((datetime(9999, 12, 31, 23, 59) - _EPOCH_NAIVE).total_seconds())
_MIXED = 1 << 62  # marks a local hour in which the UTC offset changes (a DST transition)
_HEAD_BYTES = 8192
MAX_LINE = 4096
"""The longest line a bar file may have (a bar row is under 100 characters)."""
_DETECT_ROWS = 10  # data rows looked at to recognise date,time rows under a mismatched header

_Kind = Literal["timestamp", "date", "date_time"]


@dataclass(slots=True)
class ParsedFile:
    """A bar file read and validated, nothing written yet."""

    format: str
    bars: list[Bar]
    invalid: list[tuple[int, str]]  # (1-based line number, reason), in file order
    rows_read: int  # data rows (blank lines and the header are not rows)
    path: str
    symbol: str
    interval: str

    @property
    def first_ts(self) -> int | None:
        return min((bar.ts for bar in self.bars), default=None)

    @property
    def last_ts(self) -> int | None:
        return max((bar.ts for bar in self.bars), default=None)


class _RowError(Exception):
    """A row that cannot become a bar; ``args[0]`` is the reason."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a format keeps its values, as column indexes into a row of ``width`` fields."""

    format: str
    header_line: int  # line number of the header, 0 when the file has none
    width: int
    kind: _Kind
    ts_col: int
    value_cols: tuple[int, int, int, int, int]  # open, high, low, close, volume
    time_col: int = -1  # -1 unless kind == "date_time"
    naive_is_utc: bool = False


def read_bar_file(
    path: str | Path, symbol: str, interval: str, timezone: str, label: str = "start"
) -> ParsedFile:
    """Read and validate a bar file; raise :class:`BarImportError` if it cannot be read at all.

    Invalid rows do not raise: they are returned in :attr:`ParsedFile.invalid`.
    """
    file = Path(path)
    symbol_name, step, zone = _check_arguments(file, symbol, interval, timezone, label)
    _check_readable_text(file)
    layout = _detect_layout(file, step)
    shift = step.seconds if label == "end" and not step.is_daily else 0
    parse_ts = _timestamp_parser(layout, step, zone, shift)
    interval_name = str(step)
    cols = layout.value_cols
    io, ih, il, ic, iv = cols
    width = layout.width
    header_line = layout.header_line
    bars: list[Bar] = []
    invalid: list[tuple[int, str]] = []
    seen: dict[int, int] = {}
    rows_read = 0
    violation = bar_violation
    isfinite = math.isfinite
    try:
        with file.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            for line_no, line in enumerate(_bounded_lines(handle, file), start=1):
                if line_no <= header_line:
                    continue
                if '"' in line:
                    if line.count('"') % 2:
                        rows_read += 1
                        invalid.append((line_no, "unbalanced quote (a record must be one line)"))
                        continue
                    try:
                        fields = next(csv.reader((line,)), [])
                    except csv.Error as exc:
                        rows_read += 1
                        invalid.append((line_no, f"malformed CSV quoting: {exc}"))
                        continue
                else:
                    fields = line.rstrip("\r\n").split(",")
                if len(fields) != width:
                    if len(fields) <= 1 and not "".join(fields).strip():
                        continue  # blank line
                    rows_read += 1
                    hint = " (truncated line?)" if len(fields) < width else ""
                    invalid.append((line_no, f"expected {width} fields, found {len(fields)}{hint}"))
                    continue
                rows_read += 1
                try:
                    ts = parse_ts(fields)
                    o = float(fields[io])
                    h = float(fields[ih])
                    lo = float(fields[il])
                    c = float(fields[ic])
                    v = float(fields[iv])
                except _RowError as exc:
                    invalid.append((line_no, str(exc)))
                    continue
                except ValueError:
                    invalid.append((line_no, _explain_values(fields, cols)))
                    continue
                reason = violation(o, h, lo, c, v)
                if reason is None and not all(map(isfinite, (o, h, lo, c, v))):
                    reason = "infinite value"
                if reason is None and not _MIN_TS <= ts < _MAX_TS:
                    reason = "timestamp outside the years 1 to 9999 UTC"
                if reason is not None:
                    invalid.append((line_no, reason))
                    continue
                first = seen.setdefault(ts, line_no)
                if first != line_no:
                    invalid.append((line_no, f"duplicate timestamp {_iso(ts)} (first on line {first})"))
                    continue
                bars.append(Bar(symbol_name, interval_name, ts, o, h, lo, c, v))
    except OSError as exc:
        raise BarImportError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return ParsedFile(layout.format, bars, invalid, rows_read, str(file), symbol_name, interval_name)


def _check_arguments(
    file: Path, symbol: str, interval: str, timezone: str, label: str
) -> tuple[str, Interval, ZoneInfo]:
    if not isinstance(symbol, str) or not symbol.strip():
        raise BarImportError(f"{file}: a symbol is required")
    try:
        name = parse_symbol(symbol)
    except ValueError as exc:
        raise BarImportError(f"{file}: {exc}") from None
    try:
        step = Interval.parse(interval)
    except ValueError as exc:
        raise BarImportError(f"{file}: {exc}") from None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise BarImportError(
            f"{file}: unknown timezone {timezone!r}: use an IANA name like America/New_York"
        ) from None
    if label not in ("start", "end"):
        raise BarImportError(f"{file}: label must be 'start' or 'end', not {label!r}")
    return name, step, zone


def _check_readable_text(file: Path) -> None:
    """Refuse missing, unreadable, empty and binary files with a message naming the file."""
    try:
        with file.open("rb") as raw:
            head = raw.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise BarImportError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise BarImportError(f"{file}: is a directory, not a bar file") from None
    except OSError as exc:
        raise BarImportError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if not head.strip():
        raise BarImportError(f"{file}: the file is empty")
    if b"\x00" in head:
        raise BarImportError(f"{file}: binary data, not a CSV text file")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            raise BarImportError(f"{file}: not UTF-8 text (bad byte at offset {exc.start})") from None


def _bounded_lines(handle: TextIO, file: Path) -> Iterator[str]:
    """The lines of ``handle``, none read beyond :data:`MAX_LINE` characters: a longer one is
    refused, so a file of one endless line costs no more memory than a short one."""
    line_no = 0
    while line := handle.readline(MAX_LINE + 1):
        line_no += 1
        if len(line) > MAX_LINE:
            raise BarImportError(
                f"{file}:{line_no}: a line longer than {MAX_LINE:,} characters: not a bar file"
            )
        yield line


def _split(line: str) -> list[str]:
    try:
        return next(csv.reader((line,)), []) if '"' in line else line.rstrip("\r\n").split(",")
    except csv.Error:
        return []


def _detect_layout(file: Path, step: Interval) -> _Layout:
    """Recognise the format from the header and the first data rows."""
    lines: list[tuple[int, list[str]]] = []
    try:
        with file.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            for line_no, line in enumerate(_bounded_lines(handle, file), start=1):
                if line.strip():
                    lines.append((line_no, _split(line)))
                    if len(lines) > _DETECT_ROWS:
                        break
    except OSError as exc:
        raise BarImportError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if not lines:
        raise BarImportError(f"{file}: the file is empty")
    first_line, first_fields = lines[0]
    # a first line that starts like a date is data, not a header
    headerless = bool(first_fields) and _DATE_RE.match(first_fields[0].strip()) is not None
    header_line = 0 if headerless else first_line
    names = [] if headerless else [f.strip().strip('"').strip().lower() for f in first_fields]
    data = lines if headerless else lines[1:]
    if not data:
        raise BarImportError(f"{file}: no data rows after the header")
    first_row = data[0][1]
    index: dict[str, int] = {}
    for position, column in enumerate(names):
        index.setdefault(column, position)
    has_values = all(column in index for column in _PRICE_COLUMNS)
    value_cols = (
        (index["open"], index["high"], index["low"], index["close"], index["volume"])
        if has_values
        else (0, 0, 0, 0, 0)
    )
    layout: _Layout | None = None

    def by_name(format: str, kind: _Kind, ts_col: int, **extra: Any) -> _Layout:
        return _Layout(format, header_line, len(names), kind, ts_col, value_cols, **extra)

    if has_values and "timestamp" in index and "timestamp_utc" in index:
        layout = by_name("utc-minute-dump", "timestamp", index["timestamp"], naive_is_utc=True)
    elif has_values and "date" in index and _ADJ_CLOSE_NAMES & index.keys():
        layout = by_name("yahoo-daily", "date", index["date"])
    elif (
        has_values
        and "date" in index
        and "time" in index
        and len(first_row) == len(names)
        and _parses(_parse_days, first_row[index["date"]])
        and _parses(_parse_clock, first_row[index["time"]])
    ):
        layout = by_name("date-time", "date_time", index["date"], time_col=index["time"])
    else:
        shaped = next(
            (
                row
                for _, row in data
                if len(row) >= 7 and _parses(_parse_days, row[0]) and _parses(_parse_clock, row[1])
            ),
            None,
        )
        if shaped is not None:
            layout = _Layout(
                "date-time", header_line, len(shaped), "date_time", 0, (2, 3, 4, 5, 6), time_col=1
            )
        elif has_values and any(name in index for name in _TIMESTAMP_NAMES):
            layout = by_name("generic", "timestamp", next(index[n] for n in _TIMESTAMP_NAMES if n in index))
        elif headerless and len(first_row) >= 6:
            layout = _Layout("generic", 0, len(first_row), "timestamp", 0, (1, 2, 3, 4, 5))
    if layout is None:
        shown = ",".join(first_fields)[:120]
        raise BarImportError(
            f"{file}: unknown bar file format (first line {shown!r}); supported: "
            "timestamp,open,high,low,close,volume; date,time,open,high,low,close,volume; "
            "Yahoo daily (Date,Open,High,Low,Close,Adj Close,Volume); the UTC minute dump "
            "(timestamp,…,timestamp_utc,…,open,high,low,close,volume)"
        )
    if layout.kind == "date" and not step.is_daily:
        raise BarImportError(
            f"{file}: {layout.format} holds daily bars (date-only rows); "
            f"import it with interval 1d, not {step}"
        )
    if layout.kind == "date_time" and step.is_daily:
        raise BarImportError(
            f"{file}: {layout.format} rows carry a time of day; interval 1d needs date-only rows"
        )
    return layout


def _parses(parse: Callable[[str], int], text: str) -> bool:
    try:
        parse(text)
    except _RowError:
        return False
    return True


def _parse_days(text: str) -> int:
    """Days since 1970-01-01 of a ``YYYY-MM-DD`` (or ``YYYY/MM/DD``, ``YYYYMMDD``) date."""
    match = _DATE_RE.fullmatch(text.strip())
    if match is None:
        raise _RowError(f"unparseable date {text.strip()!r}")
    try:
        day = date(int(match.group(1)), int(match.group(3)), int(match.group(4)))
    except ValueError:
        raise _RowError(f"invalid date {text.strip()!r}") from None
    return day.toordinal() - _EPOCH_ORDINAL


def _parse_clock(text: str) -> int:
    """Seconds since midnight of an ``HH:MM[:SS[.fff]]`` time of day."""
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise _RowError(f"unparseable time {text.strip()!r}")
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise _RowError(f"invalid time {text.strip()!r}")
    fraction = match.group(4)
    if fraction and fraction.strip("0"):
        raise _RowError(f"time {text.strip()!r} is not on a whole second")
    return hour * 3600 + minute * 60 + second


def _local_to_utc(zone: ZoneInfo) -> Callable[[int], int]:
    """Convert naive local seconds (since 1970-01-01 00:00 local) to UTC epoch seconds.

    The offset is looked up once per local hour; an hour holding a DST transition is resolved
    minute by minute, and an ambiguous or nonexistent local time raises :class:`_RowError`.
    """

    def offsets_at(moment: datetime) -> tuple[timedelta | None, timedelta | None]:
        aware = moment.replace(tzinfo=zone)
        return aware.utcoffset(), aware.replace(fold=1).utcoffset()

    @functools.cache
    def hour_offset(hour: int) -> int:
        start = _EPOCH_NAIVE + timedelta(hours=hour)
        a0, a1 = offsets_at(start)
        b0, b1 = offsets_at(start + timedelta(seconds=3599))
        if a0 is None or not a0 == a1 == b0 == b1:
            return _MIXED
        return int(a0.total_seconds())

    def exact(local: int) -> int:
        moment = _EPOCH_NAIVE + timedelta(seconds=local)
        off0, off1 = offsets_at(moment)
        assert off0 is not None and off1 is not None
        if off0 != off1:
            kind = "ambiguous" if off0 > off1 else "nonexistent"
            cause = "clocks go back" if off0 > off1 else "clocks go forward"
            raise _RowError(f"{kind} local time {moment:%Y-%m-%d %H:%M:%S} in {zone.key} ({cause})")
        return local - int(off0.total_seconds())

    def convert(local: int) -> int:
        offset = hour_offset(local // 3600)
        if offset == _MIXED:
            return exact(local)
        return local - offset

    return convert


def _timestamp_parser(
    layout: _Layout, step: Interval, zone: ZoneInfo, shift: int
) -> Callable[[list[str]], int]:
    """A function from a row's fields to its bar start (UTC epoch seconds), raising :class:`_RowError`."""
    daily = step.is_daily
    on_minutes = step.seconds % 60 == 0
    to_utc: Callable[[int], int] = (lambda local: local) if layout.naive_is_utc else _local_to_utc(zone)
    ts_col, time_col = layout.ts_col, layout.time_col

    def finish(ts: int) -> int:
        ts -= shift
        if on_minutes and ts % 60:
            raise _RowError(f"time {_iso(ts + shift)} is not on a minute boundary of {step} bars")
        return ts

    if layout.kind == "date":
        return lambda fields: _parse_days(fields[ts_col]) * 86_400

    if layout.kind == "date_time":
        days_of = functools.cache(_parse_days)  # parsed once per distinct string
        seconds_of = functools.cache(_parse_clock)

        def parse_date_time(fields: list[str]) -> int:
            return finish(to_utc(days_of(fields[ts_col]) * 86_400 + seconds_of(fields[time_col])))

        return parse_date_time

    def parse_timestamp(fields: list[str]) -> int:
        text = fields[ts_col].strip()
        if len(text) <= 10:
            days = _parse_days(text)
            if not daily:
                raise _RowError(f"date {text!r} without a time of day: {step} bars need a time")
            return days * 86_400
        if daily:
            raise _RowError(f"timestamp {text!r} has a time of day: 1d bars need date-only rows")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _RowError(f"unparseable timestamp {text!r}") from None
        if moment.microsecond:
            raise _RowError(f"timestamp {text!r} is not on a whole second")
        if moment.tzinfo is None:
            local = (moment.toordinal() - _EPOCH_ORDINAL) * 86_400
            local += moment.hour * 3600 + moment.minute * 60 + moment.second
            return finish(to_utc(local))
        return finish(int(moment.timestamp()))

    return parse_timestamp


def _explain_values(fields: list[str], cols: tuple[int, int, int, int, int]) -> str:
    """The reason a row's numbers do not parse (the slow path, for invalid rows only)."""
    for name, col in zip(_PRICE_COLUMNS, cols, strict=True):
        text = fields[col].strip()
        try:
            float(text)
        except ValueError:
            if not text:
                return f"missing {name}"
            if text.lower() == "null":
                return f"null {name} (no data for this row)"
            return f"unparseable {name} {text[:40]!r}"
    return "unparseable values"


def _iso(ts: int) -> str:
    try:
        return (_EPOCH_NAIVE + timedelta(seconds=ts)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:  # a row far outside the calendar: say what it held
        return f"{ts} s from the epoch"
