"""An actor whose runtime is chosen per instance: a thread of its own, or a pool.

Pykka picks a runtime by class (``ThreadingActor``, :class:`PooledActor`). The socket
and transport actors pick it per instance instead, from the socket's configuration:
:class:`RuntimeChoice` sets ``_on_pool`` in ``__init__`` *before* calling
``Actor.__init__`` (which creates the inbox), and its three runtime hooks follow it.
Its futures are always :class:`PooledFuture`: they work from any thread, and a pool
worker that waits on one lets a spare run meanwhile.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pykka

from phoenix_actor.runtime._actor import PooledActor, _PooledInbox
from phoenix_actor.runtime._future import PooledFuture
from phoenix_actor.runtime._pool import WorkerPool, current_worker

if TYPE_CHECKING:
    from pykka._actor import ActorInbox
    from pykka._envelope import Envelope


@contextmanager
def blocking() -> Iterator[None]:
    """Wrap a wait the pool cannot see (a socket write, a lock): on a pool worker, the
    pool runs a spare worker meanwhile, and the wait is not reported as a stall.
    Elsewhere it does nothing."""
    worker = current_worker()
    if worker is None:
        yield
        return
    with worker.pool._blocking(worker):
        yield


def current_pool() -> WorkerPool | None:
    """The pool whose worker runs this thread, or None (a thread of its own, or yours)."""
    worker = current_worker()
    return None if worker is None else worker.pool


class RuntimeChoice(PooledActor, pykka.ThreadingActor):
    """A Pykka actor on a thread of its own (``_on_pool`` None) or on ``_on_pool``."""

    #: The pool to run on, or None for a thread of its own; set before ``Actor.__init__``.
    _on_pool: WorkerPool | None = None

    def _use_pool(self, pool: WorkerPool | None) -> None:
        """Choose the runtime: call it in ``__init__`` before ``super().__init__()``."""
        self._on_pool = pool
        self.worker_pool = pool

    @property
    def pooled(self) -> bool:
        """True when this actor runs on a pool rather than a thread of its own."""
        return self._on_pool is not None

    def _create_actor_inbox(self) -> ActorInbox:  # type: ignore[override]
        if self._on_pool is None:
            return pykka.ThreadingActor._create_actor_inbox()
        return PooledActor._create_actor_inbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return PooledFuture()

    def _start_actor_loop(self) -> None:
        if self._on_pool is None:
            pykka.ThreadingActor._start_actor_loop(self)
        else:
            PooledActor._start_actor_loop(self)


def take_waiting(inbox: Any, which: Callable[[Envelope[Any]], bool]) -> list[Envelope[Any]]:
    """Remove the waiting envelopes ``which`` accepts from an actor's ``inbox`` (a
    ``queue.Queue`` or a pooled inbox) and return them; the others keep their order,
    and so do messages put meanwhile. Call it from the actor's own message."""
    if isinstance(inbox, _PooledInbox):
        return inbox.take(which)
    if not isinstance(inbox, queue.Queue):
        return []  # an inbox of another runtime: nothing is taken
    with inbox.mutex:  # senders wait meanwhile: the order holds
        waiting = list(inbox.queue)
        taken = [envelope for envelope in waiting if which(envelope)]
        if taken:
            inbox.queue.clear()
            inbox.queue.extend(envelope for envelope in waiting if not which(envelope))
    return taken
