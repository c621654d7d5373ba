"""Timer messages: deliver a message to an actor at a later moment (SPEC §5: paced by timer
messages, never by sleeping inside an actor).

One daemon thread per :class:`Timer` keeps a heap of due messages and ``tell``s each when its
moment comes; it waits on a condition with a timeout, so it wakes for new, earlier entries and
for :meth:`Timer.close`. Deadlines are values of the timer's time — :class:`WallTime`
(``time.monotonic()``) unless told otherwise — so a paced replay scheduled at absolute times
(``t0 + k·period``) does not drift with handler latency.

:class:`ManualTime` moves only when :meth:`ManualTime.advance` is called: a timer on it fires
exactly the messages whose moments an advance passes. A paced replay on it takes exactly
``seconds × speed / interval`` steps per advance of ``seconds``, however busy the machine —
what tests (the engine's, or a host's) use instead of waiting on the wall clock.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from typing import Any

import pykka

__all__ = ["ManualTime", "Timer", "WallTime"]


class WallTime:
    """The wall clock: ``time.monotonic()``, and real waits."""

    def now(self) -> float:
        return time.monotonic()

    def attach(self, condition: threading.Condition) -> None:
        """Nothing to do: a wait on the wall clock ends by its timeout."""

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        condition.wait(seconds)


class ManualTime:
    """A time that stands still until :meth:`advance` moves it (see the module docstring)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._conditions: list[threading.Condition] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds`` and wake every timer on it."""
        if not seconds >= 0:
            raise ValueError(f"time only moves forward, got {seconds}")
        with self._lock:
            self._now += seconds
            conditions = list(self._conditions)
        for condition in conditions:
            with condition:
                condition.notify_all()

    def attach(self, condition: threading.Condition) -> None:
        with self._lock:
            self._conditions.append(condition)

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        condition.wait(1.0)  # woken by advance() or close(); bounded all the same


class Timer:
    """Sends ``message`` to ``ref`` at a deadline of its time; see the module docstring."""

    def __init__(self, time: WallTime | ManualTime | None = None) -> None:
        self._time = time or WallTime()
        self._heap: list[tuple[float, int, pykka.ActorRef[Any], Any]] = []
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._time.attach(self._cond)
        self._thread = threading.Thread(target=self._run, name="marketsession-timer", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return self._time.now()

    def send_at(self, deadline: float, ref: pykka.ActorRef[Any], message: Any) -> None:
        """Tell ``message`` to ``ref`` once the time reaches ``deadline``."""
        with self._cond:
            if self._closed:
                raise RuntimeError("timer is closed")
            heapq.heappush(self._heap, (deadline, next(self._ids), ref, message))
            self._cond.notify()

    def send_after(self, delay: float, ref: pykka.ActorRef[Any], message: Any) -> None:
        self.send_at(self._time.now() + max(0.0, delay), ref, message)

    def close(self, timeout: float = 2.0) -> None:
        """Drop everything pending and stop the thread (joined within ``timeout``)."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._heap:
                        wait = self._heap[0][0] - self._time.now()
                        if wait <= 0:
                            break
                        self._time.wait(self._cond, wait)
                    else:
                        self._cond.wait(1.0)  # bounded: re-checks ``_closed`` at least every second
                if self._closed:
                    return
                _, _, ref, message = heapq.heappop(self._heap)
            with contextlib.suppress(pykka.ActorDeadError):  # stopped before its timer fired
                ref.tell(message)
