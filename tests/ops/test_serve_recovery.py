"""Recovery acceptance tests of ``marketsession serve`` run as an operator runs it: subprocesses
on a real SQLite file, ``kill -9``, a restart on the same replay timeline (``--replay-start``,
``--replay-origin`` and ``--speed`` as ``ops/soak.py`` gives them), and the HTTP endpoints.

A scenario that was not reached (the kill landing after the close, say) is a ``pytest.fail``
naming what was missing, not a silent pass.

Time is the replay's: the test keeps its own copy of the timeline's clock (the same
``replay_clock`` with the same start, origin and speed) and waits on it, bounded, to kill and
restart at given session times. Nothing sleeps; every wait has a bound.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.cli import executable
from support.live import live_config
from support.stores import seed

from domain.calendar.trading_calendar import TradingCalendar
from domain.providers import ScaledClock
from domain.session.windows import DayHours
from domain.store import open_store
from ops.providers.replay import replay_clock
from ops.soak import ServeProcess, complete_session_bars, wait_for

pytestmark = pytest.mark.slow

SOURCE = date(2025, 7, 2)
SYMBOLS = ["AAA", "BBB"]
NEW_YORK = ZoneInfo("America/New_York")
START_WAIT = 30.0


def scenario(condition: object, what: str) -> None:
    """The set-up reached the situation the test is about; otherwise a real failure."""
    if not condition:
        pytest.fail(f"scenario not reached: {what}", pytrace=False)


@dataclass
class Timeline:
    """A store with the calendar and a complete source day, a live config on the replay provider,
    and the replay's timeline: the clock reads ``start`` on the target day at ``origin``."""

    tmp_path: Path
    url: str
    config: Path
    target: date
    hours: DayHours
    start: time_of_day
    speed: float
    origin: float = 0.0
    clock: ScaledClock | None = None

    def after_open(self, minutes: int) -> datetime:
        return datetime.fromtimestamp(self.hours.open_ts + 60 * minutes, NEW_YORK)

    def after_close(self, minutes: int) -> datetime:
        """``minutes`` after the target day's regular close (before it when negative)."""
        return datetime.fromtimestamp(self.hours.close_ts + 60 * minutes, NEW_YORK)

    def begin(self) -> None:
        """The timeline starts now: the clock reads ``start``."""
        self.origin = time.time()
        start = datetime.combine(self.target, self.start, NEW_YORK)
        self.clock = replay_clock(start, self.speed, self.origin)

    def now(self) -> datetime:
        assert self.clock is not None, "begin() the timeline first"
        return self.clock.now()

    def wait_clock(self, moment: datetime, timeout: float) -> bool:
        """Wait (bounded) until the timeline's clock reads ``moment``."""
        return wait_for(lambda: self.now() >= moment, timeout, step=0.01)

    def serve(self, name: str, *extra: str) -> ServeProcess:
        args = [
            executable(), "--db", self.url, "serve", str(self.config), "--port", "0",
            "--replay-date", SOURCE.isoformat(), "--replay-start", self.start.isoformat(),
            "--replay-origin", repr(self.origin), "--speed", repr(self.speed),
            "--report", str(self.tmp_path / "report.json"), *extra,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "MARKETSESSION_DB"}
        return ServeProcess(args, self.tmp_path / f"{name}.log", env=env)

    def missing_minutes(self) -> dict[str, list[str]]:
        """Per symbol, the regular-session minutes of the target day not in the store (HH:MM)."""
        missing: dict[str, list[str]] = {}
        with open_store(self.url) as store:
            for symbol in SYMBOLS:
                have = {
                    b.ts for b in store.replayed.read(symbol, "1m", self.hours.open_ts, self.hours.close_ts)
                }
                lost = [ts for ts in range(self.hours.open_ts, self.hours.close_ts, 60) if ts not in have]
                if lost:
                    missing[symbol] = [_hhmm(ts) for ts in lost]
        return missing


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(NEW_YORK).strftime("%H:%M")


@pytest.fixture
def timeline(tmp_path: Path, request: pytest.FixtureRequest) -> Timeline:
    """``request.param``: ``(anchor, minutes, speed)``, the clock starting ``minutes`` after the
    target day's regular ``"open"`` or ``"close"`` (the target is today, or the next trading day:
    its hours come from the calendar, an early close included)."""
    anchor, minutes, speed = request.param
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with open_store(url) as store:
        seed(store, start_year=2025, end_year=datetime.now(UTC).year + 1)
        calendar = TradingCalendar(store.calendar, "US_EQUITY")
        source = DayHours.from_session(calendar.get_trading_session(SOURCE))
        store.bars.insert_missing(complete_session_bars(SYMBOLS, source))
        target = calendar.get_first_trading_date(datetime.now(UTC).astimezone(NEW_YORK).date())
        hours = DayHours.from_session(calendar.get_trading_session(target))
    config = tmp_path / "live.json"
    config.write_text(json.dumps(live_config(SYMBOLS).to_dict()), encoding="utf-8")
    at = (hours.open_ts if anchor == "open" else hours.close_ts) + 60 * minutes
    start = datetime.fromtimestamp(at, NEW_YORK).time()
    return Timeline(tmp_path, url, config, target, hours, start, speed)


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


# ----------------------------------------------------------------- kill -9 before the close


@pytest.mark.parametrize("timeline", [("close", -25, 400.0)], indirect=True)
def test_a_service_killed_before_the_close_and_restarted_after_it_finishes_the_day(
    timeline: Timeline,
) -> None:
    """Killed at 15:58 and restarted at 16:04 (on a regular day: two minutes before the close and
    four after it). 400×: a session minute is 0.15 s, the grace after the close 100 s of session
    clock; the first service has 23 session minutes (3.5 s) to start before the kill."""
    tl = timeline
    close, kill_at, restart_at = tl.after_close(0), tl.after_close(-2), tl.after_close(4)
    tl.begin()
    with tl.serve("first", "--once") as first:
        first.wait_serving(START_WAIT)
        scenario(
            wait_for(lambda: first.get("/readyz").status_code == 200, START_WAIT), "the first never got ready"
        )
        last: dict[str, Any] = {}

        def reached_kill() -> bool:
            status = first.status()
            if status is not None:
                last.update(status)
            return status is not None and status["now_ts"] >= kill_at.timestamp()

        scenario(wait_for(reached_kill, START_WAIT, step=0.02), f"the first never reached {kill_at:%H:%M}")
        first.proc.send_signal(signal.SIGKILL)
        killed_at = tl.now()
        scenario(first.finish(10) == -signal.SIGKILL, "the first service was not killed")
    scenario(killed_at < close, f"the kill landed at {killed_at.time()}, after the close")
    scenario(last["state"] == "streaming", f"the first service was {last['state']} at the kill")
    at_kill = tl.missing_minutes()
    scenario(at_kill, "the first service had stored every minute before it was killed")
    scenario(not (tl.tmp_path / "report.json").exists(), "the killed service wrote a report")

    # rejoin the same timeline after the close and its grace
    scenario(tl.wait_clock(restart_at, START_WAIT), f"the timeline never reached {restart_at:%H:%M}")
    with tl.serve("second", "--once") as second:
        second.wait_serving(START_WAIT)
        rejoined = second.status()
        scenario(rejoined is not None, "the restarted service does not answer /status")
        assert rejoined is not None
        scenario(rejoined["now_ts"] >= restart_at.timestamp(), f"the restart came before {restart_at:%H:%M}")

        def waiting_for_another_day() -> str | None:
            for event in list(second.events):
                if event.get("event") == "waiting_for_session" and event.get("day") != tl.target.isoformat():
                    return f"it waits for the session of {event['day']}"
            return None

        # ended, or visibly waiting for another trading day (then there is no point waiting on)
        wait_for(lambda: second.proc.poll() is not None or waiting_for_another_day(), 12.0)
        code = second.proc.poll()
        status = second.status() if code is None else None
        assert code is not None, (
            f"the restarted service did not end the day and exit despite --once "
            f"({waiting_for_another_day() or 'still running'}; state {status and status['state']}, "
            f"day {status and status['day']}); minutes still missing from the store: {tl.missing_minutes()} "
            f"(missing at the kill: {at_kill})"
        )
        assert second.finish(10) == 0
    assert tl.missing_minutes() == {}  # every regular-session minute of both symbols is stored
    report = json.loads((tl.tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == "completed", report["error"]
    assert [day["date"] for day in report["days"]] == [tl.target.isoformat()]
    day = report["days"][0]
    assert day["ended_early"] is False
    for symbol in SYMBOLS:
        session = day["symbols"][symbol]["session"]
        assert session["1m"]["bars"] == len(range(tl.hours.open_ts, tl.hours.close_ts, 60))
        assert session["1m"]["bars"] == session["1m"]["expected"]
        assert session["1m"]["quality"] == 100.0 and session["5m"]["quality"] == 100.0


# ------------------------------------------------------------ a coordinator restart: /readyz


@pytest.mark.parametrize("timeline", [("open", 20, 300.0)], indirect=True)
def test_after_a_coordinator_restart_the_service_is_ready_and_reports_the_provider_connected(
    timeline: Timeline,
) -> None:
    """The clock starts at 09:50 and the coordinator crashes at 10:00 (open + 30 minutes).
    300×: the crash comes 2 s after the start; the session then has at least 36 s of wall time
    left (3 session hours at an early close), so the checks happen while it streams."""
    tl = timeline
    crash_at = tl.after_open(30)
    tl.begin()
    with tl.serve("service", "--once", "--fault", f"crash:session_coordinator@{crash_at:%H:%M}") as service:
        service.wait_serving(START_WAIT)

        def restarts() -> int:
            status = service.status() or {}
            return int(status.get("actors", {}).get("session_coordinator", {}).get("restarts", 0))

        scenario(wait_for(lambda: restarts() >= 1, START_WAIT), "the coordinator was never restarted")
        scenario(restarts() == 1, f"the coordinator was restarted {restarts()} times")

        def newest() -> int:
            status = service.status() or {"symbols": {}}
            stamps = [info["newest_bar_ts"] or 0 for info in status["symbols"].values()]
            return min(stamps, default=0)

        since = max(newest(), int(crash_at.timestamp()))
        # bars keep arriving: the restarted coordinator appends two more minutes of each symbol
        scenario(wait_for(lambda: newest() >= since + 120, START_WAIT), "no bars arrived after the restart")

        ready = wait_for(lambda: service.get("/readyz").status_code == 200, 3.0)
        answer = service.get("/readyz")
        connected = _metric(service.get("/metrics").text, "marketsession_provider_connected")
        status = service.status()
        scenario(status is not None and status["state"] == "streaming", "the session stopped streaming")
        assert status is not None
        assert ready, f"/readyz answers {answer.status_code} {answer.json()} while bars arrive"
        assert connected == 1.0, f"marketsession_provider_connected reads {connected}"
        assert status["provider"]["state"] == "connected"
        service.proc.send_signal(signal.SIGTERM)
        assert service.finish(30) == 0
