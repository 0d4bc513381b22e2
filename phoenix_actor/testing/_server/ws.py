"""The embedded server's only contact with the ``websockets`` package (threaded API).

Imported lazily by :meth:`PhoenixServer.start`, so that ``phoenix_actor.testing``
imports without the optional ``server`` extra installed.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from phoenix_actor._protocol.auth_token import AUTH_TOKEN_PREFIX, PHOENIX_SUBPROTOCOL
from phoenix_actor._protocol.url import redact_url
from phoenix_actor.testing._server.auth import Handshake, offered_subprotocols
from phoenix_actor.testing._server.connection import Admission, TransportClosed

__all__ = ["WebsocketTransport", "start_listener"]

#: Decides a handshake: the path with its query string, the lower-cased request
#: headers and the :class:`Handshake` in, an :class:`Admission` or an
#: ``(HTTP status, body)`` refusal out.
AdmitFunction = Callable[[str, dict[str, str], Handshake], "Admission | tuple[int, str]"]

_PROTOCOL_HEADER = "Sec-WebSocket-Protocol"
#: Header values the websockets debug log may show; any other is ``***``.
_SHOWN_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-accept",
        "sec-websocket-extensions",
        "user-agent",
        "server",
        "date",
        "content-type",
        "content-length",
    }
)

if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:
    _LoggerAdapter = logging.LoggerAdapter


class _RedactingLogger(_LoggerAdapter):
    """The websockets library's debug log of handshakes, with credentials masked: the
    query values of the request line and header values other than :data:`_SHOWN_HEADERS`."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if msg == "< %s %s %s" and len(args) == 3:
            args = (args[0], redact_url(str(args[1])), args[2])
        elif (
            msg in ("< %s: %s", "> %s: %s")
            and len(args) == 2
            and str(args[0]).lower() not in _SHOWN_HEADERS
        ):
            args = (args[0], "***")
        super().log(level, msg, *args, **kwargs)


def _peer_cert(sock: socket.socket) -> Mapping[str, Any] | None:
    if isinstance(sock, ssl.SSLSocket):
        return sock.getpeercert() or None
    return None


def _keep_subprotocols(headers: MutableMapping[str, str], offered: Sequence[str]) -> None:
    """Leave only ``offered`` (without token entries, which the websockets parser
    would reject) for the library's subprotocol negotiation."""
    if _PROTOCOL_HEADER in headers:
        del headers[_PROTOCOL_HEADER]
    kept = [s for s in offered if not s.startswith(AUTH_TOKEN_PREFIX)]
    if kept:
        headers[_PROTOCOL_HEADER] = ", ".join(kept)


class _PhoenixServerConnection(ServerConnection):
    """A server connection that remembers its admission, the session registered for it
    before the 101 went out, and when the client last spoke."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before the base class starts its reading thread, which calls process_event.
        self.last_activity = time.monotonic()
        self.admission: Admission | None = None
        self.session: Any = None  # what ``register`` returned
        self.discard: Callable[[Any], None] | None = None
        super().__init__(*args, **kwargs)

    def process_event(self, event: Any) -> None:
        self.last_activity = time.monotonic()
        super().process_event(event)

    def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().handshake(*args, **kwargs)
        finally:
            # Registered, but the 101 did not go out (or the client left): no handler
            # will run for it, so the registration is undone here.
            if self.session is not None and self.protocol.state is not OPEN:
                session, self.session = self.session, None
                if self.discard is not None:
                    self.discard(session)


class WebsocketTransport:
    """:class:`~phoenix_actor.testing._server.connection.Transport` over ``websockets``."""

    def __init__(self, ws: _PhoenixServerConnection) -> None:
        self._ws = ws

    def recv(self, timeout: float | None) -> str | bytes | None:
        try:
            return self._ws.recv(timeout)
        except ConnectionClosed:
            return None

    def send(self, data: str | bytes) -> None:
        try:
            self._ws.send(data)
        except ConnectionClosed as exc:
            raise TransportClosed(str(exc)) from exc

    def close(self, code: int, reason: str) -> None:
        self._ws.close(code, reason)

    def abort(self) -> None:
        try:
            self._ws.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def idle_for(self) -> float:
        return time.monotonic() - self._ws.last_activity

    def finish(self) -> None:
        self._ws.recv_events_thread.join()


def start_listener(
    host: str,
    port: int,
    *,
    admit: AdmitFunction,
    register: Callable[[WebsocketTransport, Admission], Any],
    serve_session: Callable[[Any], None],
    discard: Callable[[Any], None],
    close_timeout: float,
    logger: logging.Logger,
    auth_token: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[Server, threading.Thread]:
    """Bind and listen now; serve on a new thread. Returns the server and that thread.

    With ``auth_token``, the ``phoenix`` subprotocol is selected when offered (``admit``
    has refused what Phoenix refuses); without, subprotocols are ignored. An accepted
    connection is registered (``register``) before its 101 is sent, so that it is known
    by the time the client sees it open; ``register`` returning None (the server is
    stopping) answers 503 instead. The handler thread then runs ``serve_session``, or
    ``discard`` when the 101 could not be sent.
    """

    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        offered = offered_subprotocols(request.headers.get_all(_PROTOCOL_HEADER))
        sock = ws.socket
        handshake = Handshake(offered, isinstance(sock, ssl.SSLSocket), _peer_cert(sock))
        decision = admit(request.path, headers, handshake)
        if isinstance(decision, tuple):
            status, body = decision
            return ws.respond(status, body)
        _keep_subprotocols(request.headers, offered if auth_token else ())
        if isinstance(ws, _PhoenixServerConnection):
            ws.admission = decision
        return None

    def process_response(
        ws: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        if (
            response.status_code != 101
            or not isinstance(ws, _PhoenixServerConnection)
            or ws.admission is None
        ):
            return None
        session = register(WebsocketTransport(ws), ws.admission)
        if session is None:
            return ws.respond(503, "Server is shutting down.\n")
        ws.session, ws.discard = session, discard
        return None

    def select_subprotocol(
        ws: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        if auth_token and PHOENIX_SUBPROTOCOL in offered:
            return Subprotocol(PHOENIX_SUBPROTOCOL)
        return None

    def handler(ws: ServerConnection) -> None:
        if isinstance(ws, _PhoenixServerConnection) and ws.session is not None:
            serve_session(ws.session)

    server = serve(
        handler,
        host,
        port,
        process_request=process_request,
        process_response=process_response,
        select_subprotocol=select_subprotocol,
        ssl=ssl_context,
        compression=None,  # Phoenix's default: compress: false
        ping_interval=None,  # Phoenix never pings clients
        close_timeout=close_timeout,
        max_size=None,
        logger=_RedactingLogger(logger, {}),
        create_connection=_PhoenixServerConnection,
    )
    thread = threading.Thread(
        target=server.serve_forever, name="phoenix-server-listener", daemon=True
    )
    thread.start()
    return server, thread
