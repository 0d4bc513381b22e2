"""What travels through a socket actor's mailbox, and the listener that sends it there.

Transport reports carry the generation of their connection attempt, so that a late
report of an earlier attempt is recognised and dropped.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pykka

from phoenix_actor._protocol.message import ChannelReply, Frame
from phoenix_actor._transport.checks import is_seconds
from phoenix_actor._transport.reasons import DisconnectReason
from phoenix_actor._transport.timers import _tell_quietly
from phoenix_actor.exceptions import ConfigError

if TYPE_CHECKING:
    import threading

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


def fail_told(inbox: Any, kinds: tuple[type, ...], error: Callable[[], BaseException]) -> None:
    """Fail the future of each message of ``kinds`` still in a stopping actor's
    ``inbox`` (told, never to be handled) with a fresh ``error()``. Other messages are
    dropped, except asks, put back for Pykka to answer at teardown."""
    asks = []
    while True:
        try:
            envelope = inbox.get_nowait()
        except queue.Empty:
            break
        message = envelope.message
        if isinstance(message, kinds) and message.future is not None:  # type: ignore[attr-defined]
            _fail(message.future, error())  # type: ignore[attr-defined]
        elif envelope.reply_to is not None:
            asks.append(envelope)
    for envelope in asks:
        inbox.put(envelope)  # Pykka answers asks (a second stop()...) at teardown


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
