"""A fake transport: test a SocketClient with no network, playing the server by hand.

>>> connector = FakeConnector()                                      # doctest: +SKIP
>>> ref = SocketActor.start(MyClient(), transport_factory=connector)  # doctest: +SKIP
>>> server = connector.next_connection()                             # doctest: +SKIP
>>> server.accept()                                                  # doctest: +SKIP
>>> join = server.expect(event="phx_join", topic="room:1")           # doctest: +SKIP
>>> server.reply(join, "ok", {"welcome": True})                      # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from phoenix_actor._protocol.auth_token import AUTH_TOKEN_PREFIX, decode_auth_token
from phoenix_actor._protocol.constants import EVENT_CLOSE, EVENT_ERROR, EVENT_REPLY
from phoenix_actor._protocol.message import Frame, Message, Opcode
from phoenix_actor._protocol.serializer import normalize_ref
from phoenix_actor._transport.base import Transport, TransportListener
from phoenix_actor._transport.options import TransportOptions, resolve_options
from phoenix_actor._transport.reasons import (
    ConnectFailed,
    DisconnectReason,
    HandshakeRejected,
    RemoteClosed,
)
from phoenix_actor.exceptions import ConfigError
from phoenix_actor.testing._inbox import Inbox
from phoenix_actor.testing._server.protocol import V2

DEFAULT_TIMEOUT = 5.0


def decode_client_frame(frame: Frame) -> Message:
    """Decode a frame a client sent, as the server would (binary: 4-size push header),
    with its refs normalised as the client's own are."""
    data: str | bytes = frame.data.decode("utf-8") if frame.opcode is Opcode.TEXT else frame.data
    inbound = V2.decode(data)
    return Message(
        normalize_ref(inbound.join_ref),
        normalize_ref(inbound.ref),
        inbound.topic,
        inbound.event,
        inbound.payload,
    )


class FakeConnection:
    """One connection attempt of the socket under test, seen from the server side.

    ``headers`` are the request headers the attempt sends (callables resolved, as the
    real transport resolves them before every attempt) and ``auth_token`` the Phoenix
    1.8 auth token, if any. When resolving them fails, the attempt fails at once with
    ``ConnectFailed("config", ...)``, as with the real transport, and ``failed`` is set.
    """

    def __init__(self, url: str, options: TransportOptions, listener: TransportListener) -> None:
        self.url = url
        self.options = options
        self._listener = listener
        self.headers: dict[str, str] = {}
        self.auth_token: str | None = None
        self.failed: ConnectFailed | None = None
        self.sent: Inbox[Message] = Inbox()
        self.frames: list[Frame] = []
        self._closed = threading.Event()
        self._over = False
        self._reading = threading.Event()  # cleared while the client holds the reading
        self._reading.set()
        self._resumes = 0  # resume_reading calls, under _lock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<FakeConnection {self.url.split('?', 1)[0]} closed={self.closed}>"

    @property
    def params(self) -> dict[str, str]:
        """The query parameters of the connection URL."""
        return dict(parse_qsl(urlsplit(self.url).query))

    @property
    def closed(self) -> bool:
        """True once the client closed this connection."""
        return self._closed.is_set()

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the client closes this connection (``TimeoutError`` otherwise)."""
        if not self._closed.wait(timeout):
            raise TimeoutError(f"the client did not close {self!r} within {timeout} s")

    # -- Transport (called by the socket actor) -----------------------------------

    def send(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.sent.put(decode_client_frame(frame))

    def close(self) -> None:
        self._over = True
        self._closed.set()
        self._reading.set()

    def resume_reading(self) -> None:
        with self._lock:
            self._resumes += 1
            self._reading.set()

    def frames_sent(self) -> int:
        """Every frame the client sent reached this fake server (see ``Transport``)."""
        return len(self.frames)

    # -- driving the client -------------------------------------------------------

    def accept(self) -> None:
        """Complete the handshake: the client's ``handle_connected`` runs."""
        self._listener.connected()

    def refuse(self, reason: DisconnectReason | None = None) -> None:
        """Fail the attempt (default: HTTP 403, as Phoenix refuses a connect)."""
        self.disconnect(reason if reason is not None else HandshakeRejected(403))

    def disconnect(self, reason: DisconnectReason | None = None) -> None:
        """End the connection from the server side (default: close code 1000)."""
        if not self._over:
            self._over = True
            self._listener.disconnected(reason if reason is not None else RemoteClosed(1000))

    def send_frame(self, frame: Frame, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Deliver a raw frame to the client.

        Like the real transport, it waits while the client holds the reading
        (``Config.max_pending_frames``): ``TimeoutError`` after ``timeout`` seconds.
        """
        if not self._reading.wait(timeout):
            raise TimeoutError(f"the client held the reading of {self!r} for {timeout} s")
        with self._lock:
            resumes = self._resumes
        if self._listener.frame(frame) is False:
            with self._lock:
                if self._resumes == resumes:  # not resumed meanwhile
                    self._reading.clear()

    def send_message(self, join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> None:
        """Deliver ``[join_ref, ref, topic, event, payload]`` as a JSON text frame."""
        self.send_frame(Frame.text(V2.encode_message(join_ref, ref, topic, event, payload)))

    def expect(
        self,
        event: str | None = None,
        topic: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Message:
        """The next message the client sent matching ``event`` / ``topic`` (removed)."""

        def accept(message: Message) -> bool:
            return (event is None or message.event == event) and (
                topic is None or message.topic == topic
            )

        return self.sent.take(accept, timeout, f"client message {event or '*'} on {topic or '*'}")

    def refute(
        self, event: str | None = None, topic: str | None = None, within: float = 0.1
    ) -> None:
        """Assert the client sends no message matching ``event`` / ``topic`` for ``within``
        seconds (``AssertionError`` naming the message otherwise). A refutation can only
        watch a window: keep it short, and prefer ``expect`` on what should come instead."""
        try:
            found = self.expect(event, topic, timeout=within)
        except TimeoutError:
            return
        raise AssertionError(f"the client sent {found!r}")

    def reply(self, to: Message, status: str = "ok", response: Any = None) -> None:
        """Answer ``to`` with ``phx_reply`` (a join's reply echoes its join_ref)."""
        response = {} if response is None else response
        payload = {"status": status, "response": response}
        self.send_message(to.join_ref, to.ref, to.topic, EVENT_REPLY, payload)

    def push(self, topic: str, event: str, payload: Any, join_ref: Any = None) -> None:
        """A channel push (``join_ref`` set) or a broadcast (``join_ref`` None)."""
        self.send_message(join_ref, None, topic, event, payload)

    def close_channel(
        self, join: Message, error: bool = False, payload: Mapping[str, Any] | None = None
    ) -> None:
        """Close the channel ``join`` opened: ``phx_close``, or ``phx_error`` if ``error``."""
        event = EVENT_ERROR if error else EVENT_CLOSE
        self.send_message(join.join_ref, join.join_ref, join.topic, event, dict(payload or {}))


class FakeConnector:
    """A transport factory handing out :class:`FakeConnection` objects."""

    def __init__(self) -> None:
        self.connections: Inbox[FakeConnection] = Inbox()
        self.all: list[FakeConnection] = []

    def __call__(
        self, url: str, options: TransportOptions, listener: TransportListener
    ) -> Transport:
        connection = FakeConnection(url, options, listener)
        try:
            plan = resolve_options(options, url)
        except ConfigError as exc:
            connection.failed = ConnectFailed("config", str(exc))
        else:
            connection.headers = dict(plan.header)
            offered = plan.header.get("Sec-WebSocket-Protocol", "")
            for entry in offered.split(","):
                if entry.strip().startswith(AUTH_TOKEN_PREFIX):
                    connection.auth_token = decode_auth_token(entry.strip())
        self.all.append(connection)
        self.connections.put(connection)
        if connection.failed is not None:
            connection.disconnect(connection.failed)
        return connection

    def next_connection(self, timeout: float = DEFAULT_TIMEOUT) -> FakeConnection:
        """The next connection attempt the socket makes (waits for it)."""
        return self.connections.take(lambda _c: True, timeout, "connection attempt")
