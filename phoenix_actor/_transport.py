"""The transport: one websocket connection, owned by a Pykka actor with one reader thread.

The socket actor only sees the small contract below: a :class:`TransportFactory` opens
a connection and returns a :class:`Transport` (``send`` a frame, ``close``); the
connection reports back through a :class:`TransportListener` exactly once
``connected`` (or not at all), any number of ``frame`` calls, and exactly one
``disconnected`` -- unless the client closed it, in which case nothing more is said.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pykka
import websocket

from phoenix_actor._message import Frame, Opcode
from phoenix_actor._reasons import (
    ClosedByClient,
    ConnectFailed,
    ConnectionLost,
    ConnectionRefused,
    DisconnectReason,
    HandshakeFailed,
    HandshakeRejected,
    RemoteClosed,
    TransportDown,
)

logger = logging.getLogger("phoenix_actor.transport")

_CLOSE_NORMAL = 1000
_JOIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class TransportOptions:
    """How to open the websocket. Every field has a safe default.

    * ``headers``: extra HTTP headers for the upgrade request.
    * ``origin``: the Origin header; none is sent by default (Phoenix answers 403 to an
      Origin whose host it does not expect, and only checks it when present).
    * ``subprotocols``: offered in ``Sec-WebSocket-Protocol``.
    * ``connect_timeout``: seconds for TCP connect, TLS and the upgrade (default 10).
    * ``sslopt``: passed to websocket-client for ``wss://`` (certificates are verified
      by default; pass ``{"ca_certs": path}`` for a private CA).
    * ``extra``: further keyword arguments for ``websocket.WebSocket.connect``
      (``http_proxy_host``, ``http_proxy_port``, ``proxy_type``, ``sockopt`` ...).
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    origin: str | None = None
    subprotocols: Sequence[str] = ()
    connect_timeout: float = 10.0
    sslopt: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.connect_timeout > 0:
            raise ValueError(f"connect_timeout must be > 0, not {self.connect_timeout!r}")

    def __repr__(self) -> str:
        # Header values may carry credentials: show only their names.
        return (
            f"TransportOptions(headers={sorted(self.headers)!r}, origin={self.origin!r}, "
            f"subprotocols=<{len(self.subprotocols)}>, connect_timeout={self.connect_timeout!r})"
        )


class TransportListener(Protocol):
    """Where a transport reports what happens to its connection."""

    def connected(self) -> None:
        """The websocket handshake succeeded."""

    def frame(self, frame: Frame) -> None:
        """A data frame arrived."""

    def disconnected(self, reason: DisconnectReason) -> None:
        """The attempt failed or the connection ended (said once, never after ``close``)."""


class Transport(Protocol):
    """A live connection as the socket actor uses it."""

    def send(self, frame: Frame) -> None:
        """Send one frame (fire and forget: failures surface as a disconnect)."""

    def close(self) -> None:
        """Close the connection and release every resource; idempotent."""


TransportFactory = Callable[[str, TransportOptions, TransportListener], Transport]


@dataclass(frozen=True, slots=True)
class _Send:
    frame: Frame


@dataclass(frozen=True, slots=True)
class _OwnerClosing:
    """The owner closes the transport: it knows, so no disconnect is reported."""


def _failure_reason(exc: BaseException) -> DisconnectReason:
    """Translate an exception raised while connecting into a disconnect reason."""
    if isinstance(exc, websocket.WebSocketBadStatusException):
        headers = {str(k).lower(): str(v) for k, v in (exc.resp_headers or {}).items()}
        return HandshakeRejected(exc.status_code, headers, exc.resp_body or b"")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(str(exc))
    if isinstance(exc, (websocket.WebSocketTimeoutException, socket.timeout, TimeoutError)):
        return ConnectFailed("timeout", str(exc) or "timed out")
    if isinstance(exc, socket.gaierror):
        return ConnectFailed("dns", str(exc))
    if isinstance(exc, ssl.SSLError):
        return ConnectFailed("tls", str(exc))
    if isinstance(exc, websocket.WebSocketAddressException):
        return ConnectFailed("dns", str(exc))
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return ConnectionLost(str(exc) or "connection closed during the handshake")
    if isinstance(exc, websocket.WebSocketException):
        return HandshakeFailed(str(exc))
    if isinstance(exc, OSError):
        return ConnectFailed("os", str(exc))
    return TransportDown(f"{type(exc).__name__}: {exc}")


def _close_reason(data: bytes) -> RemoteClosed:
    if len(data) < 2:
        return RemoteClosed(None)
    code = int.from_bytes(data[:2], "big")
    return RemoteClosed(code, data[2:].decode("utf-8", errors="replace"))


class TransportActor(pykka.ThreadingActor):
    """Owns one ``websocket.WebSocket`` and the one thread that connects and reads it.

    Outbound frames arrive in the mailbox and are written by the actor's thread; the
    reader thread reports to the listener. Stopping the actor closes the socket, which
    wakes the reader, and joins it.
    """

    def __init__(self, url: str, options: TransportOptions, listener: TransportListener) -> None:
        super().__init__()
        self._url = url
        self._options = options
        self._listener = listener
        self._closing = threading.Event()
        self._report_lock = threading.Lock()
        self._reported = False
        self._ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
        self._reader = threading.Thread(
            target=self._read_loop, name=f"phoenix_actor-reader-{id(self):x}", daemon=True
        )

    # -- actor side ---------------------------------------------------------------

    def on_start(self) -> None:
        self._reader.start()

    def on_receive(self, message: Any) -> None:
        if isinstance(message, _Send):
            self._send(message.frame)
        elif isinstance(message, _OwnerClosing):
            with self._report_lock:
                self._reported = True
        else:
            logger.warning("transport ignored an unexpected message: %r", message)

    def on_stop(self) -> None:
        self._report(TransportDown("the transport actor was stopped"))
        self._shutdown()

    def on_failure(self, *exc_info: object) -> None:
        self._report(TransportDown(f"the transport actor failed: {exc_info[1]!r}"))
        self._shutdown()

    def _report(self, reason: DisconnectReason) -> None:
        """Tell the listener about the end of the connection, once at most."""
        with self._report_lock:
            if self._reported:
                return
            self._reported = True
        logger.debug("connection to %s ended: %s", self._safe_url(), reason.describe())
        self._listener.disconnected(reason)

    def _send(self, frame: Frame) -> None:
        if self._closing.is_set():
            return
        abnf = websocket.ABNF
        opcode = abnf.OPCODE_TEXT if frame.opcode is Opcode.TEXT else abnf.OPCODE_BINARY
        try:
            self._ws.send(frame.data, opcode)
        except (OSError, websocket.WebSocketException) as exc:
            # The reader sees the broken connection and reports it; make sure it wakes.
            logger.debug("send failed (%s); aborting the connection", exc)
            self._abort()

    def _abort(self) -> None:
        sock = self._ws.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _shutdown(self) -> None:
        self._closing.set()
        if self._ws.connected:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self._ws.send_close(_CLOSE_NORMAL)
        self._abort()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(_JOIN_TIMEOUT)
        if self._reader.is_alive():
            # Still inside a TCP connect: it sees ``_closing`` when that returns.
            logger.debug("reader still connecting at stop; it will close on its own")
        else:
            self._ws.shutdown()  # type: ignore[no-untyped-call]

    # -- reader thread ------------------------------------------------------------

    def _read_loop(self) -> None:
        reason = self._run()
        if not self._closing.is_set():
            self._report(reason)

    def _safe_url(self) -> str:
        return self._url.split("?", 1)[0]

    def _run(self) -> DisconnectReason:
        options = self._options
        try:
            self._ws.connect(  # type: ignore[no-untyped-call]
                self._url,
                header=dict(options.headers),
                origin=options.origin,
                suppress_origin=options.origin is None,
                subprotocols=list(options.subprotocols) or None,
                timeout=options.connect_timeout,
                sslopt=dict(options.sslopt),
                **options.extra,
            )
        except Exception as exc:  # noqa: BLE001 -- every failure becomes a reason
            return _failure_reason(exc)
        if self._closing.is_set():
            return ClosedByClient()
        self._ws.settimeout(None)
        self._listener.connected()
        recv = self._ws.recv_data_frame
        frame_to = self._listener.frame
        text, binary, close = (
            websocket.ABNF.OPCODE_TEXT,
            websocket.ABNF.OPCODE_BINARY,
            websocket.ABNF.OPCODE_CLOSE,
        )
        while True:
            try:
                opcode, frame = recv()
            except (OSError, websocket.WebSocketException) as exc:
                return ConnectionLost(str(exc) or type(exc).__name__)
            except Exception as exc:
                logger.exception("transport reader failed")
                return TransportDown(f"{type(exc).__name__}: {exc}")
            if opcode == text:
                frame_to(Frame(Opcode.TEXT, frame.data))
            elif opcode == binary:
                frame_to(Frame(Opcode.BINARY, frame.data))
            elif opcode == close:
                return _close_reason(frame.data)


class _ActorTransport:
    """The :class:`Transport` face of a :class:`TransportActor`."""

    __slots__ = ("_ref",)

    def __init__(self, ref: pykka.ActorRef[TransportActor]) -> None:
        self._ref = ref

    def send(self, frame: Frame) -> None:
        try:
            self._ref.tell(_Send(frame))
        except pykka.ActorDeadError:
            logger.debug("frame dropped: the transport has stopped")

    def close(self) -> None:
        try:
            self._ref.tell(_OwnerClosing())
            self._ref.stop(block=True, timeout=_JOIN_TIMEOUT + 1)
        except pykka.ActorDeadError:
            pass
        except pykka.Timeout:
            logger.warning("the transport did not stop within %s s", _JOIN_TIMEOUT + 1)


def websocket_transport(
    url: str, options: TransportOptions, listener: TransportListener
) -> Transport:
    """The default :class:`TransportFactory`: a :class:`TransportActor` on websocket-client."""
    return _ActorTransport(TransportActor.start(url, options, listener))
