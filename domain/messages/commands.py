"""Commands between the engine's actors (SPEC §2): typed, immutable, frozen dataclasses, told,
or asked with a timeout where a reply is needed (noted per class). Per-bar messages do not exist:
bars travel in batches of one clock step. Bars inside messages are tuples of
:class:`~domain.bars.Bar`; a message never holds a mutable container the sender keeps writing to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from domain.bars import Bar
from domain.columns import BarColumns
from domain.history.series import HistoricalData
from domain.quality.book import IntervalQuality, QualityScore
from domain.quality.gaps import Gap
from domain.quotes import Quote, QuoteColumns
from domain.session.windows import DayHours

if TYPE_CHECKING:
    from domain.report import DaySummary


@dataclass(frozen=True, slots=True)
class LiveBars:
    """A provider's delivery (told to the coordinator from the provider's thread): completed base
    bars, or ``updated`` values of bars already delivered. ``received`` is ``time.monotonic()``
    when the provider handed them over (end-to-end latency is measured from it)."""

    bars: tuple[Bar, ...]
    updated: bool = False
    received: float = 0.0


@dataclass(frozen=True, slots=True)
class LiveQuotes:
    """A provider's quote delivery (told to the coordinator from the provider's thread)."""

    quotes: tuple[Quote, ...]


@dataclass(frozen=True, slots=True)
class FillQuotes:
    """Coordinator → GapFiller: fetch the quotes of these windows again (a :class:`Gap` of
    interval ``quotes`` per symbol, ``bar_count`` its seconds), with the bar gaps' bounded
    retries: what the stream dropped is recovered."""

    day: date
    windows: tuple[Gap, ...]


@dataclass(frozen=True, slots=True)
class QuotesFetched:
    """GapFiller → coordinator: what the provider returned for one quote window."""

    day: date
    window: Gap
    quotes: tuple[Quote, ...]


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
    """Where a run stands after a completed day: what a restarted coordinator resumes from (the
    next day to run is the first without a summary)."""

    summaries: Sequence[DaySummary]
    """A frozen view (:meth:`~domain.report.DaySummaries.snapshot`)."""
    run_warnings: tuple[str, ...]
    steps: int
    bars_streamed: int
    bars_derived: int
    ack_timeouts: int
    day_timings: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    started: float = 0.0
    """When the run started (the coordinator's monotonic clock), for total timings."""


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
class OpenDay:
    """ask → :class:`DayOpened` of ``day``; the loader then reads the base bars of the
    ``prefetch`` days ahead (the prefetch queue) while ``day`` streams."""

    day: date
    prefetch: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class DayBars:
    """The stored base bars of one session day, extended hours included: read-only columns,
    one per symbol; and (a backtest streaming quotes) its stored quote rows, one per symbol."""

    day: date
    interval: str
    hours: DayHours
    columns: tuple[BarColumns, ...]
    quotes: tuple[QuoteColumns, ...] = ()


@dataclass(frozen=True, slots=True)
class DayOpened:
    """What a session day opens with: its trailing history and its stored base bars."""

    historical: HistoricalData
    bars: DayBars


@dataclass(frozen=True, slots=True)
class BeginQualityDay:
    """tell: start scoring a session day for these symbols and bar intervals. ``columns`` are
    the day's session base bars per symbol (read-only), which :class:`ScoreStep` ranges index."""

    hours: DayHours
    symbols: tuple[str, ...]
    intervals: tuple[str, ...]
    enabled: bool
    columns: tuple[BarColumns, ...] = ()
    historical: HistoricalData | None = None
    """The day's trailing history, scored once (its quality comes back in :class:`QualityDayEnded`)."""
    historical_enabled: bool = True
    extended: str | None = None
    """The interval scored in the pre- and post-market sessions too (the streamed base), or None."""


@dataclass(frozen=True, slots=True)
class ScoreStep:
    """tell: what one clock step (or a run of speed-0 steps) released, answered by
    :class:`QualityScored`: the bars of the day's columns (of :class:`BeginQualityDay`) starting
    before their interval's release point in ``released`` (a replay), and/or ``bars`` and the
    derived bars built (a live day)."""

    day: date
    now_ts: int
    bars: tuple[Bar, ...] = ()
    derived: tuple[Bar, ...] = ()
    released: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class EndQualityDay:
    """tell: score up to ``close_ts`` (the close, or the moment a stopped day ended) and answer
    with :class:`QualityDayEnded` — after the :class:`QualityScored` of every earlier step."""

    day: date
    close_ts: int


@dataclass(frozen=True, slots=True)
class QualityDayEnded:
    """QualityCalculator → coordinator: every symbol and interval's final score and gaps, and
    the quality of the day's historical series."""

    day: date
    results: tuple[IntervalQuality, ...]
    historical: dict[tuple[str, str], float | None] = field(default_factory=dict)
