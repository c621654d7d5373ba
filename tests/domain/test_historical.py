"""Historical data before a session day (SPEC §6) through a real SQLite store: trailing windows
that never reach the session day, daily bars derived from the regular-session minutes when the
store lacks them, stored daily bars preferred, extended hours kept out, indicators that are
None with a warning when data is missing, ORCL's real 52-week high/low and 10-day volume, and
the days a backtest reads.

Expectations are recomputed here from the bars written or from the CSV rows (csv module only).
The 2024–2026 US_EQUITY calendar is seeded once into a template database that every test copies.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from support.stores import REPO, DailyRow, daily_rows, real_file, seed

from domain.bars import Bar
from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.history.indicators import MinuteValues
from domain.history.series import HistoricalData, data_requirements, load_historical, series_quality
from domain.store import Store, open_store
from ops.bar_files.importer import import_bar_file

NY = ZoneInfo("America/New_York")


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(*texts: str) -> tuple[date, ...]:
    return tuple(d(t) for t in texts)


def at(day: date, hour: int, minute: int = 0) -> int:
    """Epoch seconds of a New York wall time on ``day``."""
    return int(datetime.combine(day, time(hour, minute), tzinfo=NY).timestamp())


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


# ------------------------------------------------------------------------------------- stores


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store file seeded with US_EQUITY 2024–2026, closed (copied by each test)."""
    path = tmp_path_factory.mktemp("historical") / "template.db"
    store = open_store(f"sqlite:///{path}")
    seed(store, "US_EQUITY", start_year=2024, end_year=2026)
    store.close()
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "store.db"
    shutil.copyfile(template, path)
    for suffix in ("-wal", "-shm"):
        if Path(f"{template}{suffix}").exists():
            shutil.copyfile(f"{template}{suffix}", f"{path}{suffix}")
    opened = open_store(f"sqlite:///{path}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def calendar(store: Store) -> TradingCalendar:
    return TradingCalendar(store.calendar)


REAL_SHIFT = 4 * 3600  # the real minute files are stamped 4 hours late (see their README)


def import_real(store: Store, *symbols: str) -> None:
    """The real minute file of each symbol, imported shifted back to its true time stamps."""
    for symbol in symbols:
        path = real_file(f"{symbol}_2025-07-02_1m.csv")
        import_bar_file(store, path, symbol, "1m", "America/New_York", shift_seconds=-REAL_SHIFT)


# ------------------------------------------------------------------------------------- configs


def example() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((REPO / "session_configs" / "example_session.json").read_text())
    return raw


def config(
    data: list[dict[str, Any]],
    *,
    symbols: tuple[str, ...] = ("AAPL",),
    indicators: dict[str, Any] | None = None,
    streams: tuple[str, ...] = ("1m", "5m", "15m", "quotes"),
) -> SessionConfig:
    raw = example()
    section = raw["session_data_config"]
    section["symbols"] = list(symbols)
    section["streams"] = list(streams)
    section["historical"]["data"] = data
    section["historical"]["indicators"] = indicators or {}
    return SessionConfig.from_dict(raw)


# ---------------------------------------------------------------------------------- real rows


class Row(NamedTuple):
    ts: int
    date_et: str
    time_et: str
    open: float
    high: float
    low: float
    close: float
    volume: float


def real_rows(symbol: str) -> list[Row]:
    """The file's rows at their true time (its stamps less 4 hours), with their New York date and
    time (the file's own ``timestamp_et`` and ``time_et`` columns are 4 hours late too)."""
    rows = []
    with real_file(f"{symbol}_2025-07-02_1m.csv").open(newline="") as handle:
        for line in csv.DictReader(handle):
            moment = datetime.fromisoformat(line["timestamp"]) - timedelta(seconds=REAL_SHIFT)
            local = moment.astimezone(NY)
            rows.append(
                Row(
                    int(moment.timestamp()),
                    local.date().isoformat(),
                    local.time().isoformat(),
                    float(line["open"]),
                    float(line["high"]),
                    float(line["low"]),
                    float(line["close"]),
                    float(line["volume"]),
                )
            )
    return rows


def regular_rows(symbol: str) -> list[Row]:
    return [
        r for r in real_rows(symbol) if r.date_et == "2025-07-02" and "09:30:00" <= r.time_et < "16:00:00"
    ]


def daily_from_rows(symbol: str, rows: list[Row], day: date) -> Bar:
    return Bar(
        symbol,
        "1d",
        midnight(day),
        rows[0].open,
        max(r.high for r in rows),
        min(r.low for r in rows),
        rows[-1].close,
        sum(r.volume for r in rows),
    )


# ------------------------------------------------------------------------------ synthetic bars


def day_minutes(symbol: str, day: date, close_hour: int = 16) -> list[Bar]:
    """A pre-market, three regular and two post-market 1m bars; the price names the day."""
    price = 100.0 + day.day
    stamps = [at(day, 8), at(day, 9, 30), at(day, 12), at(day, close_hour - 1, 59), at(day, close_hour)]
    stamps.append(at(day, 17))
    return [Bar(symbol, "1m", ts, price, price + 1, price - 1, price, 1000.0) for ts in stamps]


def regular_of(bars: list[Bar], day: date, close_hour: int = 16) -> list[Bar]:
    return [b for b in bars if at(day, 9, 30) <= b.ts < at(day, close_hour)]


def daily_bar(symbol: str, day: date, volume: float = 5000.0) -> Bar:
    price = 50.0 + day.day
    return Bar(symbol, "1d", midnight(day), price, price + 2, price - 2, price + 1, volume)


JULY_WEEK = days("2025-06-30", "2025-07-01", "2025-07-02", "2025-07-03", "2025-07-07", "2025-07-08")
EARLY = {d("2025-07-03"): 13}


# ------------------------------------------------------------------------------ trailing windows


def test_three_days_of_1m_before_0707_are_0701_to_0703_even_with_bars_on_and_after_the_session(
    store: Store, calendar: TradingCalendar
) -> None:
    written = {day: day_minutes("AAPL", day, EARLY.get(day, 16)) for day in JULY_WEEK}
    store.bars.upsert([b for bars in written.values() for b in bars])
    data = load_historical(
        config([{"trailing_days": 3, "intervals": ["1m"]}]), d("2025-07-07"), calendar, store.bars
    )
    series = data.series[("AAPL", "1m")]
    window = days("2025-07-01", "2025-07-02", "2025-07-03")
    assert series.days == window
    assert set(series.day_ranges) == set(window)
    assert series.bars == [b for day in window for b in regular_of(written[day], day, EARLY.get(day, 16))]
    assert max(b.ts for b in series.bars) < at(d("2025-07-07"), 0)
    assert data.day == d("2025-07-07")
    assert d("2025-07-07") not in data.hours
    assert data.warnings == ()


def test_ten_days_of_1d_before_0702_skip_juneteenth_even_with_bars_on_and_after_the_session(
    store: Store, calendar: TradingCalendar
) -> None:
    stored = [
        daily_bar("AAPL", day)
        for day in calendar.get_trading_dates_in_range(d("2025-06-02"), d("2025-07-10"))
    ]
    store.bars.upsert(stored)
    data = load_historical(
        config([{"trailing_days": 10, "intervals": ["1d"]}]), d("2025-07-02"), calendar, store.bars
    )
    series = data.series[("AAPL", "1d")]
    window = days(
        "2025-06-17",
        "2025-06-18",
        "2025-06-20",
        "2025-06-23",
        "2025-06-24",
        "2025-06-25",
        "2025-06-26",
        "2025-06-27",
        "2025-06-30",
        "2025-07-01",
    )
    assert series.days == window
    assert series.bars == [daily_bar("AAPL", day) for day in window]
    assert series.derived_days == ()
    assert max(b.ts for b in series.bars) < midnight(d("2025-07-02"))
    assert data.warnings == ()


@pytest.mark.parametrize("session", ["2025-07-02", "2025-07-03", "2025-07-07", "2025-07-08"])
def test_no_historical_series_or_indicator_reads_the_session_day_or_later(
    store: Store, calendar: TradingCalendar, session: str
) -> None:
    every_day = calendar.get_trading_dates_in_range(d("2025-06-02"), d("2025-07-10"))
    store.bars.upsert(
        [daily_bar("AAPL", day, volume=1e9 if day >= d(session) else 100.0) for day in every_day]
        + [b for day in every_day for b in day_minutes("AAPL", day, EARLY.get(day, 16))]
    )
    cfg = config(
        [{"trailing_days": 3, "intervals": ["1m", "5m"]}, {"trailing_days": 5, "intervals": ["1d"]}],
        indicators={
            "max_volume": {"type": "trailing_max", "period": "5d", "field": "volume"},
            "avg_volume": {"type": "trailing_average", "period": "1w", "field": "volume"},
        },
    )
    data = load_historical(cfg, d(session), calendar, store.bars)
    session_open = at(d(session), 0)
    for series in data.series.values():
        assert series.days and max(series.days) < d(session)
        assert all(b.ts < session_open for b in series.bars)
    indicators = data.indicators["AAPL"]
    assert indicators["max_volume"].value == 100.0, "the session day's 1e9 volume is never seen"
    assert indicators["avg_volume"].value == 100.0


def test_entries_apply_to_their_symbols_and_overlapping_entries_are_a_union_of_days(
    store: Store, calendar: TradingCalendar
) -> None:
    cfg = config(
        [
            {"trailing_days": 3, "intervals": ["1m"], "apply_to": ["AAPL"]},
            {"trailing_days": 1, "intervals": ["1m", "1d"], "apply_to": "all"},
        ],
        symbols=("RIVN", "AAPL"),
    )
    data = load_historical(cfg, d("2025-07-07"), calendar, store.bars)
    assert set(data.series) == {("AAPL", "1m"), ("AAPL", "1d"), ("RIVN", "1m"), ("RIVN", "1d")}
    assert data.series[("AAPL", "1m")].days == days("2025-07-01", "2025-07-02", "2025-07-03")
    assert data.series[("RIVN", "1m")].days == days("2025-07-03")
    assert data.series[("AAPL", "1d")].days == data.series[("RIVN", "1d")].days == days("2025-07-03")


# --------------------------------------------------------------------------------- daily bars


def test_daily_bars_missing_from_the_store_are_derived_from_the_regular_session_minutes(
    store: Store, calendar: TradingCalendar
) -> None:
    import_real(store, "AAPL", "RIVN")
    cfg = config([{"trailing_days": 1, "intervals": ["1d"]}], symbols=("RIVN", "AAPL"))
    data = load_historical(cfg, d("2025-07-03"), calendar, store.bars)
    for symbol in ("AAPL", "RIVN"):
        series = data.series[(symbol, "1d")]
        assert series.days == days("2025-07-02")
        assert series.derived_days == days("2025-07-02")
        expected = daily_from_rows(symbol, regular_rows(symbol), d("2025-07-02"))
        assert series.bars == [expected]
    assert data.warnings == ()


def test_stored_daily_bars_are_preferred_to_the_minutes(store: Store, calendar: TradingCalendar) -> None:
    import_real(store, "AAPL")
    stored = Bar("AAPL", "1d", midnight(d("2025-07-02")), 1.0, 2.0, 0.5, 1.5, 42.0)
    store.bars.upsert([stored])
    data = load_historical(
        config([{"trailing_days": 1, "intervals": ["1d"]}]), d("2025-07-03"), calendar, store.bars
    )
    series = data.series[("AAPL", "1d")]
    assert series.bars == [stored]
    assert series.derived_days == ()


def test_a_daily_window_mixes_stored_derived_and_missing_days(
    store: Store, calendar: TradingCalendar
) -> None:
    import_real(store, "AAPL")
    moved_to_0701 = [Bar("AAPL", "1m", r.ts - 86_400, 1.0, 1.0, 1.0, 1.0, 1.0) for r in real_rows("AAPL")]
    stored_0701 = daily_bar("AAPL", d("2025-07-01"))
    store.bars.upsert([*moved_to_0701, stored_0701])
    data = load_historical(
        config([{"trailing_days": 3, "intervals": ["1d"]}]), d("2025-07-07"), calendar, store.bars
    )
    series = data.series[("AAPL", "1d")]
    assert series.days == days("2025-07-01", "2025-07-02", "2025-07-03")
    assert series.derived_days == days("2025-07-02")
    assert series.bars == [stored_0701, daily_from_rows("AAPL", regular_rows("AAPL"), d("2025-07-02"))]
    assert series.days_without_bars() == [d("2025-07-03")]
    (warning,) = data.warnings
    assert "AAPL 1d" in warning
    assert "1 of 3" in warning
    assert "2025-07-03" in warning
    assert series_quality(series, data.hours) == pytest.approx(200 / 3)


def test_derived_days_of_a_daily_series_are_only_days_of_that_series(
    store: Store, calendar: TradingCalendar
) -> None:
    """A 52-week indicator derives daily bars for its own days too; the 3-day 1d series must list
    only the series' days it derived (07-02), not the indicator's 06-02."""
    import_real(store, "AAPL")
    june_2 = [
        Bar("AAPL", "1m", at(d("2025-06-02"), 9, 30 + i), 10.0, 11.0, 9.0, 10.0, 100.0) for i in range(5)
    ]
    store.bars.upsert(june_2)
    cfg = config(
        [{"trailing_days": 3, "intervals": ["1d"]}],
        indicators={"high_52w": {"type": "trailing_max", "period": "52w", "field": "high"}},
    )
    data = load_historical(cfg, d("2025-07-07"), calendar, store.bars)
    series = data.series[("AAPL", "1d")]
    assert series.days == days("2025-07-01", "2025-07-02", "2025-07-03")
    assert series.bars == [daily_from_rows("AAPL", regular_rows("AAPL"), d("2025-07-02"))]
    assert set(series.derived_days) <= set(series.days)
    assert series.derived_days == days("2025-07-02")


# ------------------------------------------------------------------------------ intraday series


# shifted back, both files hold every regular minute; the rest is pre- and post-market
@pytest.mark.parametrize(("symbol", "count"), [("AAPL", 390), ("RIVN", 390)])
def test_intraday_historical_bars_are_the_regular_session_only(
    store: Store, calendar: TradingCalendar, symbol: str, count: int
) -> None:
    import_real(store, symbol)
    cfg = config([{"trailing_days": 1, "intervals": ["1m"]}], symbols=(symbol,))
    data = load_historical(cfg, d("2025-07-03"), calendar, store.bars)
    series = data.series[(symbol, "1m")]
    rows = regular_rows(symbol)
    assert len(rows) == count
    assert series.bars == [Bar(symbol, "1m", r.ts, r.open, r.high, r.low, r.close, r.volume) for r in rows]
    assert series_quality(series, data.hours) == 100 * count / 390


def test_historical_5m_bars_are_derived_from_complete_minute_windows(
    store: Store, calendar: TradingCalendar
) -> None:
    # the true day holds every minute: 10:02 and 13:47 are left out so two windows are incomplete
    dropped = {at(d("2025-07-02"), 10, 2), at(d("2025-07-02"), 13, 47)}
    rows = [r for r in real_rows("AAPL") if r.ts not in dropped]
    store.bars.upsert([Bar("AAPL", "1m", r.ts, r.open, r.high, r.low, r.close, r.volume) for r in rows])
    data = load_historical(
        config([{"trailing_days": 1, "intervals": ["5m"]}]), d("2025-07-03"), calendar, store.bars
    )
    series = data.series[("AAPL", "5m")]
    by_ts = {r.ts: r for r in regular_rows("AAPL") if r.ts not in dropped}
    expected = []
    for start in range(at(d("2025-07-02"), 9, 30), at(d("2025-07-02"), 16), 300):
        window = [by_ts.get(ts) for ts in range(start, start + 300, 60)]
        if all(r is not None for r in window):
            got = [r for r in window if r is not None]
            expected.append(
                Bar(
                    "AAPL",
                    "5m",
                    start,
                    got[0].open,
                    max(r.high for r in got),
                    min(r.low for r in got),
                    got[-1].close,
                    sum(r.volume for r in got),
                )
            )
    assert series.bars == expected and len(expected) == 78 - 2
    assert series.derived_days == days("2025-07-02")


# ------------------------------------------------------------------------------ missing data


def example_config(symbols: tuple[str, ...] = ("RIVN", "AAPL")) -> SessionConfig:
    raw = example()
    raw["session_data_config"]["symbols"] = list(symbols)
    return SessionConfig.from_dict(raw)


def test_indicators_over_missing_data_are_none_with_a_warning_never_zero(
    store: Store, calendar: TradingCalendar
) -> None:
    import_real(store, "AAPL")  # only 2025-07-02 of AAPL; nothing of RIVN
    data = load_historical(example_config(), d("2025-07-07"), calendar, store.bars)
    aapl, rivn = data.indicators["AAPL"], data.indicators["RIVN"]
    assert set(aapl) == set(rivn) == {"avg_volume", "avg_volume_intraday", "high_52w", "low_52w"}

    for name in ("avg_volume", "high_52w", "low_52w"):
        for symbol, results in (("AAPL", aapl), ("RIVN", rivn)):
            result = results[name]
            assert result.value is None, f"{symbol} {name}"
            assert result.warning is not None
            assert symbol in result.warning
            assert f"'{name}'" in result.warning
            assert result.warning in data.warnings
    avg = aapl["avg_volume"]
    assert avg.missing_days == [
        d(t)
        for t in (
            "2025-06-20",
            "2025-06-23",
            "2025-06-24",
            "2025-06-25",
            "2025-06-26",
            "2025-06-27",
            "2025-06-30",
            "2025-07-01",
            "2025-07-03",
        )
    ], "2025-07-02 has a daily bar derived from its minutes"
    assert avg.warning is not None
    for text in ("9 of 10", "2025-06-20..2025-07-01", "2025-07-03"):
        assert text in avg.warning
    assert len(rivn["avg_volume"].missing_days) == 10

    assert rivn["avg_volume_intraday"].value is None
    assert rivn["avg_volume_intraday"].warning is not None
    assert "RIVN" in rivn["avg_volume_intraday"].warning

    intraday = aapl["avg_volume_intraday"]
    assert isinstance(intraday.value, MinuteValues)
    volumes = {r.ts: r.volume for r in regular_rows("AAPL")}
    opened = at(d("2025-07-02"), 9, 30)
    assert intraday.value == [volumes.get(opened + 60 * i) for i in range(390)]
    assert intraday.warning is not None and "AAPL" in intraday.warning
    assert len(intraday.missing_days) == 9

    for results in (aapl, rivn):
        for result in results.values():
            assert result.value != 0.0
            if isinstance(result.value, MinuteValues):
                assert all(v is None or v > 0 for v in result.value), "no 0.0 placeholder minutes"


TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo_at(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime.combine(day, time(hour, minute), tzinfo=TOKYO).timestamp())


@pytest.fixture
def jp_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'jp.db'}")
    seed(opened, "JP_EQUITY", start_year=2025, end_year=2025)
    try:
        yield opened
    finally:
        opened.close()


def test_minute_indicator_of_a_tokyo_day_has_330_trading_minutes_and_the_afternoon_after_the_break(
    jp_store: Store,
) -> None:
    """09:00–11:30 and 12:30–15:30: entry 150 is 12:30, the last entry 15:29, none is a break."""
    calendar = TradingCalendar(jp_store.calendar, exchange_group="JP_EQUITY")
    period = days("2025-02-28", "2025-03-03", "2025-03-04")
    bars: list[Bar] = []
    for n, day in enumerate(period):
        morning = range(tokyo_at(day, 9), tokyo_at(day, 11, 30), 60)
        lunch = range(tokyo_at(day, 11, 30), tokyo_at(day, 12, 30), 60)
        afternoon = range(tokyo_at(day, 12, 30), tokyo_at(day, 15, 30), 60)
        trading = [*morning, *afternoon]
        assert len(trading) == 330
        bars += [Bar("7203", "1m", ts, 2500, 2501, 2499, 2500, 100.0 * n + i) for i, ts in enumerate(trading)]
        bars += [Bar("7203", "1m", ts, 2500, 2501, 2499, 2500, 1e9) for ts in lunch]  # filtered out
    jp_store.bars.upsert(bars)
    raw = example()
    raw["exchange_group"] = "JP_EQUITY"
    section = raw["session_data_config"]
    section["symbols"] = ["7203"]
    section["historical"]["data"] = []
    section["historical"]["indicators"] = {
        "avg_volume_intraday": {
            "type": "trailing_average",
            "period": "3d",
            "field": "volume",
            "granularity": "minute",
        }
    }

    data = load_historical(SessionConfig.from_dict(raw), d("2025-03-05"), calendar, jp_store.bars)

    result = data.indicators["7203"]["avg_volume_intraday"]
    assert result.warning is None and result.missing_days == []
    assert result.value == [100.0 + i for i in range(330)], (
        "each trading minute, break excluded, averages 3 days"
    )
    assert result.value[150] == 250.0, "the 12:30 bars (150, 250 and 350 shares)"


def test_series_without_bars_are_named_in_the_warnings(store: Store, calendar: TradingCalendar) -> None:
    data = load_historical(example_config(("AAPL",)), d("2025-07-07"), calendar, store.bars)
    assert data.series[("AAPL", "1m")].bar_count == 0
    assert data.series[("AAPL", "1d")].bar_count == 0
    series_warnings = [w for w in data.warnings if w.startswith("AAPL 1")]
    assert len(series_warnings) == 2
    assert any("AAPL 1m" in w and "3 of 3" in w and "2025-07-01..2025-07-03" in w for w in series_warnings)
    assert any("AAPL 1d" in w and "10 of 10" in w for w in series_warnings)
    assert all(r.value is None for r in data.indicators["AAPL"].values())


# ---------------------------------------------------------------------------------- real ORCL


Daily = DailyRow


@pytest.fixture(scope="module")
def orcl_rows() -> list[Daily]:
    return daily_rows("ORCL_1995-2014_1d.csv")


@pytest.fixture(scope="module")
def orcl_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('orcl') / 'orcl.db'}")
    seed(store, "US_EQUITY", start_year=1994, end_year=2015)
    import_bar_file(store, real_file("ORCL_1995-2014_1d.csv"), "ORCL", "1d", "America/New_York")
    try:
        yield store
    finally:
        store.close()


ORCL_CONFIG = {
    "high_52w": {"type": "trailing_max", "period": "52w", "field": "high"},
    "low_52w": {"type": "trailing_min", "period": "52w", "field": "low"},
    "avg_volume": {"type": "trailing_average", "period": "10d", "field": "volume"},
}


def orcl_historical(store: Store, session: date) -> HistoricalData:
    cfg = config(
        [{"trailing_days": 10, "intervals": ["1d"]}],
        symbols=("ORCL",),
        indicators=ORCL_CONFIG,
        streams=("1d",),
    )
    return load_historical(cfg, session, TradingCalendar(store.calendar), store.bars)


@pytest.mark.parametrize("session", ["2008-10-15", "2001-09-17", "2014-12-31", "2000-03-27", "1996-01-02"])
def test_orcl_52_week_high_low_and_10_day_volume_match_the_csv(
    orcl_store: Store, orcl_rows: list[Daily], session: str
) -> None:
    session_day = d(session)
    year = [r for r in orcl_rows if session_day - timedelta(days=364) <= r.day < session_day]
    last_ten = [r for r in orcl_rows if r.day < session_day][-10:]
    data = orcl_historical(orcl_store, session_day)
    values = {name: result.value for name, result in data.indicators["ORCL"].items()}
    assert values["high_52w"] == max(r.high for r in year)
    assert values["low_52w"] == min(r.low for r in year)
    assert values["avg_volume"] == pytest.approx(sum(r.volume for r in last_ten) / 10, rel=1e-12)
    assert data.series[("ORCL", "1d")].bars == [
        Bar("ORCL", "1d", midnight(r.day), r.open, r.high, r.low, r.close, r.volume) for r in last_ten
    ]
    assert data.warnings == ()


def test_orcl_lehman_week_figures(orcl_store: Store) -> None:
    """Pinned from the CSV: high of 2008-08-08, low of 2008-09-19, volumes of 10-01..10-14."""
    values = {n: r.value for n, r in orcl_historical(orcl_store, d("2008-10-15")).indicators["ORCL"].items()}
    assert values["high_52w"] == 23.620001
    assert values["low_52w"] == 15.0
    assert values["avg_volume"] == pytest.approx(62_133_550.0, rel=1e-12)


def test_orcl_52_weeks_reaching_before_the_file_are_none_with_a_warning(
    orcl_store: Store, orcl_rows: list[Daily]
) -> None:
    """Session 1995-06-01: its 52 weeks start in 1994, which the file does not hold."""
    data = orcl_historical(orcl_store, d("1995-06-01"))
    results = data.indicators["ORCL"]
    for name in ("high_52w", "low_52w"):
        assert results[name].value is None
        assert results[name].missing_days[0] == d("1995-06-01") - timedelta(days=364) == d("1994-06-02")
        assert results[name].missing_days[-1] == d("1994-12-30")
        assert results[name].warning is not None and "ORCL" in results[name].warning
    last_ten = [r.volume for r in orcl_rows if r.day < d("1995-06-01")][-10:]
    assert results["avg_volume"].value == pytest.approx(sum(last_ten) / 10, rel=1e-12)


# ------------------------------------------------------------------------------ requirements


US_HOLIDAYS_2024_2025 = set(
    days(
        "2024-07-04",
        "2024-09-02",
        "2024-11-28",
        "2024-12-25",
        "2025-01-01",
        "2025-01-09",
        "2025-01-20",
        "2025-02-17",
        "2025-04-18",
        "2025-05-26",
        "2025-06-19",
        "2025-07-04",
    )
)


def weekdays_without_holidays(first: date, last: date) -> list[date]:
    out = []
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in US_HOLIDAYS_2024_2025:
            out.append(day)
        day += timedelta(days=1)
    return out


def test_data_requirements_of_the_example_list_session_and_trailing_days(calendar: TradingCalendar) -> None:
    cfg = SessionConfig.from_dict(example())
    needs = data_requirements(cfg, calendar)
    assert set(needs) == {"1m", "1d"}
    sessions = list(days("2025-07-02", "2025-07-03", "2025-07-07"))
    assert set(sessions) <= set(needs["1m"])
    # 1m: the sessions, 3 trailing days of 1m and the 10-day minute indicator of each session
    assert needs["1m"] == weekdays_without_holidays(d("2025-06-17"), d("2025-07-07"))
    # 1d: 52 weeks (364 days) before 07-02 through the day before 07-07
    assert needs["1d"] == weekdays_without_holidays(d("2025-07-02") - timedelta(days=364), d("2025-07-03"))
    assert needs["1d"][0] == d("2024-07-03")
    assert d("2025-07-07") not in needs["1d"]
