"""PooledFuture: a one-shot result on one lock, which tells the pool when a worker waits."""

from __future__ import annotations

import queue
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import pykka

from phoenix_actor.runtime._pool import current_worker

if TYPE_CHECKING:
    from types import TracebackType

    from pykka._future import GetHookFunc

    OptExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]

T = TypeVar("T")


class PooledFuture(pykka.Future[T]):
    """The :class:`pykka.Future` of :class:`PooledActor`: ``ask`` and proxy calls return it.

    It behaves as :class:`pykka.ThreadingFuture` does (``get`` with a timeout, ``map``,
    ``filter``, ``join``, ``reduce``, ``set_get_hook``, ``await``, :func:`pykka.get_all`;
    a second ``set`` raises :class:`queue.Full`), and any thread may wait on it. When a
    pool worker waits on one that is not yet done, the pool runs a spare worker
    meanwhile (managed blocking), so an actor that asks another and waits for the reply
    never holds up the rest of the pool.

    The value is not copied: set only immutable values, or copies.
    """

    __slots__ = ("_claim", "_done", "_value")

    def __init__(self) -> None:
        super().__init__()
        # _done is held until a result is there; _claim makes "set once" atomic.
        self._done = threading.Lock()
        self._done.acquire()
        self._claim = threading.Lock()
        self._value: tuple[bool, Any] | None = None

    def __repr__(self) -> str:
        state = "pending" if self._value is None else "done"
        return f"<PooledFuture {state}>"

    def get(self, *, timeout: float | None = None) -> Any:
        """Return the value, or raise the exception, once set; see :meth:`pykka.Future.get`.

        Raises:
            pykka.Timeout: nothing was set within ``timeout`` seconds.
        """
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        if self._value is None and not self._wait(timeout):
            raise pykka.Timeout(f"{timeout} seconds")
        result = self._value
        if result is None:  # a get hook was set while we waited
            return super().get(timeout=timeout)
        ok, value = result
        if ok:
            return value
        exc_type, exc_value, exc_traceback = value
        if exc_value is None:
            exc_value = exc_type()
        if exc_value.__traceback__ is not exc_traceback:
            raise exc_value.with_traceback(exc_traceback)
        raise exc_value

    def _wait(self, timeout: float | None) -> bool:
        done = self._done
        if done.acquire(blocking=False):
            done.release()
            return True
        if timeout is not None and timeout <= 0:
            return False
        wait = -1.0 if timeout is None else timeout
        worker = current_worker()
        if worker is None:
            got = done.acquire(timeout=wait)
        else:
            with worker.pool._blocking(worker):
                got = done.acquire(timeout=wait)
        if got:
            done.release()  # wake the next waiter, if any
        return got

    def set(self, value: Any | None = None) -> None:
        """Set the value; a second ``set``/``set_exception`` raises :class:`queue.Full`."""
        self._finish((True, value))

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        """Set an exception (``sys.exc_info()`` by default) that ``get`` raises."""
        assert exc_info is None or len(exc_info) == 3
        if exc_info is None:
            exc_info = sys.exc_info()
        self._finish((False, exc_info))

    def set_get_hook(self, func: GetHookFunc[T]) -> None:
        """Make ``get(timeout)`` return ``func(timeout)``; see :meth:`pykka.Future.set_get_hook`."""
        if not self._claim.acquire(blocking=False):
            raise queue.Full
        super().set_get_hook(func)
        self._done.release()

    def _finish(self, value: tuple[bool, Any]) -> None:
        if not self._claim.acquire(blocking=False):
            raise queue.Full
        self._value = value
        self._done.release()
