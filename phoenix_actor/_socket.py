"""The socket actor: hosts the user's :class:`SocketClient` and moves messages.

Everything reaches it through its mailbox: transport reports (tagged with the
connection's generation, so a late report of an old connection is dropped), calls
from other threads, and any other message (given to ``handle_info``). The protocol
rules live in :class:`~phoenix_actor._session.Session`; this module only routes.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pykka

from phoenix_actor import _session as s
from phoenix_actor._client import (
    CallbackResult,
    Connect,
    NoConnect,
    NoReply,
    Reply,
    SocketClient,
    Stop,
)
from phoenix_actor._message import Frame
from phoenix_actor._reasons import (
    ConnectFailed,
    DisconnectReason,
    HeartbeatTimeout,
    TransportDown,
)
from phoenix_actor._timers import SCHEDULER, Timer
from phoenix_actor._transport import (
    Transport,
    TransportFactory,
    TransportOptions,
    websocket_transport,
)
from phoenix_actor._url import Params, build_url, check_url, redact_url, resolve_params
from phoenix_actor.exceptions import (
    ConfigError,
    DisconnectedError,
    ProtocolError,
    SocketStoppedError,
    WrongThreadError,
)
from phoenix_actor.serializer import JSONSerializer, Serializer

logger = logging.getLogger("phoenix_actor.socket")


class SocketState(enum.Enum):
    """Where the socket's connection stands."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STOPPED = "stopped"


# -- mailbox messages ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    generation: int


@dataclass(frozen=True, slots=True)
class _Received:
    generation: int
    frame: Frame


@dataclass(frozen=True, slots=True)
class _Closed:
    generation: int
    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class _HeartbeatDue:
    generation: int


@dataclass(frozen=True, slots=True)
class _Call:
    request: Any
    future: pykka.Future[Any]


@dataclass(frozen=True, slots=True)
class _Run:
    """Run ``function(conn)`` in the actor thread and resolve ``future`` with its result."""

    function: Callable[[Connection], Any]
    future: pykka.Future[Any]


def _tell_quietly(tell: Callable[[Any], None], message: object) -> None:
    try:
        tell(message)
    except pykka.ActorDeadError:
        pass  # the socket stopped meanwhile


class _Listener:
    """Tells the socket actor what one connection attempt's transport reports."""

    __slots__ = ("_generation", "_tell")

    def __init__(self, ref: pykka.ActorRef[Any], generation: int) -> None:
        self._tell = ref.tell
        self._generation = generation

    def _send(self, message: object) -> None:
        # If the socket stopped, it closes the transport itself.
        _tell_quietly(self._tell, message)

    def connected(self) -> None:
        self._send(_Opened(self._generation))

    def frame(self, frame: Frame) -> None:
        self._send(_Received(self._generation, frame))

    def disconnected(self, reason: DisconnectReason) -> None:
        self._send(_Closed(self._generation, reason))


# -- handles given to callbacks ------------------------------------------------------


class Caller:
    """The requester of a :func:`~phoenix_actor.call`; answer it once with ``reply``."""

    __slots__ = ("_future", "_pending", "replied")

    def __init__(self, future: pykka.Future[Any], pending: set[Caller]) -> None:
        self._future = future
        self._pending = pending
        self.replied = False

    def reply(self, value: Any) -> None:
        """Answer the caller (a second answer is ignored with a warning)."""
        self._resolve(lambda: self._future.set(value))

    def fail(self, error: BaseException) -> None:
        """Make the caller's ``call()`` raise ``error``."""
        self._resolve(lambda: self._future.set_exception((type(error), error, None)))

    def _resolve(self, action: Callable[[], None]) -> None:
        if self.replied:
            logger.warning("a call was answered twice; the second answer is ignored")
            return
        self.replied = True
        self._pending.discard(self)
        action()


class Connection:
    """What callbacks use to talk to the server: ``join``, ``leave``, ``push``.

    A handle belongs to one connection: once that connection is gone its methods raise
    :class:`DisconnectedError` rather than send into a dead socket. It may only be used
    in the socket actor's thread (inside callbacks); other threads use
    :func:`phoenix_actor.call`.
    """

    __slots__ = ("_actor", "_generation")

    def __init__(self, actor: SocketActor, generation: int | None) -> None:
        self._actor = actor
        self._generation = generation

    def __repr__(self) -> str:
        state = "live" if self.is_connected else "closed"
        return f"<Connection generation={self._generation} {state}>"

    @property
    def is_connected(self) -> bool:
        """True while this handle's connection is the socket's open connection."""
        actor = self._actor
        return self._generation is not None and self._generation == actor._live_generation

    def _session(self) -> s.Session:
        actor = self._actor
        if threading.current_thread() is not actor._thread:
            raise WrongThreadError(
                "Connection methods run only in the socket actor's thread (inside a "
                "callback); from other threads use phoenix_actor.call()"
            )
        if not self.is_connected:
            raise DisconnectedError(
                "not connected" if self._generation is None else "this connection has closed"
            )
        return actor._session

    def _send(self, out: s.Outbound) -> int:
        transport = self._actor._transport
        assert transport is not None  # is_connected implies a transport
        transport.send(out.frame)
        return out.ref

    def join(self, topic: str, payload: Any = None) -> int:
        """Send ``phx_join``; the answer comes to ``handle_joined`` / ``handle_join_error``."""
        return self._send(self._session().join(topic, payload))

    def leave(self, topic: str, payload: Any = None) -> int:
        """Send ``phx_leave``; the topic stays joined until ``handle_channel_closed``."""
        return self._send(self._session().leave(topic, payload))

    def push(self, topic: str, event: str, payload: Any = None) -> int:
        """Push ``event`` to a joined topic; a reply comes to ``handle_reply`` with the ref."""
        return self._send(self._session().push(topic, event, payload))

    def joined(self, topic: str) -> bool:
        """True once the join of ``topic`` was accepted and its channel is open."""
        return self.is_connected and self._actor._session.joined(topic)


# -- the actor -----------------------------------------------------------------------


class SocketActor(pykka.ThreadingActor):
    """A Pykka actor running a :class:`SocketClient`'s callbacks.

    ``SocketActor.start(client, ...)`` calls ``client.init()`` in the caller's thread
    (so a bad URL raises there) and returns the actor's ``ActorRef``. Keyword options:

    * ``serializer``: a :class:`~phoenix_actor.serializer.Serializer` (default JSON v2).
    * ``transport_options``: :class:`~phoenix_actor.TransportOptions` (headers, TLS...).
    * ``transport_factory``: how connections are opened (tests pass a fake one).
    * ``callback_errors``: ``"log"`` (default: log with traceback, carry on) or
      ``"stop"`` (log, then stop the socket with the exception as the reason).
    * ``heartbeat_interval``: seconds between Phoenix heartbeats (default 30, as
      phoenix.js; ``None`` turns them off). A heartbeat still unanswered when the next
      is due closes the connection with :class:`~phoenix_actor.HeartbeatTimeout`.
    """

    def __init__(
        self,
        client: SocketClient,
        *,
        serializer: Serializer | None = None,
        transport_options: TransportOptions | None = None,
        transport_factory: TransportFactory | None = None,
        callback_errors: Literal["log", "stop"] = "log",
        heartbeat_interval: float | None = 30.0,
    ) -> None:
        super().__init__()
        if callback_errors not in ("log", "stop"):
            raise ConfigError(f"callback_errors must be 'log' or 'stop', not {callback_errors!r}")
        if heartbeat_interval is not None and (
            isinstance(heartbeat_interval, bool)
            or not isinstance(heartbeat_interval, (int, float))
            or not heartbeat_interval > 0
        ):
            raise ConfigError(
                f"heartbeat_interval must be a number of seconds > 0 or None, "
                f"not {heartbeat_interval!r}"
            )
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timer: Timer | None = None
        self._client = client
        self._serializer = serializer if serializer is not None else JSONSerializer()
        self._options = transport_options if transport_options is not None else TransportOptions()
        self._factory = transport_factory if transport_factory is not None else websocket_transport
        self._callback_errors = callback_errors
        self._session = s.Session(self._serializer)
        self._thread: threading.Thread | None = None
        self._transport: Transport | None = None
        self._generation = 0
        self._live_generation: int | None = None
        self._state = SocketState.DISCONNECTED
        self._stopping = False
        self._stop_reason: Any = "shutdown"
        self._pending_calls: set[Caller] = set()
        self._conn = Connection(self, None)
        first = client.init()
        if not isinstance(first, (Connect, NoConnect)):
            raise ConfigError(
                f"{type(client).__name__}.init() returned {first!r}; "
                "expected Connect(url, params) or NoConnect(url, params)"
            )
        if first.url is None:
            raise ConfigError("Connect returned from init() needs a url")
        self._url: str = check_url(first.url)
        self._params: Params | None = first.params
        self._connect_at_start = isinstance(first, Connect)

    def __repr__(self) -> str:
        return f"<SocketActor {type(self._client).__name__} {self._state.value}>"

    # -- lifecycle --------------------------------------------------------------

    def on_start(self) -> None:
        self._thread = threading.current_thread()
        if self._connect_at_start:
            self._connect(Connect())

    def on_stop(self) -> None:
        self._shutdown()
        try:
            self._client.terminate(self._stop_reason)
        except Exception:
            logger.exception("%s.terminate raised", type(self._client).__name__)

    def on_failure(self, *_exc_info: object) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self._state = SocketState.STOPPED
        self._close_transport()
        self._session.disconnected()
        self._fail_waiting_calls()

    def _fail_waiting_calls(self) -> None:
        # Calls told to the actor but not handled, and calls still awaiting a reply.
        inbox = self.actor_inbox
        while True:
            try:
                envelope = inbox.get_nowait()  # type: ignore[attr-defined]
            except queue.Empty:
                break
            if isinstance(envelope.message, (_Call, _Run)):
                envelope.message.future.set_exception(
                    (SocketStoppedError, SocketStoppedError("the socket stopped"), None)
                )
            elif envelope.reply_to is not None:
                inbox.put(envelope)  # Pykka answers asks itself at teardown
                break
        for caller in list(self._pending_calls):
            caller.fail(SocketStoppedError("the socket stopped before answering"))

    def _begin_stop(self, reason: Any) -> None:
        if not self._stopping:
            self._stopping = True
            self._stop_reason = reason
            self.stop()

    # -- connection -------------------------------------------------------------

    def _close_transport(self) -> None:
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
            self._heartbeat_timer = None
        transport, self._transport = self._transport, None
        self._live_generation = None
        if transport is not None:
            try:
                transport.close()
            except Exception:
                logger.exception("closing the transport failed")

    def _connect(self, command: Connect) -> None:
        if self._transport is not None:
            logger.warning("Connect ignored: the socket is already %s", self._state.value)
            return
        if command.url is not None:
            self._url = command.url
        if command.params is not None:
            self._params = command.params
        try:
            url = build_url(self._url, resolve_params(self._params), self._serializer.vsn)
        except ConfigError as exc:
            logger.error("cannot connect: %s", exc)  # noqa: TRY400 -- the message says it all
            self._callback("handle_disconnected", ConnectFailed("config", str(exc)))
            return
        self._generation += 1
        listener = _Listener(self.actor_ref, self._generation)
        logger.info("connecting to %s", redact_url(url))
        try:
            self._transport = self._factory(url, self._options, listener)
        except Exception as exc:
            logger.exception("the transport factory raised")
            self._callback("handle_disconnected", TransportDown(f"{type(exc).__name__}: {exc}"))
            return
        self._state = SocketState.CONNECTING

    def _opened(self, generation: int) -> None:
        if generation != self._generation or self._transport is None:
            return
        self._state = SocketState.CONNECTED
        self._live_generation = generation
        self._session.connected()
        self._conn = Connection(self, generation)
        logger.info("connected")
        self._schedule_heartbeat(generation)
        self._callback("handle_connected", self._conn)

    def _schedule_heartbeat(self, generation: int) -> None:
        if self._heartbeat_interval is not None:
            tell = self.actor_ref.tell
            due = _HeartbeatDue(generation)
            self._heartbeat_timer = SCHEDULER.call_later(
                self._heartbeat_interval, lambda: _tell_quietly(tell, due)
            )

    def _heartbeat_due(self, generation: int) -> None:
        if generation != self._live_generation or self._heartbeat_interval is None:
            return
        if self._session.pending_heartbeat is not None:
            logger.warning("no heartbeat reply within %s s: closing", self._heartbeat_interval)
            self._lost(HeartbeatTimeout(self._heartbeat_interval))
            return
        transport = self._transport
        assert transport is not None  # a live generation has a transport
        transport.send(self._session.heartbeat().frame)
        self._schedule_heartbeat(generation)

    def _closed(self, generation: int, reason: DisconnectReason) -> None:
        if generation != self._generation or self._transport is None:
            return
        self._lost(reason)

    def _lost(self, reason: DisconnectReason) -> None:
        """The connection is over (reported, or ended by us): tell the client."""
        self._close_transport()
        self._session.disconnected()
        self._state = SocketState.DISCONNECTED
        self._conn = Connection(self, None)
        logger.info("disconnected: %s", reason.describe())
        self._callback("handle_disconnected", reason)

    def _received(self, generation: int, frame: Frame) -> None:
        if generation != self._live_generation:
            return
        try:
            event = self._session.receive(frame)
        except ProtocolError as exc:
            logger.warning("dropped a malformed frame: %s (%r)", exc, frame)
            return
        conn = self._conn
        if isinstance(event, s.MessageReceived):
            self._callback("handle_message", event.topic, event.event, event.payload, conn)
        elif isinstance(event, s.ReplyReceived):
            self._callback("handle_reply", event.topic, event.ref, event.payload, conn)
        elif isinstance(event, s.Joined):
            self._callback("handle_joined", event.topic, event.response, conn)
        elif isinstance(event, s.JoinRefused):
            if event.status != "error":
                logger.warning("join reply status %r treated as an error", event.status)
            self._callback("handle_join_error", event.topic, event.response, conn)
        elif isinstance(event, s.ChannelClosed):
            self._callback("handle_channel_closed", event.topic, event.payload, conn)
        elif isinstance(event, s.MessageDropped):
            logger.debug("dropped %r: %s", event.message, event.reason)

    # -- callbacks --------------------------------------------------------------

    def _callback(self, name: str, *args: Any) -> None:
        try:
            result: CallbackResult = getattr(self._client, name)(*args)
        except Exception as exc:  # noqa: BLE001 -- user code is shielded
            self._callback_failed(name, exc)
            return
        self._apply(name, result)

    def _callback_failed(self, name: str, exc: Exception) -> None:
        logger.error(
            "%s.%s raised %s: %s",
            type(self._client).__name__,
            name,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        if self._callback_errors == "stop":
            self._begin_stop(exc)

    def _apply(self, name: str, result: object) -> None:
        if result is None:
            return
        if isinstance(result, Connect):
            self._connect(result)
        elif isinstance(result, Stop):
            self._begin_stop(result.reason)
        else:
            logger.error(
                "%s.%s returned %r, which is ignored; expected None, Connect(...) or Stop(...)",
                type(self._client).__name__,
                name,
                result,
            )

    def _call(self, message: _Call) -> None:
        caller = Caller(message.future, self._pending_calls)
        self._pending_calls.add(caller)
        name = type(self._client).__name__
        try:
            result = self._client.handle_call(message.request, caller, self._conn)
        except Exception as exc:  # noqa: BLE001 -- user code is shielded
            caller.fail(exc)
            self._callback_failed("handle_call", exc)
            return
        if isinstance(result, Reply):
            caller.reply(result.value)
        elif isinstance(result, Stop):
            if result.has_reply:
                caller.reply(result.reply)
            self._begin_stop(result.reason)
        elif not isinstance(result, NoReply):
            error = TypeError(  # type: ignore[unreachable]
                f"{name}.handle_call returned {result!r}; expected Reply(value), NoReply() "
                "or Stop(reason)"
            )
            logger.error("%s", error)
            caller.fail(error)

    def _run(self, message: _Run) -> None:
        try:
            value = message.function(self._conn)
        except Exception as exc:  # noqa: BLE001 -- handed to the caller
            message.future.set_exception((type(exc), exc, exc.__traceback__))
            return
        message.future.set(value)

    # -- mailbox ----------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        try:
            self._dispatch(message)
        except Exception:
            # A bug of ours must not kill the socket: Pykka would stop the actor.
            logger.exception("internal error while handling %r; the socket keeps running", message)
        return None

    def _dispatch(self, message: Any) -> None:
        kind = type(message)
        if kind is _Received:
            if not self._stopping:
                self._received(message.generation, message.frame)
        elif kind is _Opened:
            if not self._stopping:
                self._opened(message.generation)
        elif kind is _Closed:
            if not self._stopping:
                self._closed(message.generation, message.reason)
        elif kind is _HeartbeatDue:
            if not self._stopping:
                self._heartbeat_due(message.generation)
        elif kind is _Call:
            if self._stopping:
                message.future.set_exception(
                    (SocketStoppedError, SocketStoppedError("stopping"), None)
                )
            else:
                self._call(message)
        elif kind is _Run:
            self._run(message)
        elif not self._stopping:
            self._callback("handle_info", message, self._conn)
