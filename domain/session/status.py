"""What a running session answers about itself: ``engine.progress()`` (any run) and
``engine.live_status()`` (a live session: what ``/status`` and ``/metrics`` show)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Progress:
    """``days_total`` is None in a live session (it runs until stopped or its last day);
    ``day`` is the ISO date of the day in hand; ``now_ts`` the session clock (None before a
    backtest's first day); ``steps`` the clock steps published so far."""

    state: str
    days_total: int | None
    days_done: int
    day: str | None
    now_ts: int | None
    bars_streamed: int
    bars_derived: int
    steps: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    """One symbol of today's live session: quality and bar count per interval, the open gaps of
    the base interval, the newest bar and how far it lags the clock, and (streaming quotes) the
    quote quality so far (:meth:`~domain.quality.quotes.QuoteQuality.to_json`)."""

    quality: Mapping[str, float | None]
    bars: Mapping[str, int]
    open_gaps: int
    newest_bar_ts: int | None
    lag_seconds: int | None
    quotes: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Latency:
    """Delivery latency (provider → published), seconds: a histogram's count, sum, quantiles
    and cumulative buckets."""

    count: int
    sum: float
    p50: float | None
    p99: float | None
    buckets: tuple[tuple[float, int], ...]


@dataclass(frozen=True, slots=True)
class LiveStatus:
    session: str
    state: str
    day: str | None
    open_ts: int | None
    close_ts: int | None
    now_ts: int
    clock_speed: float
    loaded: bool
    provider_state: str
    provider_detail: str | None
    counters: Mapping[str, int]
    refused: Mapping[str, int]
    latency: Latency
    symbols: Mapping[str, SymbolStatus]
    days_done: tuple[str, ...]
    warnings: tuple[str, ...]
    stalled: tuple[str, ...] = ()
    """The stream kinds the feed watchdog finds mute now, described."""
    next_day: str | None = None
    """Between sessions, the next session day planned."""

    def to_json(self) -> dict[str, Any]:
        """The ``/status`` shape (the provider's state and detail under ``provider``)."""
        data = asdict(self)
        data["provider"] = {"state": data.pop("provider_state"), "detail": data.pop("provider_detail")}
        # the last bound is +∞: JSON has no Infinity, so it is "+Inf" (Prometheus' own spelling)
        data["latency"]["buckets"] = [
            ["+Inf" if math.isinf(bound) else bound, count] for bound, count in self.latency.buckets
        ]
        data["days_done"], data["warnings"] = list(self.days_done), list(self.warnings)
        data["stalled"] = list(self.stalled)
        return data
