"""The alignment check: real files as they are and shifted back, correctly stamped real files,
and properties over synthetic days with known offsets."""

from __future__ import annotations

import csv
import math
import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stores import real_file, real_minute_bars, real_minute_bars_as_stamped, seed

from domain.bars import daily_date
from domain.calendar.trading_calendar import TradingCalendar
from domain.intervals import DAILY, MINUTE
from domain.quality.alignment import (
    AlignmentStatus,
    check_alignment,
    check_bars,
    check_daily_alignment,
    format_offset,
    parse_offset,
)
from domain.session.windows import DayHours
from domain.store import Store
from ops.bar_files.reader import read_bar_file

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
HOUR = 3600


def hours_of(day: date, zone: ZoneInfo, regular: tuple[time, time], **extra: time | None) -> DayHours:
    def at(moment: time | None) -> int | None:
        return None if moment is None else int(datetime.combine(day, moment, tzinfo=zone).timestamp())

    return DayHours(
        day,
        at(regular[0]),  # type: ignore[arg-type]  # always given
        at(regular[1]),  # type: ignore[arg-type]
        break_start_ts=at(extra.get("break_start")),
        break_end_ts=at(extra.get("break_end")),
        pre_open_ts=at(extra.get("pre_open")),
        post_close_ts=at(extra.get("post_close")),
    )


def us_day(day: date, close: time = time(16)) -> DayHours:
    post = time(20) if close == time(16) else time(17)
    return hours_of(day, NEW_YORK, (time(9, 30), close), pre_open=time(4), post_close=post)


def tokyo_day(day: date) -> DayHours:
    return hours_of(day, TOKYO, (time(9), time(15)), break_start=time(11, 30), break_end=time(12, 30))


JULY = [
    us_day(date(2025, 6, 30)),
    us_day(date(2025, 7, 1)),
    us_day(date(2025, 7, 2)),
    us_day(date(2025, 7, 3)),
]


def real_minutes(symbol: str) -> tuple[list[int], list[float]]:
    with real_file(f"{symbol}_2025-07-02_1m.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [int(datetime.fromisoformat(r["timestamp"]).timestamp()) for r in rows], [
        float(r["volume"]) for r in rows
    ]


# ---------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_the_real_minute_files_are_found_four_hours_late_with_the_opening_print_as_evidence(
    symbol: str,
) -> None:
    ts, volume = real_minutes(symbol)
    verdict = check_alignment(ts, volume, 60, JULY)
    assert verdict.status is AlignmentStatus.MISALIGNED
    assert verdict.offset_seconds == 4 * HOUR
    assert verdict.fix == "--shift -4:00"
    assert verdict.confidence > 0.6
    text = verdict.describe()
    assert "look +4:00 late" in text and "stamped 4:00 after the open" in text
    assert "shifted by -4:00 the regular session holds 390 of 390 bars" in text


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_the_real_minute_files_shifted_back_are_aligned(symbol: str) -> None:
    ts, volume = real_minutes(symbol)
    verdict = check_alignment([t - 4 * HOUR for t in ts], volume, 60, JULY)
    assert verdict.status is AlignmentStatus.ALIGNED
    assert verdict.offset_seconds == 0
    assert verdict.fix == ""


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_one_real_day_in_its_read_window_is_judged_alone(symbol: str) -> None:
    """What a session sees: the bars stamped inside the day's extended hours, nothing more."""
    ts, volume = real_minutes(symbol)
    day = JULY[2]
    for shift, expected in ((0, 4 * HOUR), (-4 * HOUR, 0)):
        pairs = [
            (t + shift, v)
            for t, v in zip(ts, volume, strict=True)
            if day.read_start_ts <= t + shift < day.read_end_ts
        ]
        verdict = check_alignment([t for t, _ in pairs], [v for _, v in pairs], 60, [day])
        assert verdict.offset_seconds == expected, verdict.describe()


@pytest.mark.parametrize("error", [60, -60, HOUR, -HOUR // 2])
def test_the_real_files_shifted_by_other_errors_are_estimated_exactly(error: int) -> None:
    ts, volume = real_minutes("AAPL")
    verdict = check_alignment([t - 4 * HOUR + error for t in ts], volume, 60, JULY)
    assert (verdict.status, verdict.offset_seconds) == (AlignmentStatus.MISALIGNED, error)


def test_a_bar_end_stamped_as_its_start_is_named_as_a_label_error() -> None:
    ts, volume = real_minutes("AAPL")
    verdict = check_alignment([t - 4 * HOUR + 60 for t in ts], volume, 60, JULY)
    assert verdict.is_label_error and verdict.fix == "--label end"
    assert "opening print is stamped one minute after the open" in verdict.describe()


def eurostoxx() -> tuple[list[int], list[float], list[DayHours]]:
    """The Euro Stoxx 50 file (bar ends, Berlin time) on Xetra's hours with the German venues'
    extended day (08:00–22:00)."""
    parsed = read_bar_file(real_file("EUROSTOXX50_2006_1m.csv"), "SX5E", "1m", "Europe/Berlin", "end")
    days = sorted({datetime.fromtimestamp(bar.ts, BERLIN).date() for bar in parsed.bars})
    hours = [
        hours_of(d, BERLIN, (time(9), time(17, 30)), pre_open=time(8), post_close=time(22)) for d in days
    ]
    return [b.ts for b in parsed.bars], [b.volume for b in parsed.bars], hours


def test_the_correctly_stamped_eurostoxx_file_raises_no_alarm_on_the_file_or_any_day() -> None:
    ts, volume, hours = eurostoxx()
    assert check_alignment(ts, volume, 60, hours).status is AlignmentStatus.ALIGNED
    for day in hours:
        pairs = [(t, v) for t, v in zip(ts, volume, strict=True) if day.read_start_ts <= t < day.read_end_ts]
        verdict = check_alignment([t for t, _ in pairs], [v for _, v in pairs], 60, [day])
        assert verdict.status is AlignmentStatus.ALIGNED, (day.day, verdict.describe())


@pytest.mark.parametrize("error", [HOUR, -HOUR, HOUR // 2, 60])
def test_the_eurostoxx_file_shifted_is_caught(error: int) -> None:
    ts, volume, hours = eurostoxx()
    verdict = check_alignment([t + error for t in ts], volume, 60, hours)
    assert (verdict.status, verdict.offset_seconds) == (AlignmentStatus.MISALIGNED, error)


def test_the_orcl_daily_dates_are_nyse_trading_days_and_a_day_off_is_caught(sqlite_store: Store) -> None:
    parsed = read_bar_file(real_file("ORCL_1995-2014_1d.csv"), "ORCL", "1d", "America/New_York")
    seed(sqlite_store, start_year=1994, end_year=2015)
    trading = TradingCalendar(sqlite_store.calendar, "US_EQUITY").is_trading_day
    days = [daily_date(bar.ts) for bar in parsed.bars]
    verdict = check_daily_alignment(days, trading)
    assert verdict.status is AlignmentStatus.ALIGNED and verdict.confidence == 1.0
    late = check_daily_alignment([d + timedelta(days=1) for d in days], trading)
    assert (late.status, late.offset_seconds, late.fix) == (
        AlignmentStatus.MISALIGNED,
        86_400,
        "--shift -24:00",
    )


# -------------------------------------------------------------------------- synthetic days


def synthetic_day(
    hours: DayHours, rng: random.Random, missing: float, extended: float, step: int = 60
) -> tuple[list[int], list[float]]:
    """A U-shaped regular session (an opening auction, a closing print) and thin extended hours."""
    ts: list[int] = []
    volume: list[float] = []
    start = hours.read_start_ts
    end = hours.read_end_ts
    n = (hours.close_ts - hours.open_ts) // step
    for t in range(start, end, step):
        if hours.break_start_ts is not None and hours.break_start_ts <= t < (hours.break_end_ts or t):
            continue
        if hours.open_ts <= t < hours.close_ts:
            k = (t - hours.open_ts) // step
            if k and k != n - 1 and rng.random() < missing:
                continue
            shape = 1 + 3 * math.exp(-k / 20) + 1.5 * math.exp(-(n - 1 - k) / 20)
            size = 10_000 * shape * rng.lognormvariate(0, 0.4)
            if k == 0:
                size *= 8
            elif k == n - 1:
                size *= 3
        else:
            if rng.random() > extended:
                continue
            size = 300 * rng.lognormvariate(0, 0.8)
        ts.append(t)
        volume.append(round(size))
    return ts, volume


OFFSETS = [0, 60, *(k * 1800 for k in range(-23, 25) if k)]  # -12:00 is reported as +12:00
SHAPES = {
    "us": lambda d: us_day(d),
    "us early close": lambda d: us_day(d, close=time(13)),
    "tokyo lunch break": tokyo_day,
}


@settings(max_examples=60, deadline=None)
@given(
    offset=st.sampled_from(OFFSETS),
    shape=st.sampled_from(sorted(SHAPES)),
    missing=st.floats(0.0, 0.3),
    extended=st.floats(0.0, 0.6),
    days=st.integers(1, 3),
    seed=st.integers(0, 2**32),
)
def test_a_synthetic_session_shifted_by_a_known_offset_is_estimated_exactly(
    offset: int, shape: str, missing: float, extended: float, days: int, seed: int
) -> None:
    rng = random.Random(seed)
    first = date(2025, 3, 3)  # a Monday
    day_hours = [SHAPES[shape](first + timedelta(days=i)) for i in range(days)]
    around = [
        SHAPES[shape](first - timedelta(days=3)),
        *day_hours,
        SHAPES[shape](first + timedelta(days=days)),
    ]
    ts: list[int] = []
    volume: list[float] = []
    for hours in day_hours:
        day_ts, day_volume = synthetic_day(hours, rng, missing, extended)
        ts += [t + offset for t in day_ts]
        volume += day_volume
    verdict = check_alignment(ts, volume, 60, around)
    pre_open = {hours.open_ts - 60 + offset for hours in day_hours}
    if offset == 60 and days < 3 and not pre_open <= set(ts):
        # one interval late on fewer than three days is told only by a small pre-open minute
        # stamped on the open; without one the day stays aligned
        assert verdict.status is AlignmentStatus.ALIGNED, verdict.describe()
        return
    expected = AlignmentStatus.ALIGNED if offset == 0 else AlignmentStatus.MISALIGNED
    assert (verdict.status, verdict.offset_seconds) == (expected, offset), verdict.describe()


@settings(max_examples=30, deadline=None)
@given(missing=st.floats(0.0, 0.3), seed=st.integers(0, 2**32), step=st.sampled_from([60, 300, 900]))
def test_a_synthetic_session_as_stamped_is_aligned_at_every_interval(
    missing: float, seed: int, step: int
) -> None:
    hours = us_day(date(2025, 3, 4))
    ts, volume = synthetic_day(hours, random.Random(seed), missing, 0.3, step)
    assert check_alignment(ts, volume, step, [hours]).status is AlignmentStatus.ALIGNED


def test_a_session_without_volume_is_judged_by_where_its_bars_lie() -> None:
    hours = tokyo_day(date(2025, 3, 4))
    ts, _ = synthetic_day(hours, random.Random(1), 0.0, 0.0)
    assert check_alignment(ts, [0.0] * len(ts), 60, [hours]).status is AlignmentStatus.ALIGNED
    late = check_alignment([t + HOUR for t in ts], [0.0] * len(ts), 60, [hours])
    assert (late.status, late.offset_seconds) == (AlignmentStatus.MISALIGNED, HOUR)


@pytest.mark.parametrize("count", [0, 5, 29])
def test_too_few_bars_are_undetermined(count: int) -> None:
    hours = us_day(date(2025, 3, 4))
    ts = [hours.open_ts + 60 * i for i in range(count)]
    verdict = check_alignment(ts, [1000.0] * count, 60, [hours])
    assert verdict.status is AlignmentStatus.UNDETERMINED and verdict.confidence == 0.0


def test_a_verdict_serialises_with_its_offset_and_fix() -> None:
    ts, volume = real_minutes("RIVN")
    data = check_alignment(ts, volume, 60, JULY).as_dict()
    assert data["status"] == "misaligned" and data["offset"] == "+4:00" and data["offset_seconds"] == 14_400
    assert data["fix"] == "--shift -4:00" and data["evidence"] and 0 < data["confidence"] <= 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("-4", -14_400), ("+4:00", 14_400), ("-0:30", -1800), ("5:30", 19_800), ("0", 0), ("-24:00", -86_400)],
)
def test_offsets_parse_and_format_both_ways(text: str, seconds: int) -> None:
    assert parse_offset(text) == seconds
    assert parse_offset(format_offset(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "four", "-4:60", "25", "+4:0x", "--4", "4:00:00"])
def test_a_bad_offset_is_refused_naming_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="invalid offset"):
        parse_offset(text)


# ------------------------------------------------------------------- bars against a calendar


def test_bars_are_checked_against_the_seeded_calendar_around_them(sqlite_store: Store) -> None:
    seed(sqlite_store)
    calendar = TradingCalendar(sqlite_store.calendar, "US_EQUITY")
    late = check_bars(real_minute_bars_as_stamped("AAPL"), MINUTE, calendar)
    assert (late.status, late.offset_seconds) == (AlignmentStatus.MISALIGNED, 4 * HOUR)
    # real_minute_bars is the same file shifted back 4 hours
    assert check_bars(real_minute_bars("AAPL"), MINUTE, calendar).status is AlignmentStatus.ALIGNED


def test_bars_outside_the_seeded_calendar_are_not_checked_and_say_why(sqlite_store: Store) -> None:
    seed(sqlite_store, start_year=2030, end_year=2030)
    verdict = check_bars(
        real_minute_bars_as_stamped("RIVN"), MINUTE, TradingCalendar(sqlite_store.calendar, "US_EQUITY")
    )
    assert verdict.status is AlignmentStatus.UNDETERMINED
    assert verdict.evidence[0].startswith("not checked: ") and "2025-06-30 is outside" in verdict.evidence[0]


def test_daily_bars_on_a_calendar_seeded_exactly_for_their_years_are_judged(sqlite_store: Store) -> None:
    """The day after the last date lies beyond the calendar: that candidate cannot be vouched
    for, but the dates inside it are still judged."""
    seed(sqlite_store, start_year=1995, end_year=2014)
    parsed = read_bar_file(real_file("ORCL_1995-2014_1d.csv"), "ORCL", "1d", "America/New_York")
    verdict = check_bars(parsed.bars, DAILY, TradingCalendar(sqlite_store.calendar, "US_EQUITY"))
    assert verdict.status is AlignmentStatus.ALIGNED and verdict.confidence == 1.0
