"""Sharded runs: a backtest split into shards that run apart, and their reports merged into one.

A backtest's work is independent per symbol (each symbol's bars, quality, gaps, alignment and
indicators depend on that symbol's stored data only) and, given the store, per trading day
(each day reloads its own trailing history). So a run splits cleanly:

- ``by="symbol"``: each shard is the config with a contiguous slice of its symbols (historical
  entries that ``apply_to`` listed symbols keep only the shard's, and go when none is left);
- ``by="date"``: each shard is the config with a contiguous run of its trading days.

:func:`plan_shards` makes the shards; :func:`merge_reports` turns their reports into the report
of the whole run, equal (:meth:`~domain.report.RunReport.comparable`) to a single run's:

- by symbol, each day's summary is the shards' summaries of that day joined: symbols in the
  config's order, counts summed (bars, derived, quotes, bars outside the session by reason);
  a warning about one symbol comes from its shard, a warning about the whole day (say "no quotes
  stored") stands only where every shard gave it, since each shard saw only its own symbols;
- by date, the days are the shards' days in order;
- the run's own warnings are every shard's, each once; the status is ``failed`` when a shard
  failed (its error names the shard), else ``stopped`` when one stopped, else ``completed``.

Nothing here runs a shard: :mod:`ops.shards` does, on a local process pool, Dask or Ray.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

from domain.config import SessionConfig
from domain.report import DaySummaries, DaySummary, RunReport, RunStatus, run_report, warning_symbol

__all__ = ["Shard", "ShardBy", "merge_reports", "plan_shards"]

ShardBy = Literal["symbol", "date"]


@dataclass(frozen=True, slots=True)
class Shard:
    """One part of a sharded run: its number (from 0), of how many, and the config it runs."""

    index: int
    count: int
    by: ShardBy
    config: SessionConfig
    days: tuple[date, ...]
    """The trading days it runs (all of the run's, sharding by symbol)."""

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.config.symbols

    def describe(self) -> str:
        """``shard 2/4 (AAPL..MSFT)`` or ``shard 2/4 (2025-07-02..2025-07-07)``."""
        if self.by == "symbol":
            what = self.symbols[0] if len(self.symbols) == 1 else f"{self.symbols[0]}..{self.symbols[-1]}"
        else:
            what = self.days[0].isoformat() if len(self.days) == 1 else f"{self.days[0]}..{self.days[-1]}"
        return f"shard {self.index + 1}/{self.count} ({what})"


def _slices(count: int, parts: int) -> list[range]:
    """``count`` items in ``parts`` contiguous slices whose sizes differ by at most one."""
    size, extra = divmod(count, parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        out.append(range(start, end))
        start = end
    return out


def plan_shards(config: SessionConfig, days: Sequence[date], count: int, by: ShardBy) -> tuple[Shard, ...]:
    """The shards of the backtest ``config`` over its trading ``days``: ``count`` of them, or
    fewer when there are fewer symbols (or days) than that — a shard is never empty."""
    if config.backtest_config is None:
        raise ValueError("only a backtest can be sharded")
    if count < 1:
        raise ValueError(f"shard count must be at least 1, got {count}")
    items = len(config.symbols) if by == "symbol" else len(days)
    parts = max(1, min(count, items))
    shards = []
    for index, part in enumerate(_slices(items, parts)):
        if by == "symbol":
            sub = _with_symbols(config, config.symbols[part.start : part.stop])
            shard_days = tuple(days)
        else:
            shard_days = tuple(days[part.start : part.stop])
            sub = _with_days(config, shard_days) if shard_days else config
        shards.append(Shard(index, parts, by, sub, shard_days))
    return tuple(shards)


def _with_symbols(config: SessionConfig, symbols: Sequence[str]) -> SessionConfig:
    data = config.to_dict()
    session = data["session_data_config"]
    session["symbols"] = list(symbols)
    kept = []
    for entry in session["historical"]["data"]:
        if entry["apply_to"] != "all":
            entry["apply_to"] = [s for s in entry["apply_to"] if s in symbols]
            if not entry["apply_to"]:
                continue
        kept.append(entry)
    session["historical"]["data"] = kept
    return SessionConfig.from_dict(data)


def _with_days(config: SessionConfig, days: Sequence[date]) -> SessionConfig:
    data = config.to_dict()
    data["backtest_config"] |= {"start_date": days[0].isoformat(), "end_date": days[-1].isoformat()}
    return SessionConfig.from_dict(data)


def merge_reports(
    config: SessionConfig,
    shards: Sequence[Shard],
    reports: Sequence[RunReport],
    *,
    speed: float,
    timings: dict[str, Any] | None = None,
) -> RunReport:
    """The report of the whole run from each shard's (in shard order); see the module docstring."""
    if len(shards) != len(reports) or not shards:
        raise ValueError(f"{len(reports)} report(s) for {len(shards)} shard(s)")
    days = DaySummaries()
    if shards[0].by == "date":
        for report in reports:
            for day in report.days:
                days.append(day)
    else:
        for parts in zip(*(report.days for report in reports), strict=False):
            days.append(_join_day(config.symbols, parts))
    run_warnings: dict[str, None] = {}
    for report in reports:
        per_day = sum(len(day.warnings) for day in report.days)
        own = report.warnings[: len(report.warnings) - per_day]  # run_report puts the run's first
        run_warnings.update(dict.fromkeys(own))
    status: RunStatus = "completed"
    error = None
    for shard, report in zip(shards, reports, strict=True):
        if report.status == "failed" or (report.status == "stopped" and status == "completed"):
            status = report.status
            error = None if report.error is None else f"{shard.describe()}: {report.error}"
            if status == "failed":
                break
    merged = run_report(config, status, days, list(run_warnings), error, dict(timings or {}), speed)
    restarts = tuple(
        f"{shard.describe()}: {restart}"
        for shard, report in zip(shards, reports, strict=True)
        for restart in report.restarts
    )
    return replace(merged, restarts=restarts)


def _join_day(symbols: Sequence[str], parts: Sequence[DaySummary]) -> DaySummary:
    """One day's summary from the summaries of the same day in shards of disjoint symbols."""
    first = parts[0]
    if any(part.day != first.day for part in parts):
        raise ValueError(f"shards disagree on the day: {', '.join(str(p.day) for p in parts)}")
    held = {symbol: day for part in parts for symbol, day in part.symbols.items()}
    day_wide = [w for w in first.warnings if warning_symbol(w, symbols) is None]
    for part in parts[1:]:
        theirs = set(part.warnings)
        day_wide = [w for w in day_wide if w in theirs]
    own: dict[str, list[str]] = {}
    for part in parts:
        for warning in part.warnings:
            symbol = warning_symbol(warning, symbols)
            if symbol is not None:
                own.setdefault(symbol, []).append(warning)
    refused: Counter[str] = Counter()
    for part in parts:
        refused.update(part.refused)
    timings: dict[str, float] = {}
    for part in parts:  # the shards ran side by side: a step of the day took the longest of them
        for name, seconds in part.timings.items():
            timings[name] = max(seconds, timings.get(name, seconds))
    return DaySummary(
        hours=first.hours,
        timezone=first.timezone,
        symbols={symbol: held[symbol] for symbol in symbols if symbol in held},
        bars_streamed=sum(part.bars_streamed for part in parts),
        bars_derived=sum(part.bars_derived for part in parts),
        refused=dict(refused),
        warnings=(*day_wide, *(w for symbol in symbols for w in own.get(symbol, ()))),
        timings=timings,
        ended_early=any(part.ended_early for part in parts),
        extended=first.extended,
        quotes_streamed=sum(part.quotes_streamed for part in parts),
        quotes_filled=sum(part.quotes_filled for part in parts),
    )
