"""The run report (SPEC §5 step 5, §10): its JSON shape, times in the exchange's timezone, and
``comparable()`` (the report without timings) for comparing two runs of one backtest.

The report objects are built directly from their dataclasses; the values are the real AAPL day
of 2025-07-02 at its true time (its file is stamped 4 hours late) less the 09:35, 09:36 and 10:15
minutes, the gaps below (387 of 390 minutes, 76 of 78 five-minute windows, the volume of the
other 387 minutes), and made-up but consistent figures elsewhere.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.history.indicators import IndicatorResult
from domain.quality.alignment import Alignment, AlignmentStatus
from domain.quality.gaps import Gap, GapStatus
from domain.report import DaySummaries, DaySummary, HistoricalSummary, IntervalSummary, RunReport, SymbolDay
from domain.session.data import SessionMetrics
from domain.session.windows import DayHours

NY = ZoneInfo("America/New_York")
ZONE = "America/New_York"


def et(hour: int, minute: int = 0, day: int = 2, month: int = 7) -> int:
    return int(datetime(2025, month, day, hour, minute, tzinfo=NY).timestamp())


def d(text: str) -> date:
    return date.fromisoformat(text)


JULY_2 = DayHours(d("2025-07-02"), et(9, 30), et(16), pre_open_ts=et(4), post_close_ts=et(20))
JULY_3 = DayHours(d("2025-07-03"), et(9, 30, 3), et(13, 0, 3), is_early_close=True)
JAN_2 = DayHours(d("2025-01-02"), et(9, 30, 2, 1), et(16, 0, 2, 1))


def symbol_day(day: int = 2, bars: int = 387) -> SymbolDay:
    gaps = (
        Gap("AAPL", "1m", et(9, 35, day), et(9, 37, day), 2),
        Gap("AAPL", "1m", et(10, 15, day), et(10, 16, day), 1, retry_count=5, status=GapStatus.ABANDONED),
    )
    return SymbolDay(
        session={
            "1m": IntervalSummary(bars, 100 * bars / 390, 390, gaps, filled_gaps=1),
            "5m": IntervalSummary(
                76,
                100 * 76 / 78,
                78,
                (
                    Gap("AAPL", "5m", et(9, 35, day), et(9, 40, day), 1),
                    Gap("AAPL", "5m", et(10, 15, day), et(10, 20, day), 1),
                ),
            ),
        },
        historical={
            "1m": HistoricalSummary(1000, 85.47, (d("2025-06-27"), d("2025-06-30"), d("2025-07-01")), 3),
            "1d": HistoricalSummary(9, 90.0, (d("2025-06-17"), d("2025-07-01")), 9, derived_days=1),
        },
        indicators={
            "avg_volume": IndicatorResult("avg_volume", 51_234_567.5, [], None),
            "avg_volume_intraday": IndicatorResult("avg_volume_intraday", [10.0, None, 30.0], [], None),
            "high_52w": IndicatorResult(
                "high_52w", None, [d("2024-07-03")], "AAPL: 'high_52w' not enough data"
            ),
        },
        metrics=SessionMetrics(58_178_282.0, 213.34, 208.14, et(15, 59, day)),
        alignment=Alignment(
            AlignmentStatus.ALIGNED, 0, 0.5, ("the regular session holds 387 of 390 bars as stamped",)
        ),
    )


def report(**changes: Any) -> RunReport:
    days = (
        DaySummary(
            JULY_2,
            ZONE,
            {"AAPL": symbol_day()},
            bars_streamed=387,
            bars_derived=76,
            refused={"outside regular session": 472},  # the file's other rows: 862 - 390
            warnings=("AAPL 1d: no historical bars for 1 of 10 trading day(s)",),
            timings={"historical_s": 0.25, "stream_s": 1.5},
        ),
        DaySummary(
            JULY_3,
            ZONE,
            {"AAPL": symbol_day(3, 200)},
            bars_streamed=200,
            bars_derived=50,
            timings={"stream_s": 0.75},
        ),
    )
    base = RunReport(
        session_name="Example Trading Session",
        mode="backtest",
        exchange_group="US_EQUITY",
        status="completed",
        days=days,
        warnings=("quotes: none stored, not streamed",),
        timings={"total_s": 3.5, "days": {"2025-07-02": 1.75}},
        streams=("1m", "5m", "15m", "quotes"),
        symbols=("AAPL",),
        start_date=d("2025-07-02"),
        end_date=d("2025-07-07"),
        speed_multiplier=0.0,
    )
    return replace(base, **changes)


# ------------------------------------------------------------------------------------- shape


def test_the_report_has_the_documented_top_level_keys() -> None:
    data = report().to_json()
    for key in (
        "session_name",
        "mode",
        "exchange_group",
        "status",
        "days",
        "totals",
        "timings",
        "warnings",
    ):
        assert key in data, key
    assert (data["session_name"], data["mode"], data["exchange_group"], data["status"]) == (
        "Example Trading Session",
        "backtest",
        "US_EQUITY",
        "completed",
    )
    assert data["warnings"] == ["quotes: none stored, not streamed"]
    assert data["timings"] == {"total_s": 3.5, "days": {"2025-07-02": 1.75}}
    assert (data["start_date"], data["end_date"]) == ("2025-07-02", "2025-07-07")
    assert data["symbols"] == ["AAPL"]
    assert data["streams"] == ["1m", "5m", "15m", "quotes"]


def test_every_level_has_exactly_the_keys_the_readme_documents() -> None:
    data = report().to_json()
    assert set(data) == {
        "session_name",
        "mode",
        "exchange_group",
        "status",
        "error",
        "start_date",
        "end_date",
        "speed_multiplier",
        "symbols",
        "streams",
        "days",
        "totals",
        "timings",
        "restarts",
        "warnings",
    }
    day = data["days"][0]
    assert set(day) == {
        "date",
        "regular_open",
        "regular_close",
        "is_early_close",
        "extended_hours",
        "ended_early",
        "bars_streamed",
        "bars_derived",
        "quotes_streamed",
        "quotes_filled",
        "bars_not_in_session",
        "warnings",
        "symbols",
    }
    aapl = day["symbols"]["AAPL"]
    assert set(aapl) == {"session", "extended_hours", "alignment", "historical", "indicators", "metrics"}
    assert day["extended_hours"] == aapl["extended_hours"] == {}  # scored only when asked for
    assert aapl["alignment"] == {
        "status": "aligned",
        "offset": "0:00",
        "offset_seconds": 0,
        "confidence": 0.5,
        "evidence": ["the regular session holds 387 of 390 bars as stamped"],
        "fix": "",
    }
    assert set(aapl["session"]["1m"]) == {"bars", "quality", "expected", "filled_gaps", "gaps"}
    assert set(aapl["session"]["1m"]["gaps"][0]) == {"start", "end", "bar_count", "status", "retry_count"}
    assert set(aapl["historical"]["1d"]) == {
        "bars",
        "quality",
        "start_date",
        "end_date",
        "days",
        "days_with_bars",
        "derived_days",
    }
    assert set(aapl["metrics"]) == {"volume", "high", "low", "last_update"}


def test_a_misaligned_symbol_day_carries_the_offset_and_the_fix() -> None:
    """The verdict on the real AAPL file as stamped, four hours late."""
    late = Alignment(
        AlignmentStatus.MISALIGNED, 14_400, 0.84846, ("the opening print is stamped 4:00 after the open",)
    )
    assert replace(symbol_day(), alignment=late).to_json(NY)["alignment"] == {
        "status": "misaligned",
        "offset": "+4:00",
        "offset_seconds": 14_400,
        "confidence": 0.848,
        "evidence": ["the opening print is stamped 4:00 after the open"],
        "fix": "--shift -4:00",
    }


def test_totals_count_days_streamed_and_derived_bars() -> None:
    assert report().to_json()["totals"] == {
        "trading_days": 2,
        "bars_streamed": 387 + 200,
        "bars_derived": 76 + 50,
        "quotes_streamed": 0,
    }
    empty = report(days=(), status="stopped").to_json()
    assert empty["totals"] == {"trading_days": 0, "bars_streamed": 0, "bars_derived": 0, "quotes_streamed": 0}
    assert empty["days"] == []


def test_a_day_has_its_date_hours_early_close_flag_and_symbols() -> None:
    first, second = report().to_json()["days"]
    assert first["date"] == "2025-07-02"
    assert first["regular_open"] == "2025-07-02T09:30:00-04:00"
    assert first["regular_close"] == "2025-07-02T16:00:00-04:00"
    assert first["is_early_close"] is False
    assert set(first["symbols"]) == {"AAPL"}
    assert first["warnings"] == ["AAPL 1d: no historical bars for 1 of 10 trading day(s)"]
    assert first["bars_not_in_session"] == {"outside regular session": 472}
    assert second["date"] == "2025-07-03"
    assert second["regular_close"] == "2025-07-03T13:00:00-04:00"
    assert second["is_early_close"] is True


def test_session_intervals_carry_bars_quality_and_gaps_in_exchange_time() -> None:
    session = report().to_json()["days"][0]["symbols"]["AAPL"]["session"]
    assert set(session) == {"1m", "5m"}
    minute = session["1m"]
    assert minute["bars"] == 387
    assert minute["quality"] == 100 * 387 / 390, "the float is kept, rounding is for display"
    assert minute["gaps"] == [
        {
            "start": "2025-07-02T09:35:00-04:00",
            "end": "2025-07-02T09:37:00-04:00",
            "bar_count": 2,
            "status": "open",
            "retry_count": 0,
        },
        {
            "start": "2025-07-02T10:15:00-04:00",
            "end": "2025-07-02T10:16:00-04:00",
            "bar_count": 1,
            "status": "abandoned",
            "retry_count": 5,
        },
    ]
    assert [(g["start"], g["end"]) for g in session["5m"]["gaps"]] == [
        ("2025-07-02T09:35:00-04:00", "2025-07-02T09:40:00-04:00"),
        ("2025-07-02T10:15:00-04:00", "2025-07-02T10:20:00-04:00"),
    ]
    assert session["5m"]["quality"] == 100 * 76 / 78


def test_historical_intervals_carry_bars_quality_and_the_window() -> None:
    historical = report().to_json()["days"][0]["symbols"]["AAPL"]["historical"]
    assert set(historical) == {"1m", "1d"}
    minute = historical["1m"]
    assert (minute["bars"], minute["quality"], minute["days"]) == (1000, 85.47, 3)
    assert (minute["start_date"], minute["end_date"]) == ("2025-06-27", "2025-07-01")
    daily = historical["1d"]
    assert (daily["bars"], daily["quality"], daily["days"], daily["derived_days"]) == (9, 90.0, 2, 1)
    assert (daily["start_date"], daily["end_date"]) == ("2025-06-17", "2025-07-01")


def test_an_empty_historical_window_has_no_dates_and_a_missing_quality_is_null() -> None:
    empty = HistoricalSummary(0, None, (), 0).to_json()
    assert empty["start_date"] is None and empty["end_date"] is None
    assert empty["quality"] is None
    assert empty["days"] == 0


def test_indicators_and_metrics_of_a_symbol() -> None:
    aapl = report().to_json()["days"][0]["symbols"]["AAPL"]
    assert aapl["indicators"] == {
        "avg_volume": 51_234_567.5,
        "avg_volume_intraday": [10.0, None, 30.0],
        "high_52w": None,
    }
    metrics = aapl["metrics"]
    assert (metrics["volume"], metrics["high"], metrics["low"]) == (58_178_282.0, 213.34, 208.14)
    assert metrics["last_update"] == "2025-07-02T15:59:00-04:00"


def test_a_symbol_without_session_bars_has_empty_metrics() -> None:
    quiet = replace(symbol_day(), metrics=None).to_json(NY)["metrics"]
    assert quiet == {"volume": 0.0, "high": None, "low": None, "last_update": None}


def test_iso_times_carry_the_offset_of_their_date() -> None:
    """-04:00 in July (EDT), -05:00 in January (EST), for the same exchange."""
    winter = DaySummary(JAN_2, ZONE, {}, 0, 0).to_json()
    assert winter["regular_open"] == "2025-01-02T09:30:00-05:00"
    assert winter["regular_close"] == "2025-01-02T16:00:00-05:00"
    tokyo = DaySummary(JULY_2, "Asia/Tokyo", {}, 0, 0).to_json()
    assert tokyo["regular_open"] == "2025-07-02T22:30:00+09:00"


def test_the_report_is_plain_json() -> None:
    data = report().to_json()
    assert json.loads(json.dumps(data, allow_nan=False)) == data


# ------------------------------------------------------------------------------- comparable


def test_comparable_drops_only_the_timings_and_the_restarts() -> None:
    full = report(restarts=("quality_calculator #2: InjectedCrash: …",)).to_json()
    comparable = report().comparable()
    assert set(full) - set(comparable) == {"timings", "restarts"}
    del full["timings"], full["restarts"]
    assert comparable == full


def test_two_runs_differing_only_in_timings_compare_equal() -> None:
    slow_days = tuple(replace(day, timings={"stream_s": 99.0}) for day in report().days)
    slow = report(timings={"total_s": 120.0}, days=slow_days)
    fast = report()
    assert slow.to_json() != fast.to_json()
    assert slow.comparable() == fast.comparable()
    assert slow == fast


@pytest.mark.parametrize(
    "change",
    [
        {"status": "stopped"},
        {"warnings": ()},
        {"days": ()},
    ],
    ids=["status", "warnings", "days"],
)
def test_runs_that_differ_in_anything_but_timings_are_not_comparable_equal(change: dict[str, Any]) -> None:
    assert report(**change).comparable() != report().comparable()


def test_a_different_bar_count_makes_the_days_differ() -> None:
    other_day = replace(report().days[0], symbols={"AAPL": symbol_day(bars=388)})
    other = report(days=(other_day, report().days[1]))
    assert other.comparable() != report().comparable()


def test_symbols_without_bars_are_those_with_no_session_bar_on_any_day() -> None:
    empty = SymbolDay(
        session={"1m": IntervalSummary(0, 0.0, 390), "5m": IntervalSummary(0, 0.0, 78)},
        historical={}, indicators={}, metrics=None,
    )  # fmt: skip
    one_day = symbol_day(bars=1)
    days = tuple(
        replace(day, symbols={"AAPL": day.symbols["AAPL"], "RIVN": empty, "MSFT": one_day if i else empty})
        for i, day in enumerate(report().days)
    )
    mixed = report(days=days, symbols=("AAPL", "RIVN", "MSFT"))
    assert mixed.symbols_without_bars() == ("RIVN",)
    assert report().symbols_without_bars() == ()
    assert report(days=()).symbols_without_bars() == ()  # nothing ran: nothing to say about the data


# ------------------------------------------------------------------------------------- long runs


def many_days(count: int) -> list[DaySummary]:
    one = report().days[0]
    return [replace(one, bars_streamed=i, timings={"stream_s": float(i)}) for i in range(count)]


def test_day_summaries_beyond_the_held_share_are_kept_on_disk_and_read_back_equal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(DaySummaries, "HELD", 3)  # symbol-days held as objects; one symbol a day
    days = many_days(10)
    kept = DaySummaries()
    for day in days:
        kept.append(day)
    assert repr(kept) == "DaySummaries(10 days, 7 on disk)"
    assert kept == days and days == list(kept) and len(kept) == 10
    assert [kept[i].bars_streamed for i in (0, 6, 7, -1)] == [0, 6, 7, 9]
    assert kept[2:5] == tuple(days[2:5])
    assert kept[0] is not days[0], "read back from disk, not the object appended"
    assert kept[9] is days[9], "the newest are held"
    assert kept.dates == [day.day for day in days]
    with pytest.raises(IndexError):
        kept[10]


def test_a_live_service_holds_one_day_and_its_snapshots_keep_that_limit() -> None:
    one = many_days(1)[0]
    held = DaySummaries(held=len(one.symbols))  # what a service that keeps running holds
    for day in many_days(5):
        held.append(day)
    assert repr(held) == "DaySummaries(5 days, 4 on disk)"
    resumed = DaySummaries.resume(held.snapshot())
    resumed.append(one)
    assert repr(resumed) == "DaySummaries(6 days, 5 on disk)" and list(resumed)[:5] == many_days(5)


def test_a_snapshot_is_not_changed_by_later_appends_and_resumes_where_it_stood(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(DaySummaries, "HELD", 2)
    days = many_days(8)
    kept = DaySummaries(days[:5])
    view = kept.snapshot()
    for day in days[5:]:
        kept.append(day)
    assert view == days[:5] and kept == days
    resumed = DaySummaries.resume(view)  # a restarted coordinator goes on from its checkpoint
    resumed.append(days[5])
    assert resumed == days[:6] and view == days[:5] and kept == days


def test_a_long_runs_report_is_written_one_day_at_a_time_as_the_same_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(DaySummaries, "HELD", 1)
    long = report(days=DaySummaries(many_days(4)))
    out = io.StringIO()
    long.write_json(out)
    assert out.getvalue() == json.dumps(long.to_json(), indent=2)
    assert long.to_json() == report(days=tuple(many_days(4))).to_json()
    empty = io.StringIO()
    report(days=()).write_json(empty)
    assert empty.getvalue() == json.dumps(report(days=()).to_json(), indent=2)
