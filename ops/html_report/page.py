"""One self-contained HTML file of a run report: the Vega bundle, the styles and every chart's
data inline, so it opens offline and asks no other host for anything.

Sections: a headline strip (overall quality, symbol-days below :data:`THRESHOLD`, gaps by
status, alignment findings, bars outside the session by reason, early closes and holidays in
the window), the day × symbol quality heatmap, the missing-bars profile, quote coverage (when
quotes were streamed), the feed timeline (live runs), then one section per day: its gap
timeline and the price of each symbol with gaps or a misaligned stamp (worst first, at most
:data:`PRICES_PER_DAY` a day and :data:`MAX_PRICES` in all: each is a day of bars inline).

The page's script renders each chart with ``vegaEmbed`` (SVG) and, once all have drawn, sets
``data-charts-drawn`` on ``<body>`` to their count — what a browser test waits for.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from ops.html_report import charts

__all__ = ["MAX_PRICES", "PRICES_PER_DAY", "THRESHOLD", "Closes", "headline", "render_report"]

THRESHOLD = 99.0
"""A symbol-day below this quality (%) is counted in the headline."""
PRICES_PER_DAY = 4
MAX_PRICES = 40

Closes = Callable[[dict[str, Any], str, str], Sequence[tuple[str, float]]]
"""(day, symbol, interval) → that day's (exchange time, close) of the symbol's bars."""


@cache
def _bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (vl-convert bundles them: about 1.8 s), kept
    in the user's cache directory per vl-convert version so a page after the first takes none."""
    from importlib.metadata import version

    import vl_convert

    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marketsession"
    kept = folder / f"vega-bundle-{version('vl-convert-python')}.js"
    try:
        return kept.read_text(encoding="utf-8")
    except OSError:
        pass
    make: Any = vl_convert.javascript_bundle  # its stub says a snippet is required; it is not
    bundle = str(make())
    try:  # whole or not at all; a home that cannot be written only means bundling again next time
        folder.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(f".{kept.name}.{os.getpid()}.partial")
        partial.write_text(bundle, encoding="utf-8")
        partial.replace(kept)
    except OSError:
        pass
    return bundle


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The figures of the headline strip."""
    base = charts.base_interval(report)
    expected = got = 0.0
    below: list[str] = []
    gaps: Counter[str] = Counter()
    misaligned: list[str] = []
    symbol_days = 0
    for day, symbol, entry in charts.symbol_days(report):
        symbol_days += 1
        session = entry["session"].get(base)
        if session is not None:
            expected += session["expected"]
            got += session["expected"] * session["quality"] / 100
            if session["quality"] < THRESHOLD:
                below.append(f"{day['date']} {symbol}")
            gaps.update(g["status"] for g in session["gaps"])
        alignment = entry.get("alignment") or {}
        if alignment.get("status") == "misaligned":
            misaligned.append(f"{day['date']} {symbol}: {alignment.get('offset')} ({alignment.get('fix')})")
    outside: Counter[str] = Counter()
    for day in report["days"]:
        outside.update(day["bars_not_in_session"])
    days = [date.fromisoformat(d["date"]) for d in report["days"]]
    holidays: list[str] = []
    if report.get("start_date") and report.get("end_date"):  # weekdays of the window that did not trade
        held, moment = set(days), date.fromisoformat(report["start_date"])
        while moment <= date.fromisoformat(report["end_date"]):
            if moment.weekday() < 5 and moment not in held:
                holidays.append(moment.isoformat())
            moment += timedelta(days=1)
    timings = report.get("timings") or {}
    warnings = [w for day in report["days"] for w in day["warnings"]]
    feed = None
    if report["mode"] == "live":  # what the feed did: latency, outages, stalls
        feed = {
            "latency_p50": timings.get("latency_p50"),
            "latency_p99": timings.get("latency_p99"),
            "outages": sum(1 for w in warnings if w.startswith("provider stream down")),
            "stalls": sum(1 for w in warnings if w.startswith("provider stalled")),
        }
    return {
        "feed": feed,
        "quality": None if not expected else 100 * got / expected,
        "base": base,
        "symbol_days": symbol_days,
        "below": below,
        "gaps": {status: gaps.get(status, 0) for status in charts.STATUS_COLOURS},
        "misaligned": misaligned,
        "outside": dict(sorted(outside.items())),
        "early_closes": [d["date"] for d in report["days"] if d["is_early_close"]],
        "holidays": holidays,
    }


def render_report(report: dict[str, Any], closes: Closes | None = None) -> str:
    """The HTML page of ``report`` (its JSON); ``closes`` gives the prices of the day sections
    (from the store), without it they are left out."""
    base = charts.base_interval(report)
    specs: dict[str, dict[str, Any]] = {"heatmap": charts.quality_heatmap(report)}
    if any(charts.gaps_of(e, base) for _, _, e in charts.symbol_days(report)):
        specs["profile"] = charts.missing_profile(report)
    if (quotes := charts.quote_coverage(report)) is not None:
        specs["quotes"] = quotes
    if (feed := charts.feed_timeline(report)) is not None:
        specs["feed"] = feed
    day_sections, priced = [], 0
    for i, day in enumerate(report["days"]):
        ids = []
        if any(charts.gaps_of(entry, base) for entry in day["symbols"].values()):
            specs[f"gaps-{i}"] = charts.gap_timeline(day, base)
            ids.append(f"gaps-{i}")
        if closes is not None and base is not None:
            for symbol in _worth_a_price(day, base)[: min(PRICES_PER_DAY, MAX_PRICES - priced)]:
                prices = closes(day, symbol, base)
                if prices:
                    specs[f"price-{i}-{symbol}"] = charts.price_chart(day, symbol, base, prices)
                    ids.append(f"price-{i}-{symbol}")
                    priced += 1
        day_sections.append(_day_section(day, base, ids))
    top = headline(report)
    body = "\n".join(
        [
            f"<h1>{_e(report['session_name'])}</h1>",
            f"<p class=sub>{_e(report['mode'])} · {_e(report['exchange_group'])} · "
            f"{_e(report.get('start_date') or '')}..{_e(report.get('end_date') or '')} · "
            f"{len(report['symbols'])} symbol(s) · status <b>{_e(report['status'])}</b>"
            + (f" — {_e(report['error'])}" if report.get("error") else "")
            + "</p>",
            _headline_strip(top),
            "<div id=heatmap class=chart></div>",
            *(
                f"<div id={name} class=chart></div>"
                for name in ("profile", "quotes", "feed")
                if name in specs
            ),
            *day_sections,
        ]
    )
    return _PAGE.format(
        title=_e(report["session_name"]),
        style=_STYLE,
        bundle=_bundle().replace("</script", "<\\/script"),
        specs=json.dumps(specs, separators=(",", ":")).replace("</", "<\\/"),
        body=body,
    )


def _worth_a_price(day: dict[str, Any], base: str) -> list[str]:
    """The day's symbols with gaps or misaligned stamps, worst quality first."""
    scored = []
    for symbol, entry in day["symbols"].items():
        session = entry["session"].get(base)
        misaligned = (entry.get("alignment") or {}).get("status") == "misaligned"
        if session is not None and (session["gaps"] or misaligned):
            scored.append((not misaligned, session["quality"], symbol))
    return [symbol for *_, symbol in sorted(scored)]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _headline_strip(top: dict[str, Any]) -> str:
    quality = "—" if top["quality"] is None else f"{top['quality']:.2f} %"
    gaps = " · ".join(f"{count} {status}" for status, count in top["gaps"].items())
    outside = ", ".join(f"{count:,} {reason}" for reason, count in top["outside"].items()) or "none"
    cells = [
        ("overall quality", quality, f"{top['base']} bars, all symbol-days"),
        (
            f"below {THRESHOLD:g} %",
            f"{len(top['below'])} of {top['symbol_days']}",
            ", ".join(top["below"][:8]),
        ),
        ("gaps", gaps, "at the close"),
        (
            "alignment",
            f"{len(top['misaligned'])} misaligned",
            "; ".join(top["misaligned"][:4]) or "stamps fit",
        ),
        ("outside the session", outside, "bars not streamed, by reason"),
        (
            "calendar",
            f"{len(top['early_closes'])} early close(s), {len(top['holidays'])} holiday(s)",
            ", ".join(top["early_closes"] + top["holidays"]),
        ),
    ]
    if (feed := top["feed"]) is not None:
        p50, p99 = (
            "—" if feed[k] is None else f"{feed[k] * 1000:.0f} ms" for k in ("latency_p50", "latency_p99")
        )
        cells.append(
            (
                "live feed",
                f"{feed['outages']} outage(s), {feed['stalls']} stall(s)",
                f"bar latency p50 {p50}, p99 {p99}",
            )
        )
    items = "".join(
        f"<div class=cell{' warn' if name == 'alignment' and top['misaligned'] else ''}>"
        f"<div class=name>{_e(name)}</div><div class=value>{_e(value)}</div>"
        f"<div class=note>{_e(note)}</div></div>"
        for name, value, note in cells
    )
    return f"<section class=strip id=headline>{items}</section>"


def _day_section(day: dict[str, Any], base: str | None, ids: list[str]) -> str:
    rows = []
    for symbol, entry in day["symbols"].items():
        session = entry["session"].get(base) or {}
        alignment = (entry.get("alignment") or {}).get("status", "—")
        rows.append(
            f"<tr><td>{_e(symbol)}</td><td>{session.get('bars', 0):,}</td>"
            f"<td>{session.get('quality', 100.0):.2f}</td><td>{len(session.get('gaps', []))}</td>"
            f"<td class={_e(alignment)}>{_e(alignment)}</td></tr>"
        )
    opened = datetime.fromisoformat(day["regular_open"]).strftime("%H:%M")
    closed = datetime.fromisoformat(day["regular_close"]).strftime("%H:%M")
    warnings = "".join(f"<li>{_e(w)}</li>" for w in day["warnings"])
    return (
        f"<section class=day id=day-{_e(day['date'])}><h2>{_e(day['date'])}"
        f"{' (early close)' if day['is_early_close'] else ''}</h2>"
        f"<p class=sub>{opened}–{closed} · {day['bars_streamed']:,} bars streamed · "
        f"{day['bars_derived']:,} derived</p>"
        f"<table><tr><th>symbol</th><th>{_e(base)} bars</th><th>quality %</th><th>gaps</th>"
        f"<th>alignment</th></tr>{''.join(rows)}</table>"
        + (f"<ul class=warnings>{warnings}</ul>" if warnings else "")
        + "".join(f"<div id={_e(i)} class=chart></div>" for i in ids)
        + "</section>"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin:0 0 4px}h2{margin:28px 0 4px;border-top:1px solid #ddd;padding-top:12px}
.sub{color:#666;margin:0 0 12px}
.strip{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:8px;margin:12px 0 20px}
.cell{background:#f6f6f6;border-radius:6px;padding:8px 10px}.cell.warn{background:#fdecea}
.name{font-size:12px;color:#666}.value{font-size:18px;font-weight:600}.note{font-size:11px;color:#777}
table{border-collapse:collapse;margin:8px 0}
td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.misaligned{color:#d62728;font-weight:600}
.warnings{color:#8a4b00;font-size:12px}.chart{margin:12px 0;display:block!important}
"""

_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<meta name=viewport content="width=device-width,initial-scale=1">
<link rel=icon href="data:,">
<style>{style}</style>
<script>{bundle}</script>
</head><body>
{body}
<script id=chart-specs type="application/json">{specs}</script>
<script>
const specs = JSON.parse(document.getElementById("chart-specs").textContent);
const drawn = Object.entries(specs).map(([id, spec]) =>
  vegaEmbed("#" + CSS.escape(id), spec, {{renderer: "svg", actions: false}}));
Promise.all(drawn).then(views => {{ document.body.dataset.chartsDrawn = String(views.length); }});
</script>
</body></html>
"""
