"""What ``data audit`` shows: one table row per stored series and one line per finding."""

from __future__ import annotations

from collections import defaultdict

from rich.table import Table

from domain.quality.alignment import AlignmentStatus, format_offset
from domain.quality.audit import SeriesAudit
from ops.audit import StoreAudit

__all__ = ["audit_findings", "audit_headline", "audit_table", "quote_audit_table"]


def audit_headline(audit: StoreAudit, seconds: float) -> str:
    qualities = [q for s in audit.series if (q := s.quality) is not None]
    quality = f"mean day quality {sum(qualities) / len(qualities):.2f} %" if qualities else "no trading day"
    misaligned = sum(len(s.misaligned_days) for s in audit.series) + sum(
        1
        for s in audit.series
        if s.alignment is not None and s.alignment.status is AlignmentStatus.MISALIGNED
    )
    return (
        f"audited {len(audit.series)} series of the {audit.exchange_group} calendar: {audit.days:,} "
        f"symbol-days, {audit.bars:,} session bars in {seconds:.2f}s; {quality}, "
        f"{misaligned} misaligned {'series or days' if misaligned != 1 else 'series or day'}"
    )


def audit_table(audit: StoreAudit) -> Table:
    table = Table(title="store audit")
    for name in ("symbol", "interval", "days", "quality", "missing", "gaps", "not in session", "outside"):
        table.add_column(name, justify="left" if name in ("symbol", "interval") else "right")
    table.add_column("rule breaks", justify="right")
    table.add_column("alignment")
    for series in audit.series:
        quality = series.quality
        table.add_row(
            series.symbol,
            series.interval,
            f"{series.days:,}",
            "-" if quality is None else f"{quality:.2f} %",
            f"{series.missing:,}",
            f"{series.gaps:,}",
            f"{sum(series.not_in_session.values()):,}",
            f"{series.outside_hours:,}",
            f"{series.rule_breaks:,}",
            _alignment_cell(series),
        )
    return table


def quote_audit_table(audit: StoreAudit) -> Table:
    """Per symbol with stored quotes: two-sided coverage over its days' regular sessions, the
    median spread, crossed, locked and stale time, and the worst day."""
    table = Table(title="quote audit")
    for name in (
        "symbol",
        "days",
        "coverage",
        "spread bps",
        "crossed",
        "locked",
        "stale s",
        "closes in",
        "worst day",
    ):
        table.add_column(name, justify="left" if name in ("symbol", "worst day") else "right")
    for q in audit.quotes:
        coverage, spread = q.coverage, q.spread_median_bps
        table.add_row(
            q.symbol,
            f"{q.days:,}",
            "-" if coverage is None else f"{coverage:.2f} %",
            "-" if spread is None else f"{spread:.2f}",
            f"{q.crossed_count:,} ({q.crossed_seconds:,}s)",
            f"{q.locked_count:,} ({q.locked_seconds:,}s)",
            f"{q.stale_seconds:,}",
            f"{q.closes_inside:,}/{q.closes_checked:,}",
            "-" if q.worst is None else f"{q.worst[0].isoformat()} ({q.worst[1]:.2f} %)",
        )
    return table


def audit_findings(audit: StoreAudit) -> list[str]:
    """One line per series whose days look misaligned (with the fix), or whose dates do."""
    lines: list[str] = []
    for series in audit.series:
        if series.alignment is not None and series.alignment.status is AlignmentStatus.MISALIGNED:
            lines.append(f"{series.symbol} {series.interval}: {series.alignment.describe()}")
        by_offset: dict[int, list[str]] = defaultdict(list)
        for day, alignment in series.misaligned_days:
            by_offset[alignment.offset_seconds].append(day.isoformat())
        for offset, days in sorted(by_offset.items(), key=lambda item: -len(item[1])):
            first = next(a for _, a in series.misaligned_days if a.offset_seconds == offset)
            shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
            lines.append(
                f"{series.symbol} {series.interval}: {len(days)} of {series.days} days look "
                f"{format_offset(offset)} off ({shown}): {first.evidence[0]}; re-import with {first.fix}"
            )
    return lines


def _alignment_cell(series: SeriesAudit) -> str:
    if series.alignment is not None:  # daily bars: the dates of the whole series
        verdict = series.alignment
        if verdict.status is AlignmentStatus.MISALIGNED:
            return f"dates {format_offset(verdict.offset_seconds)}"
        return verdict.status.value
    if series.misaligned_days:
        offsets = series.offsets()
        offset, _ = offsets.most_common(1)[0]
        count = len(series.misaligned_days)
        return f"{count} day{'s' if count != 1 else ''} {format_offset(offset)}"
    if series.undetermined_days == series.days:
        return "undetermined"
    return "aligned" + (f" ({series.undetermined_days} undetermined)" if series.undetermined_days else "")
