"""The GapFiller's book (SPEC §8): a new gap is due at once, each fetch makes it due again
``retry_interval`` later, ``max_retries`` unfilled fetches abandon it at its next due time; a gap
that shrinks or splits keeps the attempts and due time of the gap it came from; a rate limit
postpones; a new book handed the gaps with their fetches goes on where the last one was.

Gap diffs come from hand-made values and from the QualityCalculator's own tracker fed with the
real RIVN minutes of 2025-07-02. Correctly stamped (the file is 4 hours late), RIVN's regular
session has no gap, so the tracker's window is its sparse pre-market from 05:30 New York (09:30 UTC)
to the open: its first half hour has two real gaps, 09:30–09:34 and 09:37–09:59 UTC.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stores import real_file

from domain.intervals import Interval
from domain.quality.gap_book import GapBook
from domain.quality.gaps import Gap, GapStatus, SessionQualityTracker


def utc(hour: int, minute: int = 0) -> int:
    return int(datetime(2025, 7, 2, hour, minute, tzinfo=UTC).timestamp())


OPEN, CLOSE = utc(9, 30), utc(13, 30)  # 05:30-09:30 New York
NOW = utc(10)


def gap(start: int, end: int, symbol: str = "RIVN", **changes: object) -> Gap:
    value = Gap(symbol, "1m", start, end, (end - start) // 60)
    return replace(value, **changes) if changes else value


def real_rivn_minutes() -> list[int]:
    with real_file("RIVN_2025-07-02_1m.csv").open(newline="") as handle:
        return [  # the file's stamps are 4 hours late
            int(datetime.fromisoformat(line["timestamp"]).timestamp()) - 4 * 3600
            for line in csv.DictReader(handle)
        ]


@pytest.fixture
def tracker() -> SessionQualityTracker:
    """RIVN's pre-market from 09:30 UTC with the real bars of its first half hour, the clock at 10:00."""
    tracker = SessionQualityTracker("RIVN", Interval.parse("1m"), OPEN, CLOSE)
    tracker.add_bars([ts for ts in real_rivn_minutes() if OPEN <= ts < NOW])
    return tracker


def fetch_until_gone(book: GapBook, now: int, limit: int = 1000) -> tuple[list[int], list[Gap], int]:
    """Run the filler's loop with fetches that never fill: (fetch times, abandoned, end time)."""
    fetches: list[int] = []
    for _ in range(limit):
        fetch, abandoned = book.due(now)
        for value in fetch:
            book.attempted(value, now)
            fetches.append(now)
        if abandoned:
            return fetches, abandoned, now
        due = book.next_due()
        assert due is not None and due > now, "the book must move forward after a fetch"
        now = due
    raise AssertionError("the gap was never abandoned")


# ------------------------------------------------------------------------ due, retries, abandonment


def test_a_new_gap_is_due_at_once() -> None:
    book = GapBook(max_retries=3, retry_interval=60)
    value = gap(utc(9, 37), utc(9, 59))

    book.track((value,), (), NOW)

    assert book.due(NOW - 1) == ([], [])
    assert book.due(NOW) == ([value], [])
    assert book.due(NOW) == ([value], []), "due is a question: the gap stays until it is attempted"
    assert book.next_due() == NOW
    assert len(book) == 1
    assert book.gaps == (value,)


def test_an_attempt_counts_a_retry_and_makes_the_gap_due_again_after_the_retry_interval() -> None:
    book = GapBook(max_retries=3, retry_interval=60)
    value = gap(utc(9, 37), utc(9, 59))
    book.track((value,), (), NOW)

    counted = book.attempted(value, NOW + 5)

    assert counted == replace(value, retry_count=1, last_retry_ts=NOW + 5)
    assert book.gaps == (counted,)
    assert book.next_due() == NOW + 65
    assert book.due(NOW + 64) == ([], [])
    assert book.due(NOW + 65) == ([counted], [])


def test_a_gap_is_abandoned_at_the_due_time_after_its_last_allowed_fetch() -> None:
    book = GapBook(max_retries=3, retry_interval=60)
    value = gap(utc(9, 37), utc(9, 59))
    book.track((value,), (), NOW)

    fetches, abandoned, at = fetch_until_gone(book, NOW)

    assert fetches == [NOW, NOW + 60, NOW + 120]
    assert at == NOW + 180, "the last fetch's bars get one retry interval to land"
    assert abandoned == [replace(value, retry_count=3, last_retry_ts=NOW + 120, status=GapStatus.ABANDONED)]
    assert len(book) == 0
    assert book.next_due() is None
    assert book.due(NOW + 10_000) == ([], [])


@settings(max_examples=100, deadline=None)
@given(
    max_retries=st.integers(1, 8),
    retry_interval=st.integers(1, 900),
    late=st.lists(st.integers(0, 300), min_size=8, max_size=8),
)
def test_every_gap_gets_exactly_max_retries_fetches_spaced_by_at_least_the_interval(
    max_retries: int, retry_interval: int, late: list[int]
) -> None:
    """Whenever the filler wakes (on time or late), a gap is fetched max_retries times, then
    abandoned no earlier than retry_interval after the last fetch."""
    book = GapBook(max_retries, retry_interval)
    value = gap(utc(9, 37), utc(9, 59))
    book.track((value,), (), NOW)
    now, fetches = NOW, []
    for step in late:
        now += step  # the filler wakes up late by some seconds
        fetch, abandoned = book.due(now)
        if abandoned:
            assert len(fetches) == max_retries
            assert abandoned[0].retry_count == max_retries
            assert now >= fetches[-1] + retry_interval
            break
        for item in fetch:
            book.attempted(item, now)
            fetches.append(now)
        now = max(now, book.next_due() or now)
    else:
        assert len(fetches) <= max_retries
    assert all(b - a >= retry_interval for a, b in itertools.pairwise(fetches))


def test_attempting_a_gap_that_left_the_book_changes_nothing() -> None:
    book = GapBook(max_retries=2, retry_interval=60)
    value = gap(utc(9, 37), utc(9, 59))

    assert book.attempted(value, NOW) is None
    assert len(book) == 0


def test_filled_gaps_leave_the_book() -> None:
    book = GapBook(max_retries=2, retry_interval=60)
    first, second = gap(utc(9, 30), utc(9, 34)), gap(utc(9, 37), utc(9, 59))
    book.track((first, second), (), NOW)

    book.track((), (replace(first, status=GapStatus.FILLED),), NOW + 1)

    assert book.gaps == (second,)
    assert book.due(NOW + 1) == ([second], [])


def test_gaps_reported_not_open_are_not_tracked() -> None:
    book = GapBook(max_retries=2, retry_interval=60)

    book.track((gap(utc(9, 30), utc(9, 34), status=GapStatus.ABANDONED),), (), NOW)

    assert len(book) == 0


def test_several_symbols_and_gaps_are_tracked_apart() -> None:
    book = GapBook(max_retries=2, retry_interval=60)
    rivn, aapl = gap(utc(9, 37), utc(9, 59)), gap(utc(9, 37), utc(9, 59), "AAPL")
    book.track((rivn, aapl), (), NOW)

    book.attempted(rivn, NOW)

    assert book.due(NOW + 30) == ([aapl], [])
    assert book.due(NOW + 60) == ([replace(rivn, retry_count=1, last_retry_ts=NOW), aapl], [])


@pytest.mark.parametrize(("max_retries", "retry_interval"), [(0, 60), (3, 0), (-1, -1)])
def test_a_book_needs_at_least_one_retry_and_a_positive_interval(
    max_retries: int, retry_interval: int
) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        GapBook(max_retries, retry_interval)


# ------------------------------------------------------------------------ diffs from the tracker


def test_the_trackers_real_gaps_enter_the_book_due_at_once(tracker: SessionQualityTracker) -> None:
    book = GapBook(max_retries=5, retry_interval=60)
    changes = tracker.advance(NOW)

    book.track(changes.opened, changes.closed, NOW)

    assert [(g.start_ts, g.end_ts, g.bar_count) for g in book.gaps] == [
        (utc(9, 30), utc(9, 34), 4),
        (utc(9, 37), utc(9, 59), 22),
    ]
    assert book.due(NOW) == (list(changes.opened), [])


def test_a_gap_split_by_a_partial_fill_keeps_its_attempts_and_due_time(
    tracker: SessionQualityTracker,
) -> None:
    book = GapBook(max_retries=5, retry_interval=60)
    changes = tracker.advance(NOW)
    book.track(changes.opened, changes.closed, NOW)
    long = next(g for g in book.gaps if g.bar_count == 22)
    book.attempted(long, NOW)
    book.attempted(long, NOW + 60)

    split = tracker.add_bars([utc(9, 45)])  # the second fetch brought back one bar
    book.track(split.opened, split.closed, NOW + 61)

    pieces = [g for g in book.gaps if g.start_ts >= utc(9, 37)]
    assert [(g.start_ts, g.end_ts) for g in pieces] == [
        (utc(9, 37), utc(9, 45)),
        (utc(9, 46), utc(9, 59)),
    ]
    assert all(g.retry_count == 2 and g.last_retry_ts == NOW + 60 for g in pieces)
    assert [g.start_ts for g in book.due(NOW + 119)[0] if g.start_ts >= utc(9, 37)] == []
    assert [g.start_ts for g in book.due(NOW + 120)[0] if g.start_ts >= utc(9, 37)] == [
        utc(9, 37),
        utc(9, 46),
    ]

    _, abandoned, at = fetch_until_gone(book, NOW + 120)
    assert at == NOW + 60 + 4 * 60, "three more fetches each, as if the gap had never split"
    assert [(g.start_ts, g.retry_count, g.status) for g in abandoned] == [
        (utc(9, 37), 5, GapStatus.ABANDONED),
        (utc(9, 46), 5, GapStatus.ABANDONED),
    ]


def test_a_gap_shrunk_by_a_fill_at_its_start_keeps_its_attempts(tracker: SessionQualityTracker) -> None:
    book = GapBook(max_retries=5, retry_interval=60)
    changes = tracker.advance(NOW)
    book.track(changes.opened, changes.closed, NOW)
    long = next(g for g in book.gaps if g.bar_count == 22)
    book.attempted(long, NOW)

    shrunk = tracker.add_bars([utc(9, 37), utc(9, 38)])
    book.track(shrunk.opened, shrunk.closed, NOW + 10)

    piece = next(g for g in book.gaps if g.start_ts >= utc(9, 37))
    assert (piece.start_ts, piece.end_ts, piece.retry_count) == (utc(9, 39), utc(9, 59), 1)
    assert book.next_due() == NOW, "the untouched 09:30 gap is still due"
    assert [g.start_ts for g in book.due(NOW + 59)[0]] == [utc(9, 30)]
    assert [g.start_ts for g in book.due(NOW + 60)[0]] == [utc(9, 30), utc(9, 39)]


def test_a_gap_filled_completely_by_a_fetch_leaves_the_book(tracker: SessionQualityTracker) -> None:
    book = GapBook(max_retries=5, retry_interval=60)
    changes = tracker.advance(NOW)
    book.track(changes.opened, changes.closed, NOW)

    filled = tracker.add_bars(range(utc(9, 30), utc(9, 34), 60))
    book.track(filled.opened, filled.closed, NOW + 5)

    assert [g.start_ts for g in filled.filled] == [utc(9, 30)]
    assert [g.start_ts for g in book.gaps] == [utc(9, 37)]


def test_a_gap_reported_again_unchanged_keeps_its_attempts_and_due_time() -> None:
    book = GapBook(max_retries=5, retry_interval=60)
    value = gap(utc(9, 37), utc(9, 59))
    book.track((value,), (), NOW)
    book.attempted(value, NOW)

    book.track((value,), (), NOW + 10)

    assert book.gaps[0].retry_count == 1
    assert book.next_due() == NOW + 60


def test_a_gap_that_grew_because_more_minutes_went_missing_restarts_its_retries(
    tracker: SessionQualityTracker,
) -> None:
    book = GapBook(max_retries=5, retry_interval=60)
    tracker.advance(NOW)
    tail = tracker.advance(utc(10, 2))  # RIVN has no bar at 10:00 or 10:01
    book.track(tail.opened, tail.closed, utc(10, 2))
    first = next(g for g in book.gaps if g.start_ts == utc(10))
    for k in range(4):
        book.attempted(first, utc(10, 2) + 60 * k)

    grown = tracker.advance(utc(10, 8))
    book.track(grown.opened, grown.closed, utc(10, 8))

    assert [g.retry_count for g in grown.opened] == [0], "the tracker restarts the retries"
    value = next(g for g in book.gaps if g.start_ts == utc(10))
    assert value.end_ts > first.end_ts
    assert value.retry_count == 0


# ------------------------------------------------------------------------ rate limits, restarts


def test_postpone_only_moves_a_due_time_later() -> None:
    book = GapBook(max_retries=3, retry_interval=60)
    value = gap(utc(9, 37), utc(9, 59))
    book.track((value,), (), NOW)

    book.postpone(value, NOW + 30)
    assert book.next_due() == NOW + 30
    book.postpone(value, NOW + 10)
    assert book.next_due() == NOW + 30, "an earlier time does not pull the gap forward"
    book.postpone(gap(utc(11), utc(11, 5)), NOW + 90)
    assert len(book) == 1, "postponing an unknown gap adds nothing"

    assert book.due(NOW + 29) == ([], [])
    assert book.due(NOW + 30) == ([value], [])
    assert book.gaps[0].retry_count == 0, "a postponement is not an attempt"


def test_a_new_book_handed_the_gaps_with_their_fetches_goes_on_where_the_last_one_was() -> None:
    book = GapBook(max_retries=3, retry_interval=60)
    first, second = gap(utc(9, 30), utc(9, 34)), gap(utc(9, 37), utc(9, 59))
    book.track((first, second), (), NOW)
    book.attempted(second, NOW)
    book.attempted(second, NOW + 60)

    restarted = GapBook(max_retries=3, retry_interval=60)  # a restarted filler: the quality's gaps
    restarted.track(book.gaps, (), NOW + 70)

    assert restarted.gaps == book.gaps
    assert restarted.next_due() == NOW + 70, "the unfetched gap is due at once"
    assert restarted.due(NOW + 119) == ([first], []), "the fetched one keeps its pace"
    assert fetch_until_gone(restarted, NOW + 120) == fetch_until_gone(book, NOW + 120)


def test_clear_empties_the_book() -> None:
    book = GapBook(max_retries=3, retry_interval=60)
    book.track((gap(utc(9, 30), utc(9, 34)), gap(utc(9, 37), utc(9, 59))), (), NOW)

    book.clear()

    assert len(book) == 0
    assert book.gaps == ()
    assert book.next_due() is None
    assert book.due(NOW) == ([], [])
