"""The protocol rules of one Phoenix socket, with no threads, sockets, actors or clocks.

A :class:`Session` owns the connection-wide ref counter, each topic's state and
join_ref, and the pending heartbeat ref. Requests (``join``, ``leave``, ``push``,
``heartbeat``) return an :class:`Outbound` (the ref and the frame to send) or raise a
:class:`~phoenix_actor.exceptions.PushError`; inbound frames go through ``receive``,
which returns one event (past tense: :class:`Joined`, :class:`ReplyReceived` ...).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Union

from phoenix_actor._protocol.constants import (
    EVENT_CLOSE,
    EVENT_ERROR,
    EVENT_HEARTBEAT,
    EVENT_JOIN,
    EVENT_LEAVE,
    EVENT_REPLY,
    KEY_RESPONSE,
    KEY_STATUS,
    PHOENIX_TOPIC,
    RESERVED_EVENTS,
    STATUS_OK,
)
from phoenix_actor._protocol.message import Frame, Message, WireRef
from phoenix_actor._protocol.serializer import Serializer
from phoenix_actor.exceptions import (
    AlreadyJoinedError,
    DisconnectedError,
    InvalidMessageError,
    NotJoinedError,
    ProtocolError,
)


class TopicState(enum.Enum):
    """Where a topic stands on the current connection. Unjoined topics have no state."""

    JOINING = "joining"  #: join sent, no reply yet
    JOINED = "joined"  #: ok join reply received
    LEAVING = "leaving"  #: leave sent; still joined until the server's phx_close


@dataclass(slots=True)
class _Topic:
    state: TopicState
    join_ref: int
    join_payload: Any


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message accepted for sending: its ref, its join_ref and the encoded frame."""

    ref: int
    join_ref: int | None
    frame: Frame


@dataclass(frozen=True, slots=True)
class Joined:
    """The server accepted a join (``response`` is the reply's response, unwrapped)."""

    topic: str
    response: Any
    join_ref: int
    payload: Any  # the payload the join was sent with


@dataclass(frozen=True, slots=True)
class JoinRefused:
    """The server refused a join. ``status`` is ``"error"`` (or an unexpected status)."""

    topic: str
    response: Any
    status: str
    join_ref: int


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """The server closed (``phx_close``) or lost (``phx_error``) the channel of a topic."""

    topic: str
    payload: Any
    event: Literal["phx_close", "phx_error"]
    join_ref: int


@dataclass(frozen=True, slots=True)
class ReplyReceived:
    """A reply to a push or leave. ``payload`` is the whole ``{"status", "response"}`` map."""

    topic: str
    ref: WireRef
    status: str
    response: Any
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A server push or broadcast."""

    topic: str
    event: str
    payload: Any
    join_ref: WireRef


@dataclass(frozen=True, slots=True)
class HeartbeatAcked:
    """The server answered the pending heartbeat."""

    ref: int


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """A message from an earlier channel session (or unasked for), dropped by the rules."""

    message: Message
    reason: str


Event = Union[
    Joined,
    JoinRefused,
    ChannelClosed,
    ReplyReceived,
    MessageReceived,
    HeartbeatAcked,
    MessageDropped,
]


def _check_topic(topic: object) -> None:
    if type(topic) is not str:
        raise InvalidMessageError(f"topic must be a str, not {type(topic).__name__}: {topic!r}")


def check_push(topic: object, event: object) -> None:
    """Raise InvalidMessageError unless ``topic`` and ``event`` may be pushed."""
    _check_topic(topic)
    if type(event) is not str:
        raise InvalidMessageError(f"event must be a str, not {type(event).__name__}")
    if event in RESERVED_EVENTS:
        raise InvalidMessageError(f"{event!r} is a protocol event; use join() or leave()")


class Session:
    """Protocol state of one socket across its connections.

    Refs come from one counter per connection: the first message after ``connected()``
    has ref 1, and ``disconnected()`` forgets every topic and resets the counter.
    """

    __slots__ = ("_connected", "_last_ref", "_pending_heartbeat", "_topics", "serializer")

    def __init__(self, serializer: Serializer) -> None:
        self.serializer = serializer
        self._connected = False
        self._last_ref = 0
        self._pending_heartbeat: int | None = None
        self._topics: dict[str, _Topic] = {}

    # -- connection ---------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """True between ``connected()`` and ``disconnected()``."""
        return self._connected

    def connected(self) -> None:
        """A new connection is open: start a fresh ref sequence with no topics."""
        self._connected = True
        self._last_ref = 0
        self._pending_heartbeat = None
        self._topics.clear()

    def disconnected(self) -> dict[str, TopicState]:
        """The connection is gone: forget every topic; return what each topic was."""
        lost = {name: topic.state for name, topic in self._topics.items()}
        self._connected = False
        self._last_ref = 0
        self._pending_heartbeat = None
        self._topics.clear()
        return lost

    # -- queries ------------------------------------------------------------------

    def state(self, topic: str) -> TopicState | None:
        """The topic's state, or None when it is not joined (nor joining)."""
        entry = self._topics.get(topic)
        return None if entry is None else entry.state

    def joined(self, topic: str) -> bool:
        """True once a join was accepted, until the channel closes or the socket drops."""
        entry = self._topics.get(topic)
        return entry is not None and entry.state is not TopicState.JOINING

    def join_ref(self, topic: str) -> int | None:
        """The join_ref of the topic's current channel session (joining or joined)."""
        entry = self._topics.get(topic)
        return None if entry is None else entry.join_ref

    def join_payload(self, topic: str) -> Any:
        """The payload the topic's current join was sent with."""
        entry = self._topics.get(topic)
        return None if entry is None else entry.join_payload

    def topics(self) -> Iterator[tuple[str, TopicState]]:
        """Each known topic with its state."""
        return ((name, entry.state) for name, entry in self._topics.items())

    @property
    def pending_heartbeat(self) -> int | None:
        """The ref of the heartbeat sent and not yet answered, if any."""
        return self._pending_heartbeat

    # -- requests -----------------------------------------------------------------

    def _encode(self, join_ref: int | None, topic: str, event: str, payload: Any) -> Outbound:
        # The ref is consumed even when encoding fails, as phoenix_gen_socket_client does.
        self._last_ref += 1
        ref = self._last_ref
        if event == EVENT_JOIN:
            join_ref = ref
        frame = self.serializer.encode(Message(join_ref, ref, topic, event, payload))
        return Outbound(ref, join_ref, frame)

    def _require_connected(self) -> None:
        if not self._connected:
            raise DisconnectedError("the socket is not connected")

    def join(self, topic: str, payload: Any = None) -> Outbound:
        """Join ``topic``: raise unless connected and the topic is neither joined nor joining."""
        _check_topic(topic)
        self._require_connected()
        entry = self._topics.get(topic)
        if entry is not None:
            what = "a join is already pending" if entry.state is TopicState.JOINING else "joined"
            raise AlreadyJoinedError(f"topic {topic!r} is {what}")
        payload = {} if payload is None else payload
        out = self._encode(None, topic, EVENT_JOIN, payload)
        assert out.join_ref is not None  # set by _encode for joins
        self._topics[topic] = _Topic(TopicState.JOINING, out.join_ref, payload)
        return out

    def _joined_entry(self, topic: str) -> _Topic:
        entry = self._topics.get(topic)
        if entry is None or entry.state is TopicState.JOINING:
            pending = " (its join is still pending)" if entry is not None else ""
            raise NotJoinedError(f"topic {topic!r} is not joined{pending}")
        return entry

    def leave(self, topic: str, payload: Any = None) -> Outbound:
        """Leave ``topic``; it stays joined until the server's ``phx_close`` arrives."""
        _check_topic(topic)
        self._require_connected()
        entry = self._joined_entry(topic)
        out = self._encode(entry.join_ref, topic, EVENT_LEAVE, {} if payload is None else payload)
        entry.state = TopicState.LEAVING
        return out

    def abandon_join(self, topic: str) -> Outbound:
        """Give up a pending join (it timed out): forget the topic, send ``phx_leave``.

        The leave carries the abandoned join's join_ref, so the server closes that
        channel if the join did succeed; its late reply and close are then dropped.
        """
        _check_topic(topic)
        self._require_connected()
        entry = self._topics.get(topic)
        if entry is None or entry.state is not TopicState.JOINING:
            raise NotJoinedError(f"topic {topic!r} has no pending join")
        del self._topics[topic]
        return self._encode(entry.join_ref, topic, EVENT_LEAVE, {})

    def push(self, topic: str, event: str, payload: Any = None) -> Outbound:
        """Push ``event`` to a joined topic, carrying the topic's current join_ref."""
        check_push(topic, event)
        self._require_connected()
        entry = self._joined_entry(topic)
        return self._encode(entry.join_ref, topic, event, {} if payload is None else payload)

    def heartbeat(self) -> Outbound:
        """A Phoenix heartbeat; its ref becomes the pending heartbeat."""
        self._require_connected()
        out = self._encode(None, PHOENIX_TOPIC, EVENT_HEARTBEAT, {})
        self._pending_heartbeat = out.ref
        return out

    # -- inbound ------------------------------------------------------------------

    def receive(self, frame: Frame) -> Event:
        """Decode ``frame`` and apply it. Raises ``ProtocolError`` for malformed input."""
        message = self.serializer.decode(frame)
        event = message.event
        if event == EVENT_REPLY:
            return self._reply(message)
        if event in (EVENT_CLOSE, EVENT_ERROR):
            entry = self._topics.get(message.topic)
            if (
                entry is not None
                and entry.state is not TopicState.JOINING
                and message.join_ref == entry.join_ref
            ):
                del self._topics[message.topic]
                return ChannelClosed(message.topic, message.payload, event, entry.join_ref)  # type: ignore[arg-type]
            return MessageDropped(message, f"{event} of an earlier or unknown channel session")
        if message.join_ref is not None and message.join_ref != self.join_ref(message.topic):
            return MessageDropped(message, "message of an earlier or unknown channel session")
        return MessageReceived(message.topic, event, message.payload, message.join_ref)

    def _reply(self, message: Message) -> Event:
        payload = message.payload
        if type(payload) is not dict or type(payload.get(KEY_STATUS)) is not str:
            raise ProtocolError(f"a phx_reply payload needs a string status, got {payload!r:.200}")
        status: str = payload[KEY_STATUS]
        response = payload.get(KEY_RESPONSE)
        ref = message.ref
        topic = message.topic
        if topic == PHOENIX_TOPIC and ref is not None and ref == self._pending_heartbeat:
            self._pending_heartbeat = None
            return HeartbeatAcked(ref)
        entry = self._topics.get(topic)
        if (
            entry is not None
            and entry.state is TopicState.JOINING
            and ref == entry.join_ref
            and message.join_ref in (entry.join_ref, None)
        ):
            if status == STATUS_OK:
                entry.state = TopicState.JOINED
                return Joined(topic, response, entry.join_ref, entry.join_payload)
            del self._topics[topic]
            return JoinRefused(topic, response, status, entry.join_ref)
        if message.join_ref is not None and (entry is None or message.join_ref != entry.join_ref):
            return MessageDropped(message, "reply of an earlier or unknown channel session")
        return ReplyReceived(topic, ref, status, response, payload)
