"""The embedded server's only contact with the ``websockets`` package (threaded API).

Imported lazily by :meth:`PhoenixServer.start`, so that ``phoenix_actor.testing``
imports without the optional ``server`` extra installed.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from phoenix_actor.testing._server_connection import Admission, TransportClosed

__all__ = ["WebsocketTransport", "start_listener"]

#: Decides a handshake: the path with its query string and the lower-cased request
#: headers in, an :class:`Admission` or an ``(HTTP status, body)`` refusal out.
AdmitFunction = Callable[[str, dict[str, str]], "Admission | tuple[int, str]"]


class _PhoenixServerConnection(ServerConnection):
    """A server connection that remembers its admission and when the client last spoke."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before the base class starts its reading thread, which calls process_event.
        self.last_activity = time.monotonic()
        self.admission: Admission | None = None
        super().__init__(*args, **kwargs)

    def process_event(self, event: Any) -> None:
        self.last_activity = time.monotonic()
        super().process_event(event)


class WebsocketTransport:
    """:class:`~phoenix_actor.testing._server_connection.Transport` over ``websockets``."""

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
    handle: Callable[[WebsocketTransport, Admission], None],
    close_timeout: float,
    logger: logging.Logger,
) -> tuple[Server, threading.Thread]:
    """Bind and listen now; serve on a new thread. Returns the server and that thread."""

    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        headers = {name.lower(): value for name, value in request.headers.raw_items()}
        decision = admit(request.path, headers)
        if isinstance(decision, tuple):
            status, body = decision
            return ws.respond(status, body)
        if isinstance(ws, _PhoenixServerConnection):
            ws.admission = decision
        return None

    def handler(ws: ServerConnection) -> None:
        if isinstance(ws, _PhoenixServerConnection) and ws.admission is not None:
            handle(WebsocketTransport(ws), ws.admission)

    server = serve(
        handler,
        host,
        port,
        process_request=process_request,
        compression=None,  # Phoenix's default: compress: false
        ping_interval=None,  # Phoenix never pings clients
        close_timeout=close_timeout,
        max_size=None,
        logger=logger,
        create_connection=_PhoenixServerConnection,
    )
    thread = threading.Thread(
        target=server.serve_forever, name="phoenix-server-listener", daemon=True
    )
    thread.start()
    return server, thread
