"""Derived bars (SPEC §7): anchoring at the open, cuts at the close and the break, the "holds all
its base bars" rule, OHLCV rules, and the incremental builder agreeing with the batch form.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stores import real_minute_bars

from domain.bars import Bar
from domain.intervals import MINUTE, SECOND, Interval
from domain.session.derived import DerivedBarBuilder, aggregate_window, daily_bar_from_minutes, derive_bars
from domain.session.windows import SessionWindows

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
M5, M15, M60 = Interval(300), Interval(900), Interval(3600)


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


def run_builder(builder: DerivedBarBuilder, bars: list[Bar], step_end: int) -> list[Bar]:
    """Feed bars in order, advancing the clock to each base bar's end, then to ``step_end``."""
    out: list[Bar] = []
    for bar in bars:
        builder.add(bar)
        out.extend(builder.advance(bar.ts + 60))
    out.extend(builder.advance(step_end))
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
    builder = DerivedBarBuilder("AAPL", MINUTE, M5, OPEN, CLOSE)
    out = run_builder(builder, bars, et(9, 40))
    assert [bar.ts for bar in out] == [et(9, 30), et(9, 35)]
    assert out[0] == Bar("AAPL", "5m", et(9, 30), 10.0, 12.0, 8.0, 9.75, 1500.0)


def test_window_is_released_only_when_the_clock_reaches_its_end() -> None:
    builder = DerivedBarBuilder("AAPL", MINUTE, M5, OPEN, CLOSE)
    for bar in minutes(et(9, 30), et(9, 35)):
        assert builder.add(bar) is None
    assert builder.advance(et(9, 35) - 1) == []
    assert [bar.ts for bar in builder.advance(et(9, 35))] == [et(9, 30)]
    assert builder.advance(et(9, 36)) == [], "each window is emitted once"


def test_sixty_minute_windows_start_0930_and_the_last_is_1530_to_1600() -> None:
    builder = DerivedBarBuilder("AAPL", MINUTE, M60, OPEN, CLOSE)
    *day, last_minute = minutes(OPEN, CLOSE)
    early = run_builder(builder, day, et(15, 59))
    assert [bar.ts for bar in early] == [et(h, 30) for h in range(9, 15)]
    builder.add(last_minute)
    assert builder.advance(CLOSE - 1) == []
    last = builder.advance(CLOSE)
    assert [bar.ts for bar in last] == [et(15, 30)]
    assert last[0].volume == 30 * 100.0, "the cut window holds the 30 minutes that exist"
    assert last[0].interval == "60m"


def test_early_close_cuts_the_last_window_at_1300() -> None:
    day = minutes(EARLY_OPEN, EARLY_CLOSE + 3600)  # bars after the close are offered too
    builder = DerivedBarBuilder("AAPL", MINUTE, M60, EARLY_OPEN, EARLY_CLOSE)
    out = run_builder(builder, day, EARLY_CLOSE + 3600)
    assert [bar.ts for bar in out] == [et(h, 30, day=3) for h in (9, 10, 11, 12)]
    assert out[-1].volume == 30 * 100.0
    assert builder.rejected == {"outside regular session": 60}
    batch = derive_bars(day, M15, EARLY_OPEN, EARLY_CLOSE)
    assert len(batch) == 14 and batch[-1].ts == et(12, 45, day=3)


def test_window_missing_one_base_bar_is_never_emitted() -> None:
    day = minutes(OPEN, et(10, 0), skip=frozenset({et(9, 37)}))
    builder = DerivedBarBuilder("AAPL", MINUTE, M5, OPEN, CLOSE)
    out = run_builder(builder, day, CLOSE)
    assert et(9, 35) not in [bar.ts for bar in out]
    assert [bar.ts for bar in out] == [et(9, m) for m in (30, 40, 45, 50, 55)]
    assert derive_bars(day, M5, OPEN, CLOSE) == out


def test_late_in_order_bar_still_completes_the_current_window() -> None:
    builder = DerivedBarBuilder("AAPL", MINUTE, M5, OPEN, CLOSE)
    for bar in minutes(et(9, 30), et(9, 34)):
        builder.add(bar)
    assert builder.advance(et(9, 35)) == [], "incomplete at its end"
    builder.add(minute_bar(et(9, 34)))
    assert [
        bar.ts
        for bar in builder.advance(
            et(
                9,
                35,
            )
        )
    ] == [et(9, 30)]


def test_refused_bars_say_why_and_are_counted() -> None:
    builder = DerivedBarBuilder("AAPL", MINUTE, M5, OPEN, CLOSE)
    assert builder.add(minute_bar(et(9, 31))) is None
    assert builder.add(minute_bar(et(9, 31))) == "duplicate"
    assert builder.add(minute_bar(et(9, 30))) == "out of order"
    assert builder.add(minute_bar(et(9, 29))) == "outside regular session"
    assert builder.add(minute_bar(et(16, 0))) == "outside regular session"
    assert builder.add(minute_bar(et(9, 40) + 30)) == "off the window grid"
    assert builder.add(minute_bar(et(9, 41), symbol="RIVN")) == "other symbol"
    assert builder.add(minute_bar(et(9, 41))._replace(interval="5m")) == "other interval"
    assert sum(builder.rejected.values()) == 7


def test_lunch_break_windows_stay_on_the_open_grid() -> None:
    """Tokyo 09:00–15:30, break 11:30–12:30: 60m windows 09, 10, 11 (ends 11:30), 12 (12:30–13:00)…"""
    day = [*minutes(TSE_OPEN, TSE_BREAK[0]), *minutes(TSE_BREAK[1], TSE_CLOSE)]
    builder = DerivedBarBuilder(
        "7203", MINUTE, M60, TSE_OPEN, TSE_CLOSE, break_start_ts=TSE_BREAK[0], break_end_ts=TSE_BREAK[1]
    )
    day = [bar._replace(symbol="7203") for bar in day]
    assert builder.add(minute_bar(jst(11, 45), symbol="7203")) == "in midday break"
    out = []
    for bar in day:
        builder.add(bar)
        emitted = builder.advance(bar.ts + 60)
        if bar.ts == jst(11, 29):
            assert [b.ts for b in emitted] == [jst(11)], "the 11:00 window ends at the break start"
        out.extend(emitted)
    assert [bar.ts for bar in out] == [jst(h) for h in range(9, 16)]
    volumes = {bar.ts: bar.volume for bar in out}
    assert volumes[jst(11)] == volumes[jst(12)] == volumes[jst(15)] == 30 * 100.0
    assert volumes[jst(10)] == 60 * 100.0
    assert out == derive_bars(
        day, M60, TSE_OPEN, TSE_CLOSE, break_start_ts=TSE_BREAK[0], break_end_ts=TSE_BREAK[1]
    )


def test_window_wholly_inside_the_break_is_not_a_window() -> None:
    windows = SessionWindows(TSE_OPEN, TSE_CLOSE, 900, *TSE_BREAK)
    starts = [windows.start(k) for k in range(windows.count) if windows.is_expected(k)]
    assert jst(11, 30) not in starts and jst(12, 15) not in starts
    assert jst(11, 15) in starts and jst(12, 30) in starts
    assert windows.expected_in(0, windows.count) == 22


def test_non_derivable_or_daily_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be derived"):
        DerivedBarBuilder("AAPL", MINUTE, Interval(90), OPEN, CLOSE)
    with pytest.raises(ValueError, match="daily_bar_from_minutes"):
        derive_bars([], Interval.parse("1d"), OPEN, CLOSE)


def test_seconds_base_builds_minute_windows() -> None:
    bars = [Bar("AAPL", "1s", OPEN + s, 10.0, 10.0 + s, 9.0, 10.0, 1.0) for s in range(120)]
    builder = DerivedBarBuilder("AAPL", SECOND, MINUTE, OPEN, CLOSE)
    for bar in bars:
        builder.add(bar)
    out = builder.advance(OPEN + 120)
    assert [(bar.ts, bar.high, bar.volume, bar.interval) for bar in out] == [
        (OPEN, 69.0, 60.0, "1m"),
        (OPEN + 60, 129.0, 60.0, "1m"),
    ]


def test_aggregate_window_refuses_empty_and_mixed_windows() -> None:
    with pytest.raises(ValueError, match="empty"):
        aggregate_window([], "5m", OPEN)
    with pytest.raises(ValueError, match="mixes symbols"):
        aggregate_window([minute_bar(OPEN), minute_bar(OPEN + 60, symbol="RIVN")], "5m", OPEN)


def test_daily_bar_from_minutes_keeps_regular_session_and_stamps_midnight_utc() -> None:
    bars = [
        minute_bar(et(9, 29), price=1.0),  # pre-market: ignored
        Bar("AAPL", "1m", et(9, 30), 10.0, 11.0, 9.0, 10.5, 5.0),
        Bar("AAPL", "1m", et(12, 0), 10.5, 13.0, 10.0, 12.0, 7.0),
        Bar("AAPL", "1m", et(12, 0), 99.0, 99.0, 99.0, 99.0, 99.0),  # duplicate: first wins
        Bar("AAPL", "1m", et(15, 59), 12.0, 12.5, 8.0, 11.0, 3.0),
        minute_bar(et(16, 0), price=500.0),  # post-market: ignored
    ]
    daily = daily_bar_from_minutes("AAPL", [*bars[4:], *bars[:4]], date(2025, 7, 2), OPEN, CLOSE)
    midnight = int(datetime(2025, 7, 2).replace(tzinfo=ZoneInfo("UTC")).timestamp())
    assert daily == Bar("AAPL", "1d", midnight, 10.0, 13.0, 8.0, 11.0, 15.0)
    assert daily_bar_from_minutes("AAPL", bars[:1], date(2025, 7, 2), OPEN, CLOSE) is None
    with pytest.raises(ValueError, match="RIVN"):
        daily_bar_from_minutes("RIVN", bars, date(2025, 7, 2), OPEN, CLOSE)


# -- real data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_real_day_daily_bar_matches_the_regular_session_rows(symbol: str) -> None:
    bars = real_minute_bars(symbol)
    regular = [bar for bar in bars if OPEN <= bar.ts < CLOSE]
    daily = daily_bar_from_minutes(symbol, bars, date(2025, 7, 2), OPEN, CLOSE)
    assert daily is not None
    assert daily.ts == int(datetime.fromisoformat("2025-07-02 00:00:00+00:00").timestamp())
    assert (daily.open, daily.close) == (regular[0].open, regular[-1].close)
    assert daily.high == max(bar.high for bar in regular)
    assert daily.low == min(bar.low for bar in regular)
    assert math.isclose(daily.volume, sum(bar.volume for bar in regular))


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
@pytest.mark.parametrize("target", [M5, M15, M60])
def test_real_day_derived_bars_are_exactly_the_complete_windows(symbol: str, target: Interval) -> None:
    bars = real_minute_bars(symbol)
    present = {bar.ts for bar in bars if OPEN <= bar.ts < CLOSE}
    step = target.seconds
    complete = [
        start
        for start in range(OPEN, CLOSE, step)
        if all(ts in present for ts in range(start, min(start + step, CLOSE), 60))
    ]
    builder = DerivedBarBuilder(symbol, MINUTE, target, OPEN, CLOSE)
    incremental = run_builder(builder, bars, CLOSE)
    assert [bar.ts for bar in incremental] == complete
    assert incremental == derive_bars(bars, target, OPEN, CLOSE)
    assert builder.rejected["outside regular session"] == len(bars) - len(present)


# -- properties ----------------------------------------------------------------------------------

TARGET_MINUTES = [1, 2, 3, 5, 10, 15, 30, 60, 120]


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


def _builder(
    target: Interval, open_ts: int, close_ts: int, pause: tuple[int, int] | None
) -> DerivedBarBuilder:
    bs, be = pause if pause else (None, None)
    return DerivedBarBuilder("SYM", MINUTE, target, open_ts, close_ts, break_start_ts=bs, break_end_ts=be)


def _batch(
    bars: list[Bar], target: Interval, open_ts: int, close_ts: int, pause: tuple[int, int] | None
) -> list[Bar]:
    bs, be = pause if pause else (None, None)
    return derive_bars(bars, target, open_ts, close_ts, break_start_ts=bs, break_end_ts=be)


@settings(max_examples=150, deadline=None)
@given(sessions())
def test_incremental_builder_equals_batch_form(
    case: tuple[list[Bar], Interval, int, int, tuple[int, int] | None],
) -> None:
    bars, target, open_ts, close_ts, pause = case
    incremental = run_builder(_builder(target, open_ts, close_ts, pause), bars, close_ts)
    assert incremental == _batch(bars, target, open_ts, close_ts, pause)
    assert incremental == _batch(list(reversed(bars)), target, open_ts, close_ts, pause), "order-free"


@settings(max_examples=150, deadline=None)
@given(sessions())
def test_derived_bars_obey_the_window_and_ohlcv_rules(
    case: tuple[list[Bar], Interval, int, int, tuple[int, int] | None],
) -> None:
    bars, target, open_ts, close_ts, pause = case
    out = _batch(bars, target, open_ts, close_ts, pause)
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
