"""What runs in a worker: one shard, the normal engine on a read-only store.

:func:`run_shard` is the task every executor runs (a local process, a Dask worker, a Ray
worker): it opens the shared store read-only (a shard never writes it), runs the shard's config
to its report, tells the driver its progress at every close, and returns a :class:`ShardResult`
— the report (its days in memory, to travel back) and, when asked, its session bars as an
Arrow table for the merged export.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from domain.messages.events import Event, SessionEnded
from domain.report import RunReport
from domain.sharding import Shard

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ShardResult", "ShardTask", "ShardUpdate", "WorkerKill", "run_shard"]


@dataclass(frozen=True, slots=True)
class WorkerKill:
    """Chaos for sharded runs: the worker running shard ``shard`` (from 0) kills its own process
    (SIGKILL: no clean-up, as a lost machine) once it has closed ``after_days`` days, in each of
    its first ``attempts`` attempts."""

    shard: int
    after_days: int = 1
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class ShardTask:
    shard: Shard
    store_url: str
    attempt: int
    """Counted from 1."""
    speed: float | None = None
    export: bool = False
    timeout: float = 6 * 3600.0
    kill: WorkerKill | None = None


@dataclass(frozen=True, slots=True)
class ShardUpdate:
    """A shard's progress, sent to the driver when it starts and at every close."""

    shard: int
    attempt: int
    worker: str
    """``host:pid`` of the process running it."""
    days_done: int
    days_total: int
    bars_streamed: int


@dataclass(frozen=True, slots=True)
class ShardResult:
    shard: int
    attempt: int
    worker: str
    report: RunReport
    bars: pa.Table | None
    seconds: float


def run_shard(task: ShardTask, send: Callable[[ShardUpdate], None]) -> ShardResult:
    """Run ``task`` to its report; see the module docstring."""
    from actors.system import MarketSessionSystem
    from domain.store import open_store
    from ops.export import SessionBarExporter

    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    shard = task.shard
    kill = task.kill if task.kill is not None and task.kill.shard == shard.index else None
    done = {"days": 0, "bars": 0}

    def update() -> None:
        send(ShardUpdate(shard.index, task.attempt, worker, done["days"], len(shard.days), done["bars"]))

    def on_close(event: Event) -> None:
        if not isinstance(event, SessionEnded):
            return
        done["days"] += 1
        done["bars"] += event.summary.bars_streamed
        update()
        if kill is not None and task.attempt <= kill.attempts and done["days"] >= kill.after_days:
            os.kill(os.getpid(), signal.SIGKILL)

    update()
    with open_store(task.store_url, create=False, read_only=True) as store:
        engine = MarketSessionSystem(shard.config, store, speed=task.speed)
        exporter = SessionBarExporter() if task.export else None
        if exporter is not None:
            engine.subscribe(exporter, exporter.events, name="export")
        engine.subscribe(on_close, [SessionEnded], name="shard-progress")
        report = engine.run(timeout=task.timeout)
    return ShardResult(
        shard.index,
        task.attempt,
        worker,
        replace(report, days=tuple(report.days)),  # the days in memory: they travel back pickled
        None if exporter is None else exporter.table(),
        time.perf_counter() - started,
    )
