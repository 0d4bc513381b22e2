"""One websocket connection of the embedded server: what Phoenix's socket process does.

Two threads per connection:

* the **reader** (the websocket library's handler thread) decodes frames, records them,
  answers heartbeats at once and queues everything else;
* the **worker** runs the queued work (joins, leaves, channel callbacks) one item at a
  time, so a slow ``handle_in`` delays later messages but never a heartbeat reply.

Frames may be sent from any thread; a lock keeps each frame whole and stops sends
once the connection is closing. A close handshake runs on a short-lived thread of its
own so that no caller blocks on a client that is not reading.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from phoenix_actor._protocol.constants import (
    EVENT_CLOSE,
    EVENT_ERROR,
    EVENT_HEARTBEAT,
    EVENT_JOIN,
    EVENT_LEAVE,
    PHOENIX_TOPIC,
    STATUS_ERROR,
    STATUS_OK,
)
from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor.testing._server.channel import (
    Channel,
    ChannelSocket,
    JoinError,
    JoinOk,
    ServerNoReply,
    ServerReply,
    StopChannel,
)
from phoenix_actor.testing._server.protocol import (
    InboundMessage,
    ProtocolViolation,
    Serializer,
    check_close_code,
    is_graceful,
)
from phoenix_actor.testing._server.recorder import Received

if TYPE_CHECKING:
    from phoenix_actor.testing._server.server import PhoenixServer

__all__ = ["Admission", "Connection", "Transport", "TransportClosed"]

logger = logging.getLogger("phoenix_actor.testing.server")

_UNMATCHED = {"reason": "unmatched topic"}
_TOO_MANY = {"reason": "too many channels joined"}
_JOIN_CRASHED = {"reason": "join crashed"}
#: How long a close waits for a registered connection's handshake to finish.
_START_WAIT = 10.0


class TransportClosed(Exception):
    """Raised by :meth:`Transport.send` when the websocket is no longer open."""


class Transport(Protocol):
    """What a connection needs from the websocket library."""

    def recv(self, timeout: float | None) -> str | bytes | None:
        """The next data frame; ``None`` once closed; :class:`TimeoutError` on timeout."""
        ...

    def send(self, data: str | bytes) -> None:
        """Send one frame (``str`` = text); :class:`TransportClosed` if closed."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Run the closing handshake (blocks until done or timed out)."""
        ...

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        ...

    def idle_for(self) -> float:
        """Seconds since the client last sent any frame (pings included)."""
        ...

    def finish(self) -> None:
        """Wait for the library's own threads of this connection to end."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    """What the handshake decided about an accepted connection."""

    params: dict[str, str]
    socket_id: str | None
    serializer: Serializer


class Connection:
    """One accepted websocket and the channels joined on it."""

    def __init__(
        self, server: PhoenixServer, conn_id: int, transport: Transport, admission: Admission
    ) -> None:
        self.server = server
        self.conn_id = conn_id
        self.params = admission.params
        self.socket_id = admission.socket_id
        self.serializer = admission.serializer
        #: Set once the connection starts closing; channel work stops then.
        self.closing_event = threading.Event()
        #: Set when the connection is served (its 101 was sent), or discarded: the
        #: connection is registered before, and a close waits for it.
        self._started = threading.Event()
        self._discarded = False
        self._transport = transport
        self._send_lock = threading.Lock()
        self._closer: threading.Thread | None = None
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._channels: dict[str, ChannelSocket] = {}  # worker thread only
        self._worker = threading.Thread(
            target=self._work, name=f"phoenix-server-conn{conn_id}-worker", daemon=True
        )

    # -- any thread --------------------------------------------------------------------

    def send(self, frame: str | bytes) -> None:
        """Send one frame unless the connection is closing (then it is dropped)."""
        with self._send_lock:
            if self.closing_event.is_set():
                logger.debug("conn %s closing: dropped %s", self.conn_id, Bounded(frame))
                return
            try:
                self._transport.send(frame)
            except TransportClosed:
                logger.debug("conn %s closed: dropped %s", self.conn_id, Bounded(frame))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with ``code`` (no-op if already closing)."""
        check_close_code(code)
        with self._send_lock:
            if self.closing_event.is_set():
                return
            self.closing_event.set()
            self._closer = threading.Thread(
                target=self._close_transport,
                args=(code, reason),
                name=f"phoenix-server-conn{self.conn_id}-close",
                daemon=True,
            )
            self._closer.start()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        with self._send_lock:
            self.closing_event.set()
        self._transport.abort()

    def submit(self, task: Callable[[], None]) -> None:
        """Queue ``task`` for the worker thread (dropped if the connection is closing)."""
        self._tasks.put(task)

    # -- reader thread -----------------------------------------------------------------

    def discard(self) -> None:
        """The 101 was never sent: nothing is to be served or closed gracefully."""
        with self._send_lock:
            self._discarded = True
            self.closing_event.set()
        self._started.set()

    def run(self) -> None:
        """Serve the connection until it closes; returns after every thread ended."""
        self._started.set()
        self._worker.start()
        try:
            self._read_loop()
        except Exception:
            logger.exception("conn %s: reader failed", self.conn_id)
            self.close(1011, "")
        finally:
            with self._send_lock:
                self.closing_event.set()
                closer = self._closer
            self._tasks.put(None)
            self._worker.join()
            if closer is not None:
                closer.join()
            self._transport.finish()

    def _read_loop(self) -> None:
        idle = self.server.idle_timeout
        while True:
            timeout = None
            if idle is not None and not self.closing_event.is_set():
                timeout = max(0.0, idle - self._transport.idle_for())
            try:
                data = self._transport.recv(timeout)
            except TimeoutError:
                if idle is not None and self._transport.idle_for() >= idle:
                    logger.info("conn %s idle for %s s: closing", self.conn_id, idle)
                    self.close(1000, "")
                continue
            if data is None:
                return
            self._on_frame(data)

    def _on_frame(self, data: str | bytes) -> None:
        opcode: Literal["text", "binary"] = "text" if isinstance(data, str) else "binary"
        try:
            message = self.serializer.decode(data)
        except ProtocolViolation as exc:
            self.server.received.append(Received(self.conn_id, opcode, data, None))
            if not self.closing_event.is_set():
                logger.warning("conn %s: %s; closing with 1011", self.conn_id, exc)
                self.close(1011, "")
            return
        self.server.received.append(Received(self.conn_id, opcode, data, message))
        if self.closing_event.is_set():
            return
        if message.topic == PHOENIX_TOPIC and message.event == EVENT_HEARTBEAT:
            if not self.server.ignore_heartbeats:
                self._reply(None, message.ref, PHOENIX_TOPIC, STATUS_OK, {})
            return
        self.submit(functools.partial(self._dispatch, message))

    def _close_transport(self, code: int, reason: str) -> None:
        # Closed before its 101 was sent: wait until it is open (or will never be).
        if not self._started.wait(_START_WAIT) or self._discarded:
            self._transport.abort()
            return
        try:
            self._transport.close(code, reason)
        except Exception:
            logger.warning("conn %s: close failed, dropping it", self.conn_id, exc_info=True)
            self._transport.abort()

    # -- worker thread -----------------------------------------------------------------

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            if self.closing_event.is_set():
                continue
            try:
                task()
            except Exception:
                logger.exception("conn %s: internal error", self.conn_id)
        for sock in list(self._channels.values()):
            self._terminate(sock, "shutdown:closed")

    def _dispatch(self, message: InboundMessage) -> None:
        if message.event == EVENT_JOIN:
            self._join(message)
            return
        sock = self._channels.get(message.topic)
        if message.event == EVENT_LEAVE:
            self._leave(sock, message)
        elif sock is None:
            self._reply(None, message.ref, message.topic, STATUS_ERROR, _UNMATCHED)
        else:
            self._handle_in(sock, message)

    def _reply(self, join_ref: Any, ref: Any, topic: str, status: str, response: Any) -> None:
        self.send(self.serializer.encode_reply(join_ref, ref, topic, status, response))

    def _join(self, message: InboundMessage) -> None:
        topic = message.topic
        previous = self._channels.get(topic)
        if previous is not None:
            self._terminate(previous, "shutdown:duplicate_join")
        factory = self.server._route(topic)
        if factory is None:
            logger.warning("conn %s: ignoring unmatched topic %r", self.conn_id, topic)
            self._reply(None, message.ref, topic, STATUS_ERROR, _UNMATCHED)
        elif len(self._channels) >= self.server.max_channels:
            self._reply(message.join_ref, message.ref, topic, STATUS_ERROR, _TOO_MANY)
        else:
            self._start_channel(factory, message)
        if previous is not None:
            ref = previous.join_ref
            self.send(self.serializer.encode_message(ref, ref, topic, EVENT_CLOSE, {}))

    def _start_channel(self, factory: Callable[[], Channel], message: InboundMessage) -> None:
        topic = message.topic
        join_ref = message.ref if message.join_ref is None else message.join_ref
        sock = ChannelSocket(self, topic, join_ref, message.join_ref)
        self.server.events.append(("join", topic, message.payload, message.join_ref))
        try:
            sock._handler = factory()
            result = _checked_join(sock._handler.join(topic, message.payload, sock))
            status = STATUS_OK if isinstance(result, JoinOk) else STATUS_ERROR
            frame = self.serializer.encode_reply(
                message.join_ref, message.ref, topic, status, result.response
            )
        except Exception:
            logger.exception("conn %s: join of %r crashed", self.conn_id, topic)
            sock._state = "closed"
            self._reply(message.join_ref, message.ref, topic, STATUS_ERROR, _JOIN_CRASHED)
            return
        if status == STATUS_OK:
            sock._state = "joined"
            self._channels[topic] = sock
            self.server._subscribe(sock)
        else:
            sock._state = "closed"
        self.send(frame)

    def _leave(self, sock: ChannelSocket | None, message: InboundMessage) -> None:
        if sock is None:
            self._reply(message.join_ref, message.ref, message.topic, STATUS_OK, {})
        elif sock._leave_matches(message.join_ref):
            self._reply(sock.join_ref, message.ref, sock.topic, STATUS_OK, {})
            self._close_channel(sock, "shutdown:left")
        else:
            logger.debug("conn %s: ignoring stale leave of %r", self.conn_id, message.topic)

    def _handle_in(self, sock: ChannelSocket, message: InboundMessage) -> None:
        self.server.events.append(("handle_in", sock.topic, message.event, message.payload))
        try:
            result = sock._handler.handle_in(message.event, message.payload, sock)
            self._apply(sock, message.ref, result)
        except Exception as exc:
            logger.exception("conn %s: channel %r crashed", self.conn_id, sock.topic)
            self._crash(sock, exc)

    def _apply(
        self, sock: ChannelSocket, ref: Any, result: ServerReply | ServerNoReply | StopChannel
    ) -> None:
        reply = result.reply if isinstance(result, StopChannel) else result
        if isinstance(reply, ServerReply):
            self._reply(sock.join_ref, ref, sock.topic, reply.status, reply.response)
        elif reply is not None and not isinstance(reply, ServerNoReply):
            raise TypeError(
                f"handle_in must return ServerReply, ServerNoReply or StopChannel: {result!r}"
            )
        if isinstance(result, StopChannel):
            self._close_channel(sock, result.reason)

    def deliver_info(self, sock: ChannelSocket, message: Any) -> None:
        """Run ``handle_info`` (worker thread; dropped unless the channel is joined)."""
        if not sock.joined:
            logger.debug(
                "conn %s: %r gone, dropped info %s", self.conn_id, sock.topic, Bounded(message)
            )
            return
        try:
            result = _checked_info(sock._handler.handle_info(message, sock))
            if result is not None:
                self._close_channel(sock, result.reason)
        except Exception as exc:
            logger.exception("conn %s: channel %r crashed", self.conn_id, sock.topic)
            self._crash(sock, exc)

    def stop_channel(self, sock: ChannelSocket, reason: str) -> None:
        """Stop ``sock`` with ``reason`` (worker thread; no-op unless joined)."""
        if sock.joined:
            self._close_channel(sock, reason)

    def _crash(self, sock: ChannelSocket, exc: Exception) -> None:
        if sock.joined:
            self._close_channel(sock, f"crash: {type(exc).__name__}: {exc}")

    def _close_channel(self, sock: ChannelSocket, reason: str) -> None:
        self._terminate(sock, reason)
        if is_graceful(reason):
            event, payload = EVENT_CLOSE, {}
        else:
            event, payload = EVENT_ERROR, self.server.phx_error_payload
        ref = sock.join_ref
        self.send(self.serializer.encode_message(ref, ref, sock.topic, event, payload))

    def _terminate(self, sock: ChannelSocket, reason: str) -> None:
        if self._channels.get(sock.topic) is sock:
            del self._channels[sock.topic]
        self.server._unsubscribe(sock)
        try:
            sock._handler.terminate(reason, sock)
        except Exception:
            logger.exception("conn %s: terminate of %r failed", self.conn_id, sock.topic)
        sock._state = "closed"
        self.server.events.append(("terminate", sock.topic, reason))


def _checked_join(result: object) -> JoinOk | JoinError:
    if not isinstance(result, JoinOk | JoinError):
        raise TypeError(f"join must return JoinOk or JoinError, not {result!r}")
    return result


def _checked_info(result: object) -> StopChannel | None:
    if result is None:
        return None
    if not isinstance(result, StopChannel):
        raise TypeError(f"handle_info must return None or StopChannel, not {result!r}")
    if result.reply is not None:
        raise TypeError("handle_info cannot reply: there is no push to reply to")
    return result
