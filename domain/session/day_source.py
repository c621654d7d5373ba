"""The day source: where a session day's base bars come from (SPEC §5).

The coordinator runs every session day the same way — open, stream clock steps, close — over a
source of this shape:

- a replay day (:class:`~domain.session.replay_day.SessionDay`): the day's stored bars, known
  before the open, released by the clock as their windows end;
- a live day (:class:`~domain.session.live_day.LiveDay`): bars admitted as the provider delivers
  them (and as gap fills arrive); its clock steps build the derived bars that are due.

Both take the sessions the day scores from one :class:`~domain.session.windows.DayGrid` (the
regular one, and with extended hours the pre- and post-market), refuse with one vocabulary
(:class:`~domain.session.windows.Refusal`), keep the first copy of a repeated bar, and build
derived bars by the rules of :mod:`domain.session.derived` (a replay for the whole day at once,
a live day window by window).
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from domain.quality.alignment import Alignment
from domain.session.replay_day import Step
from domain.session.windows import DayGrid, DayHours

__all__ = ["DaySource"]


class DaySource(Protocol):
    hours: DayHours
    grid: DayGrid
    refused: Counter[str]
    now_ts: int
    start_ts: int
    """Where the day's clock starts streaming: the regular open (extended hours: the pre-market open)."""
    end_ts: int
    """Where the day closes: the regular close (extended hours: the post-market close)."""

    def alignment(self) -> dict[str, Alignment]:
        """Per symbol, whether the day's stamps fit its session (:mod:`domain.quality.alignment`)."""
        ...

    def release(self, now_ts: int) -> Step:
        """Move the clock to ``now_ts`` (never back): the base bars released (a replay) and the
        derived bars due."""
        ...
