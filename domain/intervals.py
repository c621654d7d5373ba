"""Bar intervals: one grammar for every interval string in configs, files and the CLI.

Grammar: ``<N><unit>`` with N a positive integer and unit ``s`` (seconds), ``m`` (minutes),
``h`` (hours, normalised to minutes: ``1h`` -> ``60m``) or ``d`` (days; only ``1d``).
A seconds count that is a whole number of minutes is normalised too (``120s`` -> ``2m``).

Non-bar streams (``quotes``, ``ticks``) are not intervals; see :data:`NON_BAR_STREAMS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NON_BAR_STREAMS = frozenset({"quotes", "ticks"})
DAY_SECONDS = 86_400
_GRAMMAR = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": DAY_SECONDS}


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A bar interval, ordered by length. ``str()`` gives the canonical spelling."""

    seconds: int

    @classmethod
    def parse(cls, text: str) -> Interval:
        """Parse an interval string; raise ``ValueError`` naming the grammar when invalid."""
        match = _GRAMMAR.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                f"invalid interval {text!r}: expected <N><unit> with unit s, m, h or d (e.g. 1m, 5m, 1h, 1d)"
            )
        count, unit = int(match.group(1)), match.group(2)
        if unit == "d" and count != 1:
            raise ValueError(f"invalid interval {text!r}: only 1d is supported for daily bars")
        seconds = count * _UNIT_SECONDS[unit]
        if unit != "d" and seconds >= DAY_SECONDS:
            raise ValueError(f"invalid interval {text!r}: intraday intervals must be shorter than a day")
        return cls(seconds)

    @property
    def is_daily(self) -> bool:
        return self.seconds == DAY_SECONDS

    @property
    def is_seconds(self) -> bool:
        """True for intervals that are not a whole number of minutes (need 1s bars)."""
        return self.seconds % 60 != 0

    def derivable_from(self, base: Interval) -> bool:
        """Whether bars of this interval can be built from bars of ``base``."""
        if self.is_daily:
            return True
        if base.is_daily:
            return False
        return self.seconds % base.seconds == 0

    def __str__(self) -> str:
        if self.is_daily:
            return "1d"
        if self.seconds % 60 == 0:
            return f"{self.seconds // 60}m"
        return f"{self.seconds}s"

    def __repr__(self) -> str:
        return f"Interval({self})"


SECOND = Interval(1)
MINUTE = Interval(60)
DAILY = Interval(DAY_SECONDS)


def stream_base(intervals: list[Interval]) -> Interval | None:
    """The base interval streamed for a set of requested bar intervals (SPEC §5 stream marking).

    1s if any seconds interval is requested, else 1m if any intraday interval, else 1d.
    """
    if not intervals:
        return None
    if any(i.is_seconds for i in intervals):
        return SECOND
    if any(not i.is_daily for i in intervals):
        return MINUTE
    return DAILY
