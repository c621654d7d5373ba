"""The Alpaca adapter against a fake Alpaca on local sockets that speaks Alpaca's protocol.

History: pages, parameters and headers, rate limits, bad keys, outages, malformed payloads and
day bars. Stream: handshake, bars and updated bars, final errors, reconnects with the minutes
lost, malformed items, stop. Bars are real minute and daily bars from ``shared/data/real``.
"""

from __future__ import annotations

import csv
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from support.fake_alpaca import FakeAlpaca
from support.live import RecordingSink
from support.stores import daily_rows, real_file

from domain.bars import Bar, daily_ts
from domain.clock import SimulatedClock
from domain.errors import (
    ProviderAuthError,
    ProviderNotSupported,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderSubscriptionError,
    ProviderUnavailable,
)
from domain.providers import Backoff, ConnectionState
from domain.quotes import Quote
from ops.providers.alpaca import REST_ATTEMPTS, AlpacaProvider

FAST = Backoff(initial=0.01, cap=0.05)
CONNECTED = ConnectionState.CONNECTED


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def real_minute_bars(symbol: str, start: str, end: str) -> list[Bar]:
    """Real 1m bars of ``symbol`` on 2025-07-02 between two UTC times (``"13:30"``), at their true
    time: the file is stamped 4 hours late (see its README)."""
    with real_file(f"{symbol}_2025-07-02_1m.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    bars = []
    for row in rows:
        ts = int(datetime.fromisoformat(row["timestamp"]).timestamp()) - 4 * 3600
        if utc(f"2025-07-02T{start}") <= ts < utc(f"2025-07-02T{end}"):
            values = (float(row[k]) for k in ("open", "high", "low", "close", "volume"))
            bars.append(Bar(symbol, "1m", ts, *values))
    return bars


def real_daily_bars(first: date, last: date) -> list[Bar]:
    return [
        Bar("ORCL", "1d", daily_ts(row.day), row.open, row.high, row.low, row.close, row.volume)
        for row in daily_rows("ORCL_1995-2014_1d.csv")
        if first <= row.day <= last
    ]


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as server:
        yield server


@pytest.fixture
def make_provider(fake: FakeAlpaca) -> Iterator[Callable[..., AlpacaProvider]]:
    """Providers wired to the fake with fast backoff; every stream is stopped afterwards."""
    made: list[AlpacaProvider] = []

    def make(**kwargs: Any) -> AlpacaProvider:
        options: dict[str, Any] = {
            "data_url": fake.data_url,
            "stream_url": fake.stream_url,
            "backoff": FAST,
            "request_timeout": 5.0,
            "rng": random.Random(7),
        }
        options.update(kwargs)
        provider = AlpacaProvider(
            options.pop("key_id", fake.key_id), options.pop("secret", fake.secret), **options
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.stop_stream(5.0)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def bar_body(item: dict[str, Any], symbol: str = "AAPL") -> str:
    return json.dumps({"bars": {symbol: [item]}, "next_page_token": None})


GOOD_ITEM = {
    "t": "2025-07-02T13:31:00Z",
    "o": 212.1,
    "h": 212.5,
    "l": 211.9,
    "c": 212.3,
    "v": 1200,
    "n": 9,
    "vw": 212.2,
}


# -- history (REST) -------------------------------------------------------------------------------


def test_fetch_bars_follows_next_page_token_across_three_pages(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    bars = real_minute_bars("AAPL", "13:30", "15:00") + real_minute_bars("RIVN", "13:30", "15:00")
    outside = real_minute_bars("AAPL", "13:00", "13:30")[-1:] + real_minute_bars("AAPL", "15:00", "15:05")[:1]
    # every minute of 13:30-15:00 of both symbols: 2 x 90; the two outside are 13:29 and 15:00
    assert len(bars) == 180 and [b.ts for b in outside] == [utc("2025-07-02T13:29"), utc("2025-07-02T15:00")]
    fake.add_bars(bars + outside)
    fake.page_size = 70  # 70 + 70 + 40

    got = make_provider().fetch_bars(["RIVN", "AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T15:00"))

    assert got == sorted(bars, key=lambda bar: (bar.symbol, bar.ts))
    assert len(fake.requests) == 3
    first = fake.requests[0]
    assert first.path == "/v2/stocks/bars"
    assert first.params == {
        "symbols": "AAPL,RIVN",
        "timeframe": "1Min",
        "start": "2025-07-02T13:30:00Z",
        "end": "2025-07-02T14:59:59Z",  # Alpaca's end is inclusive
        "limit": "10000",
        "adjustment": "raw",
        "feed": "iex",
    }
    assert first.headers["apca-api-key-id"] == fake.key_id
    assert first.headers["apca-api-secret-key"] == fake.secret
    tokens = [request.params.get("page_token") for request in fake.requests]
    assert tokens[0] is None and None not in tokens[1:] and len(set(tokens)) == 3
    assert all(
        {k: v for k, v in r.params.items() if k != "page_token"} == first.params for r in fake.requests
    )


@pytest.mark.parametrize(
    ("interval", "timeframe"),
    [("1m", "1Min"), ("5m", "5Min"), ("15m", "15Min"), ("1h", "1Hour"), ("1d", "1Day")],
)
def test_fetch_bars_asks_for_alpacas_timeframe(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider], interval: str, timeframe: str
) -> None:
    assert (
        make_provider().fetch_bars(["AAPL"], interval, utc("2025-07-02T00:00"), utc("2025-07-03T00:00")) == []
    )
    assert fake.requests[0].params["timeframe"] == timeframe


@pytest.mark.parametrize("interval", ["30s", "90m", "2d", "weekly"])
def test_fetch_bars_refuses_intervals_alpaca_cannot_express(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider], interval: str
) -> None:
    with pytest.raises(ProviderNotSupported, match=f"alpaca cannot serve bars of '{interval}'"):
        make_provider().fetch_bars(["AAPL"], interval, utc("2025-07-02T00:00"), utc("2025-07-03T00:00"))
    assert fake.requests == []


def test_fetch_bars_keys_day_bars_by_session_date(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    """Alpaca stamps a day bar at New York midnight (05:00Z in winter, 04:00Z in summer time);
    the adapter keys it at 00:00 UTC of that date, across the 2014-03-09 clock change."""
    bars = real_daily_bars(date(2014, 3, 3), date(2014, 3, 14))
    fake.add_bars(bars)
    raw = httpx.get(
        fake.data_url + "/v2/stocks/bars",
        params={
            "symbols": "ORCL",
            "timeframe": "1Day",
            "start": "2014-03-05T00:00:00Z",
            "end": "2014-03-11T00:00:00Z",
        },
        headers={"APCA-API-KEY-ID": fake.key_id, "APCA-API-SECRET-KEY": fake.secret},
    ).json()
    assert [item["t"] for item in raw["bars"]["ORCL"]] == [
        "2014-03-05T05:00:00Z",
        "2014-03-06T05:00:00Z",
        "2014-03-07T05:00:00Z",
        "2014-03-10T04:00:00Z",
    ]

    got = make_provider().fetch_bars(["ORCL"], "1d", daily_ts(date(2014, 3, 5)), daily_ts(date(2014, 3, 12)))

    assert [bar.ts for bar in got] == [daily_ts(date(2014, 3, d)) for d in (5, 6, 7, 10, 11)]
    assert got == [
        bar
        for bar in bars
        if date(2014, 3, 5) <= datetime.fromtimestamp(bar.ts, UTC).date() <= date(2014, 3, 11)
    ]
    assert fake.requests[-1].params["end"] == "2014-03-11T23:59:59Z"


def test_fetch_bars_waits_retry_after_then_succeeds(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    bars = real_minute_bars("AAPL", "13:30", "13:40")
    fake.add_bars(bars)
    fake.rate_limit_next(1, retry_after="1")
    provider = make_provider()

    started = time.monotonic()
    got = provider.fetch_bars(["AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T13:40"))

    assert time.monotonic() - started >= 0.9, "Retry-After: 1 was not honoured"
    assert got == bars
    assert len(fake.requests) == 2 and provider.stats["rate_limited"] == 1


def test_fetch_bars_rate_limited_past_the_retries_raises_rate_limited(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.rate_limit_next(10, retry_after="0")
    with pytest.raises(ProviderRateLimited, match=r"HTTP 429.*after 3 retries") as caught:
        make_provider(max_rate_limit_retries=3).fetch_bars(
            ["AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T13:40")
        )
    assert caught.value.retry_after == 0
    assert len(fake.requests) == 4


@pytest.mark.parametrize(("key_id", "secret", "status"), [("AKFAKE0000", "wrong", 403), ("", "", 401)])
def test_fetch_bars_with_bad_keys_raises_auth_error(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider], key_id: str, secret: str, status: int
) -> None:
    with pytest.raises(ProviderAuthError, match=f"HTTP {status}"):
        make_provider(key_id=key_id, secret=secret).fetch_bars(
            ["AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T13:40")
        )
    assert len(fake.requests) == 1


def test_fetch_bars_retries_server_errors_then_succeeds(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    bars = real_minute_bars("RIVN", "13:30", "15:00")
    fake.add_bars(bars)
    fake.fail_next(2, status=503)
    assert (
        make_provider().fetch_bars(["RIVN"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T15:00")) == bars
    )
    assert len(fake.requests) == 3


def test_fetch_bars_with_lasting_server_errors_raises_unavailable(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.fail_next(10, status=500)
    with pytest.raises(ProviderUnavailable, match=f"after {REST_ATTEMPTS} attempts: HTTP 500"):
        make_provider().fetch_bars(["AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T13:40"))
    assert len(fake.requests) == REST_ATTEMPTS


def test_fetch_bars_from_a_closed_port_raises_unavailable_quickly(
    make_provider: Callable[..., AlpacaProvider],
) -> None:
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(
        ProviderUnavailable, match=f"{url}/v2/stocks/bars unavailable after {REST_ATTEMPTS} attempts"
    ):
        make_provider(data_url=url).fetch_bars(
            ["AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T13:40")
        )
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "malformed JSON"),
        ('["bars"]', "page 1 is not a JSON object"),
        (
            bar_body({**GOOD_ITEM, "h": 211.0}),
            "bar of AAPL at 2025-07-02T13:31:00Z (page 1): high below open/close",
        ),
        (
            bar_body({**GOOD_ITEM, "c": None}),
            "bar of AAPL at 2025-07-02T13:31:00Z (page 1): missing or non-numeric 'c'",
        ),
        (bar_body({**GOOD_ITEM, "t": "13:31"}), "bar of AAPL at 13:31 (page 1): bad or missing timestamp"),
        (bar_body({**GOOD_ITEM, "t": "2025-07-02T13:31:30Z"}), "13:31:30Z (page 1): timestamp not aligned"),
        (
            bar_body({**GOOD_ITEM, "t": "2025-07-02T14:05:00Z"}),
            "at 2025-07-02T14:05:00Z (page 1): outside the requested",
        ),
        (bar_body(GOOD_ITEM, symbol="MSFT"), "holds 'MSFT', which was not requested"),
    ],
    ids=["json", "not-object", "high", "missing-close", "bad-time", "unaligned", "out-of-range", "symbol"],
)
def test_fetch_bars_with_a_bad_answer_raises_protocol_error_saying_where(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider], body: str, expected: str
) -> None:
    fake.respond_next(200, body)
    with pytest.raises(ProviderProtocolError) as caught:
        make_provider().fetch_bars(["AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T14:00"))
    assert expected in str(caught.value)


def test_from_env_without_key_id_raises_auth_error_naming_it() -> None:
    with pytest.raises(ProviderAuthError, match="APCA_API_KEY_ID is not set"):
        AlpacaProvider.from_env({"APCA_API_SECRET_KEY": "s"})
    with pytest.raises(ProviderAuthError, match="APCA_API_SECRET_KEY is not set"):
        AlpacaProvider.from_env({"APCA_API_KEY_ID": "k"})


def test_from_env_reads_keys_urls_and_feed(fake: FakeAlpaca) -> None:
    environ = {
        "APCA_API_KEY_ID": fake.key_id,
        "APCA_API_SECRET_KEY": fake.secret,
        "APCA_API_DATA_URL": fake.data_url,
        "APCA_API_STREAM_URL": fake.stream_url,
        "APCA_DATA_FEED": "sip",
    }
    provider = AlpacaProvider.from_env(environ, backoff=FAST)
    assert provider.fetch_bars(["AAPL"], "1m", utc("2025-07-02T13:30"), utc("2025-07-02T13:40")) == []
    assert fake.requests[0].params["feed"] == "sip"


# -- live (websocket) -----------------------------------------------------------------------------


def test_stream_authenticates_subscribes_and_delivers_bars_in_order(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    aapl, rivn = real_minute_bars("AAPL", "13:30", "13:50"), real_minute_bars("RIVN", "13:30", "13:50")
    provider, sink = make_provider(), RecordingSink()

    provider.start_stream(["RIVN", "AAPL"], sink)
    sink.wait_state(CONNECTED)
    assert provider.state is CONNECTED
    assert fake.ws_paths == ["/v2/iex"]
    assert fake.actions == [
        {"action": "auth", "key": fake.key_id, "secret": fake.secret},
        {"action": "subscribe", "bars": ["AAPL", "RIVN"], "updatedBars": ["AAPL", "RIVN"]},
    ]
    pushed = [aapl[:4] + rivn[:2], aapl[4:5], rivn[2:] + aapl[5:]]
    for batch in pushed:
        assert fake.push(batch) == 1
    expected = [bar for batch in pushed for bar in batch]
    sink.wait_for(lambda: len(sink.delivered()) == len(expected), f"{len(expected)} bars")

    assert sink.delivered() == expected
    assert sink.states() == [ConnectionState.CONNECTING, CONNECTED]
    assert provider.stats["bars"] == len(expected) and provider.stats["malformed"] == 0


def test_stream_delivers_updated_bars_as_updates_in_arrival_order(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    first, second = real_minute_bars("AAPL", "13:30", "13:32")
    late = first._replace(close=first.high, volume=first.volume + 300)  # a late trade revises 13:30
    provider, sink = make_provider(), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)

    fake.push([first])
    fake.push([late], updated=True)
    item = {"S": "AAPL", "t": "2025-07-02T13:31:00Z", "o": second.open, "h": second.high, "l": second.low}
    fake.send_raw(
        json.dumps(
            [
                {"T": "b", **item, "c": second.close, "v": second.volume},
                {"T": "u", **item, "c": second.close, "v": second.volume + 1},
            ]
        )
    )
    sink.wait_for(lambda: len(sink.delivered(updated=True)) == 2, "two updated bars")

    deliveries = [(event[1], event[2]) for event in sink.events if event[0] == "bars"]
    assert deliveries == [
        ((first,), False),
        ((late,), True),
        ((second,), False),
        ((second._replace(volume=second.volume + 1),), True),
    ]
    assert provider.stats["updated_bars"] == 2


def test_stream_auth_failure_fails_with_402_and_does_not_reconnect(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    provider, sink = make_provider(secret="wrong"), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(ConnectionState.FAILED)

    threading.Event().wait(0.3)  # a reconnect loop (backoff ≤ 0.05 s) would show by now
    assert sink.states() == [ConnectionState.CONNECTING, ConnectionState.FAILED]
    assert sink.details(ConnectionState.FAILED) == ["alpaca error 402: auth failed"]
    assert provider.state is ConnectionState.FAILED
    assert fake.connections == 1 and provider.stats["reconnects"] == 0


@pytest.mark.parametrize(
    ("code", "message"), [(409, "insufficient subscription"), (405, "symbol limit exceeded")]
)
def test_stream_subscription_refusal_fails_without_reconnecting(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider], code: int, message: str
) -> None:
    fake.subscribe_error = (code, message)
    provider, sink = make_provider(), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(ConnectionState.FAILED)

    threading.Event().wait(0.3)
    assert sink.details(ConnectionState.FAILED) == [f"alpaca error {code}: {message}"]
    assert fake.connections == 1 and len(fake.subscribes()) == 1


def test_stream_reconnects_after_a_drop_and_reports_the_minutes_lost(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    bars = real_minute_bars("AAPL", "13:30", "13:40")  # every minute: 13:30, 13:31, 13:32 …
    clock = SimulatedClock(datetime(2025, 7, 2, 13, 32, 5, tzinfo=UTC))
    provider, sink = make_provider(clock=clock), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)
    fake.push(bars[:2])
    sink.wait_for(lambda: len(sink.delivered()) == 2, "the first two bars")

    clock.set(datetime(2025, 7, 2, 13, 36, 20, tzinfo=UTC))
    assert fake.drop_connections() == 1
    sink.wait_state(CONNECTED, count=2)
    sink.wait_for(lambda: sink.outages() != [], "the outage")

    assert sink.states() == [ConnectionState.CONNECTING, CONNECTED, ConnectionState.RECONNECTING, CONNECTED]
    assert sink.details(ConnectionState.RECONNECTING)[0]
    assert sink.outages() == [(utc("2025-07-02T13:32"), utc("2025-07-02T13:36"))]  # after the 13:31 bar
    assert sink.events.index(("outage", *sink.outages()[0])) > sink.events.index(("state", CONNECTED, None))
    assert fake.connections == 2 and len(fake.subscribes()) == 2
    assert provider.stats["reconnects"] == 1

    assert fake.push(bars[2:3]) == 1
    sink.wait_for(lambda: len(sink.delivered()) == 3, "a bar after the reconnect")


def test_stream_outage_without_bars_starts_at_the_disconnect_minute(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    """Reconnects refused with 406 are retried with backoff; the outage runs from the minute
    of the drop to the minute the stream is back."""
    clock = SimulatedClock(datetime(2025, 7, 2, 13, 40, 30, tzinfo=UTC))
    provider, sink = make_provider(clock=clock), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)

    fake.connection_limit_next(1000)
    fake.drop_connections()
    assert fake.wait_until(lambda: fake.connections >= 4), "the provider stopped retrying after 406"
    clock.set(datetime(2025, 7, 2, 13, 43, 5, tzinfo=UTC))
    fake.connection_limit_next(0)
    sink.wait_state(CONNECTED, count=2)
    sink.wait_for(lambda: sink.outages() != [], "the outage")

    assert sink.outages() == [(utc("2025-07-02T13:40"), utc("2025-07-02T13:43"))]
    assert "alpaca error 406: connection limit exceeded" in sink.details(ConnectionState.RECONNECTING)
    assert ConnectionState.FAILED not in sink.states()


def test_stream_refused_connections_at_start_are_retried_without_an_outage(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.connection_limit_next(2)
    provider, sink = make_provider(), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)

    assert sink.states() == [
        ConnectionState.CONNECTING,
        ConnectionState.RECONNECTING,
        ConnectionState.RECONNECTING,
        CONNECTED,
    ]
    assert fake.connections == 3 and sink.outages() == []


def test_stream_server_error_500_reconnects_and_a_same_minute_gap_is_no_outage(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    clock = SimulatedClock(datetime(2025, 7, 2, 13, 40, 30, tzinfo=UTC))
    provider, sink = make_provider(clock=clock), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)

    fake.send_error(500, "internal error")
    sink.wait_state(CONNECTED, count=2)

    assert sink.details(ConnectionState.RECONNECTING) == ["alpaca error 500: internal error"]
    assert sink.outages() == []  # no bar was due between the drop and the reconnect
    assert len(fake.subscribes()) == 2


def test_stream_counts_and_skips_malformed_messages(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    bars = real_minute_bars("AAPL", "13:30", "13:32")
    provider, sink = make_provider(), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)

    bad_price = {
        "T": "b",
        "S": "AAPL",
        "t": "2025-07-02T13:30:00Z",
        "o": "212",
        "h": 1,
        "l": 1,
        "c": 1,
        "v": 1,
    }
    fake.send_raw(json.dumps([bad_price, {"T": "b", "S": "AAPL", "t": "2025-07-02T13:30:00Z"}]))
    fake.send_raw("this is not JSON")
    fake.push(bars)
    sink.wait_for(lambda: len(sink.delivered()) == 2, "the good bars")

    assert sink.delivered() == bars
    assert provider.stats["malformed"] == 3
    assert provider.state is CONNECTED and fake.connections == 1


def test_stop_stream_closes_within_its_timeout(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    provider, sink = make_provider(), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)

    started = time.monotonic()
    provider.stop_stream(2.0)

    assert time.monotonic() - started < 2.0
    assert provider.state is ConnectionState.CLOSED and sink.states()[-1] is ConnectionState.CLOSED
    assert not any(thread.name == "alpaca-stream" and thread.is_alive() for thread in threading.enumerate())
    assert fake.wait_until(lambda: fake.open_connections == 0)
    assert fake.push(real_minute_bars("AAPL", "13:30", "13:31")) == 0


def test_stop_stream_interrupts_a_backoff_wait(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    fake.connection_limit_next(1)
    provider, sink = make_provider(backoff=Backoff(initial=30.0, cap=30.0)), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(ConnectionState.RECONNECTING)

    started = time.monotonic()
    provider.stop_stream(1.0)

    assert time.monotonic() - started < 1.0
    assert sink.states() == [ConnectionState.CONNECTING, ConnectionState.RECONNECTING, ConnectionState.CLOSED]
    assert fake.connections == 1


def test_start_stream_twice_is_refused(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    provider, sink = make_provider(), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    with pytest.raises(RuntimeError, match="already running"):
        provider.start_stream(["AAPL"], RecordingSink())


# -- quotes ------------------------------------------------------------------------------------


def real_quotes(symbol: str, start: str, end: str) -> list[Quote]:
    """Quotes around real minute closes: at 7 and 41 seconds into each minute, 1 and 2 cents
    either side, with round-lot sizes, venues and a condition."""
    out = []
    for bar in real_minute_bars(symbol, start, end):
        for second, half in ((7, 0.01), (41, 0.02)):
            us = (bar.ts + second) * 1_000_000 + 654_321
            bid, ask = round(bar.close - half, 2), round(bar.close + half, 2)
            out.append(Quote(symbol, us, bid, 300.0, ask, 500.0, "V", "Q", "R"))
    return out


def test_fetch_quotes_follows_pages_and_reads_lots_nanoseconds_and_missing_sides(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    aapl, rivn = real_quotes("AAPL", "13:30", "13:40"), real_quotes("RIVN", "13:30", "13:40")
    one_sided = Quote("RIVN", aapl[-1].event_us + 1, None, 0.0, 12.5, 100.0, None, "Q", "R")
    crossed = Quote("AAPL", aapl[-1].event_us + 5, 214.0, 100.0, 210.0, 100.0)  # far crossed: refused
    fake.add_quotes([*aapl, *rivn, one_sided, crossed])
    fake.page_size = 7
    provider = make_provider()

    got = provider.fetch_quotes(["RIVN", "AAPL"], utc("2025-07-02T13:30"), utc("2025-07-02T13:40"))

    expected = sorted([*aapl, *rivn, one_sided], key=lambda q: (q.symbol, q.event_us))
    assert [q._replace(received_us=None) for q in got] == expected  # lots back to shares, µs kept
    requests = [r for r in fake.requests if r.path == "/v2/stocks/quotes"]
    assert len(requests) == -(-(len(aapl) + len(rivn) + 1) // 7)  # 7 a page, the crossed one among them
    first = requests[0].params
    assert (first["symbols"], first["feed"], first["sort"]) == ("AAPL,RIVN", "iex", "asc")
    assert first["end"] == "2025-07-02T13:39:59.999999Z"
    assert provider.stats["invalid_quotes"] == 1  # the crossed one, left out and counted
    second = provider.fetch_quotes(["RIVN"], one_sided.ts, one_sided.ts + 1)  # the one-sided quote's second
    assert [q._replace(received_us=None) for q in second] == [
        q for q in expected if q.ts == one_sided.ts and q.symbol == "RIVN"
    ]


def test_stream_subscribes_to_quotes_and_delivers_them_in_shares(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    quotes = real_quotes("AAPL", "13:30", "13:35")
    provider, sink = make_provider(), RecordingSink()

    provider.start_stream(["AAPL", "RIVN"], sink, quotes=["AAPL"])
    sink.wait_state(CONNECTED)
    assert fake.actions[-1] == {
        "action": "subscribe", "bars": ["AAPL", "RIVN"], "updatedBars": ["AAPL", "RIVN"], "quotes": ["AAPL"],
    }  # fmt: skip
    assert fake.push_quotes(quotes[:4]) == 1 and fake.push_quotes(quotes[4:]) == 1
    sink.wait_for(lambda: len(sink.quotes_delivered()) == len(quotes), f"{len(quotes)} quotes")

    delivered = sink.quotes_delivered()
    assert [q._replace(received_us=None) for q in delivered] == quotes
    assert all(q.received_us is not None for q in delivered)
    assert provider.stats["quotes"] == len(quotes) and provider.stats["malformed"] == 0


def test_the_iex_feed_refuses_quotes_of_more_than_30_symbols_and_sip_takes_them(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    symbols = [f"S{i:02d}" for i in range(31)]
    with pytest.raises(ProviderSubscriptionError, match="iex feed streams quotes of at most 30 symbols"):
        make_provider().start_stream(symbols, RecordingSink(), quotes=symbols)
    assert fake.connections == 0
    sink = RecordingSink()
    make_provider(feed="sip").start_stream(symbols, sink, quotes=symbols)
    sink.wait_state(CONNECTED)
    assert fake.subscribes()[-1]["quotes"] == symbols


def test_reconnect_cuts_a_mute_socket_and_the_minutes_it_kept_back_are_an_outage(
    fake: FakeAlpaca, make_provider: Callable[..., AlpacaProvider]
) -> None:
    """A socket that stays open but sends nothing never closes by itself: ``reconnect`` (the
    engine's watchdog) cuts it without waiting on a close handshake, and the stream reconnects."""
    bars = real_minute_bars("AAPL", "13:30", "13:40")
    clock = SimulatedClock(datetime(2025, 7, 2, 13, 32, 5, tzinfo=UTC))
    provider, sink = make_provider(clock=clock), RecordingSink()
    provider.start_stream(["AAPL"], sink)
    sink.wait_state(CONNECTED)
    fake.push(bars[:2])
    sink.wait_for(lambda: len(sink.delivered()) == 2, "the first two bars")

    clock.set(datetime(2025, 7, 2, 13, 37, 1, tzinfo=UTC))  # the server has said nothing since
    started = time.monotonic()
    provider.reconnect("no bars for 300s")
    assert time.monotonic() - started < 1.0, "reconnect must not wait on the mute socket"
    sink.wait_state(CONNECTED, count=2)
    sink.wait_for(lambda: sink.outages() != [], "the outage")

    assert sink.states() == [ConnectionState.CONNECTING, CONNECTED, ConnectionState.RECONNECTING, CONNECTED]
    assert sink.outages() == [(utc("2025-07-02T13:32"), utc("2025-07-02T13:37"))]
    assert fake.connections == 2 and len(fake.subscribes()) == 2
    assert fake.push(bars[2:3]) == 1
    sink.wait_for(lambda: len(sink.delivered()) == 3, "a bar after the reconnect")
