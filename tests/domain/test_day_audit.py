"""The store audit's day: what a session would score, and why the other bars stay out."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from support.stores import real_minute_bars, real_minute_bars_as_stamped

from domain.bars import Bar, daily_ts
from domain.columns import BarColumns
from domain.intervals import DAILY, MINUTE
from domain.quality.alignment import AlignmentStatus
from domain.quality.audit import SeriesAudit, audit_daily, audit_day
from domain.quality.book import QualityBook
from domain.session.windows import DayHours, Refusal

NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600


def us_day(day: date) -> DayHours:
    def at(hour: int, minute: int = 0) -> int:
        return int(datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK).timestamp())

    return DayHours(day, at(9, 30), at(16), pre_open_ts=at(4), post_close_ts=at(20))


JULY_2 = us_day(date(2025, 7, 2))


def columns(bars: list[Bar], hours: DayHours) -> BarColumns:
    inside = [b for b in bars if hours.read_start_ts <= b.ts < hours.read_end_ts]
    return BarColumns.from_bars(bars[0].symbol, bars[0].interval, inside)


def test_a_real_day_as_stored_scores_the_pre_market_and_says_the_stamps_are_four_hours_late() -> None:
    audit = audit_day(JULY_2, MINUTE, columns(real_minute_bars_as_stamped("AAPL"), JULY_2))
    assert (audit.expected, audit.present) == (390, 349)
    assert audit.alignment is not None and audit.alignment.status is AlignmentStatus.MISALIGNED
    assert audit.alignment.offset_seconds == 4 * HOUR
    assert audit.not_in_session[Refusal.OUTSIDE_REGULAR_SESSION] > 0


def test_a_real_day_shifted_back_is_whole_and_aligned() -> None:
    for symbol in ("AAPL", "RIVN"):
        audit = audit_day(JULY_2, MINUTE, columns(real_minute_bars(symbol), JULY_2))
        assert (audit.expected, audit.present, audit.gaps, audit.quality) == (390, 390, (), 100.0)
        assert audit.alignment is not None and audit.alignment.status is AlignmentStatus.ALIGNED


def test_the_audit_finds_the_gaps_a_session_would() -> None:
    bars = real_minute_bars("RIVN")
    dropped = {JULY_2.open_ts + 60 * k for k in (5, 6, 7, 200)}
    kept = [b for b in bars if b.ts not in dropped]
    audit = audit_day(JULY_2, MINUTE, columns(kept, JULY_2))
    book = QualityBook(JULY_2, ["RIVN"], [MINUTE])
    book.score(JULY_2.close_ts, [b for b in kept if JULY_2.open_ts <= b.ts < JULY_2.close_ts])
    assert audit.gaps == book.results()[("RIVN", "1m")].gaps
    assert [g.bar_count for g in audit.gaps] == [3, 1]
    assert audit.present == 386


def test_a_bar_that_breaks_a_rule_is_counted_under_the_rules_words() -> None:
    broken = [
        b._replace(low=b.high + 1) if b.ts == JULY_2.open_ts + 600 else b for b in real_minute_bars("AAPL")
    ]
    audit = audit_day(JULY_2, MINUTE, columns(broken, JULY_2))
    assert audit.rule_breaks == 1 and audit.present == 389


def test_a_daily_series_expects_one_valid_bar_per_trading_day_and_counts_the_others() -> None:
    days = [date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3)]
    bars = [
        Bar("ORCL", "1d", daily_ts(date(2025, 7, 1)), 10, 11, 9, 10, 100),
        Bar("ORCL", "1d", daily_ts(date(2025, 7, 3)), 10, 9, 11, 10, 100),  # high below low
        Bar("ORCL", "1d", daily_ts(date(2025, 7, 5)), 10, 11, 9, 10, 100),  # a Saturday
    ]
    audits, others = audit_daily("ORCL", days, BarColumns.from_bars("ORCL", "1d", bars))
    assert [a.present for a in audits] == [1, 0, 0] and others == 1
    assert audits[2].rule_breaks == 1
    series = SeriesAudit("ORCL", str(DAILY))
    for audit in audits:
        series.add(audit)
    assert (series.days, series.expected, series.present, series.rule_breaks) == (3, 3, 1, 1)


def test_a_series_sums_its_days_and_lists_its_misaligned_ones() -> None:
    series = SeriesAudit("AAPL", "1m")
    series.add(audit_day(JULY_2, MINUTE, columns(real_minute_bars_as_stamped("AAPL"), JULY_2)))
    series.add(audit_day(JULY_2, MINUTE, columns(real_minute_bars("AAPL"), JULY_2)))
    assert series.days == 2 and series.expected == 780 and series.present == 349 + 390
    assert [day for day, _ in series.misaligned_days] == [JULY_2.day]
    assert series.offsets() == {4 * HOUR: 1}
    data = series.as_dict()
    assert data["misaligned_days"][0]["offset"] == "+4:00" and data["quality"] == round(
        (349 / 3.9 + 100) / 2, 4
    )
