"""The socket actor: hosts the user's :class:`SocketClient` and moves messages.

Everything reaches it through its mailbox: transport reports (tagged with the
connection's generation, so a late report of an old connection is dropped), timers
(heartbeat, reconnect, rejoin, reply timeouts), calls from other threads, and any
other message (given to ``handle_info``). The protocol rules live in
:class:`~phoenix_actor._session.Session`; this module routes, and keeps what outlives a
connection: the topics to rejoin, the pushes waiting in the buffer, the backoff counts.
"""

from __future__ import annotations

import enum
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pykka

from phoenix_actor import _session as s
from phoenix_actor._client import (
    CallbackResult,
    Connect,
    NoConnect,
    NoReply,
    Reconnect,
    Reply,
    SocketClient,
    Stop,
)
from phoenix_actor._config import Config, backoff_delay, jittered
from phoenix_actor._message import ChannelReply, Frame, Message
from phoenix_actor._observer import ChannelState, ChannelStateChanged, SocketStateChanged
from phoenix_actor._reasons import (
    ConnectFailed,
    DisconnectReason,
    HeartbeatTimeout,
    RemoteClosed,
    TransportDown,
    reconnect_refusal,
)
from phoenix_actor._timers import SCHEDULER, Timer
from phoenix_actor._transport import Transport, websocket_transport
from phoenix_actor._url import Params, build_url, check_url, redact_url, resolve_params
from phoenix_actor.exceptions import (
    BufferFullError,
    ChannelClosedError,
    ConfigError,
    ConnectionClosedError,
    DisconnectedError,
    NotJoinedError,
    ProtocolError,
    PushError,
    PushTimeoutError,
    SocketStoppedError,
    WrongThreadError,
)

logger = logging.getLogger("phoenix_actor.socket")

#: Close codes that ask to come back later: service restart, try again later.
_LATER_CLOSE_CODES = frozenset({1012, 1013})


class SocketState(enum.Enum):
    """Where the socket's connection stands."""

    DISCONNECTED = "disconnected"  #: no connection, none scheduled
    WAITING = "waiting"  #: a reconnect is scheduled (see ``SocketActor.reconnect_at``)
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STOPPED = "stopped"


RequestKind = Literal["join", "leave", "push"]

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
class _ReconnectDue:
    token: int


@dataclass(frozen=True, slots=True)
class _RejoinDue:
    topic: str
    token: int


@dataclass(frozen=True, slots=True)
class _Call:
    request: Any
    future: pykka.Future[Any]


@dataclass(frozen=True, slots=True)
class _Run:
    """Run ``function(conn)`` in the actor thread and resolve ``future`` with its result."""

    function: Callable[[Connection], Any]
    future: pykka.Future[Any]


@dataclass(frozen=True, slots=True)
class _Request:
    """A join, leave or push from another thread, answered through ``future``."""

    kind: RequestKind
    topic: str
    event: str
    payload: Any
    timeout: float | None
    future: pykka.Future[ChannelReply] | None  # None for the socket's own rejoins


@dataclass(eq=False, slots=True)
class _Waiter:
    """A request whose reply resolves ``future`` (``None`` for the socket's own rejoins)."""

    kind: RequestKind
    topic: str
    event: str
    payload: Any
    future: pykka.Future[ChannelReply] | None
    ref: int | None = None  # once sent
    sent_at: float = 0.0  # time.monotonic() when sent, if observed
    timer: Timer | None = field(default=None, repr=False)
    done: bool = False
    reply: ChannelReply | None = None  # a leave's ok reply, until its channel closes


@dataclass(frozen=True, slots=True)
class _TimedOut:
    waiter: _Waiter


def _tell_quietly(tell: Callable[[Any], None], message: object) -> None:
    try:
        tell(message)
    except pykka.ActorDeadError:
        pass  # the socket stopped meanwhile


def _fail(future: pykka.Future[Any], error: BaseException) -> None:
    future.set_exception((type(error), error, None))


def check_timeout(timeout: object) -> None:
    """Raise ConfigError unless ``timeout`` is None or a number of seconds > 0."""
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ConfigError(f"timeout must be a number of seconds > 0 or None, not {timeout!r}")


class _Listener:
    """Tells the socket actor what one connection attempt's transport reports.

    With ``credits`` (``Config.max_pending_frames``), the reader thread takes one per
    frame and waits when none is left; the socket actor gives one back per frame it
    has handled.
    """

    __slots__ = ("_credits", "_generation", "_tell")

    def __init__(
        self, ref: pykka.ActorRef[Any], generation: int, credits: threading.Semaphore | None
    ) -> None:
        self._tell = ref.tell
        self._generation = generation
        self._credits = credits

    def _send(self, message: object) -> None:
        # If the socket stopped, it closes the transport itself.
        _tell_quietly(self._tell, message)

    def connected(self) -> None:
        self._send(_Opened(self._generation))

    def frame(self, frame: Frame) -> None:
        if self._credits is not None:
            self._credits.acquire()
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
    :func:`phoenix_actor.call` or :func:`phoenix_actor.execute`.

    ``join``, ``leave`` and ``push`` return the request's ref (the answer comes to a
    callback); ``join_future``, ``leave_future`` and ``push_future`` return a Pykka
    future of the :class:`~phoenix_actor.ChannelReply` as well (callbacks still run).
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

    def _check_thread(self) -> SocketActor:
        actor = self._actor
        if threading.current_thread() is not actor._thread:
            raise WrongThreadError(
                "Connection methods run only in the socket actor's thread (inside a "
                "callback); from other threads use phoenix_actor.call() or execute()"
            )
        return actor

    def _session(self) -> s.Session:
        actor = self._check_thread()
        if not self.is_connected:
            raise DisconnectedError(
                "not connected" if self._generation is None else "this connection has closed"
            )
        return actor._session

    def join(self, topic: str, payload: Any = None) -> int:
        """Send ``phx_join``; the answer comes to ``handle_joined`` / ``handle_join_error``."""
        out = self._session().join(topic, payload)
        self._actor._joining(topic, out)
        return out.ref

    def leave(self, topic: str, payload: Any = None) -> int:
        """Send ``phx_leave``; the topic stays joined until ``handle_channel_closed``.

        The topic is no longer rejoined automatically.
        """
        out = self._session().leave(topic, payload)
        self._actor._left(topic, out)
        return out.ref

    def push(self, topic: str, event: str, payload: Any = None) -> int:
        """Push ``event`` to a joined topic; a reply comes to ``handle_reply`` with the ref."""
        out = self._session().push(topic, event, payload)
        self._actor._send(out)
        return out.ref

    def _future(
        self, kind: RequestKind, topic: str, event: str, payload: Any, timeout: float | None
    ) -> pykka.Future[ChannelReply]:
        actor = self._check_thread()
        check_timeout(timeout)
        if self._generation is not None and not self.is_connected:
            raise DisconnectedError("this connection has closed")
        future: pykka.Future[ChannelReply] = pykka.ThreadingFuture()
        actor._request(_Request(kind, topic, event, payload, timeout, future))
        return future

    def join_future(
        self, topic: str, payload: Any = None, timeout: float | None = None
    ) -> pykka.Future[ChannelReply]:
        """Join ``topic``; the future resolves to the join reply (status ok or error).

        It fails with :class:`PushTimeoutError` after ``timeout`` seconds (default
        ``Config.push_timeout``; the join is then abandoned with a ``phx_leave``) and
        with :class:`ConnectionClosedError` if the connection closes first.
        """
        return self._future("join", topic, "phx_join", payload, timeout)

    def leave_future(
        self, topic: str, payload: Any = None, timeout: float | None = None
    ) -> pykka.Future[ChannelReply]:
        """Leave ``topic``; the future resolves to the leave reply once the channel is
        closed (the server's ``phx_close`` follows its ok reply), or at once to an
        error reply."""
        return self._future("leave", topic, "phx_leave", payload, timeout)

    def push_future(
        self, topic: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> pykka.Future[ChannelReply]:
        """Push ``event``; the future resolves to the reply, whatever its status.

        It fails with :class:`PushTimeoutError`, :class:`ChannelClosedError` or
        :class:`ConnectionClosedError` when no reply can come. With
        ``Config.push_buffer`` set, a push to a topic that is joining or waiting to be
        rejoined is buffered (in order) and sent once the topic is joined.
        """
        return self._future("push", topic, event, payload, timeout)

    def joined(self, topic: str) -> bool:
        """True once the join of ``topic`` was accepted and its channel is open."""
        return self.is_connected and self._actor._session.joined(topic)


# -- the actor -----------------------------------------------------------------------


class SocketActor(pykka.ThreadingActor):
    """A Pykka actor running a :class:`SocketClient`'s callbacks.

    ``SocketActor.start(client, config, **options)`` calls ``client.init()`` in the
    caller's thread (so a bad URL raises there) and returns the actor's ``ActorRef``.
    ``config`` is a :class:`~phoenix_actor.Config` (every option and its default is
    documented there); keyword ``options`` override its fields, e.g.
    ``SocketActor.start(client, heartbeat_interval=None)``.
    """

    def __init__(self, client: SocketClient, config: Config | None = None, **options: Any):
        super().__init__()
        if config is None:
            config = Config()
        elif not isinstance(config, Config):
            raise ConfigError(f"config must be a phoenix_actor.Config, not {config!r}")
        if options:
            config = config.replace(**options)
        self.config = config
        self._client = client
        self._serializer = config.serializer
        self._factory = config.transport_factory or websocket_transport
        self._session = s.Session(self._serializer)
        self._thread: threading.Thread | None = None
        self._transport: Transport | None = None
        self._generation = 0
        self._live_generation: int | None = None
        self._state = SocketState.DISCONNECTED
        self._observer = config.observer
        self._channels: dict[str, ChannelState] = {}
        self._credits: threading.Semaphore | None = None
        self._attempt_started = 0.0
        self._heartbeat_sent_at = 0.0
        self._stopping = False
        self._stop_reason: Any = "shutdown"
        self._pending_calls: set[Caller] = set()
        self._conn = Connection(self, None)
        self._heartbeat_timer: Timer | None = None
        # reconnecting
        self._last_reason: DisconnectReason | None = None
        self._reconnect_tries = 0
        self._reconnect_timer: Timer | None = None
        self._reconnect_token = itertools.count(1)
        self._reconnect_due_token = 0
        self.reconnect_at: float | None = None  #: ``time.monotonic()`` of the next attempt
        # topics joined once, to rejoin: topic -> join payload
        self._wanted: dict[str, Any] = {}
        self._rejoin_tries: dict[str, int] = {}
        self._rejoin_timers: dict[str, Timer] = {}
        self._rejoin_token = itertools.count(1)
        self._rejoin_due: dict[str, int] = {}
        # requests answered through futures
        self._waiting: dict[int, _Waiter] = {}  # sent, by ref
        self._buffer: deque[_Waiter] = deque()  # not sent yet, in order
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

    @property
    def state(self) -> SocketState:
        """The connection's state (read it in the actor thread, or through ``execute``)."""
        return self._state

    @property
    def stop_reason(self) -> Any:
        """Why the socket stops: ``"shutdown"`` (``ref.stop()``) unless ``Stop(reason)`` or
        a callback error under ``callback_errors="stop"`` set it. Actor thread only."""
        return self._stop_reason

    def channel_states(self) -> dict[str, ChannelState]:
        """Each topic that is not closed, with its state (actor thread only)."""
        return dict(self._channels)

    # -- observing --------------------------------------------------------------

    def _observe(self, hook: str, *args: Any) -> None:
        observer = self._observer
        if observer is None:
            return
        try:
            getattr(observer, hook)(*args)
        except Exception:
            logger.exception("the observer's %s raised", hook)

    def _set_state(self, state: SocketState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._observer is not None:
            reconnect_in = None
            if state is SocketState.WAITING and self.reconnect_at is not None:
                reconnect_in = max(self.reconnect_at - time.monotonic(), 0.0)
            change = SocketStateChanged(state, self._last_reason, reconnect_in)
            self._observe("socket_state", change)

    def _set_channel(self, topic: str, state: ChannelState) -> None:
        if self._channels.get(topic) is state:
            return
        if state is ChannelState.CLOSED:
            if self._channels.pop(topic, None) is None:
                return
        else:
            self._channels[topic] = state
        if self._observer is not None:
            self._observe("channel_state", ChannelStateChanged(topic, state))

    def _errored_or_closed(self, topic: str) -> None:
        """The topic's channel is gone: ERRORED if it will be rejoined, else CLOSED."""
        will_rejoin = topic in self._wanted and self.config.rejoin_after is not None
        self._set_channel(topic, ChannelState.ERRORED if will_rejoin else ChannelState.CLOSED)

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

    def on_failure(self, *exc_info: object) -> None:
        self._shutdown()
        try:
            self._client.terminate(exc_info[1])
        except Exception:
            logger.exception("%s.terminate raised", type(self._client).__name__)

    def _shutdown(self) -> None:
        self._set_state(SocketState.STOPPED)
        self._cancel_reconnect()
        for timer in self._rejoin_timers.values():
            timer.cancel()
        self._rejoin_timers.clear()
        self._close_transport()
        self._session.disconnected()
        stopped = "the socket stopped before the reply came"
        self._fail_sent(lambda: SocketStoppedError(stopped))
        self._fail_buffered(lambda _waiter: True, lambda: SocketStoppedError(stopped))
        self._fail_waiting_calls()

    def _fail_waiting_calls(self) -> None:
        # Requests told to the actor but not handled, and calls still awaiting a reply.
        inbox = self.actor_inbox
        while True:
            try:
                envelope = inbox.get_nowait()  # type: ignore[attr-defined]
            except queue.Empty:
                break
            message = envelope.message
            if isinstance(message, (_Call, _Run, _Request)) and message.future is not None:
                _fail(message.future, SocketStoppedError("the socket stopped"))
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
        credits, self._credits = self._credits, None
        if credits is not None:
            credits.release(1_000_000)  # a reader waiting for credit must not block close
        if transport is not None:
            try:
                transport.close()
            except Exception:
                logger.exception("closing the transport failed")

    def _send(self, out: s.Outbound) -> None:
        transport = self._transport
        assert transport is not None  # the session is connected, so there is a transport
        transport.send(out.frame)

    def _connect(self, command: Connect) -> None:
        if self._transport is not None:
            logger.warning("Connect ignored: the socket is already %s", self._state.value)
            return
        self._cancel_reconnect()
        if command.url is not None:
            self._url = command.url
        if command.params is not None:
            self._params = command.params
        self._generation += 1
        generation = self._generation
        try:
            url = build_url(self._url, resolve_params(self._params), self._serializer.vsn)
        except ConfigError as exc:
            logger.error("cannot connect: %s", exc)  # noqa: TRY400 -- the message says it all
            self._attempt_failed(generation, ConnectFailed("config", str(exc)))
            return
        limit = self.config.max_pending_frames
        credits = None if limit is None else threading.Semaphore(limit)
        listener = _Listener(self.actor_ref, generation, credits)
        logger.info("connecting to %s", redact_url(url))
        self._set_state(SocketState.CONNECTING)
        self._attempt_started = time.monotonic()
        self._observe("connect_attempt", self._reconnect_tries + 1)
        try:
            self._transport = self._factory(url, self.config.transport_options, listener)
            self._credits = credits
        except Exception as exc:
            logger.exception("the transport factory raised")
            self._attempt_failed(generation, TransportDown(f"{type(exc).__name__}: {exc}"))

    def _attempt_failed(self, generation: int, reason: DisconnectReason) -> None:
        # Reported through the mailbox: a client answering Connect() to every failure
        # then loops through the mailbox instead of recursing.
        self._set_state(SocketState.CONNECTING)
        _tell_quietly(self.actor_ref.tell, _Closed(generation, reason))

    def _opened(self, generation: int) -> None:
        if generation != self._generation or self._transport is None:
            return
        self._live_generation = generation
        self._reconnect_tries = 0
        self._last_reason = None
        self._set_state(SocketState.CONNECTED)
        self._observe("connected", time.monotonic() - self._attempt_started)
        self._session.connected()
        self._conn = conn = Connection(self, generation)
        logger.info("connected")
        self._schedule_heartbeat(generation)
        self._callback("handle_connected", conn)
        if conn.is_connected and not self._stopping:
            for topic in list(self._wanted):
                self._rejoin(topic)

    def _schedule_heartbeat(self, generation: int) -> None:
        interval = self.config.heartbeat_interval
        if interval is not None:
            tell = self.actor_ref.tell
            due = _HeartbeatDue(generation)
            self._heartbeat_timer = SCHEDULER.call_later(interval, lambda: _tell_quietly(tell, due))

    def _heartbeat_due(self, generation: int) -> None:
        interval = self.config.heartbeat_interval
        if generation != self._live_generation or interval is None:
            return
        if self._session.pending_heartbeat is not None:
            logger.warning("no heartbeat reply within %s s: closing", interval)
            self._lost(HeartbeatTimeout(interval))
            return
        self._send(self._session.heartbeat())
        self._heartbeat_sent_at = time.monotonic()
        self._schedule_heartbeat(generation)
        if self._observer is not None:
            self._observe("mailbox_depth", self.actor_inbox.qsize())  # type: ignore[attr-defined]

    def _closed(self, generation: int, reason: DisconnectReason) -> None:
        if generation != self._generation:
            return  # an earlier attempt's late report
        if self._transport is None and self._state is not SocketState.CONNECTING:
            return  # already handled
        self._lost(reason)

    def _lost(self, reason: DisconnectReason) -> None:
        """The connection is over (reported, or ended by us): tell the client."""
        self._close_transport()
        self._session.disconnected()
        self._last_reason = reason
        self._set_state(SocketState.DISCONNECTED)
        self._conn = Connection(self, None)
        for topic in list(self._channels):
            self._errored_or_closed(topic)
        logger.info("disconnected: %s", reason.describe())
        for timer in self._rejoin_timers.values():
            timer.cancel()  # every wanted topic is rejoined once connected again
        self._rejoin_timers.clear()
        self._rejoin_due.clear()
        closed = f"the connection closed: {reason.describe()}"
        self._fail_sent(lambda: ConnectionClosedError(closed))
        self._callback("handle_disconnected", reason)
        if self._state is SocketState.DISCONNECTED:
            no_reconnect = "disconnected, and no reconnect is planned"
            self._fail_buffered(lambda _waiter: True, lambda: DisconnectedError(no_reconnect))

    # -- reconnecting -----------------------------------------------------------

    def _cancel_reconnect(self) -> None:
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
            self._reconnect_timer = None
        self.reconnect_at = None
        self._reconnect_due_token = 0

    def _reconnect(self, command: Reconnect) -> None:
        if self._transport is not None or self._state is SocketState.CONNECTING:
            logger.warning("Reconnect ignored: the socket is already %s", self._state.value)
            return
        delay = command.after
        if delay is None:
            schedule = self.config.reconnect_after
            if schedule is None:
                logger.info("not reconnecting: reconnect_after is None")
                return
            refusal = reconnect_refusal(self._last_reason)
            if refusal is not None:
                logger.warning("not reconnecting: %s", refusal)
                return
            self._reconnect_tries += 1
            delay = backoff_delay(schedule, self._reconnect_tries)
            reason = self._last_reason
            if (
                isinstance(reason, RemoteClosed)
                and reason.code in _LATER_CLOSE_CODES
                and not callable(schedule)
            ):
                delay = max(delay, *schedule)
            delay = jittered(delay, self.config.reconnect_jitter)
        self._cancel_reconnect()
        token = next(self._reconnect_token)
        self._reconnect_due_token = token
        tell = self.actor_ref.tell
        due = _ReconnectDue(token)
        self._reconnect_timer = SCHEDULER.call_later(delay, lambda: _tell_quietly(tell, due))
        self.reconnect_at = time.monotonic() + delay
        self._set_state(SocketState.WAITING)
        logger.info("reconnecting in %.3f s (attempt %d)", delay, self._reconnect_tries)
        self._observe("reconnect_scheduled", self._reconnect_tries, delay)

    def _reconnect_due(self, token: int) -> None:
        if token != self._reconnect_due_token or self._state is not SocketState.WAITING:
            return
        self._reconnect_timer = None
        self._connect(Connect())

    # -- rejoining --------------------------------------------------------------

    def _rejoin(self, topic: str) -> None:
        """Join ``topic`` again with its last payload, if it is still wanted and unjoined."""
        self._rejoin_due.pop(topic, None)
        timer = self._rejoin_timers.pop(topic, None)
        if timer is not None:
            timer.cancel()
        if (
            self.config.rejoin_after is None
            or topic not in self._wanted
            or not self._session.is_connected
            or self._session.state(topic) is not None
        ):
            return
        logger.info("rejoining %r", topic)
        try:
            out = self._session.join(topic, self._wanted[topic])
        except PushError as exc:
            problem = f"cannot rejoin {topic!r}: {exc}"
            logger.error("%s", problem)  # noqa: TRY400 -- the message says it all
            self._forget(topic, lambda: NotJoinedError(problem))
            return
        self._joining(topic, out)
        waiter = self._new_waiter(_Request("join", topic, "phx_join", None, None, None))
        self._track_sent(waiter, out.ref)

    def _schedule_rejoin(self, topic: str) -> None:
        schedule = self.config.rejoin_after
        if schedule is None or topic not in self._wanted:
            return
        tries = self._rejoin_tries.get(topic, 0) + 1
        self._rejoin_tries[topic] = tries
        delay = backoff_delay(schedule, tries)
        old = self._rejoin_timers.pop(topic, None)
        if old is not None:
            old.cancel()
        token = next(self._rejoin_token)
        self._rejoin_due[topic] = token
        tell = self.actor_ref.tell
        due = _RejoinDue(topic, token)
        self._rejoin_timers[topic] = SCHEDULER.call_later(delay, lambda: _tell_quietly(tell, due))
        logger.info("rejoining %r in %.3f s (attempt %d)", topic, delay, tries)

    def _rejoin_timer_fired(self, topic: str, token: int) -> None:
        if self._rejoin_due.get(topic) == token:
            self._rejoin_timers.pop(topic, None)
            self._rejoin(topic)

    def _forget(self, topic: str, error: Callable[[], BaseException]) -> None:
        """Stop rejoining ``topic``; fail the pushes buffered for it."""
        self._wanted.pop(topic, None)
        self._rejoin_tries.pop(topic, None)
        self._rejoin_due.pop(topic, None)
        timer = self._rejoin_timers.pop(topic, None)
        if timer is not None:
            timer.cancel()
        self._fail_buffered(lambda w: w.topic == topic, error)

    def _joining(self, topic: str, out: s.Outbound) -> None:
        self._send(out)
        self._set_channel(topic, ChannelState.JOINING)

    def _left(self, topic: str, out: s.Outbound) -> None:
        self._send(out)
        self._set_channel(topic, ChannelState.LEAVING)
        self._forget(topic, lambda: NotJoinedError(f"{topic!r} was left before the push was sent"))

    # -- requests answered through futures ----------------------------------------

    def _new_waiter(self, request: _Request) -> _Waiter:
        timeout = request.timeout
        if timeout is None:
            timeout = self.config.push_timeout
        waiter = _Waiter(
            request.kind, request.topic, request.event, request.payload, request.future
        )
        tell = self.actor_ref.tell
        timed_out = _TimedOut(waiter)
        waiter.timer = SCHEDULER.call_later(timeout, lambda: _tell_quietly(tell, timed_out))
        return waiter

    def _track_sent(self, waiter: _Waiter, ref: int) -> None:
        waiter.ref = ref
        if self._observer is not None:
            waiter.sent_at = time.monotonic()
        self._waiting[ref] = waiter

    def _finish(self, waiter: _Waiter) -> pykka.Future[ChannelReply] | None:
        """Mark ``waiter`` done and forget it; return its future, or None if done already."""
        if waiter.done:
            return None
        waiter.done = True
        if waiter.timer is not None:
            waiter.timer.cancel()
        if waiter.ref is not None:
            self._waiting.pop(waiter.ref, None)
        return waiter.future

    def _resolve(self, waiter: _Waiter, reply: ChannelReply) -> None:
        if self._observer is not None and not waiter.done:
            latency = time.monotonic() - waiter.sent_at
            self._observe("reply_latency", waiter.topic, waiter.event, reply.status, latency)
        future = self._finish(waiter)
        if future is not None:
            future.set(reply)

    def _reject(self, waiter: _Waiter, error: BaseException) -> None:
        future = self._finish(waiter)
        if future is not None:
            _fail(future, error)

    def _fail_sent(self, error: Callable[[], BaseException]) -> None:
        for waiter in list(self._waiting.values()):
            self._reject(waiter, error())

    def _fail_buffered(
        self, which: Callable[[_Waiter], bool], error: Callable[[], BaseException]
    ) -> None:
        if not self._buffer:
            return
        keep: deque[_Waiter] = deque()
        for waiter in self._buffer:
            if which(waiter):
                self._reject(waiter, error())
            else:
                keep.append(waiter)
        self._buffer = keep

    def _request(self, request: _Request) -> None:
        """Send a join, leave or push whose reply resolves its future, or buffer it.

        Raises :class:`PushError` (nothing sent, nothing buffered) when it can be neither.
        """
        check_timeout(request.timeout)
        session = self._session
        kind, topic = request.kind, request.topic
        if kind == "push" and self._should_buffer(topic):
            s.check_push(topic, request.event)
            if len(self._buffer) >= self.config.push_buffer:
                raise BufferFullError(
                    f"{len(self._buffer)} pushes are already buffered (push_buffer="
                    f"{self.config.push_buffer}); {request.event!r} to {topic!r} was not sent"
                )
            # Encode once now, so that a payload that cannot be sent fails here.
            self._serializer.encode(Message(None, 0, topic, request.event, request.payload))
            self._buffer.append(self._new_waiter(request))
            return
        if not session.is_connected:
            raise DisconnectedError("the socket is not connected")
        if kind == "join":
            out = session.join(topic, request.payload)
        elif kind == "leave":
            out = session.leave(topic, request.payload)
        else:
            out = session.push(topic, request.event, request.payload)
        self._track_sent(self._new_waiter(request), out.ref)
        if kind == "leave":
            self._left(topic, out)
        elif kind == "join":
            self._joining(topic, out)
        else:
            self._send(out)

    def _should_buffer(self, topic: str) -> bool:
        """A push to ``topic`` should wait: it is joining, or will be rejoined."""
        if self.config.push_buffer == 0:
            return False
        state = self._session.state(topic)
        if state is s.TopicState.JOINING:
            return True
        if state is not None or topic not in self._wanted or self.config.rejoin_after is None:
            return False
        # wanted but not joined: waiting for a rejoin, or for the connection to come back
        return self._session.is_connected or self._state is not SocketState.DISCONNECTED

    def _flush(self, topic: str) -> None:
        """Send the pushes buffered for ``topic``, now joined, in order."""
        if not self._buffer:
            return
        keep: deque[_Waiter] = deque()
        for waiter in self._buffer:
            if waiter.topic != topic:
                keep.append(waiter)
                continue
            try:
                out = self._session.push(topic, waiter.event, waiter.payload)
            except PushError as exc:
                self._reject(waiter, exc)
                continue
            self._track_sent(waiter, out.ref)
            self._send(out)
        self._buffer = keep

    def _timed_out(self, waiter: _Waiter) -> None:
        if waiter.done:
            return
        sent = waiter.ref is not None
        if not sent:
            self._buffer = deque(w for w in self._buffer if w is not waiter)
        what = f"{waiter.kind} {waiter.event!r} to {waiter.topic!r}"
        message = (
            f"no reply to {what} within the timeout"
            if sent
            else f"{what} was never sent: the topic was not joined within the timeout"
        )
        self._reject(waiter, PushTimeoutError(message))
        if waiter.kind != "join" or not self._session.is_connected:
            return
        topic = waiter.topic
        if self._session.state(topic) is s.TopicState.JOINING and (
            self._session.join_ref(topic) == waiter.ref
        ):
            logger.warning("join of %r timed out: abandoning it", topic)
            self._send(self._session.abandon_join(topic))
            self._errored_or_closed(topic)
            if topic in self._wanted and self.config.rejoin_after is not None:
                self._schedule_rejoin(topic)  # joined before: keep trying
            else:
                self._fail_buffered(lambda w: w.topic == topic, lambda: PushTimeoutError(message))

    def _on_joined(self, event: s.Joined) -> None:
        topic = event.topic
        self._wanted[topic] = event.payload
        self._rejoin_tries.pop(topic, None)
        self._set_channel(topic, ChannelState.JOINED)
        waiter = self._waiting.get(event.join_ref)
        if waiter is not None:
            self._resolve(waiter, ChannelReply(topic, event.join_ref, "ok", event.response))
        self._flush(topic)

    def _on_join_refused(self, event: s.JoinRefused) -> None:
        topic = event.topic
        waiter = self._waiting.get(event.join_ref)
        if waiter is not None:
            self._resolve(waiter, ChannelReply(topic, event.join_ref, event.status, event.response))
        if topic in self._wanted:
            logger.warning("rejoin of %r refused (%r): not retrying", topic, event.response)
        self._set_channel(topic, ChannelState.CLOSED)
        self._forget(topic, lambda: NotJoinedError(f"the join of {topic!r} was refused"))

    def _on_channel_closed(self, event: s.ChannelClosed) -> None:
        topic = event.topic
        closed = f"the channel of {topic!r} closed ({event.event})"
        for waiter in list(self._waiting.values()):
            if waiter.topic == topic:
                if waiter.kind == "leave" and event.event == "phx_close":
                    reply = waiter.reply or ChannelReply(topic, waiter.ref, "ok", {})
                    self._resolve(waiter, reply)
                else:
                    self._reject(waiter, ChannelClosedError(closed))
        error = lambda: ChannelClosedError(closed)  # noqa: E731
        if event.event == "phx_close":
            self._forget(topic, error)
            self._set_channel(topic, ChannelState.CLOSED)
        else:
            self._errored_or_closed(topic)
            self._schedule_rejoin(topic)

    def _on_reply(self, event: s.ReplyReceived) -> None:
        if type(event.ref) is not int:
            return
        waiter = self._waiting.get(event.ref)
        if waiter is not None and waiter.topic == event.topic:
            reply = ChannelReply(event.topic, event.ref, event.status, event.response)
            if waiter.kind == "leave" and reply.ok:
                waiter.reply = reply  # resolved once the channel is closed
            else:
                self._resolve(waiter, reply)

    # -- inbound ----------------------------------------------------------------

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
            if self._waiting:
                self._on_reply(event)
            self._callback("handle_reply", event.topic, event.ref, event.payload, conn)
        elif isinstance(event, s.Joined):
            self._on_joined(event)
            self._callback("handle_joined", event.topic, event.response, conn)
        elif isinstance(event, s.JoinRefused):
            if event.status != "error":
                logger.warning("join reply status %r treated as an error", event.status)
            self._on_join_refused(event)
            self._callback("handle_join_error", event.topic, event.response, conn)
        elif isinstance(event, s.ChannelClosed):
            self._on_channel_closed(event)
            name = "handle_channel_error" if event.event == "phx_error" else "handle_channel_closed"
            self._callback(name, event.topic, event.payload, conn)
        elif isinstance(event, s.HeartbeatAcked):
            if self._observer is not None:
                self._observe("heartbeat_rtt", time.monotonic() - self._heartbeat_sent_at)
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
        if self.config.callback_errors == "stop":
            self._begin_stop(exc)

    def _apply(self, name: str, result: object) -> None:
        if result is None:
            return
        if isinstance(result, Connect):
            self._connect(result)
        elif isinstance(result, Reconnect):
            self._reconnect(result)
        elif isinstance(result, Stop):
            self._begin_stop(result.reason)
        else:
            logger.error(
                "%s.%s returned %r, which is ignored; expected None, Connect(...), "
                "Reconnect(...) or Stop(...)",
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

    def _outside_request(self, message: _Request) -> None:
        try:
            self._request(message)
        except (PushError, ConfigError) as exc:
            assert message.future is not None  # requests from outside always have one
            _fail(message.future, exc)

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
            if self._credits is not None and message.generation == self._generation:
                self._credits.release()
            if not self._stopping:
                self._received(message.generation, message.frame)
        elif self._stopping:
            if kind in (_Call, _Request) and message.future is not None:
                _fail(message.future, SocketStoppedError("the socket is stopping"))
            elif kind is _Run:
                self._run(message)
        elif kind is _Opened:
            self._opened(message.generation)
        elif kind is _Closed:
            self._closed(message.generation, message.reason)
        elif kind is _HeartbeatDue:
            self._heartbeat_due(message.generation)
        elif kind is _TimedOut:
            self._timed_out(message.waiter)
        elif kind is _Request:
            self._outside_request(message)
        elif kind is _ReconnectDue:
            self._reconnect_due(message.token)
        elif kind is _RejoinDue:
            self._rejoin_timer_fired(message.topic, message.token)
        elif kind is _Call:
            self._call(message)
        elif kind is _Run:
            self._run(message)
        else:
            self._callback("handle_info", message, self._conn)
