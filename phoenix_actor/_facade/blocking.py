"""A thread-safe, blocking facade over a socket actor, for code that is not an actor.

Every method may be called from any thread: it sends a message to the socket actor
and waits (with a timeout) for the answer. Pykka's timeouts and dead-actor errors come
out as :class:`~phoenix_actor.exceptions.PhoenixActorError` subclasses.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from phoenix_actor._facade.presence_view import PresenceView
from phoenix_actor._facade.subscription import (
    DEFAULT_TIMEOUT,
    ChannelMessage,
    MessageCallback,
    Subscription,
)
from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._protocol.message import ChannelReply
from phoenix_actor._protocol.presence import JoinHook, LeaveHook
from phoenix_actor._protocol.url import Params
from phoenix_actor._socket.actor import SocketActor, SocketState
from phoenix_actor._socket.api import execute
from phoenix_actor._socket.client import Connect, NoConnect, Reconnect, SocketClient
from phoenix_actor._socket.config import Config
from phoenix_actor._socket.handles import Connection
from phoenix_actor._socket.mailbox import _Request, check_timeout
from phoenix_actor._socket.observer import ChannelState
from phoenix_actor._transport.reasons import DisconnectReason, reconnect_refusal
from phoenix_actor.exceptions import (
    CallTimeoutError,
    JoinRefusedError,
    NotConnectedError,
    PushTimeoutError,
    SocketStoppedError,
)

logger = logging.getLogger("phoenix_actor.facade")

#: Extra seconds a caller waits beyond a request's own timeout, which the actor enforces.
_GRACE = 2.0


class _FacadeActor(SocketActor):
    """The socket actor behind a :class:`Socket`: it also publishes each state change to
    the facade, which reads it without going through the mailbox."""

    def _state_changed(self, state: SocketState) -> None:
        client = self._client
        if isinstance(client, _Client):
            client._socket._state_now = state  # one attribute write: safe to read anywhere


class _Client(SocketClient):
    """The callbacks behind a :class:`Socket`: they feed its events and subscriptions."""

    def __init__(self, socket: Socket, first: Connect | NoConnect) -> None:
        self._socket = socket
        self._first = first

    def init(self) -> Connect | NoConnect:
        return self._first

    def handle_connected(self, conn: Connection) -> None:
        self._socket._set_connected(True, None)

    def handle_disconnected(self, reason: DisconnectReason) -> Reconnect | None:
        reconnect = self._socket.reconnect
        self._socket._set_connected(
            False, reason, gave_up=not reconnect or reconnect_refusal(reason) is not None
        )
        return Reconnect() if reconnect else None

    def handle_join_error(self, topic: str, response: Any, conn: Connection) -> None:
        logger.debug("join of %r refused: %s", topic, Bounded(response))

    def handle_joined(self, topic: str, response: Any, conn: Connection) -> None:
        for view in self._socket._presences.get(topic, ()):
            view._reset()

    def handle_message(self, topic: str, event: str, payload: Any, conn: Connection) -> None:
        for view in self._socket._presences.get(topic, ()):
            view._feed(topic, event, payload)
        self._socket._deliver(ChannelMessage(topic, event, payload))

    def handle_info(self, message: Any, conn: Connection) -> None:
        logger.warning("Socket received an unexpected message: %s", Bounded(message))

    def terminate(self, reason: Any) -> None:
        self._socket._terminated(reason)


class Socket:
    """A Phoenix socket usable from any thread, with blocking calls and timeouts.

    >>> with Socket("ws://localhost:4000/socket/websocket") as socket:  # doctest: +SKIP
    ...     socket.wait_connected()
    ...     socket.join("room:lobby")
    ...     reply = socket.push("room:lobby", "ping", {"n": 1})
    ...     for message in socket.subscribe("room:lobby"):
    ...         print(message.event, message.payload)

    It connects at once (``connect=False`` to wait for :meth:`connect`), reconnects
    with backoff and rejoins its topics (see :class:`~phoenix_actor.Config`); ``config``
    and keyword ``options`` are as for :class:`~phoenix_actor.SocketActor`.
    ``reconnect=False`` stays disconnected after the first disconnect.
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
        check_timeout(timeout)
        self.timeout = timeout
        self.reconnect = reconnect
        self._lock = threading.Lock()
        self._changed = threading.Condition()  # notified when connected, disconnected, stopped
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._gave_up = False  # the last attempt failed and no other will be made
        self._state_now = SocketState.DISCONNECTED  # written by the actor (_FacadeActor)
        self._last_reason: DisconnectReason | None = None
        self._subscriptions: list[Subscription] = []
        self._callbacks: dict[int, tuple[str, str | None, MessageCallback]] = {}
        self._callback_refs = itertools.count(1)
        self._presences: dict[str, tuple[PresenceView, ...]] = {}
        first = Connect(url, params) if connect else NoConnect(url, params)
        self._ref: pykka.ActorRef[Any] = _FacadeActor.start(_Client(self, first), config, **options)

    def __repr__(self) -> str:
        return f"<Socket {self.state.value}>"  # never waits: see ``state``

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- callbacks from the actor thread ------------------------------------------

    def _set_connected(
        self, connected: bool, reason: DisconnectReason | None, *, gave_up: bool = False
    ) -> None:
        with self._changed:
            self._last_reason = reason
            self._gave_up = gave_up
            if connected:
                self._connected.set()
            else:
                self._connected.clear()
            self._changed.notify_all()

    def _deliver(self, message: ChannelMessage) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
            callbacks = self._callbacks  # replaced, never changed in place
        for subscription in subscriptions:
            if subscription._matches(message.topic, message.event):
                subscription._put(message)
        for topic, event, callback in callbacks.values():
            if topic == message.topic and (event is None or event == message.event):
                try:
                    callback(message)
                except Exception:
                    logger.exception("a Socket.on callback for %r raised", topic)

    def _terminated(self, reason: Any) -> None:
        with self._changed:
            self._connected.clear()
            self._stopped.set()
            self._changed.notify_all()
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, []
            self._callbacks = {}
        for subscription in subscriptions:
            subscription._end()
        logger.debug("socket stopped: %s", Bounded(reason))

    # -- state --------------------------------------------------------------------

    @property
    def ref(self) -> pykka.ActorRef[SocketActor]:
        """The socket actor's ``ActorRef`` (for ``call``, ``execute`` and supervision)."""
        return self._ref

    @property
    def is_connected(self) -> bool:
        """True while a connection is open."""
        return self._connected.is_set()

    @property
    def state(self) -> SocketState:
        """The connection's state (STOPPED once closed). It never waits: the socket actor
        publishes each change, so a busy callback does not delay it."""
        if self._stopped.is_set():
            return SocketState.STOPPED
        return self._state_now

    def channel_states(self) -> dict[str, ChannelState]:
        """Each topic that is not closed, with its state (joining, joined, errored,
        leaving), read through the mailbox."""
        states: dict[str, ChannelState] = self._execute(
            lambda conn: conn._actor.channel_states(), None
        )
        return states

    @property
    def last_disconnect_reason(self) -> DisconnectReason | None:
        """Why the last connection ended (None while connected, or before any)."""
        return self._last_reason

    def wait_connected(self, timeout: float | None = None) -> None:
        """Block until a connection is open.

        Raises :class:`NotConnectedError` (a :class:`CallTimeoutError`) whose ``reason`` is
        the last disconnect reason: at once when the socket will not try again
        (``reconnect=False``, or the server refused for good: HTTP 401 or 403, close code
        1008), else after ``timeout``. :class:`SocketStoppedError` at once if it is closed.
        """
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        with self._changed:
            self._changed.wait_for(
                lambda: self._connected.is_set() or self._stopped.is_set() or self._gave_up,
                timeout,
            )
            if self._stopped.is_set():
                raise SocketStoppedError("the socket is closed")
            if self._connected.is_set():
                return
            raise self._not_connected(timeout)

    def _not_connected(self, timeout: float) -> NotConnectedError:
        """The error for a wait that found no connection (call it with ``_changed`` held)."""
        reason = self._last_reason
        if self._gave_up and reason is not None:
            refusal = reconnect_refusal(reason)
            why = refusal if refusal is not None else "reconnect=False"
            return NotConnectedError(
                f"cannot connect: {reason.describe()} (not retried: {why})", reason
            )
        last = f" (last: {reason.describe()})" if reason is not None else ""
        return NotConnectedError(f"not connected within {timeout} s{last}", reason)

    def connect(self, timeout: float | None = None) -> None:
        """Connect now (if not connected) and wait for the connection."""
        with self._changed:
            self._gave_up = False  # a new attempt
        self._execute(lambda conn: conn._actor._apply("connect", Connect()), timeout)
        self.wait_connected(timeout)

    # -- requests -----------------------------------------------------------------

    def _execute(self, function: Callable[[Connection], Any], timeout: float | None) -> Any:
        return execute(self._ref, function, self.timeout if timeout is None else timeout)

    def _request(
        self,
        kind: Any,
        topic: str,
        event: str,
        payload: Any,
        timeout: float | None,
        *,
        future: pykka.Future[ChannelReply] | None = None,
    ) -> pykka.Future[ChannelReply]:
        """Tell the actor a join, leave or push; ``future`` (a new ThreadingFuture by
        default) gets the answer and is returned."""
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        if future is None:
            future = pykka.ThreadingFuture()
        if self._stopped.is_set():
            raise SocketStoppedError("the socket is closed")
        try:
            self._ref.tell(_Request(kind, topic, event, payload, timeout, future))
        except pykka.ActorDeadError:
            raise SocketStoppedError("the socket is closed") from None
        return future

    def _wait(self, future: pykka.Future[ChannelReply], timeout: float | None) -> ChannelReply:
        try:
            return future.get(timeout=(self.timeout if timeout is None else timeout) + _GRACE)
        except pykka.Timeout:
            raise PushTimeoutError("no answer from the socket actor") from None

    def join(self, topic: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Join ``topic`` and return the server's join response.

        Waits for a connection first (within the same ``timeout``), as phoenix.js buffers
        a join until the socket is open. Raises :class:`NotConnectedError` (with the
        disconnect ``reason``) if no connection opens, :class:`JoinRefusedError` if the
        server refuses, :class:`PushTimeoutError` if it does not answer,
        :class:`AlreadyJoinedError` if already joined, :class:`SocketStoppedError` at once
        if the socket is closed.
        """
        check_timeout(timeout)
        timeout = self.timeout if timeout is None else timeout
        started = time.monotonic()
        self.wait_connected(timeout)
        remaining = max(timeout - (time.monotonic() - started), 0.001)
        reply = self._wait(self._request("join", topic, "phx_join", payload, remaining), remaining)
        if not reply.ok:
            raise JoinRefusedError(topic, reply.response)
        return reply.response

    def leave(self, topic: str, payload: Any = None, timeout: float | None = None) -> ChannelReply:
        """Leave ``topic`` (it is no longer rejoined); return the leave reply once the
        channel is closed."""
        return self._wait(self._request("leave", topic, "phx_leave", payload, timeout), timeout)

    def push(
        self, topic: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> ChannelReply:
        """Push ``event`` and wait for the reply, whatever its status (see ``reply.ok``)."""
        return self._wait(self._request("push", topic, event, payload, timeout), timeout)

    def push_future(
        self, topic: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> pykka.Future[ChannelReply]:
        """Push ``event`` without waiting: a Pykka future of the reply."""
        return self._request("push", topic, event, payload, timeout)

    def joined(self, topic: str) -> bool:
        """True once ``topic`` is joined on the current connection."""
        joined: bool = self._execute(lambda conn: conn.joined(topic), None)
        return joined

    # -- receiving ----------------------------------------------------------------

    def subscribe(self, topic: str, event: str | None = None) -> Subscription:
        """A queue of the pushes and broadcasts on ``topic`` (only ``event`` if given).

        :class:`SocketStoppedError` if the socket is closed."""
        subscription = Subscription(self._unsubscribe, topic, event)
        with self._lock:
            if self._stopped.is_set():
                raise SocketStoppedError("the socket is closed")
            self._subscriptions.append(subscription)
        return subscription

    def on(self, topic: str, event: str | None, callback: MessageCallback) -> int:
        """Call ``callback(message)`` for each message on ``topic`` (and ``event``); return
        a ref for :meth:`off`, as phoenix.js's ``channel.on`` does.

        The callback runs in the socket actor's thread: it must be quick and must not
        wait on this socket (use :meth:`subscribe` to consume in your own thread). What
        it raises is logged (ERROR, with the traceback) and the socket carries on.
        :class:`SocketStoppedError` if the socket is closed.
        """
        with self._lock:
            if self._stopped.is_set():
                raise SocketStoppedError("the socket is closed")
            ref = next(self._callback_refs)
            self._callbacks = {**self._callbacks, ref: (topic, event, callback)}
        return ref

    def off(self, ref: int) -> bool:
        """Remove the callback :meth:`on` returned ``ref`` for; False if there was none.
        A message being delivered at that moment may still reach it."""
        with self._lock:
            if ref not in self._callbacks:
                return False
            self._callbacks = {key: value for key, value in self._callbacks.items() if key != ref}
        return True

    def presence(
        self, topic: str, on_join: JoinHook | None = None, on_leave: LeaveHook | None = None
    ) -> PresenceView:
        """The presence list of ``topic``, kept up to date by the socket: read it from any
        thread (``keys()``, ``list()``, ``in``). Ask for it before joining the topic, so
        that the first ``presence_state`` is not missed; the hooks run in the socket's
        thread."""
        view = PresenceView(topic, on_join, on_leave)
        with self._lock:
            self._presences = {
                **self._presences,
                topic: (*self._presences.get(topic, ()), view),
            }
        return view

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
        subscription._end()

    # -- closing ------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Close the connection and stop the socket actor; idempotent."""
        try:
            self._ref.stop(block=True, timeout=self.timeout if timeout is None else timeout)
        except pykka.ActorDeadError:
            pass
        except pykka.Timeout:
            raise CallTimeoutError("the socket did not stop in time") from None
        self._terminated("closed")


__all__ = ["ChannelMessage", "MessageCallback", "Socket", "Subscription"]
