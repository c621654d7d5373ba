"""Quality and gaps (SPEC §7): expected windows, the quality formula, historical quality, and the
event-driven tracker checked against the real AAPL and RIVN days of 2025-07-02.
"""

from __future__ import annotations

import csv
import itertools
import random
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stores import real_file

from domain.intervals import MINUTE, Interval
from domain.quality.book import QualityBook
from domain.quality.gaps import Gap, GapChanges, GapStatus, SessionQualityTracker
from domain.quality.scoring import historical_quality, quality
from domain.session.windows import DayHours, SessionWindows

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def et(hour: int, minute: int = 0, day: int = 2) -> int:
    return int(datetime(2025, 7, day, hour, minute, tzinfo=NY).timestamp())


def jst(hour: int, minute: int = 0) -> int:
    return int(datetime(2025, 7, 2, hour, minute, tzinfo=TOKYO).timestamp())


OPEN, CLOSE = et(9, 30), et(16)
TSE_OPEN, TSE_CLOSE, TSE_BREAK = jst(9), jst(15, 30), (jst(11, 30), jst(12, 30))


def gap(start: int, end: int, count: int, interval: str = "1m", **extra: object) -> Gap:
    return Gap("AAPL", interval, start, end, count, **extra)  # type: ignore[arg-type]  # keyword fields of Gap


def stream(
    tracker: SessionQualityTracker, present: set[int], start: int, end: int, step: int = 60
) -> list[GapChanges]:
    """Minute by minute: release the bar of each window, then advance the clock to its end."""
    changes = []
    for ts in range(start, end, step):
        if ts in present:
            changes.append(tracker.add_bars([ts]))
        changes.append(tracker.advance(min(ts + step, end)))
    return [change for change in changes if change]


def replay(changes: list[GapChanges]) -> list[Gap]:
    """The gap list a subscriber keeps by applying each diff: drop ``closed``, add ``opened``."""
    known: dict[int, Gap] = {}
    for change in changes:
        for old in change.closed:
            assert known.pop(old.start_ts).end_ts == old.end_ts
        for new in change.opened:
            assert new.start_ts not in known
            known[new.start_ts] = new
    return sorted(known.values(), key=lambda g: g.start_ts)


# -- formulas ------------------------------------------------------------------------------------


def expected_windows(
    open_ts: int, close_ts: int, seconds: int, now_ts: int, break_ts: tuple[int, int] | None = None
) -> int:
    """Expected windows that have ended by ``min(now_ts, close_ts)``."""
    windows = SessionWindows(open_ts, close_ts, seconds, *(break_ts or (None, None)))
    return windows.expected_in(0, windows.ended(now_ts))


def test_expected_windows_for_1m_is_whole_minutes_since_the_open() -> None:
    assert expected_windows(OPEN, CLOSE, 60, OPEN - 600) == 0
    assert expected_windows(OPEN, CLOSE, 60, OPEN) == 0
    assert expected_windows(OPEN, CLOSE, 60, et(9, 35) + 30) == 5
    assert expected_windows(OPEN, CLOSE, 60, CLOSE) == 390
    assert expected_windows(OPEN, CLOSE, 60, CLOSE + 7200) == 390, "capped at the close"


def test_expected_windows_counts_the_cut_last_window_once_the_close_is_reached() -> None:
    assert expected_windows(OPEN, CLOSE, 3600, et(15, 59)) == 6
    assert expected_windows(OPEN, CLOSE, 3600, CLOSE) == 7
    early_open, early_close = et(9, 30, day=3), et(13, day=3)
    assert expected_windows(early_open, early_close, 60, early_close) == 210
    assert expected_windows(early_open, early_close, 3600, early_close) == 4


def test_expected_windows_skips_the_lunch_break() -> None:
    def tse(now: int, seconds: int = 60) -> int:
        return expected_windows(TSE_OPEN, TSE_CLOSE, seconds, now, TSE_BREAK)

    assert tse(jst(12)) == 150, "nothing expected inside the break"
    assert tse(jst(12, 31)) == 151
    assert tse(TSE_CLOSE) == 330
    assert tse(jst(11, 30), 3600) == 3, "the 11:00 window ends at the break start"
    assert tse(TSE_CLOSE, 3600) == 7


def test_quality_formula_keeps_the_float_and_caps_at_100() -> None:
    assert round(quality(387, 390), 2) == 99.23
    assert quality(387, 390) == 100 * 387 / 390
    assert quality(0, 0) == 100.0
    assert quality(5, 4) == 100.0
    assert quality(0, 10) == 0.0


def test_historical_quality_is_the_mean_of_trading_days_and_skips_days_expecting_nothing() -> None:
    assert historical_quality([(390, 390), (195, 390), (0, 0)]) == 75.0
    assert historical_quality([(1, 1), (0, 1), (1, 1), (1, 1)]) == 75.0, "1d: days with a bar / trading days"
    assert historical_quality([]) is None
    assert historical_quality([(0, 0)]) is None


# -- tracker examples ----------------------------------------------------------------------------


def test_spec_example_two_gaps_and_99_23_percent() -> None:
    missing = {et(9, 35), et(9, 36), et(10, 15)}
    tracker = SessionQualityTracker("AAPL", MINUTE, OPEN, CLOSE)
    changes = stream(tracker, set(range(OPEN, CLOSE, 60)) - missing, OPEN, CLOSE)
    assert tracker.gaps == (gap(et(9, 35), et(9, 37), 2), gap(et(10, 15), et(10, 16), 1))
    assert (tracker.actual, tracker.expected) == (387, 390)
    assert round(tracker.quality, 2) == 99.23
    assert tuple(replay(changes)) == tracker.gaps


def test_gap_is_reported_when_its_window_ends_and_grows_while_bars_stay_missing() -> None:
    tracker = SessionQualityTracker("AAPL", MINUTE, OPEN, CLOSE)
    tracker.add_bars([et(9, 30)])
    assert not tracker.advance(et(9, 31))
    first = tracker.advance(et(9, 32))
    assert first == GapChanges(opened=(gap(et(9, 31), et(9, 32), 1),))
    grown = tracker.advance(et(9, 34))
    assert grown.opened == (gap(et(9, 31), et(9, 34), 3),)
    assert grown.closed == (gap(et(9, 31), et(9, 32), 1),)
    assert not grown.filled
    assert tracker.quality == 25.0


def test_late_bars_split_shrink_and_finally_fill_a_gap() -> None:
    tracker = SessionQualityTracker("AAPL", MINUTE, OPEN, CLOSE)
    tracker.advance(et(9, 35))
    assert tracker.gaps == (gap(OPEN, et(9, 35), 5),)

    split = tracker.add_bars([et(9, 32)])
    assert split.opened == (gap(OPEN, et(9, 32), 2), gap(et(9, 33), et(9, 35), 2))
    assert split.closed == (gap(OPEN, et(9, 35), 5),), "superseded, not filled"

    shrink = tracker.add_bars([et(9, 30), et(9, 34), et(9, 34)])
    assert shrink.opened == (gap(et(9, 31), et(9, 32), 1), gap(et(9, 33), et(9, 34), 1))
    assert tracker.duplicates == 1

    filled = tracker.add_bars([et(9, 33), et(9, 31)])
    assert filled.opened == ()
    assert filled.filled == (
        gap(et(9, 31), et(9, 32), 1, status=GapStatus.FILLED),
        gap(et(9, 33), et(9, 34), 1, status=GapStatus.FILLED),
    )
    assert not tracker.gaps
    assert tracker.quality == 100.0
    assert len(tracker.filled_gaps) == 2


def test_bars_before_their_window_ends_count_only_when_it_ends() -> None:
    tracker = SessionQualityTracker("AAPL", MINUTE, OPEN, CLOSE)
    assert not tracker.add_bars([et(9, 30), et(9, 31)])
    assert (tracker.actual, tracker.expected, tracker.quality) == (0, 0, 100.0)
    tracker.advance(et(9, 31))
    assert (tracker.actual, tracker.expected) == (1, 1)
    assert not tracker.advance(et(9, 30)), "a clock going backwards changes nothing"


def test_bars_outside_the_session_or_off_the_grid_never_count() -> None:
    tracker = SessionQualityTracker("AAPL", MINUTE, OPEN, CLOSE)
    tracker.add_bars([et(9, 29), CLOSE, et(9, 30) + 30, et(19, 59)])
    tracker.advance(CLOSE + 3600)
    assert (tracker.actual, tracker.expected, tracker.ignored) == (0, 390, 4)
    assert tracker.gaps == (gap(OPEN, CLOSE, 390),)


def test_retries_survive_a_split_and_growth_reopens_an_abandoned_gap() -> None:
    book = QualityBook(DayHours(date(2025, 7, 2), OPEN, CLOSE), ["AAPL"], [MINUTE])
    book.score(et(9, 33))
    fetched = gap(OPEN, et(9, 33), 3, retry_count=1, last_retry_ts=et(9, 34))
    assert book.mark(fetched) == fetched, "the GapFiller's fetch is recorded on the gap"
    book.score(et(9, 33), stamps=[("AAPL", "1m", [et(9, 31)])])  # a late bar splits the gap
    assert {g.retry_count for g in book.results()[("AAPL", "1m")].gaps} == {1}
    book.mark(
        gap(et(9, 32), et(9, 33), 1, retry_count=1, last_retry_ts=et(9, 34), status=GapStatus.ABANDONED)
    )
    _, grown = book.score(et(9, 34))
    assert grown.opened == (gap(et(9, 32), et(9, 34), 2),), "open again, retry count restarted"
    assert grown.closed == (
        gap(et(9, 32), et(9, 33), 1, retry_count=1, last_retry_ts=et(9, 34), status=GapStatus.ABANDONED),
    )
    assert book.mark(gap(et(9, 31), et(9, 32), 1, retry_count=2)) is None, "no gap starts there"


def test_derived_interval_is_scored_on_its_own_windows() -> None:
    tracker = SessionQualityTracker("AAPL", Interval(3600), OPEN, CLOSE)
    tracker.add_bars([et(h, 30) for h in range(9, 15)])
    tracker.advance(CLOSE)
    assert tracker.gaps == (gap(et(15, 30), CLOSE, 1, interval="60m"),)
    assert tracker.quality == 100 * 6 / 7


def test_gap_straddling_the_lunch_break_is_one_gap_and_the_break_is_no_gap() -> None:
    tracker = SessionQualityTracker(
        "AAPL", MINUTE, TSE_OPEN, TSE_CLOSE, break_start_ts=TSE_BREAK[0], break_end_ts=TSE_BREAK[1]
    )
    present = set(range(TSE_OPEN, TSE_CLOSE, 60)) - {jst(11, 29), jst(12, 30)}
    tracker.add_bars(ts for ts in present if not TSE_BREAK[0] <= ts < TSE_BREAK[1])
    tracker.add_bars([jst(12)])  # a bar in the break is ignored
    tracker.advance(TSE_CLOSE)
    assert tracker.gaps == (gap(jst(11, 29), jst(12, 31), 2),)
    assert (tracker.actual, tracker.expected, tracker.ignored) == (328, 330, 1)
    split = tracker.add_bars([jst(12, 30)])
    assert split.opened == (gap(jst(11, 29), jst(11, 30), 1),)


# -- real data -----------------------------------------------------------------------------------

# The real files shifted back 4 hours (they are stamped 4 hours late, see their README). Their
# regular session is whole, so the tracker is also run over the sparse pre-market, 04:00-09:30
# New York, as its window: real gaps to find.
REAL_SHIFT = 4 * 3600
WINDOWS = {
    "regular": (et(9, 30), et(16)),
    "pre-market": (et(4), et(9, 30)),
}


def real_timestamps(path: Path) -> list[int]:
    with path.open(newline="") as handle:
        return [
            int(datetime.fromisoformat(row["timestamp"]).timestamp()) - REAL_SHIFT
            for row in csv.DictReader(handle)
        ]


def independent_gaps(present: set[int], symbol: str, start: int, end: int) -> list[Gap]:
    """Runs of missing minutes in ``[start, end)``, straight from the set of bar starts."""
    gaps: list[Gap] = []
    run_start: int | None = None
    for ts in range(start, end + 60, 60):
        missing = ts < end and ts not in present
        if missing and run_start is None:
            run_start = ts
        elif not missing and run_start is not None:
            gaps.append(Gap(symbol, "1m", run_start, ts, (ts - run_start) // 60))
            run_start = None
    return gaps


@pytest.mark.parametrize(
    ("symbol", "window", "window_bars", "gap_count"),
    [
        ("AAPL", "regular", 390, 0),
        ("RIVN", "regular", 390, 0),
        ("AAPL", "pre-market", 249, 37),  # of 330 minutes; counted from the file by hand
        ("RIVN", "pre-market", 128, 41),
    ],
)
def test_real_day_streamed_minute_by_minute_matches_the_file(
    symbol: str, window: str, window_bars: int, gap_count: int
) -> None:
    start, end = WINDOWS[window]
    minutes = (end - start) // 60
    timestamps = real_timestamps(real_file(f"{symbol}_2025-07-02_1m.csv"))
    present = {ts for ts in timestamps if start <= ts < end}
    expected_gaps = independent_gaps(present, symbol, start, end)
    assert (len(present), len(expected_gaps)) == (window_bars, gap_count)

    tracker = SessionQualityTracker(symbol, MINUTE, start, end)
    all_rows = set(timestamps)  # the rows outside the window are offered too
    changes = stream(tracker, all_rows, min(timestamps), max(timestamps) + 60)
    assert (tracker.actual, tracker.expected) == (window_bars, minutes)
    assert tracker.quality == 100 * window_bars / minutes
    assert list(tracker.gaps) == expected_gaps
    assert sum(g.bar_count for g in tracker.gaps) == minutes - window_bars
    assert tracker.ignored == len(timestamps) - window_bars
    assert all(not change.filled for change in changes), "nothing arrives late in order"
    assert replay(changes) == expected_gaps


@pytest.mark.parametrize("symbol", ["AAPL", "RIVN"])
@pytest.mark.parametrize("seed", [1, 2])
def test_real_day_out_of_order_gives_the_same_gaps(symbol: str, seed: int) -> None:
    start, end = WINDOWS["pre-market"]  # the regular session has no gap to get wrong
    timestamps = real_timestamps(real_file(f"{symbol}_2025-07-02_1m.csv"))
    present = {ts for ts in timestamps if start <= ts < end}
    expected_gaps = independent_gaps(present, symbol, start, end)
    assert expected_gaps
    shuffled = random.Random(seed).sample(timestamps, len(timestamps))

    early = SessionQualityTracker(symbol, MINUTE, start, end)
    early.add_bars(shuffled)
    early.advance(end)
    assert list(early.gaps) == expected_gaps

    late = SessionQualityTracker(symbol, MINUTE, start, end)
    changes = [late.advance(end)]
    changes += [late.add_bars(shuffled[i : i + 37]) for i in range(0, len(shuffled), 37)]
    assert list(late.gaps) == expected_gaps
    assert late.quality == early.quality == 100 * len(present) / 330
    assert replay(changes) == expected_gaps


# -- properties ----------------------------------------------------------------------------------


@st.composite
def tracker_runs(
    draw: st.DrawFn,
) -> tuple[int, int, set[int], list[tuple[str, list[int]]], tuple[int, int] | None]:
    """Session length, interval, bars present and an arbitrary interleaving of adds and advances."""
    step = 60 * draw(st.sampled_from([1, 5, 15, 60]))
    length = draw(st.integers(1, 390)) * 60
    close = OPEN + length
    pause: tuple[int, int] | None = None
    if length >= 240 and draw(st.booleans()):
        a = draw(st.integers(1, length // 60 - 3)) * 60
        b = draw(st.integers(a // 60 + 1, length // 60 - 1)) * 60
        pause = (OPEN + a, OPEN + b)
    starts = list(range(OPEN, close, step))
    present = set(draw(st.lists(st.sampled_from(starts), max_size=len(starts))))
    order = draw(st.permutations(sorted(present)))
    ops: list[tuple[str, list[int]]] = []
    i = 0
    while i < len(order):
        size = draw(st.integers(1, 20))
        ops.append(("add", list(order[i : i + size])))
        ops.append(("advance", [draw(st.integers(OPEN - 60, close + 60))]))
        i += size
    ops.append(("advance", [close]))
    return step, close, present, ops, pause


@settings(max_examples=200, deadline=None)
@given(tracker_runs())
def test_any_interleaving_ends_with_the_runs_of_missing_windows(
    case: tuple[int, int, set[int], list[tuple[str, list[int]]], tuple[int, int] | None],
) -> None:
    step, close, present, ops, pause = case
    bs, be = pause if pause else (None, None)
    tracker = SessionQualityTracker("AAPL", Interval(step), OPEN, close, break_start_ts=bs, break_end_ts=be)
    changes = []
    for op, args in ops:
        changes.append(tracker.add_bars(args) if op == "add" else tracker.advance(args[0]))
        gaps = tracker.gaps
        assert replay(changes) == list(gaps), "the diffs rebuild the gap list"
        assert sum(g.bar_count for g in gaps) == tracker.expected - tracker.actual
        assert all(a.end_ts < b.start_ts for a, b in itertools.pairwise(gaps)), "never adjacent"

    def expected_window(ts: int) -> bool:
        end = min(ts + step, close)
        return not (pause and ts >= pause[0] and end <= pause[1])

    windows = [ts for ts in range(OPEN, close, step) if expected_window(ts)]
    runs: list[list[int]] = []
    for i, ts in enumerate(windows):
        if ts in present:
            continue
        if runs and runs[-1][-1] == windows[i - 1]:
            runs[-1].append(ts)
        else:
            runs.append([ts])
    assert [(g.start_ts, g.bar_count) for g in tracker.gaps] == [(r[0], len(r)) for r in runs]
    actual = sum(1 for ts in windows if ts in present)
    assert (tracker.actual, tracker.expected) == (actual, len(windows))
    assert tracker.quality == quality(actual, len(windows))
    assert all(g.end_ts <= close for g in tracker.gaps)


@settings(max_examples=200, deadline=None)
@given(tracker_runs())
def test_session_runs_with_holes_score_as_bars_one_by_one(
    case: tuple[int, int, set[int], list[tuple[str, list[int]]], tuple[int, int] | None],
) -> None:
    """``add_session_run`` (sorted slices of session columns: runs with holes, late or not) ends
    every call where ``add_bars`` does, with the same gap changes."""
    step, close, _, ops, pause = case
    bs, be = pause if pause else (None, None)
    one_by_one = SessionQualityTracker(
        "AAPL", Interval(step), OPEN, close, break_start_ts=bs, break_end_ts=be
    )
    runs = SessionQualityTracker("AAPL", Interval(step), OPEN, close, break_start_ts=bs, break_end_ts=be)
    windows = runs._windows
    for op, args in ops:
        if op == "add":
            session = sorted(ts for ts in args if windows.index(ts) is not None)  # what columns hold
            assert runs.add_session_run(session) == one_by_one.add_bars(session)
        else:
            assert runs.advance(args[0]) == one_by_one.advance(args[0])
        assert (runs.actual, runs.expected, runs.gaps) == (
            one_by_one.actual,
            one_by_one.expected,
            one_by_one.gaps,
        )
