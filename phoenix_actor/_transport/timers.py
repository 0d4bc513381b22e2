"""One timer thread for the whole process; it exits when no timer is pending.

Timers only ``tell`` actors (cheap and non-blocking), so one thread serves every socket.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

logger = logging.getLogger("phoenix_actor.timers")

#: The longest single wait (Condition.wait overflows past threading.TIMEOUT_MAX).
_LONGEST_WAIT = 3600.0


class Timer:
    """A scheduled call; ``cancel()`` makes sure it does not run (if it has not yet)."""

    __slots__ = ("_scheduler", "callback", "cancelled", "deadline")

    def __init__(self, scheduler: Scheduler, deadline: float, callback: Callable[[], None]):
        self._scheduler = scheduler
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run (a no-op once it ran). The timer thread ends if nothing else waits."""
        self.cancelled = True
        self._scheduler._poke()


class Scheduler:
    """Runs callbacks at monotonic deadlines on a single lazily started daemon thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` after ``delay`` seconds, on the timer thread."""
        timer = Timer(self, self._clock() + max(delay, 0.0), callback)
        with self._wake:
            heapq.heappush(self._heap, (timer.deadline, next(self._order), timer))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="phoenix_actor-timers", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return timer

    def _poke(self) -> None:
        with self._wake:
            self._wake.notify()

    def _next_due(self) -> Timer | None:
        """Wait for the next due timer; None when nothing is pending (the thread ends)."""
        with self._wake:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._thread = None
                    return None
                deadline, _, timer = self._heap[0]
                wait = deadline - self._clock()
                if wait <= 0:
                    heapq.heappop(self._heap)
                    return timer
                self._wake.wait(min(wait, _LONGEST_WAIT))

    def _run(self) -> None:
        while (timer := self._next_due()) is not None:
            if timer.cancelled:
                continue
            try:
                timer.callback()
            except Exception:
                logger.exception("a timer callback failed")


#: The process-wide scheduler.
SCHEDULER = Scheduler()


def _tell_quietly(tell: Callable[[Any], None], message: object) -> None:
    try:
        tell(message)
    except pykka.ActorDeadError:
        pass  # the socket stopped meanwhile


def tell_later(ref: pykka.ActorRef[Any], delay: float, message: object) -> Timer:
    """Tell ``ref`` ``message`` after ``delay`` seconds, from the shared timer thread;
    nothing happens if the actor has stopped by then."""
    tell = ref.tell
    return SCHEDULER.call_later(delay, lambda: _tell_quietly(tell, message))


def call_later(delay: float, callback: Callable[[], None]) -> Timer:
    """Run ``callback()`` (quick, never blocking) after ``delay`` seconds on the shared
    timer thread."""
    return SCHEDULER.call_later(delay, callback)
