"""The HTML report: ``marketsession report REPORT.json -o report.html``, ``run --html PATH``.

:mod:`.charts` builds the Vega-Lite specs (Altair) from a report's JSON; :mod:`.page` assembles
one self-contained page; :func:`write_html_report` writes it, with each day's prices read from
the store when one is given. :mod:`.status_page` is ``serve``'s ``GET /``. Why Vega-Lite:
``docs/decisions.md``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the charts (Altair) are imported when a page is made, not by ``serve``
    from domain.store import Store
    from ops.html_report.page import Closes

__all__ = ["read_report", "store_closes", "write_html_report"]

_REQUIRED = {"session_name": str, "mode": str, "status": str, "symbols": list, "days": list}
_DAY = (
    "date",
    "regular_open",
    "regular_close",
    "is_early_close",
    "symbols",
    "warnings",
    "bars_not_in_session",
)


def read_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A run report's JSON from ``path``; :class:`ValueError` naming the file and what is wrong
    when it is not one (a report of ``run`` or ``serve``)."""
    import json

    source = os.fspath(path)

    def refuse(why: str) -> ValueError:
        return ValueError(why)

    try:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise refuse(f"file not found: {source}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise refuse(f"cannot read {source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise refuse(f"{source} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise refuse(f"{source} is not a marketsession run report (not a JSON object)")
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise refuse(f"{source} is not a marketsession run report: no {key!r} {kind.__name__}")
    for i, day in enumerate(data["days"]):
        missing = [key for key in _DAY if not isinstance(day, dict) or key not in day]
        if missing:
            raise refuse(f"{source}: days[{i}] lacks {', '.join(missing)}")
    return data


def store_closes(store: Store) -> Closes:
    """Each day's closes of a symbol's bars from ``store``, in exchange time."""

    def closes(day: dict[str, Any], symbol: str, interval: str) -> list[tuple[str, float]]:
        opened, closed = (
            datetime.fromisoformat(day["regular_open"]),
            datetime.fromisoformat(day["regular_close"]),
        )
        bars = store.bars.read(symbol, interval, int(opened.timestamp()), int(closed.timestamp()))
        zone = opened.tzinfo
        return [
            (datetime.fromtimestamp(bar.ts, zone).replace(tzinfo=None).isoformat(), bar.close) for bar in bars
        ]

    return closes


def write_html_report(
    report: dict[str, Any], path: str | os.PathLike[str], store: Store | None = None
) -> Path:
    """Write the page of ``report`` (its JSON) to ``path`` whole or not at all; the path."""
    from ops.html_report.page import render_report

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(
        render_report(report, None if store is None else store_closes(store)), encoding="utf-8"
    )
    partial.replace(target)
    return target
