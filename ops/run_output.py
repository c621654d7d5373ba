"""What ``marketsession run`` shows and writes: the progress display, the summary table, the report.

- :class:`RunProgress` — a rich progress display (days, bars, bars/s) fed by polling the
  engine's ``progress()`` a few times a second (no per-bar events are needed for it);
- :func:`summary_table` — per day and symbol: bars, quality per interval, gaps, key indicators,
  and the quote quality of a session streaming quotes;
- :func:`write_report` — the JSON report, written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import progress as rich_progress
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from domain.history.indicators import MinuteValues
from domain.report import RunReport, SymbolDay
from domain.session.status import Progress

if TYPE_CHECKING:
    from ops.shards import ShardsProgress

__all__ = ["RunProgress", "default_report_path", "summary_table", "write_report"]


def summary_console() -> Console:
    """The terminal's console, or one wide enough for the summary table in a log file or a pipe.
    Text is printed as it is: square brackets in a message are not rich markup."""
    console = Console(markup=False)
    return console if console.is_terminal else Console(width=140, markup=False)


def default_report_path(db_url: str, config_path: str) -> Path:
    """Beside the store for SQLite (``var/demo.db`` → ``var/<config>.report.json``), else here."""
    stem = Path(config_path).stem
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return Path(db_url.removeprefix("sqlite:///")).parent / f"{stem}.report.json"
    return Path(f"{stem}.report.json")


def write_report(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write the report whole or not at all: to a partial file beside ``path``, then renamed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(target)
    with partial.open("w", encoding="utf-8") as out:
        report.write_json(out)
        out.write("\n")
    partial.replace(target)
    return target


def check_report_path(path: Path) -> None:
    """Raise the :class:`OSError` that :func:`write_report` would meet at ``path`` (a directory,
    a parent that cannot be made, a place that cannot be written), before a run, not after it."""
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    probe = _partial(path)
    probe.touch()
    probe.unlink()


def _partial(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial")


class RunProgress(rich_progress.Progress):
    """Days and bars of a running backtest, redrawn from polled ``progress()`` snapshots."""

    def __init__(self, console: Console) -> None:
        super().__init__(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._days = self.add_task("days", total=None, detail="")

    def show(self, progress: Progress, elapsed: float) -> None:
        bars, derived = progress.bars_streamed, progress.bars_derived
        rate = bars / elapsed if elapsed > 0 else 0.0
        detail = f"day {progress.day or '-'} · {bars:,} bars · {derived:,} derived · {rate:,.0f} bars/s"
        self.update(
            self._days, completed=progress.days_done, total=progress.days_total or None, detail=detail
        )

    def show_shards(self, progress: ShardsProgress, elapsed: float) -> None:
        """A sharded run: shard-days done of all, shards done and running, bars, retries."""
        bars = progress.bars_streamed
        rate = bars / elapsed if elapsed > 0 else 0.0
        detail = (
            f"shards {progress.done}/{progress.shards} done, {progress.running} running"
            + (f", {progress.retries} retried" if progress.retries else "")
            + f" · {bars:,} bars · {rate:,.0f} bars/s"
        )
        done, total = progress.days_done, progress.days_total or None
        self.update(self._days, description="shard-days", completed=done, total=total, detail=detail)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, MinuteValues):
        return f"{len(value)} min" if any(v is not None for v in value) else "—"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f}M"
    return f"{value:,.2f}"


def summary_table(report: RunReport, width: int | None = None) -> Group:
    """The end-of-run summary: one row per day and symbol, then totals and warnings.

    One table when it fits ``width`` (the console's), else two: the data (bars, quality per
    interval, gaps) and the indicators, so that no value is cut to "…" on an 80-column terminal.
    """
    intervals: list[str] = []
    indicators: list[str] = []
    for day in report.days:
        for symbol_day in day.symbols.values():
            intervals.extend(i for i in symbol_day.session if i not in intervals)
            intervals.extend(s for s in symbol_day.extended if s not in intervals)
            indicators.extend(n for n in symbol_day.indicators if n not in indicators)
    title = f"{report.session_name} — {report.status}"
    tables = [_day_table(report, title, intervals, indicators)]
    if width is not None and indicators and Console(width=10_000).measure(tables[0]).maximum > width:
        tables = [
            _day_table(report, title, intervals, []),
            _day_table(report, "indicators", None, indicators),
        ]
    timings, totals = report.timings, report.totals()
    line = Text(
        f"{totals['trading_days']} trading day(s) · {totals['bars_streamed']:,} bars streamed · "
        f"{totals['bars_derived']:,} derived"
        + (f" · {totals['quotes_streamed']:,} quote rows" if totals["quotes_streamed"] else "")
        + f" · {timings.get('total_seconds', 0):.2f}s"
        + (f" · {timings['bars_per_second']:,.0f} bars/s" if timings.get("bars_per_second") else "")
    )
    if any(symbol_day.quotes is not None for day in report.days for symbol_day in day.symbols.values()):
        tables.append(_quote_table(report))
    parts: list[Any] = list(tables)
    if any(day.hours.is_early_close for day in report.days):
        parts.append(Text("* early close · quality in % of expected bars · gaps in the base interval"))
    parts.append(line)
    if report.error:
        parts.append(Text(f"error: {report.error}", style="bold red"))
    if report.warnings:
        parts.append(Text(f"{len(report.warnings)} warning(s):", style="yellow"))
        parts.extend(Text(f"  {warning}") for warning in report.warnings[:8])
        if len(report.warnings) > 8:
            parts.append(Text(f"  … and {len(report.warnings) - 8} more in the report"))
    return Group(*parts)


_SHORT = {"pre_market": "pre", "post_market": "post"}
"""Column names of the extended sessions (their quality in the base interval)."""


def _quality(symbol_day: SymbolDay, column: str) -> str:
    """The quality of a column: a session interval, or an extended session's base interval."""
    summary = symbol_day.session.get(column) or next(iter(symbol_day.extended.get(column, {}).values()), None)
    return "—" if summary is None else f"{summary.quality:.2f}"


def _day_table(report: RunReport, title: str, intervals: list[str] | None, indicators: list[str]) -> Table:
    """Rows of day and symbol; ``intervals`` None leaves out the data columns (bars, quality, gaps)."""
    table = Table(title=title, title_justify="left")
    table.add_column("date", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    data = intervals is not None
    columns = ["bars", *(f"{_SHORT.get(i, i)} %" for i in intervals or ()), "gaps"] if data else []
    for column in (*columns, *indicators):
        table.add_column(column.replace("_", " "), justify="right", no_wrap=True, min_width=6)
    for day in report.days:
        label = day.day.isoformat() + ("*" if day.hours.is_early_close else "")
        if day.ended_early:
            label += " (stopped)"
        for symbol, symbol_day in day.symbols.items():
            base = next(iter(symbol_day.session.values()), None)
            cells = [
                "—" if base is None else f"{base.bars:,}",
                *(_quality(symbol_day, i) for i in intervals or ()),
                "—" if base is None else str(len(base.gaps)),
            ] if data else []  # fmt: skip
            table.add_row(label, symbol, *cells, *(_fmt(symbol_day.indicator_value(n)) for n in indicators))
            label = ""
    return table


_QUOTE_COLUMNS = ("coverage\n%", "spread\nbps", "crossed\ns", "locked\ns", "stale\ns", "closes\nin %")


def _quote_table(report: RunReport) -> Table:
    """Quote quality per day and symbol, fitting 80 columns: two-sided coverage, the median
    spread, crossed, locked and stale seconds, and the 1m closes inside the quote (the report
    has the rest: episodes, p95 and max spread, the oldest book, one-sided and halted time)."""
    table = Table(title="quotes", title_justify="left")
    table.add_column("date", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    for column in _QUOTE_COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    for day in report.days:
        label = day.day.isoformat() + ("*" if day.hours.is_early_close else "")
        for symbol, symbol_day in day.symbols.items():
            q = symbol_day.quotes
            cells = (
                ["—"] * len(_QUOTE_COLUMNS)
                if q is None
                else [
                    f"{q.coverage:.2f}",
                    _fmt(q.spread_median_bps),
                    f"{q.crossed_seconds:,}",
                    f"{q.locked_seconds:,}",
                    f"{q.stale_seconds:,}",
                    _fmt(q.closes_inside_share),
                ]
            )
            table.add_row(label, symbol, *cells)
            label = ""
    return table
