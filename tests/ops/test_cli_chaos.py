"""``marketsession chaos`` as a user runs it: the issue's command reports "identical" with the
restarts listed; a crash of each other actor too; after a coordinator restart subscribers got
every bar once (and a bar delivered twice fails the run); bad fault specs are bad input (exit 2).
The commands run in-process; the engine that republishes runs as its own process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_cli
from support.engine import EXAMPLE, config_variant, fill_demo_store
from support.stores import REPO

from actors.system import MarketSessionSystem
from domain.config import SessionConfig
from domain.store import open_store
from ops.faults import FaultPlan


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('chaos') / 'demo.db'}"
    with open_store(url) as store:
        fill_demo_store(store, config_variant())
    return url


def test_the_issues_chaos_command_reports_identical_with_the_restarts(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    faults = ["--fault", "crash:historical_loader@3", "--fault", "crash:quality_calculator@100"]
    result = run_cli("chaos", str(EXAMPLE), *faults, "--report", str(out), db=demo_url, cwd=REPO)
    assert result.code == 0, result.err + result.out
    assert "verdict: identical" in result.out
    assert "historical_loader #2" in result.out and "quality_calculator #2" in result.out
    assert "Traceback" not in result.err
    comparison = json.loads(out.read_text())
    assert comparison["verdict"] == "identical"
    assert all(comparison["sections"].values())
    assert comparison["bars_lost"] == comparison["bars_duplicated"] == 0
    assert len(comparison["restarts"]) == 2


@pytest.mark.parametrize("fault", ["crash:time_manager@30", "crash:session_coordinator@40"])
def test_a_crash_of_each_other_actor_is_identical_too(demo_url: str, fault: str) -> None:
    result = run_cli("chaos", str(EXAMPLE), "--fault", fault, db=demo_url, cwd=REPO)
    assert result.code == 0, result.err + result.out
    assert "verdict: identical" in result.out
    assert f"{fault.split(':')[1].split('@')[0]} #2" in result.out


def test_a_crash_due_after_an_actors_last_message_is_never_due_and_exits_0(
    demo_url: str, tmp_path: Path
) -> None:
    """The message after the loader's last one would be the stop at shutdown: not one faults count."""
    with open_store(demo_url) as store:
        engine = MarketSessionSystem(SessionConfig.from_file(EXAMPLE), store, speed=0, faults=FaultPlan())
        try:
            assert engine.start().wait(120).status == "completed"
            handled = engine.stats()["historical_loader"].messages
        finally:
            engine.shutdown()
    out = tmp_path / "chaos.json"
    fault = f"crash:historical_loader@{handled + 1}"
    result = run_cli("chaos", str(EXAMPLE), "--fault", fault, "--report", str(out), db=demo_url, cwd=REPO)
    assert result.code == 0, result.err + result.out
    assert "verdict: identical" in result.out
    assert "none (the run ended before they were due)" in result.out
    assert "unexpected" not in result.err and "Traceback" not in result.err
    comparison = json.loads(out.read_text())
    assert comparison["status"] == {"fault_free": "completed", "with_faults": "completed"}
    assert comparison["actors"]["historical_loader"]["messages"] == handled


def test_the_help_says_the_restart_budget_is_per_actor() -> None:
    result = run_cli("chaos", "--help", cwd=REPO)
    assert result.code == 0, result.err
    help_text = " ".join(result.out.split())
    assert "--max-restarts" in help_text and "per actor" in help_text


def test_bad_fault_specs_exit_2_naming_each(demo_url: str) -> None:
    result = run_cli(
        "chaos", str(EXAMPLE), "--fault", "crash:nobody@1", "--fault", "drop:0.1", db=demo_url, cwd=REPO
    )
    assert result.code == 2
    assert "crash:nobody@1" in result.err and "drop:0.1" in result.err
    assert "Traceback" not in result.err


# ------------------------------------------------------------ what subscribers received

REPUBLISH_AFTER_RESTART = """
import actors.subscribers
from domain.messages.events import ActorRestarted, BarsAppended

publish = actors.subscribers.EventBus.publish


def republishing(bus, event):  # the bug chaos must catch: a restarted coordinator republishing a step
    publish(bus, event)
    if isinstance(event, ActorRestarted):
        bus.restarted = True
    elif isinstance(event, BarsAppended) and getattr(bus, "restarted", False) and not hasattr(bus, "again"):
        bus.again = event
        publish(bus, event)


actors.subscribers.EventBus.publish = republishing

from ops.cli.app import main

main()
"""


def test_a_coordinator_restart_delivers_every_bar_to_subscribers_once(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    fault = "crash:session_coordinator@300"  # during the first day
    result = run_cli("chaos", str(EXAMPLE), "--fault", fault, "--report", str(out), db=demo_url, cwd=REPO)

    assert result.code == 0, result.err + result.out
    assert "session_coordinator #2" in result.out, "the scenario needs a coordinator restart"
    comparison = json.loads(out.read_text())
    deliveries = comparison["deliveries"]
    assert deliveries["verdict"] == "identical" and deliveries["complete"]
    assert list(deliveries["bars"]) == ["1m", "5m", "15m"], "every streamed interval, shortest first"
    for interval, counts in deliveries["bars"].items():
        assert counts["fault_free"] == counts["with_faults"] > 0, interval
        assert counts["duplicated"] == counts["missing"] == counts["unexpected"] == 0, interval
        got = f"{counts['fault_free']:,} without faults, {counts['with_faults']:,} with them"
        row = rf"^  {interval} bars +{got}: 0 duplicated, 0 missing$"
        assert re.search(row, result.out, re.MULTILINE), result.out
    days = deliveries["session_started"]
    assert (days["fault_free"], days["with_faults"], days["duplicated"], days["missing"]) == (3, 3, 0, 0)
    assert "deliveries: identical" in result.out
    assert "verdict: identical" in result.out


def test_a_bar_delivered_twice_after_a_restart_fails_the_run_and_says_so(
    demo_url: str, tmp_path: Path
) -> None:
    """The engine under test republishes one clock step after the coordinator's restart: the
    reports stay identical, the deliveries do not, and chaos exits 1 saying which bars."""
    out = tmp_path / "chaos.json"
    command = [sys.executable, "-c", REPUBLISH_AFTER_RESTART, "--db", demo_url, "chaos", str(EXAMPLE)]
    command += ["--fault", "crash:session_coordinator@300", "--report", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO, check=False)

    assert done.returncode == 1, done.stderr + done.stdout
    assert "session_coordinator #2" in done.stdout, "the scenario needs a coordinator restart"
    comparison = json.loads(out.read_text())
    assert comparison["reports"] == "identical", "the reports cannot see what subscribers got"
    assert comparison["verdict"] == comparison["deliveries"]["verdict"] == "differing"
    bars = comparison["deliveries"]["bars"]
    twice = bars["1m"]["duplicated"]
    assert 1 <= twice <= len(SessionConfig.from_file(EXAMPLE).symbols), "one step: a bar per symbol at most"
    assert bars["1m"]["with_faults"] == bars["1m"]["fault_free"] + twice and bars["1m"]["missing"] == 0
    assert all(bars[i]["duplicated"] == bars[i]["missing"] == 0 for i in ("5m", "15m")), bars
    assert re.search(rf"^  1m bars .*: {twice} duplicated, 0 missing$", done.stdout, re.MULTILINE), (
        done.stdout
    )
    assert "deliveries: differing" in done.stdout
    assert "Traceback" not in done.stderr
