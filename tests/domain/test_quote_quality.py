"""Quote quality: the state of every session second, its counts, spreads and 1m closes inside."""

from __future__ import annotations

import pytest

from domain.bars import Bar
from domain.config import QuotesConfig
from domain.quality.quotes import score_quotes
from domain.quotes import Quote, QuoteColumns
from domain.session.data import SessionData

OPEN = 1_751_463_000  # 2025-07-02 13:30:00 UTC, a regular open


def q(offset: int, bid: float | None, ask: float | None, conditions: str | None = None) -> Quote:
    return Quote("AAPL", (OPEN + offset) * 1_000_000, bid, 100.0, ask, 100.0, conditions=conditions)


def cols(*quotes: Quote) -> QuoteColumns:
    return QuoteColumns.from_quotes("AAPL", list(quotes))


def test_every_second_has_one_state_and_coverage_counts_the_fresh_two_sided_ones() -> None:
    rows = cols(
        q(10, 100.0, 100.1),  # 10..19 valid
        q(20, None, 100.1),  # 20..29 one-sided
        q(30, 100.1, 100.1),  # 30..34 locked
        q(35, 100.2, 100.1),  # 35..39 crossed (within the tolerance)
        q(40, 100.0, 100.1, "H"),  # 40..49 halted
        q(50, 100.0, 100.2),  # 50..99: valid until 55 s old, stale after
    )
    got = score_quotes(rows, OPEN, OPEN + 100, stale_after=35)
    assert got.seconds == 100 and got.rows == 6
    assert got.no_quote_seconds == 10
    assert got.one_sided_seconds == 10 and got.halted_seconds == 10
    assert (got.locked_count, got.locked_seconds) == (1, 5)
    assert (got.crossed_count, got.crossed_seconds) == (1, 5)
    assert (got.stale_count, got.stale_seconds) == (1, 14)  # ages 36..49 at seconds 86..99
    assert got.valid_seconds == 10 + 36
    assert got.coverage == 46.0
    assert got.seconds == sum(
        (got.valid_seconds, got.no_quote_seconds, got.one_sided_seconds, got.halted_seconds,
         got.locked_seconds, got.crossed_seconds, got.stale_seconds)
    )  # fmt: skip
    assert got.max_age_seconds == 49 and got.age_seconds == 49


def test_spreads_are_time_weighted_in_basis_points_of_the_mid_over_fresh_uncrossed_seconds() -> None:
    rows = cols(q(0, 99.95, 100.05), q(90, 99.9, 100.1), q(95, 100.1, 100.0))  # 10 bps, 20 bps, crossed
    got = score_quotes(rows, OPEN, OPEN + 100)
    assert got.spread_median_bps == 10.0
    assert got.spread_p95_bps == 20.0
    assert got.spread_max_bps == 20.0
    locked = score_quotes(cols(q(0, 100.0, 100.0)), OPEN, OPEN + 10)
    assert locked.spread_max_bps == 0.0 and locked.valid_seconds == 0


def test_a_1m_close_is_checked_against_the_book_at_the_bars_last_second() -> None:
    rows = cols(q(0, 99.0, 101.0), q(59, 100.0, 100.5), q(60, 90.0, 91.0))  # at 59 the book moved
    got = score_quotes(
        rows,
        OPEN,
        OPEN + 180,
        bar_starts=[OPEN, OPEN + 60, OPEN + 120, OPEN + 180],
        bar_closes=[100.2, 90.0, 95.0, 1.0],
    )
    # bar 0 ends with the second-59 book [100, 100.5]: inside; bar 1 [90, 91]: inside (at the bid);
    # bar 2 the same book: 95 outside; bar 3 has not ended by the span's end
    assert (got.closes_checked, got.closes_inside, got.closes_inside_share) == (3, 2, 66.67)


def test_no_look_ahead_a_span_ending_now_ignores_later_rows() -> None:
    rows = cols(q(0, 100.0, 100.1), q(30, 101.0, 101.1))
    early = score_quotes(rows, OPEN, OPEN + 30)
    assert early.rows == 1 and early.spread_max_bps == pytest.approx(9.995, abs=1e-3)
    assert early == score_quotes(cols(q(0, 100.0, 100.1)), OPEN, OPEN + 30)


def test_without_quotes_every_second_is_no_quote_and_nothing_is_measured() -> None:
    got = score_quotes(cols(), OPEN, OPEN + 60, bar_starts=[OPEN], bar_closes=[100.0])
    assert (got.no_quote_seconds, got.coverage, got.max_age_seconds, got.spread_median_bps) == (
        60,
        0.0,
        None,
        None,
    )
    assert got.closes_checked == 0 and got.closes_inside_share is None
    assert score_quotes(cols(), OPEN, OPEN).coverage == 100.0  # nothing scored yet


def test_the_session_data_scores_live_quotes_arriving_late_duplicated_and_out_of_order() -> None:
    data = SessionData("1m")
    data.append_session_bars([Bar("AAPL", "1m", OPEN, 100.0, 100.2, 99.9, 100.05, 1_000.0)])
    late = q(30, 100.0, 100.1)._replace(event_us=(OPEN + 30) * 1_000_000 + 900_000)
    first = [q(0, 100.0, 100.1), late, q(30, 99.0, 99.1)]  # the earlier quote of second 30 arrives last
    assert data.add_quotes(first) == [first[0], late]
    assert data.add_quotes(first) == []  # duplicates change nothing
    got = data.quote_quality("AAPL", OPEN, OPEN + 60, QuotesConfig())
    assert got is not None and got.rows == 1  # second 30's last quote shows second 0's book: no row
    assert data.latest_quote("AAPL") == first[0]
    assert len(data.add_quotes([q(31, 100.0, 100.2)])) == 1
    assert data.latest_quote("AAPL") == q(31, 100.0, 100.2)
    assert (got.valid_seconds, got.closes_checked, got.closes_inside) == (60, 1, 1)
    got = data.quote_quality("AAPL", OPEN, OPEN + 60, QuotesConfig())
    assert got is not None and got.rows == 2
    assert data.quote_quality("MSFT", OPEN, OPEN + 60, QuotesConfig()) is None
    data.clear_session()
    assert data.latest_quote("AAPL") is None
