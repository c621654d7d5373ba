"""The driver of a sharded run: plan, submit, retry, merge.

::

    from ops.shards import run_sharded

    run = run_sharded(config, "postgresql://db/market", shards=8, executor="dask://scheduler:8786")
    run.report          # equal (comparable()) to the single-process run's report

The driver reads the calendar (read-only) to plan the shards (:func:`domain.sharding.plan_shards`),
submits one task per shard (:func:`ops.shards.worker.run_shard`) to the backend
(:mod:`ops.shards.executors`) and waits. A shard whose worker was lost or whose task raised is
submitted again, up to ``max_attempts`` in all; one that fails that often fails the run with a
:class:`~domain.errors.ShardError` naming it and its last error. Errors that another attempt
cannot change (a bad config, a store that is not there, a timeout) fail the run at once. A
shard whose engine ran to a ``failed`` or ``stopped`` report is not retried: that is its result,
and the merged report says so. ``on_progress`` is called with a :class:`ShardsProgress` while
the shards run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.calendar.trading_calendar import TradingCalendar
from domain.calendar.trading_days import backtest_days
from domain.config import SessionConfig
from domain.errors import MarketSessionError, ShardError, StoreUnavailable
from domain.history.series import data_requirements
from domain.report import RunReport
from domain.sharding import Shard, ShardBy, merge_reports, plan_shards
from domain.store import open_store
from ops.export import SessionBarExporter
from ops.shards.executors import ExecutorSpec, open_backend
from ops.shards.worker import ShardResult, ShardTask, ShardUpdate, WorkerKill, run_shard

__all__ = ["ShardOutcome", "ShardedRun", "ShardsProgress", "plan_run", "run_sharded"]

POLL_SECONDS = 0.2
"""How often the driver looks at progress while it waits for shards."""


@dataclass(frozen=True, slots=True)
class ShardsProgress:
    shards: int
    done: int
    running: int
    retries: int
    days_done: int
    days_total: int
    bars_streamed: int


@dataclass(frozen=True, slots=True)
class ShardOutcome:
    """How one shard went: the attempts it took, where its last attempt ran, how long it took."""

    shard: Shard
    attempts: int
    worker: str
    seconds: float
    bars_streamed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard.describe(),
            "symbols": len(self.shard.symbols),
            "days": len(self.shard.days),
            "attempts": self.attempts,
            "worker": self.worker,
            "seconds": round(self.seconds, 3),
            "bars_streamed": self.bars_streamed,
        }


@dataclass(frozen=True, slots=True)
class ShardedRun:
    report: RunReport
    outcomes: tuple[ShardOutcome, ...]
    exporter: SessionBarExporter | None = None
    """The merged session bars (``export=True``): ``exporter.write(directory, report)``."""
    seconds: float = 0.0


def plan_run(config: SessionConfig, store_url: str, shards: int, by: ShardBy) -> tuple[Shard, ...]:
    """The shards of ``config`` on the store's calendar; bad input (a window outside the seeded
    calendar, a store that is not there) raises before any worker starts."""
    with open_store(store_url, create=False, read_only=True) as store:
        calendar = TradingCalendar(store.calendar, config.exchange_group, config.asset_class)
        data_requirements(config, calendar)
        backtest = config.backtest_config
        if backtest is None:
            raise ShardError("only a backtest can be sharded")
        days = backtest_days(calendar, backtest.start_date, backtest.end_date)
    return plan_shards(config, days, shards, by)


@dataclass
class _Attempts:
    """The driver's book of one shard's attempts."""

    shard: Shard
    attempt: int = 0
    future: Future[Any] | None = None
    latest: ShardUpdate | None = None
    result: ShardResult | None = None


def run_sharded(
    config: SessionConfig,
    store_url: str,
    *,
    shards: int,
    executor: str = "local",
    by: ShardBy = "symbol",
    speed: float | None = None,
    export: bool = False,
    max_attempts: int = 3,
    timeout: float = 6 * 3600.0,
    on_progress: Callable[[ShardsProgress], None] | None = None,
    kill: WorkerKill | None = None,
) -> ShardedRun:
    """Run the backtest ``config`` in ``shards`` shards on ``executor``; see the module docstring.
    ``kill`` injects a worker loss (chaos). Raises :class:`ShardError` when the executor cannot
    be used or a shard kept failing."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    spec = ExecutorSpec.parse(executor)
    store_url = _absolute(store_url)
    started = time.perf_counter()
    plan = plan_run(config, store_url, shards, by)
    book = [_Attempts(shard) for shard in plan]
    deadline = started + timeout
    with open_backend(spec, min(len(plan), os.cpu_count() or 1)) as backend:
        send = backend.sender()

        def submit(entry: _Attempts) -> None:
            entry.attempt += 1
            entry.latest = None
            task = ShardTask(entry.shard, store_url, entry.attempt, speed, export, timeout, kill)
            entry.future = backend.submit(run_shard, task, send)

        waiting = list(book)  # not yet handed out (or to be retried), in shard order

        def hand_out() -> None:  # no more tasks out than workers: a lost one takes only its own
            while (
                waiting
                and sum(1 for e in book if e.future is not None and not e.future.done()) < backend.workers
            ):
                submit(waiting.pop(0))

        hand_out()
        while pending := {e.future: e for e in book if e.result is None and e.future is not None}:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:  # leaving the backend stops the shards still running
                raise ShardError(f"sharded run timed out after {timeout:g}s")
            finished, _ = wait(pending, timeout=min(POLL_SECONDS, remaining), return_when=FIRST_COMPLETED)
            for update in backend.updates():
                entry = book[update.shard]
                if update.attempt == entry.attempt:
                    entry.latest = update
            for future in finished:
                _settle(pending[future], future, waiting.append, max_attempts)
            hand_out()
            if on_progress is not None:
                on_progress(_progress(book))
    done = [entry.result for entry in book if entry.result is not None]  # every one, by now
    outcomes = tuple(
        ShardOutcome(e.shard, e.attempt, r.worker, r.seconds, r.report.bars_streamed)
        for e, r in zip(book, done, strict=True)
    )
    seconds = time.perf_counter() - started
    bars = sum(o.bars_streamed for o in outcomes)
    timings = {  # as a single run's, from the driver's clock, and each shard's own
        "total_seconds": round(seconds, 6),
        "bars_per_second": round(bars / seconds, 1) if seconds > 0 else None,
        "executor": str(spec),
        "shard_by": by,
        "shards": [o.to_json() for o in outcomes],
    }
    report = merge_reports(
        config,
        plan,
        [r.report for r in done],
        speed=done[0].report.speed_multiplier or 0.0,
        timings=timings,
    )
    exporter = SessionBarExporter.joined([r.bars for r in done if r.bars is not None]) if export else None
    return ShardedRun(report, outcomes, exporter, seconds)


def _settle(
    entry: _Attempts, future: Future[Any], retry: Callable[[_Attempts], None], max_attempts: int
) -> None:
    """The shard's result, or another attempt, or (raised) the end of the run; a ``ShardError``
    leaves the backend, which stops the shards still running."""
    try:
        entry.result = future.result()
        return
    except MarketSessionError as exc:
        if not isinstance(exc, StoreUnavailable):  # another attempt would fail the same way
            raise ShardError(f"{entry.shard.describe()}: {exc}") from exc
        error: BaseException = exc
    except Exception as exc:  # a lost worker, a crash in the task: worth another attempt
        error = exc
    if entry.attempt >= max_attempts:
        last = f"{type(error).__name__}: {error}".rstrip(": ")
        raise ShardError(f"{entry.shard.describe()} failed {entry.attempt} time(s); last: {last}") from error
    entry.future = None
    retry(entry)


def _absolute(url: str) -> str:
    """A SQLite URL with an absolute path: a worker need not start where the driver did."""
    if not url.startswith("sqlite:///") or url.startswith("sqlite:////"):
        return url
    return f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"


def _progress(book: list[_Attempts]) -> ShardsProgress:
    def days_done(entry: _Attempts) -> int:
        if entry.result is not None:
            return len(entry.shard.days)
        return 0 if entry.latest is None else entry.latest.days_done

    def bars(entry: _Attempts) -> int:
        if entry.result is not None:
            return entry.result.report.bars_streamed
        return 0 if entry.latest is None else entry.latest.bars_streamed

    return ShardsProgress(
        shards=len(book),
        done=sum(1 for e in book if e.result is not None),
        running=sum(1 for e in book if e.result is None and e.latest is not None),
        retries=sum(e.attempt - 1 for e in book),
        days_done=sum(days_done(e) for e in book),
        days_total=sum(len(e.shard.days) for e in book),
        bars_streamed=sum(bars(e) for e in book),
    )
