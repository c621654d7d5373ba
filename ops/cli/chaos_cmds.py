"""``marketsession chaos CONFIG --fault SPEC …``: a backtest run fault-free and with faults,
compared section by section (SPEC §10)."""

from __future__ import annotations

import json
import time as wall
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from domain.calendar.trading_calendar import TradingCalendar
from domain.history.series import data_requirements
from domain.report import RunReport
from ops.cli.app import EXIT_RUNTIME, CliState, cli
from ops.cli.run_cmds import load_backtest_config

_SECTIONS = ("session", "historical", "indicators", "metrics")


def compare_reports(clean: RunReport, faulty: RunReport) -> dict[str, Any]:
    """Which report sections agree, and how many session bars were lost or duplicated."""
    a, b = clean.comparable(), faulty.comparable()
    sections: dict[str, bool] = {}
    for key in ("status", "totals", "warnings"):
        sections[key] = a.get(key) == b.get(key)
    days_b = {day["date"]: day for day in b["days"]}
    lost = duplicated = 0
    for day in a["days"]:
        other = days_b.get(day["date"], {"symbols": {}})
        for symbol, data in day["symbols"].items():
            theirs = other["symbols"].get(symbol, {})
            for section in _SECTIONS:
                name = f"{day['date']} {symbol} {section}"
                sections[name] = data[section] == theirs.get(section)
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


class _EventCount:
    """A subscriber counting events by kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, event: Any) -> None:
        self.counts[event.kind] = self.counts.get(event.kind, 0) + 1


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--fault", "faults", multiple=True, required=True, metavar="SPEC", help="A fault; repeatable.")
@click.option("--speed", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Replay speed.")
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
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds over which each actor's restarts are counted against --max-restarts.",
)
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), help="Write the comparison as JSON here."
)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=3600.0, show_default=True)
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

    Faults: crash:ACTOR@N, crash:ACTOR@HH:MM, delay:ACTOR@MS, store-fail:reads|writes@K. Exit 0
    when the reports are identical (timings and the restart log aside), 1 otherwise.
    """
    from actors.system import MarketSessionSystem
    from domain.store import open_store
    from ops.faults import FaultyBars, parse_faults
    from ops.run_output import summary_console

    config = load_backtest_config(config_path)
    plan = parse_faults(faults)
    store = state.store()
    data_requirements(config, TradingCalendar(store.calendar, config.exchange_group, config.asset_class))
    console = summary_console()

    # both runs listen to quality events, so the QualityCalculator scores every clock step: the
    # same work either way, and many more messages for faults to land on
    listened = ("quality_updated", "gap_detected", "gap_filled")
    clean_engine = MarketSessionSystem(config, store, speed=speed)
    clean_events = _EventCount()
    clean_engine.subscribe(clean_events, listened)
    started = wall.perf_counter()
    clean = clean_engine.run(timeout)
    clean_seconds = wall.perf_counter() - started
    faulty_store = open_store(state.db_url)
    faulty_store.bars = FaultyBars(faulty_store.bars, plan)  # type: ignore[assignment]
    started = wall.perf_counter()
    try:
        engine = MarketSessionSystem(
            config,
            faulty_store,
            speed=speed,
            faults=plan,
            max_restarts=max_restarts,
            restart_window=restart_window,
        )
        faulty_events = _EventCount()
        engine.subscribe(faulty_events, (*listened, "actor_restarted"))
        faulty = engine.run(timeout)
        stats = engine.stats()
    finally:
        faulty_store.close()
    faulty_seconds = wall.perf_counter() - started

    result = compare_reports(clean, faulty)
    result.update(
        faults=list(faults),
        injected=list(plan.injected),
        restarts=list(faulty.restarts),
        status={"fault_free": clean.status, "with_faults": faulty.status},
        error=faulty.error,
        seconds={"fault_free": round(clean_seconds, 3), "with_faults": round(faulty_seconds, 3)},
        actors=stats,
        events={"fault_free": clean_events.counts, "with_faults": faulty_events.counts},
    )
    table = Table(title=f"chaos: {config.session_name} — {result['verdict']}", title_justify="left")
    table.add_column("section")
    table.add_column("fault-free vs with faults")
    for name, same in result["sections"].items():
        table.add_row(name, "identical" if same else "[bold red]differs[/]")
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
        f"bars: {clean.bars_streamed:,} streamed without faults, {faulty.bars_streamed:,} with them; "
        f"{result['bars_lost']} lost, {result['bars_duplicated']} duplicated"
    )
    console.print(f"verdict: {result['verdict']}")
    if report_path:
        Path(report_path).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if result["verdict"] != "identical" or faulty.status != "completed":
        raise SystemExit(EXIT_RUNTIME)
