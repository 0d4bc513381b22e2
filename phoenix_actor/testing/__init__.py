"""Test helpers: a fake transport, TestSocket and an embedded Phoenix server.

The embedded server needs the ``server`` extra (``pip install phoenix_actor[server]``).
"""

from __future__ import annotations

from phoenix_actor.testing._fake import FakeConnection, FakeConnector, decode_client_frame
from phoenix_actor.testing._inbox import Inbox
from phoenix_actor.testing._server.auth import ConnectInfo
from phoenix_actor.testing._server.channel import (
    Channel,
    ChannelSocket,
    JoinError,
    JoinOk,
    NoReply,
    Reply,
    StopChannel,
)
from phoenix_actor.testing._server.echo import EchoChannel
from phoenix_actor.testing._server.presence import PresenceChannel, PresenceTracker
from phoenix_actor.testing._server.protocol import InboundMessage
from phoenix_actor.testing._server.recorder import Received, Recorder, ServerEvent
from phoenix_actor.testing._server.server import ConnectCallback, PhoenixServer
from phoenix_actor.testing._test_socket import TestSocket

__all__ = [
    "Channel",
    "ChannelSocket",
    "ConnectCallback",
    "ConnectInfo",
    "EchoChannel",
    "FakeConnection",
    "FakeConnector",
    "InboundMessage",
    "Inbox",
    "JoinError",
    "JoinOk",
    "NoReply",
    "PhoenixServer",
    "PresenceChannel",
    "PresenceTracker",
    "Received",
    "Recorder",
    "Reply",
    "ServerEvent",
    "StopChannel",
    "TestSocket",
    "decode_client_frame",
]
