"""``audit_store``: the real files and demo data in a real store (SQLite and PostgreSQL),
audited against the seeded calendar."""

from __future__ import annotations

from datetime import date

import pyarrow.parquet as pq
import pytest
from support.stores import real_file, real_minute_bars, real_minute_bars_as_stamped, seed

from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import CalendarError
from domain.quality.audit import DayAudit
from domain.quotes import Quote
from domain.store import Store
from ops.audit import CHUNK_DAYS, DayParquet, audit_store
from ops.bar_files.reader import read_bar_file
from ops.demo_data import write_demo_data

HOUR = 3600


def us_calendar(store: Store) -> TradingCalendar:
    seed(store)
    return TradingCalendar(store.calendar, "US_EQUITY")


def test_the_real_minute_files_as_stored_are_found_four_hours_late(store: Store) -> None:
    calendar = us_calendar(store)
    store.bars.upsert(real_minute_bars_as_stamped("AAPL"))
    store.bars.upsert(real_minute_bars("RIVN"))
    days: list[DayAudit] = []
    audit = audit_store(store, calendar, on_day=days.append)
    by_symbol = {s.symbol: s for s in audit.series}
    aapl, rivn = by_symbol["AAPL"], by_symbol["RIVN"]
    assert [
        (d.day, d.alignment.offset_seconds) for d in [d for d in days if d.symbol == "AAPL"] if d.alignment
    ] == [(date(2025, 7, 2), 4 * HOUR)]
    assert aapl.misaligned_days and aapl.offsets() == {4 * HOUR: 1}
    # as stored, the file's first four hours are 20:00-23:59 New York time on July 1
    assert aapl.outside_hours == 223 and aapl.days == 1 and aapl.present == 349
    # shifted back, the file starts with July 1's post-market: outside the sessions it reaches
    assert (rivn.days, rivn.present, rivn.gaps, rivn.misaligned_days) == (1, 390, 0, [])
    assert rivn.outside_hours == 99


def test_a_demo_store_is_whole_and_aligned_over_several_chunks(sqlite_store: Store) -> None:
    calendar = us_calendar(sqlite_store)
    write_demo_data(sqlite_store, calendar, ["AAA", "BBB"], date(2025, 1, 2), date(2025, 3, 14))
    audit = audit_store(sqlite_store, calendar)
    trading = len(calendar.get_trading_dates_in_range(date(2025, 1, 2), date(2025, 3, 14)))
    assert trading > 2 * CHUNK_DAYS
    for series in audit.series:
        assert (series.days, series.expected) == (trading, trading * 390)
        # the demo leaves about 0.5 % of minutes out, mostly one at a time
        assert series.present == series.expected - series.missing
        assert 0.002 < series.missing / series.expected < 0.01 and series.gaps <= series.missing
        assert series.misaligned_days == [] and series.outside_hours == 0


def test_a_range_and_a_symbol_filter_narrow_the_audit(sqlite_store: Store) -> None:
    calendar = us_calendar(sqlite_store)
    write_demo_data(sqlite_store, calendar, ["AAA", "BBB"], date(2025, 1, 2), date(2025, 1, 31))
    audit = audit_store(
        sqlite_store, calendar, symbols=["BBB"], start=date(2025, 1, 6), end=date(2025, 1, 10)
    )
    # January 9, 2025 was a National Day of Mourning: the market was closed
    assert [(s.symbol, s.days) for s in audit.series] == [("BBB", 4)]


def test_daily_bars_are_audited_by_date_and_the_orcl_file_matches_the_nyse(sqlite_store: Store) -> None:
    seed(sqlite_store, start_year=1994, end_year=2015)
    calendar = TradingCalendar(sqlite_store.calendar, "US_EQUITY")
    parsed = read_bar_file(real_file("ORCL_1995-2014_1d.csv"), "ORCL", "1d", "America/New_York")
    sqlite_store.bars.upsert(parsed.bars)
    (series,) = audit_store(sqlite_store, calendar).series
    assert series.days == series.present == 5036
    assert series.outside_hours == 0 and series.rule_breaks == 0
    assert series.alignment is not None and series.alignment.status.value == "aligned"


def test_a_store_beyond_the_seeded_calendar_is_refused_naming_the_days(sqlite_store: Store) -> None:
    seed(sqlite_store, start_year=2030, end_year=2030)
    sqlite_store.bars.upsert(real_minute_bars("AAPL"))
    with pytest.raises(CalendarError, match="outside the seeded calendar"):
        audit_store(sqlite_store, TradingCalendar(sqlite_store.calendar, "US_EQUITY"))


def test_the_days_go_to_parquet_in_batches_and_appear_only_when_complete(
    sqlite_store: Store, tmp_path
) -> None:
    calendar = us_calendar(sqlite_store)
    write_demo_data(sqlite_store, calendar, ["AAA"], date(2025, 1, 2), date(2025, 1, 31))
    path = tmp_path / "days.parquet"
    writer = DayParquet(path, batch=7)
    audit = audit_store(sqlite_store, calendar, on_day=writer)
    assert not path.exists()
    writer.close()
    table = pq.read_table(path)
    assert table.num_rows == audit.days == 20
    assert set(table.column("alignment").to_pylist()) == {"aligned"}
    assert sum(table.column("present").to_pylist()) == audit.bars


def test_stored_quotes_are_audited_per_symbol_over_the_regular_sessions_they_reach(store: Store) -> None:
    """Quotes around the real RIVN minutes (1 cent either side of each close at its minute's
    30th second, one crossed minute, and a silent last hour): coverage, the crossed episode,
    the stale hour and the closes inside, on SQLite and PostgreSQL."""
    calendar = us_calendar(store)
    bars = [b for b in real_minute_bars("RIVN") if 1_751_463_000 <= b.ts < 1_751_486_400]  # 13:30-20:00Z
    assert len(bars) == 390
    store.bars.upsert(bars)
    quotes = [
        Quote(
            "RIVN",
            (b.ts + 30) * 1_000_000,
            round(b.close - 0.01, 2),
            100.0 + i % 2,
            round(b.close + 0.01, 2),
            100.0,
        )
        for i, b in enumerate(bars[:330])
    ]  # the bid size alternates: the book changes every minute, so every quote is a row
    quotes[100] = quotes[100]._replace(bid_price=quotes[100].ask_price + 0.05 * 0.1)  # crossed, within 1 %
    store.quotes.write(quotes, source="test")
    (audit,) = audit_store(store, calendar).quotes
    assert (audit.symbol, audit.days, audit.seconds) == ("RIVN", 1, 23_400)
    assert (audit.crossed_count, audit.crossed_seconds) == (1, 60)
    assert audit.no_quote_seconds == 30  # the first half-minute
    stale = 23_400 - (329 * 60 + 30) - 61  # the last book is fresh for 60 s after it stood, then stale
    assert audit.stale_seconds == stale
    assert audit.coverage == round(100 * (23_400 - 30 - 60 - stale) / 23_400, 2)
    # a close at the minute's end lies within the book set at its 30th second unless it moved;
    # the crossed minute's book has no room for it
    assert audit.closes_checked == 390 and audit.closes_inside < 390
    assert audit.as_dict()["worst_day"] == {"date": "2025-07-02", "coverage": audit.coverage}
