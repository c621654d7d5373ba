"""Pacing: when the session coordinator takes its next clock step, and what the clock reads then
(SPEC §5). One coordinator, three pacings:

- :class:`DataDriven` (a replay at speed 0): the clock jumps to the next bar's release (or the
  close) and the next step is the coordinator's message to itself, sent as soon as the last
  step is done — acknowledged by every gating subscriber and scored;
- :class:`Paced` (a replay at speed > 0): the clock moves one base interval (at most a market
  minute) per step, and the :class:`~actors.timer.Timer` delivers a step every
  ``interval / speed`` seconds of its time (the wall clock, or a test's
  :class:`~actors.timer.ManualTime`), scheduled at absolute times so the pace does not drift;
- :class:`ProviderTicks` (a live session): the clock is the provider's; a tick comes a fraction
  of a base interval apart (in wall time), and the day closes ``grace`` after the close, so a bar
  a little late is not first a gap.

A step message carries the generation it was scheduled in: a pause, a stop or a new day voids
the steps already scheduled.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import Any

from actors.timer import Timer
from domain.bars import datetime_to_ts
from domain.clock import Clock, SimulatedClock

__all__ = [
    "GRACE_MIN_SECONDS",
    "GRACE_WALL_SECONDS",
    "BeginDay",
    "DataDriven",
    "Paced",
    "Pacing",
    "ProviderTicks",
    "Step",
]

GRACE_WALL_SECONDS = 0.25
"""How late (wall seconds) a live bar may arrive after its end before its minute is scored
missing; at least :data:`GRACE_MIN_SECONDS` of session clock."""
GRACE_MIN_SECONDS = 15
WATCH_WALL_SECONDS = 0.25
"""The least wall time a live stream must stay silent to be found mute: a replay at 2400x is not
stalled by a 30 ms hiccup of the process (72 s of its clock)."""


@dataclass(slots=True)
class Step:
    """The coordinator's clock step (scheduled by its pacing)."""

    generation: int


@dataclass(slots=True)
class BeginDay:
    """The coordinator's note to itself: load and start session day ``day`` (at once, or at a
    live day's pre-market open); a re-plan voids the older ones."""

    day: date
    plan: int


class Pacing(ABC):
    """The common shape; see the module docstring."""

    speed: float
    live = False
    grace = 0
    """Seconds of session clock between a window's end and its scoring (0 in a replay)."""

    def __init__(self, timer: Timer, clock: Clock) -> None:
        self._timer = timer
        self.clock = clock

    def now_ts(self) -> int:
        return datetime_to_ts(self.clock.now())

    def start(self, start_ts: int) -> None:  # noqa: B027 - a hook: only a replay's clock is set
        """A day begins streaming at ``start_ts`` (a replay's clock is set there)."""

    @abstractmethod
    def next_clock(self, day: Any) -> int:
        """Where the clock goes at the next step of ``day``."""

    def moved(self, now_ts: int) -> None:  # noqa: B027 - a hook: only a replay's clock is moved
        """The coordinator took a step to ``now_ts``."""

    @abstractmethod
    def schedule(self, target: Any, generation: int) -> None:
        """Deliver the next :class:`Step` to ``target``."""

    def wall_seconds(self, clock_seconds: float) -> float:
        """Wall seconds ``clock_seconds`` of the clock take from now (a provider's clock may say:
        a replay's runs faster in its quiet hours)."""
        convert = getattr(self.clock, "wall_seconds", None)
        return float(convert(clock_seconds)) if convert is not None else clock_seconds / self.speed

    def watch_limit(self, seconds: int) -> int:
        """A feed watchdog's limit of ``seconds`` of session clock (0: not watched)."""
        return max(seconds, 0)

    def closes_at(self, end_ts: int) -> int:
        """When a day ending at ``end_ts`` closes."""
        return end_ts + self.grace

    def score_until(self, now_ts: int, end_ts: int) -> int:
        """Up to where quality of a day ending at ``end_ts`` may be scored at ``now_ts``."""
        return min(now_ts - self.grace, end_ts)


class _Replay(Pacing):
    clock: SimulatedClock

    def start(self, start_ts: int) -> None:
        self.clock.set_ts(start_ts)

    def moved(self, now_ts: int) -> None:
        self.clock.set_ts(now_ts)  # the TimeManager reads it for engine.now(): no message per step


class DataDriven(_Replay):
    speed = 0.0

    def next_clock(self, day: Any) -> int:
        return int(day.next_clock())

    def schedule(self, target: Any, generation: int) -> None:
        target.tell(Step(generation))


class Paced(_Replay):
    def __init__(self, timer: Timer, clock: SimulatedClock, speed: float, base_seconds: int) -> None:
        super().__init__(timer, clock)
        self.speed = speed
        self._tick = min(base_seconds, 60)  # one step is one base bar, at most one market minute
        self._deadline = 0.0

    def start(self, start_ts: int) -> None:
        super().start(start_ts)
        self.restart()

    def restart(self) -> None:
        """Pace from now (a new day, or a resume after a pause)."""
        self._deadline = self._timer.now()

    def next_clock(self, day: Any) -> int:
        return int(day.now_ts) + self._tick

    def schedule(self, target: Any, generation: int) -> None:
        self._deadline += self._tick / self.speed
        self._timer.send_at(self._deadline, target, Step(generation))


class ProviderTicks(Pacing):
    live = True

    def __init__(
        self, timer: Timer, clock: Clock, speed: float, base_seconds: int, *, wall: bool = True
    ) -> None:
        super().__init__(timer, clock)
        self.speed = speed
        self.grace = max(GRACE_MIN_SECONDS, round(GRACE_WALL_SECONDS * speed))
        self._tick_wall = min(1.0, max(0.02, base_seconds / speed / 8))
        self._watch_floor = round(WATCH_WALL_SECONDS * speed) if wall else 0

    def watch_limit(self, seconds: int) -> int:
        """At least :data:`WATCH_WALL_SECONDS` of wall time on the wall clock (a test's
        :class:`~actors.timer.ManualTime` keeps in step with the engine: no floor)."""
        return 0 if seconds <= 0 else max(seconds, self._watch_floor)

    def next_clock(self, day: Any) -> int:
        return self.now_ts()

    def schedule(self, target: Any, generation: int) -> None:
        self._timer.send_after(self._tick_wall, target, Step(generation))
