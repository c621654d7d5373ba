"""Declarative fault injection: what ``marketsession chaos --fault SPEC`` understands.

Specs:

- ``crash:<actor>@<n>`` — the actor raises while handling its n-th message (counted from 1 over
  the actor's whole life, restarts included, the stop at shutdown not; fires once);
- ``crash:<actor>@<HH:MM>`` — the actor raises at the first message it handles once the
  session clock has reached HH:MM exchange time (fires once);
- ``delay:<actor>@<ms>`` — every message of the actor is delayed by ms milliseconds;
- ``store-fail:<reads|writes>@<k>`` — the next k store operations of that kind fail;
- provider faults, for live runs on the ``replay`` provider (``serve``; a backtest replays the
  store, so they are refused there): ``drop:<fraction>`` (``0.05`` or ``5%`` of streamed bars),
  ``drop:<HH:MM>-<HH:MM>`` (every bar of that span), ``disconnect:<HH:MM>+<seconds>`` (the stream
  is down that long; ``+5m`` works too), ``mute:<HH:MM>+<seconds>`` (the stream stays connected
  but sends nothing that long, or until the engine reconnects it), ``late:<fraction>``
  (delivered after the next minute),
  ``duplicate:<fraction>`` (delivered twice), ``lag:<seconds>`` (every delivery that much later
  on the session clock), ``fetch-fail:<k>`` (the next k history fetches fail).

Actor names are the snake_case names of the engine's actors: ``session_coordinator``,
``time_manager``, ``historical_loader``, ``quality_calculator`` (``gap_filler`` and
``bar_writer`` in live mode).

A :class:`FaultPlan` is shared by the engine's actors (each asks :meth:`FaultPlan.before` as it
takes a message) and its store (:meth:`FaultPlan.store_operation`); it is thread-safe.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import FaultError, StoreUnavailable, Violation

__all__ = [
    "ACTOR_NAMES",
    "FaultPlan",
    "FaultyBars",
    "InjectedCrash",
    "ProviderFaults",
    "parse_faults",
]

ACTOR_NAMES = (
    "session_coordinator",
    "time_manager",
    "historical_loader",
    "quality_calculator",
    "gap_filler",
    "bar_writer",
)

_SPEC = re.compile(r"^(crash|delay|store-fail|drop|disconnect|mute|late|duplicate|lag|fetch-fail):(.+)$")
_PROVIDER_KINDS = ("drop", "disconnect", "mute", "late", "duplicate", "lag", "fetch-fail")
_HHMM = r"(\d{1,2}):(\d{2})"


@dataclass
class ProviderFaults:
    """Provider faults of a live replay, times of day in exchange time (see the module docstring)."""

    drop_fraction: float = 0.0
    drop_ranges: list[tuple[time, time]] = field(default_factory=list)
    disconnects: list[tuple[time, int]] = field(default_factory=list)
    mutes: list[tuple[time, int]] = field(default_factory=list)
    late_fraction: float = 0.0
    duplicate_fraction: float = 0.0
    lag_seconds: float = 0.0
    fetch_failures: int = 0

    def resolve(self, day: date, zone: tzinfo) -> dict[str, Any]:
        """The faults as keyword arguments of a replay's faults on ``day`` (times → timestamps)."""

        def ts(moment: time) -> int:
            return int(datetime.combine(day, moment, zone).timestamp())

        return {
            "drop_fraction": self.drop_fraction,
            "drop_ranges": tuple((ts(a), ts(b)) for a, b in self.drop_ranges),
            "late_fraction": self.late_fraction,
            "duplicate_fraction": self.duplicate_fraction,
            "lag_seconds": self.lag_seconds,
            "disconnects": tuple((ts(at), ts(at) + seconds) for at, seconds in self.disconnects),
            "mutes": tuple((ts(at), ts(at) + seconds) for at, seconds in self.mutes),
            "fetch_failures": self.fetch_failures,
        }

    @property
    def any(self) -> bool:
        return any(vars(self).values())


class InjectedCrash(RuntimeError):
    """The crash a fault plan injects into an actor.

    Deliberately not a :class:`~domain.errors.MarketSessionError` (and so not in the error tree
    of ``domain/errors.py``, which names it as outside): it stands for a bug in an actor, and no
    handler of the engine's own errors may catch it."""


@dataclass
class _Crash:
    actor: str
    at_message: int | None = None
    at_time: time | None = None
    fired: bool = False


@dataclass
class FaultPlan:
    """The faults of one run; see the module docstring."""

    crashes: list[_Crash] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)
    store_failures: dict[str, int] = field(default_factory=dict)
    market_ts: int | None = None
    """The session clock (UTC epoch seconds), kept up to date by the coordinator."""
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/New_York"))
    """The zone of ``crash:ACTOR@HH:MM``: the CLI sets the session's exchange zone."""
    injected: list[str] = field(default_factory=list)
    provider: ProviderFaults = field(default_factory=ProviderFaults)
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
                if crash.at_message is not None:
                    due = count >= crash.at_message
                elif crash.at_time is not None and self.market_ts is not None:
                    local = datetime.fromtimestamp(self.market_ts, UTC).astimezone(self.timezone).time()
                    due = local >= crash.at_time
                else:
                    due = False
                if due:
                    crash.fired = True
                    where = crash.at_message if crash.at_message is not None else f"{crash.at_time:%H:%M}"
                    what = f"crash:{actor}@{where} (its message {count})"
                    self.injected.append(what)
                    raise InjectedCrash(f"injected fault {what}")
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


def parse_faults(specs: Iterable[str], *, live: bool = False) -> FaultPlan:
    """A :class:`FaultPlan` from ``--fault`` specs; :class:`FaultError` naming every bad one.
    Provider faults are accepted only for ``live`` runs."""
    plan = FaultPlan()
    problems: list[Violation] = []
    for spec in specs:
        problem = _add(plan, spec.strip(), live)
        if problem:
            problems.append(Violation(f"--fault {spec}", problem))
    if problems:
        raise FaultError(f"{len(problems)} bad fault spec(s)", problems)
    return plan


def _is_count(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes ``²``, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def _fraction(text: str) -> float | None:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def _time(hour: str, minute: str) -> time | None:
    return time(int(hour), int(minute)) if int(hour) <= 23 and int(minute) <= 59 else None


def _add_provider(faults: ProviderFaults, kind: str, rest: str) -> str | None:
    if kind == "drop" and (span := re.fullmatch(f"{_HHMM}-{_HHMM}", rest)):
        first, last = _time(*span.group(1, 2)), _time(*span.group(3, 4))
        if first is None or last is None or not first < last:
            return f"expected a span HH:MM-HH:MM with start before end, got {rest!r}"
        faults.drop_ranges.append((first, last))
        return None
    if kind in ("drop", "late", "duplicate"):
        value = _fraction(rest)
        if value is None:
            return f"{kind} takes a fraction between 0 and 1 (0.05 or 5%), got {rest!r}"
        setattr(faults, f"{kind}_fraction", value)
        return None
    if kind in ("disconnect", "mute"):
        match = re.fullmatch(rf"{_HHMM}\+(\d+)(s|m)?", rest)
        at = _time(*match.group(1, 2)) if match else None
        if match is None or at is None or int(match.group(3)) < 1:
            return f"expected {kind}:HH:MM+SECONDS (or +Nm), got {rest!r}"
        seconds = int(match.group(3)) * (60 if match.group(4) == "m" else 1)
        (faults.disconnects if kind == "disconnect" else faults.mutes).append((at, seconds))
        return None
    if kind == "lag":
        try:
            value = float(rest.removesuffix("s"))
        except ValueError:
            value = None
        if value is None or not 0 <= value < math.inf:
            return f"lag takes a finite number of seconds >= 0, got {rest!r}"
        faults.lag_seconds = value
        return None
    if not _is_count(rest) or int(rest) < 1:  # fetch-fail
        return f"fetch-fail takes a positive number of fetches, got {rest!r}"
    faults.fetch_failures += int(rest)
    return None


def _add(plan: FaultPlan, spec: str, live: bool) -> str | None:
    match = _SPEC.match(spec)
    if match is None:
        return (
            "expected crash:ACTOR@N|HH:MM, delay:ACTOR@MS, store-fail:reads|writes@K, or a provider fault "
            "(live): drop:F, drop:HH:MM-HH:MM, disconnect:HH:MM+S, mute:HH:MM+S, late:F, duplicate:F, "
            "lag:S, fetch-fail:K"
        )
    kind, rest = match.groups()
    if kind in _PROVIDER_KINDS:
        if not live:
            return f"{kind} faults act on a live provider; a backtest replays the store (use serve)"
        return _add_provider(plan.provider, kind, rest)
    target, _, argument = rest.partition("@")
    if not argument:
        return f"missing '@…' after {target!r}"
    if kind == "store-fail":
        if target not in ("reads", "writes"):
            return f"store-fail takes reads or writes, got {target!r}"
        if not _is_count(argument) or int(argument) < 1:
            return f"the number of failing operations must be a positive integer, got {argument!r}"
        plan.store_failures[target] = plan.store_failures.get(target, 0) + int(argument)
        return None
    if target not in ACTOR_NAMES:
        return f"unknown actor {target!r}; actors: {', '.join(ACTOR_NAMES)}"
    if kind == "delay":
        if not _is_count(argument):
            return f"delay takes milliseconds, got {argument!r}"
        plan.delays[target] = int(argument) / 1000.0
        return None
    if clock := re.fullmatch(_HHMM, argument):
        at = _time(*clock.groups())
        if at is None:
            return f"not a time of day: {argument!r}"
        plan.crashes.append(_Crash(target, at_time=at))
        return None
    if not _is_count(argument) or int(argument) < 1:
        return f"crash takes a message number (1, 2, …) or a time HH:MM, got {argument!r}"
    plan.crashes.append(_Crash(target, at_message=int(argument)))
    return None


_OPERATIONS = {
    "read": "reads",
    "read_columns": "reads",
    "upsert": "writes",
    "insert_missing": "writes",
    "upsert_counting_new": "writes",
}
"""The bar repository's methods that ``store-fail`` faults act on, and the kind of each."""


class FaultyBars:
    """The store's bar repository with ``store-fail`` faults in front of its reads and writes."""

    def __init__(self, bars: Any, plan: FaultPlan) -> None:
        self._bars = bars
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._bars, name)
        kind = _OPERATIONS.get(name)
        if kind is None:
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._plan.store_operation(kind)
            return attribute(*args, **kwargs)

        return guarded
