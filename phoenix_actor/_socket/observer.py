"""Observable state and metrics: what a socket reports about itself as it runs.

Give an :class:`Observer` as ``Config.observer``. Its methods run in the socket
actor's thread, so they must be quick (update a counter, ``tell`` an actor, put on a
queue); an exception they raise is logged and ignored. :class:`TellObserver` forwards
the state changes to another Pykka actor as messages.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

if TYPE_CHECKING:
    from phoenix_actor._transport.reasons import DisconnectReason

logger = logging.getLogger("phoenix_actor.observer")


class SocketState(enum.Enum):
    """Where the socket's connection stands."""

    DISCONNECTED = "disconnected"  #: no connection, none scheduled
    WAITING = "waiting"  #: a reconnect is scheduled (see ``SocketActor.reconnect_at``)
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STOPPED = "stopped"


class ChannelState(enum.Enum):
    """Where a topic stands, as an observer sees it (phoenix.js's channel states)."""

    JOINING = "joining"  #: join sent, no answer yet
    JOINED = "joined"
    ERRORED = "errored"  #: crashed, timed out or disconnected; a rejoin will come
    LEAVING = "leaving"  #: leave sent
    CLOSED = "closed"  #: left, closed by the server or refused; not rejoined


@dataclass(frozen=True, slots=True)
class SocketStateChanged:
    """The socket's state changed. ``reason`` is the last disconnect reason, if any;
    ``reconnect_in`` the seconds until the next attempt when ``state`` is WAITING."""

    state: SocketState
    reason: DisconnectReason | None = None
    reconnect_in: float | None = None


@dataclass(frozen=True, slots=True)
class ChannelStateChanged:
    """The state of ``topic`` changed."""

    topic: str
    state: ChannelState


class Observer:
    """Hooks a socket calls as it runs; override the ones you need (all do nothing).

    Every method runs in the socket actor's thread: keep it short and never wait on
    the socket from it.
    """

    def socket_state(self, change: SocketStateChanged) -> None:
        """The socket moved to ``change.state``."""

    def channel_state(self, change: ChannelStateChanged) -> None:
        """A topic moved to ``change.state``."""

    def connect_attempt(self, attempt: int) -> None:
        """A connection attempt starts (``attempt`` counts from 1 since the last success)."""

    def connected(self, seconds: float) -> None:
        """A connection opened ``seconds`` after its attempt started."""

    def reconnect_scheduled(self, attempt: int, delay: float) -> None:
        """Reconnect ``attempt`` will start in ``delay`` seconds."""

    def heartbeat_rtt(self, seconds: float) -> None:
        """A heartbeat was answered ``seconds`` after it was sent."""

    def reply_latency(self, topic: str, event: str, status: str, seconds: float) -> None:
        """A reply (to a request made with a future) came ``seconds`` after it was sent."""

    def mailbox_depth(self, depth: int) -> None:
        """How many messages waited in the socket's mailbox (reported at each heartbeat)."""


class TellObserver(Observer):
    """Tells ``ref`` a :class:`SocketStateChanged` or :class:`ChannelStateChanged`
    message at each change: how another actor subscribes to a socket's state."""

    def __init__(self, ref: pykka.ActorRef[Any]) -> None:
        self.ref = ref

    def _tell(self, message: object) -> None:
        try:
            self.ref.tell(message)
        except pykka.ActorDeadError:
            logger.debug("state observer %s is gone", self.ref)

    def socket_state(self, change: SocketStateChanged) -> None:
        """Tell the change."""
        self._tell(change)

    def channel_state(self, change: ChannelStateChanged) -> None:
        """Tell the change."""
        self._tell(change)
