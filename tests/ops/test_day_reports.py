"""One report per session day (``ops/day_reports.py``): where it goes, what it holds, and the
``day_closed`` line with the process's resources; a day file that cannot be written is one error
line, and the service goes on."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import ops.day_reports
from domain.config import SessionConfig
from domain.messages.events import SessionEnded
from domain.report import DaySummary
from domain.session.windows import DayHours
from ops.day_reports import DayReports, day_report_path, process_resources
from ops.html_report import read_report
from ops.soak import soak_config

NY = ZoneInfo("America/New_York")
DAY = date(2026, 11, 27)


class Lines:
    """Stands in for the module's logger: the lines it was given, as dicts."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})

    error = info


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    lines = Lines()
    monkeypatch.setattr(ops.day_reports, "log", lines)
    return lines.lines


def summary() -> DaySummary:
    def ts(hour: int) -> int:
        return int(datetime(2026, 11, 27, hour, tzinfo=NY).timestamp())

    hours = DayHours(DAY, ts(9) + 1800, ts(13), is_early_close=True, pre_open_ts=ts(4), post_close_ts=ts(17))
    return DaySummary(hours, "America/New_York", {}, bars_streamed=1050, bars_derived=210, warnings=("w",))


def test_a_days_report_goes_beside_the_run_report_named_by_its_day() -> None:
    assert day_report_path(Path("/srv/ms/serve.report.json"), "2026-11-27") == Path(
        "/srv/ms/serve.2026-11-27.report.json"
    )
    assert day_report_path(Path("out/week.json"), "2026-11-27") == Path("out/week.2026-11-27.json")
    assert day_report_path(Path("week"), "2026-11-27") == Path("week.2026-11-27.json")


def test_a_closed_day_is_written_as_a_one_day_report_and_logged_with_the_processs_resources(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    config = SessionConfig.from_dict(soak_config(["SOAK0"]))
    writer = DayReports(config, tmp_path / "serve.report.json", speed=2400.0)
    writer(SessionEnded(DAY, summary()))

    written = read_report(tmp_path / "serve.2026-11-27.report.json")
    assert [d["date"] for d in written["days"]] == ["2026-11-27"] and written["status"] == "completed"
    assert written["days"][0]["is_early_close"] is True and written["days"][0]["bars_streamed"] == 1050
    (line,) = [e for e in logs if e["event"] == "day_closed"]
    assert line["day"] == "2026-11-27" and line["bars_streamed"] == 1050 and line["warnings"] == 1
    assert all(isinstance(line[k], int | float) and line[k] > 0 for k in ("rss_mb", "open_fds", "threads"))
    assert set(process_resources()) == {"rss_mb", "open_fds", "threads"}


def test_a_day_report_that_cannot_be_written_is_one_error_line_and_nothing_raised(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory", encoding="utf-8")
    config = SessionConfig.from_dict(soak_config(["SOAK0"]))
    writer = DayReports(config, blocker / "serve.report.json", speed=1.0)
    writer(SessionEnded(DAY, summary()))
    assert [e["event"] for e in logs] == ["day_report_failed"]
    assert not list(tmp_path.glob("**/*.report.json"))
