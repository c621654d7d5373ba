"""Data quality and gaps (SPEC §7): how many of the expected bars a session holds, and where
the holes are.

The rules:

- **Expected windows.** A bar interval of ``i`` seconds expects one bar per window
  ``[open + k·i, open + (k+1)·i)`` (the last one cut at the close) that has *ended* by
  ``min(now, close)`` — the windows of :class:`domain.session.windows.SessionWindows`, the same
  ones derived bars are built on. For 1m on a full day that is
  ``floor((min(now, close) − open) / 60)``; windows wholly inside a midday break expect
  nothing, and a window running into the break ends at the break start.
- **Quality** = ``min(100, 100·actual/expected)``, ``100.0`` while nothing is expected.
  ``actual`` counts the bars of ended windows only: a bar is counted once, whatever the number
  of copies received, and bars outside the session, in the break or off the window grid (the
  16:00 bar, extended hours) never count. The float is kept; round only for display
  (387 of 390 → 99.2307…, shown 99.23 %).
- **Historical quality** (:func:`historical_quality`) = the mean of the per-day qualities over
  the trading days of the window; a day that expects nothing (a holiday, a weekend slipped
  into the list) is skipped, and no day left means ``None``. For 1d bars pass ``(1, 1)`` for a
  day with its bar and ``(0, 1)`` without: the mean is then days with a bar / trading days.
- **Gaps** are maximal runs of consecutive missing *expected* windows among those that have
  ended: ``[start, end)`` with ``end`` the end of the last missing window, and ``bar_count``
  the number of missing windows. Runs are maximal, so adjacent or overlapping gaps are one
  gap; a run may straddle a midday break (the break's windows are not expected, so the last
  window before it and the first after it are consecutive). Example: 1m bars missing at
  09:35, 09:36 and 10:15 → ``[09:35, 09:37)`` of 2 bars and ``[10:15, 10:16)`` of 1 bar.

:class:`SessionQualityTracker` does this event-driven for one symbol, interval and session
day: ``add_bars`` marks windows present, ``advance`` moves a cursor over the windows that have
ended. In-order streaming costs O(1) per window (a missing window extends the last gap or opens
one at the tail); only a late bar touches an existing gap (found by bisection), shrinking or
splitting it, or filling it. Each call returns a :class:`GapChanges` so the caller can publish
``GapDetected``/``GapFilled``-style events. Retry bookkeeping (``retry_count``,
``last_retry_ts``, ``abandoned``) lives on the gap so it survives a split; a gap that grows
because more windows went missing is a new fetch target: it is open again and its retry count
restarts at 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.intervals import Interval
from domain.session.windows import DayHours

__all__ = ["day_counts", "historical_quality", "quality"]


def quality(actual: int, expected: int) -> float:
    """``min(100, 100·actual/expected)``; ``100.0`` when nothing is expected."""
    if expected <= 0:
        return 100.0
    return min(100.0, 100.0 * actual / expected)


def historical_quality(per_day: Iterable[tuple[int, int]]) -> float | None:
    """Mean of the per-day qualities of ``(actual, expected)`` pairs, one per trading day.

    Days with ``expected == 0`` are skipped (they expect nothing, so they neither help nor hurt);
    ``None`` when no day remains.
    """
    scores = [quality(actual, expected) for actual, expected in per_day if expected > 0]
    if not scores:
        return None
    return sum(scores) / len(scores)


def day_counts(hours: DayHours, interval: Interval, timestamps: Iterable[int]) -> tuple[int, int]:
    """``(actual, expected)`` of a whole past day: distinct expected windows present, and all.

    A daily interval expects one bar per trading day: ``(1, 1)`` with any bar, ``(0, 1)`` without.
    """
    if interval.is_daily:
        return (1 if any(True for _ in timestamps) else 0), 1
    windows = hours.windows(interval)
    present = {k for ts in timestamps if (k := windows.index(ts)) is not None}
    return len(present), windows.expected_in(0, windows.count)
