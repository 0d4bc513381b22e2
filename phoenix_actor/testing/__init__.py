"""Test helpers: a fake transport, TestSocket and an embedded Phoenix server.

The embedded server needs the ``server`` extra (``pip install phoenix_actor[server]``).
"""

from __future__ import annotations

from phoenix_actor.testing._fake import FakeConnection, FakeConnector, decode_client_frame
from phoenix_actor.testing._inbox import Inbox
from phoenix_actor.testing._test_socket import TestSocket

__all__ = [
    "FakeConnection",
    "FakeConnector",
    "Inbox",
    "TestSocket",
    "decode_client_frame",
]
