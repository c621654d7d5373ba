"""The multi-day soak in CI (``ops/soak_days.py``), short: three trading days from Wednesday
2026-11-25 — a holiday (Thanksgiving), an early close (11-27, 13:00) and a weekend in between —
on the replay provider at 2400x (its nights and weekends 60x faster still), with 5 % of the bars
dropped, a disconnect every day and an overnight outage every night, a ``kill -9`` on the second
day and a restart, a closure of the next day patched in mid-week, and today's close moved to
14:00 on the last day. Every day is checked bar by bar in the store."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
from support.cli import executable

from ops.soak_days import run_days_soak

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_three_days_of_live_service_lose_nothing_through_a_week_of_faults(tmp_path: Path) -> None:
    result = run_days_soak(tmp_path, days=3, executable=executable())
    print(asdict(result))  # the figures, in the CI log with -s or on failure
    assert not result.errors, result.errors
    assert result.exit_codes == [-9, 0]
    days = {row.day: row for row in result.rows}
    # Thanksgiving and the weekend are skipped; the closure patched in on 11-27 skips Monday 11-30
    assert list(days) == ["2026-11-25", "2026-11-27", "2026-12-01"]
    assert result.kill_day == "2026-11-27" and result.closed_by_patch == "2026-11-30"
    # the early close of the calendar, and the one patched in on the last day
    assert [row.close for row in result.rows] == ["16:00", "13:00", "14:00"]
    assert [row.expected for row in result.rows] == [5 * 390, 5 * 210, 5 * 270]
    for row in result.rows:  # every minute of every symbol stored once, nothing lost at the restart
        assert row.stored == row.expected and row.duplicated == 0 and row.lost_after_restart == 0, row
        assert row.gaps_abandoned == 0 and row.gaps_filled > 0 and row.quality_1m == 100.0, row
        assert row.rss_mb is not None and row.open_fds is not None and row.threads is not None, row
    assert [row.process for row in result.rows] == [1, 2, 2]
    assert result.dropped > 0 and result.lost_disconnected > 0
    # between sessions the service is alive but not ready, and says why
    assert result.between_sessions["healthz"] == 200 and result.between_sessions["readyz"] == 503
    assert result.between_sessions["reasons"][0].startswith("between sessions (next: ")
