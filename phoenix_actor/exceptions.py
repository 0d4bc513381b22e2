"""The exceptions phoenix_actor raises, all rooted at :class:`PhoenixActorError`.

.. code-block:: text

    PhoenixActorError
    ├── ConfigError (also ValueError)      bad URL, params or option, found before anything is sent
    │   └── InvalidURLError
    ├── ProtocolError                      an inbound frame that breaks the wire protocol
    │   └── DecodeError
    ├── PushError                          join / leave / push refused locally, nothing was sent
    │   ├── DisconnectedError              no open connection (or a stale connection handle)
    │   ├── NotJoinedError                 push or leave on a topic that is not joined
    │   ├── AlreadyJoinedError             join of a topic that is joined or joining
    │   ├── InvalidMessageError (also TypeError)  a topic, event or payload of the wrong type
    │   ├── EncodeError (also TypeError)   the payload cannot be serialized (the ref is consumed)
    │   └── BufferFullError                the push buffer is full (Config.push_buffer)
    ├── NoReplyError                       a request was accepted, but its reply will not come
    │   ├── PushTimeoutError (also TimeoutError)  no reply within the timeout
    │   ├── ChannelClosedError             the channel closed or crashed first
    │   └── ConnectionClosedError          the connection closed first
    │       ├── NotSentError               ... before the request was written: safe to retry
    │       └── ReplyLostError             ... after it was written: it may have been handled
    ├── JoinRefusedError                   the server refused a join (topic, response)
    ├── WrongThreadError (also RuntimeError)  a socket-actor-only API called from another thread
    ├── CallTimeoutError (also TimeoutError)  call() got no answer in time
    │   └── NotConnectedError (also ConnectionError)  a facade found no connection (reason)
    ├── MessageTimeoutError (also TimeoutError)  no message came to a subscription in time
    └── SocketStoppedError                 the socket actor is not running (any more)

Errors of websocket-client and ``OSError`` never escape: the transport turns them into a
:class:`~phoenix_actor.DisconnectReason` handed to ``handle_disconnected``.
"""

from __future__ import annotations


class PhoenixActorError(Exception):
    """Base class of every exception raised by phoenix_actor."""


class ConfigError(PhoenixActorError, ValueError):
    """A URL, parameter or option is invalid."""


class InvalidURLError(ConfigError):
    """The socket URL is not a ``ws://`` or ``wss://`` URL without a query string."""


class ProtocolError(PhoenixActorError):
    """An inbound frame does not follow the Phoenix Channels protocol."""


class DecodeError(ProtocolError):
    """An inbound frame could not be decoded into a message."""


class PushError(PhoenixActorError):
    """A join, leave or push was refused locally; nothing was sent."""


class DisconnectedError(PushError):
    """There is no open connection (or the connection handle belongs to an older connection)."""


class NotJoinedError(PushError):
    """Push or leave on a topic that has not been joined (or whose join is still pending)."""


class AlreadyJoinedError(PushError):
    """Join of a topic that is already joined, or whose join is still pending."""


class InvalidMessageError(PushError, TypeError):
    """A topic or event of the wrong type, or a reserved event pushed directly. No ref is used."""


class EncodeError(PushError, TypeError):
    """The payload could not be serialized. The ref picked for the message is consumed."""


class BufferFullError(PushError):
    """The push could not be buffered: ``Config.push_buffer`` pushes are already waiting."""


class NoReplyError(PhoenixActorError):
    """A join, leave or push was accepted, but its reply will never come."""


class PushTimeoutError(NoReplyError, TimeoutError):
    """No reply came within the timeout (a buffered push may not even have been sent)."""


class ChannelClosedError(NoReplyError):
    """The channel closed (``phx_close``), crashed (``phx_error``) or was left first."""


class ConnectionClosedError(NoReplyError):
    """The connection closed before the reply came. A join, leave or push fails with one
    of its two subclasses, which say whether the request left: catch them to decide
    whether to retry."""


class NotSentError(ConnectionClosedError):
    """The connection closed before the request was written to it: the server never saw
    it, and sending it again cannot apply it twice."""


class ReplyLostError(ConnectionClosedError):
    """The request was written to the connection (in whole or in part), which then
    closed before the reply came: the server may have handled it. Retry only what is
    safe to apply twice (idempotent, or deduplicated by the server, e.g. by an id in
    the payload); otherwise check with the server first."""


class JoinRefusedError(PhoenixActorError):
    """The server refused a join; ``response`` is its reply's response."""

    def __init__(self, topic: str, response: object) -> None:
        super().__init__(f"join of {topic!r} refused: {response!r}")
        self.topic = topic
        self.response = response


class WrongThreadError(PhoenixActorError, RuntimeError):
    """A method meant for the socket actor's own thread was called from another thread."""


class CallTimeoutError(PhoenixActorError, TimeoutError):
    """A request to the socket actor got no answer within its timeout."""


class NotConnectedError(CallTimeoutError, ConnectionError):
    """``Socket.wait_connected`` (and so ``join``) found no open connection.

    Raised once the socket has given up (``reconnect=False``, or a refusal that is not
    retried: HTTP 401 or 403, close code 1008), or when the timeout is over while it
    keeps trying. ``reason`` is the last :class:`~phoenix_actor.DisconnectReason`, None
    if no attempt has ended yet. A :class:`CallTimeoutError`, as it was before it
    existed, and a builtin ``ConnectionError``.
    """

    def __init__(self, message: str, reason: object = None) -> None:
        super().__init__(message)
        self.reason = reason


class MessageTimeoutError(PhoenixActorError, TimeoutError):
    """No message came to a ``Subscription`` (or ``AsyncSubscription``) within the timeout."""


class SocketStoppedError(PhoenixActorError):
    """The socket actor has stopped, or stopped before answering."""
