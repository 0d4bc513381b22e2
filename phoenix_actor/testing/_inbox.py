"""A thread-safe mailbox with selective receive, as Erlang's ``receive`` has."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """Items in arrival order; ``take`` removes the first one a predicate accepts."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()

    def put(self, item: T) -> None:
        """Add ``item`` and wake the waiters."""
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def take(self, accept: Callable[[T], bool], timeout: float, what: str = "an item") -> T:
        """Remove and return the first item ``accept`` is true for, waiting up to ``timeout``.

        Raises ``TimeoutError`` naming ``what`` and listing what did arrive.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, item in enumerate(self._items):
                    if accept(item):
                        del self._items[index]
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no {what} within {timeout} s; inbox holds {self._items!r:.1000}"
                    )
                self._changed.wait(remaining)

    def snapshot(self) -> list[T]:
        """The items now waiting, oldest first."""
        with self._changed:
            return list(self._items)

    def clear(self) -> None:
        """Forget every item."""
        with self._changed:
            self._items.clear()
