"""Timer messages: deliver a message to an actor at a later moment (SPEC §5: paced by timer
messages, never by sleeping inside an actor).

One daemon thread per :class:`Timer` keeps a heap of due messages and ``tell``s each when its
moment comes; it waits on a condition with a timeout, so it wakes for new, earlier entries and
for :meth:`Timer.close`. Deadlines are ``time.monotonic()`` values, so a paced replay scheduled
at absolute times (``t0 + k·period``) does not drift with handler latency.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from typing import Any

import pykka

__all__ = ["Timer"]


class Timer:
    """Sends ``message`` to ``ref`` at a monotonic deadline; see the module docstring."""

    def __init__(self, name: str = "marketsession-timer") -> None:
        self._heap: list[tuple[float, int, pykka.ActorRef[Any], Any]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def send_at(self, deadline: float, ref: pykka.ActorRef[Any], message: Any) -> int:
        """Tell ``message`` to ``ref`` once ``time.monotonic() >= deadline``; a handle to cancel."""
        with self._cond:
            if self._closed:
                raise RuntimeError("timer is closed")
            handle = next(self._ids)
            heapq.heappush(self._heap, (deadline, handle, ref, message))
            self._cond.notify()
        return handle

    def send_after(self, delay: float, ref: pykka.ActorRef[Any], message: Any) -> int:
        return self.send_at(time.monotonic() + max(0.0, delay), ref, message)

    def cancel(self, handle: int) -> None:
        with self._cond:
            self._cancelled.add(handle)

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
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait(1.0)  # bounded: re-checks ``_closed`` at least every second
                if self._closed:
                    return
                _, handle, ref, message = heapq.heappop(self._heap)
                if handle in self._cancelled:
                    self._cancelled.discard(handle)
                    continue
            with contextlib.suppress(pykka.ActorDeadError):  # stopped before its timer fired
                ref.tell(message)
