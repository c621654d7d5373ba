"""Bar file import: the real files, corrupted copies, the generic formats and the refusals.

Stores are real SQLite files (``sqlite_store``); the import-atomicity test also runs on
PostgreSQL through the shared ``store`` fixture when ``MARKETSESSION_TEST_PG_URL`` is set.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from support.stores import seed

from domain.bars import Bar
from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import BarImportError
from domain.store import Store
from ops.bar_files.importer import import_bar_file
from ops.bar_files.reader import read_bar_file

REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"
HEADER = "timestamp,open,high,low,close,volume\n"


def real_file(name: str) -> Path:
    path = REAL_DATA / name
    if not path.is_file():
        pytest.skip(f"real data file {path} not found: shared/data/real must sit beside the repo")
    return path


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def all_bars(store: Store, symbol: str, interval: str) -> list[Bar]:
    return store.bars.read(symbol, interval, -(2**40), 2**40)


def copy_with(source: Path, target: Path, changes: dict[int, str], truncate_last: int | None = None) -> Path:
    """Copy ``source`` replacing the given 1-based lines; optionally cut the last line short."""
    lines = source.read_text().splitlines()
    for number, text in changes.items():
        lines[number - 1] = text
    body = "\n".join(lines) + "\n"
    if truncate_last is not None:
        body = "\n".join(lines[:-1]) + "\n" + lines[-1][:truncate_last]
    target.write_text(body)
    return target


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the real files
def test_aapl_minute_dump_imports_862_bars_from_midnight_utc(sqlite_store: Store) -> None:
    report = import_bar_file(sqlite_store, real_file("AAPL_2025-07-02_1m.csv"), "aapl", "1m", NEW_YORK)

    assert (report.format, report.symbol, report.interval) == ("utc-minute-dump", "AAPL", "1m")
    assert (report.rows_read, report.imported, report.new_bars, report.invalid) == (862, 862, 862, [])
    assert report.first_ts == epoch("2025-07-02T00:00:00+00:00")
    assert report.last_ts == epoch("2025-07-02T23:59:00+00:00")
    stored = all_bars(sqlite_store, "AAPL", "1m")
    assert len(stored) == sqlite_store.bars.count("AAPL", "1m") == 862
    assert stored[0] == Bar(
        "AAPL", "1m", epoch("2025-07-02T00:00:00+00:00"), 207.86, 208.25, 207.7696, 207.96, 6085759.0
    )
    assert stored[-1] == Bar(
        "AAPL", "1m", epoch("2025-07-02T23:59:00+00:00"), 212.49, 212.5, 212.33, 212.41, 1079258.0
    )


def test_rivn_minute_dump_imports_617_bars(sqlite_store: Store) -> None:
    report = import_bar_file(sqlite_store, real_file("RIVN_2025-07-02_1m.csv"), "RIVN", "1m", NEW_YORK)

    assert (report.rows_read, report.imported, report.invalid) == (617, 617, [])
    first = all_bars(sqlite_store, "RIVN", "1m")[0]
    assert (first.ts, first.open, first.volume) == (epoch("2025-07-02T00:00:00+00:00"), 13.47, 1290042.0)


def test_orcl_yahoo_daily_has_5036_valid_rows_keyed_by_date_at_midnight_utc(sqlite_store: Store) -> None:
    path = real_file("ORCL_1995-2014_1d.csv")
    null_rows = sum(1 for line in path.read_text().splitlines()[1:] if "null" in line.lower())

    report = import_bar_file(sqlite_store, path, "ORCL", "1d", NEW_YORK)

    assert null_rows == 0  # this download has no Yahoo "null" days: every row is a bar
    assert (report.format, report.rows_read, report.imported, report.invalid) == (
        "yahoo-daily",
        5036,
        5036,
        [],
    )
    stored = all_bars(sqlite_store, "ORCL", "1d")
    assert len(stored) == 5036
    # Close is the traded close, not Adj Close (1.883304)
    assert stored[0] == Bar(
        "ORCL", "1d", epoch("1995-01-03T00:00:00+00:00"), 2.179012, 2.191358, 2.117284, 2.117284, 36301200.0
    )
    assert stored[-1].ts == epoch("2014-12-31T00:00:00+00:00")
    assert all(bar.ts % 86_400 == 0 for bar in stored)


def test_eurostoxx_end_labelled_berlin_rows_become_bar_starts_in_utc(sqlite_store: Store) -> None:
    """The header is a column short; 09:01 Berlin labels the 09:00–09:01 bar, i.e. 08:00Z in winter."""
    path = real_file("EUROSTOXX50_2006_1m.csv")

    report = import_bar_file(sqlite_store, path, "EUROSTOXX50", "1m", BERLIN, label="end")

    assert (report.format, report.rows_read, report.imported, report.invalid) == (
        "date-time",
        30889,
        30889,
        [],
    )
    stored = all_bars(sqlite_store, "EUROSTOXX50", "1m")
    assert stored[0] == Bar(
        "EUROSTOXX50", "1m", epoch("2006-01-02T08:00:00+00:00"), 3602.0, 3603.0, 3597.0, 3599.0, 5699.0
    )
    assert stored[-1].ts == epoch("2006-02-27T20:59:00+00:00")  # the 22:00 Berlin row ends the day


def test_start_label_keeps_the_row_time_one_interval_later_than_end_label(tmp_path: Path) -> None:
    path = real_file("EUROSTOXX50_2006_1m.csv")

    as_start = read_bar_file(path, "FESX", "1m", BERLIN, label="start")
    as_end = read_bar_file(path, "FESX", "1m", BERLIN, label="end")

    assert as_start.bars[0].ts == epoch("2006-01-02T08:01:00+00:00")
    assert [a.ts - b.ts for a, b in zip(as_start.bars, as_end.bars, strict=True)] == [60] * 30889


# ------------------------------------------------------------------------- corrupted files
def corrupted_eurostoxx(tmp_path: Path) -> Path:
    """Line 3 gets a different (valid) close; lines 5, 100, 2000 and the last one are broken."""
    return copy_with(
        real_file("EUROSTOXX50_2006_1m.csv"),
        tmp_path / "eurostoxx_corrupted.csv",
        {
            3: "2006-01-02,09:02:00,3600.00,3601.00,3598.00,3600.50,894,0",
            5: "2006-01-02,09:04:00,36O1.00,3602.00,3599.00,3600.00,500,0",  # letter O in the open
            100: "2006-01-02,10:40:00,3610.00,3590.00,3611.00,3605.00,100,0",  # high < low
            2000: "#### garbage: modem noise ####",
        },
        truncate_last=30,
    )


EXPECTED_BAD_LINES = [5, 100, 2000, 30890]


def test_corrupted_file_is_refused_with_the_exact_lines_and_nothing_is_written(
    store: Store, tmp_path: Path
) -> None:
    """Runs on SQLite and (when configured) on PostgreSQL: the refusal leaves the store as it was."""
    import_bar_file(store, real_file("EUROSTOXX50_2006_1m.csv"), "FESX", "1m", BERLIN, label="end")
    before = all_bars(store, "FESX", "1m")
    bad = corrupted_eurostoxx(tmp_path)

    with pytest.raises(BarImportError) as caught:
        import_bar_file(store, bad, "FESX", "1m", BERLIN, label="end")

    error = caught.value
    assert str(bad) in str(error) and "4 of 30889 rows are invalid" in str(error)
    assert [v.path for v in error.violations] == [f"{bad}:{line}" for line in EXPECTED_BAD_LINES]
    reasons = [v.message for v in error.violations]
    assert reasons[0] == "unparseable open '36O1.00'"
    assert reasons[1].startswith("high below")
    assert reasons[2] == "expected 8 fields, found 1 (truncated line?)"
    assert reasons[3] == "expected 8 fields, found 4 (truncated line?)"
    after = all_bars(store, "FESX", "1m")
    assert len(after) == len(before) == 30889
    assert after == before  # line 3's new close was not written either
    assert after[1].close == 3599.0


def test_skip_invalid_writes_the_good_rows_and_reports_the_bad_lines(
    sqlite_store: Store, tmp_path: Path
) -> None:
    bad = corrupted_eurostoxx(tmp_path)

    report = import_bar_file(sqlite_store, bad, "FESX", "1m", BERLIN, label="end", skip_invalid=True)

    assert [line for line, _ in report.invalid] == EXPECTED_BAD_LINES
    assert (report.rows_read, report.imported, report.new_bars) == (30889, 30885, 30885)
    assert sqlite_store.bars.count("FESX", "1m") == 30885
    assert all_bars(sqlite_store, "FESX", "1m")[1].close == 3600.5


def test_yahoo_null_rows_are_invalid_and_skippable(sqlite_store: Store, tmp_path: Path) -> None:
    bad = copy_with(
        real_file("ORCL_1995-2014_1d.csv"),
        tmp_path / "orcl_nulls.csv",
        {10: "1995-01-16,null,null,null,null,null,null", 11: "1995-01-17,null,null,null,null,null,null"},
    )

    with pytest.raises(BarImportError, match="2 of 5036 rows are invalid"):
        import_bar_file(sqlite_store, bad, "ORCL", "1d", NEW_YORK)
    report = import_bar_file(sqlite_store, bad, "ORCL", "1d", NEW_YORK, skip_invalid=True)

    assert report.invalid == [
        (10, "null open (no data for this row)"),
        (11, "null open (no data for this row)"),
    ]
    assert report.imported == sqlite_store.bars.count("ORCL", "1d") == 5034


def test_reimporting_the_same_file_changes_nothing(store: Store) -> None:
    path = real_file("AAPL_2025-07-02_1m.csv")
    first = import_bar_file(store, path, "AAPL", "1m", NEW_YORK)
    stored = all_bars(store, "AAPL", "1m")

    again = import_bar_file(store, path, "AAPL", "1m", NEW_YORK)

    assert (first.new_bars, again.new_bars, again.imported) == (862, 0, 862)
    assert all_bars(store, "AAPL", "1m") == stored


def test_duplicate_timestamp_is_reported_against_its_first_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2025-07-02T13:30:00Z,10,11,9,10.5,100\n"
        + "2025-07-02T13:31:00Z,10,11,9,10.5,100\n"
        + "2025-07-02 09:30:00-04:00,10,11,9,10.5,100\n",
    )

    parsed = read_bar_file(path, "X", "1m", NEW_YORK)

    assert parsed.invalid == [(4, "duplicate timestamp 2025-07-02T13:30:00Z (first on line 2)")]
    assert len(parsed.bars) == 2


def test_bar_rules_nan_infinity_and_negative_volume_are_invalid(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2025-07-02T13:30:00Z,0,1,0,1,10\n"
        + "2025-07-02T13:31:00Z,nan,1,1,1,10\n"
        + "2025-07-02T13:32:00Z,1,inf,1,1,10\n"
        + "2025-07-02T13:33:00Z,1,1,1,1,-5\n"
        + "2025-07-02T13:34:00Z,1,2,0.5,1.5,\n",
    )

    parsed = read_bar_file(path, "X", "1m", NEW_YORK)

    assert parsed.invalid == [
        (2, "non-positive price"),
        (3, "NaN value"),
        (4, "infinite value"),
        (5, "negative volume"),
        (6, "missing volume"),
    ]


# ------------------------------------------------------------------------- generic formats
def test_generic_timestamps_with_offsets_and_naive_local_times(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2025-07-02T13:30:00Z,10,11,9,10.5,100\n"
        + "2025-07-02 09:31:00-04:00,10.5,11,10,10.75,200\n"
        + "2025-07-02T09:32:00,10.75,11,10.5,11,300\n"
        + "2025-07-02 09:33,11,11.5,10.9,11.2,400\n",
    )

    parsed = read_bar_file(path, "X", "1m", NEW_YORK)

    assert (parsed.format, parsed.invalid, parsed.rows_read) == ("generic", [], 4)
    start = epoch("2025-07-02T13:30:00+00:00")
    assert [bar.ts for bar in parsed.bars] == [start, start + 60, start + 120, start + 180]
    in_berlin = read_bar_file(path, "X", "1m", BERLIN)
    assert [bar.ts for bar in in_berlin.bars][2:] == [
        epoch("2025-07-02T07:32:00+00:00"),
        epoch("2025-07-02T07:33:00+00:00"),
    ]


def test_generic_columns_are_found_by_case_insensitive_name_in_any_order(tmp_path: Path) -> None:
    path = write(
        tmp_path, "Close,VOLUME,Open,Extra,Low,High,TimeStamp\n10.5,100,10,x,9,11,2025-07-02T13:30:00Z\n"
    )

    parsed = read_bar_file(path, "x", "1m", NEW_YORK)

    assert parsed.bars == [Bar("X", "1m", epoch("2025-07-02T13:30:00+00:00"), 10.0, 11.0, 9.0, 10.5, 100.0)]


def test_date_time_rows_with_matching_header_and_without_header(tmp_path: Path) -> None:
    rows = "2025-07-02,09:30:00,10,11,9,10.5,100\n2025-07-02,09:31,10.5,11,10,10.75,200\n"
    with_header = write(tmp_path, "DATE,TIME,OPEN,HIGH,LOW,CLOSE,VOLUME\n" + rows, "with.csv")
    headerless = write(tmp_path, rows, "without.csv")

    named = read_bar_file(with_header, "X", "1m", NEW_YORK)
    positional = read_bar_file(headerless, "X", "1m", NEW_YORK)

    assert named.format == positional.format == "date-time"
    assert (
        [b.ts for b in named.bars]
        == [b.ts for b in positional.bars]
        == [
            epoch("2025-07-02T13:30:00+00:00"),
            epoch("2025-07-02T13:31:00+00:00"),
        ]
    )


def test_headerless_generic_rows_are_positional(tmp_path: Path) -> None:
    path = write(
        tmp_path, "2025-07-02T13:30:00Z,10,11,9,10.5,100\n\n2025-07-02T13:31:00Z,10,11,9,10.5,100\n\n"
    )

    parsed = read_bar_file(path, "X", "1m", NEW_YORK)

    assert (parsed.format, parsed.rows_read, len(parsed.bars)) == ("generic", 2, 2)


def test_quoted_fields_parse_and_a_stray_quote_spoils_only_its_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '"timestamp","open","high","low","close","volume"\n'
        '"2025-07-02T13:30:00Z","10","11","9","10.5","100"\n'
        '"2025-07-02T13:31:00Z,10,11,9,10.5,100\n'
        "2025-07-02T13:32:00Z,10,11,9,10.5,100\n",
    )

    parsed = read_bar_file(path, "X", "1m", NEW_YORK)

    assert parsed.invalid == [(3, "unbalanced quote (a record must be one line)")]
    assert [bar.ts % 3600 for bar in parsed.bars] == [1800, 1920]


def test_dst_ambiguous_and_nonexistent_local_times_are_invalid(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2025-03-09 01:59:00,10,11,9,10,1\n"
        + "2025-03-09 02:30:00,10,11,9,10,1\n"
        + "2025-11-02 01:30:00,10,11,9,10,1\n"
        + "2025-11-02 02:30:00,10,11,9,10,1\n",
    )

    parsed = read_bar_file(path, "X", "1m", NEW_YORK)

    assert parsed.invalid == [
        (3, "nonexistent local time 2025-03-09 02:30:00 in America/New_York (clocks go forward)"),
        (4, "ambiguous local time 2025-11-02 01:30:00 in America/New_York (clocks go back)"),
    ]
    assert [bar.ts for bar in parsed.bars] == [
        epoch("2025-03-09T06:59:00+00:00"),
        epoch("2025-11-02T07:30:00+00:00"),
    ]


def test_intraday_time_off_the_minute_grid_is_invalid(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2025-07-02T13:30:30Z,10,11,9,10,1\n")

    parsed = read_bar_file(path, "X", "1m", NEW_YORK)

    assert parsed.invalid == [(2, "time 2025-07-02T13:30:30Z is not on a minute boundary of 1m bars")]


def test_daily_interval_needs_date_only_rows(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2025-07-02,10,11,9,10,1\n2025-07-03 09:30,10,11,9,10,1\n")

    daily = read_bar_file(path, "X", "1d", NEW_YORK)
    minute = read_bar_file(path, "X", "1m", NEW_YORK)

    assert [bar.ts for bar in daily.bars] == [epoch("2025-07-02T00:00:00+00:00")]
    assert daily.invalid == [
        (3, "timestamp '2025-07-03 09:30' has a time of day: 1d bars need date-only rows")
    ]
    assert minute.invalid == [(2, "date '2025-07-02' without a time of day: 1m bars need a time")]


def test_interval_is_canonicalised_and_symbol_upper_cased(sqlite_store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2025-07-02T13:00:00Z,10,11,9,10,1\n2025-07-02T14:00:00Z,10,11,9,10,1\n")

    report = import_bar_file(sqlite_store, path, " spy ", "1h", NEW_YORK)

    assert (report.symbol, report.interval, report.imported) == ("SPY", "60m", 2)
    assert sqlite_store.bars.count("SPY", "60m") == 2


# ------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"\n  \n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        (b"symbol,price\nAAPL,207.5\n", "unknown bar file format"),
        (HEADER.encode(), "no data rows"),
    ],
    ids=["empty", "blank", "binary", "unknown-format", "header-only"],
)
def test_unreadable_files_are_refused_naming_the_file(
    sqlite_store: Store, tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "input.csv"
    path.write_bytes(content)

    with pytest.raises(BarImportError, match=expected) as caught:
        import_bar_file(sqlite_store, path, "X", "1m", NEW_YORK)

    assert str(path) in str(caught.value)
    assert sqlite_store.bars.count() == 0


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BarImportError, match="no such file"):
        read_bar_file(tmp_path / "absent.csv", "X", "1m", NEW_YORK)
    with pytest.raises(BarImportError, match="is a directory"):
        read_bar_file(tmp_path, "X", "1m", NEW_YORK)


@pytest.mark.parametrize(
    ("symbol", "interval", "timezone", "label", "expected"),
    [
        ("X", "7x", NEW_YORK, "start", "invalid interval '7x'"),
        ("X", "2d", NEW_YORK, "start", "only 1d"),
        ("X", "1m", "Mars/Olympus_Mons", "start", "unknown timezone"),
        ("X", "1m", NEW_YORK, "middle", "label must be"),
        ("  ", "1m", NEW_YORK, "start", "a symbol is required"),
    ],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, symbol: str, interval: str, timezone: str, label: str, expected: str
) -> None:
    path = write(tmp_path, HEADER + "2025-07-02T13:30:00Z,10,11,9,10,1\n")

    with pytest.raises(BarImportError, match=expected):
        read_bar_file(path, symbol, interval, timezone, label)


def test_daily_file_with_intraday_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BarImportError, match="import it with interval 1d"):
        read_bar_file(real_file("ORCL_1995-2014_1d.csv"), "ORCL", "1m", NEW_YORK)
    with pytest.raises(BarImportError, match="interval 1d needs date-only rows"):
        read_bar_file(real_file("EUROSTOXX50_2006_1m.csv"), "FESX", "1d", BERLIN)


def test_first_data_row_broken_still_detects_date_time_rows(tmp_path: Path) -> None:
    bad = copy_with(
        real_file("EUROSTOXX50_2006_1m.csv"), tmp_path / "e.csv", {2: "2006-01-02,09:01:00,3602.00,36"}
    )

    parsed = read_bar_file(bad, "FESX", "1m", BERLIN, label="end")

    assert parsed.format == "date-time"
    assert parsed.invalid == [(2, "expected 8 fields, found 4 (truncated line?)")]
    assert len(parsed.bars) == 30888


# ------------------------------------------------------------------ alignment at the import
def us_calendar(store: Store) -> TradingCalendar:
    seed(store)
    return TradingCalendar(store.calendar, "US_EQUITY")


@pytest.mark.parametrize("name", ["AAPL_2025-07-02_1m.csv", "RIVN_2025-07-02_1m.csv"])
def test_a_real_file_stamped_four_hours_late_is_refused_naming_the_offset_and_the_fix(
    store: Store, name: str
) -> None:
    calendar = us_calendar(store)
    with pytest.raises(BarImportError) as caught:
        import_bar_file(store, real_file(name), name[:4], "1m", NEW_YORK, calendar=calendar)
    message = str(caught.value)
    assert message.startswith(f"{real_file(name)}: time stamps look +4:00 late (confidence ")
    assert "stamped 4:00 after the open" in message
    assert message.endswith(
        "nothing was imported; import with --shift -4:00 to correct the time stamps, "
        "or --accept-misaligned to keep them as they are"
    )
    assert "\n" not in message
    assert store.bars.count() == 0


def test_a_real_file_shifted_back_imports_and_its_day_holds_every_regular_minute(sqlite_store: Store) -> None:
    calendar = us_calendar(sqlite_store)
    report = import_bar_file(
        sqlite_store,
        real_file("AAPL_2025-07-02_1m.csv"),
        "AAPL",
        "1m",
        NEW_YORK,
        calendar=calendar,
        shift_seconds=-4 * 3600,
    )
    assert report.alignment is not None and report.alignment.status.value == "aligned"
    assert report.first_ts == epoch("2025-07-01T20:00:00+00:00")  # July 1, 16:00 New York: the closing cross
    regular = sqlite_store.bars.read(
        "AAPL", "1m", epoch("2025-07-02T13:30:00+00:00"), epoch("2025-07-02T20:00:00+00:00")
    )
    assert len(regular) == 390
    assert regular[0].volume == 1_545_350  # the opening auction, now on the open


def test_a_shift_that_is_still_wrong_is_refused_with_the_whole_fix(sqlite_store: Store) -> None:
    calendar = us_calendar(sqlite_store)
    with pytest.raises(
        BarImportError, match=r"shifted by -3:00: time stamps look \+1:00 late .* --shift -4:00 to"
    ):
        import_bar_file(
            sqlite_store,
            real_file("AAPL_2025-07-02_1m.csv"),
            "AAPL",
            "1m",
            NEW_YORK,
            calendar=calendar,
            shift_seconds=-3 * 3600,
        )
    assert sqlite_store.bars.count() == 0


def test_accept_misaligned_imports_as_it_is_and_keeps_the_verdict(sqlite_store: Store) -> None:
    calendar = us_calendar(sqlite_store)
    report = import_bar_file(
        sqlite_store,
        real_file("RIVN_2025-07-02_1m.csv"),
        "RIVN",
        "1m",
        NEW_YORK,
        calendar=calendar,
        accept_misaligned=True,
    )
    assert report.imported == sqlite_store.bars.count() == 617
    assert report.alignment is not None and report.alignment.offset_seconds == 4 * 3600


def test_the_correct_files_import_without_an_alarm(sqlite_store: Store) -> None:
    seed(sqlite_store, start_year=1994, end_year=2015)
    calendar = TradingCalendar(sqlite_store.calendar, "US_EQUITY")
    report = import_bar_file(
        sqlite_store, real_file("ORCL_1995-2014_1d.csv"), "ORCL", "1d", NEW_YORK, calendar=calendar
    )
    assert report.imported == 5036 and report.alignment is not None
    assert report.alignment.status.value == "aligned"


def test_a_daily_file_can_only_be_shifted_by_whole_days(sqlite_store: Store) -> None:
    with pytest.raises(BarImportError, match=r"shift them by whole days \(±24:00\), not -4:00"):
        import_bar_file(
            sqlite_store, real_file("ORCL_1995-2014_1d.csv"), "ORCL", "1d", NEW_YORK, shift_seconds=-4 * 3600
        )
    assert sqlite_store.bars.count() == 0


def test_without_a_seeded_calendar_the_import_goes_on_and_says_the_check_did_not_run(
    sqlite_store: Store,
) -> None:
    seed(sqlite_store, start_year=2030, end_year=2030)
    report = import_bar_file(
        sqlite_store,
        real_file("AAPL_2025-07-02_1m.csv"),
        "AAPL",
        "1m",
        NEW_YORK,
        calendar=TradingCalendar(sqlite_store.calendar, "US_EQUITY"),
    )
    assert report.imported == 862 and report.alignment is not None
    assert report.alignment.status.value == "undetermined"
    assert report.alignment.evidence[0].startswith("not checked: 2025-06-30 is outside the seeded calendar")
