"""Session config (SPEC §3): pydantic v2 models, loading from JSON and readable errors.

Load a config with :meth:`SessionConfig.from_file` or :meth:`SessionConfig.from_dict`; both
raise :class:`~domain.errors.ConfigError` carrying *every* violation at once, each as a
``Violation(path, message)`` whose path is the dotted JSON path with list indices as numbers
(``session_data_config.historical.data.0.apply_to.1``). No other exception escapes loading.

Model tree (all frozen; sequences are stored as tuples)::

    SessionConfig
    ├── backtest_config: BacktestConfig | None
    ├── session_data_config: SessionDataConfig
    │   ├── historical: HistoricalConfig
    │   │   ├── data: tuple[HistoricalDataConfig, ...]
    │   │   └── indicators: dict[str, IndicatorConfig]
    │   └── gap_filler: GapFillerConfig
    ├── trading_config: TradingConfig
    ├── api_config: ApiConfig
    └── metadata: dict | None (free-form)

Decisions where SPEC §3 is silent:

- Keys starting with ``_`` are comments and are dropped at load in every object, except inside
  ``metadata``, which is kept verbatim (it is free-form, anything JSON goes inside it).
- Numbers and booleans are strict: ``"5"`` is not an integer, ``true`` is not a number, but an
  integer is accepted where a float is expected. NaN and infinity are rejected; the JSON
  literals ``NaN``/``Infinity`` and duplicate keys in an object are invalid JSON here.
- In live mode ``backtest_config`` may be present: it is validated and kept (so the config
  round-trips) but the engine ignores it.
- ``historical`` (no data, no indicators, quality on), ``gap_filler`` and ``metadata`` are
  optional; ``trading_config`` and ``api_config`` are required.
- Symbols (in ``symbols`` and ``apply_to``) are normalised to stripped upper case and may not
  contain whitespace; uniqueness is checked after normalising. ``apply_to`` is the string
  ``"all"`` or a non-empty list of distinct symbols.
- Streams and interval lists are stored in canonical spelling (``1h`` -> ``60m``), in the
  order given; duplicates after normalising are errors.
- An indicator period's count N is at most 9999 (calendar spans beyond that are nonsense).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import types
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    PlainValidator,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from domain.bars import parse_symbol
from domain.errors import ConfigError, Violation
from domain.intervals import NON_BAR_STREAMS, Interval, stream_base
from domain.quality.quotes import DEFAULT_HALT_CONDITIONS, DEFAULT_STALE_AFTER

__all__ = [
    "ApiConfig",
    "BacktestConfig",
    "GapFillerConfig",
    "HistoricalConfig",
    "HistoricalDataConfig",
    "IndicatorConfig",
    "QuotesConfig",
    "SessionConfig",
    "SessionDataConfig",
    "TradingConfig",
    "WatchdogConfig",
]

_Loc = tuple[str | int, ...]

MAX_CONFIG_BYTES = 1 << 20
"""A session config file is at most 1 MiB (the examples are about 2 KiB)."""


def _rules(violations: Sequence[tuple[_Loc, str]]) -> ValidationError:
    """Violations at paths relative to the validator that raises this (pydantic prefixes its loc)."""
    return ValidationError.from_exception_data(
        "config",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{error}", {"error": msg}), loc=loc, input=None
            )
            for loc, msg in violations
        ],
    )


# Error type of a rule over several fields, raised by the field validator of the later field when
# the earlier one is valid too (it is in pydantic's ``info.data``); see _translate for its order.
_CROSS = "config_cross_rule"


def _cross(message: str) -> PydanticCustomError:
    return PydanticCustomError(_CROSS, "{message}", {"message": message})


# ---------------------------------------------------------------------------------------------
# Field types


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    _text(value)
    return value


def _text(value: str) -> None:
    """Refuse a string that cannot be printed or stored: a lone surrogate (``"\\ud800"`` in JSON)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid text: it holds a lone surrogate (\\ud800-\\udfff)") from None


def _normalise_symbol(text: str) -> str | None:
    """The symbol ``text`` names, or None when it breaks the symbol rule."""
    try:
        return parse_symbol(text)
    except ValueError:
        return None


def _symbol(value: str) -> str:
    _text(value)
    return parse_symbol(value)


def _interval(value: object) -> Interval:
    if isinstance(value, Interval):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an interval string such as 1m, got {_describe(value)}")
    return Interval.parse(value)


def _stream(value: str) -> str:
    text = value.strip()
    if text in NON_BAR_STREAMS:
        return text
    if text[:1].isdigit():
        return str(Interval.parse(text))
    hint = difflib.get_close_matches(text.lower(), sorted(NON_BAR_STREAMS), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ValueError(
        f"unknown stream {value!r}: expected 'quotes', 'ticks' or a bar interval such as 1m, 5m, 1h, 1d"
        + suggestion
    )


_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"invalid date {value!r}: {exc}") from None
    raise ValueError(f"expected a date YYYY-MM-DD, got {_describe(value)}")


_PERIOD = re.compile(r"^([1-9][0-9]{0,3})([dwmy])$")


_CALENDAR_DAYS: dict[str, int] = {"w": 7, "m": 30, "y": 365}
_MAX_PERIOD_DAYS = 36_525  # a century: a trailing window never reaches further back


def _period(value: str) -> str:
    text = value.strip()
    match = _PERIOD.match(text)
    if not match:
        raise ValueError(
            f"invalid period {value!r}: expected <N><unit> with N a positive integer up to 9999 "
            "and unit d, w, m or y (e.g. 10d, 52w)"
        )
    days = int(match[1]) * _CALENDAR_DAYS.get(match[2], 1)
    if days > _MAX_PERIOD_DAYS:
        raise ValueError(f"invalid period {value!r}: reaches back more than 100 years")
    return text


def _max_retries(value: int) -> int:
    if not 1 <= value <= 20:
        raise ValueError(f"must be between 1 and 20, got {_number(value)}")
    return value


def _duplicates(items: Iterable[tuple[int, Any]], what: str) -> list[tuple[_Loc, str]]:
    """A violation for each (index, item) repeating an earlier item, naming the earlier index."""
    first: dict[Any, int] = {}
    problems: list[tuple[_Loc, str]] = []
    for index, item in items:
        if item in first:
            problems.append(((index,), f"duplicate {what} '{item}' (same as index {first[item]})"))
        else:
            first[item] = index
    return problems


def _unique(what: str) -> AfterValidator:
    """Reject repeated items of a sequence (compared after normalising)."""

    def check(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if problems := _duplicates(enumerate(values), what):
            raise _rules(problems)
        return values

    return AfterValidator(check)


def _apply_to(value: object) -> Literal["all"] | tuple[str, ...]:
    if isinstance(value, str) and value == "all":
        return "all"
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected 'all' or a list of symbols, got {_describe(value)}")
    if not value:
        raise ValueError("must be 'all' or a non-empty list of symbols")
    symbols: dict[int, str] = {}
    problems: list[tuple[_Loc, str]] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(((index,), f"expected a symbol string, got {_describe(item)}"))
            continue
        try:
            symbols[index] = _symbol(item)
        except ValueError as exc:
            problems.append(((index,), str(exc)))
    if problems := sorted(problems + _duplicates(symbols.items(), "symbol")):
        raise _rules(problems)
    return tuple(symbols.values())


def _dump_apply_to(value: Literal["all"] | tuple[str, ...]) -> str | list[str]:
    return value if isinstance(value, str) else list(value)


def _finite_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Reject NaN/infinity anywhere in free-form metadata (they do not survive JSON)."""
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"must not contain NaN or infinity, got {item}")
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return value


_Int = Annotated[int, Strict()]
_Bool = Annotated[bool, Strict()]
_Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
_NonBlank = Annotated[str, Strict(), AfterValidator(_non_blank)]
_Symbol = Annotated[str, Strict(), AfterValidator(_symbol)]
_Stream = Annotated[str, Strict(), AfterValidator(_stream)]
_IntervalField = Annotated[Interval, PlainValidator(_interval), PlainSerializer(str, return_type=str)]
_Date = Annotated[date, BeforeValidator(_date)]
_ApplyTo = Annotated[
    Literal["all"] | tuple[str, ...],
    PlainValidator(_apply_to),
    PlainSerializer(_dump_apply_to, return_type=Any),
]


class _Model(BaseModel):
    """Frozen, closed (unknown keys are errors) config model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __hash__(self) -> int:
        # pydantic's frozen hash fails on dict-valued fields; hashing the rest keeps
        # "equal configs hash equal".
        return hash((type(self), *(v for v in self.__dict__.values() if not isinstance(v, dict))))


# ---------------------------------------------------------------------------------------------
# Models


class BacktestConfig(_Model):
    """The backtest window and pacing (required iff mode is ``backtest``)."""

    start_date: _Date
    end_date: _Date
    speed_multiplier: Annotated[_Float, Field(ge=0)] = 0.0
    """0.0 = as fast as possible (data-driven); > 0 = market minutes per 60 wall seconds."""
    prefetch_days: Annotated[_Int, Field(ge=1)] = 1

    @field_validator("end_date")
    @classmethod
    def _on_or_after_start(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("start_date")
        if start is not None and end < start:
            raise _cross(f"must be on or after start_date ({start}), got {end}")
        return end


class HistoricalDataConfig(_Model):
    """Trailing bars to load before each session: ``trailing_days`` of ``intervals``."""

    trailing_days: Annotated[_Int, Field(gt=0)]
    intervals: Annotated[tuple[_IntervalField, ...], Field(min_length=1), _unique("interval")]
    apply_to: _ApplyTo = "all"

    def applies_to(self, symbol: str) -> bool:
        """Whether this entry loads bars for ``symbol``."""
        return self.apply_to == "all" or symbol in self.apply_to


IndicatorType = Literal["trailing_average", "trailing_max", "trailing_min"]
BarField = Literal["open", "high", "low", "close", "volume"]


class IndicatorConfig(_Model):
    """One historical indicator computed per symbol before every session (SPEC §6)."""

    type: IndicatorType
    period: Annotated[str, Strict(), AfterValidator(_period)]
    field: BarField
    granularity: Literal["daily", "minute"] = "daily"
    skip_early_close: _Bool = False

    @field_validator("granularity")
    @classmethod
    def _minute_only_for_average(cls, granularity: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        if granularity == "minute" and kind not in (None, "trailing_average"):
            raise _cross(f"'minute' is only allowed for trailing_average, got type '{kind}'")
        return granularity

    @property
    def period_count(self) -> int:
        """N of the period ``"Nd"``/``"Nw"``/``"Nm"``/``"Ny"``."""
        return int(self.period[:-1])

    @property
    def period_calendar_days(self) -> int | None:
        """Calendar span of a ``w``/``m``/``y`` period (7N, 30N, 365N days); None for ``d``
        (trading days)."""
        per = _CALENDAR_DAYS.get(self.period[-1])
        return None if per is None else per * self.period_count


class HistoricalConfig(_Model):
    """What to load and compute before each session."""

    enable_quality: _Bool = True
    data: tuple[HistoricalDataConfig, ...] = ()
    indicators: dict[_NonBlank, IndicatorConfig] = Field(default_factory=dict)


class GapFillerConfig(_Model):
    """Gap filling (live only) and session quality."""

    max_retries: Annotated[_Int, AfterValidator(_max_retries)] = 5
    retry_interval_seconds: Annotated[_Int, Field(ge=1)] = 60
    enable_session_quality: _Bool = True


class QuotesConfig(_Model):
    """Quotes in a session: when a two-sided book counts as stale and which quote conditions mean
    a halted book (quote quality, :mod:`domain.quality.quotes`), and the quote bars to build."""

    stale_after_seconds: Annotated[_Int, Field(ge=1, le=86_400)] = DEFAULT_STALE_AFTER
    halt_conditions: Annotated[tuple[_NonBlank, ...], _unique("condition")] = DEFAULT_HALT_CONDITIONS
    bars: Annotated[tuple[_IntervalField, ...], _unique("interval")] = ()
    """Quote bars (bid, ask and mid OHLC: :mod:`domain.quote_bars`) to build, intraday intervals."""

    @field_validator("bars")
    @classmethod
    def _intraday(cls, value: tuple[Interval, ...]) -> tuple[Interval, ...]:
        daily = [str(i) for i in value if i.is_daily]
        if daily:
            raise _cross(f"quote bars are intraday, got {', '.join(daily)}")
        return value


class WatchdogConfig(_Model):
    """The feed watchdog (live, regular hours): seconds of session time a stream may deliver
    nothing (from any symbol) before it counts as stalled and is reconnected; 0 turns it off."""

    bars_after_seconds: Annotated[_Int, Field(ge=0, le=86_400)] = 180
    quotes_after_seconds: Annotated[_Int, Field(ge=0, le=86_400)] = 60


def _unknown_apply_to(
    symbols: Iterable[str], entries: Iterable[tuple[int, object]]
) -> list[tuple[_Loc, str]]:
    """Violations (relative to session_data_config) for apply_to symbols not in ``symbols``.

    Works on validated values and, best effort, on raw input (anything not a valid symbol
    is skipped: it has its own violation).
    """
    known = set(symbols)
    problems: list[tuple[_Loc, str]] = []
    for index, apply_to in entries:
        if not isinstance(apply_to, list | tuple):
            continue
        for position, item in enumerate(apply_to):
            symbol = _normalise_symbol(item) if isinstance(item, str) else None
            if symbol is not None and symbol not in known:
                problems.append(
                    (
                        ("historical", "data", index, "apply_to", position),
                        f"symbol '{symbol}' is not in session_data_config.symbols",
                    )
                )
    return problems


class SessionDataConfig(_Model):
    """Symbols, streams and the data work around them."""

    symbols: Annotated[tuple[_Symbol, ...], Field(min_length=1), _unique("symbol")]
    streams: Annotated[tuple[_Stream, ...], Field(min_length=1), _unique("stream")]
    """Every bar interval streamed can be derived from the streamed base (:func:`stream_base`):
    the base is 1s whenever a seconds interval is asked for."""
    historical: HistoricalConfig = Field(default_factory=HistoricalConfig)
    gap_filler: GapFillerConfig = Field(default_factory=GapFillerConfig)
    quotes: QuotesConfig = Field(default_factory=QuotesConfig)
    """Quote quality rules; used when ``quotes`` is streamed."""
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    extended_hours: _Bool = False
    """Score the pre- and post-market sessions too (their hours from the calendar): their base
    bars enter the session and reach subscribers, with their own quality and gaps."""

    @field_validator("extended_hours")
    @classmethod
    def _intraday_base(cls, value: bool, info: ValidationInfo) -> bool:
        streams = info.data.get("streams")
        if value and streams is not None:
            base = stream_base(sorted(Interval.parse(s) for s in streams if s not in NON_BAR_STREAMS))
            if base is None or base.is_daily:
                raise _cross(f"scores intraday bars, but the streamed base is {base or 'no bar interval'}")
        return value

    @field_validator("quotes")
    @classmethod
    def _quotes_streamed(cls, value: QuotesConfig, info: ValidationInfo) -> QuotesConfig:
        streams = info.data.get("streams")
        if (
            streams is not None and "quotes" not in streams and value != QuotesConfig()
        ):  # rules it would ignore
            raise _cross("sets quote rules, but 'quotes' is not in streams")
        return value

    @model_validator(mode="after")
    def _apply_to_in_symbols(self) -> Self:
        problems = _unknown_apply_to(self.symbols, enumerate(d.apply_to for d in self.historical.data))
        if problems:
            raise _rules(problems)
        return self


class TradingConfig(_Model):
    """Trading limits."""

    max_buying_power: Annotated[_Float, Field(gt=0)]
    max_per_trade: Annotated[_Float, Field(gt=0)]
    max_per_symbol: Annotated[_Float, Field(gt=0)]
    max_open_positions: Annotated[_Int, Field(gt=0)]

    @field_validator("max_per_trade", "max_per_symbol")
    @classmethod
    def _within_buying_power(cls, value: float, info: ValidationInfo) -> float:
        buying_power = info.data.get("max_buying_power")
        if buying_power is not None and value > buying_power:
            raise _cross(f"must be <= max_buying_power ({buying_power}), got {value}")
        return value


class ApiConfig(_Model):
    """Which providers to use for market data and for trading."""

    data_api: Literal["alpaca", "schwab", "replay"]
    trade_api: Literal["alpaca", "schwab", "paper"]
    account_id: _NonBlank | None = None


class SessionConfig(_Model):
    """A session config (SPEC §3). Build it with :meth:`from_file` or :meth:`from_dict`."""

    session_name: _NonBlank
    exchange_group: _NonBlank = "US_EQUITY"
    asset_class: _NonBlank = "EQUITY"
    mode: Literal["backtest", "live"]
    backtest_config: BacktestConfig | None = Field(default=None, validate_default=True)
    """Required in backtest mode; validated and kept but ignored in live mode."""
    session_data_config: SessionDataConfig
    trading_config: TradingConfig
    api_config: ApiConfig
    metadata: Annotated[dict[str, JsonValue], AfterValidator(_finite_json)] | None = None

    @field_validator("backtest_config")
    @classmethod
    def _required_when_backtesting(
        cls, backtest: BacktestConfig | None, info: ValidationInfo
    ) -> BacktestConfig | None:
        if backtest is None and info.data.get("mode") == "backtest":
            raise _cross("required when mode is 'backtest'")
        return backtest

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> SessionConfig:
        """Load a JSON config file; :class:`ConfigError` (with ``source=path``) when invalid."""
        source = os.fspath(path)
        try:
            with Path(source).open("rb") as handle:  # bounded: /dev/zero or a huge file is refused
                raw = handle.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise _fail(
                    f"{source} is larger than {MAX_CONFIG_BYTES:,} bytes: not a session config", source
                )
            text = raw.decode("utf-8-sig")
        except FileNotFoundError:
            raise _fail(f"file not found: {source}", source) from None
        except IsADirectoryError:
            raise _fail(f"is a directory, not a config file: {source}", source) from None
        except UnicodeDecodeError as exc:
            raise _fail(f"{source} is not UTF-8 text (bad byte at offset {exc.start})", source) from None
        except OSError as exc:
            raise _fail(f"cannot read {source}: {exc.strerror or exc}", source) from None
        return cls.from_dict(_parse_json(text, source), source=source)

    @classmethod
    def from_dict(cls, data: object, source: str | None = None) -> SessionConfig:
        """Validate already-parsed JSON data; :class:`ConfigError` with every violation."""
        if not isinstance(data, dict):
            raise _fail(f"expected a JSON object at the top level, got {_describe(data)}", source)
        try:
            cleaned, violations = _strip_comments(data)
        except RecursionError:
            raise _fail("the config is nested too deeply", source) from None
        try:
            config = cls.model_validate(cleaned)
        except ValidationError as exc:
            violations.extend(_translate(exc))
            violations.extend(_raw_apply_to_check(cleaned))
        except RecursionError:
            violations.append(Violation("", "the config is nested too deeply"))
        else:
            if not violations:
                return config
        raise ConfigError(list(dict.fromkeys(violations)), source=source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (ISO dates, canonical intervals) that reloads to ``self``."""
        data = self.model_dump(mode="json")
        for key in ("backtest_config", "metadata"):
            if data[key] is None:
                del data[key]
        if data["api_config"]["account_id"] is None:
            del data["api_config"]["account_id"]
        return data

    # -- derived accessors ------------------------------------------------------------------

    @property
    def is_backtest(self) -> bool:
        return self.mode == "backtest"

    @property
    def symbols(self) -> tuple[str, ...]:
        """Shortcut for ``session_data_config.symbols``."""
        return self.session_data_config.symbols

    @property
    def bar_intervals(self) -> list[Interval]:
        """The requested bar intervals of ``streams``, shortest first."""
        return sorted(Interval.parse(s) for s in self.session_data_config.streams if s not in NON_BAR_STREAMS)

    @property
    def base_interval(self) -> Interval | None:
        """The base interval that is streamed (SPEC §5 stream marking); None without bars."""
        return stream_base(self.bar_intervals)

    @property
    def derived_intervals(self) -> list[Interval]:
        """Requested bar intervals built from the base rather than streamed, shortest first."""
        base = self.base_interval
        return [i for i in self.bar_intervals if i != base]

    @property
    def wants_quotes(self) -> bool:
        return "quotes" in self.session_data_config.streams

    @property
    def wants_ticks(self) -> bool:
        return "ticks" in self.session_data_config.streams


# ---------------------------------------------------------------------------------------------
# Loading helpers and error translation


def _fail(message: str, source: str | None, path: str = "") -> ConfigError:
    return ConfigError([Violation(path, message)], source=source)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value (use a finite number)")


def _parse_json(text: str, source: str) -> object:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj:
                duplicates.append(key)
            obj[key] = value
        return obj

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _fail(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            source,
            path=f"{source}:{exc.lineno}:{exc.colno}",
        ) from None
    except RecursionError:
        raise _fail("invalid JSON: nested too deeply", source) from None
    except ValueError as exc:  # NaN/Infinity, or an integer literal beyond Python's digit limit
        raise _fail(f"invalid JSON: {exc}", source) from None
    if duplicates:
        raise ConfigError(
            [
                Violation(source, f"duplicate key {_short(k)} in a JSON object")
                for k in dict.fromkeys(duplicates)
            ],
            source=source,
        )
    return data


def _strip_comments(data: dict[Any, Any]) -> tuple[dict[str, Any], list[Violation]]:
    """Drop ``_``-prefixed keys everywhere but inside ``metadata``; flag non-string keys."""
    violations: list[Violation] = []

    def clean(value: object, loc: _Loc) -> object:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    violations.append(Violation(_path(loc), f"keys must be strings, got {_describe(key)}"))
                elif not key.startswith("_"):
                    out[key] = item if loc == () and key == "metadata" else clean(item, (*loc, key))
            return out
        if isinstance(value, list):
            return [clean(item, (*loc, index)) for index, item in enumerate(value)]
        return value

    cleaned = clean(data, ())
    assert isinstance(cleaned, dict)
    return cleaned, violations


def _raw_apply_to_check(data: dict[str, Any]) -> list[Violation]:
    """apply_to symbols not in symbols, checked even when other historical entries are invalid."""
    section = data.get("session_data_config")
    if not isinstance(section, dict):
        return []
    symbols, historical = section.get("symbols"), section.get("historical")
    if not isinstance(symbols, list) or not isinstance(historical, dict):
        return []
    entries = historical.get("data")
    if not isinstance(entries, list):
        return []
    known = {s for s in (_normalise_symbol(x) for x in symbols if isinstance(x, str)) if s is not None}
    raw_entries = ((i, e.get("apply_to")) for i, e in enumerate(entries) if isinstance(e, dict))
    return [
        Violation(_path(("session_data_config", *loc)), m) for loc, m in _unknown_apply_to(known, raw_entries)
    ]


def _translate(error: ValidationError) -> list[Violation]:
    violations: list[Violation] = []
    later: list[Violation] = []
    items = error.errors(include_url=False)
    # pydantic counts only the valid items against min_length: a list whose only item is
    # invalid is also "too short". The item's own violation is the useful one.
    with_bad_items = {tuple(i["loc"][:-1]) for i in items if i["loc"] and isinstance(i["loc"][-1], int)}

    def alone(loc: _Loc) -> bool:
        """Whether the model holding the cross-field rule at ``loc`` has no other violation."""
        model = loc[:-1]
        return all(
            i["loc"][: len(model)] != model
            or (i["type"] == _CROSS and len(i["loc"]) == len(loc))
            or i["loc"] == (*model, "[key]")
            for i in items
        )

    for item in items:
        loc: _Loc = tuple(item["loc"])
        ctx: dict[str, Any] = dict(item.get("ctx") or {})
        if item["type"] == "too_short" and loc in with_bad_items:
            continue
        if item["type"] == _CROSS:
            # Listed with its model when the rest of the model is valid, else after all others.
            (violations if alone(loc) else later).append(Violation(_path(loc), ctx["message"]))
            continue
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
        violations.append(
            Violation(_path(loc), _message(item["type"], loc, item.get("input"), ctx, item["msg"]))
        )
    return violations + later


def _message(kind: str, loc: _Loc, value: object, ctx: dict[str, Any], fallback: str) -> str:
    got = _describe(value)
    match kind:
        case "missing":
            return "required"
        case "extra_forbidden":
            return _unknown_key(loc)
        case "int_type" | "int_parsing" | "int_from_float":
            return f"expected an integer, got {got}"
        case "float_type" | "float_parsing":
            if isinstance(value, int) and not isinstance(value, bool):
                return f"number too large, got {_number(value)}"
            return f"expected a number, got {got}"
        case "bool_type" | "bool_parsing":
            return f"expected true or false, got {got}"
        case "string_type":
            return f"expected a string, got {got}"
        case "model_type" | "model_attributes_type" | "dict_type":
            return f"expected an object, got {got}"
        case "list_type" | "tuple_type":
            return f"expected a list, got {got}"
        case "literal_error":
            expected = str(ctx.get("expected", ""))
            choices = re.findall(r"'([^']*)'", expected)
            hint = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            return f"must be {expected}, got {got}{suggestion}"
        case "greater_than":
            return f"must be > {_bound(ctx.get('gt'))}, got {_number(value)}"
        case "greater_than_equal":
            return f"must be >= {_bound(ctx.get('ge'))}, got {_number(value)}"
        case "finite_number":
            return f"must be a finite number, got {_number(value)}"
        case "too_short":  # every min_length is 1
            return "must not be empty"
        case "value_error" | "assertion_error":
            return str(ctx.get("error", fallback))
        case "invalid-json-value":
            return f"not a JSON value: {got}"
        case "recursion_loop":
            return "nested too deeply"
        case _:
            return fallback


def _unknown_key(loc: _Loc) -> str:
    model = _model_at(loc[:-1])
    if model is None or not loc:
        return "unknown key"
    names = list(model.model_fields)
    hint = difflib.get_close_matches(str(loc[-1]), names, n=1)
    if hint:
        return f"unknown key (did you mean {hint[0]!r}?)"
    return f"unknown key (expected one of: {', '.join(names)})"


def _model_at(loc: _Loc) -> type[BaseModel] | None:
    """The model class that validates the object at ``loc`` (for did-you-mean hints)."""
    current: Any = SessionConfig
    for part in loc:
        if get_origin(current) is dict:  # an entry of ``indicators``
            current = get_args(current)[1]
        elif get_origin(current) is tuple and isinstance(part, int):  # an item of ``data``
            current = get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
            if get_origin(current) in (Union, types.UnionType):  # ``X | None`` holds an X
                current = get_args(current)[0]
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _path(loc: _Loc) -> str:
    return ".".join(part if isinstance(part, str) else _number(part) for part in loc)


def _number(value: object) -> str:
    """A number for a message; huge integers are summarised (they cannot be printed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of about {value.bit_length() * 30103 // 100000 + 1} digits"
    if isinstance(value, int | float):
        return repr(value)
    return _describe(value)


def _bound(value: object) -> str:
    """A rule's bound as written in the rule: ``0`` rather than pydantic's ``0.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _number(value)


def _short(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _describe(value: object) -> str:
    """A short JSON-flavoured description of an input value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {_number(value)}"
    if isinstance(value, int | float):
        return f"number {_number(value)}"
    if isinstance(value, str):
        return f"string {_short(value)}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
