"""Supervision and fault injection: restarts within a per-actor budget, escalation, and the same
report whatever single actor crashes (SPEC §10), on the example backtest over demo data."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest
from support.engine import HostActor, config_variant

from actors.handle import Handle
from actors.supervisor import EngineActor, Supervisor
from actors.system import MarketSessionSystem
from actors.timer import Timer
from domain.errors import ChildUnavailable, FaultError, MarketSessionError
from domain.messages.events import ActorRestarted
from domain.report import DaySummaries, RunReport
from domain.store import Store
from ops.faults import FaultyBars, parse_faults

RUN_TIMEOUT = 120.0
QUALITY_EVENTS = ("quality_updated", "gap_detected", "gap_filled")


def _run(store: Store, faults: list[str] | None = None, **options: Any) -> tuple[RunReport, Any]:
    """The example at speed 0, listening to quality events so that the QualityCalculator scores
    every step (many messages for faults to land on), with ``faults`` injected."""
    plan = parse_faults(faults or [])
    engine = MarketSessionSystem(config_variant(), store, speed=0, faults=plan, **options)
    engine.subscribe(lambda _event: None, QUALITY_EVENTS)
    report = engine.run(RUN_TIMEOUT)
    return report, plan


@pytest.fixture
def clean(demo_store: Store) -> RunReport:
    report, _ = _run(demo_store)
    assert report.status == "completed", report.error
    return report


@pytest.mark.parametrize(
    "fault",
    [
        "crash:historical_loader@1",
        "crash:historical_loader@3",
        "crash:historical_loader@4",
        "crash:quality_calculator@2",
        "crash:quality_calculator@100",
        "crash:quality_calculator@700",
        "crash:time_manager@1",
        "crash:time_manager@12",
        "crash:time_manager@30",
        "crash:session_coordinator@2",
        "crash:session_coordinator@300",
        "crash:session_coordinator@1200",
        "crash:quality_calculator@10:30",
        "crash:session_coordinator@14:00",
    ],
)
def test_any_single_actor_crash_gives_the_fault_free_report(
    demo_store: Store, clean: RunReport, fault: str
) -> None:
    report, plan = _run(demo_store, [fault])
    assert plan.injected, f"{fault} was never due: pick a point inside the run"
    assert report.status == "completed", report.error
    assert report.comparable() == clean.comparable()
    actor = fault.split(":")[1].split("@")[0]
    assert [entry.split(" ")[0] for entry in report.restarts] == [actor]


def test_a_crash_of_every_actor_in_one_run_still_gives_the_same_report(
    demo_store: Store, clean: RunReport
) -> None:
    faults = [
        "crash:historical_loader@3",
        "crash:quality_calculator@100",
        "crash:time_manager@20",
        "crash:session_coordinator@500",
    ]
    report, plan = _run(demo_store, faults)
    assert len(plan.injected) == 4
    assert report.status == "completed", report.error
    assert report.comparable() == clean.comparable()
    assert len(report.restarts) == 4


def test_delays_and_store_outages_within_the_retries_change_nothing(
    demo_store: Store, clean: RunReport
) -> None:
    plan = parse_faults(["delay:quality_calculator@2", "store-fail:reads@2"])
    store_bars = demo_store.bars
    demo_store.bars = FaultyBars(store_bars, plan)  # type: ignore[assignment]  # same interface
    try:
        engine = MarketSessionSystem(config_variant(), demo_store, speed=0, faults=plan)
        engine.subscribe(lambda _event: None, QUALITY_EVENTS)
        report = engine.run(RUN_TIMEOUT)
    finally:
        demo_store.bars = store_bars
    assert plan.injected.count("store-fail:reads") == 2
    assert report.status == "completed", report.error
    assert report.comparable() == clean.comparable()
    assert report.restarts == ()


def test_past_the_restart_budget_the_run_fails_with_the_root_cause_and_returns(demo_store: Store) -> None:
    report, plan = _run(
        demo_store,
        ["crash:quality_calculator@5", "crash:quality_calculator@9", "crash:quality_calculator@14"],
        max_restarts=2,
    )
    assert len(plan.injected) == 3
    assert report.status == "failed"
    assert report.error is not None
    assert "quality_calculator" in report.error and "restart budget" in report.error
    assert len(report.restarts) == 2


def test_a_coordinator_that_cannot_be_restarted_still_ends_the_run_failed(demo_store: Store) -> None:
    report, _ = _run(demo_store, ["crash:session_coordinator@2"], max_restarts=0)
    assert report.status == "failed"
    assert report.error is not None and "session_coordinator" in report.error


def test_restarts_are_published_and_counted_per_actor(demo_store: Store) -> None:
    plan = parse_faults(["crash:historical_loader@2"])
    engine = MarketSessionSystem(config_variant(), demo_store, speed=0, faults=plan)
    restarted: list[ActorRestarted] = []
    engine.subscribe(restarted.append, [ActorRestarted])
    engine.start()
    try:
        report = engine.wait(RUN_TIMEOUT)
        stats = engine.stats()
    finally:
        engine.shutdown()
    assert report.status == "completed"
    assert [(e.actor, e.incarnation) for e in restarted] == [("historical_loader", 2)]
    loader = stats["historical_loader"]
    assert loader.failures == 1 and loader.restarts == 1 and loader.incarnation == 2
    assert "InjectedCrash" in (loader.last_error or "")
    assert set(stats) == {"time_manager", "historical_loader", "quality_calculator", "session_coordinator"}
    assert all(s.messages > 0 and s.mailbox >= 0 for s in stats.values())


def test_the_engines_failures_never_stop_a_hosts_actors(demo_store: Store) -> None:
    host = HostActor.start()
    try:
        report, _ = _run(demo_store, ["crash:session_coordinator@2"], max_restarts=0)
        assert report.status == "failed"
        assert host.is_alive()
        assert [ref for ref in pykka.ActorRegistry.get_all() if ref is not host] == []
    finally:
        host.stop()


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("crash:nobody@3", "unknown actor"),
        ("crash:session_coordinator@0", "message number"),
        ("crash:time_manager@25:00", "not a time"),
        ("delay:historical_loader@soon", "milliseconds"),
        ("store-fail:deletes@2", "reads or writes"),
        ("drop:0.05", "live provider"),
        ("explode:everything", "expected"),
    ],
)
def test_bad_fault_specs_are_refused_with_a_reason(spec: str, needle: str) -> None:
    with pytest.raises(FaultError) as info:
        parse_faults([spec])
    assert needle in str(info.value.violations[0])


class _CrashAfterTheReport:
    """A fault hook: once ``engine`` has its report, every message of every actor crashes."""

    def __init__(self) -> None:
        self.engine: MarketSessionSystem | None = None
        self.crashed: list[str] = []

    def before(self, actor: str) -> float:
        if self.engine is not None and self.engine.done:
            self.crashed.append(actor)
            raise RuntimeError(f"injected crash of {actor} after the report")
        return 0.0

    def clock(self, market_ts: int) -> None:
        pass


def test_a_crash_while_the_engine_shuts_down_does_not_fail_the_completed_run(
    demo_store: Store, clean: RunReport
) -> None:
    """The stops at shutdown are not messages faults land on: run() returns the completed report."""
    hook = _CrashAfterTheReport()
    engine = MarketSessionSystem(config_variant(), demo_store, speed=0, faults=hook)
    hook.engine = engine
    report = engine.run(RUN_TIMEOUT)
    assert report.status == "completed", report.error
    assert report.comparable() == clean.comparable()
    assert hook.crashed == []
    assert pykka.ActorRegistry.get_all() == []


class _CrashOn:
    """A fault hook: every actor crashes on its messages numbered ``crash_on`` (counted from 1,
    over all its incarnations)."""

    def __init__(self, *crash_on: int) -> None:
        self.crash_on = set(crash_on)
        self.seen: dict[str, int] = {}

    def before(self, actor: str) -> float:
        seen = self.seen[actor] = self.seen.get(actor, 0) + 1
        if seen in self.crash_on:
            raise RuntimeError(f"injected crash of {actor} on its message {seen}")
        return 0.0

    def clock(self, market_ts: int) -> None:
        pass


class _Echo(EngineActor):
    """Answers every ask with its incarnation."""

    def __init__(self, name: str = "echo") -> None:
        super().__init__()
        self.actor_name = name

    def on_receive(self, message: Any) -> Any:
        return self.incarnation


def test_a_crash_due_on_an_actors_stop_is_never_due_and_the_shutdown_does_not_raise() -> None:
    timer = Timer()
    hook = _CrashOn(2)  # message 1 is the ask; the stop would have been message 2
    supervisor = Supervisor(timer, backoff=0.0, faults=hook)
    try:
        handle = supervisor.start_child("echo", lambda _n: _Echo.start())
        assert handle.ask("which", timeout=10) == 1
    finally:
        supervisor.close(5)
        timer.close()
    assert hook.seen == {"echo": 1}
    assert supervisor.stats()["echo"].messages == 1
    assert not handle.ref.is_alive()


def test_an_ask_outlasts_every_restart_the_budget_allows() -> None:
    timer = Timer()
    supervisor = Supervisor(timer, max_restarts=5, backoff=0.0, faults=_CrashOn(1, 2, 3, 4, 5))
    try:
        handle = supervisor.start_child("echo", lambda _n: _Echo.start())
        assert handle.ask("which", timeout=10) == 6  # five crashes, five restarts, answered by the sixth
        assert supervisor.escalated is None
    finally:
        supervisor.close(5)
        timer.close()


def test_an_ask_past_the_budget_fails_with_a_readable_cause_naming_the_actor() -> None:
    timer = Timer()
    supervisor = Supervisor(timer, max_restarts=2, backoff=0.0, faults=_CrashOn(1, 2, 3))
    try:
        handle = supervisor.start_child("echo", lambda _n: _Echo.start())
        with pytest.raises(MarketSessionError) as info:
            handle.ask("which", timeout=10)
    finally:
        supervisor.close(5)
        timer.close()
    cause = str(info.value)
    assert cause.startswith("echo did not answer str:"), cause
    assert "restart budget" in cause and "injected crash of echo on its message 3" in cause
    assert "pykka" not in cause and "ActorDeadError" not in cause


@pytest.mark.parametrize(
    "actor",
    ["historical_loader", "time_manager", "quality_calculator"],
)
def test_four_crashes_in_a_row_of_one_actor_stay_within_a_budget_of_five(
    demo_store: Store, clean: RunReport, actor: str
) -> None:
    """Every crash lands on the retry of the one before (the quality calculator's on the message
    ahead of an ask, which the ask then meets dead): the ask outlasts them all."""
    first = 5 if actor == "time_manager" else 1
    faults = [f"crash:{actor}@{n}" for n in range(first, first + 4)]
    report, plan = _run(demo_store, faults, max_restarts=5)
    assert len(plan.injected) == 4
    assert report.status == "completed", report.error
    assert report.comparable() == clean.comparable()
    assert [entry.split(" ")[0] for entry in report.restarts] == [actor] * 4


def test_crashes_past_the_budget_fail_the_run_with_a_cause_naming_the_actor(demo_store: Store) -> None:
    faults = [f"crash:historical_loader@{n}" for n in range(1, 4)]
    report, _ = _run(demo_store, faults, max_restarts=2)
    assert report.status == "failed"
    assert report.error is not None
    assert report.error.startswith("ChildUnavailable: historical_loader did not answer"), report.error
    assert "restart budget" in report.error and "crash:historical_loader@3" in report.error
    assert "pykka" not in report.error and "ActorDeadError" not in report.error


def test_a_child_that_crashes_past_its_budget_answering_an_ask_is_dead_when_escalated() -> None:
    """The engine's escalation tells a coordinator that is alive to fail the run, and ends the run
    itself when the coordinator is dead. A child crashing past its budget while it answers an ask
    (no ``on_failure`` follows, so this is the supervisor's only news of it) must already be
    stopped when the escalation looks, or the ``Fail`` goes to a dying actor and the run never
    ends. Deterministic: the crash, the stop and the report all happen on the child's thread."""
    timer = Timer()
    handles: list[Handle] = []
    seen_alive: list[bool] = []
    run_ended = threading.Event()

    def escalate(reason: str) -> None:  # as MarketSessionSystem._escalate does
        child = handles[0].ref
        seen_alive.append(child.is_alive())
        if child.is_alive():
            child.tell(("Fail", reason))  # would be lost: the child stops without reading it
        else:
            run_ended.set()

    supervisor = Supervisor(timer, max_restarts=0, backoff=0.0, faults=_CrashOn(1), on_escalate=escalate)
    try:
        handles.append(supervisor.start_child("echo", lambda _n: _Echo.start()))
        with pytest.raises(ChildUnavailable, match="restart budget"):
            handles[0].ask("which", timeout=10)
        # the escalation ran on the child's thread before the ask got its answer
        assert run_ended.is_set(), f"the escalation saw the child alive: {seen_alive}"
    finally:
        supervisor.close(5)
        timer.close()
    assert seen_alive == [False]
    assert supervisor.stats()["echo"].failures == 1


def test_the_restart_budget_is_per_actor() -> None:
    """Two actors crash twice each within a budget of two restarts: no escalation, both answer."""
    timer = Timer()
    supervisor = Supervisor(timer, max_restarts=2, backoff=0.0, faults=_CrashOn(1, 2))
    try:
        first = supervisor.start_child("first", lambda _n: _Echo.start("first"))
        second = supervisor.start_child("second", lambda _n: _Echo.start("second"))
        assert first.ask("which", timeout=10) == 3
        assert second.ask("which", timeout=10) == 3
        assert supervisor.escalated is None
        stats = supervisor.stats()
        assert stats["first"].restarts == stats["second"].restarts == 2
    finally:
        supervisor.close(5)
        timer.close()


def test_crashes_of_two_actors_each_within_its_budget_give_the_fault_free_report(
    demo_store: Store, clean: RunReport
) -> None:
    faults = [
        "crash:historical_loader@3",
        "crash:historical_loader@4",
        "crash:quality_calculator@100",
        "crash:quality_calculator@200",
    ]
    report, plan = _run(demo_store, faults, max_restarts=2)
    assert len(plan.injected) == 4
    assert report.status == "completed", report.error
    assert report.comparable() == clean.comparable()
    assert sorted(entry.split(" ")[0] for entry in report.restarts) == [
        "historical_loader",
        "historical_loader",
        "quality_calculator",
        "quality_calculator",
    ]


class _Fragile(EngineActor):
    """Fails to start in its first ``failing`` incarnations; answers asks with its incarnation."""

    actor_name = "fragile"

    def __init__(self, failing: int) -> None:
        super().__init__()
        self.failing = failing

    def start_up(self) -> None:
        if self.incarnation <= self.failing:
            raise RuntimeError(f"cannot start (incarnation {self.incarnation})")

    def on_receive(self, message: Any) -> Any:
        return self.incarnation


def test_an_actor_that_fails_to_start_is_restarted_until_it_starts() -> None:
    timer = Timer()
    restarted = threading.Event()
    supervisor = Supervisor(
        timer, max_restarts=5, on_restarted=lambda name, n, _c: n == 3 and restarted.set()
    )
    try:
        handle = supervisor.start_child("fragile", lambda _n: _Fragile.start(failing=2))
        assert restarted.wait(10), "the third incarnation never started"
        assert handle.ask("which", timeout=10) == 3
        stats = supervisor.stats()["fragile"]
        assert stats.failures == 2 and stats.restarts == 2 and stats.state == "running"
    finally:
        supervisor.close(5)
        timer.close()


def test_an_actor_that_never_starts_escalates_past_the_budget() -> None:
    timer = Timer()
    escalated: list[str] = []
    done = threading.Event()

    def escalate(reason: str) -> None:
        escalated.append(reason)
        done.set()

    supervisor = Supervisor(timer, max_restarts=2, on_escalate=escalate)
    try:
        supervisor.start_child("fragile", lambda _n: _Fragile.start(failing=99))
        assert done.wait(10), "the supervisor never gave up"
        assert "fragile" in escalated[0] and "restart budget" in escalated[0]
        assert supervisor.stats()["fragile"].restarts == 2
    finally:
        supervisor.close(5)
        timer.close()


def test_a_run_whose_days_are_kept_on_disk_gives_the_same_report_through_restarts(
    demo_store: Store, clean: RunReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every day but the newest is pickled to the run's spill file (one symbol-day held): the
    checkpoints a restarted coordinator resumes from are views of it."""
    monkeypatch.setattr(DaySummaries, "HELD", 1)
    report, plan = _run(demo_store, ["crash:session_coordinator@1200", "crash:quality_calculator@700"])
    assert len(plan.injected) == 2
    assert report.status == "completed", report.error
    assert isinstance(report.days, DaySummaries) and "2 on disk" in repr(report.days)
    assert report.comparable() == clean.comparable()
