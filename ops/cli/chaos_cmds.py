"""``marketsession chaos CONFIG --fault SPEC …``: a backtest run fault-free and with faults,
compared section by section (SPEC §10), and by what subscribers received.

Both runs have a subscriber of bars_appended, derived_bars and session_started: after a
supervised restart (of the coordinator above all) the engine must deliver each bar and each
day's start exactly once, as the fault-free run did. Deliveries are compared by (symbol,
interval, ts): per interval, the bars delivered in each run, how many were delivered more often
than without faults (duplicated), fewer (missing), or never without faults (unexpected).
"""

from __future__ import annotations

import json
import threading
import time as wall
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from domain.calendar.trading_calendar import TradingCalendar
from domain.history.series import data_requirements
from domain.intervals import Interval
from domain.messages.events import BarsAppended, DerivedBarsBuilt, Event, RunCompleted, SessionStarted
from domain.report import RunReport
from ops.cli.app import EXIT_RUNTIME, CliState, FiniteFloat, cli, load_config

_SECTIONS = ("session", "historical", "indicators", "metrics")


def compare_reports(clean: RunReport, faulty: RunReport) -> dict[str, Any]:
    """Which report sections agree, and how many session bars were lost or duplicated."""
    a, b = clean.comparable(), faulty.comparable()
    sections = {key: a.get(key) == b.get(key) for key in ("status", "totals", "warnings")}
    days_b = {day["date"]: day for day in b["days"]}
    lost = duplicated = 0
    for day in a["days"]:
        other = days_b.get(day["date"], {"symbols": {}})
        for symbol, data in day["symbols"].items():
            theirs = other["symbols"].get(symbol, {})
            for section in _SECTIONS:
                sections[f"{day['date']} {symbol} {section}"] = data[section] == theirs.get(section)
            for interval, counts in data["session"].items():
                got = theirs.get("session", {}).get(interval, {}).get("bars", 0)
                lost += max(0, counts["bars"] - got)
                duplicated += max(0, got - counts["bars"])
    for date in set(days_b) - {day["date"] for day in a["days"]}:
        sections[f"{date} (only with faults)"] = False
    return {
        "verdict": "identical" if a == b else "differing",
        "sections": sections,
        "bars_lost": lost,
        "bars_duplicated": duplicated,
    }


Key = tuple[str, int]
"""A delivered bar of one interval: (symbol, ts)."""


class _Deliveries:
    """A subscriber counting events by kind, and the bars and session starts it was delivered.

    Complete once :attr:`completed` is set: the run's last event, so every earlier one has been
    delivered (a subscriber gets its events in order). The engine's shutdown lets the delivery
    thread finish first (bounded); should it still be running, the lock keeps a read whole."""

    KINDS = (BarsAppended.kind, DerivedBarsBuilt.kind, SessionStarted.kind, RunCompleted.kind)

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.bars: defaultdict[str, Counter[Key]] = defaultdict(Counter)  # by interval
        self.days: Counter[str] = Counter()
        self.completed = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.counts[event.kind] += 1
            if isinstance(event, BarsAppended | DerivedBarsBuilt):
                for bar in event.bars:
                    self.bars[bar.interval][bar.symbol, bar.ts] += 1
            elif isinstance(event, SessionStarted):
                self.days[event.day.isoformat()] += 1
            elif isinstance(event, RunCompleted):
                self.completed.set()


def _difference(expected: Counter[Any], got: Counter[Any]) -> dict[str, int]:
    """Deliveries in each run, and those of ``got`` against ``expected``: keys delivered more often
    (``duplicated``), less often (``missing``), or that ``expected`` never had (``unexpected``)."""
    extra = got - expected
    unexpected = sum(count for key, count in extra.items() if key not in expected)
    return {
        "fault_free": expected.total(),
        "with_faults": got.total(),
        "duplicated": extra.total() - unexpected,
        "missing": (expected - got).total(),
        "unexpected": unexpected,
    }


def compare_deliveries(clean: _Deliveries, faulty: _Deliveries) -> dict[str, Any]:
    """What subscribers got in each run: per interval (and for session_started) the deliveries in
    each run and how many were duplicated, missing or unexpected with faults."""
    with clean.lock, faulty.lock:
        intervals = sorted(clean.bars.keys() | faulty.bars.keys(), key=lambda i: Interval.parse(i).seconds)
        complete = clean.completed.is_set() and faulty.completed.is_set()
        same = complete and clean.bars == faulty.bars and clean.days == faulty.days
        return {
            "verdict": "identical" if same else "differing",
            "bars": {
                i: _difference(clean.bars.get(i, Counter()), faulty.bars.get(i, Counter())) for i in intervals
            },
            "session_started": _difference(clean.days, faulty.days),
            "complete": complete,
            "events": {"fault_free": dict(clean.counts), "with_faults": dict(faulty.counts)},
        }


def _delivery_lines(deliveries: dict[str, Any]) -> list[str]:
    lines = ["deliveries to subscribers (by symbol, interval and ts):"]
    rows = [(f"{interval} bars", counts) for interval, counts in deliveries["bars"].items()]
    rows.append(("session_started", deliveries["session_started"]))
    width = max(len(name) for name, _ in rows)
    for name, counts in rows:
        line = (
            f"  {name:<{width}}  {counts['fault_free']:,} without faults, {counts['with_faults']:,} with "
            f"them: {counts['duplicated']} duplicated, {counts['missing']} missing"
        )
        if counts["unexpected"]:
            line += f", {counts['unexpected']} unexpected"
        lines.append(line)
    if not deliveries["complete"]:
        lines.append(
            "  (a run ended before its last event reached the subscriber: the counts are incomplete)"
        )
    if deliveries["verdict"] == "identical":
        return [*lines, "deliveries: identical"]
    return [
        *lines,
        "deliveries: differing — subscribers did not receive the same bars with faults as without",
    ]


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--fault", "faults", multiple=True, required=True, metavar="SPEC", help="A fault; repeatable.")
@click.option("--speed", type=FiniteFloat(min=0), default=0.0, show_default=True, help="Replay speed.")
@click.option(
    "--max-restarts",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Restart budget per actor: how often each actor may be restarted within --restart-window "
    "(one actor's restarts do not spend another's); past it the run fails.",
)
@click.option(
    "--restart-window",
    type=FiniteFloat(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds over which each actor's restarts are counted against --max-restarts.",
)
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), help="Write the comparison as JSON here."
)
@click.option("--timeout", type=FiniteFloat(min=0, min_open=True), default=3600.0, show_default=True)
@click.pass_obj
def chaos(
    state: CliState,
    config_path: str,
    faults: tuple[str, ...],
    speed: float,
    max_restarts: int,
    restart_window: float,
    report_path: str | None,
    timeout: float,
) -> None:
    """Run CONFIG without and with the faults, and say whether the reports agree.

    Faults: crash:ACTOR@N, crash:ACTOR@HH:MM, delay:ACTOR@MS, store-fail:reads|writes@K. Both
    runs also count the bars (bars_appended, derived_bars) and session starts delivered to a
    subscriber. Exit 0 when the reports are identical (timings and the restart log aside) and
    subscribers got the same bars exactly as often in both runs, 1 otherwise.
    """
    from actors.system import MarketSessionSystem
    from domain.store import open_store
    from ops.faults import FaultyBars, parse_faults
    from ops.run_output import summary_console

    config = load_config(config_path, "backtest")
    plan = parse_faults(faults)
    store = state.store()
    calendar = TradingCalendar(store.calendar, config.exchange_group, config.asset_class)
    data_requirements(config, calendar)
    plan.timezone = calendar.timezone()  # crash:ACTOR@HH:MM is exchange time
    console = summary_console()

    # both runs listen to quality events, so the QualityCalculator scores every clock step: the
    # same work either way, and many more messages for faults to land on; and both count the
    # bars and session starts delivered to a subscriber
    listened = ("quality_updated", "gap_detected", "gap_filled", *_Deliveries.KINDS)
    clean_engine = MarketSessionSystem(config, store, speed=speed)
    clean_events = _Deliveries()
    clean_engine.subscribe(clean_events, listened)
    started = wall.perf_counter()
    clean = clean_engine.run(timeout)
    clean_seconds = wall.perf_counter() - started
    with open_store(state.db_url) as faulty_store:
        faulty_store.bars = FaultyBars(faulty_store.bars, plan)  # type: ignore[assignment]  # same interface
        started = wall.perf_counter()
        engine = MarketSessionSystem(
            config,
            faulty_store,
            speed=speed,
            faults=plan,
            max_restarts=max_restarts,
            restart_window=restart_window,
        )
        faulty_events = _Deliveries()
        engine.subscribe(faulty_events, (*listened, "actor_restarted"))
        faulty = engine.run(timeout)
        stats = engine.stats()
    faulty_seconds = wall.perf_counter() - started

    result = compare_reports(clean, faulty)
    deliveries = compare_deliveries(clean_events, faulty_events)
    events = deliveries.pop("events")
    reports_verdict = result["verdict"]
    verdict = "identical" if reports_verdict == deliveries["verdict"] == "identical" else "differing"
    result.update(
        verdict=verdict,
        reports=reports_verdict,
        deliveries=deliveries,
        faults=list(faults),
        injected=list(plan.injected),
        restarts=list(faulty.restarts),
        status={"fault_free": clean.status, "with_faults": faulty.status},
        error=faulty.error,
        seconds={"fault_free": round(clean_seconds, 3), "with_faults": round(faulty_seconds, 3)},
        actors={name: status.to_json() for name, status in stats.items()},
        events=events,
    )
    table = Table(title=f"chaos: {config.session_name} — {result['verdict']}", title_justify="left")
    table.add_column("section")
    table.add_column("fault-free vs with faults")
    for name, same in result["sections"].items():
        table.add_row(name, "identical" if same else Text("differs", style="bold red"))
    console.print(table)
    console.print(
        f"faults injected: {', '.join(plan.injected) or 'none (the run ended before they were due)'}"
    )
    console.print(f"restarts: {len(faulty.restarts)}" + "".join(f"\n  {entry}" for entry in faulty.restarts))
    console.print(
        f"status: {clean.status} without faults, {faulty.status} with them"
        + (f" ({faulty.error})" if faulty.error else "")
    )
    console.print(
        f"bars in the reports: {clean.bars_streamed:,} streamed without faults, {faulty.bars_streamed:,} "
        f"with them; {result['bars_lost']} lost, {result['bars_duplicated']} duplicated"
    )
    for line in _delivery_lines(deliveries):
        console.print(line, highlight=False)
    console.print(f"verdict: {verdict} (reports {reports_verdict}, deliveries {deliveries['verdict']})")
    if report_path:
        Path(report_path).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if verdict != "identical" or faulty.status != "completed":
        raise SystemExit(EXIT_RUNTIME)
