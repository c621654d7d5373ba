"""``marketsession serve`` run as an operator runs it: a subprocess on a real SQLite file, its HTTP
endpoints over real sockets, its signals, its JSON logs, its exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from support.browser import chromium, open_page
from support.cli import executable, run_cli
from support.stores import seed

from domain.calendar.trading_calendar import TradingCalendar
from domain.session.windows import DayHours
from domain.store import open_store
from ops.demo_data import generate_demo_quotes
from ops.soak import ServeProcess, complete_session_bars, wait_for

pytestmark = pytest.mark.slow

SOURCE = date(2025, 7, 2)
SYMBOLS = ["AAA", "BBB"]
NEW_YORK = ZoneInfo("America/New_York")


def _config(data_api: str = "replay", mode: str = "live") -> dict[str, Any]:
    config: dict[str, Any] = {
        "session_name": "Serve test",
        "mode": mode,
        "session_data_config": {
            "symbols": SYMBOLS,
            "streams": ["1m", "5m", "quotes"],
            "gap_filler": {"max_retries": 2, "retry_interval_seconds": 60},
        },
        "trading_config": {
            "max_buying_power": 1000,
            "max_per_trade": 100,
            "max_per_symbol": 100,
            "max_open_positions": 1,
        },
        "api_config": {"data_api": data_api, "trade_api": "paper"},
    }
    if mode == "backtest":
        config["backtest_config"] = {"start_date": "2025-07-02", "end_date": "2025-07-02"}
    return config


@pytest.fixture
def live_setup(tmp_path: Path) -> Iterator[tuple[str, Path, date]]:
    """A store with the calendar and a complete source day; a live config on the replay provider."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with open_store(url) as store:
        seed(store, start_year=2025, end_year=datetime.now(UTC).year + 1)
        calendar = TradingCalendar(store.calendar, "US_EQUITY")
        hours = DayHours.from_session(calendar.get_trading_session(SOURCE))  # type: ignore[arg-type]  # a trading day
        bars = complete_session_bars(SYMBOLS, hours)
        store.bars.insert_missing(bars)
        store.quotes.write(generate_demo_quotes(bars, hours.open_ts, hours.close_ts), source="test")
        target = calendar.get_first_trading_date(datetime.now(UTC).astimezone(NEW_YORK).date())
    config = tmp_path / "live.json"
    config.write_text(json.dumps(_config()), encoding="utf-8")
    yield url, config, target


def _serve(url: str, config: Path, tmp_path: Path, *extra: str) -> ServeProcess:
    args = [
        executable(), "--db", url, "serve", str(config), "--port", "0", "--replay-date", SOURCE.isoformat(),
        "--report", str(tmp_path / "report.json"), *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MARKETSESSION_DB"}
    return ServeProcess(args, tmp_path / "serve.log", env=env)


def test_endpoints_then_sigterm_drains_and_keeps_every_bar(live_setup: Any, tmp_path: Path) -> None:
    url, config, target = live_setup
    with _serve(url, config, tmp_path, "--replay-start", "09:29", "--speed", "30", "--once") as service:
        service.wait_serving(30)
        assert service.get("/healthz").json() == {"status": "alive"}
        assert wait_for(lambda: service.get("/readyz").status_code == 200, 30), service.get("/readyz").text
        assert wait_for(lambda: (service.status() or {}).get("counters", {}).get("stored", 0) >= 4, 30)
        status = service.status()
        assert status is not None
        assert status["state"] == "streaming" and status["day"] == target.isoformat()
        assert status["provider"]["state"] == "connected" and status["provider"]["name"] == "replay"
        assert set(status["symbols"]) == set(SYMBOLS)
        assert wait_for(
            lambda: ((service.status() or {})["symbols"]["AAA"].get("quotes") or {}).get("rows", 0) > 0, 30
        )
        assert set(status["actors"]) >= {"session_coordinator", "gap_filler", "quality_calculator"}
        metrics = service.get("/metrics").text
        for name in (
            "marketsession_bars_received_total",
            'marketsession_quality_percent{interval="1m",symbol="AAA"}',
            "marketsession_lag_seconds",
            "marketsession_gaps_open",
            "marketsession_provider_reconnects_total",
            "marketsession_bar_latency_seconds_bucket",
            'marketsession_actor_mailbox_size{actor="gap_filler"}',
            "process_resident_memory_bytes",
            'marketsession_quote_coverage_percent{symbol="AAA"}',
            "marketsession_quotes_received_total",
        ):
            assert name in metrics, name
        assert service.get("/nowhere").status_code == 404
        service.proc.send_signal(signal.SIGTERM)
        assert service.finish(30) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "stopped" and report["days"][0]["ended_early"] is True
    with open_store(url) as store:
        calendar = TradingCalendar(store.calendar, "US_EQUITY")
        hours = DayHours.from_session(calendar.get_trading_session(target))  # type: ignore[arg-type]  # a trading day
        stored = sum(len(store.replayed.read(s, "1m", hours.open_ts, hours.close_ts)) for s in SYMBOLS)
        quotes = sum(store.replayed_quotes.count(s) for s in SYMBOLS)
    assert stored == sum(d["bars_streamed"] for d in report["days"]) > 0
    assert quotes == sum(d["quotes_streamed"] for d in report["days"]) > 0  # every quote held was stored
    events = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    assert {"serving", "draining", "stopped"} <= {e["event"] for e in events}  # every line is JSON


def test_sighup_reloads_a_closure_patched_while_running(live_setup: Any, tmp_path: Path) -> None:
    url, config, target = live_setup
    with _serve(url, config, tmp_path, "--replay-start", "09:29", "--speed", "30", "--once") as service:
        service.wait_serving(30)
        assert wait_for(lambda: service.get("/readyz").status_code == 200, 30)
        patched = run_cli("calendar", "patch", target.isoformat(), "--closed", "Unscheduled closure", db=url)
        assert patched.code == 0, patched.err
        service.proc.send_signal(signal.SIGHUP)
        assert service.finish(30) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "completed" and report["days"][0]["ended_early"] is True
    assert any("now closed in the calendar" in w for w in report["warnings"])
    assert any(e["event"] == "calendar_reloaded" for e in service.events)


def test_post_calendar_reload_answers_what_changed(live_setup: Any, tmp_path: Path) -> None:
    url, config, target = live_setup
    token = tmp_path / "token"
    token.write_text("s3cret-token-of-the-service\n")
    with _serve(
        url,
        config,
        tmp_path,
        "--replay-start",
        "09:29",
        "--speed",
        "30",
        "--once",
        "--token-file",
        str(token),
    ) as service:
        service.wait_serving(30)
        assert wait_for(lambda: service.get("/readyz").status_code == 200, 30)
        reload = f"http://127.0.0.1:{service.port}/calendar/reload"
        assert httpx.post(reload, timeout=10).status_code == 401  # no token: refused
        answer = httpx.post(
            reload, json={}, headers={"Authorization": "Bearer s3cret-token-of-the-service"}, timeout=10
        )
        assert answer.status_code == 200
        assert answer.json() == {"reloaded": f"no change to {target.isoformat()}"}
        service.proc.send_signal(signal.SIGINT)
        assert service.finish(30) == 0


@pytest.mark.parametrize(
    ("change", "extra", "code", "message"),
    [
        ({"data_api": "schwab"}, (), 2, "SCHWAB_CLIENT_ID is not set"),
        ({"mode": "backtest"}, (), 2, "`serve` runs live sessions"),
        ({"data_api": "alpaca"}, (), 2, "APCA_API_KEY_ID"),
        ({}, ("--fault", "drop:2"), 2, "drop takes a fraction"),
        ({}, ("--replay-date", "2025-07-04"), 2, "not a trading day"),
        ({}, ("--replay-date", "2025-07-03"), 2, "no 1m bars stored"),
        ({}, ("--replay-days", "0"), 2, "--replay-days"),
        ({}, ("--quiet-factor", "0.5"), 2, "--quiet-factor"),
        ({}, ("--replay-target", "2026-11-26"), 2, "2026-11-26 is not a trading day"),
        ({"data_api": "alpaca"}, ("--replay-days", "5"), 2, "apply to replay"),
    ],
)
def test_bad_input_fails_fast_with_a_clear_error(
    live_setup: Any, tmp_path: Path, change: dict[str, str], extra: tuple[str, ...], code: int, message: str
) -> None:
    url, _, _ = live_setup
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(_config(**change)), encoding="utf-8")
    env_keys = [k for k in os.environ if k.startswith("APCA_")]
    assert not env_keys, "the test expects no Alpaca keys in the environment"
    result = run_cli("serve", str(config), "--port", "0", *extra, db=url)
    assert result.code == code, result.err
    assert message in result.err
    assert "Traceback" not in result.err


def test_a_taken_port_is_a_clear_runtime_error(live_setup: Any, tmp_path: Path) -> None:
    url, config, _ = live_setup
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "serve", str(config), "--port", str(port), "--replay-date", SOURCE.isoformat(), db=url
        )
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.err


def test_a_stalled_feed_makes_readyz_not_ready_with_the_reason_and_shows_in_metrics() -> None:
    """The service's endpoints over an engine whose watchdog finds the bar stream mute (a stand-in
    engine: the state is set, not waited for), on a real socket."""
    from domain.session.status import Latency, LiveStatus
    from ops.service import LiveService

    status = LiveStatus(
        session="s", state="streaming", day="2025-07-03", open_ts=0, close_ts=1, now_ts=0, clock_speed=1.0,
        loaded=True, provider_state="connected", provider_detail=None, counters={"stalls": 2}, refused={},
        latency=Latency(0, 0.0, None, None, ((float("inf"), 0),)), symbols={}, days_done=(), warnings=(),
        stalled=("no bars for 180s of session time (since 14:00:00Z)",),
    )  # fmt: skip

    class Engine:
        done, report, provider = False, None, None

        def live_status(self, timeout: float | None = None) -> LiveStatus:
            return status

        def stats(self) -> dict[str, Any]:
            return {}

    service = LiveService(Engine(), host="127.0.0.1", port=0, reload_calendar=lambda: "").start()  # type: ignore[arg-type]
    try:
        host, port = service.address
        ready = httpx.get(f"http://{host}:{port}/readyz", timeout=5)
        assert ready.status_code == 503
        assert "provider stalled: no bars for 180s of session time (since 14:00:00Z)" in ready.text
        metrics = httpx.get(f"http://{host}:{port}/metrics", timeout=5).text
        assert "marketsession_provider_stalled 1.0" in metrics
        assert "marketsession_provider_stalls_total 2.0" in metrics
    finally:
        service.close()


def test_a_mute_feed_is_reconnected_by_the_watchdog_and_nothing_it_kept_back_is_lost(
    live_setup: Any, tmp_path: Path
) -> None:
    """``--fault mute:09:35+3600``: the replay says connected and sends nothing from 09:35; the
    service logs the stall, reconnects and goes on; at the close every bar of the day is stored."""
    url, config, target = live_setup
    args = ("--replay-start", "09:29", "--speed", "1500", "--once", "--fault", "mute:09:35+3600")
    with _serve(url, config, tmp_path, *args) as service:
        service.wait_serving(30)
        assert wait_for(lambda: any(e["event"] == "replay_reconnect_asked" for e in service.events), 60)
        assert service.finish(120) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "completed", report["error"]
    # at 1500x both kinds' limits are the wall floor (a quarter second, 375 s of session): either stalls
    assert any("provider stalled: no " in w for w in report["warnings"]), report["warnings"]
    (day,) = report["days"]
    for symbol in SYMBOLS:
        assert day["symbols"][symbol]["session"]["1m"]["quality"] == 100.0
    with open_store(url) as store:
        calendar = TradingCalendar(store.calendar, "US_EQUITY")
        hours = DayHours.from_session(calendar.get_trading_session(target))  # type: ignore[arg-type]  # a trading day
        assert all(len(store.replayed.read(s, "1m", hours.open_ts, hours.close_ts)) == 390 for s in SYMBOLS)


def test_the_status_page_draws_the_session_from_status_in_chromium(live_setup: Any, tmp_path: Path) -> None:
    """``GET /`` in headless Chromium: the page fills its table from ``/status`` with every
    symbol, says nothing on the console and asks no other host; a screenshot is kept."""
    url, config, _ = live_setup
    with _serve(url, config, tmp_path, "--replay-start", "09:29", "--speed", "120", "--once") as service:
        service.wait_serving(30)
        base = f"http://127.0.0.1:{service.port}"
        page_html = service.get("/")
        assert page_html.status_code == 200 and page_html.headers["content-type"].startswith("text/html")
        assert wait_for(lambda: (service.status() or {}).get("counters", {}).get("stored", 0) >= 2, 30)
        with chromium() as browser:
            opened = open_page(browser, f"{base}/?refresh=0.1", base, width=1000, height=500)
            page = opened.page
            page.wait_for_function(
                "document.body.dataset.updated || document.getElementById('error').textContent",
                timeout=30_000,
            )
            assert page.locator("#error").inner_text() == "", opened.said
            rows = page.locator("#symbols tbody tr").all()
            assert {row.get_attribute("data-symbol") for row in rows} == set(SYMBOLS)
            assert "provider: connected" in page.locator("#provider").inner_text()
            seen = int(page.get_attribute("body", "data-updated"))
            page.wait_for_function(  # it refreshes itself
                f"Number(document.body.dataset.updated) > {seen}", timeout=30_000
            )
            opened.screenshot("status-page.png")
        said, elsewhere = opened.said, opened.elsewhere
        assert said == [] and elsewhere == []
        service.proc.send_signal(signal.SIGTERM)
        assert service.finish(30) == 0
