"""``marketsession data …``: import bar files, write demo bars, summarise the store."""

from __future__ import annotations

import time as wall
from datetime import UTC, date, datetime

import click

from domain.bars import parse_symbol
from ops.cli.app import CliState, cli
from ops.cli.calendar_cmds import DATE


@cli.group()
def data() -> None:
    """Bars in the store: import files, generate demo data, summarise."""


@data.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--symbol", required=True, help="Symbol the file holds.")
@click.option("--interval", required=True, help="Bar interval of the file (1m, 5m, 1d, …).")
@click.option(
    "--timezone", "timezone", default=None, help="IANA zone of naive timestamps (default: the group's zone)."
)
@click.option("--group", default="US_EQUITY", show_default=True, help="Exchange group (default timezone).")
@click.option(
    "--label",
    type=click.Choice(["start", "end"]),
    default="start",
    show_default=True,
    help="Whether a row's time is the start or the end of its bar.",
)
@click.option("--skip-invalid", is_flag=True, help="Import the good rows and report the bad ones.")
@click.pass_obj
def import_(
    state: CliState,
    path: str,
    symbol: str,
    interval: str,
    timezone: str | None,
    group: str,
    label: str,
    skip_invalid: bool,
) -> None:
    """Import a CSV file of bars (see README for the formats read)."""
    from ops.bar_files.importer import import_bar_file

    store = state.store()
    zone = timezone or _group_timezone(state, group)
    started = wall.perf_counter()
    report = import_bar_file(store, path, symbol, interval, zone, label=label, skip_invalid=skip_invalid)
    elapsed = wall.perf_counter() - started
    for line, reason in report.invalid[:50]:
        click.echo(f"  skipped {path}:{line}: {reason}", err=True)
    rate = report.imported / elapsed if elapsed > 0 else 0.0
    click.echo(
        f"{path}: {report.format} format, {report.rows_read} rows read, {report.imported} bars imported "
        f"({report.new_bars} new), {len(report.invalid)} invalid skipped, "
        f"{elapsed:.2f}s ({rate:,.0f} bars/s)"
    )


def _group_timezone(state: CliState, group: str) -> str:
    """The zone naive timestamps are read in: the seeded group's, else the known group's."""
    from ops.calendars.seed import GROUPS

    hours = state.store().calendar.load_market_hours(group, "EQUITY")
    if hours:
        return hours[0].timezone
    if group in GROUPS:
        return GROUPS[group].timezone
    raise click.BadParameter(f"unknown exchange group {group!r}; pass --timezone", param_hint="--group")


@data.command()
@click.option("--symbols", required=True, help="Comma-separated symbols, e.g. AAPL,RIVN.")
@click.option("--start", type=DATE, required=True)
@click.option("--end", type=DATE, required=True)
@click.option(
    "--seed", "seed", type=int, default=0, show_default=True, help="Random seed (same seed, same bars)."
)
@click.option("--group", default="US_EQUITY", show_default=True)
@click.pass_obj
def demo(state: CliState, symbols: str, start: date, end: date, seed: int, group: str) -> None:
    """Write deterministic synthetic 1m bars for every trading day's regular session."""
    from ops.demo_data import write_demo_data

    try:
        names = [parse_symbol(s) for s in symbols.split(",") if s.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--symbols") from None
    if not names:
        raise click.BadParameter("give at least one symbol", param_hint="--symbols")
    if end < start:
        raise click.BadParameter(f"end {end} is before start {start}", param_hint="--end")
    started = wall.perf_counter()
    count = write_demo_data(state.store(), state.calendar(group), names, start, end, seed=seed)
    click.echo(
        f"wrote {count} demo 1m bars for {', '.join(names)} {start}..{end}, keeping bars already stored "
        f"({wall.perf_counter() - started:.2f}s)"
    )


@data.command()
@click.pass_obj
def summary(state: CliState) -> None:
    """What the store holds: bars per symbol and interval."""
    from rich.console import Console
    from rich.table import Table

    rows = state.store().bars.summary()
    if not rows:
        click.echo("the store holds no bars")
        return
    table = Table(title="bars in the store")
    for column in ("symbol", "interval", "bars", "first (UTC)", "last (UTC)"):
        table.add_column(column, justify="right" if column == "bars" else "left")
    for row in rows:
        table.add_row(
            row.symbol,
            row.interval,
            f"{row.count:,}",
            f"{datetime.fromtimestamp(row.first_ts, UTC):%Y-%m-%d %H:%M}",
            f"{datetime.fromtimestamp(row.last_ts, UTC):%Y-%m-%d %H:%M}",
        )
    Console(width=100, markup=False).print(table)
