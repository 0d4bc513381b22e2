"""The pytest plugin's fixtures, used as a user's test suite would use them."""

from __future__ import annotations

from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnector, PhoenixServer, TestSocket
from tests.conftest import TIMEOUT


class Greeter(pa.SocketClient):
    """A user's handler under test: joins a room and says hello when joined."""

    def init(self) -> pa.Connect:
        return pa.Connect("ws://example.test/socket/websocket")

    def handle_connected(self, conn: pa.Connection) -> None:
        conn.join("room:1", {"name": "ann"})

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> None:
        conn.push(topic, "hello", {"to": "everyone"})


def test_phoenix_fake_drives_a_handler_with_no_network(phoenix_fake: FakeConnector) -> None:
    ref = pa.SocketActor.start(Greeter(), transport_factory=phoenix_fake)
    try:
        server = phoenix_fake.next_connection()
        server.accept()
        join = server.expect("phx_join", "room:1")
        assert join.payload == {"name": "ann"}
        server.refute("hello")  # nothing before the join is accepted
        server.reply(join, "ok")
        hello = server.expect("hello", "room:1")
        assert (hello.join_ref, hello.payload) == (join.join_ref, {"to": "everyone"})
    finally:
        ref.stop()


def test_refute_fails_when_the_message_comes(phoenix_fake: FakeConnector) -> None:
    ref = pa.SocketActor.start(Greeter(), transport_factory=phoenix_fake)
    try:
        server = phoenix_fake.next_connection()
        server.accept()
        with pytest.raises(AssertionError, match="phx_join"):
            server.refute("phx_join", within=TIMEOUT)
    finally:
        ref.stop()


def test_phoenix_server_and_test_sockets(phoenix_server: PhoenixServer, phoenix_test_socket):
    sock: TestSocket = phoenix_test_socket(timeout=TIMEOUT)
    assert sock.wait_connect_status() == "connected"
    assert phoenix_server.port > 0
