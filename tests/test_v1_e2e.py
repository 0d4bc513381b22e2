"""Protocol 1.0.0 end to end: a socket with V1JSONSerializer against the embedded server.

The server speaks v1 when the URL says ``vsn=1.0.0``, which the URL builder appends
from the serializer. The frames the server receives are compared byte for byte with
the ``v1_format`` scenario of the Phoenix 1.7.24 transcript.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from phoenix_actor.exceptions import EncodeError
from phoenix_actor.serializer import V1JSONSerializer
from phoenix_actor.testing import PhoenixServer, TestSocket
from tests.conftest import TIMEOUT

TOPIC = "echo:v1"


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer.with_defaults() as srv:
        yield srv


def v1_socket(server: PhoenixServer, **options: Any) -> TestSocket:
    options.setdefault("heartbeat_interval", None)
    sock = TestSocket(server.url, serializer=V1JSONSerializer(), timeout=TIMEOUT, **options)
    assert sock.wait_connect_status() == "connected"
    return sock


def texts(server: PhoenixServer, conn_id: int) -> list[str | bytes]:
    return [frame.data for frame in server.received if frame.conn_id == conn_id]


def test_join_push_reply_broadcast_and_crash(server: PhoenixServer) -> None:
    with v1_socket(server) as a, v1_socket(server) as b:
        assert a.join(TOPIC, {"v": 1}) == {"joined": TOPIC, "payload": {"v": 1}}
        assert b.join(TOPIC) == {"joined": TOPIC, "payload": {}}
        # Both joins were answered, so both connections are known to the server.
        conn_a = server.wait_for(lambda frame: '"payload":{"v":1}' in str(frame.data)).conn_id
        (conn_b,) = set(server.connections) - {conn_a}
        connects = [event for event in server.events if event[0] == "connect"]
        assert [event[2] for event in connects] == [{"vsn": "1.0.0"}, {"vsn": "1.0.0"}]
        assert a.push_sync(TOPIC, "echo", {"x": 1}) == {"status": "ok", "response": {"x": 1}}
        a.push(TOPIC, "push", {"p": 1})
        assert a.await_message() == (TOPIC, "pushed", {"p": 1})
        assert a.push_sync(TOPIC, "broadcast", {"b": 1}) == {"status": "ok", "response": {}}
        assert a.await_message() == (TOPIC, "broadcasted", {"b": 1})
        assert b.await_message() == (TOPIC, "broadcasted", {"b": 1})
        assert a.push_sync(TOPIC, "error", {"e": 1}) == {"status": "error", "response": {"e": 1}}

        with pytest.raises(EncodeError, match=r"protocol 1\.0\.0 has no binary frames"):
            a.push(TOPIC, "bin_echo", b"\x00\x01")

        # phx_error carries no join_ref in v1: the socket still sees the channel close.
        a.push(TOPIC, "crash", {})
        assert a.await_event("channel_closed") == ("channel_closed", TOPIC, {})
        assert not a.joined(TOPIC)
        assert b.joined(TOPIC)

        # A leave gets its reply, then phx_close, both without a join_ref.
        assert b.leave(TOPIC) == {}
        assert b.await_event("reply") == (
            "reply",
            TOPIC,
            2,
            {"status": "ok", "response": {}},
        )
        assert not b.joined(TOPIC)

        assert texts(server, conn_a)[:6] == [
            '{"topic":"echo:v1","event":"phx_join","payload":{"v":1},"ref":"1","join_ref":"1"}',
            '{"topic":"echo:v1","event":"echo","payload":{"x":1},"ref":"2","join_ref":"1"}',
            '{"topic":"echo:v1","event":"push","payload":{"p":1},"ref":"3","join_ref":"1"}',
            '{"topic":"echo:v1","event":"broadcast","payload":{"b":1},"ref":"4","join_ref":"1"}',
            '{"topic":"echo:v1","event":"error","payload":{"e":1},"ref":"5","join_ref":"1"}',
            # ref 6 went to the refused binary push
            '{"topic":"echo:v1","event":"crash","payload":{},"ref":"7","join_ref":"1"}',
        ]
        assert texts(server, conn_b) == [
            '{"topic":"echo:v1","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}',
            '{"topic":"echo:v1","event":"phx_leave","payload":{},"ref":"2","join_ref":"1"}',
        ]


def test_a_closed_channel_is_joined_again_with_a_new_join_ref(server: PhoenixServer) -> None:
    with v1_socket(server) as sock:
        assert sock.join(TOPIC) == {"joined": TOPIC, "payload": {}}
        (conn,) = server.connections
        sock.push(TOPIC, "stop", {})
        assert sock.await_event("channel_closed") == ("channel_closed", TOPIC, {})
        assert sock.join(TOPIC, {"again": True}) == {"joined": TOPIC, "payload": {"again": True}}
        assert sock.push_sync(TOPIC, "echo", {}) == {"status": "ok", "response": {}}
        assert texts(server, conn) == [
            '{"topic":"echo:v1","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}',
            '{"topic":"echo:v1","event":"stop","payload":{},"ref":"2","join_ref":"1"}',
            '{"topic":"echo:v1","event":"phx_join","payload":{"again":true},"ref":"3",'
            '"join_ref":"3"}',
            '{"topic":"echo:v1","event":"echo","payload":{},"ref":"4","join_ref":"3"}',
        ]


def test_heartbeats_are_answered(server: PhoenixServer) -> None:
    # Each heartbeat is sent only if the previous one was acknowledged; otherwise the
    # socket closes with a heartbeat timeout and sends no more on this connection.
    with v1_socket(server, heartbeat_interval=0.05):
        third = server.wait_for(
            lambda frame: (
                frame.data == '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}'
            ),
            TIMEOUT,
        )
        beats = server.received.snapshot()[:3]
        assert {frame.conn_id for frame in beats} == {third.conn_id}
        assert [frame.data for frame in beats] == [
            f'{{"topic":"phoenix","event":"heartbeat","payload":{{}},"ref":"{ref}"}}'
            for ref in (1, 2, 3)
        ]
