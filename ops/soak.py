"""The live soak: ``marketsession serve`` on the replay provider over a whole regular
session, with dropped bars, a disconnect and a ``kill -9`` + restart halfway — then what the
store holds is checked bar by bar.

``python -m ops.soak [--symbols 5] [--speed 600] [--drop 0.05] [--json PATH]`` prints the
figures; ``tests/ops/test_soak.py`` runs it in CI and asserts on them.

Set-up (in a temporary directory): an SQLite store with the US_EQUITY calendar and, for a past
source day, every regular-session minute of every symbol (no real gaps, so 100 % is reachable).
Then ``serve`` runs as an operator would run it, as a subprocess, its clock starting a minute
before the open. When the session clock passes the kill time the process gets SIGKILL; it is
started again at the clock time it would have reached, and must recover what it missed from the
provider (the gap filler) and finish the day. Every figure comes from the service's own
``/status`` and ``/metrics``, its report, its logs, and the store.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from domain.bars import Bar
from domain.calendar.trading_calendar import TradingCalendar
from domain.session.windows import DayHours
from domain.store import open_store
from ops.calendars.seed import seed_group

__all__ = ["ServeProcess", "SoakResult", "complete_session_bars", "run_soak", "soak_config", "wait_for"]

SOURCE_DAY = date(2025, 7, 2)
ZONE = ZoneInfo("America/New_York")


@dataclass
class SoakResult:
    symbols: int
    speed: float
    target_day: str = ""
    expected_bars: int = 0
    stored_session_bars: int = 0
    duplicates_in_store: int = 0
    stored_at_kill: int = 0
    lost_after_restart: int = 0
    sent: int = 0
    dropped: int = 0
    lost_disconnected: int = 0
    filled: int = 0
    resumed: int = 0
    gaps_filled: int = 0
    gaps_abandoned: int = 0
    reconnects: int = 0
    quality: dict[str, dict[str, float | None]] = field(default_factory=dict)
    report_status: str = ""
    restart_missed_minutes: float = 0.0
    """Session minutes between the last status before the kill and the restarted service's first."""
    restart_ready_seconds: float | None = None
    restart_recovered_seconds: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    rss_after_warmup_mb: float | None = None
    rss_end_mb: float | None = None
    wall_seconds: float = 0.0
    exit_codes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def complete_session_bars(symbols: list[str], hours: DayHours, seed: int = 7) -> list[Bar]:
    """A 1m bar for every regular-session minute of ``hours`` for each symbol (a random walk)."""
    rng = random.Random(seed)
    bars: list[Bar] = []
    for i, symbol in enumerate(symbols):
        price = 50.0 + 25 * i
        for ts in range(hours.open_ts, hours.close_ts, 60):
            move = rng.gauss(0, 0.001) * price
            open_, close = price, max(1.0, price + move)
            high, low = max(open_, close) * 1.0005, min(open_, close) * 0.9995
            bars.append(Bar(symbol, "1m", ts, open_, high, low, close, float(rng.randint(100, 5000))))
            price = close
    return bars


def soak_config(symbols: list[str]) -> dict[str, Any]:
    return {
        "session_name": "Soak (replay)",
        "mode": "live",
        "session_data_config": {
            "symbols": symbols,
            "streams": ["1m", "5m"],
            "historical": {"enable_quality": True, "data": [{"trailing_days": 1, "intervals": ["1m"]}]},
            "gap_filler": {"max_retries": 5, "retry_interval_seconds": 60, "enable_session_quality": True},
        },
        "trading_config": {
            "max_buying_power": 1000,
            "max_per_trade": 100,
            "max_per_symbol": 100,
            "max_open_positions": 1,
        },
        "api_config": {"data_api": "replay", "trade_api": "paper"},
    }


class ServeProcess:
    """One ``serve`` subprocess: its JSON log lines are read on a thread, its port found in them."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        self.port: int | None = None
        self.events: list[dict[str, Any]] = []
        self.last_status: dict[str, Any] = {}
        """The last ``/status`` answer read."""
        self._serving = threading.Event()
        # one client for every request (a client per request builds an SSL context each time);
        # no keep-alive, so a request never meets a connection the service has just closed
        self.http = httpx.Client(timeout=5.0, limits=httpx.Limits(max_keepalive_connections=0))
        self._log = log_path.open("a", encoding="utf-8")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._log.write(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.append(event)
            if event.get("event") == "serving":
                self.port = int(event["port"])
                self._serving.set()
        self._log.flush()

    def wait_serving(self, timeout: float) -> int:
        if not self._serving.wait(timeout) or self.port is None:
            raise RuntimeError(f"serve did not start within {timeout}s (exit {self.proc.poll()})")
        return self.port

    def get(self, path: str) -> httpx.Response:
        return self.http.get(f"http://127.0.0.1:{self.port}{path}")

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"http://127.0.0.1:{self.port}{path}", **kwargs)

    def status(self) -> dict[str, Any] | None:
        try:
            response = self.get("/status")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        self.last_status = response.json()
        return self.last_status

    def rss_mb(self) -> float | None:
        try:
            metrics = self.get("/metrics").text
        except httpx.HTTPError:
            return None
        for line in metrics.splitlines():
            if line.startswith("process_resident_memory_bytes "):
                return float(line.split()[1]) / 2**20
        return None

    def finish(self, timeout: float) -> int:
        """Wait for the process to exit; its exit code (negative: killed by that signal)."""
        code = self.proc.wait(timeout)
        self.http.close()
        self._reader.join(5.0)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self._log.close()
        return code

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        if not self._log.closed:
            self.finish(10)


def wait_for(condition: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        threading.Event().wait(step)
    return False


def run_soak(
    workdir: Path,
    *,
    symbols: int = 5,
    speed: float = 600.0,
    drop: float = 0.05,
    disconnect: str = "11:00+300",
    kill_at: time_of_day = time_of_day(12, 45),
    executable: str | None = None,
    timeout: float = 150.0,
) -> SoakResult:
    """Run the soak in ``workdir``; see the module docstring."""
    began = time.monotonic()
    names = [f"SOAK{i}" for i in range(symbols)]
    result = SoakResult(symbols=symbols, speed=speed)
    url = f"sqlite:///{workdir / 'soak.db'}"
    config_path = workdir / "soak_session.json"
    config_path.write_text(json.dumps(soak_config(names)), encoding="utf-8")
    today = datetime.now(UTC).astimezone(ZONE).date()
    with open_store(url) as store:
        seed_group(store.calendar, "US_EQUITY", SOURCE_DAY.year, today.year + 1, datetime.now(UTC))
        calendar = TradingCalendar(store.calendar, "US_EQUITY", "EQUITY")
        source = DayHours.from_session(calendar.get_trading_session(SOURCE_DAY))
        target_day = calendar.get_first_trading_date(today)
        target = DayHours.from_session(calendar.get_trading_session(target_day))
        store.bars.insert_missing(
            complete_session_bars(names, source), source="demo", received_at=int(time.time())
        )
    result.target_day = target_day.isoformat()
    result.expected_bars = symbols * len(range(target.open_ts, target.close_ts, 60))
    exe = executable or str(Path(sys.executable).with_name("marketsession"))

    origin = time.time()  # the session timeline: the clock reads 09:29 now, then runs at `speed`

    def serve() -> ServeProcess:
        args = [
            exe, "--db", url, "serve", str(config_path), "--port", "0", "--once",
            "--replay-date", SOURCE_DAY.isoformat(), "--replay-start", "09:29:00",
            "--replay-origin", repr(origin), "--speed", str(speed),
            "--fault", f"drop:{drop}", "--fault", f"disconnect:{disconnect}",
            "--report", str(workdir / "soak.report.json"),
        ]  # fmt: skip
        return ServeProcess(args, workdir / "serve.log")

    def stored(until: int = target.close_ts) -> tuple[int, int]:
        """(rows, distinct (symbol, ts)) of 1m bars the replay stored from the open until ``until``."""
        with open_store(url) as store, store.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT symbol || ':' || ts) FROM replayed_bars "
                    "WHERE interval = '1m' AND ts >= :open AND ts < :until"
                ),
                {"open": target.open_ts, "until": until},
            ).one()
        return int(row[0]), int(row[1])

    kill_ts = datetime.combine(target_day, kill_at, ZONE).timestamp()
    first = serve()
    first.wait_serving(30)
    last: dict[str, Any] = {}

    def reached_kill() -> bool:
        status = first.status() or {}
        last.update(status)
        return bool(status.get("now_ts", 0) >= kill_ts)

    if not wait_for(reached_kill, timeout / 2):
        first.proc.kill()
        raise RuntimeError("the first service never reached the kill time")
    first.proc.send_signal(signal.SIGKILL)
    result.exit_codes.append(first.finish(10))
    result.stored_at_kill = stored()[0]
    stats1 = last.get("provider", {}).get("stats", {})
    counters1 = last.get("counters", {})

    # the restarted service rejoins the same timeline: the minutes that passed while it was
    # down (its start-up included) were never delivered and must come back through the gap filler
    killed_at = time.monotonic()
    second = serve()
    second.wait_serving(30)
    rejoined = second.status()
    clock_now = rejoined["now_ts"] if rejoined else last["now_ts"]
    result.restart_missed_minutes = round((clock_now - last["now_ts"]) / 60, 1)
    if wait_for(lambda: second.get("/readyz").status_code == 200, 30):
        result.restart_ready_seconds = round(time.monotonic() - killed_at, 3)
    result.lost_after_restart = max(0, result.stored_at_kill - stored()[0])

    def recovered() -> bool:
        status = second.status()
        if status is None or status["now_ts"] < clock_now + 600:
            return False
        until = int(clock_now) - 60
        return stored(until)[0] == symbols * len(range(target.open_ts, until, 60))

    if wait_for(recovered, 40, step=0.2):
        result.restart_recovered_seconds = round(time.monotonic() - killed_at, 3)
    warm: list[float] = []
    final: dict[str, Any] = {}

    def ended() -> bool:
        status = second.status()
        if status is None:
            return second.proc.poll() is not None
        final.update(status)
        rss = second.rss_mb()
        if rss is not None and status["now_ts"] > clock_now + 1800:
            warm.append(rss)
        return bool(status.get("run_done", False))

    wait_for(ended, timeout, step=0.25)
    result.exit_codes.append(second.finish(30))
    if warm:
        result.rss_after_warmup_mb, result.rss_end_mb = round(warm[0], 1), round(warm[-1], 1)
    stats2: dict[str, Any] = next(
        (e for e in reversed(second.events) if e.get("event") == "replay_stream_done"), {}
    )
    counters2 = final.get("counters", {})
    for key in ("sent", "dropped", "lost_disconnected"):
        setattr(result, key, int(stats1.get(key, 0)) + int(stats2.get(key, 0)))
    for key in ("filled_bars", "resumed", "gaps_filled", "gaps_abandoned", "reconnects"):
        total = int(counters1.get(key, 0)) + int(counters2.get(key, 0))
        setattr(result, {"filled_bars": "filled"}.get(key, key), total)
    report = json.loads((workdir / "soak.report.json").read_text(encoding="utf-8"))
    result.report_status = report["status"]
    if report.get("error"):
        result.errors.append(report["error"])
    timings = report.get("timings", {})
    if timings.get("latency_p50") is not None:
        result.latency_p50_ms = round(timings["latency_p50"] * 1000, 3)
        result.latency_p99_ms = round(timings["latency_p99"] * 1000, 3)
    for day in report.get("days", []):
        for symbol, info in day["symbols"].items():
            result.quality[symbol] = {i: s["quality"] for i, s in info["session"].items()}
    rows, distinct = stored()
    result.stored_session_bars, result.duplicates_in_store = distinct, rows - distinct
    result.wall_seconds = round(time.monotonic() - began, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=1, help="1: the day-one soak; N >= 3: the multi-day soak")
    parser.add_argument("--symbols", type=int, default=5)
    parser.add_argument("--speed", type=float, default=None, help="default 600 (one day), 2400 (days)")
    parser.add_argument("--quiet-factor", type=float, default=60.0, help="days: nights run this much faster")
    parser.add_argument("--drop", type=float, default=0.05)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, store)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="marketsession-soak-"))
    if args.days > 1:
        from ops.soak_days import figures, run_days_soak, table

        days = run_days_soak(
            workdir, days=args.days, symbols=args.symbols, speed=args.speed or 2400.0,
            quiet_factor=args.quiet_factor, drop=args.drop,
        )  # fmt: skip
        out, ok = figures(days), days.ok
        print(table(days), file=sys.stderr)
    else:
        result = run_soak(workdir, symbols=args.symbols, speed=args.speed or 600.0, drop=args.drop)
        out = asdict(result)
        ok = result.report_status == "completed" and result.stored_session_bars == result.expected_bars
        ok = ok and not result.duplicates_in_store
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    if args.keep:
        print(f"working directory: {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
