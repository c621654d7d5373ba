"""Sharded runs: a backtest split by symbol or by date, run on a local process pool, Dask or Ray,
and merged into one report (:mod:`domain.sharding` plans and merges; :mod:`.runner` drives;
:mod:`.worker` is what a worker runs; :mod:`.executors` are the backends)."""

from ops.shards.executors import EXECUTORS, ExecutorSpec
from ops.shards.runner import ShardedRun, ShardOutcome, ShardsProgress, run_sharded
from ops.shards.worker import WorkerKill

__all__ = [
    "EXECUTORS",
    "ExecutorSpec",
    "ShardOutcome",
    "ShardedRun",
    "ShardsProgress",
    "WorkerKill",
    "run_sharded",
]
