"""phoenix_gen_socket_client's own test suite (test/socket_client_test.exs), ported.

Each test names the Elixir test it ports. The server is the embedded Phoenix server with a
``channel:*`` channel that behaves like the original's test site.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.testing import (
    Channel,
    ChannelSocket,
    JoinOk,
    PhoenixServer,
    ServerNoReply,
    ServerReply,
    StopChannel,
    TestSocket,
)
from tests.conftest import TIMEOUT

SECRET = {"shared_secret": "supersecret"}
UPDATED_SECRET = {"shared_secret": "supersecret_updated"}


class TestSiteChannel(Channel):
    """The original's ``TestSite.Channel``."""

    __test__ = False

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> JoinOk:
        return JoinOk({})

    def handle_in(
        self, event: str, payload: Any, socket: ChannelSocket
    ) -> ServerReply | ServerNoReply:
        if event == "sync_event":
            return ServerReply("ok", payload)
        return ServerNoReply()

    def handle_info(self, message: Any, socket: ChannelSocket) -> StopChannel | None:
        if message[0] == "push":
            socket.push(message[1], message[2])
        elif message[0] == "stop":
            return StopChannel(message[1])
        elif message[0] == "crash":
            raise RuntimeError(message[1])
        return None


def _secret_check(expected: str) -> Any:
    def connect(params: dict[str, str], headers: dict[str, str]) -> bool:
        return params.get("shared_secret") == expected

    return connect


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(path="/test_socket/websocket", connect=_secret_check("supersecret")).channel(
        "channel:*", TestSiteChannel
    ) as running:
        yield running


@pytest.fixture
def updated_server() -> Iterator[PhoenixServer]:
    with PhoenixServer(
        path="/test_socket_updated/websocket", connect=_secret_check("supersecret_updated")
    ).channel("channel:*", TestSiteChannel) as running:
        yield running


@pytest.fixture
def sock(server: PhoenixServer) -> Iterator[TestSocket]:
    with TestSocket(server.url, SECRET, timeout=TIMEOUT) as test_socket:
        assert test_socket.wait_connect_status() == "connected"
        yield test_socket


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop_transport() -> None:
    (transport,) = pykka.ActorRegistry.get_by_class(pa.TransportActor)
    transport.stop(block=True, timeout=TIMEOUT)


def test_connection_success(sock: TestSocket) -> None:
    assert sock.join("channel:1") == {}


def test_no_auto_connect(server: PhoenixServer) -> None:
    with TestSocket(server.url, SECRET, connect=False, timeout=TIMEOUT) as test_socket:
        with pytest.raises(TimeoutError):
            test_socket.wait_connect_status(timeout=0.1)
        assert not [e for e in server.events if e[0] == "connect"]
        test_socket.connect()
        assert test_socket.wait_connect_status() == "connected"
        assert test_socket.join("channel:1") == {}


def test_connect_with_url_and_query_params(
    server: PhoenixServer, updated_server: PhoenixServer
) -> None:
    with TestSocket(server.url, SECRET, connect=False, timeout=TIMEOUT) as test_socket:
        test_socket.connect(updated_server.url, UPDATED_SECRET)
        assert test_socket.wait_connect_status() == "connected"
        assert test_socket.join("channel:1") == {}
        updated_server.wait_for_event(lambda e: e[0] == "join")


def test_client_message_push(server: PhoenixServer, sock: TestSocket) -> None:
    sock.join("channel:1", {"foo": "bar"})
    server.wait_for_event(lambda e: e == ("join", "channel:1", {"foo": "bar"}, "1"))
    sock.push("channel:1", "some_event", {"foo": "bar"})
    server.wait_for_event(lambda e: e == ("handle_in", "channel:1", "some_event", {"foo": "bar"}))


def test_send_and_response(sock: TestSocket) -> None:
    sock.join("channel:1")
    reply = sock.push_sync("channel:1", "sync_event", {"foo": "bar"})
    assert reply == {"status": "ok", "response": {"foo": "bar"}}


def test_sending_a_message_that_cannot_be_encoded(sock: TestSocket) -> None:
    sock.join("channel:1")
    with pytest.raises(pa.EncodeError, match="surrogate"):
        sock.push("channel:1", "some_event", {"foo": "\udca6"})


def test_client_message_receive(server: PhoenixServer, sock: TestSocket) -> None:
    sock.join("channel:1")
    server.send_info("channel:1", ("push", "some_event", {"foo": "bar"}))
    assert sock.await_message() == ("channel:1", "some_event", {"foo": "bar"})


def test_leave_the_channel(server: PhoenixServer, sock: TestSocket) -> None:
    sock.join("channel:1")
    assert sock.leave("channel:1") == {}
    server.wait_for_event(lambda e: e == ("terminate", "channel:1", "shutdown:left"))
    assert sock.await_event("reply")[1:] == ("channel:1", 2, {"status": "ok", "response": {}})


def test_refs_are_monotonic_on_the_same_channel(sock: TestSocket) -> None:
    sock.join("channel:1")
    ref1 = sock.push("channel:1", "some_event")
    ref2 = sock.push("channel:1", "some_event")
    assert ref1 < ref2


def test_refs_are_monotonic_on_multiple_channels(sock: TestSocket) -> None:
    sock.join("channel:1")
    sock.join("channel:2")
    ref1 = sock.push("channel:1", "some_event")
    ref2 = sock.push("channel:2", "some_event")
    assert ref1 < ref2


def test_refs_are_monotonic_after_leave_and_rejoin(sock: TestSocket) -> None:
    sock.join("channel:1")
    ref1 = sock.push("channel:1", "some_event")
    sock.leave("channel:1")
    sock.join("channel:1")
    ref2 = sock.push("channel:1", "some_event")
    assert ref1 < ref2
    # and numerically, past 9 (refs are ints, not strings)
    refs = [sock.push("channel:1", "some_event") for _ in range(8)]
    assert refs == sorted(refs)
    assert refs[-1] >= 10


def test_connection_error() -> None:
    url = f"ws://127.0.0.1:{_unused_port()}/test_socket/websocket"
    with TestSocket(url, SECRET, timeout=TIMEOUT) as test_socket:
        reason = test_socket.wait_connect_status()
        assert isinstance(reason, pa.ConnectionRefused)


def test_connection_refused_by_socket(server: PhoenixServer) -> None:
    with TestSocket(server.url, {"shared_secret": "wrong"}, timeout=TIMEOUT) as test_socket:
        reason = test_socket.wait_connect_status()
        assert reason == pa.HandshakeRejected(403)
        assert isinstance(reason, pa.HandshakeRejected)
        assert (reason.status, reason.reason_phrase) == (403, "Forbidden")


def test_transport_process_terminates(sock: TestSocket) -> None:
    _stop_transport()
    reason = sock.wait_connect_status()
    assert isinstance(reason, pa.TransportDown)
    sock.connect()
    assert sock.wait_connect_status() == "connected"
    assert sock.join("channel:1") == {}


def test_cannot_interact_when_disconnected(sock: TestSocket) -> None:
    sock.join("channel:1")
    _stop_transport()
    assert isinstance(sock.wait_connect_status(), pa.TransportDown)
    with pytest.raises(pa.DisconnectedError):
        sock.join("channel:1")
    with pytest.raises(pa.DisconnectedError):
        sock.leave("channel:1")
    with pytest.raises(pa.DisconnectedError):
        sock.push("channel:1", "some_event")
    with pytest.raises(pa.DisconnectedError):
        sock.push_sync("channel:1", "sync_event")


def test_refused_channel_join(sock: TestSocket) -> None:
    with pytest.raises(pa.JoinRefusedError) as refused:
        sock.join("invalid_channel")
    assert (refused.value.topic, refused.value.response) == (
        "invalid_channel",
        {"reason": "unmatched topic"},
    )


def test_double_join(sock: TestSocket) -> None:
    sock.join("channel:1")
    with pytest.raises(pa.AlreadyJoinedError):
        sock.join("channel:1")


def test_no_push_before_join(sock: TestSocket) -> None:
    with pytest.raises(pa.NotJoinedError):
        sock.push("channel:1", "some_event")
    sock.join("channel:1")
    assert sock.push("channel:1", "some_event") == 2


def test_server_channel_disconnects(server: PhoenixServer, sock: TestSocket) -> None:
    sock.join("channel:1")
    server.send_info("channel:1", ("stop", "shutdown"))
    assert sock.await_event("channel_closed")[1:] == ("channel:1", {})
    assert not sock.joined("channel:1")


def test_server_channel_crashes(server: PhoenixServer, sock: TestSocket) -> None:
    sock.join("channel:1")
    server.send_info("channel:1", ("crash", "some_reason"))
    assert sock.await_event("channel_closed")[1:] == ("channel:1", {})
    assert not sock.joined("channel:1")


def test_get_status_of_joined_channel(sock: TestSocket) -> None:
    sock.join("channel:1")
    assert sock.joined("channel:1")


def test_get_status_of_not_joined_channel(sock: TestSocket) -> None:
    sock.join("channel:1")
    assert not sock.joined("channel:2")
