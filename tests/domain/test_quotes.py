"""Quotes (top of book): the rules of a quote and the one-row-per-second sampling of the store."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.quotes import Quote, quote_violation, sample_per_second, shares

T0 = 1_751_463_000_000_000  # 2025-07-02 13:30:00 UTC in microseconds


def quote(offset_us: int, bid: float | None = 100.0, ask: float | None = 100.02, **kw: object) -> Quote:
    return Quote("AAPL", T0 + offset_us, bid, 300.0, ask, 200.0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (quote(0, bid=0.0), "bid price not positive and finite"),
        (quote(0, ask=-1.0), "ask price not positive and finite"),
        (quote(0, bid=math.nan), "bid price not positive and finite"),
        (quote(0)._replace(ask_size=-5.0), "ask size negative or not finite"),
        (quote(0, bid=None, ask=None), "no bid and no ask"),
        (quote(0, bid=101.5, ask=100.0), "crossed: bid 101.5 above ask 100 by more than 1.00%"),
    ],
)
def test_a_quote_breaking_a_rule_is_refused_with_its_reason(bad: Quote, reason: str) -> None:
    assert quote_violation(bad) == reason


def test_one_sided_locked_and_slightly_crossed_quotes_are_valid_quotes() -> None:
    assert quote_violation(quote(0, bid=None)) is None  # no bid: one-sided
    assert quote_violation(quote(0, ask=None)) is None
    assert quote_violation(quote(0, bid=100.0, ask=100.0)) is None  # locked
    assert quote_violation(quote(0, bid=100.5, ask=100.0)) is None  # crossed within 1 %
    assert quote_violation(quote(0, bid=100.5, ask=100.0), crossed_tolerance=0.001) is not None


def test_round_lots_are_counted_in_shares() -> None:
    assert shares(3, 100) == 300 and shares(250, 1) == 250


def test_a_second_keeps_its_last_quote_and_an_unchanged_book_keeps_no_row() -> None:
    quotes = [
        quote(900_000, bid=100.01),  # second 0: its last quote
        quote(100_000),  # second 0, earlier (given out of order)
        quote(1_500_000, bid=100.01),  # second 1: the same book as second 0's row: no row
        quote(2_200_000),  # second 2: changed
        quote(2_200_000, bid=99.99),  # same microsecond, given later: it wins
        quote(5_000_000, bid=99.99, conditions="R"),  # a condition is part of the book
    ]
    rows = list(sample_per_second(quotes))
    assert [(q.ts - T0 // 1_000_000, q.bid_price, q.conditions) for q in rows] == [
        (0, 100.01, None),
        (2, 99.99, None),
        (5, 99.99, "R"),
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20_000_000), st.sampled_from([99.98, 99.99, 100.0])), max_size=60))
def test_sampling_keeps_the_book_as_it_stood_at_the_end_of_every_second(
    updates: list[tuple[int, float]],
) -> None:
    quotes = [quote(us, bid=bid) for us, bid in updates]
    rows = list(sample_per_second(quotes))
    kept = {q.ts: q for q in rows}
    ordered = sorted(quotes, key=lambda q: q.event_us)
    for second in {q.ts for q in quotes}:
        at_end = [q for q in ordered if q.ts <= second][-1]  # the book at the end of that second
        before = [r for r in rows if r.ts <= second][-1]  # the row a replay shows then
        assert before.book() == at_end.book()
        assert second not in kept or kept[second] == [q for q in ordered if q.ts == second][-1]
    assert all(a.book() != b.book() for a, b in itertools.pairwise(rows))
