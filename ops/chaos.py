"""Comparing a backtest run fault-free with the same run under faults (SPEC §10): section by
section of the two reports, and by what a subscriber received (``marketsession chaos``).

Deliveries are compared by (symbol, interval, ts): per interval, the bars delivered in each run,
how many were delivered more often than without faults (duplicated), fewer (missing), or never
without faults (unexpected).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from domain.intervals import Interval
from domain.messages.events import BarsAppended, DerivedBarsBuilt, Event, RunCompleted, SessionStarted
from domain.report import RunReport

__all__ = ["Deliveries", "compare_deliveries", "compare_reports", "delivery_lines"]

_SECTIONS = ("session", "historical", "indicators", "metrics")


def compare_reports(clean: RunReport, faulty: RunReport) -> dict[str, Any]:
    """Which report sections agree, and how many session bars were lost or duplicated."""
    a, b = clean.comparable(), faulty.comparable()
    sections = {key: a.get(key) == b.get(key) for key in ("status", "totals", "warnings")}
    days_b = {day["date"]: day for day in b["days"]}
    lost = duplicated = 0
    for day in a["days"]:
        other = days_b.get(day["date"], {"symbols": {}})
        for symbol, data in day["symbols"].items():
            theirs = other["symbols"].get(symbol, {})
            for section in _SECTIONS:
                sections[f"{day['date']} {symbol} {section}"] = data[section] == theirs.get(section)
            for interval, counts in data["session"].items():
                got = theirs.get("session", {}).get(interval, {}).get("bars", 0)
                lost += max(0, counts["bars"] - got)
                duplicated += max(0, got - counts["bars"])
    for date in set(days_b) - {day["date"] for day in a["days"]}:
        sections[f"{date} (only with faults)"] = False
    return {
        "verdict": "identical" if a == b else "differing",
        "sections": sections,
        "bars_lost": lost,
        "bars_duplicated": duplicated,
    }


Key = tuple[str, int]
"""A delivered bar of one interval: (symbol, ts)."""


class Deliveries:
    """A subscriber counting events by kind, and the bars and session starts it was delivered.

    Complete once :attr:`completed` is set: the run's last event, so every earlier one has been
    delivered (a subscriber gets its events in order). The engine's shutdown lets the delivery
    thread finish first (bounded); should it still be running, the lock keeps a read whole."""

    KINDS = (BarsAppended.kind, DerivedBarsBuilt.kind, SessionStarted.kind, RunCompleted.kind)

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.bars: defaultdict[str, Counter[Key]] = defaultdict(Counter)  # by interval
        self.days: Counter[str] = Counter()
        self.completed = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.counts[event.kind] += 1
            if isinstance(event, BarsAppended | DerivedBarsBuilt):
                for bar in event.bars:
                    self.bars[bar.interval][bar.symbol, bar.ts] += 1
            elif isinstance(event, SessionStarted):
                self.days[event.day.isoformat()] += 1
            elif isinstance(event, RunCompleted):
                self.completed.set()


def _difference(expected: Counter[Any], got: Counter[Any]) -> dict[str, int]:
    """Deliveries in each run, and those of ``got`` against ``expected``: keys delivered more often
    (``duplicated``), less often (``missing``), or that ``expected`` never had (``unexpected``)."""
    extra = got - expected
    unexpected = sum(count for key, count in extra.items() if key not in expected)
    return {
        "fault_free": expected.total(),
        "with_faults": got.total(),
        "duplicated": extra.total() - unexpected,
        "missing": (expected - got).total(),
        "unexpected": unexpected,
    }


def compare_deliveries(clean: Deliveries, faulty: Deliveries) -> dict[str, Any]:
    """What subscribers got in each run: per interval (and for session_started) the deliveries in
    each run and how many were duplicated, missing or unexpected with faults."""
    with clean.lock, faulty.lock:
        intervals = sorted(clean.bars.keys() | faulty.bars.keys(), key=lambda i: Interval.parse(i).seconds)
        complete = clean.completed.is_set() and faulty.completed.is_set()
        same = complete and clean.bars == faulty.bars and clean.days == faulty.days
        return {
            "verdict": "identical" if same else "differing",
            "bars": {
                i: _difference(clean.bars.get(i, Counter()), faulty.bars.get(i, Counter())) for i in intervals
            },
            "session_started": _difference(clean.days, faulty.days),
            "complete": complete,
            "events": {"fault_free": dict(clean.counts), "with_faults": dict(faulty.counts)},
        }


def delivery_lines(deliveries: dict[str, Any]) -> list[str]:
    lines = ["deliveries to subscribers (by symbol, interval and ts):"]
    rows = [(f"{interval} bars", counts) for interval, counts in deliveries["bars"].items()]
    rows.append(("session_started", deliveries["session_started"]))
    width = max(len(name) for name, _ in rows)
    for name, counts in rows:
        line = (
            f"  {name:<{width}}  {counts['fault_free']:,} without faults, {counts['with_faults']:,} with "
            f"them: {counts['duplicated']} duplicated, {counts['missing']} missing"
        )
        if counts["unexpected"]:
            line += f", {counts['unexpected']} unexpected"
        lines.append(line)
    if not deliveries["complete"]:
        lines.append(
            "  (a run ended before its last event reached the subscriber: the counts are incomplete)"
        )
    if deliveries["verdict"] == "identical":
        return [*lines, "deliveries: identical"]
    return [
        *lines,
        "deliveries: differing — subscribers did not receive the same bars with faults as without",
    ]
