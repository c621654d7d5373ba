"""What the engine needs of any provider (SPEC §8): the replay's scaled clock (on a wall clock this
test moves by hand), reconnect backoff with full jitter, the ProviderError family callers decide
by, and the end-to-end latency statistics of a live session.
"""

from __future__ import annotations

import math
import pickle
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import (
    MarketSessionError,
    ProviderAuthError,
    ProviderError,
    ProviderNotSupported,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderSubscriptionError,
    ProviderUnavailable,
)
from domain.providers import Backoff, QuietHours, ScaledClock, weekday_hours
from domain.session.latency import BUCKETS, LatencyStats

START = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)


class WallClock:
    """A wall clock (seconds since some point) that moves only when told."""

    def __init__(self, at: float = 1000.0) -> None:
        self.at = at
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.at


class Draw(random.Random):
    """A random source that always draws ``value`` (to pin the jitter to its bounds)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


# ------------------------------------------------------------------------ ScaledClock


def test_a_scaled_clock_reads_its_start_until_the_wall_clock_moves() -> None:
    wall = WallClock()
    clock = ScaledClock(START, 600.0, wall)

    assert clock.now() == START
    assert clock.now().tzinfo is not None
    assert clock.speed == 600.0


@pytest.mark.parametrize("speed", [0.5, 1.0, 600.0, 6000.0])
def test_a_scaled_clock_runs_speed_times_faster_than_the_wall_clock(speed: float) -> None:
    wall = WallClock()
    clock = ScaledClock(START, speed, wall)

    wall.at += 1.5
    assert clock.now() == START + timedelta(seconds=1.5 * speed)
    wall.at += 10.0
    assert clock.now() == START + timedelta(seconds=11.5 * speed)


def test_the_clock_counts_from_its_creation_not_from_the_wall_clocks_origin() -> None:
    wall = WallClock(at=987_654.25)
    clock = ScaledClock(START, 60.0, wall)
    wall.at += 2.0

    assert clock.now() == START + timedelta(minutes=2)


def test_an_aware_start_in_another_zone_is_the_same_instant() -> None:
    wall = WallClock()
    start = datetime(2026, 11, 25, 9, 30, tzinfo=ZoneInfo("America/New_York"))

    clock = ScaledClock(start, 1.0, wall)

    assert clock.now() == START
    assert clock.now().timestamp() == START.timestamp()


def test_wall_seconds_is_the_wall_time_a_span_of_the_clock_takes() -> None:
    clock = ScaledClock(START, 600.0, WallClock())

    assert clock.wall_seconds(600.0) == 1.0
    assert clock.wall_seconds(23_400.0) == 39.0, "a regular session at 600x takes 39 s"
    assert ScaledClock(START, 0.5, WallClock()).wall_seconds(60.0) == 120.0


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan])
def test_a_clock_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be > 0"):
        ScaledClock(START, speed, WallClock())


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        ScaledClock(datetime(2026, 11, 25, 14, 30), 1.0, WallClock())


NY = ZoneInfo("America/New_York")


def ny(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=NY).timestamp()


def test_quiet_hours_are_weekday_nights_and_the_whole_weekend() -> None:
    quiet = QuietHours(60.0, weekday_hours(NY), NY)
    assert not quiet.quiet(ny(25, 9)) and not quiet.quiet(ny(25, 16, 59))  # Wednesday, active
    assert quiet.quiet(ny(25, 8, 59)) and quiet.quiet(ny(25, 17)) and quiet.quiet(ny(28, 12))  # Saturday
    assert quiet.next_change(ny(25, 12)) == ny(25, 17)
    assert quiet.next_change(ny(25, 17)) == ny(26, 9)
    assert quiet.next_change(ny(27, 17)) == ny(30, 9), "Friday night runs to Monday morning"


def test_a_clock_with_quiet_hours_runs_faster_through_them_and_back_at_speed_after() -> None:
    wall = WallClock(0.0)
    start = datetime.fromtimestamp(ny(25, 16), UTC)  # an hour before the quiet night
    clock = ScaledClock(start, 600.0, wall, quiet=QuietHours(100.0, weekday_hours(NY), NY))
    wall.at = 6.0  # 6 s at 600x: 16:00 -> 17:00
    assert clock.now().timestamp() == ny(25, 17)
    wall.at = 6.0 + 16 * 3600 / 60_000  # the night (16 h) at 60 000x: 0.96 s
    assert clock.now().timestamp() == pytest.approx(ny(26, 9))
    wall.at += 1.0  # and at 600x again
    assert clock.now().timestamp() == pytest.approx(ny(26, 9, 10))


def test_wall_seconds_through_quiet_hours_is_what_the_clock_takes_to_get_there() -> None:
    wall = WallClock(0.0)
    clock = ScaledClock(
        datetime.fromtimestamp(ny(27, 16), UTC), 600.0, wall, quiet=QuietHours(100.0, weekday_hours(NY), NY)
    )
    ahead = ny(30, 9, 30) - ny(27, 16)  # Friday 16:00 to Monday 09:30
    wait = clock.wall_seconds(ahead)
    assert wait == pytest.approx(3600 / 600 + (ny(30, 9) - ny(27, 17)) / 60_000 + 1800 / 600)
    wall.at = wait
    assert clock.now().timestamp() == pytest.approx(ny(30, 9, 30))


def test_a_clock_with_quiet_hours_rejoins_its_timeline_from_a_shared_origin() -> None:
    """A restarted process given the same start and origin reads the same time."""
    wall = WallClock(5000.0)
    start = datetime.fromtimestamp(ny(25, 9), UTC)
    first = ScaledClock(start, 2400.0, wall, origin=1000.0, quiet=QuietHours(60.0, weekday_hours(NY), NY))
    reading = first.now()
    again = ScaledClock(start, 2400.0, wall, origin=1000.0, quiet=QuietHours(60.0, weekday_hours(NY), NY))
    assert again.now() == reading and reading > start + timedelta(days=1)


def test_quiet_hours_follow_the_active_spans_they_are_given() -> None:
    """A calendar's spans: a holiday has none, an early close ends its span early."""
    spans = {25: (ny(25, 9), ny(25, 16, 30)), 27: (ny(27, 9), ny(27, 13, 30))}  # 11-26 a holiday
    quiet = QuietHours(60.0, lambda day: spans.get(day.day) if day.month == 11 else None, NY)
    assert quiet.quiet(ny(26, 12)) and quiet.quiet(ny(27, 14)) and not quiet.quiet(ny(27, 13))
    assert quiet.next_change(ny(25, 16, 30)) == ny(27, 9), "the holiday is skipped"
    assert quiet.next_change(ny(28, 0)) == ny(28, 0) + QuietHours.SEARCH_DAYS * 86_400, "no span ahead"


@pytest.mark.parametrize("factor", [0.5, 0.0])
def test_quiet_hours_never_run_slower(factor: float) -> None:
    with pytest.raises(ValueError, match="faster"):
        QuietHours(factor, weekday_hours(NY), NY)


# ------------------------------------------------------------------------ Backoff


@pytest.mark.parametrize(
    ("attempt", "full"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (7, 30.0), (100, 30.0), (10**9, 30.0)],
)
def test_the_delay_doubles_per_attempt_up_to_the_cap_and_is_jittered_down_to_half(
    attempt: int, full: float
) -> None:
    backoff = Backoff()  # 0.5 s doubling, capped at 30 s

    assert backoff.delay(attempt, Draw(0.0)) == full / 2
    assert backoff.delay(attempt, Draw(1.0)) == full
    assert backoff.delay(attempt, Draw(0.5)) == full * 0.75


@settings(max_examples=200, deadline=None)
@given(
    initial=st.floats(0.001, 10.0),
    cap=st.floats(0.001, 600.0),
    attempt=st.integers(0, 10_000),
    seed=st.integers(0, 2**32),
)
def test_every_delay_lies_within_half_to_all_of_the_capped_exponential(
    initial: float, cap: float, attempt: int, seed: int
) -> None:
    full = min(cap, initial * 2.0 ** min(attempt, 64))

    delay = Backoff(initial, cap).delay(attempt, random.Random(seed))

    assert full / 2 <= delay <= full
    assert delay <= cap


def test_a_seeded_generator_gives_a_repeatable_sequence_of_delays() -> None:
    backoff = Backoff(initial=0.01, cap=0.05)

    first = [backoff.delay(n, random.Random(7)) for n in range(10)]
    again = [backoff.delay(n, random.Random(7)) for n in range(10)]
    shared, shared_again = random.Random(42), random.Random(42)

    assert first == again
    assert [backoff.delay(n, shared) for n in range(10)] == [
        backoff.delay(n, shared_again) for n in range(10)
    ]
    assert len({backoff.delay(3, shared) for _ in range(20)}) > 1, "the jitter varies between draws"


def test_without_a_generator_the_delay_is_still_within_its_bounds() -> None:
    delays = [Backoff(initial=1.0, cap=4.0).delay(2) for _ in range(50)]

    assert all(2.0 <= d <= 4.0 for d in delays)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "kind",
    [
        ProviderAuthError,
        ProviderSubscriptionError,
        ProviderRateLimited,
        ProviderUnavailable,
        ProviderProtocolError,
        ProviderNotSupported,
    ],
)
def test_every_provider_failure_is_a_provider_error_of_its_own_kind(kind: type[ProviderError]) -> None:
    error = kind("the provider said no")

    assert isinstance(error, ProviderError)
    assert isinstance(error, MarketSessionError)
    assert str(error) == "the provider said no"
    others = {
        ProviderAuthError,
        ProviderSubscriptionError,
        ProviderRateLimited,
        ProviderUnavailable,
        ProviderProtocolError,
        ProviderNotSupported,
    } - {kind}
    assert not any(isinstance(error, other) for other in others), "callers decide by type"


def test_catching_a_retryable_kind_does_not_catch_an_auth_failure() -> None:
    with pytest.raises(ProviderAuthError):
        try:
            raise ProviderAuthError("401 unauthorized")
        except (ProviderUnavailable, ProviderRateLimited):
            pytest.fail("an auth failure was taken for a retryable one")


def test_a_rate_limit_says_when_to_come_back_if_the_provider_said() -> None:
    told = ProviderRateLimited("429 too many requests", retry_after=2.5)
    silent = ProviderRateLimited("429 too many requests")

    assert told.retry_after == 2.5
    assert silent.retry_after is None
    assert str(told) == "429 too many requests"


def test_a_rate_limit_keeps_its_retry_after_through_pickling() -> None:
    """Errors may cross a process or a queue as pickles (multiprocessing, logging handlers)."""
    error = ProviderRateLimited("429 too many requests", retry_after=7.0)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is ProviderRateLimited
    assert (str(copy), copy.retry_after) == ("429 too many requests", 7.0)


# ------------------------------------------------------------------------ LatencyStats


def test_latency_stats_start_empty() -> None:
    stats = LatencyStats()

    assert (stats.count, stats.total) == (0, 0.0)
    assert stats.quantile(0.5) is None
    assert stats.cumulative() == [(bound, 0) for bound in (*BUCKETS, math.inf)]


def test_a_record_counts_n_bars_and_their_summed_seconds() -> None:
    stats = LatencyStats()

    stats.record(0.002, n=10)
    stats.record(0.3)

    assert stats.count == 11
    assert stats.total == pytest.approx(10 * 0.002 + 0.3)


def test_cumulative_buckets_count_bars_at_or_below_each_bound() -> None:
    stats = LatencyStats()
    stats.record(0.001)  # exactly on a bound: counted in it ("le")
    stats.record(0.0011, n=2)
    stats.record(5.0)
    stats.record(7.5, n=3)  # above every bound: +Inf only

    buckets = dict(stats.cumulative())

    assert buckets[0.0005] == 0
    assert buckets[0.001] == 1
    assert buckets[0.0025] == 3
    assert buckets[2.5] == 3
    assert buckets[5.0] == 4
    assert buckets[math.inf] == stats.count == 7


def test_a_negative_latency_counts_as_zero() -> None:
    stats = LatencyStats()

    stats.record(-0.25, n=4)

    assert stats.count == 4
    assert stats.total == 0.0
    assert stats.cumulative()[0] == (BUCKETS[0], 4)
    assert stats.quantile(0.5) == 0.0


def test_quantiles_of_known_deliveries() -> None:
    stats = LatencyStats()
    for ms in range(1, 101):
        stats.record(ms / 1000)

    assert stats.quantile(0.0) == 0.001
    assert stats.quantile(1.0) == 0.1
    assert stats.quantile(0.5) in (0.05, 0.051)
    assert stats.quantile(0.99) in (0.099, 0.1)


def test_quantiles_cover_the_recent_window_only_while_the_histogram_keeps_everything() -> None:
    stats = LatencyStats(window=3)
    stats.record(9.0)
    for seconds in (0.01, 0.02, 0.03):
        stats.record(seconds)

    assert stats.quantile(1.0) == 0.03, "the 9 s delivery left the window"
    assert stats.quantile(0.0) == 0.01
    assert stats.count == 4
    assert dict(stats.cumulative())[5.0] == 3
    assert dict(stats.cumulative())[math.inf] == 4


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=60),
    q=st.floats(0.0, 1.0),
)
def test_a_quantile_is_a_recorded_value_splitting_the_deliveries_at_q(values: list[float], q: float) -> None:
    stats = LatencyStats()
    for value in values:
        stats.record(value)

    result = stats.quantile(q)

    assert result in values
    n = len(values)
    assert sum(v <= result for v in values) >= q * n, "at least a fraction q at or below it"
    assert sum(v < result for v in values) <= q * n, "at most a fraction q strictly below it"
    buckets = stats.cumulative()
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)
    assert buckets[-1] == (math.inf, n)
