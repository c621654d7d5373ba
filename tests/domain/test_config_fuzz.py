"""Fuzzing session config loading (SPEC §3): no input escapes as anything but a config or a ConfigError.

Two properties, run with a fixed budget and derandomized (the same examples on every run):

- random mutations of the example config (wrong types, null, deleted keys, out-of-range and
  non-finite numbers, odd unicode, nested junk, unknown keys, duplicate symbols, bad intervals and
  dates) given to :meth:`SessionConfig.from_dict` either load (and then round-trip through
  ``to_dict``) or raise a :class:`ConfigError` whose violations all name a path and a rule;
- random bytes and broken JSON text given to :meth:`SessionConfig.from_file` always raise a
  :class:`ConfigError` naming the file.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from domain.config import SessionConfig
from domain.errors import ConfigError, Violation

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "session_configs" / "example_session.json"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
EXAMPLE_DATA: dict[str, Any] = json.loads(EXAMPLE_TEXT)
TOP_LEVEL_FIELDS = frozenset(SessionConfig.model_fields)

FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FILE_FUZZ = settings(FUZZ, max_examples=250)


def example_data() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE_DATA)


# -- values ----------------------------------------------------------------------------------------

WEIRD_NUMBERS = st.sampled_from(
    [0, -1, 1, 21, -(10**30), 10**30, 2**63, -(2**63), 10**400, 0.0, -0.0, 1e308, -1e308, 5e-324, 0.5, -0.5]
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
WEIRD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\t\n",
        "\x00",
        "AAPL\x00",
        "😀",
        "📈 RIVN",
        "\u202eLPAA",  # right-to-left override
        "שלום",
        "مرحبا",
        "\ufeff",
        "\u200b",
        "null",
        "true",
        "NaN",
        "_comment",
    ]
)
LONG_STRINGS = st.sampled_from([300, 10_000]).map(lambda n: "A" * n)
BAD_INTERVALS = st.sampled_from(
    [
        "0m",
        "1x",
        "-1m",
        "1.5m",
        "m1",
        "1 m",
        "1M",
        "2d",
        "24h",
        "1440m",
        "1000000m",
        "999999999999s",
        "1h30m",
        "01m",
        "١m",
        "1m\n",
        "",
        "quote",
        "tick",
    ]
)
BAD_DATES = st.sampled_from(
    [
        "2025-02-30",
        "2025-13-01",
        "2025-00-10",
        "0000-01-01",
        "0001-01-01",
        "9999-12-31",
        "2025/07/02",
        "20250702",
        "2025-7-2",
        "2025-07-02T00:00:00",
        "2025-07-02\n",
        " 2025-07-02",
        "２０２５-07-02",
        "",
    ]
)
PLAUSIBLE = st.sampled_from(
    [
        "1m",
        "5m",
        "1h",
        "60m",
        "120s",
        "1d",
        "1s",
        "quotes",
        "ticks",
        "all",
        "AAPL",
        " rivn ",
        "msft",
        "2025-07-03",
        "2025-07-07",
        "live",
        "backtest",
        "replay",
        "paper",
        "schwab",
        "daily",
        "minute",
        "trailing_max",
        "trailing_average",
        "52w",
        "10d",
        "12m",
        "9999y",
        "open",
        "volume",
        1,
        3,
        20,
        100,
        2.5,
        True,
        False,
        [],
        {},
        ["AAPL"],
        ["1m"],
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    WEIRD_NUMBERS,
    NON_FINITE,
    st.text(max_size=12),
    WEIRD_STRINGS,
    LONG_STRINGS,
    BAD_INTERVALS,
    BAD_DATES,
    PLAUSIBLE,
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=8), WEIRD_STRINGS, PLAUSIBLE.filter(lambda v: isinstance(v, str))),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)
UNKNOWN_KEYS = st.one_of(
    st.text(min_size=1, max_size=16),
    st.sampled_from(
        ["sesion_name", "symbol", "stream", "Mode", "max_retry", "extra", "", "\x00", "😀", "_ok"]
    ),
)


# -- mutations -------------------------------------------------------------------------------------


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every JSON path in ``node`` (the root is ``()``), dict keys and list indices."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(paths_of(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(paths_of(value, (*prefix, index)))
    return found


def node_at(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        root = root[part]
    return root


def mutate(data: st.DataObject, raw: dict[str, Any]) -> None:
    """Apply one random mutation to ``raw`` in place."""
    action = data.draw(
        st.sampled_from(
            ["replace", "replace", "replace", "delete", "unknown_key", "duplicate_symbol", "append", "nest"]
        ),
        label="action",
    )
    if action == "duplicate_symbol":
        section = raw.get("session_data_config")
        if isinstance(section, dict) and isinstance(section.get("symbols"), list) and section["symbols"]:
            symbols = section["symbols"]
            twin = data.draw(st.sampled_from(symbols), label="twin")
            if isinstance(twin, str):
                twin = data.draw(
                    st.sampled_from([twin, twin.lower(), f" {twin} ", twin.upper()]), label="spelling"
                )
            symbols.insert(data.draw(st.integers(0, len(symbols)), label="at"), twin)
        return
    path = data.draw(st.sampled_from(paths_of(raw)[1:]), label="path")
    parent = node_at(raw, path[:-1])
    target = parent[path[-1]]
    if action == "replace":
        parent[path[-1]] = data.draw(JUNK, label="value")
    elif action == "delete":
        del parent[path[-1]]
    elif action == "unknown_key":
        holder = target if isinstance(target, dict) else parent
        if isinstance(holder, dict):
            holder[data.draw(UNKNOWN_KEYS, label="key")] = data.draw(JUNK, label="value")
    elif action == "append":
        if isinstance(target, list):
            target.append(data.draw(JUNK, label="item"))
        else:
            parent[path[-1]] = [target, data.draw(JUNK, label="item")]
    else:  # nest: wrap the value in a list or an object a few levels deep
        depth = data.draw(st.integers(1, 30), label="depth")
        wrapped: Any = target
        for _ in range(depth):
            wrapped = [wrapped] if data.draw(st.booleans(), label="list?") else {"v": wrapped}
        parent[path[-1]] = wrapped


def assert_well_formed(error: ConfigError, raw: object, source: str | None = None) -> None:
    """A ConfigError lists violations, each with a str path ("" for the root) and a message."""
    assert error.violations, f"ConfigError without violations: {error}"
    for violation in error.violations:
        assert isinstance(violation, Violation)
        assert isinstance(violation.path, str), violation
        assert isinstance(violation.message, str), violation
        assert violation.message.strip(), f"violation without a message: {violation!r}"
        if violation.path and source is None and isinstance(raw, dict):
            # a path starts at a field of the model or at a key of the input (a bad or unknown
            # one, which may hold dots itself)
            path = violation.path
            assert path.split(".", 1)[0] in TOP_LEVEL_FIELDS or any(
                isinstance(key, str) and (path == key or path.startswith(key + ".")) for key in raw
            ), f"path {path!r} names nothing"
    text = str(error)
    assert text.startswith("invalid session config")
    assert len(error.violations) == len(set(error.violations)), "a violation is listed twice"


def assert_round_trips(config: SessionConfig) -> None:
    dumped = config.to_dict()
    assert SessionConfig.from_dict(dumped) == config
    as_json = json.dumps(dumped, allow_nan=False)  # to_dict is JSON: no NaN, no infinity
    assert SessionConfig.from_dict(json.loads(as_json)) == config
    assert SessionConfig.from_dict(dumped).to_dict() == dumped


def load(raw: object) -> SessionConfig | None:
    """from_dict on ``raw``: the config, or None after checking the ConfigError; nothing else."""
    try:
        config = SessionConfig.from_dict(raw)
    except ConfigError as error:
        event("ConfigError")
        assert_well_formed(error, raw)
        return None
    event("loaded")
    assert_round_trips(config)
    return config


# -- from_dict ---------------------------------------------------------------------------------------


def test_the_unmutated_example_loads_and_round_trips() -> None:
    assert_round_trips(SessionConfig.from_dict(example_data()))


@FUZZ
@given(st.data())
def test_randomly_mutated_example_is_a_config_or_a_config_error_with_paths(data: st.DataObject) -> None:
    raw = example_data()
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        mutate(data, raw)
    load(raw)


@FUZZ
@given(
    path=st.sampled_from([p for p in paths_of(EXAMPLE_DATA)[1:] if not str(p[-1]).startswith("_")]),
    value=st.one_of(
        WEIRD_NUMBERS, NON_FINITE, WEIRD_STRINGS, LONG_STRINGS, BAD_INTERVALS, BAD_DATES, st.none(), JUNK
    ),
)
def test_one_odd_value_anywhere_is_a_config_or_a_config_error(path: tuple[Any, ...], value: object) -> None:
    raw = example_data()
    node_at(raw, path[:-1])[path[-1]] = value
    config = load(raw)
    if config is None:
        return
    # what loaded must be within the rules, whatever was put in
    bt = config.backtest_config
    if bt is not None:
        assert bt.start_date <= bt.end_date
        assert math.isfinite(bt.speed_multiplier) and bt.speed_multiplier >= 0
        assert bt.prefetch_days >= 1
    trading = config.trading_config
    assert 0 < trading.max_per_trade <= trading.max_buying_power
    assert 0 < trading.max_per_symbol <= trading.max_buying_power
    assert math.isfinite(trading.max_buying_power) and trading.max_open_positions > 0
    assert 1 <= config.session_data_config.gap_filler.max_retries <= 20
    symbols = config.symbols
    assert symbols and len(set(symbols)) == len(symbols)
    assert all(s and s == s.strip().upper() and not any(c.isspace() for c in s) for s in symbols)


NUMERIC_PATHS = [
    p
    for p in paths_of(EXAMPLE_DATA)[1:]
    if isinstance(node_at(EXAMPLE_DATA, p), int | float) and not isinstance(node_at(EXAMPLE_DATA, p), bool)
]


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NUMERIC_PATHS),
            st.one_of(
                st.integers(),
                st.integers(-(10**40), 10**40),
                st.floats(allow_nan=False, allow_infinity=False),
                WEIRD_NUMBERS,
                NON_FINITE,
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_numbers_in_the_numeric_fields_are_a_config_or_a_config_error(
    changes: list[tuple[tuple[Any, ...], int | float]],
) -> None:
    raw = example_data()
    for path, value in changes:
        node_at(raw, path[:-1])[path[-1]] = value
    config = load(raw)
    if config is not None:
        for value in json.loads(json.dumps(config.to_dict(), allow_nan=False)).values():
            assert value is not None


@settings(FUZZ, max_examples=150)
@given(st.data())
def test_any_required_key_deleted_is_a_config_error_naming_it(data: st.DataObject) -> None:
    raw = example_data()
    required = [
        ("session_name",),
        ("mode",),
        ("session_data_config",),
        ("trading_config",),
        ("api_config",),
        ("session_data_config", "symbols"),
        ("session_data_config", "streams"),
        ("trading_config", "max_buying_power"),
        ("api_config", "data_api"),
        ("backtest_config", "start_date"),
        ("backtest_config", "end_date"),
        ("session_data_config", "historical", "data", 0, "trailing_days"),
        ("session_data_config", "historical", "indicators", "high_52w", "period"),
    ]
    chosen = data.draw(st.lists(st.sampled_from(required), min_size=1, max_size=3, unique=True), label="keys")
    for path in chosen:
        with contextlib.suppress(KeyError, IndexError):  # a parent already deleted
            del node_at(raw, path[:-1])[path[-1]]
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_dict(raw)
    assert_well_formed(info.value, raw)
    paths = {v.path for v in info.value.violations}
    first = ".".join(str(p) for p in chosen[0])
    # the first deleted key is reported, or one of its ancestors was deleted too (then that one is)
    assert any(first == p or first.startswith(p + ".") for p in paths), (first, paths)


@settings(FUZZ, max_examples=200)
@given(top=JUNK)
def test_anything_at_the_top_level_is_a_config_or_a_config_error(top: object) -> None:
    load(top)


# -- from_file -------------------------------------------------------------------------------------

BOMS = st.sampled_from([b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b""])


@st.composite
def broken_json_bytes(draw: st.DrawFn) -> bytes:
    """Bytes that are not a valid session config file, in many shapes."""
    kind = draw(
        st.sampled_from(
            [
                "bytes",
                "text",
                "truncated",
                "bom_truncated",
                "utf16",
                "nested_top",
                "nested_inside",
                "unbalanced",
                "constants",
                "duplicate_key",
                "huge_integer",
                "trailing_junk",
                "not_an_object",
            ]
        ),
        label="kind",
    )
    example_bytes = EXAMPLE_TEXT.encode("utf-8")
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", errors="surrogatepass")
    if kind in ("truncated", "bom_truncated"):
        body = EXAMPLE_TEXT.rstrip()
        cut = draw(st.integers(0, len(body) - 1), label="cut")
        bom = draw(BOMS, label="bom") if kind == "bom_truncated" else b""
        return bom + body[:cut].encode("utf-8")
    if kind == "utf16":
        return EXAMPLE_TEXT.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"]), label="codec"))
    if kind == "nested_top":
        depth = draw(st.integers(1, 400), label="depth")
        return ("[" * depth + "]" * depth).encode()
    if kind == "nested_inside":
        depth = draw(st.integers(1, 400), label="depth")
        key = draw(st.sampled_from(["session_name", "session_data_config", "mode", "x"]), label="key")
        raw = example_data()
        raw[key] = "@@"
        return json.dumps(raw).replace('"@@"', "[" * depth + "]" * depth).encode()
    if kind == "unbalanced":
        depth = draw(st.integers(1, 300), label="depth")
        opener = draw(st.sampled_from(["[", "{", '{"a":', "[{", '{"a":[']), label="opener")
        return (opener * depth).encode()
    if kind == "constants":
        constant = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]), label="constant")
        return EXAMPLE_TEXT.replace("360.0", constant).encode()
    if kind == "duplicate_key":
        key = draw(st.sampled_from(['"mode": "backtest",', '"max_retries": 5,', '"data_api": "alpaca",']))
        return EXAMPLE_TEXT.replace(key, key + " " + key).encode()
    if kind == "huge_integer":
        digits = draw(st.integers(4000, 6000), label="digits")
        return EXAMPLE_TEXT.replace("100000.0", "9" * digits).encode()
    if kind == "trailing_junk":
        return example_bytes + draw(st.sampled_from([b"x", b"{}", b",", b"\x00", b"]"]))
    return draw(
        st.sampled_from([b"[]", b"null", b"0", b'"config"', b"true", b"[{}]", b"-0.0", b"1e999", b""])
    )


@FILE_FUZZ
@given(content=broken_json_bytes())
@example(content=b"")
@example(content=b"\xef\xbb\xbf")
@example(content=b"\xef\xbb\xbf" + EXAMPLE_TEXT.rstrip()[:-1].encode())
@example(content=("[" * 900 + "]" * 900).encode())
@example(content=b'{"session_name": ' + b"[" * 900 + b"]" * 900 + b"}")
def test_broken_config_file_is_a_config_error_naming_the_file(tmp_path_factory: Any, content: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzzed_session.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        SessionConfig.from_file(path)
    error = info.value
    assert error.source == str(path)
    assert str(path) in str(error)
    assert_well_formed(error, None, source=str(path))


@FILE_FUZZ
@given(bom=st.sampled_from([b"", b"\xef\xbb\xbf"]), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_the_example_file_loads_with_a_bom_and_any_line_ending(
    tmp_path_factory: Any, bom: bytes, newline: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzzed_session.json"
    path.write_bytes(bom + EXAMPLE_TEXT.replace("\n", newline).encode("utf-8"))
    assert SessionConfig.from_file(path) == SessionConfig.from_file(EXAMPLE)
