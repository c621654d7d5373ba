"""One live session day (SPEC §5, §7, §8): which provider deliveries are stored, which enter the
session and which are refused (by reason), and which derived bars ``advance`` builds — once a
window has ended and is complete, later when a gap fill completes it, again when an updated bar
changes it.

The real AAPL and RIVN minutes of 2025-07-02, at their true time (the files are stamped 4 hours
late) and with a few named minutes dropped, are delivered as a provider would (minute by minute,
or all at once after a restart); every expectation is recomputed here from those bars.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from support.stores import real_minute_bars, real_minute_bars_as_stamped

from domain.bars import Bar
from domain.intervals import Interval
from domain.session.live_day import LiveDay
from domain.session.windows import DayHours

M1, M5, M15, M60 = (Interval.parse(text) for text in ("1m", "5m", "15m", "60m"))
SYMBOLS = ("AAPL", "RIVN")


def utc(hour: int, minute: int = 0, day: int = 2, second: int = 0) -> int:
    """Epoch seconds of a UTC time in July 2025."""
    return int(datetime(2025, 7, day, hour, minute, second, tzinfo=UTC).timestamp())


OPEN, CLOSE = utc(13, 30), utc(20)
PRE_OPEN, POST_CLOSE = utc(8), utc(0, day=3)
JULY_2 = DayHours(date(2025, 7, 2), OPEN, CLOSE, pre_open_ts=PRE_OPEN, post_close_ts=POST_CLOSE)
EARLY_OPEN, EARLY_CLOSE = utc(13, 30, day=3), utc(17, day=3)
JULY_3 = DayHours(
    date(2025, 7, 3),
    EARLY_OPEN,
    EARLY_CLOSE,
    is_early_close=True,
    pre_open_ts=utc(8, day=3),
    post_close_ts=utc(21, day=3),
)


# The true day holds all 390 regular minutes of both symbols; these are dropped so that some
# windows are incomplete: AAPL 13:41 and 15:00-15:04 (a whole 5m window), RIVN 17:12-17:13. The
# last half hour is left whole (the cut 60m window below).
DROPPED = {
    "AAPL": {utc(13, 41), *range(utc(15), utc(15, 5), 60)},
    "RIVN": {utc(17, 12), utc(17, 13)},
}


@pytest.fixture(scope="module")
def real() -> list[Bar]:
    """Both symbols' real bars less ``DROPPED``, in (time, symbol) order, as a stream brings them."""
    bars = [b for s in SYMBOLS for b in real_minute_bars(s) if b.ts not in DROPPED[s]]
    return sorted(bars, key=lambda b: (b.ts, b.symbol))


def minute(ts: int, symbol: str = "AAPL", *, price: float = 100.0, volume: float = 10.0) -> Bar:
    return Bar(symbol, "1m", ts, price, price + 0.5, price - 0.5, price + 0.25, volume)


def full_day(hours: DayHours, symbol: str = "AAPL") -> list[Bar]:
    """A synthetic bar for every minute of the regular session, prices rising by the minute."""
    return [
        minute(ts, symbol, price=100.0 + i / 100, volume=float(i + 1))
        for i, ts in enumerate(range(hours.open_ts, hours.close_ts, 60))
    ]


def complete_windows(bars: list[Bar], open_ts: int, close_ts: int, seconds: int, interval: str) -> list[Bar]:
    """Every window anchored at the open (cut at the close) holding all its minutes, by hand."""
    by_ts = {b.ts: b for b in bars}
    out: list[Bar] = []
    for start in range(open_ts, close_ts, seconds):
        members = [by_ts.get(ts) for ts in range(start, min(start + seconds, close_ts), 60)]
        got = [m for m in members if m is not None]
        if len(got) != len(members):
            continue
        out.append(
            Bar(
                got[0].symbol,
                interval,
                start,
                got[0].open,
                max(m.high for m in got),
                min(m.low for m in got),
                got[-1].close,
                sum(m.volume for m in got),
            )
        )
    return out


def expected_derived(bars: list[Bar], seconds: int, interval: str) -> set[Bar]:
    out: set[Bar] = set()
    for symbol in SYMBOLS:
        mine = [b for b in bars if b.symbol == symbol]
        out.update(complete_windows(mine, OPEN, CLOSE, seconds, interval))
    return out


def window_end(bar: Bar) -> int:
    return min(bar.ts + Interval.parse(bar.interval).seconds, CLOSE)


# ------------------------------------------------------------------------ sorting a delivery


def test_a_whole_real_day_is_stored_within_trading_hours_and_enters_the_session_in_regular_hours(
    real: list[Bar],
) -> None:
    day = LiveDay(JULY_2, M1, [M5, M15], SYMBOLS)

    admitted = day.admit(real)

    in_hours = [b for b in real if PRE_OPEN <= b.ts < POST_CLOSE]
    regular = [b for b in real if OPEN <= b.ts < CLOSE]
    assert sorted(admitted.stored) == sorted(in_hours)
    assert list(admitted.session) == sorted(regular, key=lambda b: (b.symbol, b.ts))
    assert day.session_count == len(regular) == (390 - 6) + (390 - 2)
    assert sum(b.ts < PRE_OPEN for b in real) == 223 + 99, "July 1's post-market rows"
    assert day.refused == Counter(
        {
            "not today": sum(b.ts < PRE_OPEN for b in real),
            "outside regular session": len(in_hours) - len(regular),
        }
    )
    assert admitted.refused == len(real) - len(regular)
    assert day.newest_ts == {s: max(b.ts for b in regular if b.symbol == s) for s in SYMBOLS}


def test_derived_bars_of_a_real_day_are_the_complete_windows_built_by_hand(real: list[Bar]) -> None:
    day = LiveDay(JULY_2, M1, [M5, M15, M60], SYMBOLS)
    day.admit(real)

    derived = day.advance(CLOSE)

    regular = [b for b in real if OPEN <= b.ts < CLOSE]
    by_interval = {text: {b for b in derived if b.interval == text} for text in ("5m", "15m", "60m")}
    assert by_interval["5m"] == expected_derived(regular, 300, "5m")
    assert by_interval["15m"] == expected_derived(regular, 900, "15m")
    assert by_interval["60m"] == expected_derived(regular, 3600, "60m")
    # AAPL's drops empty two windows of each interval (13:40 and 15:00 5m, 13:30 and 15:00 15m,
    # 13:30 and 14:30 60m), RIVN's one (17:10 5m, 17:00 15m, 16:30 60m)
    assert len(derived) == sum(map(len, by_interval.values())) == (76 + 77) + (24 + 25) + (5 + 6)
    assert [b.ts for b in derived] == sorted(b.ts for b in derived), "derived bars come in time order"
    assert day.advance(CLOSE) == [], "a window is built once"
    assert day.advance(CLOSE + 3600) == []


def test_a_real_day_streamed_minute_by_minute_builds_each_window_once_after_its_end(real: list[Bar]) -> None:
    day = LiveDay(JULY_2, M1, [M5, M15], SYMBOLS)
    emitted: list[tuple[int, Bar]] = []
    by_minute: dict[int, list[Bar]] = {}
    for bar in real:
        by_minute.setdefault(bar.ts, []).append(bar)
    for ts in sorted(by_minute):
        now = ts + 60  # a provider delivers a minute bar at its end
        emitted.extend((now, b) for b in day.advance(now))
        day.admit(by_minute[ts])
        emitted.extend((now, b) for b in day.advance(now))
    emitted.extend((CLOSE + 60, b) for b in day.advance(CLOSE + 60))

    bars = [b for _, b in emitted]
    regular = [b for b in real if OPEN <= b.ts < CLOSE]
    assert len(bars) == len(set(bars)), "no derived bar is emitted twice"
    assert set(bars) == expected_derived(regular, 300, "5m") | expected_derived(regular, 900, "15m")
    early = [(now, b) for now, b in emitted if now < window_end(b)]
    assert early == [], "a derived bar is built only once its window has ended"
    late = [(now, b) for now, b in emitted if now > window_end(b) + 60]
    assert late == [], "a complete window is built at the first delivery after its end"


def test_the_same_delivery_again_is_refused_as_duplicates_and_not_stored_again(real: list[Bar]) -> None:
    day = LiveDay(JULY_2, M1, [M5], SYMBOLS)
    regular = [b for b in real if OPEN <= b.ts < CLOSE]
    day.admit(regular)
    day.advance(CLOSE)

    again = day.admit(regular)

    assert again.stored == ()
    assert again.session == ()
    assert again.refused == len(regular)
    assert day.refused["duplicate"] == len(regular)
    assert day.session_count == len(regular)
    assert day.advance(CLOSE) == [], "duplicates change no derived bar"


def test_a_duplicate_inside_one_delivery_enters_the_session_once() -> None:
    day = LiveDay(JULY_2, M1, [], SYMBOLS)
    bar = minute(OPEN)

    admitted = day.admit([bar, bar])

    assert admitted.session == (bar,)
    assert admitted.stored == (bar,)
    assert admitted.refused == 1
    assert day.refused == Counter({"duplicate": 1})


def test_a_second_copy_with_other_values_is_a_duplicate_unless_it_is_an_update() -> None:
    day = LiveDay(JULY_2, M1, [], SYMBOLS)
    first = minute(OPEN, price=100.0)
    changed = first._replace(close=100.4, volume=99.0)
    day.admit([first])

    plain = day.admit([changed])
    assert (plain.stored, plain.session, day.refused["duplicate"]) == ((), (), 1), "first copy kept"

    updated = day.admit([changed], updated=True)
    assert updated.stored == (changed,)
    assert updated.session == (changed,), "an updated bar replaces the session bar"

    same = day.admit([changed], updated=True)
    assert (same.stored, same.session) == ((), ()), "an update that changes nothing is a duplicate"
    assert day.refused["duplicate"] == 2
    assert day.session_count == 1


def test_an_updated_bar_never_seen_before_enters_the_session_as_a_new_bar() -> None:
    day = LiveDay(JULY_2, M1, [], SYMBOLS)
    bar = minute(OPEN + 60)

    admitted = day.admit([bar], updated=True)

    assert admitted.session == (bar,)
    assert day.session_count == 1


@pytest.mark.parametrize(
    ("ts", "label"),
    [
        (PRE_OPEN, "the pre-market open"),
        (utc(13, 29), "the last pre-market minute"),
        (CLOSE, "the 16:00 ET bar"),
        (utc(23, 59), "the last post-market minute"),
    ],
)
def test_extended_hours_bars_are_stored_but_refused_from_the_session(ts: int, label: str) -> None:
    day = LiveDay(JULY_2, M1, [M5], SYMBOLS)
    bar = minute(ts)

    admitted = day.admit([bar])

    assert admitted.stored == (bar,), label
    assert admitted.session == ()
    assert admitted.refused == 1
    assert day.refused == Counter({"outside regular session": 1})
    assert day.session_count == 0
    assert day.newest_ts == {}


@pytest.mark.parametrize(
    ("ts", "label"),
    [
        (PRE_OPEN - 60, "before the pre-market open"),
        (POST_CLOSE, "at the post-market close"),
        (utc(13, 30, day=1), "yesterday's open"),
        (utc(13, 30, day=3), "tomorrow's open"),
    ],
)
def test_bars_dated_outside_the_days_trading_hours_are_not_today_and_not_stored(ts: int, label: str) -> None:
    day = LiveDay(JULY_2, M1, [], SYMBOLS)

    admitted = day.admit([minute(ts)])

    assert (admitted.stored, admitted.session, admitted.refused) == ((), (), 1), label
    assert day.refused == Counter({"not today": 1})


@pytest.mark.parametrize(
    ("bar", "reason"),
    [
        (minute(OPEN, "MSFT"), "unsubscribed symbol"),
        (minute(OPEN)._replace(interval="5m"), "not the streamed interval"),
        (minute(OPEN)._replace(interval="1d"), "not the streamed interval"),
        (minute(OPEN)._replace(high=99.0), "high below open/close"),
        (minute(OPEN)._replace(low=100.3), "low above open/close"),
        (minute(OPEN)._replace(low=0.0), "non-positive price"),
        (minute(OPEN)._replace(volume=-1.0), "negative volume"),
        (minute(OPEN)._replace(close=math.nan), "NaN value"),
    ],
)
def test_broken_or_foreign_bars_are_refused_by_reason_and_not_stored(bar: Bar, reason: str) -> None:
    day = LiveDay(JULY_2, M1, [M5], SYMBOLS)
    good = minute(OPEN + 60)

    admitted = day.admit([bar, good])

    assert admitted.stored == (good,)
    assert admitted.session == (good,)
    assert admitted.refused == 1
    assert day.refused == Counter({reason: 1})


def test_an_off_grid_bar_inside_the_session_is_refused_from_the_session() -> None:
    day = LiveDay(JULY_2, M1, [M5], SYMBOLS)
    bar = minute(OPEN + 30)

    admitted = day.admit([bar])

    assert admitted.session == ()
    assert day.refused == Counter({"off the window grid": 1})
    assert day.session_count == 0


def test_a_delivery_in_any_order_is_sorted_by_symbol_and_time_and_tracks_the_newest_bar() -> None:
    day = LiveDay(JULY_2, M1, [], SYMBOLS)
    bars = [minute(OPEN + 120, "RIVN"), minute(OPEN + 60), minute(OPEN, "RIVN"), minute(OPEN)]

    admitted = day.admit(bars)

    assert admitted.session == tuple(sorted(bars, key=lambda b: (b.symbol, b.ts)))
    assert day.newest_ts == {"AAPL": OPEN + 60, "RIVN": OPEN + 120}
    day.admit([minute(OPEN + 180), minute(OPEN + 240)])
    day.admit([minute(OPEN + 120)])
    assert day.newest_ts["AAPL"] == OPEN + 240, "an older late bar does not move the newest back"


# ------------------------------------------------------------------------ derived bars


def test_a_derived_window_waits_for_its_end_even_when_complete() -> None:
    day = LiveDay(JULY_2, M1, [M5], ["AAPL"])
    bars = [minute(OPEN + 60 * i, price=100 + i) for i in range(5)]
    day.admit(bars)

    assert day.advance(OPEN + 299) == []
    built = day.advance(OPEN + 300)

    assert built == complete_windows(bars, OPEN, CLOSE, 300, "5m")


def test_a_window_completed_later_by_a_gap_fill_is_built_when_the_missing_bars_arrive() -> None:
    day = LiveDay(JULY_2, M1, [M5, M15], ["AAPL"])
    bars = [minute(OPEN + 60 * i, price=100 + i / 10, volume=i + 1) for i in range(15)]
    missing = {OPEN + 6 * 60, OPEN + 7 * 60}
    day.admit([b for b in bars if b.ts not in missing])

    first = day.advance(OPEN + 15 * 60 + 5)

    assert [(b.interval, b.ts) for b in first] == [("5m", OPEN), ("5m", OPEN + 600)]
    assert day.advance(OPEN + 16 * 60) == [], "an incomplete window is not built"

    filled = day.admit([b for b in bars if b.ts in missing])
    assert len(filled.session) == 2

    late = day.advance(OPEN + 16 * 60)
    expected = complete_windows(bars, OPEN, CLOSE, 300, "5m") + complete_windows(
        bars, OPEN, CLOSE, 900, "15m"
    )
    assert sorted(late) == sorted(b for b in expected if b.ts in (OPEN, OPEN + 300) and b not in first)
    assert [(b.interval, b.ts) for b in late] == [("15m", OPEN), ("5m", OPEN + 300)]
    assert day.advance(OPEN + 20 * 60) == []


def test_a_gap_filled_after_the_close_still_completes_its_windows() -> None:
    day = LiveDay(JULY_2, M1, [M5], ["AAPL"])
    bars = full_day(JULY_2)
    last = bars[-1]
    day.admit(bars[:-1])
    before = day.advance(CLOSE + 600)
    assert len(before) == 77, "the last 5m window lacks its 15:59 ET minute"

    day.admit([last])
    after = day.advance(CLOSE + 900)

    assert after == complete_windows(bars, OPEN, CLOSE, 300, "5m")[-1:]


def test_an_updated_bar_rebuilds_the_window_it_belongs_to() -> None:
    day = LiveDay(JULY_2, M1, [M5, M15], ["AAPL"])
    bars = [minute(OPEN + 60 * i, price=100 + i / 10, volume=i + 1) for i in range(15)]
    day.admit(bars)
    built = day.advance(OPEN + 15 * 60)
    assert len(built) == 4

    changed = bars[7]._replace(high=150.0, close=149.0, volume=1000.0)
    admitted = day.admit([changed], updated=True)
    rebuilt = day.advance(OPEN + 15 * 60)

    assert admitted.session == (changed,)
    replaced = [changed if b.ts == changed.ts else b for b in bars]
    expected = [
        *complete_windows(replaced, OPEN, CLOSE, 900, "15m"),
        *(b for b in complete_windows(replaced, OPEN, CLOSE, 300, "5m") if b.ts == OPEN + 300),
    ]
    assert sorted(rebuilt) == sorted(expected)
    assert next(b for b in rebuilt if b.interval == "5m").high == 150.0
    assert day.advance(OPEN + 16 * 60) == [], "rebuilt once"


def test_an_update_before_the_window_ends_builds_the_window_once_with_the_new_value() -> None:
    day = LiveDay(JULY_2, M1, [M5], ["AAPL"])
    bars = [minute(OPEN + 60 * i) for i in range(5)]
    day.admit(bars)
    changed = bars[2]._replace(volume=500.0)
    day.admit([changed], updated=True)

    built = day.advance(OPEN + 300)

    assert len(built) == 1
    assert built[0].volume == 4 * 10.0 + 500.0


def test_the_last_60m_window_is_cut_by_the_close_and_built_from_its_30_minutes(real: list[Bar]) -> None:
    """SPEC §7: 15:30–16:00 ET is a complete 60m window of the time that exists."""
    day = LiveDay(JULY_2, M1, [M60], SYMBOLS)
    day.admit([b for b in real if OPEN <= b.ts < CLOSE])

    before = day.advance(CLOSE - 1)
    at_close = day.advance(CLOSE)

    assert utc(19, 30) not in {b.ts for b in before}
    assert [(b.symbol, b.ts) for b in at_close] == [("AAPL", utc(19, 30)), ("RIVN", utc(19, 30))]
    for bar in at_close:
        minutes = [b for b in real if b.symbol == bar.symbol and utc(19, 30) <= b.ts < CLOSE]
        assert len(minutes) == 30
        assert bar.volume == sum(b.volume for b in minutes)
        assert bar.close == minutes[-1].close


def test_an_early_close_ends_the_session_at_1300_et() -> None:
    day = LiveDay(JULY_3, M1, [M5, M15], ["AAPL"])
    bars = full_day(JULY_3)
    after_close = minute(EARLY_CLOSE)
    assert len(bars) == 210

    admitted = day.admit([*bars, after_close])
    derived = day.advance(EARLY_CLOSE)

    assert len(admitted.session) == 210
    assert after_close in admitted.stored, "post-market of an early close is stored"
    assert day.refused == Counter({"outside regular session": 1})
    assert sorted(derived) == sorted(
        complete_windows(bars, EARLY_OPEN, EARLY_CLOSE, 300, "5m")
        + complete_windows(bars, EARLY_OPEN, EARLY_CLOSE, 900, "15m")
    )
    assert max(b.ts for b in derived if b.interval == "15m") == utc(16, 45, day=3)
    assert day.advance(utc(21, day=3)) == []


def test_a_derived_window_is_built_per_symbol_independently() -> None:
    day = LiveDay(JULY_2, M1, [M5], SYMBOLS)
    aapl = [minute(OPEN + 60 * i) for i in range(5)]
    rivn = [minute(OPEN + 60 * i, "RIVN", price=10.0) for i in range(4)]
    day.admit(aapl + rivn)

    assert [b.symbol for b in day.advance(OPEN + 300)] == ["AAPL"]
    day.admit([minute(OPEN + 240, "RIVN", price=10.0)])
    assert [b.symbol for b in day.advance(OPEN + 300)] == ["RIVN"]


def test_the_clock_never_goes_back() -> None:
    day = LiveDay(JULY_2, M1, [M5], ["AAPL"])
    day.admit([minute(OPEN + 60 * i) for i in range(10)])
    assert len(day.advance(OPEN + 600)) == 2

    assert day.advance(OPEN + 300) == []
    assert day.now_ts == OPEN + 600


def test_the_day_starts_at_the_pre_market_open_with_nothing_due() -> None:
    day = LiveDay(JULY_2, M1, [M5], SYMBOLS)

    assert day.now_ts == PRE_OPEN
    assert day.advance(OPEN) == []
    assert day.session_count == 0


def test_a_derived_interval_that_is_not_a_multiple_of_the_base_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be derived"):
        LiveDay(JULY_2, M1, [Interval.parse("90s")], SYMBOLS)


# ------------------------------------------------------------------------------- alignment


@pytest.mark.parametrize(("shift", "offset"), [(0, 4 * 3600), (-4 * 3600, 0)])
def test_a_live_day_judges_the_stamps_it_received_up_to_its_close(shift: int, offset: int) -> None:
    """At the close a live day has seen nothing stamped after it: the four-hour-late real day
    is still found four hours late, and shifted back it is aligned."""
    stamped = sorted(
        real_minute_bars_as_stamped("AAPL") + real_minute_bars_as_stamped("RIVN"),
        key=lambda b: (b.ts, b.symbol),
    )
    day = LiveDay(JULY_2, Interval.parse("1m"), [Interval.parse("5m")], SYMBOLS)
    day.admit([b._replace(ts=b.ts + shift) for b in stamped if PRE_OPEN <= b.ts + shift < CLOSE])
    day.advance(CLOSE)
    verdicts = day.alignment()
    assert set(verdicts) == set(SYMBOLS)
    for verdict in verdicts.values():
        assert verdict.offset_seconds == offset, verdict.describe()
        assert verdict.status.value == ("misaligned" if offset else "aligned")


def test_a_live_day_of_daily_bars_has_no_alignment_verdict() -> None:
    day = LiveDay(JULY_2, Interval.parse("1d"), [], SYMBOLS)
    assert day.alignment() == {}


def test_a_day_closed_early_by_the_calendar_keeps_later_bars_out_of_the_session(real: list[Bar]) -> None:
    """The real minutes of 2025-07-02; the calendar moves the close to 18:00 UTC (14:00 New
    York) at noon: what came before stays, what comes after is stored but outside the session."""
    bars = [b for b in real if OPEN <= b.ts < CLOSE]
    day = LiveDay(JULY_2, M1, [M5], SYMBOLS)
    morning = day.admit([b for b in bars if b.ts < utc(16)])

    day.close_early(
        DayHours(
            JULY_2.day, OPEN, utc(18), is_early_close=True, pre_open_ts=PRE_OPEN, post_close_ts=POST_CLOSE
        )
    )
    afternoon = day.admit([b for b in bars if b.ts >= utc(16)])

    assert day.end_ts == utc(18) and day.hours.is_early_close
    assert all(b.ts < utc(18) for b in afternoon.session)
    late = [b for b in bars if b.ts >= utc(18)]
    assert len(afternoon.stored) == len(bars) - len(morning.stored)  # every bar is still stored
    assert afternoon.refused == len(late) and len(morning.session) + len(afternoon.session) == len(
        bars
    ) - len(late)


def test_only_an_earlier_close_of_the_same_day_cuts_it() -> None:
    day = LiveDay(JULY_2, M1, [], SYMBOLS)
    with pytest.raises(ValueError, match="not an earlier close"):
        day.close_early(DayHours(JULY_2.day, OPEN, utc(21)))
    with pytest.raises(ValueError, match="not an earlier close"):
        day.close_early(JULY_3)
