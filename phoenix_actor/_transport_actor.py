"""The :class:`TransportActor`, its reader thread, and its :class:`Transport` face.

The actor owns one websocket (a :class:`_Wire`): it writes the outbound frames and
sends the keepalive pings; its reader thread connects, reads frames and reports them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka
import websocket

from phoenix_actor._inbound import CLOSE_NORMAL, LOST, READ_SIZE, Inbound, close_frame
from phoenix_actor._mailbox import tell_later
from phoenix_actor._message import Frame, Opcode
from phoenix_actor._reasons import (
    ClosedByClient,
    ConnectionLost,
    DisconnectReason,
    HandshakeFailed,
    HandshakeRejected,
    PingTimeout,
    TransportDown,
)
from phoenix_actor._shared_reader import SHARED_READER, SharedConnection
from phoenix_actor._timers import Timer
from phoenix_actor._transport_errors import _failure_reason
from phoenix_actor._transport_options import ConnectPlan, TransportOptions, resolve_options
from phoenix_actor._url import redact_url
from phoenix_actor._wire import DONTWAIT, _ReadAhead, _Wire, encode_frame

if TYPE_CHECKING:
    from phoenix_actor._transport import TransportListener

logger = logging.getLogger("phoenix_actor.transport")

_OPCODES = {Opcode.TEXT: websocket.ABNF.OPCODE_TEXT, Opcode.BINARY: websocket.ABNF.OPCODE_BINARY}
_JOIN_TIMEOUT = 5.0
#: How long a close waits for the transport to send its close frame before aborting.
_GRACEFUL_CLOSE = 0.25


@dataclass(frozen=True, slots=True)
class _Send:
    """Write one encoded frame (empty: only the tail a direct write left). ``counted``:
    one of the owner's frames (``_Wire.queued``); the shared reader's pongs are not."""

    data: bytes
    counted: bool = True


@dataclass(frozen=True, slots=True)
class _Opened:
    """The reader connected: start the keepalive pings."""


@dataclass(frozen=True, slots=True)
class _PingDue:
    """Time to send a websocket ping."""


@dataclass(frozen=True, slots=True)
class _PongDue:
    """The pong of ping number ``sequence`` should have come by now."""

    sequence: int


@dataclass(frozen=True, slots=True)
class _OwnerClosing:
    """The owner closes the transport: it knows, so no disconnect is reported."""


class TransportActor(pykka.ThreadingActor):
    """Owns one ``websocket.WebSocket`` and the one thread that connects and reads it.

    Outbound frames arrive in the mailbox and are written by the actor's thread; the
    reader thread reports to the listener. Stopping the actor closes the socket, which
    wakes the reader, and joins it. ``plan`` is the attempt resolved by
    ``resolve_options`` (credential callables called, TLS files loaded); without it the
    options are resolved in ``__init__``, which raises :class:`ConfigError` on failure.
    """

    def __init__(
        self,
        url: str,
        options: TransportOptions,
        listener: TransportListener,
        plan: ConnectPlan | None = None,
        wire: _Wire | None = None,
    ) -> None:
        super().__init__()
        self._url = url
        self._options = options
        # Resolved in the caller's thread: credential callables never run on the reader.
        self._plan = plan if plan is not None else resolve_options(options, url)
        self._listener = listener
        self._wire = wire if wire is not None else _Wire(self._plan)
        self._closing = self._wire.closing
        self._ws = self._wire.ws
        self._report_lock = threading.Lock()
        self._reported = False
        self._pings = 0  # pings sent
        self._pongs = 0  # pongs received (written by the reader thread)
        self._ping_timer: Timer | None = None
        self._shared: SharedConnection | None = None  # read by the shared reader
        self._reader = threading.Thread(
            target=self._read_loop, name=f"phoenix_actor-reader-{id(self):x}", daemon=True
        )
        # Connecting starts now, while Pykka starts the actor's own thread: what it
        # reports before the actor runs waits in the mailbox, or goes to the listener.
        self._reader.start()

    # -- actor side ---------------------------------------------------------------

    def on_receive(self, message: Any) -> None:
        if isinstance(message, _Send):
            self._send(message)
        elif isinstance(message, _OwnerClosing):
            with self._report_lock:
                self._reported = True
        elif isinstance(message, _Opened):
            if self._options.ping_interval is not None:
                self._after(self._options.ping_interval, _PingDue())
        elif isinstance(message, _PingDue):
            self._ping_due()
        elif isinstance(message, _PongDue):
            self._pong_due(message.sequence)
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
        logger.debug("connection to %s ended: %s", redact_url(self._url), reason.describe())
        self._listener.disconnected(reason)

    def _send(self, message: _Send) -> None:
        try:
            if not self._closing.is_set():
                self._wire.write(message.data)
        except (OSError, websocket.WebSocketException) as exc:
            # The reader sees the broken connection and reports it; make sure it wakes.
            logger.debug("send failed (%s); aborting the connection", exc)
            self._abort()
        finally:
            if message.counted:
                self._wire.written += 1

    def _after(self, delay: float, message: object) -> None:
        self._ping_timer = tell_later(self.actor_ref, delay, message)

    def _ping_due(self) -> None:
        """Send a websocket ping; its pong is checked ``ping_timeout`` later."""
        timeout = self._options.ping_timeout or self._options.ping_interval
        if timeout is None or self._closing.is_set():
            return
        try:
            self._wire.write(encode_frame(b"", websocket.ABNF.OPCODE_PING))
        except (OSError, websocket.WebSocketException) as exc:
            logger.debug("ping failed (%s); aborting the connection", exc)
            self._abort()
            return
        self._pings += 1
        self._after(timeout, _PongDue(self._pings))

    def _pong_due(self, sequence: int) -> None:
        interval = self._options.ping_interval
        timeout = self._options.ping_timeout or interval
        if interval is None or timeout is None or self._closing.is_set():
            return
        if self._pongs < sequence:
            logger.warning("no pong within %s s: closing", timeout)
            self._report(PingTimeout(timeout))
            self._abort()
            return
        self._after(interval - timeout, _PingDue())

    def _abort(self) -> None:
        self._wire.abort()

    def _shutdown(self) -> None:
        self._closing.set()
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        if self._ws.connected:
            self._close_quietly(CLOSE_NORMAL)
        self._abort()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(_JOIN_TIMEOUT)
        if self._reader.is_alive():
            # Still inside a TCP connect: it sees ``_closing`` when that returns.
            logger.debug("reader still connecting at stop; it will close on its own")
        else:
            if self._shared is not None:
                SHARED_READER.remove(self._shared)  # before the socket is closed
            self._ws.shutdown()  # type: ignore[no-untyped-call]

    # -- reader thread ------------------------------------------------------------

    def _redirect(self) -> HandshakeRejected | None:
        """The 3xx answer websocket-client refused to follow (``redirect_limit``)."""
        response = getattr(self._ws, "handshake_response", None)
        status = getattr(response, "status", None)
        if response is None or not isinstance(status, int) or not 300 <= status < 400:
            return None
        headers = {str(k).lower(): str(v) for k, v in (response.headers or {}).items()}
        return HandshakeRejected(status, headers)

    def _read_loop(self) -> None:
        reason = self._run()
        if reason is not None and not self._closing.is_set():
            self._report(reason)

    def _run(self) -> DisconnectReason | None:
        """Connect, then read until the connection ends (its reason), or hand the reading
        to the shared reader (None)."""
        options, plan = self._options, self._plan
        try:
            opened = self._wire.open(self._url, plan, options.connect_timeout)
            ahead = None if opened is None else _ReadAhead(opened)
            self._ws.connect(  # type: ignore[no-untyped-call]
                self._url,
                header=plan.header,
                origin=options.origin,
                suppress_origin=options.origin is None,
                timeout=options.connect_timeout,
                **plan.connect_kwargs,
                **({} if ahead is None else {"socket": ahead}),
            )
            if ahead is not None:
                self._ws.sock = opened  # what was read past the upgrade: the first frames
        except websocket.WebSocketException as exc:
            redirect = self._redirect()
            return redirect if redirect is not None else _failure_reason(exc)
        except Exception as exc:  # noqa: BLE001 -- every failure becomes a reason
            return _failure_reason(exc)
        headers = self._ws.getheaders() or {}
        problem = plan.check_selected(headers.get("sec-websocket-protocol"))
        if problem is not None:
            return HandshakeFailed(problem)
        if self._closing.is_set():
            self._ws.shutdown()  # type: ignore[no-untyped-call]  # stop() gave up waiting
            return ClosedByClient()
        self._ws.settimeout(None)
        keepalive = self._options.ping_interval is not None
        if keepalive:
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(_Opened())
        self._listener.connected()
        first = b"" if ahead is None else ahead.buffered
        sock = self._ws.sock
        if sock is None:
            return ConnectionLost(LOST)
        # A TLS read could block the shared reader for the rest of a record: read here.
        shared = self._options.shared_reader and not isinstance(sock, ssl.SSLSocket)
        if shared and DONTWAIT is not None:
            return self._share(sock, first)
        return self._read_frames(sock, first)

    def _inbound(self, answer: Callable[[bytes], None]) -> Inbound:
        return Inbound(
            self._listener.frames,
            answer,
            self._mark_closed,
            self._count_pong,
            self._options.max_message_size,
        )

    def _mark_closed(self) -> None:
        """A close frame is on its way: websocket-client's ``connected`` turns False."""
        self._ws.connected = False

    def _count_pong(self) -> None:
        self._pongs += 1

    def _read_frames(self, sock: socket.socket, first: bytes) -> DisconnectReason:
        """Read the socket in large chunks and report every message of a chunk at once."""
        recv = sock.recv
        inbound = self._inbound(self._answer)
        data = first
        while True:
            if not data:
                try:
                    data = recv(READ_SIZE)
                except OSError as exc:
                    return ConnectionLost(str(exc) or type(exc).__name__)
                if not data:
                    return ConnectionLost(LOST)
            reason = inbound(data)
            if reason is not None:
                return reason
            data = b""

    def _answer(self, data: bytes) -> None:
        """Write a control frame, waiting if need be (a connection's own reader)."""
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self._wire.write(data)

    def _share(self, sock: socket.socket, first: bytes) -> DisconnectReason | None:
        """Hand the reading to the shared reader (after what came with the upgrade).

        One parser reads both: what came with the upgrade may end in the middle of a
        frame, whose rest the shared reader reads.
        """
        inbound = self._inbound(self._answer_nowait)
        if first:
            reason = inbound(first)
            if reason is not None:
                return reason
        self._shared = SharedConnection(sock, inbound, self._ended)
        SHARED_READER.add(self._shared)
        return None

    def _answer_nowait(self, data: bytes) -> None:
        """Write a control frame without waiting (the shared reader): what cannot be
        written now goes to the actor, which writes it."""
        rest = self._wire.write_or_rest(data)
        if rest is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(_Send(rest, counted=False))

    def _ended(self, reason: DisconnectReason) -> None:
        """The shared reader saw the connection end."""
        if not self._closing.is_set():
            self._report(reason)

    def _close_quietly(self, code: int) -> None:
        self._mark_closed()
        self._answer(close_frame(code))


class _ActorTransport:
    """The :class:`Transport` face of a :class:`TransportActor`."""

    __slots__ = ("_ref", "_wire")

    def __init__(self, ref: pykka.ActorRef[TransportActor], wire: _Wire) -> None:
        self._ref = ref
        self._wire = wire

    def send(self, frame: Frame) -> None:
        """Write ``frame`` from this (the owner's) thread when that cannot block, else
        hand it to the transport actor; frames go out in the order they are sent."""
        wire = self._wire
        data = encode_frame(frame.data, _OPCODES[frame.opcode])
        # Written here only when nothing waits in the transport actor's mailbox.
        rest = wire.write_or_rest(data) if wire.queued == wire.written else data
        if rest is None:
            return
        wire.queued += 1
        try:
            self._ref.tell(_Send(rest))
        except pykka.ActorDeadError:
            logger.debug("frame dropped: the transport has stopped")

    def close(self) -> None:
        """Close gracefully (a close frame) if the transport answers at once; else abort.

        A transport stuck in a write to a peer that stopped reading cannot even take the
        stop message: the connection is then shut down from this thread.
        """
        try:
            self._ref.tell(_OwnerClosing())
            stopped = self._ref.stop(block=False)
        except pykka.ActorDeadError:
            return
        try:
            stopped.get(timeout=_GRACEFUL_CLOSE)
        except pykka.Timeout:
            logger.debug("the transport is slow to close (a blocked write?): aborting")
            self._wire.closing.set()
            self._wire.abort()
        else:
            return
        try:
            stopped.get(timeout=_JOIN_TIMEOUT + 1)
        except pykka.Timeout:
            logger.warning("the transport did not stop within %s s", _JOIN_TIMEOUT + 1)
