"""The :class:`TransportActor` and its :class:`Transport` face.

The actor owns one websocket (a :class:`_Wire`). A connector thread opens it (TCP, TLS
and the upgrade: ``connector.CONNECTOR``) and hands the socket to the process's one
reader thread (``reader.READER``), which reads frames and reports them; the actor
writes the outbound frames, sends the keepalive pings and closes the connection. It
never waits on the network itself, except to write to a peer that does not read.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka
import websocket

from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._protocol.message import Frame, Opcode
from phoenix_actor._protocol.url import redact_url
from phoenix_actor._transport.connector import CONNECTOR
from phoenix_actor._transport.errors import _failure_reason
from phoenix_actor._transport.inbound import CLOSE_NORMAL, LOST, Inbound, close_frame
from phoenix_actor._transport.options import ConnectPlan, TransportOptions, resolve_options
from phoenix_actor._transport.reader import READER, ReadConnection
from phoenix_actor._transport.reasons import (
    ClosedByClient,
    ConnectFailed,
    ConnectionLost,
    DisconnectReason,
    HandshakeFailed,
    HandshakeRejected,
    PingTimeout,
    TransportDown,
)
from phoenix_actor._transport.timers import Timer, call_later, tell_later
from phoenix_actor._transport.wire import _ReadAhead, _Wire, encode_frame
from phoenix_actor.runtime._choice import RuntimeChoice, blocking, current_pool

if TYPE_CHECKING:
    from phoenix_actor._transport.base import TransportListener

logger = logging.getLogger("phoenix_actor.transport")

_OPCODES = {Opcode.TEXT: websocket.ABNF.OPCODE_TEXT, Opcode.BINARY: websocket.ABNF.OPCODE_BINARY}
_STOP_TIMEOUT = 5.0
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


class TransportActor(RuntimeChoice):
    """Owns one ``websocket.WebSocket``: connects it, writes to it, closes it.

    A connector thread connects it (from ``on_start``); outbound frames arrive in the
    mailbox and are written by the actor; the reader thread reads and reports to the
    listener. Stopping the
    actor takes the connection from the reader and closes the socket. ``plan`` is the
    attempt resolved by ``resolve_options`` (credential callables called, TLS files
    loaded); without it the options are resolved in ``__init__``, which raises
    :class:`ConfigError` on failure.
    """

    def __init__(
        self,
        url: str,
        options: TransportOptions,
        listener: TransportListener,
        plan: ConnectPlan | None = None,
        wire: _Wire | None = None,
        *,
        face: _ActorTransport | None = None,
    ) -> None:
        self._use_pool(current_pool())  # its socket's runtime: a pool, or a thread of its own
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
        self._reading: ReadConnection | None = None  # once handed to the reader
        self._handover = threading.Lock()  # the hand-over to the reader, or the shutdown
        self._connect_over = threading.Event()  # the connect job has ended
        self._connect_started = False
        self._expired = False  # connect_timeout passed (written by the timer thread)
        self._shut_lock = threading.Lock()
        self._shut = False  # _shutdown has begun (in the owner's thread or this actor's)
        if face is not None:
            face._actor = self

    # -- actor side ---------------------------------------------------------------

    def on_start(self) -> None:
        if self._closing.is_set():
            return  # closed by its owner before it ran
        self._connect_started = True
        CONNECTOR.submit(self._connect)

    def _connect(self) -> None:
        """On a connector thread: open the connection and hand it to the reader."""
        try:
            reason = self._open()
        finally:
            self._connect_over.set()
        if reason is not None and not self._closing.is_set():
            self._report(reason)

    def on_receive(self, message: Any) -> None:
        if isinstance(message, _Send):
            self._send(message)
        elif isinstance(message, _Opened):
            if self._options.ping_interval is not None:
                self._after(self._options.ping_interval, _PingDue())
        elif isinstance(message, _PingDue):
            self._ping_due()
        elif isinstance(message, _PongDue):
            self._pong_due(message.sequence)
        else:
            logger.warning("transport ignored an unexpected message: %s", Bounded(message))

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
                # An empty counted message carries only a direct write's tail: that
                # frame was counted when its write began.
                self._wire.write(message.data, counted=message.counted and bool(message.data))
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

    def close_owned(self) -> None:
        """The owner closes the connection, from its own thread and at once: no report,
        and no wait on this actor's mailbox (on a pool, that could wait behind every
        other actor). Thread-safe; the actor's own stop then finds it done."""
        with self._report_lock:
            self._reported = True
        self._shutdown()

    def _shutdown(self) -> None:
        """Close the connection (once, from whichever thread comes first): take it from
        the reader, say goodbye with a close frame if that goes at once, abort, close."""
        with self._shut_lock:
            if self._shut:
                return
            self._shut = True
        self._closing.set()
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        with self._handover:  # no hand-over after this
            reading = self._reading
        if reading is not None:
            READER.remove(reading)  # before the socket is closed
        if self._ws.connected:
            self._close_quietly(CLOSE_NORMAL)
        self._abort()
        if self._connect_started:
            with blocking():  # the abort ends a connect at once, but for DNS and proxies
                if not self._connect_over.wait(_STOP_TIMEOUT):
                    logger.debug("still connecting at stop; it will close on its own")
                    return
        self._ws.shutdown()  # type: ignore[no-untyped-call]

    # -- connecting ---------------------------------------------------------------

    def _redirect(self) -> HandshakeRejected | None:
        """The 3xx answer websocket-client refused to follow (``redirect_limit``)."""
        response = getattr(self._ws, "handshake_response", None)
        status = getattr(response, "status", None)
        if response is None or not isinstance(status, int) or not 300 <= status < 400:
            return None
        headers = {str(k).lower(): str(v) for k, v in (response.headers or {}).items()}
        return HandshakeRejected(status, headers)

    def _open(self) -> DisconnectReason | None:
        """Connect, then hand the reading to the reader: why it failed, or None."""
        options, plan = self._options, self._plan
        # One deadline for TCP, TLS and the upgrade together.
        deadline = time.monotonic() + options.connect_timeout
        watchdog: Timer | None = None
        try:
            opened = self._wire.open(self._url, plan, deadline)
            if opened is None:
                # Through a proxy websocket-client opens the socket, and bounds each
                # step alone: the watchdog aborts the attempt at the deadline.
                watchdog = call_later(deadline - time.monotonic(), self._expire)
            ahead = None if opened is None else _ReadAhead(opened, deadline)
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
        except Exception as exc:  # noqa: BLE001 -- every failure becomes a reason
            return self._connect_failure(exc, deadline)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        headers = self._ws.getheaders() or {}
        problem = plan.check_selected(headers.get("sec-websocket-protocol"))
        if problem is not None:
            return HandshakeFailed(problem)
        sock = self._ws.sock
        if sock is None:
            return ConnectionLost(LOST)
        with self._handover:
            if self._closing.is_set():
                self._ws.shutdown()  # type: ignore[no-untyped-call]  # closed meanwhile
                return ClosedByClient()
            self._wire.go_live(sock)
            if self._options.ping_interval is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    self.actor_ref.tell(_Opened())
            self._listener.connected()
            inbound = Inbound(
                self._frames,
                self._answer_nowait,
                self._mark_closed,
                self._count_pong,
                self._options.max_message_size,
            )
            self._reading = reading = ReadConnection(sock, inbound, self._ended)
            self._wire.reading = reading
            READER.add(reading, b"" if ahead is None else ahead.buffered)
        return None

    def _frames(self, frames: list[Frame]) -> None:
        """Report a batch; a listener answering False holds the reading (backpressure)."""
        if self._listener.frames(frames) is False and self._reading is not None:
            self._reading.held = True

    def _expire(self) -> None:
        """connect_timeout passed while websocket-client connects through a proxy."""
        self._expired = True
        self._abort()

    def _connect_failure(self, exc: Exception, deadline: float) -> DisconnectReason:
        """Why connecting failed; past the deadline, a timeout whatever broke."""
        timeout = self._options.connect_timeout
        if self._expired or (
            time.monotonic() >= deadline
            and isinstance(exc, (websocket.WebSocketTimeoutException, TimeoutError))
        ):
            return ConnectFailed("timeout", f"no websocket connection within {timeout} s")
        redirect = self._redirect() if isinstance(exc, websocket.WebSocketException) else None
        return redirect if redirect is not None else _failure_reason(exc)

    def _mark_closed(self) -> None:
        """A close frame is on its way: websocket-client's ``connected`` turns False."""
        self._ws.connected = False

    def _count_pong(self) -> None:
        self._pongs += 1

    def _answer(self, data: bytes) -> None:
        """Write a control frame, waiting a little if need be (a close)."""
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self._wire.write(data, timeout=_GRACEFUL_CLOSE)

    def _answer_nowait(self, data: bytes) -> None:
        """Write a control frame without waiting (the reader): what cannot be written
        now goes to the actor, which writes it."""
        rest = self._wire.write_or_rest(data, counted=False)
        if rest is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(_Send(rest, counted=False))

    def _ended(self, reason: DisconnectReason) -> None:
        """The reader saw the connection end."""
        if not self._closing.is_set():
            self._report(reason)

    def _close_quietly(self, code: int) -> None:
        self._mark_closed()
        self._answer(close_frame(code))


class _ActorTransport:
    """The :class:`Transport` face of a :class:`TransportActor`."""

    __slots__ = ("_actor", "_ref", "_wire")

    def __init__(self, wire: _Wire) -> None:
        self._wire = wire
        self._actor: TransportActor | None = None  # set by the actor it faces
        self._ref: pykka.ActorRef[TransportActor] | None = None

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
        assert self._ref is not None  # started
        try:
            self._ref.tell(_Send(rest))
        except pykka.ActorDeadError:
            logger.debug("frame dropped: the transport has stopped")

    def resume_reading(self) -> None:
        """Read the connection again (it was held for backpressure)."""
        reading = self._wire.reading
        if reading is not None:
            READER.resume(reading)

    def frames_sent(self) -> int:
        """How many of the frames given to :meth:`send` were written, at least in part
        (the first ones: they go out in order). Final once :meth:`close` returned."""
        return self._wire.begun

    def close(self) -> None:
        """Close the connection from this (the owner's) thread, gracefully when a close
        frame goes at once, then stop the transport actor: on a pool without waiting for
        it (its turn could come after every other actor's), else until its thread ends."""
        actor = self._actor
        if actor is not None:
            actor.close_owned()
        if self._ref is None:
            return
        try:
            stopped = self._ref.stop(block=False)
        except pykka.ActorDeadError:
            return
        if actor is not None and not actor.pooled:
            # A thread of its own: wait for it to end (it has nothing left to wait on).
            try:
                stopped.get(timeout=_STOP_TIMEOUT)
            except pykka.Timeout:
                logger.warning("the transport did not stop within %s s", _STOP_TIMEOUT)
