"""Test helpers: a fake transport, TestSocket and an embedded Phoenix server.

The embedded server needs the ``server`` extra (``pip install phoenix_actor[server]``).
"""

from __future__ import annotations

import warnings
from typing import Any

from phoenix_actor.testing._fake import FakeConnection, FakeConnector, decode_client_frame
from phoenix_actor.testing._inbox import Inbox
from phoenix_actor.testing._leaks import LeakedSocketWarning
from phoenix_actor.testing._server.auth import ConnectInfo
from phoenix_actor.testing._server.channel import (
    Channel,
    ChannelSocket,
    JoinError,
    JoinOk,
    ServerNoReply,
    ServerReply,
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
    "LeakedSocketWarning",
    "PhoenixServer",
    "PresenceChannel",
    "PresenceTracker",
    "Received",
    "Recorder",
    "ServerEvent",
    "ServerNoReply",
    "ServerReply",
    "StopChannel",
    "TestSocket",
    "decode_client_frame",
]

#: Old names of the embedded server's ``handle_in`` results: they read like the client's
#: ``phoenix_actor.Reply`` and ``phoenix_actor.NoReply``, which are other classes.
_RENAMED = {"Reply": "ServerReply", "NoReply": "ServerNoReply"}


def __getattr__(name: str) -> Any:
    new = _RENAMED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"phoenix_actor.testing.{name} is deprecated: use phoenix_actor.testing.{new} "
        f"(phoenix_actor.{name} is the client's {name}, another class)",
        DeprecationWarning,
        stacklevel=2,
    )
    return globals()[new]
