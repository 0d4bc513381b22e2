"""The callback side: :class:`SocketClient` and the values its callbacks return.

A callback returns ``None`` to carry on (the Elixir ``{:ok, state}``; state lives on
``self``), :class:`Connect` to open a connection now, :class:`Reconnect` to open one
after the configured backoff, or :class:`Stop` to stop the socket.
``init`` returns :class:`Connect` or :class:`NoConnect`; ``handle_call`` returns
:class:`Reply`, :class:`NoReply` or :class:`Stop`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._protocol.message import WireRef
from phoenix_actor._protocol.url import Params, check_url, param_pairs
from phoenix_actor._transport.checks import is_seconds
from phoenix_actor._transport.reasons import DisconnectReason
from phoenix_actor.exceptions import ConfigError

if TYPE_CHECKING:
    from phoenix_actor._socket.handles import Caller, Connection

logger = logging.getLogger("phoenix_actor.client")

_NO_REPLY: Any = object()


def _check_params(params: Params | None) -> None:
    if params is not None and not callable(params):
        param_pairs(params)  # raises ConfigError early, where the mistake was made


@dataclass(frozen=True, slots=True)
class Connect:
    """Open a connection. ``url`` / ``params`` replace the current ones when given.

    From ``init`` the URL is required. Returned while a connection is open or being
    opened, it is ignored with a warning. ``params`` may be a callable returning the
    params, called before every attempt.
    """

    url: str | None = None
    params: Params | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.url is not None:
            check_url(self.url)
        _check_params(self.params)


@dataclass(frozen=True, slots=True)
class NoConnect:
    """From ``init``: remember ``url`` and ``params`` but stay disconnected for now."""

    url: str
    params: Params | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_url(self.url)
        _check_params(self.params)


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Open a connection again after a backoff: the default of ``handle_disconnected``.

    The delay is ``after`` seconds when given, else the next step of
    ``Config.reconnect_after`` (phoenix.js's 10 ms ... 5 s; the count resets once a
    connection opens). Closes that say "do not come back" are not retried: close code
    1008 (policy violation) and a handshake refused with HTTP 401 or 403 leave the
    socket disconnected, with a warning saying why; 1012 and 1013 (server restarting,
    try again later) wait the schedule's longest step. With ``reconnect_after=None``
    and no ``after``, nothing is scheduled. ``Connect()`` reconnects at once, always.
    """

    after: float | None = None

    def __post_init__(self) -> None:
        after = self.after
        if after is not None and not is_seconds(after, zero=True):
            raise ConfigError(
                f"Reconnect(after=...) must be seconds >= 0 or None, not {after!r:.100}"
            )


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop the socket: close the connection, call ``terminate(reason)``, end the actor.

    From ``handle_call``, ``reply`` (when given) answers the caller first.
    """

    reason: Any = "normal"
    reply: Any = field(default=_NO_REPLY, repr=False)

    @property
    def has_reply(self) -> bool:
        """True when a reply value was given."""
        return self.reply is not _NO_REPLY


@dataclass(frozen=True, slots=True)
class Reply:
    """From ``handle_call``: answer the caller with ``value``."""

    value: Any


@dataclass(frozen=True, slots=True)
class NoReply:
    """From ``handle_call``: answer later with ``caller.reply(value)``."""


#: What a ``handle_*`` callback may return.
CallbackResult = Union[None, Connect, Reconnect, Stop]
#: What ``init`` may return.
InitResult = Union[Connect, NoConnect]
#: What ``handle_call`` may return.
CallResult = Union[Reply, NoReply, Stop]


class SocketClient:
    """Base class for the callback object a :class:`~phoenix_actor.SocketActor` hosts.

    Override ``init`` and whichever ``handle_*`` you need; every callback runs in the
    socket actor's thread, one at a time, so ``self`` needs no locks. The defaults
    do nothing, except that ``handle_disconnected`` returns :class:`Reconnect` (with
    backoff) and that ``handle_join_error``, ``handle_info`` and ``handle_call`` log or
    raise so that nothing passes unnoticed.
    """

    def init(self) -> InitResult:
        """Return ``Connect(url, params)`` or ``NoConnect(url, params)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement init()")

    def handle_connected(self, conn: Connection) -> CallbackResult:
        """The websocket is open; join topics here."""
        return None

    def handle_disconnected(self, reason: DisconnectReason) -> CallbackResult:
        """A connection attempt failed or the connection ended; every topic is unjoined.

        The default reconnects with backoff (:class:`Reconnect`); return ``None`` to stay
        disconnected, as phoenix_gen_socket_client does, or ``Connect()`` to retry now.
        """
        return Reconnect()

    def handle_joined(self, topic: str, response: Any, conn: Connection) -> CallbackResult:
        """The server accepted the join of ``topic``; ``response`` is its reply's response."""
        return None

    def handle_join_error(self, topic: str, response: Any, conn: Connection) -> CallbackResult:
        """The server refused the join of ``topic`` (for example ``unmatched topic``)."""
        logger.warning("join of %r refused: %s", topic, Bounded(response))
        return None

    def handle_channel_closed(self, topic: str, payload: Any, conn: Connection) -> CallbackResult:
        """The server closed (phx_close) or lost (phx_error) the channel of ``topic``.

        A crash (``phx_error``) comes here through the default ``handle_channel_error``;
        override that one to tell the two apart.
        """
        return None

    def handle_channel_error(self, topic: str, payload: Any, conn: Connection) -> CallbackResult:
        """The channel of ``topic`` crashed (``phx_error``); it is rejoined with backoff.

        The default calls ``handle_channel_closed``, as phoenix_gen_socket_client does.
        """
        return self.handle_channel_closed(topic, payload, conn)

    def handle_message(
        self, topic: str, event: str, payload: Any, conn: Connection
    ) -> CallbackResult:
        """A server push or broadcast on ``topic``."""
        return None

    def handle_reply(
        self, topic: str, ref: WireRef, payload: Any, conn: Connection
    ) -> CallbackResult:
        """A reply to push ``ref``; ``payload`` is ``{"status": ..., "response": ...}``."""
        return None

    def handle_info(self, message: Any, conn: Connection) -> CallbackResult:
        """Any other message told to the socket actor."""
        logger.warning(
            "%s received an unexpected message: %s", type(self).__name__, Bounded(message)
        )
        return None

    def handle_call(self, request: Any, caller: Caller, conn: Connection) -> CallResult:
        """A request made with :func:`phoenix_actor.call`; return ``Reply(value)``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement handle_call()")

    def terminate(self, reason: Any) -> None:
        """The socket is stopping with ``reason``; its connection is already closed."""
