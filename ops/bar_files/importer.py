"""``data import``: a bar file read by :mod:`ops.bar_files.reader`, written to the store in one
transaction (or refused whole), and the :class:`ImportReport` of what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import BarImportError, Violation
from domain.intervals import DAY_SECONDS, Interval
from domain.quality.alignment import Alignment, AlignmentStatus, check_bars, format_offset
from domain.store import Store
from ops.bar_files.reader import ParsedFile, log, read_bar_file

__all__ = ["ImportReport", "import_bar_file"]

_MESSAGE_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``imported`` bars were written, ``new_bars`` of them were not stored before."""

    path: str
    symbol: str
    interval: str
    format: str
    rows_read: int
    imported: int
    new_bars: int
    invalid: list[tuple[int, str]]
    first_ts: int | None
    last_ts: int | None
    alignment: Alignment | None = None
    """The alignment verdict on the bars written (None when no calendar was given)."""
    shift_seconds: int = 0


def import_bar_file(
    store: Store,
    path: str | Path,
    symbol: str,
    interval: str,
    timezone: str,
    label: str = "start",
    skip_invalid: bool = False,
    *,
    calendar: TradingCalendar | None = None,
    shift_seconds: int = 0,
    accept_misaligned: bool = False,
) -> ImportReport:
    """Validate a bar file and upsert its bars in one transaction.

    Raises :class:`BarImportError` when the file cannot be read, its format is unknown, or (unless
    ``skip_invalid``) any row is invalid — then nothing is written and ``violations`` lists every
    bad row as ``Violation("path:line", reason)``. Raises :class:`StoreError` if the write fails
    (the transaction is rolled back).

    ``shift_seconds`` moves every time stamp (−14,400: four hours earlier). With a ``calendar``,
    the bars (shifted) are checked against its sessions (:mod:`domain.quality.alignment`); stamps
    that look misaligned raise :class:`BarImportError` naming the offset, the evidence and the fix,
    and nothing is written — unless ``accept_misaligned``, which imports them (the verdict is in
    the report and the log).
    """
    parsed = read_bar_file(path, symbol, interval, timezone, label)
    if parsed.invalid and not skip_invalid:
        raise BarImportError(
            _invalid_message(parsed),
            [Violation(f"{parsed.path}:{line}", reason) for line, reason in parsed.invalid],
        )
    step = Interval.parse(parsed.interval)
    if shift_seconds:
        if step.is_daily and shift_seconds % DAY_SECONDS:
            raise BarImportError(
                f"{parsed.path}: daily bars are keyed by date; shift them by whole days (±24:00), "
                f"not {format_offset(shift_seconds)}"
            )
        parsed = replace(parsed, bars=[bar._replace(ts=bar.ts + shift_seconds) for bar in parsed.bars])
    alignment = None if calendar is None else check_bars(parsed.bars, step, calendar)
    if alignment is not None and alignment.status is AlignmentStatus.MISALIGNED:
        if not accept_misaligned:
            raise BarImportError(_misaligned_message(parsed.path, alignment, shift_seconds))
        log.info("misaligned_bars_imported", path=parsed.path, alignment=alignment.describe())
    new_bars = 0
    if parsed.bars:  # the repository raises a failed write as StoreError / StoreUnavailable
        new_bars = store.bars.upsert_counting_new(
            parsed.bars,
            what=f"the bars of {parsed.path}",
            source=f"import:{Path(parsed.path).name}",
            received_at=int(time.time()),
        )
        store.bars.reindex([parsed.symbol], parsed.interval)  # the replay reads the new days fast
    summary: dict[str, Any] = {
        "path": parsed.path,
        "symbol": parsed.symbol,
        "interval": parsed.interval,
        "format": parsed.format,
        "rows_read": parsed.rows_read,
        "imported": len(parsed.bars),
        "new_bars": new_bars,
    }
    log.info("bar_file_imported", **summary, invalid=len(parsed.invalid))
    return ImportReport(
        **summary,
        invalid=list(parsed.invalid),
        first_ts=parsed.first_ts,
        last_ts=parsed.last_ts,
        alignment=alignment,
        shift_seconds=shift_seconds,
    )


def _misaligned_message(path: str, alignment: Alignment, shift_seconds: int) -> str:
    shifted = f" shifted by {format_offset(shift_seconds)}" if shift_seconds else ""
    if alignment.is_label_error and not shift_seconds:
        fix = alignment.fix
    else:
        fix = f"--shift {format_offset(shift_seconds - alignment.offset_seconds)}"
    return (
        f"{path}{shifted}: {alignment.describe()}; nothing was imported; import with {fix} to correct "
        "the time stamps, or --accept-misaligned to keep them as they are"
    )


def _invalid_message(parsed: ParsedFile) -> str:
    count = len(parsed.invalid)
    examples = "; ".join(f"line {line}: {reason}" for line, reason in parsed.invalid[:_MESSAGE_EXAMPLES])
    more = f"; … and {count - _MESSAGE_EXAMPLES} more" if count > _MESSAGE_EXAMPLES else ""
    return (
        f"{parsed.path}: {count} of {parsed.rows_read} rows are invalid, nothing was imported "
        f"({examples}{more}); fix the file, or import with --skip-invalid to keep the valid rows"
    )
