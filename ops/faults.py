"""Declarative fault injection (issue 5): what ``marketsession chaos --fault SPEC`` understands.

Specs:

- ``crash:<actor>@<n>`` — the actor raises while handling its n-th message (counted from 1 over
  the actor's whole life, restarts included; fires once);
- ``crash:<actor>@<HH:MM>`` — the actor raises at the first message it handles once the
  session clock has reached HH:MM exchange time (fires once);
- ``delay:<actor>@<ms>`` — every message of the actor is delayed by ms milliseconds;
- ``store-fail:<reads|writes>@<k>`` — the next k store operations of that kind fail;
- ``drop:<fraction>``, ``disconnect:<HH:MM>+<seconds>`` — provider faults, for live runs (not
  available in backtests yet: rejected with a clear error).

Actor names are the snake_case names of the engine's actors: ``session_coordinator``,
``time_manager``, ``historical_loader``, ``quality_calculator`` (``gap_filler`` in live mode).

A :class:`FaultPlan` is shared by the engine's actors (each asks :meth:`FaultPlan.before` as it
takes a message) and its store (:meth:`FaultPlan.store_operation`); it is thread-safe.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import MarketSessionError, StoreUnavailable, Violation

__all__ = ["ACTOR_NAMES", "FaultError", "FaultPlan", "FaultyBars", "InjectedCrash", "parse_faults"]

ACTOR_NAMES = ("session_coordinator", "time_manager", "historical_loader", "quality_calculator", "gap_filler")

_SPEC = re.compile(r"^(crash|delay|store-fail|drop|disconnect):(.+)$")


class FaultError(MarketSessionError):
    """A fault spec that cannot be understood (bad input: exit 2)."""


class InjectedCrash(RuntimeError):
    """The crash a fault plan injects into an actor."""


@dataclass
class _Crash:
    actor: str
    at_message: int | None = None
    at_time: time | None = None
    fired: bool = False

    def describe(self) -> str:
        where = str(self.at_message) if self.at_message is not None else f"{self.at_time:%H:%M}"
        return f"crash:{self.actor}@{where}"


@dataclass
class FaultPlan:
    """The faults of one run; see the module docstring."""

    specs: tuple[str, ...] = ()
    crashes: list[_Crash] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)
    store_failures: dict[str, int] = field(default_factory=dict)
    market_ts: int | None = None
    """The session clock (UTC epoch seconds), kept up to date by the coordinator."""
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/New_York"))
    injected: list[str] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, actor: str) -> float:
        """Called by ``actor`` as it takes a message: raises :class:`InjectedCrash` if a crash is
        due, else returns the seconds to delay (0.0 for none)."""
        with self._lock:
            count = self._counts[actor] = self._counts.get(actor, 0) + 1
            for crash in self.crashes:
                if crash.fired or crash.actor != actor:
                    continue
                if crash.at_message is not None and count >= crash.at_message:
                    due = True
                elif crash.at_time is not None and self.market_ts is not None:
                    from datetime import UTC, datetime

                    local = datetime.fromtimestamp(self.market_ts, UTC).astimezone(self.timezone).time()
                    due = local >= crash.at_time
                else:
                    due = False
                if due:
                    crash.fired = True
                    self.injected.append(f"{crash.describe()} (its message {count})")
                    raise InjectedCrash(f"injected fault {crash.describe()} (its message {count})")
            return self.delays.get(actor, 0.0)

    def clock(self, market_ts: int) -> None:
        self.market_ts = market_ts

    def store_operation(self, kind: str) -> None:
        """Called before a store read or write: raises while failures of that kind remain."""
        with self._lock:
            left = self.store_failures.get(kind, 0)
            if left > 0:
                self.store_failures[kind] = left - 1
                self.injected.append(f"store-fail:{kind}")
                raise StoreUnavailable(f"injected fault: store {kind[:-1]} failed ({left - 1} more to fail)")

    def messages(self, actor: str) -> int:
        with self._lock:
            return self._counts.get(actor, 0)

    @property
    def empty(self) -> bool:
        return not (self.crashes or self.delays or self.store_failures)


def parse_faults(specs: Iterable[str]) -> FaultPlan:
    """A :class:`FaultPlan` from ``--fault`` specs; :class:`FaultError` naming every bad one."""
    plan = FaultPlan(specs=tuple(specs))
    problems: list[Violation] = []
    for spec in plan.specs:
        problem = _add(plan, spec.strip())
        if problem:
            problems.append(Violation(f"--fault {spec}", problem))
    if problems:
        raise FaultError(f"{len(problems)} bad fault spec(s)", problems)
    return plan


def _add(plan: FaultPlan, spec: str) -> str | None:
    match = _SPEC.match(spec)
    if match is None:
        return (
            "expected crash:ACTOR@N|HH:MM, delay:ACTOR@MS, store-fail:reads|writes@K, "
            "drop:F or disconnect:HH:MM+S"
        )
    kind, rest = match.groups()
    if kind in ("drop", "disconnect"):
        return f"{kind} faults act on a live provider; a backtest replays the store (live mode: not yet)"
    target, _, argument = rest.partition("@")
    if not argument:
        return f"missing '@…' after {target!r}"
    if kind == "store-fail":
        if target not in ("reads", "writes"):
            return f"store-fail takes reads or writes, got {target!r}"
        if not argument.isdigit() or int(argument) < 1:
            return f"the number of failing operations must be a positive integer, got {argument!r}"
        plan.store_failures[target] = plan.store_failures.get(target, 0) + int(argument)
        return None
    if target not in ACTOR_NAMES:
        return f"unknown actor {target!r}; actors: {', '.join(ACTOR_NAMES)}"
    if kind == "delay":
        if not argument.isdigit():
            return f"delay takes milliseconds, got {argument!r}"
        plan.delays[target] = int(argument) / 1000.0
        return None
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", argument)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            return f"not a time of day: {argument!r}"
        plan.crashes.append(_Crash(target, at_time=time(hour, minute)))
        return None
    if not argument.isdigit() or int(argument) < 1:
        return f"crash takes a message number (1, 2, …) or a time HH:MM, got {argument!r}"
    plan.crashes.append(_Crash(target, at_message=int(argument)))
    return None


class FaultyBars:
    """The store's bar repository with ``store-fail`` faults in front of its reads and writes."""

    def __init__(self, bars: Any, plan: FaultPlan) -> None:
        self._bars = bars
        self._plan = plan

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.store_operation("reads")
        return self._bars.read(*args, **kwargs)

    def read_columns(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.store_operation("reads")
        return self._bars.read_columns(*args, **kwargs)

    def upsert(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.store_operation("writes")
        return self._bars.upsert(*args, **kwargs)

    def insert_missing(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.store_operation("writes")
        return self._bars.insert_missing(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bars, name)
