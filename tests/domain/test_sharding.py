"""Sharded runs, the pure half: planning shards of a config and merging their reports.

The merge is checked here on report objects built by hand (the real engine's reports, single
and sharded, are compared in ``tests/ops/test_shards.py``): each shard sees only its symbols,
so the merged day sums their counts, keeps each symbol's warnings in the config's symbol order,
and keeps a warning about the whole day only where every shard gave it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.config import SessionConfig
from domain.report import DaySummary, RunReport, SymbolDay, run_report, warning_symbol
from domain.session.windows import DayHours
from domain.sharding import merge_reports, plan_shards

NY = ZoneInfo("America/New_York")
DAYS = (date(2025, 7, 2), date(2025, 7, 3), date(2025, 7, 7))


def config(
    symbols: tuple[str, ...] = ("AAPL", "MSFT", "NVDA", "RIVN", "TSLA"), **historical: object
) -> SessionConfig:
    return SessionConfig.from_dict(
        {
            "session_name": "shards",
            "mode": "backtest",
            "backtest_config": {"start_date": "2025-07-02", "end_date": "2025-07-07"},
            "session_data_config": {
                "symbols": list(symbols),
                "streams": ["1m", "5m"],
                "historical": historical,
            },
            "trading_config": {
                "max_buying_power": 100000.0,
                "max_per_trade": 10000.0,
                "max_per_symbol": 20000.0,
                "max_open_positions": 5,
            },
            "api_config": {"data_api": "alpaca", "trade_api": "alpaca"},
        }
    )


def hours(day: date) -> DayHours:
    def at(hour: int) -> int:
        return int(datetime(day.year, day.month, day.day, hour, tzinfo=NY).timestamp())

    return DayHours(day, at(9) + 1800, at(16))


def symbol_day() -> SymbolDay:
    return SymbolDay(session={}, historical={}, indicators={}, metrics=None)


def summary(day: date, symbols: tuple[str, ...], warnings: tuple[str, ...] = (), **counts: int) -> DaySummary:
    return DaySummary(
        hours=hours(day),
        timezone="America/New_York",
        symbols={symbol: symbol_day() for symbol in symbols},
        bars_streamed=counts.get("bars", 390 * len(symbols)),
        bars_derived=counts.get("derived", 78 * len(symbols)),
        refused={"extended hours": counts.get("refused", 10)},
        warnings=warnings,
        quotes_streamed=counts.get("quotes", 0),
    )


def report(cfg: SessionConfig, days: list[DaySummary], run: tuple[str, ...] = (), **kw: object) -> RunReport:
    made = run_report(cfg, "completed", days, list(run), None, {}, 0.0)
    return replace(made, **kw) if kw else made  # type: ignore[arg-type]


# ------------------------------------------------------------------ planning


def test_by_symbol_splits_the_symbols_in_order_into_near_equal_slices() -> None:
    shards = plan_shards(config(), DAYS, 2, "symbol")
    assert [s.symbols for s in shards] == [("AAPL", "MSFT", "NVDA"), ("RIVN", "TSLA")]
    assert all(s.days == DAYS for s in shards)
    assert [s.describe() for s in shards] == ["shard 1/2 (AAPL..NVDA)", "shard 2/2 (RIVN..TSLA)"]


def test_more_shards_than_symbols_gives_one_shard_per_symbol() -> None:
    shards = plan_shards(config(("AAPL", "RIVN")), DAYS, 8, "symbol")
    assert [s.symbols for s in shards] == [("AAPL",), ("RIVN",)]
    assert [s.count for s in shards] == [2, 2]
    assert shards[1].describe() == "shard 2/2 (RIVN)"


def test_historical_entries_keep_only_the_shards_symbols_and_go_when_none_is_left() -> None:
    cfg = config(
        data=[
            {"trailing_days": 3, "intervals": ["1m"], "apply_to": "all"},
            {"trailing_days": 10, "intervals": ["1d"], "apply_to": ["TSLA", "AAPL"]},
        ]
    )
    first, second = plan_shards(cfg, DAYS, 2, "symbol")
    assert [d.apply_to for d in first.config.session_data_config.historical.data] == ["all", ("AAPL",)]
    assert [d.apply_to for d in second.config.session_data_config.historical.data] == ["all", ("TSLA",)]
    lone = plan_shards(cfg, DAYS, 5, "symbol")[1]  # MSFT: the listed entry does not apply
    assert [d.apply_to for d in lone.config.session_data_config.historical.data] == ["all"]


def test_by_date_splits_the_trading_days_and_narrows_each_window() -> None:
    shards = plan_shards(config(), DAYS, 2, "date")
    assert [s.days for s in shards] == [DAYS[:2], DAYS[2:]]
    windows = [(s.config.backtest_config.start_date, s.config.backtest_config.end_date) for s in shards]  # type: ignore[union-attr]
    assert windows == [(DAYS[0], DAYS[1]), (DAYS[2], DAYS[2])]
    assert all(s.symbols == config().symbols for s in shards)
    assert shards[0].describe() == "shard 1/2 (2025-07-02..2025-07-03)"


def test_planning_refuses_what_cannot_be_sharded() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_shards(config(), DAYS, 0, "symbol")
    live = config().to_dict() | {"mode": "live"}
    del live["backtest_config"]
    with pytest.raises(ValueError, match="only a backtest"):
        plan_shards(SessionConfig.from_dict(live), DAYS, 2, "symbol")


# ------------------------------------------------------------------ merging


def test_a_warning_belongs_to_the_symbol_it_starts_with() -> None:
    symbols = ("AAPL", "RIVN")
    assert warning_symbol("RIVN 1m: no bars stored for 2025-07-02; quality 0 %", symbols) == "RIVN"
    assert warning_symbol("AAPL: stamps look 4:00 late", symbols) == "AAPL"
    assert warning_symbol("quotes: none stored for 2025-07-02; the day streams bars only", symbols) is None
    assert warning_symbol("MSFT 1m: no bars", symbols) is None  # not a symbol of the run


def test_merging_by_symbol_joins_each_day() -> None:
    cfg = config(("AAPL", "MSFT", "RIVN"))
    first, second = plan_shards(cfg, DAYS[:1], 2, "symbol")
    quotes = "quotes: none stored for 2025-07-02; the day streams bars only"
    left = summary(
        DAYS[0],
        ("AAPL", "MSFT"),
        (quotes, "AAPL 1d: no historical bars", "MSFT 1m: no bars stored"),
        quotes=0,
    )
    right = summary(
        DAYS[0], ("RIVN",), ("RIVN 1m: no bars stored", "RIVN: stamps look 4:00 late"), quotes=500
    )
    merged = merge_reports(
        cfg, (first, second), [report(first.config, [left]), report(second.config, [right])], speed=0.0
    )
    (day,) = merged.days
    assert list(day.symbols) == ["AAPL", "MSFT", "RIVN"]
    assert (day.bars_streamed, day.bars_derived, day.quotes_streamed) == (3 * 390, 3 * 78, 500)
    assert day.refused == {"extended hours": 20}
    # RIVN's shard held quotes: the run as a whole did, so "none stored" does not stand
    assert day.warnings == (
        "AAPL 1d: no historical bars",
        "MSFT 1m: no bars stored",
        "RIVN 1m: no bars stored",
        "RIVN: stamps look 4:00 late",
    )
    assert merged.symbols == cfg.symbols and merged.status == "completed"
    assert merged.warnings == tuple(f"2025-07-02: {w}" for w in day.warnings)


def test_a_warning_about_the_whole_day_stands_when_every_shard_gave_it() -> None:
    cfg = config(("AAPL", "RIVN"))
    shards = plan_shards(cfg, DAYS[:1], 2, "symbol")
    quotes = "quotes: none stored for 2025-07-02; the day streams bars only"
    parts = [report(s.config, [summary(DAYS[0], s.symbols, (quotes,))]) for s in shards]
    assert merge_reports(cfg, shards, parts, speed=0.0).days[0].warnings == (quotes,)


def test_the_runs_own_warnings_come_once_and_a_failed_shard_fails_the_run() -> None:
    cfg = config(("AAPL", "RIVN"))
    shards = plan_shards(cfg, DAYS, 2, "symbol")
    ticks = "ticks: ignored in backtest mode (SPEC §5)"
    ok = report(shards[0].config, [summary(d, ("AAPL",)) for d in DAYS], (ticks,))
    failed = report(
        shards[1].config, [summary(DAYS[0], ("RIVN",))], (ticks,), status="failed", error="store went away"
    )
    merged = merge_reports(cfg, shards, [ok, failed], speed=0.0)
    assert merged.status == "failed"
    assert merged.error == "shard 2/2 (RIVN): store went away"
    assert merged.warnings == (ticks,)
    assert [d.day for d in merged.days] == [DAYS[0]]  # the days every shard reached


def test_merging_by_date_puts_the_days_in_order() -> None:
    cfg = config(("AAPL",))
    shards = plan_shards(cfg, DAYS, 3, "date")
    parts = [report(s.config, [summary(s.days[0], ("AAPL",), ("AAPL 1m: thin",))]) for s in shards]
    merged = merge_reports(cfg, shards, parts, speed=0.0)
    assert [d.day for d in merged.days] == list(DAYS)
    assert (merged.start_date, merged.end_date) == (DAYS[0], DAYS[-1])
    assert merged.warnings == tuple(f"{d.isoformat()}: AAPL 1m: thin" for d in DAYS)
    single = run_report(cfg, "completed", [p.days[0] for p in parts], [], None, {}, 0.0)
    assert merged.comparable() == single.comparable()


def test_restarts_name_their_shard() -> None:
    cfg = config(("AAPL", "RIVN"))
    shards = plan_shards(cfg, DAYS[:1], 2, "symbol")
    parts = [
        report(
            s.config,
            [summary(DAYS[0], s.symbols)],
            restarts=(("quality_calculator #2: boom",) if s.index else ()),
        )
        for s in shards
    ]
    assert merge_reports(cfg, shards, parts, speed=0.0).restarts == (
        "shard 2/2 (RIVN): quality_calculator #2: boom",
    )
