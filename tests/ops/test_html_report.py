"""The HTML report: its chart specs as data, its size, the ``report`` command, and the page in a
real headless Chromium (Debian's), which must draw every chart with no console message and no
request to any other host (``tests/support/browser.py``). Screenshots go to ``var/test-artefacts/``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.browser import chromium, open_page
from support.cli import run_cli
from support.engine import example_dict

from ops.html_report import charts
from ops.html_report.page import headline, render_report

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "session_configs" / "example_session.json"
REAL = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """``marketsession demo``: the store, its JSON report and the HTML page it wrote."""
    root = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{root / 'demo.db'}"
    done = run_cli("demo", "--no-progress", "--report", str(root / "example.json"), db=url)
    assert done.code == 0, done.err
    assert f"html report: {root / 'example.html'}" in done.out
    return url, root / "example.json", root / "example.html"


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The real day: RIVN imported as stamped (4 hours late), AAPL shifted back; its report."""
    root = tmp_path_factory.mktemp("real")
    url = f"sqlite:///{root / 'real.db'}"
    assert run_cli("calendar", "seed", "--start-year", "2025", "--end-year", "2025", db=url).code == 0
    for symbol, *options in (("RIVN", "--accept-misaligned"), ("AAPL", "--shift", "-4")):
        path = REAL / f"{symbol}_2025-07-02_1m.csv"
        done = run_cli("data", "import", str(path), "--symbol", symbol, "--interval", "1m", *options, db=url)
        assert done.code == 0, done.err
    config = example_dict()
    config["backtest_config"].update(start_date="2025-07-02", end_date="2025-07-02", speed_multiplier=0)
    config["session_data_config"]["streams"] = ["1m", "5m"]
    config["session_data_config"]["historical"] = {"enable_quality": True, "data": [], "indicators": {}}
    (root / "real.json").write_text(json.dumps(config))
    done = run_cli(
        "run", str(root / "real.json"), "--no-progress", "--report", str(root / "real.report.json"),
        "--html", str(root / "real.html"), db=url,
    )  # fmt: skip
    assert done.code == 0, done.err
    return url, root


# ------------------------------------------------------------------ specs as data


def test_the_heatmap_has_a_cell_per_symbol_day_linking_to_its_day(demo: tuple[str, Path, Path]) -> None:
    report = json.loads(demo[1].read_text())
    spec = charts.quality_heatmap(report)
    cells = charts.rows_of(spec)
    assert len(cells) == 6 and {c["symbol"] for c in cells} == {"RIVN", "AAPL"}
    assert {c["link"] for c in cells} == {f"#day-{d['date']}" for d in report["days"]}
    assert spec["encoding"]["href"]["field"] == "link"
    aapl = next(c for c in cells if (c["day"], c["symbol"]) == ("2025-07-02", "AAPL"))
    assert aapl["quality"] == report["days"][0]["symbols"]["AAPL"]["session"]["1m"]["quality"]


def test_a_large_grid_keeps_the_worst_symbols_and_goes_weekly(demo: tuple[str, Path, Path]) -> None:
    wide = _synthetic(json.loads(demo[1].read_text()), days=70, symbols=50)
    spec = charts.quality_heatmap(wide)
    cells = charts.rows_of(spec)
    assert len({c["symbol"] for c in cells}) == charts.MAX_SYMBOLS
    assert "S049" in {c["symbol"] for c in cells}  # the worst (see _synthetic) are kept
    days = [date.fromisoformat(d["date"]) for d in wide["days"]]
    weeks = {d - timedelta(days=d.weekday()) for d in days}
    assert len({c["day"] for c in cells}) == len(weeks) < len(days) and "weekly" in spec["title"]


def test_the_gap_timeline_and_profile_count_the_reports_gaps(demo: tuple[str, Path, Path]) -> None:
    report = json.loads(demo[1].read_text())
    gaps = [g for day in report["days"] for s in day["symbols"].values() for g in s["session"]["1m"]["gaps"]]
    profile = charts.missing_profile(report)
    assert sum(r["missing"] for r in charts.rows_of(profile)) == sum(g["bar_count"] for g in gaps)
    timeline = charts.gap_timeline(report["days"][0], "1m")
    assert len(charts.rows_of(timeline)) == sum(
        len(s["session"]["1m"]["gaps"]) for s in report["days"][0]["symbols"].values()
    )
    assert all(
        "+" not in r["start"] and r["start"][-6] != "-" for r in charts.rows_of(timeline)
    )  # exchange time


def test_every_kind_of_chart_is_valid_vega_lite(demo: tuple[str, Path, Path]) -> None:
    import altair as alt

    report = json.loads(demo[1].read_text())
    day = report["days"][0]
    closes = [(f"2025-07-02T10:{m:02d}:00", 100.0 + m) for m in range(60)]
    for spec in (
        charts.quality_heatmap(report),
        charts.missing_profile(report),
        charts.gap_timeline(day, "1m"),
        charts.quote_coverage(report),
    ):
        alt.Chart.from_dict(spec, validate=True)
    alt.LayerChart.from_dict(charts.price_chart(day, "AAPL", "1m", closes), validate=True)


def test_the_headline_of_the_example(demo: tuple[str, Path, Path]) -> None:
    top = headline(json.loads(demo[1].read_text()))
    assert top["early_closes"] == ["2025-07-03"] and top["holidays"] == ["2025-07-04"]
    assert top["gaps"] == {"open": 8, "filled": 0, "abandoned": 0}
    assert top["misaligned"] == [] and 99 < top["quality"] < 100


def test_a_live_runs_outages_and_stalls_go_on_its_session_timeline(demo: tuple[str, Path, Path]) -> None:
    live = json.loads(demo[1].read_text()) | {
        "mode": "live",
        "timings": {"latency_p50": 0.012, "latency_p99": 0.25},
    }
    live["days"][0]["warnings"] = [
        "provider stream down 10:01–10:04",
        "provider stalled: no bars for 180s of session time (since 18:00:00Z); reconnecting",
    ]
    import altair as alt

    spec = charts.feed_timeline(live)
    assert spec is not None
    alt.Chart.from_dict(spec, validate=True)
    rows = charts.rows_of(spec)
    assert rows == [
        {
            "day": "2025-07-02",
            "what": "stream down",
            "start": "2025-07-02T10:01:00",
            "end": "2025-07-02T10:04:00",
        },
        {
            "day": "2025-07-02",
            "what": "stalled: no bars",
            "start": "2025-07-02T14:00:00",
            "end": "2025-07-02T14:03:00",
        },
    ]  # the stall's UTC time in exchange time (EDT)
    assert headline(live)["feed"] == {"latency_p50": 0.012, "latency_p99": 0.25, "outages": 1, "stalls": 1}
    page = render_report(live)
    assert "1 outage(s), 1 stall(s)" in page and "p50 12 ms, p99 250 ms" in page
    assert charts.feed_timeline(json.loads(demo[1].read_text())) is None  # a backtest has no feed


def test_sixty_days_of_thirty_symbols_stay_well_under_five_megabytes(demo: tuple[str, Path, Path]) -> None:
    wide = _synthetic(json.loads(demo[1].read_text()), days=60, symbols=30)
    closes = [
        (f"2025-07-02T{9 + (m + 30) // 60:02d}:{(m + 30) % 60:02d}:00", 100.0 + m / 100) for m in range(390)
    ]
    page = render_report(wide, lambda day, symbol, interval: closes)
    assert len(page.encode()) < 3_000_000, len(page.encode())


def _synthetic(report: dict[str, Any], *, days: int, symbols: int) -> dict[str, Any]:
    """``days`` copies of the example's first day for ``symbols`` symbols; the higher the
    symbol's number, the lower its quality."""
    day = report["days"][0]
    template = day["symbols"]["AAPL"] | {"indicators": {}, "historical": {}}
    out = copy.deepcopy(report) | {"symbols": [f"S{i:03d}" for i in range(symbols)], "days": []}
    for n in range(days):
        entries = {}
        for i, name in enumerate(out["symbols"]):
            entry = copy.deepcopy(template)
            entry["session"]["1m"]["quality"] = 100.0 - i / 10
            entries[name] = entry
        out["days"].append(day | {"date": f"2025-{1 + n // 28:02d}-{1 + n % 28:02d}", "symbols": entries})
    return out


# ------------------------------------------------------------------ the command


def test_report_turns_a_report_into_a_page_and_refuses_what_is_not_one(
    demo: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, report, _ = demo
    done = run_cli("report", str(report), "-o", str(tmp_path / "out.html"), db=url)
    assert done.code == 0, done.err
    assert (tmp_path / "out.html").read_text().startswith("<!doctype html>")
    (tmp_path / "bad.json").write_text('{"days": 1}')
    for path, says in (
        (tmp_path / "bad.json", "is not a marketsession run report"),
        (tmp_path / "none.json", "file not found"),
    ):
        done = run_cli("report", str(path), db=url)
        assert done.code == 2 and says in done.err and len(done.err.strip().splitlines()) == 1, done.err


# ------------------------------------------------------------------ in a real browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def embedded_specs(html: Path) -> dict[str, Any]:
    found = re.search(
        r'<script id=chart-specs type="application/json">(.*?)</script>', html.read_text(), re.S
    )
    assert found is not None
    specs: dict[str, Any] = json.loads(found[1].replace("<\\/", "</"))
    return specs


@pytest.fixture(scope="module")
def audit_page(demo: tuple[str, Path, Path]) -> Path:
    """``data audit --html`` of the demo store."""
    path = demo[1].with_name("audit.html")
    done = run_cli("data", "audit", "--html", str(path), db=demo[0])
    assert done.code == 0, done.err
    assert f"html audit: {path}" in done.out
    return path


@pytest.mark.parametrize("which", ["example", "real", "audit"])
def test_the_page_draws_every_chart_offline_in_chromium(
    browser: Any, demo: tuple[str, Path, Path], real: tuple[str, Path], audit_page: Path, which: str
) -> None:
    html = {"example": demo[2], "real": real[1] / "real.html", "audit": audit_page}[which]
    specs = embedded_specs(html)
    opened = open_page(browser, html.as_uri(), html.as_uri())
    page = opened.page
    page.wait_for_selector("body[data-charts-drawn]", timeout=60_000)
    assert (
        int(page.get_attribute("body", "data-charts-drawn"))
        == page.locator("div.chart").count()
        == len(specs)
    )
    cells = len(charts.rows_of(specs["heatmap"]))
    assert page.locator("#heatmap svg g.mark-rect.role-mark path").count() == cells > 0
    assert page.locator("svg").count() >= len(specs)
    opened.screenshot(f"report-{which}.png")
    assert opened.said == [] and opened.elsewhere == []
    if which == "real":  # the alignment finding, at a glance: the headline and RIVN's row say it
        strip = page.locator("#headline").inner_text()
        assert "1 misaligned" in strip and "RIVN: +4:00 (--shift -4:00)" in strip
        assert page.locator("#day-2025-07-02 td.misaligned").inner_text() == "misaligned"
    page.close()
