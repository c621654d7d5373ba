"""Derived bars (SPEC §7): anchoring at the open, cuts at the close and the break, the "holds all
its base bars" rule, partial daily bars, OHLCV rules, and the builder stepped by the clock agreeing
with one call at the close.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stores import real_minute_bars

from domain.bars import Bar
from domain.columns import BarColumns
from domain.intervals import MINUTE, SECOND, Interval
from domain.session.derived import DerivedBars, check_derivable, derive_columns, derive_day
from domain.session.live_day import LiveDay
from domain.session.windows import DayHours, SessionWindows

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
M5, M15, M60 = Interval(300), Interval(900), Interval(3600)
DAILY = Interval.parse("1d")


def et(hour: int, minute: int = 0, day: int = 2) -> int:
    """Epoch seconds of an exchange-local New York time in July 2025."""
    return int(datetime(2025, 7, day, hour, minute, tzinfo=NY).timestamp())


def jst(hour: int, minute: int = 0) -> int:
    return int(datetime(2025, 7, 2, hour, minute, tzinfo=TOKYO).timestamp())


OPEN, CLOSE = et(9, 30), et(16)
EARLY_OPEN, EARLY_CLOSE = et(9, 30, day=3), et(13, day=3)
TSE_OPEN, TSE_CLOSE, TSE_BREAK = jst(9), jst(15, 30), (jst(11, 30), jst(12, 30))


def minute_bar(ts: int, symbol: str = "AAPL", *, price: float | None = None, volume: float = 100.0) -> Bar:
    """A valid 1m bar whose prices say when it was made (so window order is visible)."""
    base = price if price is not None else 100.0 + (ts % 86_400) / 6000.0
    return Bar(symbol, "1m", ts, base, base + 0.5, base - 0.5, base + 0.25, volume)


def minutes(start: int, end: int, *, skip: frozenset[int] = frozenset()) -> list[Bar]:
    return [minute_bar(ts) for ts in range(start, end, 60) if ts not in skip]


def hours_of(open_ts: int, close_ts: int, pause: tuple[int, int] | None = None, day: int = 2) -> DayHours:
    bs, be = pause if pause else (None, None)
    return DayHours(date(2025, 7, day), open_ts, close_ts, break_start_ts=bs, break_end_ts=be)


def session_columns(bars: list[Bar], hours: DayHours, base: Interval = MINUTE) -> BarColumns:
    """What a session day hands the builder: the bars inside the session, on the grid, unique."""
    windows = hours.windows(base)
    symbol = bars[0].symbol if bars else "AAPL"
    inside = [bar for bar in bars if windows.index(bar.ts) is not None]
    return BarColumns.from_bars(symbol, str(base), inside)


def derive(
    bars: list[Bar],
    target: Interval,
    open_ts: int = OPEN,
    close_ts: int = CLOSE,
    pause: tuple[int, int] | None = None,
    *,
    base: Interval = MINUTE,
    now_ts: int | None = None,
    day: int = 2,
) -> list[Bar]:
    hours = hours_of(open_ts, close_ts, pause, day)
    return derive_day(hours, base, target, session_columns(bars, hours, base), now_ts)


def stepped(
    bars: list[Bar], target: Interval, open_ts: int, close_ts: int, pause: tuple[int, int] | None
) -> list[Bar]:
    """The builder advanced minute by minute to the close."""
    hours = hours_of(open_ts, close_ts, pause)
    builder = DerivedBars(hours, MINUTE, [target], [session_columns(bars, hours)])
    out: list[Bar] = []
    for now in range(open_ts, close_ts + 60, 60):
        out.extend(builder.advance(now))
    return out


# -- examples ------------------------------------------------------------------------------------


def test_five_minute_windows_are_anchored_at_the_open_with_ohlcv_rules() -> None:
    bars = [
        Bar("AAPL", "1m", et(9, 30), 10.0, 11.0, 9.5, 10.5, 100.0),
        Bar("AAPL", "1m", et(9, 31), 10.5, 12.0, 10.0, 11.0, 200.0),
        Bar("AAPL", "1m", et(9, 32), 11.0, 11.5, 8.0, 9.0, 300.0),
        Bar("AAPL", "1m", et(9, 33), 9.0, 10.0, 8.5, 9.5, 400.0),
        Bar("AAPL", "1m", et(9, 34), 9.5, 10.0, 9.0, 9.75, 500.0),
        *minutes(et(9, 35), et(9, 40)),
    ]
    out = derive(bars, M5)
    assert [bar.ts for bar in out] == [et(9, 30), et(9, 35)]
    assert out[0] == Bar("AAPL", "5m", et(9, 30), 10.0, 12.0, 8.0, 9.75, 1500.0)


def test_window_is_released_only_when_the_clock_reaches_its_end() -> None:
    hours = hours_of(OPEN, CLOSE)
    builder = DerivedBars(hours, MINUTE, [M5], [session_columns(minutes(et(9, 30), et(9, 35)), hours)])
    assert builder.advance(et(9, 35) - 1) == []
    assert [bar.ts for bar in builder.advance(et(9, 35))] == [et(9, 30)]
    assert builder.advance(et(9, 36)) == [], "each window is emitted once"


def test_sixty_minute_windows_start_0930_and_the_last_is_1530_to_1600() -> None:
    hours = hours_of(OPEN, CLOSE)
    builder = DerivedBars(hours, MINUTE, [M60], [session_columns(minutes(OPEN, CLOSE), hours)])
    assert [bar.ts for bar in builder.advance(et(15, 59))] == [et(h, 30) for h in range(9, 15)]
    assert builder.advance(CLOSE - 1) == []
    last = builder.advance(CLOSE)
    assert [bar.ts for bar in last] == [et(15, 30)]
    assert last[0].volume == 30 * 100.0, "the cut window holds the 30 minutes that exist"
    assert last[0].interval == "60m"


def test_early_close_cuts_the_last_window_at_1300() -> None:
    day = minutes(EARLY_OPEN, EARLY_CLOSE + 3600)  # bars after the close are offered too
    out = derive(day, M60, EARLY_OPEN, EARLY_CLOSE, day=3)
    assert [bar.ts for bar in out] == [et(h, 30, day=3) for h in (9, 10, 11, 12)]
    assert out[-1].volume == 30 * 100.0
    batch = derive(day, M15, EARLY_OPEN, EARLY_CLOSE, day=3)
    assert len(batch) == 14 and batch[-1].ts == et(12, 45, day=3)


def test_window_missing_one_base_bar_is_never_emitted() -> None:
    day = minutes(OPEN, et(10, 0), skip=frozenset({et(9, 37)}))
    out = derive(day, M5)
    assert [bar.ts for bar in out] == [et(9, m) for m in (30, 40, 45, 50, 55)]


def test_a_late_or_filled_bar_completes_its_window_and_an_update_rebuilds_it() -> None:
    hours = hours_of(OPEN, CLOSE)
    day = LiveDay(hours, MINUTE, [M5], ["AAPL"])
    day.admit(minutes(et(9, 30), et(9, 34)))
    assert day.advance(et(9, 35)) == [], "incomplete at its end"
    day.admit([minute_bar(et(9, 34))])
    built = day.advance(et(9, 36))
    assert [bar.ts for bar in built] == [et(9, 30)]
    changed = minute_bar(et(9, 32), volume=1000.0)
    day.admit([changed], updated=True)
    rebuilt = day.advance(et(9, 37))
    assert [(bar.ts, bar.volume) for bar in rebuilt] == [(et(9, 30), built[0].volume + 900.0)]
    day.admit([minute_bar(et(9, 33))])
    assert day.advance(et(9, 38)) == [], "a repeated bar is a duplicate: nothing changes"


def test_lunch_break_windows_stay_on_the_open_grid() -> None:
    """Tokyo 09:00–15:30, break 11:30–12:30: 60m windows 09, 10, 11 (ends 11:30), 12 (12:30–13:00)…"""
    day = [
        bar._replace(symbol="7203")
        for bar in [
            *minutes(TSE_OPEN, TSE_BREAK[0]),
            minute_bar(jst(11, 45)),
            *minutes(TSE_BREAK[1], TSE_CLOSE),
        ]
    ]
    hours = hours_of(TSE_OPEN, TSE_CLOSE, TSE_BREAK)
    builder = DerivedBars(hours, MINUTE, [M60], [session_columns(day, hours)])
    assert [b.ts for b in builder.advance(jst(11, 30))] == [jst(9), jst(10), jst(11)], (
        "11:00 ends at the break"
    )
    out = [
        *derive(day, M60, TSE_OPEN, TSE_CLOSE, TSE_BREAK, now_ts=jst(11, 30)),
        *builder.advance(TSE_CLOSE),
    ]
    assert [bar.ts for bar in out] == [jst(h) for h in range(9, 16)]
    volumes = {bar.ts: bar.volume for bar in out}
    assert volumes[jst(11)] == volumes[jst(12)] == volumes[jst(15)] == 30 * 100.0
    assert volumes[jst(10)] == 60 * 100.0
    assert out == derive(day, M60, TSE_OPEN, TSE_CLOSE, TSE_BREAK)


def test_window_wholly_inside_the_break_is_not_a_window() -> None:
    windows = SessionWindows(TSE_OPEN, TSE_CLOSE, 900, *TSE_BREAK)
    starts = [windows.start(k) for k in range(windows.count) if windows.is_expected(k)]
    assert jst(11, 30) not in starts and jst(12, 15) not in starts
    assert jst(11, 15) in starts and jst(12, 30) in starts
    assert windows.expected_in(0, windows.count) == 22


def test_only_derivable_targets_are_accepted() -> None:
    with pytest.raises(ValueError, match="cannot be derived"):
        check_derivable(MINUTE, Interval(90))
    with pytest.raises(ValueError, match="cannot be derived"):
        check_derivable(DAILY, MINUTE)
    with pytest.raises(ValueError, match="cannot be derived"):
        check_derivable(MINUTE, MINUTE)
    check_derivable(MINUTE, DAILY)
    check_derivable(SECOND, M5)


def test_seconds_base_builds_minute_windows() -> None:
    bars = [Bar("AAPL", "1s", OPEN + s, 10.0, 10.0 + s, 9.0, 10.0, 1.0) for s in range(120)]
    out = derive(bars, MINUTE, base=SECOND, now_ts=OPEN + 120)
    assert [(bar.ts, bar.high, bar.volume, bar.interval) for bar in out] == [
        (OPEN, 69.0, 60.0, "1m"),
        (OPEN + 60, 129.0, 60.0, "1m"),
    ]


def test_a_daily_bar_allows_partial_days_and_is_keyed_at_midnight_utc() -> None:
    bars = [
        minute_bar(et(9, 29), price=1.0),  # pre-market: not in the session
        Bar("AAPL", "1m", et(9, 30), 10.0, 11.0, 9.0, 10.5, 5.0),
        Bar("AAPL", "1m", et(12, 0), 10.5, 13.0, 10.0, 12.0, 7.0),
        Bar("AAPL", "1m", et(12, 0), 99.0, 99.0, 99.0, 99.0, 99.0),  # duplicate: first wins
        Bar("AAPL", "1m", et(15, 59), 12.0, 12.5, 8.0, 11.0, 3.0),
        minute_bar(et(16, 0), price=500.0),  # post-market: not in the session
    ]
    midnight = int(datetime(2025, 7, 2).replace(tzinfo=ZoneInfo("UTC")).timestamp())
    assert derive(bars, DAILY, now_ts=CLOSE - 1) == [], "emitted at the close"
    assert derive([*bars[4:], *bars[:4]], DAILY) == [Bar("AAPL", "1d", midnight, 10.0, 13.0, 8.0, 11.0, 15.0)]
    assert derive(bars[:1], DAILY) == [], "no bar in the session, no daily bar"


# -- real data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_real_day_daily_bar_matches_the_regular_session_rows(symbol: str) -> None:
    bars = real_minute_bars(symbol)  # July 1's post-market, July 2's pre-market and regular session
    regular = [bar for bar in bars if OPEN <= bar.ts < CLOSE]
    assert len(regular) == 390 < len(bars)
    [daily] = derive(bars, DAILY)
    assert daily.ts == int(datetime.fromisoformat("2025-07-02 00:00:00+00:00").timestamp())
    assert (daily.open, daily.close) == (regular[0].open, regular[-1].close)
    assert daily.high == max(bar.high for bar in regular)
    assert daily.low == min(bar.low for bar in regular)
    assert math.isclose(daily.volume, sum(bar.volume for bar in regular))


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
@pytest.mark.parametrize("target", [M5, M15, M60])
def test_real_day_derived_bars_are_exactly_the_complete_windows(symbol: str, target: Interval) -> None:
    # the true day holds every regular minute: the open, 12:07 and the last minute are dropped so
    # that some windows are incomplete (the first, one at midday, the last)
    dropped = {OPEN, et(12, 7), et(15, 59)}
    bars = [bar for bar in real_minute_bars(symbol) if bar.ts not in dropped]
    present = {bar.ts for bar in bars if OPEN <= bar.ts < CLOSE}
    step = target.seconds
    complete = [
        start
        for start in range(OPEN, CLOSE, step)
        if all(ts in present for ts in range(start, min(start + step, CLOSE), 60))
    ]
    assert len(complete) == -(-390 * 60 // step) - 3  # all windows (the last one cut) but three
    incremental = stepped(bars, target, OPEN, CLOSE, None)
    assert [bar.ts for bar in incremental] == complete
    assert incremental == derive(bars, target)


# -- properties ----------------------------------------------------------------------------------

TARGET_MINUTES = [2, 3, 5, 10, 15, 30, 60, 120]


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[Bar], Interval, int, int, tuple[int, int] | None]:
    """A day of 1m bars with holes (and strays outside the session), a target and the hours."""
    length = draw(st.integers(1, 390))  # minutes: early closes and odd lengths included
    close = OPEN + 60 * length
    target = Interval(60 * draw(st.sampled_from(TARGET_MINUTES)))
    pause: tuple[int, int] | None = None
    if length >= 4 and draw(st.booleans()):
        a = draw(st.integers(1, length - 3))
        b = draw(st.integers(a + 1, length - 1))
        pause = (OPEN + 60 * a, OPEN + 60 * b)
    present = draw(st.lists(st.booleans(), min_size=length + 20, max_size=length + 20))
    prices = st.floats(1.0, 1000.0, allow_nan=False)
    bars = []
    for i, keep in enumerate(present):
        ts = OPEN + 60 * (i - 10)
        if not keep:
            continue
        o, c = draw(prices), draw(prices)
        up, down = draw(st.floats(0.0, 5.0)), draw(st.floats(0.0, 0.99))
        low = min(o, c) * (1 - down)
        volume = float(draw(st.integers(0, 10_000)))
        bars.append(Bar("SYM", "1m", ts, o, max(o, c) + up, low, c, volume))
    return bars, target, OPEN, close, pause


@settings(max_examples=60, deadline=None)
@given(sessions())
def test_the_builder_stepped_by_the_clock_equals_one_call_at_the_close(
    case: tuple[list[Bar], Interval, int, int, tuple[int, int] | None],
) -> None:
    bars, target, open_ts, close_ts, pause = case
    incremental = stepped(bars, target, open_ts, close_ts, pause)
    assert incremental == derive(bars, target, open_ts, close_ts, pause)
    assert incremental == derive(list(reversed(bars)), target, open_ts, close_ts, pause), "order-free"


@settings(max_examples=60, deadline=None)
@given(sessions())
def test_derived_bars_obey_the_window_and_ohlcv_rules(
    case: tuple[list[Bar], Interval, int, int, tuple[int, int] | None],
) -> None:
    bars, target, open_ts, close_ts, pause = case
    out = derive(bars, target, open_ts, close_ts, pause)
    by_ts = {bar.ts: bar for bar in bars}
    in_break = (lambda ts: pause[0] <= ts < pause[1]) if pause else (lambda ts: False)
    expected_starts = []
    for start in range(open_ts, close_ts, target.seconds):
        needed = [ts for ts in range(start, min(start + target.seconds, close_ts), 60) if not in_break(ts)]
        if needed and all(ts in by_ts for ts in needed):
            expected_starts.append(start)
    assert [bar.ts for bar in out] == expected_starts, "anchored at the open, complete windows only"
    for bar in out:
        assert (bar.ts - open_ts) % target.seconds == 0
        members = [
            by_ts[ts] for ts in range(bar.ts, min(bar.ts + target.seconds, close_ts), 60) if not in_break(ts)
        ]
        assert bar.high >= max(bar.open, bar.close) and bar.low <= min(bar.open, bar.close)
        assert (bar.open, bar.close) == (members[0].open, members[-1].close)
        assert bar.high == max(m.high for m in members) and bar.low == min(m.low for m in members)
        # The bars offered after the close would change these sums: no window spans the close.
        assert math.isclose(bar.volume, sum(m.volume for m in members))
        assert bar.interval == str(target) and bar.symbol == "SYM"


@st.composite
def symbol_days(draw: st.DrawFn) -> tuple[list[list[Bar]], Interval, DayHours]:
    """Several symbols' days of 1m bars with holes and fractional volumes, a target and the hours."""
    bars, target, open_ts, close_ts, pause = draw(sessions())
    others = draw(st.lists(sessions(), min_size=0, max_size=3))
    fractions = st.floats(0.0, 1e6, allow_nan=False)
    days = [bars]
    for index, (more, *_) in enumerate(others):  # the first draw's hours for every symbol
        symbol = f"S{index}"
        days.append(
            [bar._replace(symbol=symbol, volume=draw(fractions)) for bar in more if bar.ts < close_ts]
        )
    if draw(st.booleans()):
        target = DAILY
    return days, target, hours_of(open_ts, close_ts, pause)


@settings(max_examples=60, deadline=None)
@given(symbol_days())
def test_the_vectorised_day_builder_equals_the_window_builder_to_the_bit(
    case: tuple[list[list[Bar]], Interval, DayHours],
) -> None:
    days, target, hours = case
    columns = [session_columns(bars, hours) for bars in days]
    built = derive_columns(hours, MINUTE, target, columns)
    assert [cols.symbol for cols in built] == [cols.symbol for cols in columns]
    for cols, made in zip(columns, built, strict=True):
        assert made.interval == str(target)
        assert made.bars() == derive_day(hours, MINUTE, target, cols)  # volumes summed in time order


def test_the_vectorised_builder_sums_volumes_in_time_order_like_a_plain_loop() -> None:
    """Pairwise summation (numpy's ``sum``) rounds these volumes differently from a loop."""
    volumes = [0.1 * (i % 7) + 1e6 / (i + 1) for i in range(60)]
    bars = [minute_bar(OPEN + 60 * i, volume=v) for i, v in enumerate(volumes)]
    hours = hours_of(OPEN, CLOSE)
    (made,) = derive_columns(hours, MINUTE, M60, [session_columns(bars, hours)])
    total = 0.0
    for v in volumes:
        total += v
    assert made.volume[0] == total
    assert float(np.sum(volumes)) != total, "these volumes must be ones whose sum depends on the order"
