"""Clocks are injected, never read directly: a simulated clock for backtests and tests.

The wall clock lives outside ``domain`` (``actors/wall_clock.py``) because reading it is a side
effect; both satisfy :class:`Clock`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the time as a tz-aware UTC datetime."""

    def now(self) -> datetime: ...


class SimulatedClock:
    """A clock that only moves when told to; backtests and tests drive it.

    A backtest's coordinator moves it at every clock step (:meth:`set_ts`, one attribute write,
    no datetime built); whoever reads it — the TimeManager's ``now()``, the engine's — sees the
    session clock without a message per step.
    """

    def __init__(self, start: datetime) -> None:
        self._ts = _require_aware(start).timestamp()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._ts, UTC)

    def set(self, moment: datetime) -> None:
        self._ts = _require_aware(moment).timestamp()

    def set_ts(self, ts: float) -> None:
        """Move to ``ts`` (UTC epoch seconds)."""
        self._ts = ts

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"a simulated clock does not go backwards (advance by {delta})")
        self._ts += delta.total_seconds()
        return self.now()


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"clock time {moment.isoformat()} must be tz-aware")
    return moment.astimezone(UTC)
