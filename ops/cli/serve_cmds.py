"""``marketsession serve CONFIG``: the live service (SPEC §8–§9; runbook: ``ops/RUNBOOK.md``).

The provider is the config's ``api_config.data_api``:

- ``replay`` replays stored bars of past days as live feeds (``--replay-date``, default the
  latest stored day) on ``--replay-days`` consecutive trading days from ``--replay-target``
  (default today), its clock starting at ``--replay-start`` (exchange time; default now) and
  running ``--speed`` times faster than the wall clock; provider faults with ``--fault`` (every
  day); the run ends after the replay's last day;
- ``alpaca`` streams Alpaca market data v2 (keys from ``APCA_API_KEY_ID`` /
  ``APCA_API_SECRET_KEY``; ``APCA_API_DATA_URL``, ``APCA_API_STREAM_URL``, ``APCA_DATA_FEED``
  override the endpoints and the feed);
- ``schwab`` streams the Schwab Trader API (``SCHWAB_CLIENT_ID`` / ``SCHWAB_CLIENT_SECRET``, the
  token file of ``marketsession schwab login`` in ``SCHWAB_TOKEN_FILE``; an expired login is
  exit 2 at start).

Signals: SIGTERM or SIGINT drain — the stream stops, the bars already delivered are stored and
the day is closed with its summary — within ``--drain-timeout``; SIGHUP re-reads the trading
calendar (as ``POST /calendar/reload`` does). Exit 0 when the run completed or was stopped by a
signal, 1 when it failed, 2 for bad input.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import socket
import threading
from datetime import date, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from domain.errors import FaultError, ServiceError
from ops.cli.app import EXIT_OK, EXIT_RUNTIME, CliState, FiniteFloat, cli, load_config
from ops.cli.run_cmds import REPORT_OPTION

if TYPE_CHECKING:  # imported by the command that runs
    from domain.config import SessionConfig
    from domain.providers import MarketDataProvider
    from ops.faults import FaultPlan


def _parse_start(text: str | None) -> time_of_day | None:
    if text is None:
        return None
    try:
        return time_of_day.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"expected HH:MM or HH:MM:SS, got {text!r}", param_hint="--replay-start"
        ) from None


def make_provider(
    config: SessionConfig,
    store: Any,
    plan: FaultPlan,
    *,
    replay_date: date | None,
    replay_target: date | None,
    replay_days: int,
    replay_start: time_of_day | None,
    replay_origin: float | None,
    speed: float,
    quiet_factor: float,
    seed: int,
) -> MarketDataProvider:
    """The provider the config names (see the module docstring)."""
    data_api = config.api_config.data_api
    if data_api in ("alpaca", "schwab"):
        if plan.provider.any:
            raise FaultError("provider faults (drop, disconnect, …) need the replay provider")
        replaying = replay_date or replay_target or replay_days != 1 or replay_start
        if replaying or replay_origin is not None or speed != 1.0 or quiet_factor != 1.0:
            raise click.UsageError(
                "--replay-date, --replay-target, --replay-days, --replay-start, --replay-origin, "
                "--speed and --quiet-factor apply to replay"
            )
        if data_api == "schwab":
            from ops.providers.schwab import SchwabProvider

            schwab = SchwabProvider.from_env()
            schwab.check_login()  # an expired login is exit 2 now, not a failed stream later
            return schwab
        from ops.providers.alpaca import AlpacaProvider

        return AlpacaProvider.from_env()
    from ops.providers.replay import replay_from_store

    return replay_from_store(
        store,
        config,
        source_day=replay_date,
        target_day=replay_target,
        days=replay_days,
        start=replay_start,
        origin=replay_origin,
        speed=speed,
        quiet_factor=quiet_factor,
        faults=plan.provider,
        seed=seed,
    )


class _Host(click.ParamType[str]):
    """An address to listen on: an IP address, or a host name this machine resolves."""

    name = "host"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_address(text))
        if not _HOST_NAME.fullmatch(text) or text.replace(".", "").isdigit():
            self.fail(f"{text!r} is neither an IP address nor a host name", param, ctx)
        try:
            socket.getaddrinfo(text, None)
        except OSError:
            self.fail(f"{text!r} does not resolve to an address", param, ctx)
        return text


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_HOST = _Host()


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--host", type=_HOST, default="127.0.0.1", show_default=True, help="HTTP address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="HTTP port (0: any free one).",
)
@click.option(
    "--replay-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="replay: the stored day to replay (default: latest).",
)
@click.option(
    "--replay-target",
    type=click.DateTime(["%Y-%m-%d"]),
    help="replay: the first trading day replayed onto (default: today, or the next trading day).",
)
@click.option(
    "--replay-days", type=click.IntRange(1, 3660), default=1, show_default=True,
    help="replay: consecutive trading days served (the stored days from --replay-date, in order).",
)  # fmt: skip
@click.option(
    "--replay-start", metavar="HH:MM[:SS]", help="replay: exchange time the clock starts at (default: now)."
)
@click.option(
    "--replay-origin", type=FiniteFloat(min=0), metavar="UNIX_TIME",
    help="replay: the wall time at which the clock read --replay-start (default: now); a restarted "
    "service given the same start and origin rejoins the same timeline, as a real feed's clock would.",
)  # fmt: skip
@click.option(
    "--speed", type=FiniteFloat(min=0, min_open=True), default=1.0, show_default=True,
    help="replay: how much faster than the wall clock the session clock runs.",
)  # fmt: skip
@click.option(
    "--quiet-factor", type=FiniteFloat(min=1), default=1.0, show_default=True,
    help="replay: how much faster still the clock runs when the market is shut (outside each "
    "trading day's session and half an hour either side), so a week of sessions replays in minutes.",
)  # fmt: skip
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Inject a fault (see `chaos --help`); repeatable.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the replay's random faults.")
@click.option(
    "--once/--keep-running", default=None,
    help="Stop after today's session, or go on with the next trading days "
    "(default: --keep-running; a replay ends after its last day).",
)  # fmt: skip
@REPORT_OPTION
@click.option(
    "--drain-timeout", type=FiniteFloat(min=0, min_open=True), default=15.0, show_default=True,
    help="Seconds a SIGTERM may take to store, close the day and stop.",
)  # fmt: skip
@click.option(
    "--token-file", type=click.Path(dir_okay=False), default=None,
    help="The token POST endpoints require (Authorization: Bearer TOKEN); default "
    "$MARKETSESSION_SERVICE_TOKEN; without one, POST is refused (SIGHUP still reloads the calendar).",
)  # fmt: skip
@click.option(
    "--allow-host", "allow_hosts", multiple=True, metavar="NAME",
    help="A name clients may use in Host besides the bound address (repeatable; e.g. the "
    "service's DNS name behind a proxy).",
)  # fmt: skip
@click.pass_obj
def serve(
    state: CliState,
    config_path: str,
    host: str,
    port: int,
    replay_date: datetime | None,
    replay_target: datetime | None,
    replay_days: int,
    replay_start: str | None,
    replay_origin: float | None,
    speed: float,
    quiet_factor: float,
    faults: tuple[str, ...],
    seed: int,
    once: bool | None,
    report_path: str | None,
    drain_timeout: float,
    token_file: str | None,
    allow_hosts: tuple[str, ...],
) -> None:
    """Run a live session as a service: HTTP / (a status page) /healthz /readyz /metrics /status
    on HOST:PORT."""
    import structlog

    from actors.system import MarketSessionSystem
    from domain.messages.events import SessionEnded
    from ops.day_reports import DayReports
    from ops.faults import FaultyBars, parse_faults
    from ops.http_guard import HttpGuard, load_token
    from ops.run_output import default_report_path, summary_console, summary_table, write_report
    from ops.service import LiveService

    log = structlog.get_logger("marketsession.serve")
    config = load_config(config_path, "live")
    try:
        token = load_token(token_file, os.environ)
    except ServiceError as error:  # bad input: exit 2
        raise click.BadParameter(str(error), param_hint="'--token-file'") from None
    guard = HttpGuard.of(host, token, allow_hosts)
    plan = parse_faults(faults, live=True)
    start = _parse_start(replay_start)
    store = state.store()
    if any(crash.at_time is not None for crash in plan.crashes):  # HH:MM is exchange time
        plan.timezone = state.calendar(config.exchange_group).timezone()
    provider = make_provider(
        config, store, plan, replay_date=replay_date.date() if replay_date else None,
        replay_target=replay_target.date() if replay_target else None, replay_days=replay_days,
        replay_start=start, replay_origin=replay_origin, speed=speed, quiet_factor=quiet_factor, seed=seed,
    )  # fmt: skip
    if plan.store_failures:  # the replay provider's bars are kept in store.replayed
        store.bars = FaultyBars(store.bars, plan)  # type: ignore[assignment]  # same interface
        store.replayed = FaultyBars(store.replayed, plan)  # type: ignore[assignment]
    keep_running = True if once is None else not once
    engine = MarketSessionSystem(
        config, store, provider=provider, keep_running=keep_running,
        faults=plan if (plan.crashes or plan.delays or plan.store_failures) else None,
    )  # fmt: skip
    run_report_path = Path(report_path) if report_path else default_report_path(state.db_url, config_path)
    engine.subscribe(DayReports(config, run_report_path, speed), [SessionEnded], name="day-reports")
    try:
        service = LiveService(
            engine, host=host, port=port, reload_calendar=engine.reload_calendar, guard=guard
        )
    except OSError as error:
        raise ServiceError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None

    stop = threading.Event()
    reason: list[str] = []

    def on_stop(signum: int, _frame: Any) -> None:
        reason.append(f"{signal.Signals(signum).name} received")
        stop.set()

    def on_hup(_signum: int, _frame: Any) -> None:
        try:
            log.info("calendar_reloaded", result=engine.reload_calendar())
        except Exception as error:
            log.error("calendar_reload_failed", error=f"{type(error).__name__}: {error}")

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        engine.start()
        service.start()
        bound_host, bound_port = service.address
        log.info(
            "serving", host=bound_host, port=bound_port, session=config.session_name, provider=provider.name,
            keep_running=keep_running,
        )  # fmt: skip
        while not engine.done and not stop.is_set():
            stop.wait(0.5)
        if engine.done:
            report = engine.report
        else:
            log.info("draining", reason=reason[0] if reason else "stop")
            provider.stop_stream(min(5.0, drain_timeout))
            report = engine.stop(reason[0] if reason else "stopped", timeout=drain_timeout)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.shutdown()
        service.close()
    assert report is not None
    path = write_report(report, run_report_path)
    console = summary_console()
    console.print(summary_table(report, console.width))
    console.print(f"report: {path}")
    log.info("stopped", status=report.status, error=report.error, report=str(path))
    raise SystemExit(EXIT_RUNTIME if report.status == "failed" else EXIT_OK)
