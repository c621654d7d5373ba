"""Errors of marketsession: one tree, every class of it defined here.

    MarketSessionError                  base of everything the engine raises on purpose
    ├── ConfigError                     a session config violates SPEC §3 (carries every violation)
    ├── CalendarError                   a calendar query or calendar data is invalid
    │   └── OutOfCalendarRange          a date lies outside the seeded range of a group
    ├── StoreError                      the store cannot be opened, read or written
    │   └── StoreUnavailable            the database cannot be reached (an outage, not bad input)
    ├── BarImportError                  a bar file is unreadable or holds invalid rows
    ├── QuoteImportError                a quote file is unreadable or holds invalid rows
    ├── ProviderError                   a market-data provider failed
    │   ├── ProviderAuthError           credentials refused: not retried
    │   ├── ProviderSubscriptionError   the account may not do this (symbol limit, subscription)
    │   ├── ProviderRateLimited         too many requests; ``retry_after`` when the provider said
    │   ├── ProviderUnavailable         cannot be reached or dropped the connection: retried
    │   ├── ProviderProtocolError       answered something outside its protocol
    │   └── ProviderNotSupported        no adapter yet, or a request it cannot express
    ├── LifecycleError                  an illegal session lifecycle transition
    ├── EngineTimeout                   a run did not finish within the caller's timeout
    ├── ChildUnavailable                a supervised actor failed and will not be back to answer
    ├── FaultError                      a fault spec (``--fault``) cannot be understood
    ├── ServiceError                    the live service cannot start (its port is taken, say)
    └── ShardError                      a sharded run cannot start or a shard kept failing

Outside the tree, on purpose: ``InjectedCrash`` (``ops/faults.py``), the ``RuntimeError`` a fault
plan raises inside an actor. It stands for a bug, not for a refusal the engine can explain, so
nothing that catches ``MarketSessionError`` may catch it; the supervisor sees it as any crash.

Where each is raised: the store's repositories turn every driver error into ``StoreError`` or
``StoreUnavailable`` themselves (``domain/store/failures.py``); provider adapters
(``ops/providers/``) raise the ``ProviderError`` family; the supervisor (``actors/supervisor.py``)
``ChildUnavailable``; the engine (``actors/system.py``) ``EngineTimeout``; the fault harness
(``ops/faults.py``) ``FaultError``; ``serve`` ``ServiceError``; a sharded run (``ops/shards/``)
``ShardError``. The command line maps them to exit
codes (``ops/cli/app.py``). Errors that cross an actor ``ask`` are these types, so callers can
catch them. A test (``tests/domain/test_errors.py``) fails if a subclass of
``MarketSessionError`` is defined elsewhere or missing from the tree above.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the lifecycle module imports this one
    from domain.session.lifecycle import LifecycleState


class MarketSessionError(Exception):
    """Raised when the engine refuses an operation for a reason it can explain.

    ``violations`` lists every broken rule when there are several (bad rows of a file, say).
    """

    def __init__(self, message: str, violations: list[Violation] | None = None) -> None:
        self.violations = list(violations or [])
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: where (a dotted JSON path, or a file:line) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(MarketSessionError):
    """Raised when a session config is missing, unreadable or breaks a rule of SPEC §3."""

    def __init__(self, violations: list[Violation], source: str | None = None) -> None:
        self.source = source
        head = f"invalid session config {source}" if source else "invalid session config"
        super().__init__(head + ":\n" + "\n".join(f"  {v}" for v in violations), violations)


class CalendarError(MarketSessionError):
    """Raised when a calendar query is invalid or calendar data is missing or inconsistent."""


class OutOfCalendarRange(CalendarError):
    """Raised when a date lies outside the seeded range of an exchange group."""


class StoreError(MarketSessionError):
    """Raised when the store cannot be opened, upgraded, read or written."""


class StoreUnavailable(StoreError):
    """Raised when the database server cannot be reached after bounded retries."""


class BarImportError(MarketSessionError):
    """Raised when a bar file cannot be read or holds rows that break the bar rules."""


class QuoteImportError(MarketSessionError):
    """Raised when a quote file cannot be read or holds rows that break the quote rules."""


# ------------------------------------------------------------------ providers (SPEC §8)


class ProviderError(MarketSessionError):
    """Raised when a market-data provider fails (connection, auth, rate limit, bad payload).

    Callers decide by subtype (``domain/providers.py``): an auth failure is not retried, a rate
    limit says when to come back, an unavailable provider is retried with backoff."""


class ProviderAuthError(ProviderError):
    """Raised when the provider refuses the credentials (HTTP 401/403, stream error 402): not
    retried."""


class ProviderSubscriptionError(ProviderError):
    """Raised when the account may not do this: symbol limit (405), insufficient subscription
    (409)."""


class ProviderRateLimited(ProviderError):
    """Raised when the provider answers too many requests (HTTP 429); ``retry_after`` seconds
    when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """Raised when the provider cannot be reached or dropped the connection: retried with backoff."""


class ProviderProtocolError(ProviderError):
    """Raised when the provider answers something outside its protocol (malformed JSON, bad bar)."""


class ProviderNotSupported(ProviderError):
    """Raised when something is not supported: a provider named by the config schema without an
    adapter yet, or a request the provider cannot express (an interval it has no timeframe for)."""


# ------------------------------------------------------------------ the engine


class LifecycleError(MarketSessionError):
    """Raised when a session is asked to move to a state its current state cannot reach.

    ``allowed`` are the states ``from_state`` may move to (``domain/session/lifecycle.py``
    knows them); none means ``from_state`` is terminal."""

    def __init__(self, from_state: LifecycleState, to_state: LifecycleState, allowed: Iterable[str]) -> None:
        self.from_state = from_state
        self.to_state = to_state
        targets = list(allowed)
        if targets:
            detail = f"allowed from {from_state}: {', '.join(targets)}"
        else:
            detail = f"{from_state} is terminal"
        super().__init__(f"illegal lifecycle transition {from_state} -> {to_state} ({detail})")


class EngineTimeout(MarketSessionError):
    """Raised when a run did not finish within the time the caller allowed (the run goes on)."""


class ChildUnavailable(MarketSessionError):
    """Raised when an ask cannot be answered because the child failed and will not be back: the
    supervisor gave up on it (a restart budget is spent), the engine is shutting down, or no
    restart came within the ask's timeout. The message names the child, what was asked and why.
    """


# ------------------------------------------------------------------ the operator's tools


class FaultError(MarketSessionError):
    """Raised when a fault spec cannot be understood (bad input: exit 2)."""


class ServiceError(MarketSessionError):
    """Raised when the live service cannot start (its port is taken, say)."""


class ShardError(MarketSessionError):
    """Raised when a sharded run cannot start (its executor is not installed or cannot be
    reached), or a shard failed more often than its attempts allow (the message names the shard
    and its last error)."""
