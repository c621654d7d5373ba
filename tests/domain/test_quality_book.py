"""Session quality of one day (SPEC §7): the QualityBook fed step by step with the real AAPL and
RIVN days of 2025-07-02 (stamped correctly, a few named minutes dropped), switched off, scoring
derived intervals on their own windows, and the ``day_counts`` used for historical quality.

Every expectation is recomputed here from the bars: the regular-session minutes present,
the runs of missing minutes in ``[09:30, 16:00)`` and the complete 5m/15m windows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from support.stores import real_minute_bars

from domain.bars import Bar
from domain.intervals import DAILY, MINUTE, Interval
from domain.quality.book import QualityBook, QualityScore
from domain.quality.gaps import Gap, GapChanges
from domain.quality.scoring import day_counts
from domain.session.replay_day import SessionDay
from domain.session.windows import DayHours

NY = ZoneInfo("America/New_York")
M5, M15 = Interval(300), Interval(900)
SYMBOLS = ("AAPL", "RIVN")


def et(hour: int, minute: int = 0, day: int = 2) -> int:
    return int(datetime(2025, 7, day, hour, minute, tzinfo=NY).timestamp())


# The true day holds all 390 regular minutes of both symbols, so the book would find no gap. These
# minutes are taken out to give it real ones: for AAPL the opening auction (09:30), 10:04-10:06
# (across the 10:05 window start) and the last minute (15:59, a gap ending at the close); for RIVN
# a whole 15-minute window (11:00-11:14) and 13:37.
DROPPED = {
    "AAPL": {et(9, 30), et(10, 4), et(10, 5), et(10, 6), et(15, 59)},
    "RIVN": {*range(et(11), et(11, 15), 60), et(13, 37)},
}
REGULAR = {"AAPL": 390 - 5, "RIVN": 390 - 16}


def day_bars(symbol: str) -> list[Bar]:
    """The real file of ``symbol`` as truly stamped, without its ``DROPPED`` minutes."""
    return [b for b in real_minute_bars(symbol) if b.ts not in DROPPED[symbol]]


OPEN, CLOSE = et(9, 30), et(16)
JULY_2 = DayHours(date(2025, 7, 2), OPEN, CLOSE, pre_open_ts=et(4), post_close_ts=et(20))
JULY_3 = DayHours(date(2025, 7, 3), et(9, 30, day=3), et(13, day=3), is_early_close=True)


def regular(bars: Iterable[Bar]) -> dict[int, Bar]:
    return {b.ts: b for b in bars if OPEN <= b.ts < CLOSE}


def missing_runs(symbol: str, interval: str, starts: list[int], present: set[int], close: int) -> list[Gap]:
    """Runs of consecutive window starts absent from ``present``; a run ends where the next window
    starts (or at the close)."""
    gaps: list[Gap] = []
    run: list[int] = []
    for ts in [*starts, None]:
        if ts is not None and ts not in present:
            run.append(ts)
            continue
        if run:
            gaps.append(Gap(symbol, interval, run[0], close if ts is None else ts, len(run)))
            run = []
    return gaps


def complete_windows(symbol: str, minutes: dict[int, Bar], seconds: int, interval: str) -> list[Bar]:
    """The derived bars of the windows holding all their minutes (OHLCV by hand)."""
    out = []
    for start in range(OPEN, CLOSE, seconds):
        got = [minutes.get(ts) for ts in range(start, start + seconds, 60)]
        if all(m is not None for m in got):
            bars = [m for m in got if m is not None]
            out.append(
                Bar(
                    symbol,
                    interval,
                    start,
                    bars[0].open,
                    max(b.high for b in bars),
                    min(b.low for b in bars),
                    bars[-1].close,
                    sum(b.volume for b in bars),
                )
            )
    return out


def feed_minute_by_minute(book: QualityBook, bars: list[Bar]) -> list[GapChanges]:
    """What ``release()`` does on a paced clock: at each minute end, the bars that just ended."""
    by_end: dict[int, list[Bar]] = {}
    for b in bars:
        seconds = Interval.parse(b.interval).seconds
        by_end.setdefault(min(b.ts + seconds, CLOSE), []).append(b)
    changes = []
    for now in range(OPEN + 60, CLOSE + 60, 60):
        _, change = book.score(now, by_end.get(now, []))
        changes.append(change)
    return changes


def replay(changes: list[GapChanges]) -> dict[tuple[str, str], list[Gap]]:
    """The gap lists a subscriber keeps by applying each diff (drop ``closed``, add ``opened``)."""
    known: dict[tuple[str, str, int], Gap] = {}
    for change in changes:
        for old in change.closed:
            del known[(old.symbol, old.interval, old.start_ts)]
        for new in change.opened:
            known[(new.symbol, new.interval, new.start_ts)] = new
    out: dict[tuple[str, str], list[Gap]] = {}
    for key in sorted(known, key=lambda k: k[2]):
        out.setdefault(key[:2], []).append(known[key])
    return out


# ------------------------------------------------------------------------------- real days, 1m


def test_real_days_fed_minute_by_minute_end_with_the_regular_session_count_and_its_gaps() -> None:
    book = QualityBook(JULY_2, SYMBOLS, [MINUTE])
    minutes = {symbol: regular(day_bars(symbol)) for symbol in SYMBOLS}
    changes = feed_minute_by_minute(book, [b for symbol in SYMBOLS for b in minutes[symbol].values()])
    results = book.results()
    assert set(results) == {("AAPL", "1m"), ("RIVN", "1m")}
    starts = list(range(OPEN, CLOSE, 60))
    for symbol in SYMBOLS:
        actual = len(minutes[symbol])
        assert actual == REGULAR[symbol]
        gaps = missing_runs(symbol, "1m", starts, set(minutes[symbol]), CLOSE)
        result = results[(symbol, "1m")]
        assert result.score == QualityScore(symbol, "1m", 100 * actual / 390, actual, 390)
        assert list(result.gaps) == gaps
        assert sum(g.bar_count for g in gaps) == 390 - actual
        assert result.filled == ()
        assert replay(changes)[(symbol, "1m")] == gaps, "the published diffs rebuild the gap list"
    assert round(results[("AAPL", "1m")].score.quality, 2) == 98.72  # 385 / 390
    assert round(results[("RIVN", "1m")].score.quality, 2) == 95.9  # 374 / 390
    assert [len(replay(changes)[(s, "1m")]) for s in SYMBOLS] == [3, 2]


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_scores_during_the_day_count_the_minutes_that_have_ended(symbol: str) -> None:
    minutes = regular(day_bars(symbol))
    book = QualityBook(JULY_2, [symbol], [MINUTE])
    scores_at: dict[int, QualityScore] = {}
    for now in range(OPEN + 60, et(10, 31), 60):
        bar = minutes.get(now - 60)
        scores, _ = book.score(now, [] if bar is None else [bar])
        for score in scores:
            scores_at[now] = score
    for now in (et(9, 31), et(9, 45), et(10), et(10, 30)):
        actual = sum(1 for ts in minutes if ts < now)
        expected = (now - OPEN) // 60
        assert scores_at[now] == QualityScore(symbol, "1m", 100 * actual / expected, actual, expected)


def test_bars_released_ahead_of_the_clock_count_only_once_their_minute_has_ended() -> None:
    book = QualityBook(JULY_2, ["AAPL"], [MINUTE])
    minutes = regular(day_bars("AAPL"))
    first_hour = [minutes[ts] for ts in sorted(minutes) if ts < et(10, 30)]
    scores, _ = book.score(OPEN, first_hour)
    assert scores == ()
    assert book.results()[("AAPL", "1m")].score == QualityScore("AAPL", "1m", 100.0, 0, 0)
    book.score(et(10), [])
    assert book.results()[("AAPL", "1m")].score.actual == sum(1 for ts in minutes if ts < et(10))


def test_extended_hours_rows_and_a_1600_bar_offered_to_the_book_never_count() -> None:
    everything = day_bars("AAPL")
    # the file's extended hours: July 1 from 16:00 (its closing cross) and July 2 before 09:30
    assert {et(16, day=1), et(4), et(9, 29)} <= {b.ts for b in everything}
    # the file ends at 15:59: a bar on the close is made from that minute, to test the boundary
    everything.append(everything[-1]._replace(ts=CLOSE))
    book = QualityBook(JULY_2, ["AAPL"], [MINUTE])
    book.score(OPEN, everything)
    book.score(et(20), [])
    score = book.results()[("AAPL", "1m")].score
    assert (score.actual, score.expected) == (REGULAR["AAPL"], 390)


def test_the_real_sessionday_steps_feed_the_book_to_the_same_end() -> None:
    """Wired as the coordinator does: each step's base and derived bars go to the book."""
    bars = [b for symbol in SYMBOLS for b in day_bars(symbol)]
    day = SessionDay(JULY_2, MINUTE, [M5, M15], SYMBOLS, bars)
    book = QualityBook(JULY_2, SYMBOLS, [MINUTE, M5, M15])
    while not day.at_close:
        step = day.release(day.next_clock())
        book.score(step.now_ts, step.bars + step.derived)
    results = book.results()
    for symbol in SYMBOLS:
        minutes = regular(day_bars(symbol))
        assert results[(symbol, "1m")].score.actual == REGULAR[symbol]
        assert list(results[(symbol, "1m")].gaps) == missing_runs(
            symbol, "1m", list(range(OPEN, CLOSE, 60)), set(minutes), CLOSE
        )
        for target in (M5, M15):
            windows = complete_windows(symbol, minutes, target.seconds, str(target))
            count = 390 * 60 // target.seconds
            score = results[(symbol, str(target))].score
            assert (score.actual, score.expected) == (len(windows), count)


# -------------------------------------------------------------------------- derived intervals


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_derived_intervals_are_scored_on_their_own_windows(symbol: str) -> None:
    minutes = regular(day_bars(symbol))
    fives = complete_windows(symbol, minutes, 300, "5m")
    fifteens = complete_windows(symbol, minutes, 900, "15m")
    book = QualityBook(JULY_2, [symbol], [MINUTE, M5, M15])
    changes = feed_minute_by_minute(book, [*minutes.values(), *fives, *fifteens])
    results = book.results()
    for interval, seconds, windows in (("5m", 300, fives), ("15m", 900, fifteens)):
        expected = 390 * 60 // seconds
        starts = list(range(OPEN, CLOSE, seconds))
        gaps = missing_runs(symbol, interval, starts, {b.ts for b in windows}, CLOSE)
        result = results[(symbol, interval)]
        assert result.score == QualityScore(
            symbol, interval, 100 * len(windows) / expected, len(windows), expected
        )
        assert list(result.gaps) == gaps
        assert sum(g.bar_count for g in gaps) == expected - len(windows)
        assert replay(changes).get((symbol, interval), []) == gaps
    # AAPL's drops empty the 09:30, 10:00 and 15:45 windows, RIVN's the 11:00 and 13:30 ones
    assert len(fifteens) == {"AAPL": 26 - 3, "RIVN": 26 - 2}[symbol]


def test_a_cut_last_window_is_expected_once_the_close_is_reached() -> None:
    """60m on 09:30-16:00: seven windows, the last 15:30-16:00; on the 13:00 close: four."""
    hour = Interval(3600)
    book = QualityBook(JULY_2, ["AAPL"], [hour])
    book.score(et(15, 59), [])
    assert book.results()[("AAPL", "60m")].score.expected == 6
    book.score(CLOSE, [])
    result = book.results()[("AAPL", "60m")]
    assert result.score.expected == 7
    assert list(result.gaps) == [Gap("AAPL", "60m", OPEN, CLOSE, 7)]
    early = QualityBook(JULY_3, ["AAPL"], [hour])
    early.score(JULY_3.close_ts + 3600, [])
    assert early.results()[("AAPL", "60m")].score.expected == 4
    assert early.results()[("AAPL", "60m")].gaps[-1].end_ts == JULY_3.close_ts


# --------------------------------------------------------------------------------- switched off


def test_a_disabled_book_scores_100_and_detects_no_gap() -> None:
    book = QualityBook(JULY_2, SYMBOLS, [MINUTE, M5], enabled=False)
    for now in range(OPEN + 60, CLOSE + 60, 60):
        scores, changes = book.score(now, [])
        assert scores == ()
        assert not changes
    results = book.results()
    assert set(results) == {(s, i) for s in SYMBOLS for i in ("1m", "5m")}
    for (symbol, interval), result in results.items():
        assert result.score == QualityScore(symbol, interval, 100.0, 0, 0)
        assert result.gaps == ()
        assert result.filled == ()


def test_a_disabled_book_ignores_the_real_bars_too() -> None:
    book = QualityBook(JULY_2, ["RIVN"], [MINUTE], enabled=False)
    feed_minute_by_minute(book, list(regular(day_bars("RIVN")).values()))
    assert book.results()[("RIVN", "1m")].score.quality == 100.0
    assert book.results()[("RIVN", "1m")].gaps == ()


# ---------------------------------------------------------------------------------- day counts


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_day_counts_of_a_real_minute_day_are_its_regular_minutes_of_390(symbol: str) -> None:
    stamps = [b.ts for b in day_bars(symbol)]
    assert day_counts(JULY_2, MINUTE, stamps) == (REGULAR[symbol], 390)
    assert day_counts(JULY_2, MINUTE, stamps + stamps) == (REGULAR[symbol], 390), "duplicates count once"
    assert day_counts(JULY_2, MINUTE, iter(stamps)) == (REGULAR[symbol], 390)


def test_day_counts_of_an_early_close_expect_210_minutes() -> None:
    every_minute = list(range(et(4, day=3), et(20, day=3), 60))
    assert day_counts(JULY_3, MINUTE, every_minute) == (210, 210)
    assert day_counts(JULY_3, MINUTE, []) == (0, 210)


def test_day_counts_of_derived_bars_use_their_own_windows() -> None:
    fives = complete_windows("AAPL", regular(day_bars("AAPL")), 300, "5m")
    assert day_counts(JULY_2, M5, [b.ts for b in fives]) == (len(fives), 78)
    assert len(fives) == 78 - 4  # the windows of 09:30, 10:00, 10:05 and 15:55 lose a minute


def test_day_counts_of_daily_bars_are_one_expected_and_one_or_zero_present() -> None:
    midnight = int(datetime(2025, 7, 2, tzinfo=UTC).timestamp())
    assert day_counts(JULY_2, DAILY, [midnight]) == (1, 1)
    assert day_counts(JULY_2, DAILY, iter([midnight])) == (1, 1)
    assert day_counts(JULY_2, DAILY, []) == (0, 1)
    assert day_counts(JULY_3, DAILY, []) == (0, 1), "an early close still expects its daily bar"
