"""``data audit --html``: a store's audit drawn as the run report's page.

The audit's days (one per symbol, interval and trading day) are put into the report's JSON shape
— per trading day its hours, per symbol the interval's bars, quality, expected count, gaps (all
``open``: nothing fills a stored day) and alignment — so one page, with the same headline,
heatmap, profile and day sections, serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from domain.calendar.trading_calendar import TradingCalendar
from domain.intervals import Interval
from domain.quality.audit import DayAudit
from domain.quality.gaps import Gap

__all__ = ["audit_report"]


def audit_report(
    days: Sequence[DayAudit],
    calendar: TradingCalendar,
    exchange_group: str,
    start: date | None,
    end: date | None,
) -> dict[str, Any]:
    """The report-shaped JSON of the audited ``days`` of the shortest interval audited (the page
    draws one interval: the finest the store holds)."""
    finest = min((Interval.parse(a.interval) for a in days), default=None)
    by_day: dict[date, list[DayAudit]] = {}
    for audit in (a for a in days if Interval.parse(a.interval) == finest):
        by_day.setdefault(audit.day, []).append(audit)
    symbols = list(dict.fromkeys(a.symbol for a in days))
    out_days = []
    for day in sorted(by_day):
        session = calendar.get_trading_session(day)
        if session.regular_open is None or session.regular_close is None:
            continue
        zone = session.regular_open.tzinfo

        def iso(ts: int, zone: Any = zone) -> str:
            return datetime.fromtimestamp(ts, UTC).astimezone(zone).isoformat()

        def gaps(found: tuple[Gap, ...], iso: Any = iso) -> list[dict[str, Any]]:
            return [
                {
                    "start": iso(g.start_ts),
                    "end": iso(g.end_ts),
                    "bar_count": g.bar_count,
                    "status": str(g.status),
                    "retry_count": g.retry_count,
                }
                for g in found
            ]

        entries: dict[str, dict[str, Any]] = {}
        outside: dict[str, int] = {}
        for audit in by_day[day]:
            entry = entries.setdefault(audit.symbol, {"session": {}, "alignment": None})
            entry["session"][audit.interval] = {
                "bars": audit.present,
                "quality": audit.quality,
                "expected": audit.expected,
                "gaps": gaps(audit.gaps),
                "filled_gaps": 0,
            }
            if audit.alignment is not None:
                entry["alignment"] = audit.alignment.as_dict()
            for reason, count in audit.not_in_session.items():
                outside[reason] = outside.get(reason, 0) + count
        out_days.append(
            {
                "date": day.isoformat(),
                "regular_open": session.regular_open.isoformat(),
                "regular_close": session.regular_close.isoformat(),
                "is_early_close": bool(session.is_early_close),
                "bars_streamed": sum(a.present for a in by_day[day]),
                "bars_derived": 0,
                "bars_not_in_session": outside,
                "symbols": {s: entries[s] for s in symbols if s in entries},
                "warnings": [],
            }
        )
    return {
        "session_name": f"store audit · {exchange_group} · {finest or 'no bars'}",
        "mode": "audit",
        "exchange_group": exchange_group,
        "status": "completed",
        "error": None,
        "start_date": _iso_date(start, by_day, min),
        "end_date": _iso_date(end, by_day, max),
        "symbols": symbols,
        "days": out_days,
    }


def _iso_date(given: date | None, by_day: dict[date, Any], pick: Any) -> str | None:
    if given is not None:
        return given.isoformat()
    return pick(by_day).isoformat() if by_day else None
