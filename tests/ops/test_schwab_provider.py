"""The Schwab adapter against a fake Schwab on local sockets that speaks Schwab's protocol:
tokens (login, proactive refresh, one refresh across processes, expiry), price history (its
1-minute reach, 401 and 429), and the streamer (LOGIN before SUBS, bars in the live field order
and a swapped order caught, level-one deltas merged, codes 3, 12 and 30, a drop, a mute socket).
Bars are the real RIVN minutes of 2025-07-02."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.fake_schwab import FakeSchwab
from support.live import RecordingSink
from support.stores import real_minute_bars

from domain.clock import SimulatedClock
from domain.errors import ProviderAuthError, ProviderNotSupported
from domain.providers import Backoff, ConnectionState
from ops.cli.app import commands
from ops.providers.schwab import SchwabProvider
from ops.providers.schwab_auth import TokenStore, authorize_url, login

CONNECTED = ConnectionState.CONNECTED
NOW = datetime(2025, 7, 2, 20, 0, tzinfo=UTC).timestamp()
REDIRECT = "https://127.0.0.1/callback"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeSchwab]:
    with FakeSchwab() as server:
        yield server


def store(fake: FakeSchwab, tmp_path: Path, clock: Clock | None = None) -> TokenStore:
    return TokenStore(
        tmp_path / "token.json", client_id=fake.client_id, client_secret=fake.client_secret,
        auth_url=fake.api_url, clock=clock or Clock(),
    )  # fmt: skip


def logged_in(fake: FakeSchwab, tmp_path: Path, clock: Clock | None = None) -> TokenStore:
    tokens = store(fake, tmp_path, clock)
    login(tokens, f"{REDIRECT}?code=GOOD-CODE&session=abc", REDIRECT)
    return tokens


def provider(fake: FakeSchwab, tokens: TokenStore, **kwargs: Any) -> SchwabProvider:
    clock = SimulatedClock(datetime(2025, 7, 2, 13, 35, 5, tzinfo=UTC))
    options: dict[str, Any] = {
        "api_url": fake.api_url,
        "clock": clock,
        "backoff": Backoff(0.01, 0.05),
        "request_timeout": 5.0,
    }
    return SchwabProvider(tokens, **(options | kwargs))


# -- tokens ------------------------------------------------------------------------------------


def test_login_prints_a_url_and_turns_the_pasted_callback_into_a_private_token_file(
    fake: FakeSchwab, tmp_path: Path
) -> None:
    url = authorize_url(fake.api_url, fake.client_id, REDIRECT)
    assert url.startswith(f"{fake.api_url}/v1/oauth/authorize?client_id=APPKEY&redirect_uri=https")
    tokens = logged_in(fake, tmp_path)
    saved = json.loads(tokens.path.read_text())
    assert set(saved) == {"access_token", "refresh_token", "expires_at", "refresh_created_at"}
    assert saved["expires_at"] == NOW + 1800 and saved["refresh_created_at"] == NOW
    assert tokens.path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ProviderAuthError, match="has no 'code' parameter"):
        login(tokens, REDIRECT + "?error=access_denied", REDIRECT)


def test_the_access_token_is_refreshed_before_it_expires_and_the_refresh_token_keeps_its_clock(
    fake: FakeSchwab, tmp_path: Path
) -> None:
    clock = Clock()
    tokens = logged_in(fake, tmp_path, clock)
    first = tokens.access_token()
    clock.now += 1800 - 301
    assert tokens.access_token() == first and fake.refreshes == 0
    clock.now += 2  # under five minutes left: refreshed first
    second = tokens.access_token()
    assert second != first and fake.refreshes == 1 and second in fake.valid_tokens
    assert json.loads(tokens.path.read_text())["refresh_created_at"] == NOW


def test_two_processes_at_the_expiry_refresh_once(fake: FakeSchwab, tmp_path: Path) -> None:
    clock = Clock()
    logged_in(fake, tmp_path, clock)
    clock.now += 1800
    stores = [store(fake, tmp_path, clock) for _ in range(4)]  # each as another process would
    got: list[str] = []
    threads = [threading.Thread(target=lambda s=s: got.append(s.access_token())) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert fake.refreshes == 1 and len(set(got)) == 1


def test_an_expired_refresh_token_says_to_log_in_again(fake: FakeSchwab, tmp_path: Path) -> None:
    clock = Clock()
    tokens = logged_in(fake, tmp_path, clock)
    clock.now += 7 * 86_400
    with pytest.raises(ProviderAuthError, match=r"older than 7 days.*marketsession schwab login"):
        tokens.access_token()
    clock.now = NOW + 3600
    fake.expire_refresh_tokens()  # refused by Schwab before its seven days
    with pytest.raises(ProviderAuthError, match=r"refused the token request.*marketsession schwab login"):
        tokens.access_token()
    with pytest.raises(ProviderAuthError, match="no Schwab token file"):
        store(fake, tmp_path / "elsewhere").access_token()


# -- price history ------------------------------------------------------------------------------


def test_price_history_one_symbol_a_request_with_extended_hours_asked_and_401_and_429_handled(
    fake: FakeSchwab, tmp_path: Path
) -> None:
    rivn = [b for b in real_minute_bars("RIVN") if b.ts >= 1_751_463_000][:30]
    fake.add_bars(rivn)
    schwab = provider(fake, logged_in(fake, tmp_path))
    fake.expire_access_tokens()  # refused once: refreshed and asked again
    fake.rate_limit_next(1)
    got = schwab.fetch_bars(["RIVN", "AAPL"], "1m", rivn[0].ts, rivn[-1].ts + 60)
    assert got == rivn
    history = [params for method, path, params in fake.requests if path == "/marketdata/v1/pricehistory"]
    assert {p["symbol"] for p in history} == {"RIVN", "AAPL"}
    assert all(p["needExtendedHoursData"] == "true" and p["frequency"] == "1" for p in history)
    assert schwab.stats["rate_limited"] == 1


def test_one_minute_bars_beyond_schwabs_reach_are_a_clear_error_not_an_empty_answer(
    fake: FakeSchwab, tmp_path: Path
) -> None:
    schwab = provider(fake, logged_in(fake, tmp_path))
    start = int(datetime(2025, 5, 1, tzinfo=UTC).timestamp())
    with pytest.raises(ProviderNotSupported, match="1-minute bars for about 48 days"):
        schwab.fetch_bars(["RIVN"], "1m", start, start + 3600)
    with pytest.raises(ProviderNotSupported, match="cannot serve bars of '2m'"):
        schwab.fetch_bars(["RIVN"], "2m", start, start + 3600)
    assert schwab.fetch_quotes(["RIVN"], start, start + 60) == []  # no quote history


# -- streamer -------------------------------------------------------------------------------------


def streaming(
    fake: FakeSchwab, tmp_path: Path, quotes: tuple[str, ...] = ()
) -> tuple[SchwabProvider, RecordingSink]:
    schwab, sink = provider(fake, logged_in(fake, tmp_path)), RecordingSink()
    schwab.start_stream(["RIVN"], sink, quotes)
    sink.wait_state(CONNECTED)
    assert fake.wait_until(lambda: fake.subscribed("CHART_EQUITY") == {"RIVN"})
    return schwab, sink


def test_login_comes_before_subs_and_bars_in_the_live_field_order_are_delivered(
    fake: FakeSchwab, tmp_path: Path
) -> None:
    schwab, sink = streaming(fake, tmp_path)
    try:
        assert [(a["service"], a["command"]) for a in fake.actions] == [
            ("ADMIN", "LOGIN"),
            ("CHART_EQUITY", "SUBS"),
        ]
        bars = [b for b in real_minute_bars("RIVN") if b.ts >= 1_751_463_000][:3]
        assert fake.heartbeat() == 1 and fake.push_bars(bars) == 1
        sink.wait_for(lambda: len(sink.delivered()) == 3, "three bars")
        assert sink.delivered() == bars and schwab.stats["heartbeats"] == 1
    finally:
        schwab.stop_stream(5)


def test_bars_in_the_published_field_order_are_caught_not_delivered(fake: FakeSchwab, tmp_path: Path) -> None:
    schwab, sink = streaming(fake, tmp_path)
    try:
        bars = [b for b in real_minute_bars("RIVN") if b.ts >= 1_751_463_000][:3]
        fake.push_bars(bars, published_order=True)
        fake.push_bars(bars[:1])
        sink.wait_for(lambda: len(sink.delivered()) == 1, "the one bar in the right order")
        assert schwab.stats["malformed"] == 3
    finally:
        schwab.stop_stream(5)


def test_the_quote_snapshot_seeds_the_book_the_first_level_one_delta_merges_onto(
    fake: FakeSchwab, tmp_path: Path
) -> None:
    t = 1_751_463_004_000
    fake.snapshot["RIVN"] = {"bidPrice": 13.0, "askPrice": 13.04, "bidSize": 3, "askSize": 6,
                             "bidMICId": "EDGX", "askMICId": "ARCX", "quoteTime": t}  # fmt: skip
    schwab, sink = streaming(fake, tmp_path, quotes=("RIVN",))
    try:
        assert fake.wait_until(lambda: fake.subscribed("LEVELONE_EQUITIES") == {"RIVN"})
        fake.push_level_one([{"key": "RIVN", "1": 13.01, "34": t + 1000}])  # only the bid moved
        sink.wait_for(lambda: len(sink.quotes_delivered()) == 2, "the snapshot and the delta")
        seeded, moved = sink.quotes_delivered()
        assert (seeded.bid_price, seeded.ask_price, seeded.bid_size, seeded.ask_size) == (
            13.0,
            13.04,
            300.0,
            600.0,
        )
        assert (seeded.bid_venue, seeded.ask_venue, seeded.event_us) == ("EDGX", "ARCX", t * 1000)
        assert (moved.bid_price, moved.ask_price, moved.ask_size, moved.ask_venue) == (
            13.01,
            13.04,
            600.0,
            "ARCX",
        )
    finally:
        schwab.stop_stream(5)


def test_level_one_deltas_are_merged_onto_the_last_full_state(fake: FakeSchwab, tmp_path: Path) -> None:
    schwab, sink = streaming(fake, tmp_path, quotes=("RIVN",))
    try:
        assert fake.wait_until(lambda: fake.subscribed("LEVELONE_EQUITIES") == {"RIVN"})
        t = 1_751_463_005_000
        fake.push_level_one(
            [{"key": "RIVN", "1": 13.01, "2": 13.03, "4": 3, "5": 5, "6": "Q", "7": "P", "34": t}]
        )
        fake.push_level_one([{"key": "RIVN", "1": 13.02, "34": t + 1500}])  # only the bid moved
        sink.wait_for(lambda: len(sink.quotes_delivered()) == 2, "two quotes")
        first, second = sink.quotes_delivered()
        assert (first.bid_price, first.ask_price, first.bid_size, first.ask_size) == (
            13.01,
            13.03,
            300.0,
            500.0,
        )
        assert (second.bid_price, second.ask_price, second.ask_size, second.ask_venue) == (
            13.02,
            13.03,
            500.0,
            "Q",
        )
        assert second.event_us == (t + 1500) * 1000
    finally:
        schwab.stop_stream(5)


@pytest.mark.parametrize(("code", "detail"), [(12, "one streamer per user"), (19, "symbol limit")])
def test_final_codes_fail_the_stream_without_reconnecting(
    fake: FakeSchwab, tmp_path: Path, code: int, detail: str
) -> None:
    schwab, sink = streaming(fake, tmp_path)
    try:
        fake.send_code(code, "closing")
        sink.wait_state(ConnectionState.FAILED)
        assert detail in (sink.details(ConnectionState.FAILED)[0] or "") and fake.connections == 1
    finally:
        schwab.stop_stream(5)


def test_a_refused_login_fails_with_code_3(fake: FakeSchwab, tmp_path: Path) -> None:
    fake.refuse_login = True
    schwab, sink = provider(fake, logged_in(fake, tmp_path)), RecordingSink()
    try:
        schwab.start_stream(["RIVN"], sink)
        sink.wait_state(ConnectionState.FAILED)
        assert "login denied" in (sink.details(ConnectionState.FAILED)[0] or "")
    finally:
        schwab.stop_stream(5)


@pytest.mark.parametrize("how", ["code 30", "drop", "mute"])
def test_stop_streaming_a_drop_and_a_mute_socket_reconnect_resubscribe_and_report_the_outage(
    fake: FakeSchwab, tmp_path: Path, how: str
) -> None:
    schwab, sink = streaming(fake, tmp_path)
    try:
        bars = [b for b in real_minute_bars("RIVN") if b.ts >= 1_751_463_000][:2]
        fake.push_bars(bars)
        sink.wait_for(lambda: len(sink.delivered()) == 2, "two bars")
        schwab.clock().set(datetime(2025, 7, 2, 13, 40, 5, tzinfo=UTC))  # type: ignore[attr-defined]
        if how == "code 30":
            fake.send_code(30, "stop streaming")
        elif how == "drop":
            fake.drop_connections()
        else:
            fake.muted = True  # connected, silent: the watchdog's reconnect cuts it
            schwab.reconnect("no bars for 180s")
            fake.muted = False
        sink.wait_state(CONNECTED, count=2)
        sink.wait_for(lambda: sink.outages() != [], "the outage")
        assert sink.outages() == [
            (bars[-1].ts + 60, int(datetime(2025, 7, 2, 13, 40, tzinfo=UTC).timestamp()))
        ]
        assert fake.wait_until(lambda: fake.connections == 2 and fake.subscribed("CHART_EQUITY") == {"RIVN"})
    finally:
        schwab.stop_stream(5)


# -- the command line --------------------------------------------------------------------------


def schwab_env(fake: FakeSchwab, tmp_path: Path) -> dict[str, str | None]:
    return {
        "SCHWAB_CLIENT_ID": fake.client_id, "SCHWAB_CLIENT_SECRET": fake.client_secret,
        "SCHWAB_API_URL": fake.api_url, "SCHWAB_TOKEN_FILE": str(tmp_path / "token.json"),
        "MARKETSESSION_DB": None,
    }  # fmt: skip


def test_schwab_login_prints_the_url_and_writes_the_token_file_from_the_pasted_callback(
    fake: FakeSchwab, tmp_path: Path
) -> None:
    runner = CliRunner()
    done = runner.invoke(
        commands(), ["schwab", "login"], env=schwab_env(fake, tmp_path),
        input="https://127.0.0.1/?code=GOOD-CODE&session=s\n",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"{fake.api_url}/v1/oauth/authorize?client_id=APPKEY" in done.stdout
    assert "signed in: tokens written to" in done.stdout
    assert json.loads((tmp_path / "token.json").read_text())["access_token"] in fake.valid_tokens
    bad = runner.invoke(
        commands(), ["schwab", "login"], env=schwab_env(fake, tmp_path), input="https://127.0.0.1/?code=BAD\n"
    )
    assert bad.exit_code == 2 and "marketsession schwab login" in bad.stderr


def test_serve_on_schwab_with_an_expired_login_is_exit_2_saying_what_to_do(
    fake: FakeSchwab, tmp_path: Path, sqlite_url: str
) -> None:
    clock = Clock(datetime.now(UTC).timestamp() - 8 * 86_400)  # a login of eight days ago
    logged_in(fake, tmp_path, clock)
    config = tmp_path / "schwab.json"
    data = json.loads(Path("session_configs/live_session_example.json").read_text())
    data["api_config"]["data_api"] = "schwab"
    config.write_text(json.dumps(data))
    done = CliRunner().invoke(
        commands(), ["--db", sqlite_url, "serve", str(config), "--port", "0"], env=schwab_env(fake, tmp_path)
    )
    assert done.exit_code == 2, done.output
    assert "older than 7 days and has expired: run `marketsession schwab login`" in done.stderr
