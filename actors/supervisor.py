"""Supervision (SPEC §2): one-for-one restarts of the engine's actors, each within its budget.

pykka has no supervision, so the engine brings its own:

- :class:`EngineActor` is the base of every engine actor. It counts the messages it handles,
  applies injected faults (:class:`FaultHook`), and reports a failure — a ``tell`` handler
  raising, a crash injected while it handles any message, an ``on_start`` failure — to the
  :class:`Supervisor`, then stops. pykka's stop message (the engine's shutdown) is not counted
  and no fault lands on it, so a completed run is not failed by its shutdown. Anything escaping
  a handler becomes an ``Exception``: a ``BaseException`` escaping an actor makes pykka stop
  *every* actor of the process (``ActorRegistry.stop_all``), a host application's included.
- :class:`~actors.handle.Handle` is how actors and the engine reach a child: its current
  incarnation, asks retried across its restarts.
- :class:`Supervisor` restarts a failed child with its factory after a backoff (``backoff``
  doubling per recent restart of that child, at most ``max_backoff``). The restart budget is
  **per child**: at most ``max_restarts`` restarts within ``window`` seconds, whatever the
  others do. Past it the supervisor escalates: the run ends ``failed`` with the root cause (the
  first child past its budget). Each restart is published as ``ActorRestarted`` and the child's
  state changes as ``ComponentStateChanged``; :meth:`Supervisor.stats` gives per-actor counters.

What a restarted child needs comes back from elsewhere: the TimeManager re-reads the calendar
and reads the engine's session clock; the HistoricalLoader reloads on demand; the
QualityCalculator is given the day so far by the coordinator; the GapFiller its open gaps by
the QualityCalculator; the BarWriter the batches not yet written by the coordinator; the
coordinator resumes from the last checkpoint the engine keeps (every completed day, see
``RunCheckpoint``), replaying the day it was in without publishing until it passes the last step
it had published. A replay at speed 0 is deterministic, so the report comes out the same.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import pykka
import structlog

from actors.handle import Handle
from actors.timer import Timer

__all__ = ["ActorStatus", "ChildFailed", "EngineActor", "FaultHook", "Supervisor"]

log = structlog.get_logger("marketsession.supervisor")


_spawning = threading.local()


class FaultHook(Protocol):
    """Injected faults (``ops/faults.py``): raise to crash, or return seconds to delay."""

    def before(self, actor: str) -> float: ...

    def clock(self, market_ts: int) -> None:
        """The session clock moved (for faults due at a market time)."""


@dataclass(frozen=True)
class ChildFailed:
    """An engine actor died of ``error`` (its ``incarnation``, counted from 1)."""

    name: str
    incarnation: int
    error: str


@dataclass(frozen=True)
class _Restart:
    name: str


@dataclass
class ActorStats:
    """Per-actor counters, kept across incarnations."""

    messages: int = 0
    failures: int = 0
    restarts: int = 0
    last_error: str | None = None
    state: str = "starting"
    incarnation: int = 0
    restart_log: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ActorStatus:
    """One actor as :meth:`Supervisor.stats` reports it (``to_json`` for ``/status``)."""

    messages: int
    failures: int
    restarts: int
    incarnation: int
    state: str
    mailbox: int
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class EngineActor(pykka.ThreadingActor):
    """Base of the engine's actors; see the module docstring."""

    use_daemon_thread = True
    actor_name = "actor"

    def __init__(self) -> None:
        super().__init__()
        # set by Supervisor._spawn around the constructor call (``start`` runs it in the caller's
        # thread, before the actor's thread exists)
        self.supervision: Supervisor | None = getattr(_spawning, "supervisor", None)
        self.incarnation: int = getattr(_spawning, "incarnation", 1)

    # pykka's dispatch of every message and proxy call (the one place every message passes)
    def _handle_receive(self, message: Any) -> Any:
        supervision = self.supervision
        # pykka's stop (``ref.stop()``: the supervisor's close) is not work: neither counted nor
        # faulted (``_ActorStop`` is what pykka's own teardown tests for too)
        if supervision is not None and not isinstance(message, pykka.messages._ActorStop):
            supervision.count(self.actor_name)
            if supervision.faults is not None:
                try:
                    delay = supervision.faults.before(self.actor_name)
                except BaseException as error:  # an injected crash: this incarnation dies
                    self._die(error)
                    raise RuntimeError(f"{self.actor_name} crashed: {error}") from error
                if delay:
                    threading.Event().wait(delay)  # an injected slow actor (a bounded wait)
        try:
            return super()._handle_receive(message)
        except Exception:
            raise  # an ask gets it as its answer; a tell's failure reaches on_failure
        except BaseException as error:  # escaping, it would make pykka stop every actor
            self._die(error)
            raise RuntimeError(f"{type(error).__name__} in {self.actor_name}: {error}") from error

    def on_start(self) -> None:
        try:
            self.start_up()
        except Exception as error:  # this incarnation stops; the supervisor decides what next
            self._die(error, "on start: ")
            raise

    def start_up(self) -> None:
        """Work an incarnation does when it starts (none by default); a failure here is a failure
        of the actor, restarted like any other."""

    def _die(self, error: BaseException, context: str = "") -> None:
        # stopped first, then reported: past the budget the report escalates at once, and the
        # engine tells the coordinator to fail the run only if it is alive (else ends the run
        # itself); an incarnation still alive here would be sent a Fail it never reads. For a
        # crash while answering an ask this report is the only one (no on_failure follows).
        self._stop()  # no further message: the next incarnation takes over
        if self.supervision is not None:
            error_text = f"{context}{type(error).__name__}: {error}"
            self.supervision.failed(self.actor_name, self.incarnation, error_text)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """A ``tell`` handler raised (pykka has stopped this incarnation): tell the supervisor."""
        if self.supervision is not None and exception_type is not None:
            error = f"{exception_type.__name__}: {exception_value}"
            self.supervision.failed(self.actor_name, self.incarnation, error)


class Supervisor:
    """One-for-one restarts, at most ``max_restarts`` per child within ``window`` seconds; see the
    module docstring. Thread-safe."""

    def __init__(
        self,
        timer: Timer,
        *,
        max_restarts: int = 5,
        window: float = 60.0,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        faults: FaultHook | None = None,
        on_escalate: Callable[[str], None] | None = None,
        on_restarted: Callable[[str, int, str], None] | None = None,
        on_failed: Callable[[str, int, str], None] | None = None,
    ) -> None:
        self.timer = timer
        self.max_restarts = max_restarts
        self.window = window
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.faults = faults
        self.on_escalate = on_escalate
        self.on_restarted = on_restarted
        self.on_failed = on_failed
        self.escalated: str | None = None
        self.escalated_actor: str | None = None
        self._lock = threading.RLock()
        self._handles: dict[str, Handle] = {}
        self._factories: dict[str, Callable[[int], pykka.ActorRef[Any]]] = {}
        self._stats: dict[str, ActorStats] = {}
        self._recent: dict[str, deque[float]] = {}  # per child: its restarts within the window
        self._pending: set[str] = set()
        self._closed = False
        self._relay = _Relay.start(self)

    def start_child(self, name: str, factory: Callable[[int], pykka.ActorRef[Any]]) -> Handle:
        """Start ``name`` with ``factory(incarnation)`` and supervise it."""
        with self._lock:
            self._factories[name] = factory
            self._stats[name] = ActorStats(incarnation=1)
        ref = self._spawn(name, 1)
        handle = Handle(name, ref, self)
        with self._lock:
            self._handles[name] = handle
            self._stats[name].state = "running"
        return handle

    def _spawn(self, name: str, incarnation: int) -> pykka.ActorRef[Any]:
        _spawning.supervisor, _spawning.incarnation = self, incarnation
        try:
            return self._factories[name](incarnation)
        finally:
            _spawning.supervisor, _spawning.incarnation = None, 1

    # -- called from the children's threads ------------------------------------------------

    def count(self, name: str) -> None:
        with self._lock:
            stats = self._stats.get(name)
            if stats is not None:
                stats.messages += 1

    def failed(self, name: str, incarnation: int, error: str) -> None:
        escalate: Callable[[str], None] | None = None
        with self._lock:
            stats = self._stats.get(name)
            if stats is None or self._closed or incarnation != stats.incarnation or name in self._pending:
                return
            stats.failures += 1
            stats.last_error = error
            stats.state = "failed"
            log.warning("actor_failed", actor=name, incarnation=incarnation, error=error)
            now = time.monotonic()
            recent = self._recent.setdefault(name, deque())
            while recent and now - recent[0] > self.window:
                recent.popleft()
            if len(recent) >= self.max_restarts:
                if self.escalated is None:  # the first child past its budget is the root cause
                    self.escalated_actor = name  # before ``escalated``, which askers read unlocked
                    self.escalated = (
                        f"{name} failed ({error}) after {len(recent)} restart(s) within {self.window:g}s: "
                        f"its restart budget ({self.max_restarts} per actor) is exhausted"
                    )
                # escalated again on every failure past a budget (a crash in a tell handler is
                # reported twice: by _die and by on_failure); the engine's escalation is idempotent
                escalate = self.on_escalate
            else:
                recent.append(now)
                self._pending.add(name)
                delay = min(self.max_backoff, self.backoff * 2 ** (len(recent) - 1))
                self.timer.send_after(delay, self._relay, _Restart(name))
        if self.on_failed is not None:
            self.on_failed(name, incarnation, error)
        if escalate is not None:
            for handle in self.handles():
                handle.wake()  # askers waiting for a restart that will not come
            escalate(self.escalated or error)

    def _restart(self, name: str) -> None:
        with self._lock:
            if self._closed or name not in self._pending:
                return
            self._pending.discard(name)  # from here on, a failure is the new incarnation's
            stats = self._stats[name]
            cause = stats.last_error or ""
            stats.incarnation += 1
            stats.restarts += 1
            stats.state = "running"
            incarnation = stats.incarnation
            stats.restart_log.append(f"{name} #{incarnation}: {cause}")
            handle = self._handles[name]
        try:
            ref = self._spawn(name, incarnation)
        except Exception as error:  # the factory itself failed
            self.failed(name, incarnation, f"restart failed: {type(error).__name__}: {error}")
            return
        handle.replace(ref)
        log.info("actor_restarted", actor=name, incarnation=incarnation)
        if self.on_restarted is not None:
            self.on_restarted(name, incarnation, cause)

    # -- the engine's side -----------------------------------------------------------------

    def stats(self) -> dict[str, ActorStatus]:
        with self._lock:
            out = {}
            for name, s in self._stats.items():
                ref = self._handles[name].ref if name in self._handles else None
                inbox = ref.actor_inbox if ref is not None and ref.is_alive() else None
                mailbox = inbox.qsize() if isinstance(inbox, queue.Queue) else 0  # a threading actor's
                out[name] = ActorStatus(
                    s.messages, s.failures, s.restarts, s.incarnation, s.state, mailbox, s.last_error
                )
            return out

    def last_error(self, name: str) -> str | None:
        with self._lock:
            stats = self._stats.get(name)
            return None if stats is None else stats.last_error

    @property
    def closed(self) -> bool:
        return self._closed

    def restart_log(self) -> list[str]:
        with self._lock:
            return [entry for s in self._stats.values() for entry in s.restart_log]

    def handles(self) -> list[Handle]:
        with self._lock:
            return list(self._handles.values())

    def close(self, timeout: float) -> None:
        """Stop supervising and stop every child, newest first, each within ``timeout``."""
        with self._lock:
            self._closed = True
            handles = list(self._handles.values())
        for handle in handles:
            handle.wake()  # askers waiting for a restart that will not come
        for handle in reversed(handles):
            try:
                handle.ref.stop(block=True, timeout=timeout)
            except pykka.Timeout:
                log.warning("actor_stop_timed_out", actor=handle.name)
            except pykka.ActorDeadError:
                pass
        with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
            self._relay.stop(block=True, timeout=timeout)


class _Relay(pykka.ThreadingActor):
    """Receives the supervisor's timer messages (restarts after a backoff) on a thread of its own."""

    use_daemon_thread = True

    def __init__(self, supervisor: Supervisor) -> None:
        super().__init__()
        self._supervisor = supervisor

    def on_receive(self, message: Any) -> Any:
        match message:
            case _Restart(name=name):
                self._supervisor._restart(name)
            case _:
                raise TypeError(f"the restarter does not handle {type(message).__name__}")
        return None
