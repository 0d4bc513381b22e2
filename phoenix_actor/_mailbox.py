"""What travels through a socket actor's mailbox, and the listener that sends it there.

Transport reports carry the generation of their connection attempt, so that a late
report of an earlier attempt is recognised and dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import pykka

from phoenix_actor._checks import is_seconds
from phoenix_actor._message import ChannelReply, Frame
from phoenix_actor._reasons import DisconnectReason
from phoenix_actor._timers import SCHEDULER, Timer
from phoenix_actor.exceptions import ConfigError

if TYPE_CHECKING:
    from phoenix_actor._handles import Connection

RequestKind = Literal["join", "leave", "push"]


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
    frame: int = 0  # the number of its frame on its connection (see SocketActor._send)
    sent_at: float = 0.0  # time.monotonic() when sent, if observed
    deadline: float = 0.0  # time.monotonic() after which it times out
    done: bool = False
    reply: ChannelReply | None = None  # a leave's ok reply, until its channel closes


@dataclass(frozen=True, slots=True)
class _DeadlinesDue:
    """The earliest request deadline has passed (``token`` tells the current timer)."""

    token: int


def _tell_quietly(tell: Callable[[Any], None], message: object) -> None:
    try:
        tell(message)
    except pykka.ActorDeadError:
        pass  # the socket stopped meanwhile


def tell_later(ref: pykka.ActorRef[Any], delay: float, message: object) -> Timer:
    """Tell ``ref`` ``message`` after ``delay`` seconds, from the shared timer thread;
    nothing happens if the actor has stopped by then."""
    tell = ref.tell
    return SCHEDULER.call_later(delay, lambda: _tell_quietly(tell, message))


def _fail(future: pykka.Future[Any], error: BaseException) -> None:
    future.set_exception((type(error), error, None))


def check_timeout(timeout: object) -> None:
    """Raise ConfigError unless ``timeout`` is None or a number of seconds > 0."""
    if timeout is not None and not is_seconds(timeout):
        raise ConfigError(
            f"timeout must be a finite number of seconds > 0 or None, not {timeout!r:.100}"
        )


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

    def frames(self, frames: list[Frame]) -> None:
        if self._credits is None:
            self._send(_ReceivedMany(self._generation, frames))
        else:
            for frame in frames:  # one credit each, so the reader waits between them
                self.frame(frame)

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
