"""The asyncio facade over the socket actor (public as :mod:`phoenix_actor.aio`)."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import sys
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import pykka

from phoenix_actor._facade.blocking import _GRACE, ChannelMessage, Socket
from phoenix_actor._facade.presence_view import PresenceView
from phoenix_actor._facade.subscription import DEFAULT_TIMEOUT
from phoenix_actor._protocol.message import ChannelReply
from phoenix_actor._protocol.presence import JoinHook, LeaveHook
from phoenix_actor._protocol.url import Params
from phoenix_actor._socket.client import Connect
from phoenix_actor._socket.config import Config
from phoenix_actor._socket.handles import Connection, _Run
from phoenix_actor._socket.mailbox import RequestKind, _Request, check_timeout
from phoenix_actor._socket.observer import ChannelState, SocketState
from phoenix_actor._transport.reasons import DisconnectReason
from phoenix_actor.exceptions import (
    CallTimeoutError,
    JoinRefusedError,
    MessageTimeoutError,
    PushTimeoutError,
    SocketStoppedError,
)

__all__ = ["AsyncMessageCallback", "AsyncSocket", "AsyncSubscription"]

logger = logging.getLogger("phoenix_actor.aio")

T = TypeVar("T")

#: ``callback(message)`` for :meth:`AsyncSocket.on`: a function, or a coroutine function
#: whose coroutine is run as a task of the loop.
AsyncMessageCallback = Callable[[ChannelMessage], "Awaitable[object] | None"]

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

    def _set_connected(
        self, connected: bool, reason: DisconnectReason | None, *, gave_up: bool = False
    ) -> None:
        super()._set_connected(connected, reason, gave_up=gave_up)
        self._owner._post(self._owner._connection_changed)

    def _deliver(self, message: ChannelMessage) -> None:
        super()._deliver(message)
        if self._owner._subscriptions or self._owner._callbacks:
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
        """The next message; :class:`MessageTimeoutError` (a ``TimeoutError``) after
        ``timeout`` seconds (None: no limit).

        Raises :class:`SocketStoppedError` once the subscription is closed and drained.
        """
        if self._queue.empty():
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                raise MessageTimeoutError(
                    f"no message on {self.topic!r} within {timeout} s"
                ) from None
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
        self._callbacks: dict[int, tuple[str, str | None, AsyncMessageCallback]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # of coroutine callbacks, until done
        self._callback_refs = itertools.count(1)
        self._pending: set[asyncio.Future[Any]] = set()
        self._changed = asyncio.Event()  # set on each connect, disconnect and stop
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

    def _connection_changed(self) -> None:
        self._changed.set()  # wakes wait_connected, which looks again

    def _deliver(self, message: ChannelMessage) -> None:
        for subscription in list(self._subscriptions):
            if subscription._matches(message):
                subscription._put(message)
        for topic, event, callback in list(self._callbacks.values()):
            if topic == message.topic and (event is None or event == message.event):
                try:
                    result = callback(message)
                    if inspect.isawaitable(result):
                        self._run_callback(topic, result)
                except Exception:
                    logger.exception("an AsyncSocket.on callback for %r raised", topic)

    def _run_callback(self, topic: str, awaitable: Awaitable[object]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)

        def done(task: asyncio.Future[object]) -> None:
            self._tasks.discard(task)
            error = None if task.cancelled() else task.exception()
            if error is not None:
                logger.error("an AsyncSocket.on callback for %r raised", topic, exc_info=error)

        task.add_done_callback(done)

    def _stopped_now(self) -> None:
        self._stopped.set()
        self._changed.set()  # wakes wait_connected, which then raises SocketStoppedError
        self._callbacks = {}
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

    @property
    def state(self) -> SocketState:
        """The connection's state (STOPPED once closed); it never waits."""
        return SocketState.STOPPED if self._is_closed() else self._socket.state

    async def channel_states(self, timeout: float | None = None) -> dict[str, ChannelState]:
        """Each topic that is not closed, with its state (joining, joined, errored,
        leaving), read through the mailbox."""
        return await self.execute(lambda conn: conn._actor.channel_states(), timeout)

    def _is_closed(self) -> bool:
        return self._stopped.is_set() or self._socket._stopped.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is open.

        As :meth:`Socket.wait_connected <phoenix_actor.Socket.wait_connected>`:
        :class:`NotConnectedError` (a :class:`CallTimeoutError`, with the disconnect
        ``reason``) at once when the socket will not try again, else after ``timeout``;
        :class:`SocketStoppedError` at once if it is closed.
        """
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        deadline = self._loop.time() + timeout
        socket = self._socket
        while True:
            self._changed.clear()  # any change from now on wakes the wait below
            if self._is_closed():
                raise SocketStoppedError("the socket is closed")
            with socket._changed:
                if socket._connected.is_set():
                    return
                if socket._gave_up or self._loop.time() >= deadline:
                    raise socket._not_connected(timeout)
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - self._loop.time())
            except TimeoutError:
                pass  # the next turn raises

    async def connect(self, timeout: float | None = None) -> None:
        """Connect now (if not connected) and wait for the connection."""
        with self._socket._changed:
            self._socket._gave_up = False  # a new attempt
        await self.execute(lambda conn: conn._actor._apply("connect", Connect()), timeout)
        await self.wait_connected(timeout)

    # -- requests -----------------------------------------------------------------

    def _tell(self, message: _Request | _Run) -> None:
        if self._is_closed():
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
        target = self._start(kind, topic, event, payload, timeout)
        # The actor enforces ``timeout``; the grace only covers a lost request.
        no_answer = PushTimeoutError("no answer from the socket actor")
        return await self._wait(target, timeout + _GRACE, no_answer)

    def _start(
        self, kind: RequestKind, topic: str, event: str, payload: Any, timeout: float
    ) -> asyncio.Future[ChannelReply]:
        """Tell the actor a request now; the asyncio future of its answer."""
        target: asyncio.Future[ChannelReply] = self._loop.create_future()
        if self._is_closed():
            raise SocketStoppedError("the socket is closed")
        self._socket._request(
            kind, topic, event, payload, timeout, future=_LoopFuture(self._loop, target)
        )
        return target

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

    def push_future(
        self, topic: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> asyncio.Future[ChannelReply]:
        """Push ``event`` now, without waiting: an asyncio future of the reply (as
        :meth:`Socket.push_future <phoenix_actor.Socket.push_future>`).

        The push is in the socket's mailbox when this returns. The future fails as
        :meth:`push` does (:class:`PushTimeoutError` after ``timeout``, the socket
        enforcing it), and with :class:`SocketStoppedError` if the socket is closed
        first. Cancelling it does not take the push back.
        """
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        target = self._start("push", topic, event, payload, timeout)
        self._pending.add(target)
        target.add_done_callback(self._pending.discard)
        return target

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
        if self._is_closed():
            raise SocketStoppedError("the socket is closed")
        subscription = AsyncSubscription(self, topic, event)
        self._subscriptions.append(subscription)
        return subscription

    def on(self, topic: str, event: str | None, callback: AsyncMessageCallback) -> int:
        """Call ``callback(message)`` for each message on ``topic`` (and ``event``); return
        a ref for :meth:`off`.

        Unlike :meth:`Socket.on <phoenix_actor.Socket.on>`, the callback runs in the
        event loop's thread, in order with the subscriptions: it may touch the loop's
        objects but must not block. A coroutine function is fine too: each call's
        coroutine runs as a task of the loop (the next message does not wait for it).
        What a callback (or its task) raises is logged (ERROR, with the traceback).
        :class:`SocketStoppedError` if the socket is closed.
        """
        if self._is_closed():
            raise SocketStoppedError("the socket is closed")
        ref = next(self._callback_refs)
        self._callbacks[ref] = (topic, event, callback)
        return ref

    def off(self, ref: int) -> bool:
        """Remove the callback :meth:`on` returned ``ref`` for; False if there was none."""
        return self._callbacks.pop(ref, None) is not None

    def presence(
        self, topic: str, on_join: JoinHook | None = None, on_leave: LeaveHook | None = None
    ) -> PresenceView:
        """The presence list of ``topic``, kept up to date by the socket (see
        :meth:`Socket.presence <phoenix_actor.Socket.presence>`): read it at any time;
        the hooks run in the socket actor's thread, not in the loop."""
        return self._socket.presence(topic, on_join, on_leave)

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
