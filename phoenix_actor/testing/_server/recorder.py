"""Thread-safe, append-only logs that tests can wait on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from phoenix_actor.testing._server.protocol import InboundMessage

__all__ = ["Received", "Recorder", "ServerEvent"]

T = TypeVar("T")

#: A server-side happening, one of ``("connect", conn_id, params)``,
#: ``("refused", params)``, ``("join", topic, payload, join_ref)``,
#: ``("handle_in", topic, event, payload)``, ``("terminate", topic, reason)``,
#: ``("disconnect", conn_id)``.
ServerEvent = tuple[Any, ...]

_SHOWN_ON_TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class Received:
    """One frame the server received: ``message`` is ``None`` when it did not decode."""

    conn_id: int
    opcode: Literal["text", "binary"]
    data: str | bytes
    message: InboundMessage | None


class Recorder(Generic[T]):
    """An append-only list guarded by a condition variable.

    Iterating, ``len()`` and indexing see a snapshot. :meth:`wait_for` blocks on the
    condition variable (no polling) until an item matches.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: list[T] = []
        self._cond = threading.Condition()

    def append(self, item: T) -> None:
        """Record ``item`` and wake the waiters."""
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list[T]:
        """A copy of everything recorded so far."""
        with self._cond:
            return list(self._items)

    def clear(self) -> None:
        """Forget everything recorded so far (indexes passed as ``start`` shift)."""
        with self._cond:
            self._items.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> T:
        with self._cond:
            return self._items[index]

    def wait_for(
        self, predicate: Callable[[T], bool], timeout: float = 5.0, *, start: int = 0
    ) -> T:
        """Return the first item, recorded before or during the call, that matches.

        Only items at index ``start`` or later are considered (pass ``len(recorder)``
        to wait for a new one). Raises :class:`TimeoutError` listing what was recorded.
        """
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self._items):
                    item = self._items[index]
                    index += 1
                    if predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(timeout, start))
                self._cond.wait(remaining)

    def _timeout_message(self, timeout: float, start: int) -> str:
        items = self._items[start:]
        lines = [f"no matching {self._what} within {timeout:g} s; {len(items)} recorded"]
        if len(items) > _SHOWN_ON_TIMEOUT:
            lines.append(f"  ... {len(items) - _SHOWN_ON_TIMEOUT} earlier ones not shown")
            items = items[-_SHOWN_ON_TIMEOUT:]
        lines.extend(f"  {item!r}" for item in items)
        return "\n".join(lines)
