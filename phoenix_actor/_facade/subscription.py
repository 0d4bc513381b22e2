"""What the facade hands out for inbound messages: :class:`ChannelMessage` values,
queued in :class:`Subscription` objects or given to ``Socket.on`` callbacks."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from phoenix_actor.exceptions import MessageTimeoutError, SocketStoppedError

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """A server push or broadcast, as a :class:`Subscription` hands it out."""

    topic: str
    event: str
    payload: Any


_END: Any = object()


class Subscription:
    """The messages of one topic (and optionally one event), in arrival order.

    Iterate over it (it ends when the subscription or the socket closes) or call
    :meth:`get`. The queue is unbounded: a consumer slower than the server makes it
    grow; ``len(subscription)`` tells how many messages wait.
    """

    def __init__(
        self, unsubscribe: Callable[[Subscription], None], topic: str, event: str | None
    ) -> None:
        self.topic = topic
        self.event = event
        self._unsubscribe = unsubscribe
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False

    def __repr__(self) -> str:
        event = "" if self.event is None else f" {self.event!r}"
        return f"<Subscription {self.topic!r}{event} waiting={len(self)}>"

    def __len__(self) -> int:
        return self._queue.qsize()

    def _matches(self, topic: str, event: str) -> bool:
        return topic == self.topic and (self.event is None or event == self.event)

    def _put(self, message: ChannelMessage) -> None:
        self._queue.put(message)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_END)

    def get(self, timeout: float | None = DEFAULT_TIMEOUT) -> ChannelMessage:
        """The next message; :class:`MessageTimeoutError` (a ``TimeoutError``) after
        ``timeout`` seconds (None: no limit).

        Raises :class:`SocketStoppedError` once the subscription is closed and drained.
        """
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise MessageTimeoutError(f"no message on {self.topic!r} within {timeout} s") from None
        if item is _END:
            self._queue.put(_END)  # stay closed for the next reader
            raise SocketStoppedError(f"the subscription to {self.topic!r} is closed")
        message: ChannelMessage = item
        return message

    def __iter__(self) -> Iterator[ChannelMessage]:
        while True:
            try:
                yield self.get(timeout=None)
            except SocketStoppedError:
                return

    def close(self) -> None:
        """Stop receiving; messages already queued can still be read."""
        self._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


#: ``callback(message)`` for :meth:`Socket.on`; it runs in the socket actor's thread.
MessageCallback = Callable[[ChannelMessage], None]
