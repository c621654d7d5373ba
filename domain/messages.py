"""Typed, immutable messages between the engine's actors, and the events it publishes (SPEC §2).

Two families, all frozen dataclasses:

- **Commands** travel from one actor to another (``tell``, or ``ask`` with a timeout where a
  reply is needed — noted per class). Per-bar messages do not exist: bars travel in batches of
  one clock step (SPEC §2: no per-bar ask on hot paths).
- **Events** (subclasses of :class:`Event`) are what subscribers see. They are told, never
  asked, so a slow subscriber never blocks the engine — except a *gating* subscriber, whose
  acknowledgement of each :class:`BarsAppended` step a speed-0 replay waits for (bounded).

Bars inside messages are tuples of :class:`~domain.bars.Bar`; a message never holds a mutable
container the sender keeps writing to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, ClassVar

from domain.bar_columns import BarColumns
from domain.bars import Bar
from domain.lifecycle import LifecycleState
from domain.quality import Gap, IntervalQuality, QualityScore
from domain.session_day import DayHours

if TYPE_CHECKING:
    from domain.report import DaySummary, RunReport

__all__ = [
    "AckTimeout",
    "ActorRestarted",
    "BarsAppended",
    "BeginQualityDay",
    "ChildRestarted",
    "ClockAt",
    "ComponentStateChanged",
    "DayBars",
    "DayEndTimeout",
    "DerivedBarsBuilt",
    "DrainGaps",
    "EndQualityDay",
    "Event",
    "Fail",
    "FillBars",
    "GapAbandoned",
    "GapAttempted",
    "GapDetected",
    "GapFilled",
    "GapsDrained",
    "HistoricalLoaded",
    "LifecycleChanged",
    "LiveBars",
    "LoadHistorical",
    "MarkGap",
    "Pause",
    "ProviderConnection",
    "ProviderOutage",
    "ProviderStateChanged",
    "QualityDayEnded",
    "QualityScored",
    "QualityUpdated",
    "QueueDays",
    "ReloadCalendar",
    "Resume",
    "RunCheckpoint",
    "RunCompleted",
    "ScoreHistorical",
    "ScoreStep",
    "SessionEnded",
    "SessionStarted",
    "StartRun",
    "Step",
    "StepAcknowledged",
    "Stop",
    "TakeDay",
    "TrackGaps",
    "WarningRaised",
]


# ------------------------------------------------------------------------- live mode (SPEC §8)


@dataclass(frozen=True, slots=True)
class LiveBars:
    """A provider's delivery (told to the coordinator from the provider's thread): completed base
    bars, or ``updated`` values of bars already delivered. ``received`` is ``time.monotonic()``
    when the provider handed them over (end-to-end latency is measured from it)."""

    bars: tuple[Bar, ...]
    updated: bool = False
    received: float = 0.0


@dataclass(frozen=True, slots=True)
class ProviderStateChanged:
    """The provider's connection changed (a :class:`~domain.providers.ConnectionState` value)."""

    state: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderOutage:
    """The provider's stream was down over ``[start_ts, end_ts)``."""

    start_ts: int
    end_ts: int


@dataclass(frozen=True, slots=True)
class TrackGaps:
    """Coordinator → GapFiller: the day's gap changes as the QualityCalculator reported them."""

    day: date
    now_ts: int
    opened: tuple[Gap, ...] = ()
    closed: tuple[Gap, ...] = ()


@dataclass(frozen=True, slots=True)
class FillBars:
    """GapFiller → coordinator: what the provider returned for ``gap`` (merged, stored, scored)."""

    day: date
    gap: Gap
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class GapAttempted:
    """GapFiller → coordinator: ``gap`` after one more fetch, or abandoned (its status says)."""

    day: date
    gap: Gap
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MarkGap:
    """Coordinator → QualityCalculator: record a fetch attempt or the abandonment of ``gap``."""

    day: date
    gap: Gap


@dataclass(frozen=True, slots=True)
class DrainGaps:
    """Coordinator → GapFiller at the close: answer :class:`GapsDrained` once no gap of ``day``
    is left to fetch (all filled or abandoned)."""

    day: date


@dataclass(frozen=True, slots=True)
class GapsDrained:
    day: date


@dataclass(frozen=True, slots=True)
class ReloadCalendar:
    """Ask the live coordinator to re-read today's (or the next) session from the calendar after
    a change (SIGHUP, ``POST /calendar/reload``); answers what changed, as a sentence."""


# ------------------------------------------------------------------------- coordinator commands


@dataclass(frozen=True, slots=True)
class StartRun:
    """Begin the run: the first session day is loaded and streamed."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Hold the clock after the current step (a paused run keeps its state)."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue a paused run."""


@dataclass(frozen=True, slots=True)
class Stop:
    """End the run between steps; the report says ``stopped`` with this reason."""

    reason: str = "stopped on request"


@dataclass(frozen=True, slots=True)
class Fail:
    """End the run ``failed`` with this cause (the supervisor's escalation)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ChildRestarted:
    """The supervisor restarted another actor: resend it what it needs of the day in progress."""

    name: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class RunCheckpoint:
    """Where a run stands after a completed day: what a restarted coordinator resumes from."""

    next_index: int
    summaries: tuple[DaySummary, ...]
    run_warnings: tuple[str, ...]
    steps: int
    bars_streamed: int
    bars_derived: int
    ack_timeouts: int
    day_timings: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    started: float = 0.0
    """When the run started (the coordinator's monotonic clock), for total timings."""


@dataclass(frozen=True, slots=True)
class Step:
    """Take the next clock step. Sent by the coordinator to itself (speed 0) or by the timer
    (speed > 0); a step of an older ``generation`` (before a pause or a new day) is ignored."""

    generation: int


@dataclass(frozen=True, slots=True)
class StepAcknowledged:
    """A gating subscriber has handled step ``step``."""

    subscriber: str
    step: int


@dataclass(frozen=True, slots=True)
class DayEndTimeout:
    """The QualityCalculator did not answer the end of ``day`` in time: the run fails."""

    day: date


@dataclass(frozen=True, slots=True)
class AckTimeout:
    """Gating subscribers did not acknowledge ``step`` in time: go on, and say so."""

    step: int


@dataclass(frozen=True, slots=True)
class QualityScored:
    """QualityCalculator → coordinator: the scores and gap changes one step caused."""

    day: date
    now_ts: int
    scores: tuple[QualityScore, ...]
    opened: tuple[Gap, ...] = ()
    closed: tuple[Gap, ...] = ()


@dataclass(frozen=True, slots=True)
class ClockAt:
    """tell → TimeManager: the simulated clock is now ``ts`` (UTC epoch seconds); one per step."""

    ts: int


# ---------------------------------------------------------------------- HistoricalLoader commands


@dataclass(frozen=True, slots=True)
class LoadHistorical:
    """ask → :class:`~domain.historical.HistoricalData` of ``day``."""

    day: date


@dataclass(frozen=True, slots=True)
class QueueDays:
    """tell: load the base bars of these session days ahead of time (the prefetch queue)."""

    days: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class TakeDay:
    """ask → :class:`DayBars` of ``day`` (from the queue, loaded now if it was not queued)."""

    day: date


@dataclass(frozen=True, slots=True)
class DayBars:
    """The stored base bars of one session day, extended hours included: read-only columns,
    one per symbol."""

    day: date
    interval: str
    hours: DayHours
    columns: tuple[BarColumns, ...]

    @property
    def bar_count(self) -> int:
        return sum(len(cols) for cols in self.columns)


# ---------------------------------------------------------------------- QualityCalculator commands


@dataclass(frozen=True, slots=True)
class BeginQualityDay:
    """tell: start scoring a session day for these symbols and bar intervals. ``columns`` are
    the day's session base bars per symbol (read-only), which :class:`ScoreStep` ranges index."""

    hours: DayHours
    symbols: tuple[str, ...]
    intervals: tuple[str, ...]
    enabled: bool
    columns: tuple[BarColumns, ...] = ()


@dataclass(frozen=True, slots=True)
class ScoreStep:
    """tell: what one clock step (or a run of speed-0 steps) released, answered by
    :class:`QualityScored`: the day's base bars starting before ``released_until`` (in the
    columns of :class:`BeginQualityDay`) and/or ``bars``; the derived bars built."""

    day: date
    now_ts: int
    bars: tuple[Bar, ...] = ()
    derived: tuple[Bar, ...] = ()
    released_until: int | None = None


@dataclass(frozen=True, slots=True)
class EndQualityDay:
    """tell: score up to ``close_ts`` (the close, or the moment a stopped day ended) and answer
    with :class:`QualityDayEnded` — after the :class:`QualityScored` of every earlier step."""

    day: date
    close_ts: int


@dataclass(frozen=True, slots=True)
class QualityDayEnded:
    """QualityCalculator → coordinator: every symbol and interval's final score and gaps."""

    day: date
    results: tuple[IntervalQuality, ...]


@dataclass(frozen=True, slots=True)
class ScoreHistorical:
    """ask → ``dict[(symbol, interval), float | None]``: historical quality of loaded series."""

    data: object  # a domain.historical.HistoricalData (kept loose to avoid an import cycle)
    enabled: bool


# ---------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Event:
    """Base of everything subscribers receive; ``kind`` is the snake_case name of the event."""

    kind: ClassVar[str] = "event"


@dataclass(frozen=True, slots=True)
class LifecycleChanged(Event):
    kind: ClassVar[str] = "lifecycle_changed"
    from_state: LifecycleState
    to_state: LifecycleState
    reason: str | None = None
    day: date | None = None


@dataclass(frozen=True, slots=True)
class HistoricalLoaded(Event):
    kind: ClassVar[str] = "historical_loaded"
    day: date
    bars: int
    series: int


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    kind: ClassVar[str] = "session_started"
    day: date
    hours: DayHours
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BarsAppended(Event):
    """The base bars one clock step released into the session (``step`` counts from 1 per run)."""

    kind: ClassVar[str] = "bars_appended"
    day: date
    step: int
    now_ts: int
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class DerivedBarsBuilt(Event):
    kind: ClassVar[str] = "derived_bars"
    day: date
    step: int
    now_ts: int
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class QualityUpdated(Event):
    kind: ClassVar[str] = "quality_updated"
    day: date
    now_ts: int
    scores: tuple[QualityScore, ...]


@dataclass(frozen=True, slots=True)
class GapDetected(Event):
    """A gap opened or grew (a grown gap is reported again with its new extent)."""

    kind: ClassVar[str] = "gap_detected"
    day: date
    gap: Gap


@dataclass(frozen=True, slots=True)
class GapFilled(Event):
    kind: ClassVar[str] = "gap_filled"
    day: date
    gap: Gap


@dataclass(frozen=True, slots=True)
class GapAbandoned(Event):
    """Live mode: the GapFiller gave up on ``gap`` after ``max_retries`` fetches (a warning)."""

    kind: ClassVar[str] = "gap_abandoned"
    day: date
    gap: Gap


@dataclass(frozen=True, slots=True)
class ProviderConnection(Event):
    """Live mode: the provider's connection changed state (``detail`` says why)."""

    kind: ClassVar[str] = "provider_connection"
    state: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class WarningRaised(Event):
    kind: ClassVar[str] = "warning"
    message: str
    day: date | None = None


@dataclass(frozen=True, slots=True)
class SessionEnded(Event):
    kind: ClassVar[str] = "session_ended"
    day: date
    summary: DaySummary


@dataclass(frozen=True, slots=True)
class ActorRestarted(Event):
    """The supervisor restarted ``actor`` (its ``incarnation``, counted from 1) after ``cause``."""

    kind: ClassVar[str] = "actor_restarted"
    actor: str
    incarnation: int
    cause: str


@dataclass(frozen=True, slots=True)
class ComponentStateChanged(Event):
    """An engine actor changed state: ``running``, ``failed``, ``restarting``, ``stopped``."""

    kind: ClassVar[str] = "component_state_changed"
    actor: str
    state: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class RunCompleted(Event):
    """The run is over: ``report.status`` is ``completed``, ``stopped`` or ``failed``."""

    kind: ClassVar[str] = "completed"
    report: RunReport
