"""The websocket of one connection attempt, with the TCP (and TLS) opened by us.

:class:`_Wire` opens the connection where :meth:`_Wire.abort` can reach it, so that a
stop interrupts a connect or TLS handshake in progress, and it is the one way frames
are written: whole, in order, under websocket-client's write lock, and either without
blocking (the owner's thread) or blocking (the transport actor).

Once connected the socket is non-blocking (the reader never waits on one connection);
a blocking write then waits for room with ``poll``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import websocket
from websocket import _http as websocket_http
from websocket import _socket as websocket_socket
from websocket import _url as websocket_url

from phoenix_actor._transport.options import ConnectPlan
from phoenix_actor.runtime import blocking

#: Connect errors after which the next address of the host is tried (as websocket-client).
_NEXT_ADDRESS_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH})
#: Errors of a non-blocking write that has to wait for room.
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError)


def _wait_writable(sock: socket.socket, timeout: float | None) -> bool:
    """Wait until ``sock`` can take more (or is broken: the next write then raises);
    False if ``timeout`` seconds passed first."""
    with blocking():  # on a pool worker, a spare runs the other actors meanwhile
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLOUT)
            return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))
        writable = select.select([], [sock], [sock], timeout)  # pragma: no cover -- Windows
        return bool(writable[1] or writable[2])  # pragma: no cover


@contextlib.contextmanager
def _held(lock: threading.Lock) -> Iterator[None]:
    """Release ``lock``, acquired already, when the block ends."""
    try:
        yield
    finally:
        lock.release()


def send_all(sock: socket.socket, data: bytes, deadline: float | None = None) -> None:
    """Write all of ``data`` to a non-blocking (or blocking) socket, waiting for room
    (until ``time.monotonic()`` reaches ``deadline``, if given: then TimeoutError)."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except _WOULD_BLOCK:
            left = None if deadline is None else deadline - time.monotonic()
            if not _wait_writable(sock, left):
                raise TimeoutError("the peer took no more data in time") from None
            continue
        view = view[sent:]


#: The longest line of the server's answer to the upgrade (as websockets).
MAX_UPGRADE_LINE = 8192
#: The most header lines in that answer (as websockets).
MAX_UPGRADE_HEADERS = 128
#: The most bytes of that answer: status line, headers and a refusal's body.
MAX_UPGRADE_RESPONSE = 65536


class UpgradeTooLarge(websocket.WebSocketException):
    """The server's answer to the upgrade broke one of the limits above."""


def upgrade_timeout() -> TimeoutError:
    return TimeoutError("no websocket connection within connect_timeout")


_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack


def encode_frame(data: bytes, opcode: int, key: bytes | None = None) -> bytes:
    """One final client frame (RFC 6455, section 5.2), masked with ``key``.

    The key is 4 random bytes from ``os.urandom`` unless given (tests give one).
    """
    length = len(data)
    first = 0x80 | opcode  # FIN, no extension bits
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 0x10000:
        header = _HEADER_16(first, 0x80 | 126, length)
    else:
        header = _HEADER_64(first, 0x80 | 127, length)
    if key is None:
        key = os.urandom(4)
    if not length:
        return header + key
    mask = int.from_bytes((key * (length // 4 + 1))[:length], "little")
    masked = (int.from_bytes(data, "little") ^ mask).to_bytes(length, "little")
    return header + key + masked


class _ReadAhead:
    """The socket during the HTTP upgrade, read 4 KiB at a time, within a deadline.

    websocket-client reads the upgrade response one byte per ``recv``; this serves those
    reads from memory. Every read of the socket waits at most until ``deadline`` (a
    ``time.monotonic()`` value), so a server that trickles its answer cannot stretch
    ``connect_timeout``; and the answer is held to :data:`MAX_UPGRADE_LINE`,
    :data:`MAX_UPGRADE_HEADERS` and :data:`MAX_UPGRADE_RESPONSE` (:class:`UpgradeTooLarge`).
    What it read past the response (frames the server sent at once) is left in
    :attr:`buffered`, for the reader's frame parser.
    """

    __slots__ = ("_deadline", "_head_done", "_line", "_lines", "_sock", "_total", "buffered")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self.buffered = b""
        self._total = 0  # bytes of the response served so far
        self._line = 0  # length of the current line
        self._lines = 0  # complete lines (the status line, then headers)
        self._head_done = False

    def recv(self, size: int) -> bytes:
        if not self.buffered:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise upgrade_timeout()
            self._sock.settimeout(remaining)
            self.buffered = self._sock.recv(4096)
        data, self.buffered = self.buffered[:size], self.buffered[size:]
        self._count(data)
        return data

    def _count(self, data: bytes) -> None:
        self._total += len(data)
        if self._total > MAX_UPGRADE_RESPONSE:
            raise UpgradeTooLarge(
                f"the upgrade response is longer than {MAX_UPGRADE_RESPONSE} bytes"
            )
        start = 0
        while not self._head_done:
            end = data.find(b"\n", start)
            self._line += (len(data) if end < 0 else end) - start
            if self._line > MAX_UPGRADE_LINE + 1:  # + 1: the line's CR
                raise UpgradeTooLarge(
                    f"a line of the upgrade response is longer than {MAX_UPGRADE_LINE} bytes"
                )
            if end < 0:
                return
            if self._line <= 1:  # an empty line (or a lone CR) ends the head
                self._head_done = True
                return
            self._lines += 1
            self._line = 0
            start = end + 1
            if self._lines > MAX_UPGRADE_HEADERS + 1:  # + 1: the status line
                raise UpgradeTooLarge(
                    f"the upgrade response has more than {MAX_UPGRADE_HEADERS} headers"
                )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Wire:
    """The websocket of one attempt, shared by the transport actor, its reader and the
    owner's handle, which may abort it from its own thread."""

    __slots__ = (
        "_opening",
        "_tail",
        "begun",
        "closing",
        "dead",
        "direct",
        "queued",
        "reading",
        "written",
        "ws",
    )

    def __init__(self, plan: ConnectPlan) -> None:
        self.closing = threading.Event()
        self._opening: socket.socket | None = None
        #: What a direct write could not write; under ``ws.lock``, the next write sends it.
        self._tail = b""
        #: Frames the owner handed to the transport actor, and how many it has written:
        #: the owner writes directly only when the two are equal, so frames keep their order.
        self.queued = 0  # written by the owner's thread only
        self.written = 0  # written by the transport actor's thread only
        #: The owner may write directly: the socket is connected, non-blocking and not TLS.
        self.direct = False
        #: The connection as the reader sees it, once handed over (``reader.ReadConnection``).
        self.reading: Any = None
        #: The owner's frames whose write began (under ``ws.lock``): those that may have
        #: reached the server. Frames go out in order, so they are the first ones.
        self.begun = 0
        #: The connection is broken (a write failed, or it was aborted): nothing more is
        #: written, so nothing more is counted in :attr:`begun`.
        self.dead = False
        self.ws = websocket.WebSocket(
            enable_multithread=True,
            skip_utf8_validation=True,
            sslopt=plan.sslopt,  # connect() would ignore these two
            sockopt=list(plan.sockopt),
        )

    def open(self, url: str, plan: ConnectPlan, deadline: float) -> socket.socket | None:
        """Open the TCP connection (and TLS) where :meth:`abort` can reach it, by
        ``deadline`` (a ``time.monotonic()`` value; else ``TimeoutError``).

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
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sock.close()
                raise upgrade_timeout()
            sock.settimeout(remaining)
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
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    sock.close()
                    raise upgrade_timeout()
                sock.settimeout(remaining)  # the TLS handshake's
                # Wrapped without the handshake first: the wrapper takes the descriptor
                # over, so it is what abort() must reach during the handshake.
                sslopt = {**plan.sslopt, "do_handshake_on_connect": False}
                try:
                    sock = websocket_http._ssl_socket(sock, sslopt, hostname)
                except BaseException:
                    sock.close()
                    raise
                self._opening = sock
                if self.closing.is_set():
                    sock.close()
                    raise ConnectionAbortedError("the transport was closed while connecting")
                try:
                    sock.do_handshake()
                except BaseException:
                    sock.close()
                    raise
            return sock
        raise error if error is not None else OSError(f"no address for {hostname!r}")

    def go_live(self, sock: socket.socket) -> None:
        """The upgrade is done on ``sock``: make it non-blocking (for the reader), and let
        the owner write directly unless it is TLS."""
        sock.setblocking(False)
        self.direct = not isinstance(sock, ssl.SSLSocket)

    def write_nowait(self, data: bytes, counted: bool = True) -> bool:
        """Write ``data`` now if that cannot block; True when the frame is taken care of.

        Called from the owner's thread. False means nothing was written (not connected
        yet, the write lock is taken, the connection is TLS, or the kernel's buffer is
        full): hand the frame to the transport actor. A partial write keeps the rest as the tail
        (:attr:`has_tail`), which the next :meth:`write` sends first: the owner then
        hands the transport actor an empty write, so that it goes soon.
        """
        sock = self.ws.sock
        if not self.direct or sock is None:
            return False
        lock = self.ws.lock
        if not lock.acquire(blocking=False):
            return False
        try:
            if self._tail:
                return False
            if self.closing.is_set() or self.dead:
                return True
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                self.abort()  # the reader sees it and reports the lost connection
                return True
            self._tail = data[sent:]
            self.begun += counted
            return True
        finally:
            lock.release()

    def write_or_rest(self, data: bytes, counted: bool = True) -> bytes | None:
        """:meth:`write_nowait`, then what is left for a blocking :meth:`write`: None
        (nothing), ``data`` (nothing was written) or ``b""`` (only the tail)."""
        if not self.write_nowait(data, counted):
            return data
        return b"" if self._tail else None

    @property
    def has_tail(self) -> bool:
        """Part of a frame is still to be written (by the next :meth:`write`)."""
        return bool(self._tail)

    def write(self, data: bytes, counted: bool = False, timeout: float | None = None) -> None:
        """Write the tail of a direct write, then ``data``; blocks until both are sent
        (or ``timeout`` seconds pass: TimeoutError). ``counted``: ``data`` is one of the
        owner's frames (:attr:`begun`).

        Raises ``OSError`` (or ``WebSocketException``) when the connection is broken.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        lock = self.ws.lock
        if not lock.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("another write holds the connection")
        with _held(lock):
            sock = self.ws.sock
            if sock is None or self.dead:
                raise websocket.WebSocketConnectionClosedException("the socket is closed")
            self.begun += counted
            data, self._tail = self._tail + data, b""
            if data:
                try:
                    send_all(sock, data, deadline)
                except BaseException:
                    self.dead = True
                    raise

    def abort(self) -> None:
        """Shut the TCP connection down: wakes the reader and fails a blocked write; also
        interrupts a connect or TLS handshake in progress."""
        self.dead = True
        sock = self.ws.sock or self._opening
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
