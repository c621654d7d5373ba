"""Timer messages on the wall clock and on a time the test moves (ManualTime)."""

from __future__ import annotations

import queue
from typing import Any

import pykka
import pytest

from actors.timer import ManualTime, Timer

WAIT = 10.0


class Inbox(pykka.ThreadingActor):
    def __init__(self, received: queue.Queue[Any]) -> None:
        super().__init__()
        self.received = received

    def on_receive(self, message: Any) -> None:
        self.received.put(message)


def test_on_manual_time_a_message_comes_exactly_when_an_advance_passes_its_moment() -> None:
    time = ManualTime()
    timer = Timer(time=time)
    received: queue.Queue[Any] = queue.Queue()
    inbox = Inbox.start(received)
    try:
        timer.send_after(2.0, inbox, "two")
        timer.send_after(1.0, inbox, "one")
        time.advance(0.5)
        assert inbox.ask("sync", timeout=WAIT) is None and received.get(timeout=WAIT) == "sync"
        assert received.empty()  # nothing was due at 0.5
        time.advance(1.6)  # to 2.1: "one" and "two" are due, in their order
        assert [received.get(timeout=WAIT), received.get(timeout=WAIT)] == ["one", "two"]
        assert timer.now() == pytest.approx(2.1)
    finally:
        timer.close()
        inbox.stop()


def test_time_only_moves_forward() -> None:
    with pytest.raises(ValueError, match="only moves forward"):
        ManualTime().advance(-1.0)


def test_on_the_wall_clock_a_message_due_now_comes_at_once() -> None:
    timer = Timer()
    received: queue.Queue[Any] = queue.Queue()
    inbox = Inbox.start(received)
    try:
        timer.send_after(0.0, inbox, "now")
        assert received.get(timeout=WAIT) == "now"
    finally:
        timer.close()
        inbox.stop()
