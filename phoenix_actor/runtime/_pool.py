"""The worker pool: a few threads that run every pooled actor, one turn at a time.

A *turn* is what a worker does for one actor when it takes it from the run queue: up to
``messages_per_turn`` messages (or ``on_start``), then the actor goes back to the end of
the queue if more mail is waiting. The pool keeps ``size`` workers able to run turns:

- a worker that waits on a :class:`PooledFuture` says so (*managed blocking*), and the
  pool starts a spare worker in its place, up to ``max_workers`` threads in all;
- a monitor thread notices a worker that has been in one message (or ``on_start``) for
  ``stall_timeout`` seconds, blocking where the pool cannot see it (a socket, a lock, a
  ``ThreadingFuture``), counts it as blocked, starts a spare, and logs a WARNING naming
  the actor (once per actor).

Spare workers end after ``keep_alive`` idle seconds once the blocked ones are back.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pykka

    from phoenix_actor.runtime._timers import TimerHandle, TimerService

logger = logging.getLogger("phoenix_actor.runtime")

#: Workers of the default pool: 2 to 4, following the number of CPUs.
DEFAULT_SIZE = max(2, min(4, os.cpu_count() or 2))
#: The most threads one pool runs, spares for blocked workers included.
DEFAULT_MAX_WORKERS = 64
#: Seconds a worker may spend in one message before it counts as stalled.
DEFAULT_STALL_TIMEOUT = 1.0
#: Seconds an idle spare worker waits for work before it ends.
DEFAULT_KEEP_ALIVE = 10.0

_STOP = object()
_local = threading.local()


class _Worker:
    """One worker thread's state, read by the monitor without a lock.

    ``turns`` counts the turns begun, ``task`` is the turn being run (None when idle);
    ``blocking`` is true while the worker waits on a pooled future (the pool already
    compensates for it) and ``stalled`` once the monitor has counted it as blocked.
    """

    __slots__ = ("blocking", "pool", "stalled", "task", "thread", "turns")

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.task: Callable[[], None] | None = None
        self.turns = 0
        self.blocking = False
        self.stalled = False
        self.thread: threading.Thread | None = None


def current_worker() -> _Worker | None:
    """The pool worker running this thread, or None outside every pool."""
    worker: _Worker | None = getattr(_local, "worker", None)
    return worker


def task_owner(task: Callable[[], None] | None) -> object:
    """What a turn runs for (the actor of a bound ``_pooled_turn``), for log lines."""
    return getattr(task, "__self__", task)


class WorkerPool:
    """A small set of daemon threads shared by every :class:`PooledActor` that uses it.

    * ``size``: workers kept able to run actors (default: 2 to 4, after the CPUs).
    * ``max_workers``: the most worker threads at once, spares for blocked workers
      included (default 64). When every one of them is blocked, the pool logs an ERROR
      and further turns wait.
    * ``stall_timeout``: seconds a worker may spend in one message before the monitor
      counts it as blocked, starts a spare and logs a WARNING (default 1.0).
    * ``keep_alive``: seconds an idle spare worker waits before it ends (default 10).
    * ``name``: prefix of the threads' names: ``NAME-1``, ``NAME-monitor``, ``NAME-timer``.

    Threads start with the first actor; :meth:`shutdown` ends them. They are daemon
    threads, so an idle pool never keeps the interpreter from exiting.
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
        keep_alive: float = DEFAULT_KEEP_ALIVE,
        name: str = "phoenix_actor-pool",
    ) -> None:
        size = DEFAULT_SIZE if size is None else size
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be an int >= 1, not {size!r}")
        if not isinstance(max_workers, int) or max_workers < size:
            raise ValueError(f"max_workers must be an int >= size ({size}), not {max_workers!r}")
        for label, value in (("stall_timeout", stall_timeout), ("keep_alive", keep_alive)):
            if not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{label} must be a number of seconds > 0, not {value!r}")
        self.size = size
        self.max_workers = max_workers
        self.stall_timeout = float(stall_timeout)
        self.keep_alive = float(keep_alive)
        self.name = name
        self._runq: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._blocked = 0
        self._numbers = itertools.count(1)
        self._started = False
        self._closed = False
        self._saturated = False
        self._monitor_wake = threading.Event()
        self._monitor: threading.Thread | None = None
        self._timers: TimerService | None = None

    def __repr__(self) -> str:
        return (
            f"<WorkerPool {self.name!r} size={self.size} workers={len(self._workers)} "
            f"blocked={self._blocked}>"
        )

    # -- the public surface -------------------------------------------------------

    @property
    def threads(self) -> int:
        """The worker threads alive now (spares included; the monitor and timer not)."""
        return len(self._workers)

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` was called."""
        return self._closed

    @property
    def timers(self) -> TimerService:
        """The pool's timer service (one thread for all its timers), made on first use."""
        if self._timers is None:
            from phoenix_actor.runtime._timers import TimerService

            with self._lock:
                if self._timers is None:
                    self._timers = TimerService(name=f"{self.name}-timer")
        return self._timers

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` on the pool's timer thread after ``delay`` seconds.

        See :meth:`TimerService.call_later`.
        """
        return self.timers.call_later(delay, callback)

    def tell_later(self, ref: pykka.ActorRef[Any], delay: float, message: object) -> TimerHandle:
        """Tell ``ref`` ``message`` after ``delay`` seconds; see :meth:`TimerService.tell_later`."""
        return self.timers.tell_later(ref, delay, message)

    def shutdown(self, *, timeout: float | None = 5.0) -> bool:
        """End the pool's threads: workers, monitor and timer; for tests and clean exits.

        Turns already queued run first; afterwards, starting an actor on this pool or
        telling one of its actors raises ``RuntimeError``, so stop the actors first.
        Returns True when every thread ended within ``timeout`` seconds.
        """
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            for _ in workers:
                self._runq.put(_STOP)
        self._monitor_wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        threads = [w.thread for w in workers if w.thread is not None]
        if self._monitor is not None:
            threads.append(self._monitor)
        ended = True
        if self._timers is not None:
            ended = self._timers.shutdown(timeout=timeout)
        for thread in threads:
            if thread is threading.current_thread():
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
            ended = ended and not thread.is_alive()
        return ended

    # -- used by PooledActor and PooledFuture -------------------------------------

    def _start(self) -> Callable[[Callable[[], None]], None]:
        """Start the threads if needed; return the function that queues a turn."""
        if not self._started:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"{self!r} is shut down")
                if not self._started:
                    self._started = True
                    self._fill()
                    self._monitor = threading.Thread(
                        target=self._watch, name=f"{self.name}-monitor", daemon=True
                    )
                    self._monitor.start()
        elif self._closed:
            raise RuntimeError(f"{self!r} is shut down")
        return self._submit

    def _submit(self, task: Callable[[], None]) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is shut down: no actor of it runs any more")
        self._runq.put(task)

    @contextmanager
    def _blocking(self, worker: _Worker) -> Iterator[None]:
        """Managed blocking: while the body waits, another worker runs turns."""
        counted = False
        if not worker.stalled:
            with self._lock:
                self._blocked += 1
                counted = True
                self._fill()
        worker.blocking = True
        try:
            yield
        finally:
            worker.blocking = False
            if counted:
                with self._lock:
                    self._blocked -= 1

    # -- inside the pool ------------------------------------------------------------

    def _fill(self) -> None:
        """Start workers until ``size`` of them can run turns (under ``_lock``)."""
        while not self._closed and len(self._workers) - self._blocked < self.size:
            if len(self._workers) >= self.max_workers:
                if not self._saturated:
                    self._saturated = True
                    logger.error(
                        "%s: all %d workers are blocked; turns wait until one is free "
                        "(raise max_workers, or do not block in pooled actors)",
                        self.name,
                        len(self._workers),
                    )
                return
            worker = _Worker(self)
            worker.thread = threading.Thread(
                target=self._work,
                args=(worker,),
                name=f"{self.name}-{next(self._numbers)}",
                daemon=True,
            )
            self._workers.add(worker)
            try:
                worker.thread.start()
            except RuntimeError:  # the interpreter is shutting down: no new thread
                self._workers.discard(worker)
                logger.debug("%s: no spare worker at interpreter shutdown", self.name)
                return
        self._saturated = False

    def _retire(self, worker: _Worker, *, only_if_spare: bool) -> bool:
        with self._lock:
            if worker.stalled:
                worker.stalled = False
                self._blocked -= 1
            if only_if_spare and len(self._workers) - self._blocked <= self.size:
                return False
            self._workers.discard(worker)
            return True

    def _unstall(self, worker: _Worker) -> None:
        with self._lock:
            if worker.stalled:
                worker.stalled = False
                self._blocked -= 1

    def _work(self, worker: _Worker) -> None:
        _local.worker = worker
        get = self._runq.get
        keep_alive = self.keep_alive
        while True:
            try:
                task = get(timeout=keep_alive)
            except queue.Empty:
                if self._retire(worker, only_if_spare=True):
                    return
                continue
            if task is _STOP:
                self._retire(worker, only_if_spare=False)
                return
            worker.turns += 1
            worker.task = task
            try:
                task()
            except BaseException:  # a turn handles its own errors; this is a bug
                logger.exception("%s: a turn of %s failed", self.name, task_owner(task))
            worker.task = task = None  # hold no actor while idle
            if worker.stalled:
                self._unstall(worker)

    def _watch(self) -> None:
        """The monitor: count a worker stuck in one turn step as blocked, start a spare."""
        seen: dict[_Worker, tuple[int, object, float]] = {}
        interval = max(0.005, self.stall_timeout / 4)
        while not self._monitor_wake.wait(interval):
            now = time.monotonic()
            with self._lock:
                workers = list(self._workers)
            for worker in workers:
                task = worker.task
                if task is None or worker.blocking or worker.stalled:
                    seen.pop(worker, None)
                    continue
                progress = getattr(task_owner(task), "_pooled_progress", None)
                mark = (worker.turns, progress() if progress is not None else None)
                last = seen.get(worker)
                if last is None or last[:2] != mark:
                    seen[worker] = (*mark, now)
                    continue
                if now - last[2] < self.stall_timeout:
                    continue
                seen.pop(worker, None)
                self._stalled(worker, task, now - last[2])
            for worker in [w for w in seen if w not in workers]:
                del seen[worker]

    def _stalled(self, worker: _Worker, task: Callable[[], None], seconds: float) -> None:
        with self._lock:
            if worker.task is not task or worker.stalled or worker.blocking:
                return
            worker.stalled = True
            self._blocked += 1
        owner = task_owner(task)
        first = not getattr(owner, "_pooled_warned", True)
        if first:
            try:
                owner._pooled_warned = True  # type: ignore[attr-defined]
            except AttributeError:
                pass
        (logger.warning if first else logger.debug)(
            "%s: %s has been in one message for %.1f s; it blocks worker %s, so a spare "
            "worker runs the other actors (block in a ThreadingActor, or use a future)",
            self.name,
            owner,
            seconds,
            worker.thread.name if worker.thread is not None else "?",
        )
        with self._lock:  # after the log line: whatever the spare runs comes after it
            self._fill()


_default: WorkerPool | None = None
_default_lock = threading.Lock()


def default_pool() -> WorkerPool:
    """The process-wide pool used by every :class:`PooledActor` that names none.

    It is made on first use with the defaults of :class:`WorkerPool`; if it was shut
    down, a new one takes its place.
    """
    global _default  # noqa: PLW0603
    pool = _default
    if pool is None or pool.closed:
        with _default_lock:
            if _default is None or _default.closed:
                _default = WorkerPool()
            pool = _default
    return pool
