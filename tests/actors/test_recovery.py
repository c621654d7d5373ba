"""Recovery acceptance tests: what subscribers and operators see after a supervised restart of the
session coordinator (SPEC §10), through the public surfaces only (``MarketSessionSystem``, its
events and ``live_status()``).

A scenario that was not reached (a fault never injected, a session that ended before the check)
is a ``pytest.fail`` naming what was missing, not a silent pass.

Time is controlled: backtests run at speed 0; the live session runs on a replay clock held until
the engine has started (``HeldClock``). Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from support.engine import Recorder, config_variant
from support.live import HeldClock, day_hours, live_config, minute_bars, ny, wait_until
from support.stores import seed

from actors.system import MarketSessionSystem
from domain.messages.events import (
    ActorRestarted,
    BarsAppended,
    DerivedBarsBuilt,
    Event,
    RunCompleted,
    SessionStarted,
)
from domain.report import RunReport
from domain.store import Store
from ops.faults import parse_faults
from ops.providers.replay import ReplayProvider

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 60.0
WAIT = 10.0
QUALITY_EVENTS = ("quality_updated", "gap_detected", "gap_filled")
"""Listened to so that the QualityCalculator scores every step: many coordinator messages for a
``crash:session_coordinator@N`` to land on (as ``marketsession chaos`` does)."""

Key = tuple[str, str, int]


def scenario(condition: object, what: str) -> None:
    """The test's set-up reached the situation it is about; otherwise a failure saying so."""
    if not condition:
        pytest.fail(f"scenario not reached: {what}", pytrace=False)


# ------------------------------------------------------------ backtest: deliveries exactly once


class Deliveries:
    """A backtest at speed 0 with a subscriber recording the bars delivered to it."""

    def __init__(self, store: Store, faults: list[str]) -> None:
        self.plan = parse_faults(faults)
        self.recorder = Recorder()
        engine = MarketSessionSystem(config_variant(), store, speed=0, faults=self.plan)
        engine.subscribe(self.recorder, [BarsAppended, DerivedBarsBuilt, SessionStarted, RunCompleted])
        engine.subscribe(lambda _event: None, QUALITY_EVENTS)
        self.report: RunReport = engine.run(RUN_TIMEOUT)
        scenario(self.recorder.wait_count(RunCompleted, 1, WAIT), "RunCompleted never reached the subscriber")

    def bars(self, kind: type[Event]) -> Counter[Key]:
        return Counter((b.symbol, b.interval, b.ts) for e in self.recorder.of(kind) for b in e.bars)

    def received(self) -> Counter[Key]:
        return self.bars(BarsAppended) + self.bars(DerivedBarsBuilt)

    def started_days(self) -> list[date]:
        return [e.day for e in self.recorder.of(SessionStarted)]


def delivery_difference(expected: Counter[Key], got: Counter[Key]) -> dict[str, dict[str, int]]:
    """Per interval, the bar deliveries more (``extra``) or fewer (``missing``) than expected."""
    difference: dict[str, dict[str, int]] = {}
    for label, counter in (("extra", got - expected), ("missing", expected - got)):
        for (_, interval, _), count in counter.items():
            per = difference.setdefault(interval, {})
            per[label] = per.get(label, 0) + count
    return difference


@pytest.fixture
def fault_free(demo_store: Store) -> Deliveries:
    run = Deliveries(demo_store, [])
    scenario(run.report.status == "completed", f"the fault-free run ended {run.report.status}")
    return run


@pytest.mark.parametrize(
    "fault",
    [
        "crash:session_coordinator@2",  # before the first bar of the first day
        "crash:session_coordinator@300",  # during the first day
        "crash:session_coordinator@1200",  # during the second day (the early close)
        "crash:session_coordinator@14:00",  # at 14:00 session time of the first day
    ],
)
def test_a_coordinator_restart_delivers_every_bar_to_subscribers_exactly_once(
    demo_store: Store, fault_free: Deliveries, fault: str
) -> None:
    run = Deliveries(demo_store, [fault])

    scenario(run.plan.injected, f"{fault} was never due")
    scenario(run.report.status == "completed", f"the run ended {run.report.status}: {run.report.error}")
    scenario(
        [entry.split(" ")[0] for entry in run.report.restarts] == ["session_coordinator"],
        f"restarts: {run.report.restarts}",
    )
    expected_days = fault_free.started_days()
    assert expected_days == [date(2025, 7, 2), date(2025, 7, 3), date(2025, 7, 7)]
    assert delivery_difference(fault_free.received(), run.received()) == {}
    # each session_started once per day
    assert [d.isoformat() for d in run.started_days()] == [d.isoformat() for d in expected_days]
    assert run.report.comparable() == fault_free.report.comparable()


# ------------------------------------------------------------- live: the provider's state


EARLY_CLOSE = date(2025, 7, 3)  # 09:30–13:00 New York, 210 minutes
SYMBOLS = ("AAPL", "RIVN")


@pytest.fixture
def live_store(sqlite_store: Store) -> Store:
    """An SQLite file with the US_EQUITY calendar 2024–2026 and no bars."""
    seed(sqlite_store)
    return sqlite_store


@pytest.fixture
def engines() -> Iterator[list[MarketSessionSystem]]:
    made: list[MarketSessionSystem] = []
    yield made
    for engine in made:
        engine.shutdown()


def _live_run(
    store: Store, engines: list[MarketSessionSystem], fault: str
) -> tuple[MarketSessionSystem, ReplayProvider, Any, Recorder]:
    """A live session of the early-close day on a replay clock at 1000× (held until the engine
    has started), with ``fault`` injected and every event recorded."""
    hours = day_hours(store, EARLY_CLOSE)
    clock = HeldClock(ny(EARLY_CLOSE, 9, 29), 1000.0)
    provider = ReplayProvider(minute_bars(SYMBOLS, hours.open_ts, hours.close_ts), clock=clock)
    plan = parse_faults([fault], live=True)
    recorder = Recorder()
    engine = MarketSessionSystem(live_config(SYMBOLS), store, provider=provider, faults=plan)
    engines.append(engine)
    engine.subscribe(recorder)
    engine.start()
    clock.release()
    return engine, provider, plan, recorder


def test_a_restarted_live_coordinator_knows_the_provider_is_connected(
    live_store: Store, engines: list[MarketSessionSystem]
) -> None:
    # 1000×: the 210-minute session takes about 13 s of wall time; the check comes well before
    engine, provider, plan, recorder = _live_run(live_store, engines, "crash:session_coordinator@09:45")

    def restarted_at(events: list[Event]) -> int | None:
        return next(
            (
                i
                for i, e in enumerate(events)
                if isinstance(e, ActorRestarted) and e.actor == "session_coordinator"
            ),
            None,
        )

    def bars_since_restart(events: list[Event]) -> int:
        at = restarted_at(events)
        return 0 if at is None else sum(len(e.bars) for e in events[at:] if isinstance(e, BarsAppended))

    scenario(
        recorder.wait_for(lambda events: restarted_at(events) is not None, WAIT),
        "the coordinator was never restarted",
    )
    scenario(plan.injected, "crash:session_coordinator@09:45 was never due")
    # the new coordinator is streaming: bars keep arriving from the provider
    scenario(
        recorder.wait_for(lambda events: bars_since_restart(events) >= 2 * len(SYMBOLS), WAIT),
        "no bars reached the session after the restart",
    )
    scenario(provider.state.value == "connected", f"the provider itself is {provider.state}")

    def provider_state() -> Any:
        return engine.live_status().provider_state

    learnt = wait_until(lambda: provider_state() == "connected", 3.0)
    status = engine.live_status()
    scenario(
        status.state == "streaming" and not engine.done,
        f"the session was no longer streaming when checked ({status.state})",
    )
    assert learnt, f"after the restart live_status() says the provider is {status.provider_state}"
    assert status.provider_state == "connected"
    report = engine.stop("seen enough", timeout=WAIT)
    assert report.status == "stopped", report.error


def test_a_restarted_live_coordinator_publishes_each_bar_and_the_session_start_once(
    live_store: Store, engines: list[MarketSessionSystem]
) -> None:
    engine, _, plan, recorder = _live_run(live_store, engines, "crash:session_coordinator@10:30")
    hours = day_hours(live_store, EARLY_CLOSE)
    report = engine.wait(WAIT * 4)

    scenario(plan.injected, "crash:session_coordinator@10:30 was never due")
    scenario(report.status == "completed", f"the session did not complete: {report.error}")
    events = recorder.events
    restarts = [e for e in events if isinstance(e, ActorRestarted) and e.actor == "session_coordinator"]
    scenario(len(restarts) == 1, f"expected one coordinator restart, saw {len(restarts)}")
    delivered = Counter(
        (bar.symbol, bar.interval, bar.ts) for e in events if isinstance(e, BarsAppended) for bar in e.bars
    )
    twice = {key: n for key, n in delivered.items() if n > 1}
    assert not twice, f"{len(twice)} bars were published more than once after the restart"
    assert [e.day for e in events if isinstance(e, SessionStarted)] == [hours.day]
