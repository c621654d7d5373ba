"""Session data (SPEC §5–§7): the columnar bar series, time slices, session metrics from base
bars, end-of-day clearing and the memory footprint per bar.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.bars import Bar
from domain.columns import BarColumns
from domain.history.indicators import IndicatorResult
from domain.intervals import MINUTE
from domain.quality.gaps import Gap
from domain.quotes import Quote, QuoteColumns
from domain.session.data import BarCounts, BarSeries, SessionData, SessionMetrics

T0 = 1_751_463_000  # 2025-07-02 09:30 ET


def bar(
    ts: int,
    close: float = 10.0,
    *,
    symbol: str = "AAPL",
    interval: str = "1m",
    high: float | None = None,
    low: float | None = None,
    volume: float = 100.0,
) -> Bar:
    return Bar(
        symbol,
        interval,
        ts,
        close,
        close + 1 if high is None else high,
        close - 1 if low is None else low,
        close,
        volume,
    )


def minute(k: int) -> int:
    return T0 + 60 * k


# -- BarSeries -----------------------------------------------------------------------------------


def test_append_in_order_keeps_every_bar_and_reports_new() -> None:
    series = BarSeries("AAPL", "1m")
    assert [series.add(bar(minute(k), 10 + k)) for k in range(5)] == [True] * 5
    assert len(series) == 5
    assert series.bar_at(0) == bar(minute(0), 10)
    assert series.bar_at(-2) == bar(minute(3), 13)
    assert list(series) == [bar(minute(k), 10 + k) for k in range(5)]


def test_late_bar_is_inserted_at_its_place() -> None:
    series = BarSeries("AAPL", "1m")
    series.extend([bar(minute(0)), bar(minute(1)), bar(minute(3))])
    assert series.add(bar(minute(2), 12.0)) is True
    assert [b.ts for b in series] == [minute(k) for k in range(4)]
    assert series.bar_at(2) == bar(minute(2), 12.0)


def test_duplicate_ts_replaces_values_and_reports_not_new() -> None:
    series = BarSeries("AAPL", "1m")
    series.extend([bar(minute(0), 10.0), bar(minute(1), 11.0)])
    assert series.add(bar(minute(0), 20.0)) is False  # older duplicate
    assert series.add(bar(minute(1), 21.0)) is False  # newest duplicate
    assert len(series) == 2
    assert list(series) == [bar(minute(0), 20.0), bar(minute(1), 21.0)]


def test_bar_of_another_symbol_or_interval_is_refused() -> None:
    series = BarSeries("AAPL", "1m")
    with pytest.raises(ValueError, match="does not belong"):
        series.add(bar(minute(0), symbol="RIVN"))
    with pytest.raises(ValueError, match="does not belong"):
        series.add(bar(minute(0), interval="5m"))


def test_slice_by_time_is_half_open() -> None:
    series = BarSeries("AAPL", "1m")
    series.extend(bar(minute(k), 10 + k) for k in range(10))
    assert series.slice_by_time(minute(2), minute(5)) == tuple(bar(minute(k), 10 + k) for k in (2, 3, 4))


def test_slice_between_bars_or_outside_the_series_is_empty() -> None:
    series = BarSeries("AAPL", "1m")
    series.extend(bar(minute(k)) for k in (0, 5))
    assert len(series.slice_by_time(minute(1), minute(5))) == 0
    assert not series.slice_by_time(minute(6), minute(9))
    assert not series.slice_by_time(minute(3), minute(1))  # end before start
    assert len(series.slice_by_time(minute(-5), minute(99))) == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=40), st.floats(min_value=1, max_value=1e6)),
        max_size=80,
    )
)
def test_any_insertion_order_gives_the_sorted_unique_series_last_write_wins(
    writes: list[tuple[int, float]],
) -> None:
    series = BarSeries("AAPL", "1m")
    new = [series.add(bar(minute(k), price)) for k, price in writes]
    expected: dict[int, float] = {}
    for k, price in writes:
        expected[minute(k)] = price  # last write wins
    assert list(series) == [bar(ts, expected[ts]) for ts in sorted(expected)]
    assert sum(new) == len(expected)


# -- SessionData ---------------------------------------------------------------------------------


def test_append_session_bars_counts_new_bars_per_series() -> None:
    data = SessionData(MINUTE)
    batch = [bar(minute(0)), bar(minute(0), symbol="RIVN"), bar(minute(0), interval="5m")]
    assert data.append_session_bars(batch) == 3
    assert data.append_session_bars([bar(minute(0), 11.0), bar(minute(1))]) == 1
    aapl = data.session_bars("AAPL", "1m")
    assert aapl is not None and len(aapl) == 2
    assert data.session_bars("MSFT", "1m") is None
    assert data.bar_count() == BarCounts(historical=0, session=4)


def test_metrics_follow_base_interval_bars_only() -> None:
    data = SessionData("1m")
    data.append_session_bars([bar(minute(0), 10.0, high=12.0, low=9.0, volume=100.0)])
    data.append_session_bars(
        [
            bar(minute(1), 11.0, high=15.0, low=9.5, volume=50.0),
            bar(minute(0), 10.0, interval="5m", high=99.0, low=1.0, volume=1e6),  # derived: ignored
        ]
    )
    assert data.metrics("AAPL") == SessionMetrics(volume=150.0, high=15.0, low=9.0, last_update_ts=minute(1))
    data.append_session_bars([bar(minute(2), 8.0, high=9.0, low=7.0, volume=25.0)])
    assert data.metrics("AAPL") == SessionMetrics(volume=175.0, high=15.0, low=7.0, last_update_ts=minute(2))
    assert data.metrics("RIVN") is None


def test_late_base_bar_adds_to_metrics_without_moving_last_update() -> None:
    data = SessionData("1m")
    data.append_session_bars([bar(minute(0), volume=10.0), bar(minute(2), volume=10.0)])
    data.append_session_bars([bar(minute(1), 30.0, volume=5.0)])
    metrics = data.metrics("AAPL")
    assert metrics is not None
    assert (metrics.volume, metrics.high, metrics.last_update_ts) == (25.0, 31.0, minute(2))


def test_replaced_base_bar_corrects_metrics() -> None:
    """A corrected bar swaps its volume and can lower the high it set (rescan of that series)."""
    data = SessionData("1m")
    data.append_session_bars([bar(minute(0), 10.0, volume=100.0), bar(minute(1), 20.0, volume=100.0)])
    data.append_session_bars([bar(minute(1), 12.0, volume=40.0)])
    assert data.metrics("AAPL") == SessionMetrics(volume=140.0, high=13.0, low=9.0, last_update_ts=minute(1))
    data.append_session_bars([bar(minute(0), 15.0, volume=100.0)])  # raises the low it set
    assert data.metrics("AAPL") == SessionMetrics(volume=140.0, high=16.0, low=11.0, last_update_ts=minute(1))


def _indicator(name: str) -> IndicatorResult:
    return IndicatorResult(name=name, value=1.0, missing_days=[], warning=None)


def test_clear_session_keeps_historical_and_indicators() -> None:
    data = SessionData("1m")
    days = [date(2025, 7, 1), date(2025, 6, 30)]
    daily = [bar(minute(1), interval="1d"), bar(0, interval="1d")]  # out of order on purpose
    assert data.set_historical("AAPL", "1d", daily, days) == 2
    data.set_indicators("AAPL", {"avg_volume": _indicator("avg_volume")})
    data.append_session_bars([bar(minute(0)), bar(minute(1))])
    data.set_quality("AAPL", "1m", 99.5)
    data.set_gaps("AAPL", "1m", [Gap("AAPL", "1m", minute(2), minute(3), 1)])

    data.clear_session()

    assert data.session_bars("AAPL", "1m") is None
    assert data.quality("AAPL", "1m") is None
    assert data.gaps("AAPL", "1m") == ()
    assert data.metrics("AAPL") is None
    historical = data.historical("AAPL", "1d")
    assert historical is not None and [b.ts for b in historical] == [0, minute(1)]
    assert set(data.indicators("AAPL")) == {"avg_volume"}
    assert data.bar_count() == BarCounts(historical=2, session=0)


def test_set_historical_replaces_the_previous_bars() -> None:
    data = SessionData("1m")
    data.set_historical("AAPL", "1m", [bar(minute(k)) for k in range(3)], [date(2025, 7, 1)])
    data.set_historical("AAPL", "1m", [bar(minute(9))], [date(2025, 7, 2)])
    series = data.historical("AAPL", "1m")
    assert series is not None and list(series) == [bar(minute(9))]
    assert data.historical("AAPL", "1d") is None


def test_snapshot_summarises_one_symbol() -> None:
    data = SessionData("1m")
    data.set_historical("AAPL", "1d", [bar(0, interval="1d")], [date(2025, 7, 1)])
    data.set_indicators("AAPL", {"high_52w": _indicator("high_52w")})
    data.append_session_bars([bar(minute(0)), bar(minute(1)), bar(minute(0), symbol="RIVN")])
    data.set_quality("AAPL", "1m", 50.0)
    data.set_gaps("AAPL", "1m", [Gap("AAPL", "1m", minute(2), minute(4), 2)])

    snap = data.snapshot("AAPL")

    assert snap.session_bars == {"1m": 2}
    assert snap.historical_bars == {"1d": 1}
    assert snap.quality == {"1m": 50.0}
    assert snap.gap_counts == {"1m": 1}
    assert snap.metrics == SessionMetrics(volume=200.0, high=11.0, low=9.0, last_update_ts=minute(1))
    assert set(snap.indicators) == {"high_52w"}
    data.clear_session()
    assert snap.session_bars == {"1m": 2}  # a snapshot does not follow the store


def test_resident_bytes_per_bar_is_at_most_64_for_100k_bars() -> None:
    data = SessionData("1m")
    n = 100_000
    data.set_historical("AAPL", "1m", (bar(minute(k)) for k in range(n // 2)), [date(2025, 7, 1)])
    step = 1_000
    for first in range(n // 2, n, step):
        data.append_session_bars([bar(minute(k)) for k in range(first, first + step)])
    assert data.bar_count().total == n
    per_bar = data.resident_bytes() / n
    assert 48 <= per_bar <= 64, f"{per_bar:.1f} bytes per bar"


def test_historical_columns_are_kept_as_a_view_at_48_bytes_a_bar_and_copied_before_a_write() -> None:
    bars = [bar(minute(k)) for k in range(5)]
    columns = BarColumns.from_bars("AAPL", "1m", bars)
    data = SessionData("1m")
    assert data.set_historical("AAPL", "1m", columns, [date(2025, 7, 1)]) == 5
    series = data.historical("AAPL", "1m")
    assert series is not None and list(series) == bars
    assert data.resident_bytes() == 48 * 5
    series.add(bar(minute(9)))  # the loader's columns are read-only: the series copies first
    assert len(series) == 6 and len(columns) == 5 and columns.bars() == bars


def test_the_snapshot_shows_the_latest_quote_the_clock_has_released() -> None:
    quotes = [
        Quote("AAPL", (minute(k)) * 1_000_000 + 5, 100.0 + k, 100.0, 100.1 + k, 200.0) for k in range(3)
    ]
    data = SessionData("1m")
    horizon = data.attach_quotes([QuoteColumns.from_quotes("AAPL", quotes)], minute(0))
    assert data.snapshot("AAPL").quote is None and data.latest_quote("RIVN") is None
    horizon.ts = minute(1) + 1  # the second of the 09:31 row has ended
    assert data.snapshot("AAPL").quote == quotes[1]
    horizon.ts = minute(9)
    assert data.latest_quote("AAPL") == quotes[2]
    data.clear_session()
    assert data.latest_quote("AAPL") is None
