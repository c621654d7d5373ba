"""Errors of marketsession, one subclass per area.

    MarketSessionError              base of everything the engine raises on purpose
    ├── ConfigError                 a session config violates SPEC §3 (carries every violation)
    ├── CalendarError               a calendar query or calendar data is invalid
    │   └── OutOfCalendarRange      a date lies outside the seeded range of a group
    ├── StoreError                  the store cannot be opened, read or written
    │   └── StoreUnavailable        the database cannot be reached (an outage, not bad input)
    ├── BarImportError              a bar file is unreadable or holds invalid rows
    └── ProviderError               a market-data provider failed

Errors that cross an actor ``ask`` are these types, so callers can catch them.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class ProviderError(MarketSessionError):
    """Raised when a market-data provider fails (connection, auth, rate limit, bad payload)."""
