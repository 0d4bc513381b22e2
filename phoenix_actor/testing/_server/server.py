"""An embedded Phoenix Channels server (protocol v2 and v1) for tests, demos and the CLI.

It speaks the wire protocol as the Phoenix 1.7.24 transcript in ``shared/spec`` shows
it, routes topics to :class:`Channel` handlers, records every frame it receives and
offers fault knobs (close codes, dropped TCP, unanswered heartbeats). It takes Phoenix
1.8's auth token and serves ``wss://`` given an ``ssl_context`` (see ``_server_auth``).
It runs on the threaded server of the ``websockets`` package
(``pip install phoenix_actor[server]``), which is imported only when the server starts.

Threads: one listener thread; per connection the library's handler thread (reading,
heartbeats), a worker thread (channel callbacks) and its library's own reading thread.
:meth:`PhoenixServer.stop` joins them all. Do not call it from a channel callback.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

from phoenix_actor.testing._server.auth import (
    ConnectCallback,
    ConnectInfo,
    Handshake,
    call_connect,
    subprotocol_refusal,
    take_auth_token,
)
from phoenix_actor.testing._server.channel import Channel, ChannelSocket
from phoenix_actor.testing._server.connection import Admission, Connection, Transport
from phoenix_actor.testing._server.echo import EchoChannel, demo_connect
from phoenix_actor.testing._server.presence import PresenceChannel, PresenceTracker
from phoenix_actor.testing._server.protocol import (
    Serializer,
    UnsupportedPayload,
    check_close_code,
    select_serializer,
    topic_matches,
)
from phoenix_actor.testing._server.recorder import Received, Recorder, ServerEvent

if TYPE_CHECKING:
    import ssl

    from websockets.sync.server import Server

__all__ = ["ConnectCallback", "ConnectInfo", "PhoenixServer"]

logger = logging.getLogger("phoenix_actor.testing.server")

_S = TypeVar("_S", bound="PhoenixServer")
_State = Literal["new", "running", "stopping", "stopped"]


class PhoenixServer:
    """A Phoenix endpoint with one socket at ``path``.

    ``connect`` decides connections (see :data:`ConnectCallback`: a third parameter
    gets the :class:`ConnectInfo` with the auth token and TLS peer); ``check_origin`` is
    a host name that an ``Origin`` header, when present, must match (else 403);
    ``max_channels`` caps joins per connection; ``idle_timeout`` (seconds, off by
    default) closes with 1000 a connection whose client sent no frame for that long;
    ``close_timeout`` bounds each closing handshake; ``disconnect_code`` is the close
    code of :meth:`disconnect`. ``demo=True`` (or :meth:`with_defaults`) mounts the
    transcript's app: ``echo:*`` on :class:`EchoChannel`, ``room:*`` on
    :class:`PresenceChannel`, ``token=bad`` refused, ``user=<u>`` giving socket id
    ``user_socket:<u>``. Channels track presence through :attr:`presence`.

    ``auth_token`` (on by default here; Phoenix's socket option ``auth_token: true``)
    takes the Phoenix 1.8 auth token out of ``Sec-WebSocket-Protocol`` and selects the
    ``phoenix`` subprotocol; off, the subprotocols are ignored. ``ssl_context`` (a
    server-side :class:`ssl.SSLContext`) serves ``wss://``; give it
    ``verify_mode = CERT_REQUIRED`` and a CA to require client certificates.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/socket/websocket",
        *,
        connect: ConnectCallback | None = None,
        check_origin: str | None = None,
        max_channels: int = 100,
        idle_timeout: float | None = None,
        close_timeout: float = 1.0,
        disconnect_code: int = 1000,
        demo: bool = False,
        auth_token: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.path = path
        self.connect = connect if connect is not None or not demo else demo_connect
        self.check_origin = check_origin
        self.max_channels = max_channels
        self.idle_timeout = idle_timeout
        self.close_timeout = close_timeout
        self.disconnect_code = disconnect_code
        self.auth_token = auth_token
        self.ssl_context = ssl_context
        #: Fault knob: when true, heartbeats get no reply.
        self.ignore_heartbeats = False
        #: Payload of ``phx_error``: ``{}`` as Phoenix <= 1.8.9, or
        #: ``{"reason": "channel_crash"}`` as Phoenix >= 1.8.10.
        self.phx_error_payload: dict[str, Any] = {}
        #: Every frame received, in order.
        self.received: Recorder[Received] = Recorder("frame")
        #: Server-side happenings, see :data:`ServerEvent`.
        self.events: Recorder[ServerEvent] = Recorder("event")
        #: Phoenix.Presence: ``presence.track(socket, key, meta)`` and friends.
        self.presence = PresenceTracker(self)
        self._port = port
        self._lock = threading.Lock()
        self._routes: list[tuple[str, Callable[[], Channel]]] = []
        self._connections: dict[int, Connection] = {}
        self._subscriptions: dict[str, list[ChannelSocket]] = {}
        self._conn_ids = itertools.count(1)
        self._state: _State = "new"
        self._listener: Server | None = None
        self._listener_thread: threading.Thread | None = None
        if demo:
            self.channel("echo:*", EchoChannel)
            self.channel("room:*", PresenceChannel)

    @classmethod
    def with_defaults(cls: type[_S], **kwargs: Any) -> _S:
        """A server mounting the transcript's demo app (same as ``demo=True``)."""
        return cls(demo=True, **kwargs)

    # -- configuration -----------------------------------------------------------------

    def channel(self: _S, pattern: str, handler: Callable[[], Channel]) -> _S:
        """Route topics matching ``pattern`` (``"room:*"`` = prefix, else exact) to a new
        ``handler()`` per join. The first matching route wins."""
        with self._lock:
            self._routes.append((pattern, handler))
        return self

    # -- lifecycle ---------------------------------------------------------------------

    def start(self: _S) -> _S:
        """Bind and listen, then serve on background threads. Returns ``self``."""
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"cannot start a server that is {self._state}")
            self._state = "running"
        try:
            from phoenix_actor.testing._server import (
                ws as _server_ws,  # the optional extra, on demand
            )
        except ImportError as exc:
            with self._lock:
                self._state = "new"
            raise ImportError(
                "PhoenixServer needs the 'websockets' package: pip install phoenix_actor[server]"
            ) from exc
        try:
            self._listener, self._listener_thread = _server_ws.start_listener(
                self.host,
                self._port,
                admit=self._admit,
                register=self._register,
                serve_session=self._serve,
                discard=self._discard,
                close_timeout=self.close_timeout,
                logger=logging.getLogger("phoenix_actor.testing.server.websockets"),
                auth_token=self.auth_token,
                ssl_context=self.ssl_context,
            )
        except BaseException:
            with self._lock:
                self._state = "new"
            raise
        self._port = int(self._listener.socket.getsockname()[1])
        logger.info("Phoenix test server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Close every connection (code 1001), stop listening and join every thread.

        Idempotent. Must not be called from a channel callback.
        """
        with self._lock:
            if self._state != "running":
                return
            self._state = "stopping"
            connections = list(self._connections.values())
        for connection in connections:
            connection.close(1001, "")
        if self._listener is not None:
            self._listener.shutdown(close_connections=False)  # joins the handler threads
        if self._listener_thread is not None:
            self._listener_thread.join()
        with self._lock:
            self._state = "stopped"
        logger.info("Phoenix test server on port %s stopped", self._port)

    def __enter__(self: _S) -> _S:
        if self._state != "running":
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the configured one before :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """``ws://host:port/path`` (``wss://`` with TLS), without a query string."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{host}:{self._port}{self.path}"

    @property
    def connections(self) -> list[int]:
        """Ids of the live connections, in the order they connected."""
        with self._lock:
            return sorted(self._connections)

    # -- server-side actions -----------------------------------------------------------

    def broadcast(
        self, topic: str, event: str, payload: Any, *, exclude: ChannelSocket | None = None
    ) -> None:
        """Send ``[null, null, topic, event, payload]`` to every channel joined to
        ``topic`` (but ``exclude``); ``bytes`` go out as a binary broadcast frame."""
        with self._lock:
            subscribers = [s for s in self._subscriptions.get(topic, ()) if s is not exclude]
        frames: dict[Serializer, str | bytes] = {}
        for sock in subscribers:
            serializer = sock._conn.serializer
            if serializer not in frames:
                try:
                    frames[serializer] = serializer.encode_broadcast(topic, event, payload)
                except UnsupportedPayload as exc:
                    logger.warning("broadcast to conn %s skipped: %s", sock.conn_id, exc)
                    continue
            sock._conn.send(frames[serializer])

    def channel_sockets(self, topic: str | None = None) -> list[ChannelSocket]:
        """The joined channels (of ``topic``, or all), e.g. to ``push`` from a test."""
        with self._lock:
            if topic is not None:
                return list(self._subscriptions.get(topic, ()))
            return [sock for socks in self._subscriptions.values() for sock in socks]

    def send_info(self, topic: str, message: Any) -> None:
        """Deliver ``message`` to ``handle_info`` of every channel joined to ``topic``."""
        for sock in self.channel_sockets(topic):
            sock.send_info(message)

    def disconnect(self, socket_id: str, code: int | None = None) -> int:
        """Close every connection whose socket id is ``socket_id`` with ``code``
        (default: the server's ``disconnect_code``), sending no channel frames first, like
        ``Endpoint.broadcast(socket_id, "disconnect", %{})``. Returns how many."""
        code = self.disconnect_code if code is None else code
        check_close_code(code)
        with self._lock:
            targets = [c for c in self._connections.values() if c.socket_id == socket_id]
        for connection in targets:
            connection.close(code, "")
        return len(targets)

    def close_all(self, code: int = 1000, reason: str = "") -> None:
        """Fault knob: close every connection with ``code`` and ``reason``."""
        check_close_code(code)
        with self._lock:
            targets = list(self._connections.values())
        for connection in targets:
            connection.close(code, reason)

    def kill_all(self) -> None:
        """Fault knob: drop every TCP connection without a close frame."""
        with self._lock:
            targets = list(self._connections.values())
        for connection in targets:
            connection.abort()

    # -- waiting -----------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 5.0, *, start: int = 0
    ) -> Received:
        """The first received frame (past or future) matching ``predicate``; see
        :meth:`Recorder.wait_for`."""
        return self.received.wait_for(predicate, timeout, start=start)

    def wait_for_event(
        self, predicate: Callable[[ServerEvent], bool], timeout: float = 5.0, *, start: int = 0
    ) -> ServerEvent:
        """The first server event (past or future) matching ``predicate``."""
        return self.events.wait_for(predicate, timeout, start=start)

    # -- internals used by the connections --------------------------------------------

    def _admit(
        self, target: str, headers: dict[str, str], handshake: Handshake
    ) -> Admission | tuple[int, str]:
        """Decide a handshake for ``target`` (path and query): Phoenix's order is the
        origin check, the auth token and subprotocols, the ``vsn`` serializer, then
        ``connect``."""
        split = urlsplit(target)
        if split.path != self.path:
            return 404, "not found"
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        origin = headers.get("origin")
        if self.check_origin is not None and origin is not None:
            origin_host = urlsplit(origin).hostname
            if origin_host is None or origin_host.lower() != self.check_origin.lower():
                logger.warning("refused connection from origin %r", origin)
                return self._refuse(params)
        info = ConnectInfo(None, handshake.subprotocols, handshake.tls, handshake.peer_cert)
        if self.auth_token:
            try:
                token, rest = take_auth_token(handshake.subprotocols)
            except ValueError as exc:
                logger.warning("refused a malformed auth token: %s", exc)
                return 500, ""  # Phoenix's Base.decode64! raises
            if subprotocol_refusal(rest):
                logger.warning("refused subprotocols %r: 'phoenix' was not offered", rest)
                return self._refuse(params)
            info = ConnectInfo(token, rest, handshake.tls, handshake.peer_cert)
            headers = dict(headers)
            headers.pop("sec-websocket-protocol", None)
            if rest:
                headers["sec-websocket-protocol"] = ", ".join(rest)
        serializer = select_serializer(params.get("vsn"))
        if serializer is None:
            logger.warning("refused connection with unsupported vsn %r", params.get("vsn"))
            return self._refuse(params)
        socket_id: str | None = None
        if self.connect is not None:
            try:
                verdict = call_connect(self.connect, params, headers, info)
            except Exception:
                logger.exception("connect callback failed")
                return 500, ""
            if isinstance(verdict, str):
                socket_id = verdict
            elif verdict is False or (verdict is not True and verdict is not None):
                return self._refuse(params)
        return Admission(params, socket_id, serializer)

    def _refuse(self, params: dict[str, str]) -> tuple[int, str]:
        self.events.append(("refused", params))
        return 403, ""

    def _register(self, transport: Transport, admission: Admission) -> Connection | None:
        """Register an accepted websocket before its 101 is sent (None: stopping)."""
        with self._lock:
            if self._state != "running":
                return None
            conn_id = next(self._conn_ids)
            connection = Connection(self, conn_id, transport, admission)
            self._connections[conn_id] = connection
        self.events.append(("connect", conn_id, admission.params))
        return connection

    def _serve(self, connection: Connection) -> None:
        """Serve one registered websocket (on the library's handler thread)."""
        threading.current_thread().name = f"phoenix-server-conn{connection.conn_id}"
        try:
            connection.run()
        finally:
            self._forget(connection)

    def _discard(self, connection: Connection) -> None:
        """A registered websocket whose 101 could not be sent: it never opened."""
        connection.discard()
        self._forget(connection)

    def _forget(self, connection: Connection) -> None:
        with self._lock:
            del self._connections[connection.conn_id]
        self.events.append(("disconnect", connection.conn_id))

    def _route(self, topic: str) -> Callable[[], Channel] | None:
        with self._lock:
            for pattern, handler in self._routes:
                if topic_matches(pattern, topic):
                    return handler
        return None

    def _subscribe(self, sock: ChannelSocket) -> None:
        with self._lock:
            self._subscriptions.setdefault(sock.topic, []).append(sock)

    def _unsubscribe(self, sock: ChannelSocket) -> None:
        with self._lock:
            socks = self._subscriptions.get(sock.topic, [])
            if sock in socks:
                socks.remove(sock)
            if not socks:
                self._subscriptions.pop(sock.topic, None)
        self.presence._channel_gone(sock)  # a stopped channel's presences leave
