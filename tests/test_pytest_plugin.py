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


# -- sockets a test leaves running -------------------------------------------------------

pytest_plugins = ["pytester"]

LEAKY_TESTS = """
import phoenix_actor as pa
from phoenix_actor.testing import FakeConnector, TestSocket

def test_leaks_a_socket_and_a_socket_actor():
    fake = FakeConnector()
    pa.Socket("ws://example.test/socket/websocket", transport_factory=fake)

    class Client(pa.SocketClient):
        def init(self):
            return pa.NoConnect("ws://example.test/socket/websocket")

    pa.SocketActor.start(Client())

def test_closes_its_socket():
    with pa.Socket("ws://example.test/socket/websocket", transport_factory=FakeConnector()):
        pass

def test_the_leaked_sockets_were_stopped():
    assert pa.Socket is not None
    import pykka
    assert pykka.ActorRegistry.get_all() == []
"""


def test_leaked_sockets_are_stopped_and_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "default")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_leaky.py::test_leaks_a_socket_and_a_socket_actor*",
            "*LeakedSocketWarning: the test left 2 socket(s) running (Socket, SocketActor);"
            " phoenix_actor's pytest plugin stopped them.*",
        ]
    )
    assert result.ret == 0  # and the run ended


def test_leaked_sockets_fail_the_test_when_the_warning_is_an_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error::phoenix_actor.testing.LeakedSocketWarning"
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks_a_socket_and_a_socket_actor*"])
