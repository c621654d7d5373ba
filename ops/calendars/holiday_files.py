"""Reading holiday lists (CSV or JSON) into calendar exceptions, with line-numbered errors.

CSV: a header with ``date,name`` and optionally ``exchange_group, type, early_close, late_open,
notes``; ``type`` is ``closed`` (default) or ``early_close`` / ``late_open`` with the time in
``HH:MM``. JSON: a list of objects with the same keys, or ``{"exchange_group": G, "holidays":
[...]}``. Rows without ``exchange_group`` take the one given on the command line.
"""

from __future__ import annotations

import csv
import json
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from domain.calendar.model import CalendarException
from domain.errors import CalendarError, Violation

MAX_FILE_BYTES = 1 << 20
"""A holiday file is at most 1 MiB."""


class HolidayRow(BaseModel):
    """One imported day, as written in the file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    date: date
    name: str
    exchange_group: str | None = None
    type: Literal["closed", "early_close", "late_open"] = "closed"
    early_close: time | None = None
    late_open: time | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _times_match_type(self) -> HolidayRow:
        if not self.name:
            raise ValueError("name must not be blank")
        if self.type == "early_close" and self.early_close is None:
            raise ValueError("type early_close needs an early_close time (HH:MM)")
        if self.type == "late_open" and self.late_open is None:
            raise ValueError("type late_open needs a late_open time (HH:MM)")
        return self


def read_holiday_file(
    path: str | Path, default_group: str, source: str | None = None
) -> list[CalendarException]:
    """Parse ``path``; raise :class:`CalendarError` listing every bad row (file:line: reason)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:  # bounded: a century of holidays is some 50 KB
            raw = handle.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"cannot read holiday file {path}: {exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CalendarError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes: not a holiday file")
    source = source or f"import:{path.name}"
    records = _json_records(path, text) if path.suffix.lower() == ".json" else _csv_records(path, text)
    violations: list[Violation] = []
    result: list[CalendarException] = []
    seen: dict[tuple[str, date], str] = {}
    for line, record in records:
        try:
            row = HolidayRow.model_validate({k: v for k, v in record.items() if v not in ("", None)})
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}" for err in exc.errors()
            )
            violations.append(Violation(f"{path}{line}", reasons))
            continue
        group = row.exchange_group or default_group
        if (group, row.date) in seen:
            violations.append(
                Violation(f"{path}{line}", f"{row.date} already given at {path}{seen[group, row.date]}")
            )
            continue
        seen[group, row.date] = line
        try:
            exception = CalendarException(
                date=row.date,
                exchange_group=group,
                name=row.name,
                is_closed=row.type == "closed",
                early_close_time=row.early_close if row.type == "early_close" else None,
                late_open_time=row.late_open if row.type == "late_open" else None,
                notes=row.notes,
                source=source,
            )
        except CalendarError as exc:
            violations.append(Violation(f"{path}{line}", str(exc)))
            continue
        result.append(exception)
    if violations:
        raise CalendarError(f"{path}: {len(violations)} invalid row(s)", violations)
    if not result:
        raise CalendarError(f"{path}: no holidays found")
    return result


def _csv_records(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    records = []
    try:
        if not reader.fieldnames or "date" not in [f.strip().lower() for f in reader.fieldnames]:
            raise CalendarError(f"{path}: expected a CSV header with at least date,name")
        for index, raw in enumerate(reader, start=2):
            if None in raw:
                records.append((f":{index}", {"date": raw.get("date"), "_extra": raw[None]}))
                continue
            records.append((f":{index}", {(k or "").strip().lower(): v for k, v in raw.items()}))
    except csv.Error as exc:  # a field beyond csv's own limit, say
        raise CalendarError(f"{path}:{reader.line_num}: {exc}") from None
    return records


def _json_records(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalendarError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise CalendarError(f"{path}: invalid JSON: nested too deeply") from None
    group = None
    if isinstance(data, dict):
        group = data.get("exchange_group")
        data = data.get("holidays")
    if not isinstance(data, list):
        raise CalendarError(f"{path}: expected a list of holidays or an object with a 'holidays' list")
    records = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            item = {"date": None, "_item": item}
        elif group and "exchange_group" not in item:
            item = {**item, "exchange_group": group}
        records.append((f"[{index}]", item))  # JSON items are named by list index
    return records
