"""One report per session day of a live service (SPEC §9; runbook: ``ops/RUNBOOK.md``).

A service that runs for weeks writes, as each day closes, that day's report beside its run report
(``serve.report.json`` → ``serve.2025-07-02.report.json``: the same shape as a run's report,
with one day), and logs one ``day_closed`` line with the day's headline figures and the
process's resources at the close (resident memory, open file descriptors, threads) — the line
to graph, or to grep, when a long-running service is suspected of growing. The day files are
the service's record: a restarted process writes the days it closes, and the files of the days
before stay as they were.
"""

from __future__ import annotations

import resource
import sys
import threading
from pathlib import Path
from typing import Any

import structlog

from domain.config import SessionConfig
from domain.messages.events import SessionEnded
from domain.report import run_report
from ops.run_output import write_report

__all__ = ["DayReports", "day_report_path", "process_resources"]

log = structlog.get_logger("marketsession.serve")


def day_report_path(run_report_path: Path, day: str) -> Path:
    """``x.report.json`` → ``x.DAY.report.json`` (``x.json`` → ``x.DAY.json``)."""
    name = run_report_path.name
    if name.endswith(".report.json"):
        stem, suffix = name.removesuffix(".report.json"), ".report.json"
    else:
        stem, suffix = run_report_path.stem, run_report_path.suffix or ".json"
    return run_report_path.with_name(f"{stem}.{day}{suffix}")


def process_resources() -> dict[str, Any]:
    """This process's resident memory (MB), open file descriptors and threads, now."""
    rss_mb: float | None = None
    threads = threading.active_count()
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                rss_mb = round(int(value.split()[0]) / 1024, 1)
            elif key == "Threads":
                threads = int(value)
    else:  # the peak, where the current figure cannot be read (macOS counts bytes)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_mb = round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)
    fd_dir = Path("/proc/self/fd")
    fds = sum(1 for _ in fd_dir.iterdir()) if fd_dir.exists() else None
    return {"rss_mb": rss_mb, "open_fds": fds, "threads": threads}


class DayReports:
    """A subscriber to ``session_ended``: writes the day's report and logs ``day_closed``."""

    def __init__(self, config: SessionConfig, run_report_path: Path, speed: float) -> None:
        self._config = config
        self._path = run_report_path
        self._speed = speed

    def __call__(self, event: Any) -> None:
        if not isinstance(event, SessionEnded):
            return
        summary = event.summary
        path = day_report_path(self._path, summary.day.isoformat())
        report = run_report(self._config, "completed", [summary], [], None, {}, self._speed)
        try:
            write_report(report, path)
        except OSError as error:  # the service goes on; the run report still gets the day
            log.error("day_report_failed", day=summary.day.isoformat(), path=str(path), error=str(error))
            return
        gaps = [len(s.gaps) for info in summary.symbols.values() for s in info.session.values()]
        log.info(
            "day_closed", day=summary.day.isoformat(), report=str(path), bars_streamed=summary.bars_streamed,
            open_gaps=sum(gaps), warnings=len(summary.warnings), **process_resources(),
        )  # fmt: skip
