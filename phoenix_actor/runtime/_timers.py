"""TimerService: one thread and a heap of deadlines for all the timers of a pool.

Heartbeats, reconnect backoff and reply deadlines are all "tell this actor that later,
unless cancelled first". A thread per timer would cost what the pool saves, so one
thread sleeps until the earliest deadline, runs what is due, and sleeps again. It starts
with the first timer and ends when none is pending. Cancelled timers are dropped from
the heap lazily, and the heap is rebuilt when they are more than half of it, so a
socket that sets and cancels a reply deadline per request keeps it small.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

logger = logging.getLogger("phoenix_actor.runtime")

#: The longest single wait (Condition.wait overflows past threading.TIMEOUT_MAX).
_LONGEST_WAIT = 3600.0
#: Rebuild the heap when more than this many (and more than half) are cancelled.
_COMPACT_AFTER = 64

_PENDING, _RAN, _CANCELLED = 0, 1, 2


class TimerHandle:
    """A pending call made by :meth:`TimerService.call_later`; :meth:`cancel` stops it."""

    __slots__ = ("_service", "_state", "callback", "deadline")

    def __init__(self, service: TimerService, deadline: float, callback: Callable[[], None]):
        self._service = service
        self._state = _PENDING
        #: When it is due, on the service's clock (``time.monotonic`` by default).
        self.deadline = deadline
        #: What it runs.
        self.callback = callback

    def __repr__(self) -> str:
        state = ("pending", "ran", "cancelled")[self._state]
        return f"<TimerHandle {state} deadline={self.deadline:.3f}>"

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` stopped it."""
        return self._state == _CANCELLED

    @property
    def pending(self) -> bool:
        """True until it runs or is cancelled."""
        return self._state == _PENDING

    def cancel(self) -> bool:
        """Make sure it does not run; True if this call stopped it, False if it ran (or
        began to run) or was already cancelled. Safe from any thread, at any time."""
        return self._service._cancel(self)


class TimerService:
    """Runs callbacks at deadlines, all on one lazily started daemon thread.

    Callbacks run on the timer thread, one after another: they must be quick and must
    not block (``ref.tell`` is the intended use; :meth:`tell_later` does just that). An
    exception in one is logged and the others still run.

    Args:
        name: the thread's name.
        clock: the clock deadlines are on (``time.monotonic``; tests may pass another).
    """

    def __init__(
        self, *, name: str = "phoenix_actor-timer", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self._clock = clock
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closed = False

    def __len__(self) -> int:
        """The timers still pending."""
        with self._wake:
            return len(self._heap) - self._cancelled

    @property
    def running(self) -> bool:
        """True while the timer thread is alive (it ends when no timer is pending)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback()`` on the timer thread ``delay`` seconds from now.

        Timers run in deadline order; timers with the same deadline in the order they
        were set. A ``delay`` <= 0 runs it as soon as the thread can.

        Raises:
            TypeError: ``delay`` is not a number, or ``callback`` is not callable.
            ValueError: ``delay`` is NaN.
            RuntimeError: the service was shut down.
        """
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError(f"delay must be a number of seconds, not {delay!r:.100}")
        if math.isnan(delay):
            raise ValueError("delay must be a number of seconds, not NaN")
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r:.100}")
        handle = TimerHandle(self, self._clock() + max(float(delay), 0.0), callback)
        with self._wake:
            if self._closed:
                raise RuntimeError(f"timer service {self.name!r} is shut down")
            heapq.heappush(self._heap, (handle.deadline, next(self._order), handle))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is handle:
                self._wake.notify()  # earlier than what the thread sleeps until
        return handle

    def tell_later(self, ref: pykka.ActorRef[Any], delay: float, message: object) -> TimerHandle:
        """Tell ``ref`` ``message`` after ``delay`` seconds, unless cancelled first.

        Nothing happens if the actor has stopped by then.
        """
        tell = ref.tell

        def deliver() -> None:
            try:
                tell(message)
            except pykka.ActorDeadError:
                pass

        return self.call_later(delay, deliver)

    def shutdown(self, *, timeout: float | None = 5.0) -> bool:
        """Drop every pending timer and end the thread; later ``call_later`` raise.

        Returns True when the thread ended within ``timeout`` seconds.
        """
        with self._wake:
            self._closed = True
            for _, _, handle in self._heap:
                handle._state = _CANCELLED
            self._heap.clear()
            self._cancelled = 0
            self._wake.notify()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _cancel(self, handle: TimerHandle) -> bool:
        with self._wake:
            if handle._state != _PENDING:
                return False
            handle._state = _CANCELLED
            self._cancelled += 1
            if self._cancelled > _COMPACT_AFTER and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if e[2]._state == _PENDING]
                heapq.heapify(self._heap)
                self._cancelled = 0
            if not self._heap or self._heap[0][2] is handle:
                self._wake.notify()  # let the thread skip it, or end
        return True

    def _next_due(self) -> TimerHandle | None:
        """Wait for the next due timer and mark it run; None when none is pending."""
        with self._wake:
            while True:
                heap = self._heap
                while heap and heap[0][2]._state == _CANCELLED:
                    heapq.heappop(heap)
                    self._cancelled -= 1
                if not heap:
                    self._thread = None
                    return None
                deadline, _, handle = heap[0]
                wait = deadline - self._clock()
                if wait <= 0:
                    heapq.heappop(heap)
                    handle._state = _RAN
                    return handle
                self._wake.wait(min(wait, _LONGEST_WAIT))

    def _run(self) -> None:
        while (handle := self._next_due()) is not None:
            try:
                handle.callback()
            except Exception:
                logger.exception("%s: a timer callback failed", self.name)
