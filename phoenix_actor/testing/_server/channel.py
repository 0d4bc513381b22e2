"""The channel side of the embedded server: Python's form of ``Phoenix.Channel``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor.testing._server.protocol import is_graceful

if TYPE_CHECKING:
    from phoenix_actor.testing._server.connection import Connection
    from phoenix_actor.testing._server.server import PhoenixServer

__all__ = [
    "Channel",
    "ChannelSocket",
    "HandleInResult",
    "JoinError",
    "JoinOk",
    "JoinResult",
    "ServerNoReply",
    "ServerReply",
    "StopChannel",
]

logger = logging.getLogger("phoenix_actor.testing.server")


@dataclass(frozen=True, slots=True)
class JoinOk:
    """Accept a join; ``response`` is sent as the ok reply's response."""

    response: Any = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JoinError:
    """Refuse a join; ``response`` is sent as the error reply's response."""

    response: Any = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerReply:
    """Answer a client push. A ``bytes`` response goes out as a binary reply (v2)."""

    status: str = "ok"
    response: Any = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerNoReply:
    """Send nothing for this push (the client has to time out)."""


@dataclass(frozen=True, slots=True)
class StopChannel:
    """Stop the channel. ``"normal"``, ``"shutdown"`` and ``"shutdown:<anything>"`` send
    ``phx_close``; any other reason sends ``phx_error``. ``reply`` is sent first."""

    reason: str = "normal"
    reply: ServerReply | None = None


JoinResult = Union[JoinOk, JoinError]
HandleInResult = Union[ServerReply, ServerNoReply, StopChannel]


class Channel:
    """Base class of channel handlers; one instance is created per join.

    Every callback runs on the connection's worker thread, so the messages of one
    connection are handled one at a time, in order. An exception raised by
    :meth:`join` refuses the join with ``{"reason": "join crashed"}``; one raised by
    :meth:`handle_in` or :meth:`handle_info` crashes the channel (``phx_error``).
    """

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> JoinOk | JoinError:
        """Accept or refuse the join. The default accepts with an empty response."""
        return JoinOk()

    def handle_in(
        self, event: str, payload: Any, socket: ChannelSocket
    ) -> ServerReply | ServerNoReply | StopChannel:
        """Handle a client push (``payload`` is ``bytes`` for a binary push).

        The default raises, like a Phoenix channel without a matching clause.
        """
        raise NotImplementedError(f"{type(self).__name__} does not handle {event!r}")

    def handle_info(self, message: Any, socket: ChannelSocket) -> StopChannel | None:
        """Handle a message sent with :meth:`ChannelSocket.send_info`. Default: log it."""
        logger.warning("%s ignored message %s", type(self).__name__, Bounded(message))
        return None

    def terminate(self, reason: str, socket: ChannelSocket) -> None:
        """Called once when the channel stops, with the stop reason."""


class ChannelSocket:
    """One channel session on one connection: what Phoenix passes as ``socket``.

    ``push``, ``broadcast``, ``broadcast_from``, ``send_info``, ``stop`` and ``crash``
    may be called from any thread.
    """

    def __init__(self, connection: Connection, topic: str, join_ref: Any, sent_join_ref: Any):
        #: The topic this channel serves.
        self.topic = topic
        #: The channel's join ref: the join's ``join_ref`` (its ``ref`` if that was null).
        self.join_ref = join_ref
        #: Free-form state for the handler, like Phoenix's ``socket.assigns``.
        self.assigns: dict[str, Any] = {}
        self._conn = connection
        self._sent_join_ref = sent_join_ref
        self._state: Literal["joining", "joined", "closed"] = "joining"
        self._handler: Channel = Channel()

    @property
    def params(self) -> dict[str, str]:
        """The connect parameters (query string) of the connection."""
        return self._conn.params

    @property
    def socket_id(self) -> str | None:
        """The socket id the connect callback gave the connection, if any."""
        return self._conn.socket_id

    @property
    def conn_id(self) -> int:
        """The server's id of the connection this channel lives on."""
        return self._conn.conn_id

    @property
    def server(self) -> PhoenixServer:
        """The server (Phoenix's endpoint)."""
        return self._conn.server

    @property
    def joined(self) -> bool:
        """True from the successful join until the channel stops."""
        return self._state == "joined"

    def push(self, event: str, payload: Any) -> None:
        """Send ``[join_ref, null, topic, event, payload]`` (a binary push for ``bytes``)."""
        if self._require_joined("push"):
            frame = self._conn.serializer.encode_push(self.join_ref, self.topic, event, payload)
            self._conn.send(frame)

    def broadcast(self, event: str, payload: Any) -> None:
        """Broadcast to every channel joined to this topic, this one included."""
        if self._require_joined("broadcast"):
            self.server.broadcast(self.topic, event, payload)

    def broadcast_from(self, event: str, payload: Any) -> None:
        """Broadcast to every channel joined to this topic except this one."""
        if self._require_joined("broadcast_from"):
            self.server.broadcast(self.topic, event, payload, exclude=self)

    def send_info(self, message: Any) -> None:
        """Deliver ``message`` to the handler's ``handle_info`` on the worker thread."""
        self._conn.submit(lambda: self._conn.deliver_info(self, message))

    def stop(self, reason: str = "normal") -> None:
        """Stop the channel (after what is already queued), as if a callback returned
        ``StopChannel(reason)``."""
        self._conn.submit(lambda: self._conn.stop_channel(self, reason))

    def crash(self, reason: str = "crash") -> None:
        """Stop the channel abnormally: the client gets ``phx_error``."""
        if is_graceful(reason):
            raise ValueError(f"{reason!r} is a graceful reason; use stop()")
        self.stop(reason)

    def sleep(self, seconds: float) -> bool:
        """Block the calling handler for ``seconds``, returning early (``False``) if the
        connection closes meanwhile."""
        return not self._conn.closing_event.wait(seconds)

    def _leave_matches(self, join_ref: Any) -> bool:
        """Whether a ``phx_leave`` carrying ``join_ref`` is meant for this session."""
        return join_ref in (self.join_ref, self._sent_join_ref)

    def _require_joined(self, what: str) -> bool:
        if self._state == "joining":
            raise RuntimeError(f"{what} cannot be called before the join has completed")
        return self._state == "joined"

    def __repr__(self) -> str:
        return (
            f"<ChannelSocket conn={self.conn_id} topic={self.topic!r} "
            f"join_ref={self.join_ref!r} {self._state}>"
        )
