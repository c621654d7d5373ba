"""The session lifecycle state table (SPEC §5): every legal move, every illegal one, terminals."""

from __future__ import annotations

import itertools
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import LifecycleError, MarketSessionError
from domain.session.lifecycle import TERMINAL_STATES, TRANSITIONS, Lifecycle, LifecycleTransition, State

S = State

# The table as SPEC §5 draws it, written out independently of the module's construction.
EXPECTED: dict[State, set[State]] = {
    S.CREATED: {S.LOADING, S.STOPPING, S.FAILED},
    S.LOADING: {S.READY, S.STOPPING, S.FAILED},
    S.READY: {S.STREAMING, S.STOPPING, S.FAILED},
    S.STREAMING: {S.PAUSED, S.SESSION_ENDED, S.STOPPING, S.FAILED},
    S.PAUSED: {S.STREAMING, S.SESSION_ENDED, S.STOPPING, S.FAILED},
    S.SESSION_ENDED: {S.LOADING, S.COMPLETED, S.STOPPING, S.FAILED},
    S.STOPPING: {S.STOPPED, S.FAILED},
    S.COMPLETED: set(),
    S.STOPPED: set(),
    S.FAILED: set(),
}

LEGAL = sorted((a, b) for a, targets in EXPECTED.items() for b in targets)
ILLEGAL = sorted((a, b) for a, b in itertools.product(State, State) if b not in EXPECTED[a])


def test_states_are_the_ten_of_the_spec_with_snake_case_values() -> None:
    assert [str(s) for s in State] == [
        "created",
        "loading",
        "ready",
        "streaming",
        "paused",
        "session_ended",
        "completed",
        "stopping",
        "stopped",
        "failed",
    ]


def test_transition_table_is_the_spec_table() -> None:
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == EXPECTED


def test_transition_table_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[S.COMPLETED] = frozenset({S.LOADING})  # type: ignore[index]  # read-only: the test checks it refuses


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition_moves_and_reports_the_move(source: State, target: State) -> None:
    lifecycle = Lifecycle(source)
    change = lifecycle.transition(target, reason="because")
    assert change == LifecycleTransition(source, target, "because")
    assert lifecycle.state is target


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_raises_and_keeps_the_state(source: State, target: State) -> None:
    lifecycle = Lifecycle(source)
    with pytest.raises(LifecycleError, match=f"{source} -> {target}") as caught:
        lifecycle.transition(target)
    assert (caught.value.from_state, caught.value.to_state) == (source, target)
    assert lifecycle.state is source


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_terminal_states_allow_no_transition_and_say_so(state: State) -> None:
    lifecycle = Lifecycle(state)
    assert lifecycle.is_terminal
    assert TRANSITIONS[state] == frozenset()
    with pytest.raises(LifecycleError, match=f"{state} is terminal"):
        lifecycle.transition(S.LOADING)


def test_terminal_states_are_completed_stopped_and_failed() -> None:
    assert frozenset({S.COMPLETED, S.STOPPED, S.FAILED}) == TERMINAL_STATES
    assert not any(Lifecycle(s).is_terminal for s in State if s not in TERMINAL_STATES)


def test_illegal_transition_error_lists_the_allowed_targets() -> None:
    with pytest.raises(LifecycleError) as caught:
        Lifecycle(S.READY).transition(S.COMPLETED)
    assert str(caught.value) == (
        "illegal lifecycle transition ready -> completed (allowed from ready: streaming, stopping, failed)"
    )
    assert isinstance(caught.value, MarketSessionError)


def test_a_lifecycle_starts_created() -> None:
    assert Lifecycle().state is S.CREATED


def test_a_three_day_backtest_with_a_pause_walks_the_table_to_completed() -> None:
    lifecycle = Lifecycle()
    path = [S.LOADING, S.READY, S.STREAMING, S.PAUSED, S.STREAMING, S.SESSION_ENDED]
    path += [S.LOADING, S.READY, S.STREAMING, S.SESSION_ENDED] * 2 + [S.COMPLETED]
    changes = [lifecycle.transition(step) for step in path]
    assert [c.to_state for c in changes] == path
    assert [c.from_state for c in changes] == [S.CREATED, *path[:-1]]
    assert lifecycle.is_terminal


def test_a_stop_drains_through_stopping_and_a_crash_during_stopping_fails() -> None:
    stopped = Lifecycle(S.PAUSED)
    stopped.transition(S.STOPPING, "SIGTERM")
    assert stopped.transition(S.STOPPED).reason is None
    crashed = Lifecycle(S.STOPPING)
    assert crashed.transition(S.FAILED, "store unavailable") == LifecycleTransition(
        S.STOPPING, S.FAILED, "store unavailable"
    )


def test_every_state_is_reachable_and_every_run_can_end() -> None:
    reachable = {S.CREATED}
    frontier = [S.CREATED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(State)
    for state in State:
        if state not in TERMINAL_STATES:
            assert TRANSITIONS[state] & {S.STOPPING, S.STOPPED}
            assert S.FAILED in TRANSITIONS[state]


def test_transition_values_are_frozen() -> None:
    change = LifecycleTransition(S.CREATED, S.LOADING)
    with pytest.raises(FrozenInstanceError):
        change.reason = "x"  # type: ignore[misc]


def test_states_given_as_strings_are_accepted() -> None:
    lifecycle = Lifecycle(S.CREATED)
    assert lifecycle.transition("loading").to_state is S.LOADING  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(list(State)), max_size=40))
def test_any_sequence_of_requests_follows_the_table(requests: list[State]) -> None:
    lifecycle = Lifecycle()
    for target in requests:
        before = lifecycle.state
        if target in EXPECTED[before]:
            assert lifecycle.transition(target).from_state is before
            assert lifecycle.state is target
        else:
            with pytest.raises(LifecycleError):
                lifecycle.transition(target)
            assert lifecycle.state is before
