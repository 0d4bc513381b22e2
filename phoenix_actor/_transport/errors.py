"""Exceptions and close frames turned into :class:`~phoenix_actor.DisconnectReason` values.

:func:`_failure_reason` translates what connecting raised (websocket-client, ``ssl``
and ``OSError`` errors); :func:`_close_reason` reads the server's close frame.
"""

from __future__ import annotations

import socket
import ssl

import websocket

from phoenix_actor._transport.reasons import (
    ConnectFailed,
    ConnectionLost,
    ConnectionRefused,
    DisconnectReason,
    HandshakeFailed,
    HandshakeRejected,
    RemoteClosed,
    TransportDown,
)


def _failure_reason(exc: BaseException) -> DisconnectReason:
    """Translate an exception raised while connecting into a disconnect reason.

    Messages come from the exception only: websocket-client never puts the request's
    headers or query in them.
    """
    if isinstance(exc, websocket.WebSocketBadStatusException):
        headers = {str(k).lower(): str(v) for k, v in (exc.resp_headers or {}).items()}
        return HandshakeRejected(exc.status_code, headers, exc.resp_body or b"")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(str(exc))
    if isinstance(exc, (websocket.WebSocketTimeoutException, socket.timeout, TimeoutError)):
        return ConnectFailed("timeout", str(exc) or "timed out")
    if isinstance(exc, socket.gaierror):
        return ConnectFailed("dns", str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        return ConnectFailed("tls", f"certificate verify failed: {detail}")
    if isinstance(exc, ssl.SSLEOFError):
        return ConnectFailed(
            "tls",
            f"the server ended the TLS session ({exc}); a server that requires a client "
            "certificate does so when none is sent",
        )
    if isinstance(exc, ssl.SSLError):
        return ConnectFailed("tls", str(exc))
    if isinstance(exc, websocket.WebSocketAddressException):
        return ConnectFailed("dns", str(exc))
    if isinstance(exc, websocket.WebSocketProxyException):
        return ConnectFailed("proxy", str(exc))
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        if isinstance(exc.__context__, ssl.SSLError):  # websocket-client hides TLS errors
            return _failure_reason(exc.__context__)
        return ConnectionLost(str(exc) or "connection closed during the handshake")
    if isinstance(exc, websocket.WebSocketException):
        if str(exc).startswith("SSL "):  # websocket-client's own TLS set-up errors
            return ConnectFailed("tls", str(exc))
        return HandshakeFailed(str(exc))
    if isinstance(exc, OSError):
        return ConnectFailed("os", str(exc))
    return TransportDown(f"{type(exc).__name__}: {exc}")


def _close_reason(data: bytes) -> RemoteClosed:
    if len(data) < 2:
        return RemoteClosed(None)
    code = int.from_bytes(data[:2], "big")
    return RemoteClosed(code, data[2:].decode("utf-8", errors="replace"))
