"""One session day (SPEC §5 step 4, §7): start-stamped bars released when the clock reaches their
end, the regular-hours filter on the real AAPL and RIVN days of 2025-07-02, the 13:00 early close
of 2025-07-03, derived bars built step by step, refused bars and the (time, symbol) order.

Expectations over the real files are recomputed here straight from the CSV rows, moved back the
4 hours they are stamped late: a row is in the regular session when its New York time is on the
session date in ``[09:30, 16:00)`` (``[09:30, 13:00)`` on the early close). So moved, each file
holds July 1's post-market, July 2's pre-market and all 390 regular minutes of July 2.
"""

from __future__ import annotations

import csv
import math
import random
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from support.stores import real_file, real_minute_bars_as_stamped, seeded_calendar

from domain.bars import Bar, daily_ts
from domain.calendar.trading_calendar import TradingCalendar
from domain.intervals import MINUTE, Interval
from domain.quality.book import QualityBook
from domain.quotes import Quote, QuoteColumns
from domain.session.live_day import LiveDay
from domain.session.replay_day import SessionDay, Step
from domain.session.windows import DayHours

NY = ZoneInfo("America/New_York")
M5, M15, M60 = Interval(300), Interval(900), Interval(3600)
DAILY = Interval.parse("1d")
JULY_1, JULY_2, JULY_3, JULY_4 = date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3), date(2025, 7, 4)
LATE = timedelta(hours=4)  # the real minute files are stamped 4 hours late (see their README)


def et(hour: int, minute: int = 0, day: int = 2) -> int:
    """Epoch seconds of a New York time in July 2025."""
    return int(datetime(2025, 7, day, hour, minute, tzinfo=NY).timestamp())


OPEN, CLOSE = et(9, 30), et(16)
EARLY_OPEN, EARLY_CLOSE = et(9, 30, day=3), et(13, day=3)


def bar(ts: int, symbol: str = "AAPL", *, price: float = 100.0, volume: float = 100.0) -> Bar:
    return Bar(symbol, "1m", ts, price, price + 0.5, price - 0.5, price + 0.25, volume)


@pytest.fixture(scope="module")
def calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TradingCalendar]:
    with seeded_calendar(
        tmp_path_factory.mktemp("session_day"), "US_EQUITY", start_year=2024, end_year=2026
    ) as calendar:
        yield calendar


@pytest.fixture(scope="module")
def july_2(calendar: TradingCalendar) -> DayHours:
    return DayHours.from_session(calendar.get_trading_session(JULY_2))


@pytest.fixture(scope="module")
def july_1(calendar: TradingCalendar) -> DayHours:
    return DayHours.from_session(calendar.get_trading_session(JULY_1))


@pytest.fixture(scope="module")
def july_3(calendar: TradingCalendar) -> DayHours:
    return DayHours.from_session(calendar.get_trading_session(JULY_3))


class Row:
    """One CSV row of a real minute dump, read with the csv module only, at its true time (its
    stamp less 4 hours; the file's ``timestamp_et`` and ``time_et`` are 4 hours late too)."""

    __slots__ = ("bar", "date_et", "time_et")

    def __init__(self, symbol: str, line: dict[str, str]) -> None:
        moment = datetime.fromisoformat(line["timestamp"]) - LATE
        ts = int(moment.timestamp())
        local = moment.astimezone(NY)
        self.bar = Bar(
            symbol,
            "1m",
            ts,
            float(line["open"]),
            float(line["high"]),
            float(line["low"]),
            float(line["close"]),
            float(line["volume"]),
        )
        self.date_et = local.date().isoformat()
        self.time_et = local.time().isoformat()

    def regular(self, close: str = "16:00:00") -> bool:
        return self.date_et == "2025-07-02" and "09:30:00" <= self.time_et < close


def real_rows(symbol: str) -> list[Row]:
    with real_file(f"{symbol}_2025-07-02_1m.csv").open(newline="") as handle:
        return [Row(symbol, line) for line in csv.DictReader(handle)]


def run_data_driven(day: SessionDay) -> list[Step]:
    """A speed-0 replay: the clock jumps to ``next_clock()`` until the close."""
    steps: list[Step] = []
    for _ in range(10_000):
        if day.at_close:
            return steps
        steps.append(day.release(day.next_clock()))
    raise AssertionError("the clock never reached the close")


def run_paced(day: SessionDay, step_seconds: int) -> list[Step]:
    """A paced replay: the clock moves ``step_seconds`` at a time from the open to the close."""
    return [
        day.release(now)
        for now in range(day.hours.open_ts + step_seconds, day.hours.close_ts + step_seconds, step_seconds)
    ]


def complete_windows(bars: list[Bar], open_ts: int, close_ts: int, seconds: int, interval: str) -> list[Bar]:
    """Every window of ``seconds`` anchored at the open holding all its minutes, aggregated by hand."""
    by_ts = {b.ts: b for b in bars}
    out: list[Bar] = []
    for start in range(open_ts, close_ts, seconds):
        minutes = [by_ts.get(ts) for ts in range(start, min(start + seconds, close_ts), 60)]
        if any(m is None for m in minutes):
            continue
        got = [m for m in minutes if m is not None]
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


# ------------------------------------------------------------------------------------ day hours


def test_day_hours_of_a_full_and_an_early_close_day_come_from_the_calendar(
    calendar: TradingCalendar, july_2: DayHours, july_3: DayHours
) -> None:
    assert july_2 == DayHours(JULY_2, OPEN, CLOSE, False, None, None, et(4), et(20))
    assert july_3 == DayHours(JULY_3, EARLY_OPEN, EARLY_CLOSE, True, None, None, et(4, day=3), et(20, day=3))
    assert july_2.regular_seconds() == 390 * 60
    assert july_3.regular_seconds() == 210 * 60
    with pytest.raises(ValueError, match="2025-07-04"):
        DayHours.from_session(calendar.get_trading_session(JULY_4))


# ----------------------------------------------------------------------------- release timing


def test_the_0930_bar_is_released_at_0931_and_never_earlier(july_2: DayHours) -> None:
    first, second = bar(et(9, 30)), bar(et(9, 31))
    day = SessionDay(july_2, MINUTE, [], ["AAPL"], [second, first])
    assert day.next_release() == et(9, 31)
    assert day.release(et(9, 30)).bars == ()
    assert day.release(et(9, 31) - 1).bars == ()
    step = day.release(et(9, 31))
    assert (step.now_ts, step.bars, step.derived) == (et(9, 31), (first,), ())
    assert day.release(et(9, 31)).bars == (), "each bar is released once"
    assert day.next_release() == et(9, 32)
    assert day.release(et(9, 32)).bars == (second,)
    assert day.next_release() is None


def test_a_steps_bars_are_built_when_first_read_once_for_every_reader(july_2: DayHours) -> None:
    """A step's bars cost nothing until a subscriber reads them; then every reader shares one tuple."""
    bars = [bar(et(9, 30)), bar(et(9, 30))._replace(symbol="RIVN"), bar(et(9, 31))]
    day = SessionDay(july_2, MINUTE, [], ["AAPL", "RIVN"], bars)
    assert day.released_count() == 0
    released = day.release(et(9, 32)).bars
    assert day.released_count() == 3
    assert released._bars is None, "built before anybody read it"
    assert list(released) == [bars[0], bars[1], bars[2]]  # time, then the config's symbol order
    values = released._bars
    assert values is not None and released == values and released[1:] == values[1:] and len(released) == 3
    assert released + (bars[0],) == (*values, bars[0]) and () + released == values  # noqa: RUF005 - tuple arithmetic is what is tested
    assert released._bars is values, "built once"
    assert hash(released) == hash(values)


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_a_paced_clock_releases_each_real_bar_exactly_at_its_end(july_2: DayHours, symbol: str) -> None:
    rows = real_rows(symbol)
    day = SessionDay(july_2, MINUTE, [], [symbol], (row.bar for row in rows))
    released_at = {b.ts: step.now_ts for step in run_paced(day, 15) for b in step.bars}
    assert released_at, "the day holds regular-session bars"
    assert all(now == ts + 60 for ts, now in released_at.items()), "no look-ahead, no delay"


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_a_data_driven_clock_stops_at_every_real_bar_end_then_at_the_close(
    july_2: DayHours, symbol: str
) -> None:
    rows = real_rows(symbol)
    regular = sorted(row.bar.ts for row in rows if row.regular())
    day = SessionDay(july_2, MINUTE, [], [symbol], (row.bar for row in rows))
    steps = run_data_driven(day)
    clocks = [ts + 60 for ts in regular]
    if clocks[-1] != CLOSE:
        clocks.append(CLOSE)
    assert [step.now_ts for step in steps] == clocks
    assert [b.ts for step in steps for b in step.bars] == regular
    assert all(b.ts + 60 == step.now_ts for step in steps for b in step.bars)


def test_next_clock_jumps_to_the_next_bar_end_and_to_the_close_when_only_later_data_is_left(
    july_2: DayHours,
) -> None:
    bars = [bar(et(9, 30)), bar(et(10)), bar(et(12, 14)), bar(et(16, 30)), bar(et(19, 59))]
    day = SessionDay(july_2, MINUTE, [], ["AAPL"], bars)
    clocks = []
    while not day.at_close:
        now = day.next_clock()
        clocks.append(now)
        day.release(now)
    assert clocks == [et(9, 31), et(10, 1), et(12, 15), CLOSE], "the 16:30 and 19:59 bars are after the close"
    assert day.next_release() is None
    assert day.next_clock() == CLOSE


def test_a_day_holding_only_extended_hours_bars_jumps_straight_to_the_close(july_2: DayHours) -> None:
    bars = [bar(et(4)), bar(et(9, 29)), bar(CLOSE), bar(et(18, 45))]
    day = SessionDay(july_2, MINUTE, [M5], ["AAPL"], bars)
    assert day.bar_count == 0
    assert day.next_release() is None
    assert day.next_clock() == CLOSE
    assert not day.at_close
    step = day.release(CLOSE)
    assert (step.now_ts, step.bars, step.derived) == (CLOSE, (), ())
    assert day.at_close
    assert day.refused == Counter({"outside regular session": 4})


def test_the_clock_is_capped_at_the_close_and_never_goes_backwards(july_2: DayHours) -> None:
    day = SessionDay(july_2, MINUTE, [], ["AAPL"], [bar(et(9, 30)), bar(et(15, 59))])
    assert day.now_ts == OPEN
    assert day.release(et(10)).now_ts == et(10)
    assert day.release(et(9, 45)).now_ts == et(10)
    last = day.release(et(20))
    assert last.now_ts == CLOSE
    assert last.bars == (bar(et(15, 59)),)
    assert day.at_close


# ------------------------------------------------------------------------ regular-hours filter


# every regular minute is in both files; AAPL also has 223 post-market rows of July 1 and 249
# pre-market rows, RIVN 99 and 128 (counted from the files by hand)
@pytest.mark.parametrize(
    ("symbol", "in_session", "post", "pre"), [("AAPL", 390, 223, 249), ("RIVN", 390, 99, 128)]
)
def test_real_day_keeps_only_the_regular_session_and_counts_every_other_row(
    july_2: DayHours, symbol: str, in_session: int, post: int, pre: int
) -> None:
    rows = real_rows(symbol)
    regular = [row.bar for row in rows if row.regular()]
    outside = [row for row in rows if not row.regular()]
    assert len(regular) == in_session
    post_market = [row for row in outside if row.date_et == "2025-07-01" and row.time_et >= "16:00:00"]
    pre_market = [row for row in outside if row.date_et == "2025-07-02" and row.time_et < "09:30:00"]
    assert (len(post_market), len(pre_market)) == (post, pre)
    assert len(outside) == post + pre, "nothing else is outside"

    day = SessionDay(july_2, MINUTE, [], [symbol], (row.bar for row in rows))
    assert day.bar_count == in_session
    assert day.refused == Counter({"outside regular session": len(outside)})
    released = [b for step in run_data_driven(day) for b in step.bars]
    assert released == sorted(regular, key=lambda b: b.ts)
    assert day.released_count() == day.bar_count


def test_the_real_1600_row_is_in_the_file_but_never_enters_the_session(july_1: DayHours) -> None:
    """The file's 16:00 row is July 1's closing cross (the file ends at 15:59 on July 2)."""
    rows = real_rows("AAPL")
    sixteen = [row.bar for row in rows if row.time_et == "16:00:00"]
    assert [(b.ts, b.volume) for b in sixteen] == [(july_1.close_ts, 6_085_759)]
    day = SessionDay(july_1, MINUTE, [], ["AAPL"], sixteen)
    assert day.refused == Counter({"outside regular session": 1})
    assert [(s.now_ts, s.bars, s.derived) for s in run_data_driven(day)] == [(july_1.close_ts, (), ())]


# -------------------------------------------------------------------------------- early close


def test_early_close_keeps_0930_to_1259_and_refuses_the_1300_bar(july_3: DayHours) -> None:
    whole_day = [bar(ts) for ts in range(et(4, day=3), et(20, day=3), 60)]
    day = SessionDay(july_3, MINUTE, [], ["AAPL"], whole_day)
    assert day.bar_count == 210
    assert day.refused == Counter({"outside regular session": 960 - 210})
    steps = run_data_driven(day)
    released = [b.ts for step in steps for b in step.bars]
    assert released == list(range(EARLY_OPEN, EARLY_CLOSE, 60))
    assert EARLY_CLOSE not in released, "the 13:00 bar never enters"
    assert steps[-1].now_ts == EARLY_CLOSE
    assert day.at_close


def test_early_close_derived_windows_end_at_1300_and_the_last_hour_is_cut(july_3: DayHours) -> None:
    whole_day = [bar(ts, volume=float(i + 1)) for i, ts in enumerate(range(et(8, day=3), et(17, day=3), 60))]
    volumes = {b.ts: b.volume for b in whole_day}
    day = SessionDay(july_3, MINUTE, [M5, M15, M60], ["AAPL"], whole_day)
    steps = run_paced(day, 60)
    emitted = {(b.interval, b.ts): step.now_ts for step in steps for b in step.derived}
    derived = {(b.interval, b.ts): b for step in steps for b in step.derived}

    assert sorted(ts for interval, ts in derived if interval == "5m") == list(
        range(EARLY_OPEN, EARLY_CLOSE, 300)
    )
    fifteen = sorted(ts for interval, ts in derived if interval == "15m")
    assert fifteen == list(range(EARLY_OPEN, EARLY_CLOSE, 900))
    assert len(fifteen) == 14, "13:00 falls on the 15m grid: the last window is 12:45-13:00"
    assert emitted[("15m", et(12, 45, day=3))] == EARLY_CLOSE
    assert derived[("15m", et(12, 45, day=3))].volume == sum(
        volumes[ts] for ts in range(et(12, 45, day=3), EARLY_CLOSE, 60)
    )

    hours = sorted(ts for interval, ts in derived if interval == "60m")
    assert hours == [et(h, 30, day=3) for h in (9, 10, 11, 12)]
    cut = derived[("60m", et(12, 30, day=3))]
    assert emitted[("60m", et(12, 30, day=3))] == EARLY_CLOSE, "emitted at the close, not at 13:30"
    assert cut.volume == sum(volumes[ts] for ts in range(et(12, 30, day=3), EARLY_CLOSE, 60))
    assert cut.close == whole_day[[b.ts for b in whole_day].index(et(12, 59, day=3))].close
    assert all(ts < EARLY_CLOSE for (_, ts) in derived)


def test_real_aapl_minutes_moved_to_the_early_close_keep_only_0930_to_1300(july_3: DayHours) -> None:
    rows = real_rows("AAPL")
    moved = [b._replace(ts=b.ts + 86_400) for b in (row.bar for row in rows)]
    kept = sorted(b.ts for row, b in zip(rows, moved, strict=True) if row.regular(close="13:00:00"))
    day = SessionDay(july_3, MINUTE, [], ["AAPL"], moved)
    assert day.bar_count == len(kept)
    assert day.refused == Counter({"outside regular session": len(rows) - len(kept)})
    assert [b.ts for step in run_data_driven(day) for b in step.bars] == kept


# ------------------------------------------------------------------------------- derived bars


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_derived_bars_built_step_by_step_equal_complete_windows_by_hand_on_a_real_day(
    july_2: DayHours, symbol: str
) -> None:
    # the real day holds every regular minute: 09:33 and 14:10-14:12 are dropped so that the 09:30
    # and 14:00/14:10 windows are incomplete
    dropped = {et(9, 33), et(14, 10), et(14, 11), et(14, 12)}
    rows = [row for row in real_rows(symbol) if row.bar.ts not in dropped]
    regular = [row.bar for row in rows if row.regular()]
    day = SessionDay(july_2, MINUTE, [M5, M15], [symbol], (row.bar for row in rows))
    steps = run_data_driven(day)
    for target, complete in ((M5, 78 - 2), (M15, 26 - 2)):
        streamed = [b for step in steps for b in step.derived if b.interval == str(target)]
        by_hand = complete_windows(regular, OPEN, CLOSE, target.seconds, str(target))
        assert streamed == by_hand
        assert len(streamed) == complete


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_a_derived_window_is_emitted_at_the_step_its_window_ends(july_2: DayHours, symbol: str) -> None:
    rows = real_rows(symbol)
    day = SessionDay(july_2, MINUTE, [M5, M15], [symbol], (row.bar for row in rows))
    steps = run_paced(day, 60)
    emitted = [(b, step.now_ts) for step in steps for b in step.derived]
    seconds = {"5m": 300, "15m": 900}
    assert emitted
    assert all(now == min(b.ts + seconds[b.interval], CLOSE) for b, now in emitted)
    jumping = SessionDay(july_2, MINUTE, [M5, M15], [symbol], (row.bar for row in rows))
    data_driven = [b for step in run_data_driven(jumping) for b in step.derived]
    assert [b for b, _ in emitted] == data_driven, "paced and data-driven replays derive the same bars"


# ------------------------------------------------------------------------------ refused bars


def test_bars_breaking_the_ohlc_rules_are_refused_with_their_reason(july_2: DayHours) -> None:
    good = bar(et(9, 30))
    bad = [
        Bar("AAPL", "1m", et(9, 31), 10.0, 9.5, 9.0, 9.2, 100.0),  # high below open
        Bar("AAPL", "1m", et(9, 32), 10.0, 11.0, 10.5, 10.8, 100.0),  # low above open
        Bar("AAPL", "1m", et(9, 33), 0.0, 11.0, 0.0, 10.0, 100.0),
        Bar("AAPL", "1m", et(9, 34), 10.0, 11.0, 9.0, 10.0, -1.0),
        Bar("AAPL", "1m", et(9, 35), 10.0, math.nan, 9.0, 10.0, 100.0),
    ]
    day = SessionDay(july_2, MINUTE, [M5], ["AAPL"], [good, *bad])
    assert day.refused == Counter(
        {
            "high below open/close": 1,
            "low above open/close": 1,
            "non-positive price": 1,
            "negative volume": 1,
            "NaN value": 1,
        }
    )
    steps = run_data_driven(day)
    assert [b for step in steps for b in step.bars] == [good]
    assert [b for step in steps for b in step.derived] == [], "the 09:30 window lost four bars"


def test_bars_of_other_symbols_intervals_or_off_the_grid_are_refused(july_2: DayHours) -> None:
    bars = [
        bar(et(9, 30)),
        bar(et(9, 30), "TSLA"),
        bar(et(9, 31))._replace(interval="5m"),
        bar(et(9, 32) + 30),
    ]
    day = SessionDay(july_2, MINUTE, [], ["AAPL"], bars)
    assert day.refused == Counter(
        {"unsubscribed symbol": 1, "not the streamed interval": 1, "off the window grid": 1}
    )
    assert day.bar_count == 1


def test_duplicate_timestamps_keep_the_first_copy(july_2: DayHours) -> None:
    first = bar(et(9, 32), price=100.0)
    repeat = bar(et(9, 32), price=200.0)
    window = [bar(ts) for ts in (et(9, 30), et(9, 31), et(9, 33), et(9, 34))]
    day = SessionDay(july_2, MINUTE, [M5], ["AAPL"], [*window[:2], first, repeat, *window[2:]])
    assert day.refused == Counter({"duplicate": 1})
    assert day.bar_count == 5
    steps = run_data_driven(day)
    assert [b for step in steps for b in step.bars if b.ts == et(9, 32)] == [first]
    (five,) = [b for step in steps for b in step.derived]
    assert five.high == max(b.high for b in [*window, first]), "the derived window is built on the first copy"
    assert five.volume == 500.0


def test_duplicates_of_one_minute_from_another_symbol_are_not_duplicates(july_2: DayHours) -> None:
    day = SessionDay(july_2, MINUTE, [], ["AAPL", "RIVN"], [bar(et(9, 30)), bar(et(9, 30), "RIVN")])
    assert day.refused == Counter()
    assert day.bar_count == 2


# ---------------------------------------------------------------------------------- ordering


def test_steps_release_bars_in_time_then_symbol_order(july_2: DayHours) -> None:
    aapl, rivn = real_rows("AAPL"), real_rows("RIVN")
    order = ("RIVN", "AAPL")  # the config's order, not the alphabet
    everything = [row.bar for row in aapl] + [row.bar for row in rivn]
    everything.reverse()
    day = SessionDay(july_2, MINUTE, [M5, M15], order, everything)
    steps = run_data_driven(day)
    released = [b for step in steps for b in step.bars]
    regular = [row.bar for row in aapl + rivn if row.regular()]
    assert released == sorted(regular, key=lambda b: (b.ts, order.index(b.symbol)))
    targets = ("5m", "15m")
    derived = []
    for step in steps:
        assert {b.ts + 60 for b in step.bars} <= {step.now_ts}
        key = [(b.ts, targets.index(b.interval), order.index(b.symbol)) for b in step.derived]
        assert key == sorted(key), "derived bars: by time, then interval, then symbol order"
        derived.extend(step.derived)
    assert {b.symbol for b in derived} == set(order)


def test_one_step_over_many_bar_ends_releases_them_all_in_order(july_2: DayHours) -> None:
    aapl, rivn = real_rows("AAPL"), real_rows("RIVN")
    order = ("AAPL", "RIVN")
    day = SessionDay(july_2, MINUTE, [], order, [row.bar for row in rivn + aapl])
    step = day.release(et(11))
    expected = sorted(
        (row.bar for row in aapl + rivn if row.regular() and row.bar.ts + 60 <= et(11)),
        key=lambda b: (b.ts, order.index(b.symbol)),
    )
    assert list(step.bars) == expected
    assert day.next_release() == min(
        row.bar.ts + 60 for row in aapl + rivn if row.regular() and row.bar.ts + 60 > et(11)
    )


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_a_daily_bar_derived_in_the_session_allows_missing_minutes_and_uses_the_daily_key(
    july_2: DayHours, symbol: str
) -> None:
    # the real day holds every regular minute: 12:00-12:09 and the last minute, 15:59, are dropped
    dropped = {*range(et(12), et(12, 10), 60), et(15, 59)}
    rows = [row for row in real_rows(symbol) if row.bar.ts not in dropped]
    regular = [row.bar for row in rows if row.regular()]
    assert len(regular) == 390 - 11
    day = SessionDay(july_2, MINUTE, [DAILY], [symbol], (row.bar for row in rows))
    book = QualityBook(july_2, [symbol], [MINUTE, DAILY])
    emitted: list[tuple[Bar, int]] = []
    for step in run_data_driven(day):
        emitted.extend((b, step.now_ts) for b in step.derived)
        book.score(step.now_ts, [*step.bars, *step.derived])
    [(daily, at)] = emitted
    assert at == july_2.close_ts, "emitted at the close"
    assert daily.ts == daily_ts(july_2.day)
    assert (daily.open, daily.close) == (regular[0].open, regular[-1].close)
    assert daily.high == max(b.high for b in regular) and daily.low == min(b.low for b in regular)
    assert math.isclose(daily.volume, sum(b.volume for b in regular))
    results = book.results()
    assert results[(symbol, "1d")].score.quality == 100.0
    assert results[(symbol, "1d")].gaps == ()
    assert results[(symbol, "1m")].score.quality == 100 * 379 / 390


# ------------------------------------------------------------------------------- alignment


@pytest.mark.parametrize(("shift", "offset"), [(0, 4 * 3600), (-4 * 3600, 0)])
def test_a_replay_day_judges_every_bar_it_was_given_for_its_hours(
    july_2: DayHours, shift: int, offset: int
) -> None:
    bars = [
        b._replace(ts=b.ts + shift)
        for symbol in ("AAPL", "RIVN")
        for b in real_minute_bars_as_stamped(symbol)
        if july_2.read_start_ts <= b.ts + shift < july_2.read_end_ts
    ]
    day = SessionDay(july_2, MINUTE, [Interval.parse("5m")], ["AAPL", "RIVN", "MSFT"], bars)
    verdicts = day.alignment()
    assert set(verdicts) == {"AAPL", "RIVN"}, "a symbol without bars has no verdict"
    assert {v.offset_seconds for v in verdicts.values()} == {offset}


@pytest.mark.parametrize("seed", range(6))
def test_a_replay_day_derives_what_a_live_day_derives_step_by_step_and_in_the_same_order(
    july_2: DayHours, seed: int
) -> None:
    """The replay day builds its derived bars for the whole day at once (vectorised); the live day
    window by window as the clock passes. Same bars at the same steps, in (time, interval length,
    symbol) order, over several symbols with random holes."""
    rng = random.Random(seed)
    symbols = ["AAA", "BBB", "CCC"]
    bars = [
        Bar(s, "1m", ts, p, p + rng.random(), p - rng.random(), p + 0.1, rng.random() * 1e5)
        for s in symbols
        for ts in range(OPEN - 600, CLOSE + 600, 60)
        if rng.random() > 0.08 * symbols.index(s)
        for p in [50 + rng.random() * 10]
    ]
    targets = [M15, DAILY, M5]
    replay = SessionDay(july_2, MINUTE, targets, symbols, bars)
    live = LiveDay(july_2, MINUTE, targets, symbols)
    live.admit([b for b in bars if OPEN <= b.ts < CLOSE])
    derived = 0
    for now in [*range(OPEN, CLOSE, 60 * rng.choice([1, 2, 7])), CLOSE]:
        step = replay.release(now)
        assert list(step.derived) == list(live.release(now).derived), now
        assert len(step.derived) == len(tuple(step.derived)), "the count is known without building"
        derived += len(step.derived)
    assert replay.released_count() == replay.bar_count
    assert derived == sum(map(len, replay.all_columns)) - replay.bar_count


def test_quotes_are_released_once_their_second_has_passed_in_time_then_symbol_order(july_2: DayHours) -> None:
    def rows(symbol: str, seconds: list[int]) -> QuoteColumns:
        return QuoteColumns.from_quotes(
            symbol,
            [Quote(symbol, (OPEN + s) * 1_000_000 + 7, 100.0 + s, 100.0, 100.5 + s, 100.0) for s in seconds],
        )

    quotes = [
        rows("AAPL", [-30, 0, 59, 60, 61, 23_399, 23_400]),
        rows("RIVN", [0, 59, 120]),
        rows("MSFT", [5]),
    ]
    day = SessionDay(july_2, MINUTE, [], ["AAPL", "RIVN"], [bar(OPEN), bar(OPEN + 60)], quotes=quotes)
    assert day.quote_count == 8, "the day's session only (not 09:29:30, not 16:00), subscribed symbols only"
    first = day.release(OPEN + 59)
    assert [(q.symbol, q.ts - OPEN) for q in first.quotes] == [("AAPL", 0), ("RIVN", 0)]
    second = day.release(OPEN + 60)  # 09:31: the 09:30:59 rows' second has ended
    assert [(q.symbol, q.ts - OPEN) for q in second.quotes] == [("AAPL", 59), ("RIVN", 59)]
    assert len(second.quotes) == 2 and second.quotes[0].bid_price == 159.0
    rest = day.release(day.end_ts)
    assert [(q.symbol, q.ts - OPEN) for q in rest.quotes] == [
        ("AAPL", 60),
        ("AAPL", 61),
        ("RIVN", 120),
        ("AAPL", 23_399),
    ]
    assert day.quotes_released() == day.quote_count and day.release(day.end_ts).quotes == ()
