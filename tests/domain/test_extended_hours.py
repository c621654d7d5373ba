"""Extended hours (SPEC §11): a day that scores the pre-market and post-market sessions too.

On the real AAPL and RIVN minutes of 2025-07-02 (the files shifted back to their true stamps):
the sessions of a day from the calendar, the replay day releasing pre-market bars from 04:00
without look-ahead, derived bars staying those of the regular session, the QualityBook scoring
each session on its own, and the live day admitting extended bars. Every expectation is counted
here from the bars themselves.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from support.stores import real_minute_bars, seeded_calendar

from domain.bars import Bar
from domain.calendar.model import SessionType
from domain.calendar.trading_calendar import TradingCalendar
from domain.intervals import DAILY, MINUTE, Interval
from domain.quality.book import QualityBook
from domain.quality.gaps import GapStatus
from domain.session.live_day import LiveDay
from domain.session.replay_day import SessionDay
from domain.session.windows import DayGrid, DayHours, DaySegment, Refusal

NY = ZoneInfo("America/New_York")
M5 = Interval(300)
PRE, REGULAR, POST = SessionType.PRE_MARKET, SessionType.REGULAR, SessionType.POST_MARKET


def et(hour: int, minute: int = 0, day: int = 2) -> int:
    return int(datetime(2025, 7, day, hour, minute, tzinfo=NY).timestamp())


@pytest.fixture(scope="module")
def calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TradingCalendar]:
    with seeded_calendar(
        tmp_path_factory.mktemp("calendar"), "US_EQUITY", "JP_EQUITY", start_year=2025, end_year=2025
    ) as calendar:
        yield calendar


@pytest.fixture(scope="module")
def july_2(calendar: TradingCalendar) -> DayHours:
    return DayHours.from_session(calendar.get_trading_session(date(2025, 7, 2)))


def in_span(bars: list[Bar], start: int, end: int) -> list[Bar]:
    return [b for b in bars if start <= b.ts < end]


def play(day: SessionDay, book: QualityBook) -> list[Bar]:
    """Run ``day`` at speed 0 to its end, scoring every step in ``book``; the derived bars."""
    derived: list[Bar] = []
    while True:
        step = day.release(day.next_clock())
        derived.extend(step.derived)
        stamps = []
        for cols in step.columns:
            lo, hi = bisect_left(cols.ts, step.from_ts), bisect_left(cols.ts, step.until_ts)
            stamps.append((cols.symbol, cols.interval, cols.ts[lo:hi]))
        book.score(step.now_ts, step.derived, stamps)
        if day.at_close:
            return derived


# ----------------------------------------------------------------------------- the sessions


def test_a_us_day_scores_the_pre_market_and_the_post_market_only_when_asked(
    calendar: TradingCalendar, july_2: DayHours
) -> None:
    regular = DaySegment(REGULAR, et(9, 30), et(16))
    assert july_2.segments() == (regular,)
    assert july_2.span() == (et(9, 30), et(16))
    assert july_2.segments(extended=True) == (
        DaySegment(PRE, et(4), et(9, 30)),
        regular,
        DaySegment(POST, et(16), et(20)),
    )
    assert july_2.span(extended=True) == (et(4), et(20))
    # the early close of July 3: the post-market starts at 13:00
    july_3 = DayHours.from_session(calendar.get_trading_session(date(2025, 7, 3)))
    assert july_3.segments(True)[-1] == DaySegment(POST, et(13, day=3), et(20, day=3))


def test_a_calendar_without_extended_hours_scores_the_regular_session_alone(
    calendar: TradingCalendar,
) -> None:
    tokyo = DayHours.from_session(calendar.get_trading_session(date(2025, 7, 2), "JP_EQUITY"))
    (only,) = tokyo.segments(extended=True)
    assert only.session is REGULAR and only.break_start_ts is not None  # the lunch break stays


def test_a_pre_market_that_closes_before_the_open_leaves_the_time_between_outside() -> None:
    hours = DayHours(date(2025, 7, 2), et(9, 30), et(16), pre_open_ts=et(4), pre_close_ts=et(9))
    grid = DayGrid(hours, MINUTE, extended=True)
    assert [s.session for s in grid.segments] == [PRE, REGULAR]
    assert grid.refusal(et(8, 59)) is None
    assert grid.refusal(et(9, 10)) == Refusal.OUTSIDE_TRADING_HOURS
    assert grid.refusal(et(16)) == Refusal.OUTSIDE_TRADING_HOURS  # no post-market in these hours
    assert DayGrid(hours, MINUTE).refusal(et(8, 59)) == Refusal.OUTSIDE_REGULAR_SESSION
    assert grid.end(et(8, 59)) == et(9) and grid.end(et(15, 59)) == et(16)


def test_each_extended_session_has_its_own_grid_from_its_own_open() -> None:
    """A pre-market opening at 04:10 with a 15m base: its windows start 04:10, 04:25 …; the last
    one is cut at the regular open."""
    hours = DayHours(date(2025, 7, 2), et(9, 30), et(16), pre_open_ts=et(4, 10))
    grid = DayGrid(hours, Interval(900), extended=True)
    assert grid.refusal(et(4, 25)) is None
    assert grid.refusal(et(4, 30)) == Refusal.OFF_THE_GRID
    assert grid.end(et(9, 25)) == et(9, 30)


# ------------------------------------------------------------------------------ the replay day


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
def test_the_replay_day_streams_from_the_pre_market_open_to_the_post_market_close(
    july_2: DayHours, symbol: str
) -> None:
    bars = real_minute_bars(symbol)
    pre = in_span(bars, et(4), et(9, 30))
    regular = in_span(bars, et(9, 30), et(16))
    day = SessionDay(july_2, MINUTE, [M5, DAILY], (symbol,), bars, extended=True)
    assert (day.start_ts, day.end_ts, day.now_ts) == (et(4), et(20), et(4))
    assert day.bar_count == len(pre) + len(regular)
    # what is left is July 1's post-market: the file starts at 16:00 on July 1 once shifted back
    assert (
        day.refused[Refusal.OUTSIDE_TRADING_HOURS]
        == len(bars) - day.bar_count
        == len(in_span(bars, et(16, day=1), et(20, day=1)))
    )
    first = day.release(day.next_clock())
    assert first.now_ts == pre[0].ts + 60 and [b.ts for b in first.bars] == [pre[0].ts]  # no look-ahead
    derived = [*first.derived]
    while not day.at_close:
        derived.extend(day.release(day.next_clock()).derived)
    assert day.now_ts == et(20) and day.released_count() == day.bar_count
    # derived bars are the regular session's: 78 five-minute windows and a day of regular volume
    fives = [b for b in derived if b.interval == "5m"]
    assert len(fives) == 78 and {b.ts for b in fives} == set(range(et(9, 30), et(16), 300))
    (daily,) = [b for b in derived if b.interval == "1d"]
    assert daily.volume == sum(b.volume for b in regular)
    assert (daily.open, daily.close) == (regular[0].open, regular[-1].close)


def test_without_extended_hours_the_pre_market_is_counted_outside_as_before(july_2: DayHours) -> None:
    bars = real_minute_bars("AAPL")
    day = SessionDay(july_2, MINUTE, [M5], ("AAPL",), bars)
    assert (day.start_ts, day.end_ts, day.bar_count) == (et(9, 30), et(16), 390)
    assert day.refused[Refusal.OUTSIDE_REGULAR_SESSION] == len(bars) - 390


# ------------------------------------------------------------------------------------ quality


def test_each_session_is_scored_on_its_own_with_its_own_gaps(july_2: DayHours) -> None:
    symbols = ("AAPL", "RIVN")
    day = SessionDay(
        july_2, MINUTE, [M5], symbols, [b for s in symbols for b in real_minute_bars(s)], extended=True
    )
    book = QualityBook(july_2, symbols, [MINUTE, M5], extended=MINUTE)
    assert book.sessions == (PRE, REGULAR, POST)
    play(day, book)
    for symbol in symbols:
        bars = real_minute_bars(symbol)
        pre_present = {b.ts for b in in_span(bars, et(4), et(9, 30))}
        pre = book.results(PRE)[(symbol, "1m")]
        assert (pre.score.actual, pre.score.expected) == (len(pre_present), 330)
        assert pre.score.quality == pytest.approx(100 * len(pre_present) / 330)
        assert sum(g.bar_count for g in pre.gaps) == 330 - len(pre_present)
        assert all(et(4) <= g.start_ts < g.end_ts <= et(9, 30) for g in pre.gaps)
        assert not any(ts in pre_present for g in pre.gaps for ts in range(g.start_ts, g.end_ts, 60))
        # the file ends at 16:00 on July 2: its whole post-market is one gap
        post = book.results(POST)[(symbol, "1m")]
        assert (post.score.actual, post.score.expected) == (0, 240)
        assert [(g.start_ts, g.end_ts, g.bar_count) for g in post.gaps] == [(et(16), et(20), 240)]
        regular = book.results()[(symbol, "1m")]
        assert (regular.score.quality, regular.score.expected, regular.gaps) == (100.0, 390, ())
        assert book.results()[(symbol, "5m")].score.expected == 78
        assert (symbol, "5m") not in book.results(PRE)  # derived intervals: the regular session's
    # the pinned figures of the real files (the closing note's)
    assert round(book.results(PRE)[("AAPL", "1m")].score.quality, 2) == 75.45
    assert round(book.results(PRE)[("RIVN", "1m")].score.quality, 2) == 38.79


def test_scores_name_their_session_and_an_extended_gap_can_be_fetched_and_marked(july_2: DayHours) -> None:
    book = QualityBook(july_2, ("AAPL",), [MINUTE], extended=MINUTE)
    scores, changes = book.score(et(4, 3), stamps=[("AAPL", "1m", [et(4)])])
    assert {(s.session, s.actual, s.expected) for s in scores} == {(PRE, 1, 3)}
    (gap,) = changes.opened
    assert (gap.start_ts, gap.end_ts) == (et(4, 1), et(4, 3))
    assert book.open_gaps("1m") == (gap,)
    marked = book.mark(replace(gap, retry_count=1, last_retry_ts=et(4, 3)))
    assert marked is not None and marked.retry_count == 1
    # a late pre-market bar fills part of it; the regular session is untouched
    _, changes = book.score(et(4, 3), [Bar("AAPL", "1m", et(4, 1), 1, 1, 1, 1, 1)])
    assert [g.status for g in changes.closed] == [GapStatus.OPEN] and changes.opened[0].start_ts == et(4, 2)
    assert book.results()[("AAPL", "1m")].score.expected == 0


# ----------------------------------------------------------------------------------- live day


def test_the_live_day_admits_extended_bars_into_the_session_only_when_scored(july_2: DayHours) -> None:
    pre_bar = Bar("AAPL", "1m", et(7, 15), 210.0, 210.5, 209.9, 210.2, 1200.0)
    post_bar = pre_bar._replace(ts=et(17))
    scored = LiveDay(july_2, MINUTE, [M5], ["AAPL"], extended=True)
    assert (scored.start_ts, scored.end_ts) == (et(4), et(20))
    admitted = scored.admit([pre_bar, post_bar])
    assert admitted.session == admitted.stored == (pre_bar, post_bar)
    assert scored.newest_ts["AAPL"] == et(17)
    assert scored.advance(et(20)) == []  # no regular bar: no derived bar, extended ones ignored
    scored.admit([pre_bar._replace(close=210.3)], updated=True)  # an update of an extended bar
    assert scored.advance(et(20)) == []
    plain = LiveDay(july_2, MINUTE, [M5], ["AAPL"])
    admitted = plain.admit([pre_bar, post_bar])
    assert admitted.session == () and admitted.stored == (pre_bar, post_bar)
    assert plain.refused[Refusal.OUTSIDE_REGULAR_SESSION] == 2
