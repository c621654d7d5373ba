"""Demo bars: deterministic, inside the calendar's regular sessions, valid, with rare short gaps."""

from __future__ import annotations

import itertools
import warnings
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.bars import Bar, bar_violation
from domain.calendar.trading_calendar import TradingCalendar
from domain.quotes import Quote, quote_violation
from domain.session.windows import DayHours
from domain.store import Store, open_store
from ops.calendars.seed import seed_group
from ops.demo_data import generate_demo_bars, generate_demo_quotes, write_demo_data, write_demo_quotes

EASTERN = ZoneInfo("America/New_York")
SYMBOLS = ["AAPL", "MSFT", "RIVN", "SPY"]


@pytest.fixture(scope="module")
def calendar_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("demo") / "store.db"
    store = open_store(f"sqlite:///{path}")
    with warnings.catch_warnings():
        # pandas deprecation chatter raised inside exchange_calendars while seeding, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        seed_group(store.calendar, "US_EQUITY", 2025, 2025, datetime(2025, 1, 1, tzinfo=UTC))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def calendar(calendar_store: Store) -> TradingCalendar:
    return TradingCalendar(calendar_store.calendar)


def by_symbol_day(bars: list[Bar]) -> dict[tuple[str, date], list[Bar]]:
    groups: dict[tuple[str, date], list[Bar]] = defaultdict(list)
    for bar in bars:
        groups[bar.symbol, datetime.fromtimestamp(bar.ts, EASTERN).date()].append(bar)
    return groups


def test_same_seed_gives_identical_bars_whatever_the_symbol_order(calendar: TradingCalendar) -> None:
    start, end = date(2025, 7, 1), date(2025, 7, 8)

    forward = list(generate_demo_bars(calendar, SYMBOLS, start, end, seed=7))
    backward = list(generate_demo_bars(calendar, [s.lower() for s in reversed(SYMBOLS)], start, end, seed=7))
    alone = list(generate_demo_bars(calendar, ["RIVN"], start, end, seed=7))

    assert forward == backward
    assert [bar for bar in forward if bar.symbol == "RIVN"] == alone


def test_another_seed_gives_other_prices(calendar: TradingCalendar) -> None:
    day = date(2025, 7, 2)

    one = list(generate_demo_bars(calendar, ["AAPL"], day, day, seed=1))
    two = list(generate_demo_bars(calendar, ["AAPL"], day, day, seed=2))

    assert [bar.close for bar in one] != [bar.close for bar in two]


def test_a_day_does_not_depend_on_the_range_requested(calendar: TradingCalendar) -> None:
    """Overlapping demo runs write the same values, so upserts never rewrite a bar differently."""
    wide = list(generate_demo_bars(calendar, SYMBOLS, date(2025, 6, 2), date(2025, 7, 3)))
    narrow = list(generate_demo_bars(calendar, SYMBOLS, date(2025, 7, 2), date(2025, 7, 2)))

    assert narrow == [
        bar for bar in wide if datetime.fromtimestamp(bar.ts, EASTERN).date() == date(2025, 7, 2)
    ]


def test_bars_lie_inside_regular_sessions_of_trading_days_only(calendar: TradingCalendar) -> None:
    bars = list(generate_demo_bars(calendar, SYMBOLS, date(2025, 6, 27), date(2025, 7, 8)))

    days = {day for _, day in by_symbol_day(bars)}
    assert days == set(calendar.get_trading_dates_in_range(date(2025, 6, 27), date(2025, 7, 8)))
    assert date(2025, 7, 4) not in days  # Independence Day
    for bar in bars:
        session = calendar.get_trading_session(datetime.fromtimestamp(bar.ts, EASTERN).date())
        assert session.regular_open is not None and session.regular_close is not None
        assert session.regular_open.timestamp() <= bar.ts <= session.regular_close.timestamp() - 60
        assert bar.ts % 60 == 0


def test_early_close_on_july_3rd_ends_at_13_00_eastern(calendar: TradingCalendar) -> None:
    day = date(2025, 7, 3)
    assert calendar.get_trading_session(day).is_early_close

    bars = list(generate_demo_bars(calendar, SYMBOLS, day, day))

    last_end = datetime.fromtimestamp(max(bar.ts for bar in bars) + 60, EASTERN)
    first_start = datetime.fromtimestamp(min(bar.ts for bar in bars), EASTERN)
    assert (first_start.time().isoformat(), last_end.time().isoformat()) == ("09:30:00", "13:00:00")
    assert all(len(series) <= 210 for series in by_symbol_day(bars).values())


def test_gaps_are_about_half_a_percent_and_at_most_three_minutes_long(calendar: TradingCalendar) -> None:
    start, end = date(2025, 3, 3), date(2025, 5, 30)
    bars = list(generate_demo_bars(calendar, SYMBOLS, start, end))
    expected = len(SYMBOLS) * sum(
        DayHours.from_session(calendar.get_trading_session(day)).regular_seconds() // 60
        for day in calendar.get_trading_dates_in_range(start, end)
    )

    runs: list[int] = []
    for (_, day), series in by_symbol_day(bars).items():
        session = calendar.get_trading_session(day)
        assert session.regular_open is not None and session.regular_close is not None
        present = {bar.ts for bar in series}
        run = 0
        for ts in range(int(session.regular_open.timestamp()), int(session.regular_close.timestamp()), 60):
            if ts in present:
                if run:
                    runs.append(run)
                run = 0
            else:
                run += 1
        if run:
            runs.append(run)

    missing = expected - len(bars)
    assert missing == sum(runs)
    assert 0.002 < missing / expected < 0.01, f"{missing} of {expected} minutes missing"
    assert max(runs) <= 3
    assert any(run >= 2 for run in runs), "some gaps should be runs of 2-3 minutes"


def test_every_bar_obeys_the_bar_rules_with_cent_prices(calendar: TradingCalendar) -> None:
    bars = list(generate_demo_bars(calendar, SYMBOLS, date(2025, 1, 2), date(2025, 2, 28), seed=3))

    assert [bar for bar in bars if bar_violation(bar.open, bar.high, bar.low, bar.close, bar.volume)] == []
    assert all(round(value, 2) == value for bar in bars for value in (bar.open, bar.high, bar.low, bar.close))
    assert all(bar.volume >= 1 and bar.volume == int(bar.volume) for bar in bars)
    assert all(bar.low > 1.0 and bar.high < 5_000.0 for bar in bars)


def test_prices_walk_continuously_within_the_day_and_gap_little_overnight(calendar: TradingCalendar) -> None:
    bars = list(generate_demo_bars(calendar, SYMBOLS, date(2025, 7, 1), date(2025, 7, 31)))
    series = by_symbol_day(bars)

    for symbol in SYMBOLS:
        days = sorted(day for name, day in series if name == symbol)
        for day in days:
            day_bars = series[symbol, day]
            for previous, bar in itertools.pairwise(day_bars):
                if bar.ts - previous.ts == 60:
                    assert bar.open == previous.close
                assert abs(bar.close / previous.close - 1) < 0.02
        for before, after in itertools.pairwise(days):
            overnight = series[symbol, after][0].open / series[symbol, before][-1].close - 1
            assert abs(overnight) < 0.06, f"{symbol} {before}->{after}: {overnight:+.2%}"


def test_volume_is_u_shaped_over_the_day(calendar: TradingCalendar) -> None:
    bars = list(generate_demo_bars(calendar, SYMBOLS, date(2025, 6, 2), date(2025, 6, 27)))
    buckets: dict[str, list[float]] = defaultdict(list)
    for bar in bars:
        minute = datetime.fromtimestamp(bar.ts, EASTERN)
        since_open = (minute.hour * 60 + minute.minute) - (9 * 60 + 30)
        part = "open" if since_open < 30 else "close" if since_open >= 360 else "midday"
        buckets[part].append(bar.volume)
    mean = {part: sum(values) / len(values) for part, values in buckets.items()}

    assert mean["open"] > 1.5 * mean["midday"]
    assert mean["close"] > 1.3 * mean["midday"]


def test_five_minute_bars_are_windows_anchored_at_the_open(calendar: TradingCalendar) -> None:
    day = date(2025, 7, 3)
    minutes = list(generate_demo_bars(calendar, ["SPY"], day, day))

    fives = list(generate_demo_bars(calendar, ["SPY"], day, day, interval="5m"))

    open_ts = int(datetime(2025, 7, 3, 9, 30, tzinfo=EASTERN).timestamp())
    assert {bar.interval for bar in fives} == {"5m"}
    assert all((bar.ts - open_ts) % 300 == 0 for bar in fives)
    assert len(fives) == len({(bar.ts - open_ts) // 300 for bar in minutes}) <= 42
    first_window = [bar for bar in minutes if bar.ts < open_ts + 300]
    assert fives[0] == Bar(
        "SPY",
        "5m",
        open_ts,
        first_window[0].open,
        max(bar.high for bar in first_window),
        min(bar.low for bar in first_window),
        first_window[-1].close,
        sum(bar.volume for bar in first_window),
    )
    assert sum(bar.volume for bar in fives) == sum(bar.volume for bar in minutes)


def test_daily_demo_bars_are_keyed_by_date_at_midnight_utc(calendar: TradingCalendar) -> None:
    daily = list(generate_demo_bars(calendar, ["SPY"], date(2025, 7, 1), date(2025, 7, 7), interval="1d"))

    assert [datetime.fromtimestamp(bar.ts, UTC) for bar in daily] == [
        datetime(2025, 7, day, tzinfo=UTC) for day in (1, 2, 3, 7)
    ]


def test_sub_minute_and_invalid_intervals_are_refused(calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="shorter than a minute"):
        list(generate_demo_bars(calendar, ["SPY"], date(2025, 7, 1), date(2025, 7, 1), interval="30s"))
    with pytest.raises(ValueError, match="invalid interval"):
        list(generate_demo_bars(calendar, ["SPY"], date(2025, 7, 1), date(2025, 7, 1), interval="5 minutes"))


def test_write_demo_data_stores_every_bar_and_rewriting_changes_nothing(
    calendar: TradingCalendar, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        start, end = date(2025, 7, 1), date(2025, 7, 3)
        expected = list(generate_demo_bars(calendar, ["AAPL", "RIVN"], start, end, seed=5))

        written = write_demo_data(store, calendar, ["RIVN", "AAPL"], start, end, seed=5)
        again = write_demo_data(store, calendar, ["AAPL", "RIVN"], start, end, seed=5)

        assert written == len(expected) == store.bars.count()
        assert again == 0  # nothing was new the second time
        low, high = expected[0].ts, expected[-1].ts + 1
        stored = store.bars.read("AAPL", "1m", low, high) + store.bars.read("RIVN", "1m", low, high)
        assert sorted(stored) == sorted(expected)
    finally:
        store.close()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=-(2**63), max_value=2**63),
    symbol=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ.", min_size=1, max_size=6),
    offset=st.integers(min_value=0, max_value=360),
)
def test_any_seed_and_symbol_give_valid_bars_inside_the_session(
    calendar_store: Store, seed: int, symbol: str, offset: int
) -> None:
    calendar = TradingCalendar(calendar_store.calendar)
    day = date(2025, 1, 1) + timedelta(days=offset)

    bars = list(generate_demo_bars(calendar, [symbol], day, day, seed=seed))

    session = calendar.get_trading_session(day)
    if not session.is_trading_day:
        assert bars == []
        return
    assert session.regular_open is not None and session.regular_close is not None
    assert 0 < len(bars) <= DayHours.from_session(session).regular_seconds() // 60
    assert all(bar_violation(bar.open, bar.high, bar.low, bar.close, bar.volume) is None for bar in bars)
    assert all(session.regular_open.timestamp() <= bar.ts < session.regular_close.timestamp() for bar in bars)


# ------------------------------------------------------------------------------------ quotes


def test_demo_quotes_bracket_every_trade_widen_at_the_edges_and_repeat_exactly(
    calendar: TradingCalendar,
) -> None:
    day = date(2025, 7, 2)
    hours = DayHours.from_session(calendar.get_trading_session(day))
    bars = list(generate_demo_bars(calendar, SYMBOLS, day, day, seed=3))
    quotes = list(generate_demo_quotes(bars, hours.open_ts, hours.close_ts, seed=3))
    assert quotes == list(generate_demo_quotes(bars, hours.open_ts, hours.close_ts, seed=3))
    assert all(quote_violation(q) is None for q in quotes), "crossed prints stay within the tolerance"
    by_minute: dict[tuple[str, int], list[Quote]] = defaultdict(list)
    for q in quotes:
        by_minute[q.symbol, q.ts // 60 * 60].append(q)
    crossed = 0
    for bar in bars:
        minute = sorted(by_minute.get((bar.symbol, bar.ts), []), key=lambda q: q.event_us)
        if not minute:
            continue  # a stale minute
        assert minute[0].ts == bar.ts and minute[-1].ts == bar.ts + 59
        for q in minute:
            assert q.bid_price is not None and q.ask_price is not None
            if q.bid_price > q.ask_price:
                crossed += 1
                continue
            assert bar.low - 0.005 <= q.ask_price and q.bid_price <= bar.high + 0.005
        last = minute[-1]
        assert last.bid_price is not None and last.ask_price is not None
        assert last.bid_price <= bar.close <= last.ask_price or last.bid_price > last.ask_price
    stale = sum(1 for bar in bars if (bar.symbol, bar.ts) not in by_minute)
    assert 0 < stale < 0.05 * len(bars) and crossed < 0.01 * len(quotes)

    def spread_bps(q: Quote) -> float:
        assert q.bid_price is not None and q.ask_price is not None
        return 2e4 * (q.ask_price - q.bid_price) / (q.ask_price + q.bid_price)

    first = [spread_bps(q) for q in quotes if q.ts < hours.open_ts + 300]
    midday = [spread_bps(q) for q in quotes if hours.open_ts + 7200 <= q.ts < hours.open_ts + 7500]
    assert sum(first) / len(first) > 1.5 * sum(midday) / len(midday)


def test_demo_quotes_are_written_once_and_never_over_quotes_already_stored(
    calendar_store: Store, calendar: TradingCalendar
) -> None:
    day = date(2025, 7, 3)
    kept = Quote(
        "MSFT", (int(datetime(2025, 7, 3, 14, tzinfo=UTC).timestamp())) * 1_000_000, 1.0, 100.0, 1.01, 100.0
    )
    calendar_store.quotes.write([kept], source="import:real.csv")
    written = write_demo_quotes(calendar_store, calendar, ["AAPL", "MSFT"], day, day, seed=1)
    assert (
        written > 0 and write_demo_quotes(calendar_store, calendar, ["AAPL", "MSFT"], day, day, seed=1) == 0
    )
    assert calendar_store.quotes.count("MSFT") == 1, "the stored day is kept as it was"
    assert calendar_store.quotes.count("AAPL") == written
