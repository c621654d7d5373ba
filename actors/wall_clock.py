"""The system clock, behind the same ``Clock`` protocol as the simulated one.

Kept out of ``domain`` because reading the wall clock is a side effect.
"""

from __future__ import annotations

from datetime import UTC, datetime


class WallClock:
    """Real time, tz-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
