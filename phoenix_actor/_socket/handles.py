"""The handles callbacks are given: :class:`Connection` and :class:`Caller`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pykka

from phoenix_actor._protocol import session as s
from phoenix_actor._protocol.message import ChannelReply
from phoenix_actor._socket.mailbox import RequestKind, _Request, check_timeout
from phoenix_actor._socket.observer import ChannelState, SocketState
from phoenix_actor.exceptions import DisconnectedError, WrongThreadError

logger = logging.getLogger("phoenix_actor.socket")


class SocketSide(Protocol):
    """What a :class:`Connection` uses of its socket actor (the actor is one)."""

    _thread: threading.Thread | None
    _live_generation: int | None
    _session: s.Session

    def _send(self, out: s.Outbound) -> None: ...
    def _joining(self, topic: str, out: s.Outbound) -> None: ...
    def _left(self, topic: str, out: s.Outbound) -> None: ...
    def _request(self, request: _Request) -> None: ...
    def _apply(self, name: str, result: object) -> None: ...
    @property
    def state(self) -> SocketState: ...
    def channel_states(self) -> dict[str, ChannelState]: ...


@dataclass(frozen=True, slots=True)
class _Run:
    """Run ``function(conn)`` in the actor thread and resolve ``future`` with its result."""

    function: Callable[[Connection], Any]
    future: pykka.Future[Any]


class Caller:
    """The requester of a :func:`~phoenix_actor.call`; answer it once with ``reply``."""

    __slots__ = ("_future", "_pending", "replied")

    def __init__(self, future: pykka.Future[Any], pending: set[Caller]) -> None:
        self._future = future
        self._pending = pending
        self.replied = False

    def reply(self, value: Any) -> None:
        """Answer the caller (a second answer is ignored with a warning)."""
        self._resolve(lambda: self._future.set(value))

    def fail(self, error: BaseException) -> None:
        """Make the caller's ``call()`` raise ``error``."""
        self._resolve(lambda: self._future.set_exception((type(error), error, None)))

    def _resolve(self, action: Callable[[], None]) -> None:
        if self.replied:
            logger.warning("a call was answered twice; the second answer is ignored")
            return
        self.replied = True
        self._pending.discard(self)
        action()


class Connection:
    """What callbacks use to talk to the server: ``join``, ``leave``, ``push``.

    A handle belongs to one connection: once that connection is gone its methods raise
    :class:`DisconnectedError` rather than send into a dead socket. It may only be used
    in the socket actor's thread (inside callbacks); other threads use
    :func:`phoenix_actor.call` or :func:`phoenix_actor.execute`.

    ``join``, ``leave`` and ``push`` return the request's ref (the answer comes to a
    callback); ``join_future``, ``leave_future`` and ``push_future`` return a Pykka
    future of the :class:`~phoenix_actor.ChannelReply` as well (callbacks still run).
    """

    __slots__ = ("_actor", "_generation")

    def __init__(self, actor: SocketSide, generation: int | None) -> None:
        self._actor = actor
        self._generation = generation

    def __repr__(self) -> str:
        state = "live" if self.is_connected else "closed"
        return f"<Connection generation={self._generation} {state}>"

    @property
    def is_connected(self) -> bool:
        """True while this handle's connection is the socket's open connection."""
        actor = self._actor
        return self._generation is not None and self._generation == actor._live_generation

    def _check_thread(self) -> SocketSide:
        actor = self._actor
        if threading.current_thread() is not actor._thread:
            raise WrongThreadError(
                "Connection methods run only in the socket actor's thread (inside a "
                "callback); from other threads use phoenix_actor.call() or execute()"
            )
        return actor

    def _session(self) -> s.Session:
        actor = self._check_thread()
        if not self.is_connected:
            raise DisconnectedError(
                "not connected" if self._generation is None else "this connection has closed"
            )
        return actor._session

    def join(self, topic: str, payload: Any = None) -> int:
        """Send ``phx_join``; the answer comes to ``handle_joined`` / ``handle_join_error``."""
        out = self._session().join(topic, payload)
        self._actor._joining(topic, out)
        return out.ref

    def leave(self, topic: str, payload: Any = None) -> int:
        """Send ``phx_leave``; the topic stays joined until ``handle_channel_closed``.

        The topic is no longer rejoined automatically.
        """
        out = self._session().leave(topic, payload)
        self._actor._left(topic, out)
        return out.ref

    def push(self, topic: str, event: str, payload: Any = None) -> int:
        """Push ``event`` to a joined topic; a reply comes to ``handle_reply`` with the ref."""
        out = self._session().push(topic, event, payload)
        self._actor._send(out)
        return out.ref

    def _future(
        self, kind: RequestKind, topic: str, event: str, payload: Any, timeout: float | None
    ) -> pykka.Future[ChannelReply]:
        actor = self._check_thread()
        check_timeout(timeout)
        if self._generation is not None and not self.is_connected:
            raise DisconnectedError("this connection has closed")
        future: pykka.Future[ChannelReply] = pykka.ThreadingFuture()
        actor._request(_Request(kind, topic, event, payload, timeout, future))
        return future

    def join_future(
        self, topic: str, payload: Any = None, timeout: float | None = None
    ) -> pykka.Future[ChannelReply]:
        """Join ``topic``; the future resolves to the join reply (status ok or error).

        It fails with :class:`PushTimeoutError` after ``timeout`` seconds (default
        ``Config.push_timeout``; the join is then abandoned with a ``phx_leave``) and
        with :class:`ConnectionClosedError` if the connection closes first
        (:class:`NotSentError` if the join was never written to it, else
        :class:`ReplyLostError`).
        """
        return self._future("join", topic, "phx_join", payload, timeout)

    def leave_future(
        self, topic: str, payload: Any = None, timeout: float | None = None
    ) -> pykka.Future[ChannelReply]:
        """Leave ``topic``; the future resolves to the leave reply once the channel is
        closed (the server's ``phx_close`` follows its ok reply), or at once to an
        error reply."""
        return self._future("leave", topic, "phx_leave", payload, timeout)

    def push_future(
        self, topic: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> pykka.Future[ChannelReply]:
        """Push ``event``; the future resolves to the reply, whatever its status.

        It fails with :class:`PushTimeoutError`, :class:`ChannelClosedError` or
        :class:`ConnectionClosedError` when no reply can come (its subclass
        :class:`NotSentError` says the push never left: safe to send again;
        :class:`ReplyLostError` that it did: the server may have handled it). With
        ``Config.push_buffer`` set, a push to a topic that is joining or waiting to be
        rejoined is buffered (in order) and sent once the topic is joined.
        """
        return self._future("push", topic, event, payload, timeout)

    def joined(self, topic: str) -> bool:
        """True once the join of ``topic`` was accepted and its channel is open."""
        return self.is_connected and self._actor._session.joined(topic)
