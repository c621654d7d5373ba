"""Where shards run: a ``concurrent.futures`` executor, plus the channel their progress comes back on.

``--executor`` names one:

- ``local`` (the default, no extra dependency): local worker processes, one per core (at most
  one per shard), each a single-process :class:`~concurrent.futures.ProcessPoolExecutor` forked
  from a ``forkserver`` that has the engine imported; a killed worker fails only its shard, and
  is replaced;
- ``dask`` / ``dask://HOST:PORT``: Dask ``distributed`` (``pip install 'marketsession[dask]'``)
  — a ``LocalCluster`` of single-threaded worker processes (one per core, at most one per
  shard), or the scheduler at the address. Dask's own re-runs after a lost worker are turned
  off on a cluster made here (``allowed-failures`` 0), so the driver's bounded retries are the
  one policy;
- ``ray`` / ``ray://HOST:PORT``: Ray (``pip install 'marketsession[ray]'``) — a local Ray
  instance with a CPU per worker as above, or the cluster at the address; tasks are not retried
  by Ray.

Each backend is a :class:`Backend`: :meth:`Backend.submit` hands a task to its executor and
returns a :class:`concurrent.futures.Future`, ``sender()`` is the picklable callable a shard
reports its progress with (a manager queue, Dask's event log, a Ray queue), and
:meth:`Backend.updates` drains what arrived. The driver keeps at most :attr:`Backend.workers`
tasks out at once; leaving a backend after a failure stops the tasks still running.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from typing import Any

from domain.errors import ShardError
from ops.shards.worker import ShardUpdate

__all__ = ["EXECUTORS", "Backend", "ExecutorSpec", "open_backend"]

EXECUTORS = ("local", "dask", "ray")
CONNECT_SECONDS = 5.0
"""How long to try to reach a Dask scheduler at an address before giving up."""


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """``local``, ``dask``, ``dask://HOST:PORT``, ``ray`` or ``ray://HOST:PORT``, parsed."""

    kind: str
    address: str | None = None

    @classmethod
    def parse(cls, text: str) -> ExecutorSpec:
        kind, sep, rest = text.partition("://")
        if kind not in EXECUTORS or (sep and (kind == "local" or not rest)):
            raise ValueError(
                f"unknown executor {text!r}: use local, dask, dask://HOST:PORT, ray or ray://HOST:PORT"
            )
        if not sep:
            return cls(kind)
        return cls(kind, f"tcp://{rest}" if kind == "dask" else f"ray://{rest}")

    def __str__(self) -> str:
        return self.kind if self.address is None else self.address.replace("tcp://", "dask://")


class Backend(ABC):
    """An executor and the progress channel of its shards; close with :meth:`close`."""

    spec: ExecutorSpec
    workers: int
    """Worker processes available (the cluster's, for an existing one)."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` on a worker."""

    @abstractmethod
    def sender(self) -> Callable[[ShardUpdate], None]:
        """What a shard calls with its progress (picklable: it travels with the task)."""

    @abstractmethod
    def updates(self) -> list[ShardUpdate]:
        """The progress sent since the last call."""

    @abstractmethod
    def close(self, *, abandon: bool = False) -> None:
        """Release the workers; ``abandon``: the run failed, so shards still running are stopped
        rather than waited for."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        self.close(abandon=exc_type is not None)


# ------------------------------------------------------------------ local processes


@dataclass(frozen=True, slots=True)
class _QueueSender:
    queue: Any  # a multiprocessing manager's queue proxy

    def __call__(self, update: ShardUpdate) -> None:
        self.queue.put(update)


_PRELOAD = ["ops.shards.worker", "actors.system", "domain.store", "ops.export"]
"""What a local worker needs, imported once by the fork server rather than by every worker."""


def _worker_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where there is one (Linux, macOS), with the engine preloaded: workers
    fork from a clean single-threaded server (never from this threaded process) and start in
    milliseconds, not the second an import of the engine takes; else ``spawn``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


class _LocalBackend(Backend):
    """One single-process pool per worker, each running one task at a time (the driver never
    hands out more tasks than :attr:`workers`): a killed worker breaks only its own pool, so only
    the shard it ran fails, and that pool is replaced at once."""

    def __init__(self, workers: int) -> None:
        self.spec = ExecutorSpec("local")
        self.workers = workers
        self._context = _worker_context()
        self._manager = self._context.Manager()
        self._queue = self._manager.Queue()
        self._pools = [self._pool() for _ in range(workers)]
        self._busy: dict[int, tuple[Future[Any], ProcessPoolExecutor]] = {}
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(1, mp_context=self._context)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:
            for each in range(self.workers):
                self._settle(each)
            free = [i for i in range(self.workers) if i not in self._busy]
            if not free:
                raise RuntimeError(f"every one of the {self.workers} local workers is busy")
            slot = free[0]
            future = self._pools[slot].submit(fn, *args)
            self._busy[slot] = (future, self._pools[slot])
        future.add_done_callback(lambda _done: self._settled(slot))
        return future

    def _settled(self, slot: int) -> None:
        with self._lock:
            self._settle(slot)

    def _settle(self, slot: int) -> None:
        """Free ``slot`` once its task is done (the lock held); a worker that was lost is replaced."""
        held = self._busy.get(slot)
        if held is None or not held[0].done():
            return
        future, pool = self._busy.pop(slot)
        if (
            not future.cancelled()
            and isinstance(future.exception(), BrokenProcessPool)
            and self._pools[slot] is pool
        ):
            pool.shutdown(wait=False, cancel_futures=True)
            self._pools[slot] = self._pool()  # the worker is gone: a new one for the retry

    def sender(self) -> Callable[[ShardUpdate], None]:
        return _QueueSender(self._queue)

    def updates(self) -> list[ShardUpdate]:
        out = []
        while not self._queue.empty():
            out.append(self._queue.get())
        return out

    def close(self, *, abandon: bool = False) -> None:
        for pool in self._pools:
            if abandon:  # the standard library stops a pool's workers only from 3.14 on
                stop = getattr(pool, "terminate_workers", None)
                if stop is not None:
                    stop()
                else:
                    for process in list((getattr(pool, "_processes", None) or {}).values()):
                        process.kill()
            pool.shutdown(wait=True, cancel_futures=True)
        self._manager.shutdown()


# ------------------------------------------------------------------ Dask


class _DaskSender:
    """Logs progress as an event of the worker running the task; the worker is found on the
    task's thread (the first update) and kept for the engine's threads (the later ones)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._worker: Any = None

    def __getstate__(self) -> str:
        return self.topic

    def __setstate__(self, topic: str) -> None:
        self.__init__(topic)  # type: ignore[misc]

    def __call__(self, update: ShardUpdate) -> None:
        if self._worker is None:
            from distributed import get_worker

            self._worker = get_worker()
        self._worker.log_event(self.topic, asdict(update))


class _DaskBackend(Backend):
    def __init__(self, spec: ExecutorSpec, workers: int) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise ShardError(
                "--executor dask needs Dask distributed: pip install 'marketsession[dask]'"
            ) from None
        self.spec = spec
        self._cluster = None
        try:
            if spec.address is None:
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                    self._cluster = LocalCluster(
                        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                    )
                self._client = Client(self._cluster)
            else:
                self._client = Client(spec.address, timeout=CONNECT_SECONDS)
        except OSError as exc:
            raise ShardError(f"cannot reach the Dask scheduler {spec}: {exc}") from None
        self.workers = max(1, len(self._client.scheduler_info()["workers"]))
        self._topic = f"marketsession-shards-{uuid.uuid4().hex}"
        self._received: list[ShardUpdate] = []
        self._lock = threading.Lock()
        self._client.subscribe_topic(self._topic, self._on_event)
        self._executor = self._client.get_executor(pure=False)

    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        with self._lock:
            self._received.append(ShardUpdate(**event[1]))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = self._executor.submit(fn, *args)
        return future

    def sender(self) -> Callable[[ShardUpdate], None]:
        return _DaskSender(self._topic)

    def updates(self) -> list[ShardUpdate]:
        with self._lock:
            out, self._received = self._received, []
        return out

    def close(self, *, abandon: bool = False) -> None:
        self._executor.shutdown(wait=not abandon)  # not waiting: its tasks are cancelled
        self._client.unsubscribe_topic(self._topic)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


# ------------------------------------------------------------------ Ray


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


@dataclass(frozen=True, slots=True)
class _RaySender:
    queue: Any  # a ray.util.queue.Queue (an actor handle)

    def __call__(self, update: ShardUpdate) -> None:
        self.queue.put(update)


class _RayBackend(Backend):
    def __init__(self, spec: ExecutorSpec, workers: int) -> None:
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise ShardError("--executor ray needs Ray: pip install 'marketsession[ray]'") from None
        self.spec = spec
        self._ray = ray
        try:
            if spec.address is None:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=spec.address, log_to_driver=False)
        except (ConnectionError, RuntimeError) as exc:
            raise ShardError(f"cannot start or reach Ray {spec}: {exc}") from None
        self.workers = max(1, int(ray.cluster_resources().get("CPU", workers)))
        self._queue = Queue()
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = self._remote.remote(fn, *args).future()
        return future

    def sender(self) -> Callable[[ShardUpdate], None]:
        return _RaySender(self._queue)

    def updates(self) -> list[ShardUpdate]:
        size = self._queue.qsize()
        return list(self._queue.get_nowait_batch(size)) if size else []

    def close(self, *, abandon: bool = False) -> None:
        self._queue.shutdown()
        self._ray.shutdown()  # a local instance's workers go with it; a cluster's tasks run out


def open_backend(spec: ExecutorSpec, workers: int) -> Backend:
    """The backend ``spec`` names, with ``workers`` processes where it starts them itself;
    :class:`ShardError` when it is not installed or cannot be reached."""
    if spec.kind == "local":
        return _LocalBackend(workers)
    if spec.kind == "dask":
        return _DaskBackend(spec, workers)
    return _RayBackend(spec, workers)
