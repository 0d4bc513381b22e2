"""The socket actor: hosts the user's :class:`SocketClient` and moves messages.

Everything reaches it through its mailbox: transport reports (tagged with the
connection's generation, so a late report of an old connection is dropped), timers
(heartbeat, reconnect, rejoin, reply timeouts), calls from other threads, and any
other message (given to ``handle_info``). The protocol rules live in
:class:`~phoenix_actor._protocol.session.Session`; this module routes, and owns the connection.
Everything else is a part the actor owns, each given what it uses (never the actor):
:class:`~phoenix_actor._socket.states.States` (socket and channel states, the observer),
:class:`~phoenix_actor._socket.reconnects.Reconnects` (backoff and the reconnect timer),
:class:`~phoenix_actor._socket.rejoins.Rejoins` (the topics to rejoin, their timers),
:class:`~phoenix_actor._socket.replies.Replies` (futures, the push buffer, deadlines),
:class:`~phoenix_actor._socket.channels.Channels` (what each session event does to those),
:class:`~phoenix_actor._socket.heartbeat.Heartbeat` and
:class:`~phoenix_actor._socket.callbacks.Callbacks` (the user's client, shielded).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

from phoenix_actor._protocol import session as s
from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._protocol.message import Frame
from phoenix_actor._protocol.url import check_url, redact_url
from phoenix_actor._socket import exit as _exit
from phoenix_actor._socket.callbacks import Callbacks
from phoenix_actor._socket.channels import Channels
from phoenix_actor._socket.client import Connect, NoConnect, Reconnect, SocketClient, Stop
from phoenix_actor._socket.config import Config
from phoenix_actor._socket.handles import Caller, Connection, _Run
from phoenix_actor._socket.heartbeat import Heartbeat
from phoenix_actor._socket.link import Link
from phoenix_actor._socket.mailbox import (
    SocketRef,
    _Call,
    _Closed,
    _DeadlinesDue,
    _fail,
    _HeartbeatDue,
    _Listener,
    _Opened,
    _Received,
    _ReceivedMany,
    _ReconnectDue,
    _RejoinDue,
    _Request,
    fail_told,
)
from phoenix_actor._socket.observer import ChannelState, SocketState
from phoenix_actor._socket.reconnects import Reconnects
from phoenix_actor._socket.rejoins import Rejoins
from phoenix_actor._socket.replies import Replies
from phoenix_actor._socket.states import States
from phoenix_actor._transport.reasons import (
    ConnectFailed,
    DisconnectReason,
    HeartbeatTimeout,
    TransportDown,
)
from phoenix_actor._transport.timers import Timer, _tell_quietly, tell_later
from phoenix_actor.exceptions import (
    ConfigError,
    DisconnectedError,
    ProtocolError,
    PushError,
    SocketStoppedError,
)
from phoenix_actor.runtime._choice import RuntimeChoice, take_waiting

__all__ = [
    "Caller",
    "Connection",
    "SocketActor",
    "SocketState",
    "_Request",
    "_tell_quietly",
]

logger = logging.getLogger("phoenix_actor.socket")


def _is_inbound_frames(envelope: Any) -> bool:
    return type(envelope.message) in (_Received, _ReceivedMany)


# -- the actor -----------------------------------------------------------------------


@functools.cache
def _default_config() -> Config:
    """One validated default ``Config`` (it is frozen and its parts are stateless)."""
    return Config()


class SocketActor(RuntimeChoice):
    """A Pykka actor running a :class:`SocketClient`'s callbacks.

    ``SocketActor.start(client, config, **options)`` calls ``client.init()`` in the
    caller's thread (so a bad URL raises there) and returns the actor's ``ActorRef``.
    ``config`` is a :class:`~phoenix_actor.Config` (every option and its default is
    documented there); keyword ``options`` override its fields, e.g.
    ``SocketActor.start(client, heartbeat_interval=None)``.
    """

    def __init__(self, client: SocketClient, config: Config | None = None, **options: Any):
        if config is None:
            config = _default_config()
        elif not isinstance(config, Config):
            raise ConfigError(f"config must be a phoenix_actor.Config, not {config!r}")
        if options:
            config = config.replace(**options)
        self._use_pool(config.worker_pool())  # before Pykka makes the inbox
        super().__init__()
        _exit.install(SocketActor)  # a socket left running must not keep the program going
        #: Raised by ``ref.stop()`` from the caller's thread: inbound frames still
        #: queued are dropped (and counted in ``_dropped``) instead of handled.
        self._halt = threading.Event()
        self._dropped = 0
        ref = SocketRef(self, self._halt)
        # Pykka keeps the ref in ``_actor_ref`` behind its ``actor_ref`` property.
        setattr(self, "_actor_ref" if "_actor_ref" in vars(self) else "actor_ref", ref)
        self.config = config
        self._client = client
        self._session = s.Session(config.serializer)
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._live_generation: int | None = None
        self._observer = config.observer
        self._attempt_started = 0.0
        self._stopping = False
        self._stop_reason: Any = "shutdown"
        self._conn = Connection(self, None)
        self._states = states = States(config.observer, changed=self._state_changed)
        first = client.init()
        if not isinstance(first, (Connect, NoConnect)):
            raise ConfigError(
                f"{type(client).__name__}.init() returned {first!r}; "
                "expected Connect(url, params) or NoConnect(url, params)"
            )
        if first.url is None:
            raise ConfigError("Connect returned from init() needs a url")
        self._link = link = Link(config, check_url(first.url), first.params)
        self._connect_at_start = isinstance(first, Connect)
        # the parts: each gets what it uses, never the actor
        self._callbacks = callbacks = Callbacks(
            client, config.callback_errors, apply=self._apply, stop=self._begin_stop
        )
        self._callback = callbacks.run
        self._heartbeat = Heartbeat(
            config.heartbeat_interval, self._session, link.send, self._later
        )
        self._reconnects = Reconnects(config, self._later, states)
        self._rejoins = rejoins = Rejoins(config, self._later)
        self._replies = replies = Replies(
            config, self._later, states, frames_out=lambda: link.frames_out
        )
        self._channels = Channels(
            config, self._session, send=link.send, states=states, rejoins=rejoins, replies=replies
        )

    def __repr__(self) -> str:
        return f"<SocketActor {type(self._client).__name__} {self._states.socket.value}>"

    @property
    def state(self) -> SocketState:
        """The connection's state: read it in the actor thread, or from another thread with
        ``ref.proxy().state.get()`` (``Socket.state`` keeps a copy that needs neither)."""
        return self._states.socket

    @property
    def reconnect_at(self) -> float | None:
        """``time.monotonic()`` of the scheduled reconnect, if any (actor thread only)."""
        return self._reconnects.at

    @property
    def stop_reason(self) -> Any:
        """Why the socket stops: ``"shutdown"`` (``ref.stop()``) unless ``Stop(reason)`` or
        a callback error under ``callback_errors="stop"`` set it. Actor thread only."""
        return self._stop_reason

    def channel_states(self) -> dict[str, ChannelState]:
        """Each topic that is not closed, with its state (actor thread only)."""
        return self._states.channels()

    def _state_changed(self, state: SocketState) -> None:
        """Told every new socket state (a subclass may publish it; nothing here)."""

    def _later(self, delay: float, message: object) -> Timer:
        return tell_later(self.actor_ref, delay, message)

    # -- lifecycle --------------------------------------------------------------

    def on_start(self) -> None:
        self._thread = threading.current_thread()
        try:
            if self._connect_at_start:
                self._connect(Connect())
        finally:
            self._thread = None

    def on_stop(self) -> None:
        self._thread = threading.current_thread()
        self._shutdown()
        if self._dropped:
            logger.info("stopped: %d inbound frames not handled were dropped", self._dropped)
        self._callbacks.terminate(self._stop_reason)

    def on_failure(self, *exc_info: object) -> None:
        self._thread = threading.current_thread()
        self._shutdown()
        self._callbacks.terminate(exc_info[1])

    def _shutdown(self) -> None:
        states = self._states
        states.set_socket(SocketState.STOPPED)
        self._reconnects.cancel()
        self._rejoins.cancel_all()
        self._close_transport()
        self._session.disconnected()
        for topic in states.channels():
            states.set_channel(topic, ChannelState.CLOSED)
        stopped = "the socket stopped before the reply came"
        self._replies.fail_sent(lambda: SocketStoppedError(stopped))
        self._replies.fail_buffered(lambda _w: True, lambda: SocketStoppedError(stopped))
        self._fail_waiting_calls()
        self._replies.cancel_deadlines()

    def _fail_waiting_calls(self) -> None:
        # Requests told to the actor but not handled, and calls still awaiting a reply.
        told = (_Call, _Run, _Request)
        stopped = lambda: SocketStoppedError("the socket stopped")  # noqa: E731
        self._dropped += fail_told(self.actor_inbox, told, stopped)
        self._callbacks.fail_pending(
            lambda: SocketStoppedError("the socket stopped before answering")
        )

    def _begin_stop(self, reason: Any) -> None:
        if not self._stopping:
            self._stopping = True
            self._stop_reason = reason
            self.stop()

    # -- connection -------------------------------------------------------------

    def _drop_backlog(self) -> None:
        """A stop was asked: drop (and count) every inbound frame still in the mailbox at
        once, leaving the other messages in their order, so that the stop message comes
        next whatever the backlog."""
        for envelope in take_waiting(self.actor_inbox, _is_inbound_frames):
            message = envelope.message
            self._dropped += len(message.frames) if type(message) is _ReceivedMany else 1

    def _close_transport(self) -> None:
        self._heartbeat.stop()
        self._live_generation = None
        self._link.close()

    def _send(self, out: s.Outbound) -> None:
        self._link.send(out)

    def _connect(self, command: Connect) -> None:
        link = self._link
        if link.transport is not None:
            logger.warning("Connect ignored: the socket is already %s", self._states.socket.value)
            return
        self._reconnects.cancel()
        link.retarget(command)
        self._generation += 1
        generation = self._generation
        try:
            url = link.resolve()
        except ConfigError as exc:
            logger.error("cannot connect: %s", exc)  # noqa: TRY400 -- the message says it all
            self._attempt_failed(generation, ConnectFailed("config", str(exc)))
            return
        logger.info("connecting to %s", redact_url(url))
        self._states.set_socket(SocketState.CONNECTING)
        self._attempt_started = time.monotonic()
        self._states.observe("connect_attempt", self._reconnects.tries + 1)
        ref = self.actor_ref
        try:
            link.open(url, lambda flow: _Listener(ref, generation, flow))
        except Exception as exc:
            logger.exception("the transport factory raised")
            self._attempt_failed(generation, TransportDown(f"{type(exc).__name__}: {exc}"))

    def _attempt_failed(self, generation: int, reason: DisconnectReason) -> None:
        # Reported through the mailbox: a client answering Connect() to every failure
        # then loops through the mailbox instead of recursing.
        self._states.set_socket(SocketState.CONNECTING)
        _tell_quietly(self.actor_ref.tell, _Closed(generation, reason))

    def _opened(self, generation: int) -> None:
        if generation != self._generation or self._link.transport is None:
            return
        self._live_generation = generation
        self._reconnects.connected()
        states = self._states
        states.last_reason = None
        states.set_socket(SocketState.CONNECTED)
        states.observe("connected", time.monotonic() - self._attempt_started)
        self._session.connected()
        self._conn = conn = Connection(self, generation)
        logger.info("connected")
        self._callback("handle_connected", conn)
        if conn.is_connected and not self._stopping:
            self._channels.rejoin_all()
        if conn.is_connected:  # after the joins: the first timer starts the timer thread
            self._heartbeat.start(generation)

    def _heartbeat_due(self, generation: int) -> None:
        interval = self._heartbeat.interval
        if generation != self._live_generation or interval is None:
            return
        if not self._heartbeat.beat(generation):
            logger.warning("no heartbeat reply within %s s: closing", interval)
            self._lost(HeartbeatTimeout(interval))
            return
        if self._observer is not None:
            depth = self.actor_inbox.qsize()
            self._states.observe("mailbox_depth", depth)

    def _closed(self, generation: int, reason: DisconnectReason) -> None:
        if generation != self._generation:
            return  # an earlier attempt's late report
        if self._link.transport is None and self._states.socket is not SocketState.CONNECTING:
            return  # already handled
        self._lost(reason)

    def _lost(self, reason: DisconnectReason) -> None:
        """The connection is over (reported, or ended by us): tell the client."""
        self._close_transport()
        self._session.disconnected()
        states = self._states
        states.last_reason = reason
        states.set_socket(SocketState.DISCONNECTED)
        self._conn = Connection(self, None)
        logger.info("disconnected: %s", reason.describe())
        self._channels.disconnected()
        self._replies.fail_lost(reason.describe(), self._link.frames_written)
        self._callback("handle_disconnected", reason)
        if states.socket is SocketState.DISCONNECTED:
            no_reconnect = "disconnected, and no reconnect is planned"
            self._replies.fail_buffered(lambda _w: True, lambda: DisconnectedError(no_reconnect))

    # -- reconnecting -----------------------------------------------------------

    def _reconnect(self, command: Reconnect) -> None:
        states = self._states
        if self._link.transport is not None or states.socket is SocketState.CONNECTING:
            logger.warning("Reconnect ignored: the socket is already %s", states.socket.value)
            return
        self._reconnects.start(command.after)

    # -- inbound ----------------------------------------------------------------

    def _received(self, generation: int, frame: Frame) -> None:
        if generation != self._live_generation:
            return
        try:
            event = self._session.receive(frame)
        except ProtocolError as exc:
            logger.warning("dropped a malformed frame: %s (%s)", exc, Bounded(frame))
            return
        conn = self._conn
        if isinstance(event, s.MessageReceived):
            self._callback("handle_message", event.topic, event.event, event.payload, conn)
        elif isinstance(event, s.ReplyReceived):
            if self._replies.sent:
                self._channels.reply(event)
            self._callback("handle_reply", event.topic, event.ref, event.payload, conn)
        elif isinstance(event, s.Joined):
            self._channels.joined(event)
            self._callback("handle_joined", event.topic, event.response, conn)
        elif isinstance(event, s.JoinRefused):
            if event.status != "error":
                logger.warning("join reply status %s treated as an error", Bounded(event.status))
            self._channels.join_refused(event)
            self._callback("handle_join_error", event.topic, event.response, conn)
        elif isinstance(event, s.ChannelClosed):
            self._channels.channel_closed(event)
            name = "handle_channel_error" if event.event == "phx_error" else "handle_channel_closed"
            self._callback(name, event.topic, event.payload, conn)
        elif isinstance(event, s.HeartbeatAcked):
            if self._observer is not None:
                self._states.observe("heartbeat_rtt", self._heartbeat.rtt())
        elif isinstance(event, s.MessageDropped):
            logger.debug("dropped %s: %s", Bounded(event.message), event.reason)

    def _handled(self, count: int) -> None:
        """``count`` frames leave the backlog: resume a held reading once it is short."""
        flow = self._link.flow
        assert flow is not None
        if flow.done(count):
            self._link.resume_reading()

    # -- callbacks --------------------------------------------------------------

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

    def _run(self, message: _Run) -> None:
        try:
            value = message.function(self._conn)
        except Exception as exc:  # noqa: BLE001 -- handed to the caller
            message.future.set_exception((type(exc), exc, exc.__traceback__))
            return
        message.future.set(value)

    # -- what a Connection uses (SocketSide) ---------------------------------------

    def _joining(self, topic: str, out: s.Outbound) -> None:
        self._channels.joining(topic, out)

    def _left(self, topic: str, out: s.Outbound) -> None:
        self._channels.left(topic, out)

    def _request(self, request: _Request) -> None:
        self._channels.request(request)

    def _outside_request(self, message: _Request) -> None:
        try:
            self._channels.request(message)
        except (PushError, ConfigError) as exc:
            assert message.future is not None  # requests from outside always have one
            _fail(message.future, exc)

    # -- mailbox ----------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        self._thread = threading.current_thread()  # on a pool, not the same one each time
        try:
            self._dispatch(message)
        except Exception:
            # A bug of ours must not kill the socket: Pykka would stop the actor.
            logger.exception(
                "internal error while handling %s; the socket keeps running", Bounded(message)
            )
        finally:
            self._thread = None
        return None

    def _dispatch(self, message: Any) -> None:
        kind = type(message)
        if kind is _ReceivedMany:
            generation = message.generation
            frames = message.frames
            if self._link.flow is not None and generation == self._generation:
                self._handled(len(frames))
            halted = self._halt.is_set
            for index, frame in enumerate(frames):
                if self._stopping or halted():
                    self._dropped += len(frames) - index
                    self._drop_backlog()
                    break
                self._received(generation, frame)
        elif kind is _Received:
            if self._link.flow is not None and message.generation == self._generation:
                self._handled(1)
            if self._stopping or self._halt.is_set():
                self._dropped += 1
                self._drop_backlog()
            else:
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
        elif kind is _DeadlinesDue:
            self._channels.deadlines_due(message.token)
        elif kind is _Request:
            self._outside_request(message)
        elif kind is _ReconnectDue:
            if self._reconnects.due(message.token):
                self._connect(Connect())
        elif kind is _RejoinDue:
            self._channels.rejoin_due(message.topic, message.token)
        elif kind is _Call:
            self._callbacks.call(message, self._conn)
        elif kind is _Run:
            self._run(message)
        else:
            self._callback("handle_info", message, self._conn)
