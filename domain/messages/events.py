"""The events the engine publishes (SPEC §2): what subscribers see. They are told, never asked,
so a slow subscriber never blocks the engine — except a *gating* subscriber, whose
acknowledgement of each :class:`BarsAppended` step a replay waits for (bounded)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, ClassVar

from domain.bars import Bar
from domain.quality.book import QualityScore
from domain.quality.gaps import Gap
from domain.quotes import Quote
from domain.session.lifecycle import LifecycleState
from domain.session.windows import DayHours

if TYPE_CHECKING:
    from domain.report import DaySummary, RunReport


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
    bars: Sequence[Bar]
    """In (time, symbol) order; in a replay a :class:`~domain.session.replay_day.Released`,
    which builds the :class:`Bar` values when first read (equal to the tuple of them)."""


@dataclass(frozen=True, slots=True)
class QuotesAppended(Event):
    """The quote rows (one per symbol and second whose book changed) that one clock step released:
    those whose second ended since the last step, in (time, symbol) order; built when first read."""

    kind: ClassVar[str] = "quotes_appended"
    day: date
    step: int
    now_ts: int
    quotes: Sequence[Quote]


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
class ProviderStalled(Event):
    """Live mode: the stream of ``stream`` (``bars``, ``quotes``) delivered nothing during the
    regular session since ``since_ts`` while connected; the provider is told to reconnect."""

    kind: ClassVar[str] = "provider_stalled"
    stream: str
    since_ts: int
    now_ts: int


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
