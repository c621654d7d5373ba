"""Historical indicators (SPEC §6) on real ORCL daily bars 1995–2014 and small minute sets.

Every ORCL expectation is recomputed in the test straight from the CSV rows with plain Python
(filter the dates, then max/min/mean): the ORCL file holds every NYSE trading day of its
range, so "the last N rows before the session" are the last N trading days. The days an
indicator covers come from :func:`domain.calendar.trading_days.period_days` over a store-backed
US_EQUITY calendar seeded 1995–2014.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.stores import DailyRow, daily_rows, real_file, seeded_calendar

from domain.bars import Bar, daily_date
from domain.calendar.trading_calendar import TradingCalendar
from domain.calendar.trading_days import period_days
from domain.config import IndicatorConfig
from domain.history.indicators import (
    IndicatorResult,
    MinuteValues,
    compute_indicator,
    compute_indicators,
    describe_days,
)
from domain.intervals import MINUTE
from domain.session.windows import DayHours

SYMBOL = "ORCL"


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


def d(text: str) -> date:
    return date.fromisoformat(text)


Row = DailyRow


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return daily_rows("ORCL_1995-2014_1d.csv")


@pytest.fixture(scope="module")
def daily_bars(rows: list[Row]) -> list[Bar]:
    return [Bar(SYMBOL, "1d", midnight(r.day), r.open, r.high, r.low, r.close, r.volume) for r in rows]


@pytest.fixture(scope="module")
def calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TradingCalendar]:
    with seeded_calendar(
        tmp_path_factory.mktemp("orcl"), "US_EQUITY", start_year=1995, end_year=2014
    ) as calendar:
        yield calendar


def config(kind: str, period: str, field: str, **extra: Any) -> IndicatorConfig:
    return IndicatorConfig.model_validate({"type": kind, "period": period, "field": field, **extra})


HIGH_52W = config("trailing_max", "52w", "high")
LOW_52W = config("trailing_min", "52w", "low")
AVG_VOLUME_10D = config("trailing_average", "10d", "volume")


def daily(
    calendar: TradingCalendar, bars: Sequence[Bar], name: str, cfg: IndicatorConfig, session_day: date
) -> IndicatorResult:
    days = period_days(calendar, session_day, cfg)
    return compute_indicator(name, cfg, bars, {}, days, {}, symbol=SYMBOL)


def before(rows: list[Row], session_day: date, calendar_days: int) -> list[Row]:
    """CSV rows in [session_day - calendar_days, session_day)."""
    first = session_day - timedelta(days=calendar_days)
    return [r for r in rows if first <= r.day < session_day]


SESSIONS = ["2008-10-15", "2001-09-17", "2014-12-31", "2000-03-27", "1996-01-02"]


def test_orcl_file_holds_every_trading_day_of_the_calendar(
    rows: list[Row], calendar: TradingCalendar
) -> None:
    """The premise of the references below: one CSV row per NYSE trading day, nothing else."""
    assert [r.day for r in rows] == calendar.get_trading_dates_in_range(d("1995-01-03"), d("2014-12-31"))


# --------------------------------------------------------------------------- ORCL, daily values


@pytest.mark.parametrize("session", SESSIONS)
def test_orcl_52_week_high_is_the_max_high_of_the_previous_364_days(
    rows: list[Row], daily_bars: list[Bar], calendar: TradingCalendar, session: str
) -> None:
    session_day = d(session)
    expected = max(r.high for r in before(rows, session_day, 364))
    result = daily(calendar, daily_bars, "high_52w", HIGH_52W, session_day)
    assert result == IndicatorResult("high_52w", expected, [], None)


@pytest.mark.parametrize("session", SESSIONS)
def test_orcl_52_week_low_is_the_min_low_of_the_previous_364_days(
    rows: list[Row], daily_bars: list[Bar], calendar: TradingCalendar, session: str
) -> None:
    session_day = d(session)
    expected = min(r.low for r in before(rows, session_day, 364))
    result = daily(calendar, daily_bars, "low_52w", LOW_52W, session_day)
    assert result == IndicatorResult("low_52w", expected, [], None)


@pytest.mark.parametrize("session", SESSIONS)
def test_orcl_10_day_average_volume_is_the_mean_of_the_last_10_rows(
    rows: list[Row], daily_bars: list[Bar], calendar: TradingCalendar, session: str
) -> None:
    session_day = d(session)
    last_ten = [r.volume for r in rows if r.day < session_day][-10:]
    expected = sum(last_ten) / 10
    result = daily(calendar, daily_bars, "avg_volume", AVG_VOLUME_10D, session_day)
    assert result.value == pytest.approx(expected, rel=1e-12)
    assert (result.missing_days, result.warning) == ([], None)


def test_orcl_values_around_the_lehman_crash(daily_bars: list[Bar], calendar: TradingCalendar) -> None:
    """Pinned figures for 2008-10-15, read off the CSV: high 2008-08-08, low 2008-09-19,
    volumes of 2008-10-01..2008-10-14."""
    session_day = d("2008-10-15")
    assert daily(calendar, daily_bars, "high_52w", HIGH_52W, session_day).value == 23.620001
    assert daily(calendar, daily_bars, "low_52w", LOW_52W, session_day).value == 15.0
    avg = daily(calendar, daily_bars, "avg_volume", AVG_VOLUME_10D, session_day).value
    assert avg == pytest.approx(62_133_550.0, rel=1e-12)


def test_orcl_average_after_the_september_2001_closure_reaches_back_over_it(
    rows: list[Row], daily_bars: list[Bar], calendar: TradingCalendar
) -> None:
    """Markets were shut 2001-09-11..14: the 10 days before 09-17 start on 08-27."""
    days = period_days(calendar, d("2001-09-17"), AVG_VOLUME_10D)
    assert days[0] == d("2001-08-27")
    assert days[-1] == d("2001-09-10")
    assert d("2001-09-03") not in days  # Labor Day


@pytest.mark.parametrize(
    ("kind", "period", "field", "span"),
    [
        ("trailing_max", "3m", "close", 90),
        ("trailing_min", "1y", "low", 365),
        ("trailing_average", "6m", "close", 180),
        ("trailing_max", "2y", "high", 730),
        ("trailing_average", "4w", "volume", 28),
    ],
)
@pytest.mark.parametrize("session", ["2008-10-15", "2014-12-31"])
def test_orcl_calendar_span_periods_cover_7n_30n_365n_days(
    rows: list[Row],
    daily_bars: list[Bar],
    calendar: TradingCalendar,
    kind: str,
    period: str,
    field: str,
    span: int,
    session: str,
) -> None:
    session_day = d(session)
    values = [getattr(r, field) for r in before(rows, session_day, span)]
    expected = {"trailing_max": max, "trailing_min": min}.get(kind, lambda v: sum(v) / len(v))(values)
    result = daily(calendar, daily_bars, "x", config(kind, period, field), session_day)
    assert result.value == pytest.approx(expected, rel=1e-12)


def test_orcl_one_year_and_52_weeks_differ_by_one_calendar_day(
    daily_bars: list[Bar], calendar: TradingCalendar
) -> None:
    session_day = d("2008-10-15")
    year = period_days(calendar, session_day, config("trailing_max", "1y", "high"))
    weeks = period_days(calendar, session_day, HIGH_52W)
    assert year[0] == d("2007-10-16")  # 365 days back, a Tuesday
    assert weeks[0] == d("2007-10-17")
    assert year[1:] == weeks


# ----------------------------------------------------------------------- ORCL, skip_early_close


def test_orcl_10_day_average_volume_without_half_days_skips_thanksgiving_friday(
    rows: list[Row], daily_bars: list[Bar], calendar: TradingCalendar
) -> None:
    """2008-11-28 closed at 13:00: without it the 10 days reach one day further back."""
    session_day = d("2008-12-02")
    cfg = config("trailing_average", "10d", "volume", skip_early_close=True)
    assert calendar.get_trading_session(d("2008-11-28")).is_early_close
    last_ten = [r.volume for r in rows if r.day < session_day and r.day != d("2008-11-28")][-10:]
    result = daily(calendar, daily_bars, "avg_volume", cfg, session_day)
    assert result.value == pytest.approx(sum(last_ten) / 10, rel=1e-12)
    with_half_day = daily(calendar, daily_bars, "avg_volume", AVG_VOLUME_10D, session_day)
    assert with_half_day.value != result.value


def test_orcl_52_week_high_without_half_days_drops_the_christmas_eve_high(
    rows: list[Row], daily_bars: list[Bar], calendar: TradingCalendar
) -> None:
    """ORCL's 52-week high before 2014-12-31 was set on 2014-12-24, a 13:00 close."""
    session_day = d("2014-12-31")
    half_days = {d("2014-07-03"), d("2014-11-28"), d("2014-12-24")}
    year = before(rows, session_day, 364)
    assert {r.day for r in year if calendar.get_trading_session(r.day).is_early_close} == half_days
    cfg = config("trailing_max", "52w", "high", skip_early_close=True)
    result = daily(calendar, daily_bars, "high_52w", cfg, session_day)
    expected = max(r.high for r in year if r.day not in half_days)
    assert result.value == expected == 46.5
    assert daily(calendar, daily_bars, "high_52w", HIGH_52W, session_day).value == 46.709999


# ---------------------------------------------------------------------------------- missing data


def test_a_period_with_missing_daily_bars_is_none_with_a_warning_naming_the_days(
    daily_bars: list[Bar], calendar: TradingCalendar
) -> None:
    gone = {d("2008-10-01"), d("2008-10-02"), d("2008-10-06")}
    holey = [bar for bar in daily_bars if daily_date(bar.ts) not in gone]
    result = daily(calendar, holey, "avg_volume", AVG_VOLUME_10D, d("2008-10-15"))
    assert result.value is None
    assert result.missing_days == sorted(gone)
    assert result.warning is not None
    for text in ("ORCL", "'avg_volume'", "3 of 10", "2008-10-01..2008-10-02", "2008-10-06"):
        assert text in result.warning


@pytest.mark.parametrize("cfg", [HIGH_52W, LOW_52W, AVG_VOLUME_10D], ids=lambda c: c.type)
def test_no_data_at_all_is_none_never_zero(calendar: TradingCalendar, cfg: IndicatorConfig) -> None:
    days = period_days(calendar, d("2008-10-15"), cfg)
    result = compute_indicator("x", cfg, [], {}, days, {}, symbol=SYMBOL)
    assert result.value is None
    assert result.missing_days == days
    assert result.warning is not None
    assert f"{days[0].isoformat()}..{days[-1].isoformat()}" in result.warning


def test_an_empty_period_is_none_with_a_warning() -> None:
    result = compute_indicator("x", HIGH_52W, [], {}, [], {}, symbol=SYMBOL)
    assert result.value is None
    assert result.warning is not None
    assert "no trading day" in result.warning


def test_bars_outside_the_period_are_ignored(daily_bars: list[Bar], calendar: TradingCalendar) -> None:
    days = period_days(calendar, d("2008-10-15"), AVG_VOLUME_10D)
    inside = [bar for bar in daily_bars if daily_date(bar.ts) in set(days)]
    everything = compute_indicator("v", AVG_VOLUME_10D, daily_bars, {}, days, {}, symbol=SYMBOL)
    only_period = compute_indicator("v", AVG_VOLUME_10D, inside, {}, days, {}, symbol=SYMBOL)
    assert everything == only_period


def test_describe_days_joins_runs_of_consecutive_period_days() -> None:
    period = [d("2025-07-01"), d("2025-07-02"), d("2025-07-03"), d("2025-07-07"), d("2025-07-08")]
    missing = [d("2025-07-01"), d("2025-07-03"), d("2025-07-07")]
    assert describe_days(missing, period) == "2025-07-01, 2025-07-03..2025-07-07"


# ------------------------------------------------------------------------------ minute granularity

MINUTE_AVG = config("trailing_average", "3d", "volume", granularity="minute")
DAY1, DAY2, DAY3 = d("2025-06-30"), d("2025-07-01"), d("2025-07-02")
OPEN = {day: midnight(day) + 13 * 3600 + 30 * 60 for day in (DAY1, DAY2, DAY3)}  # 09:30 New York (EDT)


def minute_bars(day: date, volumes: dict[int, float]) -> list[Bar]:
    return [
        Bar("RIVN", "1m", OPEN[day] + minute * 60, 10.0, 10.0, 10.0, 10.0, volume)
        for minute, volume in volumes.items()
    ]


def test_minute_average_uses_only_the_days_that_have_each_minute() -> None:
    by_day = {
        DAY1: minute_bars(DAY1, {0: 10, 1: 20, 2: 30, 3: 40, 4: 50}),
        DAY2: minute_bars(DAY2, {0: 30, 1: 40, 3: 60}),
        DAY3: minute_bars(DAY3, {0: 50, 2: 90}),
    }
    result = compute_indicator(
        "avg_volume_intraday",
        MINUTE_AVG,
        [],
        by_day,
        [DAY1, DAY2, DAY3],
        OPEN,
        symbol="RIVN",
        session_minutes=6,
    )
    assert result == IndicatorResult("avg_volume_intraday", [30.0, 30.0, 60.0, 50.0, 50.0, None], [], None)


def test_minute_average_ignores_bars_outside_the_regular_session() -> None:
    by_day = {DAY1: minute_bars(DAY1, {-1: 1000, 0: 10, 1: 20, 2: 5000, 3: 7000})}
    result = compute_indicator("m", MINUTE_AVG, [], by_day, [DAY1], OPEN, symbol="RIVN", session_minutes=2)
    assert result.value == [10.0, 20.0]


def test_minute_average_names_days_without_minute_bars_but_keeps_the_value() -> None:
    by_day = {DAY1: minute_bars(DAY1, {0: 10, 1: 20}), DAY2: [], DAY3: minute_bars(DAY3, {0: 30})}
    result = compute_indicator(
        "avg_volume_intraday",
        MINUTE_AVG,
        [],
        by_day,
        [DAY1, DAY2, DAY3],
        OPEN,
        symbol="RIVN",
        session_minutes=3,
    )
    assert result.value == [20.0, 20.0, None]
    assert result.missing_days == [DAY2]
    assert result.warning is not None
    assert "RIVN" in result.warning
    assert "'avg_volume_intraday'" in result.warning
    assert "2025-07-01" in result.warning


def test_minute_average_without_any_minute_bar_is_none() -> None:
    result = compute_indicator(
        "m", MINUTE_AVG, [], {}, [DAY1, DAY2], OPEN, symbol="RIVN", session_minutes=390
    )
    assert result.value is None
    assert result.missing_days == [DAY1, DAY2]
    assert result.warning is not None
    assert "2025-06-30..2025-07-01" in result.warning


def test_minute_average_over_an_early_close_day_averages_the_late_minutes_over_full_days() -> None:
    """A half day has no bars after its close: those minutes average the other days only."""
    by_day = {
        DAY1: minute_bars(DAY1, dict.fromkeys(range(390), 100.0)),
        DAY2: minute_bars(DAY2, dict.fromkeys(range(210), 300.0)),  # 13:00 close
    }
    result = compute_indicator(
        "m", MINUTE_AVG, [], by_day, [DAY1, DAY2], OPEN, symbol="RIVN", session_minutes=390
    )
    assert isinstance(result.value, MinuteValues)
    assert len(result.value) == 390
    assert result.value[0] == result.value[209] == 200.0
    assert result.value[210] == result.value[389] == 100.0


def test_minute_granularity_needs_session_minutes_and_each_days_open() -> None:
    by_day = {DAY1: minute_bars(DAY1, {0: 1})}
    with pytest.raises(ValueError, match="session_minutes"):
        compute_indicator("m", MINUTE_AVG, [], by_day, [DAY1], OPEN, symbol="RIVN")
    with pytest.raises(ValueError, match="2025-06-30"):
        compute_indicator("m", MINUTE_AVG, [], by_day, [DAY1], {}, symbol="RIVN", session_minutes=390)


def test_minute_average_over_real_aapl_bars_of_one_day_is_that_days_volume() -> None:
    """With a one-day period each minute's average is that minute's own volume (real 1m file)."""
    with real_file("AAPL_2025-07-02_1m.csv").open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    late = timedelta(hours=4)  # the file is stamped 4 hours late (see its README)
    parsed = [(datetime.fromisoformat(line["timestamp"]) - late, float(line["volume"])) for line in lines]
    opened = datetime(2025, 7, 2, 13, 30, tzinfo=UTC)
    bars = [
        Bar("AAPL", "1m", int(moment.astimezone(UTC).timestamp()), 1, 1, 1, 1, volume)
        for moment, volume in parsed
    ]
    day = d("2025-07-02")
    result = compute_indicator(
        "v",
        config("trailing_average", "1d", "volume", granularity="minute"),
        [],
        {day: bars},
        [day],
        {day: int(opened.timestamp())},
        symbol="AAPL",
        session_minutes=390,
    )
    assert isinstance(result.value, MinuteValues)
    regular = {
        int((moment.astimezone(UTC) - opened).total_seconds()) // 60: volume
        for moment, volume in parsed
        if opened <= moment.astimezone(UTC) < opened + timedelta(minutes=390)
    }
    assert len(regular) == 390 < len(parsed)  # every regular minute, and extended-hours bars too
    assert {i: v for i, v in enumerate(result.value) if v is not None} == regular


# ------------------------------------------------------------------- minute granularity, midday break

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(day: date, close: time = time(15, 30)) -> DayHours:
    """A TSE day: 09:00 to ``close`` with the 11:30–12:30 lunch break."""

    def ts(moment: time) -> int:
        return int(datetime.combine(day, moment, tzinfo=TOKYO).timestamp())

    return DayHours(
        day, ts(time(9)), ts(close), break_start_ts=ts(time(11, 30)), break_end_ts=ts(time(12, 30))
    )


def trading_minutes(hours: DayHours) -> list[int]:
    """Start of each trading minute of the day, in order (the expected 1m windows: no break)."""
    windows = hours.windows(MINUTE)
    return [windows.start(k) for k in range(windows.count) if windows.is_expected(k)]


def minute_average_over(
    hours: Sequence[DayHours], bars: Sequence[Bar], session_day: DayHours
) -> list[float | None]:
    """The minute average of ``bars`` over the period days ``hours``, for ``session_day``."""
    by_day = {h.day: [b for b in bars if h.open_ts <= b.ts < h.close_ts] for h in hours}
    result = compute_indicator(
        "avg_volume_intraday",
        config("trailing_average", f"{len(hours)}d", "volume", granularity="minute"),
        [],
        by_day,
        [h.day for h in hours],
        {h.day: h.open_ts for h in hours},
        symbol="7203",
        session_minutes=session_day.regular_seconds() // 60,
        session_breaks={
            h.day: (h.break_start_ts, h.break_end_ts)
            for h in hours
            if h.break_start_ts is not None and h.break_end_ts is not None
        },
    )
    assert isinstance(result.value, MinuteValues)
    return result.value


def volume_bar(ts: int, volume: float) -> Bar:
    return Bar("7203", "1m", ts, 2500.0, 2500.0, 2500.0, 2500.0, volume)


def test_minute_average_on_a_tokyo_day_has_one_value_per_trading_minute_and_skips_the_break() -> None:
    """330 values for 09:00–15:30 less the lunch hour; index 150 is 12:30 and 329 is 15:29."""
    period = [tokyo(d("2025-03-03")), tokyo(d("2025-03-04"))]
    session_day = tokyo(d("2025-03-05"))
    bars = [
        volume_bar(ts, 1000.0 * n + i)
        for n, h in enumerate(period)
        for i, ts in enumerate(trading_minutes(h))
    ]
    first = period[0]
    assert first.break_start_ts is not None and first.break_end_ts is not None
    in_break = [volume_bar(ts, 1e9) for ts in range(first.break_start_ts, first.break_end_ts, 60)]

    value = minute_average_over(period, [*bars, *in_break], session_day)

    assert len(value) == 330 == len(trading_minutes(session_day))
    assert value == [500.0 + i for i in range(330)], "every trading minute averages both days"
    starts = trading_minutes(first)
    assert datetime.fromtimestamp(starts[150], TOKYO).time() == time(12, 30)
    assert datetime.fromtimestamp(starts[149], TOKYO).time() == time(11, 29)
    assert datetime.fromtimestamp(starts[329], TOKYO).time() == time(15, 29)


def test_minute_average_lines_up_a_1500_close_with_a_1530_close_by_trading_minute() -> None:
    """TSE closed at 15:00 until 2024-11-01: its 300 minutes are the first 300 of a 15:30 day."""
    short, long_ = tokyo(d("2024-11-01"), close=time(15)), tokyo(d("2024-11-05"))
    bars = [volume_bar(ts, 10.0) for ts in trading_minutes(short)]
    bars += [volume_bar(ts, 30.0) for ts in trading_minutes(long_)]

    value = minute_average_over([short, long_], bars, tokyo(d("2024-11-06")))

    assert value == [20.0] * 300 + [30.0] * 30


def test_minute_average_with_a_break_day_and_a_day_without_one_matches_by_trading_minute() -> None:
    no_break = DayHours(
        d("2025-03-03"), tokyo(d("2025-03-03")).open_ts, tokyo(d("2025-03-03")).open_ts + 330 * 60
    )
    with_break = tokyo(d("2025-03-04"))
    bars = [volume_bar(ts, float(i)) for i, ts in enumerate(trading_minutes(no_break))]
    bars += [volume_bar(ts, float(i) + 2) for i, ts in enumerate(trading_minutes(with_break))]

    assert minute_average_over([no_break, with_break], bars, with_break) == [i + 1.0 for i in range(330)]


def test_a_break_that_does_not_follow_the_open_is_refused() -> None:
    hours = tokyo(d("2025-03-03"))
    with pytest.raises(ValueError, match="break of 2025-03-03"):
        compute_indicator(
            "m",
            MINUTE_AVG,
            [],
            {hours.day: [volume_bar(hours.open_ts, 1.0)]},
            [hours.day],
            {hours.day: hours.open_ts},
            symbol="7203",
            session_minutes=330,
            session_breaks={hours.day: (hours.open_ts + 3600, hours.open_ts + 3600)},
        )


@given(
    st.dictionaries(
        st.integers(min_value=0, max_value=389),
        st.floats(min_value=0, max_value=1e7, allow_nan=False),
        max_size=80,
    )
)
def test_closing_up_the_break_changes_no_value(volumes: dict[int, float]) -> None:
    """A break day's list equals that of the same bars with the afternoon moved back by the
    break's length onto a day without a break; minutes inside the break count for nothing."""
    hours = tokyo(d("2025-03-03"))
    assert hours.break_start_ts is not None and hours.break_end_ts is not None
    pause = hours.break_end_ts - hours.break_start_ts
    closed_up = DayHours(hours.day, hours.open_ts, hours.close_ts - pause)
    bars = [volume_bar(hours.open_ts + 60 * minute, volume) for minute, volume in volumes.items()]
    moved = [
        b._replace(ts=b.ts - pause) if b.ts >= hours.break_end_ts else b
        for b in bars
        if not hours.break_start_ts <= b.ts < hours.break_end_ts
    ]
    with_break = compute_indicator(
        "m", MINUTE_AVG, [], {hours.day: bars}, [hours.day], {hours.day: hours.open_ts}, symbol="7203",
        session_minutes=330, session_breaks={hours.day: (hours.break_start_ts, hours.break_end_ts)},
    )  # fmt: skip
    without = compute_indicator(
        "m", MINUTE_AVG, [], {hours.day: moved}, [hours.day], {closed_up.day: closed_up.open_ts},
        symbol="7203", session_minutes=closed_up.regular_seconds() // 60,
    )  # fmt: skip
    assert with_break == without


# ----------------------------------------------------------------------------------- the API shape


def test_compute_indicators_runs_every_indicator_of_a_symbol(
    daily_bars: list[Bar], calendar: TradingCalendar
) -> None:
    indicators = {"avg_volume": AVG_VOLUME_10D, "high_52w": HIGH_52W, "low_52w": LOW_52W}
    session_day = d("2014-12-31")
    days = {name: period_days(calendar, session_day, cfg) for name, cfg in indicators.items()}
    results = compute_indicators(SYMBOL, indicators, days, daily_bars, {}, {})
    assert list(results) == list(indicators)
    for name, cfg in indicators.items():
        assert results[name] == daily(calendar, daily_bars, name, cfg, session_day)


def test_indicator_result_is_frozen() -> None:
    result = IndicatorResult("x", 1.0, [], None)
    with pytest.raises(FrozenInstanceError):
        result.value = 2.0  # type: ignore[misc]  # frozen: the test checks it refuses


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
            st.floats(min_value=0, max_value=1e9, allow_nan=False),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_trailing_min_average_and_max_are_ordered(points: list[tuple[float, float]]) -> None:
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(len(points))]
    bars = [Bar("X", "1d", midnight(day), p, p, p, p, v) for day, (p, v) in zip(days, points, strict=True)]
    low, avg, high = (
        compute_indicator("x", config(kind, f"{len(days)}d", "close"), bars, {}, days, {}, symbol="X").value
        for kind in ("trailing_min", "trailing_average", "trailing_max")
    )
    assert isinstance(low, float) and isinstance(avg, float) and isinstance(high, float)
    assert low <= avg * (1 + 1e-12) and avg <= high * (1 + 1e-12)


def test_minute_values_read_like_their_list_in_eight_bytes_a_minute() -> None:
    values = [100.0, None, 250.5, None]
    minutes = MinuteValues(values)
    assert minutes == values and values == minutes and minutes == tuple(values) and minutes != values[:3]
    assert (len(minutes), minutes[1], minutes[2], minutes[-1], minutes[1:3]) == (
        4,
        None,
        250.5,
        None,
        [None, 250.5],
    )
    assert list(minutes) == values and repr(minutes) == f"MinuteValues({values!r})"
    day = [1.5 + minute for minute in range(390)]
    as_list = sys.getsizeof(day) + sum(map(sys.getsizeof, day))  # the list and its float objects
    assert sys.getsizeof(MinuteValues(day)._values) < as_list / 3
