"""Handle: how actors and the engine reach a supervised child — always its current incarnation.

A tell to a child that is down is dropped (its restart resyncs it: see what each restarted actor
gets back in :mod:`actors.supervisor`). An ask that hits a child dying of a failure waits
(bounded) for the restart and asks again, as often as the child's restart budget allows; when
the child will not be back it fails with :class:`~domain.errors.ChildUnavailable`, naming the
child and its last failure. An error the child answers on purpose (a calendar out of range …)
is the caller's, as ever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka
import structlog

from domain.errors import ChildUnavailable

if TYPE_CHECKING:
    from actors.supervisor import Supervisor

__all__ = ["Handle"]

log = structlog.get_logger("marketsession.supervisor")


class Handle:
    """The current incarnation of one supervised child; see the module docstring."""

    def __init__(self, name: str, ref: pykka.ActorRef[Any], supervisor: Supervisor | None = None) -> None:
        self.name = name
        self._ref = ref
        self._supervisor = supervisor
        self._changed = threading.Condition()
        self.generation = 1

    @property
    def ref(self) -> pykka.ActorRef[Any]:
        return self._ref

    def replace(self, ref: pykka.ActorRef[Any]) -> None:
        with self._changed:
            self._ref = ref
            self.generation += 1
            self._changed.notify_all()

    def wake(self) -> None:
        """Wake askers waiting for a restart (the supervisor gave up)."""
        with self._changed:
            self._changed.notify_all()

    def tell(self, message: Any) -> None:
        try:
            self._ref.tell(message)
        except pykka.ActorDeadError:  # between a failure and the restart: the restart resyncs
            log.info("message_to_dead_actor_dropped", actor=self.name, message=type(message).__name__)

    def ask(self, message: Any, timeout: float) -> Any:
        return self.request(lambda ref: ref.ask(message, block=False), timeout, type(message).__name__)

    def request(
        self, send: Callable[[pykka.ActorRef[Any]], Any], timeout: float, what: str = "a request"
    ) -> Any:
        """``send(ref).get(timeout)``. After a failure of the child (not an answer it gave), again on
        its next incarnation, for as long as the supervisor restarts it: at most once per restart
        its budget allows (``max_restarts``), each wait for the restart bounded by ``timeout``.
        :class:`ChildUnavailable` (naming the child, ``what`` was asked and why) when it will not
        be back."""
        supervisor = self._supervisor
        failures = 0
        while True:
            generation, ref = self.generation, self._ref
            try:
                return send(ref).get(timeout=timeout)
            except pykka.Timeout:
                raise
            except Exception as error:
                if supervisor is None or ref.is_alive():
                    raise  # the child answered with an error: that is the caller's
                failures += 1
                if failures > supervisor.max_restarts:
                    raise self._unavailable(what, error, f"{failures} times in a row") from error
                self._await_restart(generation, timeout, what, error)

    def _await_restart(self, generation: int, timeout: float, what: str, error: Exception) -> None:
        assert self._supervisor is not None
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.generation == generation:
                left = deadline - time.monotonic()
                if self._supervisor.escalated is not None or self._supervisor.closed:
                    raise self._unavailable(what, error) from error
                if left <= 0:
                    raise self._unavailable(
                        what, error, f"and was not restarted within {timeout:g}s"
                    ) from error
                self._changed.wait(min(left, 0.5))

    def _unavailable(self, what: str, error: Exception, why: str = "") -> ChildUnavailable:
        """Why the child will not answer ``what``, naming it and its last failure."""
        supervisor = self._supervisor
        assert supervisor is not None
        last = supervisor.last_error(self.name) or f"{type(error).__name__}: {error}"
        failed = f"{self.name} failed ({last})"
        if supervisor.escalated is not None and supervisor.escalated_actor == self.name:
            reason = supervisor.escalated  # names this child, its last failure and the budget
        elif supervisor.escalated is not None:
            reason = f"{failed}; the engine is stopping: {supervisor.escalated}"
        elif supervisor.closed:
            reason = f"{failed} while the engine was shutting down"
        else:
            reason = f"{failed} {why}"
        return ChildUnavailable(f"{self.name} did not answer {what}: {reason}")
