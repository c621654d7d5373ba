"""``marketsession chaos CONFIG --fault SPEC …``: a backtest run fault-free and with faults,
compared section by section (SPEC §10), and by what subscribers received (:mod:`ops.chaos`).

Both runs have a subscriber of bars_appended, derived_bars and session_started: after a
supervised restart (of the coordinator above all) the engine must deliver each bar and each
day's start exactly once, as the fault-free run did.
"""

from __future__ import annotations

import json
import time as wall
from pathlib import Path

import click

from ops.cli.app import EXIT_RUNTIME, CliState, FiniteFloat, cli, load_config


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
    from rich.table import Table
    from rich.text import Text

    from actors.system import MarketSessionSystem
    from domain.calendar.trading_calendar import TradingCalendar
    from domain.history.series import data_requirements
    from domain.store import open_store
    from ops.chaos import Deliveries, compare_deliveries, compare_reports, delivery_lines
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
    listened = ("quality_updated", "gap_detected", "gap_filled", *Deliveries.KINDS)
    clean_engine = MarketSessionSystem(config, store, speed=speed)
    clean_events = Deliveries()
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
        faulty_events = Deliveries()
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
    for line in delivery_lines(deliveries):
        console.print(line, highlight=False)
    console.print(f"verdict: {verdict} (reports {reports_verdict}, deliveries {deliveries['verdict']})")
    if report_path:
        Path(report_path).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if verdict != "identical" or faulty.status != "completed":
        raise SystemExit(EXIT_RUNTIME)
