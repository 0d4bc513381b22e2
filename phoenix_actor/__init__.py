"""phoenix_actor: a Phoenix Channels client for threaded Python, built on Pykka actors.

Subclass :class:`SocketClient`, start it with ``SocketActor.start(client)``, and
handle what the server says in its callbacks. See README.rst for a tour.
"""

from __future__ import annotations

import logging as _logging

from phoenix_actor._api import call, execute, mailbox_depth
from phoenix_actor._client import (
    CallbackResult,
    CallResult,
    Connect,
    InitResult,
    NoConnect,
    NoReply,
    Reconnect,
    Reply,
    SocketClient,
    Stop,
)
from phoenix_actor._config import RECONNECT_AFTER, REJOIN_AFTER, Backoff, Config
from phoenix_actor._facade import ChannelMessage, MessageCallback, Socket, Subscription
from phoenix_actor._message import ChannelReply, Frame, Message, Opcode, WireRef
from phoenix_actor._observer import (
    ChannelState,
    ChannelStateChanged,
    Observer,
    SocketStateChanged,
    TellObserver,
)
from phoenix_actor._presence_view import PresenceView
from phoenix_actor._reasons import (
    ClosedByClient,
    ConnectFailed,
    ConnectionLost,
    ConnectionRefused,
    DisconnectReason,
    HandshakeFailed,
    HandshakeRejected,
    HeartbeatTimeout,
    MessageTooBig,
    PingTimeout,
    ProtocolViolation,
    RemoteClosed,
    TransportDown,
    reconnect_refusal,
)
from phoenix_actor._session import TopicState
from phoenix_actor._socket import Caller, Connection, SocketActor, SocketState
from phoenix_actor._transport import (
    Transport,
    TransportActor,
    TransportFactory,
    TransportListener,
    TransportOptions,
    websocket_transport,
)
from phoenix_actor.exceptions import (
    AlreadyJoinedError,
    BufferFullError,
    CallTimeoutError,
    ChannelClosedError,
    ConfigError,
    ConnectionClosedError,
    DecodeError,
    DisconnectedError,
    EncodeError,
    InvalidMessageError,
    InvalidURLError,
    JoinRefusedError,
    NoReplyError,
    NotJoinedError,
    PhoenixActorError,
    ProtocolError,
    PushError,
    PushTimeoutError,
    SocketStoppedError,
    WrongThreadError,
)
from phoenix_actor.presence import Presence
from phoenix_actor.serializer import JSONSerializer, Serializer, V1JSONSerializer
from phoenix_actor.supervision import (
    ChildSpec,
    ChildStopped,
    RestartLimitExceeded,
    Supervisor,
    SupervisorMixin,
    is_crash,
    start_child,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "RECONNECT_AFTER",
    "REJOIN_AFTER",
    "AlreadyJoinedError",
    "Backoff",
    "BufferFullError",
    "CallResult",
    "CallTimeoutError",
    "CallbackResult",
    "Caller",
    "ChannelClosedError",
    "ChannelMessage",
    "ChannelReply",
    "ChannelState",
    "ChannelStateChanged",
    "ChildSpec",
    "ChildStopped",
    "ClosedByClient",
    "Config",
    "ConfigError",
    "Connect",
    "ConnectFailed",
    "Connection",
    "ConnectionClosedError",
    "ConnectionLost",
    "ConnectionRefused",
    "DecodeError",
    "DisconnectReason",
    "DisconnectedError",
    "EncodeError",
    "Frame",
    "HandshakeFailed",
    "HandshakeRejected",
    "HeartbeatTimeout",
    "InitResult",
    "InvalidMessageError",
    "InvalidURLError",
    "JSONSerializer",
    "JoinRefusedError",
    "Message",
    "MessageCallback",
    "MessageTooBig",
    "NoConnect",
    "NoReply",
    "NoReplyError",
    "NotJoinedError",
    "Observer",
    "Opcode",
    "PhoenixActorError",
    "PingTimeout",
    "Presence",
    "PresenceView",
    "ProtocolError",
    "ProtocolViolation",
    "PushError",
    "PushTimeoutError",
    "Reconnect",
    "RemoteClosed",
    "Reply",
    "RestartLimitExceeded",
    "Serializer",
    "Socket",
    "SocketActor",
    "SocketClient",
    "SocketState",
    "SocketStateChanged",
    "SocketStoppedError",
    "Stop",
    "Subscription",
    "Supervisor",
    "SupervisorMixin",
    "TellObserver",
    "TopicState",
    "Transport",
    "TransportActor",
    "TransportDown",
    "TransportFactory",
    "TransportListener",
    "TransportOptions",
    "V1JSONSerializer",
    "WireRef",
    "WrongThreadError",
    "__version__",
    "call",
    "execute",
    "is_crash",
    "mailbox_depth",
    "reconnect_refusal",
    "start_child",
    "websocket_transport",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
