"""``data audit --html``: a store's audit drawn as the run report's page.

The audit's days (one per symbol, interval and trading day) become the run report's own day
summaries (:class:`~domain.report.DaySummary`: per trading day its hours, per symbol the
interval's bars, quality, expected count, gaps — all ``open``: nothing fills a stored day — and
alignment), so one page, with the same headline, heatmap, profile and day sections, serves both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from domain.calendar.trading_calendar import TradingCalendar
from domain.intervals import Interval
from domain.quality.alignment import Alignment
from domain.quality.audit import DayAudit
from domain.report import DaySummary, IntervalSummary, SymbolDay
from domain.session.windows import DayHours

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
        if not session.is_trading_day:
            continue
        held: dict[str, dict[str, IntervalSummary]] = {}
        alignment: dict[str, Alignment] = {}
        outside: Counter[str] = Counter()
        for audit in by_day[day]:
            held.setdefault(audit.symbol, {})[audit.interval] = IntervalSummary(
                audit.present, audit.quality, audit.expected, audit.gaps
            )
            if audit.alignment is not None:
                alignment[audit.symbol] = audit.alignment
            outside.update(audit.not_in_session)
        summary = DaySummary(  # the run report's own day, so the page reads it as a run's
            hours=DayHours.from_session(session),
            timezone=session.timezone,
            symbols={
                symbol: SymbolDay(held[symbol], {}, {}, None, alignment.get(symbol))
                for symbol in symbols
                if symbol in held
            },
            bars_streamed=sum(a.present for a in by_day[day]),
            bars_derived=0,
            refused=dict(outside),
        )
        out_days.append(summary.to_json())
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
