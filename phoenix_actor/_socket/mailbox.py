"""What travels through a socket actor's mailbox, and the listener that sends it there.

Transport reports carry the generation of their connection attempt, so that a late
report of an earlier attempt is recognised and dropped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload

import pykka

from phoenix_actor._protocol.message import ChannelReply, Frame
from phoenix_actor._transport.checks import is_seconds
from phoenix_actor._transport.reasons import DisconnectReason
from phoenix_actor._transport.timers import _tell_quietly
from phoenix_actor.exceptions import ConfigError

RequestKind = Literal["join", "leave", "push"]


class Cancellable(Protocol):
    """A scheduled message (a :class:`~phoenix_actor._transport.timers.Timer`)."""

    def cancel(self) -> None: ...


#: ``later(delay, message)``: tell the socket actor ``message`` after ``delay`` seconds.
#: The socket's parts get one instead of the actor (tests give them a recording fake).
Later = Callable[[float, object], Cancellable]


@dataclass(frozen=True, slots=True)
class _Opened:
    generation: int


@dataclass(frozen=True, slots=True)
class _Received:
    generation: int
    frame: Frame


@dataclass(frozen=True, slots=True)
class _ReceivedMany:
    generation: int
    frames: list[Frame]


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
    frame: int = 0  # the number of its frame on its connection (see SocketActor._send)
    sent_at: float = 0.0  # time.monotonic() when sent, if observed
    deadline: float = 0.0  # time.monotonic() after which it times out
    done: bool = False
    reply: ChannelReply | None = None  # a leave's ok reply, until its channel closes


@dataclass(frozen=True, slots=True)
class _DeadlinesDue:
    """The earliest request deadline has passed (``token`` tells the current timer)."""

    token: int


def _fail(future: pykka.Future[Any], error: BaseException) -> None:
    future.set_exception((type(error), error, None))


def fail_told(inbox: Any, kinds: tuple[type, ...], error: Callable[[], BaseException]) -> int:
    """Fail the future of each message of ``kinds`` still in a stopping actor's
    ``inbox`` (told, never to be handled) with a fresh ``error()``. Other messages are
    dropped, except asks, put back for Pykka to answer at teardown. Returns how many
    inbound frames were dropped."""
    asks = []
    dropped = 0
    while True:
        try:
            envelope = inbox.get_nowait()
        except queue.Empty:
            break
        message: Any = envelope.message
        if type(message) is _ReceivedMany:
            dropped += len(message.frames)
        elif type(message) is _Received:
            dropped += 1
        elif isinstance(message, kinds) and getattr(message, "future", None) is not None:
            _fail(getattr(message, "future"), error())  # noqa: B009 -- narrowed to object
        elif envelope.reply_to is not None:
            asks.append(envelope)
    for envelope in asks:
        inbox.put(envelope)  # Pykka answers asks (a second stop()...) at teardown
    return dropped


def check_timeout(timeout: object) -> None:
    """Raise ConfigError unless ``timeout`` is None or a number of seconds > 0."""
    if timeout is not None and not is_seconds(timeout):
        raise ConfigError(
            f"timeout must be a finite number of seconds > 0 or None, not {timeout!r:.100}"
        )


class Flow:
    """Backpressure (``Config.max_pending_frames``): frames told to the socket actor and
    not handled yet, against a limit.

    The transport's reader adds what it reports and is told to hold its reading once
    ``limit`` frames wait; the socket actor takes them off as it handles them and
    resumes the reading once no more than half the limit wait.
    """

    __slots__ = ("_held", "_limit", "_lock", "_pending")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._pending = 0
        self._held = False

    def add(self, count: int) -> bool:
        """``count`` more frames wait: False when the reading should be held."""
        with self._lock:
            self._pending += count
            if self._pending >= self._limit:
                self._held = True
                return False
            return True

    def done(self, count: int) -> bool:
        """``count`` frames were taken: True when held reading should resume now."""
        with self._lock:
            self._pending -= count
            if self._held and self._pending <= self._limit // 2:
                self._held = False
                return True
            return False


class _Listener:
    """Tells the socket actor what one connection attempt's transport reports.

    With a :class:`Flow`, it asks the transport to hold its reading while too many
    frames wait to be handled.
    """

    __slots__ = ("_flow", "_generation", "_tell")

    def __init__(self, ref: pykka.ActorRef[Any], generation: int, flow: Flow | None) -> None:
        self._tell = ref.tell
        self._generation = generation
        self._flow = flow

    def _send(self, message: object) -> None:
        # If the socket stopped, it closes the transport itself.
        _tell_quietly(self._tell, message)

    def connected(self) -> None:
        self._send(_Opened(self._generation))

    def frame(self, frame: Frame) -> bool:
        keep_reading = self._flow is None or self._flow.add(1)
        self._send(_Received(self._generation, frame))
        return keep_reading

    def frames(self, frames: list[Frame]) -> bool:
        keep_reading = self._flow is None or self._flow.add(len(frames))
        self._send(_ReceivedMany(self._generation, frames))
        return keep_reading

    def disconnected(self, reason: DisconnectReason) -> None:
        self._send(_Closed(self._generation, reason))


class SocketRef(pykka.ActorRef[Any]):
    """A socket actor's ``ActorRef``: ``stop()`` raises the actor's ``halt`` flag before
    it queues Pykka's stop message, so that the actor drops the inbound frames queued
    ahead of it instead of running a callback for each (``ref.stop()`` and
    ``Socket.close()`` return at once whatever the backlog)."""

    def __init__(self, actor: pykka.Actor, halt: threading.Event) -> None:
        super().__init__(actor)
        self._halt = halt

    @overload
    def stop(self, *, block: Literal[True], timeout: float | None = None) -> bool: ...

    @overload
    def stop(
        self, *, block: Literal[False], timeout: float | None = None
    ) -> pykka.Future[bool]: ...

    @overload
    def stop(
        self, *, block: bool = True, timeout: float | None = None
    ) -> bool | pykka.Future[bool]: ...

    def stop(
        self, *, block: bool = True, timeout: float | None = None
    ) -> bool | pykka.Future[bool]:
        self._halt.set()
        return super().stop(block=block, timeout=timeout)
