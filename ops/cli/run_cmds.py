"""``marketsession run CONFIG`` (a backtest) and ``marketsession demo`` (everything from nothing)."""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
import time as wall
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ops.cli.app import EXIT_NO_DATA, EXIT_RUNTIME, CliState, FiniteFloat, cli, load_config, writable

if TYPE_CHECKING:  # the engine and its domain are imported by the commands that run
    from rich.console import Console

    from domain.config import SessionConfig
    from domain.report import RunReport
    from domain.sharding import ShardBy
    from domain.store import Store
    from ops.export import SessionBarExporter
    from ops.shards import ShardsProgress

EXAMPLE_CONFIG = "session_configs/example_session.json"


def example_config(path: str) -> str:
    """``path``, or — for the default example outside a checkout — the copy installed with the
    package (``share/marketsession/session_configs/``)."""
    if path != EXAMPLE_CONFIG or Path(path).exists():
        return path
    installed = Path(sysconfig.get_path("data")) / "share" / "marketsession" / EXAMPLE_CONFIG
    return str(installed) if installed.exists() else path


def execute_run(
    state: CliState,
    config: SessionConfig,
    config_path: str,
    *,
    report_path: str | None,
    export_dir: str | None,
    progress: bool,
    speed: float | None,
    timeout: float,
    html_path: str | None = None,
) -> None:
    """Run one backtest with progress, print the summary, write the report (its HTML page, the
    export), then exit as :func:`exit_for` says."""
    from actors.system import MarketSessionSystem
    from domain.calendar.trading_calendar import TradingCalendar
    from domain.history.series import data_requirements
    from ops.export import SessionBarExporter
    from ops.run_output import RunProgress, summary_console

    report_to = report_to_path(state, config_path, report_path)
    store = state.store()
    # bad input before any actor starts: a window outside the seeded calendar is exit 2
    data_requirements(config, TradingCalendar(store.calendar, config.exchange_group, config.asset_class))
    console = summary_console()
    engine = MarketSessionSystem(config, store, speed=speed)
    exporter = SessionBarExporter() if export_dir else None
    if exporter is not None:
        engine.subscribe(exporter, exporter.events, name="export")
    started = wall.perf_counter()
    deadline = started + timeout
    try:
        engine.start()
        if progress and console.is_terminal:
            with RunProgress(console) as display:
                while not engine.done and wall.perf_counter() < deadline:
                    display.show(engine.progress(), wall.perf_counter() - started)
                    engine.wait_done(0.2)
                display.show(engine.progress(), wall.perf_counter() - started)
        else:
            engine.wait_done(max(0.0, deadline - wall.perf_counter()))
        report = engine.report or engine.stop(f"timed out after {timeout:g}s")
    except KeyboardInterrupt:
        report = engine.stop("interrupted (Ctrl-C)")
    finally:
        engine.shutdown()
    finish_run(console, report, report_to, exporter, export_dir, html_to(html_path), store)


def execute_sharded_run(
    state: CliState,
    config: SessionConfig,
    config_path: str,
    *,
    shards: int,
    executor: str,
    by: ShardBy,
    report_path: str | None,
    export_dir: str | None,
    progress: bool,
    speed: float | None,
    timeout: float,
    html_path: str | None = None,
) -> None:
    """Run one backtest in shards (:mod:`ops.shards`), then as :func:`execute_run` does."""
    from ops.run_output import RunProgress, summary_console
    from ops.shards import run_sharded

    report_to = report_to_path(state, config_path, report_path)
    console = summary_console()
    display = RunProgress(console) if progress and console.is_terminal else None
    started = wall.perf_counter()

    def show(progress: ShardsProgress) -> None:
        if display is not None:
            display.show_shards(progress, wall.perf_counter() - started)

    with display or contextlib.nullcontext():
        run = run_sharded(
            config, state.db_url, shards=shards, executor=executor, by=by, speed=speed,
            export=export_dir is not None, timeout=timeout, on_progress=show,
        )  # fmt: skip
    retried = sum(o.attempts - 1 for o in run.outcomes)
    console.print(
        f"{len(run.outcomes)} shard(s) by {by} on {executor}: {run.seconds:.1f}s"
        + (f", {retried} retried after a failure" if retried else "")
    )
    html = html_to(html_path)
    finish_run(
        console, run.report, report_to, run.exporter, export_dir, html, state.store() if html else None
    )


def report_to_path(state: CliState, config_path: str, report_path: str | None) -> Path:
    """``--report``, or the default beside the store; checked writable before the run."""
    from ops.run_output import default_report_path

    chosen = Path(report_path or default_report_path(state.db_url, config_path))
    return writable(chosen, "--report", "a report")


def html_to(path: str | None) -> Path | None:
    """``--html PATH``, checked writable before the run."""
    return None if path is None else writable(Path(path), "--html", "the HTML report")


def finish_run(
    console: Console,
    report: RunReport,
    report_to: Path,
    exporter: SessionBarExporter | None,
    export_dir: str | None,
    html_to: Path | None = None,
    store: Store | None = None,
) -> None:
    """The summary table, the report (its HTML page, the export), then the exit :func:`exit_for`
    says; the page's prices are read from ``store``."""
    from ops.run_output import summary_table, write_report

    console.print(summary_table(report, console.width))
    path = write_report(report, report_to)
    console.print(f"report: {path}")
    if html_to is not None:
        from ops.html_report import write_html_report

        console.print(f"html report: {write_html_report(report.to_json(), html_to, store)}")
    if exporter is not None and export_dir is not None:
        files = exporter.write(export_dir, report)
        console.print(f"export: {exporter.bar_count:,} session bars → {', '.join(str(f) for f in files)}")
    exit_for(report)


def exit_for(report: RunReport) -> None:
    """Exit 1 unless the run completed; exit 3 when it completed with symbols that had no bars."""
    if report.status != "completed":
        click.echo(f"error: run {report.status}" + (f": {report.error}" if report.error else ""), err=True)
        sys.exit(EXIT_RUNTIME)
    silent = report.symbols_without_bars()
    if silent:
        click.echo(
            f"error: no session bars for {', '.join(silent)} on {report.days[0].day}..{report.days[-1].day}: "
            "the store holds none for them (see `marketsession data summary`)",
            err=True,
        )
        sys.exit(EXIT_NO_DATA)


def _executor_spec(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from ops.shards import ExecutorSpec

    if value is None:
        return None
    try:
        return str(ExecutorSpec.parse(value))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


REPORT_OPTION = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    help="JSON report path (default: beside the store).",
)
_HTML = click.option(
    "--html", "html_path", type=click.Path(dir_okay=False),
    help="Also write the report as one self-contained HTML page here.",
)  # fmt: skip
_EXPORT = click.option(
    "--export", "export_dir", type=click.Path(file_okay=False), help="Write the session bars as Parquet here."
)
_NO_PROGRESS = click.option(
    "--no-progress", is_flag=True, help="No progress display (it only shows on a TTY)."
)
_TIMEOUT = click.option(
    "--timeout", type=FiniteFloat(min=0, min_open=True), default=6 * 3600.0, show_default=True,
    help="Stop the run after this many seconds.",
)  # fmt: skip


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@REPORT_OPTION
@_EXPORT
@_NO_PROGRESS
@click.option(
    "--speed",
    type=FiniteFloat(min=0),
    default=None,
    help="Override speed_multiplier (0: as fast as possible).",
)
@_TIMEOUT
@click.option(
    "--one-cpu",
    is_flag=True,
    help="Pin the process to one CPU: the engine's threads take turns under the GIL, and hand-offs "
    "on one CPU are cheaper (about 1.3-1.5x the replay speed in the benchmark).",
)
@click.option(
    "--shards", type=click.IntRange(min=1), default=None,
    help="Split the run into N shards, each in its own process on a read-only store, merged into "
    "one report (and export) equal to a single run's.",
)  # fmt: skip
@click.option(
    "--executor", callback=_executor_spec, default=None, metavar="local|dask[://ADDR]|ray[://ADDR]",
    help="Where the shards run: local processes (default), Dask (a LocalCluster, or the scheduler at "
    "ADDR), Ray (local, or the cluster at ADDR).",
)  # fmt: skip
@click.option(
    "--shard-by", type=click.Choice(["symbol", "date"]), default="symbol", show_default=True,
    help="Shard by symbols or by trading days.",
)  # fmt: skip
@_HTML
@click.pass_obj
def run(
    state: CliState,
    config_path: str,
    report_path: str | None,
    export_dir: str | None,
    no_progress: bool,
    speed: float | None,
    timeout: float,
    one_cpu: bool,
    shards: int | None,
    executor: str | None,
    shard_by: ShardBy,
    html_path: str | None,
) -> None:
    """Run the backtest CONFIG: progress, a summary table, a JSON report; exit 1 unless completed,
    3 when it completed but a symbol had no bars. With --shards or --executor, in shards."""
    config = load_config(config_path, "backtest")
    if shards is not None or executor is not None:
        if one_cpu:
            raise click.UsageError("--one-cpu pins one process; a sharded run has one per shard")
        execute_sharded_run(
            state, config, config_path, shards=shards or 1, executor=executor or "local", by=shard_by,
            report_path=report_path, export_dir=export_dir, progress=not no_progress, speed=speed,
            timeout=timeout, html_path=html_path,
        )  # fmt: skip
        return
    if one_cpu:
        if not hasattr(os, "sched_setaffinity"):
            raise click.UsageError("--one-cpu needs CPU affinity (Linux)")
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    execute_run(
        state, config, config_path, report_path=report_path, export_dir=export_dir,
        progress=not no_progress, speed=speed, timeout=timeout, html_path=html_path,
    )  # fmt: skip


@cli.command()
@click.option(
    "--config", "config_path", default=EXAMPLE_CONFIG, show_default=True, type=click.Path(dir_okay=False)
)
@click.option(
    "--speed", type=FiniteFloat(min=0), default=0.0, show_default=True,
    help="Replay speed (the example's own 360 would pace it in real time).",
)  # fmt: skip
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="Demo data random seed.")
@REPORT_OPTION
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Where the HTML report goes (default: beside the JSON report).",
)
@_EXPORT
@_NO_PROGRESS
@_TIMEOUT
@click.pass_obj
def demo(
    state: CliState,
    config_path: str,
    speed: float,
    seed: int,
    report_path: str | None,
    html_path: str | None,
    export_dir: str | None,
    no_progress: bool,
    timeout: float,
) -> None:
    """From nothing: init the store, seed the calendar, write demo data, run the example backtest
    (its JSON report and HTML page)."""
    from domain.calendar.trading_calendar import TradingCalendar
    from domain.history.series import data_requirements
    from domain.store import init_store
    from ops.calendars.seed import seed_group
    from ops.demo_data import write_demo_data, write_demo_quotes

    config_path = example_config(config_path)
    config = load_config(config_path, "backtest")
    backtest = config.backtest_config
    assert backtest is not None
    started = wall.perf_counter()
    if state.db_url.startswith("sqlite:///") and ":memory:" not in state.db_url:
        Path(state.db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    before, after = init_store(state.db_url)
    click.echo(
        f"store {state.store().display_url}: {'created' if before is None else 'ready'} (schema {after})"
    )
    store = state.store()
    # 52-week indicators reach a year back: seed from two years before the window
    result = seed_group(
        store.calendar, config.exchange_group, backtest.start_date.year - 2, backtest.end_date.year + 1,
        datetime.now(UTC),
    )  # fmt: skip
    click.echo(f"calendar {config.exchange_group}: seeded {result.first_date}..{result.last_date}")
    calendar = TradingCalendar(store.calendar, config.exchange_group, config.asset_class)
    for interval, days in data_requirements(config, calendar).items():
        if interval not in ("1m", "1d") or not days:
            continue  # other intervals are derived from 1m
        count = write_demo_data(
            store, calendar, config.symbols, days[0], days[-1], seed=seed, interval=interval
        )
        click.echo(
            f"demo data: {count:,} new {interval} bars for {', '.join(config.symbols)} {days[0]}..{days[-1]}"
        )
    if "quotes" in config.session_data_config.streams:
        count = write_demo_quotes(
            store, calendar, config.symbols, backtest.start_date, backtest.end_date, seed=seed
        )
        click.echo(
            f"demo data: {count:,} new quote rows for {', '.join(config.symbols)} (the backtest's days)"
        )
    if speed != backtest.speed_multiplier:
        said = backtest.speed_multiplier
        click.echo(f"running {Path(config_path).name} at speed {speed:g} (the config says {said:g})")
    click.echo(f"set-up took {wall.perf_counter() - started:.1f}s")
    report_to = report_to_path(state, config_path, report_path)
    execute_run(
        state, config, config_path, report_path=str(report_to), export_dir=export_dir,
        progress=not no_progress, speed=speed, timeout=timeout,
        html_path=html_path or str(report_to.with_suffix(".html")),
    )  # fmt: skip


@cli.command("report")
@click.argument("report_file", metavar="REPORT.json", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", "output", type=click.Path(dir_okay=False), default=None,
    help="The HTML file (default: REPORT.html beside the report).",
)  # fmt: skip
@click.pass_obj
def report_command(state: CliState, report_file: str, output: str | None) -> None:
    """Turn a run report (REPORT.json) into one self-contained HTML page: headline, quality
    heatmap, gaps, prices (read from the store when it holds them), quotes, the live feed."""
    from domain.errors import StoreError
    from ops.html_report import read_report, write_html_report

    try:
        report = read_report(report_file)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'REPORT.json'") from None
    target = writable(Path(output or Path(report_file).with_suffix(".html")), "--output", "the HTML report")
    try:
        store = state.store()
    except StoreError as error:  # the page is still worth having, without the prices
        click.echo(f"note: no prices on the page ({error})", err=True)
        store = None
    click.echo(f"html report: {write_html_report(report, target, store)}")
