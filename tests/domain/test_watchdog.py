"""The feed watchdog: a kind stalls when nothing of it arrived, from any symbol, for its limit of
regular-session seconds; reported again one limit later, then two, four … at most sixteen apart;
a delivery ends it."""

from __future__ import annotations

from domain.session.watchdog import FeedWatchdog, Stall

OPEN, CLOSE = 1_751_463_000, 1_751_486_400


def watchdog() -> FeedWatchdog:
    dog = FeedWatchdog({"bars": 180, "quotes": 30, "trades": 0})
    dog.begin_day(OPEN, CLOSE)
    return dog


def test_silence_before_the_open_and_after_the_close_is_no_stall() -> None:
    dog = watchdog()
    assert dog.check(OPEN - 3_600) == [] and dog.check(CLOSE + 600) == []
    assert dog.check(OPEN + 29) == []  # the open starts the count
    assert dog.check(OPEN + 30) == [Stall("quotes", OPEN, OPEN + 30)]


def test_each_kind_is_watched_on_its_own_and_reported_again_each_further_limit() -> None:
    dog = watchdog()
    for t in range(OPEN, OPEN + 600, 5):
        dog.delivered("quotes", t)
    dog.delivered("bars", OPEN + 60)
    assert dog.check(OPEN + 239) == []
    assert dog.check(OPEN + 240) == [Stall("bars", OPEN + 60, OPEN + 240)]
    assert dog.check(OPEN + 300) == []  # reported; a reconnect gets its chance
    assert dog.check(OPEN + 420) == [Stall("bars", OPEN + 60, OPEN + 420)]  # still mute: again
    assert [s.kind for s in dog.stalled] == ["bars"]
    dog.delivered("bars", OPEN + 430)
    assert dog.stalled == () and dog.check(OPEN + 500) == []
    assert (
        Stall("bars", OPEN + 60, OPEN + 240).describe()
        == "no bars for 180s of session time (since 13:31:00Z)"
    )


def test_a_feed_that_stays_mute_is_retried_ever_less_often_and_a_delivery_starts_over() -> None:
    dog = FeedWatchdog({"quotes": 60})
    dog.begin_day(OPEN, CLOSE)
    reported = [t - OPEN for t in range(OPEN, OPEN + 3 * 3_600, 10) if dog.check(t)]
    assert reported[:7] == [60, 120, 240, 480, 960, 1920, 2880], "then every sixteen limits"
    assert len(reported) == 15  # three silent hours: 15 reconnects, not 180
    dog.delivered("quotes", OPEN + 3 * 3_600)
    assert dog.check(OPEN + 3 * 3_600 + 60) == [Stall("quotes", OPEN + 3 * 3_600, OPEN + 3 * 3_600 + 60)]


def test_a_new_day_forgets_the_last_one_and_a_zero_limit_is_not_watched() -> None:
    dog = watchdog()
    dog.check(OPEN + 200)
    dog.begin_day(OPEN + 86_400, CLOSE + 86_400)
    assert dog.stalled == () and dog.check(OPEN + 86_400 + 10) == []
    assert all(s.kind != "trades" for s in dog.check(CLOSE + 86_400 - 1))
