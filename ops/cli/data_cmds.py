"""``marketsession data …``: import bar files, write demo bars, summarise and audit the store."""

from __future__ import annotations

import time as wall
from datetime import UTC, date, datetime
from typing import Any

import click

from domain.bars import parse_symbol
from domain.intervals import Interval
from ops.cli.app import EXIT_RUNTIME, CliState, cli, writable
from ops.cli.calendar_cmds import DATE


class _Offset(click.ParamType[int]):
    """``±H[:MM]`` as seconds (``-4`` → −14,400)."""

    name = "±H[:MM]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from domain.quality.alignment import parse_offset

        if isinstance(value, int):
            return value
        try:
            return parse_offset(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@cli.group()
def data() -> None:
    """Bars in the store: import files, generate demo data, summarise, audit, reindex."""


@data.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--symbol", required=True, help="Symbol the file holds.")
@click.option(
    "--kind",
    type=click.Choice(["bars", "quotes"]),
    default="bars",
    show_default=True,
    help="What the file holds: bars, or top-of-book quotes (see README for the formats read).",
)
@click.option("--interval", default=None, help="Bar interval of the file (1m, 5m, 1d, …); bars only.")
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
@click.option(
    "--shift",
    "shift",
    type=_Offset(),
    default=0,
    help="Move every time stamp by ±H[:MM] (e.g. -4 for stamps four hours late).",
)
@click.option(
    "--accept-misaligned",
    is_flag=True,
    help="Import stamps that do not fit the calendar's sessions as they are (the warning is logged).",
)
@click.option(
    "--lot-size",
    type=click.IntRange(min=1),
    default=None,
    help="Quotes: shares per size unit (default 1 for the generic format, 100 for Alpaca's).",
)
@click.option(
    "--crossed-tolerance",
    type=click.FloatRange(min=0, max=1),
    default=0.01,
    show_default=True,
    help="Quotes: how far (a share of the ask) a bid may lie above the ask before a row is invalid.",
)
@click.pass_obj
def import_(
    state: CliState,
    path: str,
    symbol: str,
    kind: str,
    interval: str | None,
    timezone: str | None,
    group: str,
    label: str,
    skip_invalid: bool,
    shift: int,
    accept_misaligned: bool,
    lot_size: int | None,
    crossed_tolerance: float,
) -> None:
    """Import a CSV file of bars or quotes (see README for the formats read). The time stamps of
    bars are checked against the group's calendar: a file whose stamps do not fit its sessions is
    refused, naming the offset and the fix."""
    from domain.quality.alignment import AlignmentStatus, format_offset
    from ops.bar_files.importer import import_bar_file

    store = state.store()
    zone = timezone or _group_timezone(state, group)
    if kind == "quotes":
        if interval is not None or shift or label != "start" or accept_misaligned:
            raise click.UsageError("--interval, --label, --shift and --accept-misaligned are for bars")
        _import_quotes(state, path, symbol, zone, skip_invalid, lot_size, crossed_tolerance)
        return
    if interval is None:
        raise click.UsageError("Missing option '--interval' (the bar interval of the file).")
    started = wall.perf_counter()
    report = import_bar_file(
        store,
        path,
        symbol,
        interval,
        zone,
        label=label,
        skip_invalid=skip_invalid,
        calendar=state.calendar(group),
        shift_seconds=shift,
        accept_misaligned=accept_misaligned,
    )
    elapsed = wall.perf_counter() - started
    for line, reason in report.invalid[:50]:
        click.echo(f"  skipped {path}:{line}: {reason}", err=True)
    alignment = report.alignment
    if alignment is not None and alignment.status is AlignmentStatus.MISALIGNED:
        click.echo(f"warning: {path}: {alignment.describe()}; imported as stamped", err=True)
    elif alignment is not None and alignment.status is AlignmentStatus.UNDETERMINED:
        reason = alignment.evidence[0]
        verb = "" if reason.startswith("not checked") else "undetermined: "
        click.echo(f"  alignment of {path} {verb}{reason}", err=True)
    rate = report.imported / elapsed if elapsed > 0 else 0.0
    shifted = f" shifted by {format_offset(shift)}" if shift else ""
    click.echo(
        f"{path}: {report.format} format, {report.rows_read} rows read, {report.imported} bars imported"
        f"{shifted} ({report.new_bars} new), {len(report.invalid)} invalid skipped, "
        f"{elapsed:.2f}s ({rate:,.0f} bars/s)"
    )


def _import_quotes(
    state: CliState,
    path: str,
    symbol: str,
    zone: str,
    skip_invalid: bool,
    lot_size: int | None,
    crossed_tolerance: float,
) -> None:
    from ops.quote_files import import_quote_file

    started = wall.perf_counter()
    report = import_quote_file(
        state.store(),
        path,
        symbol,
        zone,
        skip_invalid=skip_invalid,
        lot_size=lot_size,
        crossed_tolerance=crossed_tolerance,
    )
    elapsed = wall.perf_counter() - started
    for line, reason in report.invalid[:50]:
        click.echo(f"  skipped {path}:{line}: {reason}", err=True)
    rate = report.quotes / elapsed if elapsed > 0 else 0.0
    click.echo(
        f"{path}: {report.format} quotes, {report.rows_read} rows read, {report.quotes} valid quotes "
        f"stored as {report.rows_written} rows (one per second whose book changed), "
        f"{len(report.invalid)} invalid skipped, {elapsed:.2f}s ({rate:,.0f} quotes/s)"
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
    """Write deterministic synthetic 1m bars (and quotes consistent with them) for every trading
    day's regular session."""
    from ops.demo_data import write_demo_data, write_demo_quotes

    try:
        names = [parse_symbol(s) for s in symbols.split(",") if s.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--symbols") from None
    if not names:
        raise click.BadParameter("give at least one symbol", param_hint="--symbols")
    if end < start:
        raise click.BadParameter(f"end {end} is before start {start}", param_hint="--end")
    started = wall.perf_counter()
    calendar = state.calendar(group)
    count = write_demo_data(state.store(), calendar, names, start, end, seed=seed)
    quotes = write_demo_quotes(state.store(), calendar, names, start, end, seed=seed)
    click.echo(
        f"wrote {count} demo 1m bars and {quotes} quote rows for {', '.join(names)} {start}..{end}, "
        f"keeping bars and quotes already stored ({wall.perf_counter() - started:.2f}s)"
    )


@data.command()
@click.pass_obj
def summary(state: CliState) -> None:
    """What the store holds: bars per symbol, interval and source (where they came from), apart
    from them what the replay provider streamed, and the quotes per symbol."""
    from rich.console import Console
    from rich.table import Table

    store = state.store()
    tables = [
        ("bars in the store", store.bars.sources()),
        ("replayed bars (kept apart)", store.replayed.sources()),
    ]
    quotes = store.quotes.summary()
    if not any(rows for _, rows in tables) and not quotes:
        click.echo("the store holds no bars")
        return
    console = Console(width=120, markup=False)
    for title, rows in tables:
        if not rows:
            continue
        table = Table(title=title)
        for column in ("symbol", "interval", "source", "bars", "first (UTC)", "last (UTC)", "written (UTC)"):
            table.add_column(column, justify="right" if column == "bars" else "left")
        for row in rows:
            table.add_row(
                row.symbol,
                row.interval,
                row.source,
                f"{row.count:,}",
                _utc(row.first_ts),
                _utc(row.last_ts),
                "-" if row.received_at is None else _utc(row.received_at),
            )
        console.print(table)
    if quotes:
        table = Table(title="quotes (one row per second whose book changed)")
        for column in ("symbol", "rows", "first (UTC)", "last (UTC)"):
            table.add_column(column, justify="right" if column == "rows" else "left")
        for quote in quotes:
            table.add_row(quote.symbol, f"{quote.count:,}", _utc(quote.first_ts), _utc(quote.last_ts))
        console.print(table)


def _utc(ts: int) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M}"


@data.command()
@click.option("--symbols", default="", help="Comma-separated symbols (default: every stored symbol).")
@click.option("--intervals", default="", help="Comma-separated intervals (default: every stored interval).")
@click.option("--start", type=DATE, default=None, help="First date audited (default: the first stored).")
@click.option("--end", type=DATE, default=None, help="Last date audited (default: the last stored).")
@click.option(
    "--group", default="US_EQUITY", show_default=True, help="Exchange group whose calendar judges the bars."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the audit as JSON (- for stdout).",
)
@click.option(
    "--parquet",
    "parquet_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write one row per symbol, interval and day as Parquet.",
)
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False), default=None,
    help="Write the audit as one self-contained HTML page (heatmap, gaps, prices, alignment).",
)  # fmt: skip
@click.pass_obj
def audit(
    state: CliState,
    symbols: str,
    intervals: str,
    start: date | None,
    end: date | None,
    group: str,
    json_path: str | None,
    parquet_path: str | None,
    html_path: str | None,
) -> None:
    """Audit the store against the calendar without running a session: per symbol, interval
    and trading day, expected and present bars, quality, gaps, alignment, bars outside every
    session and bar-rule breaks."""
    import json
    from pathlib import Path

    from domain.quality.alignment import AlignmentStatus
    from domain.quality.audit import DayAudit
    from ops.audit import DayParquet, audit_store
    from ops.audit_output import audit_findings, audit_headline, audit_table, quote_audit_table
    from ops.run_output import summary_console

    try:
        names = [parse_symbol(s) for s in symbols.split(",") if s.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--symbols") from None
    try:
        steps = [str(Interval.parse(i)) for i in intervals.split(",") if i.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--intervals") from None
    if start is not None and end is not None and end < start:
        raise click.BadParameter(f"end {end} is before start {start}", param_hint="--end")
    if json_path not in (None, "-"):
        writable(Path(json_path), "--json", "the audit")
    if parquet_path is not None:
        writable(Path(parquet_path), "--parquet", "the audit's days")
    if html_path is not None:
        writable(Path(html_path), "--html", "the HTML audit")
    findings: list[DayAudit] = []
    every: list[DayAudit] = []  # the page draws every day, not only those with findings
    parquet = None if parquet_path is None else DayParquet(Path(parquet_path))

    def on_day(day: DayAudit) -> None:
        if parquet is not None:
            parquet(day)
        if html_path is not None:
            every.append(day)
        misaligned = day.alignment is not None and day.alignment.status is not AlignmentStatus.ALIGNED
        if day.present < day.expected or day.rule_breaks or misaligned:
            findings.append(day)

    started = wall.perf_counter()
    result = audit_store(
        state.store(),
        state.calendar(group),
        symbols=names,
        intervals=steps,
        start=start,
        end=end,
        on_day=on_day,
    )
    elapsed = wall.perf_counter() - started
    if parquet is not None:
        parquet.close()
    if html_path is not None:
        from ops.html_report import write_html_report
        from ops.html_report.audit_page import audit_report

        page = audit_report(every, state.calendar(group), group, start, end)
        click.echo(f"html audit: {write_html_report(page, html_path, state.store())}", err=json_path == "-")
    document = json.dumps(result.as_dict(findings), indent=2) + "\n"
    if json_path == "-":
        click.echo(document, nl=False)
        return
    if json_path is not None:  # whole or not at all
        partial = Path(json_path + ".partial")
        partial.write_text(document, encoding="utf-8")
        partial.replace(json_path)
    console = summary_console()
    console.print(audit_table(result))
    if result.quotes:
        console.print(quote_audit_table(result))
    for line in audit_findings(result):
        console.print(line)
    click.echo(audit_headline(result, elapsed))


@data.command()
@click.option(
    "--check", is_flag=True, help="Compare every block with its rows instead; exit 1 on a mismatch."
)
@click.pass_obj
def reindex(state: CliState, check: bool) -> None:
    """Build the column blocks a replay reads (bars: one per symbol, interval and UTC day; quotes:
    one per symbol and UTC day) from the rows.

    Blocks are a cache of the rows: any change of a row marks its day's block stale in the
    same transaction, and a stale block is never read (the rows are). `data import` and `data
    demo` build the blocks of what they wrote, a live session those of each day at its close;
    bars written by other tools are read as rows until this runs.
    """
    store = state.store()
    started = wall.perf_counter()
    if check:
        problems = store.bars.check_blocks() + store.quotes.check_blocks()
        for line in problems[:50]:
            click.echo(f"  {line}", err=True)
        if problems:
            click.echo(f"error: {len(problems)} column block(s) disagree with the rows", err=True)
            raise SystemExit(EXIT_RUNTIME)
        click.echo(
            f"column blocks: every current block matches its rows ({wall.perf_counter() - started:.2f}s)"
        )
        return
    built = store.bars.reindex() + store.quotes.reindex()
    click.echo(f"column blocks: {built:,} built ({wall.perf_counter() - started:.2f}s)")
