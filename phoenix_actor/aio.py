"""An asyncio adapter over the socket actor: ``await`` joins, pushes and messages.

.. code-block:: python

    async with AsyncSocket("ws://localhost:4000/socket/websocket") as socket:
        await socket.join("room:lobby")
        reply = await socket.push("room:lobby", "ping", {"n": 1})
        async for message in socket.subscribe("room:lobby"):
            print(message.event, message.payload)

:class:`AsyncSocket` is the thread-safe :class:`~phoenix_actor.Socket` facade seen from
an event loop: it starts the same actors, and every request still goes through the
socket actor's mailbox; only the waiting differs. Nothing blocks the loop and no thread
is started per request:

* a request carries a :class:`_LoopFuture`, a Pykka future that, when the socket actor
  sets it, also hands the outcome to an :class:`asyncio.Future` through
  ``loop.call_soon_threadsafe``. A task cancelled while it waits only stops waiting:
  the request is not taken back (a join may still succeed), and its late answer is
  dropped.
* the server's pushes and broadcasts, and the socket's connects, disconnects and stop,
  are posted to the loop the same way, in the order the actor saw them, where each
  :class:`AsyncSubscription` queues its share.

An :class:`AsyncSocket` belongs to the loop that created it: call its methods from
that loop's thread. Other threads may use the same socket through
:attr:`AsyncSocket.sync`, the blocking facade underneath (``sync.ref`` is the actor's
``ActorRef``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import pykka

from phoenix_actor._client import Connect
from phoenix_actor._config import Config
from phoenix_actor._facade import _GRACE, ChannelMessage, Socket
from phoenix_actor._handles import Connection
from phoenix_actor._mailbox import RequestKind, _Request, _Run, check_timeout
from phoenix_actor._message import ChannelReply
from phoenix_actor._reasons import DisconnectReason
from phoenix_actor._subscription import DEFAULT_TIMEOUT
from phoenix_actor._url import Params
from phoenix_actor.exceptions import (
    CallTimeoutError,
    JoinRefusedError,
    PushTimeoutError,
    SocketStoppedError,
)

__all__ = ["AsyncSocket", "AsyncSubscription"]

logger = logging.getLogger("phoenix_actor.aio")

T = TypeVar("T")

#: What ``sys.exc_info()`` returns, as Pykka's ``set_exception`` takes it.
_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object) -> None:
    """Run ``callback(*args)`` soon in ``loop``'s thread; from any thread."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop is closed: nobody is left to tell
        logger.debug("the event loop is closed; dropped %r", callback)


def _settle(target: asyncio.Future[Any], value: object, error: BaseException | None) -> None:
    """Resolve ``target`` (in its loop), unless it was cancelled or failed meanwhile."""
    if target.done():
        return  # its waiter was cancelled or gave up: the late answer is dropped
    if error is None:
        target.set_result(value)
    else:
        target.set_exception(error)


class _LoopFuture(pykka.ThreadingFuture[T]):
    """A Pykka future that also resolves ``target``, an asyncio future, in its loop.

    The socket actor only calls ``set`` or ``set_exception`` on the futures of the
    requests it is given, once; those two are the hooks. ``get`` works as usual.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, target: asyncio.Future[T]) -> None:
        super().__init__()
        self._loop = loop
        self._target = target

    def set(self, value: Any | None = None) -> None:
        super().set(value)  # raises queue.Full if set already, before telling the loop
        _post(self._loop, _settle, self._target, value, None)

    def set_exception(self, exc_info: _ExcInfo | None = None) -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        super().set_exception(exc_info)
        exc_type, error, _traceback = exc_info
        if error is None:
            error = (exc_type or RuntimeError)()
        _post(self._loop, _settle, self._target, None, error)


class _Bridge(Socket):
    """The facade, whose notifications from the actor thread also reach an AsyncSocket."""

    def __init__(self, owner: AsyncSocket, url: str, params: Params | None, **kwargs: Any) -> None:
        self._owner = owner  # set before the actor starts: it may call back at once
        super().__init__(url, params, **kwargs)

    def _set_connected(self, connected: bool, reason: DisconnectReason | None) -> None:
        super()._set_connected(connected, reason)
        self._owner._post(self._owner._connection_changed, connected)

    def _deliver(self, message: ChannelMessage) -> None:
        super()._deliver(message)
        if self._owner._subscriptions:
            self._owner._post(self._owner._deliver, message)

    def _terminated(self, reason: Any) -> None:
        super()._terminated(reason)
        self._owner._post(self._owner._stopped_now)


class AsyncSubscription:
    """The messages of one topic (and optionally one event), in arrival order.

    ``async for message in subscription`` ends when the subscription or the socket
    closes; ``await subscription.get(timeout)`` returns one message. The queue is
    unbounded, as :class:`~phoenix_actor.Subscription`'s; ``len()`` tells how many wait.
    """

    def __init__(self, socket: AsyncSocket, topic: str, event: str | None) -> None:
        self.topic = topic
        self.event = event
        self._socket = socket
        self._queue: asyncio.Queue[ChannelMessage | None] = asyncio.Queue()  # None: the end
        self._closed = False

    def __repr__(self) -> str:
        event = "" if self.event is None else f" {self.event!r}"
        return f"<AsyncSubscription {self.topic!r}{event} waiting={len(self)}>"

    def __len__(self) -> int:
        return self._queue.qsize() - int(self._closed)  # the end marker stays queued once closed

    def _matches(self, message: ChannelMessage) -> bool:
        return message.topic == self.topic and (self.event is None or message.event == self.event)

    def _put(self, message: ChannelMessage) -> None:
        if not self._closed:
            self._queue.put_nowait(message)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    async def get(self, timeout: float | None = DEFAULT_TIMEOUT) -> ChannelMessage:
        """The next message; ``TimeoutError`` after ``timeout`` seconds (None: no limit).

        Raises :class:`SocketStoppedError` once the subscription is closed and drained.
        """
        if self._queue.empty():
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                raise TimeoutError(f"no message on {self.topic!r} within {timeout} s") from None
        else:
            item = self._queue.get_nowait()
        if item is None:
            self._queue.put_nowait(None)  # stay closed for the next reader
            raise SocketStoppedError(f"the subscription to {self.topic!r} is closed")
        return item

    def __aiter__(self) -> AsyncSubscription:
        return self

    async def __anext__(self) -> ChannelMessage:
        try:
            return await self.get(timeout=None)
        except SocketStoppedError:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop receiving; messages already queued can still be read."""
        self._socket._unsubscribe(self)

    def __enter__(self) -> AsyncSubscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncSocket:
    """A Phoenix socket for asyncio code: awaitable requests, asynchronous subscriptions.

    Create it in a coroutine (it belongs to the running loop) and close it, best with
    ``async with``. The arguments are :class:`~phoenix_actor.Socket`'s: it connects at
    once (``connect=False`` to wait for :meth:`connect`), reconnects with backoff and
    rejoins its topics; ``timeout`` is the default of every method's ``timeout``.
    Errors are those of the facade: :class:`JoinRefusedError`, :class:`PushError`
    subclasses, :class:`PushTimeoutError`, :class:`ChannelClosedError`,
    :class:`ConnectionClosedError`, :class:`CallTimeoutError`, :class:`SocketStoppedError`.
    """

    def __init__(
        self,
        url: str,
        params: Params | None = None,
        *,
        config: Config | None = None,
        connect: bool = True,
        reconnect: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._subscriptions: list[AsyncSubscription] = []
        self._pending: set[asyncio.Future[Any]] = set()
        self._up = asyncio.Event()  # set while connected, and once stopped
        self._stopped = asyncio.Event()
        self._socket = _Bridge(
            self,
            url,
            params,
            config=config,
            connect=connect,
            reconnect=reconnect,
            timeout=timeout,
            **options,
        )

    def __repr__(self) -> str:
        state = "stopped" if self._stopped.is_set() else "connected" if self.is_connected else ""
        return f"<AsyncSocket {state or 'not connected'}>"

    async def __aenter__(self) -> AsyncSocket:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- from the actor thread, through the loop ----------------------------------

    def _post(self, callback: Callable[..., object], *args: object) -> None:
        _post(self._loop, callback, *args)

    def _connection_changed(self, connected: bool) -> None:
        if connected:
            self._up.set()
        elif not self._stopped.is_set():
            self._up.clear()

    def _deliver(self, message: ChannelMessage) -> None:
        for subscription in list(self._subscriptions):
            if subscription._matches(message):
                subscription._put(message)

    def _stopped_now(self) -> None:
        self._stopped.set()
        self._up.set()  # wakes wait_connected, which then raises SocketStoppedError
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription._end()
        for target in list(self._pending):
            # Answers the actor gave before it stopped were posted (and settled) first.
            _settle(target, None, SocketStoppedError("the socket stopped before answering"))

    # -- state --------------------------------------------------------------------

    @property
    def sync(self) -> Socket:
        """The blocking, thread-safe facade of the same socket, for other threads."""
        return self._socket

    @property
    def timeout(self) -> float:
        """The default timeout of every method, in seconds."""
        return self._socket.timeout

    @property
    def is_connected(self) -> bool:
        """True while a connection is open."""
        return self._socket.is_connected

    @property
    def last_disconnect_reason(self) -> DisconnectReason | None:
        """Why the last connection ended (None while connected, or before any)."""
        return self._socket.last_disconnect_reason

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is open; :class:`CallTimeoutError` after ``timeout``."""
        timeout = self.timeout if timeout is None else timeout
        if self._has_stopped():
            raise SocketStoppedError("the socket is closed")
        if self.is_connected:
            return
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            reason = self.last_disconnect_reason
            why = f" (last: {reason.describe()})" if reason is not None else ""
            raise CallTimeoutError(f"not connected within {timeout} s{why}") from None
        if self._has_stopped():
            raise SocketStoppedError("the socket is closed")

    def _has_stopped(self) -> bool:
        """True once the socket stopped, even before the loop has run the notice of it
        (a stop from this thread blocks the loop; ``_up`` may still say connected)."""
        return self._stopped.is_set() or self._socket._stopped.is_set()

    async def connect(self, timeout: float | None = None) -> None:
        """Connect now (if not connected) and wait for the connection."""
        await self.execute(lambda conn: conn._actor._apply("connect", Connect()), timeout)
        await self.wait_connected(timeout)

    # -- requests -----------------------------------------------------------------

    def _tell(self, message: _Request | _Run) -> None:
        if self._stopped.is_set():
            raise SocketStoppedError("the socket is closed")
        try:
            self._socket.ref.tell(message)
        except pykka.ActorDeadError:
            raise SocketStoppedError("the socket is closed") from None

    async def _wait(self, target: asyncio.Future[T], wait: float, no_answer: Exception) -> T:
        """``target``'s outcome; ``no_answer`` if it has none within ``wait`` seconds."""
        self._pending.add(target)
        try:
            done, _ = await asyncio.wait((target,), timeout=wait)
        finally:
            self._pending.discard(target)
            target.cancel()  # if still waiting (timed out, or this task cancelled)
        if not done:
            raise no_answer
        return target.result()

    async def _request(
        self, kind: RequestKind, topic: str, event: str, payload: Any, timeout: float | None
    ) -> ChannelReply:
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        target: asyncio.Future[ChannelReply] = self._loop.create_future()
        if self._stopped.is_set():
            raise SocketStoppedError("the socket is closed")
        self._socket._request(
            kind, topic, event, payload, timeout, future=_LoopFuture(self._loop, target)
        )
        # The actor enforces ``timeout``; the grace only covers a lost request.
        no_answer = PushTimeoutError("no answer from the socket actor")
        return await self._wait(target, timeout + _GRACE, no_answer)

    async def join(self, topic: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Join ``topic`` and return the server's join response.

        Waits for a connection first (within the same ``timeout``). Raises
        :class:`JoinRefusedError` if the server refuses, :class:`PushTimeoutError` if
        it does not answer, :class:`AlreadyJoinedError` if already joined.
        """
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        started = self._loop.time()
        await self.wait_connected(timeout)
        remaining = max(timeout - (self._loop.time() - started), 0.001)
        reply = await self._request("join", topic, "phx_join", payload, remaining)
        if not reply.ok:
            raise JoinRefusedError(topic, reply.response)
        return reply.response

    async def leave(
        self, topic: str, payload: Any = None, timeout: float | None = None
    ) -> ChannelReply:
        """Leave ``topic`` (it is no longer rejoined) and return the leave reply."""
        return await self._request("leave", topic, "phx_leave", payload, timeout)

    async def push(
        self, topic: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> ChannelReply:
        """Push ``event`` and return the reply, whatever its status (see ``reply.ok``)."""
        return await self._request("push", topic, event, payload, timeout)

    async def execute(self, function: Callable[[Connection], T], timeout: float | None = None) -> T:
        """Run ``function(conn)`` in the socket actor's thread and return its result.

        :class:`CallTimeoutError` if it does not finish within ``timeout`` seconds;
        what ``function`` raises is raised here.
        """
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        target: asyncio.Future[T] = self._loop.create_future()
        self._tell(_Run(function, _LoopFuture(self._loop, target)))
        no_answer = CallTimeoutError(f"no answer from the socket actor within {timeout} s")
        return await self._wait(target, timeout, no_answer)

    async def joined(self, topic: str, timeout: float | None = None) -> bool:
        """True once ``topic`` is joined on the current connection."""
        return await self.execute(lambda conn: conn.joined(topic), timeout)

    # -- receiving ----------------------------------------------------------------

    def subscribe(self, topic: str, event: str | None = None) -> AsyncSubscription:
        """A queue of the pushes and broadcasts on ``topic`` (only ``event`` if given)."""
        if self._stopped.is_set():
            raise SocketStoppedError("the socket is closed")
        subscription = AsyncSubscription(self, topic, event)
        self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: AsyncSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        subscription._end()

    # -- closing ------------------------------------------------------------------

    async def close(self, timeout: float | None = None) -> None:
        """Close the connection and stop the socket actor; idempotent.

        Ends every subscription; requests still waiting fail with
        :class:`SocketStoppedError`.
        """
        timeout = self.timeout if timeout is None else timeout
        if not self._stopped.is_set():
            self._socket.ref.stop(block=False)  # its terminate() posts _stopped_now
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout)
            except TimeoutError:
                if self._socket.ref.is_alive():
                    raise CallTimeoutError("the socket did not stop in time") from None
        self._socket._terminated("closed")  # as Socket.close does; idempotent
        self._stopped_now()
