"""The websocket of one connection attempt, with the TCP (and TLS) opened by us.

:class:`_Wire` opens the connection where :meth:`_Wire.abort` can reach it, so that a
stop interrupts a connect or TLS handshake in progress.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading

import websocket
from websocket import _http as websocket_http
from websocket import _socket as websocket_socket
from websocket import _url as websocket_url

from phoenix_actor._transport_options import ConnectPlan

#: Connect errors after which the next address of the host is tried (as websocket-client).
_NEXT_ADDRESS_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH})


class _Wire:
    """The websocket of one attempt, shared by the transport actor, its reader and the
    owner's handle, which may abort it from its own thread."""

    __slots__ = ("_opening", "closing", "ws")

    def __init__(self, plan: ConnectPlan) -> None:
        self.closing = threading.Event()
        self._opening: socket.socket | None = None
        self.ws = websocket.WebSocket(
            enable_multithread=True,
            skip_utf8_validation=True,
            sslopt=plan.sslopt,  # connect() would ignore these two
            sockopt=list(plan.sockopt),
        )

    def open(self, url: str, plan: ConnectPlan, timeout: float) -> socket.socket | None:
        """Open the TCP connection (and TLS) where :meth:`abort` can reach it.

        websocket-client would open it out of reach, so that a stop could not interrupt a
        connect or a TLS handshake to an unresponsive host. Through a proxy (given, or
        from the environment) websocket-client still opens it: returns None then.
        """
        hostname, port, _resource, secure = websocket_url.parse_url(url)
        kwargs = plan.connect_kwargs
        proxy_host = websocket_url.get_proxy_info(
            hostname,
            secure,
            proxy_host=kwargs.get("http_proxy_host"),
            proxy_port=kwargs.get("http_proxy_port", 0),
            proxy_auth=kwargs.get("http_proxy_auth"),
            no_proxy=kwargs.get("http_no_proxy"),
            proxy_type=kwargs.get("proxy_type", "http"),
        )[0]
        if proxy_host:
            return None
        error: OSError | None = None
        for family, kind, proto, _name, address in socket.getaddrinfo(
            hostname, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP
        ):
            sock = socket.socket(family, kind, proto)
            self._opening = sock
            if self.closing.is_set():
                sock.close()
                raise ConnectionAbortedError("the transport was closed while connecting")
            sock.settimeout(timeout)
            for option in (*websocket_socket.DEFAULT_SOCKET_OPTION, *plan.sockopt):
                sock.setsockopt(*option)
            try:
                sock.connect(address)
            except OSError as exc:
                sock.close()
                if self.closing.is_set() or exc.errno not in _NEXT_ADDRESS_ERRNOS:
                    raise
                error = exc
                continue
            if secure:
                sock = websocket_http._ssl_socket(sock, plan.sslopt, hostname)
            return sock
        raise error if error is not None else OSError(f"no address for {hostname!r}")

    def abort(self) -> None:
        """Shut the TCP connection down: wakes the reader and fails a blocked write; also
        interrupts a connect or TLS handshake in progress."""
        sock = self.ws.sock or self._opening
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
