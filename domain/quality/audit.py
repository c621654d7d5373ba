"""A store audit (SPEC §7) without running a session: for one symbol, interval and trading day,
what the calendar expects against what is stored.

:func:`audit_day` takes the bars stored in a day's extended hours (as columns) and gives a
:class:`DayAudit`: expected and present regular-session bars, the quality, the gaps (the same
rules and the same :class:`~domain.quality.gaps.SessionQualityTracker` as a session), the bars
that would not enter a session by reason (extended hours, off the grid, in a break, a broken
bar rule — the :class:`~domain.session.windows.Refusal` vocabulary of a session), and the
alignment verdict of :mod:`domain.quality.alignment`. :func:`audit_daily` does the same for a
series of daily bars (one bar expected per trading day; dates checked against trading days).

:class:`SeriesAudit` sums the days of one symbol and interval; the bars stored outside the
audited days' hours (overnight, weekends, holidays) are counted there by the caller, which reads
the store in contiguous ranges. Duplicate and out-of-order rows cannot occur in the store (its
key is symbol, interval and start), so they are checked at import, not here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.bars import bar_violation, daily_date, ts_to_datetime
from domain.columns import BarColumns
from domain.intervals import Interval
from domain.quality.alignment import Alignment, AlignmentStatus, check_alignment
from domain.quality.gaps import Gap, SessionQualityTracker
from domain.quality.scoring import quality
from domain.session.replay_day import regular_session
from domain.session.windows import DayHours, Refusal

__all__ = ["DayAudit", "SeriesAudit", "audit_daily", "audit_day"]

_NOT_RULES = frozenset(Refusal)


def _rule_breaks(not_in_session: Mapping[str, int]) -> int:
    """The bars refused under a bar rule's own words, not a :class:`Refusal` of the session."""
    return sum(n for reason, n in not_in_session.items() if reason not in _NOT_RULES)


@dataclass(frozen=True, slots=True)
class DayAudit:
    """One symbol, interval and trading day of the store."""

    symbol: str
    interval: str
    day: date
    expected: int
    present: int
    gaps: tuple[Gap, ...]
    not_in_session: dict[str, int]
    """Stored bars of the day's hours that no session would take, by reason."""
    alignment: Alignment | None
    """None for daily bars (their dates are judged per series)."""

    @property
    def quality(self) -> float:
        return quality(self.present, self.expected)

    @property
    def rule_breaks(self) -> int:
        """Bars that break a bar rule of SPEC §7 (counted under the rule's own words)."""
        return _rule_breaks(self.not_in_session)

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "date": self.day.isoformat(),
            "expected": self.expected,
            "present": self.present,
            "quality": round(self.quality, 4),
            "gaps": [
                {
                    "start": ts_to_datetime(g.start_ts).isoformat(),
                    "end": ts_to_datetime(g.end_ts).isoformat(),
                    "bar_count": g.bar_count,
                }
                for g in self.gaps
            ],
            "not_in_session": dict(sorted(self.not_in_session.items())),
            "alignment": None if self.alignment is None else self.alignment.as_dict(),
        }


def audit_day(hours: DayHours, interval: Interval, bars: BarColumns) -> DayAudit:
    """The audit of one intraday series' bars stored in ``hours``' extended hours."""
    refused: Counter[str] = Counter()
    windows = hours.windows(interval)
    session = regular_session(bars, windows, refused)
    tracker = SessionQualityTracker(
        bars.symbol,
        interval,
        hours.open_ts,
        hours.close_ts,
        break_start_ts=hours.break_start_ts,
        break_end_ts=hours.break_end_ts,
    )
    tracker.add_bars(session.ts)
    tracker.advance(hours.close_ts)
    return DayAudit(
        bars.symbol,
        bars.interval,
        hours.day,
        tracker.expected,
        tracker.actual,
        tracker.gaps,
        dict(refused),
        check_alignment(bars.ts, bars.volume, interval.seconds, [hours]),
    )


def audit_daily(symbol: str, trading_days: Sequence[date], bars: BarColumns) -> tuple[list[DayAudit], int]:
    """The audits of a daily series over ``trading_days`` (one bar expected per day, keyed at
    00:00 UTC of its date), and the number of bars dated on other days."""
    stored = {daily_date(ts): i for i, ts in enumerate(bars.ts)}
    audits = []
    for day in trading_days:
        i = stored.pop(day, None)
        broken = None if i is None else bar_violation(*(column[i] for column in bars.columns()[1:]))
        present = int(i is not None and broken is None)
        refused = {} if broken is None else {broken: 1}
        audits.append(DayAudit(symbol, bars.interval, day, 1, present, (), refused, None))
    return audits, len(stored)


@dataclass(slots=True)
class SeriesAudit:
    """The days of one symbol and interval, summed."""

    symbol: str
    interval: str
    days: int = 0
    expected: int = 0
    present: int = 0
    gaps: int = 0
    missing: int = 0
    qualities: list[float] = field(default_factory=list)
    not_in_session: Counter[str] = field(default_factory=Counter)
    outside_hours: int = 0
    """Bars stored outside the audited days' hours: overnight, on weekends and holidays, and
    before the first or after the last session the series reaches."""
    misaligned_days: list[tuple[date, Alignment]] = field(default_factory=list)
    undetermined_days: int = 0
    alignment: Alignment | None = None
    """The verdict on the whole series (daily bars: their dates)."""

    def add(self, audit: DayAudit) -> None:
        self.days += 1
        self.expected += audit.expected
        self.present += audit.present
        self.gaps += len(audit.gaps)
        self.missing += sum(g.bar_count for g in audit.gaps)
        self.qualities.append(audit.quality)
        self.not_in_session.update(audit.not_in_session)
        if audit.alignment is not None:
            if audit.alignment.status is AlignmentStatus.MISALIGNED:
                self.misaligned_days.append((audit.day, audit.alignment))
            elif audit.alignment.status is AlignmentStatus.UNDETERMINED:
                self.undetermined_days += 1

    @property
    def quality(self) -> float | None:
        """The mean of the per-day qualities (as a historical window's), None without days."""
        return sum(self.qualities) / len(self.qualities) if self.qualities else None

    @property
    def rule_breaks(self) -> int:
        return _rule_breaks(self.not_in_session)

    def offsets(self) -> Counter[int]:
        """How many misaligned days each estimated offset accounts for."""
        return Counter(alignment.offset_seconds for _, alignment in self.misaligned_days)

    def as_dict(self) -> dict[str, Any]:
        quality_value = self.quality
        return {
            "symbol": self.symbol,
            "interval": self.interval,
            "days": self.days,
            "expected": self.expected,
            "present": self.present,
            "quality": None if quality_value is None else round(quality_value, 4),
            "gaps": self.gaps,
            "missing": self.missing,
            "not_in_session": dict(sorted(self.not_in_session.items())),
            "rule_breaks": self.rule_breaks,
            "outside_hours": self.outside_hours,
            "misaligned_days": [
                {"date": day.isoformat(), **alignment.as_dict()} for day, alignment in self.misaligned_days
            ],
            "undetermined_days": self.undetermined_days,
            "alignment": None if self.alignment is None else self.alignment.as_dict(),
        }
