"""The multi-day soak: ``marketsession serve --keep-running`` on the replay provider for N
trading days, with the faults of a week of live operation — then every day is checked bar by bar.

``python -m ops.soak --days N [--symbols 5] [--speed 2400] [--quiet-factor 60] [--json PATH]``
prints a JSON summary with a row per day; ``tests/ops/test_soak_days.py`` runs it in CI (N = 3).

The target days start on Wednesday 2026-11-25, so the first three hold a holiday
(Thanksgiving, 11-26), an early close (11-27, 13:00) and a weekend. Set-up (in a temporary
directory): an SQLite store with the US_EQUITY calendar and N + 1 source days of complete
synthetic minutes (full days only: an early-close source day played on a full target day would
have no afternoon). The service runs as an operator would run it, as a subprocess, its clock
starting at 09:00 of the first day, the nights and weekends fast-forwarded (``--quiet-factor``),
with, every day, 5 % of the bars dropped, a 5-minute disconnect at 11:00 and an overnight outage
(20:00–04:00, the provider's maintenance window); and, once in the run:

- on the *kill day* (day 2, or the middle day of a longer run) a ``kill -9`` at 10:15 and a
  restart on the same timeline (it must recover the minutes it missed and finish the day);
- right after the restart, the next trading day is closed in the calendar (``calendar patch
  --closed``) and the service told (``POST /calendar/reload`` with its token): the replay and the
  service skip it;
- on the last day at 11:00, today's close is moved earlier, to 14:00 (or an hour before an early
  close the calendar already has: Christmas Eve closes at 13:00) with ``--early-close``: the
  session ends then.

Per day it reports the bars expected (the day's minutes in the calendar as it finally read, times
the symbols), stored, duplicated, lost after the restart, gaps filled and abandoned, the day's
quality, and the service's RSS, open file descriptors and threads at the close (its own
``day_closed`` log line).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

from sqlalchemy import text

from domain.calendar.trading_calendar import TradingCalendar
from domain.session.windows import DayHours
from domain.store import open_store
from ops.calendars.seed import seed_group
from ops.day_reports import day_report_path
from ops.soak import ZONE, ServeProcess, complete_session_bars, soak_config, wait_for

__all__ = ["DaySoak", "SoakDay", "figures", "run_days_soak", "table"]

FIRST_TARGET = date(2026, 11, 25)
FIRST_SOURCE = date(2025, 6, 2)
TOKEN = "soak-token-0123456789abcdef"


@dataclass
class SoakDay:
    day: str
    close: str
    expected: int
    stored: int = 0
    duplicated: int = 0
    lost_after_restart: int = 0
    gaps_filled: int = 0
    gaps_abandoned: int = 0
    quality_1m: float | None = None
    rss_mb: float | None = None
    open_fds: int | None = None
    threads: int | None = None
    process: int = 0
    """Which service process closed the day (1: the first, 2: the one restarted)."""


@dataclass
class DaySoak:
    days: int
    symbols: int
    speed: float
    quiet_factor: float
    rows: list[SoakDay] = field(default_factory=list)
    kill_day: str = ""
    closed_by_patch: str = ""
    early_close_day: str = ""
    sent: int = 0
    dropped: int = 0
    lost_disconnected: int = 0
    exit_codes: list[int] = field(default_factory=list)
    between_sessions: dict[str, Any] = field(default_factory=dict)
    """``/healthz`` and ``/readyz`` as first answered while the service waited for its next day."""
    rss_spread_mb: float | None = None
    """Per process, the largest spread of RSS at the close between its days after its first."""
    fds_spread: int | None = None
    threads_spread: int | None = None
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        rows = self.rows
        return (
            not self.errors
            and len(rows) == self.days
            and all(r.stored == r.expected and r.duplicated == 0 and r.lost_after_restart == 0 for r in rows)
        )


def run_days_soak(
    workdir: Path,
    *,
    days: int = 3,
    symbols: int = 5,
    speed: float = 2400.0,
    quiet_factor: float = 60.0,
    drop: float = 0.05,
    executable: str | None = None,
    timeout: float = 600.0,
) -> DaySoak:
    """Run the soak in ``workdir``; see the module docstring."""
    if days < 3:
        raise ValueError("the multi-day soak needs at least 3 days (a kill day and a last day after it)")
    began = time.monotonic()
    names = [f"SOAK{i}" for i in range(symbols)]
    result = DaySoak(days=days, symbols=symbols, speed=speed, quiet_factor=quiet_factor)
    url = f"sqlite:///{workdir / 'soak.db'}"
    config_path = workdir / "soak_session.json"
    config_path.write_text(json.dumps(soak_config(names)), encoding="utf-8")
    (workdir / "token").write_text(TOKEN, encoding="utf-8")
    report = workdir / "serve.report.json"
    with open_store(url) as store:
        seed_group(store.calendar, "US_EQUITY", FIRST_SOURCE.year, FIRST_TARGET.year + 1, datetime.now(UTC))
        calendar = TradingCalendar(store.calendar, "US_EQUITY", "EQUITY")
        source, stored = calendar.get_first_trading_date(FIRST_SOURCE), 0
        while stored < days + 1:
            session = calendar.get_trading_session(source)
            if not session.is_early_close:  # its afternoon would be missing on a full target day
                hours = DayHours.from_session(session)
                bars = complete_session_bars(names, hours, seed=source.toordinal())
                store.bars.insert_missing(bars, source="demo", received_at=0)
                stored += 1
            source = calendar.get_next_trading_date(source)
        targets = _targets(calendar, days)
    kill_index = 1 if days <= 4 else days // 2
    kill_day = targets[kill_index]
    result.kill_day = kill_day.isoformat()
    exe = executable or str(Path(sys.executable).with_name("marketsession"))
    origin = time.time()

    def serve(name: str) -> ServeProcess:
        args = [
            exe, "--db", url, "serve", str(config_path), "--port", "0", "--keep-running",
            "--replay-date", FIRST_SOURCE.isoformat(), "--replay-target", FIRST_TARGET.isoformat(),
            "--replay-days", str(days), "--replay-start", "09:00", "--replay-origin", repr(origin),
            "--speed", str(speed), "--quiet-factor", str(quiet_factor),
            "--token-file", str(workdir / "token"),
            "--fault", f"drop:{drop}", "--fault", "disconnect:11:00+300", "--fault", "disconnect:20:00+28800",
            "--report", str(report),
        ]  # fmt: skip
        return ServeProcess(args, workdir / f"{name}.log")

    def clock_at(day: date, moment: time_of_day) -> float:
        return datetime.combine(day, moment, ZONE).timestamp()

    def reached(process: ServeProcess, ts: float) -> bool:
        status = process.status() or {}
        if not result.between_sessions and status.get("next_day") and not status.get("loaded"):
            ready, health = process.get("/readyz"), process.get("/healthz")
            result.between_sessions = {
                "healthz": health.status_code, "readyz": ready.status_code, **ready.json(),
            }  # fmt: skip
        return bool(status.get("now_ts", 0) >= ts) or process.proc.poll() is not None

    with contextlib.ExitStack() as running:  # a process still up when something fails is killed
        deadline = time.monotonic() + timeout
        first = running.enter_context(serve("serve-1"))
        first.wait_serving(30)
        if not wait_for(lambda: reached(first, clock_at(kill_day, time_of_day(10, 15))), timeout):
            result.errors.append("the first service never reached the kill time")
        first.proc.send_signal(signal.SIGKILL)
        result.exit_codes.append(first.finish(10))
        kill_open, kill_close = _span(url, kill_day)
        at_kill = _stored(url, kill_open, kill_close)[0]

        second = running.enter_context(serve("serve-2"))
        second.wait_serving(30)
        after_restart = _stored(url, kill_open, kill_close)[0]
        # a closure of the next trading day, made mid-week and told to the running service
        closed = targets[kill_index + 1]
        _patch(exe, url, closed, "--closed", "Soak closure")
        result.closed_by_patch = closed.isoformat()
        _reload(second)
        with open_store(url) as store:
            targets = _targets(TradingCalendar(store.calendar, "US_EQUITY", "EQUITY"), days)
        last = targets[-1]
        if not wait_for(
            lambda: reached(second, clock_at(last, time_of_day(11))), deadline - time.monotonic()
        ):
            result.errors.append("the restarted service never reached the last day")
        close = datetime.fromtimestamp(_span(url, last)[1], ZONE)
        early = min(time_of_day(14), (close - timedelta(hours=1)).time())
        _patch(exe, url, last, "--early-close", early.strftime("%H:%M"), "Soak early close")
        result.early_close_day = last.isoformat()
        _reload(second)
        wait_for(lambda: second.proc.poll() is not None, max(1.0, deadline - time.monotonic()), step=0.2)
        if second.proc.poll() is None:
            result.errors.append("the service did not end after the replay's last day")
            second.proc.send_signal(signal.SIGTERM)
        result.exit_codes.append(second.finish(30))

    closes = {
        e["day"]: (n, e)
        for n, p in ((1, first), (2, second))
        for e in p.events
        if e.get("event") == "day_closed"
    }
    for name in ("sent", "dropped", "lost_disconnected"):
        setattr(result, name, sum(_stream_stat(p, name) for p in (first, second)))
    for target in targets:
        open_ts, close_ts = _span(url, target)
        rows, distinct = _stored(url, open_ts, close_ts)
        row = SoakDay(
            day=target.isoformat(),
            close=datetime.fromtimestamp(close_ts, ZONE).strftime("%H:%M"),
            expected=symbols * len(range(open_ts, close_ts, 60)),
            stored=distinct,
            duplicated=rows - distinct,
            lost_after_restart=max(0, at_kill - after_restart) if target == kill_day else 0,
        )
        process, event = closes.get(target.isoformat(), (0, {}))
        row.process, row.rss_mb = process, event.get("rss_mb")
        row.open_fds, row.threads = event.get("open_fds"), event.get("threads")
        _day_figures(row, day_report_path(report, target.isoformat()))
        if not event:
            result.errors.append(f"{target.isoformat()}: no day_closed line in the service's log")
        result.rows.append(row)
    _spreads(result)
    if result.exit_codes != [-9, 0]:
        result.errors.append(f"exit codes {result.exit_codes}, expected [-9, 0]")
    result.wall_seconds = round(time.monotonic() - began, 3)
    return result


def _targets(calendar: TradingCalendar, days: int) -> list[date]:
    out = [calendar.get_first_trading_date(FIRST_TARGET)]
    while len(out) < days:
        out.append(calendar.get_next_trading_date(out[-1]))
    return out


def _span(url: str, day: date) -> tuple[int, int]:
    """The regular session of ``day`` in the calendar as it reads now."""
    with open_store(url) as store:
        session = TradingCalendar(store.calendar, "US_EQUITY", "EQUITY").get_trading_session(day)
    hours = DayHours.from_session(session)
    return hours.open_ts, hours.close_ts


def _stored(url: str, start: int, end: int) -> tuple[int, int]:
    """(rows, distinct (symbol, ts)) of replayed 1m bars in ``[start, end)``."""
    with open_store(url) as store, store.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT count(*), count(DISTINCT symbol || ':' || ts) FROM replayed_bars "
                "WHERE interval = '1m' AND ts >= :start AND ts < :end"
            ),
            {"start": start, "end": end},
        ).one()
    return int(row[0]), int(row[1])


def _patch(exe: str, url: str, day: date, *args: str) -> None:
    subprocess.run(
        [exe, "--db", url, "calendar", "patch", day.isoformat(), *args],
        check=True,
        capture_output=True,
        text=True,
    )


def _reload(process: ServeProcess) -> None:
    response = process.post(
        "/calendar/reload",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        content=b"{}",
        timeout=10.0,
    )
    response.raise_for_status()


def _stream_stat(process: ServeProcess, name: str) -> int:
    """What the replay's stream did in ``process``: its last status before it ended or was killed."""
    done = next((e for e in reversed(process.events) if e.get("event") == "replay_stream_done"), None)
    if done is not None:
        return int(done.get(name, 0))
    return int(process.last_status.get("provider", {}).get("stats", {}).get(name, 0))


def _day_figures(row: SoakDay, path: Path) -> None:
    if not path.exists():
        return
    day = json.loads(path.read_text(encoding="utf-8"))["days"][0]
    for info in day["symbols"].values():
        minute = info["session"]["1m"]
        row.gaps_filled += int(minute.get("filled_gaps", 0))
        row.gaps_abandoned += len(minute.get("gaps", []))
        quality = minute["quality"]
        row.quality_1m = quality if row.quality_1m is None else min(row.quality_1m, quality)


def _spreads(result: DaySoak) -> None:
    """Per process, the spread of each resource over the days it closed after its first."""
    rss: list[float] = []
    fds: list[int] = []
    threads: list[int] = []
    for process in (1, 2):
        rows = [r for r in result.rows if r.process == process][1:]
        if len(rows) < 2:
            continue
        rss.append(max(r.rss_mb or 0 for r in rows) - min(r.rss_mb or 0 for r in rows))
        fds.append(max(r.open_fds or 0 for r in rows) - min(r.open_fds or 0 for r in rows))
        threads.append(max(r.threads or 0 for r in rows) - min(r.threads or 0 for r in rows))
    if rss:
        result.rss_spread_mb, result.fds_spread, result.threads_spread = (
            round(max(rss), 1),
            max(fds),
            max(threads),
        )


def table(result: DaySoak) -> str:
    """The per-day figures as a Markdown table."""
    columns = (
        "day", "close", "expected", "stored", "dup", "lost at restart", "gaps filled", "abandoned", "1m %",
        "RSS MB", "fds", "threads", "process",
    )  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in result.rows:
        cells = (
            r.day, r.close, r.expected, r.stored, r.duplicated, r.lost_after_restart, r.gaps_filled,
            r.gaps_abandoned, r.quality_1m, r.rss_mb, r.open_fds, r.threads, r.process,
        )  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def figures(result: DaySoak) -> dict[str, Any]:
    return {**asdict(result), "ok": result.ok}
