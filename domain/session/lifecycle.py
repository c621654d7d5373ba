"""The session lifecycle (SPEC §5) as an explicit state table.

::

    created ─► loading ─► ready ─► streaming ◄─► paused
                  ▲                    │            │
                  │                    ▼            │
                  └───────────── session_ended ◄────┘
                     (next day)        │
                                       ▼
                                   completed

    any non-terminal state ─► stopping ─► stopped
    any non-terminal state ─► failed
    completed, stopped, failed: terminal

One coordinator owns a :class:`Lifecycle`; each accepted :meth:`Lifecycle.transition` returns a
:class:`LifecycleTransition` for it to publish. An illegal move raises :class:`LifecycleError`
and leaves the state unchanged.

``paused → session_ended`` is legal: SPEC §5 draws ``streaming ⇄ paused → session_ended``, and a
live session paused at the close ends without being resumed first. No state moves to itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from domain.errors import LifecycleError

__all__ = [
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Lifecycle",
    "LifecycleState",
    "LifecycleTransition",
    "State",
]


class LifecycleState(StrEnum):
    CREATED = "created"
    LOADING = "loading"
    READY = "ready"
    STREAMING = "streaming"
    PAUSED = "paused"
    SESSION_ENDED = "session_ended"
    COMPLETED = "completed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


State = LifecycleState
"""Short alias of :class:`LifecycleState`."""

TERMINAL_STATES: frozenset[LifecycleState] = frozenset(
    {LifecycleState.COMPLETED, LifecycleState.STOPPED, LifecycleState.FAILED}
)


def _table() -> dict[LifecycleState, frozenset[LifecycleState]]:
    s = LifecycleState
    forward: dict[LifecycleState, set[LifecycleState]] = {
        s.CREATED: {s.LOADING},
        s.LOADING: {s.READY},
        s.READY: {s.STREAMING},
        s.STREAMING: {s.PAUSED, s.SESSION_ENDED},
        s.PAUSED: {s.STREAMING, s.SESSION_ENDED},
        s.SESSION_ENDED: {s.LOADING, s.COMPLETED},
        s.STOPPING: {s.STOPPED},
    }
    # any non-terminal state may stop or fail; none moves to itself
    return {
        state: frozenset()
        if state in TERMINAL_STATES
        else frozenset(forward.get(state, set()) | {s.STOPPING, s.FAILED}) - {state}
        for state in LifecycleState
    }


TRANSITIONS: Mapping[LifecycleState, frozenset[LifecycleState]] = MappingProxyType(_table())
"""Legal moves: state → the states it may move to (empty for terminal states)."""


@dataclass(frozen=True, slots=True)
class LifecycleTransition:
    """One accepted move, ready to publish."""

    from_state: LifecycleState
    to_state: LifecycleState
    reason: str | None = None


class Lifecycle:
    """The current state of one session run, changed only along :data:`TRANSITIONS`."""

    def __init__(self, state: LifecycleState = LifecycleState.CREATED) -> None:
        self._state = LifecycleState(state)

    def __repr__(self) -> str:
        return f"Lifecycle({self._state})"

    @property
    def state(self) -> LifecycleState:
        return self._state

    @property
    def is_terminal(self) -> bool:
        """Whether the run is over (completed, stopped or failed): no transition is legal."""
        return self._state in TERMINAL_STATES

    def transition(self, to: LifecycleState, reason: str | None = None) -> LifecycleTransition:
        """Move to ``to`` and return the move; raise :class:`LifecycleError` if it is illegal."""
        target = LifecycleState(to)
        if target not in TRANSITIONS[self._state]:
            allowed = [state for state in LifecycleState if state in TRANSITIONS[self._state]]
            raise LifecycleError(self._state, target, allowed)
        change = LifecycleTransition(self._state, target, reason)
        self._state = target
        return change
