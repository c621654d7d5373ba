"""The report's charts, as Vega-Lite specs built with Altair from a run report's JSON.

Each function takes the report's JSON (what ``run`` writes, what ``marketsession report``
reads) and returns a spec dict — data inline, so the page needs nothing but the Vega bundle:

- :func:`quality_heatmap` — day × symbol, the base interval's quality; each cell links to its
  day's section. A large grid is cut to its worst :data:`MAX_SYMBOLS` symbols and, beyond
  :data:`MAX_DAYS` days, aggregated to weeks (the mean of the week's days);
- :func:`missing_profile` — missing base bars by minute of the day, over every day and symbol;
- :func:`gap_timeline` — one day: each gap as a bar from its start to its end, per symbol,
  coloured by status;
- :func:`price_chart` — one day and symbol: the close, gaps shaded, bars that a fill brought
  marked;
- :func:`quote_coverage` — day × symbol two-sided quote coverage (sessions streaming quotes);
- :func:`feed_timeline` — a live run: the stream's outages and stalls on the session timeline.

:func:`base_interval` and :func:`symbol_days` are the shared readings of the report.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import altair as alt

from domain.intervals import Interval

__all__ = [
    "MAX_DAYS",
    "MAX_SYMBOLS",
    "STATUS_COLOURS",
    "base_interval",
    "feed_timeline",
    "gap_timeline",
    "gaps_of",
    "missing_profile",
    "price_chart",
    "quality_heatmap",
    "quote_coverage",
    "rows_of",
    "symbol_days",
]

MAX_SYMBOLS = 40
"""Symbols the heatmap shows at most (the worst, by their lowest day)."""
MAX_DAYS = 65
"""Days the heatmap shows one by one; beyond that, weeks."""
STATUS_COLOURS = {"open": "#d62728", "filled": "#2ca02c", "abandoned": "#7f7f7f"}
_STATUS = alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))
_QUALITY = alt.Scale(domain=[0, 100], scheme="redyellowgreen")
_WIDTH = 720


def base_interval(report: dict[str, Any]) -> str | None:
    """The streamed base interval: the report's shortest bar interval."""
    intervals = {i for day in report["days"] for s in day["symbols"].values() for i in s["session"]}
    return str(min(Interval.parse(i) for i in intervals)) if intervals else None


def symbol_days(report: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(day, symbol, the symbol's day) in report order."""
    for day in report["days"]:
        for symbol, entry in day["symbols"].items():
            yield day, symbol, entry


def _local(iso: str) -> str:
    """An ISO time of the report (exchange time, with its offset) without the offset: Vega reads
    such a time as it is, so charts show exchange time whatever the viewer's zone."""
    return datetime.fromisoformat(iso).replace(tzinfo=None).isoformat()


def _session_scale(day: dict[str, Any]) -> alt.Scale:
    """A time scale over the day's regular session, in exchange time (Vega-Lite date-times)."""

    def at(iso: str) -> alt.DateTime:
        t = datetime.fromisoformat(iso)
        return alt.DateTime(year=t.year, month=t.month, date=t.day, hours=t.hour, minutes=t.minute)

    return alt.Scale(domainMin=at(day["regular_open"]), domainMax=at(day["regular_close"]))


class _Datasets:
    """A chart's data, kept out of Altair: each table is a named dataset the spec refers to and
    carries under ``datasets`` (Altair would walk and check every row — seconds for a page)."""

    def __init__(self) -> None:
        self.values: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, rows: list[dict[str, Any]]) -> alt.NamedData:
        name = f"data-{len(self.values)}"
        self.values[name] = rows
        return alt.NamedData(name=name)


def _spec(chart: alt.TopLevelMixin, sets: _Datasets) -> dict[str, Any]:
    """The chart's Vega-Lite spec, its data under ``datasets``. Not validated against the schema
    each time (a page holds hundreds of charts): the tests validate every kind of chart once."""
    spec: dict[str, Any] = chart.to_dict(validate=False)
    spec["datasets"] = sets.values
    return spec


def rows_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a single-view chart's data."""
    rows: list[dict[str, Any]] = spec["datasets"][spec["data"]["name"]]
    return rows


def _cells(days: int) -> int:
    """A heatmap's width: 28 px a day, within [240, the page's chart width]."""
    return max(240, min(_WIDTH, 28 * days))


def _anchor(day: str) -> str:
    return f"#day-{day}"


def quality_heatmap(report: dict[str, Any]) -> dict[str, Any]:
    base = base_interval(report)
    rows = [
        {"day": day["date"], "symbol": symbol, "quality": entry["session"][base]["quality"]}
        for day, symbol, entry in symbol_days(report)
        if base in entry["session"]
    ]
    worst: dict[str, float] = {}
    for row in rows:
        worst[row["symbol"]] = min(row["quality"], worst.get(row["symbol"], 100.0))
    symbols = list(report["symbols"])
    title = f"{base} quality per day and symbol"
    if len(symbols) > MAX_SYMBOLS:
        symbols = sorted(symbols, key=lambda s: (worst.get(s, 100.0), symbols.index(s)))[:MAX_SYMBOLS]
        rows = [row for row in rows if row["symbol"] in symbols]
        title += f" (the worst {MAX_SYMBOLS} symbols)"
    days = sorted({row["day"] for row in rows})
    if len(days) > MAX_DAYS:
        rows = _weekly(rows)
        title += ", weekly means"
    return _day_symbol_grid(
        rows, title, symbols, "quality", "quality %", [alt.Tooltip("quality:Q", format=".2f")]
    )


def _day_symbol_grid(
    rows: list[dict[str, Any]], title: str, symbols: list[str], field: str, legend: str, extra: list[Any]
) -> dict[str, Any]:
    """A day × symbol heatmap of ``field`` (0–100 %), each cell a link to its day's section."""
    sets = _Datasets()
    for row in rows:
        row["link"] = _anchor(row["day"])
    chart = (
        alt.Chart(sets(rows), title=title)
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("day:O", title=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("symbol:N", sort=symbols, title=None),
            color=alt.Color(f"{field}:Q", scale=_QUALITY, title=legend),
            href="link:N",
            tooltip=["day:O", "symbol:N", *extra],
        )
        .properties(width=_cells(len({r["day"] for r in rows})), height=18 * len(symbols))
    )
    return _spec(chart, sets)


def _weekly(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    weeks: dict[tuple[str, str], list[float]] = {}
    first: dict[str, str] = {}
    for row in rows:
        day = date.fromisoformat(row["day"])
        week = (day - timedelta(days=day.weekday())).isoformat()
        weeks.setdefault((week, row["symbol"]), []).append(row["quality"])
        first[week] = min(row["day"], first.get(week, row["day"]))
    return [
        {"day": first[week], "symbol": symbol, "quality": sum(q) / len(q)}
        for (week, symbol), q in sorted(weeks.items())
    ]


def gaps_of(entry: dict[str, Any], base: str | None) -> list[dict[str, Any]]:
    """A symbol's day: the gaps of the ``base`` interval at the close."""
    gaps: list[dict[str, Any]] = entry["session"].get(base, {}).get("gaps", []) if base else []
    return gaps


def missing_profile(report: dict[str, Any]) -> dict[str, Any]:
    sets = _Datasets()
    base = base_interval(report)
    step = Interval.parse(base).seconds if base else 60
    missing: Counter[str] = Counter()
    for _day, _symbol, entry in symbol_days(report):
        for gap in gaps_of(entry, base):
            start, end = datetime.fromisoformat(gap["start"]), datetime.fromisoformat(gap["end"])
            moment = start
            while moment < end:
                missing[moment.strftime("%H:%M")] += 1
                moment += timedelta(seconds=step)
    rows = [
        {"time": f"2000-01-01T{minute}:00", "missing": count} for minute, count in sorted(missing.items())
    ]
    chart = (
        alt.Chart(sets(rows), title=f"missing {base} bars by time of day (all days and symbols)")
        .mark_bar(color="#d62728")
        .encode(
            x=alt.X("time:T", timeUnit="hoursminutes", title="exchange time"),
            y=alt.Y("missing:Q", title="bars missing"),
            tooltip=[alt.Tooltip("time:T", timeUnit="hoursminutes", title="time"), "missing:Q"],
        )
        .properties(width=_WIDTH, height=160)
    )
    return _spec(chart, sets)


def gap_timeline(day: dict[str, Any], base: str | None) -> dict[str, Any]:
    sets = _Datasets()
    rows = [
        {
            "symbol": symbol,
            "start": _local(gap["start"]),
            "end": _local(gap["end"]),
            "status": gap["status"],
            "bars": gap["bar_count"],
        }
        for symbol, entry in day["symbols"].items()
        for gap in gaps_of(entry, base)
    ]
    session = _session_scale(day)
    chart = (
        alt.Chart(sets(rows), title=f"{day['date']}: {base} gaps by time of day")
        .mark_bar(height=10)
        .encode(
            x=alt.X("start:T", scale=session, title="exchange time", axis=alt.Axis(format="%H:%M")),
            x2="end:T",
            y=alt.Y("symbol:N", sort=list(day["symbols"]), title=None),
            color=alt.Color("status:N", scale=_STATUS),
            tooltip=["symbol:N", "status:N", "bars:Q", alt.Tooltip("start:T", format="%H:%M")],
        )
        .properties(width=_WIDTH, height=max(40, 18 * len(day["symbols"])))
    )
    return _spec(chart, sets)


def price_chart(
    day: dict[str, Any], symbol: str, base: str | None, closes: Sequence[tuple[str, float]]
) -> dict[str, Any]:
    """``closes``: (exchange time as a naive ISO string, close) of the symbol's base bars that
    day, in time order."""
    sets = _Datasets()
    gaps = [
        g | {"start": _local(g["start"]), "end": _local(g["end"])}
        for g in gaps_of(day["symbols"][symbol], base)
    ]
    filled = [(g["start"], g["end"]) for g in gaps if g["status"] == "filled"]
    prices = [{"time": t, "close": c, "filled": any(lo <= t < hi for lo, hi in filled)} for t, c in closes]
    session = _session_scale(day)
    x = alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M"))
    layers: list[alt.Chart] = []
    if gaps:
        layers.append(
            alt.Chart(sets([{"start": g["start"], "end": g["end"], "status": g["status"]} for g in gaps]))
            .mark_rect(opacity=0.25)
            .encode(
                x=alt.X("start:T"),
                x2="end:T",
                color=alt.Color("status:N", scale=_STATUS, legend=None),
                tooltip=[
                    "status:N",
                    alt.Tooltip("start:T", format="%H:%M"),
                    alt.Tooltip("end:T", format="%H:%M"),
                ],
            )
        )
    layers.append(
        alt.Chart(sets(prices))
        .mark_line(strokeWidth=1)
        .encode(x=x.scale(session), y=alt.Y("close:Q", scale=alt.Scale(zero=False), title="close"))
    )
    if any(p["filled"] for p in prices):
        layers.append(
            alt.Chart(sets([p for p in prices if p["filled"]]))
            .mark_point(color=STATUS_COLOURS["filled"], filled=True, size=30)
            .encode(x=x, y="close:Q", tooltip=["time:T", "close:Q"])
        )
    chart = alt.layer(*layers, title=f"{symbol} {day['date']}").properties(width=_WIDTH, height=140)
    return _spec(chart, sets)


def quote_coverage(report: dict[str, Any]) -> dict[str, Any] | None:
    rows = [
        {
            "day": day["date"],
            "symbol": symbol,
            "coverage": entry["quotes"]["coverage"],
            "spread": entry["quotes"]["spread_bps"]["median"],
        }
        for day, symbol, entry in symbol_days(report)
        if entry.get("quotes")
    ]
    if not rows:
        return None
    return _day_symbol_grid(
        rows, "two-sided quote coverage per day and symbol", list(report["symbols"]), "coverage",
        "coverage %", ["coverage:Q", alt.Tooltip("spread:Q", title="median spread (bps)")],
    )  # fmt: skip


_DOWN = re.compile(r"provider stream down (\d\d:\d\d)–(\d\d:\d\d)")
_STALL = re.compile(r"provider stalled: no (\w+) for (\d+)s of session time \(since (\d\d:\d\d:\d\d)Z\)")


def feed_timeline(report: dict[str, Any]) -> dict[str, Any] | None:
    """A live run's outages (``provider stream down HH:MM–HH:MM``) and stalls, as the day
    warnings give them, on each day's session timeline; None when there are none."""
    sets = _Datasets()
    rows = []
    for day in report["days"]:
        zone = datetime.fromisoformat(day["regular_open"]).tzinfo
        when = date.fromisoformat(day["date"])
        for warning in day["warnings"]:
            if found := _DOWN.search(warning):
                start, end = (
                    datetime.combine(when, time.fromisoformat(t), zone) for t in (found[1], found[2])
                )
                what = "stream down"
            elif found := _STALL.search(warning):  # its time is UTC
                start = datetime.combine(when, time.fromisoformat(found[3]), UTC).astimezone(zone)
                end, what = start + timedelta(seconds=int(found[2])), f"stalled: no {found[1]}"
            else:
                continue
            rows.append(
                {
                    "day": day["date"],
                    "what": what,
                    "start": _local(start.isoformat()),
                    "end": _local(end.isoformat()),
                }
            )
    if not rows:
        return None
    chart = (
        alt.Chart(sets(rows), title="provider outages and stalls")
        .mark_bar(height=10)
        .encode(
            x=alt.X("hoursminutes(start):T", title="time of day"),
            x2="hoursminutes(end):T",
            y=alt.Y("day:O", title=None),
            color=alt.Color("what:N"),
            tooltip=[
                "day:O",
                "what:N",
                alt.Tooltip("start:T", format="%H:%M"),
                alt.Tooltip("end:T", format="%H:%M"),
            ],
        )
        .properties(width=_WIDTH, height=max(40, 18 * len({r["day"] for r in rows})))
    )
    return _spec(chart, sets)
