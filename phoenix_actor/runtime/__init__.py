"""A Pykka runtime whose actors share a small pool of threads.

:class:`PooledActor` is a :class:`pykka.Actor` that owns no thread: its messages run on
the workers of a :class:`WorkerPool` (by default :func:`default_pool`, 2 to 4 daemon
threads), so thousands of actors cost a handful of threads. :class:`PooledFuture` is its
future. A pool also has one timer thread (:meth:`WorkerPool.call_later`,
:meth:`WorkerPool.tell_later`, and :func:`call_later`/:func:`tell_later` for the default
pool). See "The pooled runtime" in docs/threading.rst.

This package imports only Pykka and the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka

from phoenix_actor.runtime._actor import DEFAULT_MESSAGES_PER_TURN, PooledActor
from phoenix_actor.runtime._choice import blocking, current_pool
from phoenix_actor.runtime._future import PooledFuture
from phoenix_actor.runtime._pool import (
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_WORKERS,
    DEFAULT_SIZE,
    DEFAULT_STALL_TIMEOUT,
    WorkerPool,
    default_pool,
)
from phoenix_actor.runtime._timers import TimerHandle, TimerService

__all__ = [
    "DEFAULT_KEEP_ALIVE",
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_MESSAGES_PER_TURN",
    "DEFAULT_SIZE",
    "DEFAULT_STALL_TIMEOUT",
    "PooledActor",
    "PooledFuture",
    "TimerHandle",
    "TimerService",
    "WorkerPool",
    "blocking",
    "call_later",
    "current_pool",
    "default_pool",
    "tell_later",
]


def call_later(delay: float, callback: Callable[[], None]) -> TimerHandle:
    """Run ``callback()`` after ``delay`` seconds on the default pool's timer thread.

    The callback must be quick and must not block; see :meth:`TimerService.call_later`.
    """
    return default_pool().call_later(delay, callback)


def tell_later(ref: pykka.ActorRef[Any], delay: float, message: object) -> TimerHandle:
    """Tell ``ref`` ``message`` after ``delay`` seconds, from the default pool's timer.

    Nothing happens if the actor has stopped by then; ``cancel()`` the handle to call it off.
    """
    return default_pool().tell_later(ref, delay, message)
