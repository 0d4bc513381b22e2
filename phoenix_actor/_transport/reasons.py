"""Why a connection attempt failed or an open connection ended.

Every ``handle_disconnected(reason)`` gets one of these frozen values. Match on the
class (``isinstance(reason, HandshakeRejected) and reason.status == 403``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class DisconnectReason:
    """Base class of all disconnect reasons."""

    def describe(self) -> str:
        """One readable line."""
        return repr(self)


@dataclass(frozen=True, slots=True)
class ConnectionRefused(DisconnectReason):
    """Nothing listens at the address (``ECONNREFUSED``)."""

    error: str

    def describe(self) -> str:
        return f"connection refused: {self.error}"


@dataclass(frozen=True, slots=True)
class ConnectFailed(DisconnectReason):
    """The TCP or TLS connection could not be made: DNS, unreachable host, timeout, TLS.

    ``kind`` is one of ``"dns"``, ``"timeout"``, ``"tls"`` (certificate verification,
    TLS handshake, client certificate refused), ``"proxy"`` (the proxy refused the
    CONNECT), ``"os"``, or ``"config"`` (nothing was attempted: a params, headers or
    auth_token callable raised or returned the wrong type, or a TLS file could not be
    loaded).
    """

    kind: str
    error: str

    def describe(self) -> str:
        return f"could not connect ({self.kind}): {self.error}"


@dataclass(frozen=True, slots=True)
class HandshakeRejected(DisconnectReason):
    """The server answered the websocket upgrade with an HTTP status other than 101.

    Phoenix answers 403 when the socket's ``connect`` refuses the params, when ``vsn``
    is not a supported version, or when the Origin header is not allowed.

    ``headers`` and ``body`` are the response's, for code that asks for them; they are
    left out of the repr and of ``describe()`` (so out of every log record): a server
    that echoes its request would put the credentials it was sent there.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    body: bytes = field(default=b"", compare=False, repr=False)

    @property
    def reason_phrase(self) -> str:
        """The standard phrase of ``status`` (``"Forbidden"`` for 403)."""
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    def describe(self) -> str:
        return f"upgrade refused with HTTP {self.status} {self.reason_phrase}".rstrip()


@dataclass(frozen=True, slots=True)
class HandshakeFailed(DisconnectReason):
    """The upgrade response was not a valid websocket handshake."""

    error: str

    def describe(self) -> str:
        return f"invalid websocket handshake: {self.error}"


@dataclass(frozen=True, slots=True)
class RemoteClosed(DisconnectReason):
    """The server sent a websocket close frame (``code`` is None if it had no code).

    Phoenix closes with 1000 on idle timeout (Cowboy) or socket-id disconnect up to
    1.8.7, 1001 for that disconnect from 1.8.8, 1011 when the connection crashed (for
    example on a malformed frame), 1012 while draining.
    """

    code: int | None
    reason: str = ""

    def describe(self) -> str:
        text = f"server closed the connection with code {self.code}"
        return f"{text} ({self.reason})" if self.reason else text


@dataclass(frozen=True, slots=True)
class ConnectionLost(DisconnectReason):
    """The connection ended without a close frame (TCP reset, EOF, broken pipe)."""

    error: str

    def describe(self) -> str:
        return f"connection lost: {self.error}"


@dataclass(frozen=True, slots=True)
class ProtocolViolation(DisconnectReason):
    """The server broke the websocket protocol (RFC 6455), so the client failed the
    connection, sending a close frame with ``code``: 1002 for an invalid frame (a masked
    frame, reserved bits or opcodes, fragments out of order, an invalid close frame:
    a 1-byte payload, a code such as 0, 999, 1005 or 1006, a reason that is not UTF-8),
    1007 for a text message that is not UTF-8. ``error`` says what was wrong."""

    code: int
    error: str

    def describe(self) -> str:
        return f"the server broke the websocket protocol (closed with {self.code}): {self.error}"


@dataclass(frozen=True, slots=True)
class MessageTooBig(DisconnectReason):
    """The server sent a message over ``TransportOptions.max_message_size`` (``limit``
    bytes); the client closed the connection with 1009 without reading it. ``size`` is
    what its frame headers announced so far (a lower bound of its size)."""

    size: int
    limit: int

    def describe(self) -> str:
        return (
            f"the server sent a message of at least {self.size} bytes, over the limit "
            f"of {self.limit} (max_message_size); closed with 1009"
        )


@dataclass(frozen=True, slots=True)
class TransportDown(DisconnectReason):
    """The transport went away on its own: its actor was stopped from outside, or failed
    in an unexpected way (the Elixir ``{:transport_down, reason}``)."""

    error: str

    def describe(self) -> str:
        return f"transport down: {self.error}"


@dataclass(frozen=True, slots=True)
class HeartbeatTimeout(DisconnectReason):
    """No reply to a Phoenix heartbeat before the next one was due; the client closed the
    connection (a dead or blackholed connection, or a server too busy to answer)."""

    interval: float

    def describe(self) -> str:
        return f"no heartbeat reply within {self.interval} s"


@dataclass(frozen=True, slots=True)
class PingTimeout(DisconnectReason):
    """No pong to a websocket ping within ``timeout`` seconds
    (``TransportOptions.ping_interval``); the client closed the connection."""

    timeout: float

    def describe(self) -> str:
        return f"no pong to a websocket ping within {self.timeout} s"


@dataclass(frozen=True, slots=True)
class ClosedByClient(DisconnectReason):
    """This client closed the connection (the socket stopping). Transports use it
    internally; callbacks never receive it, since a socket that closes its own
    connection is not told about it."""

    def describe(self) -> str:
        return "closed by this client"


#: Close codes after which ``Reconnect()`` gives up: policy violation.
FINAL_CLOSE_CODES = frozenset({1008})
#: Close codes that ask to come back later (service restart, try again later):
#: ``Reconnect()`` waits the longest step of its schedule.
LATER_CLOSE_CODES = frozenset({1012, 1013})
#: HTTP statuses of a refused handshake after which ``Reconnect()`` gives up.
FINAL_HTTP_STATUSES = frozenset({401, 403})


def reconnect_refusal(reason: DisconnectReason | None) -> str | None:
    """Why ``Reconnect()`` will not retry after ``reason`` (the server said not to come
    back: close code 1008, or a handshake refused with HTTP 401 or 403), else None."""
    if isinstance(reason, RemoteClosed) and reason.code in FINAL_CLOSE_CODES:
        return f"the server closed with code {reason.code} (policy violation)"
    if isinstance(reason, HandshakeRejected) and reason.status in FINAL_HTTP_STATUSES:
        return f"the server refused the handshake with HTTP {reason.status}"
    return None
