"""Provider fault specs (SPEC §10) as ``serve --fault`` reads them: drop a fraction or a
time span of streamed bars, disconnect for a while, deliver late or twice, lag, fail fetches;
bad specs refused naming the spec; refused outside live runs; exchange times resolved to UTC
timestamps of the replayed day, daylight saving time included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from domain.errors import FaultError
from ops.faults import ProviderFaults, parse_faults
from ops.providers.replay import ReplayFaults

NY = ZoneInfo("America/New_York")


def provider(*specs: str) -> ProviderFaults:
    return parse_faults(specs, live=True).provider


def utc(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp())


# ------------------------------------------------------------------------ good specs


@pytest.mark.parametrize(
    ("spec", "field", "value"),
    [
        ("drop:0.05", "drop_fraction", 0.05),
        ("drop:5%", "drop_fraction", 0.05),
        ("drop:0", "drop_fraction", 0.0),
        ("drop:100%", "drop_fraction", 1.0),
        ("late:2%", "late_fraction", 0.02),
        ("late:0.5", "late_fraction", 0.5),
        ("duplicate:0.01", "duplicate_fraction", 0.01),
        ("duplicate:1", "duplicate_fraction", 1.0),
        ("lag:3", "lag_seconds", 3.0),
        ("lag:2.5s", "lag_seconds", 2.5),
        ("lag:0", "lag_seconds", 0.0),
        ("fetch-fail:2", "fetch_failures", 2),
        ("drop:10:00-10:15", "drop_ranges", [(time(10, 0), time(10, 15))]),
        ("drop:9:30-9:31", "drop_ranges", [(time(9, 30), time(9, 31))]),
        ("disconnect:11:00+300", "disconnects", [(time(11, 0), 300)]),
        ("disconnect:11:00+300s", "disconnects", [(time(11, 0), 300)]),
        ("disconnect:11:00+5m", "disconnects", [(time(11, 0), 300)]),
        ("disconnect:9:45+1", "disconnects", [(time(9, 45), 1)]),
    ],
)
def test_a_provider_fault_spec_sets_its_fault(spec: str, field: str, value: object) -> None:
    faults = provider(spec)

    expected = pytest.approx(value) if isinstance(value, float) else value
    assert getattr(faults, field) == expected
    untouched = {name: default for name, default in vars(ProviderFaults()).items() if name != field}
    assert {name: getattr(faults, name) for name in untouched} == untouched


def test_several_specs_combine_into_one_plan() -> None:
    plan = parse_faults(
        [
            "drop:5%",
            "drop:10:00-10:15",
            "drop:15:00-15:01",
            "disconnect:11:00+5m",
            "disconnect:14:00+30",
            "late:2%",
            "duplicate:0.01",
            "lag:3",
            "fetch-fail:2",
            "fetch-fail:3",
            " crash:gap_filler@4 ",
        ],
        live=True,
    )

    assert plan.provider == ProviderFaults(
        drop_fraction=0.05,
        drop_ranges=[(time(10), time(10, 15)), (time(15), time(15, 1))],
        disconnects=[(time(11), 300), (time(14), 30)],
        late_fraction=0.02,
        duplicate_fraction=0.01,
        lag_seconds=3.0,
        fetch_failures=5,
    )
    assert plan.provider.any
    assert [crash.actor for crash in plan.crashes] == ["gap_filler"]


def test_no_provider_fault_leaves_the_provider_faults_empty() -> None:
    plan = parse_faults([], live=True)

    assert not plan.provider.any


@pytest.mark.parametrize("spec", ["lag:0.5", "fetch-fail:1", "drop:9:30-9:31", "disconnect:9:30+1"])
def test_each_provider_fault_alone_sets_the_provider_faults(spec: str) -> None:
    plan = parse_faults([spec], live=True)

    assert plan.provider.any


# ------------------------------------------------------------------------ bad specs


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("drop:1.5", "between 0 and 1"),
        ("drop:150%", "between 0 and 1"),
        ("drop:-0.1", "between 0 and 1"),
        ("drop:nan", "between 0 and 1"),
        ("drop:lots", "between 0 and 1"),
        ("late:2%%", "between 0 and 1"),
        ("duplicate:twice", "between 0 and 1"),
        ("drop:10:15-10:00", "start before end"),
        ("drop:10:00-10:00", "start before end"),
        ("drop:10:00-24:00", "start before end"),
        ("drop:10:00-10:60", "start before end"),
        ("disconnect:25:00+5", "disconnect:HH:MM+SECONDS"),
        ("disconnect:11:00+0", "disconnect:HH:MM+SECONDS"),
        ("disconnect:11:00", "disconnect:HH:MM+SECONDS"),
        ("disconnect:11:00+5h", "disconnect:HH:MM+SECONDS"),
        ("disconnect:11:00-5", "disconnect:HH:MM+SECONDS"),
        ("lag:-1", "seconds >= 0"),
        ("lag:soon", "seconds >= 0"),
        ("fetch-fail:0", "positive number"),
        ("fetch-fail:-2", "positive number"),
        ("fetch-fail:two", "positive number"),
        ("fetch-fail:1.5", "positive number"),
        ("drop:", "expected"),
        ("stall:0.5", "expected"),
    ],
)
def test_a_bad_provider_spec_is_refused_naming_the_spec(spec: str, needle: str) -> None:
    with pytest.raises(FaultError) as info:
        parse_faults([spec], live=True)

    [violation] = info.value.violations
    assert violation.path == f"--fault {spec}"
    assert needle in violation.message
    assert spec in str(violation)


def test_every_bad_spec_is_named_at_once() -> None:
    with pytest.raises(FaultError, match="2 bad fault spec") as info:
        parse_faults(["drop:1.5", "lag:3", "fetch-fail:0"], live=True)

    assert [v.path for v in info.value.violations] == ["--fault drop:1.5", "--fault fetch-fail:0"]


@pytest.mark.parametrize("spec", ["lag:nan", "lag:inf", "lag:1e999"])
def test_a_lag_that_is_not_a_finite_number_of_seconds_is_refused(spec: str) -> None:
    with pytest.raises(FaultError):
        parse_faults([spec], live=True)


def test_a_fetch_fail_count_in_superscript_digits_is_refused_as_a_bad_spec() -> None:
    with pytest.raises(FaultError):
        parse_faults(["fetch-fail:²"], live=True)


@pytest.mark.parametrize(
    "spec",
    [
        "drop:0.05",
        "drop:5%",
        "drop:10:00-10:15",
        "disconnect:11:00+300",
        "late:2%",
        "duplicate:0.01",
        "lag:3",
        "fetch-fail:2",
    ],
)
def test_provider_faults_are_refused_outside_a_live_run(spec: str) -> None:
    with pytest.raises(FaultError) as info:
        parse_faults([spec])
    with pytest.raises(FaultError):
        parse_faults([spec], live=False)

    [violation] = info.value.violations
    assert spec in str(violation)
    assert "serve" in violation.message
    assert "live provider" in violation.message


def test_actor_faults_are_accepted_in_a_live_run_too() -> None:
    plan = parse_faults(["crash:gap_filler@2", "store-fail:writes@1", "delay:time_manager@5"], live=True)

    assert not plan.provider.any
    assert plan.store_failures == {"writes": 1}
    assert plan.delays == {"time_manager": 0.005}


# ------------------------------------------------------------------------ resolving exchange times


def test_a_july_day_resolves_new_york_times_four_hours_behind_utc() -> None:
    day = date(2025, 7, 2)
    faults = provider("drop:10:00-10:15", "disconnect:11:00+300", "disconnect:15:59+5m")

    resolved = faults.resolve(day, NY)

    assert resolved["drop_ranges"] == ((utc(day, 14), utc(day, 14, 15)),)
    assert resolved["disconnects"] == ((utc(day, 15), utc(day, 15, 5)), (utc(day, 19, 59), utc(day, 20, 4)))


def test_a_december_day_resolves_new_york_times_five_hours_behind_utc() -> None:
    day = date(2025, 12, 2)
    faults = provider("drop:10:00-10:15", "disconnect:11:00+300")

    resolved = faults.resolve(day, NY)

    assert resolved["drop_ranges"] == ((utc(day, 15), utc(day, 15, 15)),)
    assert resolved["disconnects"] == ((utc(day, 16), utc(day, 16, 5)),)


def test_the_days_around_the_dst_switch_resolve_to_their_own_offsets() -> None:
    faults = provider("drop:09:30-09:31")

    friday = faults.resolve(date(2025, 3, 7), NY)["drop_ranges"][0]  # EST
    monday = faults.resolve(date(2025, 3, 10), NY)["drop_ranges"][0]  # EDT since Sunday

    assert friday == (utc(date(2025, 3, 7), 14, 30), utc(date(2025, 3, 7), 14, 31))
    assert monday == (utc(date(2025, 3, 10), 13, 30), utc(date(2025, 3, 10), 13, 31))


def test_resolved_faults_are_the_arguments_of_a_replays_faults() -> None:
    day = date(2026, 11, 25)
    faults = provider("drop:5%", "late:2%", "duplicate:0.01", "lag:3", "fetch-fail:2", "disconnect:11:00+5m")

    replay = ReplayFaults(**faults.resolve(day, NY), seed=7)

    assert replay == ReplayFaults(
        drop_fraction=0.05,
        drop_ranges=(),
        late_fraction=0.02,
        duplicate_fraction=0.01,
        lag_seconds=3.0,
        disconnects=((utc(day, 16), utc(day, 16, 5)),),
        fetch_failures=2,
        seed=7,
    )
    assert ReplayFaults(**ProviderFaults().resolve(day, NY)) == ReplayFaults()
