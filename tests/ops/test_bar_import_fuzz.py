"""Fuzzing bar file import (SPEC §9, §10): a corrupted file never corrupts the store.

Files start as valid generic ``timestamp,open,high,low,close,volume`` CSV (1m bars, one minute
apart, valid OHLC, in many spellings: column order, header names, timestamp styles, quoting, line
endings) and get random corruptions. Against a real SQLite store the import either succeeds and
the store then holds exactly the file's valid rows, or raises :class:`BarImportError` and the store
is exactly as it was. Nothing else may escape. Examples are derandomized (the same on every run).

Findings of the fuzzing have plain reproductions at the end of this file (timestamps outside the
years 1–9999, finite values whose sum overflows).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from support.cli import run_cli

from domain.bars import Bar, bar_violation
from domain.errors import BarImportError
from domain.store import Store, open_store
from domain.store.schema import bars as bars_table
from ops.bar_files.importer import import_bar_file
from ops.bar_files.reader import read_bar_file

SYMBOL = "FUZ"
START = int(datetime(2025, 7, 2, 13, 30, tzinfo=UTC).timestamp())
COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
EVERYTHING = (-(2**62), 2**62)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Bars already in the store before every example: another symbol, and FUZ bars of 2020 (which a
# successful import must keep, and a refused one must not touch).
BASELINE = [
    Bar("KEEP", "1m", START + 60 * i, 10.0 + i, 11.0 + i, 9.0 + i, 10.5 + i, 100.0 * i) for i in range(5)
] + [Bar(SYMBOL, "1m", START - 86_400 * 365 * 5 + 60 * i, 1.0, 2.0, 0.5, 1.5, 7.0) for i in range(3)]


# -- the store ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One real SQLite store for every example (each example starts from ``BASELINE``)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzzstore') / 'store.db'}"
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def reset(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(delete(bars_table))
    store.bars.upsert(BASELINE)


def snapshot(store: Store) -> tuple[int, list[object], list[Bar], list[Bar]]:
    return (
        store.bars.count(),
        store.bars.summary(),
        store.bars.read(SYMBOL, "1m", *EVERYTHING),
        store.bars.read("KEEP", "1m", *EVERYTHING),
    )


# -- generating files --------------------------------------------------------------------------


def iso(ts: int, style: str) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    match style:
        case "z":
            return f"{moment:%Y-%m-%dT%H:%M:%S}Z"
        case "utc_offset":
            return f"{moment:%Y-%m-%d %H:%M:%S}+00:00"
        case "naive":  # the import runs with timezone UTC
            return f"{moment:%Y-%m-%dT%H:%M:%S}"
        case "naive_short":
            return f"{moment:%Y-%m-%d %H:%M}"
        case "plus_two":
            return f"{moment + timedelta(hours=2):%Y-%m-%dT%H:%M:%S}+02:00"
        case _:
            return f"{moment - timedelta(hours=4):%Y-%m-%d %H:%M:%S}-04:00"


TS_STYLES = ("z", "utc_offset", "naive", "naive_short", "plus_two", "minus_four")

# A value that makes its row invalid wherever it goes among open..volume.
POISON_VALUES = st.sampled_from(
    ["", "abc", "null", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1", "1;5", "0x10", "1.2.3", "1e"]
)
POISON_TIMESTAMPS = st.sampled_from(
    [
        "",
        "abc",
        "2025-07-02",  # a date without a time: 1m bars need one
        "2025-13-01T00:00:00Z",
        "2025-02-30T10:00:00Z",
        "2025-07-02T13:30:30Z",  # off the minute grid
        "2025-07-02T13:30:00.000001Z",
        "2025-07-02T25:00:00Z",
        "2025-07-02T13:30:00+25:00",
        "now",
        "null",
        "😀",
        "2025-07-02T13:30:00Z extra",
    ]
)
# Odd but valid timestamps. Not here: instants before 0001-01-01Z or after 9999-12-31Z, which
# crash the import when duplicated or off-grid (see the reproductions at the end).
ODD_TIMESTAMPS = st.sampled_from(
    [
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:00Z",
        "0001-01-02T00:00:00Z",
        "9999-12-30T23:59:00Z",
        "2262-04-11T23:47:00Z",
        "2025-07-02T13:30:00+14:00",
        "2025-07-02T13:30:00-12:00",
        "2025-03-09T02:30:00",
        "2025-07-02T13:30:00.000Z",
    ]
)
JUNK_TEXT = st.one_of(
    st.text(min_size=1, max_size=20),
    st.sampled_from(
        ["\x00", "\ufeff", "\u2028", "\r", "\n\n", '"', '",', "😀", "\u202e", "\t", ",,,", "é" * 5]
    ),
)


CORRUPTIONS = (
    "poison_value",
    "poison_timestamp",
    "negative_price",
    "high_below_low",
    "duplicate_row",
    "odd_timestamp",
    "swap_columns_in_rows",
    "drop_column",
    "duplicate_column",
    "row_width",
    "mixed_format_row",
    "huge_numbers",
    "truncate_last_line",
    "truncate_anywhere",
    "insert_text",
    "insert_bytes",
    "random_bytes",
    "empty",
    "header_only",
    "blank_only",
)
MILD = ("odd_timestamp", "duplicate_column", "huge_numbers", "swap_columns_in_rows")


@dataclass
class BarFile:
    """A generated bar file and what is known about it."""

    data: bytes
    expected: list[Bar] | None  # the bars a clean file holds; None once corrupted
    poisoned_lines: set[int] = field(default_factory=set)  # lines known to be invalid
    corruptions: list[str] = field(default_factory=list)


def render(
    header: list[str] | None,
    rows: list[list[str]],
    *,
    quote: bool,
    pad: bool,
    blank_after: set[int],
    newline: str,
    trailing_newline: bool,
    bom: bool,
) -> tuple[str, list[int]]:
    """The file text and the 1-based line number of each row."""

    def cell(text: str) -> str:
        if quote:
            return '"' + text.replace('"', '""') + '"'
        return f" {text} " if pad else text

    lines: list[str] = []
    if header is not None:
        lines.append(",".join(cell(name) for name in header))
    numbers: list[int] = []
    for index, row in enumerate(rows):
        lines.append(",".join(cell(value) for value in row))
        numbers.append(len(lines))
        if index in blank_after:
            lines.append("" if index % 2 else "   ")
    text = newline.join(lines) + (newline if trailing_newline else "")
    return ("\ufeff" if bom else "") + text, numbers


@st.composite
def bar_files(draw: st.DrawFn, corrupt: bool = True) -> BarFile:
    count = draw(st.integers(1, 15), label="rows")
    first = START + 60 * draw(st.integers(-100_000, 100_000), label="minute offset")
    style = draw(st.sampled_from(TS_STYLES), label="timestamp style")
    # values from a seeded generator: cheaper to draw than one Hypothesis draw per number
    scale = draw(st.sampled_from([1e-6, 0.01, 1.0, 100.0, 1e6, 1e12]), label="price scale")
    whole = draw(st.booleans(), label="whole numbers")
    rng = random.Random(draw(st.integers(0, 2**32), label="values seed"))

    def number(low: float, high: float) -> float:
        value = rng.uniform(low, high)
        return float(max(1, round(value))) if whole else value

    expected: list[Bar] = []
    for i in range(count):
        prices = sorted(number(scale, scale * 10) for _ in range(4))
        low, high = prices[0], prices[3]
        open_, close = (prices[1], prices[2]) if rng.random() < 0.5 else (prices[2], prices[1])
        volume = rng.choice([0.0, number(0, 1e9), float(rng.randrange(10**12))])
        expected.append(Bar(SYMBOL, "1m", first + 60 * i, open_, high, low, close, volume))

    headerless = draw(st.booleans(), label="headerless")
    if headerless:
        order = list(range(6))
        header = None
        extra = False
    else:
        order = draw(st.permutations(range(6)), label="column order")
        ts_name = draw(st.sampled_from(["timestamp", "datetime", "date", "Timestamp", "DATETIME"]))
        names = [ts_name, *(draw(st.sampled_from([c, c.title(), c.upper()])) for c in COLUMNS[1:])]
        extra = draw(st.booleans(), label="extra column")
        header = [names[j] for j in order] + (["note"] if extra else [])

    def values(bar: Bar) -> list[str]:
        return [iso(bar.ts, style), *(repr(v) for v in bar[3:])]

    rows = [[values(bar)[j] for j in order] + (["x"] if extra else []) for bar in expected]
    width = len(rows[0])
    position = {column: order.index(j) for j, column in enumerate(COLUMNS)}

    quote = draw(st.booleans(), label="quote")
    layout = {
        "quote": quote,
        "pad": not quote and draw(st.booleans(), label="pad"),
        "blank_after": set(draw(st.lists(st.integers(0, count - 1), max_size=3), label="blank lines")),
        "newline": draw(st.sampled_from(["\n", "\r\n", "\r"]), label="newline"),
        "trailing_newline": draw(st.booleans(), label="trailing newline"),
        "bom": draw(st.booleans(), label="bom"),
    }
    corruptions: list[str] = []
    poisoned_rows: set[int] = set()
    structural = False
    byte_ops: list[str] = []
    if corrupt:
        mild = draw(st.booleans(), label="mild")  # only corruptions that may leave every row valid
        for _ in range(draw(st.integers(1, 3), label="corruptions")):
            kind = draw(st.sampled_from(MILD if mild else CORRUPTIONS), label="corruption")
            corruptions.append(kind)
            row = draw(st.integers(0, len(rows) - 1), label="row")
            fields = rows[row]
            # after a column was dropped or a foreign row inserted, a row may be short: then
            # the corruption is structural and the row is not known to be invalid
            if len(fields) < width:
                structural = True
            if kind == "poison_value":
                column = position[draw(st.sampled_from(COLUMNS[1:]))]
                if column < len(fields):
                    fields[column] = draw(POISON_VALUES)
                    poisoned_rows.add(row)
            elif kind == "poison_timestamp":
                if position["timestamp"] < len(fields):
                    fields[position["timestamp"]] = draw(POISON_TIMESTAMPS)
                    poisoned_rows.add(row)
            elif kind == "negative_price":
                column = position[draw(st.sampled_from(COLUMNS[1:5]))]
                if column < len(fields):
                    fields[column] = "-" + fields[column].lstrip("-")
                    poisoned_rows.add(row)
            elif kind == "high_below_low":
                if max(position["high"], position["low"]) < len(fields):
                    with contextlib.suppress(ValueError):  # unless low is poisoned already
                        fields[position["high"]] = repr(float(fields[position["low"]]) / 2)
                    poisoned_rows.add(row)
            elif kind == "duplicate_row":
                copy = list(fields)
                if draw(st.booleans(), label="other values") and position["volume"] < len(copy):
                    copy[position["volume"]] = "1"
                rows.insert(draw(st.integers(row + 1, len(rows)), label="at"), copy)
                structural = True
            elif kind == "odd_timestamp":
                if position["timestamp"] < len(fields):
                    fields[position["timestamp"]] = draw(ODD_TIMESTAMPS)
                structural = True
            elif kind == "swap_columns_in_rows":
                a, b = draw(st.lists(st.integers(0, width - 1), min_size=2, max_size=2, unique=True))
                for values_ in rows:
                    if len(values_) == width:
                        values_[a], values_[b] = values_[b], values_[a]
                structural = True
            elif kind == "drop_column":
                column = draw(st.integers(0, width - 1))
                where = draw(st.sampled_from(["header", "rows", "both", "one row"]))
                if header is not None and where in ("header", "both") and column < len(header):
                    del header[column]
                if where in ("rows", "both"):
                    for values_ in rows:
                        if column < len(values_):
                            del values_[column]
                if where == "one row" and column < len(rows[row]):
                    del rows[row][column]
                structural = True
            elif kind == "duplicate_column":
                column = draw(st.integers(0, width - 1))
                if header is not None and column < len(header):
                    header.insert(column, header[column])
                for values_ in rows:
                    if column < len(values_):
                        values_.insert(column, values_[column])
                structural = True
            elif kind == "row_width":
                if draw(st.booleans()) or len(rows[row]) < 2:
                    rows[row].append(draw(st.sampled_from(["", "1", "extra"])))
                else:
                    rows[row].pop()
                structural = True
            elif kind == "mixed_format_row":
                mixed = draw(
                    st.sampled_from(
                        [
                            "2025-07-02,13:31:00,1,1,1,1,1",  # date,time row
                            "2025-07-02,1.0,2.0,0.5,1.5,1.4,100",  # Yahoo row
                            "2025-07-02 00:00:00+00:00,x,2025-07-02 00:00:00+00:00,1,1,1,1,1",  # minute dump
                            "20250702,0931,1,1,1,1,1",
                        ]
                    )
                )
                rows.insert(draw(st.integers(0, len(rows))), mixed.split(","))
                structural = True
            elif kind == "huge_numbers":
                # big but finite values whose sum stays finite (see the reproductions at the end)
                big = draw(st.sampled_from(["1e300", "9.9e299", "1e15"]))
                for column in ("open", "high", "low", "close", "volume"):
                    if position[column] < len(rows[row]):
                        rows[row][position[column]] = big
                structural = True
            else:
                byte_ops.append(kind)

    text, numbers = render(header, rows, **layout)
    data = text.encode("utf-8", errors="surrogatepass")
    for kind in byte_ops:
        if kind == "truncate_last_line":
            last_start = data.rstrip(b"\r\n").rfind(b"\n") + 1
            data = data[: draw(st.integers(last_start, max(last_start, len(data) - 1)), label="cut")]
        elif kind == "truncate_anywhere":
            data = data[: draw(st.integers(0, len(data)), label="cut")]
        elif kind == "insert_text":
            at = draw(st.integers(0, len(data)), label="at")
            data = data[:at] + draw(JUNK_TEXT).encode("utf-8", errors="surrogatepass") + data[at:]
        elif kind == "insert_bytes":
            at = draw(st.integers(0, len(data)), label="at")
            data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
        elif kind == "random_bytes":
            data = draw(st.binary(max_size=300), label="bytes")
        elif kind == "empty":
            data = b""
        elif kind == "header_only":
            data = (",".join(header or COLUMNS) + layout["newline"]).encode()
        else:
            data = draw(st.sampled_from([b"\n", b"\n\n\n", b"   \r\n \r\n", b"\xef\xbb\xbf\n"]))
    clean = not corruptions
    poisoned = set() if structural or byte_ops else {numbers[i] for i in poisoned_rows}
    return BarFile(data, expected if clean else None, poisoned, corruptions)


# -- properties --------------------------------------------------------------------------------


def check_error(error: BarImportError, path: Path, data: bytes) -> None:
    text = str(error)
    assert text and str(path) in text, text
    line_count = len(data.decode("utf-8", errors="replace").splitlines()) + 1
    for violation in error.violations:
        where, _, line = violation.path.rpartition(":")
        assert where == str(path), violation
        assert 1 <= int(line) <= line_count, violation
        assert violation.message.strip(), violation


def check_stored_bars(store: Store, path: Path, report_imported: int, before: list[Bar]) -> list[Bar]:
    """The FUZ bars now stored are the ones stored before, upserted with the file's valid rows."""
    parsed = read_bar_file(path, SYMBOL, "1m", "UTC")
    assert report_imported == len(parsed.bars)
    merged = {bar.ts: bar for bar in before}
    merged.update({bar.ts: bar for bar in parsed.bars})
    after = store.bars.read(SYMBOL, "1m", *EVERYTHING)
    assert after == [merged[ts] for ts in sorted(merged)]
    for bar in parsed.bars:
        assert bar_violation(*bar[3:]) is None, bar
        assert all(math.isfinite(v) for v in bar[3:]), bar
        assert bar.ts % 60 == 0, bar
    return after


@FUZZ
@given(bar_file=bar_files())
def test_import_of_a_corrupted_file_writes_exactly_its_valid_rows_or_nothing(
    fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory, bar_file: BarFile
) -> None:
    reset(fuzz_store)
    path = tmp_path_factory.getbasetemp() / "fuzzed_bars.csv"
    path.write_bytes(bar_file.data)
    count, summary, fuz_before, keep_before = snapshot(fuzz_store)
    try:
        report = import_bar_file(fuzz_store, path, SYMBOL, "1m", "UTC")
    except BarImportError as error:
        event("refused, rows named" if error.violations else "refused, whole file")
        check_error(error, path, bar_file.data)
        assert snapshot(fuzz_store) == (count, summary, fuz_before, keep_before), "a refused import wrote"
        if error.violations:  # a poisoned first row may instead spoil the format detection
            flagged = {int(v.path.rpartition(":")[2]) for v in error.violations}
            assert bar_file.poisoned_lines <= flagged, (bar_file.poisoned_lines, flagged)
        return
    event("imported")
    assert not report.invalid and not bar_file.poisoned_lines, (report.invalid, bar_file.poisoned_lines)
    assert report.symbol == SYMBOL and report.interval == "1m"
    assert report.rows_read == report.imported
    after = check_stored_bars(fuzz_store, path, report.imported, fuz_before)
    assert report.new_bars == len(after) - len(fuz_before)
    assert fuzz_store.bars.count() == count + report.new_bars
    assert fuzz_store.bars.read("KEEP", "1m", *EVERYTHING) == keep_before


@settings(FUZZ, max_examples=100)
@given(bar_file=bar_files(corrupt=False))
def test_a_clean_file_in_any_spelling_imports_exactly_its_rows(
    fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory, bar_file: BarFile
) -> None:
    reset(fuzz_store)
    path = tmp_path_factory.getbasetemp() / "clean_bars.csv"
    path.write_bytes(bar_file.data)
    assert bar_file.expected is not None
    report = import_bar_file(fuzz_store, path, SYMBOL, "1m", "UTC")
    assert (report.format, report.rows_read, report.invalid) == ("generic", len(bar_file.expected), [])
    assert report.imported == report.new_bars == len(bar_file.expected)
    stored = fuzz_store.bars.read(SYMBOL, "1m", bar_file.expected[0].ts, bar_file.expected[-1].ts + 60)
    assert stored == bar_file.expected


@settings(FUZZ, max_examples=150)
@given(bar_file=bar_files())
def test_skip_invalid_import_accounts_for_every_row_and_writes_only_valid_ones(
    fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory, bar_file: BarFile
) -> None:
    reset(fuzz_store)
    path = tmp_path_factory.getbasetemp() / "fuzzed_bars_skip.csv"
    path.write_bytes(bar_file.data)
    before = snapshot(fuzz_store)
    try:
        report = import_bar_file(fuzz_store, path, SYMBOL, "1m", "UTC", skip_invalid=True)
    except BarImportError as error:
        event("refused whole file")
        assert not error.violations  # with skip_invalid only a file-level problem refuses
        check_error(error, path, bar_file.data)
        assert snapshot(fuzz_store) == before
        return
    event("imported, some rows skipped" if report.invalid else "imported, every row")
    assert report.rows_read == report.imported + len(report.invalid)
    invalid_lines = [line for line, _ in report.invalid]
    assert invalid_lines == sorted(set(invalid_lines))
    assert bar_file.poisoned_lines <= set(invalid_lines)
    after = check_stored_bars(fuzz_store, path, report.imported, before[2])
    assert report.new_bars == len(after) - len(before[2])


# -- the CLI -----------------------------------------------------------------------------------

CORRUPTED_FILES = {
    "high_below_low": "timestamp,open,high,low,close,volume\n"
    "2025-07-02T13:30:00Z,10,11,9,10.5,100\n"
    "2025-07-02T13:31:00Z,10,9,11,10.5,100\n"
    "2025-07-02T13:32:00Z,10,11,9,10.5,1",
    "binary_noise_mixed_and_truncated": "timestamp,open,high,low,close,volume\r\n"
    "2025-07-02T13:30:00Z,10,11,9,10.5,100\r\n"
    "2025-07-02,13:31:00,1,1,1,1,1\r\n"
    "\x00\x01\x02\r\n"
    "2025-07-02T13:31:00Z,10,11,9,1",
}


@pytest.mark.parametrize("name", sorted(CORRUPTED_FILES))
def test_cli_refuses_a_corrupted_file_with_exit_2_and_leaves_the_store_alone(
    sqlite_url: str, tmp_path: Path, name: str
) -> None:
    with open_store(sqlite_url) as store:
        store.bars.upsert(BASELINE)
        before = snapshot(store)
    path = tmp_path / f"{name}.csv"
    path.write_text(CORRUPTED_FILES[name], encoding="utf-8")

    result = run_cli("data", "import", str(path), "--symbol", SYMBOL, "--interval", "1m", db=sqlite_url)

    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert result.err.startswith("error: ") and str(path) in result.err.splitlines()[0]
    with open_store(sqlite_url) as store:
        assert snapshot(store) == before


# -- reproductions of product bugs found by this fuzzing ------------------------------------------

OUT_OF_RANGE_ROWS = {
    # the UTC instant is in year 0 / year 10000: datetime cannot hold it
    "duplicate_in_year_0": "0001-01-01T00:00:00+01:00,1,1,1,1,1\n0001-01-01T00:00:00+01:00,1,1,1,1,1\n",
    "off_grid_in_year_0": "0001-01-01T00:00:30+01:00,1,1,1,1,1\n",
    "duplicate_in_year_10000": "9999-12-31T23:59:00-01:00,1,1,1,1,1\n9999-12-31T23:59:00-01:00,1,1,1,1,1\n",
    "off_grid_in_year_10000": "9999-12-31T23:59:30-01:00,1,1,1,1,1\n",
}


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE_ROWS))
def test_rows_outside_the_datetime_range_are_invalid_rows_not_a_crash(
    sqlite_store: Store, tmp_path: Path, name: str
) -> None:
    path = tmp_path / "far.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + OUT_OF_RANGE_ROWS[name])
    with pytest.raises(BarImportError):
        import_bar_file(sqlite_store, path, SYMBOL, "1m", "UTC")
    assert sqlite_store.bars.count() == 0


def test_a_bar_before_year_1_utc_is_refused_or_the_summary_still_works(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "year0.csv"
    path.write_text("timestamp,open,high,low,close,volume\n0001-01-01T00:00:00+01:00,1,1,1,1,1\n")
    with open_store(sqlite_url) as store:
        try:
            import_bar_file(store, path, SYMBOL, "1m", "UTC")
        except BarImportError:
            return  # refusing such a bar is fine too
    summary = run_cli("data", "summary", db=sqlite_url)
    assert "Traceback" not in summary.err
    assert summary.code == 0, (summary.code, summary.err)


def test_finite_values_whose_sums_would_overflow_are_an_invalid_row(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2025-07-02T13:30:00Z,1e308,1e308,1e308,1e308,1\n"
        "2025-07-02T13:31:00Z,1e15,1e15,1e15,1e15,1e15\n"
    )
    parsed = read_bar_file(path, SYMBOL, "1m", "UTC")
    assert parsed.invalid == [(2, "value above 1e15")]  # sums of a run's bars stay finite
    assert [bar.open for bar in parsed.bars] == [1e15]
