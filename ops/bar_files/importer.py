"""``data import``: a bar file read by :mod:`ops.bar_files.reader`, written to the store in one
transaction (or refused whole), and the :class:`ImportReport` of what happened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import BarImportError, Violation
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


def import_bar_file(
    store: Store,
    path: str | Path,
    symbol: str,
    interval: str,
    timezone: str,
    label: str = "start",
    skip_invalid: bool = False,
) -> ImportReport:
    """Validate a bar file and upsert its bars in one transaction.

    Raises :class:`BarImportError` when the file cannot be read, its format is unknown, or (unless
    ``skip_invalid``) any row is invalid — then nothing is written and ``violations`` lists every
    bad row as ``Violation("path:line", reason)``. Raises :class:`StoreError` if the write fails
    (the transaction is rolled back).
    """
    parsed = read_bar_file(path, symbol, interval, timezone, label)
    if parsed.invalid and not skip_invalid:
        raise BarImportError(
            _invalid_message(parsed),
            [Violation(f"{parsed.path}:{line}", reason) for line, reason in parsed.invalid],
        )
    new_bars = 0
    if parsed.bars:  # the repository raises a failed write as StoreError / StoreUnavailable
        new_bars = store.bars.upsert_counting_new(parsed.bars, what=f"the bars of {parsed.path}")
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
        **summary, invalid=list(parsed.invalid), first_ts=parsed.first_ts, last_ts=parsed.last_ts
    )


def _invalid_message(parsed: ParsedFile) -> str:
    count = len(parsed.invalid)
    examples = "; ".join(f"line {line}: {reason}" for line, reason in parsed.invalid[:_MESSAGE_EXAMPLES])
    more = f"; … and {count - _MESSAGE_EXAMPLES} more" if count > _MESSAGE_EXAMPLES else ""
    return (
        f"{parsed.path}: {count} of {parsed.rows_read} rows are invalid, nothing was imported "
        f"({examples}{more}); fix the file, or import with --skip-invalid to keep the valid rows"
    )
