"""Session config (SPEC §3): shipped files, every rule's violation path, loading errors, round trips."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.config import IndicatorConfig, SessionConfig
from domain.errors import ConfigError, Violation
from domain.intervals import Interval

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "session_configs"
EXAMPLE = CONFIG_DIR / "example_session.json"
SHIPPED = sorted(CONFIG_DIR.glob("*.json"))
EXAMPLE_DATA: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))


def example() -> dict[str, Any]:
    """A fresh deep copy of the example config's raw JSON data."""
    return copy.deepcopy(EXAMPLE_DATA)


def violations(data: object) -> dict[str, str]:
    """Load ``data`` expecting a ConfigError; its violations as {path: message}."""
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_dict(data)
    found = info.value.violations
    assert all(isinstance(v, Violation) for v in found)
    return {v.path: v.message for v in found}


# -- shipped configs ----------------------------------------------------------------------------


def test_session_configs_directory_holds_the_three_documented_examples() -> None:
    names = {p.name for p in SHIPPED}
    assert {"example_session.json", "live_session_example.json", "minimal_session.json"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    config = SessionConfig.from_file(path)
    assert config.session_data_config.symbols


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_round_trips_through_to_dict_and_json(path: Path) -> None:
    config = SessionConfig.from_file(path)
    assert SessionConfig.from_dict(config.to_dict()) == config
    assert SessionConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert SessionConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_example_session_has_the_seed_values() -> None:
    config = SessionConfig.from_file(EXAMPLE)
    assert config.session_name == "Example Trading Session"
    assert (config.exchange_group, config.asset_class, config.mode) == ("US_EQUITY", "EQUITY", "backtest")
    bt = config.backtest_config
    assert bt is not None
    assert (bt.start_date, bt.end_date) == (date(2025, 7, 2), date(2025, 7, 7))
    assert (bt.speed_multiplier, bt.prefetch_days) == (360.0, 3)
    data = config.session_data_config
    assert data.symbols == ("RIVN", "AAPL")
    assert data.streams == ("1m", "5m", "15m", "quotes")
    historical = data.historical
    assert historical.enable_quality is True
    assert [(d.trailing_days, d.intervals, d.apply_to) for d in historical.data] == [
        (3, (Interval.parse("1m"),), "all"),
        (10, (Interval.parse("1d"),), "all"),
    ]
    ind = historical.indicators
    assert set(ind) == {"avg_volume", "avg_volume_intraday", "high_52w", "low_52w"}
    assert (ind["avg_volume"].type, ind["avg_volume"].period, ind["avg_volume"].field) == (
        "trailing_average",
        "10d",
        "volume",
    )
    assert ind["avg_volume"].granularity == "daily"
    assert ind["avg_volume_intraday"].granularity == "minute"
    assert (ind["high_52w"].type, ind["high_52w"].period, ind["high_52w"].field) == (
        "trailing_max",
        "52w",
        "high",
    )
    assert (ind["low_52w"].type, ind["low_52w"].period, ind["low_52w"].field) == (
        "trailing_min",
        "52w",
        "low",
    )
    assert all(i.skip_early_close is False for i in ind.values())
    gap = data.gap_filler
    assert (gap.max_retries, gap.retry_interval_seconds, gap.enable_session_quality) == (5, 60, True)
    t = config.trading_config
    assert (t.max_buying_power, t.max_per_trade, t.max_per_symbol, t.max_open_positions) == (
        100000.0,
        10000.0,
        20000.0,
        5,
    )
    assert (config.api_config.data_api, config.api_config.trade_api) == ("alpaca", "alpaca")
    assert config.api_config.account_id is None


def test_example_session_json_carries_comment_keys() -> None:
    assert "_comment" in EXAMPLE_DATA
    assert "_comment" in EXAMPLE_DATA["backtest_config"]


def test_live_example_is_a_live_session_on_the_replay_provider() -> None:
    config = SessionConfig.from_file(CONFIG_DIR / "live_session_example.json")
    assert config.mode == "live"
    assert not config.is_backtest
    assert config.session_data_config.symbols == ("RIVN", "AAPL")
    assert (config.api_config.data_api, config.api_config.trade_api) == ("replay", "paper")


def test_minimal_session_gets_every_default() -> None:
    config = SessionConfig.from_file(CONFIG_DIR / "minimal_session.json")
    assert (config.exchange_group, config.asset_class) == ("US_EQUITY", "EQUITY")
    assert config.backtest_config is not None
    assert (config.backtest_config.speed_multiplier, config.backtest_config.prefetch_days) == (0.0, 1)
    historical = config.session_data_config.historical
    assert (historical.enable_quality, historical.data, historical.indicators) == (True, (), {})
    gap = config.session_data_config.gap_filler
    assert (gap.max_retries, gap.retry_interval_seconds, gap.enable_session_quality) == (5, 60, True)
    assert config.session_data_config.extended_hours is False
    assert config.metadata is None


def test_minimal_session_has_only_required_keys() -> None:
    """Removing any key of the minimal config makes it invalid."""
    raw = json.loads((CONFIG_DIR / "minimal_session.json").read_text(encoding="utf-8"))

    def leaves(node: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        out = []
        for key, value in node.items():
            out.append((*prefix, key))
            if isinstance(value, dict):
                out.extend(leaves(value, (*prefix, key)))
        return out

    for path in leaves(raw, ()):
        data = copy.deepcopy(raw)
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        with pytest.raises(ConfigError):
            SessionConfig.from_dict(data)


# -- derived accessors and normalisation ------------------------------------------------------------


def test_example_accessors_give_base_derived_and_quotes() -> None:
    config = SessionConfig.from_file(EXAMPLE)
    assert config.bar_intervals == [Interval.parse(s) for s in ("1m", "5m", "15m")]
    assert config.base_interval == Interval.parse("1m")
    assert config.derived_intervals == [Interval.parse("5m"), Interval.parse("15m")]
    assert config.wants_quotes is True
    assert config.wants_ticks is False
    assert config.symbols == ("RIVN", "AAPL")


@pytest.mark.parametrize(
    ("streams", "base", "derived"),
    [
        (["15m", "1s", "5s"], "1s", ["5s", "15m"]),
        (["5m"], "1m", ["5m"]),
        (["1d"], "1d", []),
        (["1d", "1m"], "1m", ["1d"]),
        (["quotes", "ticks"], None, []),
    ],
)
def test_stream_marking_picks_the_base(streams: list[str], base: str | None, derived: list[str]) -> None:
    data = example()
    data["session_data_config"]["streams"] = streams
    config = SessionConfig.from_dict(data)
    assert config.base_interval == (Interval.parse(base) if base else None)
    assert config.derived_intervals == [Interval.parse(s) for s in derived]
    assert config.bar_intervals == sorted(config.bar_intervals)


def test_hour_intervals_are_normalised_to_minutes_everywhere() -> None:
    data = example()
    data["session_data_config"]["streams"] = ["1m", "1h", "120s", "ticks"]
    data["session_data_config"]["historical"]["data"][0]["intervals"] = ["1h", "1m"]
    config = SessionConfig.from_dict(data)
    assert config.session_data_config.streams == ("1m", "60m", "2m", "ticks")
    assert config.session_data_config.historical.data[0].intervals == (Interval(3600), Interval(60))
    dumped = config.to_dict()
    assert dumped["session_data_config"]["streams"] == ["1m", "60m", "2m", "ticks"]
    assert dumped["session_data_config"]["historical"]["data"][0]["intervals"] == ["60m", "1m"]
    assert config.wants_ticks is True


def test_symbols_are_normalised_to_stripped_upper_case() -> None:
    data = example()
    data["session_data_config"]["symbols"] = [" rivn", "Aapl "]
    data["session_data_config"]["historical"]["data"][0]["apply_to"] = ["aapl"]
    config = SessionConfig.from_dict(data)
    assert config.session_data_config.symbols == ("RIVN", "AAPL")
    assert config.session_data_config.historical.data[0].apply_to == ("AAPL",)
    assert config.session_data_config.historical.data[0].applies_to("AAPL")
    assert not config.session_data_config.historical.data[0].applies_to("RIVN")


def test_to_dict_is_plain_json_with_iso_dates() -> None:
    dumped = SessionConfig.from_file(EXAMPLE).to_dict()
    assert dumped["backtest_config"]["start_date"] == "2025-07-02"
    assert dumped["backtest_config"]["end_date"] == "2025-07-07"
    assert json.loads(json.dumps(dumped, allow_nan=False)) == dumped
    assert not any(k.startswith("_") for k in dumped)
    assert "_comment" not in dumped["backtest_config"]


@pytest.mark.parametrize(
    ("period", "count", "days"),
    [("10d", 10, None), ("52w", 52, 364), ("3m", 3, 90), ("1y", 1, 365)],
)
def test_indicator_period_accessors(period: str, count: int, days: int | None) -> None:
    indicator = IndicatorConfig(type="trailing_max", period=period, field="high")
    assert (indicator.period_count, indicator.period_calendar_days) == (count, days)


def test_integers_are_accepted_for_float_fields() -> None:
    data = example()
    data["backtest_config"]["speed_multiplier"] = 0
    data["trading_config"]["max_buying_power"] = 100000
    config = SessionConfig.from_dict(data)
    assert config.trading_config.max_buying_power == 100000.0
    assert isinstance(config.trading_config.max_buying_power, float)
    assert isinstance(config.backtest_config.speed_multiplier if config.backtest_config else None, float)


def test_live_mode_needs_no_backtest_config() -> None:
    data = example()
    data["mode"] = "live"
    del data["backtest_config"]
    config = SessionConfig.from_dict(data)
    assert config.backtest_config is None
    assert "backtest_config" not in config.to_dict()
    assert SessionConfig.from_dict(config.to_dict()) == config


def test_live_mode_keeps_a_present_backtest_config() -> None:
    """Allowed and validated in live mode (the engine ignores it); kept so the config round-trips."""
    data = example()
    data["mode"] = "live"
    config = SessionConfig.from_dict(data)
    assert config.backtest_config is not None
    data["backtest_config"]["prefetch_days"] = 0
    assert "backtest_config.prefetch_days" in violations(data)


def test_equal_configs_are_equal_and_hash_equal() -> None:
    a, b = SessionConfig.from_file(EXAMPLE), SessionConfig.from_dict(example())
    assert a == b
    assert hash(a) == hash(b)


def test_configs_are_frozen() -> None:
    config = SessionConfig.from_file(EXAMPLE)
    with pytest.raises(ValueError, match="frozen"):
        config.session_name = "other"


def test_account_id_and_metadata_round_trip() -> None:
    data = example()
    data["api_config"]["account_id"] = "PA-123"
    data["metadata"] = {"_private": [1, 2.5, None, {"x": "ü"}], "note": "anything goes"}
    config = SessionConfig.from_dict(data)
    assert config.api_config.account_id == "PA-123"
    assert config.metadata == data["metadata"], "metadata is kept verbatim, _ keys included"
    assert SessionConfig.from_dict(config.to_dict()) == config


# -- comments and unknown keys ------------------------------------------------------------------


def test_comment_keys_are_accepted_at_every_level_and_dropped() -> None:
    data = example()
    data["_note"] = "top"
    data["session_data_config"]["_note"] = 1
    data["session_data_config"]["historical"]["_note"] = [1, 2]
    data["session_data_config"]["historical"]["data"][1]["_note"] = {"x": 1}
    data["session_data_config"]["historical"]["indicators"]["high_52w"]["_note"] = None
    data["session_data_config"]["gap_filler"]["_"] = "x"
    data["trading_config"]["_note"] = "t"
    data["api_config"]["_note"] = "a"
    config = SessionConfig.from_dict(data)
    assert config == SessionConfig.from_file(EXAMPLE)
    assert "_note" not in json.dumps(config.to_dict())


def test_unknown_key_is_an_error_with_a_suggestion() -> None:
    data = example()
    data["session_data_config"]["symbolz"] = ["MSFT"]
    assert violations(data) == {"session_data_config.symbolz": "unknown key (did you mean 'symbols'?)"}


@pytest.mark.parametrize(
    ("path", "key", "expected_path", "suggestion"),
    [
        ((), "sesion_name", "sesion_name", "session_name"),
        (("backtest_config",), "speed_multiplyer", "backtest_config.speed_multiplyer", "speed_multiplier"),
        (
            ("session_data_config", "historical", "data", 1),
            "trailing_day",
            "session_data_config.historical.data.1.trailing_day",
            "trailing_days",
        ),
        (
            ("session_data_config", "historical", "indicators", "low_52w"),
            "feild",
            "session_data_config.historical.indicators.low_52w.feild",
            "field",
        ),
        (
            ("session_data_config", "gap_filler"),
            "max_retry",
            "session_data_config.gap_filler.max_retry",
            "max_retries",
        ),
        (("api_config",), "acount_id", "api_config.acount_id", "account_id"),
    ],
)
def test_unknown_keys_at_every_level_suggest_the_field_valid_there(
    path: tuple[str | int, ...], key: str, expected_path: str, suggestion: str
) -> None:
    data = example()
    node: Any = data
    for part in path:
        node = node[part]
    node[key] = 1
    found = violations(data)
    assert found[expected_path] == f"unknown key (did you mean {suggestion!r}?)"


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    data = example()
    data["api_config"]["zzz"] = 1
    assert violations(data) == {
        "api_config.zzz": "unknown key (expected one of: data_api, trade_api, account_id)"
    }


# -- one violation per rule ---------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(*path: str | int, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _delete(*path: str | int) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


SDC = "session_data_config"
HIST = (SDC, "historical")
IND = (*HIST, "indicators", "high_52w")

RULES: list[tuple[str, Mutation, str, str]] = [
    # (case id, mutation, violation path, message or message fragment)
    ("session_name blank", _set("session_name", value="  "), "session_name", "must not be blank"),
    ("session_name missing", _delete("session_name"), "session_name", "required"),
    ("exchange_group blank", _set("exchange_group", value=""), "exchange_group", "must not be blank"),
    ("mode unknown", _set("mode", value="paper"), "mode", "must be 'backtest' or 'live', got string 'paper'"),
    (
        "backtest_config missing",
        _delete("backtest_config"),
        "backtest_config",
        "required when mode is 'backtest'",
    ),
    ("backtest_config null", _set("backtest_config", value=None), "backtest_config", "required when mode is"),
    (
        "start_date not a date",
        _set("backtest_config", "start_date", value="07/02/2025"),
        "backtest_config.start_date",
        "expected a date YYYY-MM-DD, got string '07/02/2025'",
    ),
    (
        "start_date impossible",
        _set("backtest_config", "start_date", value="2025-02-30"),
        "backtest_config.start_date",
        "invalid date '2025-02-30'",
    ),
    (
        "end before start",
        _set("backtest_config", "end_date", value="2025-07-01"),
        "backtest_config.end_date",
        "must be on or after start_date (2025-07-02), got 2025-07-01",
    ),
    (
        "speed negative",
        _set("backtest_config", "speed_multiplier", value=-1),
        "backtest_config.speed_multiplier",
        "must be >= 0",
    ),
    (
        "speed a string",
        _set("backtest_config", "speed_multiplier", value="fast"),
        "backtest_config.speed_multiplier",
        "expected a number, got string 'fast'",
    ),
    (
        "speed NaN",
        _set("backtest_config", "speed_multiplier", value=math.nan),
        "backtest_config.speed_multiplier",
        "must be a finite number",
    ),
    (
        "prefetch zero",
        _set("backtest_config", "prefetch_days", value=0),
        "backtest_config.prefetch_days",
        "must be >= 1, got 0",
    ),
    (
        "prefetch float",
        _set("backtest_config", "prefetch_days", value=1.5),
        "backtest_config.prefetch_days",
        "expected an integer, got number 1.5",
    ),
    ("symbols empty", _set(SDC, "symbols", value=[]), f"{SDC}.symbols", "must not be empty"),
    ("symbols missing", _delete(SDC, "symbols"), f"{SDC}.symbols", "required"),
    (
        "symbols duplicate after normalising",
        _set(SDC, "symbols", value=["AAPL", " aapl"]),
        f"{SDC}.symbols.1",
        "duplicate symbol 'AAPL' (same as index 0)",
    ),
    ("symbol blank", _set(SDC, "symbols", value=["AAPL", " "]), f"{SDC}.symbols.1", "must not be blank"),
    (
        "symbol not a string",
        _set(SDC, "symbols", value=["AAPL", 7]),
        f"{SDC}.symbols.1",
        "expected a string, got number 7",
    ),
    ("symbols a string", _set(SDC, "symbols", value="AAPL"), f"{SDC}.symbols", "expected a list"),
    ("streams empty", _set(SDC, "streams", value=[]), f"{SDC}.streams", "must not be empty"),
    ("stream invalid", _set(SDC, "streams", value=["1m", "5x"]), f"{SDC}.streams.1", "invalid interval '5x'"),
    ("stream 2d", _set(SDC, "streams", value=["2d"]), f"{SDC}.streams.0", "only 1d is supported"),
    (
        "stream misspelt",
        _set(SDC, "streams", value=["1m", "quote"]),
        f"{SDC}.streams.1",
        "(did you mean 'quotes'?)",
    ),
    (
        "streams duplicate after normalising",
        _set(SDC, "streams", value=["1m", "1h", "60m"]),
        f"{SDC}.streams.2",
        "duplicate stream '60m' (same as index 1)",
    ),
    (
        "trailing_days zero",
        _set(*HIST, "data", 0, "trailing_days", value=0),
        f"{SDC}.historical.data.0.trailing_days",
        "must be > 0, got 0",
    ),
    (
        "historical intervals empty",
        _set(*HIST, "data", 1, "intervals", value=[]),
        f"{SDC}.historical.data.1.intervals",
        "must not be empty",
    ),
    (
        "historical interval invalid",
        _set(*HIST, "data", 1, "intervals", value=["1d", "daily"]),
        f"{SDC}.historical.data.1.intervals.1",
        "invalid interval 'daily'",
    ),
    (
        "historical intervals duplicate",
        _set(*HIST, "data", 1, "intervals", value=["1h", "60m"]),
        f"{SDC}.historical.data.1.intervals.1",
        "duplicate interval '60m'",
    ),
    (
        "apply_to symbol unknown",
        _set(*HIST, "data", 0, "apply_to", value=["AAPL", "MSFT"]),
        f"{SDC}.historical.data.0.apply_to.1",
        "symbol 'MSFT' is not in session_data_config.symbols",
    ),
    (
        "apply_to other string",
        _set(*HIST, "data", 0, "apply_to", value="everything"),
        f"{SDC}.historical.data.0.apply_to",
        "expected 'all' or a list of symbols, got string 'everything'",
    ),
    (
        "apply_to empty",
        _set(*HIST, "data", 0, "apply_to", value=[]),
        f"{SDC}.historical.data.0.apply_to",
        "non-empty list of symbols",
    ),
    (
        "enable_quality a string",
        _set(*HIST, "enable_quality", value="true"),
        f"{SDC}.historical.enable_quality",
        "expected true or false, got string 'true'",
    ),
    (
        "indicator type unknown",
        _set(*IND, "type", value="trailing_median"),
        f"{SDC}.historical.indicators.high_52w.type",
        "must be 'trailing_average', 'trailing_max' or 'trailing_min'",
    ),
    (
        "indicator period no unit",
        _set(*IND, "period", value="52"),
        f"{SDC}.historical.indicators.high_52w.period",
        "invalid period '52'",
    ),
    (
        "indicator period zero",
        _set(*IND, "period", value="0w"),
        f"{SDC}.historical.indicators.high_52w.period",
        "invalid period '0w'",
    ),
    (
        "indicator field unknown",
        _set(*IND, "field", value="vwap"),
        f"{SDC}.historical.indicators.high_52w.field",
        "must be 'open', 'high', 'low', 'close' or 'volume', got string 'vwap'",
    ),
    (
        "minute granularity for trailing_max",
        _set(*IND, "granularity", value="minute"),
        f"{SDC}.historical.indicators.high_52w.granularity",
        "'minute' is only allowed for trailing_average, got type 'trailing_max'",
    ),
    (
        "granularity unknown",
        _set(*IND, "granularity", value="hourly"),
        f"{SDC}.historical.indicators.high_52w.granularity",
        "must be 'daily' or 'minute'",
    ),
    (
        "skip_early_close a number",
        _set(*IND, "skip_early_close", value=1),
        f"{SDC}.historical.indicators.high_52w.skip_early_close",
        "expected true or false, got number 1",
    ),
    (
        "max_retries zero",
        _set(SDC, "gap_filler", "max_retries", value=0),
        f"{SDC}.gap_filler.max_retries",
        "must be between 1 and 20, got 0",
    ),
    (
        "max_retries 21",
        _set(SDC, "gap_filler", "max_retries", value=21),
        f"{SDC}.gap_filler.max_retries",
        "must be between 1 and 20, got 21",
    ),
    (
        "max_retries a string",
        _set(SDC, "gap_filler", "max_retries", value="5"),
        f"{SDC}.gap_filler.max_retries",
        "expected an integer, got string '5'",
    ),
    (
        "retry interval zero",
        _set(SDC, "gap_filler", "retry_interval_seconds", value=0),
        f"{SDC}.gap_filler.retry_interval_seconds",
        "must be >= 1, got 0",
    ),
    (
        "enable_session_quality null",
        _set(SDC, "gap_filler", "enable_session_quality", value=None),
        f"{SDC}.gap_filler.enable_session_quality",
        "expected true or false, got null",
    ),
    (
        "gap_filler a list",
        _set(SDC, "gap_filler", value=[]),
        f"{SDC}.gap_filler",
        "expected an object, got a list",
    ),
    (
        "buying power zero",
        _set("trading_config", "max_buying_power", value=0),
        "trading_config.max_buying_power",
        "must be > 0, got 0",
    ),
    (
        "per trade above buying power",
        _set("trading_config", "max_per_trade", value=200000.0),
        "trading_config.max_per_trade",
        "must be <= max_buying_power (100000.0), got 200000.0",
    ),
    (
        "per symbol above buying power",
        _set("trading_config", "max_per_symbol", value=100001),
        "trading_config.max_per_symbol",
        "must be <= max_buying_power (100000.0), got 100001.0",
    ),
    (
        "per trade negative",
        _set("trading_config", "max_per_trade", value=-5),
        "trading_config.max_per_trade",
        "must be > 0, got -5",
    ),
    (
        "open positions zero",
        _set("trading_config", "max_open_positions", value=0),
        "trading_config.max_open_positions",
        "must be > 0, got 0",
    ),
    (
        "open positions boolean",
        _set("trading_config", "max_open_positions", value=True),
        "trading_config.max_open_positions",
        "expected an integer, got boolean true",
    ),
    ("trading_config missing", _delete("trading_config"), "trading_config", "required"),
    (
        "data_api unknown",
        _set("api_config", "data_api", value="alpacca"),
        "api_config.data_api",
        "must be 'alpaca', 'schwab' or 'replay', got string 'alpacca' (did you mean 'alpaca'?)",
    ),
    (
        "trade_api replay",
        _set("api_config", "trade_api", value="replay"),
        "api_config.trade_api",
        "must be 'alpaca', 'schwab' or 'paper', got string 'replay'",
    ),
    (
        "account_id blank",
        _set("api_config", "account_id", value=""),
        "api_config.account_id",
        "must not be blank",
    ),
    ("api_config missing", _delete("api_config"), "api_config", "required"),
    ("metadata a list", _set("metadata", value=[1]), "metadata", "expected an object, got a list"),
    (
        "extended_hours not a bool",
        _set("session_data_config", "extended_hours", value="yes"),
        "session_data_config.extended_hours",
        "expected true or false, got string 'yes'",
    ),
    (
        "extended_hours on daily bars",
        lambda d: d["session_data_config"].update(streams=["1d"], extended_hours=True),
        "session_data_config.extended_hours",
        "scores intraday bars, but the streamed base is 1d",
    ),
    (
        "stale quotes after zero seconds",
        _set("session_data_config", "quotes", value={"stale_after_seconds": 0}),
        "session_data_config.quotes.stale_after_seconds",
        "must be >= 1, got 0",
    ),
    (
        "a halt condition twice",
        _set("session_data_config", "quotes", value={"halt_conditions": ["H", "H"]}),
        "session_data_config.quotes.halt_conditions.1",
        "duplicate condition 'H'",
    ),
    (
        "daily quote bars",
        _set("session_data_config", "quotes", value={"bars": ["1m", "1d"]}),
        "session_data_config.quotes.bars",
        "quote bars are intraday, got 1d",
    ),
    (
        "quote rules without quotes streamed",
        lambda d: d["session_data_config"].update(streams=["1m"], quotes={"stale_after_seconds": 30}),
        "session_data_config.quotes",
        "sets quote rules, but 'quotes' is not in streams",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_reports_its_path(mutate: Mutation, path: str, message: str) -> None:
    data = example()
    mutate(data)
    found = violations(data)
    assert list(found) == [path], found
    assert message in found[path]


def test_error_text_names_path_and_rule() -> None:
    data = example()
    data["session_data_config"]["gap_filler"]["max_retries"] = 0
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_dict(data, source="my.json")
    assert info.value.source == "my.json"
    assert "session_data_config.gap_filler.max_retries: must be between 1 and 20, got 0" in str(info.value)
    assert "my.json" in str(info.value)


def test_all_violations_are_reported_at_once() -> None:
    data = example()
    del data["backtest_config"]
    data["session_name"] = ""
    data["session_data_config"]["gap_filler"]["max_retries"] = 0
    data["session_data_config"]["historical"]["data"][0]["apply_to"] = ["AAPL", "MSFT"]
    data["session_data_config"]["symbolz"] = []
    data["trading_config"]["max_per_trade"] = 200000.0
    data["api_config"]["trade_api"] = "robinhood"
    assert set(violations(data)) == {
        "session_name",
        "backtest_config",
        "session_data_config.gap_filler.max_retries",
        "session_data_config.historical.data.0.apply_to.1",
        "session_data_config.symbolz",
        "trading_config.max_per_trade",
        "api_config.trade_api",
    }


def test_cross_field_rules_are_checked_even_when_siblings_are_invalid() -> None:
    data = example()
    data["backtest_config"]["end_date"] = "2025-07-01"
    data["backtest_config"]["speed_multiplier"] = -1
    data["trading_config"]["max_per_symbol"] = 500000
    data["trading_config"]["max_open_positions"] = "5"
    data["session_data_config"]["historical"]["indicators"]["low_52w"]["granularity"] = "minute"
    data["session_data_config"]["historical"]["indicators"]["low_52w"]["field"] = "lowest"
    data["session_data_config"]["historical"]["data"][1]["apply_to"] = ["TSLA"]
    data["session_data_config"]["historical"]["data"][0]["trailing_days"] = -3
    assert set(violations(data)) == {
        "backtest_config.end_date",
        "backtest_config.speed_multiplier",
        "trading_config.max_per_symbol",
        "trading_config.max_open_positions",
        "session_data_config.historical.indicators.low_52w.granularity",
        "session_data_config.historical.indicators.low_52w.field",
        "session_data_config.historical.data.1.apply_to.0",
        "session_data_config.historical.data.0.trailing_days",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "expected a JSON object at the top level, got a list"),
        (None, "expected a JSON object at the top level, got null"),
        ("config", "expected a JSON object at the top level, got string 'config'"),
        (3, "expected a JSON object at the top level, got number 3"),
    ],
)
def test_top_level_must_be_an_object(value: object, message: str) -> None:
    assert violations(value) == {"": message}


def test_huge_numbers_and_unicode_are_reported_not_raised() -> None:
    data = example()
    data["trading_config"]["max_buying_power"] = 10**400
    data["session_data_config"]["gap_filler"]["max_retries"] = 10**5000
    data["session_name"] = "séance 取引 🚀"
    found = violations(data)
    assert found["trading_config.max_buying_power"].startswith("number too large")
    assert found["session_data_config.gap_filler.max_retries"].startswith("must be between 1 and 20")
    assert "session_name" not in found


def test_non_string_keys_are_reported() -> None:
    data: dict[Any, Any] = example()
    data[1] = "x"
    assert violations(data) == {"": "keys must be strings, got number 1"}


# -- files ----------------------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_file(missing)
    assert info.value.source == str(missing)
    assert str(missing) in str(info.value)
    assert "not found" in str(info.value)


def test_invalid_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "session_name": "x",\n  "mode" "live"\n}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_file(path)
    [violation] = info.value.violations
    assert violation.path == f"{path}:3:10"
    assert "line 3, column 10" in violation.message
    assert str(path) in str(info.value)


def test_top_level_list_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_file(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    assert "expected a JSON object at the top level, got a list" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": NaN}', "NaN is not a JSON value"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("", "invalid JSON at line 1, column 1"),
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "invalid JSON"),
    ],
    ids=["nan", "duplicate-key", "empty", "deep", "huge-int"],
)
def test_non_standard_json_is_a_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_file(path)
    assert fragment in str(info.value)
    assert info.value.source == str(path)


def test_directory_and_non_utf8_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        SessionConfig.from_file(tmp_path)
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"session_name": "caf\xe9"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        SessionConfig.from_file(path)


def test_from_file_sets_the_source_on_rule_violations(tmp_path: Path) -> None:
    data = example()
    data["mode"] = "sim"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_file(path)
    assert info.value.source == str(path)
    assert [v.path for v in info.value.violations] == ["mode"]


# -- property: no mutation of the example escapes as anything but a ConfigError ----------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 21, 10**400, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["1m", "1h", "60m", "quotes", "all", "AAPL", "10d", "2025-07-03", "minute", "_c"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_example_is_a_config_or_a_config_error(data: st.DataObject) -> None:
    raw = example()
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(_paths(raw)), label="path")
        if not path:
            if data.draw(st.booleans(), label="replace top level"):
                raw = data.draw(json_values, label="top level")
            continue
        parent: Any = raw
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
        if action == "replace" or not isinstance(parent, dict):
            parent[path[-1]] = data.draw(json_values, label="value")
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[data.draw(st.text(max_size=12), label="key")] = data.draw(json_values, label="value")
        if not isinstance(raw, dict):
            break
    try:
        config = SessionConfig.from_dict(raw)
    except ConfigError as error:
        assert error.violations
        assert all(isinstance(v.path, str) and v.message for v in error.violations)
        assert str(error)
    else:
        assert SessionConfig.from_dict(config.to_dict()) == config
        assert SessionConfig.from_dict(json.loads(json.dumps(config.to_dict(), allow_nan=False))) == config


# -- hostile input --------------------------------------------------------------------------------


def test_a_period_reaching_back_more_than_a_century_is_refused() -> None:
    data = example()
    data["session_data_config"]["historical"]["indicators"]["high_52w"]["period"] = "9999y"
    found = violations(data)
    assert found == {
        "session_data_config.historical.indicators.high_52w.period": (
            "invalid period '9999y': reaches back more than 100 years"
        )
    }
    data["session_data_config"]["historical"]["indicators"]["high_52w"]["period"] = "100y"
    assert SessionConfig.from_dict(data)


def test_a_lone_surrogate_in_a_name_is_refused() -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8").replace('"Example Trading Session"', '"Ex\\ud800"'))
    assert violations(data) == {
        "session_name": "is not valid text: it holds a lone surrogate (\\ud800-\\udfff)"
    }


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("A;B", "invalid symbol 'A;B': a symbol is 1 to 32 characters of A-Z, 0-9 and . - / ^ = : _"),
        ("X" * 33, "a symbol is 1 to 32 characters"),
        ("A B", "invalid symbol 'A B': contains whitespace"),
    ],
)
def test_a_symbol_breaking_the_one_symbol_rule_is_refused(symbol: str, message: str) -> None:
    data = example()
    data["session_data_config"]["symbols"] = [symbol, "AAPL"]
    data["session_data_config"]["historical"]["data"] = []
    assert message in violations(data)["session_data_config.symbols.0"]


@pytest.mark.parametrize("symbol", ["BRK.B", "BRK/B", "^GSPC", "ES=F", "7203.T", "btc-usd"])
def test_real_world_symbols_are_accepted(symbol: str) -> None:
    data = example()
    data["session_data_config"]["symbols"] = [symbol]
    data["session_data_config"]["historical"]["data"] = []
    assert SessionConfig.from_dict(data).symbols == (symbol.upper(),)


def test_a_config_file_larger_than_a_mebibyte_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"session_name": "' + "x" * (1 << 20) + '"}', encoding="utf-8")
    for path in (big, Path("/dev/zero")):
        with pytest.raises(ConfigError, match=r"is larger than 1,048,576 bytes: not a session config"):
            SessionConfig.from_file(path)
