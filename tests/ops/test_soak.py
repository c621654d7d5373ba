"""The live soak in CI: ``serve`` on the replay provider at 1200× over a whole regular
session of 5 symbols, 5 % of the streamed bars dropped, a 5-minute disconnect, and a ``kill -9``
at 12:45 followed by a restart — then the store is checked bar by bar (see ``ops/soak.py``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
from support.cli import executable

from ops.soak import run_soak

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_soak_loses_nothing_across_drops_a_disconnect_and_kill_9(tmp_path: Path) -> None:
    result = run_soak(tmp_path, symbols=5, speed=1200.0, drop=0.05, executable=executable())
    print(asdict(result))  # the figures, in the CI log with -s or on failure
    assert result.exit_codes == [-9, 0], result
    assert result.report_status == "completed" and not result.errors
    # every regular-session minute of every symbol is stored, once
    assert result.stored_session_bars == result.expected_bars == 5 * 390
    assert result.duplicates_in_store == 0
    # the faults really happened, and what they took was recovered by the gap filler
    assert result.dropped > 0 and result.lost_disconnected > 0 and result.reconnects >= 1
    assert result.stored_at_kill > 0 and result.lost_after_restart == 0
    assert result.resumed >= result.stored_at_kill
    # the restarted service rejoined the timeline: the minutes it was down came back through fills
    assert result.restart_missed_minutes >= 1
    assert result.filled > result.dropped + result.lost_disconnected
    assert result.gaps_abandoned == 0
    assert all(q == {"1m": 100.0, "5m": 100.0} for q in result.quality.values()), result.quality
    assert len(result.quality) == 5
    assert result.restart_ready_seconds is not None and result.restart_recovered_seconds is not None
    # memory after warm-up did not grow (a leak of even a few bytes per bar would show here)
    assert result.rss_after_warmup_mb is not None and result.rss_end_mb is not None
    assert result.rss_end_mb <= result.rss_after_warmup_mb * 1.15 + 4
