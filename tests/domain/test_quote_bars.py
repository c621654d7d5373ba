"""Quote bars: bid, ask and mid OHLC per window over the book second by second, filled forward."""

from __future__ import annotations

from domain.quote_bars import QuoteBar, quote_bars
from domain.quotes import Quote, QuoteColumns

OPEN = 1_751_463_000  # 2025-07-02 13:30:00 UTC


def q(offset: int, bid: float | None, ask: float | None, bid_size: float = 100.0) -> Quote:
    return Quote("AAPL", (OPEN + offset) * 1_000_000, bid, bid_size, ask, 200.0)


def cols(*quotes: Quote) -> QuoteColumns:
    return QuoteColumns.from_quotes("AAPL", list(quotes))


def test_each_window_holds_the_books_seconds_open_high_low_close_per_side_and_mid() -> None:
    rows = cols(q(-5, 99.0, 99.2), q(20, 99.5, 99.7, 300.0), q(40, 98.9, 99.1, 400.0), q(70, None, 99.4))
    first, second = quote_bars(rows, "1m", 60, OPEN, OPEN + 120)
    # the book set 5 s before the window opens it (filled forward)
    assert first == QuoteBar("AAPL", "1m", OPEN, (99.0, 99.5, 98.9, 98.9), (99.2, 99.7, 99.1, 99.1),
                             (99.1, 99.6, 99.0, 99.0), 400.0, 200.0, 2)  # fmt: skip
    # from second 70 the bid is gone: its side covers 60..69 only; the mid too
    assert second.bid == (98.9, 98.9, 98.9, 98.9)
    assert second.ask == (99.1, 99.4, 99.1, 99.4)
    assert second.mid == (99.0, 99.0, 99.0, 99.0)
    assert second.rows == 1


def test_no_bar_before_the_first_book_none_after_the_span_and_a_side_never_quoted_is_none() -> None:
    rows = cols(q(90, None, 100.0))
    bars = quote_bars(rows, "1m", 60, OPEN, OPEN + 170)  # the third window has not ended
    assert [b.ts - OPEN for b in bars] == [60]
    assert bars[0].bid is None and bars[0].mid is None and bars[0].ask == (100.0, 100.0, 100.0, 100.0)
    assert quote_bars(cols(), "1m", 60, OPEN, OPEN + 600) == []


def test_five_minute_bars_span_their_one_minute_bars() -> None:
    rows = cols(*(q(7 * k, 100 + (k % 5) * 0.01, 100.05 + (k % 3) * 0.01) for k in range(100)))
    ones, fives = quote_bars(rows, "1m", 60, OPEN, OPEN + 600), quote_bars(rows, "5m", 300, OPEN, OPEN + 600)
    for five in fives:
        inside = [b for b in ones if five.ts <= b.ts < five.ts + 300]
        for side in ("bid", "ask", "mid"):
            values = [getattr(b, side) for b in inside]
            got = getattr(five, side)
            assert got == (values[0][0], max(v[1] for v in values), min(v[2] for v in values), values[-1][3])
        assert five.rows == sum(b.rows for b in inside)
