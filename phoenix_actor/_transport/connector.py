"""A few threads that open connections, so that no actor ever waits on a network.

Opening a websocket blocks: DNS, the TCP connect, a proxy, the TLS handshake and the
HTTP upgrade each wait for the other end, up to ``connect_timeout``. A transport actor
hands that work to the connector and goes on taking messages; the connector tells it
the outcome. Threads start when work comes (at most :data:`MAX_THREADS` at once, so that
many sockets connect in parallel) and end after :data:`KEEP_ALIVE` idle seconds. They
are daemon threads: a connect in progress never keeps the interpreter from exiting.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("phoenix_actor.transport")

#: The most connects in progress at once; more wait in line.
MAX_THREADS = 8
#: Seconds an idle connector thread waits for work before it ends.
KEEP_ALIVE = 5.0


class Connector:
    """Runs connect jobs on up to ``max_threads`` daemon threads (see the module)."""

    def __init__(self, max_threads: int = MAX_THREADS, keep_alive: float = KEEP_ALIVE) -> None:
        self._max_threads = max_threads
        self._keep_alive = keep_alive
        self._lock = threading.Condition(threading.Lock())
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._threads = 0
        self._idle = 0
        self._numbers = itertools.count(1)

    @property
    def threads(self) -> int:
        """Connector threads alive now."""
        return self._threads

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job()`` on a connector thread; it must catch its own exceptions."""
        with self._lock:
            self._jobs.append(job)
            self._lock.notify()
            if len(self._jobs) <= self._idle or self._threads >= self._max_threads:
                return  # an idle thread takes it, or a busy one does next
            self._threads += 1
            name = f"phoenix_actor-connector-{next(self._numbers)}"
        try:
            threading.Thread(target=self._work, name=name, daemon=True).start()
        except BaseException:
            with self._lock:
                self._threads -= 1
            raise

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._jobs:
                    self._idle += 1
                    notified = self._lock.wait(self._keep_alive)
                    self._idle -= 1
                    if not notified and not self._jobs:
                        self._threads -= 1
                        return
                job = self._jobs.popleft()
            try:
                job()
            except Exception:  # a bug of ours: the job was to report its own failures
                logger.exception("a connect job failed")


#: The process's connector.
CONNECTOR = Connector()
