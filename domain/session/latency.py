"""End-to-end bar latency of a live session (provider hand-over → event published): a
Prometheus-style cumulative histogram for the whole run, and quantiles over a recent window."""

from __future__ import annotations

import bisect
from collections import deque

__all__ = ["BUCKETS", "LatencyStats"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds in seconds (``+Inf`` is implied)."""


class LatencyStats:
    __slots__ = ("_counts", "_recent", "count", "total")

    def __init__(self, window: int = 4096) -> None:
        self._counts = [0] * (len(BUCKETS) + 1)
        self._recent: deque[float] = deque(maxlen=window)
        self.count = 0
        self.total = 0.0

    def record(self, seconds: float, n: int = 1) -> None:
        """``n`` bars that took ``seconds`` each."""
        seconds = max(seconds, 0.0)
        self._counts[bisect.bisect_left(BUCKETS, seconds)] += n
        self._recent.append(seconds)
        self.count += n
        self.total += seconds * n

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the recent deliveries, or ``None`` before any."""
        if not self._recent:
            return None
        ordered = sorted(self._recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, bars at or below it)`` per bucket, ``inf`` last."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip((*BUCKETS, float("inf")), self._counts, strict=True):
            running += count
            out.append((bound, running))
        return out
